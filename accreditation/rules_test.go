package accreditation

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"creditbank/ledger"
)

// Tests of every rule of docs/contract.md section 3 on a real bank (Pebble in a
// temporary folder): standard credits, caps, double use, eligibility,
// revocation, rule versions and validity, rounding, posting, supersession,
// data-dependent permissions and institutions. Each scenario ends with a
// full replay (checkReplay) where the bank wrote anything.

// ---------------------------------------------------------------- helpers

const (
	rtCollege = "college.example"
	rtUniv    = "univ.example"
)

// rtSetup returns a bank with two fully accredited institutions: a college
// that posts outcomes and a university that rules target.
func rtSetup(t *testing.T) (*testBank, Actor, Actor) {
	t.Helper()
	b := newTestBank(t)
	return b, b.institution(t, rtCollege), b.institution(t, rtUniv)
}

// rtRule is a permissive rule toward univ.example/prog: every sector, any
// level and field, ratio 1, no cap, valid from 2026-01-01.
func rtRule(id, prog string) RuleInput {
	return RuleInput{
		ID: id, Target: Target{Institution: rtUniv, Programme: prog},
		Source: RuleSource{Sectors: Sectors()},
		Ratio:  10000, ValidFrom: "2026-01-01",
	}
}

func rtPublish(t *testing.T, b *testBank, r RuleInput) Rule {
	t.Helper()
	rule, err := b.PublishRule(context.Background(), regulator, r)
	if err != nil {
		t.Fatalf("publish %s: %v", r.ID, err)
	}
	return rule
}

func rtLearner(id string) Actor { return Actor{Role: RoleLearner, ID: id} }

// rtConvert converts and fails the test on any error.
func rtConvert(t *testing.T, b *testBank, actor Actor, req ConversionRequest) ConversionResult {
	t.Helper()
	res, err := b.Convert(context.Background(), actor, req)
	if err != nil {
		t.Fatalf("convert %+v: %v", req, err)
	}
	return res
}

// rtCode fails the test unless err carries the code want.
func rtCode(t *testing.T, err error, want Code) {
	t.Helper()
	if got := CodeOf(err); got != want {
		t.Fatalf("error %v: code %q, want %q", err, got, want)
	}
}

// rtNotEligible fails the test unless err is CodeNotEligible, and returns
// its reasons.
func rtNotEligible(t *testing.T, err error) []Ineligible {
	t.Helper()
	rtCode(t, err, CodeNotEligible)
	return err.(*Error).Reasons
}

// rtPostOne posts one outcome and returns its result, whatever it is.
func rtPostOne(t *testing.T, b *testBank, inst Actor, o OutcomeInput) PostResult {
	t.Helper()
	res, err := b.PostOutcomes(context.Background(), inst, []OutcomeInput{o})
	if err != nil {
		t.Fatalf("post %s: %v", o.IdempotencyKey, err)
	}
	if len(res) != 1 {
		t.Fatalf("post %s: %d results", o.IdempotencyKey, len(res))
	}
	return res[0]
}

// rtPostRejected posts one outcome, expects it rejected with code want and
// nothing written.
func rtPostRejected(t *testing.T, b *testBank, inst Actor, o OutcomeInput, want Code) {
	t.Helper()
	size := b.Ledger().Size()
	r := rtPostOne(t, b, inst, o)
	if r.Status != PostRejected {
		t.Fatalf("post %s: status %s (seq %d), want rejected with %s", o.IdempotencyKey, r.Status, r.Seq, want)
	}
	rtCode(t, r.Err, want)
	if got := b.Ledger().Size(); got != size {
		t.Fatalf("rejected post wrote %d entries", got-size)
	}
}

// rtEntry reads and parses the durable entry at seq.
func rtEntry(t *testing.T, b *testBank, seq uint64) ledger.Entry {
	t.Helper()
	var e ledger.Entry
	err := b.Ledger().Read(func(r *ledger.Reader) error {
		raw, err := r.Entry(seq)
		if err != nil {
			return err
		}
		e, err = ledger.ParseEntry(raw)
		return err
	})
	if err != nil {
		t.Fatalf("entry %d: %v", seq, err)
	}
	return e
}

// rtContent reads the entry at seq, checks its type and decodes its content.
func rtContent[T any](t *testing.T, b *testBank, seq uint64, typ string) T {
	t.Helper()
	e := rtEntry(t, b, seq)
	if e.Type != typ {
		t.Fatalf("entry %d is a %s, want %s", seq, e.Type, typ)
	}
	var v T
	if err := json.Unmarshal(e.Content, &v); err != nil {
		t.Fatalf("entry %d: %v", seq, err)
	}
	return v
}

func rtHours(h int64) *int64 { return &h }

func rtReasons(list []Ineligible) string { return fmt.Sprintf("%+v", list) }

// rtWantReasons fails unless got names exactly the outcomes and reasons of
// want, in order.
func rtWantReasons(t *testing.T, got, want []Ineligible) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("reasons %s, want %s", rtReasons(got), rtReasons(want))
	}
}

func rtTranscript(t *testing.T, b *testBank, learner string) *Transcript {
	t.Helper()
	tr, err := b.Transcript(learner, "", 1000)
	if err != nil {
		t.Fatalf("transcript %s: %v", learner, err)
	}
	return tr
}

func rtBalance(t *testing.T, b *testBank, learner string) *Balance {
	t.Helper()
	bal, err := b.Balance(learner)
	if err != nil {
		t.Fatalf("balance %s: %v", learner, err)
	}
	return bal
}

// --------------------------------------------------------- standard credits

func TestRulesStandardCredits(t *testing.T) {
	b, college, _ := rtSetup(t)
	rtPublish(t, b, rtRule("all-to-univ", "ANY"))
	cases := []struct {
		name   string
		amount Amount
		system string
		hours  *int64
		failed bool
		want   Amount
	}{
		{"cn-credit 3", 300, "cn-credit", nil, false, 300},
		{"ects 1 is 27.5/16", 100, "ects", nil, false, 172},        // 1.71875
		{"ects 2", 200, "ects", nil, false, 344},                   // 3.4375
		{"kr-credit 1 is 15/16", 100, "kr-credit", nil, false, 94}, // 0.9375
		{"hk-qf 1 is 0.625 half-even", 100, "hk-qf", nil, false, 62},
		{"hk-qf 3 is 1.875 half-even", 300, "hk-qf", nil, false, 188},
		{"us-semester 1 is 45/16", 100, "us-semester", nil, false, 281}, // 2.8125
		{"hours 24", 2400, "hours", nil, false, 150},
		{"hours 1 is 0.0625", 100, "hours", nil, false, 6},
		{"hours 0.16", 16, "hours", nil, false, 1},
		{"hours given override cn-credit", 200, "cn-credit", rtHours(48), false, 300},
		{"hours given override ects", 500, "ects", rtHours(120), false, 750},
		{"hours 1 override is 0.0625", 5, "cn-credit", rtHours(1), false, 6},
		{"failed cn-credit", 300, "cn-credit", nil, true, 0},
		{"failed with hours", 300, "cn-credit", rtHours(48), true, 0},
	}
	var total Amount
	var failedSeqs []uint64
	var passedSeq uint64
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := outcome("L1", fmt.Sprintf("sc-%d", i))
			o.Credits = Credits{Amount: tc.amount, System: tc.system}
			o.Hours = tc.hours
			if tc.failed {
				o.Result.Passed = rtBool(false)
			}
			r := rtPostOne(t, b, college, o)
			if r.Status != PostCreated {
				t.Fatalf("status %s: %v", r.Status, r.Err)
			}
			if r.Outcome.StandardCredits != tc.want {
				t.Fatalf("standard credits %s, want %s", r.Outcome.StandardCredits, tc.want)
			}
			total += tc.want
			if tc.failed {
				failedSeqs = append(failedSeqs, r.Seq)
			} else if tc.want > 0 {
				passedSeq = r.Seq
			}
			tr := rtTranscript(t, b, "L1")
			last := tr.Outcomes[len(tr.Outcomes)-1]
			if last.Seq != r.Seq || last.StandardCredits != tc.want || last.Status != "active" {
				t.Fatalf("transcript outcome %+v", last)
			}
		})
	}
	t.Run("balance sums passed outcomes", func(t *testing.T) {
		bal := rtBalance(t, b, "L1")
		if bal.StandardCredits != total || bal.BySector["non_degree"]["5-6"] != total {
			t.Fatalf("balance %+v, want %s", bal, total)
		}
	})
	t.Run("failed never eligible", func(t *testing.T) {
		_, err := b.Convert(context.Background(), admin, ConversionRequest{Learner: "L1", Rule: "all-to-univ", Outcomes: failedSeqs})
		want := []Ineligible{}
		for _, s := range failedSeqs {
			want = append(want, Ineligible{Outcome: s, Reason: ReasonFailed})
		}
		rtWantReasons(t, rtNotEligible(t, err), want)
		res := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "all-to-univ", Outcomes: append([]uint64{passedSeq}, failedSeqs...)})
		if len(res.Items) != 1 || res.Items[0].Outcome != passedSeq {
			t.Fatalf("items %+v", res.Items)
		}
		rtWantReasons(t, res.Ineligible, want)
	})
	t.Run("failed even with a high score is not selected", func(t *testing.T) {
		o := outcome("L2", "sc-failed-score")
		o.Result = Result{Passed: rtBool(false), Score: amountPtr(9900)}
		s := b.post(t, college, o)
		_, err := b.Convert(context.Background(), rtLearner("L2"), ConversionRequest{Learner: "L2", Rule: "all-to-univ"})
		rtWantReasons(t, rtNotEligible(t, err), []Ineligible{{s, ReasonFailed}})
	})
	b.checkReplay(t)
}

// --------------------------------------------------------------------- caps

func TestRulesCaps(t *testing.T) {
	type step struct {
		use     []int          // outcome indexes named
		granted []Amount       // per item converted, in order (nil: expect NotEligible)
		capped  bool           // on success
		reasons map[int]string // outcome index → reason
	}
	cases := []struct {
		name    string
		cap     *Amount
		ratio   Ratio
		credits []Amount // cn-credit amounts
		steps   []step
	}{
		{"cap reached across three conversions", amountPtr(500), 10000, []Amount{300, 300, 300}, []step{
			{use: []int{0}, granted: []Amount{300}},
			{use: []int{1, 2}, granted: []Amount{200}, capped: true, reasons: map[int]string{2: ReasonCapReached}},
			{use: []int{2}, reasons: map[int]string{2: ReasonCapReached}},
		}},
		{"exactly at cap then refused", amountPtr(600), 10000, []Amount{300, 300, 300}, []step{
			{use: []int{0, 1}, granted: []Amount{300, 300}, capped: true}, // the cap is reached exactly
			{use: []int{2}, reasons: map[int]string{2: ReasonCapReached}},
		}},
		{"cap cut in the first conversion", amountPtr(400), 10000, []Amount{300, 300, 300}, []step{
			{use: []int{0, 1, 2}, granted: []Amount{300, 100}, capped: true, reasons: map[int]string{2: ReasonCapReached}},
			{use: []int{2}, reasons: map[int]string{2: ReasonCapReached}},
		}},
		{"cap with ratio 0.5", amountPtr(250), 5000, []Amount{300, 300, 300}, []step{
			{use: []int{0}, granted: []Amount{150}},
			{use: []int{1}, granted: []Amount{100}, capped: true},
			{use: []int{2}, reasons: map[int]string{2: ReasonCapReached}},
		}},
		{"cap counts in request order", amountPtr(500), 10000, []Amount{300, 1000, 100}, []step{
			{use: []int{2, 1, 0}, granted: []Amount{100, 400}, capped: true, reasons: map[int]string{0: ReasonCapReached}},
		}},
		{"no cap", nil, 20000, []Amount{300, 300, 300, 1000}, []step{
			{use: []int{0}, granted: []Amount{600}},
			{use: []int{1, 2}, granted: []Amount{600, 600}},
			{use: []int{3}, granted: []Amount{2000}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			b, college, _ := rtSetup(t)
			r := rtRule("capped", "BSC")
			r.Cap, r.Ratio = tc.cap, tc.ratio
			rtPublish(t, b, r)
			seqs := make([]uint64, len(tc.credits))
			for i, c := range tc.credits {
				o := outcome("L1", fmt.Sprintf("cap-%d", i))
				o.Credits.Amount = c
				seqs[i] = b.post(t, college, o)
			}
			var sum Amount
			for si, st := range tc.steps {
				req := ConversionRequest{Learner: "L1", Rule: "capped"}
				for _, i := range st.use {
					req.Outcomes = append(req.Outcomes, seqs[i])
				}
				var wantReasons []Ineligible
				for _, i := range st.use {
					if reason, ok := st.reasons[i]; ok {
						wantReasons = append(wantReasons, Ineligible{Outcome: seqs[i], Reason: reason})
					}
				}
				res, err := b.Convert(ctx, rtLearner("L1"), req)
				if st.granted == nil {
					rtWantReasons(t, rtNotEligible(t, err), wantReasons)
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", si, err)
				}
				var got []Amount
				var total Amount
				for _, it := range res.Items {
					got = append(got, it.Granted)
					total += it.Granted
				}
				if !slices.Equal(got, st.granted) || res.Granted != total || res.Capped != st.capped {
					t.Fatalf("step %d: items %+v granted %s capped %t; want %v capped %t", si, res.Items, res.Granted, res.Capped, st.granted, st.capped)
				}
				rtWantReasons(t, res.Ineligible, wantReasons)
				sum += total
			}
			if g := rtBalance(t, b, "L1").Granted[rtUniv+"/BSC"]; g != sum {
				t.Fatalf("balance granted %s, want %s", g, sum)
			}
			if tc.cap != nil && sum > *tc.cap {
				t.Fatalf("granted %s above cap %s", sum, *tc.cap)
			}
			b.checkReplay(t)
		})
	}
	t.Run("cap is per learner", func(t *testing.T) {
		b, college, _ := rtSetup(t)
		r := rtRule("capped", "BSC")
		r.Cap = amountPtr(300)
		rtPublish(t, b, r)
		for _, l := range []string{"L1", "L2"} {
			b.post(t, college, outcome(l, "k-"+l))
			res := rtConvert(t, b, rtLearner(l), ConversionRequest{Learner: l, Rule: "capped"})
			// Each learner reaches the cap of 3 on their own.
			if res.Granted != 300 || !res.Capped {
				t.Fatalf("%s: %+v", l, res)
			}
		}
		b.checkReplay(t)
	})
}

// --------------------------------------------------------------- double use

func TestRulesDoubleUse(t *testing.T) {
	ctx := context.Background()
	b, college, _ := rtSetup(t)
	rtPublish(t, b, rtRule("rule-a", "BSC"))
	rtPublish(t, b, rtRule("rule-b", "BSC")) // same target as rule-a
	rtPublish(t, b, rtRule("rule-c", "BA"))  // another programme
	o1 := b.post(t, college, outcome("L1", "k1"))
	o2 := b.post(t, college, outcome("L1", "k2"))
	o3 := b.post(t, college, outcome("L1", "k3"))

	t.Run("first use", func(t *testing.T) {
		res := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "rule-a", Outcomes: []uint64{o1}})
		if res.Granted != 300 {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("same rule again refused", func(t *testing.T) {
		_, err := b.Convert(ctx, admin, ConversionRequest{Learner: "L1", Rule: "rule-a", Outcomes: []uint64{o1}})
		rtWantReasons(t, rtNotEligible(t, err), []Ineligible{{o1, ReasonAlreadyUsed}})
	})
	t.Run("other rule with the same target refused", func(t *testing.T) {
		_, err := b.Convert(ctx, admin, ConversionRequest{Learner: "L1", Rule: "rule-b", Outcomes: []uint64{o1}})
		rtWantReasons(t, rtNotEligible(t, err), []Ineligible{{o1, ReasonAlreadyUsed}})
		res := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "rule-b", Outcomes: []uint64{o1, o2}})
		if len(res.Items) != 1 || res.Items[0].Outcome != o2 {
			t.Fatalf("items %+v", res.Items)
		}
		rtWantReasons(t, res.Ineligible, []Ineligible{{o1, ReasonAlreadyUsed}})
	})
	t.Run("selecting all skips used ones", func(t *testing.T) {
		res := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "rule-b"})
		if len(res.Items) != 1 || res.Items[0].Outcome != o3 {
			t.Fatalf("items %+v", res.Items)
		}
		rtWantReasons(t, res.Ineligible, []Ineligible{{o1, ReasonAlreadyUsed}, {o2, ReasonAlreadyUsed}})
	})
	t.Run("another programme allowed", func(t *testing.T) {
		res := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "rule-c", Outcomes: []uint64{o1, o2, o3}})
		if res.Granted != 900 || len(res.Ineligible) != 0 {
			t.Fatalf("%+v", res)
		}
		bal := rtBalance(t, b, "L1")
		if bal.Granted[rtUniv+"/BSC"] != 900 || bal.Granted[rtUniv+"/BA"] != 900 {
			t.Fatalf("balance %+v", bal.Granted)
		}
	})
	t.Run("named twice in one request", func(t *testing.T) {
		o4 := b.post(t, college, outcome("L1", "k4"))
		res := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "rule-a", Outcomes: []uint64{o4, o4}})
		if len(res.Items) != 1 || res.Items[0].Outcome != o4 || res.Granted != 300 {
			t.Fatalf("%+v", res)
		}
		rtWantReasons(t, res.Ineligible, []Ineligible{{o4, ReasonDuplicate}})
	})
	b.checkReplay(t)
}

// -------------------------------------------------------------- eligibility

func TestRulesEligibility(t *testing.T) {
	ctx := context.Background()
	b, college, _ := rtSetup(t)
	b.institution(t, "other.example")
	cases := []struct {
		name   string
		source func(*RuleSource)
		out    func(*OutcomeInput)
		want   string // "" eligible
	}{
		{"level below", func(s *RuleSource) { s.MinLevel = 6 }, func(o *OutcomeInput) { o.Level = 5 }, ReasonLevel},
		{"level at minimum", func(s *RuleSource) { s.MinLevel = 6 }, func(o *OutcomeInput) { o.Level = 6 }, ""},
		{"score below", func(s *RuleSource) { s.MinScore = amountPtr(6000) }, func(o *OutcomeInput) { o.Result.Score = amountPtr(5999) }, ReasonScore},
		{"no score with min_score", func(s *RuleSource) { s.MinScore = amountPtr(6000) }, func(o *OutcomeInput) { o.Result.Score = nil }, ReasonScore},
		{"score at minimum", func(s *RuleSource) { s.MinScore = amountPtr(6000) }, func(o *OutcomeInput) { o.Result.Score = amountPtr(6000) }, ""},
		{"no score without min_score", nil, func(o *OutcomeInput) { o.Result.Score = nil }, ""},
		{"field 06 matches 0613", func(s *RuleSource) { s.Fields = []string{"06"} }, nil, ""},
		{"field 061 matches 0613", func(s *RuleSource) { s.Fields = []string{"061"} }, nil, ""},
		{"field 0613 matches 0613", func(s *RuleSource) { s.Fields = []string{"0613"} }, nil, ""},
		{"field 0612 does not match 0613", func(s *RuleSource) { s.Fields = []string{"0612"} }, nil, ReasonField},
		{"field 07 does not match 0613", func(s *RuleSource) { s.Fields = []string{"07"} }, nil, ReasonField},
		{"field 06 does not match 0713", func(s *RuleSource) { s.Fields = []string{"06"} }, func(o *OutcomeInput) { o.Field = "0713" }, ReasonField},
		{"field list any of", func(s *RuleSource) { s.Fields = []string{"0612", "07", "061"} }, nil, ""},
		{"field 0613 does not match broad 06", func(s *RuleSource) { s.Fields = []string{"0613"} }, func(o *OutcomeInput) { o.Field = "06" }, ReasonField},
		{"wrong sector", func(s *RuleSource) { s.Sectors = []string{"degree", "vocational"} }, nil, ReasonSector},
		{"right sector", func(s *RuleSource) { s.Sectors = []string{"degree", "non_degree"} }, nil, ""},
		{"institution not listed", func(s *RuleSource) { s.Institutions = []string{"other.example"} }, nil, ReasonInstitution},
		{"institution listed", func(s *RuleSource) { s.Institutions = []string{"other.example", rtCollege} }, nil, ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rtRule(fmt.Sprintf("elig-%d", i), fmt.Sprintf("P%d", i))
			if tc.source != nil {
				tc.source(&r.Source)
			}
			rtPublish(t, b, r)
			o := outcome("L1", fmt.Sprintf("elig-%d", i))
			if tc.out != nil {
				tc.out(&o)
			}
			s := b.post(t, college, o)
			size := b.Ledger().Size()
			res, err := b.Convert(ctx, admin, ConversionRequest{Learner: "L1", Rule: r.ID, Outcomes: []uint64{s}})
			if tc.want != "" {
				rtWantReasons(t, rtNotEligible(t, err), []Ineligible{{s, tc.want}})
				if b.Ledger().Size() != size {
					t.Fatal("a refused conversion wrote entries")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Items) != 1 || res.Items[0].Outcome != s || res.Granted != 300 {
				t.Fatalf("%+v", res)
			}
		})
	}

	t.Run("not found and all reasons named", func(t *testing.T) {
		r := rtRule("strict", "STRICT")
		r.Source = RuleSource{Sectors: []string{"non_degree"}, MinLevel: 6, Fields: []string{"061"}, MinScore: amountPtr(6000), Institutions: []string{rtCollege}}
		rtPublish(t, b, r)
		mk := func(key string, f func(*OutcomeInput)) uint64 {
			o := outcome("L9", key)
			f(&o)
			return b.post(t, college, o)
		}
		low := mk("all-low", func(o *OutcomeInput) { o.Level = 4 })
		noScore := mk("all-noscore", func(o *OutcomeInput) { o.Result.Score = nil })
		field := mk("all-field", func(o *OutcomeInput) { o.Field = "0521" })
		sector := mk("all-sector", func(o *OutcomeInput) { o.Sector = "degree" })
		fail := mk("all-failed", func(o *OutcomeInput) { o.Result.Passed = rtBool(false) })
		rev := mk("all-revoked", func(*OutcomeInput) {})
		if _, err := b.Revoke(ctx, college, rev, "error"); err != nil {
			t.Fatal(err)
		}
		otherInst := b.post(t, Actor{Role: RoleInstitution, ID: "other.example"}, outcome("L9", "all-other-inst"))
		otherLearner := b.post(t, college, outcome("L8", "all-other-learner"))
		unknown := uint64(999999)
		asked := []uint64{low, noScore, field, sector, fail, rev, otherInst, otherLearner, unknown, low}
		size := b.Ledger().Size()
		_, err := b.Convert(ctx, rtLearner("L9"), ConversionRequest{Learner: "L9", Rule: "strict", Outcomes: asked})
		rtWantReasons(t, rtNotEligible(t, err), []Ineligible{
			{low, ReasonLevel}, {noScore, ReasonScore}, {field, ReasonField}, {sector, ReasonSector},
			{fail, ReasonFailed}, {rev, ReasonRevoked}, {otherInst, ReasonInstitution},
			{otherLearner, ReasonNotFound}, {unknown, ReasonNotFound}, {low, ReasonLevel},
		})
		if b.Ledger().Size() != size {
			t.Fatal("a refused conversion wrote entries")
		}
		// Selecting everything names every outcome of the learner.
		_, err = b.Convert(ctx, rtLearner("L9"), ConversionRequest{Learner: "L9", Rule: "strict"})
		rtWantReasons(t, rtNotEligible(t, err), []Ineligible{
			{low, ReasonLevel}, {noScore, ReasonScore}, {field, ReasonField}, {sector, ReasonSector},
			{fail, ReasonFailed}, {rev, ReasonRevoked}, {otherInst, ReasonInstitution},
		})
		// A learner with nothing at all.
		_, err = b.Convert(ctx, rtLearner("L7"), ConversionRequest{Learner: "L7", Rule: "strict"})
		rtCode(t, err, CodeNotEligible)
	})
	b.checkReplay(t)
}

func TestRulesMaxAge(t *testing.T) {
	cases := []struct {
		name      string
		maxAge    int
		completed string
		on        string
		want      string
	}{
		{"30 days exactly", 30, "2026-07-01", "2026-07-31", ""},
		{"31 days", 30, "2026-07-01", "2026-08-01", ReasonTooOld},
		{"0 days same day", 0, "2026-07-15", "2026-07-15", ""},
		{"0 days one day", 0, "2026-07-14", "2026-07-15", ReasonTooOld},
		{"1825 days exactly over a leap year", 1825, "2021-07-16", "2026-07-15", ""},
		{"1826 days", 1825, "2021-07-15", "2026-07-15", ReasonTooOld},
		{"no max age", -1, "2001-01-01", "2026-07-15", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, college, _ := rtSetup(t)
			r := rtRule("aged", "BSC")
			if tc.maxAge >= 0 {
				r.Source.MaxAgeDays = &tc.maxAge
			}
			rtPublish(t, b, r)
			o := outcome("L1", "aged")
			o.CompletedOn = tc.completed
			s := b.post(t, college, o)
			b.clock.SetDate(t, tc.on)
			res, err := b.Convert(context.Background(), rtLearner("L1"), ConversionRequest{Learner: "L1", Rule: "aged", Outcomes: []uint64{s}})
			if tc.want != "" {
				rtWantReasons(t, rtNotEligible(t, err), []Ineligible{{s, tc.want}})
			} else if err != nil {
				t.Fatal(err)
			} else if res.On != tc.on || res.Granted != 300 {
				t.Fatalf("%+v", res)
			}
			b.checkReplay(t)
		})
	}
	t.Run("ages as the clock moves", func(t *testing.T) {
		b, college, _ := rtSetup(t)
		r := rtRule("aged", "BSC")
		tenDays := 10
		r.Source.MaxAgeDays = &tenDays
		rtPublish(t, b, r)
		// The clock only moves forward (the ledger never stamps an earlier
		// time), so the outcomes are completed before today, 2026-07-15.
		oa, oc := outcome("L1", "a"), outcome("L1", "c")
		oa.CompletedOn, oc.CompletedOn = "2026-07-10", "2026-07-10"
		a := b.post(t, college, oa)
		c := b.post(t, college, oc)
		b.clock.SetDate(t, "2026-07-20") // 10 days
		rtConvert(t, b, rtLearner("L1"), ConversionRequest{Learner: "L1", Rule: "aged", Outcomes: []uint64{a}})
		b.clock.SetDate(t, "2026-07-21") // 11 days
		_, err := b.Convert(context.Background(), rtLearner("L1"), ConversionRequest{Learner: "L1", Rule: "aged", Outcomes: []uint64{c}})
		rtWantReasons(t, rtNotEligible(t, err), []Ineligible{{c, ReasonTooOld}})
		b.checkReplay(t)
	})
}

// --------------------------------------------------------------- revocation

func TestRulesRevocation(t *testing.T) {
	ctx := context.Background()
	t.Run("reverses its item by an entry of its own and frees that much of the cap", func(t *testing.T) {
		b, college, _ := rtSetup(t)
		r := rtRule("capped", "BSC")
		r.Cap = amountPtr(500)
		rtPublish(t, b, r)
		o1 := b.post(t, college, outcome("L1", "k1"))
		o2 := b.post(t, college, outcome("L1", "k2"))
		o3 := b.post(t, college, outcome("L1", "k3"))
		o4 := b.post(t, college, outcome("L1", "k4"))
		// conv1 uses o1 and o4 (3 + 2, capped); conv2 finds the cap used up.
		conv1 := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "capped", Outcomes: []uint64{o1, o4}})
		if conv1.Granted != 500 || !conv1.Capped {
			t.Fatalf("conv1 %+v", conv1)
		}
		_, err := b.Convert(ctx, admin, ConversionRequest{Learner: "L1", Rule: "capped", Outcomes: []uint64{o2}})
		rtWantReasons(t, rtNotEligible(t, err), []Ineligible{{o2, ReasonCapReached}})

		size := b.Ledger().Size()
		rev, err := b.Revoke(ctx, college, o1, "posted in error")
		if err != nil {
			t.Fatal(err)
		}
		if rev.Seq != size || !slices.Equal(rev.Reversals, []uint64{size + 1}) || b.Ledger().Size() != size+2 {
			t.Fatalf("revocation %+v at size %d, now %d", rev, size, b.Ledger().Size())
		}
		rv := rtContent[Revocation](t, b, rev.Seq, TypeOutcomeRevoked)
		if rv.Outcome != o1 || rv.Reason != "posted in error" || rv.Learner != b.ref(t, "L1") || rv.Institution != rtCollege {
			t.Fatalf("revocation content %+v", rv)
		}
		re := rtContent[Adjustment](t, b, rev.Reversals[0], TypeConversionAdjusted)
		want := ItemChange{Outcome: o1, Action: ActionReversed, StandardCredits: 300, Granted: 300}
		if re.Conversion != conv1.Seq || re.Outcome != o1 || re.Rule != (RuleRef{"capped", 1}) || re.Learner != b.ref(t, "L1") ||
			len(re.Items) != 1 || !reflect.DeepEqual(re.Items[0], want) {
			t.Fatalf("adjustment content %+v", re)
		}
		if len(rev.Effects) != 1 || rev.Effects[0] != (ItemEffect{Seq: rev.Reversals[0], Conversion: conv1.Seq, ItemChange: want}) {
			t.Fatalf("effects %+v", rev.Effects)
		}
		// o4's item stands: 2 of the cap's 5 stay granted.
		bal := rtBalance(t, b, "L1")
		if bal.StandardCredits != 900 || bal.Granted[rtUniv+"/BSC"] != 200 {
			t.Fatalf("balance %+v", bal)
		}
		tr := rtTranscript(t, b, "L1")
		if tr.Outcomes[0].Seq != o1 || tr.Outcomes[0].Status != "revoked" || tr.Conversions[0].Status != "adjusted" ||
			tr.Conversions[0].ReversedBy != nil || !slices.Equal(tr.Conversions[0].AdjustedBy, rev.Reversals) ||
			!slices.Equal(tr.Conversions[0].InForce, []ConversionItem{{Outcome: o4, StandardCredits: 300, Granted: 200}}) {
			t.Fatalf("transcript %+v", tr)
		}
		// Three of the cap are free again; o4 is still used.
		conv2 := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "capped", Outcomes: []uint64{o1, o4, o2, o3}})
		if conv2.Granted != 300 || !conv2.Capped || len(conv2.Items) != 1 || conv2.Items[0] != (ConversionItem{Outcome: o2, StandardCredits: 300, Granted: 300}) {
			t.Fatalf("conv2 %+v", conv2)
		}
		rtWantReasons(t, conv2.Ineligible, []Ineligible{{o1, ReasonRevoked}, {o4, ReasonAlreadyUsed}, {o3, ReasonCapReached}})
		if g := rtBalance(t, b, "L1").Granted[rtUniv+"/BSC"]; g != 500 {
			t.Fatalf("granted %s", g)
		}
		b.checkReplay(t)
	})
	t.Run("reverses every conversion that used it", func(t *testing.T) {
		b, college, _ := rtSetup(t)
		rtPublish(t, b, rtRule("to-bsc", "BSC"))
		rtPublish(t, b, rtRule("to-ba", "BA"))
		o1 := b.post(t, college, outcome("L1", "k1"))
		c1 := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "to-bsc"})
		c2 := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "to-ba"})
		rev, err := b.Revoke(ctx, regulator, o1, "fraud")
		if err != nil {
			t.Fatal(err)
		}
		if len(rev.Reversals) != 2 {
			t.Fatalf("%+v", rev)
		}
		var got []uint64
		for _, s := range rev.Reversals {
			got = append(got, rtContent[Adjustment](t, b, s, TypeConversionAdjusted).Conversion)
		}
		slices.Sort(got)
		if !slices.Equal(got, []uint64{c1.Seq, c2.Seq}) {
			t.Fatalf("reversed %v, want %d and %d", got, c1.Seq, c2.Seq)
		}
		if bal := rtBalance(t, b, "L1"); len(bal.Granted) != 0 || bal.StandardCredits != 0 {
			t.Fatalf("balance %+v", bal)
		}
		// Their only item gone, both conversions read as reversed.
		for _, c := range rtTranscript(t, b, "L1").Conversions {
			if c.Status != "reversed" || c.ReversedBy == nil {
				t.Fatalf("conversion %+v", c)
			}
		}
		b.checkReplay(t)
	})
	t.Run("who may revoke", func(t *testing.T) {
		b, college, univ := rtSetup(t)
		cases := []struct {
			name  string
			actor Actor
			want  Code
		}{
			{"another institution", univ, CodeForbidden},
			{"a learner", rtLearner("L1"), CodeForbidden},
			{"the learner's own", rtLearner("L1"), CodeForbidden},
			{"admin", admin, CodeForbidden},
			{"a regulator", regulator, ""},
			{"the posting institution", college, ""},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				s := b.post(t, college, outcome("L1", fmt.Sprintf("who-%d", i)))
				size := b.Ledger().Size()
				_, err := b.Revoke(ctx, tc.actor, s, "reason")
				if tc.want != "" {
					rtCode(t, err, tc.want)
					if b.Ledger().Size() != size {
						t.Fatal("a refused revocation wrote entries")
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				_, err = b.Revoke(ctx, tc.actor, s, "again")
				rtCode(t, err, CodeConflict)
			})
		}
		t.Run("unknown outcome", func(t *testing.T) {
			_, err := b.Revoke(ctx, regulator, 999999, "reason")
			rtCode(t, err, CodeNotFound)
			_, err = b.Revoke(ctx, regulator, 0, "not an outcome") // entry 0 registers the college
			rtCode(t, err, CodeNotFound)
		})
		b.checkReplay(t)
	})
}

// ------------------------------------------------------------ rule versions

func TestRulesVersions(t *testing.T) {
	ctx := context.Background()
	t.Run("new version leaves past conversions unchanged", func(t *testing.T) {
		b, college, _ := rtSetup(t)
		r := rtRule("versioned", "BSC")
		r.Ratio = 5000
		v1 := rtPublish(t, b, r)
		o1 := b.post(t, college, outcome("L1", "k1"))
		o2 := b.post(t, college, outcome("L1", "k2"))
		c1 := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "versioned", Outcomes: []uint64{o1}})
		r.Ratio = 20000
		v2 := rtPublish(t, b, r)
		if v1.Version != 1 || v2.Version != 2 {
			t.Fatalf("versions %d %d", v1.Version, v2.Version)
		}
		c2 := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "versioned", Outcomes: []uint64{o2}})
		if c1.Rule != (RuleRef{"versioned", 1}) || c1.Granted != 150 || c2.Rule != (RuleRef{"versioned", 2}) || c2.Granted != 600 {
			t.Fatalf("c1 %+v c2 %+v", c1, c2)
		}
		tr := rtTranscript(t, b, "L1")
		if len(tr.Conversions) != 2 {
			t.Fatalf("%+v", tr.Conversions)
		}
		t1, t2 := tr.Conversions[0], tr.Conversions[1]
		if t1.Seq != c1.Seq || t1.Rule.Version != 1 || t1.Granted != 150 || t1.Items[0] != (ConversionItem{Outcome: o1, StandardCredits: 300, Granted: 150}) || t1.Status != "granted" {
			t.Fatalf("transcript first %+v", t1)
		}
		if t2.Seq != c2.Seq || t2.Rule.Version != 2 || t2.Granted != 600 || t2.Items[0] != (ConversionItem{Outcome: o2, StandardCredits: 300, Granted: 600}) {
			t.Fatalf("transcript second %+v", t2)
		}
		page, err := b.AuditConversions(AuditFilter{Rule: "versioned"}, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Conversions) != 2 {
			t.Fatalf("audit %+v", page)
		}
		a1, a2 := page.Conversions[0], page.Conversions[1]
		if a1.Rule.Version != 1 || a1.Granted != 150 || len(a1.Sources) != 1 || a1.Sources[0].Outcome != o1 || a1.Sources[0].Institution != rtCollege ||
			a2.Rule.Version != 2 || a2.Granted != 600 || a2.Sources[0].Outcome != o2 {
			t.Fatalf("audit %+v", page.Conversions)
		}
		got, retired, err := b.Rule("versioned", 1)
		if err != nil || retired || got.Version != 1 || got.Ratio != 5000 || got.Seq != v1.Seq {
			t.Fatalf("rule v1 %+v %t %v", got, retired, err)
		}
		got, _, err = b.Rule("versioned", 0)
		if err != nil || got.Version != 2 || got.Ratio != 20000 {
			t.Fatalf("rule latest %+v %v", got, err)
		}
		_, _, err = b.Rule("versioned", 3)
		rtCode(t, err, CodeNotFound)
		_, _, err = b.Rule("nothing", 0)
		rtCode(t, err, CodeNotFound)
		if g := rtBalance(t, b, "L1").Granted[rtUniv+"/BSC"]; g != 750 {
			t.Fatalf("granted %s", g)
		}
		b.checkReplay(t)
	})
	t.Run("cap counts conversions of every version", func(t *testing.T) {
		b, college, _ := rtSetup(t)
		r := rtRule("versioned", "BSC")
		r.Ratio = 5000
		rtPublish(t, b, r)
		o1 := b.post(t, college, outcome("L1", "k1"))
		o2 := b.post(t, college, outcome("L1", "k2"))
		rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "versioned", Outcomes: []uint64{o1}}) // 1.5
		r.Ratio, r.Cap = 10000, amountPtr(400)
		rtPublish(t, b, r)
		c := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "versioned", Outcomes: []uint64{o2}})
		if c.Granted != 250 || !c.Capped || c.Rule.Version != 2 {
			t.Fatalf("%+v", c)
		}
		b.checkReplay(t)
	})
	t.Run("retired rule", func(t *testing.T) {
		b, college, _ := rtSetup(t)
		rtPublish(t, b, rtRule("retiring", "BSC"))
		o1 := b.post(t, college, outcome("L1", "k1"))
		c1 := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "retiring", Outcomes: []uint64{o1}})
		if _, err := b.RetireRule(ctx, regulator, "retiring", "replaced"); err != nil {
			t.Fatal(err)
		}
		_, err := b.RetireRule(ctx, admin, "retiring", "again")
		rtCode(t, err, CodeConflict)
		_, err = b.RetireRule(ctx, admin, "never-published", "none")
		rtCode(t, err, CodeNotFound)
		o2 := b.post(t, college, outcome("L1", "k2"))
		_, err = b.Convert(ctx, admin, ConversionRequest{Learner: "L1", Rule: "retiring", Outcomes: []uint64{o2}})
		rtCode(t, err, CodeRuleInactive)
		if _, retired, _ := b.Rule("retiring", 0); !retired {
			t.Fatal("rule not reported retired")
		}
		// Past conversions stand.
		if tr := rtTranscript(t, b, "L1"); tr.Conversions[0].Seq != c1.Seq || tr.Conversions[0].Status != "granted" {
			t.Fatalf("%+v", tr.Conversions)
		}
		// Publishing again makes a new, active version when it says to
		// reinstate the rule.
		again := rtRule("retiring", "BSC")
		again.Reinstate = true
		v := rtPublish(t, b, again)
		if v.Version != 2 {
			t.Fatalf("version %d", v.Version)
		}
		c2 := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "retiring", Outcomes: []uint64{o2}})
		if c2.Rule.Version != 2 {
			t.Fatalf("%+v", c2)
		}
		_, err = b.Convert(ctx, admin, ConversionRequest{Learner: "L1", Rule: "no-such-rule"})
		rtCode(t, err, CodeNotFound)
		b.checkReplay(t)
	})
	t.Run("validity window", func(t *testing.T) {
		until := func(s string) *string { return &s }
		cases := []struct {
			name  string
			from  string
			until *string
			on    string // clock date; "" keeps 2026-07-15
			want  Code
		}{
			{"not yet valid", "2026-08-01", nil, "", CodeRuleInactive},
			{"valid from today", "2026-07-15", nil, "", ""},
			{"becomes valid", "2026-08-01", nil, "2026-08-01", ""},
			{"expired", "2026-01-01", until("2026-07-14"), "", CodeRuleInactive},
			{"last day", "2026-01-01", until("2026-07-15"), "", ""},
			{"expires as the clock moves", "2026-01-01", until("2026-07-31"), "2026-08-01", CodeRuleInactive},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				b, college, _ := rtSetup(t)
				r := rtRule("windowed", "BSC")
				r.ValidFrom, r.ValidUntil = tc.from, tc.until
				rtPublish(t, b, r)
				s := b.post(t, college, outcome("L1", "k1"))
				if tc.on != "" {
					b.clock.SetDate(t, tc.on)
				}
				size := b.Ledger().Size()
				_, err := b.Convert(ctx, rtLearner("L1"), ConversionRequest{Learner: "L1", Rule: "windowed", Outcomes: []uint64{s}})
				if tc.want != "" {
					rtCode(t, err, tc.want)
					if b.Ledger().Size() != size {
						t.Fatal("a refused conversion wrote entries")
					}
				} else if err != nil {
					t.Fatal(err)
				}
				b.checkReplay(t)
			})
		}
	})
}

// ----------------------------------------------------------------- rounding

func TestRulesRounding(t *testing.T) {
	t.Run("through conversions", func(t *testing.T) {
		b, college, _ := rtSetup(t)
		r := rtRule("half", "BSC")
		r.Ratio = 5000
		rtPublish(t, b, r)
		cases := []struct {
			name   string
			amount Amount // in the "hours" system: standard credits amount/16
			hours  *int64
			sc     Amount
			want   Amount // 0: no_credits
		}{
			{"0.01 × 0.5 = 0.005 → 0.00", 16, nil, 1, 0},
			{"0.03 × 0.5 = 0.015 → 0.02", 48, nil, 3, 2},
			{"0.05 × 0.5 = 0.025 → 0.02", 80, nil, 5, 2},
			{"0.07 × 0.5 = 0.035 → 0.04", 112, nil, 7, 4},
			{"5.35 × 0.5 = 2.675 → 2.68", 8560, nil, 535, 268},
			{"5.33 × 0.5 = 2.665 → 2.66", 8528, nil, 533, 266},
			{"hours 1: 0.06 × 0.5 = 0.03", 100, rtHours(1), 6, 3},
			{"no credits grant nothing", 0, nil, 0, 0},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				o := outcome("L1", fmt.Sprintf("round-%d", i))
				o.Credits = Credits{Amount: tc.amount, System: "hours"}
				o.Hours = tc.hours
				pr := rtPostOne(t, b, college, o)
				if pr.Status != PostCreated || pr.Outcome.StandardCredits != tc.sc {
					t.Fatalf("post %+v (standard credits want %s)", pr, tc.sc)
				}
				res, err := b.Convert(context.Background(), admin, ConversionRequest{Learner: "L1", Rule: "half", Outcomes: []uint64{pr.Seq}})
				if tc.want == 0 {
					rtWantReasons(t, rtNotEligible(t, err), []Ineligible{{pr.Seq, ReasonNoCredits}})
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if res.Granted != tc.want || res.Items[0] != (ConversionItem{Outcome: pr.Seq, StandardCredits: tc.sc, Granted: tc.want}) {
					t.Fatalf("%+v, want %s", res, tc.want)
				}
			})
		}
		b.checkReplay(t)
	})
	t.Run("Evaluate", func(t *testing.T) {
		cand := func(seq uint64, sc Amount) Candidate {
			return Candidate{Seq: seq, Found: true, outcomeState: outcomeState{
				Seq: seq, Learner: "L1", Institution: rtCollege, Sector: "non_degree", Level: 6, Field: "0613",
				StandardCredits: sc, Passed: true, CompletedOn: "2026-07-01",
			}}
		}
		cases := []struct {
			ratio   Ratio
			cap     *Amount
			already Amount
			sc      []Amount
			want    []Amount // per candidate; -1: ineligible
			capped  bool
		}{
			{5000, nil, 0, []Amount{1}, []Amount{-1}, false},    // 0.005 → 0 → no_credits
			{5000, nil, 0, []Amount{3}, []Amount{2}, false},     // 0.015 → 0.02
			{5000, nil, 0, []Amount{535}, []Amount{268}, false}, // 2.675 → 2.68
			{5000, nil, 0, []Amount{5}, []Amount{2}, false},     // 0.025 → 0.02
			{3333, nil, 0, []Amount{300}, []Amount{100}, false}, // 0.9999 → 1.00
			{3333, nil, 0, []Amount{15}, []Amount{5}, false},    // 0.049995 → 0.05
			{15, nil, 0, []Amount{100}, []Amount{-1}, false},    // 0.0015 → 0.00
			{25, nil, 0, []Amount{1000}, []Amount{2}, false},    // 0.025 → 0.02
			{35, nil, 0, []Amount{1000}, []Amount{4}, false},    // 0.035 → 0.04
			{5000, amountPtr(100), 99, []Amount{535}, []Amount{1}, true},
			{5000, amountPtr(100), 100, []Amount{535}, []Amount{-1}, true},
			{5000, amountPtr(100), 150, []Amount{535}, []Amount{-1}, true}, // over the cap already
			{10000, amountPtr(1000), 0, []Amount{400, 600, 1}, []Amount{400, 600, -1}, true},
		}
		for i, tc := range cases {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				rule := Rule{RuleInput: rtRule("r", "P"), Version: 1}
				rule.Ratio, rule.Cap = tc.ratio, tc.cap
				var cands []Candidate
				for j, sc := range tc.sc {
					cands = append(cands, cand(uint64(j+1), sc))
				}
				d := Evaluate(rule, "2026-07-15", cands, tc.already)
				var got []Amount
				items := map[uint64]Amount{}
				for _, it := range d.Items {
					items[it.Outcome] = it.Granted
				}
				var total Amount
				for j := range tc.sc {
					g, ok := items[uint64(j+1)]
					if !ok {
						g = -1
					}
					got = append(got, g)
					if ok {
						total += g
					}
				}
				if !slices.Equal(got, tc.want) || d.Granted != total || d.Capped != tc.capped {
					t.Fatalf("got %v total %s capped %t; want %v capped %t (%+v)", got, d.Granted, d.Capped, tc.want, tc.capped, d)
				}
				for _, in := range d.Ineligible {
					want := ReasonNoCredits
					if tc.cap != nil && tc.already >= *tc.cap || len(tc.sc) > 1 {
						want = ReasonCapReached
					}
					if in.Reason != want {
						t.Fatalf("reason %s, want %s", in.Reason, want)
					}
				}
			})
		}
	})
}

// ------------------------------------------------------------------ posting

func TestRulesPosting(t *testing.T) {
	ctx := context.Background()
	t.Run("idempotent replay", func(t *testing.T) {
		b, college, _ := rtSetup(t)
		o := outcome("L1", "2026-fall-CS101-L1")
		first := rtPostOne(t, b, college, o)
		if first.Status != PostCreated {
			t.Fatalf("%+v", first)
		}
		size := b.Ledger().Size()
		b.clock.SetDate(t, "2026-07-20")
		again := rtPostOne(t, b, college, o)
		if again.Status != PostDuplicate || again.Seq != first.Seq || again.Err != nil ||
			again.Outcome == nil || again.Outcome.StandardCredits != first.Outcome.StandardCredits ||
			again.Outcome.IdempotencyKey != o.IdempotencyKey || again.RecordedAt != first.RecordedAt {
			t.Fatalf("replay %+v, first %+v", again, first)
		}
		if b.Ledger().Size() != size {
			t.Fatalf("a replay wrote %d entries", b.Ledger().Size()-size)
		}
		// Other content under the same key: conflict, nothing written.
		other := o
		other.Level = 5
		rtPostRejected(t, b, college, other, CodeConflict)
		// The same key from another institution is its own.
		univ := Actor{Role: RoleInstitution, ID: rtUniv}
		if r := rtPostOne(t, b, univ, o); r.Status != PostCreated {
			t.Fatalf("%+v", r)
		}
		if bal := rtBalance(t, b, "L1"); bal.StandardCredits != 600 {
			t.Fatalf("balance %+v", bal)
		}
		b.checkReplay(t)
	})
	t.Run("batch", func(t *testing.T) {
		b, college, _ := rtSetup(t)
		prior := b.post(t, college, outcome("L1", "prior"))
		mod := func(key string, f func(*OutcomeInput)) OutcomeInput {
			o := outcome("L1", key)
			if f != nil {
				f(&o)
			}
			return o
		}
		items := []OutcomeInput{
			mod("a", nil),
			mod("b", func(o *OutcomeInput) { o.Learner = "bad id!" }),
			mod("c", func(o *OutcomeInput) { o.Level = 11 }),
			mod("d", func(o *OutcomeInput) { o.Field = "0699x" }),
			mod("e", func(o *OutcomeInput) { o.CompletedOn = "2026-02-30" }),
			mod("f", func(o *OutcomeInput) { o.Credits.Amount = 500 }),
			mod("prior", nil), // replay of an earlier post
			mod("prior", func(o *OutcomeInput) { o.Level = 4 }), // conflict with an earlier post
			mod("g", func(o *OutcomeInput) { o.Sector = "degree"; o.Level = 7 }),
			mod("f", func(o *OutcomeInput) { o.Credits.Amount = 600 }),       // conflict within the batch
			mod("h", func(o *OutcomeInput) { o.CompletedOn = "2026-07-17" }), // after today even at UTC+14
		}
		want := []struct {
			status string
			code   Code
		}{
			{PostCreated, ""}, {PostRejected, CodeInvalid}, {PostRejected, CodeInvalid}, {PostRejected, CodeInvalid},
			{PostRejected, CodeInvalid}, {PostCreated, ""}, {PostDuplicate, ""}, {PostRejected, CodeConflict},
			{PostCreated, ""}, {PostRejected, CodeConflict}, {PostRejected, CodeInvalid},
		}
		size := b.Ledger().Size()
		res, err := b.PostOutcomes(ctx, college, items)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != len(items) {
			t.Fatalf("%d results for %d items", len(res), len(items))
		}
		var created []uint64
		for i, r := range res {
			if r.Status != want[i].status || CodeOf(r.Err) != want[i].code {
				t.Errorf("item %d: %s %v, want %s %s", i, r.Status, r.Err, want[i].status, want[i].code)
			}
			if r.Status == PostCreated {
				created = append(created, r.Seq)
			}
		}
		if !slices.Equal(created, []uint64{size, size + 1, size + 2}) {
			t.Errorf("created seqs %v from %d", created, size)
		}
		if res[6].Seq != prior {
			t.Errorf("replayed item has seq %d, want %d", res[6].Seq, prior)
		}
		if b.Ledger().Size() != size+3 {
			t.Fatalf("size %d, want %d", b.Ledger().Size(), size+3)
		}
		tr := rtTranscript(t, b, "L1")
		var keys []string
		for _, o := range tr.Outcomes {
			keys = append(keys, o.IdempotencyKey)
		}
		if !slices.Equal(keys, []string{"prior", "a", "f", "g"}) {
			t.Fatalf("transcript keys %v", keys)
		}
		b.checkReplay(t)
	})
	t.Run("duplicate inside one batch", func(t *testing.T) {
		b, college, _ := rtSetup(t)
		a := outcome("L1", "a")
		size := b.Ledger().Size()
		res, err := b.PostOutcomes(ctx, college, []OutcomeInput{a, outcome("L1", "b"), a})
		// Contract: one result per item, valid items stored, and the same
		// key with the same content answers the original.
		if err != nil {
			t.Fatalf("batch with a repeated key: %v", err)
		}
		if res[0].Status != PostCreated || res[1].Status != PostCreated || res[2].Status != PostDuplicate || res[2].Seq != res[0].Seq {
			t.Fatalf("%+v", res)
		}
		if b.Ledger().Size() != size+2 {
			t.Fatalf("size %d, want %d", b.Ledger().Size(), size+2)
		}
		b.checkReplay(t)
	})
	t.Run("outside accreditation", func(t *testing.T) {
		b := newTestBank(t)
		if _, err := b.RegisterInstitution(ctx, admin, Registration{ID: "narrow.example", Name: "Narrow", Kind: "vocational_college", Keys: []PublicJWK{testKey(t, "n1")}}); err != nil {
			t.Fatal(err)
		}
		narrow := Actor{Role: RoleInstitution, ID: "narrow.example"}
		// Not yet accredited at all.
		rtPostRejected(t, b, narrow, outcome("L1", "none"), CodeNotAccredited)
		if _, err := b.Accredit(ctx, regulator, "narrow.example", AccreditationInput{Sectors: []string{"degree", "vocational"}, MaxLevel: 6, ValidFrom: "2020-01-01", ValidUntil: "2026-06-30"}); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name   string
			sector string
			level  int
			on     string
			want   Code
		}{
			{"sector not accredited", "non_degree", 5, "2026-06-01", CodeNotAccredited},
			{"level above max_level", "degree", 7, "2026-06-01", CodeNotAccredited},
			{"completed after valid_until", "degree", 6, "2026-07-01", CodeNotAccredited},
			{"completed before valid_from", "degree", 6, "2019-12-31", CodeNotAccredited},
			{"at max_level on valid_until", "degree", 6, "2026-06-30", ""},
			{"on valid_from", "vocational", 1, "2020-01-01", ""},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				o := outcome("L1", fmt.Sprintf("acc-%d", i))
				o.Sector, o.Level, o.CompletedOn = tc.sector, tc.level, tc.on
				if tc.want != "" {
					rtPostRejected(t, b, narrow, o, tc.want)
				} else {
					b.post(t, narrow, o)
				}
			})
		}
		t.Run("a second scope adds to the first", func(t *testing.T) {
			if _, err := b.Accredit(ctx, admin, "narrow.example", AccreditationInput{Sectors: []string{"non_degree"}, MaxLevel: 6, ValidFrom: "2026-01-01", ValidUntil: "2026-12-31"}); err != nil {
				t.Fatal(err)
			}
			o := outcome("L1", "acc-second")
			o.Level = 6
			b.post(t, narrow, o)
			o = outcome("L1", "acc-second-degree")
			o.Sector, o.Level = "degree", 7 // degree still stops at 6
			rtPostRejected(t, b, narrow, o, CodeNotAccredited)
		})
		b.checkReplay(t)
	})
	t.Run("suspension", func(t *testing.T) {
		b, college, _ := rtSetup(t)
		b.post(t, college, outcome("L1", "before"))
		if _, err := b.Suspend(ctx, regulator, rtCollege, "inspection"); err != nil {
			t.Fatal(err)
		}
		rtPostRejected(t, b, college, outcome("L1", "during"), CodeNotAccredited)
		_, err := b.Suspend(ctx, admin, rtCollege, "again")
		rtCode(t, err, CodeConflict)
		if _, err := b.Reinstate(ctx, admin, rtCollege, "inspection passed"); err != nil {
			t.Fatal(err)
		}
		_, err = b.Reinstate(ctx, admin, rtCollege, "")
		rtCode(t, err, CodeConflict)
		b.post(t, college, outcome("L1", "during"))
		b.checkReplay(t)
	})
	t.Run("completed_on", func(t *testing.T) {
		// Noon UTC on 2026-07-15 is 02:00 on 2026-07-16 at UTC+14, the
		// earliest time zone: the 16th has begun somewhere, the 17th nowhere.
		b, college, _ := rtSetup(t)
		o := outcome("L1", "day-after")
		o.CompletedOn = "2026-07-17"
		rtPostRejected(t, b, college, o, CodeInvalid)
		o = outcome("L1", "today")
		o.CompletedOn = "2026-07-15"
		b.post(t, college, o)
		o = outcome("L1", "tomorrow")
		o.CompletedOn = "2026-07-16"
		b.post(t, college, o)
		b.clock.SetDate(t, "2026-07-16")
		o = outcome("L1", "day-after")
		o.CompletedOn = "2026-07-17"
		b.post(t, college, o) // the key was never used: rejected posts record nothing
		b.checkReplay(t)
	})
	t.Run("only institutions post", func(t *testing.T) {
		b, _, _ := rtSetup(t)
		for _, a := range []Actor{admin, regulator, rtLearner("L1")} {
			_, err := b.PostOutcomes(ctx, a, []OutcomeInput{outcome("L1", "k")})
			rtCode(t, err, CodeForbidden)
		}
	})
}

// ------------------------------------------------------------- supersession

func TestRulesSupersession(t *testing.T) {
	ctx := context.Background()
	t.Run("revokes the old one in the same write", func(t *testing.T) {
		b, college, _ := rtSetup(t)
		old := b.post(t, college, outcome("L1", "v1"))
		size := b.Ledger().Size()
		o := outcome("L1", "v2")
		o.Credits.Amount = 400
		o.Supersedes = &old
		r := rtPostOne(t, b, college, o)
		if r.Status != PostCreated || r.Seq != size {
			t.Fatalf("%+v at size %d", r, size)
		}
		if b.Ledger().Size() != size+2 {
			t.Fatalf("size %d, want %d", b.Ledger().Size(), size+2)
		}
		rv := rtContent[Revocation](t, b, r.Seq+1, TypeOutcomeRevoked)
		if rv.Outcome != old || rv.Reason != "superseded" || rv.SupersededBy == nil || *rv.SupersededBy != r.Seq {
			t.Fatalf("revocation %+v", rv)
		}
		if e1, e2 := rtEntry(t, b, r.Seq), rtEntry(t, b, r.Seq+1); !e1.RecordedAt.Equal(e2.RecordedAt) {
			t.Fatalf("recorded at %s and %s: not one write", e1.RecordedAt, e2.RecordedAt)
		}
		tr := rtTranscript(t, b, "L1")
		if len(tr.Outcomes) != 2 || tr.Outcomes[0].Status != "revoked" || tr.Outcomes[1].Status != "active" {
			t.Fatalf("%+v", tr.Outcomes)
		}
		if bal := rtBalance(t, b, "L1"); bal.StandardCredits != 400 {
			t.Fatalf("balance %+v", bal)
		}
		// The replay answers the same, and superseding again is a conflict.
		if again := rtPostOne(t, b, college, o); again.Status != PostDuplicate || again.Seq != r.Seq {
			t.Fatalf("%+v", again)
		}
		o3 := outcome("L1", "v3")
		o3.Supersedes = &old
		rtPostRejected(t, b, college, o3, CodeConflict)
		b.checkReplay(t)
	})
	t.Run("carries items over to the correction", func(t *testing.T) {
		b, college, _ := rtSetup(t)
		r := rtRule("to-bsc", "BSC")
		r.Cap = amountPtr(300)
		rtPublish(t, b, r)
		rtPublish(t, b, rtRule("to-ba", "BA"))
		old := b.post(t, college, outcome("L1", "v1"))
		c1 := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "to-bsc"})
		c2 := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "to-ba"})
		size := b.Ledger().Size()
		o := outcome("L1", "v2")
		o.Credits.Amount = 400
		o.Supersedes = &old
		pr := rtPostOne(t, b, college, o)
		if pr.Status != PostCreated || pr.Seq != size {
			t.Fatalf("%+v", pr)
		}
		if b.Ledger().Size() != size+4 {
			t.Fatalf("size %d, want %d (outcome, revocation, 2 adjustments)", b.Ledger().Size(), size+4)
		}
		rtContent[Revocation](t, b, size+1, TypeOutcomeRevoked)
		// Under to-bsc the new 4 credits are capped at 3; to-ba has no cap.
		want := map[uint64]ConversionItem{c1.Seq: {Outcome: pr.Seq, StandardCredits: 400, Granted: 300}, c2.Seq: {Outcome: pr.Seq, StandardCredits: 400, Granted: 400}}
		for i, s := range []uint64{size + 2, size + 3} {
			a := rtContent[Adjustment](t, b, s, TypeConversionAdjusted)
			ch := ItemChange{Outcome: old, Action: ActionMoved, StandardCredits: 300, Granted: 300}
			to := want[a.Conversion]
			ch.To = &to
			if a.Outcome != old || len(a.Items) != 1 || !reflect.DeepEqual(a.Items[0], ch) {
				t.Fatalf("adjustment %+v", a)
			}
			if e := pr.Effects[i]; e.Seq != s || e.Conversion != a.Conversion || !reflect.DeepEqual(e.ItemChange, ch) {
				t.Fatalf("effect %+v", e)
			}
		}
		bal := rtBalance(t, b, "L1")
		if bal.StandardCredits != 400 || bal.Granted[rtUniv+"/BSC"] != 300 || bal.Granted[rtUniv+"/BA"] != 400 {
			t.Fatalf("balance %+v", bal)
		}
		// The correction now counts toward both programmes.
		_, err := b.Convert(ctx, admin, ConversionRequest{Learner: "L1", Rule: "to-ba", Outcomes: []uint64{pr.Seq}})
		rtWantReasons(t, rtNotEligible(t, err), []Ineligible{{pr.Seq, ReasonAlreadyUsed}})
		// A repeat of the post answers the same effects.
		if again := rtPostOne(t, b, college, o); again.Status != PostDuplicate || !reflect.DeepEqual(again.Effects, pr.Effects) {
			t.Fatalf("repeat %+v, first %+v", again, pr)
		}
		b.checkReplay(t)
	})
	t.Run("within one batch", func(t *testing.T) {
		b, college, _ := rtSetup(t)
		old := b.post(t, college, outcome("L1", "old"))
		n1, n2, n3 := outcome("L1", "n1"), outcome("L1", "n2"), outcome("L1", "n3")
		n1.Supersedes, n2.Supersedes = &old, &old // the second finds it revoked
		size := b.Ledger().Size()
		n3Supersedes := size // n1, created first in this batch
		n3.Supersedes = &n3Supersedes
		res, err := b.PostOutcomes(ctx, college, []OutcomeInput{n1, n2, n3})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Status != PostCreated || res[0].Seq != size || res[1].Status != PostRejected || CodeOf(res[1].Err) != CodeConflict ||
			res[2].Status != PostCreated || res[2].Seq != size+2 {
			t.Fatalf("%+v", res)
		}
		// n1, the revocation of old, n3, the revocation of n1.
		if b.Ledger().Size() != size+4 {
			t.Fatalf("size %d, want %d", b.Ledger().Size(), size+4)
		}
		if rv := rtContent[Revocation](t, b, size+1, TypeOutcomeRevoked); rv.Outcome != old {
			t.Fatalf("%+v", rv)
		}
		if rv := rtContent[Revocation](t, b, size+3, TypeOutcomeRevoked); rv.Outcome != size || *rv.SupersededBy != size+2 {
			t.Fatalf("%+v", rv)
		}
		if bal := rtBalance(t, b, "L1"); bal.StandardCredits != 300 {
			t.Fatalf("balance %+v", bal)
		}
		b.checkReplay(t)
	})
	t.Run("refused", func(t *testing.T) {
		b, college, univ := rtSetup(t)
		mine := b.post(t, college, outcome("L1", "mine"))
		otherLearner := b.post(t, college, outcome("L2", "other-learner"))
		otherInst := b.post(t, univ, outcome("L1", "other-inst"))
		revoked := b.post(t, college, outcome("L1", "revoked"))
		if _, err := b.Revoke(ctx, college, revoked, "error"); err != nil {
			t.Fatal(err)
		}
		rule := rtPublish(t, b, rtRule("rrr", "P"))
		cases := []struct {
			name string
			seq  uint64
			want Code
		}{
			{"another learner's", otherLearner, CodeConflict},
			{"another institution's", otherInst, CodeConflict},
			{"already revoked", revoked, CodeConflict},
			{"unknown", 999999, CodeNotFound},
			{"not an outcome", rule.Seq, CodeNotFound},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				o := outcome("L1", fmt.Sprintf("sup-%d", i))
				o.Supersedes = &tc.seq
				rtPostRejected(t, b, college, o, tc.want)
			})
		}
		if tr := rtTranscript(t, b, "L1"); tr.Outcomes[0].Seq != mine || tr.Outcomes[0].Status != "active" {
			t.Fatalf("%+v", tr.Outcomes)
		}
		b.checkReplay(t)
	})
}

// -------------------------------------------------------------- permissions

func TestRulesConversionPermissions(t *testing.T) {
	b, college, univ := rtSetup(t)
	rtPublish(t, b, rtRule("perm", "BSC"))
	cases := []struct {
		name    string
		actor   Actor
		learner string
		want    Code
	}{
		{"learner for itself", rtLearner("L1"), "L1", ""},
		{"learner for another", rtLearner("L2"), "L1", CodeForbidden},
		{"target institution", univ, "L1", CodeForbidden}, // the learner decides (version 2)
		{"another institution", college, "L1", CodeForbidden},
		{"regulator", regulator, "L1", CodeForbidden},
		{"admin", admin, "L1", ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := b.post(t, college, outcome(tc.learner, fmt.Sprintf("perm-%d", i)))
			size := b.Ledger().Size()
			res, err := b.Convert(context.Background(), tc.actor, ConversionRequest{Learner: tc.learner, Rule: "perm", Outcomes: []uint64{s}})
			if tc.want != "" {
				rtCode(t, err, tc.want)
				if b.Ledger().Size() != size {
					t.Fatal("a refused conversion wrote entries")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Granted != 300 {
				t.Fatalf("%+v", res)
			}
			// A learner is recorded by reference, like everything of them.
			want := actorByRef(tc.actor, "L1", b.ref(t, "L1")).String()
			if e := rtEntry(t, b, res.Seq); e.Actor != want {
				t.Fatalf("entry actor %q, want %q", e.Actor, want)
			}
		})
	}
	b.checkReplay(t)
}

// ------------------------------------------------------------- institutions

func TestRulesInstitutions(t *testing.T) {
	ctx := context.Background()
	b, _, _ := rtSetup(t)
	key := testKey(t, rtCollege+"-k1") // the kid the harness registered
	cases := []struct {
		name string
		do   func() error
		want Code
	}{
		{"register twice", func() error {
			_, err := b.RegisterInstitution(ctx, admin, Registration{ID: rtCollege, Name: "Again", Kind: "university", Keys: []PublicJWK{testKey(t, "x")}})
			return err
		}, CodeConflict},
		{"add existing kid", func() error { _, err := b.AddKey(ctx, admin, rtCollege, key); return err }, CodeConflict},
		{"add new kid", func() error { _, err := b.AddKey(ctx, admin, rtCollege, testKey(t, "k2")); return err }, ""},
		{"add to unknown institution", func() error { _, err := b.AddKey(ctx, admin, "nobody.example", testKey(t, "k3")); return err }, CodeNotFound},
		{"remove unknown kid", func() error { _, err := b.RemoveKey(ctx, admin, rtCollege, "nope"); return err }, CodeNotFound},
		{"remove existing kid", func() error { _, err := b.RemoveKey(ctx, admin, rtCollege, "k2"); return err }, ""},
		{"remove it again", func() error { _, err := b.RemoveKey(ctx, admin, rtCollege, "k2"); return err }, CodeNotFound},
		{"remove from unknown institution", func() error { _, err := b.RemoveKey(ctx, admin, "nobody.example", "k1"); return err }, CodeNotFound},
		{"accredit unknown", func() error {
			_, err := b.Accredit(ctx, admin, "nobody.example", AccreditationInput{Sectors: []string{"degree"}, MaxLevel: 6, ValidFrom: "2026-01-01", ValidUntil: "2026-12-31"})
			return err
		}, CodeNotFound},
		{"suspend", func() error { _, err := b.Suspend(ctx, admin, rtUniv, "audit"); return err }, ""},
		{"suspend twice", func() error { _, err := b.Suspend(ctx, regulator, rtUniv, "audit"); return err }, CodeConflict},
		{"suspend unknown", func() error { _, err := b.Suspend(ctx, admin, "nobody.example", "audit"); return err }, CodeNotFound},
		{"reinstate", func() error { _, err := b.Reinstate(ctx, admin, rtUniv, ""); return err }, ""},
		{"reinstate twice", func() error { _, err := b.Reinstate(ctx, admin, rtUniv, ""); return err }, CodeConflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			size := b.Ledger().Size()
			err := tc.do()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if b.Ledger().Size() != size+1 {
					t.Fatalf("wrote %d entries", b.Ledger().Size()-size)
				}
				return
			}
			rtCode(t, err, tc.want)
			if b.Ledger().Size() != size {
				t.Fatal("a refused command wrote entries")
			}
		})
	}
	in, err := b.Institution(rtCollege)
	if err != nil || len(in.Keys) != 1 || in.Keys[0].Kid != rtCollege+"-k1" {
		t.Fatalf("%+v %v", in, err)
	}
	_, err = b.Institution("nobody.example")
	rtCode(t, err, CodeNotFound)
	b.checkReplay(t)
}

func rtBool(v bool) *bool { return &v }
