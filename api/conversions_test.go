package api

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"creditbank/accreditation"
)

// Tests of the answers of docs/contract.md section 8 over HTTP, each
// validated against the OpenAPI document: the effects of revocations and
// supersessions.

// cvSetup is a server with a college that posts and a university that a
// rule (ratio 1, no cap) targets, and the tokens the tests use.
type cvSetup struct {
	s         *testServer
	ck        *oasChecker
	adm, reg  string
	college   string
	completed string
	posted    int
}

func newCVSetup(t *testing.T) *cvSetup {
	t.Helper()
	s := newTestServer(t)
	c := &cvSetup{s: s, ck: newOASChecker(t, s), adm: s.token(t, "admin", "root"), reg: s.token(t, "regulator", "moe"),
		completed: time.Now().UTC().AddDate(0, 0, -30).Format("2006-01-02")}
	k := s.institution(t, "college.example")
	s.institution(t, "univ.example")
	c.college = instToken(t, k, "college.example")
	c.ck.call(t, request{route: "publishRule", path: "/v1/rules", token: c.adm, want: 201, body: map[string]any{
		"id": "to-bsc", "target": map[string]any{"institution": "univ.example", "programme": "BSC-CS"},
		"source": map[string]any{"sectors": []string{"non_degree"}, "min_level": 0, "fields": []string{}, "min_score": nil,
			"max_age_days": nil, "institutions": []string{}},
		"ratio": "1", "cap": nil, "valid_from": "2020-01-01", "valid_until": nil}})
	return c
}

// outcome is a passed outcome of learner, of a unit of its own, with
// credits cn-credit credits.
func (c *cvSetup) outcome(learner, credits string) map[string]any {
	c.posted++
	return map[string]any{
		"idempotency_key": fmt.Sprintf("cv-%d", c.posted), "learner": learner,
		"unit":   map[string]any{"code": fmt.Sprintf("U%d", c.posted), "title": "A unit"},
		"sector": "non_degree", "level": 6, "field": "0613",
		"credits": map[string]any{"amount": credits, "system": "cn-credit"},
		"result":  map[string]any{"passed": true, "score": "80"}, "completed_on": c.completed,
	}
}

// post posts one outcome that must be created and returns its seq.
func (c *cvSetup) post(t *testing.T, o map[string]any) uint64 {
	t.Helper()
	_, body := c.ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: c.college, body: o, want: 201})
	return cvSeq(t, body)
}

func cvSeq(t *testing.T, body []byte) uint64 {
	t.Helper()
	var v struct {
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("no seq in %s", body)
	}
	return v.Seq
}

// cvEffects decodes the effects of an answer.
func cvEffects(t *testing.T, body []byte) []accreditation.ItemEffect {
	t.Helper()
	var v struct {
		Effects *[]accreditation.ItemEffect `json:"effects"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	if v.Effects == nil {
		t.Fatalf("no effects in %s", body)
	}
	return *v.Effects
}

// TestEffectsOverHTTP: a revocation answers the items it reversed, a
// correction the items it moved, a batch item the same, and a repeat of a
// correction the effects of the first post.
func TestEffectsOverHTTP(t *testing.T) {
	c := newCVSetup(t)
	a := c.post(t, c.outcome("L1", "3"))
	b := c.post(t, c.outcome("L1", "2"))
	_, body := c.ck.call(t, request{route: "convert", path: "/v1/conversions", token: c.adm, want: 201,
		body: map[string]any{"learner": "L1", "rule": "to-bsc", "outcomes": []uint64{a, b}}})
	conv := cvSeq(t, body)

	// A correction of a: the item moves to it.
	fix := c.outcome("L1", "4")
	fix["unit"], fix["supersedes"] = map[string]any{"code": "U1", "title": "A unit"}, a
	_, body = c.ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: c.college, body: fix, want: 201})
	fixed := cvSeq(t, body)
	got := cvEffects(t, body)
	if len(got) != 1 || got[0].Conversion != conv || got[0].Outcome != a || got[0].Action != "moved" ||
		got[0].To == nil || got[0].To.Outcome != fixed || got[0].To.Granted != 400 || got[0].Granted != 300 {
		t.Fatalf("effects of the correction: %+v", got)
	}
	// Its repeat answers the same.
	_, again := c.ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: c.college, body: fix, want: 200})
	if g := cvEffects(t, again); !reflect.DeepEqual(g, got) {
		t.Fatalf("effects of the repeat: %+v", g)
	}

	// Revoking b reverses its item only.
	_, body = c.ck.call(t, request{route: "revokeOutcome", path: fmt.Sprintf("/v1/outcomes/%d/revocation", b), token: c.college,
		body: map[string]any{"reason": "entered in error"}, want: 201})
	rev := cvEffects(t, body)
	if len(rev) != 1 || rev[0].Conversion != conv || rev[0].Outcome != b || rev[0].Action != "reversed" || rev[0].Granted != 200 {
		t.Fatalf("effects of the revocation: %+v", rev)
	}
	_, body = c.ck.call(t, request{route: "balance", path: "/v1/learners/L1/balance", token: c.adm, want: 200})
	var bal struct {
		Granted map[string]string `json:"granted"`
	}
	if err := json.Unmarshal(body, &bal); err != nil || bal.Granted["univ.example/BSC-CS"] != "4" {
		t.Fatalf("balance %s", body)
	}
	c.ck.call(t, request{route: "transcript", path: "/v1/learners/L1/transcript", token: c.adm, want: 200})
	c.ck.call(t, request{route: "auditConversions", path: "/v1/audit/conversions", token: c.reg, want: 200})

	// A correction of the correction in a batch: its item lists the move.
	fix2 := c.outcome("L1", "5")
	fix2["unit"], fix2["supersedes"] = map[string]any{"code": "U1", "title": "A unit"}, fixed
	_, body = c.ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: c.college, want: 200,
		body: map[string]any{"outcomes": []any{c.outcome("L2", "1"), fix2}}})
	var batch struct {
		Results []struct {
			Status  string                     `json:"status"`
			Effects []accreditation.ItemEffect `json:"effects"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &batch); err != nil || len(batch.Results) != 2 {
		t.Fatalf("batch %s", body)
	}
	if r := batch.Results; r[0].Effects != nil || len(r[1].Effects) != 1 || r[1].Effects[0].Action != "moved" || r[1].Effects[0].To.Granted != 500 {
		t.Fatalf("batch effects %+v", r)
	}
	findings, err := c.s.bank.Audit(t.Context())
	if err != nil || len(findings) > 0 {
		t.Fatalf("audit: %v %+v", err, findings)
	}
}

// TestDuplicateOutcomeOverHTTP: another outcome of the same learner, unit
// and date under a new key is 409 duplicate-outcome naming the one
// recorded, alone and as a batch item; nothing is written.
func TestDuplicateOutcomeOverHTTP(t *testing.T) {
	c := newCVSetup(t)
	o := c.outcome("L1", "3")
	first := c.post(t, o)
	again := c.outcome("L1", "3")
	again["unit"] = o["unit"]
	size := c.s.ledger.Size()
	_, body := c.ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: c.college, body: again, want: 409})
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil || p.Type != problemBase+"duplicate-outcome" || p.Existing == nil || *p.Existing != first {
		t.Fatalf("problem %s", body)
	}
	_, body = c.ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: c.college, want: 200,
		body: map[string]any{"outcomes": []any{again}}})
	var batch struct {
		Results []batchResult `json:"results"`
	}
	if err := json.Unmarshal(body, &batch); err != nil || len(batch.Results) != 1 {
		t.Fatalf("batch %s", body)
	}
	if r := batch.Results[0]; r.Status != "rejected" || r.Error == nil || r.Error.Status != 409 || r.Error.Type != p.Type || *r.Error.Existing != first {
		t.Fatalf("batch item %s", body)
	}
	if c.s.ledger.Size() != size {
		t.Fatal("a refused duplicate wrote entries")
	}
}

// TestPreviewOverHTTP: POST /v1/conversions/preview answers 200 with what
// POST /v1/conversions then grants, writing nothing; with the same
// permissions and refusals.
func TestPreviewOverHTTP(t *testing.T) {
	c := newCVSetup(t)
	a := c.post(t, c.outcome("L1", "3"))
	failed := c.outcome("L1", "2")
	failed["result"] = map[string]any{"passed": false, "score": "20"}
	f := c.post(t, failed)
	learner := c.s.token(t, "learner", "L1")
	body := map[string]any{"learner": "L1", "rule": "to-bsc"}
	size := c.s.ledger.Size()
	_, pv := c.ck.call(t, request{route: "previewConversion", path: "/v1/conversions/preview", token: learner, body: body, want: 200})
	if c.s.ledger.Size() != size {
		t.Fatalf("the preview wrote: size %d, was %d", c.s.ledger.Size(), size)
	}
	var preview map[string]any
	if err := json.Unmarshal(pv, &preview); err != nil {
		t.Fatal(err)
	}
	_, cv := c.ck.call(t, request{route: "convert", path: "/v1/conversions", token: learner, body: body, want: 201})
	var conv map[string]any
	if err := json.Unmarshal(cv, &conv); err != nil {
		t.Fatal(err)
	}
	delete(conv, "seq")
	if !reflect.DeepEqual(preview, conv) {
		t.Fatalf("preview %s\nconversion %s", pv, cv)
	}
	if fmt.Sprint(conv["items"]) != fmt.Sprintf("[map[granted:3 outcome:%d standard_credits:3]]", a) ||
		fmt.Sprint(conv["not_converted"]) != fmt.Sprintf("[map[outcome:%d reason:failed]]", f) {
		t.Fatalf("conversion %s", cv)
	}
	// Nothing left: still 200, with every reason.
	_, pv = c.ck.call(t, request{route: "previewConversion", path: "/v1/conversions/preview", token: c.adm, body: body, want: 200})
	if err := json.Unmarshal(pv, &preview); err != nil || fmt.Sprint(preview["items"]) != "[]" || preview["granted"] != "0" {
		t.Fatalf("preview with nothing eligible: %s", pv)
	}
	c.ck.call(t, request{route: "previewConversion", path: "/v1/conversions/preview", token: c.s.token(t, "learner", "L2"), body: body, want: 403})
	c.ck.call(t, request{route: "previewConversion", path: "/v1/conversions/preview", token: c.reg, body: body, want: 403})
	c.ck.call(t, request{route: "previewConversion", path: "/v1/conversions/preview", token: c.adm, want: 404,
		body: map[string]any{"learner": "L1", "rule": "no-such-rule"}})
	c.ck.call(t, request{route: "previewConversion", path: "/v1/conversions/preview", token: c.adm, want: 400,
		body: map[string]any{"learner": "L1", "rule": "to-bsc", "outcomes": "all"}})
	c.ck.call(t, request{route: "previewConversion", path: "/v1/conversions/preview", token: c.adm, want: 422,
		body: map[string]any{"learner": "L1", "rule": "to-bsc", "outcomes": []uint64{}}})
	c.ck.call(t, request{route: "previewConversion", path: "/v1/conversions/preview", want: 401, body: body})
}

// TestEquivalencesOverHTTP: a group is published in versions by admins and
// regulators and read with any token; outcomes of one group count once
// toward a programme (not_converted says equivalent_used).
func TestEquivalencesOverHTTP(t *testing.T) {
	c := newCVSetup(t)
	group := map[string]any{"id": "intro-programming", "units": []any{
		map[string]any{"institution": "college.example", "code": "U1"},
		map[string]any{"institution": "college.example", "code": "U2"}},
		"valid_from": "2020-01-01", "valid_until": nil}
	_, body := c.ck.call(t, request{route: "publishEquivalence", path: "/v1/equivalences", token: c.reg, body: group, want: 201})
	var g accreditation.Equivalence
	if err := json.Unmarshal(body, &g); err != nil || g.Version != 1 || len(g.Units) != 2 {
		t.Fatalf("published %s", body)
	}
	_, body = c.ck.call(t, request{route: "publishEquivalence", path: "/v1/equivalences", token: c.adm, body: group, want: 201})
	if err := json.Unmarshal(body, &g); err != nil || g.Version != 2 {
		t.Fatalf("again %s", body)
	}
	_, body = c.ck.call(t, request{route: "getEquivalence", path: "/v1/equivalences/intro-programming", token: c.s.token(t, "learner", "L1"), want: 200})
	if err := json.Unmarshal(body, &g); err != nil || g.Version != 2 {
		t.Fatalf("read %s", body)
	}
	c.ck.call(t, request{route: "getEquivalence", path: "/v1/equivalences/none-such", token: c.adm, want: 404})
	c.ck.call(t, request{route: "publishEquivalence", path: "/v1/equivalences", token: c.college, body: group, want: 403})
	noEnd := map[string]any{"id": "x-group", "units": group["units"], "valid_from": "2020-01-01"}
	c.ck.call(t, request{route: "publishEquivalence", path: "/v1/equivalences", token: c.adm, body: noEnd, want: 400})
	unknown := map[string]any{"id": "x-group", "units": []any{map[string]any{"institution": "nowhere.example", "code": "U1"},
		map[string]any{"institution": "college.example", "code": "U2"}}, "valid_from": "2020-01-01", "valid_until": nil}
	c.ck.call(t, request{route: "publishEquivalence", path: "/v1/equivalences", token: c.adm, body: unknown, want: 422})

	o1, o2 := c.outcome("L1", "3"), c.outcome("L1", "3")
	o1["unit"], o2["unit"] = map[string]any{"code": "U1", "title": "A unit"}, map[string]any{"code": "U2", "title": "A unit"}
	a, b := c.post(t, o1), c.post(t, o2)
	_, body = c.ck.call(t, request{route: "convert", path: "/v1/conversions", token: c.adm, want: 201,
		body: map[string]any{"learner": "L1", "rule": "to-bsc", "outcomes": []uint64{b, a}}})
	var conv struct {
		Items      []accreditation.ConversionItem `json:"items"`
		Ineligible []accreditation.Ineligible     `json:"not_converted"`
	}
	if err := json.Unmarshal(body, &conv); err != nil || len(conv.Items) != 1 || conv.Items[0].Outcome != b ||
		len(conv.Ineligible) != 1 || conv.Ineligible[0] != (accreditation.Ineligible{Outcome: a, Reason: "equivalent_used"}) {
		t.Fatalf("conversion %s", body)
	}
}

// TestReasonsBoundOverHTTP: a not-eligible refusal lists the first 100
// reasons and counts the rest in reasons_omitted; a preview the same in
// not_converted and not_converted_omitted (docs/contract.md section 8).
func TestReasonsBoundOverHTTP(t *testing.T) {
	c := newCVSetup(t)
	const failed, bound = 130, accreditation.MaxReasons
	batch := make([]map[string]any, failed)
	for i := range batch {
		batch[i] = c.outcome("L1", "2")
		batch[i]["result"] = map[string]any{"passed": false, "score": "20"}
	}
	c.ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: c.college, body: map[string]any{"outcomes": batch}, want: 200})
	learner := c.s.token(t, "learner", "L1")
	body := map[string]any{"learner": "L1", "rule": "to-bsc"}
	cases := []struct {
		name, route, path string
		want              int
		list, omitted     string
	}{
		{"conversion refused", "convert", "/v1/conversions", 422, "reasons", "reasons_omitted"},
		{"preview", "previewConversion", "/v1/conversions/preview", 200, "not_converted", "not_converted_omitted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, answer := c.ck.call(t, request{route: tc.route, path: tc.path, token: learner, body: body, want: tc.want})
			var v map[string]json.RawMessage
			if err := json.Unmarshal(answer, &v); err != nil {
				t.Fatal(err)
			}
			var list []accreditation.Ineligible
			var omitted int
			if err := json.Unmarshal(v[tc.list], &list); err != nil {
				t.Fatalf("%s: %v in %s", tc.list, err, answer)
			}
			if err := json.Unmarshal(v[tc.omitted], &omitted); err != nil {
				t.Fatalf("%s: %v in %s", tc.omitted, err, answer)
			}
			if len(list) != bound || omitted != failed-bound || len(answer) > 8<<10 {
				t.Fatalf("%d reasons and %d omitted in %d bytes; want %d and %d", len(list), omitted, len(answer), bound, failed-bound)
			}
		})
	}
}
