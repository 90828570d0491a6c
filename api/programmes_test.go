package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestProgrammeBodyStrict: every member of a programme body is required
// (docs/contract.md section 9), null only where it says "no limit" or "no
// end": a body without one, with null where null means nothing, or with a
// member the contract does not define is 400 bad-json naming it, and
// writes nothing. Null is accepted where allowed.
func TestProgrammeBodyStrict(t *testing.T) {
	s := newTestServer(t)
	s.institution(t, "alpha.example")
	reg := s.token(t, "regulator", "moe")
	type edit func(b map[string]any)
	without := func(path string) edit {
		return func(b map[string]any) {
			if inner, name, ok := strings.Cut(path, "."); ok {
				delete(b[inner].(map[string]any), name)
				return
			}
			delete(b, path)
		}
	}
	setNull := func(path string) edit {
		return func(b map[string]any) {
			if inner, name, ok := strings.Cut(path, "."); ok {
				b[inner].(map[string]any)[name] = nil
				return
			}
			b[path] = nil
		}
	}
	type tc struct {
		name  string
		edit  edit
		want  int
		names string // what the 400's detail must name
	}
	var cases []tc
	for _, m := range programmeMembers {
		cases = append(cases, tc{"without " + m.path, without(m.path), 400, m.path})
		if m.nullable {
			cases = append(cases, tc{"null " + m.path, setNull(m.path), 201, ""})
		} else {
			cases = append(cases, tc{"null " + m.path, setNull(m.path), 400, "null"})
		}
	}
	cases = append(cases,
		tc{"unknown member", func(b map[string]any) { b["colour"] = "red" }, 400, "colour"},
		tc{"unknown member of a requirement", func(b map[string]any) {
			b["requirements"].([]any)[0].(map[string]any)["max"] = "9"
		}, 400, "max"},
		tc{"requirement without min", func(b map[string]any) {
			delete(b["requirements"].([]any)[0].(map[string]any), "min")
		}, 422, "min"},
		tc{"total as a number", func(b map[string]any) { b["total"] = 3 }, 400, ""},
		tc{"minimums over the total", func(b map[string]any) { b["total"] = "2" }, 422, "total"},
	)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := programmeFor(fmt.Sprintf("P-%d", i), "alpha.example")
			c.edit(body)
			before := s.ledger.Size()
			resp, got := s.do(t, "POST", "/v1/programmes", reg, body)
			if resp.StatusCode != c.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.want, got)
			}
			if c.want == 201 {
				return
			}
			if after := s.ledger.Size(); after != before {
				t.Errorf("a refused programme wrote: ledger %d → %d", before, after)
			}
			var p Problem
			if err := json.Unmarshal(got, &p); err != nil || !strings.Contains(p.Detail, c.names) {
				t.Errorf("problem %s does not name %q", got, c.names)
			}
			if c.want == 400 && p.Type != "urn:creditbank:problem:bad-json" {
				t.Errorf("type %s, want bad-json", p.Type)
			}
		})
	}
}

// TestAuditAccessLogAndCost: an award audit read by anyone but the
// learner is recorded in the learner's access log (what "audit", with the
// grant it was read under), as a list of awards is ("awards"); the
// learner's own are not. The audit is charged the rows it read: a learner
// whose audit reads 30 outcomes is over a burst of 10 after one.
func TestAuditAccessLogAndCost(t *testing.T) {
	s := newTestServer(t)
	k := s.institution(t, "alpha.example")
	alpha := instToken(t, k, "alpha.example")
	adm, reg := s.token(t, "admin", "root"), s.token(t, "regulator", "moe")
	if resp, body := s.do(t, "POST", "/v1/programmes", adm, programmeFor("P-ALPHA", "alpha.example")); resp.StatusCode != 201 {
		t.Fatalf("programme: %d %s", resp.StatusCode, body)
	}
	batch := make([]any, 30)
	for i := range batch {
		batch[i] = outcomeFor("L1")
	}
	if resp, body := s.do(t, "POST", "/v1/outcomes", alpha, map[string]any{"outcomes": batch}); resp.StatusCode != 200 {
		t.Fatalf("post: %d %s", resp.StatusCode, body)
	}
	l1 := s.token(t, "learner", "L1")
	f := &permFixture{s: s}
	grant := f.grant(t, "L1", "alpha.example")
	const audit = "/v1/learners/L1/programmes/P-ALPHA/audit"
	for _, tok := range []string{l1, reg, alpha} {
		if resp, body := s.do(t, "GET", audit, tok, nil); resp.StatusCode != 200 {
			t.Fatalf("audit: %d %s", resp.StatusCode, body)
		}
	}
	for _, tok := range []string{l1, alpha} {
		if resp, body := s.do(t, "GET", "/v1/learners/L1/awards", tok, nil); resp.StatusCode != 200 {
			t.Fatalf("awards: %d %s", resp.StatusCode, body)
		}
	}
	s.access.Flush()
	var got []string
	for _, rec := range s.readAccessLog(t, "/v1/learners/L1/access-log", l1).Records {
		got = append(got, rec.Who+" "+rec.What+" "+rec.Grant)
	}
	slices.Sort(got)
	want := []string{"institution:alpha.example audit " + grant, "institution:alpha.example awards " + grant, "regulator:moe audit "}
	if !slices.Equal(got, want) {
		t.Errorf("access log %q, want %q", got, want)
	}

	front := s.budgeted(t, Config{Rows: Budgets{Learner: RateLimit{Rate: 1, Burst: 10}}})
	if resp, body := front.do(t, "GET", audit, l1, nil); resp.StatusCode != 200 {
		t.Fatalf("audit over 30 outcomes: %d %s", resp.StatusCode, body)
	}
	resp, body := front.do(t, "GET", "/v1/institutions/alpha.example", l1, nil)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after an audit over 30 outcomes: %d %s, want 429", resp.StatusCode, body)
	}
	checkOverBudget(t, "audit", resp, body, "rows read", 1, 1000)
}

// TestAwardChargedAudit: recording an award runs the audit in the
// sequencer and is charged what it read, refused or not: an institution
// with a burst of 10 rows is over its budget after one award refused over
// 30 outcomes that do not count.
func TestAwardChargedAudit(t *testing.T) {
	s := newTestServer(t)
	k := s.institution(t, "alpha.example")
	alpha := instToken(t, k, "alpha.example")
	body := programmeFor("P-HIGH", "alpha.example")
	body["min_level"] = 7 // outcomeFor's are of level 6: none counts
	if resp, got := s.do(t, "POST", "/v1/programmes", s.token(t, "admin", "root"), body); resp.StatusCode != 201 {
		t.Fatalf("programme: %d %s", resp.StatusCode, got)
	}
	batch := make([]any, 30)
	for i := range batch {
		batch[i] = outcomeFor("L1")
	}
	if resp, got := s.do(t, "POST", "/v1/outcomes", alpha, map[string]any{"outcomes": batch}); resp.StatusCode != 200 {
		t.Fatalf("post: %d %s", resp.StatusCode, got)
	}
	front := s.budgeted(t, Config{Rows: Budgets{Institution: RateLimit{Rate: 1, Burst: 10}}})
	before := s.ledger.Size()
	resp, got := front.do(t, "POST", "/v1/learners/L1/awards", alpha, map[string]any{"programme": "P-HIGH"})
	if resp.StatusCode != 422 || !strings.Contains(string(got), `"type":"urn:creditbank:problem:award-not-eligible"`) ||
		!strings.Contains(string(got), `"missing":[`) {
		t.Fatalf("award of a learner not eligible: %d %s", resp.StatusCode, got)
	}
	if after := s.ledger.Size(); after != before {
		t.Errorf("a refused award wrote: ledger %d → %d", before, after)
	}
	resp, got = front.do(t, "GET", "/v1/institutions/alpha.example", alpha, nil)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after an award's audit over 30 outcomes: %d %s, want 429", resp.StatusCode, got)
	}
	checkOverBudget(t, "award", resp, got, "rows read", 1, 1000)
}

// TestSupersessionFlagsAward: correcting an outcome an award rested on
// answers, beside the effects, the award.flagged entry it wrote, in a
// single post as in a batch; a correction of an outcome no award rested
// on answers an empty list.
func TestSupersessionFlagsAward(t *testing.T) {
	s := newTestServer(t)
	k := s.institution(t, "alpha.example")
	alpha := instToken(t, k, "alpha.example")
	if resp, body := s.do(t, "POST", "/v1/programmes", s.token(t, "admin", "root"), programmeFor("P-ALPHA", "alpha.example")); resp.StatusCode != 201 {
		t.Fatalf("programme: %d %s", resp.StatusCode, body)
	}
	f := &permFixture{s: s}
	a, b := f.post(t, alpha, "L1"), f.post(t, alpha, "L1")
	resp, body := s.do(t, "POST", "/v1/learners/L1/awards", alpha, map[string]any{"programme": "P-ALPHA"})
	var award struct {
		Outcomes []uint64 `json:"outcomes"`
	}
	if resp.StatusCode != 201 || json.Unmarshal(body, &award) != nil || !slices.Equal(award.Outcomes, []uint64{a, b}) {
		t.Fatalf("award: %d %s, want it to rest on outcomes %d and %d", resp.StatusCode, body, a, b)
	}
	correct := func(seq uint64) map[string]any {
		o := outcomeFor("L1")
		o["supersedes"] = seq
		return o
	}
	resp, body = s.do(t, "POST", "/v1/outcomes", alpha, correct(a))
	var single struct {
		Flagged []uint64 `json:"flagged"`
	}
	if resp.StatusCode != 201 || json.Unmarshal(body, &single) != nil || len(single.Flagged) != 1 {
		t.Fatalf("correction of an outcome the award rested on: %d %s, want one flag", resp.StatusCode, body)
	}
	resp, body = s.do(t, "POST", "/v1/outcomes", alpha, map[string]any{"outcomes": []any{correct(b)}})
	var batch struct {
		Results []struct {
			Flagged []uint64 `json:"flagged"`
		} `json:"results"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &batch) != nil || len(batch.Results) != 1 || len(batch.Results[0].Flagged) != 1 {
		t.Fatalf("batch correction of an outcome the award rested on: %d %s, want one flag", resp.StatusCode, body)
	}
	resp, body = s.do(t, "GET", "/v1/learners/L1/awards", s.token(t, "learner", "L1"), nil)
	for _, want := range []string{fmt.Sprintf(`{"seq":%d,"outcome":%d,`, single.Flagged[0], a), fmt.Sprintf(`{"seq":%d,"outcome":%d,`, batch.Results[0].Flagged[0], b)} {
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("awards %d %s, want a flag %s", resp.StatusCode, body, want)
		}
	}
	c := f.post(t, alpha, "L1")
	resp, body = s.do(t, "POST", "/v1/outcomes", alpha, correct(c))
	if resp.StatusCode != 201 || !strings.Contains(string(body), `"effects":[],"flagged":[]}`) {
		t.Errorf("correction of an outcome no award rested on: %d %s, want empty effects and flags", resp.StatusCode, body)
	}
}
