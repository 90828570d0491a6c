package conformance

import (
	"net/http"
	"strings"
)

// Rules of version 2 (docs/contract.md section 8): every member of a rule
// body is required, retiring takes a reason, and a retired rule is
// published again only when the body says to reinstate it.

// ruleBody is a complete rule body toward univ's programme: the
// contract's example.
func (c *tc) ruleBody(id, programme string) map[string]any {
	return map[string]any{
		"id": id, "target": map[string]any{"institution": c.univ().id, "programme": programme},
		"source": map[string]any{"sectors": []string{"non_degree", "vocational"}, "min_level": 5, "fields": []string{"06"},
			"min_score": "60", "max_age_days": 1825, "institutions": []string{}},
		"ratio": "0.5", "cap": "20", "valid_from": "2020-01-01", "valid_until": nil,
	}
}

// openSource is a rule source of the sectors with every other member
// spelled out as "no limit".
func openSource(sectors ...string) map[string]any {
	return map[string]any{"sectors": sectors, "min_level": 0, "fields": []string{}, "min_score": nil,
		"max_age_days": nil, "institutions": []string{}}
}

// wantType checks a problem's type, urn:creditbank:problem:kind.
func (c *tc) wantType(p map[string]any, kind string) {
	if got, _ := p["type"].(string); got != "urn:creditbank:problem:"+kind {
		c.fatalf("problem type %v, want urn:creditbank:problem:%s: %s", p["type"], kind, compact(p))
	}
}

// incompleteRule is a rule body with one member left out (or set to null),
// which the server must refuse with 400 naming it, writing nothing.
func incompleteRule(name, path string, null bool) caseDef {
	return caseDef{"rule/" + name, func(c *tc) {
		body := c.ruleBody(c.instID("partial"), "P-PARTIAL")
		parent, leaf := body, path
		if top, rest, nested := strings.Cut(path, "."); nested {
			parent, leaf = body[top].(map[string]any), rest
		}
		if null {
			parent[leaf] = nil
		} else {
			delete(parent, leaf)
		}
		c.refused(func() {
			p := c.wantProblem(c.do("POST", "/v1/rules", c.admin(), body), http.StatusBadRequest)
			if detail, _ := p["detail"].(string); !strings.Contains(detail, path) {
				c.fatalf("the refusal of a rule without %s does not name it: %s", path, compact(p))
			}
		})
	}}
}

func ruleLifeCases() []caseDef {
	return []caseDef{
		incompleteRule("cap-required", "cap", false),
		incompleteRule("valid-until-required", "valid_until", false),
		incompleteRule("min-score-required", "source.min_score", false),
		incompleteRule("institutions-required", "source.institutions", false),
		incompleteRule("ratio-not-null", "ratio", true),
		incompleteRule("fields-not-null", "source.fields", true),
		{"rule/nulls-said-explicitly", func(c *tc) {
			body := c.ruleBody(c.instID("nulls"), "P-NULLS")
			body["cap"], body["valid_until"] = nil, nil
			src := body["source"].(map[string]any)
			src["min_score"], src["max_age_days"] = nil, nil
			got := c.obj(c.want(c.do("POST", "/v1/rules", c.admin(), body), http.StatusCreated))
			if got["cap"] != nil || got["valid_until"] != nil {
				c.fatalf("a rule published with cap and valid_until null answered %s", compact(got))
			}
		}},
		{"rule/retire-needs-reason", func(c *tc) {
			id, _ := c.rule(nil)
			for _, body := range []any{map[string]any{}, map[string]any{"reason": ""}, map[string]any{"reason": strings.Repeat("r", 501)}} {
				c.refused(func() {
					c.wantProblem(c.do("POST", "/v1/rules/"+id+"/retirement", c.admin(), body),
						http.StatusBadRequest, http.StatusUnprocessableEntity)
				})
			}
		}},
		{"rule/retirement-reason-shown", func(c *tc) {
			id, _ := c.rule(nil)
			got := c.obj(c.want(c.do("POST", "/v1/rules/"+id+"/retirement", c.admin(), map[string]any{"reason": "agreement ended"}), http.StatusCreated))
			seq := c.num(got, "seq")
			rule := c.obj(c.want(c.do("GET", "/v1/rules/"+id, c.college().tok(c), nil), http.StatusOK))
			ret, _ := rule["retirement"].(map[string]any)
			if rule["retired"] != true || ret == nil || ret["reason"] != "agreement ended" || c.num(ret, "seq") != seq {
				c.fatalf("GET of a rule retired by entry %d for \"agreement ended\" answered %s", seq, compact(rule))
			}
			entry := c.obj(c.want(c.do("GET", "/v1/log/entries/"+itoa(seq), c.admin(), nil), http.StatusOK))
			content, _ := entry["content"].(map[string]any)
			if content["reason"] != "agreement ended" {
				c.fatalf("the retirement entry does not record its reason: %s", compact(entry))
			}
		}},
		{"rule/retired-not-republished", func(c *tc) {
			id, programme := c.rule(nil)
			c.want(c.do("POST", "/v1/rules/"+id+"/retirement", c.admin(), map[string]any{"reason": "ended"}), http.StatusCreated)
			c.refused(func() {
				p := c.wantProblem(c.do("POST", "/v1/rules", c.admin(), c.ruleBody(id, programme)), http.StatusConflict)
				c.wantType(p, "rule-retired")
			})
			rule := c.obj(c.want(c.do("GET", "/v1/rules/"+id, c.admin(), nil), http.StatusOK))
			if rule["retired"] != true || c.num(rule, "version") != 1 {
				c.fatalf("a refused republication changed the rule: %s", compact(rule))
			}
		}},
		{"rule/reinstate", func(c *tc) {
			id, programme := c.rule(nil)
			c.want(c.do("POST", "/v1/rules/"+id+"/retirement", c.admin(), map[string]any{"reason": "paused"}), http.StatusCreated)
			body := c.ruleBody(id, programme)
			body["reinstate"] = true
			got := c.obj(c.want(c.do("POST", "/v1/rules", c.admin(), body), http.StatusCreated))
			if c.num(got, "version") != 2 || got["retired"] != false || got["reinstated"] != true {
				c.fatalf("reinstating answered %s, want version 2, not retired, reinstated", compact(got))
			}
			entry := c.obj(c.want(c.do("GET", "/v1/log/entries/"+itoa(c.num(got, "seq")), c.admin(), nil), http.StatusOK))
			if content, _ := entry["content"].(map[string]any); content["reinstated"] != true {
				c.fatalf("the entry of a reinstatement does not record it: %s", compact(entry))
			}
			l := c.learner()
			c.converted(l, id, c.posted(c.college(), l, 1, nil))
		}},
		{"rule/reinstate-active-refused", func(c *tc) {
			id, programme := c.rule(nil)
			body := c.ruleBody(id, programme)
			body["reinstate"] = true
			c.refused(func() { c.wantProblem(c.do("POST", "/v1/rules", c.admin(), body), http.StatusConflict) })
		}},
	}
}
