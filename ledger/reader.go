package ledger

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/tlog"
)

// Reader is a consistent read of the ledger: entries, indexes, idempotency
// records and domain state, all as of one tree size. [Ledger.Read] gives one
// over the durable tree; a [View] embeds one over the group being decided.
// A Reader is valid only inside the function it was passed to.
type Reader struct {
	r    pebble.Reader
	size uint64
	// rows counts what the read looked at, for Rows.
	rows int64
}

// Size is the number of entries the reader sees; the next entry gets this seq.
func (r *Reader) Size() uint64 { return r.size }

// Rows is how many stored rows the reader has read so far: each entry,
// state key (a Get, or a key a Scan visited), idempotency record and index
// row. It is what a read costs, in the currency the API charges callers in
// (docs/contract.md section 5); a Reader is used by one goroutine, so the
// count is a plain field.
func (r *Reader) Rows() int64 { return r.rows }

// Entry returns the stored bytes of entry seq.
func (r *Reader) Entry(seq uint64) ([]byte, error) {
	r.rows++
	if seq >= r.size {
		return nil, fmt.Errorf("entry %d: %w", seq, ErrNotFound)
	}
	b, err := getCopy(r.r, entryKey(seq))
	if err != nil {
		return nil, fmt.Errorf("entry %d: %w", seq, err)
	}
	return b, nil
}

// Entries calls fn with the stored bytes of entries from to to-1, in seq
// order, read with one iterator: a tile of 256 entries read one Get at a
// time looked up each key from the top of the LSM tree again. The slice
// passed to fn is valid only during the call. A range beyond the reader's
// size is ErrNotFound.
func (r *Reader) Entries(from, to uint64, fn func(seq uint64, b []byte) error) error {
	if from > to || to > r.size {
		return fmt.Errorf("entries %d to %d of %d: %w", from, to, r.size, ErrNotFound)
	}
	it, err := r.r.NewIter(&pebble.IterOptions{LowerBound: entryKey(from), UpperBound: entryKey(to)})
	if err != nil {
		return fmt.Errorf("read entries: %w", err)
	}
	seq := from
	for ok := it.First(); ok; ok = it.Next() {
		r.rows++
		if k := it.Key(); len(k) != 9 || binary.BigEndian.Uint64(k[1:]) != seq {
			it.Close()
			return fmt.Errorf("read entries: entry %d missing", seq)
		}
		v, err := it.ValueAndErr()
		if err == nil {
			err = fn(seq, v)
		}
		if err != nil {
			it.Close()
			return err
		}
		seq++
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("read entries: %w", err)
	}
	if seq != to {
		return fmt.Errorf("read entries: entry %d missing", seq)
	}
	return nil
}

// ReadHashes returns the stored hashes with the given indexes
// (tlog.StoredHashIndex) of the tree the reader sees, one row each: a
// tlog.HashReader, so that tlog.ReadTileData reads a C2SP tile from it. An
// index the tree of the reader's size does not have yet is ErrNotFound.
func (r *Reader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	limit := tlog.StoredHashCount(int64(r.size))
	for _, idx := range indexes {
		if idx < 0 || idx >= limit {
			return nil, fmt.Errorf("stored hash %d of a tree of %d: %w", idx, r.size, ErrNotFound)
		}
	}
	r.rows += int64(len(indexes))
	return readerHashes{r.r}.ReadHashes(indexes)
}

// Get returns the domain state stored under key.
func (r *Reader) Get(key []byte) ([]byte, error) {
	r.rows++
	return getCopy(r.r, stateKey(key))
}

// Scan calls fn for each domain state key with the given prefix, from start
// (inclusive; the prefix itself when nil) in key order, until fn returns false.
// The slices passed to fn are valid only during the call.
func (r *Reader) Scan(prefix, start []byte, fn func(key, value []byte) bool) error {
	lower := stateKey(prefix)
	if start != nil {
		lower = stateKey(start)
	}
	it, err := r.r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: PrefixEnd(stateKey(prefix))})
	if err != nil {
		return fmt.Errorf("scan state: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		r.rows++
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return fmt.Errorf("scan state: %w", err)
		}
		if !fn(it.Key()[1:], v) {
			break
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("scan state: %w", err)
	}
	return nil
}

// Idempotent is what the idempotency index holds for one (scope, key).
type Idempotent struct {
	Seq  uint64   // the entry first written under the key
	Hash [32]byte // SHA-256 of the request that wrote it
}

// Idempotency looks up (scope, key) in the idempotency index.
func (r *Reader) Idempotency(scope, key string) (Idempotent, bool, error) {
	r.rows++
	v, err := getCopy(r.r, idemKey(scope, key))
	if errors.Is(err, ErrNotFound) {
		return Idempotent{}, false, nil
	}
	if err != nil {
		return Idempotent{}, false, fmt.Errorf("idempotency lookup: %w", err)
	}
	if len(v) != IdempotencyValueLen {
		return Idempotent{}, false, errors.New("idempotency record has the wrong length")
	}
	var rec Idempotent
	rec.Seq = binary.BigEndian.Uint64(v)
	copy(rec.Hash[:], v[8:])
	if rec.Seq >= r.size {
		return Idempotent{}, false, nil
	}
	return rec, true, nil
}

// Index calls fn with the seq of each entry listed under (name, value), in seq
// order from start (inclusive), until fn returns false.
func (r *Reader) Index(name, value string, start uint64, fn func(seq uint64) bool) error {
	p := indexPrefix(name, value)
	it, err := r.r.NewIter(&pebble.IterOptions{LowerBound: indexKey(name, value, start), UpperBound: PrefixEnd(p)})
	if err != nil {
		return fmt.Errorf("read index %s: %w", name, err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != len(p)+8 {
			continue // a longer value sharing our prefix cannot occur: values hold no NUL
		}
		seq := binary.BigEndian.Uint64(k[len(p):])
		r.rows++
		if seq >= r.size || !fn(seq) {
			break
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("read index %s: %w", name, err)
	}
	return nil
}

// Read calls fn with a Reader over the durable tree. Everything fn reads is
// as of the same synced size.
func (l *Ledger) Read(fn func(r *Reader) error) error {
	d := l.acquire()
	defer d.release()
	return fn(&Reader{r: d.snap, size: d.head.size})
}

// Size is the durable tree size: the number of entries synced to disk.
func (l *Ledger) Size() uint64 {
	d := l.acquire()
	defer d.release()
	return d.head.size
}

// Head returns the durable tree size and its root hash.
func (l *Ledger) Head() (uint64, tlog.Hash) {
	d := l.acquire()
	defer d.release()
	return d.head.size, d.head.root
}

// Entry returns the stored bytes of a durable entry, or ErrNotFound.
func (l *Ledger) Entry(seq uint64) ([]byte, error) {
	var b []byte
	err := l.Read(func(r *Reader) error {
		var err error
		b, err = r.Entry(seq)
		return err
	})
	return b, err
}

// CheckpointSize is the tree size of the latest signed checkpoint.
func (l *Ledger) CheckpointSize() uint64 { return l.ckptPub.Load() }

// Checkpoint returns the latest signed checkpoint. It covers no more than
// the durable tree and may trail it by up to Options.CheckpointInterval; use
// [Ledger.SignCheckpoint] for one over the current durable size.
func (l *Ledger) Checkpoint() []byte {
	p := l.ckpt.Load()
	if p == nil {
		return nil
	}
	return *p
}

// ErrBadCursor is returned for a page cursor this ledger did not issue.
var ErrBadCursor = errors.New("ledger: bad cursor")

// Page is one page of an index read.
type Page struct {
	Seqs []uint64
	// Next is the cursor of the following page, or "" after the last one.
	Next string
}

// IndexPage reads up to limit seqs listed under (name, value), after the
// position cursor names ("" for the first page).
func (l *Ledger) IndexPage(name, value, cursor string, limit int) (Page, error) {
	start, err := ParseCursor(cursor)
	if err != nil {
		return Page{}, err
	}
	if limit <= 0 {
		return Page{}, fmt.Errorf("%w: page limit %d", ErrRange, limit)
	}
	var page Page
	err = l.Read(func(r *Reader) error {
		return r.Index(name, value, start, func(seq uint64) bool {
			if len(page.Seqs) == limit {
				page.Next = FormatCursor(seq)
				return false
			}
			page.Seqs = append(page.Seqs, seq)
			return true
		})
	})
	return page, err
}

// FormatCursor encodes the position of seq as an opaque page cursor.
func FormatCursor(seq uint64) string {
	b := binary.BigEndian.AppendUint64([]byte{'p'}, seq)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseCursor decodes a cursor made by FormatCursor; "" is the start.
func ParseCursor(cursor string) (uint64, error) {
	if cursor == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(cursor)
	// Decoding skips CR and LF; the re-encoding check refuses them.
	if err != nil || len(b) != 9 || b[0] != 'p' || base64.RawURLEncoding.EncodeToString(b) != cursor {
		return 0, ErrBadCursor
	}
	return binary.BigEndian.Uint64(b[1:]), nil
}
