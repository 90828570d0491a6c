package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"
)

// auditOutcomes is how many outcomes the audit phase's learner has, all
// of the programme's institution, so that every one is an item of the
// audit (docs/contract.md section 9).
const auditOutcomes = 500

// auditP99Ratio is the audit phase's target: the award audit's p99 at
// most this times the p99 of the same learner's whole transcript.
const auditP99Ratio = 1.5

// audit is the phase "audit": one learner with 500 outcomes of the run's
// first institution, posted after the fill in batches of 100 in which every
// other outcome is the learner's, and a programme of that institution with
// four requirements over the workload's fields and term and year caps.
// Config.Clients clients then read, for Config.Duration, each in turn the
// learner's award audit and its transcript of all 500 outcomes
// (limit=1000: one page), so that both are measured under the same load
// at the same time; the phase reports the p99 of each and their ratio,
// held to at most 1.5.
func (r *runner) audit(ctx context.Context) ([]Phase, error) {
	w := r.w
	learner, prog := "A"+w.run, "bench-"+w.run
	body, _ := json.Marshal(map[string]any{"id": prog, "institution": w.insts[0].id, "title": "Bench Bachelor", "total": "400",
		"requirements": []any{
			map[string]any{"id": "computing", "fields": []string{"061"}, "min": "120"},
			map[string]any{"id": "health", "fields": []string{"09"}, "min": "30"},
			map[string]any{"id": "business", "fields": []string{"04"}, "min": "30"},
			map[string]any{"id": "general", "fields": []string{"02", "07"}, "min": "60"},
		},
		"min_level": 4, "max_converted_share": nil, "max_per_institution": nil,
		"period_caps": map[string]any{"term": "60", "year": "100"}, "valid_from": "2020-01-01", "valid_until": nil})
	if _, err := r.c.do(ctx, "POST", "/v1/programmes", r.admin, body, http.StatusCreated, false); err != nil {
		return nil, fmt.Errorf("audit: publish the programme: %v", err)
	}
	for range auditOutcomes / 50 {
		if err := w.postBatch(ctx, r.c, 0, 100, func(j int) string {
			if j%2 == 0 {
				return learner
			}
			return poolLearner(rand.IntN(pool))
		}); err != nil {
			return nil, fmt.Errorf("audit: seed the learner: %v", err)
		}
	}
	auditPath := "/v1/learners/" + learner + "/programmes/" + prog + "/audit"
	transcriptPath := "/v1/learners/" + learner + "/transcript?limit=1000"
	items, err := r.checkAudit(ctx, auditPath, transcriptPath)
	if err != nil {
		return nil, err
	}

	var mu sync.Mutex
	var lat [2][]time.Duration // audits, transcripts
	var firstErr error
	paths := [2]string{auditPath, transcriptPath}
	start := time.Now()
	var wg sync.WaitGroup
	for wk := range r.cfg.Clients {
		wg.Go(func() {
			var mine [2][]time.Duration
			for i := wk; ctx.Err() == nil && time.Since(start) < r.cfg.Duration; i++ {
				t0 := time.Now()
				if err := r.c.get(ctx, paths[i%2], r.admin); err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					return
				}
				mine[i%2] = append(mine[i%2], time.Since(t0))
			}
			mu.Lock()
			lat[0], lat[1] = append(lat[0], mine[0]...), append(lat[1], mine[1]...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	if firstErr != nil {
		return nil, fmt.Errorf("audit: %v", firstErr)
	}
	side := func(l []time.Duration) Side {
		slices.Sort(l)
		return Side{Requests: len(l), Items: len(l), Seconds: elapsed, PerSec: float64(len(l)) / elapsed,
			P50ms: percentile(l, 50), P99ms: percentile(l, 99), P999ms: percentile(l, 99.9)}
	}
	tr := phaseOf("audit-tr", "reads", side(lat[1]))
	tr.TranscriptEntries = auditOutcomes
	au := phaseOf("audit", "audits", side(lat[0]))
	au.AuditItems = items
	if tr.P99ms > 0 {
		au.Ratio = au.P99ms / tr.P99ms
	}
	meets := au.Ratio > 0 && au.Ratio <= auditP99Ratio
	au.Target, au.Meets = fmt.Sprintf("p99≤%.1f×transcript's", auditP99Ratio), &meets
	return []Phase{tr, au}, nil
}

// cmpErr keeps the first error.
func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// checkAudit reads the audit and the transcript once: the transcript must
// hold the 500 outcomes in one page, and the audit must have looked at
// them. It returns how many items the audit listed.
func (r *runner) checkAudit(ctx context.Context, auditPath, transcriptPath string) (int, error) {
	b, err := r.c.do(ctx, "GET", transcriptPath, r.admin, nil, http.StatusOK, true)
	if err != nil {
		return 0, fmt.Errorf("audit: transcript: %v", err)
	}
	var tr struct {
		Outcomes   []json.RawMessage `json:"outcomes"`
		NextCursor string            `json:"next_cursor"`
	}
	if err := json.Unmarshal(b, &tr); err != nil || len(tr.Outcomes) != auditOutcomes || tr.NextCursor != "" {
		return 0, fmt.Errorf("audit: the learner's transcript holds %d outcomes (next cursor %q), want %d in one page (%v)",
			len(tr.Outcomes), tr.NextCursor, auditOutcomes, err)
	}
	if b, err = r.c.do(ctx, "GET", auditPath, r.admin, nil, http.StatusOK, true); err != nil {
		return 0, fmt.Errorf("audit: %v", err)
	}
	var a struct {
		Requirements []struct {
			Items []json.RawMessage `json:"items"`
		} `json:"requirements"`
		Other      []json.RawMessage `json:"other"`
		NotCounted []json.RawMessage `json:"not_counted"`
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return 0, fmt.Errorf("audit: %v", err)
	}
	n := len(a.Other) + len(a.NotCounted)
	for _, req := range a.Requirements {
		n += len(req.Items)
	}
	// Failed outcomes (one in twenty) are no items.
	if n < auditOutcomes*9/10 {
		return 0, fmt.Errorf("audit: the audit lists %d items of the learner's %d outcomes", n, auditOutcomes)
	}
	return n, nil
}
