package conformance

import (
	"net/http"
)

// Suspension stops conversions (docs/contract.md section 8): while an
// institution is suspended its outcomes are not eligible
// (institution_suspended) and conversions toward its programmes are refused
// with 422; lifting the suspension ends both. Each case suspends an
// institution of its own, so that the shared ones go on posting.

// suspend suspends institution id, or lifts its suspension.
func (c *tc) suspend(id string, lift bool) {
	base := "/v1/institutions/" + id + "/suspension"
	if lift {
		c.want(c.do("DELETE", base, c.admin(), map[string]any{"reason": "conformance: lifted"}), http.StatusOK)
		return
	}
	c.want(c.do("POST", base, c.admin(), map[string]any{"reason": "conformance: inspection"}), http.StatusCreated)
}

func suspensionCases() []caseDef {
	return []caseDef{
		{"suspension/outcomes-not-eligible", func(c *tc) {
			src := c.accredited("susp-src", "open_university")
			rule, _ := c.rule(nil)
			l := c.learner()
			seqs := c.posted(src, l, 1, nil)
			c.suspend(src.id, false)
			c.refused(func() { c.wantIneligible(c.convert(c.admin(), l, rule, seqs), seqs, "institution_suspended") })
			c.suspend(src.id, true)
			c.wantItems(c.converted(l, rule, seqs), seqs, []int64{150})
		}},
		{"suspension/conversions-toward-its-programmes-refused", func(c *tc) {
			target := c.accredited("susp-target", "university")
			rule, _ := c.rule(func(r map[string]any) { r["target"].(map[string]any)["institution"] = target.id })
			l := c.learner()
			seqs := c.posted(c.college(), l, 1, nil)
			c.suspend(target.id, false)
			c.refused(func() { c.wantProblem(c.convert(c.admin(), l, rule, seqs), http.StatusUnprocessableEntity) })
			c.refused(func() { c.wantProblem(c.preview(c.admin(), l, rule, seqs), http.StatusUnprocessableEntity) })
			c.suspend(target.id, true)
			c.wantItems(c.converted(l, rule, seqs), seqs, []int64{150})
		}},
	}
}
