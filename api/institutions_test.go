package api

import (
	"encoding/json"
	"fmt"
	"testing"

	"creditbank/accreditation"
)

// An institution's history, the withdrawal of an accreditation and the last
// key over the real server (docs/contract.md section 8).

func getInstitutionBody(t *testing.T, s *testServer, id, token string) accreditation.Institution {
	t.Helper()
	resp, out := s.do(t, "GET", "/v1/institutions/"+id, token, nil)
	var in accreditation.Institution
	if resp.StatusCode != 200 || json.Unmarshal(out, &in) != nil {
		t.Fatalf("GET institution: %d %s", resp.StatusCode, out)
	}
	return in
}

func TestWithdrawalAndHistoryOverHTTP(t *testing.T) {
	s := newTestServer(t)
	k := s.institution(t, "college.example")
	adm, reg := s.token(t, "admin", "root"), s.token(t, "regulator", "moe")
	acc := getInstitutionBody(t, s, "college.example", reg).Accreditations[0].Seq
	path := fmt.Sprintf("/v1/institutions/college.example/accreditations/%d/withdrawal", acc)

	if resp, out := s.do(t, "POST", "/v1/institutions/college.example/suspension", reg, map[string]any{"reason": "inspection"}); resp.StatusCode != 201 {
		t.Fatalf("suspend: %d %s", resp.StatusCode, out)
	}
	for _, tc := range []struct {
		name   string
		method string
		path   string
		token  string
		body   any
		status int
	}{
		{"lift without a reason member", "DELETE", "/v1/institutions/college.example/suspension", adm, map[string]any{}, 400},
		{"lift with another member", "DELETE", "/v1/institutions/college.example/suspension", adm, map[string]any{"reason": "x", "by": "y"}, 400},
		{"lift with a reason", "DELETE", "/v1/institutions/college.example/suspension", adm, map[string]any{"reason": "inspection passed"}, 200},
		{"withdraw without a reason", "POST", path, reg, map[string]any{}, 400},
		{"withdraw with an empty reason", "POST", path, reg, map[string]any{"reason": ""}, 422},
		{"withdraw as an institution", "POST", path, instToken(t, k, "college.example"), map[string]any{"reason": "x"}, 403},
		{"withdraw a seq that is not one", "POST", "/v1/institutions/college.example/accreditations/x1/withdrawal", reg, map[string]any{"reason": "x"}, 404},
		{"withdraw an unknown accreditation", "POST", "/v1/institutions/college.example/accreditations/99999/withdrawal", reg, map[string]any{"reason": "x"}, 404},
		{"withdraw", "POST", path, reg, map[string]any{"reason": "licence revoked"}, 201},
		{"withdraw twice", "POST", path, adm, map[string]any{"reason": "again"}, 409},
	} {
		t.Run(tc.name, func(t *testing.T) {
			size := s.ledger.Size()
			resp, out := s.do(t, tc.method, tc.path, tc.token, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, out, tc.status)
			}
			if wrote := s.ledger.Size() - size; (tc.status < 300) != (wrote == 1) {
				t.Fatalf("answered %d and wrote %d entries", resp.StatusCode, wrote)
			}
		})
	}

	in := getInstitutionBody(t, s, "college.example", instToken(t, k, "college.example"))
	var events []string
	for _, h := range in.History {
		events = append(events, h.Event+":"+h.Reason)
	}
	want := []string{"accredited:", "suspended:inspection", "suspension_lifted:inspection passed", "accreditation_withdrawn:licence revoked"}
	if fmt.Sprint(events) != fmt.Sprint(want) {
		t.Fatalf("history %v, want %v", events, want)
	}
	if a := in.Accreditations[0]; a.Withdrawn == nil || a.Withdrawn.Reason != "licence revoked" {
		t.Fatalf("accreditation %+v not shown withdrawn", a)
	}
	resp, out := s.do(t, "POST", "/v1/outcomes", instToken(t, k, "college.example"), outcomeFor("L1"))
	if p := problemOf(t, out); resp.StatusCode != 422 || p.Type != problemBase+"not-accredited" {
		t.Fatalf("post after the withdrawal: %d %s", resp.StatusCode, out)
	}

	// A lift sent with no body at all gives no reason.
	s.do(t, "POST", "/v1/institutions/college.example/suspension", reg, map[string]any{"reason": "again"})
	if resp, out := s.do(t, "DELETE", "/v1/institutions/college.example/suspension", reg, nil); resp.StatusCode != 200 {
		t.Fatalf("lift without a body: %d %s", resp.StatusCode, out)
	}
	in = getInstitutionBody(t, s, "college.example", reg)
	if last := in.History[len(in.History)-1]; last.Event != "suspension_lifted" || last.Reason != "" {
		t.Fatalf("last event %+v", last)
	}
}

func TestLastKeyOverHTTP(t *testing.T) {
	s := newTestServer(t)
	k := mustKey(t, "EdDSA")
	s.registerWithKeys(t, "lonely.example", true, k)
	adm := s.token(t, "admin", "root")
	size := s.ledger.Size()
	resp, out := s.do(t, "DELETE", "/v1/institutions/lonely.example/keys/"+k.Kid, adm, nil)
	if p := problemOf(t, out); resp.StatusCode != 409 || p.Type != problemBase+"last-key" {
		t.Fatalf("remove the last key: %d %s, want 409 last-key", resp.StatusCode, out)
	}
	if s.ledger.Size() != size {
		t.Fatal("a refused removal wrote")
	}
	if resp, out := s.do(t, "POST", "/v1/outcomes", instToken(t, k, "lonely.example"), outcomeFor("L1")); resp.StatusCode != 201 {
		t.Fatalf("the key still signs: %d %s", resp.StatusCode, out)
	}
}

func TestAccreditationPolicyOverHTTP(t *testing.T) {
	s := newTestServer(t)
	k := mustKey(t, "EdDSA")
	pub, _ := k.Public()
	adm, reg := s.token(t, "admin", "root"), s.token(t, "regulator", "moe")
	if resp, out := s.do(t, "POST", "/v1/institutions", adm, map[string]any{"id": "village.example", "name": "Village School",
		"kind": "community_school", "keys": []any{pub}}); resp.StatusCode != 201 {
		t.Fatalf("register: %d %s", resp.StatusCode, out)
	}
	scope := func(level int, override string, sectors ...string) map[string]any {
		b := map[string]any{"sectors": sectors, "max_level": level, "valid_from": "2020-01-01", "valid_until": "2099-12-31"}
		if override != "" {
			b["override_reason"] = override
		}
		return b
	}
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
		kind   string
	}{
		{"degree", scope(5, "", "degree"), 422, "accreditation-policy"},
		{"above level 5", scope(6, "", "community"), 422, "accreditation-policy"},
		{"empty override", map[string]any{"sectors": []string{"community"}, "max_level": 6, "valid_from": "2020-01-01",
			"valid_until": "2099-12-31", "override_reason": ""}, 422, "accreditation-policy"},
		{"inside the table", scope(5, "", "community", "elderly"), 201, ""},
		{"override", scope(6, "pilot with the county college", "degree"), 201, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			size := s.ledger.Size()
			resp, out := s.do(t, "POST", "/v1/institutions/village.example/accreditations", reg, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, out, tc.status)
			}
			if tc.kind != "" {
				if p := problemOf(t, out); p.Type != problemBase+tc.kind || s.ledger.Size() != size {
					t.Fatalf("problem %+v (wrote %d), want %s writing nothing", p, s.ledger.Size()-size, tc.kind)
				}
			}
		})
	}
	in := getInstitutionBody(t, s, "village.example", reg)
	last := in.Accreditations[len(in.Accreditations)-1]
	if last.OverrideReason != "pilot with the county college" || last.OutsidePolicy == "" {
		t.Fatalf("overriding accreditation %+v", last)
	}
	if h := in.History[len(in.History)-1]; h.Reason != last.OverrideReason || h.Seq != last.Seq {
		t.Fatalf("history event %+v", h)
	}
}
