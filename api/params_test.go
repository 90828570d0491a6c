package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"creditbank/accreditation"
)

// paramsFixture is a server with one institution, and a token for each role.
type paramsFixture struct {
	s      *testServer
	tokens map[accreditation.Role]string
}

func newParamsFixture(t *testing.T) *paramsFixture {
	s := newTestServer(t)
	k := s.institution(t, "college.example")
	return &paramsFixture{s: s, tokens: map[accreditation.Role]string{
		accreditation.RoleAdmin:       s.token(t, "admin", "root"),
		accreditation.RoleRegulator:   s.token(t, "regulator", "moe"),
		accreditation.RoleLearner:     s.token(t, "learner", "L000123"),
		accreditation.RoleInstitution: instToken(t, k, "college.example"),
	}}
}

// call sends rt's method to its path (template variables filled in) with
// query, as the first role the route allows, and a JSON body for writes.
func (f *paramsFixture) call(t *testing.T, rt Route, query string) (int, map[string]any) {
	t.Helper()
	path := strings.NewReplacer("{id}", "college.example", "{kid}", "k1", "{seq}", "1", "{version}", "1", "{level}", "0", "{index}", "000.p/1").Replace(rt.Path)
	if strings.HasPrefix(rt.Path, "/v1/learners/") {
		path = strings.Replace(rt.Path, "{id}", "L000123", 1)
	}
	tok := ""
	if len(rt.Roles) > 0 {
		tok = f.tokens[rt.Roles[0]]
	}
	var body any
	if rt.Method == "POST" {
		body = map[string]any{}
	}
	resp, out := f.s.do(t, rt.Method, path+"?"+query, tok, body)
	var p map[string]any
	if resp.StatusCode == http.StatusBadRequest {
		if err := json.Unmarshal(out, &p); err != nil {
			t.Fatalf("%s %s: 400 that is not JSON: %s", rt.Method, path, out)
		}
	}
	return resp.StatusCode, p
}

// wantBadParameter fails unless the answer is 400 bad-parameter whose
// detail names name.
func wantBadParameter(t *testing.T, rt Route, query string, status int, p map[string]any, name string) {
	t.Helper()
	detail, _ := p["detail"].(string)
	if status != http.StatusBadRequest || p["type"] != problemBase+"bad-parameter" || !strings.Contains(detail, name) {
		t.Errorf("%s %s?%s: %d %v, want 400 bad-parameter naming %q", rt.Method, rt.Path, query, status, p, name)
	}
}

// TestQueryParametersStrict: on every route, with or without a token, a
// parameter the route does not define, one it defines given twice, and a
// query that does not parse are each 400 bad-parameter naming the
// parameter, and nothing is written.
func TestQueryParametersStrict(t *testing.T) {
	f := newParamsFixture(t)
	size := f.s.ledger.Size()
	for _, rt := range Routes {
		t.Run(rt.Name, func(t *testing.T) {
			for _, name := range []string{"colour", "dry_run", "LIMIT"} {
				q := name + "=true"
				status, p := f.call(t, rt, q)
				wantBadParameter(t, rt, q, status, p, name)
			}
			for _, name := range rt.Query {
				q := name + "=1&" + name + "=2"
				status, p := f.call(t, rt, q)
				wantBadParameter(t, rt, q, status, p, name)
			}
			for _, q := range []string{"a=%zz", "limit=1;cursor=x"} {
				status, p := f.call(t, rt, q)
				wantBadParameter(t, rt, q, status, p, "does not parse")
			}
		})
	}
	if got := f.s.ledger.Size(); got != size {
		t.Fatalf("refused requests wrote %d entries", got-size)
	}
}

// TestQueryParameterValues: malformed values of defined parameters are 400
// bad-parameter naming the parameter; an empty value is the parameter left
// out.
func TestQueryParameterValues(t *testing.T) {
	f := newParamsFixture(t)
	route := func(name string) Route {
		i := slices.IndexFunc(Routes, func(rt Route) bool { return rt.Name == name })
		if i < 0 {
			t.Fatalf("no route %s", name)
		}
		return Routes[i]
	}
	bad := []struct{ route, query, name string }{
		{"transcript", "level=six", "level"},
		{"transcript", "level=0", "level"},
		{"transcript", "level=07", "level"},
		{"transcript", "sector=kindergarten", "sector"},
		{"transcript", "status=superseded", "status"},
		{"transcript", "institution=Not%20An%20Id", "institution"},
		{"transcript", "from=2026-02-30", "from"},
		{"transcript", "to=tomorrow", "to"},
		{"transcript", "limit=1001", "limit"},
		{"balance", "limit=x", "limit"},
		{"auditConversions", "from=2026-13-01", "from"},
		{"auditConversions", "rule=Bad%20Rule", "rule"},
		{"listInstitutions", "limit=-1", "limit"},
		{"listRules", "active=yes", "active"},
		{"listRules", "target_institution=UPPER", "target_institution"},
		{"listRules", "programme=a%20b", "programme"},
		{"inclusionProof", "index=x&size=1", "index"},
	}
	for _, tc := range bad {
		rt := route(tc.route)
		status, p := f.call(t, rt, tc.query)
		wantBadParameter(t, rt, tc.query, status, p, tc.name)
	}
	for _, tc := range []struct{ route, query string }{
		{"transcript", "sector=&level=&institution=&status=&from=&to=&limit=&cursor="},
		{"listRules", "target_institution=&programme=&active=&limit=&cursor="},
		{"listInstitutions", "limit=&cursor="},
		{"auditConversions", "rule=&institution=&from=&to="},
	} {
		if status, p := f.call(t, route(tc.route), tc.query); status != http.StatusOK {
			t.Errorf("%s?%s: %d %v, want 200 as without them", tc.route, tc.query, status, p)
		}
	}
}

// TestDryRunRefused: a conversion asked with a parameter it does not define
// is refused and writes nothing, where it used to run for real.
func TestDryRunRefused(t *testing.T) {
	s := newTestServer(t)
	k := s.institution(t, "college.example")
	adm := s.token(t, "admin", "root")
	if resp, body := s.do(t, "POST", "/v1/outcomes", instToken(t, k, "college.example"), outcomeFor("L000123")); resp.StatusCode != 201 {
		t.Fatalf("post: %d %s", resp.StatusCode, body)
	}
	rule := ruleFor("r-one")
	rule["target"] = map[string]any{"institution": "college.example", "programme": "BSC-CS"}
	if resp, body := s.do(t, "POST", "/v1/rules", adm, rule); resp.StatusCode != 201 {
		t.Fatalf("rule: %d %s", resp.StatusCode, body)
	}
	size := s.ledger.Size()
	resp, body := s.do(t, "POST", "/v1/conversions?dry_run=true", adm, map[string]any{"learner": "L000123", "rule": "r-one"})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "dry_run") {
		t.Fatalf("dry run: %d %s, want 400 naming dry_run", resp.StatusCode, body)
	}
	if s.ledger.Size() != size {
		t.Fatal("the refused conversion wrote entries")
	}
}

// TestOpenAPIQueryParameters: the document declares for each operation
// exactly the query parameters its route defines, and every operation
// documents the 400 that refuses any other.
func TestOpenAPIQueryParameters(t *testing.T) {
	doc := oasDoc(t)
	for _, rt := range Routes {
		op := oasOperation(doc, rt.Method, rt.Path)
		if op == nil {
			t.Errorf("%s %s is not documented", rt.Method, rt.Path)
			continue
		}
		var declared []string
		params, _ := op["parameters"].([]any)
		for _, p := range params {
			if pm, _ := p.(map[string]any); pm["in"] == "query" {
				declared = append(declared, pm["name"].(string))
			}
		}
		if !slices.Equal(slices.Sorted(slices.Values(declared)), slices.Sorted(slices.Values(rt.Query))) {
			t.Errorf("%s %s: documents query parameters %v, the route defines %v", rt.Method, rt.Path, declared, rt.Query)
		}
		if resp, _ := op["responses"].(map[string]any); resp["400"] == nil {
			t.Errorf("%s %s documents no 400", rt.Method, rt.Path)
		}
	}
}
