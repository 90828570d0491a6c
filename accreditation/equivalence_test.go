package accreditation

import (
	"context"
	"strings"
	"testing"

	"creditbank/ledger"
)

// Tests of equivalent units (docs/contract.md section 8): the outcomes of
// one group count once toward a target programme.

// eqSetup is rtSetup with two rules toward different programmes (ratio 1,
// no cap), a group {college/U1, univ/U2} valid from 2026-01-01, and one
// outcome of learner L1 of each unit: it returns the bank, the outcomes of
// U1 and U2 and the college.
func eqSetup(t *testing.T) (*testBank, uint64, uint64, Actor) {
	t.Helper()
	b, college, univ := rtSetup(t)
	rtPublish(t, b, rtRule("to-bsc", "BSC"))
	rtPublish(t, b, rtRule("to-ba", "BA"))
	if _, err := b.PublishEquivalence(context.Background(), regulator, EquivalenceInput{ID: "intro-programming",
		Units: []UnitRef{{rtCollege, "U1"}, {rtUniv, "U2"}}, ValidFrom: "2026-01-01"}); err != nil {
		t.Fatal(err)
	}
	u1 := b.post(t, college, adUnit("L1", "a", "U1", 300))
	u2 := b.post(t, univ, adUnit("L1", "b", "U2", 400))
	return b, u1, u2, college
}

func TestEquivalentUnitsCountOnce(t *testing.T) {
	ctx := context.Background()
	t.Run("the first eligible in request order", func(t *testing.T) {
		for _, order := range [][2]int{{0, 1}, {1, 0}} {
			b, u1, u2, _ := eqSetup(t)
			seqs := []uint64{u1, u2}
			req := []uint64{seqs[order[0]], seqs[order[1]]}
			c := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "to-bsc", Outcomes: req})
			if len(c.Items) != 1 || c.Items[0].Outcome != req[0] {
				t.Fatalf("order %v: items %+v", req, c.Items)
			}
			rtWantReasons(t, c.Ineligible, []Ineligible{{req[1], ReasonEquivalentUsed}})
			b.checkReplay(t)
		}
	})
	t.Run("an ineligible first one claims nothing", func(t *testing.T) {
		b, _, u2, college := eqSetup(t)
		low := adUnit("L1", "low", "U1", 300)
		low.CompletedOn = "2026-06-30"
		low.Result.Passed = rtBool(false)
		f := b.post(t, college, low)
		c := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "to-bsc", Outcomes: []uint64{f, u2}})
		if len(c.Items) != 1 || c.Items[0].Outcome != u2 {
			t.Fatalf("items %+v", c.Items)
		}
		b.checkReplay(t)
	})
	t.Run("across conversions toward one programme, not another", func(t *testing.T) {
		b, u1, u2, _ := eqSetup(t)
		rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "to-bsc", Outcomes: []uint64{u1}})
		_, err := b.Convert(ctx, admin, ConversionRequest{Learner: "L1", Rule: "to-bsc", Outcomes: []uint64{u2}})
		rtWantReasons(t, rtNotEligible(t, err), []Ineligible{{u2, ReasonEquivalentUsed}})
		pv, err := b.Preview(admin, ConversionRequest{Learner: "L1", Rule: "to-bsc"})
		if err != nil || len(pv.Items) != 0 {
			t.Fatalf("preview %+v %v", pv, err)
		}
		c := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "to-ba", Outcomes: []uint64{u2}})
		if c.Granted != 400 {
			t.Fatalf("toward another programme: %+v", c)
		}
		b.checkReplay(t)
	})
	t.Run("a revocation frees the group", func(t *testing.T) {
		b, u1, u2, college := eqSetup(t)
		rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "to-bsc", Outcomes: []uint64{u1}})
		if _, err := b.Revoke(ctx, college, u1, "posted in error"); err != nil {
			t.Fatal(err)
		}
		if c := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "to-bsc", Outcomes: []uint64{u2}}); c.Granted != 400 {
			t.Fatalf("%+v", c)
		}
		b.checkReplay(t)
	})
	t.Run("a version without the unit, or a group out of its dates, counts no more", func(t *testing.T) {
		cases := []EquivalenceInput{
			{ID: "intro-programming", Units: []UnitRef{{rtCollege, "U1"}, {rtUniv, "U9"}}, ValidFrom: "2026-01-01"},
			{ID: "intro-programming", Units: []UnitRef{{rtCollege, "U1"}, {rtUniv, "U2"}}, ValidFrom: "2026-01-01", ValidUntil: rtString("2026-07-14")},
			{ID: "intro-programming", Units: []UnitRef{{rtCollege, "U1"}, {rtUniv, "U2"}}, ValidFrom: "2026-07-16"},
		}
		for _, g := range cases {
			b, u1, u2, _ := eqSetup(t)
			v, err := b.PublishEquivalence(ctx, admin, g)
			if err != nil || v.Version != 2 {
				t.Fatalf("version 2: %+v %v", v, err)
			}
			c := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "to-bsc", Outcomes: []uint64{u1, u2}})
			if len(c.Items) != 2 {
				t.Fatalf("group %+v: items %+v, reasons %+v", g, c.Items, c.Ineligible)
			}
			if got, err := b.Equivalence("intro-programming", 0); err != nil || got.Version != 2 || got.Seq != v.Seq {
				t.Fatalf("latest %+v %v", got, err)
			}
			b.checkReplay(t)
		}
	})
	t.Run("a correction does not move an item onto a unit already counted", func(t *testing.T) {
		b, u1, _, college := eqSetup(t)
		other := b.post(t, college, adUnit("L1", "c", "U5", 300))
		rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "to-bsc", Outcomes: []uint64{u1}})
		c2 := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "to-bsc", Outcomes: []uint64{other}})
		if _, err := b.PublishEquivalence(ctx, admin, EquivalenceInput{ID: "intro-programming",
			Units: []UnitRef{{rtCollege, "U1"}, {rtUniv, "U2"}, {rtCollege, "U6"}}, ValidFrom: "2026-01-01"}); err != nil {
			t.Fatal(err)
		}
		fix := adUnit("L1", "c-fix", "U6", 300)
		fix.Supersedes = &other
		pr := rtPostOne(t, b, college, fix)
		if len(pr.Effects) != 1 || pr.Effects[0].Conversion != c2.Seq || pr.Effects[0].Action != ActionReversed ||
			pr.Effects[0].NotEligible != ReasonEquivalentUsed {
			t.Fatalf("effects %+v", pr.Effects)
		}
		b.checkReplay(t)
	})
}

func TestPublishEquivalence(t *testing.T) {
	ctx := context.Background()
	b, _, _ := rtSetup(t)
	g, err := b.PublishEquivalence(ctx, regulator, EquivalenceInput{ID: "stats", Units: []UnitRef{{rtCollege, "ST1"}, {rtUniv, "ST2"}}, ValidFrom: "2026-01-01"})
	if err != nil || g.Version != 1 {
		t.Fatalf("%+v %v", g, err)
	}
	cases := []struct {
		name string
		in   EquivalenceInput
		want Code
	}{
		{"one unit", EquivalenceInput{ID: "x-group", Units: []UnitRef{{rtCollege, "A"}}, ValidFrom: "2026-01-01"}, CodeInvalid},
		{"a unit twice", EquivalenceInput{ID: "x-group", Units: []UnitRef{{rtCollege, "A"}, {rtCollege, "A"}}, ValidFrom: "2026-01-01"}, CodeInvalid},
		{"a bad id", EquivalenceInput{ID: "X", Units: []UnitRef{{rtCollege, "A"}, {rtUniv, "B"}}, ValidFrom: "2026-01-01"}, CodeInvalid},
		{"a bad code", EquivalenceInput{ID: "x-group", Units: []UnitRef{{rtCollege, "A B"}, {rtUniv, "B"}}, ValidFrom: "2026-01-01"}, CodeInvalid},
		{"dates out of order", EquivalenceInput{ID: "x-group", Units: []UnitRef{{rtCollege, "A"}, {rtUniv, "B"}}, ValidFrom: "2026-01-01", ValidUntil: rtString("2025-01-01")}, CodeInvalid},
		{"an unknown institution", EquivalenceInput{ID: "x-group", Units: []UnitRef{{rtCollege, "A"}, {"nowhere.example", "B"}}, ValidFrom: "2026-01-01"}, CodeInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			size := b.Ledger().Size()
			_, err := b.PublishEquivalence(ctx, admin, tc.in)
			rtCode(t, err, tc.want)
			if b.Ledger().Size() != size {
				t.Fatal("a refused group wrote")
			}
		})
	}
	if _, err := b.Equivalence("none", 0); CodeOf(err) != CodeNotFound {
		t.Fatalf("unknown group: %v", err)
	}
	b.checkReplay(t)
}

// TestAuditNamesConversionOfEquivalentUnits: a conversion recorded under
// version 2 that counts two outcomes of one group is a finding.
func TestAuditNamesConversionOfEquivalentUnits(t *testing.T) {
	b, u1, u2, _ := eqSetup(t)
	c := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "to-bsc", Outcomes: []uint64{u1}})
	entries := ptEntries(t, b)
	conv := ptDecode[Conversion](t, entries[c.Seq].Content)
	conv.Items = append(conv.Items, ConversionItem{Outcome: u2, StandardCredits: 400, Granted: 400})
	conv.Granted += 400
	content, err := ledger.MarshalContent(conv)
	if err != nil {
		t.Fatal(err)
	}
	entries[c.Seq].Content = content
	if f := replayed(t, entries).Findings(); len(f) != 1 || f[0].Seq != c.Seq || !strings.Contains(f[0].Problem, ReasonEquivalentUsed) {
		t.Fatalf("findings %+v", f)
	}
}

func rtString(s string) *string { return &s }
