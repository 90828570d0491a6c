package conformance

import (
	"net/http"
	"strings"
)

// Duplicate outcomes (docs/contract.md section 8): one outcome in force per
// institution, learner, unit.code and completed_on.

// sameUnit returns a mod making an outcome repeat o's unit and date.
func sameUnit(o map[string]any) func(map[string]any) {
	return func(x map[string]any) { x["unit"], x["completed_on"] = o["unit"], o["completed_on"] }
}

// wantDuplicate checks a duplicate-outcome problem naming seq.
func (c *tc) wantDuplicate(p map[string]any, seq uint64) {
	if p["type"] != "urn:creditbank:problem:duplicate-outcome" {
		c.fatalf("problem type %v, want urn:creditbank:problem:duplicate-outcome: %s", p["type"], compact(p))
	}
	if p["existing"] != nil {
		if got := c.num(p, "existing"); got != seq {
			c.fatalf("the problem names outcome %d as the one recorded, want %d", got, seq)
		}
	} else if d, _ := p["detail"].(string); !strings.Contains(d, itoa(seq)) {
		c.fatalf("the problem does not name outcome %d: %s", seq, compact(p))
	}
}

func duplicateCases() []caseDef {
	return []caseDef{
		{"outcome/duplicate-outcome", func(c *tc) {
			l := c.learner()
			o := c.outcome(l, nil)
			seq := c.num(c.postOK(c.college(), o), "seq")
			c.refused(func() {
				c.wantDuplicate(c.wantProblem(c.post(c.college(), c.outcome(l, sameUnit(o))), http.StatusConflict), seq)
			})
		}},
		{"outcome/duplicate-outcome-in-batch", func(c *tc) {
			l := c.learner()
			o := c.outcome(l, nil)
			seq := c.num(c.postOK(c.college(), o), "seq")
			var got map[string]any
			c.refused(func() {
				got = c.obj(c.want(c.post(c.college(), map[string]any{"outcomes": []any{c.outcome(l, sameUnit(o))}}), http.StatusOK))
			})
			list, _ := got["results"].([]any)
			if len(list) != 1 {
				c.fatalf("a batch of one answered %s", compact(got))
			}
			item, _ := list[0].(map[string]any)
			p, _ := item["error"].(map[string]any)
			if item["status"] != "rejected" || p == nil {
				c.fatalf("the repeat in a batch is %s, want rejected with a problem", compact(item))
			}
			c.wantDuplicate(p, seq)
		}},
		{"outcome/duplicate-of-a-revoked-outcome", func(c *tc) {
			l := c.learner()
			o := c.outcome(l, nil)
			seq := c.num(c.postOK(c.college(), o), "seq")
			c.want(c.do("POST", "/v1/outcomes/"+itoa(seq)+"/revocation", c.college().tok(c), map[string]any{"reason": "posted in error"}), http.StatusCreated)
			c.postOK(c.college(), c.outcome(l, sameUnit(o)))
		}},
		{"outcome/correction-of-the-same-unit", func(c *tc) {
			l := c.learner()
			o := c.outcome(l, nil)
			seq := c.num(c.postOK(c.college(), o), "seq")
			c.postOK(c.college(), c.outcome(l, func(x map[string]any) { sameUnit(o)(x); x["supersedes"] = seq; x["hours"] = 40 }))
		}},
		{"outcome/same-unit-another-institution", func(c *tc) {
			l := c.learner()
			o := c.outcome(l, nil)
			c.postOK(c.college(), o)
			c.postOK(c.univ(), c.outcome(l, sameUnit(o)))
		}},
	}
}
