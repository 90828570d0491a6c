package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

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
}

// OK reports whether verification found nothing wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) fail(seq int64, format string, args ...any) {
	if seq >= 0 && r.FirstBad < 0 {
		r.FirstBad = seq
	}
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Auditor recomputes the tree from entries fed to it in seq order and checks
// them against signed checkpoints. It is the part of verification that needs
// nothing but the entries, the checkpoints and the verifier key, so it runs
// the same over a local store or a remote server's API.
type Auditor struct {
	report    Report
	verifier  note.Verifier
	latest    *Checkpoint
	since     *Checkpoint
	stack     []tlog.Hash   // roots of the perfect subtrees of the tree so far
	OnEntry   func(e Entry) // optional: sees each parsed entry, in order
	lastEntry Entry
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
	return l.VerifyEach(ctx, since, progress, nil)
}

// VerifyEach is Verify that also hands each entry that parses, in seq order,
// to onEntry (the domain's replay and audit), when onEntry is not nil.
func (l *Ledger) VerifyEach(ctx context.Context, since []byte, progress func(done, total uint64), onEntry func(Entry)) (*Report, error) {
	d := l.acquire()
	defer d.release()
	a := NewAuditor(l.opts.Keys.Verifier, l.Checkpoint(), since)
	a.OnEntry = onEntry
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
