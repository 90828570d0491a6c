package conformance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Rules, conversions, revocation and supersession (docs/contract.md section 3).

// grantedToward reads a balance's credits granted toward programme (0 when
// it names none).
func (c *tc) grantedToward(b map[string]any, programme string) int64 {
	g, _ := b["granted"].(map[string]any)
	var sum int64
	for k := range g {
		if strings.Contains(k, programme) {
			sum += c.amountOf(g, k)
		}
	}
	return sum
}

// reasonWords are words a reason must contain, by kind: the contract asks
// the 422 to name why, not in which words, so any that names it will do.
var reasonWords = map[string][]string{
	"too_old": {"old", "age"}, "score": {"score"}, "level": {"level"}, "field": {"field"},
	"sector": {"sector"}, "failed": {"fail", "pass"}, "revoked": {"revoked", "supersed"},
	"already_used": {"used", "already"}, "institution": {"institution"}, "cap": {"cap"},
	"not_found": {"found", "unknown", "learner"}, "institution_suspended": {"suspend"},
	"equivalent_used": {"equivalent"},
}

// wantIneligible checks a 422 that names, for each outcome asked for, why
// it is not eligible.
func (c *tc) wantIneligible(r reply, seqs []uint64, kind string) {
	p := c.wantProblem(r, http.StatusUnprocessableEntity)
	words := reasonWords[kind]
	matches := func(s string) bool {
		s = strings.ToLower(s)
		return slices.ContainsFunc(words, func(w string) bool { return strings.Contains(s, w) })
	}
	if list, ok := p["reasons"].([]any); ok {
		for _, seq := range seqs {
			found := false
			for _, it := range list {
				m, _ := it.(map[string]any)
				if m == nil || m["outcome"] == nil || c.num(m, "outcome") != seq {
					continue
				}
				found = true
				if !matches(compact(m)) {
					c.fatalf("outcome %d is refused for %s, want the reason %s: %s", seq, compact(m), kind, r)
				}
			}
			if !found {
				c.fatalf("the 422 does not name outcome %d: %s", seq, r)
			}
		}
		return
	}
	body := string(r.body)
	for _, seq := range seqs {
		if !strings.Contains(body, itoa(seq)) {
			c.fatalf("the 422 does not name outcome %d: %s", seq, r)
		}
	}
	if !matches(body) {
		c.fatalf("the 422 does not say %s: %s", kind, r)
	}
}

// converted asks for a conversion as admin; it must be granted.
func (c *tc) converted(learner, rule string, seqs []uint64) map[string]any {
	return c.obj(c.want(c.convert(c.admin(), learner, rule, seqs), http.StatusCreated))
}

// wantItems checks a conversion's items and total, in hundredths.
func (c *tc) wantItems(conv map[string]any, seqs []uint64, granted []int64) {
	gotSeqs, gotGranted := c.items(conv)
	var total int64
	for _, g := range granted {
		total += g
	}
	if !slices.Equal(gotSeqs, seqs) || !slices.Equal(gotGranted, granted) {
		c.fatalf("conversion items %v granting %v, want %v granting %v: %s", gotSeqs, gotGranted, seqs, granted, compact(conv))
	}
	c.wantAmount(conv, "granted", total, "the conversion's total")
}

func (c *tc) wantCapped(conv map[string]any, want bool) {
	if got, ok := conv["capped"].(bool); !ok || got != want {
		c.fatalf("conversion capped is %v, want %v: %s", conv["capped"], want, compact(conv))
	}
}

// ineligibleCase posts an outcome (changed by mod) and asks for it under a
// rule (changed by rmod): 422 naming kind.
func ineligibleCase(name, kind string, rmod func(r map[string]any), mod func(o map[string]any)) caseDef {
	return caseDef{"conversion/ineligible-" + name, func(c *tc) {
		rule, _ := c.rule(rmod)
		l := c.learner()
		seqs := c.posted(c.college(), l, 1, mod)
		c.refused(func() { c.wantIneligible(c.convert(c.admin(), l, rule, seqs), seqs, kind) })
	}}
}

func capped(amount string) func(r map[string]any) {
	return func(r map[string]any) { r["cap"] = amount }
}

func ruleCases() []caseDef {
	type ruleFix struct{ id, programme string }
	versioned := func(c *tc) ruleFix {
		return fixture(c, "versioned-rule", func() ruleFix {
			id, p := c.rule(nil)
			return ruleFix{id, p}
		})
	}
	return []caseDef{
		{"rule/publish", func(c *tc) {
			id := fmt.Sprintf("conf-%s-pub%d", c.s.runID, c.s.next())
			body := map[string]any{
				"id": id, "target": map[string]any{"institution": c.univ().id, "programme": "BSC-CS"},
				"source": map[string]any{"sectors": []string{"non_degree", "vocational"}, "min_level": 5, "fields": []string{"06"},
					"min_score": "60", "max_age_days": 1825, "institutions": []string{}},
				"ratio": "0.5", "cap": "20", "valid_from": "2026-01-01", "valid_until": nil,
			}
			got := c.obj(c.want(c.do("POST", "/v1/rules", c.admin(), body), http.StatusCreated))
			if c.str(got, "id") != id || c.num(got, "version") != 1 || c.str(got, "ratio") != "0.5" {
				c.fatalf("publishing answered %s, want version 1 of %s", compact(got), id)
			}
		}},
		{"rule/next-version", func(c *tc) {
			rf := versioned(c)
			body := map[string]any{
				"id": rf.id, "target": map[string]any{"institution": c.univ().id, "programme": rf.programme},
				"source": openSource("non_degree"), "ratio": "0.75", "cap": nil,
				"valid_from": "2020-01-01", "valid_until": nil,
			}
			got := c.obj(c.want(c.do("POST", "/v1/rules", c.admin(), body), http.StatusCreated))
			if c.num(got, "version") != 2 {
				c.fatalf("publishing %s again answered %s, want version 2", rf.id, compact(got))
			}
		}},
		{"rule/get-latest", func(c *tc) {
			rf := versioned(c)
			got := c.obj(c.want(c.do("GET", "/v1/rules/"+rf.id, c.college().tok(c), nil), http.StatusOK))
			if v := c.num(got, "version"); v < 1 {
				c.fatalf("GET rule answered version %d", v)
			}
			if c.s.selected("rule/next-version") && c.num(got, "version") != 2 {
				c.fatalf("GET rule answered %s, want the latest, version 2", compact(got))
			}
		}},
		{"rule/get-version", func(c *tc) {
			rf := versioned(c)
			got := c.obj(c.want(c.do("GET", "/v1/rules/"+rf.id+"/versions/1", c.admin(), nil), http.StatusOK))
			if c.num(got, "version") != 1 || c.str(got, "ratio") != "0.5" {
				c.fatalf("GET version 1 answered %s, want version 1 with ratio 0.5", compact(got))
			}
		}},
		{"rule/unknown", func(c *tc) {
			c.wantProblem(c.do("GET", "/v1/rules/conf-"+c.s.runID+"-none", c.admin(), nil), http.StatusNotFound)
		}},
		{"rule/past-conversions-keep-their-version", func(c *tc) {
			id, programme := c.rule(nil)
			l := c.learner()
			seqs := c.posted(c.college(), l, 2, nil)
			first := c.converted(l, id, seqs[:1])
			body := map[string]any{
				"id": id, "target": map[string]any{"institution": c.univ().id, "programme": programme},
				"source": openSource("non_degree"), "ratio": "1", "cap": nil,
				"valid_from": "2020-01-01", "valid_until": nil,
			}
			c.want(c.do("POST", "/v1/rules", c.admin(), body), http.StatusCreated)
			second := c.converted(l, id, seqs[1:])
			if v := c.num(second["rule"].(map[string]any), "version"); v != 2 {
				c.fatalf("a conversion after version 2 was published used version %d", v)
			}
			c.wantItems(second, seqs[1:], []int64{300})
			tr := c.transcript(l, c.admin())
			convs, _ := tr["conversions"].([]any)
			for _, cv := range convs {
				m := cv.(map[string]any)
				if c.num(m, "seq") == c.num(first, "seq") {
					if v := c.num(m["rule"].(map[string]any), "version"); v != 1 {
						c.fatalf("the first conversion now shows rule version %d, want 1", v)
					}
					return
				}
			}
			c.fatalf("the transcript does not list conversion %v: %s", first["seq"], compact(tr))
		}},
		{"rule/ratio-as-number", func(c *tc) {
			c.refused(func() {
				c.wantProblem(c.do("POST", "/v1/rules", c.admin(), map[string]any{
					"id": c.instID("badrule"), "target": map[string]any{"institution": c.univ().id, "programme": "X"},
					"source": openSource("non_degree"), "ratio": 0.5, "cap": nil,
					"valid_from": "2020-01-01", "valid_until": nil}), http.StatusBadRequest, http.StatusUnprocessableEntity)
			})
		}},
		{"rule/negative-cap", func(c *tc) {
			u := c.univ().id
			c.refused(func() {
				c.wantProblem(c.do("POST", "/v1/rules", c.admin(), map[string]any{
					"id": c.instID("badrule"), "target": map[string]any{"institution": u, "programme": "X"},
					"source": openSource("non_degree"), "ratio": "0.5", "cap": "-1",
					"valid_from": "2020-01-01", "valid_until": nil}), http.StatusBadRequest, http.StatusUnprocessableEntity)
			})
		}},
	}
}

func conversionCases() []caseDef {
	return []caseDef{
		{"conversion/grant", func(c *tc) {
			rule, programme := c.rule(nil)
			l := c.learner()
			seqs := c.posted(c.college(), l, 1, nil)
			conv := c.converted(l, rule, seqs)
			c.num(conv, "seq")
			ref, _ := conv["rule"].(map[string]any)
			if ref == nil || ref["id"] != rule || c.num(ref, "version") != 1 {
				c.fatalf("conversion names rule %v, want {id %s, version 1}", conv["rule"], rule)
			}
			c.wantItems(conv, seqs, []int64{150})
			c.wantCapped(conv, false)
			items := conv["items"].([]any)
			c.wantAmount(items[0].(map[string]any), "standard_credits", 300, "the item")
			if g := c.grantedToward(c.balance(l, c.admin()), programme); g != 150 {
				c.fatalf("the balance grants %s toward %s, want 1.50", fmtHundredths(g), programme)
			}
		}},
		{"conversion/every-eligible-when-none-named", func(c *tc) {
			rule, _ := c.rule(nil)
			l := c.learner()
			good := c.posted(c.college(), l, 1, nil)
			c.posted(c.college(), l, 1, func(o map[string]any) { o["result"] = map[string]any{"passed": false, "score": "90"} })
			c.posted(c.college(), l, 1, func(o map[string]any) { o["level"] = 4 })
			good = append(good, c.posted(c.college(), l, 1, func(o map[string]any) { o["hours"] = 32 })...)
			c.wantItems(c.converted(l, rule, nil), good, []int64{150, 100})
		}},
		{"conversion/rounds-half-even", func(c *tc) {
			rule, _ := c.rule(nil)
			l := c.learner()
			// 0.25 × 0.5 = 0.125 → 0.12; 0.75 × 0.5 = 0.375 → 0.38. The
			// credits agree with the hours, as they must (section 8).
			a := c.posted(c.college(), l, 1, func(o map[string]any) {
				o["hours"], o["credits"] = 4, map[string]any{"amount": "0.25", "system": "cn-credit"}
			})
			b := c.posted(c.college(), l, 1, func(o map[string]any) {
				o["hours"], o["credits"] = 12, map[string]any{"amount": "0.75", "system": "cn-credit"}
			})
			c.wantItems(c.converted(l, rule, append(a, b...)), append(a, b...), []int64{12, 38})
		}},
		{"conversion/ratio-with-four-decimals", func(c *tc) {
			rule, _ := c.rule(func(r map[string]any) { r["ratio"] = "0.3333" })
			l := c.learner()
			seqs := c.posted(c.college(), l, 1, nil) // 3 × 0.3333 = 0.9999 → 1.00
			c.wantItems(c.converted(l, rule, seqs), seqs, []int64{100})
		}},
		{"conversion/cap-within-one", func(c *tc) {
			rule, _ := c.rule(capped("2"))
			l := c.learner()
			seqs := c.posted(c.college(), l, 3, nil)
			conv := c.converted(l, rule, seqs)
			c.wantItems(conv, seqs[:2], []int64{150, 50})
			c.wantCapped(conv, true)
		}},
		{"conversion/cap-across-conversions", func(c *tc) {
			rule, programme := c.rule(capped("2"))
			l := c.learner()
			seqs := c.posted(c.college(), l, 3, nil)
			first := c.converted(l, rule, seqs[:1])
			c.wantItems(first, seqs[:1], []int64{150})
			c.wantCapped(first, false)
			second := c.converted(l, rule, seqs[1:2])
			c.wantItems(second, seqs[1:2], []int64{50})
			c.wantCapped(second, true)
			c.refused(func() { c.wantIneligible(c.convert(c.admin(), l, rule, seqs[2:]), seqs[2:], "cap") })
			if g := c.grantedToward(c.balance(l, c.admin()), programme); g != 200 {
				c.fatalf("the balance grants %s toward %s, want the cap, 2.00", fmtHundredths(g), programme)
			}
		}},
		{"conversion/cap-across-versions", func(c *tc) {
			id, programme := c.rule(capped("2"))
			l := c.learner()
			seqs := c.posted(c.college(), l, 2, nil)
			c.wantItems(c.converted(l, id, seqs[:1]), seqs[:1], []int64{150})
			body := map[string]any{
				"id": id, "target": map[string]any{"institution": c.univ().id, "programme": programme},
				"source": openSource("non_degree"), "ratio": "0.5", "cap": "2",
				"valid_from": "2020-01-01", "valid_until": nil,
			}
			c.want(c.do("POST", "/v1/rules", c.admin(), body), http.StatusCreated)
			c.wantItems(c.converted(l, id, seqs[1:]), seqs[1:], []int64{50})
		}},
		{"conversion/cap-is-per-rule", func(c *tc) {
			r1, _ := c.rule(capped("1.5"))
			r2, _ := c.rule(capped("1.5"))
			l := c.learner()
			seqs := c.posted(c.college(), l, 2, nil)
			c.wantItems(c.converted(l, r1, seqs[:1]), seqs[:1], []int64{150})
			c.wantItems(c.converted(l, r2, seqs[1:]), seqs[1:], []int64{150})
		}},
		{"conversion/cap-is-per-learner", func(c *tc) {
			rule, _ := c.rule(capped("1.5"))
			for range 2 {
				l := c.learner()
				seqs := c.posted(c.college(), l, 1, nil)
				c.wantItems(c.converted(l, rule, seqs), seqs, []int64{150})
			}
		}},
		{"conversion/used-once-per-programme", func(c *tc) {
			r1, programme := c.rule(nil)
			r2, _ := c.rule(func(r map[string]any) { r["target"].(map[string]any)["programme"] = programme })
			r3, _ := c.rule(nil)
			l := c.learner()
			seqs := c.posted(c.college(), l, 1, nil)
			c.converted(l, r1, seqs)
			c.refused(func() { c.wantIneligible(c.convert(c.admin(), l, r1, seqs), seqs, "already_used") })
			c.refused(func() { c.wantIneligible(c.convert(c.admin(), l, r2, seqs), seqs, "already_used") })
			c.wantItems(c.converted(l, r3, seqs), seqs, []int64{150})
		}},
		{"conversion/field-prefix", func(c *tc) {
			rule, _ := c.rule(func(r map[string]any) { source(r)["fields"] = []string{"061"} })
			l := c.learner()
			seqs := c.posted(c.college(), l, 1, nil)
			c.wantItems(c.converted(l, rule, seqs), seqs, []int64{150})
		}},
		{"conversion/some-eligible", func(c *tc) {
			rule, _ := c.rule(nil)
			l := c.learner()
			good := c.posted(c.college(), l, 1, nil)
			bad := c.posted(c.college(), l, 1, func(o map[string]any) { o["field"] = "0111" })
			c.wantItems(c.converted(l, rule, append(bad, good...)), good, []int64{150})
		}},
		ineligibleCase("too-old", "too_old", func(r map[string]any) { source(r)["max_age_days"] = 30 },
			func(o map[string]any) { o["completed_on"] = daysAgo(60) }),
		ineligibleCase("score", "score", func(r map[string]any) { source(r)["min_score"] = "90" }, nil),
		ineligibleCase("level", "level", func(r map[string]any) { source(r)["min_level"] = 7 }, nil),
		ineligibleCase("field", "field", func(r map[string]any) { source(r)["fields"] = []string{"01"} }, nil),
		ineligibleCase("sector", "sector", func(r map[string]any) { source(r)["sectors"] = []string{"degree"} }, nil),
		ineligibleCase("failed", "failed", nil, func(o map[string]any) {
			o["result"] = map[string]any{"passed": false, "score": "90"}
		}),
		{"conversion/ineligible-institution", func(c *tc) {
			u := c.univ().id
			rule, _ := c.rule(func(r map[string]any) { source(r)["institutions"] = []string{u} })
			l := c.learner()
			seqs := c.posted(c.college(), l, 1, nil)
			c.refused(func() { c.wantIneligible(c.convert(c.admin(), l, rule, seqs), seqs, "institution") })
		}},
		{"conversion/ineligible-revoked", func(c *tc) {
			rule, _ := c.rule(nil)
			l := c.learner()
			seqs := c.posted(c.college(), l, 1, nil)
			c.want(c.do("POST", "/v1/outcomes/"+itoa(seqs[0])+"/revocation", c.college().tok(c), map[string]any{"reason": "error"}), http.StatusCreated, http.StatusOK)
			c.refused(func() { c.wantIneligible(c.convert(c.admin(), l, rule, seqs), seqs, "revoked") })
		}},
		{"conversion/ineligible-other-learners-outcome", func(c *tc) {
			rule, _ := c.rule(nil)
			l, other := c.learner(), c.learner()
			seqs := c.posted(c.college(), other, 1, nil)
			c.refused(func() { c.wantIneligible(c.convert(c.admin(), l, rule, seqs), seqs, "not_found") })
		}},
		{"conversion/audit-listing", func(c *tc) {
			rule, _ := c.rule(nil)
			l := c.learner()
			seqs := c.posted(c.college(), l, 1, nil)
			conv := c.converted(l, rule, seqs)
			page := c.obj(c.want(c.do("GET", "/v1/audit/conversions?rule="+rule, c.admin(), nil), http.StatusOK))
			list, _ := page["conversions"].([]any)
			if len(list) != 1 {
				c.fatalf("the audit listing for rule %s holds %d conversions, want 1: %s", rule, len(list), compact(page))
			}
			m := list[0].(map[string]any)
			if c.num(m, "seq") != c.num(conv, "seq") {
				c.fatalf("the audit listing shows conversion %v, want %v", m["seq"], conv["seq"])
			}
			if ref, _ := m["rule"].(map[string]any); ref == nil || ref["id"] != rule || c.num(ref, "version") != 1 {
				c.fatalf("the audit listing names rule %v, want %s version 1", m["rule"], rule)
			}
			if !containsNumber(m, seqs[0]) {
				c.fatalf("the audit listing does not name source outcome %d: %s", seqs[0], compact(m))
			}
		}},
	}
}

// containsNumber reports whether n appears as a number anywhere in v
// (decoded with UseNumber or as float64).
func containsNumber(v any, n uint64) bool {
	switch x := v.(type) {
	case json.Number:
		return x.String() == itoa(n)
	case float64:
		return x == float64(n)
	case map[string]any:
		for _, e := range x {
			if containsNumber(e, n) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if containsNumber(e, n) {
				return true
			}
		}
	}
	return false
}

// written returns the entries a request wrote, between two probes.
func (c *tc) written(f func()) [][]byte {
	before := c.probe()
	f()
	after := c.probe()
	var out [][]byte
	for s := before + 1; s < after; s++ {
		out = append(out, c.entry(s))
	}
	return out
}

func entryNames(c *tc, b []byte, n uint64) bool {
	var v any
	c.check(json.Unmarshal(b, &v), "entry")
	return containsNumber(v, n)
}

// wantEffect checks that an answer's effects list the item of conversion
// conv that used outcome, with action.
func (c *tc) wantEffect(answer map[string]any, conv, outcome uint64, action string) {
	list, ok := answer["effects"].([]any)
	if !ok {
		c.fatalf("the answer lists no effects: %s", compact(answer))
	}
	for _, it := range list {
		m, _ := it.(map[string]any)
		if m != nil && c.num(m, "conversion") == conv && c.num(m, "outcome") == outcome {
			if m["action"] != action {
				c.fatalf("the item of outcome %d in conversion %d was %v, want %s", outcome, conv, m["action"], action)
			}
			return
		}
	}
	c.fatalf("the effects do not name the item of outcome %d in conversion %d: %s", outcome, conv, compact(answer))
}

func revocationCases() []caseDef {
	revoke := func(c *tc, seq uint64) map[string]any {
		return c.obj(c.want(c.do("POST", "/v1/outcomes/"+itoa(seq)+"/revocation", c.college().tok(c), map[string]any{"reason": "entered in error"}), http.StatusCreated, http.StatusOK))
	}
	return []caseDef{
		{"revocation/revoke", func(c *tc) {
			l := c.learner()
			seqs := c.posted(c.college(), l, 2, nil)
			entries := c.written(func() { revoke(c, seqs[0]) })
			if len(entries) != 1 {
				c.fatalf("revoking an unused outcome wrote %d entries, want 1", len(entries))
			}
			if !entryNames(c, entries[0], seqs[0]) {
				c.fatalf("the revocation entry does not name outcome %d: %s", seqs[0], entries[0])
			}
			tr := c.transcript(l, c.admin())
			if st := c.outcomeStatus(tr, seqs[0]); st != "revoked" {
				c.fatalf("the revoked outcome has status %q", st)
			}
			if st := c.outcomeStatus(tr, seqs[1]); st != "active" {
				c.fatalf("the other outcome has status %q", st)
			}
			c.wantAmount(c.balance(l, c.admin()), "standard_credits", 300, "the balance after the revocation")
		}},
		{"revocation/reverses-items", func(c *tc) {
			r1, p1 := c.rule(nil)
			r2, p2 := c.rule(nil)
			l := c.learner()
			seqs := c.posted(c.college(), l, 2, nil)
			conv1 := c.num(c.converted(l, r1, seqs), "seq")
			conv2 := c.num(c.converted(l, r2, seqs[:1]), "seq")
			var answer map[string]any
			entries := c.written(func() { answer = revoke(c, seqs[0]) })
			if len(entries) != 3 {
				c.fatalf("revoking an outcome used by two conversions wrote %d entries, want 3 (the revocation and a change of each)", len(entries))
			}
			for _, conv := range []uint64{conv1, conv2} {
				if !slices.ContainsFunc(entries[1:], func(b []byte) bool { return entryNames(c, b, conv) }) {
					c.fatalf("no entry changes conversion %d: %q", conv, entries)
				}
				c.wantEffect(answer, conv, seqs[0], "reversed")
			}
			// conv1's other item stands; conv2 had no other.
			b := c.balance(l, c.admin())
			if g1, g2 := c.grantedToward(b, p1), c.grantedToward(b, p2); g1 != 150 || g2 != 0 {
				c.fatalf("after the revocation the balance grants %s and %s, want 1.50 and 0", fmtHundredths(g1), fmtHundredths(g2))
			}
			c.wantAmount(b, "standard_credits", 300, "the balance after the revocation")
			c.refused(func() { c.wantIneligible(c.convert(c.admin(), l, r1, seqs[1:]), seqs[1:], "already_used") })
		}},
		{"revocation/frees-its-share-of-the-cap", func(c *tc) {
			rule, programme := c.rule(capped("2"))
			l := c.learner()
			seqs := c.posted(c.college(), l, 3, nil)
			conv := c.converted(l, rule, nil)
			c.wantItems(conv, seqs[:2], []int64{150, 50})
			revoke(c, seqs[0])
			again := c.converted(l, rule, nil)
			c.wantItems(again, seqs[2:], []int64{150})
			if g := c.grantedToward(c.balance(l, c.admin()), programme); g != 200 {
				c.fatalf("the balance grants %s toward %s, want 2.00", fmtHundredths(g), programme)
			}
		}},
		{"supersession/revokes-the-old", func(c *tc) {
			l := c.learner()
			old := c.posted(c.college(), l, 1, nil)[0]
			var created uint64
			entries := c.written(func() {
				o := c.outcome(l, func(o map[string]any) { o["supersedes"] = old; o["hours"] = 32 })
				created = c.num(c.postOK(c.college(), o), "seq")
			})
			if len(entries) != 2 {
				c.fatalf("a superseding outcome wrote %d entries, want 2 (it and the revocation)", len(entries))
			}
			if !slices.ContainsFunc(entries, func(b []byte) bool {
				return entryNames(c, b, old) && strings.Contains(string(b), "superseded")
			}) {
				c.fatalf("no entry revokes outcome %d with reason superseded: %q", old, entries)
			}
			tr := c.transcript(l, c.admin())
			if st := c.outcomeStatus(tr, old); st != "revoked" {
				c.fatalf("the superseded outcome has status %q", st)
			}
			if st := c.outcomeStatus(tr, created); st != "active" {
				c.fatalf("the superseding outcome has status %q", st)
			}
			c.wantAmount(c.balance(l, c.admin()), "standard_credits", 200, "the balance after the correction")
		}},
		{"supersession/moves-items", func(c *tc) {
			rule, programme := c.rule(nil)
			l := c.learner()
			old := c.posted(c.college(), l, 1, nil)
			conv := c.num(c.converted(l, rule, old), "seq")
			var answer map[string]any
			entries := c.written(func() {
				answer = c.postOK(c.college(), c.outcome(l, func(o map[string]any) { o["supersedes"] = old[0]; o["hours"] = 64 }))
			})
			if len(entries) != 3 || !slices.ContainsFunc(entries, func(b []byte) bool { return entryNames(c, b, conv) }) {
				c.fatalf("superseding a converted outcome wrote %d entries, want 3, one changing conversion %d", len(entries), conv)
			}
			c.wantEffect(answer, conv, old[0], "moved")
			// 4 standard credits at 0.5.
			if g := c.grantedToward(c.balance(l, c.admin()), programme); g != 200 {
				c.fatalf("after the correction the balance grants %s, want the moved item's 2.00", fmtHundredths(g))
			}
		}},
		{"supersession/reverses-items-it-cannot-take", func(c *tc) {
			rule, programme := c.rule(nil)
			l := c.learner()
			old := c.posted(c.college(), l, 1, nil)
			conv := c.num(c.converted(l, rule, old), "seq")
			answer := c.postOK(c.college(), c.outcome(l, func(o map[string]any) { o["supersedes"] = old[0]; o["field"] = "0111" }))
			c.wantEffect(answer, conv, old[0], "reversed")
			if g := c.grantedToward(c.balance(l, c.admin()), programme); g != 0 {
				c.fatalf("after a correction out of the rule's fields the balance still grants %s", fmtHundredths(g))
			}
		}},
		{"supersession/other-institutions-outcome", func(c *tc) {
			l := c.learner()
			old := c.posted(c.college(), l, 1, nil)[0]
			u := c.univ()
			o := c.outcome(l, func(o map[string]any) { o["supersedes"] = old })
			c.refused(func() {
				c.wantProblem(c.post(u, o), http.StatusForbidden, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusNotFound)
			})
		}},
		{"supersession/other-learners-outcome", func(c *tc) {
			old := c.posted(c.college(), c.learner(), 1, nil)[0]
			o := c.outcome(c.learner(), func(o map[string]any) { o["supersedes"] = old })
			c.refused(func() {
				c.wantProblem(c.post(c.college(), o), http.StatusForbidden, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusNotFound)
			})
		}},
	}
}
