package conformance

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"

	"creditbank/client"
)

// Erasure of personal data (docs/contract.md section 11): an admin erases a
// learner on the learner's request; from then on every route that names the
// learner answers 410 learner-erased, a post for the id is refused, and the
// ledger, whose entries stay as they were, holds nothing that names the
// learner or reads as their outcomes. What the stored entries may hold is
// checked from the public entries endpoint, byte for byte.

// erasePath is the erasure route of learner.
func erasePath(learner string) string { return "/v1/learners/" + learner + "/erasure" }

// erase asks for the erasure of learner with token.
func (c *tc) erase(learner, token string) reply {
	return c.do("POST", erasePath(learner), token, map[string]any{"reason": "conformance: the learner asked"})
}

// wantErased checks r is the problem of an erased learner: 410 Gone, type
// learner-erased.
func (c *tc) wantErased(r reply) {
	c.wantType(c.wantProblem(r, http.StatusGone), "learner-erased")
}

// erasedFixture is a learner with two outcomes (one with a score) and a
// conversion who was erased, and another learner of the same institution,
// whose transcript was read before the erasure.
type erasedFixture struct {
	learner, other string
	outcomes       []uint64
	erasure        map[string]any
	rule           string
	otherBefore    []byte
}

func (c *tc) erased() *erasedFixture {
	return fixture(c, "erased", func() *erasedFixture {
		f := &erasedFixture{learner: c.learner(), other: c.learner()}
		f.rule, _ = c.rule(nil)
		f.outcomes = c.posted(c.college(), f.learner, 2, nil)
		c.converted(f.learner, f.rule, f.outcomes)
		c.posted(c.college(), f.other, 2, nil)
		f.otherBefore = canonical(c, c.want(c.do("GET", "/v1/learners/"+f.other+"/transcript", c.admin(), nil), http.StatusOK).body)
		f.erasure = c.obj(c.want(c.erase(f.learner, c.admin()), http.StatusOK))
		return f
	})
}

// notIn fails when stored, an entry's bytes, holds any of the values.
func (c *tc) notIn(seq uint64, stored []byte, values map[string]string) {
	for what, v := range values {
		if bytes.Contains(bytes.ToLower(stored), bytes.ToLower([]byte(v))) {
			c.fatalf("entry %d holds the %s %q in its stored bytes: %s", seq, what, v, stored)
		}
	}
}

func erasureCases() []caseDef {
	return []caseDef{
		{"erasure/admin-erases", func(c *tc) {
			l := c.learner()
			seqs := c.posted(c.college(), l, 2, nil)
			e := c.obj(c.want(c.erase(l, c.admin()), http.StatusOK))
			if seq := c.num(e, "seq"); seq <= seqs[1] {
				c.fatalf("the erasure answered seq %d, not after the learner's outcomes %v", seq, seqs)
			}
			if c.str(e, "learner") != l || c.str(e, "reason") != "conformance: the learner asked" || c.str(e, "recorded_at") == "" {
				c.fatalf("the erasure answered %s, want the learner %s, the reason and recorded_at", compact(e), l)
			}
		}},
		{"erasure/reads-gone", func(c *tc) {
			f := c.erased()
			l := f.learner
			for _, path := range []string{
				"/v1/learners/" + l + "/transcript",
				"/v1/learners/" + l + "/balance",
				"/v1/learners/" + l + "/grants",
				"/v1/learners/" + l + "/access-log",
				"/v1/institutions/" + c.college().id + "/outcomes?learner=" + l,
			} {
				c.wantErased(c.do("GET", path, c.admin(), nil))
			}
			c.wantErased(c.do("GET", "/v1/institutions/"+c.college().id+"/outcomes?learner="+l, c.college().tok(c), nil))
			c.refused(func() {
				c.wantErased(c.convert(c.admin(), l, f.rule, nil))
				c.wantErased(c.do("POST", "/v1/conversions/preview", c.admin(), map[string]any{"learner": l, "rule": f.rule}))
			})
		}},
		{"erasure/learner-reads-gone", func(c *tc) {
			f := c.erased()
			tok := c.learnerToken(f.learner)
			c.wantErased(c.do("GET", "/v1/learners/"+f.learner+"/transcript", tok, nil))
			c.refused(func() {
				c.wantErased(c.do("POST", "/v1/learners/"+f.learner+"/grants", tok, grantBody(c.univ().id)))
			})
		}},
		{"erasure/second-erasure-gone", func(c *tc) {
			f := c.erased()
			c.refused(func() { c.wantErased(c.erase(f.learner, c.admin())) })
		}},
		{"erasure/admin-only", func(c *tc) {
			l := c.learner()
			c.posted(c.college(), l, 1, nil)
			for name, tok := range map[string]string{"regulator": c.regulator(), "institution": c.college().tok(c), "the learner": c.learnerToken(l)} {
				c.refused(func() {
					if p := c.wantProblem(c.erase(l, tok), http.StatusForbidden); p == nil {
						c.fatalf("%s: no problem", name)
					}
				})
			}
			c.refused(func() { c.wantProblem(c.erase(l, ""), http.StatusUnauthorized) })
			c.transcript(l, c.admin()) // not erased
		}},
		{"erasure/unknown-learner", func(c *tc) {
			c.refused(func() { c.wantProblem(c.erase(c.learner(), c.admin()), http.StatusNotFound) })
		}},
		{"erasure/post-refused", func(c *tc) {
			f := c.erased()
			c.refused(func() { c.wantErased(c.post(c.college(), c.outcome(f.learner, nil))) })
			var res struct {
				Results []map[string]any `json:"results"`
			}
			other := c.learner()
			r := c.want(c.post(c.college(), map[string]any{"outcomes": []any{c.outcome(f.learner, nil), c.outcome(other, nil)}}), http.StatusOK)
			c.decode(r, &res)
			if len(res.Results) != 2 || res.Results[0]["status"] != "rejected" || res.Results[1]["status"] != "created" {
				c.fatalf("a batch for the erased learner and another: %s, want rejected then created", r)
			}
			p, _ := res.Results[0]["error"].(map[string]any)
			c.wantType(p, "learner-erased")
			if fmt.Sprint(p["status"]) != "410" {
				c.fatalf("the erased learner's item: error %s, want status 410", compact(p))
			}
			c.transcript(other, c.admin())
		}},
		{"erasure/other-learner-unaffected", func(c *tc) {
			f := c.erased()
			now := canonical(c, c.want(c.do("GET", "/v1/learners/"+f.other+"/transcript", c.admin(), nil), http.StatusOK).body)
			if !bytes.Equal(now, f.otherBefore) {
				c.fatalf("another learner's transcript changed with the erasure:\nbefore %s\nafter  %s", f.otherBefore, now)
			}
			c.balance(f.other, c.admin())
		}},
		{"erasure/entry-names-no-learner", func(c *tc) {
			f := c.erased()
			seq := c.num(f.erasure, "seq")
			stored := c.entry(seq)
			e := c.obj(reply{req: fmt.Sprintf("GET /v1/log/entries/%d", seq), status: http.StatusOK, body: stored})
			if e["type"] != "learner.erased" {
				c.fatalf("entry %d is a %v, want learner.erased", seq, e["type"])
			}
			c.notIn(seq, stored, map[string]string{"learner id": f.learner})
		}},
		{"erasure/outcome-entries-sealed", func(c *tc) {
			l := c.learner()
			title := "Sealed Seminar " + c.s.runID
			o := c.postOK(c.college(), c.outcome(l, func(o map[string]any) {
				o["unit"].(map[string]any)["title"] = title
				o["result"] = map[string]any{"passed": true, "score": "73.19"}
			}))
			seq := c.num(o, "seq")
			c.notIn(seq, c.entry(seq), map[string]string{"learner id": l, "unit title": title, "score": "73.19"})
			// Those allowed to read the outcome read it whole.
			tr := c.transcript(l, c.admin())
			list, _ := tr["outcomes"].([]any)
			if len(list) != 1 {
				c.fatalf("the transcript shows %s, want the one outcome", compact(tr))
			}
			got, _ := list[0].(map[string]any)
			unit, _ := got["unit"].(map[string]any)
			res, _ := got["result"].(map[string]any)
			if unit["title"] != title || res["score"] != "73.19" {
				c.fatalf("the transcript shows %s, want the outcome with its title and score", compact(tr))
			}
		}},
		{"erasure/audit-scores", func(c *tc) {
			l := c.learner()
			seqs := c.posted(c.college(), l, 1, func(o map[string]any) { o["result"] = map[string]any{"passed": true, "score": "88.5"} })
			seqs = append(seqs, c.posted(c.college(), l, 1, func(o map[string]any) { o["result"] = map[string]any{"passed": true} })...)
			reg := client.New(client.Config{URL: c.s.base, Token: c.regulator(), HTTPClient: c.s.client})
			got, err := reg.AuditScores(c.ctx, seqs)
			c.check(err, "read the scores as a regulator")
			if got[0].Score != "88.5" || got[0].Erased || got[1].Score != "" || got[1].Erased {
				c.fatalf("scores %+v, want 88.5 and none", got)
			}
			path := fmt.Sprintf("/v1/audit/scores?outcomes=%d,%d", seqs[0], seqs[1])
			c.wantProblem(c.do("GET", path, c.college().tok(c), nil), http.StatusForbidden)
			c.wantProblem(c.do("GET", path, c.learnerToken(l), nil), http.StatusForbidden)
			many := strings.Repeat(fmt.Sprintf("%d,", seqs[0]), client.MaxScoreReads) + itoa(seqs[1])
			c.wantProblem(c.do("GET", "/v1/audit/scores?outcomes="+many, c.admin(), nil), http.StatusBadRequest)
			c.wantProblem(c.do("GET", "/v1/audit/scores?outcomes=x", c.admin(), nil), http.StatusBadRequest)
			f := c.erased()
			c.wantProblem(c.do("GET", "/v1/audit/scores?outcomes="+itoa(c.num(f.erasure, "seq")), c.admin(), nil), http.StatusNotFound)
			got, err = reg.AuditScores(c.ctx, append(f.outcomes, seqs[0]))
			c.check(err, "read the scores of an erased learner's outcomes")
			if !got[0].Erased || got[0].Score != "" || !got[1].Erased || got[2].Score != "88.5" {
				c.fatalf("scores %+v, want the erased learner's two erased and 88.5", got)
			}
		}},
	}
}
