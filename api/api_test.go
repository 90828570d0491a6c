package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"creditbank/ledger"
)

// TestStory walks the contract's main path over HTTP with real tokens.
func TestStory(t *testing.T) {
	s := newTestServer(t)
	ck := s.institution(t, "college.example")
	s.institution(t, "univ.example")
	college := instToken(t, ck, "college.example")
	outcome := map[string]any{
		"idempotency_key": "2026-fall-CS101-L000123", "learner": "L000123",
		"unit":   map[string]any{"code": "CS101", "title": "Introduction to Programming"},
		"sector": "non_degree", "level": 6, "field": "0613",
		"credits": map[string]any{"amount": "3", "system": "cn-credit"}, "hours": 48,
		"result": map[string]any{"passed": true, "score": "86"}, "completed_on": "2026-07-01",
	}
	resp, body := s.do(t, "POST", "/v1/outcomes", college, outcome)
	if resp.StatusCode != 201 {
		t.Fatalf("post: %d %s", resp.StatusCode, body)
	}
	var stored struct {
		Seq             uint64 `json:"seq"`
		StandardCredits string `json:"standard_credits"`
	}
	if err := json.Unmarshal(body, &stored); err != nil || stored.StandardCredits != "3" {
		t.Fatalf("stored %s: %v", body, err)
	}
	if resp, body := s.do(t, "POST", "/v1/outcomes", college, outcome); resp.StatusCode != 200 {
		t.Fatalf("replay: %d %s", resp.StatusCode, body)
	}
	learner := s.token(t, "learner", "L000123")
	if resp, body := s.do(t, "GET", "/v1/learners/L000123/transcript", learner, nil); resp.StatusCode != 200 {
		t.Fatalf("transcript: %d %s", resp.StatusCode, body)
	}
	if resp, _ := s.do(t, "GET", "/v1/learners/L000999/transcript", learner, nil); resp.StatusCode != 403 {
		t.Fatalf("another learner's transcript: %d", resp.StatusCode)
	}
	reg := s.token(t, "regulator", "moe")
	rule := map[string]any{"id": "nd-cs-to-bsc", "target": map[string]any{"institution": "univ.example", "programme": "BSC-CS"},
		"source": map[string]any{"sectors": []string{"non_degree", "vocational"}, "min_level": 5, "fields": []string{"06"},
			"min_score": "60", "max_age_days": 1825, "institutions": []string{}},
		"ratio": "0.5", "cap": "20", "valid_from": "2026-01-01", "valid_until": nil}
	if resp, body := s.do(t, "POST", "/v1/rules", reg, rule); resp.StatusCode != 201 {
		t.Fatalf("rule: %d %s", resp.StatusCode, body)
	}
	resp, body = s.do(t, "POST", "/v1/conversions", learner, map[string]any{"learner": "L000123", "rule": "nd-cs-to-bsc"})
	if resp.StatusCode != 201 {
		t.Fatalf("convert: %d %s", resp.StatusCode, body)
	}
	var conv struct {
		Granted string `json:"granted"`
	}
	if err := json.Unmarshal(body, &conv); err != nil || conv.Granted != "1.5" {
		t.Fatalf("conversion %s", body)
	}
	resp, body = s.do(t, "POST", "/v1/conversions", learner, map[string]any{"learner": "L000123", "rule": "nd-cs-to-bsc"})
	if resp.StatusCode != 422 {
		t.Fatalf("second conversion: %d %s", resp.StatusCode, body)
	}
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil || p.Type != problemBase+"not-eligible" || len(p.Reasons) != 1 || p.Reasons[0].Reason != "already_used" {
		t.Fatalf("problem %s", body)
	}
	checkLog(t, s)
}

// checkLog verifies the checkpoint and every inclusion proof over HTTP.
func checkLog(t *testing.T, s *testServer) {
	t.Helper()
	if _, err := s.ledger.SignCheckpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, vkey := s.do(t, "GET", "/v1/log/key", "", nil)
	verifier, err := note.NewVerifier(string(vkey[:len(vkey)-1]))
	if err != nil {
		t.Fatalf("verifier key %q: %v", vkey, err)
	}
	_, signed := s.do(t, "GET", "/v1/log/checkpoint", "", nil)
	c, err := ledger.OpenCheckpoint(signed, verifier)
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	adm := s.token(t, "admin", "root")
	for i := uint64(0); i < c.Size; i++ {
		_, entry := s.do(t, "GET", fmt.Sprintf("/v1/log/entries/%d", i), adm, nil)
		resp, body := s.do(t, "GET", fmt.Sprintf("/v1/log/proof/inclusion?index=%d&size=%d", i, c.Size), "", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("inclusion %d: %d %s", i, resp.StatusCode, body)
		}
		var p inclusionProof
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckRecord(decodeHashes(t, p.Hashes), int64(c.Size), c.Root, int64(i), tlog.RecordHash(entry)); err != nil {
			t.Fatalf("inclusion %d does not verify: %v", i, err)
		}
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
	s := newTestServer(t)
	adm := s.token(t, "admin", "root")
	tests := []struct {
		name, method, path, token string
		body                      any
		status                    int
		problem                   string
		allow                     string
	}{
		{"unknown path", "GET", "/v1/nothing", "", nil, 404, "not-found", ""},
		{"wrong method", "POST", "/v1/log/checkpoint", "", nil, 405, "method-not-allowed", "GET"},
		{"index past size", "GET", "/v1/log/proof/inclusion?index=3&size=3", "", nil, 400, "out-of-range", ""},
		{"negative", "GET", "/v1/log/proof/inclusion?index=-1&size=3", "", nil, 400, "bad-parameter", ""},
		{"from past to", "GET", "/v1/log/proof/consistency?from=3&to=2", "", nil, 400, "out-of-range", ""},
		{"no token", "GET", "/v1/institutions/x.example", "", nil, 401, "unauthorized", ""},
		{"unknown institution", "GET", "/v1/institutions/x.example", adm, nil, 404, "not-found", ""},
		{"duplicate member", "POST", "/v1/institutions", adm, []byte(`{"id":"a.example","id":"b.example"}`), 400, "bad-json", ""},
		{"unknown member", "POST", "/v1/institutions", adm, []byte(`{"id":"a.example","colour":"red"}`), 400, "bad-json", ""},
		{"trailing data", "POST", "/v1/institutions", adm, []byte(`{} {}`), 400, "bad-json", ""},
		{"invalid registration", "POST", "/v1/institutions", adm, []byte(`{"id":"A","name":"x","kind":"university","keys":[]}`), 422, "invalid", ""},
		{"learner registering", "POST", "/v1/institutions", s.token(t, "learner", "L1"), []byte(`{}`), 403, "forbidden", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := s.do(t, tt.method, tt.path, tt.token, tt.body)
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
	if size := s.ledger.Size(); size != 0 {
		t.Fatalf("refused requests wrote %d entries", size)
	}
}

// TestRecordedAtIgnored: the server sets recorded_at and ignores a client's
// value (docs/contract.md section 3); the value is not part of the idempotency
// hash either, so a replay with another recorded_at is a duplicate.
func TestRecordedAtIgnored(t *testing.T) {
	s := newTestServer(t)
	k := s.institution(t, "college.example")
	tok := instToken(t, k, "college.example")
	o := map[string]any{"idempotency_key": "k1", "learner": "L1", "unit": map[string]any{"code": "CS101", "title": "Programming"},
		"sector": "vocational", "level": 5, "field": "0613", "credits": map[string]any{"amount": "3", "system": "cn-credit"},
		"result": map[string]any{"passed": true}, "completed_on": "2026-07-01", "recorded_at": "1999-01-01T00:00:00Z"}
	resp, body := s.do(t, "POST", "/v1/outcomes", tok, o)
	if resp.StatusCode != 201 || strings.Contains(string(body), "1999") {
		t.Fatalf("post: %d %s", resp.StatusCode, body)
	}
	o["recorded_at"] = "2000-01-01T00:00:00Z"
	if resp, body := s.do(t, "POST", "/v1/outcomes", tok, o); resp.StatusCode != 200 {
		t.Fatalf("replay with another recorded_at: %d %s", resp.StatusCode, body)
	}
}

// TestLongReadSlots: transcript reads take a slot each and give it back,
// wait while every slot is taken, and stop waiting when the client goes.
func TestLongReadSlots(t *testing.T) {
	s := newTestServer(t)
	admin := s.token(t, "admin", "ops")
	for i := range cap(s.handler.longReads) + 3 {
		if resp, body := s.do(t, "GET", "/v1/learners/L1/transcript", admin, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("read %d: %d %s", i, resp.StatusCode, body)
		}
	}
	for range cap(s.handler.longReads) {
		s.handler.longReads <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/v1/learners/L1/transcript", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a read was answered (%d) while every slot was taken", resp.StatusCode)
	}
	done := make(chan int)
	go func() {
		resp, _ := s.do(t, "GET", "/v1/learners/L1/transcript", admin, nil)
		done <- resp.StatusCode
	}()
	time.Sleep(100 * time.Millisecond)
	<-s.handler.longReads // one slot frees
	select {
	case code := <-done:
		if code != http.StatusOK {
			t.Fatalf("read after a slot freed: %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a read still waits after a slot freed")
	}
	for range cap(s.handler.longReads) - 1 {
		<-s.handler.longReads
	}
	if n := len(s.handler.longReads); n != 0 {
		t.Fatalf("%d slots still taken after every read ended", n)
	}
}
