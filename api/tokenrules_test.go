package api

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"filippo.io/edwards25519"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"creditbank/accreditation"
)

// Tests of the token rules of docs/contract.md section 2 that the JWT
// library does not enforce by itself, of the keys registration refuses,
// of key rotation under one kid and of the lifetimes of service tokens.

// signRaw signs header and payload, JSON written by hand, with k: the only
// way to send what the JWT library never writes (a repeated member, a crit
// header, a time given as a string).
func signRaw(t testing.TB, k PrivateKey, header, payload string) string {
	t.Helper()
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	sig, err := k.signingMethod().Sign(input, k.Signer)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}

// refusal returns the reason of a 401 problem ("token refused: REASON").
func refusal(t testing.TB, body []byte) string {
	t.Helper()
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem %s: %v", body, err)
	}
	return strings.TrimPrefix(p.Detail, "token refused: ")
}

// TestTokenForm: tokens whose signature verifies but whose JSON the JWT
// library reads loosely, or whose algorithm or sub the bank does not take,
// are refused with their own reason, counted under that reason, and write
// nothing; the same constructions in the accepted form pass.
func TestTokenForm(t *testing.T) {
	s := newTestServer(t)
	ed, es := mustKey(t, "EdDSA"), mustKey(t, "ES256")
	s.registerWithKeys(t, "form.example", true, ed, es)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()

	hdr := func(k PrivateKey, extra string) string {
		return fmt.Sprintf(`{"alg":%q,"kid":%q%s}`, k.Alg(), k.Kid, extra)
	}
	// inst is an institution token of form.example signed with k; the
	// claims are written out, with extra members appended.
	inst := func(k PrivateKey, header, extra string) string {
		return signRaw(t, k, header, fmt.Sprintf(`{"iss":"form.example","sub":"form.example","aud":%q,"iat":%d,"exp":%d%s}`, testAudience, now, now+300, extra))
	}
	// svc is a service token with sub written as raw JSON.
	svc := func(role, sub, extra string) string {
		return signRaw(t, s.tokenKey, hdr(s.tokenKey, ""), fmt.Sprintf(`{"iss":"creditbank","sub":%s,"aud":%q,"role":%q,"iat":%d,"exp":%d,"jti":"j-%d"%s}`,
			sub, testAudience, role, now, now+600, nextID(), extra))
	}
	// instNoTimes has no exp or iat, for cases that give their own.
	instNoTimes := func(times string) string {
		return signRaw(t, ed, hdr(ed, ""), fmt.Sprintf(`{"iss":"form.example","sub":"form.example","aud":%q,%s}`, testAudience, times))
	}

	tests := []struct {
		name   string
		target string // "inst" posts an outcome; "admin" registers an institution
		token  string
		reason string // "" for a token that must pass
	}{
		{"EdDSA written by hand", "inst", inst(ed, hdr(ed, ""), ""), ""},
		{"ES256 written by hand", "inst", inst(es, hdr(es, ""), ""), ""},
		{"alg Ed25519 (RFC 9864)", "inst", inst(ed, fmt.Sprintf(`{"alg":"Ed25519","kid":%q}`, ed.Kid), ""), ""},
		{"admin token written by hand", "admin", svc("admin", `"root"`, ""), ""},
		{"sub with letters beyond ASCII", "admin", svc("admin", `"José 开放"`, ""), ""},

		// A sub or jti no revocation could name: the token would outlive
		// any admin's decision.
		{"sub with a zero-width space", "admin", svc("admin", `"ro\u200bot"`, ""), "bad sub or jti"},
		{"jti over 128 bytes", "admin", signRaw(t, s.tokenKey, hdr(s.tokenKey, ""), fmt.Sprintf(`{"iss":"creditbank","sub":"root","aud":%q,"role":"admin","iat":%d,"exp":%d,"jti":%q}`,
			testAudience, now, now+600, strings.Repeat("j", 129))), "bad sub or jti"},
		{"a member that is no claim, in any case", "inst", inst(ed, hdr(ed, ""), `,"Note":"x","note":"y"`), ""},

		// crit: the bank understands no extension.
		{"crit naming exp", "inst", inst(ed, hdr(ed, `,"crit":["exp"]`), ""), "critical header"},
		{"crit empty", "inst", inst(ed, hdr(ed, `,"crit":[]`), ""), "critical header"},

		// Repeated members: encoding/json keeps the last one.
		{"kid twice in the header", "inst", inst(ed, fmt.Sprintf(`{"alg":"EdDSA","kid":"other","kid":%q}`, ed.Kid), ""), "duplicate member"},
		{"alg twice in the header", "inst", inst(ed, fmt.Sprintf(`{"alg":"ES256","alg":"EdDSA","kid":%q}`, ed.Kid), ""), "duplicate member"},
		{"exp twice, a year then five minutes", "inst", instNoTimes(fmt.Sprintf(`"iat":%d,"exp":%d,"exp":%d`, now, now+365*24*3600, now+300)), "duplicate member"},
		{"sub twice, one escaped", "inst", inst(ed, hdr(ed, ""), `,"s\u0075b":"form.example"`), "duplicate member"},
		{"a name twice in a nested object", "inst", inst(ed, hdr(ed, ""), `,"ext":{"a":1,"a":2}`), "duplicate member"},

		// Times must be JSON numbers.
		{"exp as a string", "inst", instNoTimes(fmt.Sprintf(`"iat":%d,"exp":"%d"`, now, now+300)), "time not a number"},
		{"iat as a string", "inst", instNoTimes(fmt.Sprintf(`"iat":"%d","exp":%d`, now, now+300)), "time not a number"},
		{"nbf as a string", "inst", inst(ed, hdr(ed, ""), fmt.Sprintf(`,"nbf":"%d"`, now)), "time not a number"},
		{"exp null", "inst", instNoTimes(fmt.Sprintf(`"iat":%d,"exp":null`, now)), "time not a number"},
		{"iat an array", "inst", instNoTimes(fmt.Sprintf(`"iat":[%d],"exp":%d`, now, now+300)), "time not a number"},

		// Claim names are matched exactly, not as encoding/json matches them.
		{"EXP for exp", "inst", instNoTimes(fmt.Sprintf(`"iat":%d,"EXP":%d`, now, now+300)), "malformed"},
		{"Sub for sub", "admin", signRaw(t, s.tokenKey, hdr(s.tokenKey, ""), fmt.Sprintf(`{"iss":"creditbank","Sub":"root","aud":%q,"role":"admin","iat":%d,"exp":%d,"jti":"j"}`, testAudience, now, now+600)), "malformed"},

		// Text: UTF-8 without control characters.
		{"claims not UTF-8", "admin", svc("admin", "\"ro\xffot\"", ""), "malformed"},
		{"a lone surrogate escaped", "admin", svc("admin", `"ro\ud800ot"`, ""), "malformed"},
		{"sub with a control character", "admin", svc("admin", `"ro\u0001ot"`, ""), "bad sub"},
		{"sub with DEL", "admin", svc("admin", `"ro\u007fot"`, ""), "bad sub"},
		{"sub with a C1 control", "admin", svc("admin", `"ro\u0085ot"`, ""), "bad sub"},
		{"learner sub with a newline", "admin", svc("learner", `"L\n1"`, ""), "bad sub"},

		// Algorithms: their own reason, before any key is looked at.
		{"RS256", "inst", signJWT(t, jwt.SigningMethodRS256, rsaKey, ed.Kid, instClaims("form.example", nil), nil), "unsupported algorithm"},
		{"HS256", "inst", signJWT(t, jwt.SigningMethodHS256, []byte(ed.Signer.Public().(ed25519.PublicKey)), ed.Kid, instClaims("form.example", nil), nil), "unsupported algorithm"},
		{"ES384", "inst", signJWT(t, jwt.SigningMethodES384, mustP384(t), es.Kid, instClaims("form.example", nil), nil), "unsupported algorithm"},
		{"none", "inst", handJWT(t, map[string]any{"alg": "none", "kid": ed.Kid}, instClaims("form.example", nil), ""), "unsupported algorithm"},
		{"no alg", "inst", inst(ed, fmt.Sprintf(`{"kid":%q}`, ed.Kid), ""), "malformed"},
		{"alg Ed25519 naming a P-256 key", "inst", signRaw(t, ed, fmt.Sprintf(`{"alg":"Ed25519","kid":%q}`, es.Kid), fmt.Sprintf(`{"iss":"form.example","sub":"form.example","aud":%q,"iat":%d,"exp":%d}`, testAudience, now, now+300)), "algorithm does not match key"},

		// Not an object.
		{"claims an array", "inst", signRaw(t, ed, hdr(ed, ""), `[]`), "malformed"},
		{"claims null", "inst", signRaw(t, ed, hdr(ed, ""), `null`), "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, body := "/v1/institutions", any(registrationBody(t))
			if tc.target == "inst" {
				path, body = "/v1/outcomes", outcomeFor("L000321")
			}
			before := s.ledger.Size()
			counted := testutil.ToFloat64(s.metrics.authFailures.WithLabelValues(tc.reason))
			resp, out := s.sendAuth(t, "POST", path, "Bearer "+tc.token, true, body)
			if tc.reason == "" {
				if resp.StatusCode != http.StatusCreated {
					t.Fatalf("status %d, want 201; body %s", resp.StatusCode, out)
				}
				return
			}
			expectUnauthorized(t, s, before, resp, out, false, tc.token)
			if got := refusal(t, out); got != tc.reason {
				t.Fatalf("refused for %q, want %q", got, tc.reason)
			}
			if got := testutil.ToFloat64(s.metrics.authFailures.WithLabelValues(tc.reason)); got != counted+1 {
				t.Errorf("creditbank_auth_failures_total{reason=%q} went from %v to %v, want one more", tc.reason, counted, got)
			}
		})
	}
}

// TestES256HighSTwin: ECDSA is malleable, so (r, n−s) verifies wherever
// (r, s) does. The bank accepts both forms (docs/contract.md section 2):
// common signers, Go's crypto/ecdsa among them, write a high s half of the
// time, and the twin carries the same claims under the same key, so it
// names the same institution and dies with the same key.
func TestES256HighSTwin(t *testing.T) {
	s := newTestServer(t)
	es, other := mustKey(t, "ES256"), mustKey(t, "EdDSA")
	s.registerWithKeys(t, "twin.example", true, es, other)
	tok := instToken(t, es, "twin.example")
	i := strings.LastIndexByte(tok, '.')
	sig, err := b64.DecodeString(tok[i+1:])
	if err != nil || len(sig) != 64 {
		t.Fatalf("ES256 signature %q: %v", tok[i+1:], err)
	}
	n := elliptic.P256().Params().N
	twinS := new(big.Int).Sub(n, new(big.Int).SetBytes(sig[32:]))
	twinSig := append(append([]byte(nil), sig[:32]...), twinS.FillBytes(make([]byte, 32))...)
	twin := tok[:i+1] + b64.EncodeToString(twinSig)
	if twin == tok {
		t.Fatal("the twin is the token")
	}
	for name, tk := range map[string]string{"token": tok, "twin": twin} {
		if resp, body := s.do(t, "POST", "/v1/outcomes", tk, outcomeFor("L000322")); resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s: %d %s", name, resp.StatusCode, body)
		}
	}
	adm := s.token(t, "admin", "root")
	if resp, body := s.do(t, "DELETE", "/v1/institutions/twin.example/keys/"+es.Kid, adm, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("remove key: %d %s", resp.StatusCode, body)
	}
	for name, tk := range map[string]string{"token": tok, "twin": twin} {
		before := s.ledger.Size()
		resp, body := s.do(t, "POST", "/v1/outcomes", tk, outcomeFor("L000322"))
		t.Run(name+" after removal", func(t *testing.T) { expectUnauthorized(t, s, before, resp, body, false, tk) })
	}
}

// smallOrderX encodes a point of order 8 on edwards25519.
const smallOrderX = "JuiVj8KyJ7BFw_SJ8u-Y8NXfrAXTxjM5sTgCiG1T_AU"

// TestWeakKeysRefused: registration and adding a key refuse Ed25519 keys
// anyone can sign for and P-256 points off the curve, with a 400 problem
// that says why, and write nothing; so the token an attacker signs without
// any private key is refused too.
func TestWeakKeysRefused(t *testing.T) {
	s := newTestServer(t)
	s.registerWithKeys(t, "strong.example", true, mustKey(t, "EdDSA"))
	adm := s.token(t, "admin", "root")
	identity := b64.EncodeToString(append([]byte{1}, make([]byte, 31)...))
	unreduced := b64.EncodeToString(append(append([]byte{0xf0}, []byte(strings.Repeat("\xff", 30))...), 0x7f))
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	point, _ := ec.PublicKey.Bytes()
	offCurve := append([]byte(nil), point...)
	offCurve[64] ^= 1

	tests := []struct {
		name string
		jwk  map[string]any
		want string
	}{
		{"identity", map[string]any{"kty": "OKP", "crv": "Ed25519", "x": identity, "kid": "weak"}, "small order"},
		{"point of order 8", map[string]any{"kty": "OKP", "crv": "Ed25519", "x": smallOrderX, "kid": "weak"}, "small order"},
		{"unreduced encoding", map[string]any{"kty": "OKP", "crv": "Ed25519", "x": unreduced, "kid": "weak"}, "canonical"},
		{"P-256 off the curve", map[string]any{"kty": "EC", "crv": "P-256", "x": b64.EncodeToString(offCurve[1:33]), "y": b64.EncodeToString(offCurve[33:]), "kid": "weak"}, "not a point"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("weak-%d.example", nextID())
			for _, req := range []struct{ path, what string }{
				{"/v1/institutions", "register"},
				{"/v1/institutions/strong.example/keys", "add key"},
			} {
				var body any = tc.jwk
				if req.what == "register" {
					body = map[string]any{"id": id, "name": "Weak", "kind": "university", "keys": []any{tc.jwk}}
				}
				before := s.ledger.Size()
				resp, out := s.do(t, "POST", req.path, adm, body)
				var p Problem
				_ = json.Unmarshal(out, &p)
				if resp.StatusCode != http.StatusBadRequest || p.Type != problemBase+"bad-json" || !strings.Contains(p.Detail, tc.want) {
					t.Fatalf("%s: %d %s; want 400 bad-json saying %q", req.what, resp.StatusCode, out, tc.want)
				}
				if s.ledger.Size() != before {
					t.Fatalf("%s: the ledger grew on a refused key", req.what)
				}
			}
			if tc.jwk["x"] != identity {
				return
			}
			// The token an attacker signs for the identity key: R = [S]B for
			// a random S verifies for any message.
			var seed [64]byte
			_, _ = rand.Read(seed[:])
			sc, _ := new(edwards25519.Scalar).SetUniformBytes(seed[:])
			input := b64.EncodeToString([]byte(`{"alg":"EdDSA","kid":"weak"}`)) + "." +
				b64.EncodeToString(fmt.Appendf(nil, `{"iss":%q,"sub":%q,"aud":%q,"iat":%d,"exp":%d}`, id, id, testAudience, time.Now().Unix(), time.Now().Unix()+300))
			sig := append(new(edwards25519.Point).ScalarBaseMult(sc).Bytes(), sc.Bytes()...)
			if !ed25519.Verify(append([]byte{1}, make([]byte, 31)...), []byte(input), sig) {
				t.Fatal("the forged signature does not verify under the identity")
			}
			forged := input + "." + b64.EncodeToString(sig)
			before := s.ledger.Size()
			resp, out := s.do(t, "POST", "/v1/outcomes", forged, outcomeFor("L000323"))
			expectUnauthorized(t, s, before, resp, out, false, forged)
		})
	}
}

// TestKeysWithoutKid: a JWK without kid, as JOSE libraries export it, is
// registered under its RFC 7638 thumbprint, and alg "Ed25519" is read as
// EdDSA; tokens naming the thumbprint verify, also from a private key file
// without kid.
func TestKeysWithoutKid(t *testing.T) {
	s := newTestServer(t)
	adm := s.token(t, "admin", "root")
	k := mustKey(t, "EdDSA")
	pub, _ := k.Public()
	jwk := jwkMembers(t, pub)
	delete(jwk, "kid")
	delete(jwk, "use")
	if resp, out := s.do(t, "POST", "/v1/institutions", adm, map[string]any{"id": "nokid.example", "name": "No kid", "kind": "university", "keys": []any{jwk}}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("register a JWK without kid: %d %s", resp.StatusCode, out)
	}
	if resp, out := s.do(t, "POST", "/v1/institutions/nokid.example/accreditations", adm, map[string]any{
		"sectors": accreditation.Sectors(), "max_level": 10, "valid_from": "2000-01-01", "valid_until": "2099-12-31"}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("accredit: %d %s", resp.StatusCode, out)
	}

	k2 := mustKey(t, "EdDSA")
	pub2, _ := k2.Public()
	jwk2 := jwkMembers(t, pub2)
	delete(jwk2, "kid")
	jwk2["alg"] = "Ed25519"
	resp, out := s.do(t, "POST", "/v1/institutions/nokid.example/keys", adm, jwk2)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("add a JWK with alg Ed25519 and no kid: %d %s", resp.StatusCode, out)
	}
	var in accreditation.Institution
	if err := json.Unmarshal(out, &in); err != nil {
		t.Fatal(err)
	}
	for _, want := range []accreditation.PublicJWK{pub, pub2} {
		got, ok := in.Key(want.Thumbprint())
		if !ok || got.Alg != "EdDSA" || got.Thumbprint() != want.Thumbprint() {
			t.Fatalf("keys %+v: want %s under its thumbprint with alg EdDSA", in.Keys, want.Thumbprint())
		}
	}
	// The private key file without kid names the same thumbprint.
	priv := mustJSON(t, k)
	var members map[string]any
	_ = json.Unmarshal(priv, &members)
	delete(members, "kid")
	priv, _ = json.Marshal(members)
	parsed, err := ParsePrivateKey(priv)
	if err != nil || parsed.Kid != pub.Thumbprint() {
		t.Fatalf("ParsePrivateKey without kid: kid %q, %v; want %s", parsed.Kid, err, pub.Thumbprint())
	}
	for name, key := range map[string]PrivateKey{"registered key": parsed, "added key": {Kid: pub2.Thumbprint(), Signer: k2.Signer}} {
		if resp, out := s.do(t, "POST", "/v1/outcomes", instToken(t, key, "nokid.example"), outcomeFor("L000324")); resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s: %d %s", name, resp.StatusCode, out)
		}
	}
}

// TestCachedTokenNeedsTheSameKey: a token verified and cached under a key
// is refused once the key is removed, also after another key takes its
// kid; for a trusted issuer's key too, even when the cache was not dropped.
func TestCachedTokenNeedsTheSameKey(t *testing.T) {
	s := newTestServer(t)
	adm := s.token(t, "admin", "root")
	old := PrivateKey{Kid: "rotated", Signer: mustKey(t, "EdDSA").Signer}
	s.registerWithKeys(t, "rotate.example", true, old, mustKey(t, "ES256"))
	tok := instToken(t, old, "rotate.example")
	if resp, out := s.do(t, "POST", "/v1/outcomes", tok, outcomeFor("L000325")); resp.StatusCode != http.StatusCreated {
		t.Fatalf("before rotation: %d %s", resp.StatusCode, out)
	}
	if resp, out := s.do(t, "DELETE", "/v1/institutions/rotate.example/keys/rotated", adm, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("remove key: %d %s", resp.StatusCode, out)
	}
	for _, alg := range []string{"EdDSA", "ES256"} {
		t.Run("kid given to an "+alg+" key", func(t *testing.T) {
			next := PrivateKey{Kid: "rotated", Signer: mustKey(t, alg).Signer}
			pub, _ := next.Public()
			if resp, out := s.do(t, "POST", "/v1/institutions/rotate.example/keys", adm, pub); resp.StatusCode != http.StatusCreated {
				t.Fatalf("add key: %d %s", resp.StatusCode, out)
			}
			before := s.ledger.Size()
			resp, out := s.do(t, "POST", "/v1/outcomes", tok, outcomeFor("L000325"))
			expectUnauthorized(t, s, before, resp, out, false, tok)
			if got := refusal(t, out); got != "unknown key" {
				t.Errorf("refused for %q, want unknown key", got)
			}
			if resp, out := s.do(t, "POST", "/v1/outcomes", instToken(t, next, "rotate.example"), outcomeFor("L000325")); resp.StatusCode != http.StatusCreated {
				t.Fatalf("the new key's token: %d %s", resp.StatusCode, out)
			}
			if resp, out := s.do(t, "DELETE", "/v1/institutions/rotate.example/keys/rotated", adm, nil); resp.StatusCode != http.StatusNoContent {
				t.Fatalf("remove key: %d %s", resp.StatusCode, out)
			}
		})
	}

	t.Run("trusted issuer", func(t *testing.T) {
		if resp, _ := s.do(t, "GET", "/v1/institutions/rotate.example", adm, nil); resp.StatusCode != http.StatusOK {
			t.Fatal("admin read before rotation")
		}
		// Store the new keys the way SetIssuers does, but keep the cache, as
		// a request that verified with the old key just before the swap can.
		other := PrivateKey{Kid: s.tokenKey.Kid, Signer: mustKey(t, "EdDSA").Signer}
		pub, _ := other.Public()
		s.auth.issuers.Store(&map[string]Issuer{"creditbank": {Name: "creditbank", Keys: map[string]accreditation.PublicJWK{pub.Kid: pub}}})
		resp, out := s.do(t, "GET", "/v1/institutions/rotate.example", adm, nil)
		expectUnauthorized(t, s, s.ledger.Size(), resp, out, false, adm)
	})
}

// TestServiceTokenLifetime: exp − iat (exp − now without iat) of a service
// token is bounded per role: by default an hour for admins, a day for
// regulators and learners; the configuration can change each.
func TestServiceTokenLifetime(t *testing.T) {
	k := mustKey(t, "EdDSA")
	pub, _ := k.Public()
	issuers := []Issuer{{Name: "creditbank", Keys: map[string]accreditation.PublicJWK{k.Kid: pub}}}
	defaults := NewAuthenticator(testAudience, issuers, nil, nil)
	configured, err := NewAuthenticatorFromConfig(AuthConfig{Audience: testAudience, Issuers: issuers,
		MaxAdminTokenLifetime: 2 * time.Hour, MaxLearnerTokenLifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	const noIat = -1
	tests := []struct {
		name     string
		auth     *Authenticator
		role     string
		iat, exp time.Duration // from now; iat noIat: no iat claim
		pass     bool
	}{
		{"admin, an hour", defaults, "admin", 0, time.Hour, true},
		{"admin, an hour and a second", defaults, "admin", 0, time.Hour + time.Second, false},
		{"admin, a day", defaults, "admin", 0, 24 * time.Hour, false},
		{"admin issued an hour ago, valid for a minute more", defaults, "admin", -time.Hour, time.Minute, false},
		{"admin without iat, 59 minutes left", defaults, "admin", noIat, 59 * time.Minute, true},
		{"admin without iat, two hours left", defaults, "admin", noIat, 2 * time.Hour, false},
		{"regulator, a day", defaults, "regulator", 0, 24 * time.Hour, true},
		{"regulator, a day and a minute", defaults, "regulator", 0, 24*time.Hour + time.Minute, false},
		{"learner, a day", defaults, "learner", 0, 24 * time.Hour, true},
		{"learner, a week", defaults, "learner", 0, 7 * 24 * time.Hour, false},
		{"configured admin, two hours", configured, "admin", 0, 2 * time.Hour, true},
		{"configured admin, three hours", configured, "admin", 0, 3 * time.Hour, false},
		{"configured learner, two hours", configured, "learner", 0, 2 * time.Hour, false},
		{"configured regulator keeps the default day", configured, "regulator", 0, 24 * time.Hour, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			c := jwt.MapClaims{"iss": "creditbank", "sub": "root", "aud": testAudience, "role": tc.role,
				"exp": now.Add(tc.exp).Unix(), "jti": fmt.Sprintf("j-%d", nextID())}
			if tc.iat != noIat {
				c["iat"] = now.Add(tc.iat).Unix()
			}
			req := httptest.NewRequest("GET", "/v1/statistics", nil)
			req.Header.Set("Authorization", "Bearer "+signJWT(t, jwt.SigningMethodEdDSA, k.Signer, k.Kid, c, nil))
			actor, err := tc.auth.Authenticate(req)
			switch {
			case tc.pass && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.pass && string(actor.Role) != tc.role:
				t.Fatalf("actor %+v, want role %s", actor, tc.role)
			case !tc.pass && (err == nil || err.Error() != "invalid token: lifetime over role maximum"):
				t.Fatalf("Authenticate = %+v, %v; want the lifetime refused", actor, err)
			}
		})
	}

	if _, err := NewAuthenticatorFromConfig(AuthConfig{Audience: testAudience, MaxRegulatorTokenLifetime: -time.Second}); err == nil || !strings.Contains(err.Error(), "regulator") {
		t.Errorf("a negative lifetime: %v, want an error naming the role", err)
	}
	for role, want := range map[accreditation.Role]time.Duration{accreditation.RoleAdmin: time.Hour, accreditation.RoleRegulator: 24 * time.Hour,
		accreditation.RoleLearner: 24 * time.Hour, accreditation.RoleInstitution: 0} {
		if got := DefaultMaxTokenLifetime(role); got != want {
			t.Errorf("DefaultMaxTokenLifetime(%s) = %s, want %s", role, got, want)
		}
	}
}
