package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// groupBatch is a group's Pebble batch and what the group's proposals read
// through their View: the state as the groups before it left it, plus the
// group's own earlier writes.
//
// The sequencer hands each built group to applyLoop and goes on deciding the
// next one while Pebble applies it (WAL write and memtable inserts, a quarter
// of the sequencer's time per outcome). The group being decided then reads
// under a group that may or may not be in the store yet, so Gets are
// answered in layers: the group's own writes, then those of the group ahead
// of it (prev), then base, a snapshot of the store taken before prev was
// handed over. The writes of each layer that a View can Get (entries, domain
// state, idempotency records) are kept beside the batch for that.
//
// Anything else (an iterator, another kind of key) first waits until prev
// is applied and then reads through an indexed copy of the batch over the
// store, as a group that is not pipelined would; the state machine stays a
// function of the groups in order either way.
type groupBatch struct {
	*pebble.Batch
	db      *pebble.DB
	indexed bool

	// first is the seq of the group's first entry and entries the encoded
	// entries from there.
	first   uint64
	entries [][]byte
	// writes holds the group's writes to domain state and idempotency keys.
	writes map[string]*pendingValue
	// values and slab hold what writes points to, a few allocations for a
	// whole group instead of two per write. A slice taken from values is
	// never written again: appends past it go to fresh space (or a fresh
	// array, the old one staying as it was for whoever holds it).
	values []byte
	slab   []pendingValue
	// key is the sequencer's buffer for building keys; Pebble copies them.
	key []byte

	// prev is the group handed to applyLoop before this one, while this one
	// may read under it; base is the store without prev.
	prev *groupBatch
	base pebble.Reader
	// after is the group that was being applied when this one began: if it
	// fails, this one was decided against writes that never happened.
	after *groupBatch
	// drain waits until every handed-over group is applied.
	drain func() error
	// idemIter reads idempotency records from base for the whole group:
	// a Get per record built an iterator over every level of the store
	// each time, which was most of the lookup.
	idemIter *pebble.Iterator

	// What the sequencer hands over with the batch.
	group    []*pending
	head     head // the tree head after this group
	prevHead head // and before it
	stats    GroupStats
	decided  time.Time
	applied  chan struct{} // closed by applyLoop once Pebble took the batch or refused it
	applyErr error         // set before applied is closed
}

// pendingValue is what a group's writes made of one key: a whole value (or
// its absence) that hides everything below, or merge operands to be joined
// after whatever is below.
type pendingValue struct {
	data     []byte
	complete bool // data is the whole value; below does not matter
	absent   bool // complete, and the key is deleted
}

// newGroupBatch starts a group whose entries begin at first, reading under
// prev and base. sizeHint is about how many bytes and state writes the
// group will hold (those of the group before), so that a group of a
// thousand outcomes does not grow its batch and map a dozen times over.
func newGroupBatch(db *pebble.DB, first uint64, prev *groupBatch, base pebble.Reader, drain func() error, sizeHint groupSize) *groupBatch {
	const maxPresize = 4 << 20 // a group after one near maxBatchBytes need not reserve as much
	return &groupBatch{Batch: db.NewBatchWithSize(min(sizeHint.bytes, maxPresize)), db: db, first: first, prev: prev, base: base, after: prev,
		drain: drain, writes: make(map[string]*pendingValue, sizeHint.writes)}
}

// newValue returns a pendingValue holding a copy of data.
func (g *groupBatch) newValue(data []byte, complete, absent bool) *pendingValue {
	if len(g.slab) == cap(g.slab) {
		g.slab = make([]pendingValue, 0, min(max(2*cap(g.slab), 16), 4096))
	}
	g.slab = append(g.slab, pendingValue{data: g.copyValue(data), complete: complete, absent: absent})
	return &g.slab[len(g.slab)-1]
}

// copyValue copies data into the group's value space; the copy's capacity
// ends where it does, so that appending to it copies it first.
func (g *groupBatch) copyValue(data []byte) []byte {
	if len(data) == 0 {
		return nil
	}
	if cap(g.values)-len(g.values) < len(data) {
		// Doubling from 1 KiB: a group of a few single posts takes little,
		// one of a thousand outcomes a few dozen chunks.
		g.values = make([]byte, 0, max(len(data), min(max(2*cap(g.values), 1<<10), 64<<10)))
	}
	start := len(g.values)
	g.values = append(g.values, data...)
	return g.values[start:len(g.values):len(g.values)]
}

// groupSize is what a group held: bytes in its batch, keys it recorded for
// Gets.
type groupSize struct{ bytes, writes int }

// size is what the group holds.
func (g *groupBatch) size() groupSize { return groupSize{bytes: g.Len(), writes: len(g.writes)} }

// set, merge and del write to the batch and record the write for Gets.
func (g *groupBatch) set(key, value []byte) error {
	if err := g.Batch.Set(key, value, nil); err != nil {
		return err
	}
	g.writes[string(key)] = g.newValue(value, true, false)
	return nil
}

func (g *groupBatch) merge(key, operand []byte) error {
	if err := g.Batch.Merge(key, operand, nil); err != nil {
		return err
	}
	if pv, ok := g.writes[string(key)]; ok {
		pv.data = append(pv.data, operand...) // Pebble's default merger concatenates
		pv.absent = false
		return nil
	}
	g.writes[string(key)] = g.newValue(operand, false, false)
	return nil
}

func (g *groupBatch) del(key []byte) error {
	if err := g.Batch.Delete(key, nil); err != nil {
		return err
	}
	g.writes[string(key)] = g.newValue(nil, true, true)
	return nil
}

// addEntry writes entry seq, the next of the group.
func (g *groupBatch) addEntry(seq uint64, data []byte) error {
	if seq != g.first+uint64(len(g.entries)) {
		return fmt.Errorf("entry %d out of order in a group from %d", seq, g.first)
	}
	if err := g.Batch.Set(entryKey(seq), data, nil); err != nil {
		return err
	}
	g.entries = append(g.entries, data)
	return nil
}

// entry returns the group's entry seq, if it wrote it.
func (g *groupBatch) entry(seq uint64) ([]byte, bool) {
	if seq < g.first || seq-g.first >= uint64(len(g.entries)) {
		return nil, false
	}
	return g.entries[seq-g.first], true
}

// reader returns the batch as a reader of the committed store plus its own
// writes, once the group ahead is applied, indexing the batch first if need
// be. A group of plain Records never pays for the index.
func (g *groupBatch) reader() (*pebble.Batch, error) {
	if !g.indexed {
		if g.prev != nil {
			// The iterator reads base, which the drain closes.
			if err := g.closeReads(); err != nil {
				return nil, err
			}
			if err := g.drain(); err != nil {
				return nil, err
			}
			g.prev, g.base = nil, g.db
		}
		ib := g.db.NewIndexedBatch()
		if err := ib.Apply(g.Batch, nil); err != nil {
			ib.Close()
			return nil, fmt.Errorf("index batch: %w", err)
		}
		g.Batch.Close()
		g.Batch, g.indexed = ib, true
	}
	return g.Batch, nil
}

// Get implements pebble.Reader.
func (g *groupBatch) Get(key []byte) ([]byte, io.Closer, error) {
	if g.indexed || len(key) == 0 {
		return g.indexedGet(key)
	}
	switch key[0] {
	case tagEntry:
		if len(key) != 9 {
			return g.indexedGet(key)
		}
		seq := binary.BigEndian.Uint64(key[1:])
		for l := g; l != nil; l = l.prev {
			if e, ok := l.entry(seq); ok {
				return e, noClose{}, nil
			}
		}
		return g.base.Get(key)
	case tagState, tagIdem:
		return g.layeredGet(key)
	}
	return g.indexedGet(key)
}

func (g *groupBatch) indexedGet(key []byte) ([]byte, io.Closer, error) {
	b, err := g.reader()
	if err != nil {
		return nil, nil, err
	}
	return b.Get(key)
}

// layeredGet reads a state or idempotency key through the layers: merge
// operands found on the way down are joined, in order, after the first
// whole value below them.
func (g *groupBatch) layeredGet(key []byte) ([]byte, io.Closer, error) {
	var ops [][]byte // operands from the top layer down
	join := func(value []byte, found bool) ([]byte, io.Closer, error) {
		if !found && len(ops) == 0 {
			return nil, nil, pebble.ErrNotFound
		}
		out := append([]byte(nil), value...)
		for i := len(ops) - 1; i >= 0; i-- {
			out = append(out, ops[i]...)
		}
		return out, noClose{}, nil
	}
	for l := g; l != nil; l = l.prev {
		pv, ok := l.writes[string(key)]
		if !ok {
			continue
		}
		if pv.complete {
			return join(pv.data, !pv.absent)
		}
		ops = append(ops, pv.data)
	}
	if len(ops) == 0 {
		return g.baseGet(key)
	}
	v, closer, err := g.baseGet(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return join(nil, false)
	}
	if err != nil {
		return nil, nil, err
	}
	defer closer.Close()
	return join(v, true)
}

// baseGet reads key from base; idempotency records through idemIter, whose
// value stays valid until the next read.
func (g *groupBatch) baseGet(key []byte) ([]byte, io.Closer, error) {
	if key[0] != tagIdem {
		return g.base.Get(key)
	}
	if g.idemIter == nil {
		it, err := g.base.NewIter(&pebble.IterOptions{LowerBound: []byte{tagIdem}, UpperBound: []byte{tagIdem + 1}})
		if err != nil {
			return nil, nil, err
		}
		g.idemIter = it
	}
	it := g.idemIter
	if !it.SeekPrefixGE(key) || !bytes.Equal(it.Key(), key) {
		if err := it.Error(); err != nil {
			return nil, nil, err
		}
		return nil, nil, pebble.ErrNotFound
	}
	v, err := it.ValueAndErr()
	if err != nil {
		return nil, nil, err
	}
	return v, noClose{}, nil
}

// closeReads releases what the group read base with; the sequencer calls it
// once the group is decided, before base may go.
func (g *groupBatch) closeReads() error {
	if g.idemIter == nil {
		return nil
	}
	err := g.idemIter.Close()
	g.idemIter = nil
	return err
}

type noClose struct{}

func (noClose) Close() error { return nil }

// NewIter implements pebble.Reader.
func (g *groupBatch) NewIter(o *pebble.IterOptions) (*pebble.Iterator, error) {
	b, err := g.reader()
	if err != nil {
		return nil, err
	}
	return b.NewIter(o)
}

// NewIterWithContext implements pebble.Reader.
func (g *groupBatch) NewIterWithContext(ctx context.Context, o *pebble.IterOptions) (*pebble.Iterator, error) {
	b, err := g.reader()
	if err != nil {
		return nil, err
	}
	return b.NewIterWithContext(ctx, o)
}

// Close implements pebble.Reader; the group closes its batch itself.
func (g *groupBatch) Close() error { return nil }

var _ pebble.Reader = (*groupBatch)(nil)
