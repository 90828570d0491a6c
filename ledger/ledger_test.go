package ledger

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestAppendReadReopen(t *testing.T) {
	opts := testOptions(t, nil, "")
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	rs := appendN(t, l, 50)
	for i, r := range rs {
		if r.First != uint64(i) || r.Count != 1 || r.Size < uint64(i+1) {
			t.Fatalf("receipt %d: %+v", i, r)
		}
	}
	if got := l.Size(); got != 50 {
		t.Fatalf("size %d, want 50", got)
	}
	b, err := l.Entry(3)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ParseEntry(b)
	if err != nil || e.Seq != 3 || e.Type != "test.entry" {
		t.Fatalf("entry 3: %+v %v", e, err)
	}
	if _, err := l.SignCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	early := l.Checkpoint()
	mustVerify(t, l, nil)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, opts)
	if l.Size() != 50 {
		t.Fatalf("size after reopen %d", l.Size())
	}
	appendN(t, l, 10)
	page, err := l.IndexPage("learner", "L0", "", 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Seqs) != 3 || page.Seqs[0] != 0 || page.Seqs[1] != 7 || page.Next == "" {
		t.Fatalf("page %+v", page)
	}
	page, err = l.IndexPage("learner", "L0", page.Next, 100)
	if err != nil || len(page.Seqs) != 7 || page.Next != "" {
		t.Fatalf("page 2 %+v %v", page, err)
	}
	rep := mustVerify(t, l, early)
	if rep.Entries != 60 {
		t.Fatalf("verified %d entries", rep.Entries)
	}
}

// A clock far in the future must not write entries that cannot be read back:
// the append is refused and the store stays whole.
func TestClockOutOfRange(t *testing.T) {
	opts := testOptions(t, nil, "")
	var future atomic.Bool
	clock := newFixedClock()
	opts.Clock = func() time.Time {
		if future.Load() {
			return time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		return clock.Now()
	}
	l := openTest(t, opts)
	appendN(t, l, 3)
	future.Store(true)
	if _, err := l.Append(context.Background(), Records{record("test.entry", "L1", 9)}); err == nil {
		t.Fatal("append with a clock in year 10000 was accepted")
	}
	mustVerify(t, l, nil)
	if l.Size() != 3 {
		t.Fatalf("size %d after a refused append", l.Size())
	}
}
