package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Report is what a verification checked and found.
type Report struct {
	// Entries is how many entries were read and hashed.
	Entries uint64
	// Root is the RFC 6962 root recomputed from those entries.
	Root tlog.Hash
	// Checkpoint is the latest signed checkpoint, when its signature held.
	Checkpoint *Checkpoint
	// Since is the earlier checkpoint checked for consistency, when given.
	Since *Checkpoint
	// FirstBad is the seq of the first entry found wrong, or -1.
	FirstBad int64
	// Problems lists every failure found, in the order found.
	Problems []string
	// Checks lists what was checked beyond the entries and the checkpoints'
	// signatures (the proofs), in the order checked.
	Checks []Check
}

// Check is one thing an audit checked and what it found, for the audit's
// printout.
type Check struct {
	Label  string // what was checked, such as "inclusion proofs"
	Result string // what was found, such as "5 of 5 good, entries ..."
}

// OK reports whether verification found nothing wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) fail(seq int64, format string, args ...any) {
	if seq >= 0 && r.FirstBad < 0 {
		r.FirstBad = seq
	}
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

func (r *Report) check(label, format string, args ...any) {
	r.Checks = append(r.Checks, Check{label, fmt.Sprintf(format, args...)})
}

// Prover gives the RFC 6962 proofs of a tree: a [*Ledger] those of its own
// store, a client of the HTTP API those a server serves. The Auditor checks
// either the same way.
type Prover interface {
	// InclusionProof returns the audit path of entry index in the tree of
	// the given size.
	InclusionProof(index, size uint64) ([]tlog.Hash, error)
	// ConsistencyProof returns the proof that the tree of size from is a
	// prefix of the tree of size to.
	ConsistencyProof(from, to uint64) ([]tlog.Hash, error)
}

var _ Prover = (*Ledger)(nil)

// Auditor recomputes the tree from entries fed to it in seq order and checks
// them, and a Prover's proofs, against signed checkpoints. It is the part of
// verification that needs nothing but the entries, the proofs, the
// checkpoints and the verifier key, so it runs the same over a local store
// or a remote server's API.
type Auditor struct {
	report    Report
	verifier  note.Verifier
	latest    *Checkpoint
	since     *Checkpoint
	stack     []tlog.Hash   // roots of the perfect subtrees of the tree so far
	OnEntry   func(e Entry) // optional: sees each parsed entry, in order
	lastEntry Entry
	// sampled holds the leaf hashes of the entries whose inclusion proofs
	// CheckProofs checks, as Add computes them; chosen when the latest
	// checkpoint is opened.
	sampled map[uint64]*tlog.Hash
}

// NewAuditor starts an audit. latest is the ledger's current signed
// checkpoint; since, if not nil, one saved earlier, which the ledger must
// have grown from.
func NewAuditor(verifier note.Verifier, latest, since []byte) *Auditor {
	a := &Auditor{verifier: verifier}
	a.report.FirstBad = -1
	if c, err := OpenCheckpoint(latest, verifier); err != nil {
		a.report.fail(-1, "latest checkpoint: %v", err)
	} else {
		a.latest = &c
		a.report.Checkpoint = &c
		a.sampled = map[uint64]*tlog.Hash{}
		for _, i := range sample(c.Size) {
			a.sampled[i] = nil
		}
	}
	if since != nil {
		if c, err := OpenCheckpoint(since, verifier); err != nil {
			a.report.fail(-1, "earlier checkpoint: %v", err)
		} else {
			a.since = &c
			a.report.Since = &c
		}
	}
	a.check()
	return a
}

// Latest returns the latest checkpoint, or nil when its signature did not
// hold: its size is how many entries there are to add.
func (a *Auditor) Latest() *Checkpoint { return a.latest }

// Add feeds the next entry's bytes. It returns the leaf hash it computed.
func (a *Auditor) Add(data []byte) tlog.Hash {
	seq := a.report.Entries
	e, err := ParseEntry(data)
	switch {
	case err != nil:
		a.report.fail(int64(seq), "entry %d: %v", seq, err)
	case e.Seq != seq:
		a.report.fail(int64(seq), "entry %d says it is seq %d", seq, e.Seq)
	case seq > 0 && a.lastEntry.RecordedAt.After(e.RecordedAt):
		a.report.fail(int64(seq), "entry %d was recorded before entry %d", seq, seq-1)
	default:
		a.lastEntry = e
		if a.OnEntry != nil {
			a.OnEntry(e)
		}
	}
	leaf := tlog.RecordHash(data)
	if _, ok := a.sampled[seq]; ok {
		a.sampled[seq] = &leaf
	}
	a.stack = append(a.stack, leaf)
	a.report.Entries++
	for n := a.report.Entries; n&1 == 0; n >>= 1 {
		k := len(a.stack)
		a.stack = append(a.stack[:k-2], tlog.NodeHash(a.stack[k-2], a.stack[k-1]))
	}
	a.check()
	return leaf
}

// Fail records a problem found outside the auditor (a read error, a stored
// hash that differs) against seq, or against no entry when seq is negative.
func (a *Auditor) Fail(seq int64, format string, args ...any) { a.report.fail(seq, format, args...) }

// root is the RFC 6962 root of the entries added so far.
func (a *Auditor) root() tlog.Hash {
	if len(a.stack) == 0 {
		return emptyRoot
	}
	h := a.stack[len(a.stack)-1]
	for i := len(a.stack) - 2; i >= 0; i-- {
		h = tlog.NodeHash(a.stack[i], h)
	}
	return h
}

// check compares the root with any checkpoint over the current size.
func (a *Auditor) check() {
	n := a.report.Entries
	for _, c := range []*Checkpoint{a.since, a.latest} {
		if c != nil && c.Size == n && a.root() != c.Root {
			what := "latest"
			if c == a.since {
				what = "earlier"
			}
			a.report.fail(-1, "the %s checkpoint's root at size %d differs from the root of the entries", what, n)
		}
	}
}

// sample picks the entries whose inclusion proofs are checked: a few at
// random, so that no entry can count on being left out, and the last one.
func sample(size uint64) []uint64 {
	if size == 0 {
		return nil
	}
	out := []uint64{size - 1}
	for range 4 {
		out = append(out, rand.Uint64N(size))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// CheckProofs checks p's proofs against the latest checkpoint: with
// tlog.CheckTree the consistency proof from the earlier checkpoint, and with
// tlog.CheckRecord the inclusion proofs of a few entries, the last and some
// at random, whose leaf hashes the auditor computed from their bytes. It
// records what it checked in the report's Checks and what failed in its
// Problems. It checks nothing until every entry of the latest checkpoint has
// been added, since the leaves come from those entries.
func (a *Auditor) CheckProofs(p Prover) {
	latest := a.latest
	if latest == nil || a.report.Entries < latest.Size {
		return
	}
	if since := a.since; since != nil {
		a.checkConsistency(p, *since, *latest)
	}
	idx := slices.Sorted(func(yield func(uint64) bool) {
		for i := range a.sampled {
			if !yield(i) {
				return
			}
		}
	})
	if len(idx) == 0 {
		return
	}
	good := 0
	for _, i := range idx {
		proof, err := p.InclusionProof(i, latest.Size)
		if err == nil {
			err = tlog.CheckRecord(proof, int64(latest.Size), latest.Root, int64(i), *a.sampled[i])
		}
		if err != nil {
			a.Fail(int64(i), "inclusion proof of entry %d in the tree of size %d: %v", i, latest.Size, err)
			continue
		}
		good++
	}
	strs := make([]string, len(idx))
	for i, n := range idx {
		strs[i] = strconv.FormatUint(n, 10)
	}
	a.report.check("inclusion proofs", "%d of %d good, entries %s in the tree of size %d", good, len(idx), strings.Join(strs, ", "), latest.Size)
}

// checkConsistency checks the proof that since's tree is a prefix of
// latest's, where there is one to ask for.
func (a *Auditor) checkConsistency(p Prover, since, latest Checkpoint) {
	switch {
	case since.Size == 0:
		a.report.check("consistency proof", "none needed: the earlier checkpoint is of the empty tree")
	case since.Size > latest.Size:
		a.report.check("consistency proof", "none possible: the earlier checkpoint is larger than the latest")
	default:
		proof, err := p.ConsistencyProof(since.Size, latest.Size)
		if err == nil {
			err = tlog.CheckTree(proof, int64(latest.Size), latest.Root, int64(since.Size), since.Root)
		}
		if err != nil {
			a.Fail(-1, "consistency proof from size %d to %d: %v", since.Size, latest.Size, err)
			return
		}
		a.report.check("consistency proof", "good, from size %d to %d (%d hashes)", since.Size, latest.Size, len(proof))
	}
}

// Finish ends the audit after the last entry and returns the report.
func (a *Auditor) Finish() *Report {
	n := a.report.Entries
	if a.latest != nil && a.latest.Size > n {
		a.report.fail(int64(n), "the latest checkpoint is over %d entries but only %d were found", a.latest.Size, n)
	}
	if a.since != nil {
		if a.since.Size > n {
			a.report.fail(int64(n), "the earlier checkpoint is over %d entries but only %d were found: the ledger lost entries", a.since.Size, n)
		}
		if a.latest != nil && a.since.Size > a.latest.Size {
			a.report.fail(-1, "the latest checkpoint (size %d) is older than the earlier one (size %d)", a.latest.Size, a.since.Size)
		}
	}
	a.report.Root = a.root()
	return &a.report
}

// Verify scans the whole store: it parses and hashes every entry, checks each
// leaf hash against the stored one, recomputes the root and compares it with
// the tree head, the latest checkpoint (whose signature it checks) and, when
// since is not nil, an earlier signed checkpoint the ledger must have grown
// from. progress, if not nil, is called now and then with entries done and
// the total. The error is for a cancelled context only; what is wrong with
// the store is in the report.
func (l *Ledger) Verify(ctx context.Context, since []byte, progress func(done, total uint64)) (*Report, error) {
	a := NewAuditor(l.opts.Keys.Verifier, l.Checkpoint(), since)
	return l.verify(ctx, a, progress)
}

// Audit is Verify for an audit of the whole ledger: it also hands each entry
// that parses, in seq order, to onEntry (the domain's replay), when onEntry
// is not nil, and checks the store's own proofs as [Auditor.CheckProofs]
// checks a server's.
func (l *Ledger) Audit(ctx context.Context, since []byte, progress func(done, total uint64), onEntry func(Entry)) (*Report, error) {
	a := NewAuditor(l.opts.Keys.Verifier, l.Checkpoint(), since)
	a.OnEntry = onEntry
	rep, err := l.verify(ctx, a, progress)
	if err != nil {
		return nil, err
	}
	a.CheckProofs(l)
	return rep, nil
}

// verify feeds every stored entry to a and checks the store's own leaf
// hashes and tree head on the way.
func (l *Ledger) verify(ctx context.Context, a *Auditor, progress func(done, total uint64)) (*Report, error) {
	d := l.acquire()
	defer d.release()
	if l.integrity != nil {
		a.Fail(-1, "integrity check on open: %v", l.integrity)
	}
	total := d.head.size
	it, err := d.snap.NewIter(&pebble.IterOptions{LowerBound: []byte{tagEntry}, UpperBound: []byte{tagEntry + 1}})
	if err != nil {
		a.Fail(0, "scan entries: %v", err)
		return a.Finish(), nil
	}
	defer it.Close()
	hashes := readerHashes{d.snap}
	for ok := it.First(); ok; ok = it.Next() {
		seq := a.report.Entries
		if seq%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if progress != nil {
				progress(seq, total)
			}
		}
		if got := binary.BigEndian.Uint64(it.Key()[1:]); got != seq {
			a.Fail(int64(seq), "entry %d is missing (next stored is %d)", seq, got)
			break
		}
		if seq >= total {
			a.Fail(int64(seq), "entry %d lies past the tree size %d", seq, total)
			break
		}
		v, err := it.ValueAndErr()
		if err != nil {
			a.Fail(int64(seq), "read entry %d: %v", seq, err)
			break
		}
		leaf := a.Add(v)
		stored, err := hashes.ReadHashes([]int64{tlog.StoredHashIndex(0, int64(seq))})
		if err != nil {
			a.Fail(int64(seq), "leaf hash %d: %v", seq, err)
		} else if stored[0] != leaf {
			a.Fail(int64(seq), "entry %d does not match its stored leaf hash", seq)
		}
	}
	if err := it.Error(); err != nil && !errors.Is(err, context.Canceled) {
		a.Fail(int64(a.report.Entries), "scan entries: %v", err)
	}
	if a.report.Entries < total {
		a.Fail(int64(a.report.Entries), "the tree head counts %d entries but %d were found", total, a.report.Entries)
	}
	rep := a.Finish()
	if rep.Entries == total && rep.Root != d.head.root {
		a.Fail(-1, "the tree head's root differs from the root of the entries")
	}
	if progress != nil {
		progress(rep.Entries, total)
	}
	return rep, nil
}
