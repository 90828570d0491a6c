package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"creditbank/accreditation"
	"creditbank/credential"
)

// oasURL is where the compiler files the OpenAPI document; it is never
// fetched.
const oasURL = "https://creditbank.invalid/openapi.json"

// oasDoc parses the embedded OpenAPI document.
func oasDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	return doc
}

// oasOperation returns the operation object for method and path, or nil.
func oasOperation(doc map[string]any, method, path string) map[string]any {
	paths, _ := doc["paths"].(map[string]any)
	item, _ := paths[path].(map[string]any)
	op, _ := item[strings.ToLower(method)].(map[string]any)
	return op
}

var oasMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

var templateParam = regexp.MustCompile(`\{([^{}]+)\}`)

// outsideRoutes are endpoints served in front of the router, documented but
// not in Routes. There are none now; the checks stay for any that come.
var outsideRoutes []Route

// TestOpenAPIMatchesRouter checks that the document describes exactly the
// routes the router serves, with their path parameters and roles, and that
// the server publishes it byte for byte.
func TestOpenAPIMatchesRouter(t *testing.T) {
	doc := oasDoc(t)
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", doc["openapi"])
	}
	type key struct{ method, path string }
	inDoc := map[key]bool{}
	paths, _ := doc["paths"].(map[string]any)
	for p, v := range paths {
		item, _ := v.(map[string]any)
		for _, m := range oasMethods {
			if _, ok := item[m]; ok {
				inDoc[key{strings.ToUpper(m), p}] = true
			}
		}
	}
	inRoutes := map[key]bool{}
	for _, rt := range slices.Concat(Routes, outsideRoutes) {
		k := key{rt.Method, rt.Path}
		inRoutes[k] = true
		if !inDoc[k] {
			t.Errorf("route %s (%s %s) is missing from openapi.json", rt.Name, rt.Method, rt.Path)
		}
	}
	for k := range inDoc {
		if !inRoutes[k] {
			t.Errorf("openapi.json describes %s %s, which the router does not serve", k.method, k.path)
		}
	}

	schemes, _ := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)
	if b, _ := schemes["bearerAuth"].(map[string]any); b["type"] != "http" || b["scheme"] != "bearer" || b["bearerFormat"] != "JWT" {
		t.Errorf("securitySchemes.bearerAuth = %v, want an http bearer JWT scheme", schemes["bearerAuth"])
	}

	for _, rt := range slices.Concat(Routes, outsideRoutes) {
		op := oasOperation(doc, rt.Method, rt.Path)
		if op == nil {
			continue
		}
		name := rt.Method + " " + rt.Path
		if op["operationId"] != rt.Name {
			t.Errorf("%s: operationId %v, want %s", name, op["operationId"], rt.Name)
		}
		// Path parameters: every one in the template declared, none other.
		declared := map[string]bool{}
		params, _ := op["parameters"].([]any)
		for _, p := range params {
			pm, _ := p.(map[string]any)
			if pm["in"] == "path" {
				declared[pm["name"].(string)] = true
				if pm["required"] != true {
					t.Errorf("%s: path parameter %v is not required", name, pm["name"])
				}
			}
		}
		for _, m := range templateParam.FindAllStringSubmatch(rt.Path, -1) {
			if !declared[m[1]] {
				t.Errorf("%s: path parameter {%s} is not declared", name, m[1])
			}
			delete(declared, m[1])
		}
		for p := range declared {
			t.Errorf("%s: declares path parameter %s that the template lacks", name, p)
		}
		// Roles and security.
		var roles []string
		xr, ok := op["x-roles"].([]any)
		if !ok {
			t.Errorf("%s: no x-roles list", name)
		}
		for _, r := range xr {
			roles = append(roles, r.(string))
		}
		var want []string
		for _, r := range rt.Roles {
			want = append(want, string(r))
		}
		if !slices.Equal(roles, want) {
			t.Errorf("%s: x-roles %v, want %v", name, roles, want)
		}
		sec, hasSec := op["security"].([]any)
		desc, _ := op["description"].(string)
		if rt.Roles == nil {
			if !hasSec || len(sec) != 0 {
				t.Errorf("%s needs no token but its security is %v, want []", name, op["security"])
			}
		} else {
			if len(sec) != 1 || fmt.Sprint(sec[0]) != "map[bearerAuth:[]]" {
				t.Errorf("%s: security %v, want [{bearerAuth: []}]", name, op["security"])
			}
			for _, r := range want {
				if !strings.Contains(desc, r) {
					t.Errorf("%s: description does not name role %s", name, r)
				}
			}
			resp, _ := op["responses"].(map[string]any)
			for _, code := range []string{"401", "403"} {
				if _, ok := resp[code]; !ok {
					t.Errorf("%s takes a token but documents no %s", name, code)
				}
			}
		}
	}

	s := newTestServer(t)
	resp, body := s.do(t, "GET", "/openapi.json", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /openapi.json: %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET /openapi.json: content type %q", ct)
	}
	if !bytes.Equal(body, openAPIDocument) {
		t.Errorf("GET /openapi.json does not serve the embedded document")
	}
	for _, rt := range outsideRoutes {
		if resp, _ := s.do(t, rt.Method, rt.Path, "", nil); resp.StatusCode != 200 {
			t.Errorf("%s %s is documented but answers %d", rt.Method, rt.Path, resp.StatusCode)
		}
	}
	var served map[string]any
	if err := json.Unmarshal(body, &served); err != nil || served["openapi"] != "3.1.0" {
		t.Errorf("served document: openapi %v, err %v", served["openapi"], err)
	}
}

// oasChecker validates live responses against the document.
type oasChecker struct {
	s        *testServer
	doc      map[string]any
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema
	routes   map[string]Route
	seen     map[string]map[int]int // route name → status → count
}

func newOASChecker(t *testing.T, s *testServer) *oasChecker {
	t.Helper()
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(openAPIDocument))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(oasURL, raw); err != nil {
		t.Fatal(err)
	}
	ck := &oasChecker{s: s, doc: oasDoc(t), compiler: c, schemas: map[string]*jsonschema.Schema{},
		routes: map[string]Route{}, seen: map[string]map[int]int{}}
	for _, rt := range slices.Concat(Routes, outsideRoutes) {
		ck.routes[rt.Name] = rt
	}
	return ck
}

// pointerEscape escapes one JSON Pointer token (RFC 6901).
func pointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func (ck *oasChecker) schema(t *testing.T, ptr string) *jsonschema.Schema {
	t.Helper()
	if sch, ok := ck.schemas[ptr]; ok {
		return sch
	}
	frag := (&url.URL{Fragment: ptr}).EscapedFragment()
	sch, err := ck.compiler.Compile(oasURL + "#" + frag)
	if err != nil {
		t.Fatalf("compile %s: %v", ptr, err)
	}
	ck.schemas[ptr] = sch
	return sch
}

// lookup follows a JSON Pointer into the document.
func (ck *oasChecker) lookup(ptr string) any {
	var v any = ck.doc
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[tok]
	}
	return v
}

// response finds the documented response for an operation and status and
// returns it with its JSON Pointer, following a $ref into
// components/responses.
func (ck *oasChecker) response(method, path string, status int) (map[string]any, string) {
	ptr := "/paths/" + pointerEscape(path) + "/" + strings.ToLower(method) + "/responses/" + fmt.Sprint(status)
	r, _ := ck.lookup(ptr).(map[string]any)
	if r == nil {
		return nil, ""
	}
	if ref, ok := r["$ref"].(string); ok {
		ptr = strings.TrimPrefix(ref, "#")
		r, _ = ck.lookup(ptr).(map[string]any)
	}
	return r, ptr
}

// validate checks a JSON value against the schema at ptr.
func (ck *oasChecker) validate(t *testing.T, what, ptr string, data []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Errorf("%s: body is not JSON: %v: %.300s", what, err, data)
		return
	}
	if err := ck.schema(t, ptr).Validate(inst); err != nil {
		t.Errorf("%s: body does not match %s:\n%v\nbody: %.2000s", what, ptr, err, data)
	}
}

// request is one call of the story.
type request struct {
	route       string // the Routes name whose operation documents the answer; "" for an unknown path
	method      string // defaults to the route's method
	path        string
	token       string // sent as "Bearer <token>" unless auth is set
	auth        string // a raw Authorization header
	body        any    // marshalled as JSON unless []byte
	contentType string // defaults to application/json when there is a body
	want        int
	// badItems marks a batch carrying items the document does not allow,
	// which the server answers item by item: the request body is not
	// checked against the document.
	badItems bool
}

// call sends the request, checks the status, validates the response (and,
// for a success, the request body) against the document and records the
// (route, status) pair. It returns the response and its body.
func (ck *oasChecker) call(t *testing.T, r request) (*http.Response, []byte) {
	t.Helper()
	rt, known := ck.routes[r.route]
	if r.route != "" && !known {
		t.Fatalf("no route %q", r.route)
	}
	method := r.method
	if method == "" {
		method = rt.Method
	}
	var payload []byte
	if r.body != nil {
		if b, ok := r.body.([]byte); ok {
			payload = b
		} else {
			var err error
			if payload, err = json.Marshal(r.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, ck.s.URL+r.path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if payload != nil {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	switch {
	case r.auth != "":
		req.Header.Set("Authorization", r.auth)
	case r.token != "":
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, r.path, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	what := fmt.Sprintf("%s %s → %d", method, r.path, resp.StatusCode)
	if resp.StatusCode != r.want {
		t.Errorf("%s %s: status %d, want %d: %.500s", method, r.path, resp.StatusCode, r.want, body)
	}

	if r.route == "" {
		// No operation matches an unknown path: it answers the shared 404.
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: an unknown path must answer 404", what)
			return resp, body
		}
		ck.checkContent(t, what, resp, body, ck.lookup("/components/responses/NotFound").(map[string]any), "/components/responses/NotFound")
		return resp, body
	}
	if m := ck.seen[r.route]; m == nil {
		ck.seen[r.route] = map[int]int{}
	}
	ck.seen[r.route][resp.StatusCode]++

	if !templateMatches(rt.Path, strings.SplitN(r.path, "?", 2)[0]) {
		t.Errorf("%s: path does not match the template %s of route %s", what, rt.Path, rt.Name)
	}
	doc, ptr := ck.response(rt.Method, rt.Path, resp.StatusCode)
	if doc == nil {
		t.Errorf("%s: status %d is not documented for %s %s", what, resp.StatusCode, rt.Method, rt.Path)
		return resp, body
	}
	ck.checkContent(t, what, resp, body, doc, ptr)

	// A request the server accepted must be one the document allows.
	if resp.StatusCode < 300 && payload != nil && method == rt.Method && !r.badItems {
		mt := "application/json"
		if r.contentType != "" {
			mt, _, _ = mime.ParseMediaType(r.contentType)
		}
		rbPtr := "/paths/" + pointerEscape(rt.Path) + "/" + strings.ToLower(rt.Method) + "/requestBody/content/" + pointerEscape(mt) + "/schema"
		switch {
		case ck.lookup(rbPtr) == nil:
			t.Errorf("%s: the server accepted a body (%s) the document does not describe", what, mt)
		case mt == "application/json":
			ck.validate(t, what+" (request body)", rbPtr, payload)
		}
	}
	return resp, body
}

// checkContent checks the response's headers, content type and body
// against the documented response object at ptr.
func (ck *oasChecker) checkContent(t *testing.T, what string, resp *http.Response, body []byte, doc map[string]any, ptr string) {
	t.Helper()
	if hs, ok := doc["headers"].(map[string]any); ok {
		for name, h := range hs {
			if hm, _ := h.(map[string]any); hm["required"] == true && resp.Header.Get(name) == "" {
				t.Errorf("%s: no %s header", what, name)
			}
		}
	}
	content, _ := doc["content"].(map[string]any)
	if len(content) == 0 {
		if len(body) != 0 {
			t.Errorf("%s: documented without a body but sent %q", what, body)
		}
		return
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Errorf("%s: content type %q: %v", what, resp.Header.Get("Content-Type"), err)
		return
	}
	if _, ok := content[mt]; !ok {
		t.Errorf("%s: content type %s is not documented (%v)", what, mt, slices.Sorted(mapKeys(content)))
		return
	}
	if mt == "text/plain" || mt == "text/csv" || mt == "application/octet-stream" || mt == "application/openmetrics-text" || mt == "text/html" || mt == "application/pdf" || mt == credential.MediaType {
		if len(body) == 0 {
			t.Errorf("%s: empty text body", what)
		}
		return
	}
	ck.validate(t, what, ptr+"/content/"+pointerEscape(mt)+"/schema", body)
}

func mapKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// templateMatches reports whether a concrete path fits a path template.
func templateMatches(template, path string) bool {
	parts := templateParam.Split(template, -1)
	names := templateParam.FindAllStringSubmatch(template, -1)
	re := "^"
	for i := range parts {
		re += regexp.QuoteMeta(parts[i])
		if i < len(names) {
			// A tile's index spans path segments (C2SP tlog-tiles).
			if names[i][1] == "index" {
				re += ".+"
			} else {
				re += "[^/]+"
			}
		}
	}
	return regexp.MustCompile(re + "$").MatchString(path)
}

// TestOpenAPIResponsesMatchSchemas drives a live server through every route
// and validates every JSON response against the schema the document gives
// for its operation and status.
func TestOpenAPIResponsesMatchSchemas(t *testing.T) {
	start := time.Now()
	s := newTestServer(t)
	ck := newOASChecker(t, s)
	adm := s.token(t, "admin", "root")
	reg := s.token(t, "regulator", "moe")
	learner := s.token(t, "learner", "L000123")
	other := s.token(t, "learner", "L000999")
	today := time.Now().UTC()
	completed := today.AddDate(0, 0, -30).Format("2006-01-02")

	// --- no token needed
	ck.call(t, request{route: "healthz", path: "/healthz", want: 200})
	ck.call(t, request{route: "metrics", path: "/metrics", want: 200})
	ck.call(t, request{route: "readyz", path: "/readyz", want: 200})
	ck.call(t, request{route: "openapi", path: "/openapi.json", want: 200})
	ck.call(t, request{route: "jwks", path: "/.well-known/jwks.json", want: 200})

	// --- institutions
	newKey := func() (PrivateKey, accreditation.PublicJWK) {
		k, err := GenerateKey("EdDSA")
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := k.Public()
		return k, pub
	}
	ck1, cpub := newKey()
	uk, upub := newKey()
	ck.call(t, request{route: "registerInstitution", path: "/v1/institutions", token: adm, want: 201,
		body: map[string]any{"id": "college.example", "name": "A College", "kind": "vocational_college", "keys": []any{cpub}}})
	ecKey, err := GenerateKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	ecPub, _ := ecKey.Public()
	ck.call(t, request{route: "registerInstitution", path: "/v1/institutions", token: adm, want: 201,
		body: map[string]any{"id": "univ.example", "name": "A University", "kind": "university", "keys": []any{upub, ecPub}}})
	ck.call(t, request{route: "registerInstitution", path: "/v1/institutions", token: adm, want: 409,
		body: map[string]any{"id": "univ.example", "name": "Again", "kind": "university", "keys": []any{upub}}})
	ck.call(t, request{route: "registerInstitution", path: "/v1/institutions", token: adm, want: 422,
		body: map[string]any{"id": "X", "name": "Bad id", "kind": "university", "keys": []any{upub}}})
	ck.call(t, request{route: "registerInstitution", path: "/v1/institutions", token: adm, want: 400,
		body: []byte(`{"id":"a.example","colour":"red"}`)})
	ck.call(t, request{route: "registerInstitution", path: "/v1/institutions", token: adm, want: 415,
		body: []byte(`{}`), contentType: "text/plain"})
	ck.call(t, request{route: "registerInstitution", path: "/v1/institutions", token: adm, want: 413,
		body: append(append([]byte(`{"name":"`), bytes.Repeat([]byte("a"), 64<<10)...), `"}`...)})
	ck.call(t, request{route: "registerInstitution", path: "/v1/institutions", token: learner, want: 403, body: []byte(`{}`)})
	ck.call(t, request{route: "registerInstitution", path: "/v1/institutions", want: 401, body: []byte(`{}`)})
	resp, _ := ck.call(t, request{route: "registerInstitution", path: "/v1/institutions", auth: "Bearer not.a.token", want: 401, body: []byte(`{}`)})
	if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("bad token: WWW-Authenticate %q lacks error=\"invalid_token\"", got)
	}

	ck.call(t, request{route: "getInstitution", path: "/v1/institutions/college.example", token: learner, want: 200})
	ck.call(t, request{route: "getInstitution", path: "/v1/institutions/nowhere.example", token: adm, want: 404})
	ck.call(t, request{route: "getInstitution", path: "/v1/institutions/college.example", want: 401})

	_, extraPub := newKey()
	ck.call(t, request{route: "addKey", path: "/v1/institutions/college.example/keys", token: adm, body: extraPub, want: 201})
	ck.call(t, request{route: "addKey", path: "/v1/institutions/college.example/keys", token: adm, body: extraPub, want: 409})
	ck.call(t, request{route: "addKey", path: "/v1/institutions/nowhere.example/keys", token: adm, body: extraPub, want: 404})
	ck.call(t, request{route: "addKey", path: "/v1/institutions/college.example/keys", token: adm, want: 400,
		body: map[string]any{"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "kid": "k1", "d": "secret"}})
	ck.call(t, request{route: "addKey", path: "/v1/institutions/college.example/keys", token: reg, body: extraPub, want: 403})
	ck.call(t, request{route: "removeKey", path: "/v1/institutions/college.example/keys/" + extraPub.Kid, token: adm, want: 204})
	ck.call(t, request{route: "removeKey", path: "/v1/institutions/college.example/keys/" + extraPub.Kid, token: adm, want: 404})
	ck.call(t, request{route: "removeKey", path: "/v1/institutions/college.example/keys/" + cpub.Kid, token: reg, want: 403})
	ck.call(t, request{route: "removeKey", path: "/v1/institutions/college.example/keys/" + cpub.Kid, token: adm, want: 409})

	ck.call(t, request{route: "accredit", path: "/v1/institutions/college.example/accreditations", token: reg, want: 422,
		body: map[string]any{"sectors": []string{"non_degree", "vocational"}, "max_level": 7, "valid_from": "2000-01-01", "valid_until": "2099-12-31"}})
	ck.call(t, request{route: "accredit", path: "/v1/institutions/college.example/accreditations", token: reg, want: 201,
		body: map[string]any{"sectors": []string{"non_degree", "vocational"}, "max_level": 6, "valid_from": "2000-01-01", "valid_until": "2099-12-31"}})
	ck.call(t, request{route: "accredit", path: "/v1/institutions/college.example/accreditations", token: reg, want: 201,
		body: map[string]any{"sectors": []string{"certificate"}, "max_level": 7, "valid_from": "2000-01-01", "valid_until": "2099-12-31",
			"override_reason": "joint certificate with univ.example"}})
	ck.call(t, request{route: "accredit", path: "/v1/institutions/univ.example/accreditations", token: adm, want: 201,
		body: map[string]any{"sectors": []string{"degree"}, "max_level": 8, "valid_from": "2000-01-01", "valid_until": "2099-12-31"}})
	ck.call(t, request{route: "accredit", path: "/v1/institutions/nowhere.example/accreditations", token: adm, want: 404,
		body: map[string]any{"sectors": []string{"degree"}, "max_level": 8, "valid_from": "2000-01-01", "valid_until": "2099-12-31"}})
	ck.call(t, request{route: "accredit", path: "/v1/institutions/univ.example/accreditations", token: adm, want: 422,
		body: map[string]any{"sectors": []string{"degree"}, "max_level": 11, "valid_from": "2000-01-01", "valid_until": "2099-12-31"}})
	ck.call(t, request{route: "accredit", path: "/v1/institutions/univ.example/accreditations", token: learner, want: 403, body: []byte(`{}`)})
	_, extraBody := ck.call(t, request{route: "accredit", path: "/v1/institutions/univ.example/accreditations", token: adm, want: 201,
		body: map[string]any{"sectors": []string{"elderly"}, "max_level": 3, "valid_from": "2000-01-01", "valid_until": "2099-12-31"}})
	var extra struct{ Seq uint64 }
	if err := json.Unmarshal(extraBody, &extra); err != nil {
		t.Fatal(err)
	}
	withdrawal := fmt.Sprintf("/v1/institutions/univ.example/accreditations/%d/withdrawal", extra.Seq)
	ck.call(t, request{route: "withdrawAccreditation", path: withdrawal, token: reg, body: map[string]any{"reason": "programme closed"}, want: 201})
	ck.call(t, request{route: "withdrawAccreditation", path: withdrawal, token: adm, body: map[string]any{"reason": "again"}, want: 409})
	ck.call(t, request{route: "withdrawAccreditation", path: "/v1/institutions/univ.example/accreditations/999999/withdrawal", token: adm,
		body: map[string]any{"reason": "x"}, want: 404})
	ck.call(t, request{route: "withdrawAccreditation", path: withdrawal, token: adm, body: map[string]any{}, want: 400})
	ck.call(t, request{route: "withdrawAccreditation", path: withdrawal, token: adm, body: map[string]any{"reason": ""}, want: 422})
	ck.call(t, request{route: "withdrawAccreditation", path: withdrawal, token: learner, body: map[string]any{"reason": "x"}, want: 403})

	college := instToken(t, ck1, "college.example")
	univ := instToken(t, uk, "univ.example")
	ck.call(t, request{route: "suspend", path: "/v1/institutions/college.example/suspension", token: reg, body: map[string]any{"reason": "audit pending"}, want: 201})
	ck.call(t, request{route: "suspend", path: "/v1/institutions/college.example/suspension", token: adm, body: map[string]any{"reason": "again"}, want: 409})
	ck.call(t, request{route: "suspend", path: "/v1/institutions/univ.example/suspension", token: adm, body: map[string]any{"reason": ""}, want: 422})
	ck.call(t, request{route: "suspend", path: "/v1/institutions/nowhere.example/suspension", token: adm, body: map[string]any{"reason": "x"}, want: 404})
	ck.call(t, request{route: "suspend", path: "/v1/institutions/univ.example/suspension", token: univ, body: map[string]any{"reason": "x"}, want: 403})
	ck.call(t, request{route: "getInstitution", path: "/v1/institutions/college.example", token: reg, want: 200})
	// A suspended institution's tokens are refused at once.
	outcome := func(key, learner, sector string, level int, score string) map[string]any {
		return map[string]any{
			"idempotency_key": key, "learner": learner,
			"unit":   map[string]any{"code": "CS101-" + key, "title": "Introduction to Programming"},
			"sector": sector, "level": level, "field": "0613",
			"credits": map[string]any{"amount": "3", "system": "cn-credit"}, "hours": 48,
			"result": map[string]any{"passed": true, "score": score}, "completed_on": completed,
			"evidence_sha256": strings.Repeat("ab", 32),
		}
	}
	ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: college, body: outcome("k-0", "L000123", "non_degree", 6, "86"), want: 401})
	ck.call(t, request{route: "reinstate", path: "/v1/institutions/college.example/suspension", token: adm, body: map[string]any{"reason": "audit closed"}, want: 200})
	ck.call(t, request{route: "reinstate", path: "/v1/institutions/college.example/suspension", token: reg, want: 409})
	ck.call(t, request{route: "reinstate", path: "/v1/institutions/nowhere.example/suspension", token: reg, want: 404})
	ck.call(t, request{route: "reinstate", path: "/v1/institutions/college.example/suspension", token: learner, want: 403})
	college = instToken(t, ck1, "college.example")

	// --- outcomes
	seqOf := func(body []byte) uint64 {
		var v struct {
			Seq uint64 `json:"seq"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("no seq in %s", body)
		}
		return v.Seq
	}
	_, body := ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: college, body: outcome("k-1", "L000123", "non_degree", 6, "86"), want: 201})
	first := seqOf(body)
	ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: college, body: outcome("k-1", "L000123", "non_degree", 6, "86"), want: 200})
	ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: college, body: outcome("k-1", "L000123", "non_degree", 6, "90"), want: 409})
	// --- credentials (docs/contract.md section 10)
	_, cb := ck.call(t, request{route: "issueCredential", path: "/v1/learners/L000123/credentials", token: learner, body: map[string]any{"kind": "transcript"}, want: 201})
	var issued struct {
		Credential string `json:"credential"`
	}
	if err := json.Unmarshal(cb, &issued); err != nil {
		t.Fatal(err)
	}
	ck.call(t, request{route: "issueCredential", path: "/v1/learners/L000123/credentials", token: other, body: map[string]any{"kind": "transcript"}, want: 403})
	ck.call(t, request{route: "issueCredential", path: "/v1/learners/L000123/credentials", token: learner, body: map[string]any{"kind": "award"}, want: 422})
	ck.call(t, request{route: "issueCredential", path: "/v1/learners/L000123/credentials", token: learner, body: []byte(`{"kind":"outcome","colour":1}`), want: 400})
	ck.call(t, request{route: "verifyCredential", path: "/v1/verify", body: map[string]any{"credential": issued.Credential}, want: 200})
	ck.call(t, request{route: "verifyCredential", path: "/v1/verify", body: map[string]any{"credential": "not.a.jwt"}, want: 200})
	ck.call(t, request{route: "verifyCredential", path: "/v1/verify", body: []byte(`{}`), want: 400})
	ck.call(t, request{route: "statusList", path: "/v1/status/1", want: 200})
	ck.call(t, request{route: "statusList", path: "/v1/status/9", want: 404})
	ck.call(t, request{route: "verifyPage", path: "/verify?credential=" + url.QueryEscape(issued.Credential), want: 200})
	ck.call(t, request{route: "verifyPage", path: "/verify", want: 200})
	pdfResp, _ := ck.call(t, request{route: "transcriptPDF", path: "/v1/learners/L000123/transcript.pdf", token: learner, want: 200})
	ck.call(t, request{route: "transcriptPDF", path: "/v1/learners/L000123/transcript.pdf", token: other, want: 403})
	linked := strings.TrimPrefix(strings.SplitN(pdfResp.Header.Get("Link"), ">", 2)[0], "<"+s.URL)
	ck.call(t, request{route: "getCredential", path: linked, want: 200})
	ck.call(t, request{route: "getCredential", path: "/v1/credentials/1-AAAAAAAAAAAAAAAAAAAAAA", want: 404})
	ck.call(t, request{route: "verifyPage", path: "/verify?id=" + path.Base(linked), want: 200})
	ck.call(t, request{route: "verifyPage", path: "/verify?id=1-AAAAAAAAAAAAAAAAAAAAAA", want: 404})
	ck.call(t, request{route: "didDocument", path: "/.well-known/did.json", want: 404}) // an http issuer URL
	ck.call(t, request{route: "verifyUpload", path: "/verify", body: []byte(issued.Credential), contentType: credential.MediaType, want: 200})
	ck.call(t, request{route: "verifyUpload", path: "/verify", body: []byte(`{}`), want: 415})
	ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: college, body: outcome("k-x", "L000123", "degree", 6, "86"), want: 422})
	ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: college, body: outcome("k-x", "L000123", "non_degree", 8, "86"), want: 422})
	ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: college, body: []byte(`[1,2]`), want: 400})
	ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: college, body: []byte(`{}`), contentType: "application/xml", want: 415})
	ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: reg, body: outcome("k-2", "L000123", "non_degree", 6, "86"), want: 403})
	supersedes := outcome("k-s", "L000123", "non_degree", 6, "86")
	supersedes["supersedes"] = 999999
	ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: college, body: supersedes, want: 404})
	// Over 16 MiB.
	huge := make([]byte, 0, 16<<20+64)
	huge = append(huge, `{"outcomes":[`...)
	huge = append(huge, bytes.Repeat([]byte(" "), 16<<20)...)
	huge = append(huge, `]}`...)
	ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: college, body: huge, want: 413})

	failed := outcome("k-f", "L000123", "vocational", 5, "40")
	failed["result"] = map[string]any{"passed": false, "score": "40"}
	delete(failed, "hours")
	failed["credits"] = map[string]any{"amount": "7.5", "system": "ects"}
	_, body = ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: college, want: 200, badItems: true, body: map[string]any{"outcomes": []any{
		outcome("k-2", "L000123", "non_degree", 6, "75"),
		outcome("k-1", "L000123", "non_degree", 6, "86"), // duplicate
		outcome("k-3", "L000123", "non_degree", 6, "70"),
		map[string]any{"idempotency_key": "k-bad", "colour": "red"}, // rejected: unknown member
		outcome("k-4", "L000123", "degree", 6, "70"),                // rejected: not accredited
		failed,
		outcome("k-5", "L000777", "vocational", 5, "99"),
	}}})
	var batch struct {
		Results []struct {
			Status string  `json:"status"`
			Seq    *uint64 `json:"seq"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &batch); err != nil || len(batch.Results) != 7 {
		t.Fatalf("batch: %s", body)
	}
	wantStatus := []string{"created", "duplicate", "created", "rejected", "rejected", "created", "created"}
	for i, r := range batch.Results {
		if r.Status != wantStatus[i] {
			t.Errorf("batch item %d: %s, want %s", i, r.Status, wantStatus[i])
		}
	}
	second, third := *batch.Results[0].Seq, *batch.Results[2].Seq
	ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: college, body: map[string]any{"outcomes": []any{}}, want: 422})
	// A correction.
	corr := outcome("k-6", "L000123", "non_degree", 6, "80")
	corr["supersedes"] = third
	_, body = ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: college, body: corr, want: 201})
	corrected := seqOf(body)
	ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: univ, want: 201,
		body: outcome("u-1", "L000123", "degree", 6, "88")})

	// --- rules
	rule := func(id, target string, cap any) map[string]any {
		return map[string]any{"id": id, "target": map[string]any{"institution": target, "programme": "BSC-CS"},
			"source": map[string]any{"sectors": []string{"non_degree", "vocational"}, "min_level": 5, "fields": []string{"06"},
				"min_score": "60", "max_age_days": 1825, "institutions": []string{}},
			"ratio": "0.5", "cap": cap, "valid_from": "2020-01-01", "valid_until": nil}
	}
	ck.call(t, request{route: "publishRule", path: "/v1/rules", token: reg, body: rule("nd-cs-to-bsc", "univ.example", "20"), want: 201})
	ck.call(t, request{route: "publishRule", path: "/v1/rules", token: adm, body: rule("nd-cs-to-bsc", "univ.example", "2"), want: 201})
	openRule := rule("open-rule", "univ.example", nil)
	openRule["source"] = map[string]any{"sectors": []string{"vocational"}, "min_level": 0, "fields": []string{},
		"min_score": nil, "max_age_days": nil, "institutions": []string{}}
	openRule["valid_until"] = "2099-12-31"
	ck.call(t, request{route: "publishRule", path: "/v1/rules", token: adm, body: openRule, want: 201})
	ck.call(t, request{route: "publishRule", path: "/v1/rules", token: adm, body: rule("retire-me", "univ.example", "5"), want: 201})
	ck.call(t, request{route: "publishRule", path: "/v1/rules", token: adm, body: rule("bad-target", "nowhere.example", "5"), want: 422})
	badRatio := rule("bad-ratio", "univ.example", "5")
	badRatio["ratio"] = 0.5
	ck.call(t, request{route: "publishRule", path: "/v1/rules", token: adm, body: badRatio, want: 400})
	ck.call(t, request{route: "publishRule", path: "/v1/rules", token: college, body: rule("x-rule", "univ.example", "5"), want: 403})
	noCap := rule("no-cap", "univ.example", nil)
	delete(noCap, "cap")
	ck.call(t, request{route: "publishRule", path: "/v1/rules", token: adm, body: noCap, want: 400})
	retire := map[string]any{"reason": "replaced by a new agreement"}
	ck.call(t, request{route: "retireRule", path: "/v1/rules/retire-me/retirement", token: reg, body: retire, want: 201})
	ck.call(t, request{route: "retireRule", path: "/v1/rules/retire-me/retirement", token: adm, body: retire, want: 409})
	ck.call(t, request{route: "retireRule", path: "/v1/rules/retire-me/retirement", token: adm, body: map[string]any{}, want: 400})
	ck.call(t, request{route: "retireRule", path: "/v1/rules/retire-me/retirement", token: adm, body: map[string]any{"reason": ""}, want: 422})
	ck.call(t, request{route: "retireRule", path: "/v1/rules/no-such-rule/retirement", token: adm, body: retire, want: 404})
	ck.call(t, request{route: "retireRule", path: "/v1/rules/nd-cs-to-bsc/retirement", token: learner, body: retire, want: 403})
	ck.call(t, request{route: "publishRule", path: "/v1/rules", token: adm, body: rule("retire-me", "univ.example", "5"), want: 409})
	reinstate := rule("retire-me", "univ.example", "5")
	reinstate["reinstate"] = true
	ck.call(t, request{route: "publishRule", path: "/v1/rules", token: adm, body: reinstate, want: 201})
	ck.call(t, request{route: "retireRule", path: "/v1/rules/retire-me/retirement", token: adm, body: retire, want: 201})
	ck.call(t, request{route: "getRule", path: "/v1/rules/nd-cs-to-bsc", token: learner, want: 200})
	ck.call(t, request{route: "getRule", path: "/v1/rules/retire-me", token: college, want: 200})
	ck.call(t, request{route: "getRule", path: "/v1/rules/open-rule", token: reg, want: 200})
	ck.call(t, request{route: "getRule", path: "/v1/rules/no-such-rule", token: adm, want: 404})
	ck.call(t, request{route: "getRuleVersion", path: "/v1/rules/nd-cs-to-bsc/versions/1", token: univ, want: 200})
	ck.call(t, request{route: "getRuleVersion", path: "/v1/rules/nd-cs-to-bsc/versions/9", token: adm, want: 404})
	ck.call(t, request{route: "getRuleVersion", path: "/v1/rules/nd-cs-to-bsc/versions/01", token: adm, want: 404})

	// --- equivalent units
	group := map[string]any{"id": "intro-programming", "units": []any{
		map[string]any{"institution": "college.example", "code": "CS101-k-1"},
		map[string]any{"institution": "univ.example", "code": "CS-INTRO"}},
		"valid_from": "2020-01-01", "valid_until": "2099-12-31"}
	ck.call(t, request{route: "publishEquivalence", path: "/v1/equivalences", token: reg, body: group, want: 201})
	ck.call(t, request{route: "publishEquivalence", path: "/v1/equivalences", token: learner, body: group, want: 403})
	ck.call(t, request{route: "getEquivalence", path: "/v1/equivalences/intro-programming", token: college, want: 200})
	ck.call(t, request{route: "getEquivalence", path: "/v1/equivalences/none-such", token: adm, want: 404})

	// --- conversions
	ck.call(t, request{route: "previewConversion", path: "/v1/conversions/preview", token: learner, want: 200,
		body: map[string]any{"learner": "L000123", "rule": "nd-cs-to-bsc", "outcomes": []uint64{first, 999999}}})
	ck.call(t, request{route: "previewConversion", path: "/v1/conversions/preview", token: other, want: 403,
		body: map[string]any{"learner": "L000123", "rule": "nd-cs-to-bsc"}})
	ck.call(t, request{route: "previewConversion", path: "/v1/conversions/preview", token: adm, want: 404,
		body: map[string]any{"learner": "L000123", "rule": "no-such-rule"}})
	ck.call(t, request{route: "previewConversion", path: "/v1/conversions/preview", token: adm, want: 422,
		body: map[string]any{"learner": "L000123", "rule": "retire-me"}})
	ck.call(t, request{route: "convert", path: "/v1/conversions", token: learner, want: 201,
		body: map[string]any{"learner": "L000123", "rule": "nd-cs-to-bsc", "outcomes": []uint64{first}}})
	ck.call(t, request{route: "convert", path: "/v1/conversions", token: adm, want: 201, // capped at 2
		body: map[string]any{"learner": "L000123", "rule": "nd-cs-to-bsc"}})
	_, body = ck.call(t, request{route: "convert", path: "/v1/conversions", token: learner, want: 422,
		body: map[string]any{"learner": "L000123", "rule": "nd-cs-to-bsc", "outcomes": []uint64{first, 999999}}})
	if !bytes.Contains(body, []byte(`"reasons"`)) {
		t.Errorf("not-eligible problem without reasons: %s", body)
	}
	ck.call(t, request{route: "convert", path: "/v1/conversions", token: adm, want: 201,
		body: map[string]any{"learner": "L000777", "rule": "open-rule"}})
	ck.call(t, request{route: "convert", path: "/v1/conversions", token: univ, want: 403, // the learner decides
		body: map[string]any{"learner": "L000777", "rule": "open-rule"}})
	ck.call(t, request{route: "convert", path: "/v1/conversions", token: learner, want: 422,
		body: map[string]any{"learner": "L000123", "rule": "retire-me"}})
	ck.call(t, request{route: "convert", path: "/v1/conversions", token: college, want: 403,
		body: map[string]any{"learner": "L000123", "rule": "nd-cs-to-bsc"}})
	ck.call(t, request{route: "convert", path: "/v1/conversions", token: other, want: 403,
		body: map[string]any{"learner": "L000123", "rule": "nd-cs-to-bsc"}})
	ck.call(t, request{route: "convert", path: "/v1/conversions", token: reg, want: 403,
		body: map[string]any{"learner": "L000123", "rule": "nd-cs-to-bsc"}})
	ck.call(t, request{route: "convert", path: "/v1/conversions", token: learner, want: 404,
		body: map[string]any{"learner": "L000123", "rule": "no-such-rule"}})
	ck.call(t, request{route: "convert", path: "/v1/conversions", token: learner, want: 400,
		body: map[string]any{"learner": "L000123", "rule": "nd-cs-to-bsc", "outcomes": []string{"one"}}})

	// --- revocations
	_, body = ck.call(t, request{route: "revokeOutcome", path: fmt.Sprintf("/v1/outcomes/%d/revocation", first), token: college,
		body: map[string]any{"reason": "entered in error"}, want: 201})
	var rev struct {
		Reversals []uint64 `json:"reversals"`
	}
	if err := json.Unmarshal(body, &rev); err != nil || len(rev.Reversals) != 1 {
		t.Errorf("revocation of a converted outcome: %s", body)
	}
	ck.call(t, request{route: "revokeOutcome", path: fmt.Sprintf("/v1/outcomes/%d/revocation", first), token: reg,
		body: map[string]any{"reason": "again"}, want: 409})
	ck.call(t, request{route: "revokeOutcome", path: fmt.Sprintf("/v1/outcomes/%d/revocation", second), token: reg,
		body: map[string]any{"reason": "fraud"}, want: 201})
	ck.call(t, request{route: "revokeOutcome", path: fmt.Sprintf("/v1/outcomes/%d/revocation", corrected), token: univ,
		body: map[string]any{"reason": "not ours"}, want: 403})
	ck.call(t, request{route: "revokeOutcome", path: fmt.Sprintf("/v1/outcomes/%d/revocation", corrected), token: adm,
		body: map[string]any{"reason": "admin"}, want: 403})
	ck.call(t, request{route: "revokeOutcome", path: "/v1/outcomes/999999/revocation", token: reg,
		body: map[string]any{"reason": "x"}, want: 404})
	ck.call(t, request{route: "revokeOutcome", path: "/v1/outcomes/abc/revocation", token: reg,
		body: map[string]any{"reason": "x"}, want: 404})
	ck.call(t, request{route: "revokeOutcome", path: fmt.Sprintf("/v1/outcomes/%d/revocation", corrected), token: college,
		body: map[string]any{"reason": ""}, want: 422})
	ck.call(t, request{route: "revokeOutcome", path: fmt.Sprintf("/v1/outcomes/%d/revocation", corrected), token: college,
		body: []byte(`{"reason":"a","reason":"b"}`), want: 400})

	// --- grants (section 7): the college reads L000123's and L000777's
	// records below under their grants; univ holds none.
	expires := today.AddDate(0, 0, 90).Format("2006-01-02")
	grant := func(inst string) map[string]any {
		return map[string]any{"institution": inst, "purpose": "admission to the BSc", "expires_on": expires}
	}
	learner777 := s.token(t, "learner", "L000777")
	ck.call(t, request{route: "createGrant", path: "/v1/learners/L000123/grants", token: learner, body: grant("college.example"), want: 201})
	ck.call(t, request{route: "createGrant", path: "/v1/learners/L000777/grants", token: learner777, body: grant("college.example"), want: 201})
	ck.call(t, request{route: "createGrant", path: "/v1/learners/L000123/grants", token: learner, body: grant("college.example"), want: 409})
	ck.call(t, request{route: "createGrant", path: "/v1/learners/L000123/grants", token: learner, body: grant("nowhere.example"), want: 422})
	ck.call(t, request{route: "createGrant", path: "/v1/learners/L000123/grants", token: learner, want: 400,
		body: map[string]any{"institution": "univ.example", "purpose": "x", "expires_on": expires, "name": "Ann"}})
	ck.call(t, request{route: "createGrant", path: "/v1/learners/L000123/grants", token: other, body: grant("univ.example"), want: 403})
	ck.call(t, request{route: "createGrant", path: "/v1/learners/L000123/grants", token: adm, body: grant("univ.example"), want: 403})
	_, body = ck.call(t, request{route: "createGrant", path: "/v1/learners/L000123/grants", token: learner, body: grant("univ.example"), want: 201})
	var univGrant struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &univGrant); err != nil || univGrant.ID == "" {
		t.Fatalf("grant without id: %s", body)
	}
	ck.call(t, request{route: "withdrawGrant", path: "/v1/learners/L000123/grants/" + univGrant.ID, token: other, want: 403})
	ck.call(t, request{route: "withdrawGrant", path: "/v1/learners/L000123/grants/" + univGrant.ID, token: learner, want: 204})
	ck.call(t, request{route: "withdrawGrant", path: "/v1/learners/L000123/grants/" + univGrant.ID, token: learner, want: 409})
	ck.call(t, request{route: "withdrawGrant", path: "/v1/learners/L000123/grants/g999999", token: learner, want: 404})
	ck.call(t, request{route: "withdrawGrant", path: "/v1/learners/L000123/grants/x1", token: learner, want: 404})
	ck.call(t, request{route: "listGrants", path: "/v1/learners/L000123/grants", token: learner, want: 200})
	ck.call(t, request{route: "listGrants", path: "/v1/learners/L000123/grants?limit=1", token: reg, want: 200})
	ck.call(t, request{route: "listGrants", path: "/v1/learners/L000123/grants", token: other, want: 403})
	ck.call(t, request{route: "listGrants", path: "/v1/learners/L000123/grants", token: college, want: 403})
	ck.call(t, request{route: "listGrants", path: "/v1/learners/L000123/grants?cursor=nonsense", token: adm, want: 400})
	ck.call(t, request{route: "institutionOutcomes", path: "/v1/institutions/univ.example/outcomes?learner=L000123", token: univ, want: 200})
	ck.call(t, request{route: "institutionOutcomes", path: "/v1/institutions/college.example/outcomes?learner=l000123&limit=2", token: reg, want: 200})
	ck.call(t, request{route: "institutionOutcomes", path: "/v1/institutions/college.example/outcomes?learner=L000123", token: univ, want: 403})
	ck.call(t, request{route: "institutionOutcomes", path: "/v1/institutions/univ.example/outcomes", token: univ, want: 400})
	ck.call(t, request{route: "institutionOutcomes", path: "/v1/institutions/nowhere.example/outcomes?learner=L000123", token: adm, want: 404})
	ck.call(t, request{route: "institutionOutcomes", path: "/v1/institutions/univ.example/outcomes?learner=L000123", token: learner, want: 403})

	// --- learners
	ck.call(t, request{route: "transcript", path: "/v1/learners/L000123/transcript", token: learner, want: 200})
	_, body = ck.call(t, request{route: "transcript", path: "/v1/learners/L000123/transcript?limit=2", token: college, want: 200})
	var page struct {
		NextCursor string `json:"next_cursor"`
	}
	if err := json.Unmarshal(body, &page); err != nil || page.NextCursor == "" {
		t.Errorf("first page of 2 has no next_cursor: %s", body)
	}
	ck.call(t, request{route: "transcript", path: "/v1/learners/L000123/transcript?limit=2&cursor=" + url.QueryEscape(page.NextCursor), token: reg, want: 200})
	ck.call(t, request{route: "transcript", path: "/v1/learners/L000777/transcript", token: adm, want: 200})
	ck.call(t, request{route: "transcript", path: "/v1/learners/L000123/transcript", token: other, want: 403})
	ck.call(t, request{route: "transcript", path: "/v1/learners/L000999/transcript", token: univ, want: 403})
	ck.call(t, request{route: "transcript", path: "/v1/learners/L000123/transcript?limit=0", token: adm, want: 400})
	ck.call(t, request{route: "transcript", path: "/v1/learners/-bad/transcript", token: adm, want: 404})
	ck.call(t, request{route: "transcript", path: "/v1/learners/L000123/transcript?cursor=nonsense", token: adm, want: 400})
	_, body = ck.call(t, request{route: "transcript", path: "/v1/learners/L000123/transcript?status=revoked&sector=non_degree&level=6&institution=college.example&from=2000-01-01&to=2099-12-31&limit=1", token: reg, want: 200})
	if err := json.Unmarshal(body, &page); err != nil || page.NextCursor == "" {
		t.Errorf("first filtered page of 1 has no next_cursor: %s", body)
	}
	ck.call(t, request{route: "transcript", path: "/v1/learners/L000123/transcript?limit=1&cursor=" + url.QueryEscape(page.NextCursor), token: reg, want: 200})
	ck.call(t, request{route: "transcript", path: "/v1/learners/L000123/transcript?status=active&cursor=" + url.QueryEscape(page.NextCursor), token: reg, want: 400})
	ck.call(t, request{route: "transcript", path: "/v1/learners/L000123/transcript?level=six", token: reg, want: 400})
	ck.call(t, request{route: "transcript", path: "/v1/learners/L000123/transcript?colour=blue", token: reg, want: 400})
	ck.call(t, request{route: "balance", path: "/v1/learners/L000123/balance", token: learner, want: 200})
	ck.call(t, request{route: "balance", path: "/v1/learners/L000777/balance", token: univ, want: 403})
	ck.call(t, request{route: "balance", path: "/v1/learners/L000777/balance", token: college, want: 200})
	ck.call(t, request{route: "balance", path: "/v1/learners/L000777/balance", token: other, want: 403})
	ck.call(t, request{route: "balance", path: "/v1/learners/-bad/balance", token: adm, want: 404})
	ck.call(t, request{route: "balance", path: "/v1/learners/L000555/balance", token: reg, want: 200})
	ck.call(t, request{route: "balance", path: "/v1/learners/L000123/balance?limit=5000", token: adm, want: 400})
	// A regulator's read of the access log is itself recorded, so the
	// learner's answer has a record to check against the schema.
	ck.call(t, request{route: "accessLog", path: "/v1/learners/l000123/access-log?limit=1", token: reg, want: 200})
	s.access.Flush()
	ck.call(t, request{route: "accessLog", path: "/v1/learners/L000123/access-log", token: learner, want: 200})
	ck.call(t, request{route: "accessLog", path: "/v1/learners/L000123/access-log", token: other, want: 403})
	ck.call(t, request{route: "accessLog", path: "/v1/learners/L000123/access-log", token: univ, want: 403})
	ck.call(t, request{route: "accessLog", path: "/v1/learners/L000123/access-log?cursor=nonsense", token: adm, want: 400})
	ck.call(t, request{route: "accessLog", path: "/v1/learners/-bad/access-log", token: adm, want: 404})

	// --- lists
	_, body = ck.call(t, request{route: "listInstitutions", path: "/v1/institutions?limit=1", token: learner, want: 200})
	if err := json.Unmarshal(body, &page); err != nil || page.NextCursor == "" {
		t.Errorf("first page of 1 institution has no next_cursor: %s", body)
	}
	ck.call(t, request{route: "listInstitutions", path: "/v1/institutions?cursor=" + url.QueryEscape(page.NextCursor), token: college, want: 200})
	ck.call(t, request{route: "listInstitutions", path: "/v1/institutions?kind=university", token: reg, want: 400})
	ck.call(t, request{route: "listInstitutions", path: "/v1/institutions", auth: "Basic dTpw", want: 401})
	ck.call(t, request{route: "listRules", path: "/v1/rules", token: learner, want: 200})
	ck.call(t, request{route: "listRules", path: "/v1/rules?target_institution=univ.example&programme=BSC-CS&active=true&limit=1", token: univ, want: 200})
	ck.call(t, request{route: "listRules", path: "/v1/rules?active=yes", token: adm, want: 400})
	ck.call(t, request{route: "listRules", path: "/v1/rules?programme=BSC-CS&programme=BA", token: adm, want: 400})

	// --- audit
	ck.call(t, request{route: "auditConversions", path: "/v1/audit/conversions", token: reg, want: 200})
	ck.call(t, request{route: "auditConversions", path: "/v1/audit/conversions?rule=nd-cs-to-bsc&institution=college.example&from=2020-01-01&to=2099-12-31&limit=1", token: adm, want: 200})
	ck.call(t, request{route: "auditConversions", path: "/v1/audit/conversions?from=yesterday", token: adm, want: 400})
	ck.call(t, request{route: "auditConversions", path: "/v1/audit/conversions?cursor=nonsense", token: adm, want: 400})
	ck.call(t, request{route: "auditConversions", path: "/v1/audit/conversions", token: univ, want: 403})

	// --- statistics
	ck.call(t, request{route: "statistics", path: "/v1/statistics", token: reg, want: 200})
	ck.call(t, request{route: "statistics", path: "/v1/statistics?institution=college.example&sector=non_degree&from=2020-01&to=2099-12&format=json", token: adm, want: 200})
	ck.call(t, request{route: "statistics", path: "/v1/statistics?format=csv", token: adm, want: 200})
	ck.call(t, request{route: "statistics", path: "/v1/statistics?from=2026-13", token: adm, want: 400})
	ck.call(t, request{route: "statistics", path: "/v1/statistics", token: univ, want: 403})

	// --- programmes, the award audit and awards (section 9): a diploma of
	// the college's needing 6 credits in ICT; L000888 has 3, then 6.
	programme := func(id, inst, title string) map[string]any {
		return map[string]any{"id": id, "institution": inst, "title": title, "total": "6",
			"requirements": []any{map[string]any{"id": "ict", "fields": []string{"06"}, "min": "6"}},
			"min_level":    0, "max_converted_share": "0.5", "max_per_institution": nil,
			"period_caps": map[string]any{"term": nil, "year": "60"}, "valid_from": "2020-01-01", "valid_until": nil}
	}
	ck.call(t, request{route: "publishProgramme", path: "/v1/programmes", token: reg, body: programme("DIP-ICT", "college.example", "Diploma"), want: 201})
	ck.call(t, request{route: "publishProgramme", path: "/v1/programmes", token: adm, body: programme("DIP-ICT", "college.example", "Diploma in ICT"), want: 201})
	ck.call(t, request{route: "publishProgramme", path: "/v1/programmes", token: adm, body: programme("DIP-ICT", "univ.example", "Moved"), want: 409})
	ck.call(t, request{route: "publishProgramme", path: "/v1/programmes", token: adm, body: programme("DIP-X", "nowhere.example", "X"), want: 422})
	noEnd := programme("DIP-X", "college.example", "X")
	delete(noEnd, "valid_until")
	ck.call(t, request{route: "publishProgramme", path: "/v1/programmes", token: adm, body: noEnd, want: 400})
	ck.call(t, request{route: "publishProgramme", path: "/v1/programmes", token: college, body: programme("DIP-X", "college.example", "X"), want: 403})
	_, body = ck.call(t, request{route: "listProgrammes", path: "/v1/programmes?institution=college.example&limit=1", token: learner, want: 200})
	if !bytes.Contains(body, []byte(`"version":2`)) {
		t.Errorf("programme list without the latest version: %s", body)
	}
	ck.call(t, request{route: "listProgrammes", path: "/v1/programmes?cursor=nonsense", token: adm, want: 400})
	ck.call(t, request{route: "listProgrammes", path: "/v1/programmes?kind=diploma", token: adm, want: 400})
	ck.call(t, request{route: "getProgramme", path: "/v1/programmes/DIP-ICT", token: college, want: 200})
	ck.call(t, request{route: "getProgramme", path: "/v1/programmes/DIP-ICT?version=1", token: univ, want: 200})
	ck.call(t, request{route: "getProgramme", path: "/v1/programmes/DIP-ICT?version=3", token: reg, want: 404})
	ck.call(t, request{route: "getProgramme", path: "/v1/programmes/DIP-ICT?version=0", token: reg, want: 400})
	ck.call(t, request{route: "getProgramme", path: "/v1/programmes/NOPE", token: reg, want: 404})
	// --- certified units and recognition cases (section 13)
	unit := map[string]any{"institution": "college.example", "code": "CS101-k-u1", "title": "Introduction to Programming",
		"sector": "vocational", "level": 5, "field": "0613", "credits": map[string]any{"amount": "3", "system": "cn-credit"},
		"hours": 48, "valid_from": "2020-01-01", "valid_until": nil}
	ck.call(t, request{route: "certifyUnit", path: "/v1/units", token: reg, body: unit, want: 201})
	ck.call(t, request{route: "certifyUnit", path: "/v1/units", token: college, body: unit, want: 403})
	noHours := maps.Clone(unit)
	delete(noHours, "hours")
	ck.call(t, request{route: "certifyUnit", path: "/v1/units", token: adm, body: noHours, want: 400})
	badUnit := maps.Clone(unit)
	badUnit["level"] = 11
	ck.call(t, request{route: "certifyUnit", path: "/v1/units", token: adm, body: badUnit, want: 422})
	ck.call(t, request{route: "listUnits", path: "/v1/units?institution=college.example&field=06&level=5&limit=10", want: 200})
	ck.call(t, request{route: "listUnits", path: "/v1/units?level=11", want: 400})
	ck.call(t, request{route: "listUnits", path: "/v1/units?colour=red", want: 400})
	ck.call(t, request{route: "getUnit", path: "/v1/units/college.example/CS101-k-u1", want: 200})
	ck.call(t, request{route: "getUnit", path: "/v1/units/college.example/CS101-k-u1?version=2", want: 404})
	mismatch := outcome("k-u1", "L000777", "vocational", 4, "70")
	ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: college, body: mismatch, want: 422})
	_, body = ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: univ, body: outcome("u-rpl", "L000777", "degree", 6, "80"), want: 201})
	rplOutcome := seqOf(body)
	app := map[string]any{"target": map[string]any{"institution": "college.example", "programme": "DIP-ICT"}, "outcomes": []any{rplOutcome},
		"evidence_sha256": []any{strings.Repeat("cd", 32)}, "statement": "Two years of network administration."}
	_, body = ck.call(t, request{route: "applyForRecognition", path: "/v1/recognitions", token: learner777, body: app, want: 201})
	var rcase struct{ ID string }
	if err := json.Unmarshal(body, &rcase); err != nil || rcase.ID == "" {
		t.Fatalf("case: %s", body)
	}
	rpath := "/v1/recognitions/" + rcase.ID
	ck.call(t, request{route: "applyForRecognition", path: "/v1/recognitions", token: learner, body: app, want: 422}) // not L000123's outcome
	ck.call(t, request{route: "applyForRecognition", path: "/v1/recognitions", token: college, body: app, want: 403})
	ck.call(t, request{route: "getRecognition", path: rpath, token: learner777, want: 200})
	ck.call(t, request{route: "getRecognition", path: rpath, token: univ, want: 403})
	ck.call(t, request{route: "getRecognition", path: rpath, token: learner, want: 404})
	ck.call(t, request{route: "getRecognition", path: "/v1/recognitions/x1", token: reg, want: 404})
	grantBody := map[string]any{"decision": "granted", "items": []any{map[string]any{"outcome": rplOutcome, "amount": "3"}}, "reasons": "Matches the networking unit."}
	ck.call(t, request{route: "decideRecognition", path: rpath + "/decision", token: college, body: grantBody, want: 409}) // no review yet
	ck.call(t, request{route: "reviewRecognition", path: rpath + "/reviews", token: univ, body: map[string]any{"comment": "x"}, want: 403})
	ck.call(t, request{route: "reviewRecognition", path: rpath + "/reviews", token: college, body: map[string]any{"comment": "Portfolio read."}, want: 201})
	ck.call(t, request{route: "decideRecognition", path: rpath + "/decision", token: college, want: 201,
		body: map[string]any{"decision": "refused", "items": []any{}, "reasons": "Not at the diploma's level."}})
	ck.call(t, request{route: "appealRecognition", path: rpath + "/appeal", token: learner, body: map[string]any{"statement": "x"}, want: 403})
	ck.call(t, request{route: "appealRecognition", path: rpath + "/appeal", token: learner777, body: map[string]any{"statement": "The work was at level 6."}, want: 201})
	ck.call(t, request{route: "appealRecognition", path: rpath + "/appeal", token: learner777, body: map[string]any{"statement": "Again."}, want: 409})
	ck.call(t, request{route: "decideRecognitionAppeal", path: rpath + "/appeal/decision", token: adm, body: grantBody, want: 403})
	ck.call(t, request{route: "decideRecognitionAppeal", path: rpath + "/appeal/decision", token: reg, body: map[string]any{"decision": "maybe", "items": []any{}, "reasons": "x"}, want: 422})
	ck.call(t, request{route: "decideRecognitionAppeal", path: rpath + "/appeal/decision", token: reg, body: grantBody, want: 201})
	ck.call(t, request{route: "getRecognition", path: rpath, token: college, want: 200})
	ck.call(t, request{route: "programmeAudit", path: "/v1/learners/L000777/programmes/DIP-ICT/audit", token: learner777, want: 200})
	ck.call(t, request{route: "revokeOutcome", path: fmt.Sprintf("/v1/outcomes/%d/revocation", rplOutcome), token: univ, body: map[string]any{"reason": "issued in error"}, want: 201})

	learner888 := s.token(t, "learner", "L000888")
	_, body = ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: college, body: outcome("k-p1", "L000888", "vocational", 5, "70"), want: 201})
	firstDiploma := seqOf(body)
	audit := "/v1/learners/L000888/programmes/DIP-ICT/audit"
	ck.call(t, request{route: "programmeAudit", path: audit, token: learner888, want: 200})
	ck.call(t, request{route: "programmeAudit", path: audit, token: college, want: 403}) // no grant yet
	ck.call(t, request{route: "programmeAudit", path: audit, token: learner, want: 403})
	ck.call(t, request{route: "programmeAudit", path: audit + "?colour=blue", token: reg, want: 400})
	ck.call(t, request{route: "programmeAudit", path: "/v1/learners/L000888/programmes/NOPE/audit", token: reg, want: 404})
	ck.call(t, request{route: "recordAward", path: "/v1/learners/L000888/awards", token: reg, body: map[string]any{"programme": "DIP-ICT"}, want: 403})
	ck.call(t, request{route: "recordAward", path: "/v1/learners/L000888/awards", token: univ, body: map[string]any{"programme": "DIP-ICT"}, want: 403})
	_, body = ck.call(t, request{route: "recordAward", path: "/v1/learners/L000888/awards", token: college, body: map[string]any{"programme": "DIP-ICT"}, want: 422})
	if !bytes.Contains(body, []byte(`"type":"urn:creditbank:problem:award-not-eligible"`)) || !bytes.Contains(body, []byte(`"missing":[{"kind":"requirement"`)) {
		t.Errorf("an award refused as not eligible: %s", body)
	}
	ck.call(t, request{route: "recordAward", path: "/v1/learners/L000888/awards", token: college, body: map[string]any{}, want: 400})
	ck.call(t, request{route: "recordAward", path: "/v1/learners/L000888/awards", token: college, body: map[string]any{"programme": "NOPE"}, want: 404})
	ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: college, body: outcome("k-p2", "L000888", "vocational", 5, "75"), want: 201})
	ck.call(t, request{route: "createGrant", path: "/v1/learners/L000888/grants", token: learner888, body: grant("college.example"), want: 201})
	_, body = ck.call(t, request{route: "programmeAudit", path: audit, token: college, want: 200})
	if !bytes.Contains(body, []byte(`"eligible":true`)) {
		t.Errorf("audit of 6 credits of 6: %s", body)
	}
	ck.call(t, request{route: "recordAward", path: "/v1/learners/L000888/awards", token: college, body: map[string]any{"programme": "DIP-ICT"}, want: 201})
	ck.call(t, request{route: "recordAward", path: "/v1/learners/L000888/awards", token: adm, body: map[string]any{"programme": "DIP-ICT"}, want: 409})
	_, body = ck.call(t, request{route: "revokeOutcome", path: fmt.Sprintf("/v1/outcomes/%d/revocation", firstDiploma), token: college,
		body: map[string]any{"reason": "entered in error"}, want: 201})
	if !bytes.Contains(body, []byte(`"flagged":[`)) || bytes.Contains(body, []byte(`"flagged":[]`)) {
		t.Errorf("revoking an outcome an award rested on flags nothing: %s", body)
	}
	_, body = ck.call(t, request{route: "listAwards", path: "/v1/learners/L000888/awards", token: college, want: 200})
	if !bytes.Contains(body, []byte(`"flags":[{`)) {
		t.Errorf("awards without the flag: %s", body)
	}
	ck.call(t, request{route: "listAwards", path: "/v1/learners/L000888/awards", token: learner, want: 403})
	ck.call(t, request{route: "listAwards", path: "/v1/learners/L000888/awards", token: univ, want: 403})
	ck.call(t, request{route: "listAwards", path: "/v1/learners/L000123/awards", token: learner, want: 200})

	// --- token revocations
	ck.call(t, request{route: "revokeTokens", path: "/v1/token-revocations", token: adm, want: 201,
		body: map[string]any{"jti": "openapi-unused-jti", "reason": "leaked"}})
	ck.call(t, request{route: "revokeTokens", path: "/v1/token-revocations", token: adm, want: 201,
		body: map[string]any{"sub": "openapi-nobody", "role": "learner", "reason": "left"}})
	ck.call(t, request{route: "revokeTokens", path: "/v1/token-revocations", token: adm, want: 409,
		body: map[string]any{"jti": "openapi-unused-jti", "reason": "again"}})
	ck.call(t, request{route: "revokeTokens", path: "/v1/token-revocations", token: adm, want: 422,
		body: map[string]any{"reason": "names nothing"}})
	ck.call(t, request{route: "revokeTokens", path: "/v1/token-revocations", token: adm, want: 400,
		body: map[string]any{"jti": "x", "reason": "y", "extra": 1}})
	ck.call(t, request{route: "revokeTokens", path: "/v1/token-revocations", token: reg, want: 403,
		body: map[string]any{"jti": "x", "reason": "y"}})

	// --- erasure (section 11): L000777, whose outcome k-5 scored 99, who
	// converted under open-rule and whom the college reads under a grant,
	// is erased; then every route that names the learner answers 410.
	seq777 := *batch.Results[6].Seq
	_, body = ck.call(t, request{route: "auditScores", path: fmt.Sprintf("/v1/audit/scores?outcomes=%d,%d", first, seq777), token: reg, want: 200})
	if want := fmt.Sprintf(`{"scores":[{"outcome":%d,"score":"86"},{"outcome":%d,"score":"99"}]}`, first, seq777); strings.TrimSpace(string(body)) != want {
		t.Errorf("scores %s, want %s", body, want)
	}
	ck.call(t, request{route: "auditScores", path: "/v1/audit/scores", token: adm, want: 400})
	ck.call(t, request{route: "auditScores", path: "/v1/audit/scores?outcomes=1,,2", token: adm, want: 400})
	ck.call(t, request{route: "auditScores", path: "/v1/audit/scores?outcomes=0", token: adm, want: 404}) // the college's registration
	ck.call(t, request{route: "auditScores", path: "/v1/audit/scores?outcomes=1", token: college, want: 403})
	erase := map[string]any{"reason": "the learner asked"}
	ck.call(t, request{route: "eraseLearner", path: "/v1/learners/L000777/erasure", token: reg, body: erase, want: 403})
	ck.call(t, request{route: "eraseLearner", path: "/v1/learners/L000777/erasure", token: adm, want: 400,
		body: map[string]any{"reason": "x", "name": "Ann"}})
	ck.call(t, request{route: "eraseLearner", path: "/v1/learners/L000777/erasure", token: adm, body: map[string]any{"reason": ""}, want: 422})
	ck.call(t, request{route: "eraseLearner", path: "/v1/learners/l000777/erasure", token: adm, body: erase, want: 200})
	ck.call(t, request{route: "eraseLearner", path: "/v1/learners/L000777/erasure", token: adm, body: erase, want: 410})
	ck.call(t, request{route: "eraseLearner", path: "/v1/learners/L000555/erasure", token: adm, body: erase, want: 404})
	ck.call(t, request{route: "eraseLearner", path: "/v1/learners/-bad/erasure", token: adm, body: erase, want: 404})
	ck.call(t, request{route: "transcript", path: "/v1/learners/L000777/transcript", token: adm, want: 410})
	ck.call(t, request{route: "balance", path: "/v1/learners/L000777/balance", token: college, want: 410})
	ck.call(t, request{route: "listGrants", path: "/v1/learners/L000777/grants", token: learner777, want: 410})
	ck.call(t, request{route: "createGrant", path: "/v1/learners/L000777/grants", token: learner777, body: grant("univ.example"), want: 410})
	ck.call(t, request{route: "withdrawGrant", path: "/v1/learners/L000777/grants/g1", token: learner777, want: 410})
	ck.call(t, request{route: "accessLog", path: "/v1/learners/L000777/access-log", token: reg, want: 410})
	ck.call(t, request{route: "programmeAudit", path: "/v1/learners/L000777/programmes/DIP-ICT/audit", token: reg, want: 410})
	ck.call(t, request{route: "recordAward", path: "/v1/learners/L000777/awards", token: college, body: map[string]any{"programme": "DIP-ICT"}, want: 410})
	ck.call(t, request{route: "listAwards", path: "/v1/learners/L000777/awards", token: learner777, want: 410})
	ck.call(t, request{route: "institutionOutcomes", path: "/v1/institutions/college.example/outcomes?learner=L000777", token: college, want: 410})
	ck.call(t, request{route: "convert", path: "/v1/conversions", token: adm, body: map[string]any{"learner": "L000777", "rule": "open-rule"}, want: 410})
	ck.call(t, request{route: "previewConversion", path: "/v1/conversions/preview", token: learner777, body: map[string]any{"learner": "L000777", "rule": "open-rule"}, want: 410})
	ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: college, body: outcome("k-e", "L000777", "vocational", 5, "70"), want: 410})
	ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: college, want: 200,
		body: map[string]any{"outcomes": []any{outcome("k-e", "L000777", "vocational", 5, "70")}}})
	_, body = ck.call(t, request{route: "auditScores", path: fmt.Sprintf("/v1/audit/scores?outcomes=%d", seq777), token: adm, want: 200})
	if want := fmt.Sprintf(`{"scores":[{"outcome":%d,"score":null,"erased":true}]}`, seq777); strings.TrimSpace(string(body)) != want {
		t.Errorf("scores of an erased learner's outcome %s, want %s", body, want)
	}
	_, body = ck.call(t, request{route: "auditConversions", path: "/v1/audit/conversions?rule=open-rule", token: reg, want: 200})
	if !strings.Contains(string(body), `"learner_erased":true`) || strings.Contains(string(body), "L000777") {
		t.Errorf("audit of an erased learner's conversion: %s", body)
	}

	// --- the log
	if _, err := s.ledger.SignCheckpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	size := s.ledger.Size()
	for seq := uint64(0); seq < size; seq++ {
		ck.call(t, request{route: "logEntry", path: fmt.Sprintf("/v1/log/entries/%d", seq), token: reg, want: 200})
	}
	ck.call(t, request{route: "logEntry", path: "/v1/log/entries/999999", token: adm, want: 404})
	ck.call(t, request{route: "logEntry", path: "/v1/log/entries/-1", token: adm, want: 404})
	ck.call(t, request{route: "logEntry", path: "/v1/log/entries/0", token: learner, want: 403})
	ck.call(t, request{route: "logEntry", path: "/v1/log/entries/0", auth: "Basic dTpw", want: 401})
	ck.call(t, request{route: "checkpoint", path: "/v1/log/checkpoint", want: 200})
	ck.call(t, request{route: "logKey", path: "/v1/log/key", want: 200})
	ck.call(t, request{route: "inclusionProof", path: fmt.Sprintf("/v1/log/proof/inclusion?index=0&size=%d", size), want: 200})
	ck.call(t, request{route: "inclusionProof", path: fmt.Sprintf("/v1/log/proof/inclusion?index=%d&size=%d", size-1, size), want: 200})
	ck.call(t, request{route: "inclusionProof", path: fmt.Sprintf("/v1/log/proof/inclusion?index=%d&size=%d", size, size), want: 400})
	ck.call(t, request{route: "inclusionProof", path: "/v1/log/proof/inclusion?index=x&size=1", want: 400})
	ck.call(t, request{route: "consistencyProof", path: fmt.Sprintf("/v1/log/proof/consistency?from=3&to=%d", size), want: 200})
	ck.call(t, request{route: "consistencyProof", path: fmt.Sprintf("/v1/log/proof/consistency?from=%d&to=%d", size, size), want: 200})
	ck.call(t, request{route: "consistencyProof", path: fmt.Sprintf("/v1/log/proof/consistency?from=1&to=%d", size+1), want: 400})
	ck.call(t, request{route: "consistencyProof", path: fmt.Sprintf("/v1/log/proof/consistency?from=0&to=%d", size), want: 200})
	ck.call(t, request{route: "tlogCheckpoint", path: "/tlog/checkpoint", want: 200})
	ck.call(t, request{route: "tlogTile", path: fmt.Sprintf("/tlog/tile/0/000.p/%d", size), want: 200})
	ck.call(t, request{route: "tlogTile", path: "/tlog/tile/0/001", want: 404})
	ck.call(t, request{route: "tlogEntries", path: fmt.Sprintf("/tlog/tile/entries/000.p/%d", size), token: reg, want: 200})
	ck.call(t, request{route: "tlogEntries", path: "/tlog/tile/entries/000.p/1", token: learner, want: 403})
	ck.call(t, request{route: "tlogEntries", path: "/tlog/tile/entries/000.p/1", auth: "Basic dTpw", want: 401})
	ck.call(t, request{route: "tlogEntries", path: "/tlog/tile/entries/001", token: adm, want: 404})

	// --- method not allowed, unknown path
	resp, _ = ck.call(t, request{route: "checkpoint", method: "POST", path: "/v1/log/checkpoint", want: 405})
	if resp.Header.Get("Allow") != "GET" {
		t.Errorf("405 Allow %q", resp.Header.Get("Allow"))
	}
	ck.call(t, request{route: "getRule", method: "PUT", path: "/v1/rules/nd-cs-to-bsc", body: []byte(`{}`), want: 405})
	ck.call(t, request{route: "", method: "GET", path: "/v1/nothing", want: 404})

	// Every route was called.
	var summary []string
	for _, rt := range slices.Concat(Routes, outsideRoutes) {
		m := ck.seen[rt.Name]
		if len(m) == 0 {
			t.Errorf("route %s (%s %s) was never exercised", rt.Name, rt.Method, rt.Path)
			continue
		}
		var codes []int
		for c := range m {
			codes = append(codes, c)
		}
		sort.Ints(codes)
		summary = append(summary, fmt.Sprintf("%s %v", rt.Name, codes))
	}
	t.Logf("exercised in %v:\n%s", time.Since(start).Round(time.Millisecond), strings.Join(summary, "\n"))
}
