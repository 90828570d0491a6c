package access

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"creditbank/ledger"
)

// erasedRef and keptRef are learner keys as the bank makes them; keptRef
// starts with the whole of erasedRef, so that a prefix scan which ran over
// one learner's end into the next would show.
const (
	erasedRef = "_ERASEME1ERASEME1ERASEME1E"
	keptRef   = erasedRef + "X"
)

// storeKeysOf counts the access log's keys in l's store, and those that
// are learner's: its records, and the time index keys naming it.
func storeKeysOf(t *testing.T, l *ledger.Ledger, learner string) (keys, learners int) {
	t.Helper()
	lower := []byte{ledger.AccessTag}
	it, err := l.Store().NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		keys++
		v, err := it.ValueAndErr()
		if err != nil {
			t.Fatal(err)
		}
		k := it.Key()
		if bytes.HasPrefix(k, learnerPrefix(learner)) || bytes.HasPrefix(k, timePrefix) && string(v) == learner {
			learners++
		}
	}
	return keys, learners
}

// TestErase records reads of a learner (more than one erasure batch of
// them, some still queued when Erase is called) and of others, and erases
// the learner: Erase counts every record of the learner, the listing and
// the store (records and time index alike) hold nothing of it, the others
// keep all of theirs, a record queued late for the erased learner is
// discarded rather than written back, and pruning still finds the time
// index whole. The erased counter lints clean and counts both.
func TestErase(t *testing.T) {
	clock := newFakeClock()
	l := openLedger(t, nil, "")
	a := openLog(t, l, Options{Clock: clock.Now, FlushInterval: time.Hour, Retention: 24 * time.Hour})
	const committed, queued = eraseChunk + 5, 7
	read := func(learner string, i int) Record {
		return Record{Learner: learner, Who: fmt.Sprintf("institution:i%d.example", i%3), Role: "institution", What: "transcript",
			When: clock.Now().Add(time.Duration(i) * time.Millisecond), Grant: "g1"}
	}
	for i := range committed {
		a.Record(read(erasedRef, i))
		if i%100 == 0 {
			a.Record(read(keptRef, i))
			a.Record(read("L2", i))
		}
	}
	a.Flush()
	for i := range queued {
		a.Record(read(erasedRef, committed+i)) // still queued: FlushInterval is an hour
	}
	kept := len(all(t, a, keptRef, 1000))

	tests := []struct {
		name    string
		learner string
		want    int
	}{
		{"the learner", erasedRef, committed + queued},
		{"again", erasedRef, 0},
		{"a learner never read", "_NEVERREAD", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := a.Erase(tc.learner)
			if err != nil || n != tc.want {
				t.Errorf("Erase(%s) = %d, %v; want %d", tc.learner, n, err, tc.want)
			}
			if got := all(t, a, tc.learner, 1000); len(got) != 0 {
				t.Errorf("%d records listed after the erasure", len(got))
			}
		})
	}
	if _, left := storeKeysOf(t, l, erasedRef); left != 0 {
		t.Errorf("%d keys of the store are still the erased learner's", left)
	}
	if got := len(all(t, a, keptRef, 1000)); got != kept || kept == 0 {
		t.Errorf("the learner whose key extends the erased one's has %d records, want %d", got, kept)
	}

	// A read served before the erasure whose record comes late.
	a.Record(read(erasedRef, 0))
	a.Record(read("L2", 0))
	a.Flush()
	if got := all(t, a, erasedRef, 10); len(got) != 0 {
		t.Errorf("a record queued after the erasure was written: %+v", got)
	}
	others := kept + len(all(t, a, "L2", 1000))
	if keys, _ := storeKeysOf(t, l, erasedRef); keys != 2*others+1 { // each record and its index key, and the seq
		t.Errorf("%d access keys in the store, want %d for the %d records of others", keys, 2*others+1, others)
	}
	if st := a.Stats(); st.Erased != committed+queued+1 {
		t.Errorf("Stats().Erased = %d, want %d", st.Erased, committed+queued+1)
	}

	// Pruning walks the time index, which names no erased record.
	clock.Set(clock.Now().Add(72 * time.Hour))
	if n, err := a.Prune(); err != nil || n != others {
		t.Errorf("Prune after the erasure = %d, %v; want the %d records of others", n, err, others)
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(a.Collectors()...)
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) != 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(fmt.Sprintf(`
# HELP creditbank_access_records_erased_total Access log records deleted, or discarded before they were written, because their learner's personal data was erased.
# TYPE creditbank_access_records_erased_total counter
creditbank_access_records_erased_total %d
`, committed+queued+1)), "creditbank_access_records_erased_total"); err != nil {
		t.Error(err)
	}
}

// TestEraseRefuses: Erase of no learner key, or after Close, fails and
// deletes nothing.
func TestEraseRefuses(t *testing.T) {
	l := openLedger(t, nil, "")
	a := openLog(t, l, Options{})
	a.Record(Record{Learner: "L1", Who: "admin:root", Role: "admin", What: "transcript"})
	a.Flush()
	for _, learner := range []string{"", "L1\x00", "\x00"} {
		if n, err := a.Erase(learner); err == nil || n != 0 {
			t.Errorf("Erase(%q) = %d, %v; want an error", learner, n, err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := a.Erase("L1"); err == nil || n != 0 {
		t.Errorf("Erase after Close = %d, %v; want an error", n, err)
	}
	b := openLog(t, l, Options{})
	if got := all(t, b, "L1", 10); len(got) != 1 {
		t.Errorf("refused erasures deleted records: %d left, want 1", len(got))
	}
}
