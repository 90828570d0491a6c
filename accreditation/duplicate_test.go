package accreditation

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"creditbank/ledger"
)

// TestDuplicateOutcome: an institution records one outcome in force per
// learner, unit code and completion date (docs/contract.md section 8).
func TestDuplicateOutcome(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		// prepare runs after the original (seq orig) is posted and returns
		// the outcome to post then.
		prepare func(t *testing.T, b *testBank, college, univ Actor, orig uint64) (Actor, OutcomeInput)
		dup     bool // refused as a duplicate of orig
	}{
		{"same unit and date, new key", func(t *testing.T, b *testBank, c, u Actor, orig uint64) (Actor, OutcomeInput) {
			return c, adUnit("L1", "again", "DB210", 300)
		}, true},
		{"failed this time", func(t *testing.T, b *testBank, c, u Actor, orig uint64) (Actor, OutcomeInput) {
			o := adUnit("L1", "again", "DB210", 300)
			o.Result.Passed = rtBool(false)
			return c, o
		}, true},
		{"another date", func(t *testing.T, b *testBank, c, u Actor, orig uint64) (Actor, OutcomeInput) {
			o := adUnit("L1", "again", "DB210", 300)
			o.CompletedOn = "2026-06-30"
			return c, o
		}, false},
		{"another unit", func(t *testing.T, b *testBank, c, u Actor, orig uint64) (Actor, OutcomeInput) {
			return c, adUnit("L1", "again", "DB211", 300)
		}, false},
		{"another learner", func(t *testing.T, b *testBank, c, u Actor, orig uint64) (Actor, OutcomeInput) {
			return c, adUnit("L2", "again", "DB210", 300)
		}, false},
		{"another institution", func(t *testing.T, b *testBank, c, u Actor, orig uint64) (Actor, OutcomeInput) {
			return u, adUnit("L1", "again", "DB210", 300)
		}, false},
		{"a correction of it", func(t *testing.T, b *testBank, c, u Actor, orig uint64) (Actor, OutcomeInput) {
			o := adUnit("L1", "again", "DB210", 400)
			o.Supersedes = &orig
			return c, o
		}, false},
		{"a correction of another outcome", func(t *testing.T, b *testBank, c, u Actor, orig uint64) (Actor, OutcomeInput) {
			other := b.post(t, c, adUnit("L1", "other", "DB999", 300))
			o := adUnit("L1", "again", "DB210", 400)
			o.Supersedes = &other
			return c, o
		}, true},
		{"it was revoked", func(t *testing.T, b *testBank, c, u Actor, orig uint64) (Actor, OutcomeInput) {
			if _, err := b.Revoke(ctx, c, orig, "posted in error"); err != nil {
				t.Fatal(err)
			}
			return c, adUnit("L1", "again", "DB210", 300)
		}, false},
		{"it was superseded by another unit", func(t *testing.T, b *testBank, c, u Actor, orig uint64) (Actor, OutcomeInput) {
			fix := adUnit("L1", "fix", "DB212", 300)
			fix.Supersedes = &orig
			b.post(t, c, fix)
			return c, adUnit("L1", "again", "DB210", 300)
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, college, univ := rtSetup(t)
			orig := b.post(t, college, adUnit("L1", "first", "DB210", 300))
			actor, o := tc.prepare(t, b, college, univ, orig)
			if !tc.dup {
				b.post(t, actor, o)
				b.checkReplay(t)
				return
			}
			size := b.Ledger().Size()
			r := rtPostOne(t, b, actor, o)
			var de *Error
			if r.Status != PostRejected || !errors.As(r.Err, &de) || de.Code != CodeDuplicateOutcome || de.Existing == nil || *de.Existing != orig {
				t.Fatalf("post answered %+v, want duplicate-outcome naming %d", r, orig)
			}
			if b.Ledger().Size() != size {
				t.Fatal("a refused duplicate wrote entries")
			}
			b.checkReplay(t)
		})
	}
}

// TestDuplicateOutcomeInBatch: within one batch the second of two items of
// the same unit and date is rejected, the others stored; a repeat of the
// first under its own key is still answered as that key's duplicate.
func TestDuplicateOutcomeInBatch(t *testing.T) {
	b, college, _ := rtSetup(t)
	first := adUnit("L1", "k1", "DB210", 300)
	res, err := b.PostOutcomes(context.Background(), college, []OutcomeInput{
		first, adUnit("L1", "k2", "DB210", 300), adUnit("L1", "k3", "DB211", 300), first,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != PostCreated || res[2].Status != PostCreated || res[3].Status != PostDuplicate || res[3].Seq != res[0].Seq {
		t.Fatalf("results %+v", res)
	}
	var de *Error
	if res[1].Status != PostRejected || !errors.As(res[1].Err, &de) || de.Code != CodeDuplicateOutcome || *de.Existing != res[0].Seq {
		t.Fatalf("second item %+v", res[1])
	}
	b.checkReplay(t)
}

// TestUnitKeyOfOutcome: the key UnitKeyOfOutcome names is the one a post
// writes, holding the outcome's seq.
func TestUnitKeyOfOutcome(t *testing.T) {
	b, college, _ := rtSetup(t)
	o := adUnit("L1", "k1", "DB210", 300)
	seq := b.post(t, college, o)
	err := b.Ledger().Read(func(r *ledger.Reader) error {
		v, err := r.Get([]byte(UnitKeyOfOutcome(rtCollege, b.ref(t, "L1"), "DB210", o.CompletedOn)))
		if err != nil {
			return err
		}
		if want := []byte{0, 0, 0, 0, 0, 0, 0, byte(seq)}; string(v) != string(want) {
			t.Errorf("unit key holds %x, want %x", v, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUnitFilter: the filter that spares most posts the read of their unit
// key never hides a duplicate: not after the bank restarts (it is built
// from the state), not after it grows past its size (it is rebuilt), not
// for keys a command wrote before it was built.
func TestUnitFilter(t *testing.T) {
	defer func(n int) { unitFilterBits = n }(unitFilterBits)
	unitFilterBits = 64 // one word: it grows after 5 keys
	ctx := context.Background()
	b, college, _ := rtSetup(t)
	var batch []OutcomeInput
	for i := range 40 {
		batch = append(batch, adUnit(fmt.Sprintf("L%d", i%7), fmt.Sprintf("k%d", i), fmt.Sprintf("U%d", i), 300))
	}
	// The first post builds the filter in the middle of its batch; the
	// last item repeats the first.
	res, err := b.PostOutcomes(ctx, college, append(batch, adUnit("L0", "again-0", "U0", 300)))
	if err != nil {
		t.Fatal(err)
	}
	if r := res[len(res)-1]; CodeOf(r.Err) != CodeDuplicateOutcome {
		t.Fatalf("repeat in the first batch: %+v", r)
	}
	if b.units.n != 40 || len(b.units.bits)*64 < 12*40 {
		t.Fatalf("the filter holds %d keys in %d bits", b.units.n, len(b.units.bits)*64)
	}
	// Every key recorded is found again, by this bank and by a bank that
	// opens on the same ledger with no filter yet.
	fresh, err := New(b.Ledger(), b.vault)
	if err != nil {
		t.Fatal(err)
	}
	for _, bank := range []*Bank{b.Bank, fresh} {
		for i, o := range batch {
			o.IdempotencyKey = fmt.Sprintf("again-%d-%p", i, bank)
			r, err := bank.PostOutcomes(ctx, college, []OutcomeInput{o})
			if err != nil || CodeOf(r[0].Err) != CodeDuplicateOutcome || *r[0].Err.(*Error).Existing != res[i].Seq {
				t.Fatalf("repeat of %d: %+v %v", res[i].Seq, r, err)
			}
		}
	}
	b.checkReplay(t)
}
