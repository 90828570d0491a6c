package conformance

import (
	"fmt"
	"net/http"
	"net/url"
)

// An institution's history, the withdrawal of an accreditation and the last
// key (docs/contract.md section 8).

// history returns an institution's history as (event, reason, seq) rows.
func (c *tc) history(id string) []map[string]any {
	got := c.obj(c.want(c.do("GET", "/v1/institutions/"+id, c.admin(), nil), http.StatusOK))
	list, ok := got["history"].([]any)
	if !ok {
		c.fatalf("institution %s has no history list: %s", id, compact(got))
	}
	var rows []map[string]any
	for _, h := range list {
		m, _ := h.(map[string]any)
		if m == nil {
			c.fatalf("history item %v is not an object", h)
		}
		rows = append(rows, m)
	}
	return rows
}

func historyCases() []caseDef {
	return []caseDef{
		{"history/suspensions-and-lifts", func(c *tc) {
			in := c.register("hist", "university")
			base := "/v1/institutions/" + in.id + "/suspension"
			susp := c.obj(c.want(c.do("POST", base, c.regulator(), map[string]any{"reason": "inspection"}), http.StatusCreated))
			suspSeq := c.num(susp["suspension"].(map[string]any), "seq")
			c.want(c.do("DELETE", base, c.admin(), map[string]any{"reason": "inspection passed"}), http.StatusOK)
			c.want(c.do("POST", base, c.admin(), map[string]any{"reason": "complaint"}), http.StatusCreated)
			c.want(c.do("DELETE", base, c.admin(), nil), http.StatusOK)
			rows := c.history(in.id)
			want := [][2]string{{"suspended", "inspection"}, {"suspension_lifted", "inspection passed"}, {"suspended", "complaint"}, {"suspension_lifted", ""}}
			if len(rows) != len(want) {
				c.fatalf("history %s, want %d events", compact(rows), len(want))
			}
			last := uint64(0)
			for i, w := range want {
				reason, _ := rows[i]["reason"].(string)
				seq := c.num(rows[i], "seq")
				if rows[i]["event"] != w[0] || reason != w[1] || (i > 0 && seq <= last) {
					c.fatalf("history event %d is %s, want %s for %q in seq order", i, compact(rows[i]), w[0], w[1])
				}
				last = seq
			}
			if first := c.num(rows[0], "seq"); first != suspSeq {
				c.fatalf("the suspension's event has seq %d, its entry is %d", first, suspSeq)
			}
		}},
		{"history/withdrawal", func(c *tc) {
			in := c.register("withdraw", "university")
			acc := c.obj(c.want(c.do("POST", "/v1/institutions/"+in.id+"/accreditations", c.admin(), map[string]any{
				"sectors": []string{"non_degree"}, "max_level": 8, "valid_from": "2000-01-01", "valid_until": "2099-12-31"}), http.StatusCreated))
			path := fmt.Sprintf("/v1/institutions/%s/accreditations/%d/withdrawal", in.id, c.num(acc, "seq"))
			l := c.learner()
			before := c.num(c.postOK(in, c.outcome(l, nil)), "seq")
			c.refused(func() { c.wantProblem(c.do("POST", path, c.regulator(), map[string]any{}), http.StatusBadRequest) })
			c.refused(func() {
				c.wantProblem(c.do("POST", path, in.tok(c), map[string]any{"reason": "mine"}), http.StatusForbidden)
			})
			got := c.obj(c.want(c.do("POST", path, c.regulator(), map[string]any{"reason": "licence revoked"}), http.StatusCreated))
			w, _ := got["withdrawn"].(map[string]any)
			if w == nil || w["reason"] != "licence revoked" || w["on"] != today().Format("2006-01-02") {
				c.fatalf("withdrawal answered %s, want withdrawn today for the reason given", compact(got))
			}
			c.refused(func() {
				c.wantProblem(c.do("POST", path, c.admin(), map[string]any{"reason": "again"}), http.StatusConflict)
			})
			c.refused(func() {
				c.wantProblem(c.post(in, c.outcome(l, nil)), http.StatusUnprocessableEntity)
			})
			if st := c.outcomeStatus(c.transcript(l, c.admin()), before); st != "active" {
				c.fatalf("an outcome posted before the withdrawal is %s", st)
			}
			rows := c.history(in.id)
			if last := rows[len(rows)-1]; last["event"] != "accreditation_withdrawn" || last["reason"] != "licence revoked" ||
				c.num(last, "accreditation") != c.num(acc, "seq") {
				c.fatalf("the history ends with %s, want the withdrawal of accreditation %d", compact(last), c.num(acc, "seq"))
			}
		}},
		{"history/withdrawal-unknown", func(c *tc) {
			in := c.register("wunknown", "university")
			c.refused(func() {
				c.wantProblem(c.do("POST", "/v1/institutions/"+in.id+"/accreditations/999999999/withdrawal", c.admin(),
					map[string]any{"reason": "x"}), http.StatusNotFound)
			})
		}},
		{"history/last-key", func(c *tc) {
			k := newKey(c, "EdDSA")
			in := c.register("lastkey", "university", k)
			c.refused(func() {
				p := c.wantProblem(c.do("DELETE", "/v1/institutions/"+in.id+"/keys/"+url.PathEscape(k.kid), c.admin(), nil), http.StatusConflict)
				c.wantType(p, "last-key")
			})
			got := c.obj(c.want(c.do("GET", "/v1/institutions/"+in.id, c.admin(), nil), http.StatusOK))
			if keys, _ := got["keys"].([]any); len(keys) != 1 {
				c.fatalf("after a refused removal the institution has keys %v", got["keys"])
			}
		}},
	}
}
