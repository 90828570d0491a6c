package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"creditbank/ledger"
)

// newTestServer starts the API over a fresh ledger with n entries on a real
// loopback listener.
func newTestServer(t *testing.T, n int) (*httptest.Server, *ledger.Ledger) {
	t.Helper()
	keys, _, err := ledger.GenerateKeys(ledger.DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := ledger.Open(ledger.Options{Dir: t.TempDir(), Keys: keys, Logger: log, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for i := range n {
		content, _ := ledger.MarshalContent(map[string]int{"n": i})
		if _, err := l.Append(context.Background(), ledger.Records{{Type: "test.entry", Actor: "test", Content: content}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.SignCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(l, log))
	t.Cleanup(srv.Close)
	return srv, l
}

func get(t *testing.T, url string, method string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestCheckpointAndProofs(t *testing.T) {
	srv, l := newTestServer(t, 13)
	_, vkey := get(t, srv.URL+"/v1/log/key", "GET")
	verifier, err := note.NewVerifier(string(vkey[:len(vkey)-1]))
	if err != nil {
		t.Fatalf("verifier key %q: %v", vkey, err)
	}
	_, signed := get(t, srv.URL+"/v1/log/checkpoint", "GET")
	c, err := ledger.OpenCheckpoint(signed, verifier)
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	if c.Size != 13 {
		t.Fatalf("checkpoint size %d", c.Size)
	}
	for i := uint64(0); i < c.Size; i++ {
		resp, body := get(t, fmt.Sprintf("%s/v1/log/proof/inclusion?index=%d&size=%d", srv.URL, i, c.Size), "GET")
		if resp.StatusCode != 200 {
			t.Fatalf("inclusion %d: %d %s", i, resp.StatusCode, body)
		}
		var p inclusionProof
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		entry, err := l.Entry(i)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckRecord(decodeHashes(t, p.Hashes), int64(c.Size), c.Root, int64(i), tlog.RecordHash(entry)); err != nil {
			t.Fatalf("inclusion %d does not verify: %v", i, err)
		}
	}
	old, err := l.RootAt(5)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, srv.URL+"/v1/log/proof/consistency?from=5&to=13", "GET")
	if resp.StatusCode != 200 {
		t.Fatalf("consistency: %d %s", resp.StatusCode, body)
	}
	var p consistencyProof
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckTree(decodeHashes(t, p.Hashes), 13, c.Root, 5, old); err != nil {
		t.Fatalf("consistency does not verify: %v", err)
	}
}

func decodeHashes(t *testing.T, in []string) []tlog.Hash {
	t.Helper()
	out := make([]tlog.Hash, len(in))
	for i, s := range in {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != tlog.HashSize {
			t.Fatalf("hash %q", s)
		}
		copy(out[i][:], b)
	}
	return out
}

func TestProblems(t *testing.T) {
	srv, _ := newTestServer(t, 3)
	tests := []struct {
		name, method, path string
		status             int
		problem            string
		allow              string
	}{
		{"unknown path", "GET", "/v1/nothing", 404, "not-found", ""},
		{"wrong method", "POST", "/v1/log/checkpoint", 405, "method-not-allowed", "GET"},
		{"index past size", "GET", "/v1/log/proof/inclusion?index=3&size=3", 400, "out-of-range", ""},
		{"size past tree", "GET", "/v1/log/proof/inclusion?index=0&size=4", 400, "out-of-range", ""},
		{"negative", "GET", "/v1/log/proof/inclusion?index=-1&size=3", 400, "bad-parameter", ""},
		{"leading zero", "GET", "/v1/log/proof/inclusion?index=01&size=3", 400, "bad-parameter", ""},
		{"missing", "GET", "/v1/log/proof/consistency?from=1", 400, "bad-parameter", ""},
		{"from zero", "GET", "/v1/log/proof/consistency?from=0&to=3", 400, "out-of-range", ""},
		{"from after to", "GET", "/v1/log/proof/consistency?from=3&to=2", 400, "out-of-range", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, srv.URL+tt.path, tt.method)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
			var p Problem
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			if p.Type != problemBase+tt.problem || p.Status != tt.status {
				t.Fatalf("problem %+v", p)
			}
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Fatalf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	srv, _ := newTestServer(t, 0)
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, body := get(t, srv.URL+path, "GET"); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
}
