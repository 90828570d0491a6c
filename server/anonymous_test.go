package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestAnonymousRequestsLimitedPerAddress: with the default configuration, a
// client that asks for the checkpoint (which needs no token) over and over
// from one address is answered 429 with Retry-After once it has spent its
// burst, and the metrics share its bucket; health and readiness probes are
// never limited.
func TestAnonymousRequestsLimitedPerAddress(t *testing.T) {
	cfg := testConfig(t)
	// A held 429 would let the bucket refill before the next request;
	// holding is TestHeldRefusals's.
	cfg.HeldRefusals = -1
	s := startServer(t, cfg)
	for i := range 300 {
		if code, body := get(t, s.URL()+"/healthz", ""); code != http.StatusOK {
			t.Fatalf("GET /healthz %d: %d %s", i, code, body)
		}
	}
	ok := 0
	var limited *http.Response
	var body []byte
	for range 300 {
		resp, err := http.Get(s.URL() + "/v1/log/checkpoint")
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 4096)
		n, _ := resp.Body.Read(b)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			ok++
			continue
		}
		limited, body = resp, b[:n]
		break
	}
	if limited == nil {
		t.Fatalf("300 checkpoints from one address in a row were all answered")
	}
	if ok < 50 {
		t.Errorf("refused after %d checkpoints, want at least the burst of 50", ok)
	}
	if limited.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d after %d checkpoints, want 429", limited.StatusCode, ok)
	}
	if ra, err := strconv.Atoi(limited.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After %q, want whole seconds", limited.Header.Get("Retry-After"))
	}
	var p struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Type != "urn:creditbank:problem:rate-limited" {
		t.Errorf("problem %s, want type urn:creditbank:problem:rate-limited", body)
	}
	if code, _ := get(t, s.URL()+"/metrics", ""); code != http.StatusTooManyRequests {
		t.Errorf("GET /metrics from the same address: %d, want 429", code)
	}
	if code, _ := get(t, s.URL()+"/readyz", ""); code != http.StatusOK {
		t.Errorf("GET /readyz from the same address: %d, want 200", code)
	}
}

// TestMetricsAddr: by default /metrics is served on the API's address; with
// a metrics address it is served there alone (anything else there is 404),
// the API's address answers 404 for it, and the metrics lint clean.
func TestMetricsAddr(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		s := startServer(t, testConfig(t))
		if s.MetricsURL() != "" {
			t.Errorf("MetricsURL %q without a metrics address", s.MetricsURL())
		}
		if code, body := get(t, s.URL()+"/metrics", ""); code != http.StatusOK || !strings.Contains(body, "creditbank_build_info") {
			t.Errorf("GET /metrics on the API's address: %d", code)
		}
	})
	t.Run("own address", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.MetricsAddr = "127.0.0.1:0"
		s := startServer(t, cfg)
		if s.MetricsURL() == "" || s.MetricsURL() == s.URL() {
			t.Fatalf("MetricsURL %q, URL %q", s.MetricsURL(), s.URL())
		}
		if code, _ := get(t, s.URL()+"/metrics", ""); code != http.StatusNotFound {
			t.Errorf("GET /metrics on the API's address: %d, want 404", code)
		}
		code, body := get(t, s.MetricsURL()+"/metrics", "")
		if code != http.StatusOK {
			t.Fatalf("GET /metrics on the metrics address: %d %s", code, body)
		}
		for _, want := range []string{"creditbank_build_info", "creditbank_http_connections_limit", "creditbank_ledger_tree_size 0"} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
		for _, path := range []string{"/healthz", "/v1/log/checkpoint", "/metrics/"} {
			if code, _ := get(t, s.MetricsURL()+path, ""); code != http.StatusNotFound {
				t.Errorf("GET %s on the metrics address: %d, want 404", path, code)
			}
		}
		if code, _ := get(t, s.URL()+"/v1/log/checkpoint", ""); code != http.StatusOK {
			t.Errorf("GET /v1/log/checkpoint on the API's address: %d", code)
		}
		problems, err := testutil.GatherAndLint(s.Metrics().Registry)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("metric %s: %s", p.Metric, p.Text)
		}
	})
}
