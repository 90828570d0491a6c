package ledger

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/tlog"
)

// treeHash is tlog.TreeHash with the RFC 6962 root of the empty tree.
func treeHash(n uint64, r tlog.HashReader) (tlog.Hash, error) {
	if n == 0 {
		return emptyRoot, nil
	}
	return tlog.TreeHash(int64(n), r)
}

// readerHashes reads stored hashes from a Pebble reader.
type readerHashes struct{ r pebble.Reader }

func (l *Ledger) dbHashes(r pebble.Reader) readerHashes { return readerHashes{r} }

func (h readerHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		v, closer, err := h.r.Get(hashKey(idx))
		if err != nil {
			if errors.Is(err, pebble.ErrNotFound) {
				return nil, fmt.Errorf("stored hash %d missing", idx)
			}
			return nil, fmt.Errorf("read stored hash %d: %w", idx, err)
		}
		if len(v) != tlog.HashSize {
			closer.Close()
			return nil, fmt.Errorf("stored hash %d has %d bytes", idx, len(v))
		}
		copy(out[i][:], v)
		closer.Close()
	}
	return out, nil
}

// hashCache holds, for the sequencer, the stored hashes it will read again:
// those of the group being built and the right edge of the tree (the roots of
// its perfect subtrees), which every later append hashes against. Misses fall
// back to the committed store.
type hashCache struct {
	m  map[int64]tlog.Hash
	db pebble.Reader
}

func newHashCache() *hashCache { return &hashCache{m: make(map[int64]tlog.Hash)} }

func (c *hashCache) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var missing []int64
	for i, idx := range indexes {
		h, ok := c.m[idx]
		if !ok {
			missing = append(missing, idx)
			continue
		}
		out[i] = h
	}
	if len(missing) == 0 {
		return out, nil
	}
	got, err := readerHashes{c.db}.ReadHashes(missing)
	if err != nil {
		return nil, err
	}
	j := 0
	for i, idx := range indexes {
		if _, ok := c.m[idx]; !ok {
			out[i] = got[j]
			c.m[idx] = got[j]
			j++
		}
	}
	return out, nil
}

// keepEdge drops everything but the right edge of a tree of size n.
func (c *hashCache) keepEdge(n uint64) {
	edge := make(map[int64]tlog.Hash)
	start := uint64(0)
	for level := 63; level >= 0; level-- {
		if n&(1<<level) == 0 {
			continue
		}
		idx := tlog.StoredHashIndex(level, int64(start>>level))
		if h, ok := c.m[idx]; ok {
			edge[idx] = h
		}
		start += 1 << level
	}
	c.m = edge
}

// reset forgets everything, after a commit that failed.
func (c *hashCache) reset() { c.m = make(map[int64]tlog.Hash) }

// InclusionProof returns the RFC 6962 audit path of entry index in the tree of
// the given size, which must not exceed the durable size.
func (l *Ledger) InclusionProof(index, size uint64) ([]tlog.Hash, error) {
	d := l.acquire()
	defer d.release()
	if size > d.head.size || index >= size {
		return nil, fmt.Errorf("%w: inclusion of %d in a tree of %d (durable size %d)", ErrRange, index, size, d.head.size)
	}
	p, err := tlog.ProveRecord(int64(size), int64(index), readerHashes{d.snap})
	if err != nil {
		return nil, fmt.Errorf("prove inclusion: %w", err)
	}
	return p, nil
}

// ConsistencyProof returns the RFC 6962 consistency proof between the trees
// of sizes from and to, from <= to <= the durable size. The proof from the
// empty tree is empty: RFC 6962 section 2.1.2 defines none, since the empty
// tree is a prefix of every tree, and a witness (C2SP tlog-witness) takes
// an empty proof from old size 0.
func (l *Ledger) ConsistencyProof(from, to uint64) ([]tlog.Hash, error) {
	d := l.acquire()
	defer d.release()
	if from > to || to > d.head.size {
		return nil, fmt.Errorf("%w: consistency from %d to %d (durable size %d)", ErrRange, from, to, d.head.size)
	}
	if from == 0 {
		return []tlog.Hash{}, nil
	}
	p, err := tlog.ProveTree(int64(to), int64(from), readerHashes{d.snap})
	if err != nil {
		return nil, fmt.Errorf("prove consistency: %w", err)
	}
	return p, nil
}

// RootAt returns the root hash of the tree of the given size, which must not
// exceed the durable size.
func (l *Ledger) RootAt(size uint64) (tlog.Hash, error) {
	d := l.acquire()
	defer d.release()
	if size > d.head.size {
		return tlog.Hash{}, fmt.Errorf("%w: root of %d (durable size %d)", ErrRange, size, d.head.size)
	}
	if size == d.head.size {
		return d.head.root, nil
	}
	return treeHash(size, readerHashes{d.snap})
}
