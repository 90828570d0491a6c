package api

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"creditbank/accreditation"
)

// GET /v1/statistics over the real server: JSON and CSV, the filters, the
// parameters refused and who may read it.

func TestStatisticsOverHTTP(t *testing.T) {
	s := newTestServer(t)
	k := s.institution(t, "college.example")
	tok := instToken(t, k, "college.example")
	for i, sector := range []string{"non_degree", "non_degree", "vocational"} {
		o := outcomeFor("L1")
		o["sector"] = sector
		o["unit"] = map[string]any{"code": "U" + string(rune('A'+i)), "title": "Unit"}
		if resp, out := s.do(t, "POST", "/v1/outcomes", tok, o); resp.StatusCode != 201 {
			t.Fatalf("post: %d %s", resp.StatusCode, out)
		}
	}
	reg := s.token(t, "regulator", "moe")

	resp, out := s.do(t, "GET", "/v1/statistics?institution=college.example&sector=non_degree", reg, nil)
	var st accreditation.Statistics
	if resp.StatusCode != 200 || json.Unmarshal(out, &st) != nil {
		t.Fatalf("statistics: %d %s", resp.StatusCode, out)
	}
	if len(st.Rows) != 1 || st.Rows[0].OutcomesActive != 2 || st.Rows[0].Sector != "non_degree" || st.Totals.OutcomesActive != 2 {
		t.Fatalf("statistics of non_degree: %s", out)
	}

	for name, get := range map[string]func() ([]byte, string){
		"format=csv": func() ([]byte, string) {
			resp, out := s.do(t, "GET", "/v1/statistics?format=csv", reg, nil)
			return out, resp.Header.Get("Content-Type")
		},
		"Accept: text/csv": func() ([]byte, string) {
			resp, out := s.doAccept(t, "/v1/statistics", reg, "application/json;q=0.5, text/csv")
			return out, resp.Header.Get("Content-Type")
		},
	} {
		t.Run(name, func(t *testing.T) {
			out, ctype := get()
			if !strings.HasPrefix(ctype, "text/csv") {
				t.Fatalf("content type %q: %s", ctype, out)
			}
			records, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
			if err != nil || len(records) != 3 || strings.Join(records[0], ",") != strings.Join(statisticsColumns, ",") {
				t.Fatalf("CSV %q (%v)", out, err)
			}
			if r := records[1]; r[0] != "college.example" || r[1] != "non_degree" || r[4] != "2" || r[6] != "6" {
				t.Fatalf("first CSV row %v", r)
			}
		})
	}

	for _, tc := range []struct {
		query, token string
		status       int
	}{
		{"?format=xml", reg, 400},
		{"?from=2026-7", reg, 400},
		{"?from=2026-08&to=2026-07", reg, 400},
		{"?sector=magic", reg, 400},
		{"?institution=college.example&institution=univ.example", reg, 400},
		{"?limit=10", reg, 400},
		{"", instToken(t, k, "college.example"), 403},
		{"", s.token(t, "learner", "L1"), 403},
	} {
		resp, out := s.do(t, "GET", "/v1/statistics"+tc.query, tc.token, nil)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.query, resp.StatusCode, out, tc.status)
		}
	}
}

// doAccept sends a GET with an Accept header.
func (s *testServer) doAccept(t *testing.T, path, token, accept string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), "GET", s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", accept)
	return send(t, req)
}
