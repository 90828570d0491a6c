package conformance

import (
	"net/http"
)

// Previews of conversions (docs/contract.md section 8): what
// POST /v1/conversions would grant now, item by item with reasons, written
// nowhere.

// preview asks for a preview as token.
func (c *tc) preview(token, learner, rule string, seqs []uint64) reply {
	body := map[string]any{"learner": learner, "rule": rule}
	if seqs != nil {
		body["outcomes"] = seqs
	}
	return c.do("POST", "/v1/conversions/preview", token, body)
}

func previewCases() []caseDef {
	return []caseDef{
		{"preview/grants-what-the-conversion-then-grants", func(c *tc) {
			rule, _ := c.rule(capped("2"))
			l := c.learner()
			seqs := c.posted(c.college(), l, 3, nil)
			var pv map[string]any
			c.refused(func() { pv = c.obj(c.want(c.preview(c.admin(), l, rule, seqs), http.StatusOK)) })
			c.wantItems(pv, seqs[:2], []int64{150, 50})
			c.wantCapped(pv, true)
			if list, _ := pv["not_converted"].([]any); len(list) != 1 || !containsNumber(list, seqs[2]) {
				c.fatalf("the preview does not say why outcome %d would not count: %s", seqs[2], compact(pv))
			}
			conv := c.converted(l, rule, seqs)
			c.wantItems(conv, seqs[:2], []int64{150, 50})
		}},
		{"preview/nothing-eligible", func(c *tc) {
			rule, _ := c.rule(func(r map[string]any) { source(r)["min_level"] = 7 })
			l := c.learner()
			seqs := c.posted(c.college(), l, 1, nil)
			var pv map[string]any
			c.refused(func() { pv = c.obj(c.want(c.preview(c.admin(), l, rule, seqs), http.StatusOK)) })
			c.wantItems(pv, nil, nil)
			list, _ := pv["not_converted"].([]any)
			if len(list) != 1 || !containsNumber(list, seqs[0]) {
				c.fatalf("the preview does not say why outcome %d would not count: %s", seqs[0], compact(pv))
			}
		}},
		{"preview/uses-nothing-up", func(c *tc) {
			rule, _ := c.rule(nil)
			l := c.learner()
			seqs := c.posted(c.college(), l, 1, nil)
			for range 2 {
				c.wantItems(c.obj(c.want(c.preview(c.admin(), l, rule, seqs), http.StatusOK)), seqs, []int64{150})
			}
			c.wantItems(c.converted(l, rule, seqs), seqs, []int64{150})
		}},
		{"preview/permissions", func(c *tc) {
			rule, _ := c.rule(nil)
			l := c.learner()
			seqs := c.posted(c.college(), l, 1, nil)
			c.wantItems(c.obj(c.want(c.preview(c.learnerToken(l), l, rule, seqs), http.StatusOK)), seqs, []int64{150})
			c.refused(func() { c.wantProblem(c.preview(c.learnerToken(c.learner()), l, rule, seqs), http.StatusForbidden) })
			c.refused(func() { c.wantProblem(c.preview(c.regulator(), l, rule, seqs), http.StatusForbidden) })
			c.refused(func() { c.wantProblem(c.preview(c.admin(), l, c.instID("no-rule"), seqs), http.StatusNotFound) })
		}},
	}
}
