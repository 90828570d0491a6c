package accreditation

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
)

const ctWorkers = 32

// ctRun starts n goroutines at once (they wait on one gate) and waits for
// them all.
func ctRun(n int, fn func(i int)) {
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			fn(i)
		}()
	}
	close(gate)
	wg.Wait()
}

// TestConcurrentConversionsRespectCap: 32 conversions of one learner under
// one capped rule at once, some naming overlapping outcomes and some asking
// for every eligible one. The sequencer decides them one after the other,
// so the cap holds over all of them, no outcome is used twice toward the
// target, every answered conversion is in the journal as answered, and the
// journal replays to the live state.
func TestConcurrentConversionsRespectCap(t *testing.T) {
	ctx := context.Background()
	b := newTestBank(t)
	col := b.institution(t, "college.example")
	b.institution(t, "univ.example")
	const learner, n = "L000123", 40
	items := make([]OutcomeInput, n)
	for i := range items {
		items[i] = outcome(learner, fmt.Sprintf("ct-%d", i))
		items[i].Credits.Amount = 150 // 1.5 standard credits each, 60 in all
	}
	res, err := b.PostOutcomes(ctx, col, items)
	if err != nil {
		t.Fatal(err)
	}
	seqs := make([]uint64, n)
	for i, r := range res {
		if r.Status != PostCreated {
			t.Fatalf("item %d: %s %v", i, r.Status, r.Err)
		}
		seqs[i] = r.Seq
	}
	// The cap (25) is no multiple of 1.5, so the item that reaches it is
	// always cut, and 60 eligible credits are far more than it.
	const cap Amount = 2500
	target := Target{Institution: "univ.example", Programme: "BSC-CS"}
	if _, err := b.PublishRule(ctx, regulator, RuleInput{ID: "ct-rule", Target: target,
		Source: RuleSource{Sectors: []string{"non_degree"}}, Ratio: 10000, Cap: amountPtr(cap), ValidFrom: "2026-01-01"}); err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		granted = map[uint64]ConversionResult{}
		refused = map[Code]int{}
	)
	ctRun(ctWorkers, func(i int) {
		req := ConversionRequest{Learner: learner, Rule: "ct-rule"}
		if i%8 != 0 { // seven in eight name five outcomes that overlap their neighbours'
			for j := range 5 {
				req.Outcomes = append(req.Outcomes, seqs[(i*3+j)%n])
			}
		}
		actor := admin
		if i%2 == 1 {
			actor = Actor{Role: RoleLearner, ID: learner}
		}
		r, err := b.Convert(ctx, actor, req)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if CodeOf(err) == "" {
				t.Errorf("worker %d: non-domain error %v", i, err)
			}
			refused[CodeOf(err)]++
			return
		}
		granted[r.Seq] = r
	})
	if len(granted) == 0 {
		t.Fatal("no conversion was granted")
	}
	for code := range refused {
		if code != CodeNotEligible {
			t.Errorf("refusals %v: only not-eligible is expected", refused)
		}
	}
	var total Amount
	usedBy := map[uint64]uint64{}
	entries := ptEntries(t, b)
	for seq, r := range granted {
		total += r.Granted
		for _, it := range r.Items {
			if prev, ok := usedBy[it.Outcome]; ok {
				t.Errorf("outcome %d used by conversions %d and %d", it.Outcome, prev, seq)
			}
			usedBy[it.Outcome] = seq
		}
		if seq >= uint64(len(entries)) || entries[seq].Type != TypeConversionGranted {
			t.Fatalf("answered conversion %d is not in the journal", seq)
		}
		c := ptDecode[Conversion](t, entries[seq].Content)
		if c.Learner == b.ref(t, r.Learner) { // the journal names the learner by reference
			c.Learner = r.Learner
		}
		if !reflect.DeepEqual(c, r.Conversion) {
			t.Errorf("journal %d has %+v, the bank answered %+v", seq, c, r.Conversion)
		}
	}
	journalled := 0
	for _, e := range entries {
		if e.Type == TypeConversionGranted {
			journalled++
		}
	}
	if journalled != len(granted) {
		t.Errorf("%d conversions in the journal, %d answered", journalled, len(granted))
	}
	// At least one worker asked for every eligible outcome, and there were
	// more than enough, so the cap is reached exactly and not passed.
	if total != cap {
		t.Errorf("granted %s in all, want the cap %s", total, cap)
	}
	bal, err := b.Balance(learner)
	if err != nil {
		t.Fatal(err)
	}
	if bal.Granted[target.String()] != total {
		t.Errorf("balance grants %s toward %s, conversions %s", bal.Granted[target.String()], target, total)
	}
	t.Logf("%d workers: %d conversions granted %s (%d outcomes), refusals %v", ctWorkers, len(granted), total, len(usedBy), refused)
	b.checkReplay(t)
	ptInvariants(t, b, ctConversions(granted), "after concurrent conversions")
}

func ctConversions(m map[uint64]ConversionResult) map[uint64]Conversion {
	out := map[uint64]Conversion{}
	for seq, r := range m {
		out[seq] = r.Conversion
	}
	return out
}

// TestConcurrentPostsIdempotent: many posts of one idempotency key at once.
// With the same content exactly one is created and every other answer is a
// duplicate of its seq; with different contents exactly one is created and
// every other is a conflict. Either way the journal holds one outcome.
func TestConcurrentPostsIdempotent(t *testing.T) {
	for _, same := range []bool{true, false} {
		t.Run(fmt.Sprintf("same_content=%t", same), func(t *testing.T) {
			ctx := context.Background()
			b := newTestBank(t)
			col := b.institution(t, "college.example")
			results := make([]PostResult, ctWorkers)
			ctRun(ctWorkers, func(i int) {
				o := outcome("L000123", "ct-key")
				if !same {
					h := int64(30 + i) // within a factor of two of the credits' 48 hours
					o.Hours = &h
				}
				res, err := b.PostOutcomes(ctx, col, []OutcomeInput{o})
				if err != nil {
					t.Errorf("worker %d: %v", i, err)
					return
				}
				results[i] = res[0]
			})
			if t.Failed() {
				return
			}
			var created []PostResult
			for i, r := range results {
				switch {
				case r.Status == PostCreated:
					created = append(created, r)
				case same && r.Status != PostDuplicate:
					t.Errorf("worker %d: %s %v, want duplicate", i, r.Status, r.Err)
				case !same && (r.Status != PostRejected || CodeOf(r.Err) != CodeConflict):
					t.Errorf("worker %d: %s %v, want a conflict", i, r.Status, r.Err)
				}
			}
			if len(created) != 1 {
				t.Fatalf("%d created, want exactly 1", len(created))
			}
			if same {
				for i, r := range results {
					if r.Seq != created[0].Seq || r.Outcome == nil || !reflect.DeepEqual(r.Outcome.OutcomeInput, created[0].Outcome.OutcomeInput) {
						t.Errorf("worker %d: seq %d outcome %+v, want the original %d", i, r.Seq, r.Outcome, created[0].Seq)
					}
				}
			}
			recorded := 0
			for _, e := range ptEntries(t, b) {
				if e.Type == TypeOutcomeRecorded {
					recorded++
				}
			}
			if recorded != 1 {
				t.Errorf("%d outcomes in the journal, want 1", recorded)
			}
			b.checkReplay(t)
		})
	}
}

// TestInstitutionCacheFollowsChanges: Institution answers from a cache, and
// must still show every change once the write that made it has returned,
// while readers hammer it, and posts decided from the cache must see it.
func TestInstitutionCacheFollowsChanges(t *testing.T) {
	b := newTestBank(t)
	ctx := context.Background()
	inst := b.institution(t, "cache.example")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := b.Institution("cache.example"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	for round := range 20 {
		kid := fmt.Sprintf("k-%d", round)
		if _, err := b.AddKey(ctx, admin, "cache.example", testKey(t, kid)); err != nil {
			t.Fatal(err)
		}
		in, err := b.Institution("cache.example")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(in.Keys, func(k PublicJWK) bool { return k.Kid == kid }) {
			t.Fatalf("round %d: key %s added but not seen", round, kid)
		}
		if _, err := b.RemoveKey(ctx, admin, "cache.example", kid); err != nil {
			t.Fatal(err)
		}
		if in, err = b.Institution("cache.example"); err != nil || slices.ContainsFunc(in.Keys, func(k PublicJWK) bool { return k.Kid == kid }) {
			t.Fatalf("round %d: key %s removed but still seen (%v)", round, kid, err)
		}
		if _, err := b.Suspend(ctx, regulator, "cache.example", "audit"); err != nil {
			t.Fatal(err)
		}
		if in, err := b.Institution("cache.example"); err != nil || in.Suspension == nil {
			t.Fatalf("round %d: suspended but Institution says %+v, %v", round, in, err)
		}
		res, err := b.PostOutcomes(ctx, inst, []OutcomeInput{outcome("L1", fmt.Sprintf("s-%d", round))})
		if err != nil || res[0].Status != PostRejected || CodeOf(res[0].Err) != CodeNotAccredited {
			t.Fatalf("round %d: post while suspended: %+v, %v", round, res, err)
		}
		if _, err := b.Reinstate(ctx, regulator, "cache.example", ""); err != nil {
			t.Fatal(err)
		}
		if in, err := b.Institution("cache.example"); err != nil || in.Suspension != nil {
			t.Fatalf("round %d: reinstated but Institution says %+v, %v", round, in, err)
		}
		b.post(t, inst, outcome("L1", fmt.Sprintf("r-%d", round)))
	}
	b.checkReplay(t)
}
