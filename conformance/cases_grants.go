package conformance

import (
	"net/http"
	"slices"
	"strings"
)

// Consent (docs/contract.md section 7): an institution reads a learner's
// transcript and balance only under the learner's grant in force; without
// one it reads what it posted and the conversions toward its own
// programmes (GET /v1/institutions/{id}/outcomes?learner=). Grants and
// their withdrawals are ledger entries carrying the learner's reference
// (section 11) and nothing else of the person. Expiry cannot be checked from outside
// (the server's clock decides it); the package tests check it.

// grantBody is a grant to inst for 30 days.
func grantBody(inst string) map[string]any {
	return map[string]any{"institution": inst, "purpose": "conformance: admission", "expires_on": today().AddDate(0, 0, 30).Format("2006-01-02")}
}

// granted has learner grant inst access and returns the grant.
func (c *tc) granted(learner, inst string) map[string]any {
	return c.obj(c.want(c.do("POST", "/v1/learners/"+learner+"/grants", c.learnerToken(learner), grantBody(inst)), http.StatusCreated))
}

func grantCases() []caseDef {
	var cs []caseDef
	for _, what := range []string{"transcript", "balance"} {
		path := func(l string) string { return "/v1/learners/" + l + "/" + what }
		cs = append(cs,
			caseDef{"grants/" + what + "/institution-without-grant-refused", func(c *tc) {
				l := c.learner()
				c.posted(c.college(), l, 1, nil) // posting for a learner opens nothing
				c.wantProblem(c.do("GET", path(l), c.college().tok(c), nil), http.StatusForbidden)
			}},
			caseDef{"grants/" + what + "/granted-institution-reads", func(c *tc) {
				l := c.learner()
				c.posted(c.college(), l, 1, nil)
				c.granted(l, c.univ().id)
				c.want(c.do("GET", path(l), c.univ().tok(c), nil), http.StatusOK)
				c.wantProblem(c.do("GET", path(l), c.college().tok(c), nil), http.StatusForbidden) // granted to univ only
			}},
			caseDef{"grants/" + what + "/withdrawal-acts-at-once", func(c *tc) {
				l := c.learner()
				c.posted(c.college(), l, 1, nil)
				g := c.granted(l, c.univ().id)
				tok := c.univ().tok(c) // one token, reused: nothing it caches may outlive the grant
				c.want(c.do("GET", path(l), tok, nil), http.StatusOK)
				c.want(c.do("DELETE", "/v1/learners/"+l+"/grants/"+c.str(g, "id"), c.learnerToken(l), nil), http.StatusNoContent)
				c.wantProblem(c.do("GET", path(l), tok, nil), http.StatusForbidden)
			}},
		)
	}
	return append(cs,
		caseDef{"grants/listed-with-status", func(c *tc) {
			l := c.learner()
			g := c.granted(l, c.univ().id)
			c.want(c.do("DELETE", "/v1/learners/"+l+"/grants/"+c.str(g, "id"), c.learnerToken(l), nil), http.StatusNoContent)
			c.granted(l, c.univ().id) // again, once the first is withdrawn
			var page struct {
				Grants []struct {
					ID, Institution, Status string
				} `json:"grants"`
			}
			c.decode(c.want(c.do("GET", "/v1/learners/"+l+"/grants", c.learnerToken(l), nil), http.StatusOK), &page)
			if len(page.Grants) != 2 || page.Grants[0].ID != c.str(g, "id") || page.Grants[0].Status != "withdrawn" || page.Grants[1].Status != "active" {
				c.fatalf("grants of %s: %+v, want the withdrawn one then the active one", l, page.Grants)
			}
			c.want(c.do("GET", "/v1/learners/"+l+"/grants", c.admin(), nil), http.StatusOK)
			c.wantProblem(c.do("GET", "/v1/learners/"+l+"/grants", c.univ().tok(c), nil), http.StatusForbidden)
		}},
		caseDef{"grants/refusals-write-nothing", func(c *tc) {
			l := c.learner()
			c.granted(l, c.univ().id)
			tok := c.learnerToken(l)
			bad := func(mod func(b map[string]any)) map[string]any {
				b := grantBody(c.college().id)
				mod(b)
				return b
			}
			for _, r := range []struct {
				name   string
				token  string
				body   map[string]any
				status int
			}{
				{"already granted", tok, grantBody(c.univ().id), http.StatusConflict},
				{"unknown institution", tok, bad(func(b map[string]any) { b["institution"] = c.instID("nowhere") }), http.StatusUnprocessableEntity},
				{"purpose over 200 characters", tok, bad(func(b map[string]any) { b["purpose"] = strings.Repeat("p", 201) }), http.StatusUnprocessableEntity},
				{"expires in 367 days", tok, bad(func(b map[string]any) { b["expires_on"] = today().AddDate(0, 0, 367).Format("2006-01-02") }), http.StatusUnprocessableEntity},
				{"expired", tok, bad(func(b map[string]any) { b["expires_on"] = daysAgo(1) }), http.StatusUnprocessableEntity},
				{"personal data", tok, bad(func(b map[string]any) { b["name"] = "Ann Lee" }), http.StatusBadRequest},
				{"admin", c.admin(), grantBody(c.college().id), http.StatusForbidden},
				{"institution", c.college().tok(c), grantBody(c.college().id), http.StatusForbidden},
				{"another learner", c.learnerToken(c.learner()), grantBody(c.college().id), http.StatusForbidden},
			} {
				c.refused(func() {
					if p := c.wantProblem(c.do("POST", "/v1/learners/"+l+"/grants", r.token, r.body), r.status); p == nil {
						c.fatalf("%s: no problem", r.name)
					}
				})
			}
		}},
		caseDef{"grants/entries-carry-no-personal-data", func(c *tc) {
			l := c.learner()
			g := c.granted(l, c.univ().id)
			entry := c.obj(c.want(c.do("GET", "/v1/log/entries/"+itoa(c.num(g, "seq")), c.admin(), nil), http.StatusOK))
			if entry["type"] != "grant.created" {
				c.fatalf("entry %d is a %v, want grant.created", c.num(g, "seq"), entry["type"])
			}
			content, _ := entry["content"].(map[string]any)
			var members []string
			for k := range content {
				members = append(members, k)
			}
			slices.Sort(members)
			// The learner is named by a pseudonym that is not the id
			// (docs/contract.md section 11), so that erasing the learner
			// leaves nothing that names them.
			if !slices.Equal(members, []string{"expires_on", "institution", "learner", "purpose"}) {
				c.fatalf("grant.created content %s, want learner, institution, purpose and expires_on only", compact(content))
			}
			if ref, _ := content["learner"].(string); ref == "" || strings.Contains(strings.ToUpper(ref), strings.ToUpper(l)) {
				c.fatalf("grant.created names the learner %q, want a pseudonym other than the id %s", content["learner"], l)
			}
		}},
		caseDef{"grants/institution-reads-own-outcomes", func(c *tc) {
			l := c.learner()
			c.posted(c.college(), l, 1, func(o map[string]any) { o["result"] = map[string]any{"passed": false} })
			own := c.posted(c.univ(), l, 1, nil)
			r := c.obj(c.want(c.do("GET", "/v1/institutions/"+c.univ().id+"/outcomes?learner="+l, c.univ().tok(c), nil), http.StatusOK))
			outs, _ := r["outcomes"].([]any)
			if len(outs) != 1 || c.num(outs[0].(map[string]any), "seq") != own[0] {
				c.fatalf("univ's outcomes of %s: %s, want only its own outcome %d", l, compact(r), own[0])
			}
			if _, ok := r["totals"]; ok {
				c.fatalf("the institution's view carries the learner's totals: %s", compact(r))
			}
			c.wantProblem(c.do("GET", "/v1/institutions/"+c.college().id+"/outcomes?learner="+l, c.univ().tok(c), nil), http.StatusForbidden)
			c.wantProblem(c.do("GET", "/v1/institutions/"+c.univ().id+"/outcomes?learner="+l, c.learnerToken(l), nil), http.StatusForbidden)
			c.want(c.do("GET", "/v1/institutions/"+c.college().id+"/outcomes?learner="+l, c.admin(), nil), http.StatusOK)
		}},
		caseDef{"grants/target-reads-conversion-items", func(c *tc) {
			rule, _ := c.rule(nil) // toward univ
			l := c.learner()
			seqs := c.posted(c.college(), l, 1, nil)
			c.want(c.convert(c.admin(), l, rule, seqs), http.StatusCreated)
			r := c.obj(c.want(c.do("GET", "/v1/institutions/"+c.univ().id+"/outcomes?learner="+l, c.univ().tok(c), nil), http.StatusOK))
			convs, _ := r["conversions"].([]any)
			if len(convs) != 1 {
				c.fatalf("univ's view of %s: %s, want the one conversion toward its programme", l, compact(r))
			}
			if items, _ := c.items(convs[0].(map[string]any)); !slices.Equal(items, seqs) {
				c.fatalf("conversion items %v, want %v", items, seqs)
			}
			if outs, _ := r["outcomes"].([]any); len(outs) != 0 {
				c.fatalf("univ reads the college's outcomes: %s", compact(r))
			}
		}},
	)
}
