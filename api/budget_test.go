package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// budgeted serves s's bank through a second handler configured by cfg,
// with metrics of its own, as the tests of the budgets need tight ones.
func (s *testServer) budgeted(t *testing.T, cfg Config) *testServer {
	t.Helper()
	cfg.Bank, cfg.Auth, cfg.Log, cfg.Metrics = s.bank, s.auth, slog.New(slog.NewTextHandler(io.Discard, nil)), NewMetrics()
	srv := httptest.NewServer(New(cfg))
	t.Cleanup(srv.Close)
	return &testServer{Server: srv, ledger: s.ledger, bank: s.bank, auth: s.auth, metrics: cfg.Metrics, tokenKey: s.tokenKey}
}

// step is one request of a budget test and what it must answer.
type step struct {
	name          string
	token, method string
	path          string
	body          any
	want          int
	// unit names the budget a 429 must name in its detail; minWait and
	// maxWait bound its Retry-After, in seconds.
	unit             string
	minWait, maxWait int
}

// run sends each step to front and checks its answer; a 429 must be the
// rate-limited problem naming the step's budget, with Retry-After in its
// bounds, and write nothing.
func run(t *testing.T, front *testServer, steps []step) {
	t.Helper()
	for _, st := range steps {
		before := front.ledger.Size()
		resp, body := front.do(t, st.method, st.path, st.token, st.body)
		if resp.StatusCode != st.want {
			t.Fatalf("%s: %s %s answered %d %s, want %d", st.name, st.method, st.path, resp.StatusCode, body, st.want)
		}
		if st.want == 429 {
			checkOverBudget(t, st.name, resp, body, st.unit, st.minWait, st.maxWait)
			if front.ledger.Size() != before {
				t.Fatalf("%s: a refused request wrote", st.name)
			}
		}
	}
}

// checkOverBudget checks a 429 answer of a budget named unit.
func checkOverBudget(t *testing.T, name string, resp *http.Response, body []byte, unit string, minWait, maxWait int) {
	t.Helper()
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil || p.Type != "urn:creditbank:problem:rate-limited" || p.Status != 429 {
		t.Fatalf("%s: problem %s, want type urn:creditbank:problem:rate-limited", name, body)
	}
	if !strings.Contains(p.Detail, "budget of "+unit) {
		t.Fatalf("%s: detail %q does not name the budget of %s", name, p.Detail, unit)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("%s: Content-Type %q", name, ct)
	}
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || ra < minWait || ra > maxWait {
		t.Fatalf("%s: Retry-After %q, want %d to %d seconds", name, resp.Header.Get("Retry-After"), minWait, maxWait)
	}
}

// TestRowBudgetPerCaller: every role has a budget in rows read, per
// caller. On a real server on loopback with tight budgets, a learner over
// its budget is refused (429 naming the budget, Retry-After, nothing
// written) while another learner and an institution go on; the same for a
// regulator; an admin without a budget is never refused. Before the
// budgets, learners and regulators had no limit at all: every step
// answering 429 here answered 200.
func TestRowBudgetPerCaller(t *testing.T) {
	s := newTestServer(t)
	k := s.institution(t, "college.example")
	college := instToken(t, k, "college.example")
	if resp, body := s.do(t, "POST", "/v1/outcomes", college, outcomeFor("L1")); resp.StatusCode != 201 {
		t.Fatalf("post: %d %s", resp.StatusCode, body)
	}
	// Three rows at once, and one more every thousand seconds: nothing
	// comes back during the test. Reading an institution costs the base
	// row alone, so the third read spends the burst whatever the bank
	// reports reading elsewhere.
	tight := RateLimit{Rate: 0.001, Burst: 3}
	front := s.budgeted(t, Config{Rows: Budgets{Learner: tight, Regulator: tight, Institution: RateLimit{Rate: 0.001, Burst: 100}}})
	l1, l2 := s.token(t, "learner", "L1"), s.token(t, "learner", "L2")
	reg1, reg2 := s.token(t, "regulator", "moe"), s.token(t, "regulator", "audit-office")
	adm := s.token(t, "admin", "root")
	const inst = "/v1/institutions/college.example"
	run(t, front, []step{
		{name: "L1 1 of its burst", token: l1, method: "GET", path: inst, want: 200},
		{name: "L1 2 of its burst", token: l1, method: "GET", path: inst, want: 200},
		{name: "L1 3 of its burst", token: l1, method: "GET", path: inst, want: 200},
		{name: "L1 over its budget", token: l1, method: "GET", path: "/v1/learners/L1/transcript", want: 429, unit: "rows read", minWait: 1, maxWait: 1000},
		{name: "L1's conversion over its budget", token: l1, method: "POST", path: "/v1/conversions", body: map[string]any{"learner": "L1", "rule": "none"},
			want: 429, unit: "rows read", minWait: 1, maxWait: 1000},
		{name: "another learner unaffected", token: l2, method: "GET", path: "/v1/learners/L2/balance", want: 200},
		{name: "an institution unaffected", token: college, method: "POST", path: "/v1/outcomes", body: outcomeFor("L1"), want: 201},
		{name: "an institution reads what it posted for L1", token: college, method: "GET", path: "/v1/institutions/college.example/outcomes?learner=L1", want: 200},
		{name: "regulator 1 of its burst", token: reg1, method: "GET", path: inst, want: 200},
		{name: "regulator 2 of its burst", token: reg1, method: "GET", path: inst, want: 200},
		{name: "regulator 3 of its burst", token: reg1, method: "GET", path: inst, want: 200},
		{name: "regulator over its budget", token: reg1, method: "GET", path: "/v1/audit/conversions", want: 429, unit: "rows read", minWait: 1, maxWait: 1000},
		{name: "regulator's write over its budget writes nothing", token: reg1, method: "POST", path: "/v1/institutions/college.example/suspension",
			body: map[string]any{"reason": "audit"}, want: 429, unit: "rows read", minWait: 1, maxWait: 1000},
		{name: "another regulator unaffected", token: reg2, method: "GET", path: "/v1/audit/conversions", want: 200},
		{name: "L1 still refused", token: l1, method: "GET", path: inst, want: 429, unit: "rows read", minWait: 1, maxWait: 1000},
		{name: "admin without a budget", token: adm, method: "GET", path: "/v1/learners/L1/transcript", want: 200},
	})
	if got := refusalCount(front.metrics, "rows", "learner"); got != 3 {
		t.Errorf("learner refusals by the rows budget: %v, want 3", got)
	}
	if got := refusalCount(front.metrics, "rows", "regulator"); got != 2 {
		t.Errorf("regulator refusals by the rows budget: %v, want 2", got)
	}
}

// refusalCount is how many requests m counted as refused by budget for
// role.
func refusalCount(m *Metrics, budget, role string) float64 {
	return testutil.ToFloat64(newBudgetRefusals(m.Registry).WithLabelValues(budget, role))
}

// TestRowBudgetChargesCost: a request is charged what it cost after it
// ran, so that one large request sends the balance below zero and its
// caller waits the debt out, as Retry-After says: a batch post is charged
// per outcome, and a learner's conversion, its preview and its transcript
// what the bank reports reading (accreditation.Cost), refused or not.
// Before the budgets, a batch of 30 outcomes cost its institution one
// request of its rate, and learners had no limit at all.
func TestRowBudgetChargesCost(t *testing.T) {
	s := newTestServer(t)
	k := s.institution(t, "college.example")
	college := instToken(t, k, "college.example")
	kb := s.institution(t, "other.example")
	other := instToken(t, kb, "other.example")
	s.institution(t, "univ.example")
	if resp, body := s.do(t, "POST", "/v1/rules", s.token(t, "admin", "root"), map[string]any{
		"id": "to-bsc", "target": map[string]any{"institution": "univ.example", "programme": "BSC-CS"},
		"source": map[string]any{"sectors": []string{"non_degree"}, "min_level": 0, "fields": []string{}, "min_score": nil,
			"max_age_days": nil, "institutions": []string{}},
		"ratio": "1", "cap": nil, "valid_from": "2020-01-01", "valid_until": nil}); resp.StatusCode != 201 {
		t.Fatalf("publish rule: %d %s", resp.StatusCode, body)
	}
	// A rule no outcome of the tests meets: a conversion under it is
	// refused after reading every candidate.
	if resp, body := s.do(t, "POST", "/v1/rules", s.token(t, "admin", "root"), map[string]any{
		"id": "to-ba", "target": map[string]any{"institution": "univ.example", "programme": "BA"},
		"source": map[string]any{"sectors": []string{"degree"}, "min_level": 0, "fields": []string{}, "min_score": nil,
			"max_age_days": nil, "institutions": []string{}},
		"ratio": "1", "cap": nil, "valid_from": "2020-01-01", "valid_until": nil}); resp.StatusCode != 201 {
		t.Fatalf("publish rule: %d %s", resp.StatusCode, body)
	}
	const outcomes = 30
	batch := make([]any, outcomes)
	for i := range batch {
		batch[i] = outcomeFor("L9")
	}
	// Ten rows at once and one a second: a debt of d rows is d seconds.
	front := s.budgeted(t, Config{Rows: Budgets{Institution: RateLimit{Rate: 1, Burst: 10}, Learner: RateLimit{Rate: 1, Burst: 10}}})
	debt := 1 + outcomes - 10 // the base row and an outcome each, less the burst
	run(t, front, []step{
		{name: "a batch within the balance", token: college, method: "POST", path: "/v1/outcomes", body: map[string]any{"outcomes": batch}, want: 200},
		{name: "the batch's debt", token: college, method: "POST", path: "/v1/outcomes", body: outcomeFor("L9"), want: 429,
			unit: "rows read", minWait: debt - 2, maxWait: debt + 1},
		{name: "another institution unaffected", token: other, method: "POST", path: "/v1/outcomes", body: outcomeFor("L9"), want: 201},
	})

	// A learner's reads are charged what the bank read: each of these
	// reads more than 30 rows, over the learner's burst of 10. (A balance
	// reads two rows, however many outcomes they sum.)
	for _, tt := range []struct {
		name, learner, method, path string
		body                        any
		want                        int
	}{
		{"transcript", "L10", "GET", "/v1/learners/L10/transcript?limit=1000", nil, 200},
		{"preview", "L12", "POST", "/v1/conversions/preview", map[string]any{"learner": "L12", "rule": "to-bsc"}, 200},
		{"conversion", "L13", "POST", "/v1/conversions", map[string]any{"learner": "L13", "rule": "to-bsc"}, 201},
		{"refused conversion", "L14", "POST", "/v1/conversions", map[string]any{"learner": "L14", "rule": "to-ba"}, 422},
		{"preview granting nothing", "L15", "POST", "/v1/conversions/preview", map[string]any{"learner": "L15", "rule": "to-ba"}, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			batch := make([]any, outcomes)
			for i := range batch {
				batch[i] = outcomeFor(tt.learner)
			}
			if resp, body := s.do(t, "POST", "/v1/outcomes", college, map[string]any{"outcomes": batch}); resp.StatusCode != 200 {
				t.Fatalf("post: %d %s", resp.StatusCode, body)
			}
			tok := s.token(t, "learner", tt.learner)
			if resp, body := front.do(t, tt.method, tt.path, tok, tt.body); resp.StatusCode != tt.want {
				t.Fatalf("first %s: %d %s, want %d", tt.name, resp.StatusCode, body, tt.want)
			}
			resp, body := front.do(t, "GET", "/v1/institutions/college.example", tok, nil)
			if resp.StatusCode != 429 {
				t.Fatalf("after a %s over %d outcomes: %d %s, want 429", tt.name, outcomes, resp.StatusCode, body)
			}
			checkOverBudget(t, tt.name, resp, body, "rows read", 1, 1000)
		})
	}
}

// fromAddress sends a GET to srv from the loopback address local.
func fromAddress(t *testing.T, srv *httptest.Server, local, path string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), "GET", srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sendWith(t, clientFrom(local), req)
}

// TestAnonymousRowBudget: a client address on the routes that need no
// token has a budget in rows read: a proof is charged its hashes. Over it,
// the address is refused (429 naming the budget) while another address
// goes on and the health probes stay open. Before the budgets only the
// request rate limited an address, and it is off here.
func TestAnonymousRowBudget(t *testing.T) {
	s := newTestServer(t)
	s.institution(t, "college.example") // two entries: a proof of one hash
	front := s.budgeted(t, Config{Rows: Budgets{Anonymous: RateLimit{Rate: 0.001, Burst: 4}}})
	steps := []struct {
		name, from, path string
		want             int
	}{
		{"a checkpoint: 1 row", "127.0.0.1", "/v1/log/checkpoint", 200},
		{"a proof of one hash: 2 rows", "127.0.0.1", "/v1/log/proof/inclusion?index=0&size=2", 200},
		{"the key: 1 row, the last", "127.0.0.1", "/v1/log/key", 200},
		{"over the budget", "127.0.0.1", "/v1/log/checkpoint", 429},
		{"the JWKS over the budget", "127.0.0.1", "/.well-known/jwks.json", 429},
		{"health never limited", "127.0.0.1", "/healthz", 200},
		{"readiness never limited", "127.0.0.1", "/readyz", 200},
		{"another address unaffected", "127.0.0.2", "/v1/log/checkpoint", 200},
	}
	for _, st := range steps {
		resp, body := fromAddress(t, front.Server, st.from, st.path)
		if resp.StatusCode != st.want {
			t.Fatalf("%s: GET %s from %s: %d %s, want %d", st.name, st.path, st.from, resp.StatusCode, body, st.want)
		}
		if st.want == 429 {
			checkOverBudget(t, st.name, resp, body, "rows read", 1, 1000)
		}
	}
	if got := refusalCount(front.metrics, "rows", "anonymous"); got != 2 {
		t.Errorf("anonymous refusals by the rows budget: %v, want 2", got)
	}
}

// invalidBatch is a batch body of about size bytes refused as bad JSON by
// a duplicate member at its very end, after every byte was read.
func invalidBatch(size int) []byte {
	n := max(1, size/560)
	body := outcomeBatch(n)
	return append(body[:len(body)-1], `,"outcomes":[]}`...)
}

// TestBodyBudget: request bodies are charged to their caller's budget in
// bytes as they are read, before they are checked, so that a caller
// sending invalid bodies in a loop is held to its rate (429 naming the
// budget, nothing written) while another caller goes on, and a request
// without a body is not refused by it. Before the budget, each such body
// was read and refused with 400 however many came.
func TestBodyBudget(t *testing.T) {
	s := newTestServer(t)
	ka, kb := s.institution(t, "alpha.example"), s.institution(t, "beta.example")
	alpha, beta := instToken(t, ka, "alpha.example"), instToken(t, kb, "beta.example")
	l1, l2 := s.token(t, "learner", "L1"), s.token(t, "learner", "L2")
	// A hundred KiB at once for institutions, 50 for learners, and a byte a
	// second: nothing comes back during the test.
	front := s.budgeted(t, Config{BodyBytes: Budgets{Institution: RateLimit{Rate: 1, Burst: 100 << 10}, Learner: RateLimit{Rate: 1, Burst: 50 << 10}}})
	big := invalidBatch(90 << 10)
	// A learner's body of 40 KiB: a conversion request padded with
	// spaces, refused by its duplicate member at the end.
	learnerBody := []byte(`{"learner":"L1","rule":"r"` + strings.Repeat(" ", 40<<10) + `,"rule":"r"}`)
	run(t, front, []step{
		{name: "alpha's first invalid body is read and refused", token: alpha, method: "POST", path: "/v1/outcomes", body: big, want: 400},
		{name: "alpha's second is over its budget before a byte is read", token: alpha, method: "POST", path: "/v1/outcomes", body: big, want: 429,
			unit: "body bytes", minWait: 1, maxWait: 100 << 10},
		{name: "alpha's valid batch over what is left writes nothing", token: alpha, method: "POST", path: "/v1/outcomes", body: outcomeBatch(80), want: 429,
			unit: "body bytes", minWait: 1, maxWait: 100 << 10},
		{name: "alpha's single post fits what is left", token: alpha, method: "POST", path: "/v1/outcomes", body: outcomeFor("L1"), want: 201},
		{name: "alpha's reads go on", token: alpha, method: "GET", path: "/v1/institutions/alpha.example", want: 200},
		{name: "beta unaffected", token: beta, method: "POST", path: "/v1/outcomes", body: big, want: 400},
		{name: "beta posts", token: beta, method: "POST", path: "/v1/outcomes", body: outcomeFor("L2"), want: 201},
		{name: "a learner's first invalid body", token: l1, method: "POST", path: "/v1/conversions/preview", body: learnerBody, want: 400},
		{name: "its second is over its budget", token: l1, method: "POST", path: "/v1/conversions/preview", body: learnerBody, want: 429,
			unit: "body bytes", minWait: 1, maxWait: 50 << 10},
		{name: "another learner unaffected", token: l2, method: "POST", path: "/v1/conversions/preview", body: learnerBody, want: 400},
	})
	if got := refusalCount(front.metrics, "body_bytes", "institution"); got != 2 {
		t.Errorf("institution refusals by the body budget: %v, want 2", got)
	}
	if got := refusalCount(front.metrics, "body_bytes", "learner"); got != 1 {
		t.Errorf("learner refusals by the body budget: %v, want 1", got)
	}
	problems, err := testutil.GatherAndLint(front.metrics.Registry, "creditbank_budget_refusals_total")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestOpenAPIDocumentsBudgets: every operation a budget can refuse, all
// but the health probes, documents 429.
func TestOpenAPIDocumentsBudgets(t *testing.T) {
	doc := oasDoc(t)
	for _, rt := range Routes {
		if unlimitedRoutes[rt.Name] {
			continue
		}
		op := oasOperation(doc, rt.Method, rt.Path)
		if op == nil {
			continue // TestOpenAPIMatchesRouter reports it
		}
		resp, _ := op["responses"].(map[string]any)
		if _, ok := resp["429"]; !ok {
			t.Errorf("%s %s: no 429 documented", rt.Method, rt.Path)
		}
	}
}

// TestLimiterDebt: the cost budgets let a request in while the balance is
// positive, charge it after, below zero, and ask the debtor to wait until
// the balance is positive again; a bucket in debt is not swept as idle.
func TestLimiterDebt(t *testing.T) {
	now := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(RateLimit{Rate: 10, Burst: 100}, func() time.Time { return now })
	if ok, _ := l.admit("a"); !ok {
		t.Fatal("a new caller refused")
	}
	// 150 below zero, and one more to let a request in: 15.1 s.
	if ok, wait := l.charge("a", 250); ok || wait != 15100*time.Millisecond {
		t.Fatalf("charged 250 of 100: ok %t wait %s, want 15.1 s", ok, wait)
	}
	if ok, wait := l.admit("a"); ok || wait != 15100*time.Millisecond {
		t.Fatalf("in debt: ok %t wait %s", ok, wait)
	}
	if ok, _ := l.admit("b"); !ok {
		t.Fatal("another caller refused")
	}
	now = now.Add(14 * time.Second)
	l.admit("c") // sweeps: b is full, a is in debt
	if _, kept := l.buckets["b"]; kept {
		t.Fatal("an idle full bucket was kept")
	}
	if ok, wait := l.admit("a"); ok || wait != 1100*time.Millisecond {
		t.Fatalf("after 14 s: ok %t wait %s, want 1.1 s more", ok, wait)
	}
	now = now.Add(1200 * time.Millisecond)
	if ok, _ := l.admit("a"); !ok {
		t.Fatal("refused once the debt was paid")
	}
	off := newLimiter(RateLimit{}, nil)
	if ok, _ := off.charge("a", 1e12); !ok {
		t.Fatal("a budget with no rate refused")
	}
}

// TestRateLimitFlag: a budget's flag is RATE,BURST or 0.
func TestRateLimitFlag(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want RateLimit
		ok   bool
	}{
		{"500,50000", RateLimit{Rate: 500, Burst: 50000}, true},
		{"0.5,10", RateLimit{Rate: 0.5, Burst: 10}, true},
		{"0", RateLimit{}, true},
		{"500", RateLimit{}, false},
		{"500,", RateLimit{}, false},
		{",5", RateLimit{}, false},
		{"a,b", RateLimit{}, false},
		{"1,2,3", RateLimit{}, false},
	} {
		var got RateLimit
		err := got.Set(tt.in)
		if (err == nil) != tt.ok || tt.ok && got != tt.want {
			t.Errorf("Set(%q) = %+v, %v; want %+v, ok %t", tt.in, got, err, tt.want, tt.ok)
		}
		if tt.ok && got.String() != tt.in {
			t.Errorf("Set(%q).String() = %q", tt.in, got.String())
		}
	}
}

// BenchmarkRefuseLargeBody measures the CPU the strict check takes to
// refuse a 16 MiB batch with a duplicate member at its very end, against
// reading a valid body of the same size, both as readBody reads them from
// a request: the refusal should cost no more than the valid read.
//
//	go test ./api -run '^$' -bench RefuseLargeBody -benchtime 20x
func BenchmarkRefuseLargeBody(b *testing.B) {
	valid := outcomeBatch((maxBatchBody - 64) / 560)
	for len(valid) > maxBatchBody-64 {
		valid = outcomeBatch(bytes.Count(valid, []byte(`"idempotency_key"`)) - 10)
	}
	invalid := append(bytes.Clone(valid[:len(valid)-1]), `,"outcomes":[]}`...)
	for _, bm := range []struct {
		name string
		body []byte
		want int
	}{{"valid", valid, 200}, {"duplicate-at-end", invalid, 400}} {
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(int64(len(bm.body)))
			for b.Loop() {
				req := httptest.NewRequest("POST", "/v1/outcomes", bytes.NewReader(bm.body))
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				_, ok := readBody(w, req, maxBatchBody)
				if got := map[bool]int{true: 200, false: w.Code}[ok]; got != bm.want {
					b.Fatalf("answered %d %s, want %d", got, w.Body, bm.want)
				}
			}
		})
	}
}

// TestLargeBodyRefusedInOnePass: a body refused for a duplicate member at
// its very end is refused by the one scan that reads it, not walked again
// by encoding/json's tokens for a message, which allocated for every token
// and took 13 to 20 times as long as reading the body
// (BenchmarkRefuseLargeBody).
func TestLargeBodyRefusedInOnePass(t *testing.T) {
	body := invalidBatch(1 << 20)
	var err error
	allocs := testing.AllocsPerRun(3, func() { err = checkJSON(body) })
	if err == nil || !strings.Contains(err.Error(), `member "outcomes" appears twice`) {
		t.Fatalf("checkJSON: %v, want the repeated member named", err)
	}
	if allocs > 10 {
		t.Fatalf("refusing a 1 MiB body took %.0f allocations, want a handful: it was walked again", allocs)
	}
}
