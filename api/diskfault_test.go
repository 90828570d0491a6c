package api

// Disk faults under a running API, with Pebble's vfs/errorfs and a file
// system whose free space the test sets:
//
//   - TestDiskFull: free space under Options.MinFreeBytes refuses writes
//     (503 unavailable, /readyz not ready) while every read answers as
//     before; writes resume by themselves when the space is back.
//   - TestDiskBackgroundENOSPC: a flush whose sstable writes fail with
//     ENOSPC makes Pebble report a background error; writes answer 503 and
//     reads go on until a retried flush succeeds.
//   - TestFatalWALFailure: a failed WAL write or sync under clients posting
//     is fatal: OnFatal is called, nothing of the failed group is
//     acknowledged, and the store reopened from the crashed disk holds every
//     entry a client got a 2xx for.
//   - TestReadErrors: random sstable read errors give an error answer or
//     correct, verifiable data, never a 200 with a wrong proof or bytes.
//   - TestDiskFullWritesNoCheckpoint: nothing at all is written while the
//     disk is under the reserve, not even a checkpoint.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"golang.org/x/mod/sumdb/tlog"

	"creditbank/accreditation"
	"creditbank/ledger"
	"creditbank/vault"
)

const dfUnavailable = "urn:creditbank:problem:unavailable"

// dfEnv holds what survives a restart: the ledger's signing keys and the
// service token key.
type dfEnv struct {
	t    *testing.T
	keys ledger.Keys
	// vault is the bank's key store, kept across a restart as the
	// server keeps its data folder's key file.
	vault *vault.Keys
	tk    PrivateKey
	log   *slog.Logger
}

func newDFEnv(t *testing.T) *dfEnv {
	t.Helper()
	keys, _, err := ledger.GenerateKeys(ledger.DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := GenerateKey("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	return &dfEnv{t: t, keys: keys, vault: testVaultKeys(t), tk: tk, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// open builds the API over a ledger in "db" on fs, as newTestServer does,
// with mod adjusting the ledger's options. Unless keep is set the server
// and ledger are closed when the test ends (a ledger wedged by a fatal
// fault must not be: its handlers never return).
func (e *dfEnv) open(fs vfs.FS, keep bool, mod func(*ledger.Options)) *testServer {
	t := e.t
	t.Helper()
	metrics := NewMetrics()
	opts := ledger.Options{
		Dir: "db", FS: fs, Keys: e.keys, Logger: e.log, MinFreeBytes: -1, OnGroup: metrics.ObserveGroup,
		CheckpointInterval: time.Hour, // checkpoints only when the test asks
		OnFatal:            func(err error) { panic(fmt.Sprintf("unexpected fatal store error: %v", err)) },
	}
	if mod != nil {
		mod(&opts)
	}
	l, err := ledger.Open(opts)
	if err != nil {
		t.Fatalf("open ledger: %v", err)
	}
	if err := l.Integrity(); err != nil {
		t.Fatalf("integrity: %v", err)
	}
	metrics.RegisterLedger(l)
	pub, _ := e.tk.Public()
	bank := newBank(t, l, e.vault)
	auth := NewAuthenticator(testAudience, []Issuer{{Name: "creditbank", Keys: map[string]accreditation.PublicJWK{e.tk.Kid: pub}}}, bank, nil)
	srv := httptest.NewServer(New(Config{Bank: bank, Auth: auth, Log: e.log, Metrics: metrics}))
	if !keep {
		t.Cleanup(func() {
			srv.Close()
			l.Close()
		})
	}
	return &testServer{Server: srv, ledger: l, bank: bank, auth: auth, metrics: metrics, tokenKey: e.tk}
}

// dfOutcome is a valid outcome body.
func dfOutcome(learner, key string) map[string]any {
	return map[string]any{
		"idempotency_key": key, "learner": learner,
		"unit":   map[string]any{"code": "CS101-" + key, "title": "Introduction to Programming"},
		"sector": "degree", "level": 6, "field": "0613",
		"credits":      map[string]any{"amount": "3", "system": "cn-credit"},
		"result":       map[string]any{"passed": true, "score": "86"},
		"completed_on": "2025-06-01",
	}
}

func dfBatch(learner, prefix string, n int) map[string]any {
	items := make([]any, n)
	for i := range items {
		items[i] = dfOutcome(learner, fmt.Sprintf("%s-%d", prefix, i))
	}
	return map[string]any{"outcomes": items}
}

// dfSeq reads the seq of a stored outcome.
func dfSeq(t testing.TB, body []byte) uint64 {
	t.Helper()
	var v struct {
		Seq *uint64 `json:"seq"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Seq == nil {
		t.Fatalf("no seq in %s", body)
	}
	return *v.Seq
}

// dfUnavailableProblem checks a 503 unavailable problem answer.
func dfUnavailableProblem(t testing.TB, what string, resp *http.Response, body []byte) {
	t.Helper()
	var p Problem
	if resp.StatusCode != http.StatusServiceUnavailable || json.Unmarshal(body, &p) != nil || p.Type != dfUnavailable ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("%s: %d %s %s, want 503 %s", what, resp.StatusCode, resp.Header.Get("Content-Type"), body, dfUnavailable)
	}
}

// dfReads fetches what a refused writer must go on serving unchanged: the
// checkpoint, every entry, inclusion proofs, a consistency proof, a
// transcript, a balance and an institution.
func dfReads(t testing.TB, s *testServer, adm string) map[string][]byte {
	t.Helper()
	size := s.ledger.Size()
	paths := []string{
		"/v1/log/checkpoint", "/v1/log/key",
		fmt.Sprintf("/v1/log/proof/consistency?from=1&to=%d", size),
		"/v1/learners/L1/transcript", "/v1/learners/L1/balance", "/v1/institutions/univ.example",
	}
	for i := range size {
		paths = append(paths, fmt.Sprintf("/v1/log/entries/%d", i))
		if i%3 == 0 || i == size-1 {
			paths = append(paths, fmt.Sprintf("/v1/log/proof/inclusion?index=%d&size=%d", i, size))
		}
	}
	out := map[string][]byte{}
	for _, p := range paths {
		resp, body := s.do(t, "GET", p, adm, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", p, resp.StatusCode, body)
		}
		out[p] = body
	}
	return out
}

func dfSameReads(t testing.TB, what string, before, after map[string][]byte) {
	t.Helper()
	for p, b := range before {
		if !bytes.Equal(after[p], b) {
			t.Fatalf("%s: GET %s changed:\nbefore %s\nafter  %s", what, p, b, after[p])
		}
	}
}

// dfSpaceFS reports a settable amount of free space.
type dfSpaceFS struct {
	vfs.FS
	avail, total atomic.Uint64
}

func (s *dfSpaceFS) GetDiskUsage(string) (vfs.DiskUsage, error) {
	avail, total := s.avail.Load(), s.total.Load()
	return vfs.DiskUsage{AvailBytes: avail, TotalBytes: total, UsedBytes: total - avail}, nil
}

func dfWaitReady(t testing.TB, s *testServer, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, body := s.do(t, "GET", "/readyz", "", nil)
		if resp.StatusCode == want {
			if want == http.StatusServiceUnavailable {
				dfUnavailableProblem(t, "/readyz", resp, body)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz answers %d %s after %v, want %d", resp.StatusCode, body, within, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDiskFull drops the free space the file system reports under
// MinFreeBytes: every write answers 503 unavailable and /readyz is not
// ready, while reads answer 200 with the same bytes and nothing is written;
// once the space is back, writes and /readyz recover by themselves.
func TestDiskFull(t *testing.T) {
	env := newDFEnv(t)
	fs := &dfSpaceFS{FS: vfs.NewMem()}
	fs.total.Store(8 << 30)
	fs.avail.Store(4 << 30)
	const reserve = 64 << 20
	s := env.open(fs, false, func(o *ledger.Options) { o.MinFreeBytes = reserve })
	adm := s.token(t, "admin", "root")
	tok := instToken(t, s.institution(t, "univ.example"), "univ.example")
	for i := range 8 {
		if resp, body := s.do(t, "POST", "/v1/outcomes", tok, dfOutcome("L1", fmt.Sprintf("before-%d", i))); resp.StatusCode != 201 {
			t.Fatalf("post: %d %s", resp.StatusCode, body)
		}
	}
	if _, err := s.ledger.SignCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	dfWaitReady(t, s, 200, time.Second)
	before := dfReads(t, s, adm)
	size := s.ledger.Size()

	fs.avail.Store(reserve - 1)
	time.Sleep(150 * time.Millisecond) // the reading is at most 100ms old
	refused := 0
	for i := range 5 {
		resp, body := s.do(t, "POST", "/v1/outcomes", tok, dfOutcome("L1", fmt.Sprintf("full-%d", i)))
		dfUnavailableProblem(t, "POST /v1/outcomes with the disk full", resp, body)
		resp, body = s.do(t, "POST", "/v1/outcomes", tok, dfBatch("L2", fmt.Sprintf("full-batch-%d", i), 3))
		dfUnavailableProblem(t, "POST /v1/outcomes (batch) with the disk full", resp, body)
		refused += 2
	}
	resp, body := s.do(t, "POST", "/v1/outcomes/2/revocation", s.token(t, "regulator", "moe"), map[string]any{"reason": "error"})
	dfUnavailableProblem(t, "POST revocation with the disk full", resp, body)
	resp, body = s.do(t, "POST", "/v1/rules", adm, map[string]any{
		"id": "r-one", "target": map[string]any{"institution": "univ.example", "programme": "BSC"},
		"source": map[string]any{"sectors": []string{"degree"}, "min_level": 1, "fields": []string{}, "min_score": nil, "max_age_days": nil, "institutions": []string{}},
		"ratio":  "0.5", "cap": nil, "valid_from": "2025-01-01", "valid_until": nil})
	dfUnavailableProblem(t, "POST rule with the disk full", resp, body)
	dfWaitReady(t, s, 503, 0)
	if resp, _ := s.do(t, "GET", "/healthz", "", nil); resp.StatusCode != 200 {
		t.Fatalf("/healthz with the disk full: %d, want 200 (the process is alive)", resp.StatusCode)
	}
	dfSameReads(t, "with the disk full", before, dfReads(t, s, adm))
	time.Sleep(300 * time.Millisecond)
	dfSameReads(t, "with the disk full, later", before, dfReads(t, s, adm))
	if got := s.ledger.Size(); got != size {
		t.Fatalf("the tree grew from %d to %d while writes were refused", size, got)
	}

	fs.avail.Store(reserve + 1)
	dfWaitReady(t, s, 200, 2*time.Second)
	// The key refused while the disk was full was never written: it now
	// creates a new outcome, right after the old tree.
	resp, body = s.do(t, "POST", "/v1/outcomes", tok, dfOutcome("L1", "full-0"))
	if resp.StatusCode != 201 || dfSeq(t, body) != size {
		t.Fatalf("first post after the space came back: %d %s, want 201 with seq %d", resp.StatusCode, body, size)
	}
	if rep, err := s.ledger.Verify(context.Background(), nil, nil); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	t.Logf("disk under the %d-byte reserve: %d posts, a revocation and a rule refused with 503, /readyz 503, %d reads unchanged; writes resumed at seq %d",
		reserve, refused, len(before), size)
}

// TestDiskFullWritesNoCheckpoint: while the disk is under the reserve the
// ledger writes nothing, including the checkpoint its ticker would sign
// over entries acknowledged just before the disk filled. (With a real full
// disk such a write reaches the WAL, and a WAL write that fails is fatal.)
func TestDiskFullWritesNoCheckpoint(t *testing.T) {
	env := newDFEnv(t)
	fs := &dfSpaceFS{FS: vfs.NewMem()}
	fs.total.Store(8 << 30)
	fs.avail.Store(4 << 30)
	const reserve = 64 << 20
	const interval = 500 * time.Millisecond
	s := env.open(fs, false, func(o *ledger.Options) {
		o.MinFreeBytes = reserve
		o.CheckpointInterval = interval
	})
	tok := instToken(t, s.institution(t, "univ.example"), "univ.example")
	// Right after the ticker signed over the set-up, so that its next tick
	// comes well after the disk is seen full.
	signed := s.ledger.CheckpointTime()
	for s.ledger.CheckpointTime() == signed {
		time.Sleep(time.Millisecond)
	}
	if resp, body := s.do(t, "POST", "/v1/outcomes", tok, dfOutcome("L1", "last")); resp.StatusCode != 201 {
		t.Fatalf("post: %d %s", resp.StatusCode, body)
	}
	_, first := s.do(t, "GET", "/v1/log/checkpoint", "", nil)
	fs.avail.Store(reserve - 1)
	dfWaitReady(t, s, 503, time.Second)
	refused := time.Now()
	size := s.ledger.Size()
	time.Sleep(3 * interval) // the ticker skips a tick that comes less than an interval after its last signature
	dfWaitReady(t, s, 503, 0)
	_, later := s.do(t, "GET", "/v1/log/checkpoint", "", nil)
	if signedAt := s.ledger.CheckpointTime(); !bytes.Equal(first, later) && signedAt.After(refused) {
		t.Errorf("a checkpoint over %d entries was signed and stored %v after /readyz first answered 503 for the disk under the reserve:\nbefore %s\nafter  %s",
			size, signedAt.Sub(refused).Round(time.Millisecond), first, later)
	}
}

// TestDiskBackgroundENOSPC fails every sstable write with ENOSPC while
// clients post until a flush fails: Pebble reports a background error,
// writes answer 503 and /readyz is not ready while every read, including
// of entries acknowledged just before (still in the memtable), goes on;
// once the disk takes writes again, the retried flush succeeds and writes
// resume by themselves.
func TestDiskBackgroundENOSPC(t *testing.T) {
	env := newDFEnv(t)
	counter := &errorfs.Counter{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if !strings.HasSuffix(op.Path, ".sst") {
			return nil
		}
		switch op.Kind {
		case errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo, errorfs.OpFilePreallocate:
			return &os.PathError{Op: "write", Path: op.Path, Err: syscall.ENOSPC}
		}
		return nil
	})}
	toggle := &errorfs.Toggle{Injector: counter}
	var bgErrs, flushes atomic.Int64
	s := env.open(errorfs.Wrap(vfs.NewMem(), toggle), false, func(o *ledger.Options) {
		o.Tune = func(po *pebble.Options) {
			po.MemTableSize = 512 << 10
			bg, fe := po.EventListener.BackgroundError, po.EventListener.FlushEnd
			po.EventListener.BackgroundError = func(err error) { bg(err); bgErrs.Add(1) }
			po.EventListener.FlushEnd = func(info pebble.FlushInfo) {
				fe(info)
				if info.Err == nil {
					flushes.Add(1)
				}
			}
		}
	})
	adm := s.token(t, "admin", "root")
	tok := instToken(t, s.institution(t, "univ.example"), "univ.example")
	for i := range 5 {
		if resp, body := s.do(t, "POST", "/v1/outcomes", tok, dfOutcome("L1", fmt.Sprintf("before-%d", i))); resp.StatusCode != 201 {
			t.Fatalf("post: %d %s", resp.StatusCode, body)
		}
	}

	toggle.On()
	acked := 0
	for round := 0; bgErrs.Load() == 0; round++ {
		if round == 50 {
			t.Fatalf("no flush failed after %d batches", round)
		}
		resp, body := s.do(t, "POST", "/v1/outcomes", tok, dfBatch("L2", fmt.Sprintf("fill-%d", round), 100))
		if resp.StatusCode == 503 {
			break
		}
		if resp.StatusCode != 200 {
			t.Fatalf("batch %d: %d %s", round, resp.StatusCode, body)
		}
		acked += 100
	}
	dfWaitReady(t, s, 503, 5*time.Second)
	size := s.ledger.Size()
	resp, body := s.do(t, "POST", "/v1/outcomes", tok, dfOutcome("L1", "refused"))
	dfUnavailableProblem(t, "POST /v1/outcomes after the failed flush", resp, body)
	before := dfReads(t, s, adm)
	time.Sleep(200 * time.Millisecond)
	dfSameReads(t, "after the failed flush", before, dfReads(t, s, adm))
	if got := s.ledger.Size(); got != size {
		t.Fatalf("the tree grew from %d to %d while writes were refused", size, got)
	}

	toggle.Off()
	dfWaitReady(t, s, 200, 10*time.Second)
	resp, body = s.do(t, "POST", "/v1/outcomes", tok, dfOutcome("L1", "refused"))
	if resp.StatusCode != 201 || dfSeq(t, body) != size {
		t.Fatalf("first post after recovery: %d %s, want 201 with seq %d", resp.StatusCode, body, size)
	}
	if rep, err := s.ledger.Verify(context.Background(), nil, nil); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	t.Logf("%d outcomes acknowledged after arming, %d sstable writes failed with ENOSPC, %d background errors; writes refused at %d entries with %d reads unchanged; recovered after %d successful flushes",
		acked, counter.Load(), bgErrs.Load(), size, len(before), flushes.Load())
}

// dfDo sends one request with a context and returns status and body, or
// the transport error (a request cut off by the context).
func dfDo(ctx context.Context, url, method, token string, body any) (int, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// TestFatalWALFailure fails the WAL's writes, or its syncs, while clients
// post. Pebble cannot go on from that: OnFatal must be called (here it
// records the error and blocks, as a process that stops would never return),
// later writes answer 503, and no client gets a 2xx for anything of the
// failed group. The "restart" opens the store on a crash clone of the disk
// (only what was synced, and everything written) and finds every entry any
// client got a 2xx for, each still answering as a duplicate of itself.
//
// The test stays inside Pebble's first memtable (256 KiB; MemTableSize only
// bounds the later ones) so that the WAL never rotates: a WAL failure that
// meets a rotation makes Pebble panic inside rotateWAL, which ends the
// process and cannot be caught in-process (ledger.TestFaultWALFatal covers
// that case with a child process).
func TestFatalWALFailure(t *testing.T) {
	for _, mode := range []string{"write", "sync"} {
		t.Run(mode, func(t *testing.T) { dfFatal(t, mode) })
	}
}

func dfFatal(t *testing.T, mode string) {
	env := newDFEnv(t)
	var kinds []errorfs.OpKind
	if mode == "write" {
		kinds = []errorfs.OpKind{errorfs.OpFileWrite, errorfs.OpFileWriteAt}
	} else {
		kinds = []errorfs.OpKind{errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo}
	}
	counter := &errorfs.Counter{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if strings.HasSuffix(op.Path, ".log") && slices.Contains(kinds, op.Kind) {
			return errorfs.ErrInjected
		}
		return nil
	})}
	toggle := &errorfs.Toggle{Injector: counter}
	inner := vfs.NewCrashableMem()
	var (
		fatalMu   sync.Mutex
		fatalErrs []error
		fatalOnce sync.Once
		fatalCh   = make(chan struct{})
		release   = make(chan struct{})
	)
	t.Cleanup(func() { close(release) })
	s := env.open(errorfs.Wrap(inner, toggle), true, func(o *ledger.Options) {
		o.Tune = func(po *pebble.Options) { po.MemTableSize = 64 << 20 }
		// No checkpoint ticker: each commit that follows a failed WAL write
		// before the ledger sees the failure is one more chance for Pebble
		// to panic in DB.commitWrite (once the failed writer's 32 KiB block
		// fills, WriteRecord returns the error and Pebble panics on it).
		o.CheckpointInterval = time.Hour
		o.OnFatal = func(err error) {
			fatalMu.Lock()
			fatalErrs = append(fatalErrs, err)
			fatalMu.Unlock()
			fatalOnce.Do(func() { close(fatalCh) })
			<-release // a stopped process never comes back
		}
	})
	// The wedged server is never closed (its handlers never return); its
	// listener is, so nothing more reaches it.
	t.Cleanup(func() { s.CloseClientConnections(); s.Listener.Close() })
	tok := instToken(t, s.institution(t, "univ.example"), "univ.example")

	type answer struct {
		key    string
		status int
		seq    uint64
		err    error
	}
	var (
		mu      sync.Mutex
		answers []answer
		acks    atomic.Int64
	)
	// Armed early: Pebble's first memtable is 256 KiB whatever
	// MemTableSize says, and everything up to the fault must fit in it.
	armAt := int64(10 + rand.IntN(30))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("w%d-%d", w, i)
				var body any = dfOutcome(fmt.Sprintf("L%d", w), key)
				if i%4 == 3 {
					body = dfBatch(fmt.Sprintf("L%d", w), key, 3)
				}
				status, out, err := dfDo(ctx, s.URL+"/v1/outcomes", "POST", tok, body)
				a := answer{key: key, status: status, err: err}
				if err == nil && status/100 == 2 {
					if i%4 == 3 {
						var br struct {
							Results []struct {
								Status string `json:"status"`
								Seq    uint64 `json:"seq"`
							} `json:"results"`
						}
						if json.Unmarshal(out, &br) != nil || len(br.Results) != 3 {
							t.Errorf("batch answer %s", out)
							return
						}
						mu.Lock()
						for j, r := range br.Results {
							answers = append(answers, answer{key: fmt.Sprintf("%s-%d", key, j), status: status, seq: r.Seq})
						}
						mu.Unlock()
						if acks.Add(1) == armAt {
							toggle.On()
						}
						continue
					}
					var one struct {
						Seq *uint64 `json:"seq"`
					}
					if json.Unmarshal(out, &one) != nil || one.Seq == nil {
						t.Errorf("post answer %s", out)
						return
					}
					a.seq = *one.Seq
					if acks.Add(1) == armAt {
						toggle.On()
					}
				}
				mu.Lock()
				answers = append(answers, a)
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	select {
	case <-fatalCh:
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatalf("no fatal error %v after the WAL %s fault was armed (%d injected, %d acks)", 20*time.Second, mode, counter.Load(), acks.Load())
	}
	// Whatever is still waiting for an answer never gets one: the process
	// has stopped. Give the clients a moment, then cut them off.
	time.Sleep(100 * time.Millisecond)
	cancel()
	wg.Wait()
	fatalMu.Lock()
	firstFatal := fatalErrs[0]
	fatalMu.Unlock()
	if !errors.Is(firstFatal, ledger.ErrFailed) {
		t.Errorf("OnFatal got %v, want an error wrapping ledger.ErrFailed", firstFatal)
	}
	if st, body, err := dfDo(context.Background(), s.URL+"/v1/outcomes", "POST", tok, dfOutcome("L1", "after")); err != nil || st != 503 {
		t.Errorf("post after the fatal error: %d %s %v, want 503", st, body, err)
	}
	if st, body, err := dfDo(context.Background(), s.URL+"/readyz", "GET", "", nil); err != nil || st != 503 {
		t.Errorf("/readyz after the fatal error: %d %s %v, want 503", st, body, err)
	}

	acked := map[string]uint64{}
	inflight, refused := 0, 0
	for _, a := range answers {
		switch {
		case a.err != nil:
			inflight++
		case a.status/100 == 2:
			acked[a.key] = a.seq
		default:
			refused++
		}
	}
	// Restart: the disk as a power cut leaves it (only what was synced) and
	// as a process crash leaves it (everything written).
	for _, keep := range []int{0, 100} {
		clone := inner.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: keep, RNG: rand.New(rand.NewPCG(1, 2))})
		s2 := env.open(clone, false, nil)
		adm := s2.token(t, "admin", "root")
		for key, seq := range acked {
			resp, body := s2.do(t, "GET", fmt.Sprintf("/v1/log/entries/%d", seq), adm, nil)
			if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"idempotency_key":"`+key+`"`)) {
				t.Fatalf("restart (%d%% of unsynced data kept): %s got a 2xx as entry %d, which now answers %d %s",
					keep, key, seq, resp.StatusCode, body)
			}
		}
		// Spot-check idempotency: an acknowledged single post answers as a
		// duplicate of itself.
		n := 0
		for key, seq := range acked {
			if strings.Count(key, "-") != 1 || n == 10 {
				continue
			}
			n++
			w, _, _ := strings.Cut(key, "-")
			resp, body := s2.do(t, "POST", "/v1/outcomes", tok, dfOutcome("L"+w[1:], key))
			if resp.StatusCode != 200 || dfSeq(t, body) != seq {
				t.Fatalf("restart: repost of acknowledged %s: %d %s, want 200 with seq %d", key, resp.StatusCode, body, seq)
			}
		}
		rep, err := s2.ledger.Verify(context.Background(), nil, nil)
		if err != nil || !rep.OK() {
			t.Fatalf("restart: verify: %v %+v", err, rep)
		}
		t.Logf("WAL %s fault armed after %d acks: OnFatal called %d times (%v); %d outcomes acknowledged, all present after a restart keeping %d%% of unsynced data (tree %d entries); %d requests cut off in flight, %d refused",
			mode, armAt, len(fatalErrs), firstFatal, len(acked), keep, rep.Entries, inflight, refused)
	}
}

// TestReadErrors injects random read errors into the sstables under a
// reopened store (a small memtable put most of the ledger in sstables) and
// asks for inclusion proofs, entries and transcripts: each answer is an
// error (5xx) or correct data (a proof that checks against the signed
// checkpoint's root, the entry's exact bytes), never a 200 with wrong data.
func TestReadErrors(t *testing.T) {
	env := newDFEnv(t)
	inner := vfs.NewMem()
	seed := rand.Int64()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("read-error seed %d", seed)
		}
	})
	pred := errorfs.Randomly(0.03, seed)
	counter := &errorfs.Counter{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpFileReadAt && strings.HasSuffix(op.Path, ".sst") && pred.Evaluate(op) {
			return errorfs.ErrInjected
		}
		return nil
	})}
	toggle := &errorfs.Toggle{Injector: counter}
	fs := errorfs.Wrap(inner, toggle)
	tune := func(o *ledger.Options) {
		o.CacheBytes = 64 << 10 // most reads reach the file system
		o.Tune = func(po *pebble.Options) { po.MemTableSize = 256 << 10 }
	}
	s := env.open(fs, true, tune)
	k := s.institution(t, "univ.example")
	tok := instToken(t, k, "univ.example")
	for i := range 12 {
		if resp, body := s.do(t, "POST", "/v1/outcomes", tok, dfBatch(fmt.Sprintf("L%d", i%3), fmt.Sprintf("b%d", i), 100)); resp.StatusCode != 200 {
			t.Fatalf("batch: %d %s", resp.StatusCode, body)
		}
	}
	if _, err := s.ledger.SignCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The reference: entries and transcripts read with a healthy disk.
	size := s.ledger.Size()
	ref := make([][]byte, size)
	for i := range ref {
		b, err := s.ledger.Entry(uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		ref[i] = b
	}
	adm := s.token(t, "admin", "root")
	refTranscript := map[string][]byte{}
	for l := range 3 {
		p := fmt.Sprintf("/v1/learners/L%d/transcript?limit=50", l)
		_, refTranscript[p] = s.do(t, "GET", p, adm, nil)
	}
	s.Close()
	if err := s.ledger.Close(); err != nil {
		t.Fatal(err)
	}

	s = env.open(fs, false, tune)
	if got := s.ledger.Size(); got != size {
		t.Fatalf("reopened with %d entries, had %d", got, size)
	}
	_, signed := s.do(t, "GET", "/v1/log/checkpoint", "", nil)
	ck, err := ledger.OpenCheckpoint(signed, env.keys.Verifier)
	if err != nil || ck.Size != size {
		t.Fatalf("checkpoint: %v (size %d, want %d)", err, ck.Size, size)
	}
	sstables := 0
	for _, m := range s.ledger.StoreMetrics().Levels {
		sstables += int(m.TablesCount)
	}
	if sstables == 0 {
		t.Fatalf("no sstables to read from")
	}
	toggle.On()
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	counts := map[string]int{}
	for range 1500 {
		i := uint64(rng.IntN(int(size)))
		switch rng.IntN(5) {
		case 0, 1:
			resp, body := s.do(t, "GET", fmt.Sprintf("/v1/log/proof/inclusion?index=%d&size=%d", i, size), "", nil)
			if resp.StatusCode/100 == 5 {
				counts["proof error"]++
				continue
			}
			var p inclusionProof
			if resp.StatusCode != 200 || json.Unmarshal(body, &p) != nil || p.Index != i || p.Size != size {
				t.Fatalf("inclusion proof of %d: %d %s", i, resp.StatusCode, body)
			}
			proof := make(tlog.RecordProof, len(p.Hashes))
			for j, h := range p.Hashes {
				b, err := base64.StdEncoding.DecodeString(h)
				if err != nil || len(b) != tlog.HashSize {
					t.Fatalf("inclusion proof of %d: hash %q", i, h)
				}
				copy(proof[j][:], b)
			}
			if err := tlog.CheckRecord(proof, int64(size), ck.Root, int64(i), tlog.RecordHash(ref[i])); err != nil {
				t.Fatalf("a 200 inclusion proof of entry %d does not check against the signed root: %v", i, err)
			}
			counts["proof ok"]++
		case 2, 3:
			resp, body := s.do(t, "GET", fmt.Sprintf("/v1/log/entries/%d", i), adm, nil)
			if resp.StatusCode/100 == 5 {
				counts["entry error"]++
				continue
			}
			if resp.StatusCode != 200 || tlog.RecordHash(body) != tlog.RecordHash(ref[i]) {
				t.Fatalf("entry %d: %d with bytes hashing otherwise than the leaf:\n%s\nwant\n%s", i, resp.StatusCode, body, ref[i])
			}
			counts["entry ok"]++
		default:
			p := fmt.Sprintf("/v1/learners/L%d/transcript?limit=50", rng.IntN(3))
			resp, body := s.do(t, "GET", p, adm, nil)
			if resp.StatusCode/100 == 5 {
				counts["transcript error"]++
				continue
			}
			if resp.StatusCode != 200 || !bytes.Equal(body, refTranscript[p]) {
				t.Fatalf("transcript %s: %d\n%s\nwant\n%s", p, resp.StatusCode, body, refTranscript[p])
			}
			counts["transcript ok"]++
		}
	}
	toggle.Off()
	if counter.Load() == 0 || counts["proof error"]+counts["entry error"] == 0 {
		t.Fatalf("no read error reached a request (%d injected): %v", counter.Load(), counts)
	}
	if counts["proof ok"] == 0 || counts["entry ok"] == 0 {
		t.Fatalf("no request succeeded: %v", counts)
	}
	// And with the disk healthy again every read answers.
	if rep, err := s.ledger.Verify(context.Background(), nil, nil); err != nil || !rep.OK() {
		t.Fatalf("verify after the read errors: %v %+v", err, rep)
	}
	t.Logf("%d entries in %d sstables; %d read errors injected; answers: %v", size, sstables, counter.Load(), counts)
}
