package bench

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/tlog"

	"creditbank/accreditation"
	"creditbank/ledger"
)

// Raw Pebble doing what the ledger does, without deciding anything: the
// same keys, spelled by the ledger's exported layout, and the same bytes
// per outcome.

var (
	// headKey is the tree head's key, written once per commit as the ledger
	// writes it once per synced group.
	headKey = ledger.HeadKey()
	// headBytes is the tree head record in a batch (kind, key length, key,
	// value length, value: the lengths are one-byte varints) and batchHeader
	// the batch's own header, both in Pebble's format.
	headBytes = 1 + 1 + len(headKey) + 1 + ledger.HeadValueLen
)

const batchHeader = 12

// shapeOf is the shape of what the ledger wrote between the counters a and
// b; without them it is an estimate.
func shapeOf(a, b counters) Shape {
	s := Shape{KeysPerOutcome: keysPerOutcome, BytesPerOutcome: 1450}
	de, dg := b.entries-a.entries, b.groups-a.groups
	if !a.ok || !b.ok || de <= 0 || dg <= 0 {
		return s
	}
	s.BytesPerOutcome = (b.byts - a.byts - dg*float64(headBytes+batchHeader)) / de
	s.EntriesPerGroup = de / dg
	s.Measured = true
	return s
}

// rawStore is a raw Pebble store that commits outcomes' keys as the ledger
// would, weighing what the ledger's did.
type rawStore struct {
	db    *pebble.DB
	dir   string
	seq   atomic.Uint64
	entry int    // entry value length making an outcome weigh what the ledger's did
	per   int    // bytes one outcome takes in a batch, as the ledger's did
	text  []byte // entry-like JSON to cut values from
	// refs are the pool's learners as the ledger names them: references
	// of the same form (poolRef).
	refs  []string
	noise []byte // stands in for hashes
	w     *workload
}

// quietLogger drops Pebble's log lines, which would mix with the table.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

// rawRun opens raw Pebble on a fresh folder in the work folder, commits per
// outcome the shape's keys and bytes in batches of per outcomes from
// workers goroutines, for count commits or the configured duration, and
// removes the folder.
func (r *runner) rawRun(ctx context.Context, label string, workers, per, count int, shape Shape) (Side, error) {
	rs, err := openRaw(r.work, r.w, shape)
	if err != nil {
		return Side{}, err
	}
	defer rs.close()
	return load(ctx, r.prog, label, workers, count, r.cfg.Duration, func(wk int, rnd *rand.Rand) (int, error) {
		return per, rs.commit(wk, per, rnd)
	})
}

// openRaw opens raw Pebble, with the ledger's options, on a fresh
// folder in work that close removes, to write outcomes of the shape.
func openRaw(work string, w *workload, shape Shape) (*rawStore, error) {
	dir, err := os.MkdirTemp(work, "raw-pebble-")
	if err != nil {
		return nil, fmt.Errorf("raw pebble: %v", err)
	}
	po := ledger.StoreOptions(256 << 20)
	po.Logger = quietLogger{}
	db, err := pebble.Open(dir, po)
	po.Cache.Unref()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("raw pebble: %v", err)
	}
	r := &rawStore{db: db, dir: dir, w: w, noise: make([]byte, 1<<16+32)}
	for i := uint64(0); len(r.text) < 8<<10; i++ {
		r.text = w.appendOutcome(r.text, i, poolLearner(int(i)))
	}
	r.refs = make([]string, pool)
	for i := range r.refs {
		r.refs[i] = poolRef(i)
	}
	for i := range r.noise {
		r.noise[i] = byte(rand.Uint32())
	}
	r.calibrate(shape.BytesPerOutcome)
	return r, nil
}

// poolRef stands for the reference by which the ledger names learner n of
// the pool: "_" and 26 base32 characters, as vault.NewRef makes them, here
// derived from n so that every run names the pool alike.
func poolRef(n int) string {
	h := sha256.Sum256([]byte("bench pool learner " + strconv.Itoa(n)))
	return "_" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h[:16])
}

// close closes the store and removes its folder.
func (r *rawStore) close() {
	r.db.Close()
	os.RemoveAll(r.dir)
}

// calibrate sizes entry values so that one outcome's keys take perOutcome
// bytes of a batch, as the ledger's did.
func (r *rawStore) calibrate(perOutcome float64) {
	measure := func() int {
		b := r.db.NewBatch()
		defer b.Close()
		// seq 1<<20+1 has two stored hashes, the mean.
		r.add(b, nil, 1<<20+1, 1234567, poolRef(12345), r.w.insts[0].id, "bench-"+r.w.run+"-1234567")
		return b.Len() - batchHeader
	}
	r.entry = 0
	r.per = max(1, int(math.Round(perOutcome)))
	base := measure()
	r.entry = max(64, int(math.Round(perOutcome))-base)
	r.entry = max(64, r.entry+int(math.Round(perOutcome))-measure()) // the value's length varint grew
}

// rawOutcome, rawBalance and rawStatistics stand in for an outcome's state,
// a balance change and a change of the statistics, with the sizes of the
// bank's.
var (
	rawOutcome    = []byte(`{"seq":1234567,"institution":"bench-00000000-00.example","learner":"_KQ6VWSNEJX6TO4UPDHLVKB2B3A","sector":"vocational","level":5,"field":"0613","standard_credits":"3.5","passed":true,"completed_on":"2024-06-01","revoked":false,"sealed":true}`)
	rawBalance    = []byte{'c', 2, 5, 0x8c, 0x05}             // a balance change, appended (merged)
	rawStatistics = []byte{'d', 2, 5, 2, 0, 0x8c, 0x05, 0, 0} // one active outcome's change, appended (merged)
)

// add writes the keys the ledger writes for outcome seq, number n of the
// workload, posted by inst for the learner the ledger names ref, with the
// idempotency key idem, each through the ledger's exported layout: the
// entry, its stored hashes, its two index keys, the idempotency record
// scoped by the institution, and the outcome's state keys, the balance and
// statistics changes merged. buf is scratch space, returned for reuse.
//
// The two vault keys the ledger adds with a learner's first outcome (the
// directory entry and the key record, accreditation's erasure.go) are not
// written as keys of their own: their bytes are in the ledger's measured
// bytes per outcome, which calibrate spreads over the entry values. Raw
// Pebble so writes the ledger's bytes in fewer keys, which if anything
// makes it faster than it would be, and the ratios to it no better.
func (r *rawStore) add(b *pebble.Batch, buf []byte, seq, n uint64, learner, inst, idem string) []byte {
	set := func(k, v []byte) { _ = b.Set(k, v, nil) }
	buf = ledger.AppendEntryKey(buf[:0], seq)
	off := int(seq*61) % (len(r.text) / 2)
	set(buf, r.text[off:off+min(r.entry, len(r.text)-off)])
	for idx := tlog.StoredHashIndex(0, int64(seq)); idx < tlog.StoredHashCount(int64(seq)+1); idx++ {
		buf = ledger.AppendHashKey(buf[:0], idx)
		o := int(uint64(idx)*tlog.HashSize) & (1<<16 - 1)
		set(buf, r.noise[o:o+tlog.HashSize])
	}
	for _, ix := range [2][2]string{{accreditation.IndexLearner, learner}, {accreditation.IndexInstitution, inst}} {
		buf = ledger.AppendIndexKey(buf[:0], ix[0], ix[1], seq)
		set(buf, nil)
	}
	buf = ledger.AppendIdempotencyKey(buf[:0], inst, idem)
	v := binary.BigEndian.AppendUint64(make([]byte, 0, ledger.IdempotencyValueLen), seq)
	set(buf, append(v, r.noise[seq%1024:seq%1024+ledger.IdempotencyValueLen-8]...))
	st := accreditation.StateKeysOfOutcome(seq, inst, learner)
	buf = ledger.AppendStateKey(buf[:0], st.Outcome)
	set(buf, rawOutcome)
	buf = ledger.AppendStateKey(buf[:0], st.Posted)
	set(buf, []byte("1"))
	buf = ledger.AppendStateKey(buf[:0], st.BalanceDelta)
	_ = b.Merge(buf, rawBalance, nil)
	unit := string(appendUnitCode(make([]byte, 0, 32), n))
	buf = ledger.AppendStateKey(buf[:0], accreditation.UnitKeyOfOutcome(inst, learner, unit, completedOn(n)))
	set(buf, binary.BigEndian.AppendUint64(nil, seq))
	buf = ledger.AppendStateKey(buf[:0], accreditation.StatisticsKeyOfOutcome(inst, completedOn(n)))
	_ = b.Merge(buf, rawStatistics, nil)
	return buf
}

// commit commits n outcomes of worker wk's institution for random learners
// of the pool, and the tree head, in one synced batch.
func (r *rawStore) commit(wk, n int, rnd *rand.Rand) error {
	first := r.seq.Add(uint64(n)) - uint64(n)
	inst := r.w.insts[wk%len(r.w.insts)].id
	// Sized ahead, as the ledger sizes its group batches: a batch of a
	// thousand outcomes grown from Pebble's default doubled a dozen times.
	b := r.db.NewBatchWithSize(batchHeader + n*r.per + headBytes)
	defer b.Close()
	buf := make([]byte, 0, 128)
	idem := []byte("bench-" + r.w.run + "-")
	for i := range n {
		seq := first + uint64(i)
		buf = r.add(b, buf, seq, seq+1<<40, r.refs[rnd.IntN(pool)], inst, string(strconv.AppendUint(idem, seq+1<<40, 10)))
	}
	h := make([]byte, ledger.HeadValueLen)
	binary.BigEndian.PutUint64(h, first+uint64(n))
	copy(h[16:], r.noise[first%1024:])
	if err := b.Set(headKey, h, nil); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}
