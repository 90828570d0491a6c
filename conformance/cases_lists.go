package conformance

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
)

// Transcript filters, what a transcript shows, and the lists of
// institutions and of rules (docs/contract.md section 8).

// filterFixture is a learner with outcomes of two institutions, one revoked,
// for the filter cases: the seqs of each kind.
type filterFixture struct {
	learner                         string
	collegeND, collegeComm, revoked uint64
	univDegree                      uint64
}

func (c *tc) filterFixture() filterFixture {
	return fixture(c, "filter-learner", func() filterFixture {
		l := c.learner()
		post := func(in *inst, mod func(o map[string]any)) uint64 {
			return c.num(c.postOK(in, c.outcome(l, func(o map[string]any) { c.ownUnit(o); mod(o) })), "seq")
		}
		f := filterFixture{learner: l}
		f.collegeND = post(c.college(), func(o map[string]any) { o["completed_on"] = daysAgo(40) })
		f.collegeComm = post(c.college(), func(o map[string]any) { o["sector"], o["level"], o["completed_on"] = "vocational", 4, daysAgo(30) })
		f.revoked = post(c.college(), func(o map[string]any) { o["completed_on"] = daysAgo(20) })
		f.univDegree = post(c.univ(), func(o map[string]any) { o["sector"], o["level"], o["completed_on"] = "degree", 7, daysAgo(10) })
		c.want(c.do("POST", fmt.Sprintf("/v1/outcomes/%d/revocation", f.revoked), c.college().tok(c), map[string]any{"reason": "conformance: wrong unit"}),
			http.StatusCreated)
		return f
	})
}

// filtered reads every page of learner's transcript under query (the
// cursor alone after the first page) and returns the outcome seqs.
func (c *tc) filtered(learner, query string) []uint64 {
	var seqs []uint64
	q := query
	for pages := 0; ; pages++ {
		if pages > 20 {
			c.fatalf("more than 20 pages of %s", query)
		}
		tr := c.obj(c.want(c.do("GET", "/v1/learners/"+learner+"/transcript?"+q, c.admin(), nil), http.StatusOK))
		list, _ := tr["outcomes"].([]any)
		for _, o := range list {
			seqs = append(seqs, c.num(o.(map[string]any), "seq"))
		}
		next, _ := tr["next_cursor"].(string)
		if next == "" {
			return seqs
		}
		q = "limit=1&cursor=" + url.QueryEscape(next)
	}
}

func listCases() []caseDef {
	return []caseDef{
		{"transcript/filters", func(c *tc) {
			f := c.filterFixture()
			for _, tc := range []struct {
				query string
				want  []uint64
			}{
				{"sector=vocational", []uint64{f.collegeComm}},
				{"level=6", []uint64{f.collegeND, f.revoked}},
				{"institution=" + c.univ().id, []uint64{f.univDegree}},
				{"status=revoked", []uint64{f.revoked}},
				{"status=active", []uint64{f.collegeND, f.collegeComm, f.univDegree}},
				{"from=" + daysAgo(30) + "&to=" + daysAgo(20), []uint64{f.collegeComm, f.revoked}},
				{"sector=non_degree&status=active&institution=" + c.college().id, []uint64{f.collegeND}},
				{"sector=degree&level=6", nil},
			} {
				for _, limit := range []string{"1", "100"} {
					if got := c.filtered(f.learner, tc.query+"&limit="+limit); !slices.Equal(got, tc.want) {
						c.fatalf("transcript?%s&limit=%s holds outcomes %v, want %v", tc.query, limit, got, tc.want)
					}
				}
			}
		}},
		{"transcript/cursor-keeps-its-filter", func(c *tc) {
			f := c.filterFixture()
			tr := c.obj(c.want(c.do("GET", "/v1/learners/"+f.learner+"/transcript?sector=non_degree&limit=1", c.admin(), nil), http.StatusOK))
			next, _ := tr["next_cursor"].(string)
			if next == "" {
				c.fatalf("a first page of 1 of 2 outcomes has no next_cursor: %s", compact(tr))
			}
			p := c.wantProblem(c.do("GET", "/v1/learners/"+f.learner+"/transcript?sector=degree&cursor="+url.QueryEscape(next), c.admin(), nil),
				http.StatusBadRequest)
			c.wantType(p, "bad-cursor")
			again := c.obj(c.want(c.do("GET", "/v1/learners/"+f.learner+"/transcript?sector=non_degree&cursor="+url.QueryEscape(next), c.admin(), nil),
				http.StatusOK))
			list, _ := again["outcomes"].([]any)
			if len(list) != 1 || c.num(list[0].(map[string]any), "seq") != f.revoked {
				c.fatalf("the filter repeated with its cursor gives %s, want outcome %d", compact(again["outcomes"]), f.revoked)
			}
		}},
		{"transcript/totals-are-the-whole-transcript", func(c *tc) {
			f := c.filterFixture()
			whole := c.balance(f.learner, c.admin())
			tr := c.obj(c.want(c.do("GET", "/v1/learners/"+f.learner+"/transcript?sector=degree", c.admin(), nil), http.StatusOK))
			totals, _ := tr["totals"].(map[string]any)
			if totals == nil {
				c.fatalf("no totals: %s", compact(tr))
			}
			c.wantAmount(totals, "standard_credits", c.amountOf(whole, "standard_credits"), "the totals of a filtered transcript")
		}},
		{"transcript/readable", func(c *tc) {
			f := c.filterFixture()
			check := func(token, reader string) {
				tr := c.transcript(f.learner, token)
				list, _ := tr["outcomes"].([]any)
				for _, x := range list {
					o := x.(map[string]any)
					seq, in := c.num(o, "seq"), c.str(o, "institution")
					if c.str(o, "institution_name") != "Conformance "+in {
						c.fatalf("outcome %d: institution_name %v, want the name of %s", seq, o["institution_name"], in)
					}
					_, hasKey := o["idempotency_key"]
					if hasKey != (reader == in) {
						c.fatalf("reader %s: outcome %d of %s shows its idempotency key: %t", reader, seq, in, hasKey)
					}
					rev, _ := o["revocation"].(map[string]any)
					if (seq == f.revoked) != (rev != nil) || (rev != nil && rev["reason"] != "conformance: wrong unit") {
						c.fatalf("outcome %d: status %v, revocation %s", seq, o["status"], compact(rev))
					}
				}
			}
			check(c.admin(), "admin")
			// An institution reads a learner's transcript only under the
			// learner's grant (section 7), whoever posted what on it.
			c.granted(f.learner, c.college().id)
			c.granted(f.learner, c.univ().id)
			check(c.college().tok(c), c.college().id)
			check(c.univ().tok(c), c.univ().id)
			check(c.learnerToken(f.learner), "learner")
		}},
		{"lists/institutions", func(c *tc) {
			suspended := c.accredited("listsusp", "employer")
			c.want(c.do("POST", "/v1/institutions/"+suspended.id+"/suspension", c.admin(), map[string]any{"reason": "conformance"}), http.StatusCreated)
			found := map[string]map[string]any{c.college().id: nil, c.univ().id: nil, suspended.id: nil}
			missing := len(found)
			cursor := ""
			for pages := 0; missing > 0; pages++ {
				if pages > 1000 {
					c.fatalf("the institutions of the suite are not in 1000 pages")
				}
				page := c.obj(c.want(c.do("GET", "/v1/institutions?limit=1000&cursor="+url.QueryEscape(cursor), c.admin(), nil), http.StatusOK))
				list, _ := page["institutions"].([]any)
				for _, x := range list {
					in := x.(map[string]any)
					if v, ok := found[c.str(in, "id")]; ok && v == nil {
						found[c.str(in, "id")] = in
						missing--
					}
				}
				if cursor, _ = page["next_cursor"].(string); cursor == "" {
					break
				}
			}
			for id, in := range found {
				if in == nil {
					c.fatalf("institution %s is not in the list", id)
				}
				accs, _ := in["accreditations"].([]any)
				if len(accs) == 0 || c.str(in, "name") != "Conformance "+id {
					c.fatalf("institution %s listed as %s, want its name and accreditation", id, compact(in))
				}
				if _, ok := in["suspension"].(map[string]any); ok != (id == suspended.id) {
					c.fatalf("institution %s listed with suspension %v", id, in["suspension"])
				}
			}
		}},
		{"lists/rules", func(c *tc) {
			active, programme := c.rule(nil)
			retired, _ := c.rule(func(r map[string]any) { r["target"].(map[string]any)["programme"] = programme })
			c.want(c.do("POST", "/v1/rules/"+retired+"/retirement", c.admin(), map[string]any{"reason": "conformance"}), http.StatusCreated)
			list := func(query string) []string {
				page := c.obj(c.want(c.do("GET", "/v1/rules?target_institution="+c.univ().id+"&programme="+programme+query, c.learnerOrAdmin(), nil), http.StatusOK))
				var ids []string
				rules, _ := page["rules"].([]any)
				for _, x := range rules {
					r := x.(map[string]any)
					ids = append(ids, c.str(r, "id"))
					if r["retired"] != (c.str(r, "id") == retired) {
						c.fatalf("rule %s listed with retired %v", r["id"], r["retired"])
					}
				}
				return ids
			}
			sorted := slices.Sorted(slices.Values([]string{active, retired}))
			if got := list(""); !slices.Equal(got, sorted) {
				c.fatalf("rules toward %s: %v, want %v", programme, got, sorted)
			}
			if got := list("&active=true"); !slices.Equal(got, []string{active}) {
				c.fatalf("active rules toward %s: %v, want [%s]", programme, got, active)
			}
			if got := list("&active=false"); !slices.Equal(got, []string{retired}) {
				c.fatalf("inactive rules toward %s: %v, want [%s]", programme, got, retired)
			}
		}},
	}
}

// learnerOrAdmin is a learner's token when the suite can mint one (any
// valid token lists rules), else the admin token.
func (c *tc) learnerOrAdmin() string {
	if c.s.cfg.LearnerToken == nil {
		return c.admin()
	}
	return c.learnerToken("L-" + c.s.runID)
}
