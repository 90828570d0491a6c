package conformance

import (
	"net/http"
	"strings"
)

// Identifiers people can confuse (docs/contract.md, "Identifiers"; the
// external contract's section 7): learner ids compare case-insensitively
// and are shown in upper case, learner ids that look like national identity
// numbers are refused, and institution names refuse characters that
// reorder or hide text.

func identifierCases() []caseDef {
	return []caseDef{
		{"identifiers/learner-case-folding", func(c *tc) {
			upper := strings.ToUpper(c.learner())
			lower := strings.ToLower(upper)
			c.postOK(c.college(), c.outcome(lower, nil))
			c.postOK(c.college(), c.outcome(upper, nil))
			var balances []string
			for _, id := range []string{upper, lower} {
				tr := c.transcript(id, c.admin())
				if tr["learner"] != upper {
					c.fatalf("transcript of %s names learner %v, want %s (one learner, in upper case)", id, tr["learner"], upper)
				}
				if list, _ := tr["outcomes"].([]any); len(list) != 2 {
					c.fatalf("transcript of %s has %d outcomes, want the 2 posted as %s and %s", id, len(list), lower, upper)
				}
				b := c.balance(id, c.admin())
				c.wantAmount(b, "standard_credits", 600, "the balance of "+id)
				balances = append(balances, compact(b))
			}
			if balances[0] != balances[1] {
				c.fatalf("the balances of %s and %s differ: %s, %s", upper, lower, balances[0], balances[1])
			}
			// A learner's token in the other case reads its own record.
			c.transcript(upper, c.learnerToken(lower))
			c.balance(lower, c.learnerToken(upper))
		}},
		{"identifiers/learner-id-personal", func(c *tc) {
			rule, _ := c.rule(nil)
			for _, id := range []string{"110101199003071234", "11010119900307123X", "11010119900307123x", "123456789", "900101-1234567"} {
				c.refused(func() {
					p := c.wantProblem(c.post(c.college(), c.outcome(id, nil)), http.StatusUnprocessableEntity)
					c.wantType(p, "learner-id-personal")
					p = c.wantProblem(c.convert(c.admin(), id, rule, nil), http.StatusUnprocessableEntity)
					c.wantType(p, "learner-id-personal")
				})
			}
		}},
		{"identifiers/institution-name", func(c *tc) {
			for _, name := range []string{
				"Conformance \u202eytisrevinU", // right-to-left override
				"Conformance\u200b University", // zero width space
				"Conformance \ufffd",           // what a lone surrogate decodes to
				"Conformance Univ\u0435rsity",  // a Cyrillic e in a Latin word
			} {
				in := &inst{id: c.instID("name"), keys: []*ikey{newKey(c, "EdDSA")}}
				body := in.body("university")
				body["name"] = name
				c.refused(func() {
					p := c.wantProblem(c.do("POST", "/v1/institutions", c.admin(), body), http.StatusUnprocessableEntity)
					c.wantType(p, "invalid")
				})
			}
		}},
	}
}
