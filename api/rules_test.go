package api

import (
	"encoding/json"
	"strings"
	"testing"
)

// Rules under version 2 (docs/contract.md section 8), over the real server.

// fullRule is a rule body with every member spelled out.
func fullRule(id string) map[string]any {
	return map[string]any{"id": id, "target": map[string]any{"institution": "univ.example", "programme": "BSC-CS"},
		"source": map[string]any{"sectors": []string{"non_degree"}, "min_level": 5, "fields": []string{"06"},
			"min_score": "60", "max_age_days": 1825, "institutions": []string{}},
		"ratio": "0.5", "cap": "20", "valid_from": "2020-01-01", "valid_until": nil}
}

// problemOf decodes a problem answer.
func problemOf(t *testing.T, body []byte) Problem {
	t.Helper()
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("not a problem: %s", body)
	}
	return p
}

// TestRuleBodyEveryMemberRequired leaves out each member of a rule body in
// turn, and sets each to null: a member left out, or null where null means
// nothing, is 400 bad-json naming it and writes nothing.
func TestRuleBodyEveryMemberRequired(t *testing.T) {
	s := newTestServer(t)
	s.institution(t, "univ.example")
	reg := s.token(t, "regulator", "moe")
	for i, m := range ruleMembers {
		t.Run(m.path, func(t *testing.T) {
			for _, null := range []bool{false, true} {
				body := fullRule("rule-" + strings.Repeat("x", i+1))
				parent, name := body, m.path
				if top, rest, ok := strings.Cut(m.path, "."); ok {
					parent, name = body[top].(map[string]any), rest
				}
				if null {
					parent[name] = nil
				} else {
					delete(parent, name)
				}
				size := s.ledger.Size()
				resp, out := s.do(t, "POST", "/v1/rules", reg, body)
				switch {
				case null && m.nullable:
					if resp.StatusCode != 201 {
						t.Fatalf("%s null: %d %s, want 201", m.path, resp.StatusCode, out)
					}
					continue
				case resp.StatusCode != 400:
					t.Fatalf("null %t: %d %s, want 400", null, resp.StatusCode, out)
				}
				if p := problemOf(t, out); p.Type != problemBase+"bad-json" || !strings.Contains(p.Detail, m.path) {
					t.Errorf("null %t: problem %+v does not name %s", null, p, m.path)
				}
				if s.ledger.Size() != size {
					t.Errorf("null %t: a refused rule wrote", null)
				}
			}
		})
	}
}

// TestRuleRetirementOverHTTP retires with a reason, shows it, refuses to
// publish the retired id again and reinstates it.
func TestRuleRetirementOverHTTP(t *testing.T) {
	s := newTestServer(t)
	s.institution(t, "univ.example")
	reg := s.token(t, "regulator", "moe")
	if resp, out := s.do(t, "POST", "/v1/rules", reg, fullRule("nd-cs")); resp.StatusCode != 201 {
		t.Fatalf("publish: %d %s", resp.StatusCode, out)
	}
	for _, tc := range []struct {
		name string
		body any
		want int
	}{
		{"no body", nil, 415},
		{"no reason", map[string]any{}, 400},
		{"empty reason", map[string]any{"reason": ""}, 422},
		{"other member", map[string]any{"reason": "x", "why": "y"}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			size := s.ledger.Size()
			if resp, out := s.do(t, "POST", "/v1/rules/nd-cs/retirement", reg, tc.body); resp.StatusCode != tc.want {
				t.Fatalf("%d %s, want %d", resp.StatusCode, out, tc.want)
			}
			if s.ledger.Size() != size {
				t.Fatal("a refused retirement wrote")
			}
		})
	}
	resp, out := s.do(t, "POST", "/v1/rules/nd-cs/retirement", reg, map[string]any{"reason": "agreement ended"})
	if resp.StatusCode != 201 {
		t.Fatalf("retire: %d %s", resp.StatusCode, out)
	}
	var retired struct {
		Seq    uint64
		Reason string
	}
	_ = json.Unmarshal(out, &retired)
	var rule ruleView
	_, out = s.do(t, "GET", "/v1/rules/nd-cs", reg, nil)
	if err := json.Unmarshal(out, &rule); err != nil || !rule.Retired || rule.Retirement == nil ||
		rule.Retirement.Reason != "agreement ended" || rule.Retirement.Seq != retired.Seq {
		t.Fatalf("GET retired rule: %s", out)
	}

	resp, out = s.do(t, "POST", "/v1/rules", reg, fullRule("nd-cs"))
	if p := problemOf(t, out); resp.StatusCode != 409 || p.Type != problemBase+"rule-retired" {
		t.Fatalf("publish a retired id: %d %s, want 409 rule-retired", resp.StatusCode, out)
	}
	again := fullRule("nd-cs")
	again["reinstate"] = true
	resp, out = s.do(t, "POST", "/v1/rules", reg, again)
	if err := json.Unmarshal(out, &rule); resp.StatusCode != 201 || err != nil || rule.Version != 2 || rule.Retired || !rule.Reinstated {
		t.Fatalf("reinstate: %d %s", resp.StatusCode, out)
	}
	_, out = s.do(t, "GET", "/v1/rules/nd-cs", reg, nil)
	if strings.Contains(string(out), `"retirement"`) {
		t.Fatalf("a reinstated rule still shows a retirement: %s", out)
	}
}
