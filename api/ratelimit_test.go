package api

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(RateLimit{Rate: 2, Burst: 3}, func() time.Time { return now })
	for i := range 3 {
		if ok, _ := l.allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := l.allow("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("over the burst: ok %t wait %s", ok, wait)
	}
	if ok, _ := l.allow("b"); !ok {
		t.Fatal("another institution was limited")
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _ := l.allow("a"); !ok {
		t.Fatal("refused after the token came back")
	}
	now = now.Add(time.Hour)
	l.allow("c")
	if _, kept := l.buckets["a"]; kept {
		t.Fatal("an idle full bucket was kept")
	}
}

// TestRateLimitHTTP: an institution over its rate gets 429 with
// Retry-After and nothing written; others go on.
func TestRateLimitHTTP(t *testing.T) {
	s := newTestServer(t)
	k := s.institution(t, "college.example")
	// A second handler over the same bank, with a tight limit.
	limited := httptest.NewServer(New(Config{Bank: s.bank, Auth: s.auth, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		InstitutionRate: RateLimit{Rate: 0.1, Burst: 2}}))
	defer limited.Close()
	tok := instToken(t, k, "college.example")
	front := &testServer{Server: limited, ledger: s.ledger}
	for i := range 2 {
		if resp, body := front.do(t, "GET", "/v1/institutions/college.example", tok, nil); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	before := s.ledger.Size()
	resp, body := front.do(t, "POST", "/v1/outcomes", tok, []byte(`{}`))
	if resp.StatusCode != 429 {
		t.Fatalf("over the rate: %d %s", resp.StatusCode, body)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	if s.ledger.Size() != before {
		t.Fatal("a limited request wrote")
	}
	if resp, _ := front.do(t, "GET", "/v1/institutions/college.example", s.token(t, "admin", "root"), nil); resp.StatusCode != 200 {
		t.Fatalf("admin limited with the institution: %d", resp.StatusCode)
	}
}
