package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"creditbank/accreditation"
)

// Helpers shared by auth_test.go and permissions_test.go.

// authSeq makes ids, idempotency keys and jtis unique within a test binary.
var authSeq atomic.Int64

func nextID() int64 { return authSeq.Add(1) }

// sendAuth sends a request with the Authorization header set to auth
// verbatim (no header at all when set is false), with an optional JSON body.
func (s *testServer) sendAuth(t testing.TB, method, path, auth string, set bool, body any) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(context.Background(), method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if set {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, out
}

// registerWithKeys registers an institution with the given keys and
// accredits it for every sector (as s.institution does for one EdDSA key).
func (s *testServer) registerWithKeys(t testing.TB, id string, accredit bool, keys ...PrivateKey) {
	t.Helper()
	var pubs []any
	for _, k := range keys {
		pub, err := k.Public()
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, pub)
	}
	adm := s.token(t, "admin", "root")
	if resp, body := s.do(t, "POST", "/v1/institutions", adm, map[string]any{"id": id, "name": "Inst " + id, "kind": "university", "keys": pubs}); resp.StatusCode != 201 {
		t.Fatalf("register %s: %d %s", id, resp.StatusCode, body)
	}
	if !accredit {
		return
	}
	if resp, body := s.do(t, "POST", "/v1/institutions/"+id+"/accreditations", adm, map[string]any{
		"sectors": accreditation.Sectors(), "max_level": 10, "valid_from": "2000-01-01", "valid_until": "2099-12-31"}); resp.StatusCode != 201 {
		t.Fatalf("accredit %s: %d %s", id, resp.StatusCode, body)
	}
}

func mustKey(t testing.TB, alg string) PrivateKey {
	t.Helper()
	k, err := GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// outcomeFor is a valid outcome body with a fresh idempotency key, completed
// 30 days ago, inside every test accreditation and eligible under ruleFor.
func outcomeFor(learner string) map[string]any {
	id := nextID()
	return map[string]any{
		"idempotency_key": fmt.Sprintf("k-%d", id), "learner": learner,
		"unit":   map[string]any{"code": fmt.Sprintf("CS101-%d", id), "title": "Introduction to Programming"},
		"sector": "non_degree", "level": 6, "field": "0613",
		"credits": map[string]any{"amount": "3", "system": "cn-credit"}, "hours": 48,
		"result":       map[string]any{"passed": true, "score": "86"},
		"completed_on": time.Now().UTC().AddDate(0, 0, -30).Format("2006-01-02"),
	}
}

// registrationBody is a valid registration of a fresh institution.
func registrationBody(t testing.TB) map[string]any {
	pub, _ := mustKey(t, "EdDSA").Public()
	return map[string]any{"id": fmt.Sprintf("reg-%d.example", nextID()), "name": "New", "kind": "university", "keys": []any{pub}}
}

// signJWT signs claims with method and key, naming kid in the header (no
// kid when kid is ""); extra header members are set as given.
func signJWT(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// handJWT builds a JWS by hand from header and payload JSON and a raw
// signature segment.
func handJWT(t testing.TB, header, payload map[string]any, sig string) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return b64.EncodeToString(h) + "." + b64.EncodeToString(p) + "." + sig
}

// rewritePayload changes a signed token's claims and keeps its header and
// signature.
func rewritePayload(t testing.TB, token string, change func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", token)
	}
	raw, err := b64.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	change(c)
	p, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return parts[0] + "." + b64.EncodeToString(p) + "." + parts[2]
}

// svcClaims are the claims of a good admin token; change edits them.
func svcClaims(change func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"iss": "creditbank", "sub": "root", "aud": testAudience, "role": "admin",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": fmt.Sprintf("jti-%d", nextID()),
	}
	if change != nil {
		change(c)
	}
	return c
}

// instClaims are the claims of a good institution token; change edits them.
func instClaims(id string, change func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"iss": id, "sub": id, "aud": testAudience, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	if change != nil {
		change(c)
	}
	return c
}

// expectUnauthorized checks a 401 with the Bearer challenge, the problem
// type unauthorized, and that nothing was written.
func expectUnauthorized(t testing.TB, s *testServer, before uint64, resp *http.Response, body []byte, missing bool, token string) {
	t.Helper()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401; body %s", resp.StatusCode, body)
	}
	ch := resp.Header.Get("WWW-Authenticate")
	if missing {
		if !strings.HasPrefix(ch, "Bearer") {
			t.Errorf("WWW-Authenticate %q: want a Bearer challenge", ch)
		}
	} else if !strings.HasPrefix(ch, "Bearer") || !strings.Contains(ch, `error="invalid_token"`) {
		t.Errorf(`WWW-Authenticate %q: want Bearer ... error="invalid_token"`, ch)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil || p.Type != "urn:creditbank:problem:unauthorized" || p.Status != 401 {
		t.Errorf("problem %s (%v): want type urn:creditbank:problem:unauthorized, status 401", body, err)
	}
	if len(token) > 16 && strings.Contains(string(body), token) {
		t.Errorf("the problem echoes the token")
	}
	if after := s.ledger.Size(); after != before {
		t.Errorf("ledger grew from %d to %d on a refused request", before, after)
	}
}

// TestTokenAttacks sends forged, stale and malformed tokens to write
// endpoints: each must get 401 invalid_token and write nothing; the few
// inside the clock leeway must pass.
func TestTokenAttacks(t *testing.T) {
	s := newTestServer(t)
	ka := mustKey(t, "EdDSA")
	s.registerWithKeys(t, "alpha.example", true, ka)
	kb := mustKey(t, "EdDSA")
	s.registerWithKeys(t, "beta.example", true, kb)
	ke := mustKey(t, "ES256")
	s.registerWithKeys(t, "es.example", true, ke)

	svcPub, _ := s.tokenKey.Public()
	svcEd := s.tokenKey.Signer.(ed25519.PrivateKey)
	svcJWK, err := svcPub.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	alphaEd := ka.Signer.(ed25519.PrivateKey)
	alphaPub := alphaEd.Public().(ed25519.PublicKey)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, otherEd, _ := ed25519.GenerateKey(rand.Reader)
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()

	svc := func(change func(jwt.MapClaims)) string {
		return signJWT(t, jwt.SigningMethodEdDSA, svcEd, s.tokenKey.Kid, svcClaims(change), nil)
	}
	alpha := func(change func(jwt.MapClaims)) string {
		return signJWT(t, jwt.SigningMethodEdDSA, alphaEd, ka.Kid, instClaims("alpha.example", change), nil)
	}
	bearer := func(tok string) string { return "Bearer " + tok }

	// target: "inst" posts an outcome (POST /v1/outcomes), "admin" registers
	// an institution (POST /v1/institutions).
	type attack struct {
		name    string
		target  string
		auth    string
		noAuth  bool // send no Authorization header at all
		pass    bool // inside the rules: must succeed
		missing bool // expect the plain Bearer challenge of a missing token
	}
	padding := strings.Repeat("p", 9<<10)
	attacks := []attack{
		// Baselines: the same construction, correctly signed, works.
		{name: "baseline service token", target: "admin", auth: bearer(svc(nil)), pass: true},
		{name: "baseline institution token", target: "inst", auth: bearer(alpha(nil)), pass: true},
		{name: "baseline IssueToken", target: "admin", auth: bearer(s.token(t, "admin", "root")), pass: true},
		{name: "baseline SignInstitutionToken", target: "inst", auth: bearer(instToken(t, ka, "alpha.example")), pass: true},

		// alg none, built by hand with an empty signature.
		{name: "alg none admin", target: "admin", auth: bearer(handJWT(t, map[string]any{"alg": "none", "typ": "JWT", "kid": s.tokenKey.Kid}, svcClaims(nil), ""))},
		{name: "alg NONE admin", target: "admin", auth: bearer(handJWT(t, map[string]any{"alg": "NONE", "typ": "JWT", "kid": s.tokenKey.Kid}, svcClaims(nil), ""))},
		{name: "alg none institution", target: "inst", auth: bearer(handJWT(t, map[string]any{"alg": "none", "kid": ka.Kid}, instClaims("alpha.example", nil), ""))},
		{name: "alg none without kid", target: "admin", auth: bearer(handJWT(t, map[string]any{"alg": "none"}, svcClaims(nil), ""))},
		{name: "alg EdDSA header, empty signature", target: "admin", auth: bearer(handJWT(t, map[string]any{"alg": "EdDSA", "kid": s.tokenKey.Kid}, svcClaims(nil), ""))},

		// Algorithm confusion: HMAC keyed with public key bytes.
		{name: "HS256 keyed with service public key", target: "admin", auth: bearer(signJWT(t, jwt.SigningMethodHS256, []byte(svcEd.Public().(ed25519.PublicKey)), s.tokenKey.Kid, svcClaims(nil), nil))},
		{name: "HS256 keyed with service JWK JSON", target: "admin", auth: bearer(signJWT(t, jwt.SigningMethodHS256, svcJWK, s.tokenKey.Kid, svcClaims(nil), nil))},
		{name: "HS512 keyed with service public key", target: "admin", auth: bearer(signJWT(t, jwt.SigningMethodHS512, []byte(svcEd.Public().(ed25519.PublicKey)), s.tokenKey.Kid, svcClaims(nil), nil))},
		{name: "HS256 keyed with institution public key", target: "inst", auth: bearer(signJWT(t, jwt.SigningMethodHS256, []byte(alphaPub), ka.Kid, instClaims("alpha.example", nil), nil))},
		{name: "RS256 fresh key service kid", target: "admin", auth: bearer(signJWT(t, jwt.SigningMethodRS256, rsaKey, s.tokenKey.Kid, svcClaims(nil), nil))},
		{name: "RS256 fresh key institution kid", target: "inst", auth: bearer(signJWT(t, jwt.SigningMethodRS256, rsaKey, ka.Kid, instClaims("alpha.example", nil), nil))},
		{name: "PS256 fresh key", target: "admin", auth: bearer(signJWT(t, jwt.SigningMethodPS256, rsaKey, s.tokenKey.Kid, svcClaims(nil), nil))},
		{name: "ES384 header", target: "inst", auth: bearer(signJWT(t, jwt.SigningMethodES384, mustP384(t), ke.Kid, instClaims("es.example", nil), nil))},

		// Key and algorithm must match.
		{name: "ES256 key named, EdDSA alg", target: "inst", auth: bearer(signJWT(t, jwt.SigningMethodEdDSA, otherEd, ke.Kid, instClaims("es.example", nil), nil))},
		{name: "EdDSA key named, ES256 alg", target: "inst", auth: bearer(signJWT(t, jwt.SigningMethodES256, otherEC, ka.Kid, instClaims("alpha.example", nil), nil))},
		{name: "service EdDSA key named, ES256 alg", target: "admin", auth: bearer(signJWT(t, jwt.SigningMethodES256, otherEC, s.tokenKey.Kid, svcClaims(nil), nil))},

		// Time.
		{name: "expired beyond leeway (service)", target: "admin", auth: bearer(svc(func(c jwt.MapClaims) {
			c["iat"] = now.Add(-2 * time.Hour).Unix()
			c["exp"] = now.Add(-61 * time.Second).Unix()
		}))},
		{name: "expired beyond leeway (institution)", target: "inst", auth: bearer(alpha(func(c jwt.MapClaims) {
			c["iat"] = now.Add(-5 * time.Minute).Unix()
			c["exp"] = now.Add(-61 * time.Second).Unix()
		}))},
		{name: "expired within leeway (service)", target: "admin", pass: true, auth: bearer(svc(func(c jwt.MapClaims) {
			c["iat"] = now.Add(-time.Hour).Unix()
			c["exp"] = now.Add(-10 * time.Second).Unix()
		}))},
		{name: "expired within leeway (institution)", target: "inst", pass: true, auth: bearer(alpha(func(c jwt.MapClaims) {
			c["iat"] = now.Add(-5 * time.Minute).Unix()
			c["exp"] = now.Add(-10 * time.Second).Unix()
		}))},
		{name: "nbf in the future beyond leeway", target: "admin", auth: bearer(svc(func(c jwt.MapClaims) { c["nbf"] = now.Add(2 * time.Minute).Unix() }))},
		{name: "nbf in the future within leeway", target: "admin", pass: true, auth: bearer(svc(func(c jwt.MapClaims) { c["nbf"] = now.Add(10 * time.Second).Unix() }))},
		{name: "iat in the future beyond leeway (service)", target: "admin", auth: bearer(svc(func(c jwt.MapClaims) { c["iat"] = now.Add(2 * time.Minute).Unix() }))},
		{name: "iat in the future beyond leeway (institution)", target: "inst", auth: bearer(alpha(func(c jwt.MapClaims) {
			c["iat"] = now.Add(2 * time.Minute).Unix()
			c["exp"] = now.Add(6 * time.Minute).Unix()
		}))},
		{name: "iat in the future within leeway", target: "inst", pass: true, auth: bearer(alpha(func(c jwt.MapClaims) { c["iat"] = now.Add(10 * time.Second).Unix() }))},
		{name: "missing exp (service)", target: "admin", auth: bearer(svc(func(c jwt.MapClaims) { delete(c, "exp") }))},
		{name: "missing exp (institution)", target: "inst", auth: bearer(alpha(func(c jwt.MapClaims) { delete(c, "exp") }))},
		{name: "missing iat (institution)", target: "inst", auth: bearer(alpha(func(c jwt.MapClaims) { delete(c, "iat") }))},
		{name: "institution lifetime over 10 minutes", target: "inst", auth: bearer(alpha(func(c jwt.MapClaims) { c["exp"] = now.Add(10*time.Minute + 5*time.Second).Unix() }))},
		{name: "institution lifetime one hour", target: "inst", auth: bearer(alpha(func(c jwt.MapClaims) { c["exp"] = now.Add(time.Hour).Unix() }))},
		{name: "institution lifetime exactly 10 minutes", target: "inst", pass: true, auth: bearer(alpha(func(c jwt.MapClaims) { c["exp"] = now.Add(10 * time.Minute).Unix() }))},

		// Audience and issuer.
		{name: "wrong audience (service)", target: "admin", auth: bearer(svc(func(c jwt.MapClaims) { c["aud"] = "other-service" }))},
		{name: "wrong audience (institution)", target: "inst", auth: bearer(alpha(func(c jwt.MapClaims) { c["aud"] = "other-service" }))},
		{name: "missing audience", target: "admin", auth: bearer(svc(func(c jwt.MapClaims) { delete(c, "aud") }))},
		{name: "token for another audience (SignInstitutionToken)", target: "inst", auth: bearer(mustSign(t, ka, "alpha.example", "bank.other.example"))},
		{name: "token for another audience (IssueToken)", target: "admin", auth: bearer(mustIssue(t, s.tokenKey, "creditbank", "bank.other.example", "admin"))},
		{name: "unknown issuer signed by service key", target: "admin", auth: bearer(svc(func(c jwt.MapClaims) { c["iss"] = "evil.example" }))},
		{name: "missing issuer signed by service key", target: "admin", auth: bearer(svc(func(c jwt.MapClaims) { delete(c, "iss") }))},
		{name: "service issuer signed by institution key", target: "admin", auth: bearer(signJWT(t, jwt.SigningMethodEdDSA, alphaEd, ka.Kid, svcClaims(nil), nil))},
		{name: "institution iss signed by service key and kid", target: "inst", auth: bearer(signJWT(t, jwt.SigningMethodEdDSA, svcEd, s.tokenKey.Kid, instClaims("alpha.example", nil), nil))},
		{name: "iss names another institution (first one's key)", target: "inst", auth: bearer(signJWT(t, jwt.SigningMethodEdDSA, alphaEd, ka.Kid, instClaims("beta.example", nil), nil))},
		{name: "iss names another institution with its kid", target: "inst", auth: bearer(signJWT(t, jwt.SigningMethodEdDSA, alphaEd, kb.Kid, instClaims("beta.example", nil), nil))},

		// kid.
		{name: "unknown kid (service)", target: "admin", auth: bearer(signJWT(t, jwt.SigningMethodEdDSA, svcEd, "no-such-kid", svcClaims(nil), nil))},
		{name: "unknown kid (institution)", target: "inst", auth: bearer(signJWT(t, jwt.SigningMethodEdDSA, alphaEd, "no-such-kid", instClaims("alpha.example", nil), nil))},
		{name: "no kid (service)", target: "admin", auth: bearer(signJWT(t, jwt.SigningMethodEdDSA, svcEd, "", svcClaims(nil), nil))},
		{name: "no kid (institution)", target: "inst", auth: bearer(signJWT(t, jwt.SigningMethodEdDSA, alphaEd, "", instClaims("alpha.example", nil), nil))},
		{name: "kid not a string", target: "inst", auth: bearer(signJWT(t, jwt.SigningMethodEdDSA, alphaEd, "", instClaims("alpha.example", nil), map[string]any{"kid": 7}))},
		{name: "kid of 65 bytes", target: "inst", auth: bearer(signJWT(t, jwt.SigningMethodEdDSA, alphaEd, strings.Repeat("k", 65), instClaims("alpha.example", nil), nil))},
		{name: "huge kid (10 KB)", target: "inst", auth: bearer(signJWT(t, jwt.SigningMethodEdDSA, alphaEd, strings.Repeat("k", 10<<10), instClaims("alpha.example", nil), nil))},
		{name: "kid of the other institution's key", target: "inst", auth: bearer(signJWT(t, jwt.SigningMethodEdDSA, alphaEd, kb.Kid, instClaims("alpha.example", nil), nil))},

		// Claims.
		{name: "tampered payload (institution exp)", target: "inst", auth: bearer(rewritePayload(t, alpha(nil), func(c map[string]any) { c["exp"] = c["exp"].(float64) + 60 }))},
		{name: "tampered payload (service sub)", target: "admin", auth: bearer(rewritePayload(t, svc(nil), func(c map[string]any) { c["sub"] = "someone-else" }))},
		{name: "learner token forged role admin", target: "admin", auth: bearer(rewritePayload(t, s.token(t, "learner", "L000123"), func(c map[string]any) { c["role"] = "admin" }))},
		{name: "tampered signature", target: "inst", auth: bearer(flipLastSigChar(alpha(nil)))},
		{name: "institution sub != iss", target: "inst", auth: bearer(alpha(func(c jwt.MapClaims) { c["sub"] = "beta.example" }))},
		{name: "institution token with role admin", target: "inst", auth: bearer(alpha(func(c jwt.MapClaims) { c["role"] = "admin" }))},
		{name: "institution token with role institution", target: "inst", auth: bearer(alpha(func(c jwt.MapClaims) { c["role"] = "institution" }))},
		{name: "service token with role institution", target: "admin", auth: bearer(svc(func(c jwt.MapClaims) { c["role"] = "institution" }))},
		{name: "service token with unknown role", target: "admin", auth: bearer(svc(func(c jwt.MapClaims) { c["role"] = "superuser" }))},
		{name: "service token without role", target: "admin", auth: bearer(svc(func(c jwt.MapClaims) { delete(c, "role") }))},
		{name: "service token without jti", target: "admin", auth: bearer(svc(func(c jwt.MapClaims) { delete(c, "jti") }))},
		{name: "service token without sub", target: "admin", auth: bearer(svc(func(c jwt.MapClaims) { delete(c, "sub") }))},

		// Malformed Authorization headers.
		{name: "no Authorization header", target: "admin", noAuth: true, missing: true},
		{name: "Basic scheme", target: "admin", auth: "Basic YWRtaW46YWRtaW4="},
		{name: "Bearer alone", target: "admin", auth: "Bearer"},
		{name: "Bearer and a space", target: "admin", auth: "Bearer "},
		{name: "two spaces before a good token", target: "admin", auth: "Bearer  " + svc(nil)},
		{name: "token without scheme", target: "admin", auth: svc(nil)},
		{name: "9 KB token (validly signed)", target: "admin", auth: bearer(svc(func(c jwt.MapClaims) { c["pad"] = padding }))},
		{name: "9 KB of junk", target: "inst", auth: bearer(strings.Repeat("a", 9<<10))},
		{name: "two segments", target: "admin", auth: bearer(strings.Join(strings.Split(svc(nil), ".")[:2], "."))},
		{name: "four segments", target: "admin", auth: bearer(svc(nil) + ".x")},
		{name: "padded base64", target: "admin", auth: bearer(padFirst(svc(nil)))},
		{name: "not base64", target: "admin", auth: bearer("!!!.???.***")},
	}

	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			path, body := "/v1/institutions", any(registrationBody(t))
			if a.target == "inst" {
				path, body = "/v1/outcomes", outcomeFor("L000123")
			}
			before := s.ledger.Size()
			resp, out := s.sendAuth(t, "POST", path, a.auth, !a.noAuth, body)
			if a.pass {
				if resp.StatusCode != http.StatusCreated {
					t.Fatalf("status %d, want 201; body %s", resp.StatusCode, out)
				}
				if s.ledger.Size() <= before {
					t.Fatalf("accepted write did not grow the ledger")
				}
				return
			}
			tok := strings.TrimPrefix(a.auth, "Bearer ")
			t.Logf("%d %s", resp.StatusCode, out)
			expectUnauthorized(t, s, before, resp, out, a.missing, tok)
		})
	}

	t.Run("ES256 institution end to end", func(t *testing.T) {
		tok := instToken(t, ke, "es.example")
		before := s.ledger.Size()
		resp, body := s.do(t, "POST", "/v1/outcomes", tok, outcomeFor("L000777"))
		if resp.StatusCode != 201 || s.ledger.Size() != before+1 {
			t.Fatalf("post with ES256 key: %d %s", resp.StatusCode, body)
		}
		// Reused (cached) and read back.
		if resp, body := s.do(t, "GET", "/v1/institutions/es.example", tok, nil); resp.StatusCode != 200 {
			t.Fatalf("read with ES256 token: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("removed key", func(t *testing.T) {
		k1, k2 := mustKey(t, "EdDSA"), mustKey(t, "ES256")
		s.registerWithKeys(t, "removed.example", true, k1, k2)
		cached := instToken(t, k1, "removed.example")
		if resp, body := s.do(t, "POST", "/v1/outcomes", cached, outcomeFor("L1")); resp.StatusCode != 201 {
			t.Fatalf("before removal: %d %s", resp.StatusCode, body)
		}
		fresh := instToken(t, k1, "removed.example") // never used: not cached
		other := instToken(t, k2, "removed.example")
		adm := s.token(t, "admin", "root")
		if resp, body := s.do(t, "DELETE", "/v1/institutions/removed.example/keys/"+k1.Kid, adm, nil); resp.StatusCode != 204 {
			t.Fatalf("remove key: %d %s", resp.StatusCode, body)
		}
		for name, tok := range map[string]string{"cached": cached, "fresh": fresh, "signed after removal": instToken(t, k1, "removed.example")} {
			before := s.ledger.Size()
			resp, body := s.do(t, "POST", "/v1/outcomes", tok, outcomeFor("L1"))
			t.Run(name, func(t *testing.T) { expectUnauthorized(t, s, before, resp, body, false, tok) })
			// Reads too.
			resp, body = s.do(t, "GET", "/v1/institutions/removed.example", tok, nil)
			t.Run(name+" read", func(t *testing.T) { expectUnauthorized(t, s, before, resp, body, false, tok) })
		}
		if resp, body := s.do(t, "POST", "/v1/outcomes", other, outcomeFor("L1")); resp.StatusCode != 201 {
			t.Fatalf("the remaining key stops working: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("suspended institution", func(t *testing.T) {
		k := mustKey(t, "EdDSA")
		s.registerWithKeys(t, "suspended.example", true, k)
		tok := instToken(t, k, "suspended.example")
		if resp, body := s.do(t, "POST", "/v1/outcomes", tok, outcomeFor("L2")); resp.StatusCode != 201 {
			t.Fatalf("before suspension: %d %s", resp.StatusCode, body)
		}
		reg := s.token(t, "regulator", "moe")
		if resp, body := s.do(t, "POST", "/v1/institutions/suspended.example/suspension", reg, map[string]any{"reason": "audit"}); resp.StatusCode != 201 {
			t.Fatalf("suspend: %d %s", resp.StatusCode, body)
		}
		before := s.ledger.Size()
		resp, body := s.do(t, "POST", "/v1/outcomes", tok, outcomeFor("L2"))
		expectUnauthorized(t, s, before, resp, body, false, tok)
		fresh := instToken(t, k, "suspended.example")
		resp, body = s.do(t, "POST", "/v1/outcomes", fresh, outcomeFor("L2"))
		expectUnauthorized(t, s, before, resp, body, false, fresh)
	})
}

// TestTokenCacheStillChecksInstitution: a reused institution token is
// verified once and cached, but every use still checks the institution's key
// and suspension.
func TestTokenCacheStillChecksInstitution(t *testing.T) {
	s := newTestServer(t)
	k := mustKey(t, "EdDSA")
	s.registerWithKeys(t, "cache.example", true, k, mustKey(t, "ES256")) // the last key cannot be removed
	tok := instToken(t, k, "cache.example")
	cacheLen := s.auth.cache.len
	base := cacheLen() // the admin token used for set-up
	for i := range 3 {
		if resp, body := s.do(t, "POST", "/v1/outcomes", tok, outcomeFor("L3")); resp.StatusCode != 201 {
			t.Fatalf("use %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if got := cacheLen(); got != base+1 {
		t.Fatalf("cache holds %d tokens after three uses of one, want %d", got, base+1)
	}

	adm := s.token(t, "admin", "root")

	// Now remove the key: the cached token is refused at once.
	if resp, body := s.do(t, "DELETE", "/v1/institutions/cache.example/keys/"+k.Kid, adm, nil); resp.StatusCode != 204 {
		t.Fatalf("remove key: %d %s", resp.StatusCode, body)
	}
	before := s.ledger.Size()
	resp, body := s.do(t, "POST", "/v1/outcomes", tok, outcomeFor("L3"))
	expectUnauthorized(t, s, before, resp, body, false, tok)

	// The same for suspension, with a second, cached key.
	k2 := mustKey(t, "ES256")
	pub, _ := k2.Public()
	if resp, body := s.do(t, "POST", "/v1/institutions/cache.example/keys", adm, pub); resp.StatusCode != 201 {
		t.Fatalf("add key: %d %s", resp.StatusCode, body)
	}
	tok2 := instToken(t, k2, "cache.example")
	if resp, body := s.do(t, "POST", "/v1/outcomes", tok2, outcomeFor("L3")); resp.StatusCode != 201 {
		t.Fatalf("second key: %d %s", resp.StatusCode, body)
	}
	if resp, body := s.do(t, "POST", "/v1/institutions/cache.example/suspension", adm, map[string]any{"reason": "x"}); resp.StatusCode != 201 {
		t.Fatalf("suspend: %d %s", resp.StatusCode, body)
	}
	before = s.ledger.Size()
	resp, body = s.do(t, "POST", "/v1/outcomes", tok2, outcomeFor("L3"))
	expectUnauthorized(t, s, before, resp, body, false, tok2)

	// A service token is cached too and SetIssuers (key rotation) drops it:
	// with the issuer gone, the same token is refused.
	if resp, _ := s.do(t, "GET", "/v1/institutions/cache.example", adm, nil); resp.StatusCode != 200 {
		t.Fatal("admin read before rotation")
	}
	s.auth.SetIssuers(nil)
	before = s.ledger.Size()
	resp, body = s.do(t, "POST", "/v1/institutions", adm, registrationBody(t))
	expectUnauthorized(t, s, before, resp, body, false, adm)
}

func mustP384(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSign(t testing.TB, k PrivateKey, id, aud string) string {
	t.Helper()
	tok, err := SignInstitutionToken(k, id, aud, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func mustIssue(t testing.TB, k PrivateKey, iss, aud, role string) string {
	t.Helper()
	tok, err := IssueToken(k, iss, aud, role, "root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// flipLastSigChar changes the signature's first character (every bit of it
// is significant, unlike the last character's low bits).
func flipLastSigChar(tok string) string {
	i := strings.LastIndexByte(tok, '.') + 1
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

// padFirst adds base64 padding to the header segment.
func padFirst(tok string) string {
	i := strings.IndexByte(tok, '.')
	return tok[:i] + "==" + tok[i:]
}
