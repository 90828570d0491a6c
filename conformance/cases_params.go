package conformance

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Strict query parameters, the dates an outcome may carry, and credits and
// hours that disagree (docs/contract.md section 8).

// ownUnit gives an outcome a unit of its own, so that no two outcomes a
// case posts are the same learning twice.
func (c *tc) ownUnit(o map[string]any) {
	o["unit"] = map[string]any{"code": fmt.Sprintf("U%s-%d", c.s.runID, c.s.next()), "title": "Conformance unit"}
}

// wantBadParameter checks a 400 bad-parameter whose detail names name.
func (c *tc) wantBadParameter(r reply, name string) {
	p := c.wantProblem(r, http.StatusBadRequest)
	c.wantType(p, "bad-parameter")
	if d, _ := p["detail"].(string); !strings.Contains(d, name) {
		c.fatalf("%s: the detail does not name %q", r, name)
	}
}

func paramCases() []caseDef {
	return []caseDef{
		{"params/unknown-refused-everywhere", func(c *tc) {
			l := c.learner()
			c.posted(c.college(), l, 1, c.ownUnit)
			for _, tc := range []struct{ path, token, name string }{
				{"/healthz?verbose=1", "", "verbose"},
				{"/v1/log/checkpoint?size=3", "", "size"},
				{"/v1/log/proof/inclusion?index=0&size=1&hash=x", "", "hash"},
				{"/v1/learners/" + l + "/transcript?colour=blue", c.admin(), "colour"},
				{"/v1/learners/" + l + "/balance?sector=degree", c.admin(), "sector"},
				{"/v1/audit/conversions?learner=" + l, c.admin(), "learner"},
				{"/v1/institutions/" + c.college().id + "?fields=name", c.admin(), "fields"},
			} {
				c.wantBadParameter(c.do("GET", tc.path, tc.token, nil), tc.name)
			}
		}},
		{"params/unknown-refused-on-writes", func(c *tc) {
			l := c.learner()
			seqs := c.posted(c.college(), l, 1, c.ownUnit)
			rule, _ := c.rule(nil)
			c.refused(func() {
				c.wantBadParameter(c.do("POST", "/v1/conversions?dry_run=true", c.admin(), map[string]any{"learner": l, "rule": rule}), "dry_run")
				o := c.outcome(l, c.ownUnit)
				c.wantBadParameter(c.do("POST", "/v1/outcomes?validate_only=1", c.college().tok(c), o), "validate_only")
				c.wantBadParameter(c.do("POST", fmt.Sprintf("/v1/outcomes/%d/revocation?notify=no", seqs[0]), c.college().tok(c),
					map[string]any{"reason": "conformance"}), "notify")
			})
			if st := c.outcomeStatus(c.transcript(l, c.admin()), seqs[0]); st != "active" {
				c.fatalf("a refused revocation left outcome %d %s", seqs[0], st)
			}
		}},
		{"params/repeated-refused", func(c *tc) {
			l := c.learner()
			c.wantBadParameter(c.do("GET", "/v1/learners/"+l+"/transcript?limit=1&limit=2", c.admin(), nil), "limit")
			c.wantBadParameter(c.do("GET", "/v1/learners/"+l+"/transcript?sector=degree&sector=community", c.admin(), nil), "sector")
			c.wantBadParameter(c.do("GET", "/v1/log/proof/consistency?from=1&from=2&to=3", "", nil), "from")
		}},
		{"params/bad-values", func(c *tc) {
			l := c.learner()
			for _, q := range []struct{ query, name string }{
				{"level=six", "level"}, {"level=11", "level"}, {"sector=kindergarten", "sector"},
				{"status=superseded", "status"}, {"from=2026-02-30", "from"}, {"to=tomorrow", "to"},
				{"limit=0", "limit"}, {"institution=Not%20An%20Id", "institution"},
			} {
				c.wantBadParameter(c.do("GET", "/v1/learners/"+l+"/transcript?"+q.query, c.admin(), nil), q.name)
			}
			c.wantBadParameter(c.do("GET", "/v1/audit/conversions?from=yesterday", c.admin(), nil), "from")
			c.wantBadParameter(c.do("GET", "/v1/rules?active=maybe", c.admin(), nil), "active")
		}},
		{"dates/today-at-utc-plus-14", func(c *tc) {
			// The last date an outcome may carry is today at UTC+14; the
			// day after it has not begun anywhere.
			zone := time.FixedZone("UTC+14", 14*60*60)
			latest := time.Now().In(zone).Format(time.DateOnly)
			l := c.learner()
			r := c.post(c.college(), c.outcome(l, func(o map[string]any) { c.ownUnit(o); o["completed_on"] = latest }))
			if now := time.Now().In(zone).Format(time.DateOnly); now != latest {
				c.skipf("the date at UTC+14 changed during the case")
			}
			c.want(r, http.StatusCreated)
			after, err := time.Parse(time.DateOnly, latest)
			c.check(err, "date")
			tooLate := after.AddDate(0, 0, 1).Format(time.DateOnly)
			c.refused(func() {
				p := c.wantProblem(c.post(c.college(), c.outcome(l, func(o map[string]any) { c.ownUnit(o); o["completed_on"] = tooLate })),
					http.StatusUnprocessableEntity)
				c.wantType(p, "invalid")
			})
		}},
		{"credits/hours-disagree-refused", func(c *tc) {
			l := c.learner()
			c.refused(func() {
				p := c.wantProblem(c.post(c.college(), c.outcome(l, func(o map[string]any) {
					c.ownUnit(o)
					o["credits"], o["hours"] = map[string]any{"amount": "5", "system": "ects"}, 48
				})), http.StatusUnprocessableEntity)
				c.wantType(p, "credits-hours-mismatch")
				if d, _ := p["detail"].(string); !strings.Contains(d, "48") || !strings.Contains(d, "137.5") {
					c.fatalf("the detail %q does not name both the hours (48) and the credits' hours (137.5)", d)
				}
				p = c.wantProblem(c.post(c.college(), c.outcome(l, func(o map[string]any) { c.ownUnit(o); o["hours"] = 97 })),
					http.StatusUnprocessableEntity)
				c.wantType(p, "credits-hours-mismatch")
			})
			// Exactly half and twice the credits' hours are taken.
			for _, h := range []int{24, 96} {
				got := c.postOK(c.college(), c.outcome(l, func(o map[string]any) { c.ownUnit(o); o["hours"] = h }))
				c.wantAmount(got, "standard_credits", int64(h)*100/16, fmt.Sprintf("3 cn-credits with %d hours", h))
			}
		}},
		{"credits/hours-zero-refused", func(c *tc) {
			c.refused(func() {
				p := c.wantProblem(c.post(c.college(), c.outcome(c.learner(), func(o map[string]any) { c.ownUnit(o); o["hours"] = 0 })),
					http.StatusUnprocessableEntity)
				c.wantType(p, "invalid")
			})
		}},
	}
}
