package api

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetricsLint drives real traffic through a server whose ledger reports
// to the metrics, then lints the registry with the checks `promtool check
// metrics` runs and checks a few values.
func TestMetricsLint(t *testing.T) {
	s := newTestServer(t)
	k := s.institution(t, "college.example")
	tok := instToken(t, k, "college.example")
	body := map[string]any{"outcomes": []any{
		map[string]any{"idempotency_key": "k1", "learner": "L1", "unit": map[string]any{"code": "CS101", "title": "Programming"},
			"sector": "vocational", "level": 5, "field": "0613", "credits": map[string]any{"amount": "3", "system": "cn-credit"},
			"result": map[string]any{"passed": true}, "completed_on": "2026-07-01"},
		map[string]any{"idempotency_key": "k2", "learner": "L1", "sector": "nonsense"},
	}}
	if resp, b := s.do(t, "POST", "/v1/outcomes", tok, body); resp.StatusCode != 200 {
		t.Fatalf("batch: %d %s", resp.StatusCode, b)
	}
	s.do(t, "GET", "/v1/learners/L1/transcript", "bad-token", nil)
	s.do(t, "GET", "/v1/no/such/thing", "", nil)
	resp, text := s.do(t, "GET", "/metrics", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	problems, err := testutil.GatherAndLint(s.metrics.Registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	for _, want := range []string{
		`creditbank_http_requests_total{code="200",method="POST",route="/v1/outcomes"} 1`,
		`creditbank_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`creditbank_auth_failures_total{reason="malformed"} 1`,
		`creditbank_outcomes_posted_total{result="created",sector="vocational"} 1`,
		`creditbank_outcomes_posted_total{result="rejected",sector="invalid"}`,
		"creditbank_ledger_tree_size ",
		"creditbank_store_l0_files ",
		"creditbank_ledger_group_entries_bucket",
		"creditbank_build_info{",
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
