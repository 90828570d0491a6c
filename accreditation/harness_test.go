package accreditation

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"creditbank/ledger"
	"creditbank/vault"
)

// testClock is a settable clock for the bank's ledger: tests move the date
// to check ages and validity windows.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Microsecond)
	return c.t
}

// SetDate moves the clock to noon UTC of date (YYYY-MM-DD).
func (c *testClock) SetDate(t testing.TB, date string) {
	t.Helper()
	d, err := time.Parse(dateLayout, date)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.t = d.Add(12 * time.Hour)
	c.mu.Unlock()
}

var (
	admin     = Actor{Role: RoleAdmin, ID: "root"}
	regulator = Actor{Role: RoleRegulator, ID: "moe"}
)

// testBank is a bank on a fresh ledger in a temporary folder, at 2026-07-15.
type testBank struct {
	*Bank
	clock *testClock
	dir   string
	keys  ledger.Keys
	// vault seals learners' personal data; kept across reopens, as a
	// data folder's keys are.
	vault *vault.Keys
}

func newTestBank(t testing.TB) *testBank {
	t.Helper()
	keys, _, err := ledger.GenerateKeys(ledger.DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{}
	clock.SetDate(t, "2026-07-15")
	vk, err := vault.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return (&testBank{clock: clock, dir: t.TempDir(), keys: keys, vault: vk}).open(t)
}

// open opens the bank's ledger folder with its keys and clock, closed when
// the test ends (a second Close is harmless).
func (b *testBank) open(t testing.TB) *testBank {
	t.Helper()
	bank, err := New(b.openLedger(t), b.vault)
	if err != nil {
		t.Fatal(err)
	}
	return &testBank{Bank: bank, clock: b.clock, dir: b.dir, keys: b.keys, vault: b.vault}
}

// openLedger opens the bank's ledger folder with its keys and clock, and
// no bank over it; it is closed when the test ends.
func (b *testBank) openLedger(t testing.TB) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(ledger.Options{
		Dir: b.dir, Keys: b.keys, Clock: b.clock.Now, MinFreeBytes: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// reopen closes the ledger and opens it again: a restart of the bank,
// whose state must come back from the store alone.
func (b *testBank) reopen(t testing.TB) *testBank {
	t.Helper()
	if err := b.Ledger().Close(); err != nil {
		t.Fatal(err)
	}
	return b.open(t)
}

// testKey makes a fresh Ed25519 public JWK named kid.
func testKey(t testing.TB, kid string) PublicJWK {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParsePublicJWK(fmt.Appendf(nil, `{"kty":"OKP","crv":"Ed25519","x":%q,"kid":%q}`,
		base64.RawURLEncoding.EncodeToString(pub), kid))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// institution registers and accredits an institution for every sector up to
// level 10 from 2000 to 2099, and returns its actor.
func (b *testBank) institution(t testing.TB, id string) Actor {
	t.Helper()
	ctx := context.Background()
	if _, err := b.RegisterInstitution(ctx, admin, Registration{ID: id, Name: "Institution " + id, Kind: "university", Keys: []PublicJWK{testKey(t, id+"-k1")}}); err != nil {
		t.Fatalf("register %s: %v", id, err)
	}
	if _, err := b.Accredit(ctx, regulator, id, AccreditationInput{Sectors: Sectors(), MaxLevel: 10, ValidFrom: "2000-01-01", ValidUntil: "2099-12-31"}); err != nil {
		t.Fatalf("accredit %s: %v", id, err)
	}
	return Actor{Role: RoleInstitution, ID: id}
}

var passed = true

// outcome is a valid outcome input; change what the test needs. Its unit
// code is made from key, so that outcomes posted under distinct keys are
// not duplicates of one another (duplicate.go).
func outcome(learner, key string) OutcomeInput {
	return OutcomeInput{
		IdempotencyKey: key, Learner: learner,
		Unit:   Unit{Code: unitCodeOf(key), Title: "Introduction to Programming"},
		Sector: "non_degree", Level: 6, Field: "0613",
		Credits: Credits{Amount: 300, System: "cn-credit"},
		Result:  Result{Passed: &passed, Score: amountPtr(8600)}, CompletedOn: "2026-07-01",
	}
}

func amountPtr(a Amount) *Amount { return &a }

// unitCodeOf is a unit code of its own for each idempotency key.
func unitCodeOf(key string) string {
	code := "CS101-" + strings.NewReplacer(":", "-", "/", "-").Replace(key)
	return code[:min(len(code), 64)]
}

// post posts one outcome and fails the test unless it was created.
func (b *testBank) post(t testing.TB, inst Actor, o OutcomeInput) uint64 {
	t.Helper()
	res, err := b.PostOutcomes(context.Background(), inst, []OutcomeInput{o})
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	if res[0].Status != PostCreated {
		t.Fatalf("post %s: %s %v", o.IdempotencyKey, res[0].Status, res[0].Err)
	}
	return res[0].Seq
}

// checkReplay replays the whole journal and fails the test unless it finds
// nothing wrong and rebuilds exactly the live state.
func (b *testBank) checkReplay(t testing.TB) {
	t.Helper()
	rp, err := b.Replay(context.Background())
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if findings := rp.Findings(); len(findings) > 0 {
		t.Fatalf("audit findings: %+v", findings)
	}
	live, err := b.State()
	if err != nil {
		t.Fatal(err)
	}
	replayed := rp.State()
	for k, v := range live {
		if !bytes.Equal(replayed[k], v) {
			t.Errorf("state %s: live %s, replayed %s", k, v, replayed[k])
		}
	}
	for k := range replayed {
		if _, ok := live[k]; !ok {
			t.Errorf("state %s only in the replay", k)
		}
	}
}

// replayed applies es in order to a new Replayer, failing the test on an
// error, and returns it.
func replayed(t testing.TB, es []ledger.Entry) *Replayer {
	t.Helper()
	rp := NewReplayer()
	for _, e := range es {
		if err := rp.Apply(e); err != nil {
			t.Fatalf("replay entry %d: %v", e.Seq, err)
		}
	}
	return rp
}

// replayed is replayed with the scores of sealed outcomes read from b's
// store, as the bank's own replay reads them: for journals taken from b.
func (b *testBank) replayed(t testing.TB, es []ledger.Entry) *Replayer {
	t.Helper()
	rp := NewReplayer()
	err := b.Ledger().Read(func(r *ledger.Reader) error {
		rp.SetScoreSource(StoreScores(r, b.vault))
		for _, e := range es {
			if err := rp.Apply(e); err != nil {
				return fmt.Errorf("replay entry %d: %v", e.Seq, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

// scored is outcome entry e of b's journal as stored (the learner named by
// reference), with the score of a sealed one read through the learner's
// key: what an auditor holding the keys sees.
func (b *testBank) scored(t testing.TB, e ledger.Entry) Outcome {
	t.Helper()
	var o Outcome
	if err := json.Unmarshal(e.Content, &o); err != nil {
		t.Fatalf("entry %d: %v", e.Seq, err)
	}
	if o.Sealed == "" {
		return o
	}
	err := b.Ledger().Read(func(r *ledger.Reader) error {
		sc, found, err := StoreScores(r, b.vault)(e.Seq)
		if err == nil && !found {
			err = fmt.Errorf("outcome %d: the learner's key is gone", e.Seq)
		}
		o.Result.Score = sc
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// handEntry is an entry written by hand, as an earlier version wrote it.
type handEntry struct{ typ, actor, content string }

// handJournal makes es a journal: seqs from 0, every entry recorded at at.
func handJournal(at time.Time, es []handEntry) []ledger.Entry {
	out := make([]ledger.Entry, len(es))
	for i, e := range es {
		out[i] = ledger.Entry{Seq: uint64(i), Type: e.typ, RecordedAt: at, Actor: e.actor, Content: json.RawMessage(e.content)}
	}
	return out
}

// ref is the reference the store names learner id by (erasure.go).
func (b *testBank) ref(t testing.TB, id string) string {
	t.Helper()
	ref, err := b.LearnerRef(id)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}
