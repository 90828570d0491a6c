package accreditation

import (
	"context"
	"reflect"
	"testing"
)

// TestPreview: a preview answers exactly what the conversion asked for
// right after it grants, writes nothing and uses nothing up
// (docs/contract.md section 8).
func TestPreview(t *testing.T) {
	cases := []struct {
		name string
		// setup posts what the case needs and returns the request.
		setup func(t *testing.T, b *testBank, college Actor) ConversionRequest
	}{
		{"every outcome, one capped", func(t *testing.T, b *testBank, college Actor) ConversionRequest {
			for _, k := range []string{"a", "b", "c"} {
				b.post(t, college, adUnit("L1", k, "U-"+k, 300))
			}
			return ConversionRequest{Learner: "L1", Rule: "prev"}
		}},
		{"named outcomes with reasons", func(t *testing.T, b *testBank, college Actor) ConversionRequest {
			good := b.post(t, college, adUnit("L1", "a", "U1", 300))
			low := adUnit("L1", "b", "U2", 300)
			low.Level = 2
			bad := b.post(t, college, low)
			return ConversionRequest{Learner: "L1", Rule: "prev", Outcomes: []uint64{bad, good, good, 999999}}
		}},
		{"some already used", func(t *testing.T, b *testBank, college Actor) ConversionRequest {
			a := b.post(t, college, adUnit("L1", "a", "U1", 200))
			rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "prev", Outcomes: []uint64{a}})
			c := b.post(t, college, adUnit("L1", "c", "U3", 600))
			return ConversionRequest{Learner: "L1", Rule: "prev", Outcomes: []uint64{a, c}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, college, _ := rtSetup(t)
			r := rtRule("prev", "BSC")
			r.Ratio, r.Cap, r.Source.MinLevel = 5000, amountPtr(400), 5
			rtPublish(t, b, r)
			req := tc.setup(t, b, college)
			size := b.Ledger().Size()
			pv, err := b.Preview(Actor{Role: RoleLearner, ID: "L1"}, req)
			if err != nil {
				t.Fatal(err)
			}
			again, err := b.Preview(admin, req)
			if err != nil || !reflect.DeepEqual(pv, again) {
				t.Fatalf("a second preview answers %+v %v, the first %+v", again, err, pv)
			}
			if b.Ledger().Size() != size {
				t.Fatalf("a preview wrote: size %d, was %d", b.Ledger().Size(), size)
			}
			got := rtConvert(t, b, admin, req)
			if !reflect.DeepEqual(pv.Conversion, got.Conversion) || !reflect.DeepEqual(pv.Ineligible, got.Ineligible) {
				t.Fatalf("preview %+v\nconversion %+v", pv, got)
			}
			b.checkReplay(t)
		})
	}
}

// TestPreviewRefusals: nothing eligible is an answer; the refusals are the
// conversion's; none writes anything.
func TestPreviewRefusals(t *testing.T) {
	ctx := context.Background()
	b, college, univ := rtSetup(t)
	rtPublish(t, b, rtRule("prev", "BSC"))
	rtPublish(t, b, rtRule("gone", "BSC"))
	if _, err := b.RetireRule(ctx, regulator, "gone", "replaced"); err != nil {
		t.Fatal(err)
	}
	failed := adUnit("L1", "f", "U1", 300)
	failed.Result.Passed = rtBool(false)
	f := b.post(t, college, failed)
	size := b.Ledger().Size()
	pv, err := b.Preview(admin, ConversionRequest{Learner: "L1", Rule: "prev"})
	if err != nil || len(pv.Items) != 0 || pv.Granted != 0 || !reflect.DeepEqual(pv.Ineligible, []Ineligible{{f, ReasonFailed}}) {
		t.Fatalf("nothing eligible: %+v %v", pv, err)
	}
	cases := []struct {
		name  string
		actor Actor
		req   ConversionRequest
		want  Code
	}{
		{"unknown rule", admin, ConversionRequest{Learner: "L1", Rule: "none"}, CodeNotFound},
		{"retired rule", admin, ConversionRequest{Learner: "L1", Rule: "gone"}, CodeRuleInactive},
		{"another learner", Actor{Role: RoleLearner, ID: "L2"}, ConversionRequest{Learner: "L1", Rule: "prev"}, CodeForbidden},
		{"an institution not the target", college, ConversionRequest{Learner: "L1", Rule: "prev"}, CodeForbidden},
		{"the target institution", univ, ConversionRequest{Learner: "L1", Rule: "prev"}, CodeForbidden},
		{"an institution, for an unknown rule", univ, ConversionRequest{Learner: "L1", Rule: "none"}, CodeForbidden},
		{"a regulator", regulator, ConversionRequest{Learner: "L1", Rule: "prev"}, CodeForbidden},
		{"an empty list", admin, ConversionRequest{Learner: "L1", Rule: "prev", Outcomes: []uint64{}}, CodeInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.Preview(tc.actor, tc.req)
			rtCode(t, err, tc.want)
		})
	}
	if b.Ledger().Size() != size {
		t.Fatal("a preview wrote")
	}
}
