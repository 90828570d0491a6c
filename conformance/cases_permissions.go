package conformance

import (
	"net/http"
	"net/url"
)

// Every cell of the permission table of docs/contract.md section 2, including
// the rows that depend on the data. A "no" cell answers 403 and writes
// nothing; a "yes" cell succeeds. Cells of roles whose tokens the caller
// did not give are skipped.

// who names a token for a cell.
type who string

const (
	asAdmin       who = "admin"
	asRegulator   who = "regulator"
	asInstitution who = "institution"
	asLearner     who = "learner"
)

var roles = []who{asAdmin, asRegulator, asInstitution, asLearner}

// tokenAs is a token of role: the institution is the college (unless said
// otherwise), the learner is sub.
func (c *tc) tokenAs(role who, sub string) string {
	switch role {
	case asAdmin:
		return c.admin()
	case asRegulator:
		return c.regulator()
	case asInstitution:
		return c.college().tok(c)
	}
	return c.learnerToken(sub)
}

// request sets up what a cell needs and returns the request to make with
// the cell's token (which must write nothing else).
type request func(c *tc) func(token string) reply

// cell is one cell: the request, and whether it is allowed.
func cell(action string, role who, allowed bool, req request, okStatus ...int) caseDef {
	name := "permission/" + action + "/" + string(role)
	return caseDef{name, func(c *tc) {
		token := c.tokenAs(role, c.learner())
		do := req(c)
		if allowed {
			c.want(do(token), okStatus...)
			return
		}
		c.refused(func() { c.wantProblem(do(token), http.StatusForbidden) })
	}}
}

// row makes the four cells of an action that depends on the role only.
func row(action string, allowed map[who]bool, req request, okStatus ...int) []caseDef {
	var out []caseDef
	for _, r := range roles {
		out = append(out, cell(action, r, allowed[r], req, okStatus...))
	}
	return out
}

// permissionCases is every cell, row by row of the contract's table.
func permissionCases() []caseDef {
	var cs []caseDef
	for _, part := range [][]caseDef{
		rolePermissionCases(), revocationPermissionCases(), readPermissionCases(),
		conversionPermissionCases(), row("audit-listing", adminReg, func(c *tc) func(string) reply {
			return func(tok string) reply { return c.do("GET", "/v1/audit/conversions", tok, nil) }
		}, http.StatusOK),
	} {
		cs = append(cs, part...)
	}
	return cs
}

// adminOnly and adminReg are the allowed cells of rows that depend on the
// role only.
var (
	adminOnly = map[who]bool{asAdmin: true}
	adminReg  = map[who]bool{asAdmin: true, asRegulator: true}
)

// rolePermissionCases are the rows of writes (and the institution read)
// that depend on the role only.
func rolePermissionCases() []caseDef {
	var cs []caseDef
	cs = append(cs, row("register-institution", adminOnly, func(c *tc) func(string) reply {
		body := (&inst{id: c.instID("perm"), keys: []*ikey{newKey(c, "EdDSA")}}).body("employer")
		return func(tok string) reply { return c.do("POST", "/v1/institutions", tok, body) }
	}, http.StatusCreated)...)
	cs = append(cs, row("read-institution", map[who]bool{asAdmin: true, asRegulator: true, asInstitution: true, asLearner: true},
		func(c *tc) func(string) reply {
			path := "/v1/institutions/" + c.univ().id
			return func(tok string) reply { return c.do("GET", path, tok, nil) }
		}, http.StatusOK)...)
	cs = append(cs, row("add-key", adminOnly, func(c *tc) func(string) reply {
		path := "/v1/institutions/" + c.college().id + "/keys"
		return func(tok string) reply { return c.do("POST", path, tok, newKey(c, "EdDSA").jwk()) }
	}, http.StatusCreated, http.StatusOK)...)
	cs = append(cs, row("remove-key", adminOnly, func(c *tc) func(string) reply {
		k := newKey(c, "EdDSA")
		in := c.register("permkey", "employer", newKey(c, "EdDSA"), k)
		return func(tok string) reply {
			return c.do("DELETE", "/v1/institutions/"+in.id+"/keys/"+url.PathEscape(k.kid), tok, nil)
		}
	}, http.StatusOK, http.StatusNoContent)...)
	cs = append(cs, row("accredit", adminReg, func(c *tc) func(string) reply {
		in := c.register("permacc", "employer")
		return func(tok string) reply {
			return c.do("POST", "/v1/institutions/"+in.id+"/accreditations", tok, map[string]any{
				"sectors": []string{"non_degree"}, "max_level": 5, "valid_from": "2001-01-01", "valid_until": "2002-12-31"})
		}
	}, http.StatusCreated)...)
	cs = append(cs, row("suspend", adminReg, func(c *tc) func(string) reply {
		in := c.register("permsusp", "employer")
		return func(tok string) reply {
			return c.do("POST", "/v1/institutions/"+in.id+"/suspension", tok, map[string]any{"reason": "conformance"})
		}
	}, http.StatusCreated, http.StatusOK)...)
	cs = append(cs, row("publish-rule", adminReg, func(c *tc) func(string) reply {
		body := map[string]any{
			"id": c.instID("rule"), "target": map[string]any{"institution": c.univ().id, "programme": "PERM"},
			"source": openSource("non_degree"), "ratio": "1", "cap": nil,
			"valid_from": "2020-01-01", "valid_until": nil}
		return func(tok string) reply { return c.do("POST", "/v1/rules", tok, body) }
	}, http.StatusCreated)...)
	cs = append(cs, row("post-outcome", map[who]bool{asInstitution: true}, func(c *tc) func(string) reply {
		body := c.outcome(c.learner(), nil)
		return func(tok string) reply { return c.do("POST", "/v1/outcomes", tok, body) }
	}, http.StatusCreated)...)
	return cs
}

// revocationPermissionCases: revoking an outcome is for the posting
// institution (and, by section 3, a regulator); another institution, an
// admin and a learner may not.
func revocationPermissionCases() []caseDef {
	revoke := func(c *tc) func(string) reply {
		seq := c.num(c.postOK(c.college(), c.outcome(c.learner(), nil)), "seq")
		return func(tok string) reply {
			return c.do("POST", "/v1/outcomes/"+itoa(seq)+"/revocation", tok, map[string]any{"reason": "conformance"})
		}
	}
	return []caseDef{
		cell("revoke-outcome", asAdmin, false, revoke),
		cell("revoke-outcome", asRegulator, true, revoke, http.StatusCreated, http.StatusOK),
		cell("revoke-outcome", asInstitution, true, revoke, http.StatusCreated, http.StatusOK),
		cell("revoke-outcome", asLearner, false, revoke),
		caseDef{"permission/revoke-outcome/other-institution", func(c *tc) {
			seq := c.num(c.postOK(c.college(), c.outcome(c.learner(), nil)), "seq")
			tok := c.univ().tok(c)
			c.refused(func() {
				c.wantProblem(c.do("POST", "/v1/outcomes/"+itoa(seq)+"/revocation", tok, map[string]any{"reason": "x"}), http.StatusForbidden)
			})
		}},
		caseDef{"permission/revoke-outcome/learner-own", func(c *tc) {
			l := c.learner()
			tok := c.learnerToken(l)
			seq := c.num(c.postOK(c.college(), c.outcome(l, nil)), "seq")
			c.refused(func() {
				c.wantProblem(c.do("POST", "/v1/outcomes/"+itoa(seq)+"/revocation", tok, map[string]any{"reason": "x"}), http.StatusForbidden)
			})
		}},
	}
}

// readPermissionCases: reading a learner's transcript and balance, which
// an institution may only under the learner's grant (cases_grants.go), not
// for having posted for the learner, and a learner only for itself.
func readPermissionCases() []caseDef {
	var cs []caseDef
	for _, what := range []string{"transcript", "balance"} {
		read := func(c *tc, tok, learner string) reply {
			return c.do("GET", "/v1/learners/"+learner+"/"+what, tok, nil)
		}
		cs = append(cs,
			caseDef{"permission/read-" + what + "/admin", func(c *tc) {
				l := c.learner()
				c.posted(c.college(), l, 1, nil)
				c.want(read(c, c.admin(), l), http.StatusOK)
			}},
			caseDef{"permission/read-" + what + "/regulator", func(c *tc) {
				l := c.learner()
				c.posted(c.college(), l, 1, nil)
				c.want(read(c, c.regulator(), l), http.StatusOK)
			}},
			caseDef{"permission/read-" + what + "/institution-posted-for", func(c *tc) {
				l := c.learner()
				c.posted(c.college(), l, 1, nil)
				c.wantProblem(read(c, c.college().tok(c), l), http.StatusForbidden)
			}},
			caseDef{"permission/read-" + what + "/institution-not-posted-for", func(c *tc) {
				l := c.learner()
				c.posted(c.college(), l, 1, nil)
				c.wantProblem(read(c, c.univ().tok(c), l), http.StatusForbidden)
			}},
			caseDef{"permission/read-" + what + "/learner-own", func(c *tc) {
				l := c.learner()
				tok := c.learnerToken(l)
				c.posted(c.college(), l, 1, nil)
				c.want(read(c, tok, l), http.StatusOK)
			}},
			caseDef{"permission/read-" + what + "/learner-other", func(c *tc) {
				l, other := c.learner(), c.learner()
				tok := c.learnerToken(other)
				c.posted(c.college(), l, 1, nil)
				c.wantProblem(read(c, tok, l), http.StatusForbidden)
			}},
		)
	}
	return cs
}

// conversionPermissionCases: requesting a conversion is for an admin and
// the learner for itself; since version 2 no institution may, not even the
// rule's target.
func conversionPermissionCases() []caseDef {
	conv := func(name string, allowed bool, tok func(c *tc, learner string) string) caseDef {
		return caseDef{"permission/request-conversion/" + name, func(c *tc) {
			rule := fixture(c, "perm-rule", func() string { id, _ := c.rule(func(r map[string]any) { r["cap"] = nil }); return id })
			l := c.learner()
			token := tok(c, l)
			seqs := c.posted(c.college(), l, 1, nil)
			if allowed {
				c.want(c.convert(token, l, rule, seqs), http.StatusCreated)
				return
			}
			c.refused(func() { c.wantProblem(c.convert(token, l, rule, seqs), http.StatusForbidden) })
		}}
	}
	return []caseDef{
		conv("admin", true, func(c *tc, _ string) string { return c.admin() }),
		conv("regulator", false, func(c *tc, _ string) string { return c.regulator() }),
		conv("institution-target", false, func(c *tc, _ string) string { return c.univ().tok(c) }),
		conv("institution-not-target", false, func(c *tc, _ string) string { return c.college().tok(c) }),
		conv("learner-own", true, func(c *tc, l string) string { return c.learnerToken(l) }),
		conv("learner-other", false, func(c *tc, _ string) string { return c.learnerToken(c.learner()) }),
	}
}
