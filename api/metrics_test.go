package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
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
	s.do(t, "DELETE", "/v1/outcomes", "", nil)
	s.do(t, "GET", "/v1/learners/L1/transcript", "", nil)
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
		`creditbank_http_requests_total{code="405",method="DELETE",route="unmatched"} 1`,
		`creditbank_http_requests_total{code="401",method="GET",route="/v1/learners/{id}/transcript"} 2`,
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

// TestMetricsOpenMetrics: a scraper that asks for OpenMetrics gets it, with
// the checkpoint's tree size beside the tree's; one that does not, the
// Prometheus text format.
func TestMetricsOpenMetrics(t *testing.T) {
	s := newTestServer(t)
	s.institution(t, "college.example") // two entries
	if _, err := s.ledger.SignCheckpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	size := strconv.FormatUint(s.ledger.Size(), 10)
	for _, c := range []struct {
		accept, contentType, ending string
	}{
		{"application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5", "application/openmetrics-text; version=1.0.0;", "# EOF\n"},
		{"", "text/plain; version=0.0.4;", "\n"},
	} {
		req, _ := http.NewRequest("GET", s.URL+"/metrics", nil)
		if c.accept != "" {
			req.Header.Set("Accept", c.accept)
		}
		resp, body := send(t, req)
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, c.contentType) {
			t.Errorf("Accept %q: %d, Content-Type %q, want %q", c.accept, resp.StatusCode, ct, c.contentType)
		}
		if !strings.HasSuffix(string(body), c.ending) {
			t.Errorf("Accept %q: the body does not end in %q", c.accept, c.ending)
		}
		// OpenMetrics writes 2 as 2.0.
		for _, name := range []string{"creditbank_ledger_checkpoint_tree_size", "creditbank_ledger_tree_size"} {
			if !strings.Contains(string(body), "\n"+name+" "+size+"\n") && !strings.Contains(string(body), "\n"+name+" "+size+".0\n") {
				t.Errorf("Accept %q: no line %s %s", c.accept, name, size)
			}
		}
	}
}

// TestAccessLog checks the line every request leaves: its request id (the
// client's, or one made up and sent back), method, path and status.
func TestAccessLog(t *testing.T) {
	s := newTestServer(t)
	var buf syncBuffer
	s.handler.log = slog.New(slog.NewJSONHandler(&buf, nil))
	tests := []struct {
		name, method, path, id string
		status                 int
	}{
		{"client id", "GET", "/healthz", "req-42", 200},
		{"made-up id", "GET", "/v1/learners/L1/transcript", "", 401},
		{"no route", "GET", "/v1/none", "req-43", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf.Reset()
			req, _ := http.NewRequest(tc.method, s.URL+tc.path, nil)
			if tc.id != "" {
				req.Header.Set("X-Request-Id", tc.id)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			id := resp.Header.Get("X-Request-Id")
			if tc.id != "" && id != tc.id || id == "" {
				t.Fatalf("X-Request-Id %q, sent %q", id, tc.id)
			}
			var line struct {
				Msg       string `json:"msg"`
				RequestID string `json:"request_id"`
				Method    string `json:"method"`
				Path      string `json:"path"`
				Status    int    `json:"status"`
			}
			for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				if err := json.Unmarshal([]byte(l), &line); err != nil {
					t.Fatalf("log line %q: %v", l, err)
				}
			}
			if line.Msg != "request" || line.RequestID != id || line.Method != tc.method || line.Path != tc.path || line.Status != tc.status {
				t.Errorf("access log %+v, want request %s %s %s %d", line, id, tc.method, tc.path, tc.status)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer the server's goroutines may write to while
// the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// TestAccessLogLongPath: a path of 60 KB is logged cut to its first 256
// bytes, with a marker giving its length, and the request id and status
// are logged as for any other.
func TestAccessLogLongPath(t *testing.T) {
	s := newTestServer(t)
	var buf syncBuffer
	s.handler.log = slog.New(slog.NewJSONHandler(&buf, nil))
	path := "/v1/" + strings.Repeat("a", 60<<10)
	resp, _ := s.do(t, "GET", path, "", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET a 60 KB path: %d, want 404", resp.StatusCode)
	}
	var line struct {
		Msg    string `json:"msg"`
		Path   string `json:"path"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(buf.String())), &line); err != nil {
		t.Fatalf("log %q: %v", buf.String(), err)
	}
	want := path[:256] + "...(" + strconv.Itoa(len(path)) + " bytes)"
	if line.Msg != "request" || line.Status != 404 || line.Path != want {
		t.Errorf("access log line: msg %q, status %d, path of %d bytes %q...; want the path as %q", line.Msg, line.Status, len(line.Path), line.Path[:min(len(line.Path), 40)], want[250:])
	}
}
