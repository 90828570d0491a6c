package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"testing"
)

// TestRateLimitPerInstitution: each institution has a bucket of its own.
// On a real server on loopback with a tight limit, one institution that
// spends its burst is refused (429, Retry-After, nothing written) while
// another keeps its whole burst, reads and writes, and is refused only
// once it has spent its own; service tokens are never limited.
func TestRateLimitPerInstitution(t *testing.T) {
	s := newTestServer(t)
	ka := s.institution(t, "alpha.example")
	kb := s.institution(t, "beta.example")
	// One token per thousand seconds: nothing comes back during the test.
	const burst = 3
	limit := RateLimit{Rate: 0.001, Burst: burst}
	srv := httptest.NewServer(New(Config{Bank: s.bank, Auth: s.auth, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), InstitutionRate: limit}))
	t.Cleanup(srv.Close)
	front := &testServer{Server: srv, ledger: s.ledger}
	alpha, beta := instToken(t, ka, "alpha.example"), instToken(t, kb, "beta.example")
	admin := s.token(t, "admin", "root")

	steps := []struct {
		name       string
		token      string
		method     string
		path       string
		body       any
		want       int
		wantWrites bool // the ledger grows
	}{
		{"alpha 1 of its burst", alpha, "GET", "/v1/institutions/alpha.example", nil, 200, false},
		{"alpha 2 of its burst", alpha, "GET", "/v1/institutions/alpha.example", nil, 200, false},
		{"alpha 3 of its burst", alpha, "POST", "/v1/outcomes", outcomeFor("L1"), 201, true},
		{"alpha over its burst", alpha, "GET", "/v1/institutions/alpha.example", nil, 429, false},
		{"alpha's post over its burst writes nothing", alpha, "POST", "/v1/outcomes", outcomeFor("L1"), 429, false},
		{"beta unaffected: 1 of its burst", beta, "GET", "/v1/institutions/beta.example", nil, 200, false},
		{"beta unaffected: 2 of its burst", beta, "POST", "/v1/outcomes", outcomeFor("L2"), 201, true},
		{"alpha still refused", alpha, "GET", "/v1/institutions/alpha.example", nil, 429, false},
		{"beta unaffected: 3 of its burst", beta, "GET", "/v1/institutions/beta.example/outcomes?learner=L2", nil, 200, false},
		{"beta over its own burst", beta, "GET", "/v1/institutions/beta.example", nil, 429, false},
		{"admin never limited", admin, "GET", "/v1/institutions/alpha.example", nil, 200, false},
	}
	for _, st := range steps {
		before := s.ledger.Size()
		resp, body := front.do(t, st.method, st.path, st.token, st.body)
		if resp.StatusCode != st.want {
			t.Fatalf("%s: %s %s answered %d %s, want %d", st.name, st.method, st.path, resp.StatusCode, body, st.want)
		}
		if grew := s.ledger.Size() > before; grew != st.wantWrites {
			t.Fatalf("%s: the ledger grew %t, want %t", st.name, grew, st.wantWrites)
		}
		if st.want != 429 {
			continue
		}
		ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > int(1/limit.Rate) {
			t.Fatalf("%s: Retry-After %q, want whole seconds from 1 to %d", st.name, resp.Header.Get("Retry-After"), int(1/limit.Rate))
		}
		var p struct {
			Type   string `json:"type"`
			Status int    `json:"status"`
		}
		if err := json.Unmarshal(body, &p); err != nil || p.Type != "urn:creditbank:problem:rate-limited" || p.Status != 429 {
			t.Fatalf("%s: problem %s, want type urn:creditbank:problem:rate-limited", st.name, body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("%s: Content-Type %q", st.name, ct)
		}
	}
}
