package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// sqGate is a proposal that holds the sequencer inside Decide until
// released, so that the proposals submitted meanwhile queue up and are all
// taken into the next group together. (Decide must not block in real code;
// here it is what makes a group's membership certain.)
type sqGate struct {
	started, release chan struct{}
}

func (g *sqGate) Decide(v *View) (Effect, error) {
	close(g.started)
	<-g.release
	return Effect{Records: []Record{record("seq.gate", "", 0)}}, nil
}

// sqHold submits a gate and returns once the sequencer is blocked in it. The
// returned function waits until n more proposals are queued, releases the
// gate and waits for the gate's own append to finish.
func sqHold(t *testing.T, l *Ledger) (releaseWhenQueued func(n int)) {
	t.Helper()
	g := &sqGate{started: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := l.Append(context.Background(), g)
		done <- err
	}()
	select {
	case <-g.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the sequencer never took the gate")
	}
	return func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(l.queue) < n {
			if time.Now().After(deadline) {
				close(g.release)
				t.Fatalf("only %d of %d proposals queued", len(l.queue), n)
			}
			time.Sleep(time.Millisecond)
		}
		close(g.release)
		if err := <-done; err != nil {
			t.Fatalf("gate: %v", err)
		}
	}
}

// TestSequencerConcurrentAppends: 64 goroutines append at once. Every seq
// from 0 to N-1 is handed out exactly once, each receipt points at the
// entry its caller wrote, receipts of one group agree on size and time,
// time never goes back along the seqs, each goroutine's entries are in its
// own order, and the result verifies.
func TestSequencerConcurrentAppends(t *testing.T) {
	const workers = 64
	per := 25
	if testing.Short() {
		per = 8
	}
	l := openTest(t, testOptions(t, nil, ""))
	type result struct {
		worker, i int
		rc        Receipt
	}
	results := make([][]result, workers)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				rc, err := l.Append(context.Background(), Records{record("seq.concurrent", fmt.Sprintf("G%d", w), i)})
				if err != nil {
					errs <- fmt.Errorf("worker %d append %d: %w", w, i, err)
					return
				}
				results[w] = append(results[w], result{w, i, rc})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	n := uint64(workers * per)
	if got := l.Size(); got != n {
		t.Fatalf("size %d, want %d", got, n)
	}
	bySeq := make([]*result, n)
	groups := map[uint64]time.Time{} // receipt size -> group time
	for w := range results {
		if len(results[w]) != per {
			t.Fatalf("worker %d has %d receipts", w, len(results[w]))
		}
		for k := range results[w] {
			r := &results[w][k]
			rc := r.rc
			if rc.Count != 1 || rc.First >= n || rc.Size <= rc.First || rc.Size > n {
				t.Fatalf("worker %d append %d: receipt %+v", w, r.i, rc)
			}
			if bySeq[rc.First] != nil {
				t.Fatalf("seq %d handed out twice", rc.First)
			}
			bySeq[rc.First] = r
			if at, ok := groups[rc.Size]; ok && !at.Equal(rc.RecordedAt) {
				t.Fatalf("receipts of the group ending at %d disagree on the time: %v, %v", rc.Size, at, rc.RecordedAt)
			}
			groups[rc.Size] = rc.RecordedAt
			if k > 0 && results[w][k-1].rc.First >= rc.First {
				t.Fatalf("worker %d: append %d got seq %d after seq %d", w, r.i, rc.First, results[w][k-1].rc.First)
			}
		}
	}
	var prev time.Time
	for seq, r := range bySeq {
		if r == nil {
			t.Fatalf("seq %d never handed out", seq)
		}
		b, err := l.Entry(uint64(seq))
		if err != nil {
			t.Fatal(err)
		}
		e, err := ParseEntry(b)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := MarshalContent(map[string]any{"learner": fmt.Sprintf("G%d", r.worker), "n": r.i})
		if string(e.Content) != string(want) {
			t.Fatalf("seq %d holds %s, but its receipt went to worker %d append %d", seq, e.Content, r.worker, r.i)
		}
		if !e.RecordedAt.Equal(r.rc.RecordedAt) {
			t.Fatalf("seq %d recorded at %v, receipt says %v", seq, e.RecordedAt, r.rc.RecordedAt)
		}
		if e.RecordedAt.Before(prev) {
			t.Fatalf("seq %d recorded at %v, before the entry ahead of it (%v)", seq, e.RecordedAt, prev)
		}
		prev = e.RecordedAt
	}
	// The learner index lists each worker's entries in its own order.
	for w := range workers {
		var seqs []uint64
		err := l.Read(func(r *Reader) error {
			return r.Index("learner", fmt.Sprintf("G%d", w), 0, func(seq uint64) bool {
				seqs = append(seqs, seq)
				return true
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		var want []uint64
		for _, r := range results[w] {
			want = append(want, r.rc.First)
		}
		if !slices.Equal(seqs, want) {
			t.Fatalf("index of worker %d: %v, want %v", w, seqs, want)
		}
	}
	t.Logf("%d appends in %d groups", n, len(groups))
	mustVerify(t, l, nil)
}

// errSqCapReached is what sqCappedIncrement returns once the counter is full.
var errSqCapReached = errors.New("counter is at its cap")

// sqCappedIncrement raises a counter kept in domain state by one, up to a
// cap, and records an entry for each increment. The check (read the counter)
// and the write (the new value) are only safe if no other proposal can come
// between them, including the earlier ones of the same group.
type sqCappedIncrement struct {
	key []byte
	cap uint64
	by  string
}

func sqCounter(b []byte, err error) (uint64, error) {
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("counter holds %d bytes", len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

func (p sqCappedIncrement) Decide(v *View) (Effect, error) {
	cur, err := sqCounter(v.Get(p.key))
	if err != nil {
		return Effect{}, err
	}
	if cur >= p.cap {
		return Effect{}, errSqCapReached
	}
	next := cur + 1
	content, err := MarshalContent(map[string]any{"counter": string(p.key), "value": next})
	if err != nil {
		return Effect{}, err
	}
	return Effect{
		Records: []Record{{Type: "counter.incremented", Actor: p.by, Content: content}},
		State:   []StateWrite{{Key: p.key, Value: binary.BigEndian.AppendUint64(nil, next)}},
		Result:  next,
	}, nil
}

// TestSequencerCappedCounter: many goroutines try to raise a capped counter
// at once. Exactly cap of them succeed, each seeing a different value, the
// rest get the domain's error, and the stored counter is the cap. In the
// "one group" case every proposal is held until all are queued, so they are
// decided in one group and the successful receipts all share the group's
// size: the check and the write of each were atomic with respect to the
// other proposals of the same batch.
func TestSequencerCappedCounter(t *testing.T) {
	const (
		tries = 200
		limit = 37
	)
	for _, oneGroup := range []bool{true, false} {
		t.Run(fmt.Sprintf("oneGroup=%v", oneGroup), func(t *testing.T) {
			l := openTest(t, testOptions(t, nil, ""))
			key := []byte("counter/c1")
			var release func(int)
			if oneGroup {
				release = sqHold(t, l)
			}
			type out struct {
				rc  Receipt
				err error
			}
			outs := make([]out, tries)
			var wg sync.WaitGroup
			for i := range tries {
				wg.Go(func() {
					rc, err := l.Append(context.Background(), sqCappedIncrement{key: key, cap: limit, by: fmt.Sprintf("u%d", i)})
					outs[i] = out{rc, err}
				})
			}
			if oneGroup {
				release(tries)
			}
			wg.Wait()

			var values []uint64
			sizes := map[uint64]bool{}
			for i, o := range outs {
				switch {
				case o.err == nil:
					values = append(values, o.rc.Result.(uint64))
					sizes[o.rc.Size] = true
					if o.rc.Count != 1 {
						t.Fatalf("try %d: receipt %+v", i, o.rc)
					}
				case errors.Is(o.err, errSqCapReached):
				default:
					t.Fatalf("try %d: %v", i, o.err)
				}
			}
			if len(values) != limit {
				t.Fatalf("%d increments succeeded, want exactly %d", len(values), limit)
			}
			slices.Sort(values)
			for i, v := range values {
				if v != uint64(i+1) {
					t.Fatalf("increments saw values %v, want 1..%d each once", values, limit)
				}
			}
			if oneGroup && len(sizes) != 1 {
				t.Fatalf("the held proposals were committed in %d groups, want 1", len(sizes))
			}
			var stored uint64
			err := l.Read(func(r *Reader) error {
				var err error
				stored, err = sqCounter(r.Get(key))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if stored != limit {
				t.Fatalf("stored counter %d, want %d", stored, limit)
			}
			var entries int
			err = l.Read(func(r *Reader) error {
				return r.Index(IndexType, "counter.incremented", 0, func(uint64) bool { entries++; return true })
			})
			if err != nil {
				t.Fatal(err)
			}
			if entries != limit {
				t.Fatalf("%d increment entries, want %d", entries, limit)
			}
			mustVerify(t, l, nil)
		})
	}
}

var errSqIdemConflict = errors.New("idempotency key reused with another request")

// sqIdempotent appends one entry per (scope, key) unless the idempotency
// index already has it: a repeat of the same request answers with the
// entry first written, one with another request body is refused.
type sqIdempotent struct {
	scope, key string
	body       string
}

func (p sqIdempotent) Decide(v *View) (Effect, error) {
	hash := sha256.Sum256([]byte(p.body))
	prev, ok, err := v.Idempotency(p.scope, p.key)
	if err != nil {
		return Effect{}, err
	}
	if ok {
		if prev.Hash != hash {
			return Effect{}, errSqIdemConflict
		}
		return Effect{Result: prev.Seq}, nil
	}
	content, err := MarshalContent(map[string]any{"body": p.body, "key": p.key})
	if err != nil {
		return Effect{}, err
	}
	return Effect{
		Records: []Record{{
			Type:        "request.accepted",
			Actor:       p.scope,
			Content:     content,
			Idempotency: &IdempotencyKey{Scope: p.scope, Key: p.key, Hash: hash},
		}},
		Result: v.Size(),
	}, nil
}

// TestSequencerIdempotency: identical requests in flight at once (held so
// that they fall into one group) give exactly one entry, and both callers
// learn its seq; a repeat after the commit and after a reopen answers the
// same without writing; the same key with another body is refused.
func TestSequencerIdempotency(t *testing.T) {
	opts := testOptions(t, nil, "")
	l := openTest(t, opts)
	req := sqIdempotent{scope: "inst-1", key: "req-42", body: `award 5 credits to L1`}
	const copies = 5

	release := sqHold(t, l)
	base := l.Size() + 1 // after the gate's entry
	rcs := make([]Receipt, copies)
	errs := make([]error, copies)
	var wg sync.WaitGroup
	for i := range copies {
		wg.Go(func() { rcs[i], errs[i] = l.Append(context.Background(), req) })
	}
	release(copies)
	wg.Wait()

	wrote := 0
	for i := range copies {
		if errs[i] != nil {
			t.Fatalf("copy %d: %v", i, errs[i])
		}
		if got := rcs[i].Result.(uint64); got != base {
			t.Fatalf("copy %d answered seq %d, want %d", i, got, base)
		}
		wrote += rcs[i].Count
		if rcs[i].Size != base+1 {
			t.Fatalf("copy %d: receipt %+v, want the group to end at %d", i, rcs[i], base+1)
		}
	}
	if wrote != 1 {
		t.Fatalf("%d copies wrote an entry, want exactly 1", wrote)
	}
	if got := l.Size(); got != base+1 {
		t.Fatalf("size %d, want %d", got, base+1)
	}

	check := func(l *Ledger) {
		t.Helper()
		size := l.Size()
		rc, err := l.Append(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if rc.Count != 0 || rc.Result.(uint64) != base {
			t.Fatalf("repeat: receipt %+v, want no entry and seq %d", rc, base)
		}
		other := req
		other.body = "award 500 credits to L1"
		if _, err := l.Append(context.Background(), other); !errors.Is(err, errSqIdemConflict) {
			t.Fatalf("same key, other body: %v, want the conflict error", err)
		}
		if got := l.Size(); got != size {
			t.Fatalf("size grew from %d to %d without a new request", size, got)
		}
		err = l.Read(func(r *Reader) error {
			rec, ok, err := r.Idempotency(req.scope, req.key)
			if err != nil || !ok || rec.Seq != base || rec.Hash != sha256.Sum256([]byte(req.body)) {
				return fmt.Errorf("idempotency record %+v %v %v", rec, ok, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		mustVerify(t, l, nil)
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	check(openTest(t, opts))
}

// sqPanics is a proposal whose Decide panics.
type sqPanics struct{}

func (sqPanics) Decide(*View) (Effect, error) { panic("domain bug") }

// sqFunc adapts a function to a Proposal.
type sqFunc func(v *View) (Effect, error)

func (f sqFunc) Decide(v *View) (Effect, error) { return f(v) }

// TestSequencerRejectsAlone: in one group of good proposals, proposals
// whose Decide panics, returns an error, or returns an invalid effect (bad
// type, bad actor, content that is not a compact object, a bad index key or
// idempotency key, an empty state key, a bad record after good ones) are
// rejected one by one, with nothing of them written, while every good
// proposal of the group succeeds with consecutive seqs.
func TestSequencerRejectsAlone(t *testing.T) {
	l := openTest(t, testOptions(t, nil, ""))
	good := func(i int) Record { return record("seq.good", "L1", i) }
	withState := func(rs ...Record) Proposal {
		return sqFunc(func(*View) (Effect, error) {
			return Effect{Records: rs, State: []StateWrite{{Key: []byte("rejected/state"), Value: []byte("x")}}}, nil
		})
	}
	bad := func(mut func(*Record)) Proposal {
		r := good(-1)
		mut(&r)
		return withState(r)
	}
	errDomain := errors.New("domain says no")
	badOnes := []struct {
		name string
		p    Proposal
		want string
	}{
		{"panic", sqPanics{}, "panicked"},
		{"domain error", sqFunc(func(*View) (Effect, error) { return Effect{}, errDomain }), "domain says no"},
		{"bad type", bad(func(r *Record) { r.Type = "Bad Type" }), "entry type"},
		{"empty type", bad(func(r *Record) { r.Type = "" }), "entry type"},
		{"control in actor", bad(func(r *Record) { r.Actor = "a\x01b" }), "control character"},
		{"empty actor", bad(func(r *Record) { r.Actor = "" }), "actor"},
		{"content array", bad(func(r *Record) { r.Content = json.RawMessage(`[1]`) }), "JSON object"},
		{"content not compact", bad(func(r *Record) { r.Content = json.RawMessage(`{"a": 1}`) }), "compact"},
		{"content invalid", bad(func(r *Record) { r.Content = json.RawMessage(`{"a":`) }), "valid JSON"},
		{"index NUL", bad(func(r *Record) { r.Index = []IndexKey{{Name: "learner", Value: "a\x00b"}} }), "NUL"},
		{"index empty", bad(func(r *Record) { r.Index = []IndexKey{{Name: "", Value: "x"}} }), "index name"},
		{"idempotency key control", bad(func(r *Record) { r.Idempotency = &IdempotencyKey{Scope: "s", Key: "k\n"} }), "idempotency key"},
		{"empty state key", sqFunc(func(*View) (Effect, error) {
			return Effect{Records: []Record{good(-1)}, State: []StateWrite{{Key: nil, Value: []byte("x")}}}, nil
		}), "empty key"},
		{"second record bad", withState(good(-2), good(-3), Record{Type: "x", Actor: "a", Content: json.RawMessage(`null`)}), "record 2"},
	}
	const goods = 30

	release := sqHold(t, l)
	base := l.Size() + 1
	type out struct {
		rc  Receipt
		err error
	}
	goodOuts := make([]out, goods)
	badOuts := make([]out, len(badOnes))
	var wg sync.WaitGroup
	for i := range goods {
		wg.Go(func() {
			rc, err := l.Append(context.Background(), Records{good(i)})
			goodOuts[i] = out{rc, err}
		})
		if i < len(badOnes) {
			wg.Go(func() {
				rc, err := l.Append(context.Background(), badOnes[i].p)
				badOuts[i] = out{rc, err}
			})
		}
	}
	release(goods + len(badOnes))
	wg.Wait()

	var firsts []uint64
	for i, o := range goodOuts {
		if o.err != nil {
			t.Fatalf("good proposal %d: %v", i, o.err)
		}
		if o.rc.Size != base+goods {
			t.Fatalf("good proposal %d: receipt %+v, want the group to end at %d", i, o.rc, base+goods)
		}
		firsts = append(firsts, o.rc.First)
	}
	slices.Sort(firsts)
	for i, f := range firsts {
		if f != base+uint64(i) {
			t.Fatalf("good proposals got seqs %v, want %d.. consecutive", firsts, base)
		}
	}
	for i, o := range badOuts {
		if o.err == nil {
			t.Errorf("%s: accepted: %+v", badOnes[i].name, o.rc)
			continue
		}
		if !strings.Contains(o.err.Error(), badOnes[i].want) {
			t.Errorf("%s: error %q does not mention %q", badOnes[i].name, o.err, badOnes[i].want)
		}
		if o.rc != (Receipt{}) {
			t.Errorf("%s: rejected, but with receipt %+v", badOnes[i].name, o.rc)
		}
	}
	if !errors.Is(badOuts[1].err, errDomain) {
		t.Errorf("the domain's error is not returned as it is: %v", badOuts[1].err)
	}
	if got := l.Size(); got != base+goods {
		t.Fatalf("size %d, want %d", got, base+goods)
	}
	err := l.Read(func(r *Reader) error {
		if _, err := r.Get([]byte("rejected/state")); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("state of a rejected proposal: %v", err)
		}
		var n int
		if err := r.Index(IndexType, "seq.good", 0, func(uint64) bool { n++; return true }); err != nil {
			return err
		}
		if n != goods {
			return fmt.Errorf("%d seq.good entries, want %d", n, goods)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The ledger goes on as before.
	appendN(t, l, 3)
	mustVerify(t, l, nil)
}

// TestSequencerClosed: after Close, Append and SignCheckpoint fail with
// ErrClosed, and a second Close says so too; what was appended before is
// there after a reopen.
func TestSequencerClosed(t *testing.T) {
	opts := testOptions(t, nil, "")
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 5)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(context.Background(), Records{record("test.entry", "L1", 0)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
	if _, err := l.SignCheckpoint(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("SignCheckpoint after Close: %v, want ErrClosed", err)
	}
	if err := l.Writable(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Writable after Close: %v, want ErrClosed", err)
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v, want ErrClosed", err)
	}
	l = openTest(t, opts)
	if l.Size() != 5 {
		t.Fatalf("size after reopen %d, want 5", l.Size())
	}
	mustVerify(t, l, nil)
}

// TestSequencerCloseWhileAppending: appends racing with Close either
// succeed durably or fail with ErrClosed, nothing else; every success is in
// the reopened ledger.
func TestSequencerCloseWhileAppending(t *testing.T) {
	opts := testOptions(t, nil, "")
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		oks  []uint64
		wg   sync.WaitGroup
		stop = make(chan struct{})
	)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				rc, err := l.Append(context.Background(), Records{record("test.entry", fmt.Sprintf("W%d", w), i)})
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
				mu.Lock()
				oks = append(oks, rc.First)
				mu.Unlock()
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	l = openTest(t, opts)
	if got := l.Size(); got != uint64(len(oks)) {
		t.Fatalf("reopened size %d, but %d appends succeeded", got, len(oks))
	}
	slices.Sort(oks)
	for i, s := range oks {
		if s != uint64(i) {
			t.Fatalf("acknowledged seqs %v are not 0..%d", oks, len(oks)-1)
		}
	}
	// Close signed a last checkpoint over everything acknowledged.
	c, err := OpenCheckpoint(l.Checkpoint(), testKeys().Verifier)
	if err != nil {
		t.Fatal(err)
	}
	if c.Size != l.Size() {
		t.Fatalf("latest checkpoint over %d, size %d", c.Size, l.Size())
	}
	mustVerify(t, l, nil)
}

// sqScriptedClock returns the given times in turn, then the last one again
// and again.
func sqScriptedClock(times ...time.Time) func() time.Time {
	var mu sync.Mutex
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t := times[0]
		if len(times) > 1 {
			times = times[1:]
		}
		return t
	}
}

// TestSequencerClockBackwards: the group time is the clock's reading
// truncated to the microsecond, but never earlier than the previous group's,
// also across a reopen, and also for bursts under a clock that keeps going
// back.
func TestSequencerClockBackwards(t *testing.T) {
	t0 := time.Date(2026, 7, 1, 12, 0, 0, 123456789, time.UTC)
	opts := testOptions(t, nil, "")
	opts.Clock = sqScriptedClock(
		t0,
		t0.Add(-time.Hour),
		t0.Add(-time.Nanosecond), // truncates below t0's microsecond
		t0.Add(time.Second),
		t0.Add(-24*time.Hour),
		t0.In(time.FixedZone("X", -5*3600)).Add(2*time.Second), // zone does not matter
	)
	l := openTest(t, opts)
	micro := func(d time.Duration) time.Time { return t0.Add(d).Truncate(time.Microsecond) }
	want := []time.Time{micro(0), micro(0), micro(0), micro(time.Second), micro(time.Second), micro(2 * time.Second)}
	for i, w := range want {
		rc, err := l.Append(context.Background(), Records{record("test.entry", "L1", i)})
		if err != nil {
			t.Fatal(err)
		}
		if !rc.RecordedAt.Equal(w) {
			t.Fatalf("append %d recorded at %v, want %v", i, rc.RecordedAt, w)
		}
		b, err := l.Entry(rc.First)
		if err != nil {
			t.Fatal(err)
		}
		e, err := ParseEntry(b)
		if err != nil {
			t.Fatal(err)
		}
		if !e.RecordedAt.Equal(w) {
			t.Fatalf("entry %d recorded at %v, want %v", rc.First, e.RecordedAt, w)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopened with a clock a year behind, and bursts of concurrent appends.
	var mu sync.Mutex
	back := t0.Add(-365 * 24 * time.Hour)
	opts.Clock = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		back = back.Add(-time.Minute)
		return back
	}
	l = openTest(t, opts)
	last := micro(2 * time.Second)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 5 {
				rc, err := l.Append(context.Background(), Records{record("test.entry", fmt.Sprintf("W%d", w), i)})
				if err != nil {
					t.Error(err)
					return
				}
				if !rc.RecordedAt.Equal(last) {
					t.Errorf("recorded at %v after a reopen with a clock behind, want %v", rc.RecordedAt, last)
				}
			}
		})
	}
	wg.Wait()
	mustVerify(t, l, nil) // also checks that no entry is recorded before the one ahead of it
}

// sqAppend appends its byte to a state key and returns what the view showed
// for the key before it.
type sqAppend struct {
	key []byte
	b   byte
}

func (p sqAppend) Decide(v *View) (Effect, error) {
	before, err := v.Get(p.key)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Effect{}, err
	}
	return Effect{Records: []Record{record("append", "", int(p.b))}, State: []StateWrite{{Key: p.key, Value: []byte{p.b}, Append: true}},
		Result: string(before)}, nil
}

// TestStateAppend: appended values join in seq order, within a group (each
// proposal sees the appends before it), across groups and across a reopen.
func TestStateAppend(t *testing.T) {
	opts := testOptions(t, nil, "")
	l := openTest(t, opts)
	key := []byte("log/k")
	release := sqHold(t, l)
	const n = 20
	res := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rc, err := l.Append(context.Background(), sqAppend{key: key, b: 'a' + byte(i)})
			if err == nil {
				res[i] = rc.Result.(string)
			}
			errs[i] = err
		})
		time.Sleep(time.Millisecond) // queue them in order
	}
	release(n)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	// In one group, in queue order: each saw exactly the letters before it.
	for i := range n {
		if want := string("abcdefghijklmnopqrstuvwxyz"[:i]); res[i] != want {
			t.Fatalf("append %d saw %q, want %q", i, res[i], want)
		}
	}
	// Part of the value in a table, part in the memtable.
	if err := l.db.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, b := range []byte("XYZ") {
		if _, err := l.Append(context.Background(), sqAppend{key: key, b: b}); err != nil {
			t.Fatal(err)
		}
	}
	want := "abcdefghijklmnopqrstXYZ"
	read := func(l *Ledger) string {
		var got []byte
		if err := l.Read(func(r *Reader) error {
			var err error
			got, err = r.Get(key)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return string(got)
	}
	if got := read(l); got != want {
		t.Fatalf("stored %q, want %q", got, want)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, opts)
	if got := read(l); got != want {
		t.Fatalf("after reopen: stored %q, want %q", got, want)
	}
}

// sqCountIndex appends an entry under {learner, L1} and returns how many
// entries the view listed there before it.
type sqCountIndex struct{}

func (sqCountIndex) Decide(v *View) (Effect, error) {
	n := 0
	if err := v.Index("learner", "L1", 0, func(uint64) bool { n++; return true }); err != nil {
		return Effect{}, err
	}
	return Effect{Records: []Record{record("counted", "L1", n)}, Result: n}, nil
}

// TestViewIndexSeesGroup: a proposal's view lists the entries the earlier
// proposals of its group indexed, as the domain relies on when it selects a
// learner's outcomes.
func TestViewIndexSeesGroup(t *testing.T) {
	l := openTest(t, testOptions(t, nil, ""))
	release := sqHold(t, l)
	const n = 8
	got := make([]int, n)
	sizes := make([]uint64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rc, err := l.Append(context.Background(), sqCountIndex{})
			if err != nil {
				t.Error(err)
				return
			}
			got[i], sizes[i] = rc.Result.(int), rc.Size
		})
	}
	release(n)
	wg.Wait()
	if slices.Min(sizes) != slices.Max(sizes) {
		t.Fatalf("the held proposals went into several groups (sizes %v)", sizes)
	}
	slices.Sort(got)
	for i, g := range got {
		if g != i {
			t.Fatalf("proposals saw %v entries before them, want 0..%d each once", got, n-1)
		}
	}
}
