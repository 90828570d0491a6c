package conformance

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token attacks (docs/contract.md section 2): each token is refused with 401 and
// a Bearer challenge naming invalid_token, and the write it carried is not
// made.

// victim is an accredited institution with an Ed25519 and a P-256 key,
// whose tokens the attacks imitate.
func (c *tc) victim() *inst {
	return fixture(c, "victim", func() *inst {
		return c.accredited("victim", "community_college", newKey(c, "EdDSA"), newKey(c, "ES256"))
	})
}

// attack posts an outcome of the victim with the token tok() makes and
// checks that it is refused and nothing is written.
func attack(name string, tok func(c *tc, v *inst) string) caseDef {
	return caseDef{"auth/" + name, func(c *tc) {
		v := c.victim()
		token := tok(c, v)
		c.refused(func() { c.want401(c.do("POST", "/v1/outcomes", token, c.outcome(c.learner(), nil))) })
	}}
}

// claims are the victim's good claims changed by mod.
func claims(c *tc, v *inst, mod func(jwt.MapClaims)) jwt.MapClaims {
	cl := c.instClaims(v.id)
	mod(cl)
	return cl
}

func b64json(c *tc, v any) string {
	b, err := json.Marshal(v)
	c.check(err, "marshal")
	return b64url.EncodeToString(b)
}

// attackDef is a bad token for the victim.
type attackDef struct {
	name string
	tok  func(c *tc, v *inst) string
}

// attacks are the tokens that must be refused.
func attacks() []attackDef {
	return []attackDef{
		{"alg-none", func(c *tc, v *inst) string {
			h := map[string]any{"alg": "none", "typ": "JWT", "kid": v.keys[0].kid}
			return b64json(c, h) + "." + b64json(c, c.instClaims(v.id)) + "."
		}},
		{"hs256-with-public-key", func(c *tc, v *inst) string {
			// The classic confusion: HMAC keyed with the public key, in
			// each of the forms a server might hold it.
			pub := v.keys[0].priv.Public().(ed25519.PublicKey)
			t := jwt.NewWithClaims(jwt.SigningMethodHS256, c.instClaims(v.id))
			t.Header["kid"] = v.keys[0].kid
			s, err := t.SignedString([]byte(pub))
			c.check(err, "sign")
			return s
		}},
		{"hs256-with-jwk-as-secret", func(c *tc, v *inst) string {
			jwk, _ := json.Marshal(v.keys[0].jwk())
			t := jwt.NewWithClaims(jwt.SigningMethodHS256, c.instClaims(v.id))
			t.Header["kid"] = v.keys[0].kid
			s, err := t.SignedString(jwk)
			c.check(err, "sign")
			return s
		}},
		{"rs256", func(c *tc, v *inst) string {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			c.check(err, "rsa key")
			t := jwt.NewWithClaims(jwt.SigningMethodRS256, c.instClaims(v.id))
			t.Header["kid"] = v.keys[0].kid
			s, err := t.SignedString(k)
			c.check(err, "sign")
			return s
		}},
		{"expired", func(c *tc, v *inst) string {
			now := time.Now()
			return c.sign(v.keys[0], claims(c, v, func(m jwt.MapClaims) {
				m["iat"], m["exp"] = now.Add(-7*time.Minute).Unix(), now.Add(-2*time.Minute).Unix()
			}))
		}},
		{"not-yet-valid", func(c *tc, v *inst) string {
			now := time.Now()
			return c.sign(v.keys[0], claims(c, v, func(m jwt.MapClaims) {
				m["nbf"], m["exp"] = now.Add(3*time.Minute).Unix(), now.Add(8*time.Minute).Unix()
			}))
		}},
		{"issued-in-the-future", func(c *tc, v *inst) string {
			now := time.Now()
			return c.sign(v.keys[0], claims(c, v, func(m jwt.MapClaims) {
				m["iat"], m["exp"] = now.Add(3*time.Minute).Unix(), now.Add(8*time.Minute).Unix()
			}))
		}},
		{"wrong-audience", func(c *tc, v *inst) string {
			return c.sign(v.keys[0], claims(c, v, func(m jwt.MapClaims) { m["aud"] = "someone-else" }))
		}},
		{"no-audience", func(c *tc, v *inst) string {
			return c.sign(v.keys[0], claims(c, v, func(m jwt.MapClaims) { delete(m, "aud") }))
		}},
		{"wrong-issuer", func(c *tc, v *inst) string {
			// Another registered institution's id, signed with the victim's key.
			other := c.college().id
			return c.sign(v.keys[0], claims(c, v, func(m jwt.MapClaims) { m["iss"], m["sub"] = other, other }))
		}},
		{"unregistered-issuer", func(c *tc, v *inst) string {
			id := c.instID("ghost")
			return c.sign(v.keys[0], claims(c, v, func(m jwt.MapClaims) { m["iss"], m["sub"] = id, id }))
		}},
		{"unknown-kid", func(c *tc, v *inst) string {
			k := *v.keys[0]
			k.kid = "conf-unknown-" + c.s.runID
			return c.sign(&k, c.instClaims(v.id))
		}},
		{"no-kid", func(c *tc, v *inst) string {
			t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c.instClaims(v.id))
			s, err := t.SignedString(v.keys[0].priv)
			c.check(err, "sign")
			return s
		}},
		{"other-key-same-kid", func(c *tc, v *inst) string {
			k := newKey(c, "EdDSA")
			k.kid = v.keys[0].kid
			return c.sign(k, c.instClaims(v.id))
		}},
		{"algorithm-not-the-keys", func(c *tc, v *inst) string {
			// Signed ES256 with a fresh P-256 key, naming the Ed25519 kid.
			k := newKey(c, "ES256")
			k.kid = v.keys[0].kid
			return c.sign(k, c.instClaims(v.id))
		}},
		{"lifetime-over-10-minutes", func(c *tc, v *inst) string {
			now := time.Now()
			return c.sign(v.keys[0], claims(c, v, func(m jwt.MapClaims) {
				m["iat"], m["exp"] = now.Unix(), now.Add(11*time.Minute).Unix()
			}))
		}},
		{"missing-exp", func(c *tc, v *inst) string {
			return c.sign(v.keys[0], claims(c, v, func(m jwt.MapClaims) { delete(m, "exp") }))
		}},
		{"tampered-payload", func(c *tc, v *inst) string {
			good := strings.Split(c.sign(v.keys[0], c.instClaims(v.id)), ".")
			cl := c.instClaims(v.id)
			cl["exp"] = time.Now().Add(9 * time.Minute).Unix()
			cl["x"] = "tampered"
			return good[0] + "." + b64json(c, cl) + "." + good[2]
		}},
		{"tampered-signature", func(c *tc, v *inst) string {
			good := strings.Split(c.sign(v.keys[1], c.instClaims(v.id)), ".")
			sig, err := base64.RawURLEncoding.DecodeString(good[2])
			c.check(err, "signature")
			sig[len(sig)/2] ^= 0x01
			return good[0] + "." + good[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
		}},
	}
}

func authCases() []caseDef {
	cs := []caseDef{
		{"auth/good-token-accepted", func(c *tc) {
			v := c.victim()
			c.postOK(v, c.outcome(c.learner(), nil))
			c.want(c.do("POST", "/v1/outcomes", c.sign(v.keys[1], c.instClaims(v.id)), c.outcome(c.learner(), nil)), http.StatusCreated)
		}},
		{"auth/missing-token", func(c *tc) {
			c.refused(func() {
				c.wantProblem(c.do("POST", "/v1/outcomes", "", c.outcome(c.learner(), nil)), http.StatusUnauthorized)
			})
			r := c.do("GET", "/v1/institutions/"+c.victim().id, "", nil)
			c.wantProblem(r, http.StatusUnauthorized)
			if h := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(strings.ToLower(h), "bearer") {
				c.fatalf("%s: WWW-Authenticate %q, want a Bearer challenge", r, h)
			}
		}},
		{"auth/removed-key", func(c *tc) {
			k1, k2 := newKey(c, "EdDSA"), newKey(c, "EdDSA")
			in := c.accredited("rmauth", "employer", k1, k2)
			tok := c.sign(k2, c.instClaims(in.id))
			c.want(c.do("POST", "/v1/outcomes", tok, c.outcome(c.learner(), nil)), http.StatusCreated)
			c.want(c.do("DELETE", "/v1/institutions/"+in.id+"/keys/"+url.PathEscape(k2.kid), c.admin(), nil), http.StatusOK, http.StatusNoContent)
			c.refused(func() { c.want401(c.do("POST", "/v1/outcomes", tok, c.outcome(c.learner(), nil))) })
			fresh := c.sign(k2, c.instClaims(in.id))
			c.refused(func() { c.want401(c.do("POST", "/v1/outcomes", fresh, c.outcome(c.learner(), nil))) })
		}},
		{"auth/suspended-institution", func(c *tc) {
			in := c.accredited("suspauth", "employer")
			tok := in.tok(c)
			c.want(c.do("POST", "/v1/outcomes", tok, c.outcome(c.learner(), nil)), http.StatusCreated)
			c.want(c.do("POST", "/v1/institutions/"+in.id+"/suspension", c.admin(), map[string]any{"reason": "conformance"}), http.StatusOK, http.StatusCreated)
			c.refused(func() { c.want401(c.do("GET", "/v1/institutions/"+in.id, tok, nil)) })
			c.refused(func() { c.want401(c.do("POST", "/v1/outcomes", tok, c.outcome(c.learner(), nil))) })
		}},
		{"auth/forged-admin-token", func(c *tc) {
			// An admin token signed by a key the service never published.
			k := newKey(c, "EdDSA")
			now := time.Now()
			tok := c.sign(k, jwt.MapClaims{"iss": "creditbank", "sub": "root", "aud": c.s.aud, "role": "admin",
				"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "conf-" + c.s.runID})
			c.refused(func() {
				c.want401(c.do("POST", "/v1/institutions", tok, (&inst{id: c.instID("forged"), keys: []*ikey{newKey(c, "EdDSA")}}).body("university")))
			})
		}},
		{"auth/institution-token-claiming-admin", func(c *tc) {
			// An institution's own key cannot make it an admin.
			v := c.victim()
			tok := c.sign(v.keys[0], claims(c, v, func(m jwt.MapClaims) { m["role"] = "admin" }))
			r := c.do("POST", "/v1/institutions", tok, (&inst{id: c.instID("claim"), keys: []*ikey{newKey(c, "EdDSA")}}).body("university"))
			if r.status != http.StatusUnauthorized && r.status != http.StatusForbidden {
				c.fatalf("%s, want 401 or 403", r)
			}
		}},
		{"auth/malformed-header", func(c *tc) {
			for _, h := range []string{"Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer not.a.jwt", "Bearer " + strings.Repeat("a", 20000)} {
				req, err := http.NewRequestWithContext(c.ctx, "GET", c.s.base+"/v1/institutions/"+c.victim().id, nil)
				c.check(err, "request")
				req.Header.Set("Authorization", h)
				resp, err := c.s.client.Do(req)
				c.check(err, "GET")
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					c.fatalf("Authorization %.20q... answered %d, want 401", h, resp.StatusCode)
				}
			}
		}},
	}
	for _, a := range attacks() {
		cs = append(cs, attack(a.name, a.tok))
	}
	// All the attacks at once, then a checkpoint a little over a second
	// later: the tree did not grow.
	cs = append(cs, caseDef{"auth/attacks-leave-the-checkpoint", func(c *tc) {
		v := c.victim()
		var toks []string
		for _, a := range attacks() {
			toks = append(toks, a.tok(c, v))
		}
		before := c.checkpointCovering(c.probe() + 1)
		for _, tok := range toks {
			c.want401(c.do("POST", "/v1/outcomes", tok, c.outcome(c.learner(), nil)))
		}
		time.Sleep(1200 * time.Millisecond)
		if after := c.readCheckpoint(); after.size != before.size || after.root != before.root {
			c.fatalf("after %d refused tokens the checkpoint grew from %d to %d", len(toks), before.size, after.size)
		}
	}})
	return cs
}
