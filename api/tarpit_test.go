package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestHeldRefusals: on a real server on loopback, a 429 is answered only
// after its Retry-After (at most a second), so a client that asks again at
// once is slowed to one request a second per connection. Past the bound
// (here two held answers), a 429 is answered at once and closes its
// connection; what is not refused is never held.
func TestHeldRefusals(t *testing.T) {
	s := newTestServer(t)
	limit := RateLimit{Rate: 0.001, Burst: 1} // nothing comes back during the test
	srv := httptest.NewServer(New(Config{Bank: s.bank, Auth: s.auth, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		AnonymousRate: limit, HeldRefusals: 2}))
	t.Cleanup(srv.Close)
	get := func(c *http.Client, path string) (*http.Response, time.Duration) {
		t.Helper()
		req, err := http.NewRequestWithContext(context.Background(), "GET", srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp, time.Since(start)
	}
	one, two := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
	if resp, _ := get(one, "/v1/log/key"); resp.StatusCode != 200 {
		t.Fatalf("first request: %d", resp.StatusCode)
	}
	if resp, _ := get(two, "/v1/log/key"); resp.StatusCode != 200 {
		t.Fatalf("first request from another address: %d", resp.StatusCode)
	}
	// Three refused at once: two are held, the third answered at once,
	// closing its connection.
	type answer struct {
		status     int
		took       time.Duration
		closing    bool
		retryAfter int
	}
	var (
		mu      sync.Mutex
		answers []answer
		wg      sync.WaitGroup
	)
	for _, c := range []*http.Client{one, clientFrom("127.0.0.1"), two} {
		wg.Go(func() {
			resp, took := get(c, "/v1/log/checkpoint")
			mu.Lock()
			ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			answers = append(answers, answer{resp.StatusCode, took, resp.Close, ra})
			mu.Unlock()
		})
	}
	wg.Wait()
	held, closed := 0, 0
	var heldAfter, closedAfter int
	for _, a := range answers {
		if a.status != http.StatusTooManyRequests {
			t.Fatalf("answers %+v: want every one 429", answers)
		}
		switch {
		case a.took >= 900*time.Millisecond && !a.closing:
			held++
			heldAfter = a.retryAfter
		case a.took < 900*time.Millisecond && a.closing:
			closed++
			closedAfter = a.retryAfter
		}
	}
	if held != 2 || closed != 1 {
		t.Fatalf("answers %+v: want two held about a second and one answered at once closing its connection", answers)
	}
	// The second a held answer waited is taken off its Retry-After, so a
	// client that waits as told asks again when it would have.
	if heldAfter > closedAfter-1 {
		t.Errorf("a held answer says Retry-After %d, one sent at once %d: want the hold taken off", heldAfter, closedAfter)
	}
	// Health checks are never refused, so never held.
	if resp, took := get(one, "/healthz"); resp.StatusCode != 200 || took >= 900*time.Millisecond {
		t.Fatalf("healthz: %d after %s", resp.StatusCode, took)
	}
}
