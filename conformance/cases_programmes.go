package conformance

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
)

// Programmes, the award audit and awards (docs/contract.md section 9): a
// programme is a versioned qualification profile published by an admin or
// a regulator; the audit says what a learner has toward it and what is
// missing, as the vectors of testdata/programme-audits.json require; an
// award is recorded only when the audit says eligible, and revoking an
// outcome it rested on flags it.

//go:embed testdata/programme-audits.json
var auditVectorFile []byte

// programmeBody is a programme of inst needing 6 credits in ICT (field
// 06), changed by mod: two of the suite's outcomes make a learner eligible.
func programmeBody(id, inst string, mod func(p map[string]any)) map[string]any {
	p := map[string]any{"id": id, "institution": inst, "title": "Diploma in ICT", "total": "6",
		"requirements": []any{map[string]any{"id": "ict", "fields": []string{"06"}, "min": "6"}},
		"min_level":    0, "max_converted_share": "0.5", "max_per_institution": nil,
		"period_caps": map[string]any{"term": nil, "year": "60"}, "valid_from": "2020-01-01", "valid_until": nil}
	if mod != nil {
		mod(p)
	}
	return p
}

// programme publishes a new programme of in (programmeBody) as a
// regulator and returns its id.
func (c *tc) programme(in *inst, mod func(p map[string]any)) string {
	id := fmt.Sprintf("conf-%s-p%d", c.s.runID, c.s.next())
	c.want(c.do("POST", "/v1/programmes", c.regulator(), programmeBody(id, in.id, mod)), http.StatusCreated)
	return id
}

func auditPath(learner, programme string) string {
	return "/v1/learners/" + learner + "/programmes/" + programme + "/audit"
}

// award asks for learner's award of programme with token.
func (c *tc) award(token, learner, programme string) reply {
	return c.do("POST", "/v1/learners/"+learner+"/awards", token, map[string]any{"programme": programme})
}

func programmeCases() []caseDef {
	return []caseDef{
		{"programmes/publish-versions-and-read", func(c *tc) {
			id := fmt.Sprintf("conf-%s-p%d", c.s.runID, c.s.next())
			p := c.obj(c.want(c.do("POST", "/v1/programmes", c.regulator(), programmeBody(id, c.univ().id, nil)), http.StatusCreated))
			if c.num(p, "version") != 1 || c.str(p, "institution") != c.univ().id || c.str(p, "total") != "6" {
				c.fatalf("the first version answers %s", compact(p))
			}
			body := programmeBody(id, c.univ().id, func(p map[string]any) { p["title"] = "Diploma in ICT, 2nd edition" })
			if v := c.num(c.obj(c.want(c.do("POST", "/v1/programmes", c.admin(), body), http.StatusCreated)), "version"); v != 2 {
				c.fatalf("the same id again is version %d, want 2", v)
			}
			got := c.obj(c.want(c.do("GET", "/v1/programmes/"+id, c.learnerToken(c.learner()), nil), http.StatusOK))
			if c.num(got, "version") != 2 || c.str(got, "title") != "Diploma in ICT, 2nd edition" {
				c.fatalf("GET /v1/programmes/%s answers %s, want version 2", id, compact(got))
			}
			first := c.obj(c.want(c.do("GET", "/v1/programmes/"+id+"?version=1", c.college().tok(c), nil), http.StatusOK))
			if c.num(first, "version") != 1 || c.str(first, "title") != "Diploma in ICT" {
				c.fatalf("version 1 answers %s", compact(first))
			}
			c.wantProblem(c.do("GET", "/v1/programmes/"+id+"?version=3", c.admin(), nil), http.StatusNotFound)
			c.wantProblem(c.do("GET", "/v1/programmes/"+id+"-none", c.admin(), nil), http.StatusNotFound)
		}},
		{"programmes/refusals-write-nothing", func(c *tc) {
			id := c.programme(c.univ(), nil)
			fresh := func() string { return fmt.Sprintf("conf-%s-p%d", c.s.runID, c.s.next()) }
			for _, r := range []struct {
				what   string
				token  string
				body   map[string]any
				status int
				kind   string
			}{
				{"a member left out", c.admin(), programmeBody(fresh(), c.univ().id, func(p map[string]any) { delete(p, "max_per_institution") }), 400, "bad-json"},
				{"a cap left out", c.admin(), programmeBody(fresh(), c.univ().id, func(p map[string]any) { p["period_caps"] = map[string]any{"term": nil} }), 400, "bad-json"},
				{"null where a value is needed", c.admin(), programmeBody(fresh(), c.univ().id, func(p map[string]any) { p["total"] = nil }), 400, "bad-json"},
				{"an unknown member", c.admin(), programmeBody(fresh(), c.univ().id, func(p map[string]any) { p["colour"] = "red" }), 400, "bad-json"},
				{"an unregistered institution", c.admin(), programmeBody(fresh(), "nowhere-"+c.s.runID+".example", nil), 422, "invalid"},
				{"minimums over the total", c.admin(), programmeBody(fresh(), c.univ().id, func(p map[string]any) { p["total"] = "5" }), 422, "invalid"},
				{"a share over 1", c.admin(), programmeBody(fresh(), c.univ().id, func(p map[string]any) { p["max_converted_share"] = "1.5" }), 422, "invalid"},
				{"no requirement", c.admin(), programmeBody(fresh(), c.univ().id, func(p map[string]any) { p["requirements"] = []any{} }), 422, "invalid"},
				{"an unknown field", c.admin(), programmeBody(fresh(), c.univ().id, func(p map[string]any) {
					p["requirements"] = []any{map[string]any{"id": "x", "fields": []string{"55"}, "min": "1"}}
				}), 422, "invalid"},
				{"a new version of another institution", c.admin(), programmeBody(id, c.college().id, nil), 409, "conflict"},
				{"an institution", c.univ().tok(c), programmeBody(fresh(), c.univ().id, nil), 403, "forbidden"},
				{"a learner", c.learnerToken(c.learner()), programmeBody(fresh(), c.univ().id, nil), 403, "forbidden"},
			} {
				c.refused(func() {
					p := c.wantProblem(c.do("POST", "/v1/programmes", r.token, r.body), r.status)
					if p["type"] != "urn:creditbank:problem:"+r.kind {
						c.fatalf("%s: problem %s, want type %s", r.what, compact(p), r.kind)
					}
				})
			}
		}},
		{"programmes/list-by-institution-in-pages", func(c *tc) {
			in := c.accredited("prog-list", "university")
			a := c.programme(in, nil)
			b := c.programme(in, nil)
			var ids []string
			path := "/v1/programmes?limit=1&institution=" + in.id
			for range 4 {
				var page struct {
					Programmes []struct {
						ID          string `json:"id"`
						Institution string `json:"institution"`
						Version     int    `json:"version"`
					} `json:"programmes"`
					NextCursor string `json:"next_cursor"`
				}
				c.decode(c.want(c.do("GET", path, c.learnerToken(c.learner()), nil), http.StatusOK), &page)
				for _, p := range page.Programmes {
					if p.Institution != in.id || p.Version != 1 {
						c.fatalf("listed %+v under institution %s", p, in.id)
					}
					ids = append(ids, p.ID)
				}
				if page.NextCursor == "" {
					break
				}
				path = "/v1/programmes?limit=1&cursor=" + page.NextCursor
			}
			want := []string{a, b}
			slices.Sort(want)
			if !slices.Equal(ids, want) {
				c.fatalf("the institution's programmes, one a page: %v, want %v in id order", ids, want)
			}
			c.wantProblem(c.do("GET", "/v1/programmes?kind=degree", c.admin(), nil), http.StatusBadRequest)
		}},
		{"audit/vectors", func(c *tc) {
			var av AuditVectors
			dec := json.NewDecoder(bytes.NewReader(auditVectorFile))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&av); err != nil {
				c.fatalf("testdata/programme-audits.json: %v", err)
			}
			for _, v := range av.Cases {
				c.playAudit(v)
			}
		}},
		{"audit/who-reads", func(c *tc) {
			prog := c.programme(c.univ(), nil)
			l := c.learner()
			c.posted(c.univ(), l, 1, nil)
			c.want(c.do("GET", auditPath(l, prog), c.learnerToken(l), nil), http.StatusOK)
			c.want(c.do("GET", auditPath(l, prog), c.regulator(), nil), http.StatusOK)
			c.wantProblem(c.do("GET", auditPath(l, prog), c.learnerToken(c.learner()), nil), http.StatusForbidden)
			c.wantProblem(c.do("GET", auditPath(l, prog), c.univ().tok(c), nil), http.StatusForbidden) // no grant yet
			c.granted(l, c.college().id)
			c.wantProblem(c.do("GET", auditPath(l, prog), c.college().tok(c), nil), http.StatusForbidden) // a grant, not its programme
			c.granted(l, c.univ().id)
			c.want(c.do("GET", auditPath(l, prog), c.univ().tok(c), nil), http.StatusOK)
			c.wantProblem(c.do("GET", auditPath(l, prog+"-none"), c.admin(), nil), http.StatusNotFound)
			c.wantProblem(c.do("GET", auditPath(l, prog)+"?on=2020-01-01", c.admin(), nil), http.StatusBadRequest)
		}},
		{"awards/not-eligible-with-missing", func(c *tc) {
			prog := c.programme(c.univ(), nil)
			l := c.learner()
			c.posted(c.univ(), l, 1, nil) // 3 of 6
			c.refused(func() {
				p := c.wantProblem(c.award(c.univ().tok(c), l, prog), http.StatusUnprocessableEntity)
				c.wantType(p, "award-not-eligible")
				missing, _ := p["missing"].([]any)
				if len(missing) == 0 {
					c.fatalf("the refusal names nothing missing: %s", compact(p))
				}
				first, _ := missing[0].(map[string]any)
				if first["kind"] != "requirement" || first["short"] != "3" || first["earned"] != "3" || first["required"] != "6" {
					c.fatalf("missing %s, want the requirement ict 3 short of 6", compact(missing))
				}
			})
		}},
		{"awards/eligible-once", func(c *tc) {
			prog := c.programme(c.univ(), nil)
			l := c.learner()
			seqs := c.posted(c.univ(), l, 2, nil)
			for _, tok := range []string{c.regulator(), c.college().tok(c), c.learnerToken(l)} {
				c.refused(func() { c.wantProblem(c.award(tok, l, prog), http.StatusForbidden) })
			}
			a := c.obj(c.want(c.award(c.univ().tok(c), l, prog), http.StatusCreated))
			if c.str(a, "learner") != l || c.str(a, "total") != "6" || !containsNumber(a["outcomes"], seqs[0]) || !containsNumber(a["outcomes"], seqs[1]) {
				c.fatalf("the award %s does not rest on outcomes %v", compact(a), seqs)
			}
			if flags, ok := a["flags"].([]any); !ok || len(flags) != 0 {
				c.fatalf("a new award's flags: %s", compact(a))
			}
			c.refused(func() { c.wantProblem(c.award(c.admin(), l, prog), http.StatusConflict) })
			var list struct {
				Awards []map[string]any `json:"awards"`
			}
			c.decode(c.want(c.do("GET", "/v1/learners/"+l+"/awards", c.learnerToken(l), nil), http.StatusOK), &list)
			if len(list.Awards) != 1 {
				c.fatalf("the learner's awards: %v", list.Awards)
			}
		}},
		{"awards/revocation-flags", func(c *tc) {
			prog := c.programme(c.univ(), nil)
			l := c.learner()
			seqs := c.posted(c.univ(), l, 2, nil)
			a := c.obj(c.want(c.award(c.univ().tok(c), l, prog), http.StatusCreated))
			rev := c.obj(c.want(c.do("POST", fmt.Sprintf("/v1/outcomes/%d/revocation", seqs[1]), c.univ().tok(c),
				map[string]any{"reason": "entered in error"}), http.StatusCreated))
			flagged, _ := rev["flagged"].([]any)
			if len(flagged) != 1 {
				c.fatalf("revoking an outcome the award rested on: %s, want one flag", compact(rev))
			}
			var list struct {
				Awards []map[string]any `json:"awards"`
			}
			c.decode(c.want(c.do("GET", "/v1/learners/"+l+"/awards", c.admin(), nil), http.StatusOK), &list)
			if len(list.Awards) != 1 {
				c.fatalf("the learner's awards after the revocation: %v (the award stands, flagged)", list.Awards)
			}
			flags, _ := list.Awards[0]["flags"].([]any)
			f, _ := flags[0].(map[string]any)
			if len(flags) != 1 || fmt.Sprint(f["outcome"]) != itoa(seqs[1]) || fmt.Sprint(f["seq"]) != fmt.Sprint(flagged[0]) ||
				fmt.Sprint(list.Awards[0]["seq"]) != fmt.Sprint(a["seq"]) {
				c.fatalf("the award's flags %s, want the revocation of outcome %d as entry %v", compact(list.Awards[0]), seqs[1], flagged[0])
			}
			other := c.posted(c.univ(), l, 1, nil)
			rev = c.obj(c.want(c.do("POST", fmt.Sprintf("/v1/outcomes/%d/revocation", other[0]), c.univ().tok(c),
				map[string]any{"reason": "entered in error"}), http.StatusCreated))
			if f, ok := rev["flagged"].([]any); !ok || len(f) != 0 {
				c.fatalf("revoking an outcome no award rested on: %s, want flagged []", compact(rev))
			}
		}},
	}
}

// playAudit brings the server to a vector's state for a fresh learner and
// programme, reads the audit and compares it with what the vector
// expects, outcomes named by their refs.
func (c *tc) playAudit(v AuditVector) {
	insts := map[string]*inst{"univ.example": c.univ(), "college.example": c.college()}
	prog := fmt.Sprintf("conf-%s-p%d", c.s.runID, c.s.next())
	body, err := json.Marshal(v.Programme)
	if err != nil {
		c.fatalf("%s: %v", v.Name, err)
	}
	var p map[string]any
	_ = json.Unmarshal(body, &p)
	p["id"], p["institution"] = prog, insts[v.Programme.Institution].id
	c.want(c.do("POST", "/v1/programmes", c.admin(), p), http.StatusCreated)
	l := c.learner()
	refOf := map[uint64]int{}
	seqOf := map[int]uint64{}
	for _, o := range v.Outcomes {
		in := insts[o.Institution]
		body := c.outcome(l, func(m map[string]any) {
			delete(m, "hours")
			m["sector"], m["level"], m["field"], m["completed_on"] = o.Sector, o.Level, o.Field, o.CompletedOn
			m["unit"] = map[string]any{"code": o.Unit, "title": "Unit " + o.Unit}
			m["credits"] = map[string]any{"amount": o.Credits, "system": "cn-credit"}
		})
		seq := c.num(c.postOK(in, body), "seq")
		refOf[seq], seqOf[o.Ref] = o.Ref, seq
	}
	for _, conv := range v.Conversions {
		rule := conv.Rule
		rule.ID = fmt.Sprintf("conf-%s-r%d", c.s.runID, c.s.next())
		rule.Target = RuleTargetVector{Institution: insts[rule.Target.Institution].id, Programme: prog}
		for i, s := range rule.Source.Institutions {
			rule.Source.Institutions[i] = insts[s].id
		}
		c.want(c.do("POST", "/v1/rules", c.admin(), rule), http.StatusCreated)
		var seqs []uint64
		for _, ref := range conv.Outcomes {
			seqs = append(seqs, seqOf[ref])
		}
		c.converted(l, rule.ID, seqs)
	}
	var got struct {
		Total        AuditTotalVector `json:"total"`
		Converted    string           `json:"converted"`
		Requirements []struct {
			ID       string      `json:"id"`
			Earned   string      `json:"earned"`
			Required string      `json:"required"`
			Met      bool        `json:"met"`
			Items    []auditItem `json:"items"`
		} `json:"requirements"`
		Other      []auditItem            `json:"other"`
		NotCounted []auditItem            `json:"not_counted"`
		Limits     []AuditLimitVector     `json:"limits"`
		Eligible   bool                   `json:"eligible"`
		Missing    []AuditShortfallVector `json:"missing"`
	}
	c.decode(c.want(c.do("GET", auditPath(l, prog), c.admin(), nil), http.StatusOK), &got)
	items := func(list []auditItem) []AuditItemVector {
		out := []AuditItemVector{}
		for _, it := range list {
			out = append(out, AuditItemVector{Outcome: refOf[it.Outcome], Source: it.Source, Amount: it.Amount, Counted: it.Counted,
				Reason: it.Reason, Of: refOf[it.Of]})
		}
		return out
	}
	have := AuditExpected{Total: got.Total, Converted: got.Converted, Requirements: []AuditRequirementVector{}, Other: items(got.Other),
		NotCounted: items(got.NotCounted), Limits: got.Limits, Eligible: got.Eligible, Missing: got.Missing}
	for _, r := range got.Requirements {
		have.Requirements = append(have.Requirements, AuditRequirementVector{ID: r.ID, Earned: r.Earned, Required: r.Required, Met: r.Met, Items: items(r.Items)})
	}
	a, _ := json.Marshal(have)
	b, _ := json.Marshal(v.Expected)
	if !bytes.Equal(a, b) {
		c.fatalf("vector %q: the audit gives\n%s\nwant\n%s", v.Name, a, b)
	}
}

// auditItem is an item of the audit as answered.
type auditItem struct {
	Source  string `json:"source"`
	Outcome uint64 `json:"outcome"`
	Amount  string `json:"amount"`
	Counted string `json:"counted"`
	Reason  string `json:"reason"`
	Of      uint64 `json:"of"`
}
