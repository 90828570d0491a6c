package conformance

import (
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Certified units and recognition cases (docs/contract.md section 13): a
// unit certified in advance, versioned, in a public catalogue; an outcome
// naming it must carry its level, field and standard credits. A case opened
// by a learner toward a programme is reviewed, decided, appealed once and
// the appeal decided, in that order; what it grants is bounded by the
// programme's limits as conversion items are, and revoking an outcome
// reverses the case's item of it.

// unitBody is a unit of inst certified from 2020 on, worth what the
// suite's outcome (c.outcome) is: level 6, field 0613, 3 cn-credits of 48
// hours.
func unitBody(inst, code string, mod func(u map[string]any)) map[string]any {
	u := map[string]any{"institution": inst, "code": code, "title": "Certified " + code, "sector": "non_degree",
		"level": 6, "field": "0613", "credits": map[string]any{"amount": "3", "system": "cn-credit"}, "hours": 48,
		"valid_from": "2020-01-01", "valid_until": nil}
	if mod != nil {
		mod(u)
	}
	return u
}

// certify certifies a unit as a regulator and returns the version
// answered.
func (c *tc) certify(u map[string]any) map[string]any {
	return c.obj(c.want(c.do("POST", "/v1/units", c.regulator(), u), http.StatusCreated))
}

// unitCodes pages through the catalogue under query, limit 1 a page and
// no token, and returns "code version" of each unit listed.
func (c *tc) unitCodes(query string) []string {
	var out []string
	path := "/v1/units?limit=1&" + query
	for range 10 {
		var page struct {
			Units []struct {
				Code    string `json:"code"`
				Version int    `json:"version"`
			} `json:"units"`
			NextCursor string `json:"next_cursor"`
		}
		c.decode(c.want(c.do("GET", path, "", nil), http.StatusOK), &page)
		for _, u := range page.Units {
			out = append(out, fmt.Sprintf("%s %d", u.Code, u.Version))
		}
		if page.NextCursor == "" {
			return out
		}
		path = "/v1/units?limit=1&cursor=" + page.NextCursor
	}
	c.fatalf("GET /v1/units?%s: more than 10 pages of one", query)
	return nil
}

func unitCases() []caseDef {
	return []caseDef{
		{"units/certify-versions-and-read", func(c *tc) {
			in := c.college()
			code := fmt.Sprintf("CU-%s-%d", c.s.runID, c.s.next())
			v1 := c.certify(unitBody(in.id, code, nil))
			if c.num(v1, "version") != 1 || c.str(v1, "standard_credits") != "3" {
				c.fatalf("the first version answers %s", compact(v1))
			}
			if v := c.num(c.certify(unitBody(in.id, code, func(u map[string]any) { u["title"] = "Renamed" })), "version"); v != 2 {
				c.fatalf("the same institution and code again is version %d, want 2", v)
			}
			path := "/v1/units/" + in.id + "/" + code
			if got := c.obj(c.want(c.do("GET", path, "", nil), http.StatusOK)); c.num(got, "version") != 2 || c.str(got, "title") != "Renamed" {
				c.fatalf("GET %s without a token answers %s, want version 2", path, compact(got))
			}
			if got := c.obj(c.want(c.do("GET", path+"?version=1", "", nil), http.StatusOK)); c.num(got, "version") != 1 {
				c.fatalf("GET %s?version=1 answers %s", path, compact(got))
			}
			c.wantProblem(c.do("GET", path+"?version=3", "", nil), http.StatusNotFound)
			c.wantProblem(c.do("GET", path+"-none", "", nil), http.StatusNotFound)
			for _, r := range []struct {
				what, token string
				body        map[string]any
				status      int
			}{
				{"an institution", in.tok(c), unitBody(in.id, code+"-x", nil), 403},
				{"a learner", c.learnerToken(c.learner()), unitBody(in.id, code+"-x", nil), 403},
				{"no token", "", unitBody(in.id, code+"-x", nil), 401},
				{"a member left out", c.admin(), unitBody(in.id, code+"-x", func(u map[string]any) { delete(u, "hours") }), 400},
				{"an unregistered institution", c.admin(), unitBody("nowhere-"+c.s.runID+".example", code, nil), 422},
				{"level 11", c.admin(), unitBody(in.id, code+"-x", func(u map[string]any) { u["level"] = 11 }), 422},
			} {
				c.refused(func() {
					if p := c.wantProblem(c.do("POST", "/v1/units", r.token, r.body), r.status); r.status == 401 && p["type"] != "urn:creditbank:problem:unauthorized" {
						c.fatalf("%s: %s", r.what, compact(p))
					}
				})
			}
		}},
		{"units/catalogue-filters-and-pages", func(c *tc) {
			in := c.accredited("units", "vocational_college")
			for _, u := range []struct {
				code, field string
				level       int
			}{{"A", "0714", 4}, {"B", "0715", 5}, {"C", "0613", 4}} {
				c.certify(unitBody(in.id, u.code, func(m map[string]any) { m["field"], m["level"] = u.field, u.level }))
			}
			c.certify(unitBody(in.id, "A", func(m map[string]any) { m["field"], m["level"] = "0714", 4 }))
			for _, f := range []struct {
				query string
				want  []string
			}{
				{"institution=" + in.id, []string{"A 2", "B 1", "C 1"}},
				{"institution=" + in.id + "&field=071", []string{"A 2", "B 1"}},
				{"institution=" + in.id + "&field=0714", []string{"A 2"}},
				{"institution=" + in.id + "&level=4", []string{"A 2", "C 1"}},
				{"institution=" + in.id + "&field=071&level=5", []string{"B 1"}},
				{"institution=" + in.id + "&level=7", nil},
			} {
				if got := c.unitCodes(f.query); !slices.Equal(got, f.want) {
					c.fatalf("GET /v1/units?%s one a page: %v, want %v in code order at the latest version", f.query, got, f.want)
				}
			}
			c.wantProblem(c.do("GET", "/v1/units?kind=x", "", nil), http.StatusBadRequest)
		}},
		{"units/outcome-mismatch-writes-nothing", func(c *tc) {
			in := c.college()
			code := fmt.Sprintf("CM-%s-%d", c.s.runID, c.s.next())
			c.certify(unitBody(in.id, code, nil))
			l := c.learner()
			for _, m := range []struct {
				what string
				mod  func(o map[string]any)
			}{
				{"another level", func(o map[string]any) { o["level"] = 5 }},
				{"another field", func(o map[string]any) { o["field"] = "0612" }},
				{"other credits", func(o map[string]any) {
					o["credits"], o["hours"] = map[string]any{"amount": "4", "system": "cn-credit"}, 64
				}},
			} {
				c.refused(func() {
					p := c.wantProblem(c.post(in, c.outcome(l, func(o map[string]any) { ofUnit(code)(o); m.mod(o) })), http.StatusUnprocessableEntity)
					c.wantType(p, "unit-mismatch")
				})
			}
			stored := c.postOK(in, c.outcome(l, ofUnit(code)))
			if c.str(stored, "standard_credits") != "3" {
				c.fatalf("an outcome of the unit as certified: %s", compact(stored))
			}
			// Another institution's unit of the same code is not that unit.
			c.postOK(c.univ(), c.outcome(l, func(o map[string]any) { ofUnit(code)(o); o["level"] = 5 }))
		}},
	}
}

// caseOf opens a recognition case of learner l toward programme prog of
// univ with outcomes seqs, and returns it.
func (c *tc) caseOf(l, prog string, seqs []uint64) map[string]any {
	return c.obj(c.want(c.do("POST", "/v1/recognitions", c.learnerToken(l), map[string]any{
		"target": map[string]any{"institution": c.univ().id, "programme": prog}, "outcomes": seqs,
		"evidence_sha256": []string{}, "statement": "what I learnt at work"}), http.StatusCreated))
}

// step takes a step of case id (reviews, decision, appeal,
// appeal/decision) with token and body.
func (c *tc) step(id, step, token string, body any) reply {
	return c.do("POST", "/v1/recognitions/"+id+"/"+step, token, body)
}

// decision is the body of a decision: granted amounts per outcome, or
// refused when there are none.
func decision(grants map[uint64]string, order ...uint64) map[string]any {
	items := []any{}
	for _, seq := range order {
		items = append(items, map[string]any{"outcome": seq, "amount": grants[seq]})
	}
	d := map[string]any{"decision": "granted", "items": items, "reasons": "assessed"}
	if len(items) == 0 {
		d["decision"] = "refused"
	}
	return d
}

// grantedItems returns a case's items_in_force as outcome → granted.
func (c *tc) grantedItems(rc map[string]any) map[uint64]string {
	out := map[uint64]string{}
	list, _ := rc["items_in_force"].([]any)
	for _, it := range list {
		m, _ := it.(map[string]any)
		out[c.num(m, "outcome")] = c.str(m, "granted")
	}
	return out
}

func recognitionCases() []caseDef {
	reviewed := func(c *tc, l, prog string, seqs []uint64) string {
		id := c.str(c.caseOf(l, prog, seqs), "id")
		c.want(c.step(id, "reviews", c.univ().tok(c), map[string]any{"comment": "interviewed"}), http.StatusCreated)
		return id
	}
	return []caseDef{
		{"recognitions/apply-and-who-reads", func(c *tc) {
			prog := c.programme(c.univ(), nil)
			l := c.learner()
			seqs := c.posted(c.college(), l, 1, nil)
			rc := c.caseOf(l, prog, seqs)
			id := c.str(rc, "id")
			if id != "r"+itoa(c.num(rc, "seq")) || c.str(rc, "status") != "applied" || c.str(rc, "learner") != l {
				c.fatalf("the new case answers %s", compact(rc))
			}
			for _, tok := range []string{c.learnerToken(l), c.univ().tok(c), c.regulator(), c.admin()} {
				c.want(c.do("GET", "/v1/recognitions/"+id, tok, nil), http.StatusOK)
			}
			c.wantProblem(c.do("GET", "/v1/recognitions/"+id, c.college().tok(c), nil), http.StatusForbidden)
			c.wantProblem(c.do("GET", "/v1/recognitions/"+id, c.learnerToken(c.learner()), nil), http.StatusNotFound)
			other := c.learner()
			c.refused(func() {
				c.wantProblem(c.do("POST", "/v1/recognitions", c.learnerToken(other), map[string]any{
					"target": map[string]any{"institution": c.univ().id, "programme": prog}, "outcomes": seqs,
					"evidence_sha256": []string{}, "statement": "not mine"}), http.StatusUnprocessableEntity)
			})
		}},
		{"recognitions/out-of-order-409", func(c *tc) {
			prog := c.programme(c.univ(), nil)
			l := c.learner()
			seqs := c.posted(c.college(), l, 1, nil)
			id := c.str(c.caseOf(l, prog, seqs), "id")
			c.refused(func() {
				c.wantType(c.wantProblem(c.step(id, "decision", c.univ().tok(c), decision(map[uint64]string{seqs[0]: "1"}, seqs[0])), http.StatusConflict), "conflict")
			})
			c.refused(func() {
				c.wantProblem(c.step(id, "appeal", c.learnerToken(l), map[string]any{"statement": "too soon"}), http.StatusConflict)
			})
			c.refused(func() {
				c.wantProblem(c.step(id, "reviews", c.college().tok(c), map[string]any{"comment": "not mine to review"}), http.StatusForbidden)
			})
			c.want(c.step(id, "reviews", c.univ().tok(c), map[string]any{"comment": "interviewed"}), http.StatusCreated)
			c.want(c.step(id, "decision", c.univ().tok(c), decision(nil)), http.StatusCreated)
			c.refused(func() {
				c.wantProblem(c.step(id, "reviews", c.univ().tok(c), map[string]any{"comment": "late"}), http.StatusConflict)
			})
			c.refused(func() { c.wantProblem(c.step(id, "decision", c.univ().tok(c), decision(nil)), http.StatusConflict) })
			c.refused(func() {
				c.wantProblem(c.step(id, "appeal/decision", c.regulator(), decision(nil)), http.StatusConflict)
			})
		}},
		{"recognitions/granted-within-limits", func(c *tc) {
			// Total 6, max_converted_share 0.5: recognised and converted
			// credit together count at most 3.
			prog := c.programme(c.univ(), nil)
			l := c.learner()
			seqs := c.posted(c.college(), l, 2, nil) // 3 standard credits each
			id := reviewed(c, l, prog, seqs)
			c.refused(func() {
				c.wantProblem(c.step(id, "decision", c.univ().tok(c), decision(map[uint64]string{seqs[0]: "3.5"}, seqs[0])), http.StatusUnprocessableEntity)
			})
			rc := c.obj(c.want(c.step(id, "decision", c.univ().tok(c), decision(map[uint64]string{seqs[0]: "2", seqs[1]: "2"}, seqs...)), http.StatusCreated))
			if got := c.grantedItems(rc); c.str(rc, "status") != "granted" || got[seqs[0]] != "2" || got[seqs[1]] != "1" || c.str(rc, "granted_in_force") != "3" {
				c.fatalf("2 and 2 asked under a share of 3: %s, want 2 and 1 granted", compact(rc))
			}
			audit := c.obj(c.want(c.do("GET", auditPath(l, prog), c.learnerToken(l), nil), http.StatusOK))
			if c.str(audit, "recognised") != "3" || c.str(audit, "converted") != "0" {
				c.fatalf("the audit after the grant: %s, want recognised 3", compact(audit))
			}
			// The share is used up: a second case can grant nothing.
			more := c.posted(c.college(), l, 1, nil)
			id2 := reviewed(c, l, prog, more)
			c.refused(func() {
				p := c.wantProblem(c.step(id2, "decision", c.univ().tok(c), decision(map[uint64]string{more[0]: "1"}, more[0])), http.StatusUnprocessableEntity)
				c.wantType(p, "not-eligible")
			})
		}},
		{"recognitions/refused-appealed-once-granted-by-regulator", func(c *tc) {
			prog := c.programme(c.univ(), nil)
			l := c.learner()
			seqs := c.posted(c.college(), l, 1, nil)
			id := reviewed(c, l, prog, seqs)
			rc := c.obj(c.want(c.step(id, "decision", c.univ().tok(c), decision(nil)), http.StatusCreated))
			on, err := time.Parse("2006-01-02", stepOn(c, rc, "decided"))
			c.check(err, "the decision's date")
			// The deadline is the server's: 30 days after the decision's
			// date. The suite cannot move the server's clock, so it checks
			// the date it names, not a late appeal.
			if by := c.str(rc, "appeal_by"); c.str(rc, "status") != "refused" || by != on.AddDate(0, 0, 30).Format("2006-01-02") {
				c.fatalf("a refusal on %s answers %s, want appeal_by 30 days later", on.Format("2006-01-02"), compact(rc))
			}
			c.refused(func() {
				c.wantProblem(c.step(id, "appeal", c.learnerToken(c.learner()), map[string]any{"statement": "not my case"}), http.StatusForbidden, http.StatusNotFound)
			})
			c.want(c.step(id, "appeal", c.learnerToken(l), map[string]any{"statement": "please look again"}), http.StatusCreated)
			c.refused(func() {
				c.wantProblem(c.step(id, "appeal", c.learnerToken(l), map[string]any{"statement": "again"}), http.StatusConflict)
			})
			grant := decision(map[uint64]string{seqs[0]: "2.5"}, seqs[0])
			c.refused(func() { c.wantProblem(c.step(id, "appeal/decision", c.univ().tok(c), grant), http.StatusForbidden) })
			rc = c.obj(c.want(c.step(id, "appeal/decision", c.regulator(), grant), http.StatusCreated))
			if c.str(rc, "status") != "granted_on_appeal" || c.grantedItems(rc)[seqs[0]] != "2.5" {
				c.fatalf("the regulator's grant on appeal: %s", compact(rc))
			}
			c.refused(func() { c.wantProblem(c.step(id, "appeal/decision", c.regulator(), grant), http.StatusConflict) })
			audit := c.obj(c.want(c.do("GET", auditPath(l, prog), c.admin(), nil), http.StatusOK))
			if c.str(audit, "recognised") != "2.5" {
				c.fatalf("the audit after a grant on appeal: %s, want recognised 2.5", compact(audit))
			}
		}},
		{"recognitions/revocation-reverses-the-item", func(c *tc) {
			prog := c.programme(c.univ(), nil)
			l := c.learner()
			seqs := c.posted(c.college(), l, 2, nil)
			id := reviewed(c, l, prog, seqs)
			c.want(c.step(id, "decision", c.univ().tok(c), decision(map[uint64]string{seqs[0]: "1", seqs[1]: "1.5"}, seqs...)), http.StatusCreated)
			rev := c.obj(c.want(c.do("POST", fmt.Sprintf("/v1/outcomes/%d/revocation", seqs[1]), c.college().tok(c),
				map[string]any{"reason": "entered in error"}), http.StatusCreated))
			if list, _ := rev["recognitions"].([]any); len(list) != 1 || !containsString(list, id) {
				c.fatalf("the revocation's answer %s does not name case %s", compact(rev), id)
			}
			rc := c.obj(c.want(c.do("GET", "/v1/recognitions/"+id, c.learnerToken(l), nil), http.StatusOK))
			if got := c.grantedItems(rc); len(got) != 1 || got[seqs[0]] != "1" || c.str(rc, "granted_in_force") != "1" {
				c.fatalf("the case after its outcome %d was revoked: %s, want only outcome %d's 1 in force", seqs[1], compact(rc), seqs[0])
			}
			audit := c.obj(c.want(c.do("GET", auditPath(l, prog), c.admin(), nil), http.StatusOK))
			if c.str(audit, "recognised") != "1" {
				c.fatalf("the audit after the revocation: %s, want recognised 1", compact(audit))
			}
		}},
	}
}

// stepOn is the date of the case's last step of kind step.
func stepOn(c *tc, rc map[string]any, step string) string {
	steps, _ := rc["steps"].([]any)
	for i := len(steps) - 1; i >= 0; i-- {
		if m, _ := steps[i].(map[string]any); m != nil && m["step"] == step {
			return c.str(m, "on")
		}
	}
	c.fatalf("case %s has no %s step", compact(rc), step)
	return ""
}

// containsString reports whether v holds s, at any depth.
func containsString(v any, s string) bool {
	switch x := v.(type) {
	case string:
		return x == s
	case map[string]any:
		for _, e := range x {
			if containsString(e, s) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if containsString(e, s) {
				return true
			}
		}
	}
	return false
}
