package accreditation

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"creditbank/ledger"
)

var (
	convLoadFlag     = flag.Bool("conv.load", false, "TestConversionLoad: measure a poster's latency while conversions over a large learner run")
	convOutcomesFlag = flag.Int("conv.outcomes", 100000, "TestConversionLoad: outcomes of the converting learner")
	convPostsFlag    = flag.Int("conv.posts", 300, "TestConversionLoad: single posts timed per phase")
)

// timedProposal adds the time the sequencer spent deciding p to *took.
type timedProposal struct {
	p    ledger.Proposal
	took *time.Duration
}

func (tp timedProposal) Decide(v *ledger.View) (ledger.Effect, error) {
	start := time.Now()
	eff, err := tp.p.Decide(v)
	*tp.took += time.Since(start)
	return eff, err
}

// TestConversionLoad measures what a learner converting over many outcomes
// does to another institution posting single outcomes: the poster's p99
// with no conversion running, with conversions planned in the sequencer
// (as before), and with conversions planned outside it (now), bounded and
// unbounded; and the sequencer's time per conversion either way. Figures
// are ratios to the baseline of the same run.
//
//	go test ./accreditation -run TestConversionLoad -conv.load -v
func TestConversionLoad(t *testing.T) {
	if !*convLoadFlag {
		t.Skip("a measurement: run with -conv.load")
	}
	ctx := context.Background()
	b, college, _ := rtSetup(t)
	poster := b.institution(t, "poly.example")
	noneEligible := rtRule("load", "BSC")
	noneEligible.Source.Sectors = []string{"degree"} // the learner's outcomes are non_degree
	rtPublish(t, b, noneEligible)
	start := time.Now()
	postLearnerOutcomes(t, b, college, "LBIG", *convOutcomesFlag, nil)
	t.Logf("posted %d outcomes of one learner in %v", *convOutcomesFlag, time.Since(start).Round(time.Millisecond))
	req := ConversionRequest{Learner: "LBIG", Rule: "load"}

	posted := 0
	postP99 := func(convert func() (time.Duration, error)) (p99 time.Duration, conversions int, seqTime time.Duration) {
		var stop atomic.Bool
		var wg sync.WaitGroup
		if convert != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					took, err := convert()
					if c := CodeOf(err); c != CodeNotEligible && c != CodeInvalid {
						t.Errorf("conversion: %v", err)
						return
					}
					conversions++
					seqTime += took
				}
			}()
			time.Sleep(50 * time.Millisecond)
		}
		lat := make([]time.Duration, 0, *convPostsFlag)
		for range *convPostsFlag {
			posted++
			o := outcome(fmt.Sprintf("P%d", posted), fmt.Sprintf("p-%d", posted))
			t0 := time.Now()
			if _, err := b.PostOutcomes(ctx, poster, []OutcomeInput{o}); err != nil {
				t.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		stop.Store(true)
		wg.Wait()
		slices.Sort(lat)
		return lat[len(lat)*99/100], conversions, seqTime
	}
	inside := func() (time.Duration, error) {
		var took time.Duration
		_, err := b.l.Append(ctx, timedProposal{proposal{cmd: convertCmd{Actor: admin, Req: req}, insts: &b.insts, units: &b.units}, &took})
		return took, unwrapCost(err)
	}
	outside := func() (time.Duration, error) {
		_, err := b.Convert(ctx, admin, req)
		return 0, err // refused on the durable read: the sequencer never sees it
	}
	defer func(n int) { maxConversionScan = n }(maxConversionScan)
	bounded := maxConversionScan

	base, _, _ := postP99(nil)
	t.Logf("baseline: poster p99 %v", base)
	for _, phase := range []struct {
		name    string
		scan    int
		convert func() (time.Duration, error)
	}{
		{"planned in the sequencer, every outcome (before)", 1 << 30, inside},
		{"planned outside, every outcome (unbounded scan)", 1 << 30, outside},
		{fmt.Sprintf("planned outside, scan bounded at %d (now)", bounded), bounded, outside},
	} {
		maxConversionScan = phase.scan
		p99, n, seq := postP99(phase.convert)
		per := time.Duration(0)
		if n > 0 {
			per = seq / time.Duration(n)
		}
		t.Logf("%s: poster p99 %v (%.1f× baseline); %d conversions refused meanwhile, sequencer time %v each",
			phase.name, p99, float64(p99)/float64(base), n, per)
	}

	// A granted conversion over the most outcomes a scan looks at: the
	// sequencer's time planning it, against checking a plan made outside.
	maxConversionScan = bounded
	postLearnerOutcomes(t, b, college, "LOK", bounded-10, nil)
	for i, planned := range []bool{false, true, false, true} {
		r := rtRule(fmt.Sprintf("ok-%d", i), fmt.Sprintf("P%d", i))
		rtPublish(t, b, r)
		okReq := ConversionRequest{Learner: "LOK", Rule: r.ID}
		cmd := convertCmd{Actor: admin, Req: okReq}
		if planned {
			p, _, err := b.planDurable(admin, okReq)
			if err != nil {
				t.Fatal(err)
			}
			cmd.Plan = &p
		}
		var took time.Duration
		res, err := b.l.Append(ctx, timedProposal{proposal{cmd: cmd, insts: &b.insts, units: &b.units}, &took})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("granted conversion of %d items, plan made outside %v: sequencer time %v", len(res.Result.(ConversionResult).Items), planned, took)
	}
}

// unwrapCost is the refusal a costError carries, or err.
func unwrapCost(err error) error {
	if ce, ok := err.(*costError); ok {
		return ce.err
	}
	return err
}
