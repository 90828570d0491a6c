package accreditation

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"creditbank/ledger"
	"creditbank/vault"
)

// planVerdict is what a conversion carrying a plan made earlier decided,
// beside what planning it in the sequencer decided, against one view.
type planVerdict struct {
	// current is false when the plan was refused as out of date.
	current bool
	// withPlan and inside describe both decisions (result, refusal, the
	// entries and state written) when they differ; equal says they do not.
	withPlan, inside string
	equal            bool
}

// planCheck is a proposal that decides cmd twice against the same view, with
// its plan and planned in the sequencer, and writes nothing: Decide always
// refuses with errPlanChecked once it has filled in out.
type planCheck struct {
	cmd   convertCmd
	insts *institutionCache
	keys  *vault.Keys // open the scores of sealed outcomes, as proposal does
	out   *planVerdict
}

var errPlanChecked = errors.New("plan checked; nothing written")

// decision is what one decide gave, in a form reflect.DeepEqual compares:
// the result without its cost, the refusal's fields, the effect.
type decision struct {
	Result  any
	Refusal *Error
	Other   string
	Records []ledger.Record
	State   []ledger.StateWrite
}

func decideOnce(v *ledger.View, insts *institutionCache, keys *vault.Keys, c convertCmd) (decision, bool) {
	t := newTx(v, insts, 0)
	t.keys = keys
	res, err := c.decide(t)
	var ce *costError
	if errors.As(err, &ce) {
		err = ce.err
	}
	if errors.Is(err, errStalePlan) {
		return decision{}, true
	}
	if r, ok := res.(ConversionResult); ok {
		r.Cost = Cost{}
		res = r
	}
	d := decision{Result: res}
	var de *Error
	if errors.As(err, &de) {
		d.Refusal = de
	} else if err != nil {
		d.Other = err.Error()
	}
	if err == nil {
		eff := t.effect(nil)
		d.Records, d.State = eff.Records, eff.State
	}
	return d, false
}

func (p planCheck) Decide(v *ledger.View) (ledger.Effect, error) {
	withPlan := p.cmd
	withPlan.PlanInside = false
	got, stale := decideOnce(v, p.insts, p.keys, withPlan)
	inside := p.cmd
	inside.Plan = nil
	want, _ := decideOnce(v, p.insts, p.keys, inside)
	*p.out = planVerdict{current: !stale, equal: stale || reflect.DeepEqual(got, want)}
	if !p.out.equal {
		p.out.withPlan, p.out.inside = fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want)
	}
	return ledger.Effect{}, errPlanChecked
}

// checkPlan decides a conversion with plan p against the bank's latest
// state beside planning it there, and fails t when the plan is taken as
// current but decides otherwise.
func checkPlan(t testing.TB, b *Bank, actor Actor, req ConversionRequest, p plan) planVerdict {
	t.Helper()
	var v planVerdict
	_, err := b.l.Append(context.Background(), planCheck{cmd: convertCmd{Actor: actor, Req: req, Plan: &p}, insts: &b.insts, keys: b.keys, out: &v})
	if !errors.Is(err, errPlanChecked) {
		t.Fatalf("plan check: %v", err)
	}
	if !v.equal {
		t.Fatalf("convert %+v: the plan made at size %d was taken as current, and decides\n%s\nwhere planning in the sequencer decides\n%s", req, p.size, v.withPlan, v.inside)
	}
	return v
}

// TestPlanCurrent: a conversion planned outside the sequencer is written
// only when no entry since touches what it read, and then decides what
// planning inside would; any entry that does makes it plan again.
func TestPlanCurrent(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		// between is what happens between planning and deciding.
		between   func(t *testing.T, b *testBank, college Actor, mine []uint64)
		wantStale bool
	}{
		{"nothing", func(*testing.T, *testBank, Actor, []uint64) {}, false},
		{"another learner's outcome", func(t *testing.T, b *testBank, college Actor, _ []uint64) {
			b.post(t, college, adUnit("L2", "x", "UX", 300))
		}, false},
		{"another learner's conversion", func(t *testing.T, b *testBank, college Actor, _ []uint64) {
			b.post(t, college, adUnit("L2", "x", "UX", 300))
			rtConvert(t, b, admin, ConversionRequest{Learner: "L2", Rule: "plan"})
		}, false},
		{"an outcome of the learner", func(t *testing.T, b *testBank, college Actor, _ []uint64) {
			b.post(t, college, adUnit("L1", "c", "UC", 300))
		}, true},
		{"a revocation of the learner's outcome", func(t *testing.T, b *testBank, college Actor, mine []uint64) {
			if _, err := b.Revoke(ctx, college, mine[0], "entered in error"); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"a conversion of the learner under another rule", func(t *testing.T, b *testBank, _ Actor, mine []uint64) {
			rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "other", Outcomes: mine[:1]})
		}, true},
		{"a rule published", func(t *testing.T, b *testBank, _ Actor, _ []uint64) {
			rtPublish(t, b, rtRule("third", "MSC"))
		}, true},
		{"the rule retired", func(t *testing.T, b *testBank, _ Actor, _ []uint64) {
			if _, err := b.RetireRule(ctx, regulator, "plan", "replaced"); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"an institution suspended", func(t *testing.T, b *testBank, _ Actor, _ []uint64) {
			if _, err := b.Suspend(ctx, regulator, rtCollege, "audit"); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"a group of equivalent units", func(t *testing.T, b *testBank, _ Actor, _ []uint64) {
			g := EquivalenceInput{ID: "same", Units: []UnitRef{{Institution: rtCollege, Code: "UA"}, {Institution: rtCollege, Code: "UB"}}, ValidFrom: "2026-01-01"}
			if _, err := b.PublishEquivalence(ctx, regulator, g); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"the next day", func(t *testing.T, b *testBank, _ Actor, _ []uint64) {
			b.clock.SetDate(t, "2026-07-16")
		}, true},
	}
	for _, tc := range cases {
		for _, named := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/named=%v", tc.name, named), func(t *testing.T) {
				b, college, _ := rtSetup(t)
				rtPublish(t, b, rtRule("plan", "BSC"))
				rtPublish(t, b, rtRule("other", "BA"))
				mine := []uint64{b.post(t, college, adUnit("L1", "a", "UA", 300)), b.post(t, college, adUnit("L1", "b", "UB", 300))}
				// Planning is of the learner as the store names them.
				req := ConversionRequest{Learner: b.ref(t, "L1"), Rule: "plan"}
				if named {
					req.Outcomes = mine
				}
				p, _, err := b.planDurable(admin, req)
				if err != nil {
					t.Fatal(err)
				}
				tc.between(t, b, college, mine)
				v := checkPlan(t, b.Bank, admin, req, p)
				if v.current == tc.wantStale {
					t.Fatalf("plan current %v, want %v", v.current, !tc.wantStale)
				}
				// Bank.Convert plans again and grants what planning now gives.
				want, werr := b.Preview(admin, req)
				if werr == nil && len(want.Items) == 0 {
					werr = errorf(CodeNotEligible, "nothing eligible") // an answer to a preview, a refusal of a conversion
				}
				res, err := b.Convert(ctx, admin, req)
				if CodeOf(err) != CodeOf(werr) || (err == nil && !reflect.DeepEqual(res.Conversion, want.Conversion)) {
					t.Fatalf("convert %+v %v; preview before it %+v %v", res.Conversion, err, want.Conversion, werr)
				}
			})
		}
	}
}

// postLearnerOutcomes posts n outcomes of learner, each shaped by shape
// (nil for a plain passed one), in batches, and returns their seqs.
func postLearnerOutcomes(t testing.TB, b *testBank, inst Actor, learner string, n int, shape func(i int, o *OutcomeInput)) []uint64 {
	t.Helper()
	var seqs []uint64
	for first := 0; first < n; first += MaxBatch {
		batch := make([]OutcomeInput, 0, min(MaxBatch, n-first))
		for i := first; i < n && i < first+MaxBatch; i++ {
			o := outcome(learner, fmt.Sprintf("%s-%d", learner, i))
			if shape != nil {
				shape(i, &o)
			}
			batch = append(batch, o)
		}
		res, err := b.PostOutcomes(context.Background(), inst, batch)
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		for _, r := range res {
			if r.Status != PostCreated {
				t.Fatalf("post: %s %v", r.Status, r.Err)
			}
			seqs = append(seqs, r.Seq)
		}
	}
	return seqs
}

var failedResult = false

// failed makes an outcome a failed one, which no rule converts.
func failed(_ int, o *OutcomeInput) { o.Result = Result{Passed: &failedResult} }

// TestConversionScanBound: a conversion or preview naming no outcomes
// looks at no more than maxConversionScan of the learner's entries and
// refuses a learner with more, writing nothing; naming them still works.
func TestConversionScanBound(t *testing.T) {
	defer func(n int) { maxConversionScan = n }(maxConversionScan)
	maxConversionScan = 5
	cases := []struct {
		name     string
		outcomes int
		named    bool
		want     Code
	}{
		{"at the bound", 5, false, ""},
		{"over the bound", 6, false, CodeInvalid},
		{"over the bound, named", 6, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, college, _ := rtSetup(t)
			rtPublish(t, b, rtRule("scan", "BSC"))
			seqs := postLearnerOutcomes(t, b, college, "L1", tc.outcomes, nil)
			req := ConversionRequest{Learner: "L1", Rule: "scan"}
			if tc.named {
				req.Outcomes = seqs
			}
			pv, perr := b.Preview(admin, req)
			rtCode(t, perr, tc.want)
			size := b.Ledger().Size()
			res, err := b.Convert(context.Background(), admin, req)
			rtCode(t, err, tc.want)
			if tc.want == "" {
				if len(res.Items) != tc.outcomes || len(pv.Items) != tc.outcomes {
					t.Fatalf("granted %d items, previewed %d; want %d", len(res.Items), len(pv.Items), tc.outcomes)
				}
				return
			}
			if pv.Cost.Rows <= int64(maxConversionScan) || res.Cost.Rows <= int64(maxConversionScan) {
				t.Errorf("refusals cost %d and %d rows; they read at least %d", pv.Cost.Rows, res.Cost.Rows, maxConversionScan)
			}
			if got := b.Ledger().Size(); got != size {
				t.Errorf("the refused conversion wrote %d entries", got-size)
			}
		})
	}
}

// TestReasonsBound: an answer lists the first MaxReasons outcomes not
// converted, in order, and how many it left out.
func TestReasonsBound(t *testing.T) {
	cases := []struct {
		name         string
		good, failed int
		wantOmitted  int
	}{
		{"refusal under the bound", 0, MaxReasons, 0},
		{"refusal over the bound", 0, MaxReasons + 50, 50},
		{"granted over the bound", 1, MaxReasons + 20, 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, college, _ := rtSetup(t)
			rtPublish(t, b, rtRule("bound", "BSC"))
			postLearnerOutcomes(t, b, college, "L1", tc.good, nil)
			seqs := postLearnerOutcomes(t, b, college, "L1", tc.failed, func(i int, o *OutcomeInput) {
				failed(i, o)
				o.IdempotencyKey, o.Unit.Code = fmt.Sprintf("f-%d", i), fmt.Sprintf("F-%d", i)
			})
			req := ConversionRequest{Learner: "L1", Rule: "bound"}
			pv, err := b.Preview(admin, req)
			if err != nil {
				t.Fatal(err)
			}
			res, err := b.Convert(context.Background(), admin, req)
			reasons, omitted := res.Ineligible, res.IneligibleOmitted
			if tc.good == 0 {
				rtCode(t, err, CodeNotEligible)
				de := err.(*Error)
				reasons, omitted = de.Reasons, de.ReasonsOmitted
			} else if err != nil {
				t.Fatal(err)
			}
			for what, got := range map[string][]Ineligible{"preview": pv.Ineligible, "conversion": reasons} {
				if len(got) != min(tc.failed, MaxReasons) || got[0].Outcome != seqs[0] || got[len(got)-1].Outcome != seqs[len(got)-1] {
					t.Errorf("%s lists %d reasons from %v; want the first %d of %d", what, len(got), got[0], MaxReasons, tc.failed)
				}
			}
			if pv.IneligibleOmitted != tc.wantOmitted || omitted != tc.wantOmitted {
				t.Errorf("omitted: preview %d, conversion %d; want %d", pv.IneligibleOmitted, omitted, tc.wantOmitted)
			}
		})
	}
}

// TestCostGrowsWithWork: what a read or a conversion costs grows with the
// rows it reads: a learner with 500 outcomes costs far more than one with
// 10, refused requests included.
func TestCostGrowsWithWork(t *testing.T) {
	ctx := context.Background()
	costs := map[int]map[string]int64{}
	for _, n := range []int{10, 500} {
		b, college, _ := rtSetup(t)
		rtPublish(t, b, rtRule("cost", "BSC"))
		postLearnerOutcomes(t, b, college, "L1", n, nil)
		req := ConversionRequest{Learner: "L1", Rule: "cost"}
		c := map[string]int64{}
		pv, err := b.Preview(admin, req)
		if err != nil {
			t.Fatal(err)
		}
		c["preview"] = pv.Cost.Rows
		res, err := b.Convert(ctx, admin, req)
		if err != nil {
			t.Fatal(err)
		}
		c["conversion"] = res.Cost.Rows
		res, err = b.Convert(ctx, admin, req)
		rtCode(t, err, CodeNotEligible)
		c["refused conversion"] = res.Cost.Rows
		tr, err := b.Transcript("L1", "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		c["transcript"] = tr.Cost.Rows
		page, err := b.AuditConversions(AuditFilter{}, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		c["audit page"] = page.Cost.Rows
		bal, err := b.Balance("L1")
		if err != nil {
			t.Fatal(err)
		}
		c["balance"] = bal.Cost.Rows
		costs[n] = c
	}
	t.Logf("rows read with 10 and 500 outcomes: %v, %v", costs[10], costs[500])
	for what, small := range costs[10] {
		big := costs[500][what]
		switch {
		case small <= 0:
			t.Errorf("%s costs %d rows", what, small)
		case big < 10*small:
			t.Errorf("%s costs %d rows for 10 outcomes and %d for 500", what, small, big)
		}
	}
}

// TestConvertWhilePosting: conversions of one learner racing with posts of
// its outcomes and with each other plan again when overtaken, never grant
// past a rule's cap or use an outcome twice toward a programme, and replay
// to the same state with every conversion re-run as granted.
func TestConvertWhilePosting(t *testing.T) {
	ctx := context.Background()
	b, college, _ := rtSetup(t)
	const rules, capped = 3, Amount(2000)
	for i := range rules {
		r := rtRule(fmt.Sprintf("race-%d", i), fmt.Sprintf("P%d", i%2)) // two rules share a programme
		r.Cap = amountPtr(capped)
		rtPublish(t, b, r)
	}
	var (
		done    atomic.Bool
		wg      sync.WaitGroup
		mu      sync.Mutex
		granted = map[string]Amount{}
	)
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !done.Load(); i++ {
				req := ConversionRequest{Learner: "L1", Rule: fmt.Sprintf("race-%d", (w+i)%rules)}
				res, err := b.Convert(ctx, admin, req)
				if c := CodeOf(err); err != nil && c != CodeNotEligible {
					t.Errorf("convert: %v", err)
					return
				}
				mu.Lock()
				granted[req.Rule] += res.Granted
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < 2000 && (i < 100 || b.stalePlans.Load() == 0); i++ {
		o := adUnit("L1", fmt.Sprintf("k%d", i), fmt.Sprintf("U%d", i), 100)
		b.post(t, college, o)
	}
	done.Store(true)
	wg.Wait()
	t.Logf("%d conversions planned again; granted %v", b.stalePlans.Load(), granted)
	for rule, g := range granted {
		if g > capped {
			t.Errorf("%s granted %s, over its cap %s", rule, g, capped)
		}
	}
	b.checkReplay(t)
	if b.stalePlans.Load() == 0 {
		t.Fatal("no conversion was ever overtaken: the race did not happen")
	}
}
