package api

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"testing"
)

// transcriptOf reads a learner's transcript with tok and decodes its outcomes.
func transcriptOf(t *testing.T, s *testServer, learner, query, tok string) (int, []map[string]any, string) {
	t.Helper()
	resp, body := s.do(t, "GET", "/v1/learners/"+learner+"/transcript?"+query, tok, nil)
	var tr struct {
		Outcomes   []map[string]any `json:"outcomes"`
		NextCursor string           `json:"next_cursor"`
	}
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(body, &tr); err != nil {
			t.Fatalf("transcript: %v: %s", err, body)
		}
	}
	return resp.StatusCode, tr.Outcomes, tr.NextCursor
}

// TestTranscriptReaders: over HTTP with real tokens, every reader of a
// transcript sees each outcome's institution name and a revoked outcome's
// reason, and only the institution that posted an outcome sees its
// idempotency key.
func TestTranscriptReaders(t *testing.T) {
	s := newTestServer(t)
	ka, kb := s.institution(t, "alpha.example"), s.institution(t, "beta.example")
	alpha, beta := instToken(t, ka, "alpha.example"), instToken(t, kb, "beta.example")
	posted := map[string][]float64{}
	for i, who := range []string{"alpha.example", "beta.example", "alpha.example"} {
		tok := alpha
		if who == "beta.example" {
			tok = beta
		}
		o := outcomeFor("L000123")
		o["unit"] = map[string]any{"code": fmt.Sprintf("U%d", i), "title": "Unit"}
		resp, body := s.do(t, "POST", "/v1/outcomes", tok, o)
		var got map[string]any
		if resp.StatusCode != 201 || json.Unmarshal(body, &got) != nil {
			t.Fatalf("post: %d %s", resp.StatusCode, body)
		}
		if got["idempotency_key"] != o["idempotency_key"] || got["institution_name"] != "Inst "+who {
			t.Errorf("the answer to the post %s lacks its key or its institution's name", body)
		}
		posted[who] = append(posted[who], got["seq"].(float64))
	}
	first := posted["alpha.example"][0]
	if resp, body := s.do(t, "POST", fmt.Sprintf("/v1/outcomes/%d/revocation", int(first)), alpha, map[string]any{"reason": "wrong learner"}); resp.StatusCode != 201 {
		t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
	// The institutions read under the learner's grants (section 7).
	grantAccess(t, s, "L000123", "alpha.example")
	grantAccess(t, s, "L000123", "beta.example")
	readers := map[string]string{
		"admin": s.token(t, "admin", "root"), "regulator": s.token(t, "regulator", "moe"),
		"learner": s.token(t, "learner", "L000123"), "alpha.example": alpha, "beta.example": beta,
	}
	for who, tok := range readers {
		status, outcomes, _ := transcriptOf(t, s, "L000123", "", tok)
		if status != 200 || len(outcomes) != 3 {
			t.Fatalf("%s reads %d with %d outcomes", who, status, len(outcomes))
		}
		var keys []float64
		for _, o := range outcomes {
			if o["institution_name"] != "Inst "+o["institution"].(string) {
				t.Errorf("%s: outcome %v names its institution %v", who, o["seq"], o["institution_name"])
			}
			if _, ok := o["idempotency_key"]; ok {
				keys = append(keys, o["seq"].(float64))
			}
			rev, _ := o["revocation"].(map[string]any)
			if (o["seq"] == first) != (rev != nil) || (rev != nil && rev["reason"] != "wrong learner") {
				t.Errorf("%s: outcome %v has status %v and revocation %v", who, o["seq"], o["status"], rev)
			}
		}
		if want := posted[who]; !slices.Equal(keys, want) {
			t.Errorf("%s sees the idempotency keys of %v, want %v", who, keys, want)
		}
	}
}

// TestTranscriptFilterPages: a filtered transcript pages by its cursor alone
// and refuses the cursor under another filter.
func TestTranscriptFilterPages(t *testing.T) {
	s := newTestServer(t)
	k := s.institution(t, "alpha.example")
	tok := instToken(t, k, "alpha.example")
	var community []float64
	for i := range 6 {
		o := outcomeFor("L000123")
		o["unit"] = map[string]any{"code": fmt.Sprintf("U%d", i), "title": "Unit"}
		if i%2 == 0 {
			o["sector"] = "community"
		}
		resp, body := s.do(t, "POST", "/v1/outcomes", tok, o)
		var got map[string]any
		if resp.StatusCode != 201 || json.Unmarshal(body, &got) != nil {
			t.Fatalf("post: %d %s", resp.StatusCode, body)
		}
		if i%2 == 0 {
			community = append(community, got["seq"].(float64))
		}
	}
	adm := s.token(t, "admin", "root")
	var seen []float64
	query := "sector=community&limit=1"
	for pages := 0; ; pages++ {
		if pages > 6 {
			t.Fatal("too many pages")
		}
		status, outcomes, next := transcriptOf(t, s, "L000123", query, adm)
		if status != 200 {
			t.Fatalf("page %d: %d", pages, status)
		}
		for _, o := range outcomes {
			seen = append(seen, o["seq"].(float64))
		}
		if next == "" {
			break
		}
		if pages == 0 {
			if status, _, _ := transcriptOf(t, s, "L000123", "sector=degree&cursor="+url.QueryEscape(next), adm); status != 400 {
				t.Errorf("the cursor under another filter answered %d, want 400", status)
			}
		}
		query = "limit=1&cursor=" + url.QueryEscape(next)
	}
	if !slices.Equal(seen, community) {
		t.Fatalf("pages held %v, want the community outcomes %v", seen, community)
	}
}
