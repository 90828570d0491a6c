package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"creditbank/access"
	"creditbank/accreditation"
	"creditbank/ledger"
)

// Tests of least privilege and grants (docs/contract.md section 7) against
// a real server on loopback: an institution reads a learner's transcript
// and balance only under the learner's grant in force, checked on every
// request.

// newShiftedServer is newTestServer over a ledger whose clock runs ahead of
// the real one by *shift, so that a test can move the bank's date past a
// grant's expiry while tokens, checked against the real clock, stay valid.
func newShiftedServer(t *testing.T, shift *atomic.Int64) *testServer {
	t.Helper()
	keys, _, err := ledger.GenerateKeys(ledger.DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	clock := func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }
	l, err := ledger.Open(ledger.Options{Dir: t.TempDir(), Keys: keys, Logger: log, MinFreeBytes: -1, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	tk, err := GenerateKey("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := tk.Public()
	acc, err := access.Open(l.Store(), access.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { acc.Close() }) // before the ledger's cleanup, which closes the store
	bank := newBank(t, l, testVaultKeys(t))
	auth := NewAuthenticator(testAudience, []Issuer{{Name: "creditbank", Keys: map[string]accreditation.PublicJWK{tk.Kid: pub}}}, bank, nil)
	metrics := NewMetrics()
	h := New(Config{Bank: bank, Auth: auth, Log: log, Metrics: metrics, Access: acc})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testServer{Server: srv, ledger: l, bank: bank, auth: auth, metrics: metrics, tokenKey: tk, handler: h, access: acc}
}

// grantAccess has learner grant inst read access to its record for 90
// days, as the learner, and returns the grant's id.
func grantAccess(t testing.TB, s *testServer, learner, inst string) string {
	t.Helper()
	body := map[string]any{"institution": inst, "purpose": "admission", "expires_on": time.Now().UTC().AddDate(0, 0, 90).Format("2006-01-02")}
	resp, raw := s.do(t, "POST", "/v1/learners/"+learner+"/grants", s.token(t, "learner", learner), body)
	var g accreditation.Grant
	if resp.StatusCode != 201 || json.Unmarshal(raw, &g) != nil {
		t.Fatalf("grant %s → %s: %d %s", learner, inst, resp.StatusCode, raw)
	}
	return g.ID
}

// learnerReads are the reads of a learner's record a grant opens to an
// institution.
var learnerReads = []string{"transcript", "balance"}

// TestGrantOpensAndClosesReads: per read, an institution that posted for
// the learner is refused without a grant, reads under one, is refused on
// the very next request after the learner withdraws it, and again the day
// after the grant expires; another institution is refused throughout.
// Each read served to the institution is exactly one access-log record
// naming its grant; a refused read and the learner's own are none.
func TestGrantOpensAndClosesReads(t *testing.T) {
	var shift atomic.Int64
	s := newShiftedServer(t, &shift)
	college := instToken(t, s.institution(t, "college.example"), "college.example")
	univ := instToken(t, s.institution(t, "univ.example"), "univ.example")
	if resp, body := s.do(t, "POST", "/v1/outcomes", college, outcomeFor("L7")); resp.StatusCode != 201 {
		t.Fatalf("post: %d %s", resp.StatusCode, body)
	}
	learner := s.token(t, "learner", "L7")
	read := func(t *testing.T, tok, what string) int {
		t.Helper()
		resp, body := s.do(t, "GET", "/v1/learners/l7/"+what, tok, nil)
		if resp.StatusCode == 403 && !strings.Contains(string(body), "urn:creditbank:problem:forbidden") {
			t.Errorf("403 body %s", body)
		}
		return resp.StatusCode
	}
	logged := 0 // access-log records so far
	grant := "" // the grant the college reads under
	expect := func(t *testing.T, stage string, collegeWant int) {
		t.Helper()
		defer func() {
			s.access.Flush()
			page := s.readAccessLog(t, "/v1/learners/L7/access-log", learner)
			want := logged
			if collegeWant == 200 {
				want += len(learnerReads)
			}
			if len(page.Records) != want {
				t.Fatalf("%s: %d access-log records, want %d: %+v", stage, len(page.Records), want, page.Records)
			}
			for _, rec := range page.Records[:want-logged] { // newest first
				if rec.Who != "institution:college.example" || rec.Role != "institution" || rec.Grant != grant {
					t.Errorf("%s: record %+v, want the college's read under %s", stage, rec, grant)
				}
			}
			logged = want
		}()
		for _, what := range learnerReads {
			if got := read(t, college, what); got != collegeWant {
				t.Errorf("%s: college reads %s: %d, want %d", stage, what, got, collegeWant)
			}
			if got := read(t, univ, what); got != 403 {
				t.Errorf("%s: univ reads %s: %d, want 403", stage, what, got)
			}
			if got := read(t, learner, what); got != 200 {
				t.Errorf("%s: the learner reads %s: %d", stage, what, got)
			}
		}
	}
	expect(t, "posted, no grant", 403)

	today := time.Now().UTC()
	body := map[string]any{"institution": "college.example", "purpose": "admission to the BSc", "expires_on": today.AddDate(0, 0, 30).Format("2006-01-02")}
	resp, raw := s.do(t, "POST", "/v1/learners/L7/grants", learner, body)
	var g accreditation.Grant
	if resp.StatusCode != 201 || json.Unmarshal(raw, &g) != nil {
		t.Fatalf("grant: %d %s", resp.StatusCode, raw)
	}
	if loc := resp.Header.Get("Location"); loc != "/v1/learners/L7/grants/"+g.ID {
		t.Errorf("Location %q", loc)
	}
	grant = g.ID
	expect(t, "granted", 200)

	if resp, raw := s.do(t, "DELETE", "/v1/learners/L7/grants/"+g.ID, learner, nil); resp.StatusCode != 204 {
		t.Fatalf("withdraw: %d %s", resp.StatusCode, raw)
	}
	expect(t, "withdrawn", 403) // the very next request

	// A new grant, read up to its last day, refused the day after.
	body["expires_on"] = today.AddDate(0, 0, 2).Format("2006-01-02")
	resp, raw = s.do(t, "POST", "/v1/learners/L7/grants", learner, body)
	if resp.StatusCode != 201 || json.Unmarshal(raw, &g) != nil {
		t.Fatalf("grant again: %d %s", resp.StatusCode, raw)
	}
	grant = g.ID
	expect(t, "granted again", 200)
	shift.Store(int64(2 * 24 * time.Hour))
	expect(t, "on expires_on", 200)
	shift.Store(int64(3 * 24 * time.Hour))
	expect(t, "the day after expires_on", 403)

	// The listing shows all three states.
	resp, raw = s.do(t, "GET", "/v1/learners/L7/grants", learner, nil)
	var page accreditation.GrantPage
	if resp.StatusCode != 200 || json.Unmarshal(raw, &page) != nil || len(page.Grants) != 2 {
		t.Fatalf("list: %d %s", resp.StatusCode, raw)
	}
	if page.Grants[0].Status != accreditation.GrantStatusWithdrawn || page.Grants[1].Status != accreditation.GrantStatusExpired {
		t.Errorf("statuses %s, %s", page.Grants[0].Status, page.Grants[1].Status)
	}
}

// TestGrantRefusals: every bad grant request is a problem with a stable
// type, and writes nothing.
func TestGrantRefusals(t *testing.T) {
	s := newTestServer(t)
	s.institution(t, "college.example")
	learner := s.token(t, "learner", "L8")
	today := time.Now().UTC()
	date := func(days int) string { return today.AddDate(0, 0, days).Format("2006-01-02") }
	body := func(inst, purpose, expires string) map[string]any {
		return map[string]any{"institution": inst, "purpose": purpose, "expires_on": expires}
	}
	if resp, raw := s.do(t, "POST", "/v1/learners/L8/grants", learner, body("college.example", "admission", date(30))); resp.StatusCode != 201 {
		t.Fatalf("grant: %d %s", resp.StatusCode, raw)
	}
	cases := []struct {
		name, path string
		body       any
		status     int
		typ        string
	}{
		{"unknown institution", "/v1/learners/L8/grants", body("nowhere.example", "admission", date(30)), 422, "invalid"},
		{"already granted", "/v1/learners/L8/grants", body("college.example", "again", date(30)), 409, "conflict"},
		{"purpose too long", "/v1/learners/L8/grants", body("college.example", strings.Repeat("x", 201), date(30)), 422, "invalid"},
		{"purpose with zero-width space", "/v1/learners/L8/grants", body("college.example", "ad\u200bmission", date(30)), 422, "invalid"},
		{"expires today", "/v1/learners/L8/grants", body("college.example", "admission", date(0)), 422, "invalid"},
		{"expires in 367 days", "/v1/learners/L8/grants", body("college.example", "admission", date(367)), 422, "invalid"},
		{"personal data member", "/v1/learners/L8/grants", map[string]any{"institution": "college.example", "purpose": "x", "expires_on": date(3), "name": "Ann Lee"}, 400, "bad-json"},
		{"national id learner", "/v1/learners/123456789/grants", body("college.example", "admission", date(30)), 403, "forbidden"},
		{"bad learner id", "/v1/learners/L8.x/grants", body("college.example", "admission", date(30)), 404, "not-found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.ledger.Size()
			resp, raw := s.do(t, "POST", c.path, learner, c.body)
			var p Problem
			if resp.StatusCode != c.status || json.Unmarshal(raw, &p) != nil || p.Type != "urn:creditbank:problem:"+c.typ {
				t.Errorf("%d %s, want %d %s", resp.StatusCode, raw, c.status, c.typ)
			}
			if after := s.ledger.Size(); after != before {
				t.Errorf("refused grant wrote: %d → %d", before, after)
			}
		})
	}
	// The learner whose id looks like a national identity number, itself.
	personal := s.token(t, "learner", "123456789")
	resp, raw := s.do(t, "POST", "/v1/learners/123456789/grants", personal, body("college.example", "admission", date(30)))
	if resp.StatusCode != 422 || !strings.Contains(string(raw), "learner-id-personal") {
		t.Errorf("national-id-looking learner: %d %s", resp.StatusCode, raw)
	}
}

// TestInstitutionOutcomesRoute: an institution without a grant reads what
// it posted and the conversions toward its programmes, not another
// institution's outcomes of the same learner.
func TestInstitutionOutcomesRoute(t *testing.T) {
	s := newTestServer(t)
	college := instToken(t, s.institution(t, "college.example"), "college.example")
	univ := instToken(t, s.institution(t, "univ.example"), "univ.example")
	for _, tok := range []string{college, univ} {
		if resp, body := s.do(t, "POST", "/v1/outcomes", tok, outcomeFor("L9")); resp.StatusCode != 201 {
			t.Fatalf("post: %d %s", resp.StatusCode, body)
		}
	}
	resp, raw := s.do(t, "GET", "/v1/institutions/univ.example/outcomes?learner=L9", univ, nil)
	var page accreditation.InstitutionOutcomes
	if resp.StatusCode != 200 || json.Unmarshal(raw, &page) != nil {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	if len(page.Outcomes) != 1 || page.Outcomes[0].Institution != "univ.example" || page.Outcomes[0].IdempotencyKey == "" {
		t.Errorf("univ's page %s", raw)
	}
	if strings.Contains(string(raw), "college.example") {
		t.Errorf("univ reads the college's outcome: %s", raw)
	}
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/v1/institutions/college.example/outcomes?learner=L9", 403},
		{"/v1/institutions/univ.example/outcomes?learner=L9.x", 400},
		{"/v1/institutions/univ.example/outcomes?learner=L9&learner=L1", 400},
		{"/v1/institutions/univ.example/outcomes?learner=L9&limit=0", 400},
		{"/v1/institutions/univ.example/outcomes?learner=L9&cursor=x", 400},
	} {
		if resp, raw := s.do(t, "GET", c.path, univ, nil); resp.StatusCode != c.status {
			t.Errorf("%s: %d %s, want %d", c.path, resp.StatusCode, raw, c.status)
		}
	}
}
