package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"creditbank/accreditation"
	"creditbank/ledger"
)

// Learner ids of the erasure tests, which no key of the store can hold by
// chance.
const (
	erasedLearner = "ERASEME1"
	keptLearner   = "KEEPME2"
)

// accessKeysHolding counts the keys of the access log in s's store whose
// key or value holds one of needles.
func accessKeysHolding(t *testing.T, s *testServer, needles ...string) int {
	t.Helper()
	lower := []byte{ledger.AccessTag}
	it, err := s.ledger.Store().NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: ledger.PrefixEnd(lower)})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			t.Fatal(err)
		}
		for _, needle := range needles {
			if bytes.Contains(it.Key(), []byte(needle)) || bytes.Contains(v, []byte(needle)) {
				n++
				break
			}
		}
	}
	return n
}

// TestErasureOverHTTP posts outcomes for two learners in one batch, has
// the first grant the college read access and the college read its
// transcript, then erases it as an admin (docs/contract.md section 11):
// 200 with the erasure and the one access record deleted; every route that
// names the learner then answers 410 learner-erased and records nothing; a
// batch's item for it is rejected with a 410 problem while the other
// learner's is created; the other learner reads as before; and the access
// log's keys hold neither the learner's id nor its reference. Each answer
// is checked against the OpenAPI document.
func TestErasureOverHTTP(t *testing.T) {
	c := newCVSetup(t)
	s := c.s
	_, body := c.ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: c.college, want: 200,
		body: map[string]any{"outcomes": []any{c.outcome(erasedLearner, "3"), c.outcome(keptLearner, "2"), c.outcome(erasedLearner, "1")}}})
	if !strings.Contains(string(body), `"status":"created"`) || strings.Contains(string(body), "rejected") {
		t.Fatalf("batch: %s", body)
	}
	grantAccess(t, s, erasedLearner, "college.example")
	grantAccess(t, s, keptLearner, "college.example")
	c.ck.call(t, request{route: "transcript", path: "/v1/learners/" + erasedLearner + "/transcript", token: c.college, want: 200})
	c.ck.call(t, request{route: "transcript", path: "/v1/learners/" + keptLearner + "/transcript", token: c.college, want: 200})
	ref, err := s.bank.LearnerRef(erasedLearner)
	if err != nil || ref == erasedLearner {
		t.Fatalf("LearnerRef(%s) = %q, %v; want a reference", erasedLearner, ref, err)
	}
	s.access.Flush()
	if n := accessKeysHolding(t, s, ref); n != 2 { // the record and its time index key
		t.Fatalf("%d access log keys of the learner's reference before the erasure, want 2", n)
	}
	if n := accessKeysHolding(t, s, erasedLearner, keptLearner); n != 0 {
		t.Fatalf("%d access log keys hold a plain learner id", n)
	}

	// Only an admin erases.
	erase := map[string]any{"reason": "the learner asked"}
	for _, tok := range []string{c.college, c.reg, s.token(t, "learner", erasedLearner)} {
		c.ck.call(t, request{route: "eraseLearner", path: "/v1/learners/" + erasedLearner + "/erasure", token: tok, body: erase, want: 403})
	}
	_, body = c.ck.call(t, request{route: "eraseLearner", path: "/v1/learners/" + strings.ToLower(erasedLearner) + "/erasure", token: c.adm, body: erase, want: 200})
	var e erasureView
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	if e.Learner != erasedLearner || e.Reason != "the learner asked" || e.PlaintextEntries || e.AccessRecordsDeleted != 1 || e.Seq == 0 || e.RecordedAt == "" {
		t.Errorf("erasure %s: want learner %s, the reason, no plaintext entries, 1 access record deleted", body, erasedLearner)
	}
	c.ck.call(t, request{route: "eraseLearner", path: "/v1/learners/" + erasedLearner + "/erasure", token: c.adm, body: erase, want: 410})
	c.ck.call(t, request{route: "eraseLearner", path: "/v1/learners/NOBODY9/erasure", token: c.adm, body: erase, want: 404})

	// Every route that names the learner: 410 learner-erased, as every
	// reader, and nothing written.
	size := s.ledger.Size()
	learnerTok := s.token(t, "learner", erasedLearner)
	convert := map[string]any{"learner": erasedLearner, "rule": "to-bsc"}
	gone := []request{
		{route: "transcript", path: "/v1/learners/" + erasedLearner + "/transcript", token: c.college},
		{route: "transcript", path: "/v1/learners/" + erasedLearner + "/transcript", token: c.adm},
		{route: "transcript", path: "/v1/learners/" + erasedLearner + "/transcript", token: learnerTok},
		{route: "balance", path: "/v1/learners/" + erasedLearner + "/balance", token: c.college},
		{route: "balance", path: "/v1/learners/" + erasedLearner + "/balance", token: c.reg},
		{route: "listGrants", path: "/v1/learners/" + erasedLearner + "/grants", token: c.adm},
		{route: "createGrant", path: "/v1/learners/" + erasedLearner + "/grants", token: learnerTok, body: grantFor("univ.example")},
		{route: "withdrawGrant", path: "/v1/learners/" + erasedLearner + "/grants/g1", token: learnerTok},
		{route: "accessLog", path: "/v1/learners/" + erasedLearner + "/access-log", token: c.reg},
		{route: "accessLog", path: "/v1/learners/" + erasedLearner + "/access-log", token: learnerTok},
		{route: "convert", path: "/v1/conversions", token: c.adm, body: convert},
		{route: "previewConversion", path: "/v1/conversions/preview", token: learnerTok, body: convert},
		{route: "institutionOutcomes", path: "/v1/institutions/college.example/outcomes?learner=" + erasedLearner, token: c.college},
		{route: "postOutcomes", path: "/v1/outcomes", token: c.college, body: c.outcome(erasedLearner, "2")},
	}
	for _, r := range gone {
		r.want = http.StatusGone
		_, body := c.ck.call(t, r)
		if p := problemOf(t, body); p.Type != problemBase+"learner-erased" || p.Status != http.StatusGone {
			t.Errorf("%s: %s, want a learner-erased problem", r.path, body)
		}
	}
	if s.ledger.Size() != size {
		t.Errorf("refused requests for an erased learner wrote: ledger %d → %d", size, s.ledger.Size())
	}

	// A batch for both learners: the erased one's item is rejected with
	// the problem a single post gets, the other's created.
	_, body = c.ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: c.college, want: 200,
		body: map[string]any{"outcomes": []any{c.outcome(erasedLearner, "2"), c.outcome(keptLearner, "4")}}})
	var batch struct {
		Results []batchResult `json:"results"`
	}
	if err := json.Unmarshal(body, &batch); err != nil || len(batch.Results) != 2 {
		t.Fatalf("batch: %s", body)
	}
	if r := batch.Results[0]; r.Status != accreditation.PostRejected || r.Error == nil || r.Error.Type != problemBase+"learner-erased" || r.Error.Status != http.StatusGone {
		t.Errorf("the erased learner's item: %+v", r)
	}
	if r := batch.Results[1]; r.Status != accreditation.PostCreated || r.Seq == nil {
		t.Errorf("the other learner's item: %+v", r)
	}

	// The other learner reads as before, and its reads are recorded.
	_, body = c.ck.call(t, request{route: "transcript", path: "/v1/learners/" + keptLearner + "/transcript", token: c.college, want: 200})
	var tr struct {
		Outcomes []json.RawMessage `json:"outcomes"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || len(tr.Outcomes) != 2 {
		t.Errorf("%s's transcript after the erasure: %s, want its 2 outcomes", keptLearner, body)
	}
	_, body = c.ck.call(t, request{route: "balance", path: "/v1/learners/" + keptLearner + "/balance", token: c.adm, want: 200})
	if !strings.Contains(string(body), `"standard_credits":"6"`) {
		t.Errorf("%s's balance after the erasure: %s, want 6 credits", keptLearner, body)
	}
	c.ck.call(t, request{route: "convert", path: "/v1/conversions", token: s.token(t, "learner", keptLearner), want: 201,
		body: map[string]any{"learner": keptLearner, "rule": "to-bsc"}})
	s.access.Flush()
	_, body = c.ck.call(t, request{route: "accessLog", path: "/v1/learners/" + keptLearner + "/access-log", token: s.token(t, "learner", keptLearner), want: 200})
	var log struct {
		Records []accessRecordView `json:"records"`
	}
	if err := json.Unmarshal(body, &log); err != nil || len(log.Records) != 3 {
		t.Errorf("%s's access log: %s, want its 3 reads by others", keptLearner, body)
	}

	// Nothing of the erased learner is left in the access log, the reads
	// refused above recorded nothing, and no key names a learner in clear.
	if n := accessKeysHolding(t, s, ref, erasedLearner, keptLearner); n != 0 {
		t.Errorf("%d access log keys still name the erased learner or hold a plain learner id", n)
	}
}

// TestAuditScores posts outcomes of two learners with scores and reads
// them back as a regulator (docs/contract.md section 11): the scores
// posted, in the order asked; once one learner is erased its outcomes come
// back erased with no score. A list over 1,000 or malformed is 400, a seq
// that is no outcome 404, and an institution or a learner 403.
func TestAuditScores(t *testing.T) {
	c := newCVSetup(t)
	s := c.s
	scored := func(learner, score string) map[string]any {
		o := c.outcome(learner, "1")
		o["result"] = map[string]any{"passed": true, "score": score}
		return o
	}
	a1 := c.post(t, scored(erasedLearner, "88"))
	b1 := c.post(t, scored(keptLearner, "61.5"))
	a2 := c.post(t, scored(erasedLearner, "90"))
	read := func(tok string, seqs string, want int) []byte {
		t.Helper()
		_, body := c.ck.call(t, request{route: "auditScores", path: "/v1/audit/scores?outcomes=" + seqs, token: tok, want: want})
		return body
	}
	list := fmt.Sprintf("%d,%d,%d", a2, b1, a1)
	if got, want := strings.TrimSpace(string(read(c.reg, list, 200))),
		fmt.Sprintf(`{"scores":[{"outcome":%d,"score":"90"},{"outcome":%d,"score":"61.5"},{"outcome":%d,"score":"88"}]}`, a2, b1, a1); got != want {
		t.Errorf("scores %s, want %s", got, want)
	}
	c.ck.call(t, request{route: "eraseLearner", path: "/v1/learners/" + erasedLearner + "/erasure", token: c.adm,
		body: map[string]any{"reason": "the learner asked"}, want: 200})
	if got, want := strings.TrimSpace(string(read(c.reg, list, 200))),
		fmt.Sprintf(`{"scores":[{"outcome":%d,"score":null,"erased":true},{"outcome":%d,"score":"61.5"},{"outcome":%d,"score":null,"erased":true}]}`, a2, b1, a1); got != want {
		t.Errorf("scores after the erasure %s, want %s", got, want)
	}

	over := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("%d,", b1), accreditation.MaxScoreReads+1), ",")
	atLimit := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("%d,", b1), accreditation.MaxScoreReads), ",")
	read(c.adm, atLimit, 200)
	for name, tc := range map[string]struct {
		tok, seqs string
		want      int
		problem   string
	}{
		"1001 seqs":       {c.reg, over, 400, "bad-parameter"},
		"empty":           {c.reg, "", 400, "bad-parameter"},
		"trailing comma":  {c.reg, fmt.Sprintf("%d,", b1), 400, "bad-parameter"},
		"leading zero":    {c.reg, fmt.Sprintf("0%d", b1), 400, "bad-parameter"},
		"sign":            {c.reg, fmt.Sprintf("+%d", b1), 400, "bad-parameter"},
		"space":           {c.reg, fmt.Sprintf("%d,%%20%d", b1, a1), 400, "bad-parameter"},
		"not a number":    {c.reg, "first", 400, "bad-parameter"},
		"no outcome":      {c.reg, "0", 404, "not-found"},
		"past the end":    {c.reg, fmt.Sprintf("%d,999999", b1), 404, "not-found"},
		"an institution":  {c.college, list, 403, "forbidden"},
		"the learner":     {s.token(t, "learner", keptLearner), list, 403, "forbidden"},
		"a second list":   {c.reg, list + "&outcomes=" + list, 400, "bad-parameter"},
		"other parameter": {c.reg, list + "&learner=" + keptLearner, 400, "bad-parameter"},
	} {
		t.Run(name, func(t *testing.T) {
			if p := problemOf(t, read(tc.tok, tc.seqs, tc.want)); p.Type != problemBase+tc.problem {
				t.Errorf("problem %s, want %s", p.Type, tc.problem)
			}
		})
	}
}

// TestScoreSeqs: the outcomes parameter parses as the seqs it spells, and
// anything else is bad-parameter.
func TestScoreSeqs(t *testing.T) {
	limit := strings.TrimSuffix(strings.Repeat("7,", accreditation.MaxScoreReads), ",")
	for _, tc := range []struct {
		in   string
		want int // seqs parsed; -1: refused
	}{
		{"0", 1},
		{"12,15,20", 3},
		{"12,12", 2},
		{"9223372036854775807", 1},
		{limit, accreditation.MaxScoreReads},
		{limit + ",7", -1},
		{"", -1},
		{",", -1},
		{"1,", -1},
		{",1", -1},
		{"01", -1},
		{"-1", -1},
		{"+1", -1},
		{" 1", -1},
		{"1 ,2", -1},
		{"9223372036854775808", -1},
		{"0x10", -1},
		{"1;2", -1},
	} {
		seqs, err := scoreSeqs(tc.in)
		switch {
		case tc.want < 0 && accreditation.CodeOf(err) != accreditation.CodeBadParameter:
			t.Errorf("scoreSeqs(%.40q) = %v, %v; want bad-parameter", tc.in, seqs, err)
		case tc.want >= 0 && (err != nil || len(seqs) != tc.want):
			t.Errorf("scoreSeqs(%.40q) = %d seqs, %v; want %d", tc.in, len(seqs), err, tc.want)
		}
	}
}
