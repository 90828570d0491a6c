package api

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// TestAnonymousRateLimit: on a real server on loopback with a tight limit,
// a client address that spends its burst on routes that need no token is
// refused (429, Retry-After) on every one of them, but never on /healthz
// and /readyz nor on routes that take a token; another address keeps its
// whole burst.
func TestAnonymousRateLimit(t *testing.T) {
	s := newTestServer(t)
	const burst = 3
	limit := RateLimit{Rate: 0.001, Burst: burst} // nothing comes back during the test
	srv := httptest.NewServer(New(Config{Bank: s.bank, Auth: s.auth, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), AnonymousRate: limit}))
	t.Cleanup(srv.Close)
	admin := s.token(t, "admin", "root")
	// from sends a GET from the loopback address local.
	from := func(local, path, token string) *http.Response {
		t.Helper()
		c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
			return d.DialContext(ctx, network, addr)
		}}}
		req, err := http.NewRequest("GET", srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	steps := []struct {
		name, from, path, token string
		want                    int
	}{
		{"1 of the burst", "127.0.0.1", "/v1/log/checkpoint", "", 200},
		{"2 of the burst", "127.0.0.1", "/v1/log/key", "", 200},
		{"3 of the burst", "127.0.0.1", "/v1/log/proof/consistency?from=1&to=0", "", 400},
		{"over the burst", "127.0.0.1", "/v1/log/checkpoint", "", 429},
		{"metrics over the burst", "127.0.0.1", "/metrics", "", 429},
		{"openapi over the burst", "127.0.0.1", "/openapi.json", "", 429},
		{"jwks over the burst", "127.0.0.1", "/.well-known/jwks.json", "", 429},
		{"inclusion proof over the burst", "127.0.0.1", "/v1/log/proof/inclusion?index=0&size=1", "", 429},
		{"health never limited", "127.0.0.1", "/healthz", "", 200},
		{"readiness never limited", "127.0.0.1", "/readyz", "", 200},
		{"a route with a token is not limited by address", "127.0.0.1", "/v1/institutions", admin, 200},
		{"another address has its own burst", "127.0.0.2", "/v1/log/checkpoint", "", 200},
	}
	for _, st := range steps {
		resp := from(st.from, st.path, st.token)
		if resp.StatusCode != st.want {
			t.Fatalf("%s: GET %s from %s: %d, want %d", st.name, st.path, st.from, resp.StatusCode, st.want)
		}
		if st.want != 429 {
			continue
		}
		ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > int(1/limit.Rate) {
			t.Fatalf("%s: Retry-After %q, want whole seconds from 1 to %d", st.name, resp.Header.Get("Retry-After"), int(1/limit.Rate))
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("%s: Content-Type %q", st.name, ct)
		}
	}
}

// TestClientKey: the per-address limit buckets an IPv4 client by its
// address and an IPv6 one by its /64.
func TestClientKey(t *testing.T) {
	tests := []struct{ remote, want string }{
		{"192.0.2.7:4321", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:4321", "192.0.2.7"},
		{"[2001:db8:1:2:aaaa::1]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:bbbb::9]:80", "2001:db8:1:2::/64"},
		{"[2001:db8:1:3::1]:80", "2001:db8:1:3::/64"},
		{"@", "@"},
	}
	for _, tt := range tests {
		if got := clientKey(&http.Request{RemoteAddr: tt.remote}); got != tt.want {
			t.Errorf("clientKey(%q) = %q, want %q", tt.remote, got, tt.want)
		}
	}
}
