package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// permFixture is the state the permission table runs against: institutions
// alpha (posted for learner L1), beta (posted for L2; target of rule
// r-beta), gamma (registered, not accredited).
type permFixture struct {
	s                  *testServer
	ka, kb, kg         PrivateKey
	admin, regulator   string
	alpha, beta, gamma string
	// seqL1 and seqL2 are the outcomes alpha posted for L1 and beta for L2.
	seqL1, seqL2 uint64
	// lastCaseOutcome is the outcome of the last case recognitionCase made.
	lastCaseOutcome uint64
}

// recognitionBody is learner's application toward alpha's P-ALPHA for a
// new outcome beta posts for them.
func (f *permFixture) recognitionBody(t *testing.T, learner string) map[string]any {
	t.Helper()
	f.lastCaseOutcome = f.post(t, f.beta, learner)
	return map[string]any{"target": map[string]any{"institution": "alpha.example", "programme": "P-ALPHA"},
		"outcomes": []any{f.lastCaseOutcome}, "evidence_sha256": []any{}, "statement": "Work at beta."}
}

// recognitionGrant grants 3 credits of outcome seq.
func recognitionGrant(seq uint64) map[string]any {
	return map[string]any{"decision": "granted", "items": []any{map[string]any{"outcome": seq, "amount": "3"}}, "reasons": "Matches."}
}

// recognitionCase opens a case for learner and takes it through steps
// steps (a review, a refusal, an appeal) as its rightful actors; it
// returns the case id.
func (f *permFixture) recognitionCase(t *testing.T, learner string, steps int) string {
	t.Helper()
	lt := f.s.token(t, "learner", learner)
	resp, body := f.s.do(t, "POST", "/v1/recognitions", lt, f.recognitionBody(t, learner))
	var rc struct{ ID string }
	if resp.StatusCode != 201 || json.Unmarshal(body, &rc) != nil {
		t.Fatalf("set-up case: %d %s", resp.StatusCode, body)
	}
	calls := []struct {
		tok, path string
		body      any
	}{
		{f.alpha, "/reviews", map[string]any{"comment": "Read."}},
		{f.alpha, "/decision", map[string]any{"decision": "refused", "items": []any{}, "reasons": "No."}},
		{lt, "/appeal", map[string]any{"statement": "Please."}},
	}
	for _, c := range calls[:steps] {
		if resp, body := f.s.do(t, "POST", "/v1/recognitions/"+rc.ID+c.path, c.tok, c.body); resp.StatusCode != 201 {
			t.Fatalf("set-up %s: %d %s", c.path, resp.StatusCode, body)
		}
	}
	return rc.ID
}

func newPermFixture(t *testing.T) *permFixture {
	s := newTestServer(t)
	f := &permFixture{s: s, ka: mustKey(t, "EdDSA"), kb: mustKey(t, "ES256"), kg: mustKey(t, "EdDSA")}
	s.registerWithKeys(t, "alpha.example", true, f.ka)
	s.registerWithKeys(t, "beta.example", true, f.kb)
	s.registerWithKeys(t, "gamma.example", false, f.kg)
	f.admin, f.regulator = s.token(t, "admin", "root"), s.token(t, "regulator", "moe")
	f.alpha = instToken(t, f.ka, "alpha.example")
	f.beta = instToken(t, f.kb, "beta.example")
	f.gamma = instToken(t, f.kg, "gamma.example")
	f.seqL1 = f.post(t, f.alpha, "L1")
	f.seqL2 = f.post(t, f.beta, "L2")
	if resp, body := s.do(t, "POST", "/v1/rules", f.admin, ruleFor("r-beta")); resp.StatusCode != 201 {
		t.Fatalf("rule: %d %s", resp.StatusCode, body)
	}
	if resp, body := s.do(t, "POST", "/v1/equivalences", f.admin, map[string]any{"id": "g-perm",
		"units":      []any{map[string]any{"institution": "alpha.example", "code": "A0"}, map[string]any{"institution": "beta.example", "code": "B0"}},
		"valid_from": "2020-01-01", "valid_until": nil}); resp.StatusCode != 201 {
		t.Fatalf("group: %d %s", resp.StatusCode, body)
	}
	if resp, body := s.do(t, "POST", "/v1/programmes", f.admin, programmeFor("P-ALPHA", "alpha.example")); resp.StatusCode != 201 {
		t.Fatalf("programme: %d %s", resp.StatusCode, body)
	}
	return f
}

// programmeFor is a programme of inst that one outcomeFor outcome of inst
// (3 credits in field 0613) makes a learner eligible for.
func programmeFor(id, inst string) map[string]any {
	return map[string]any{"id": id, "institution": inst, "title": "Certificate in ICT", "total": "3",
		"requirements": []any{map[string]any{"id": "ict", "fields": []string{"06"}, "min": "3"}},
		"min_level":    0, "max_converted_share": nil, "max_per_institution": nil,
		"period_caps": map[string]any{"term": nil, "year": nil}, "valid_from": "2020-01-01", "valid_until": nil}
}

// ruleFor is a rule targeting beta.example under which outcomeFor outcomes
// are eligible.
func ruleFor(id string) map[string]any {
	return map[string]any{"id": id, "target": map[string]any{"institution": "beta.example", "programme": "BSC-CS"},
		"source": map[string]any{"sectors": []string{"non_degree"}, "min_level": 5, "fields": []string{"06"},
			"min_score": "60", "max_age_days": 3650, "institutions": []string{}},
		"ratio": "0.5", "cap": "100", "valid_from": "2020-01-01", "valid_until": nil}
}

// post records an outcome for learner with an institution token and
// returns its seq.
func (f *permFixture) post(t *testing.T, tok, learner string) uint64 {
	t.Helper()
	resp, body := f.s.do(t, "POST", "/v1/outcomes", tok, outcomeFor(learner))
	if resp.StatusCode != 201 {
		t.Fatalf("post for %s: %d %s", learner, resp.StatusCode, body)
	}
	var o struct {
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal(body, &o); err != nil {
		t.Fatal(err)
	}
	return o.Seq
}

// grant has learner grant inst read access for 90 days and returns the
// grant's id.
func (f *permFixture) grant(t *testing.T, learner, inst string) string {
	t.Helper()
	resp, body := f.s.do(t, "POST", "/v1/learners/"+learner+"/grants", f.s.token(t, "learner", learner), grantFor(inst))
	var g struct {
		ID string `json:"id"`
	}
	if resp.StatusCode != 201 || json.Unmarshal(body, &g) != nil {
		t.Fatalf("grant %s → %s: %d %s", learner, inst, resp.StatusCode, body)
	}
	return g.ID
}

// printed has learner print its transcript, which issues its credential.
func (f *permFixture) printed(t *testing.T, learner string) {
	t.Helper()
	if resp, body := f.s.do(t, "GET", "/v1/learners/"+learner+"/transcript.pdf", f.s.token(t, "learner", learner), nil); resp.StatusCode != 200 {
		t.Fatalf("print %s: %d %s", learner, resp.StatusCode, body)
	}
}

// grantFor is a grant body to inst, in force for 90 days.
func grantFor(inst string) map[string]any {
	return map[string]any{"institution": inst, "purpose": "admission", "expires_on": time.Now().UTC().AddDate(0, 0, 90).Format("2006-01-02")}
}

// freshInstitution registers (as admin) a new institution with two keys and
// returns its id and the second key's kid.
func (f *permFixture) freshInstitution(t *testing.T) (string, string) {
	t.Helper()
	id := fmt.Sprintf("fresh-%d.example", nextID())
	k2 := mustKey(t, "EdDSA")
	f.s.registerWithKeys(t, id, false, mustKey(t, "EdDSA"), k2)
	return id, k2.Kid
}

// tok is the token of who: "admin", "regulator", an institution id's
// short name ("alpha", "beta", "gamma") or "learner:ID".
func (f *permFixture) tok(t *testing.T, who string) string {
	switch who {
	case "admin":
		return f.admin
	case "regulator":
		return f.regulator
	case "alpha":
		return f.alpha
	case "beta":
		return f.beta
	case "gamma":
		return f.gamma
	}
	if id, ok := strings.CutPrefix(who, "learner:"); ok {
		return f.s.token(t, "learner", id)
	}
	t.Fatalf("unknown principal %q", who)
	return ""
}

// permRequest is one request of the table: built fresh for each row, so an
// allowed write has something to act on.
type permRequest struct {
	method, path string
	body         any
}

// TestPermissionTable checks every cell of docs/contract.md section 2's
// permission table (and the data-dependent variants of sections 2 and 3)
// against a real server with real tokens.
func TestPermissionTable(t *testing.T) {
	f := newPermFixture(t)
	s := f.s

	// The request of each action; who and the learner it concerns decide
	// the data-dependent variants.
	actions := map[string]func(t *testing.T, learner string) permRequest{
		"certify unit": func(t *testing.T, _ string) permRequest {
			return permRequest{"POST", "/v1/units", map[string]any{"institution": "alpha.example", "code": fmt.Sprintf("U-%d", nextID()),
				"title": "A unit", "sector": "non_degree", "level": 5, "field": "0613", "credits": map[string]any{"amount": "3", "system": "cn-credit"},
				"hours": nil, "valid_from": "2020-01-01", "valid_until": nil}}
		},
		"apply recognition": func(t *testing.T, learner string) permRequest {
			return permRequest{"POST", "/v1/recognitions", f.recognitionBody(t, learner)}
		},
		"read recognition": func(t *testing.T, learner string) permRequest {
			return permRequest{"GET", "/v1/recognitions/" + f.recognitionCase(t, learner, 0), nil}
		},
		"review recognition": func(t *testing.T, learner string) permRequest {
			return permRequest{"POST", "/v1/recognitions/" + f.recognitionCase(t, learner, 0) + "/reviews", map[string]any{"comment": "Read."}}
		},
		"decide recognition": func(t *testing.T, learner string) permRequest {
			return permRequest{"POST", "/v1/recognitions/" + f.recognitionCase(t, learner, 1) + "/decision", recognitionGrant(f.lastCaseOutcome)}
		},
		"appeal recognition": func(t *testing.T, learner string) permRequest {
			return permRequest{"POST", "/v1/recognitions/" + f.recognitionCase(t, learner, 2) + "/appeal", map[string]any{"statement": "Please."}}
		},
		"decide recognition appeal": func(t *testing.T, learner string) permRequest {
			return permRequest{"POST", "/v1/recognitions/" + f.recognitionCase(t, learner, 3) + "/appeal/decision", recognitionGrant(f.lastCaseOutcome)}
		},
		"register institution": func(t *testing.T, _ string) permRequest {
			return permRequest{"POST", "/v1/institutions", registrationBody(t)}
		},
		"add key": func(t *testing.T, _ string) permRequest {
			id, _ := f.freshInstitution(t)
			pub, _ := mustKey(t, "ES256").Public()
			return permRequest{"POST", "/v1/institutions/" + id + "/keys", pub}
		},
		"revoke key": func(t *testing.T, _ string) permRequest {
			id, kid := f.freshInstitution(t)
			return permRequest{"DELETE", "/v1/institutions/" + id + "/keys/" + kid, nil}
		},
		"accredit": func(t *testing.T, _ string) permRequest {
			id, _ := f.freshInstitution(t)
			return permRequest{"POST", "/v1/institutions/" + id + "/accreditations", map[string]any{
				"sectors": []string{"non_degree"}, "max_level": 6, "valid_from": "2020-01-01", "valid_until": "2030-12-31"}}
		},
		"suspend": func(t *testing.T, _ string) permRequest {
			id, _ := f.freshInstitution(t)
			return permRequest{"POST", "/v1/institutions/" + id + "/suspension", map[string]any{"reason": "inspection"}}
		},
		"withdraw accreditation": func(t *testing.T, _ string) permRequest {
			id, _ := f.freshInstitution(t)
			resp, body := s.do(t, "POST", "/v1/institutions/"+id+"/accreditations", f.admin, map[string]any{
				"sectors": []string{"non_degree"}, "max_level": 6, "valid_from": "2020-01-01", "valid_until": "2030-12-31"})
			var acc struct{ Seq uint64 }
			if resp.StatusCode != 201 || json.Unmarshal(body, &acc) != nil {
				t.Fatalf("set-up accredit: %d %s", resp.StatusCode, body)
			}
			return permRequest{"POST", fmt.Sprintf("/v1/institutions/%s/accreditations/%d/withdrawal", id, acc.Seq), map[string]any{"reason": "closed"}}
		},
		"lift suspension": func(t *testing.T, _ string) permRequest {
			id, _ := f.freshInstitution(t)
			if resp, body := s.do(t, "POST", "/v1/institutions/"+id+"/suspension", f.admin, map[string]any{"reason": "x"}); resp.StatusCode != 201 {
				t.Fatalf("set-up suspend: %d %s", resp.StatusCode, body)
			}
			return permRequest{"DELETE", "/v1/institutions/" + id + "/suspension", nil}
		},
		"publish rule": func(t *testing.T, _ string) permRequest {
			return permRequest{"POST", "/v1/rules", ruleFor(fmt.Sprintf("rule-%d", nextID()))}
		},
		"retire rule": func(t *testing.T, _ string) permRequest {
			id := fmt.Sprintf("rule-%d", nextID())
			if resp, body := s.do(t, "POST", "/v1/rules", f.admin, ruleFor(id)); resp.StatusCode != 201 {
				t.Fatalf("set-up rule: %d %s", resp.StatusCode, body)
			}
			return permRequest{"POST", "/v1/rules/" + id + "/retirement", map[string]any{"reason": "replaced"}}
		},
		"post outcome": func(t *testing.T, learner string) permRequest {
			return permRequest{"POST", "/v1/outcomes", outcomeFor(learner)}
		},
		// An outcome of alpha's, freshly posted.
		"revoke outcome": func(t *testing.T, learner string) permRequest {
			seq := f.post(t, f.alpha, learner)
			return permRequest{"POST", fmt.Sprintf("/v1/outcomes/%d/revocation", seq), map[string]any{"reason": "error"}}
		},
		"read transcript": func(t *testing.T, learner string) permRequest {
			return permRequest{"GET", "/v1/learners/" + learner + "/transcript", nil}
		},
		"read balance": func(t *testing.T, learner string) permRequest {
			return permRequest{"GET", "/v1/learners/" + learner + "/balance", nil}
		},
		// The printed transcript: the JSON transcript's readers, on an
		// outcome of alpha's (a credential needs one), printed once by the
		// learner so that the credential exists and the GET writes nothing.
		"print transcript": func(t *testing.T, learner string) permRequest {
			f.post(t, f.alpha, learner)
			f.printed(t, learner)
			return permRequest{"GET", "/v1/learners/" + learner + "/transcript.pdf", nil}
		},
		"print transcript granted alpha": func(t *testing.T, learner string) permRequest {
			f.post(t, f.alpha, learner)
			f.grant(t, learner, "alpha.example")
			f.printed(t, learner)
			return permRequest{"GET", "/v1/learners/" + learner + "/transcript.pdf", nil}
		},
		// The same reads after learner granted alpha access (section 7).
		"read transcript granted alpha": func(t *testing.T, learner string) permRequest {
			f.grant(t, learner, "alpha.example")
			return permRequest{"GET", "/v1/learners/" + learner + "/transcript", nil}
		},
		"read balance granted alpha": func(t *testing.T, learner string) permRequest {
			f.grant(t, learner, "alpha.example")
			return permRequest{"GET", "/v1/learners/" + learner + "/balance", nil}
		},
		// ... and after the learner withdrew that grant.
		"read transcript withdrawn": func(t *testing.T, learner string) permRequest {
			id := f.grant(t, learner, "alpha.example")
			if resp, body := s.do(t, "DELETE", "/v1/learners/"+learner+"/grants/"+id, s.token(t, "learner", learner), nil); resp.StatusCode != 204 {
				t.Fatalf("set-up withdraw: %d %s", resp.StatusCode, body)
			}
			return permRequest{"GET", "/v1/learners/" + learner + "/transcript", nil}
		},
		"grant access": func(t *testing.T, learner string) permRequest {
			return permRequest{"POST", "/v1/learners/" + learner + "/grants", grantFor("beta.example")}
		},
		"list grants": func(t *testing.T, learner string) permRequest {
			return permRequest{"GET", "/v1/learners/" + learner + "/grants", nil}
		},
		"withdraw grant": func(t *testing.T, learner string) permRequest {
			return permRequest{"DELETE", "/v1/learners/" + learner + "/grants/" + f.grant(t, learner, "beta.example"), nil}
		},
		// What alpha posted for learner (L1: one outcome).
		"read institution outcomes": func(t *testing.T, learner string) permRequest {
			return permRequest{"GET", "/v1/institutions/alpha.example/outcomes?learner=" + learner, nil}
		},
		// A conversion under r-beta (target beta.example) for learner, who
		// has one eligible outcome of alpha's.
		"request conversion": func(t *testing.T, learner string) permRequest {
			f.post(t, f.alpha, learner)
			return permRequest{"POST", "/v1/conversions", map[string]any{"learner": learner, "rule": "r-beta"}}
		},
		// The same request's preview, which writes nothing.
		"preview conversion": func(t *testing.T, learner string) permRequest {
			f.post(t, f.alpha, learner)
			return permRequest{"POST", "/v1/conversions/preview", map[string]any{"learner": learner, "rule": "r-beta"}}
		},
		// Who read learner's record (section 7); L1's has reads in it.
		"read access log": func(t *testing.T, learner string) permRequest {
			return permRequest{"GET", "/v1/learners/" + learner + "/access-log", nil}
		},
		// Erasing the personal data of learner (section 11), who has an
		// outcome of alpha's: each row erases a learner of its own.
		"erase learner": func(t *testing.T, learner string) permRequest {
			f.post(t, f.alpha, learner)
			return permRequest{"POST", "/v1/learners/" + learner + "/erasure", map[string]any{"reason": "the learner asked"}}
		},
		// The scores of alpha's outcomes for L1 and beta's for L2.
		"read scores": func(t *testing.T, _ string) permRequest {
			return permRequest{"GET", fmt.Sprintf("/v1/audit/scores?outcomes=%d,%d", f.seqL1, f.seqL2), nil}
		},
		// Programmes (section 9); P-ALPHA is alpha's.
		"publish programme": func(t *testing.T, _ string) permRequest {
			return permRequest{"POST", "/v1/programmes", programmeFor(fmt.Sprintf("P-%d", nextID()), "alpha.example")}
		},
		"list programmes": func(t *testing.T, _ string) permRequest {
			return permRequest{"GET", "/v1/programmes?institution=alpha.example", nil}
		},
		"read programme": func(t *testing.T, _ string) permRequest {
			return permRequest{"GET", "/v1/programmes/P-ALPHA?version=1", nil}
		},
		"read audit": func(t *testing.T, learner string) permRequest {
			return permRequest{"GET", "/v1/learners/" + learner + "/programmes/P-ALPHA/audit", nil}
		},
		// The audit after learner granted alpha, the programme's
		// institution, or beta, another, access to its record.
		"read audit granted alpha": func(t *testing.T, learner string) permRequest {
			f.grant(t, learner, "alpha.example")
			return permRequest{"GET", "/v1/learners/" + learner + "/programmes/P-ALPHA/audit", nil}
		},
		"read audit granted beta": func(t *testing.T, learner string) permRequest {
			f.grant(t, learner, "beta.example")
			return permRequest{"GET", "/v1/learners/" + learner + "/programmes/P-ALPHA/audit", nil}
		},
		// An award of P-ALPHA to learner, who has the outcome of alpha's
		// that makes it eligible.
		"record award": func(t *testing.T, learner string) permRequest {
			f.post(t, f.alpha, learner)
			return permRequest{"POST", "/v1/learners/" + learner + "/awards", map[string]any{"programme": "P-ALPHA"}}
		},
		// A transcript credential of learner, who has an outcome of alpha's.
		"issue credential": func(t *testing.T, learner string) permRequest {
			f.post(t, f.alpha, learner)
			return permRequest{"POST", "/v1/learners/" + learner + "/credentials", map[string]any{"kind": "transcript"}}
		},
		"list awards": func(t *testing.T, learner string) permRequest {
			return permRequest{"GET", "/v1/learners/" + learner + "/awards", nil}
		},
		"list awards granted alpha": func(t *testing.T, learner string) permRequest {
			f.grant(t, learner, "alpha.example")
			return permRequest{"GET", "/v1/learners/" + learner + "/awards", nil}
		},
		"publish equivalence": func(t *testing.T, _ string) permRequest {
			return permRequest{"POST", "/v1/equivalences", map[string]any{"id": fmt.Sprintf("group-%d", nextID()),
				"units":      []any{map[string]any{"institution": "alpha.example", "code": "A1"}, map[string]any{"institution": "beta.example", "code": "B1"}},
				"valid_from": "2020-01-01", "valid_until": nil}}
		},
		"read equivalence": func(t *testing.T, _ string) permRequest {
			return permRequest{"GET", "/v1/equivalences/g-perm", nil}
		},
		"audit listing": func(t *testing.T, _ string) permRequest {
			return permRequest{"GET", "/v1/audit/conversions", nil}
		},
		"statistics": func(t *testing.T, _ string) permRequest {
			return permRequest{"GET", "/v1/statistics", nil}
		},
		// Not rows of the table, but of section 3 / 4.
		"read institution": func(t *testing.T, _ string) permRequest {
			return permRequest{"GET", "/v1/institutions/alpha.example", nil}
		},
		"read rule": func(t *testing.T, _ string) permRequest {
			return permRequest{"GET", "/v1/rules/r-beta", nil}
		},
		"list institutions": func(t *testing.T, _ string) permRequest {
			return permRequest{"GET", "/v1/institutions", nil}
		},
		"list rules": func(t *testing.T, _ string) permRequest {
			return permRequest{"GET", "/v1/rules?target_institution=beta.example", nil}
		},
		"read log entry": func(t *testing.T, _ string) permRequest {
			return permRequest{"GET", "/v1/log/entries/0", nil}
		},
		"read entry bundle": func(t *testing.T, _ string) permRequest {
			return permRequest{"GET", "/tlog/tile/entries/000.p/1", nil}
		},
		// A jti no token of the fixture carries, fresh for each row.
		"revoke tokens": func(t *testing.T, _ string) permRequest {
			return permRequest{"POST", "/v1/token-revocations", map[string]any{"jti": fmt.Sprintf("unused-%d", nextID()), "reason": "leaked"}}
		},
	}

	// learner "new" means a learner id unique to the row.
	type row struct {
		action  string
		who     string // principal: admin, regulator, alpha/beta/gamma, learner:ID
		learner string // the learner the request concerns ("new": fresh)
		want    int    // the status when allowed; 403 when forbidden
		skip    string // a known contract deviation
	}
	const forbidden = http.StatusForbidden
	rows := []row{
		// "register an institution, add or revoke its keys | yes | no | no | no"
		{action: "register institution", who: "admin", want: 201},
		{action: "register institution", who: "regulator", want: forbidden},
		{action: "register institution", who: "alpha", want: forbidden},
		{action: "register institution", who: "learner:L1", want: forbidden},
		{action: "add key", who: "admin", want: 201},
		{action: "add key", who: "regulator", want: forbidden},
		{action: "add key", who: "alpha", want: forbidden},
		{action: "add key", who: "learner:L1", want: forbidden},
		{action: "revoke key", who: "admin", want: 204},
		{action: "revoke key", who: "regulator", want: forbidden},
		{action: "revoke key", who: "alpha", want: forbidden},
		{action: "revoke key", who: "learner:L1", want: forbidden},

		// "accredit or suspend an institution | yes | yes | no | no"
		{action: "accredit", who: "admin", want: 201},
		{action: "accredit", who: "regulator", want: 201},
		{action: "accredit", who: "alpha", want: forbidden},
		{action: "accredit", who: "learner:L1", want: forbidden},
		{action: "suspend", who: "admin", want: 201},
		{action: "suspend", who: "regulator", want: 201},
		{action: "suspend", who: "alpha", want: forbidden},
		{action: "suspend", who: "learner:L1", want: forbidden},
		// (withdrawing an accreditation goes with granting it)
		{action: "withdraw accreditation", who: "admin", want: 201},
		{action: "withdraw accreditation", who: "regulator", want: 201},
		{action: "withdraw accreditation", who: "alpha", want: forbidden},
		{action: "withdraw accreditation", who: "learner:L1", want: forbidden},
		// (lifting a suspension goes with suspending it)
		{action: "lift suspension", who: "admin", want: 200},
		{action: "lift suspension", who: "regulator", want: 200},
		{action: "lift suspension", who: "alpha", want: forbidden},
		{action: "lift suspension", who: "learner:L1", want: forbidden},

		// "publish or retire a conversion rule | yes | yes | no | no"
		{action: "publish rule", who: "admin", want: 201},
		{action: "publish rule", who: "regulator", want: 201},
		{action: "publish rule", who: "beta", want: forbidden}, // even the rule's target
		{action: "publish rule", who: "learner:L1", want: forbidden},
		{action: "retire rule", who: "admin", want: 201},
		{action: "retire rule", who: "regulator", want: 201},
		{action: "retire rule", who: "beta", want: forbidden},
		{action: "retire rule", who: "learner:L1", want: forbidden},

		// "post or revoke outcomes | no | no | its own, inside its accreditation | no"
		{action: "post outcome", who: "admin", learner: "new", want: forbidden},
		{action: "post outcome", who: "regulator", learner: "new", want: forbidden},
		{action: "post outcome", who: "alpha", learner: "new", want: 201},
		// "inside its accreditation": gamma is not accredited → 422, nothing written
		{action: "post outcome", who: "gamma", learner: "new", want: 422},
		{action: "post outcome", who: "learner:L1", learner: "L1", want: forbidden},
		// Section 3: revocation by "the posting institution, or a regulator".
		{action: "revoke outcome", who: "admin", learner: "new", want: forbidden},
		{action: "revoke outcome", who: "regulator", learner: "new", want: 201},
		{action: "revoke outcome", who: "alpha", learner: "new", want: 201},      // its own outcome
		{action: "revoke outcome", who: "beta", learner: "new", want: forbidden}, // another institution's outcome
		{action: "revoke outcome", who: "learner:L1", learner: "L1", want: forbidden},

		// "read a learner's transcript and balance | yes | yes | only under the
		// learner's active grant (section 7) | its own sub only"
		{action: "read transcript", who: "admin", learner: "L1", want: 200},
		{action: "read transcript", who: "regulator", learner: "L1", want: 200},
		{action: "read transcript", who: "alpha", learner: "L1", want: forbidden}, // posted for L1, no grant
		{action: "read transcript", who: "alpha", learner: "L2", want: forbidden}, // did not post for L2
		{action: "read transcript granted alpha", who: "alpha", learner: "new", want: 200},
		{action: "read transcript granted alpha", who: "beta", learner: "new", want: forbidden}, // granted to alpha only
		{action: "read transcript withdrawn", who: "alpha", learner: "new", want: forbidden},
		{action: "read transcript", who: "learner:L1", learner: "L1", want: 200},       // its own sub
		{action: "read transcript", who: "learner:L1", learner: "L2", want: forbidden}, // another learner
		{action: "print transcript", who: "admin", learner: "new", want: 200},
		{action: "print transcript", who: "regulator", learner: "new", want: 200},
		{action: "print transcript", who: "alpha", learner: "new", want: forbidden}, // posted for it, no grant
		{action: "print transcript granted alpha", who: "alpha", learner: "new", want: 200},
		{action: "print transcript granted alpha", who: "beta", learner: "new", want: forbidden},
		{action: "print transcript", who: "learner:self", learner: "new", want: 200},
		{action: "print transcript", who: "learner:L1", learner: "L2", want: forbidden},
		{action: "read balance", who: "admin", learner: "L1", want: 200},
		{action: "read balance", who: "regulator", learner: "L1", want: 200},
		{action: "read balance", who: "alpha", learner: "L1", want: forbidden},
		{action: "read balance", who: "alpha", learner: "L2", want: forbidden},
		{action: "read balance granted alpha", who: "alpha", learner: "new", want: 200},
		{action: "read balance granted alpha", who: "beta", learner: "new", want: forbidden},
		{action: "read balance", who: "learner:L1", learner: "L1", want: 200},
		{action: "read balance", who: "learner:L1", learner: "L2", want: forbidden},

		// "read the outcomes an institution posted | yes | yes | its own, by learner | no"
		{action: "read institution outcomes", who: "admin", learner: "L1", want: 200},
		{action: "read institution outcomes", who: "regulator", learner: "L1", want: 200},
		{action: "read institution outcomes", who: "alpha", learner: "L1", want: 200},
		{action: "read institution outcomes", who: "beta", learner: "L1", want: forbidden}, // alpha's, not its own
		{action: "read institution outcomes", who: "learner:L1", learner: "L1", want: forbidden},

		// "grant or withdraw an institution's access to a learner's record |
		// no | no | no | for itself"; listing: the learner, admin, regulator
		{action: "grant access", who: "admin", learner: "new", want: forbidden},
		{action: "grant access", who: "regulator", learner: "new", want: forbidden},
		{action: "grant access", who: "beta", learner: "new", want: forbidden},
		{action: "grant access", who: "learner:self", learner: "new", want: 201},
		{action: "grant access", who: "learner:L1", learner: "new", want: forbidden}, // for another learner
		{action: "withdraw grant", who: "admin", learner: "new", want: forbidden},
		{action: "withdraw grant", who: "regulator", learner: "new", want: forbidden},
		{action: "withdraw grant", who: "beta", learner: "new", want: forbidden}, // even the grantee
		{action: "withdraw grant", who: "learner:self", learner: "new", want: 204},
		{action: "withdraw grant", who: "learner:L1", learner: "new", want: forbidden},
		{action: "list grants", who: "admin", learner: "L1", want: 200},
		{action: "list grants", who: "regulator", learner: "L1", want: 200},
		{action: "list grants", who: "alpha", learner: "L1", want: forbidden},
		{action: "list grants", who: "learner:L1", learner: "L1", want: 200},
		{action: "list grants", who: "learner:L1", learner: "L2", want: forbidden},

		// "request or preview a conversion | yes, on the learner's behalf | no |
		// no (version 2: the learner decides) | for itself"
		{action: "request conversion", who: "admin", learner: "new", want: 201},
		{action: "request conversion", who: "regulator", learner: "new", want: forbidden},
		{action: "request conversion", who: "beta", learner: "new", want: forbidden},  // the rule's target, no longer
		{action: "request conversion", who: "alpha", learner: "new", want: forbidden}, // not the target (though it posted)
		{action: "request conversion", who: "learner:self", learner: "new", want: 201},
		{action: "request conversion", who: "learner:L1", learner: "new", want: forbidden}, // for another learner

		// "request or preview a conversion": the preview's rights are the
		// conversion's; it answers 200 and writes nothing.
		{action: "preview conversion", who: "admin", learner: "new", want: 200},
		{action: "preview conversion", who: "regulator", learner: "new", want: forbidden},
		{action: "preview conversion", who: "beta", learner: "new", want: forbidden},
		{action: "preview conversion", who: "alpha", learner: "new", want: forbidden},
		{action: "preview conversion", who: "learner:self", learner: "new", want: 200},
		{action: "preview conversion", who: "learner:L1", learner: "new", want: forbidden},

		// Groups of equivalent units go with rules (section 8): published by
		// admins and regulators, read with any valid token.
		{action: "revoke tokens", who: "admin", want: 201},
		{action: "revoke tokens", who: "regulator", want: forbidden},
		{action: "revoke tokens", who: "alpha", want: forbidden},
		{action: "revoke tokens", who: "learner:L1", want: forbidden},
		{action: "publish equivalence", who: "admin", want: 201},
		{action: "publish equivalence", who: "regulator", want: 201},
		{action: "publish equivalence", who: "beta", want: forbidden},
		{action: "publish equivalence", who: "learner:L1", want: forbidden},
		{action: "read equivalence", who: "admin", want: 200},
		{action: "read equivalence", who: "regulator", want: 200},
		{action: "read equivalence", who: "gamma", want: 200},
		{action: "read equivalence", who: "learner:L1", want: 200},

		// Section 9: programmes are published by admins and regulators and
		// read with any valid token.
		{action: "publish programme", who: "admin", want: 201},
		{action: "publish programme", who: "regulator", want: 201},
		{action: "publish programme", who: "alpha", want: forbidden}, // even the programme's institution
		{action: "publish programme", who: "learner:L1", want: forbidden},
		{action: "list programmes", who: "admin", want: 200},
		{action: "list programmes", who: "regulator", want: 200},
		{action: "list programmes", who: "gamma", want: 200},
		{action: "list programmes", who: "learner:L1", want: 200},
		{action: "read programme", who: "admin", want: 200},
		{action: "read programme", who: "regulator", want: 200},
		{action: "read programme", who: "beta", want: 200},
		{action: "read programme", who: "learner:L1", want: 200},
		// The award audit: the learner, admin, regulator, and the
		// programme's institution only under the learner's grant.
		{action: "read audit", who: "admin", learner: "L1", want: 200},
		{action: "read audit", who: "regulator", learner: "L1", want: 200},
		{action: "read audit", who: "alpha", learner: "L1", want: forbidden}, // its programme, posted for L1, no grant
		{action: "read audit granted alpha", who: "alpha", learner: "new", want: 200},
		{action: "read audit granted beta", who: "beta", learner: "new", want: forbidden}, // a grant, but not its programme
		{action: "read audit", who: "learner:L1", learner: "L1", want: 200},
		{action: "read audit", who: "learner:L1", learner: "L2", want: forbidden},
		// Awards: recorded by the programme's institution or an admin.
		{action: "record award", who: "admin", learner: "new", want: 201},
		{action: "record award", who: "regulator", learner: "new", want: forbidden},
		{action: "record award", who: "alpha", learner: "new", want: 201},
		{action: "record award", who: "beta", learner: "new", want: forbidden}, // not its programme
		{action: "record award", who: "learner:self", learner: "new", want: forbidden},
		// Credentials: the learner for itself, or an admin on its behalf.
		{action: "issue credential", who: "admin", learner: "new", want: 201},
		{action: "issue credential", who: "regulator", learner: "new", want: forbidden},
		{action: "issue credential", who: "alpha", learner: "new", want: forbidden},
		{action: "issue credential", who: "learner:self", learner: "new", want: 201},
		{action: "issue credential", who: "learner:L1", learner: "L2", want: forbidden},
		{action: "list awards", who: "admin", learner: "L1", want: 200},
		{action: "list awards", who: "regulator", learner: "L1", want: 200},
		{action: "list awards", who: "alpha", learner: "L1", want: forbidden},
		{action: "list awards granted alpha", who: "alpha", learner: "new", want: 200},
		{action: "list awards", who: "learner:L1", learner: "L1", want: 200},
		{action: "list awards", who: "learner:L1", learner: "L2", want: forbidden},

		// Section 13: units are certified by admins and regulators; a case
		// is opened and appealed by its learner, reviewed and decided by
		// its target institution, its appeal decided by a regulator, and
		// read by all of them and admins.
		{action: "certify unit", who: "admin", want: 201},
		{action: "certify unit", who: "regulator", want: 201},
		{action: "certify unit", who: "alpha", want: forbidden}, // even for its own unit
		{action: "certify unit", who: "learner:L1", want: forbidden},
		{action: "apply recognition", who: "admin", learner: "new", want: forbidden},
		{action: "apply recognition", who: "regulator", learner: "new", want: forbidden},
		{action: "apply recognition", who: "alpha", learner: "new", want: forbidden},
		{action: "apply recognition", who: "learner:self", learner: "new", want: 201},
		{action: "read recognition", who: "admin", learner: "new", want: 200},
		{action: "read recognition", who: "regulator", learner: "new", want: 200},
		{action: "read recognition", who: "alpha", learner: "new", want: 200}, // the target, with no grant
		{action: "read recognition", who: "beta", learner: "new", want: forbidden},
		{action: "read recognition", who: "learner:self", learner: "new", want: 200},
		{action: "read recognition", who: "learner:L1", learner: "new", want: 404}, // another learner's: as none
		{action: "review recognition", who: "admin", learner: "new", want: forbidden},
		{action: "review recognition", who: "regulator", learner: "new", want: forbidden},
		{action: "review recognition", who: "alpha", learner: "new", want: 201},
		{action: "review recognition", who: "beta", learner: "new", want: forbidden}, // not the target
		{action: "review recognition", who: "learner:self", learner: "new", want: forbidden},
		{action: "decide recognition", who: "admin", learner: "new", want: forbidden},
		{action: "decide recognition", who: "regulator", learner: "new", want: forbidden},
		{action: "decide recognition", who: "alpha", learner: "new", want: 201},
		{action: "decide recognition", who: "beta", learner: "new", want: forbidden},
		{action: "decide recognition", who: "learner:self", learner: "new", want: forbidden},
		{action: "appeal recognition", who: "admin", learner: "new", want: forbidden},
		{action: "appeal recognition", who: "regulator", learner: "new", want: forbidden},
		{action: "appeal recognition", who: "alpha", learner: "new", want: forbidden},
		{action: "appeal recognition", who: "learner:self", learner: "new", want: 201},
		{action: "appeal recognition", who: "learner:L1", learner: "new", want: forbidden},
		{action: "decide recognition appeal", who: "admin", learner: "new", want: forbidden},
		{action: "decide recognition appeal", who: "regulator", learner: "new", want: 201},
		{action: "decide recognition appeal", who: "alpha", learner: "new", want: forbidden},
		{action: "decide recognition appeal", who: "learner:self", learner: "new", want: forbidden},

		// "audit listings | yes | yes | no | no"
		{action: "audit listing", who: "admin", want: 200},
		{action: "audit listing", who: "regulator", want: 200},
		{action: "audit listing", who: "alpha", want: forbidden},
		{action: "audit listing", who: "learner:L1", want: forbidden},
		// statistics go with the audit listings
		{action: "statistics", who: "admin", want: 200},
		{action: "statistics", who: "regulator", want: 200},
		{action: "statistics", who: "alpha", want: forbidden},
		{action: "statistics", who: "learner:L1", want: forbidden},

		// Section 7: "GET /v1/learners/{id}/access-log (the learner, admin,
		// regulator)"
		{action: "read access log", who: "admin", learner: "L1", want: 200},
		{action: "read access log", who: "regulator", learner: "L1", want: 200},
		{action: "read access log", who: "alpha", learner: "L1", want: forbidden}, // though it posted for L1
		{action: "read access log", who: "learner:L1", learner: "L1", want: 200},
		{action: "read access log", who: "learner:L1", learner: "L2", want: forbidden},

		// Section 11: an admin erases a learner's personal data, on the
		// learner's request; no one else, not even the learner.
		{action: "erase learner", who: "admin", learner: "new", want: 200},
		{action: "erase learner", who: "regulator", learner: "new", want: forbidden},
		{action: "erase learner", who: "alpha", learner: "new", want: forbidden}, // though it posted for the learner
		{action: "erase learner", who: "learner:self", learner: "new", want: forbidden},
		// Section 11: the audit reads sealed scores, as it reads conversions.
		{action: "read scores", who: "admin", want: 200},
		{action: "read scores", who: "regulator", want: 200},
		{action: "read scores", who: "alpha", want: forbidden}, // though it posted the outcome
		{action: "read scores", who: "learner:L1", want: forbidden},

		// Section 3: "GET /v1/institutions/{id} (any valid token)"; rules are
		// read by any valid token (OpenAPI); section 4: full log entries need
		// audit rights.
		{action: "read institution", who: "admin", want: 200},
		{action: "read institution", who: "regulator", want: 200},
		{action: "read institution", who: "gamma", want: 200},
		{action: "read institution", who: "learner:L1", want: 200},
		{action: "read rule", who: "admin", want: 200},
		{action: "read rule", who: "regulator", want: 200},
		{action: "read rule", who: "alpha", want: 200},
		{action: "read rule", who: "learner:L1", want: 200},
		{action: "list institutions", who: "admin", want: 200},
		{action: "list institutions", who: "regulator", want: 200},
		{action: "list institutions", who: "gamma", want: 200},
		{action: "list institutions", who: "learner:L1", want: 200},
		{action: "list rules", who: "admin", want: 200},
		{action: "list rules", who: "regulator", want: 200},
		{action: "list rules", who: "gamma", want: 200},
		{action: "list rules", who: "learner:L1", want: 200},
		{action: "read log entry", who: "admin", want: 200},
		{action: "read log entry", who: "regulator", want: 200},
		{action: "read log entry", who: "alpha", want: forbidden},
		{action: "read log entry", who: "learner:L1", want: forbidden},
		{action: "read entry bundle", who: "admin", want: 200},
		{action: "read entry bundle", who: "regulator", want: 200},
		{action: "read entry bundle", who: "alpha", want: forbidden},
		{action: "read entry bundle", who: "learner:L1", want: forbidden},
	}

	for _, r := range rows {
		t.Run(r.action+"/"+r.who+"/"+r.learner, func(t *testing.T) {
			learner := r.learner
			if learner == "new" {
				learner = fmt.Sprintf("N%d", nextID())
			}
			who := r.who
			if who == "learner:self" {
				who = "learner:" + learner
			}
			build, ok := actions[r.action]
			if !ok {
				t.Fatalf("no action %q", r.action)
			}
			req := build(t, learner)
			tok := f.tok(t, who)
			before := s.ledger.Size()
			resp, body := s.do(t, req.method, req.path, tok, req.body)
			after := s.ledger.Size()
			if resp.StatusCode != r.want {
				if r.skip != "" {
					t.Skipf("contract deviation: %s (%s %s as %s: status %d, want %d; body %s)",
						r.skip, req.method, req.path, who, resp.StatusCode, r.want, strings.TrimSpace(string(body)))
				}
				t.Errorf("%s %s as %s: status %d, want %d; body %s", req.method, req.path, who, resp.StatusCode, r.want, body)
				return
			}
			switch {
			case r.want == forbidden:
				var p Problem
				if err := json.Unmarshal(body, &p); err != nil || p.Type != "urn:creditbank:problem:forbidden" {
					t.Errorf("403 body %s: want problem type urn:creditbank:problem:forbidden", body)
				}
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
					t.Errorf("Content-Type %q", ct)
				}
				if resp.Header.Get("WWW-Authenticate") != "" && strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
					t.Errorf("a valid token lacking the right is answered as an invalid token")
				}
				if after != before {
					t.Errorf("forbidden request wrote: ledger %d → %d", before, after)
				}
			case r.want >= 400 || req.method == "GET" || strings.HasSuffix(req.path, "/preview"): // a preview writes nothing
				if after != before {
					t.Errorf("ledger %d → %d on a %d %s", before, after, r.want, req.method)
				}
			default:
				if after <= before {
					t.Errorf("allowed write %d did not grow the ledger", r.want)
				}
			}
		})
	}

	// Every route that needs a token is covered by some row.
	covered := map[string]bool{}
	for _, r := range rows {
		covered[r.action] = true
	}
	byRoute := map[string]string{
		"registerInstitution": "register institution", "addKey": "add key", "removeKey": "revoke key",
		"accredit": "accredit", "suspend": "suspend", "reinstate": "lift suspension", "withdrawAccreditation": "withdraw accreditation",
		"postOutcomes": "post outcome", "revokeOutcome": "revoke outcome", "transcript": "read transcript",
		"balance": "read balance", "publishRule": "publish rule", "getRule": "read rule",
		"retireRule": "retire rule", "convert": "request conversion", "auditConversions": "audit listing", "statistics": "statistics",
		"logEntry": "read log entry", "getInstitution": "read institution", "accessLog": "read access log",
		"listInstitutions": "list institutions", "listRules": "list rules",
		"previewConversion": "preview conversion", "publishEquivalence": "publish equivalence", "getEquivalence": "read equivalence",
		"getRuleVersion": "read rule", // same rights as the latest version
		"revokeTokens":   "revoke tokens",
		"createGrant":    "grant access", "listGrants": "list grants", "withdrawGrant": "withdraw grant",
		"institutionOutcomes": "read institution outcomes",
		"eraseLearner":        "erase learner", "auditScores": "read scores",
		"tlogEntries":      "read entry bundle",
		"publishProgramme": "publish programme", "listProgrammes": "list programmes", "getProgramme": "read programme",
		"programmeAudit": "read audit", "recordAward": "record award", "listAwards": "list awards",
		"issueCredential": "issue credential", "transcriptPDF": "print transcript",
		"certifyUnit": "certify unit", "applyForRecognition": "apply recognition", "getRecognition": "read recognition",
		"reviewRecognition": "review recognition", "decideRecognition": "decide recognition",
		"appealRecognition": "appeal recognition", "decideRecognitionAppeal": "decide recognition appeal",
	}
	for _, rt := range Routes {
		if rt.Roles == nil {
			continue
		}
		if a, ok := byRoute[rt.Name]; !ok || !covered[a] {
			t.Errorf("route %s (%s %s) has no row in the permission table", rt.Name, rt.Method, rt.Path)
		}
	}
}

// TestPathTricks sends ids with dot segments, encoded slashes, look-alike
// characters and excessive length: each gets a 4xx (or a redirect to the
// cleaned path), never a 500, and nothing is written.
func TestPathTricks(t *testing.T) {
	f := newPermFixture(t)
	s := f.s
	cyr := "alph\u0430.example" // Cyrillic а
	long := strings.Repeat("a", 4096)
	accr := map[string]any{"sectors": []string{"non_degree"}, "max_level": 6, "valid_from": "2020-01-01", "valid_until": "2030-12-31"}
	pubKey, _ := mustKey(t, "EdDSA").Public()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	type trick struct {
		name, method, path, who string
		body                    any
		want                    []int // acceptable statuses
	}
	notFound := []int{400, 404, 422}
	routeless := []int{301, 400, 404, 405, 422} // dot segments are cleaned by redirect; encoded slashes change the route
	learnerBad := []int{400, 404, 422}
	tricks := []trick{
		{"institution ..", "GET", "/v1/institutions/..", "admin", nil, routeless},
		{"institution %2E%2E", "GET", "/v1/institutions/%2E%2E", "admin", nil, routeless},
		{"institution ..%2F..%2Fx", "GET", "/v1/institutions/..%2F..%2Fhealthz", "admin", nil, routeless},
		{"institution encoded slash", "GET", "/v1/institutions/alpha%2Eexample%2Fkeys", "admin", nil, routeless},
		{"institution encoded slash and dots into suspension", "POST", "/v1/institutions/alpha.example%2Fkeys%2F..%2Fsuspension", "regulator", map[string]any{"reason": "x"}, routeless},
		{"institution %252F double-encoded", "GET", "/v1/institutions/alpha.example%252F..", "admin", nil, notFound},
		{"institution Cyrillic look-alike read", "GET", "/v1/institutions/" + cyr, "admin", nil, notFound},
		{"institution Cyrillic look-alike accredit", "POST", "/v1/institutions/" + cyr + "/accreditations", "admin", accr, notFound},
		{"institution Cyrillic look-alike suspend", "POST", "/v1/institutions/" + cyr + "/suspension", "regulator", map[string]any{"reason": "x"}, notFound},
		{"institution Cyrillic look-alike add key", "POST", "/v1/institutions/" + cyr + "/keys", "admin", pubKey, notFound},
		{"register Cyrillic look-alike id", "POST", "/v1/institutions", "admin", map[string]any{"id": cyr, "name": "X", "kind": "university", "keys": []any{pubKey}}, []int{400, 422}},
		{"register upper-case id", "POST", "/v1/institutions", "admin", map[string]any{"id": "ALPHA.example", "name": "X", "kind": "university", "keys": []any{pubKey}}, []int{400, 422}},
		{"register id with slash", "POST", "/v1/institutions", "admin", map[string]any{"id": "a/../b.example", "name": "X", "kind": "university", "keys": []any{pubKey}}, []int{400, 422}},
		{"institution over-long read", "GET", "/v1/institutions/" + long, "admin", nil, notFound},
		{"institution over-long accredit", "POST", "/v1/institutions/" + long + "/accreditations", "admin", accr, notFound},
		{"key .. remove", "DELETE", "/v1/institutions/alpha.example/keys/..", "admin", nil, routeless},
		{"key %2E%2E%2F remove", "DELETE", "/v1/institutions/alpha.example/keys/%2E%2E%2Fkeys", "admin", nil, routeless},
		{"key Cyrillic remove", "DELETE", "/v1/institutions/alpha.example/keys/" + "\u0430" + f.ka.Kid[1:], "admin", nil, notFound},
		{"key over-long remove", "DELETE", "/v1/institutions/alpha.example/keys/" + long, "admin", nil, notFound},
		{"outcome seq ..", "POST", "/v1/outcomes/../revocation", "regulator", map[string]any{"reason": "x"}, routeless},
		{"outcome seq %2F", "POST", "/v1/outcomes/1%2F0/revocation", "regulator", map[string]any{"reason": "x"}, routeless},
		{"outcome seq -1", "POST", "/v1/outcomes/-1/revocation", "regulator", map[string]any{"reason": "x"}, notFound},
		{"outcome seq +0", "POST", "/v1/outcomes/+0/revocation", "regulator", map[string]any{"reason": "x"}, notFound},
		{"outcome seq 00", "POST", "/v1/outcomes/00/revocation", "regulator", map[string]any{"reason": "x"}, notFound},
		{"outcome seq fullwidth 0", "POST", "/v1/outcomes/\uff10/revocation", "regulator", map[string]any{"reason": "x"}, notFound},
		{"outcome seq overflow", "POST", "/v1/outcomes/99999999999999999999999/revocation", "regulator", map[string]any{"reason": "x"}, notFound},
		{"outcome seq not posted", "POST", "/v1/outcomes/999999/revocation", "regulator", map[string]any{"reason": "x"}, notFound},
		{"learner ..", "GET", "/v1/learners/../transcript", "admin", nil, routeless},
		{"learner %2F", "GET", "/v1/learners/L1%2F..%2FL2/transcript", "admin", nil, routeless},
		{"rule ..", "POST", "/v1/rules/../retirement", "admin", nil, routeless},
		{"rule %2E%2E", "POST", "/v1/rules/%2E%2E/retirement", "admin", nil, routeless},
		{"rule Cyrillic retire", "POST", "/v1/rules/r-bet\u0430/retirement", "admin", nil, notFound},
		{"rule over-long retire", "POST", "/v1/rules/" + long + "/retirement", "admin", nil, notFound},
		{"rule version ..", "GET", "/v1/rules/r-beta/versions/..", "admin", nil, routeless},
		{"rule version 01", "GET", "/v1/rules/r-beta/versions/01", "admin", nil, notFound},
		{"log entry %2E%2E", "GET", "/v1/log/entries/%2E%2E", "admin", nil, routeless},
		{"log entry -1", "GET", "/v1/log/entries/-1", "admin", nil, notFound},
		{"conversion learner Cyrillic", "POST", "/v1/conversions", "admin", map[string]any{"learner": "L\u04301", "rule": "r-beta"}, []int{400, 404, 422}},
		{"conversion rule ..", "POST", "/v1/conversions", "admin", map[string]any{"learner": "L1", "rule": "../r-beta"}, []int{400, 404, 422}},

		// Learner ids that cannot match ^[A-Za-z0-9][A-Za-z0-9-]{0,63}$.
		{"learner Cyrillic transcript", "GET", "/v1/learners/L\u04301/transcript", "admin", nil, learnerBad},
		{"learner over-long transcript", "GET", "/v1/learners/" + long + "/transcript", "admin", nil, learnerBad},
		{"learner 65 chars balance", "GET", "/v1/learners/" + strings.Repeat("L", 65) + "/balance", "admin", nil, learnerBad},
		{"learner NUL transcript", "GET", "/v1/learners/L1%00/transcript", "admin", nil, learnerBad},
		{"learner dot balance", "GET", "/v1/learners/L1.x/balance", "admin", nil, learnerBad},
	}
	for _, tr := range tricks {
		t.Run(tr.name, func(t *testing.T) {
			before := s.ledger.Size()
			var rd *strings.Reader
			if tr.body != nil {
				b, err := json.Marshal(tr.body)
				if err != nil {
					t.Fatal(err)
				}
				rd = strings.NewReader(string(b))
			}
			var req *http.Request
			var err error
			if rd != nil {
				req, err = http.NewRequest(tr.method, s.URL+tr.path, rd)
			} else {
				req, err = http.NewRequest(tr.method, s.URL+tr.path, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+f.tok(t, tr.who))
			req.Header.Set("Content-Type", "application/json")
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body strings.Builder
			buf := make([]byte, 4096)
			for {
				n, err := resp.Body.Read(buf)
				body.WriteString(string(buf[:n]))
				if err != nil {
					break
				}
			}
			resp.Body.Close()
			if resp.StatusCode >= 500 {
				t.Fatalf("%s %s: %d %s", tr.method, tr.path, resp.StatusCode, body.String())
			}
			ok := false
			for _, w := range tr.want {
				ok = ok || resp.StatusCode == w
			}
			if !ok {
				t.Errorf("%s %s: status %d, want one of %v; body %s", tr.method, tr.path, resp.StatusCode, tr.want, body.String())
			}
			if resp.StatusCode == 301 || resp.StatusCode == 308 {
				// The redirect names a cleaned path on this server.
				loc := resp.Header.Get("Location")
				if strings.Contains(loc, "..") || strings.Contains(loc, "://") && !strings.HasPrefix(loc, s.URL) {
					t.Errorf("redirect to %q", loc)
				}
			}
			if resp.StatusCode < 300 || resp.StatusCode >= 400 {
				if ct := resp.Header.Get("Content-Type"); resp.StatusCode >= 400 && !strings.HasPrefix(ct, "application/problem+json") {
					t.Errorf("Content-Type %q on %d", ct, resp.StatusCode)
				}
			}
			if after := s.ledger.Size(); after != before {
				t.Errorf("ledger %d → %d", before, after)
			}
			t.Logf("%s %.80s → %d %.200s", tr.method, tr.path, resp.StatusCode, strings.TrimSpace(body.String()))
		})
	}
}
