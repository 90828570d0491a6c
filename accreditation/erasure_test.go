package accreditation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"creditbank/ledger"
	"creditbank/vault"
)

// erasureOutcome is an outcome whose personal parts are bytes that occur
// nowhere by chance: a test looks for them in the store's files.
func erasureOutcome(learner, key, title string, score Amount, evidence string) OutcomeInput {
	o := outcome(learner, key)
	o.Unit.Title, o.Result.Score, o.EvidenceSHA256 = title, amountPtr(score), evidence
	return o
}

// storeFiles returns the contents of every file under dir.
func storeFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		// A file the store deleted after it was listed (a compaction's
		// input, an obsolete log) holds nothing any more.
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		out[path] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// filesHolding lists the files under dir that hold needle, leaving out
// those skip says to.
func filesHolding(t *testing.T, dir string, needle []byte, skip func(path string) bool) []string {
	t.Helper()
	var out []string
	for path, b := range storeFiles(t, dir) {
		if (skip == nil || !skip(path)) && bytes.Contains(b, needle) {
			out = append(out, filepath.Base(path))
		}
	}
	slices.Sort(out)
	return out
}

// isWAL reports whether path is one of Pebble's write-ahead log files,
// which Pebble keeps for reuse once obsolete, old bytes and all.
func isWAL(path string) bool { return strings.HasSuffix(path, ".log") }

// TestErasure: a learner's personal parts are never in the store's files
// in clear; after the learner is erased every read and write for them is
// refused, their key is in no file the store uses, the journal still
// replays (the conversion that needed their score reported as not
// re-runnable), and another learner reads as before.
func TestErasure(t *testing.T) {
	ctx := context.Background()
	b, college, _ := rtSetup(t)
	const (
		erased   = "ERASEME7Q"
		kept     = "KEEPME4W"
		title    = "Unit Title Zq7Xw"
		evidence = "9f1c0e6a3b5d7f92a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0"
	)
	score := Amount(9713) // written "97.13"
	rule := rtRule("scored", "BSC")
	rule.Source.MinScore = amountPtr(5000)
	rtPublish(t, b, rule)
	s1 := b.post(t, college, erasureOutcome(erased, "e-1", title, score, evidence))
	b.post(t, college, erasureOutcome(erased, "e-2", title+" II", score, evidence))
	b.post(t, college, erasureOutcome(kept, "k-1", "Kept Title", 8800, ""))
	conv := rtConvert(t, b, admin, ConversionRequest{Learner: erased, Rule: "scored", Outcomes: []uint64{s1}})
	if _, err := b.CreateGrant(ctx, rtLearner(erased), grantOf(erased, rtUniv)); err != nil {
		t.Fatal(err)
	}
	tr := rtTranscript(t, b, erased)
	if len(tr.Outcomes) != 2 || tr.Outcomes[0].Unit.Title != title || *tr.Outcomes[0].Result.Score != score ||
		tr.Outcomes[0].EvidenceSHA256 != evidence || tr.Outcomes[0].Learner != erased {
		t.Fatalf("transcript before erasure: %+v", tr.Outcomes)
	}
	ref := b.ref(t, erased)
	// The idempotency record holds no plain hash of the outcome, which
	// would let anyone try likely ids and scores against it after the
	// erasure: a MAC under the learner's key.
	input, err := marshalOutcomeInput(erasureOutcome(erased, "e-1", title, score, evidence))
	if err != nil {
		t.Fatal(err)
	}
	err = b.Ledger().Read(func(r *ledger.Reader) error {
		rec, found, err := r.Idempotency(rtCollege, "e-1")
		if err != nil || !found {
			return fmt.Errorf("no idempotency record: %v", err)
		}
		dk, err := b.dataKey(readerStore{r}, ref)
		if err != nil {
			return err
		}
		if rec.Hash == sha256.Sum256(input) || rec.Hash != idempotencyMAC(dk, input) {
			return fmt.Errorf("the idempotency record holds %x, not the MAC under the learner's key", rec.Hash)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var wrapped []byte
	err = b.Ledger().Read(func(r *ledger.Reader) error {
		rec, err := getJSON[learnerRecord](readerStore{r}, vaultKey(ref))
		if rec != nil {
			wrapped = rec.Wrapped
		}
		return err
	})
	if err != nil || len(wrapped) == 0 {
		t.Fatalf("no vault record of %s: %v", ref, err)
	}

	// The personal parts never reach a file in clear, even before
	// erasure: flush the memtable so that sstables hold them too.
	personal := [][]byte{[]byte(erased), []byte(title), []byte(`97.13`), []byte(evidence)}
	if err := b.Ledger().Store().Flush(); err != nil {
		t.Fatal(err)
	}
	for _, p := range personal {
		if files := filesHolding(t, b.dir, p, nil); len(files) > 0 {
			t.Errorf("before erasure, %q is in %v", p, files)
		}
	}

	e, err := b.EraseLearner(ctx, admin, strings.ToLower(erased), "the learner's request of 2026-07-15")
	if err != nil {
		t.Fatal(err)
	}
	if e.Learner != erased || e.Ref != ref || e.PlaintextEntries || e.Seq != b.Ledger().Size()-1 {
		t.Fatalf("erasure %+v", e)
	}
	le := rtContent[LearnerErased](t, b, e.Seq, TypeLearnerErased)
	if le.Learner != ref {
		t.Fatalf("erasure entry names %q, want the reference %q", le.Learner, ref)
	}

	// Every read and write for the learner is refused.
	_, err = b.Transcript(erased, "", 100)
	rtCode(t, err, CodeErased)
	_, err = b.Balance(erased)
	rtCode(t, err, CodeErased)
	_, err = b.Grants(erased, "", 10)
	rtCode(t, err, CodeErased)
	_, err = b.ActiveGrant(rtUniv, erased)
	rtCode(t, err, CodeErased)
	_, err = b.CreateGrant(ctx, rtLearner(erased), grantOf(erased, rtCollege))
	rtCode(t, err, CodeErased)
	_, err = b.Convert(ctx, admin, ConversionRequest{Learner: erased, Rule: "scored"})
	rtCode(t, err, CodeErased)
	_, err = b.Preview(admin, ConversionRequest{Learner: erased, Rule: "scored"})
	rtCode(t, err, CodeErased)
	_, err = b.InstitutionOutcomes(InstitutionOutcomesQuery{Institution: rtCollege, Learner: erased, Limit: 10})
	rtCode(t, err, CodeErased)
	_, err = b.LearnerRef(erased)
	rtCode(t, err, CodeErased)
	_, err = b.EraseLearner(ctx, admin, erased, "again")
	rtCode(t, err, CodeErased)
	res, err := b.PostOutcomes(ctx, college, []OutcomeInput{
		erasureOutcome(erased, "e-3", "Another", 7000, ""), erasureOutcome(kept, "k-2", "Kept Two", 7000, ""),
	})
	if err != nil || CodeOf(res[0].Err) != CodeErased || res[1].Status != PostCreated {
		t.Fatalf("post after erasure: %+v %v", res, err)
	}
	// A repeat of an outcome posted before the erasure cannot be answered
	// with it: its content is unreadable now.
	res, err = b.PostOutcomes(ctx, college, []OutcomeInput{erasureOutcome(erased, "e-1", title, score, evidence)})
	if err != nil || CodeOf(res[0].Err) != CodeErased {
		t.Fatalf("repeat after erasure: %+v %v", res, err)
	}

	// Refusals of the domain.
	for _, c := range []struct {
		name  string
		actor Actor
		id    string
		want  Code
	}{
		{"regulator", regulator, kept, CodeForbidden},
		{"the learner", rtLearner(kept), kept, CodeForbidden},
		{"an institution", college, kept, CodeForbidden},
		{"unknown learner", admin, "NOBODY9", CodeNotFound},
		{"bad id", admin, "not an id", CodeInvalid},
	} {
		_, err := b.EraseLearner(ctx, c.actor, c.id, "why")
		if CodeOf(err) != c.want {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		}
	}
	if _, err := b.EraseLearner(ctx, admin, kept, ""); CodeOf(err) != CodeInvalid {
		t.Errorf("no reason: %v", err)
	}

	// The other learner reads as before.
	if tr := rtTranscript(t, b, kept); len(tr.Outcomes) != 2 || tr.Outcomes[0].Unit.Title != "Kept Title" {
		t.Fatalf("other learner after erasure: %+v", tr.Outcomes)
	}

	// The key is in no file the store uses; a recycled write-ahead log may
	// keep its wrapped bytes until overwritten (ledger.PurgeState).
	for _, p := range append(personal, []byte(ref+`","wrapped`)) {
		if files := filesHolding(t, b.dir, p, nil); len(files) > 0 {
			t.Errorf("after erasure, %q is in %v", p, files)
		}
	}
	if files := filesHolding(t, b.dir, wrapped, isWAL); len(files) > 0 {
		t.Errorf("after erasure, the wrapped key is in %v", files)
	}

	// The journal replays: the conversion that read the erased score is
	// neither confirmed nor a finding.
	b.checkReplay(t)
	rp, err := b.Replay(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep := rp.Erasure()
	if rep.Erased != 1 || !slices.Equal(rep.NotRerunnable, []uint64{conv.Seq}) || rep.SealedOutcomes != 4 || rep.PlaintextOutcomes != 0 {
		t.Fatalf("erasure report %+v, want the conversion %d not re-runnable", rep, conv.Seq)
	}
	// A conversion wrong in another way than its scores is still found:
	// the scores are taken as the conversion took them, and the rest re-run.
	entries := ptEntries(t, b)
	c := ptDecode[Conversion](t, entries[conv.Seq].Content)
	c.Items[0].Granted += 100
	c.Granted += 100
	tampered, err := ledger.MarshalContent(c)
	if err != nil {
		t.Fatal(err)
	}
	entries[conv.Seq].Content = tampered
	if f := b.replayed(t, entries).Findings(); len(f) != 1 || f[0].Seq != conv.Seq {
		t.Fatalf("findings of an erased learner's tampered conversion: %+v", f)
	}
	// The audit listing names the learner by reference now.
	page, err := b.AuditConversions(AuditFilter{}, "", 10)
	if err != nil || len(page.Conversions) != 1 || !page.Conversions[0].LearnerErased || page.Conversions[0].Learner != ref {
		t.Fatalf("audit listing: %+v %v", page, err)
	}
	// The erasure holds across a restart.
	b = b.reopen(t)
	_, err = b.Transcript(erased, "", 100)
	rtCode(t, err, CodeErased)
}

// TestErasureRacesPosts: posts for a learner racing the learner's erasure
// are each either recorded before the erasure entry or refused; none is
// recorded after it, and the journal replays.
func TestErasureRacesPosts(t *testing.T) {
	ctx := context.Background()
	b, college, _ := rtSetup(t)
	const learner = "RACER5"
	b.post(t, college, outcome(learner, "first"))
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created []uint64
	)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				o := outcome(learner, "w"+string(rune('a'+w))+"-"+string(rune('a'+i)))
				res, err := b.PostOutcomes(ctx, college, []OutcomeInput{o})
				if err != nil {
					t.Error(err)
					return
				}
				switch {
				case res[0].Status == PostCreated:
					mu.Lock()
					created = append(created, res[0].Seq)
					mu.Unlock()
				case CodeOf(res[0].Err) != CodeErased:
					t.Errorf("post: %+v", res[0])
				}
			}
		}()
	}
	e, err := b.EraseLearner(ctx, admin, learner, "request")
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for _, seq := range created {
		if seq > e.Seq {
			t.Errorf("outcome %d recorded after the erasure %d", seq, e.Seq)
		}
	}
	b.checkReplay(t)
}

// TestLegacyStore: a store written before sealing opens; its outcomes read
// as they were and are counted as plaintext by the replay; a learner it
// names by plain id keeps that name for new (sealed) outcomes; a new
// learner gets a reference; erasing a legacy learner says that entries in
// clear remain.
func TestLegacyStore(t *testing.T) {
	ctx := context.Background()
	entries, _ := adReadV1(t)
	rp := replayed(t, entries)
	state := rp.State()
	vk, err := vault.Generate()
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{}
	clock.SetDate(t, "2026-07-15")
	keys, _, err := ledger.GenerateKeys(ledger.DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	b := &testBank{clock: clock, dir: t.TempDir(), keys: keys, vault: vk}
	l := b.openLedger(t)
	// Write the version 1 journal and the state it derives as one group,
	// without a bank, as that version left its store.
	recs := make(ledger.Records, len(entries))
	for i, e := range entries {
		recs[i] = ledger.Record{Type: e.Type, Actor: e.Actor, Content: e.Content}
		var ref struct {
			Learner string `json:"learner"`
		}
		if json.Unmarshal(e.Content, &ref) == nil && ref.Learner != "" {
			recs[i].Index = []ledger.IndexKey{learnerIndex(ref.Learner)}
		}
	}
	if _, err := l.Append(ctx, legacyLoad{recs: recs, state: state}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b = b.open(t) // New marks the store: sealed from its size on
	size := b.Ledger().Size()
	const legacy = "L3"
	before := rtTranscript(t, b, legacy)
	if len(before.Outcomes) == 0 || before.Outcomes[0].Unit.Title == "" {
		t.Fatalf("legacy transcript: %+v", before.Outcomes)
	}
	inst := Actor{Role: RoleInstitution, ID: before.Outcomes[0].Institution}
	o := before.Outcomes[0].OutcomeInput
	o.IdempotencyKey, o.Unit.Code, o.Supersedes, o.EvidenceSHA256 = "after-sealing", "NEW-UNIT", nil, ""
	o.Unit.Title = "Sealed After"
	seq := b.post(t, inst, o)
	if seq < size {
		t.Fatalf("posted at %d, before the sealing mark %d", seq, size)
	}
	stored := rtContent[Outcome](t, b, seq, TypeOutcomeRecorded)
	if stored.Learner != legacy || stored.Sealed == "" || stored.Unit.Title != "" {
		t.Fatalf("new outcome of a legacy learner stored as %+v", stored)
	}
	after := rtTranscript(t, b, legacy)
	if len(after.Outcomes) != len(before.Outcomes)+1 || after.Outcomes[len(after.Outcomes)-1].Unit.Title != "Sealed After" {
		t.Fatalf("legacy transcript after a sealed post: %+v", after.Outcomes)
	}
	o.Learner, o.IdempotencyKey = "FRESH1", "fresh"
	fresh := b.post(t, inst, o)
	if l := rtContent[Outcome](t, b, fresh, TypeOutcomeRecorded).Learner; !strings.HasPrefix(l, "_") {
		t.Fatalf("a learner new to a legacy store is named %q", l)
	}
	rp2, err := b.Replay(ctx)
	if err != nil {
		t.Fatal(err)
	}
	plain := 0
	for _, e := range entries {
		if e.Type == TypeOutcomeRecorded {
			plain++
		}
	}
	if rep := rp2.Erasure(); rep.PlaintextOutcomes != plain || rep.SealedOutcomes != 2 {
		t.Fatalf("report %+v, want %d plaintext and 2 sealed", rep, plain)
	}
	e, err := b.EraseLearner(ctx, admin, legacy, "request")
	if err != nil || !e.PlaintextEntries || e.Ref != legacy {
		t.Fatalf("erasure of a legacy learner: %+v %v", e, err)
	}
	_, err = b.Transcript(legacy, "", 10)
	rtCode(t, err, CodeErased)
	// A learner of the old entries whom nothing was written for since
	// (no directory entry) is erased all the same.
	e, err = b.EraseLearner(ctx, admin, "L2", "request")
	if err != nil || !e.PlaintextEntries || e.Ref != "L2" {
		t.Fatalf("erasure of a legacy learner never written for since: %+v %v", e, err)
	}
	_, err = b.Balance("L2")
	rtCode(t, err, CodeErased)
	// After the index key rotates, the marks of erased ids are gone: a post
	// for L3 makes a new learner, who inherits nothing of the old entries.
	if _, err := b.RotateIndexKey(ctx); err != nil {
		t.Fatal(err)
	}
	o.Learner, o.IdempotencyKey, o.Unit.Code = legacy, "after-rotation", "NEW-UNIT-2"
	again := b.post(t, inst, o)
	if l := rtContent[Outcome](t, b, again, TypeOutcomeRecorded).Learner; !strings.HasPrefix(l, "_") {
		t.Fatalf("an erased legacy id after the index key rotated is named %q", l)
	}
	if tr := rtTranscript(t, b, legacy); len(tr.Outcomes) != 1 || tr.Outcomes[0].IdempotencyKey != "after-rotation" {
		t.Fatalf("the new %s holds %+v", legacy, tr.Outcomes)
	}
}

// legacyLoad writes a journal and its state as a store of an earlier
// version holds them.
type legacyLoad struct {
	recs  ledger.Records
	state map[string][]byte
}

func (p legacyLoad) Decide(*ledger.View) (ledger.Effect, error) {
	eff := ledger.Effect{Records: p.recs}
	keys := make([]string, 0, len(p.state))
	for k := range p.state {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		eff.State = append(eff.State, ledger.StateWrite{Key: []byte(k), Value: p.state[k]})
	}
	return eff, nil
}

// TestErasuresReplayedAtOpen: a vault record and directory entry of an
// erased learner, put back behind the bank's back (a vault restored apart
// from the ledger), are destroyed when the bank opens: the ledger's
// erasures win, and the learner reads and posts as erased.
func TestErasuresReplayedAtOpen(t *testing.T) {
	ctx := context.Background()
	b, college, _ := rtSetup(t)
	b.post(t, college, outcome("BACK1", "b-1"))
	ref := b.ref(t, "BACK1")
	var record []byte
	err := b.Ledger().Read(func(r *ledger.Reader) error {
		v, err := r.Get([]byte(vaultKey(ref)))
		record = bytes.Clone(v)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.EraseLearner(ctx, admin, "BACK1", "request"); err != nil {
		t.Fatal(err)
	}
	putBack := map[string][]byte{vaultKey(ref): record, dirKey(b.vault.IndexHash("BACK1")): []byte(ref)}
	if _, err := b.Ledger().Append(ctx, legacyLoad{state: putBack}); err != nil {
		t.Fatal(err)
	}
	b = b.reopen(t)
	if held, err := HasLearnerKeys(b.Ledger()); err != nil || held {
		t.Fatalf("the erased learner's key came back: %v %v", held, err)
	}
	_, err = b.Transcript("BACK1", "", 10)
	rtCode(t, err, CodeErased)
	res, err := b.PostOutcomes(ctx, college, []OutcomeInput{outcome("BACK1", "b-2"), outcome("OTHER1", "o-1")})
	if err != nil || CodeOf(res[0].Err) != CodeErased || res[1].Status != PostCreated {
		t.Fatalf("post after the vault was put back: %+v %v", res, err)
	}
}

// refuseAfterKeep is a command refused after it kept a learner's first
// record: what a token revocation found to repeat one does.
type refuseAfterKeep struct{ lp *learnerPrep }

func (c refuseAfterKeep) decide(t *tx) (any, error) {
	r, err := t.learner(c.lp)
	if err != nil {
		return nil, err
	}
	t.keepLearner(c.lp, r)
	return nil, errorf(CodeConflict, "refused after keeping the learner")
}

// TestRefusedCommandCachesNothing: a command refused after it made a
// learner's first record leaves the learner out of the cache of learners,
// as out of the store: the learner's next post writes the record, and the
// learner reads after a restart (a cached key the store did not hold
// sealed outcomes under a key stored nowhere).
func TestRefusedCommandCachesNothing(t *testing.T) {
	ctx := context.Background()
	b, college, _ := rtSetup(t)
	lp, err := b.prepareOne("CACHE1")
	if err != nil || !lp.New {
		t.Fatalf("prepared %+v %v", lp, err)
	}
	if _, err := b.do(ctx, refuseAfterKeep{lp}); CodeOf(err) != CodeConflict {
		t.Fatalf("refusal: %v", err)
	}
	if _, ok := b.learners.get(lp.Hash, &b.Bank.vault); ok {
		t.Fatal("a refused command left the learner in the cache")
	}
	b.post(t, college, outcome("CACHE1", "c-1"))
	b = b.reopen(t)
	if tr := rtTranscript(t, b, "CACHE1"); len(tr.Outcomes) != 1 || tr.Outcomes[0].Unit.Title == "" {
		t.Fatalf("after a restart: %+v", tr.Outcomes)
	}
}

// TestPersonalJSON: the personal members written by hand are what
// encoding/json writes of them, so that opening reads them back.
func TestPersonalJSON(t *testing.T) {
	for _, o := range []OutcomeInput{
		erasureOutcome("P1", "k", "Plain title", 8600, "ab"),
		erasureOutcome("P2", "k", `Quotes " and \ and <tags> & é`, 1, ""),
		outcome("P3", "k"),
	} {
		out := &Outcome{OutcomeInput: o}
		if o.Learner == "P3" {
			out.Result.Score = nil
		}
		// Without HTML escaping, as the bank writes JSON.
		want, err := marshalJSON(personal{Learner: out.Learner, Title: out.Unit.Title, Score: out.Result.Score, Evidence: out.EvidenceSHA256})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendPersonal(nil, out); !bytes.Equal(got, want) {
			t.Errorf("by hand %s\nencoding/json %s", got, want)
		}
	}
}

// TestOpenContent: the plain content spliced from a sealed outcome is
// byte for byte what decoding it and encoding it again gives, for every
// shape of outcome (no score, no evidence, hours, supersedes, a failed
// result, titles that need escaping), and a tampered sealed member is
// refused.
func TestOpenContent(t *testing.T) {
	dk, err := vault.NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	base := erasureOutcome("OPEN1", "k:1/2.3", "Title", 8650, "9f1c0e6a3b5d7f92a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0")
	failed := false
	cases := []struct {
		name string
		edit func(o *OutcomeInput)
	}{
		{"all members", func(*OutcomeInput) {}},
		{"no score", func(o *OutcomeInput) { o.Result.Score = nil }},
		{"no evidence", func(o *OutcomeInput) { o.EvidenceSHA256 = "" }},
		{"neither", func(o *OutcomeInput) { o.Result.Score, o.EvidenceSHA256 = nil, "" }},
		{"hours", func(o *OutcomeInput) { o.Hours = rtHours(48) }},
		{"supersedes", func(o *OutcomeInput) { s := uint64(7); o.Supersedes = &s }},
		{"failed", func(o *OutcomeInput) { o.Result.Passed = &failed }},
		{"escapes", func(o *OutcomeInput) { o.Unit.Title = "Quotes \" \\ <b> & \u2028 é 数学" }},
		{"marker in title", func(o *OutcomeInput) { o.Unit.Title = `},"completed_on":"x","result":{"passed":true` }},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := base
			c.edit(&o)
			input, err := marshalOutcomeInput(o)
			if err != nil {
				t.Fatal(err)
			}
			p, err := prepareOutcome("college.example", o, input)
			if err != nil || p.err != nil {
				t.Fatal(err, p.err)
			}
			seq := uint64(100 + i)
			var decoded Outcome
			stored := sealOutcome(&p.out, p.personal, "_K5V2QWERTYUIOPASDFGHJKLZXC", dk, [24]byte{byte(i)}, seq, &decoded)
			var want Outcome
			if err := unmarshalContent(stored, &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(decoded, want) {
				t.Fatalf("sealOutcome's outcome %+v\ndecoded %+v", decoded, want)
			}
			_, slow, err := openOutcome(stored, seq, dk)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(slow, p.content) {
				t.Fatalf("opened %s\nposted %s", slow, p.content)
			}
			fast, err := openContent(stored, seq, dk)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(fast, slow) {
				t.Fatalf("spliced %s\ndecoded %s", fast, slow)
			}
			if _, err := openContent(stored, seq+1, dk); err == nil {
				t.Fatal("opened under another seq")
			}
		})
	}
}

// TestLearnerRecordJSON: the vault record written by hand is what
// encoding/json writes of a learnerRecord, and reads back as one.
func TestLearnerRecordJSON(t *testing.T) {
	keys, err := vault.Generate()
	if err != nil {
		t.Fatal(err)
	}
	dk, err := vault.NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := vault.NewRef()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := newLearnerRecord(keys, ref, dk, "REC1")
	if err != nil {
		t.Fatal(err)
	}
	var rec learnerRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	if want, err := json.Marshal(rec); err != nil || !bytes.Equal(raw, want) {
		t.Fatalf("by hand %s\nencoding/json %s", raw, want)
	}
	if got, err := keys.Unwrap(ref, rec.Wrapped); err != nil || got != dk {
		t.Fatalf("the record's key does not unwrap: %v", err)
	}
	if id, err := vault.OpenSealed(dk, 0, sealedIDField+"/"+ref, rec.ID); err != nil || string(id) != "REC1" {
		t.Fatalf("the record's id: %q %v", id, err)
	}
}
