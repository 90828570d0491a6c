package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Posting outcomes, one or in batches, with idempotency and the standard
// credits formula (docs/contract.md section 3).

// creditCase posts an outcome with the given credits (and hours, when not
// negative) and checks its standard credits against the contract's formula,
// computed here: hours, else amount × the system's hours per credit,
// divided by 16 and rounded half-even to two decimals.
func creditCase(name, amount, system string, hours int64) caseDef {
	return caseDef{"credits/" + name, func(c *tc) {
		o := c.outcome(c.learner(), func(o map[string]any) {
			o["credits"] = map[string]any{"amount": amount, "system": system}
			delete(o, "hours")
			if hours >= 0 {
				o["hours"] = hours
			}
		})
		got := c.postOK(c.college(), o)
		c.wantAmount(got, "standard_credits", standardCredits(c, amount, system, hours), fmt.Sprintf("%s %s, hours %d", amount, system, hours))
	}}
}

// hoursPerCredit in tenths of an hour.
var hoursPerCredit = map[string]int64{"cn-credit": 160, "ects": 275, "kr-credit": 150, "hk-qf": 100, "us-semester": 450, "hours": 10}

func standardCredits(c *tc, amount, system string, hours int64) int64 {
	if hours >= 0 {
		return roundHalfEven(hours*100, 16)
	}
	a, err := hundredths(amount)
	c.check(err, "amount")
	// a/100 credits × h/10 hours per credit / 16, in hundredths.
	return roundHalfEven(a*hoursPerCredit[system], 160)
}

func outcomeCases() []caseDef {
	return []caseDef{
		{"outcome/created", func(c *tc) {
			l := c.learner()
			o := c.outcome(l, nil)
			got := c.postOK(c.college(), o)
			c.num(got, "seq")
			c.wantAmount(got, "standard_credits", 300, "the contract's example")
			if at := c.str(got, "recorded_at"); !strings.HasSuffix(at, "Z") {
				c.fatalf("recorded_at %q is not RFC 3339 UTC", at)
			} else if ts, err := time.Parse(time.RFC3339Nano, at); err != nil || time.Since(ts) > time.Hour || time.Until(ts) > time.Minute {
				c.fatalf("recorded_at %q is not the time of the post (%v)", at, err)
			}
			for _, k := range []string{"idempotency_key", "learner", "sector", "field", "completed_on"} {
				if got[k] != o[k] {
					c.fatalf("the stored outcome has %s %v, want %v", k, got[k], o[k])
				}
			}
			if unit, _ := got["unit"].(map[string]any); unit == nil || unit["code"] != o["unit"].(map[string]any)["code"] {
				c.fatalf("the stored outcome has unit %v", got["unit"])
			}
			if cr, _ := got["credits"].(map[string]any); cr == nil || cr["amount"] != "3" {
				c.fatalf("the stored outcome has credits %v, want the amount as the string \"3\"", got["credits"])
			}
		}},
		{"outcome/recorded-at-ignored", func(c *tc) {
			o := c.outcome(c.learner(), func(o map[string]any) { o["recorded_at"] = "1999-01-01T00:00:00Z" })
			r := c.post(c.college(), o)
			if r.status != http.StatusCreated {
				c.fatalf("%s: the contract says the server ignores a client's recorded_at", r)
			}
			if at := c.str(c.obj(r), "recorded_at"); strings.HasPrefix(at, "1999") {
				c.fatalf("the server kept the client's recorded_at %q", at)
			}
		}},
		{"outcome/failed-carries-no-credits", func(c *tc) {
			got := c.postOK(c.college(), c.outcome(c.learner(), func(o map[string]any) {
				o["result"] = map[string]any{"passed": false, "score": "20"}
			}))
			c.wantAmount(got, "standard_credits", 0, "a failed outcome")
		}},
		creditCase("cn-credit", "3", "cn-credit", -1),
		creditCase("ects", "5", "ects", -1),
		creditCase("kr-credit", "3", "kr-credit", -1),
		creditCase("hk-qf-half-even", "1", "hk-qf", -1),
		creditCase("us-semester", "1", "us-semester", -1),
		creditCase("hours-system", "8", "hours", -1),
		creditCase("two-decimals", "7.5", "cn-credit", -1),
		creditCase("hours-given-win", "3", "cn-credit", 40),
		creditCase("hours-half-even", "0.5", "ects", 10),
		{"idempotency/replay", func(c *tc) {
			in := c.college()
			o := c.outcome(c.learner(), nil)
			first := c.postOK(in, o)
			c.refused(func() {
				r := c.want(c.post(in, o), http.StatusOK)
				again := c.obj(r)
				if c.num(again, "seq") != c.num(first, "seq") {
					c.fatalf("the replay answered seq %v, want the original %v", again["seq"], first["seq"])
				}
				if again["recorded_at"] != first["recorded_at"] {
					c.fatalf("the replay answered recorded_at %v, want the original %v", again["recorded_at"], first["recorded_at"])
				}
			})
		}},
		{"idempotency/conflict", func(c *tc) {
			in := c.college()
			o := c.outcome(c.learner(), nil)
			c.postOK(in, o)
			o2 := c.outcome(o["learner"].(string), func(x map[string]any) { x["idempotency_key"] = o["idempotency_key"]; x["level"] = 5 })
			c.refused(func() { c.wantProblem(c.post(in, o2), http.StatusConflict) })
		}},
		{"idempotency/per-institution", func(c *tc) {
			o := c.outcome(c.learner(), nil)
			a := c.postOK(c.college(), o)
			b := c.postOK(c.univ(), o)
			if c.num(a, "seq") == c.num(b, "seq") {
				c.fatalf("two institutions' outcomes with one idempotency key got the same seq")
			}
		}},
		{"batch/created-duplicate-rejected", func(c *tc) {
			in := c.college()
			l := c.learner()
			earlier := c.outcome(l, nil)
			orig := c.num(c.postOK(in, earlier), "seq")
			items := []any{
				c.outcome(l, nil),
				c.outcome(l, func(o map[string]any) { o["level"] = 11 }),
				c.outcome(l, func(o map[string]any) { o["sector"] = "vocational" }),
				earlier,
			}
			var res struct {
				Results []map[string]any `json:"results"`
			}
			r := c.want(c.post(in, map[string]any{"outcomes": items}), http.StatusOK)
			c.decode(r, &res)
			want := []string{"created", "rejected", "created", "duplicate"}
			if len(res.Results) != len(want) {
				c.fatalf("batch of 4 answered %d results: %s", len(res.Results), r)
			}
			var created []uint64
			for i, w := range want {
				it := res.Results[i]
				if it["status"] != w {
					c.fatalf("batch item %d is %v, want %s: %s", i, it["status"], w, r)
				}
				switch w {
				case "rejected":
					if it["error"] == nil {
						c.fatalf("rejected batch item %d has no error: %s", i, r)
					}
				default:
					seq, ok := it["seq"].(float64)
					if !ok {
						c.fatalf("batch item %d (%s) has no seq: %s", i, w, r)
					}
					if w == "duplicate" && uint64(seq) != orig {
						c.fatalf("the duplicate answered seq %v, want the original %d", seq, orig)
					}
					if w == "created" {
						created = append(created, uint64(seq))
					}
				}
			}
			tr := c.transcript(l, c.admin())
			for _, s := range created {
				if st := c.outcomeStatus(tr, s); st != "active" {
					c.fatalf("created batch item %d has status %q", s, st)
				}
			}
			if list, _ := tr["outcomes"].([]any); len(list) != 3 {
				c.fatalf("the transcript has %d outcomes, want 3 (the earlier one and two created)", len(list))
			}
		}},
		{"batch/over-10000", func(c *tc) {
			var b bytes.Buffer
			b.WriteString(`{"outcomes":[`)
			for i := range 10001 {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(`{}`)
			}
			b.WriteString(`]}`)
			c.refused(func() {
				c.wantProblem(c.post(c.college(), b.Bytes()), http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity)
			})
		}},
	}
}

// badOutcome posts an outcome the server must refuse with 400 or 422.
func badOutcome(name string, mod func(o map[string]any)) caseDef {
	return caseDef{"input/" + name, func(c *tc) {
		o := c.outcome(c.learner(), mod)
		c.refused(func() {
			c.wantProblem(c.post(c.college(), o), http.StatusBadRequest, http.StatusUnprocessableEntity)
		})
	}}
}

func credits(amount any) func(o map[string]any) {
	return func(o map[string]any) { o["credits"] = map[string]any{"amount": amount, "system": "cn-credit"} }
}

func inputCases() []caseDef {
	return []caseDef{
		badOutcome("learner-id-with-space", func(o map[string]any) { o["learner"] = "L 000123" }),
		badOutcome("learner-id-starting-with-dash", func(o map[string]any) { o["learner"] = "-L000123" }),
		badOutcome("learner-id-too-long", func(o map[string]any) { o["learner"] = "L" + strings.Repeat("0", 64) }),
		badOutcome("field-with-letters", func(o map[string]any) { o["field"] = "06a1" }),
		badOutcome("field-one-digit", func(o map[string]any) { o["field"] = "6" }),
		badOutcome("field-five-digits", func(o map[string]any) { o["field"] = "06131" }),
		badOutcome("level-0", func(o map[string]any) { o["level"] = 0 }),
		badOutcome("level-11", func(o map[string]any) { o["level"] = 11 }),
		badOutcome("invalid-date", func(o map[string]any) { o["completed_on"] = "2025-02-30" }),
		badOutcome("date-with-time", func(o map[string]any) { o["completed_on"] = "2025-02-03T00:00:00Z" }),
		badOutcome("amount-as-number", credits(3)),
		badOutcome("amount-three-decimals", credits("3.125")),
		badOutcome("amount-negative", credits("-3")),
		badOutcome("amount-exponent", credits("3e2")),
		badOutcome("unknown-credit-system", func(o map[string]any) {
			o["credits"] = map[string]any{"amount": "3", "system": "moon-credit"}
		}),
		badOutcome("unknown-member", func(o map[string]any) { o["colour"] = "blue" }),
		badOutcome("learner-name-member", func(o map[string]any) { o["learner_name"] = "Ada Lovelace" }),
		badOutcome("national-id-member", func(o map[string]any) { o["national_id"] = "110101199003074512" }),
		badOutcome("no-idempotency-key", func(o map[string]any) { delete(o, "idempotency_key") }),
		{"input/duplicate-member", func(c *tc) {
			b, err := json.Marshal(c.outcome(c.learner(), nil))
			c.check(err, "marshal")
			dup := append([]byte(`{"learner":"X1",`), b[1:]...)
			c.refused(func() {
				c.wantProblem(c.post(c.college(), dup), http.StatusBadRequest, http.StatusUnprocessableEntity)
			})
		}},
		{"input/not-json", func(c *tc) {
			c.refused(func() {
				c.wantProblem(c.post(c.college(), []byte(`{"learner":`)), http.StatusBadRequest)
			})
		}},
		{"input/wrong-content-type", func(c *tc) {
			b, err := json.Marshal(c.outcome(c.learner(), nil))
			c.check(err, "marshal")
			c.refused(func() {
				c.wantProblem(c.post(c.college(), rawBody{"text/plain", b}), http.StatusUnsupportedMediaType)
			})
		}},
		{"input/body-too-large", func(c *tc) {
			// 40 MiB: above any sensible limit for a batch of 10,000 outcomes.
			o := c.outcome(c.learner(), nil)
			o["unit"] = map[string]any{"code": "CS101", "title": strings.Repeat("x", 40<<20)}
			b, err := json.Marshal(o)
			c.check(err, "marshal")
			c.refused(func() {
				c.wantProblem(c.post(c.college(), b), http.StatusRequestEntityTooLarge)
			})
		}},
	}
}
