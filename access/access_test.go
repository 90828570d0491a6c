package access

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"creditbank/ledger"
)

// TestPageNewestFirst records reads of two learners, some at the same
// instant, and lists one learner's at every page size: newest first (the
// later of two at one instant first), each exactly once, none of the other
// learner's, the last page without a cursor.
func TestPageNewestFirst(t *testing.T) {
	clock := newFakeClock()
	a := openLog(t, openLedger(t, nil, ""), Options{Clock: clock.Now, FlushInterval: time.Hour})
	t0 := clock.Now()
	var want []Record
	for i := range 25 {
		// Pairs of reads share an instant; seq orders them.
		r := Record{Learner: "L000123", Who: fmt.Sprintf("institution:i%d.example", i), Role: "institution",
			What: "transcript", When: t0.Add(time.Duration(i/2) * time.Second), Grant: fmt.Sprintf("g%d", i)}
		if i%3 == 0 {
			r.Who, r.Role, r.Grant = "regulator:moe", "regulator", ""
		}
		if !a.Record(r) {
			t.Fatal("record refused")
		}
		want = append(want, r)
		a.Record(Record{Learner: "L000999", Who: "admin:root", Role: "admin", What: "balance", When: r.When})
	}
	// The learner whose id is a prefix of another's sees only its own.
	a.Record(Record{Learner: "L0001234", Who: "admin:root", Role: "admin", What: "balance"})
	a.Flush()
	slices.Reverse(want)
	for _, limit := range []int{1, 2, 7, 25, 26, 1000} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			got := all(t, a, "L000123", limit)
			if !slices.Equal(got, want) {
				t.Fatalf("got %d records\n%v\nwant %d\n%v", len(got), got, len(want), want)
			}
		})
	}
	if got := all(t, a, "L000555", 10); len(got) != 0 {
		t.Errorf("a learner never read has %d records", len(got))
	}
	if st := a.Stats(); st.Written != 51 || st.Dropped != 0 {
		t.Errorf("stats %+v, want 51 written", st)
	}
}

// TestPageBadCursor: a cursor this listing did not issue is ErrBadCursor,
// which is ledger.ErrBadCursor to the API.
func TestPageBadCursor(t *testing.T) {
	a := openLog(t, openLedger(t, nil, ""), Options{})
	for i := range 3 {
		a.Record(Record{Learner: "L1", Who: "admin:root", Role: "admin", What: fmt.Sprint(i)})
	}
	a.Flush()
	p, err := a.Page("L1", "", 1)
	if err != nil || p.NextCursor == "" {
		t.Fatalf("first page: %v %+v", err, p)
	}
	good := p.NextCursor
	for name, c := range map[string]string{
		"not base64":     "!!!",
		"padded":         good + "=",
		"line break":     good[:4] + "\n" + good[4:],
		"short":          good[:len(good)-2],
		"long":           good + "AA",
		"other kind":     base64.RawURLEncoding.EncodeToString(append([]byte{'B'}, make([]byte, positionLen)...)),
		"ledger cursor":  ledger.FormatCursor(7),
		"standard alpha": strings.ReplaceAll(strings.ReplaceAll(good, "-", "+"), "_", "/") + "+",
	} {
		t.Run(name, func(t *testing.T) {
			if c == good {
				t.Skip("same as the good cursor")
			}
			_, err := a.Page("L1", c, 10)
			if !errors.Is(err, ErrBadCursor) || !errors.Is(err, ledger.ErrBadCursor) {
				t.Errorf("cursor %q: %v, want ErrBadCursor", c, err)
			}
		})
	}
	if p, err := a.Page("L1", good, 10); err != nil || len(p.Records) != 2 {
		t.Errorf("good cursor: %v, %d records", err, len(p.Records))
	}
}

// TestPrune records reads over three days and prunes with a retention of
// a day at several moments of a fake clock: exactly the records older than
// the retention go, from the learner's listing and from the time index,
// and pruning again deletes nothing. A backlog larger than one pruning
// batch is deleted whole.
func TestPrune(t *testing.T) {
	clock := newFakeClock()
	l := openLedger(t, nil, "")
	a := openLog(t, l, Options{Clock: clock.Now, Retention: 24 * time.Hour, PruneInterval: time.Hour})
	t0 := clock.Now()
	const n = pruneChunk + 500 // more than one batch
	for i := range n {
		// Spread over 72 hours, oldest first.
		when := t0.Add(time.Duration(i) * 72 * time.Hour / n)
		a.Record(Record{Learner: fmt.Sprintf("L%d", i%7), Who: "admin:root", Role: "admin", What: "transcript", When: when})
	}
	a.Flush()
	count := func() (records, index int) {
		for i := range 7 {
			records += len(all(t, a, fmt.Sprintf("L%d", i), 1000))
		}
		it, err := l.Store().NewIter(&pebble.IterOptions{LowerBound: timePrefix, UpperBound: prefixEnd(timePrefix)})
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		for ok := it.First(); ok; ok = it.Next() {
			index++
		}
		return records, index
	}
	if r, i := count(); r != n || i != n {
		t.Fatalf("before pruning: %d records, %d index keys, want %d", r, i, n)
	}
	kept := func(now time.Time) int {
		k := 0
		for i := range n {
			if !t0.Add(time.Duration(i) * 72 * time.Hour / n).Before(now.Add(-24 * time.Hour)) {
				k++
			}
		}
		return k
	}
	remaining := n
	for _, now := range []time.Time{t0, t0.Add(30 * time.Hour), t0.Add(30 * time.Hour), t0.Add(60 * time.Hour), t0.Add(200 * time.Hour)} {
		clock.Set(now)
		deleted, err := a.Prune()
		if err != nil {
			t.Fatal(err)
		}
		want := kept(now)
		if deleted != remaining-want {
			t.Errorf("at %v: pruned %d, want %d", now.Sub(t0), deleted, remaining-want)
		}
		if r, i := count(); r != want || i != want {
			t.Errorf("at %v: %d records and %d index keys left, want %d", now.Sub(t0), r, i, want)
		}
		remaining = want
	}
	if st := a.Stats(); st.Pruned != n {
		t.Errorf("pruned %d in all, want %d", st.Pruned, n)
	}
}

// TestPruneAtOpen: opening the log prunes at once, without waiting for the
// first interval.
func TestPruneAtOpen(t *testing.T) {
	clock := newFakeClock()
	l := openLedger(t, nil, "")
	a := openLog(t, l, Options{Clock: clock.Now})
	a.Record(Record{Learner: "L1", Who: "admin:root", Role: "admin", What: "transcript", When: clock.Now().Add(-48 * time.Hour)})
	a.Record(Record{Learner: "L1", Who: "admin:root", Role: "admin", What: "balance"})
	a.Close()
	b := openLog(t, l, Options{Clock: clock.Now, Retention: 24 * time.Hour})
	deadline := time.Now().Add(10 * time.Second)
	for b.Stats().Pruned == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	got := all(t, b, "L1", 10)
	if len(got) != 1 || got[0].What != "balance" {
		t.Errorf("after reopening with a day's retention: %+v, want the balance read alone", got)
	}
}

// TestBatching: records are committed when a batch is full without
// waiting for the interval, the rest on the next tick without anyone
// asking, and seqs go on after a reopen instead of overwriting.
func TestBatching(t *testing.T) {
	l := openLedger(t, nil, "")
	a := openLog(t, l, Options{FlushInterval: time.Hour})
	// All at one instant: only the seq tells them apart, also from the
	// records made after the reopen below.
	when := time.Now()
	for i := range maxBatch + 10 {
		a.Record(Record{Learner: "L1", Who: "admin:root", Role: "admin", What: fmt.Sprint(i), When: when})
	}
	waitFor(t, "a full batch committed", func() bool { return a.Stats().Written == maxBatch })
	time.Sleep(50 * time.Millisecond)
	if w := a.Stats().Written; w != maxBatch {
		t.Fatalf("%d written before the tick, want one full batch of %d", w, maxBatch)
	}
	a.Close()
	if w := a.Stats().Written; w != maxBatch+10 {
		t.Fatalf("%d written after Close, want %d", w, maxBatch+10)
	}

	// The tick commits without a Flush, and a reopened log continues the
	// seqs: nothing is overwritten.
	b := openLog(t, l, Options{FlushInterval: 20 * time.Millisecond})
	b.Record(Record{Learner: "L1", Who: "admin:root", Role: "admin", What: "again", When: when})
	b.Record(Record{Learner: "L1", Who: "admin:root", Role: "admin", What: "again", When: when})
	waitFor(t, "the tick's commit", func() bool { return b.Stats().Written == 2 })
	if got := all(t, b, "L1", 1000); len(got) != maxBatch+12 {
		t.Errorf("%d records after reopening, want %d", len(got), maxBatch+12)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRecordFullBuffer stalls the writer's WAL sync: the buffer fills, a
// record then waits MaxWait and is dropped and counted; once the disk
// answers again the records queued are written. The metrics lint clean and
// count what happened.
func TestRecordFullBuffer(t *testing.T) {
	fs := &stallFS{FS: vfs.NewMem(), release: make(chan struct{})}
	db, err := pebble.Open("db", &pebble.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, err := Open(db, Options{Buffer: 2, MaxWait: 30 * time.Millisecond, FlushInterval: 10 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rec := Record{Learner: "L1", Who: "admin:root", Role: "admin", What: "transcript"}
	fs.stall.Store(true)
	a.Record(rec) // taken by the writer, whose sync then stalls
	waitFor(t, "the writer to stall", func() bool { return fs.stalled.Load() })
	for i := range 2 {
		if !a.Record(rec) {
			t.Fatalf("record %d dropped with room in the buffer", i)
		}
	}
	start := time.Now()
	if a.Record(rec) {
		t.Fatal("a record was queued in a full buffer")
	}
	if waited := time.Since(start); waited < 30*time.Millisecond {
		t.Errorf("dropped after %v, want a wait of MaxWait (30ms) first", waited)
	}
	fs.stall.Store(false)
	close(fs.release)
	a.Flush()
	if st := a.Stats(); st.Written != 3 || st.Dropped != 1 {
		t.Errorf("stats %+v, want 3 written and 1 dropped", st)
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(a.Collectors()...)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP creditbank_access_records_dropped_total Access log records dropped because the buffer stayed full or the log was closed: reads the learner is not shown.
# TYPE creditbank_access_records_dropped_total counter
creditbank_access_records_dropped_total 1
# HELP creditbank_access_records_written_total Access log records committed to the store.
# TYPE creditbank_access_records_written_total counter
creditbank_access_records_written_total 3
`), "creditbank_access_records_dropped_total", "creditbank_access_records_written_total"); err != nil {
		t.Error(err)
	}
}
