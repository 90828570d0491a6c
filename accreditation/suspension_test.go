package accreditation

import (
	"context"
	"strings"
	"testing"

	"creditbank/ledger"
)

// TestSuspensionStopsConversions: while an institution is suspended its
// outcomes are not eligible (institution_suspended) and conversions toward
// its programmes are refused; lifting the suspension ends both
// (docs/contract.md section 8).
func TestSuspensionStopsConversions(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		suspend string // which institution: the college (source) or the university (target)
		check   func(t *testing.T, b *testBank, o uint64)
	}{
		{"source outcomes not eligible", rtCollege, func(t *testing.T, b *testBank, o uint64) {
			req := ConversionRequest{Learner: "L1", Rule: "susp", Outcomes: []uint64{o}}
			_, err := b.Convert(ctx, admin, req)
			rtWantReasons(t, rtNotEligible(t, err), []Ineligible{{o, ReasonSuspended}})
			pv, err := b.Preview(admin, req)
			if err != nil || len(pv.Items) != 0 || len(pv.Ineligible) != 1 || pv.Ineligible[0].Reason != ReasonSuspended {
				t.Fatalf("preview %+v %v", pv, err)
			}
		}},
		{"conversions toward the target refused", rtUniv, func(t *testing.T, b *testBank, o uint64) {
			req := ConversionRequest{Learner: "L1", Rule: "susp", Outcomes: []uint64{o}}
			_, err := b.Convert(ctx, Actor{Role: RoleLearner, ID: "L1"}, req)
			rtCode(t, err, CodeInstitutionSuspended)
			_, err = b.Preview(admin, req)
			rtCode(t, err, CodeInstitutionSuspended)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, college, _ := rtSetup(t)
			rtPublish(t, b, rtRule("susp", "BSC"))
			o := b.post(t, college, outcome("L1", "k1"))
			if _, err := b.Suspend(ctx, regulator, tc.suspend, "inspection"); err != nil {
				t.Fatal(err)
			}
			size := b.Ledger().Size()
			tc.check(t, b, o)
			if b.Ledger().Size() != size {
				t.Fatal("a refused conversion wrote")
			}
			if _, err := b.Reinstate(ctx, regulator, tc.suspend, "inspection passed"); err != nil {
				t.Fatal(err)
			}
			c := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "susp", Outcomes: []uint64{o}})
			if c.Granted != 300 || c.Contract != contractV2 {
				t.Fatalf("after the lift: %+v", c)
			}
			b.checkReplay(t)
		})
	}
}

// TestReplaySuspensionByContractVersion: a conversion recorded before
// suspension stopped conversions (no contract version) replays as granted;
// the same conversion recorded under version 2 is a finding.
func TestReplaySuspensionByContractVersion(t *testing.T) {
	entries, _ := adReadV1(t)
	const conv = 29 // L3's conversion while college.example was suspended
	if entries[conv].Type != TypeConversionGranted || !strings.Contains(string(entries[conv].Content), `"L3"`) {
		t.Fatalf("entry %d is not the fixture's conversion while suspended: %s", conv, entries[conv].Content)
	}
	replay := func(es []ledger.Entry) []Finding { return replayed(t, es).Findings() }
	if f := replay(entries); len(f) != 0 {
		t.Fatalf("findings %+v", f)
	}
	c := ptDecode[Conversion](t, entries[conv].Content)
	c.Contract = contractV2
	content, err := ledger.MarshalContent(c)
	if err != nil {
		t.Fatal(err)
	}
	tampered := append([]ledger.Entry(nil), entries...)
	tampered[conv].Content = content
	if f := replay(tampered); len(f) != 1 || f[0].Seq != conv || !strings.Contains(f[0].Problem, ReasonSuspended) {
		t.Fatalf("findings %+v, want conversion %d with %s", f, conv, ReasonSuspended)
	}
}
