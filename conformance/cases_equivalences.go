package conformance

import (
	"fmt"
	"net/http"
)

// Equivalent units (docs/contract.md section 8): a group of units that are
// the same learning, versioned like rules; toward one target programme the
// outcomes of a group count once.

// group publishes a group of equivalent units of the given institution
// and code pairs, valid from 2020 on, and returns the version published.
func (c *tc) group(id string, units ...[2]string) map[string]any {
	var list []any
	for _, u := range units {
		list = append(list, map[string]any{"institution": u[0], "code": u[1]})
	}
	return c.obj(c.want(c.do("POST", "/v1/equivalences", c.admin(), map[string]any{
		"id": id, "units": list, "valid_from": "2020-01-01", "valid_until": nil}), http.StatusCreated))
}

// ofUnit is a mod giving an outcome unit code code.
func ofUnit(code string) func(map[string]any) {
	return func(o map[string]any) { o["unit"] = map[string]any{"code": code, "title": "An equivalent unit"} }
}

func equivalenceCases() []caseDef {
	return []caseDef{
		{"equivalence/publish-versions-and-read", func(c *tc) {
			id := fmt.Sprintf("conf-%s-g%d", c.s.runID, c.s.next())
			u1, u2 := [2]string{c.college().id, "EQ-A"}, [2]string{c.univ().id, "EQ-B"}
			if v := c.num(c.group(id, u1, u2), "version"); v != 1 {
				c.fatalf("the first version is %d", v)
			}
			if v := c.num(c.group(id, u2, u1), "version"); v != 2 {
				c.fatalf("the same id again is version %d, want 2", v)
			}
			got := c.obj(c.want(c.do("GET", "/v1/equivalences/"+id, c.admin(), nil), http.StatusOK))
			if c.num(got, "version") != 2 {
				c.fatalf("GET /v1/equivalences/%s answers %s, want version 2", id, compact(got))
			}
			c.wantProblem(c.do("GET", "/v1/equivalences/"+id+"-none", c.admin(), nil), http.StatusNotFound)
		}},
		{"equivalence/count-once-toward-a-programme", func(c *tc) {
			n := c.s.next()
			a, b := fmt.Sprintf("EQ%d-A", n), fmt.Sprintf("EQ%d-B", n)
			c.group(fmt.Sprintf("conf-%s-g%d", c.s.runID, n), [2]string{c.college().id, a}, [2]string{c.univ().id, b})
			r1, _ := c.rule(nil)
			r2, _ := c.rule(nil)
			l := c.learner()
			sa := c.posted(c.college(), l, 1, ofUnit(a))
			sb := c.posted(c.univ(), l, 1, ofUnit(b))
			conv := c.converted(l, r1, append(sb, sa...))
			c.wantItems(conv, sb, []int64{150})
			if list, _ := conv["not_converted"].([]any); len(list) != 1 || !containsNumber(list, sa[0]) {
				c.fatalf("the conversion does not say why outcome %d did not count: %s", sa[0], compact(conv))
			}
			// Nor later toward the same programme; toward another it counts.
			c.refused(func() { c.wantIneligible(c.convert(c.admin(), l, r1, sa), sa, "equivalent_used") })
			c.wantItems(c.converted(l, r2, sa), sa, []int64{150})
		}},
	}
}
