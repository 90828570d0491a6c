package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// auditFixture is a store of 37 entries with a checkpoint signed after the
// first 10 (since) and one over all of them (latest): every proof between
// them has hashes to change.
type auditFixture struct {
	l             *Ledger
	since, latest []byte
}

func newAuditFixture(t *testing.T) auditFixture {
	t.Helper()
	l := openTest(t, testOptions(t, nil, ""))
	ctx := context.Background()
	appendN(t, l, 10)
	since, err := l.SignCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 27)
	latest, err := l.SignCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return auditFixture{l, since, latest}
}

// feed adds the first n stored entries to a.
func (f auditFixture) feed(t *testing.T, a *Auditor, n uint64) {
	t.Helper()
	for i := range n {
		b, err := f.l.Entry(i)
		if err != nil {
			t.Fatal(err)
		}
		a.Add(b)
	}
}

// bentProver gives the store's proofs with the first hash of each changed
// where asked, or refuses with err.
type bentProver struct {
	Prover
	inclusion, consistency bool
	err                    error
}

func (p bentProver) InclusionProof(index, size uint64) ([]tlog.Hash, error) {
	if p.err != nil {
		return nil, p.err
	}
	h, err := p.Prover.InclusionProof(index, size)
	if p.inclusion && len(h) > 0 {
		h[0][0] ^= 1
	}
	return h, err
}

func (p bentProver) ConsistencyProof(from, to uint64) ([]tlog.Hash, error) {
	if p.err != nil {
		return nil, p.err
	}
	h, err := p.Prover.ConsistencyProof(from, to)
	if p.consistency && len(h) > 0 {
		h[0][0] ^= 1
	}
	return h, err
}

func hasProblem(rep *Report, sub string) bool {
	return slices.ContainsFunc(rep.Problems, func(p string) bool { return strings.Contains(p, sub) })
}

// checkResult is the result of the check labelled label, or "".
func checkResult(rep *Report, label string) string {
	for _, c := range rep.Checks {
		if c.Label == label {
			return c.Result
		}
	}
	return ""
}

// TestAuditorCheckProofs checks the proofs of a real store, and of provers
// that bend them, against the auditor's checkpoints: every wrong hash and
// every refusal is a problem, and the checks say what was checked.
func TestAuditorCheckProofs(t *testing.T) {
	f := newAuditFixture(t)
	tests := []struct {
		name         string
		prover       Prover
		wantProblems []string // each in some problem; none means OK
		wantFirstBad bool     // an entry is named as the first bad one
		wantGood     bool     // every inclusion proof is good, else none is
		wantCons     string   // the consistency proof check, "" for none
	}{
		{
			name:     "the store's own",
			prover:   f.l,
			wantGood: true,
			wantCons: "good, from size 10 to 37",
		},
		{
			name:         "a wrong hash in inclusion proofs",
			prover:       bentProver{Prover: f.l, inclusion: true},
			wantProblems: []string{"inclusion proof of entry 36 in the tree of size 37"},
			wantFirstBad: true,
			wantCons:     "good, from size 10 to 37",
		},
		{
			name:         "a wrong hash in the consistency proof",
			prover:       bentProver{Prover: f.l, consistency: true},
			wantProblems: []string{"consistency proof from size 10 to 37"},
			wantGood:     true,
		},
		{
			name:   "proofs refused",
			prover: bentProver{Prover: f.l, err: errors.New("proof refused")},
			wantProblems: []string{
				"consistency proof from size 10 to 37: proof refused",
				"inclusion proof of entry 36 in the tree of size 37: proof refused",
			},
			wantFirstBad: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAuditor(testKeys().Verifier, f.latest, f.since)
			f.feed(t, a, 37)
			a.CheckProofs(tt.prover)
			rep := a.Finish()
			if len(tt.wantProblems) == 0 && !rep.OK() {
				t.Errorf("problems: %q", rep.Problems)
			}
			for _, want := range tt.wantProblems {
				if !hasProblem(rep, want) {
					t.Errorf("no problem %q in %q", want, rep.Problems)
				}
			}
			if got := rep.FirstBad >= 0; got != tt.wantFirstBad {
				t.Errorf("FirstBad = %d", rep.FirstBad)
			}
			inc := checkResult(rep, "inclusion proofs")
			var good, of int
			if _, err := fmt.Sscanf(inc, "%d of %d good", &good, &of); err != nil || of == 0 || (good == of) != tt.wantGood || (good == 0) == tt.wantGood {
				t.Errorf("inclusion proofs check %q, want every proof good: %v", inc, tt.wantGood)
			}
			if !strings.HasSuffix(inc, "36 in the tree of size 37") {
				t.Errorf("inclusion proofs check %q does not end with the last entry", inc)
			}
			if got := checkResult(rep, "consistency proof"); !strings.HasPrefix(got, tt.wantCons) || (got == "") != (tt.wantCons == "") {
				t.Errorf("consistency proof check %q, want %q", got, tt.wantCons)
			}
		})
	}
}

// TestAuditorCheckProofsWaitsForEntries: before every entry of the latest
// checkpoint is in, no proof is asked for, since the leaves to check are
// not all known.
func TestAuditorCheckProofsWaitsForEntries(t *testing.T) {
	f := newAuditFixture(t)
	a := NewAuditor(testKeys().Verifier, f.latest, f.since)
	f.feed(t, a, 20)
	a.CheckProofs(bentProver{Prover: f.l, err: errors.New("asked for a proof")})
	rep := a.Finish()
	if len(rep.Checks) != 0 || hasProblem(rep, "asked for a proof") {
		t.Errorf("checks %q, problems %q: want no proof checked", rep.Checks, rep.Problems)
	}
	if !hasProblem(rep, "only 20 were found") {
		t.Errorf("problems %q: want the missing entries reported", rep.Problems)
	}
}

// TestAuditorCheckProofsEmptySince: a consistency proof from the empty tree
// is not asked for.
func TestAuditorCheckProofsEmptySince(t *testing.T) {
	l := openTest(t, testOptions(t, nil, ""))
	empty, err := l.SignCheckpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 3)
	latest, err := l.SignCheckpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	a := NewAuditor(testKeys().Verifier, latest, empty)
	auditFixture{l: l}.feed(t, a, 3)
	a.CheckProofs(l)
	rep := a.Finish()
	if !rep.OK() {
		t.Fatalf("problems: %q", rep.Problems)
	}
	if got := checkResult(rep, "consistency proof"); !strings.HasPrefix(got, "none needed") {
		t.Errorf("consistency proof check %q, want none needed", got)
	}
}

// TestLedgerAudit: Audit scans the store, hands every entry on, and checks
// the store's own proofs; Verify checks no proofs.
func TestLedgerAudit(t *testing.T) {
	f := newAuditFixture(t)
	var seen []uint64
	rep, err := f.l.Audit(context.Background(), f.since, nil, func(e Entry) { seen = append(seen, e.Seq) })
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("problems: %q", rep.Problems)
	}
	if len(seen) != 37 || seen[36] != 36 {
		t.Errorf("onEntry saw %d entries, want 37 in order", len(seen))
	}
	if got := checkResult(rep, "consistency proof"); !strings.HasPrefix(got, "good, from size 10 to 37") {
		t.Errorf("consistency proof check %q", got)
	}
	if got := checkResult(rep, "inclusion proofs"); !strings.Contains(got, "good, entries") {
		t.Errorf("inclusion proofs check %q", got)
	}
	if rep := mustVerify(t, f.l, f.since); len(rep.Checks) != 0 {
		t.Errorf("Verify checked %q, want no proofs", rep.Checks)
	}
}

// TestAuditSample: the last entry and a few others, in order, once each.
func TestAuditSample(t *testing.T) {
	for _, size := range []uint64{0, 1, 2, 5, 1 << 40} {
		got := sample(size)
		if size == 0 {
			if got != nil {
				t.Errorf("sample(0) = %v", got)
			}
			continue
		}
		if len(got) == 0 || len(got) > 5 || got[len(got)-1] != size-1 || !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Errorf("sample(%d) = %v", size, got)
		}
	}
}
