package accreditation

import (
	"testing"

	"creditbank/ledger"
)

// TestStateKeysOfOutcome: the keys StateKeysOfOutcome names are the state a
// posted outcome really leaves, and the outcome is listed under the learner
// and institution indexes, so that a baseline writing them writes what the
// bank writes.
func TestStateKeysOfOutcome(t *testing.T) {
	b := newTestBank(t)
	inst := b.institution(t, "college.example")
	seq := b.post(t, inst, outcome("L000123", "k-1"))
	ref := b.ref(t, "L000123")
	keys := StateKeysOfOutcome(seq, "college.example", ref)
	err := b.Ledger().Read(func(r *ledger.Reader) error {
		for _, k := range []string{keys.Outcome, keys.Posted, keys.BalanceDelta} {
			v, err := r.Get([]byte(k))
			if err != nil {
				return err
			}
			if len(v) == 0 {
				t.Errorf("state key %q holds nothing after a post", k)
			}
		}
		for _, ix := range [][2]string{{IndexLearner, ref}, {IndexInstitution, "college.example"}} {
			var seqs []uint64
			if err := r.Index(ix[0], ix[1], 0, func(s uint64) bool { seqs = append(seqs, s); return true }); err != nil {
				return err
			}
			if len(seqs) == 0 || seqs[len(seqs)-1] != seq {
				t.Errorf("index %s=%s lists %v, want it to end with %d", ix[0], ix[1], seqs, seq)
			}
		}
		_, found, err := r.Idempotency("college.example", "k-1")
		if err != nil || !found {
			t.Errorf("no idempotency record scoped by the institution: found %v, err %v", found, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
