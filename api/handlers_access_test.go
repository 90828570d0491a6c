package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"creditbank/accreditation"
	"creditbank/ledger"
)

type accessLogPage struct {
	Learner string             `json:"learner"`
	Records []accessRecordView `json:"records"`
	Next    string             `json:"next_cursor"`
}

// readAccessLog GETs path with tok and decodes a 200 answer.
func (s *testServer) readAccessLog(t *testing.T, path, tok string) accessLogPage {
	t.Helper()
	resp, body := s.do(t, "GET", path, tok, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	var p accessLogPage
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAccessLogRoute records reads of a learner's record through
// recordRead, as the read handlers do, and lists them at
// GET /v1/learners/{id}/access-log by role: the learner itself (in any
// case of its id), an admin and a regulator read it, another learner and
// an institution get 403, and bad ids, limits and cursors get their
// problems. The learner's own reads are never recorded; an admin's or a
// regulator's read of the log is.
func TestAccessLogRoute(t *testing.T) {
	s := newTestServer(t)
	k := s.institution(t, "univ.example")
	univ := instToken(t, k, "univ.example")
	tokens := map[string]string{
		"learner":       s.token(t, "learner", "L000123"),
		"learner lower": s.token(t, "learner", "l000123"),
		"other learner": s.token(t, "learner", "L000999"),
		"admin":         s.token(t, "admin", "root"),
		"regulator":     s.token(t, "regulator", "moe"),
		"institution":   univ,
	}
	// The learner holds a record (a grant), so that reads of it are
	// recorded: of a learner the store holds nothing of, nothing is.
	if resp, body := s.do(t, "POST", "/v1/learners/L000123/grants", tokens["learner"], grantFor("univ.example")); resp.StatusCode != http.StatusCreated {
		t.Fatalf("grant: %d %s", resp.StatusCode, body)
	}
	req := httptest.NewRequest("GET", "/v1/learners/L000123/transcript", nil)
	reads := []struct {
		a            accreditation.Actor
		learner      string
		what, grant  string
		recordedWant bool
	}{
		{accreditation.Actor{Role: accreditation.RoleInstitution, ID: "univ.example"}, "L000123", "transcript", "g-1", true},
		{accreditation.Actor{Role: accreditation.RoleLearner, ID: "L000123"}, "L000123", "transcript", "", false},
		{accreditation.Actor{Role: accreditation.RoleLearner, ID: "l000123"}, "L000123", "balance", "", false},
		{accreditation.Actor{Role: accreditation.RoleRegulator, ID: "moe"}, "l000123", "balance", "", true},
		{accreditation.Actor{Role: accreditation.RoleAdmin, ID: "root"}, "L000999", "transcript", "", false}, // another learner's
		{accreditation.Actor{Role: accreditation.RoleInstitution, ID: "univ.example"}, "L000123", "balance", "g-1", true},
	}
	var want []accessRecordView
	for _, rd := range reads {
		s.handler.recordRead(req, rd.a, rd.learner, rd.what, rd.grant)
		if rd.recordedWant {
			want = append(want, accessRecordView{Who: rd.a.String(), Role: string(rd.a.Role), What: rd.what, Grant: rd.grant})
		}
		// Distinct instants, so that newest first is one order.
		time.Sleep(2 * time.Millisecond)
	}
	slices.Reverse(want)
	s.access.Flush()

	for _, c := range []struct {
		who, path string
		want      int
		problem   string
	}{
		{"learner", "/v1/learners/L000123/access-log", 200, ""},
		{"learner", "/v1/learners/l000123/access-log", 200, ""},
		{"learner lower", "/v1/learners/L000123/access-log", 200, ""},
		{"other learner", "/v1/learners/L000123/access-log", 403, "forbidden"},
		{"institution", "/v1/learners/L000123/access-log", 403, "forbidden"},
		{"learner", "/v1/learners/L000999/access-log", 403, "forbidden"},
		{"learner", "/v1/learners/L000123/access-log?limit=0", 400, "bad-parameter"},
		{"learner", "/v1/learners/L000123/access-log?cursor=nonsense", 400, "bad-cursor"},
		{"learner", "/v1/learners/L000123/access-log?cursor=" + ledger.FormatCursor(3), 400, "bad-cursor"},
		{"learner", "/v1/learners/L000123/access-log?colour=red", 400, "bad-parameter"},
		{"admin", "/v1/learners/L1.x/access-log", 404, "not-found"},
	} {
		t.Run(c.who+" "+c.path, func(t *testing.T) {
			resp, body := s.do(t, "GET", c.path, tokens[c.who], nil)
			if resp.StatusCode != c.want {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, c.want)
			}
			if c.want == 200 {
				var p accessLogPage
				if err := json.Unmarshal(body, &p); err != nil {
					t.Fatal(err)
				}
				checkAccessRecords(t, p.Records, want)
				if p.Learner != "L000123" || p.Next != "" {
					t.Errorf("learner %q, next_cursor %q", p.Learner, p.Next)
				}
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" || !strings.Contains(string(body), "problem:"+c.problem+`"`) {
				t.Errorf("%s %s, want problem %s", ct, body, c.problem)
			}
		})
	}
	// None of those reads by the learner or of refused callers was recorded.
	s.access.Flush()
	checkAccessRecords(t, s.readAccessLog(t, "/v1/learners/L000123/access-log", tokens["learner"]).Records, want)

	// An admin's and a regulator's reads of the log are themselves
	// recorded, newest first, and page by limit and cursor.
	s.readAccessLog(t, "/v1/learners/L000123/access-log", tokens["admin"])
	s.readAccessLog(t, "/v1/learners/L000123/access-log", tokens["regulator"])
	s.access.Flush()
	want = append([]accessRecordView{
		{Who: "regulator:moe", Role: "regulator", What: "access-log"},
		{Who: "admin:root", Role: "admin", What: "access-log"},
	}, want...)
	var got []accessRecordView
	path := "/v1/learners/L000123/access-log?limit=2"
	for pages := 0; ; pages++ {
		p := s.readAccessLog(t, path, tokens["learner"])
		if len(p.Records) > 2 {
			t.Fatalf("page %d: %d records, limit 2", pages, len(p.Records))
		}
		got = append(got, p.Records...)
		if p.Next == "" {
			break
		}
		path = "/v1/learners/L000123/access-log?limit=2&cursor=" + p.Next
	}
	checkAccessRecords(t, got, want)
}

// checkAccessRecords compares records with want but for their time, which
// must be RFC 3339 UTC, not after now, and newest first.
func checkAccessRecords(t *testing.T, got, want []accessRecordView) {
	t.Helper()
	var last time.Time
	for i := range got {
		when, err := time.Parse(time.RFC3339Nano, got[i].When)
		if err != nil || !strings.HasSuffix(got[i].When, "Z") || when.After(time.Now()) {
			t.Errorf("record %d: when %q", i, got[i].When)
		}
		if i > 0 && when.After(last) {
			t.Errorf("record %d (%s) is newer than the one before (%s)", i, got[i].When, got[i-1].When)
		}
		last = when
		got[i].When = ""
	}
	if !slices.Equal(got, want) {
		t.Errorf("records\n%s\nwant\n%s", fmtRecords(got), fmtRecords(want))
	}
}

func fmtRecords(rs []accessRecordView) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "  %+v\n", r)
	}
	return b.String()
}
