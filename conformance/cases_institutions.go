package conformance

import (
	"crypto/sha256"
	"net/http"
	"net/url"
)

// Institutions, their keys, accreditation and suspension (docs/contract.md
// sections 2 and 3).

var institutionKinds = []string{
	"university", "vocational_college", "open_university", "adult_college", "community_college",
	"community_school", "elderly_university", "training_provider", "cultural_venue",
	"research_institute", "employer",
}

// badRegistration is a registration the server must refuse with 400 or 422,
// writing nothing.
func badRegistration(name string, mod func(c *tc, body map[string]any)) caseDef {
	return caseDef{"registration/" + name, func(c *tc) {
		in := &inst{id: c.instID("bad"), keys: []*ikey{newKey(c, "EdDSA")}}
		body := in.body("university")
		mod(c, body)
		c.refused(func() {
			c.wantProblem(c.do("POST", "/v1/institutions", c.admin(), body), http.StatusBadRequest, http.StatusUnprocessableEntity)
		})
	}}
}

func registrationCases() []caseDef {
	return []caseDef{
		{"registration/created", func(c *tc) {
			k := newKey(c, "EdDSA")
			in := &inst{id: c.instID("reg"), keys: []*ikey{k}}
			got := c.obj(c.want(c.do("POST", "/v1/institutions", c.admin(), in.body("university")), http.StatusCreated))
			if c.str(got, "id") != in.id || c.str(got, "kind") != "university" || c.str(got, "name") != "Conformance "+in.id {
				c.fatalf("registration answered %s, want the institution registered", compact(got))
			}
			keys, _ := got["keys"].([]any)
			if len(keys) != 1 {
				c.fatalf("registration answered keys %v, want the one key", got["keys"])
			}
			jwk, _ := keys[0].(map[string]any)
			if jwk["kid"] != k.kid || jwk["x"] != k.jwk()["x"] {
				c.fatalf("registration answered key %v, want kid %s and its x", jwk, k.kid)
			}
			if _, ok := jwk["d"]; ok {
				c.fatalf("registration answered a private key member d")
			}
		}},
		{"registration/p256-key", func(c *tc) {
			in := c.accredited("p256", "university", newKey(c, "ES256"))
			c.postOK(in, c.outcome(c.learner(), nil))
		}},
		{"registration/every-kind", func(c *tc) {
			for _, kind := range institutionKinds {
				c.register("kind", kind)
			}
		}},
		{"registration/get", func(c *tc) {
			in := c.college()
			got := c.obj(c.want(c.do("GET", "/v1/institutions/"+in.id, c.admin(), nil), http.StatusOK))
			if c.str(got, "id") != in.id || c.str(got, "kind") != "open_university" {
				c.fatalf("GET institution answered %s", compact(got))
			}
			keys, _ := got["keys"].([]any)
			if len(keys) != 1 || keys[0].(map[string]any)["kid"] != in.keys[0].kid {
				c.fatalf("GET institution keys %v, want kid %s", got["keys"], in.keys[0].kid)
			}
		}},
		{"registration/get-with-institution-token", func(c *tc) {
			c.want(c.do("GET", "/v1/institutions/"+c.univ().id, c.college().tok(c), nil), http.StatusOK)
		}},
		{"registration/get-unknown", func(c *tc) {
			c.wantProblem(c.do("GET", "/v1/institutions/"+c.instID("none"), c.admin(), nil), http.StatusNotFound)
		}},
		{"registration/duplicate", func(c *tc) {
			in := c.register("dup", "university")
			c.refused(func() {
				c.wantProblem(c.do("POST", "/v1/institutions", c.admin(), (&inst{id: in.id, keys: []*ikey{newKey(c, "EdDSA")}}).body("employer")), http.StatusConflict)
			})
		}},
		badRegistration("bad-kind", func(c *tc, b map[string]any) { b["kind"] = "castle" }),
		badRegistration("upper-case-id", func(c *tc, b map[string]any) { b["id"] = "Conf-" + c.s.runID + ".Example" }),
		badRegistration("short-id", func(c *tc, b map[string]any) { b["id"] = "ab" }),
		badRegistration("id-starting-with-dash", func(c *tc, b map[string]any) { b["id"] = "-" + c.instID("x") }),
		badRegistration("no-keys", func(c *tc, b map[string]any) { b["keys"] = []any{} }),
		badRegistration("private-ed25519-jwk", func(c *tc, b map[string]any) {
			b["keys"] = []any{newKey(c, "EdDSA").privateJWK()}
		}),
		badRegistration("private-p256-jwk", func(c *tc, b map[string]any) {
			b["keys"] = []any{newKey(c, "ES256").privateJWK()}
		}),
		badRegistration("rsa-jwk", func(c *tc, b map[string]any) {
			b["keys"] = []any{map[string]any{"kty": "RSA", "kid": "rsa-1", "e": "AQAB",
				"n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw"}}
		}),
		badRegistration("jwk-short-x", func(c *tc, b map[string]any) {
			b["keys"] = []any{map[string]any{"kty": "OKP", "crv": "Ed25519", "x": "abc", "kid": "short"}}
		}),
	}
}

func keyCases() []caseDef {
	return []caseDef{
		{"keys/add", func(c *tc) {
			in := c.accredited("addkey", "university")
			k := newKey(c, "ES256")
			c.want(c.do("POST", "/v1/institutions/"+in.id+"/keys", c.admin(), k.jwk()), http.StatusCreated, http.StatusOK)
			got := c.obj(c.want(c.do("GET", "/v1/institutions/"+in.id, c.admin(), nil), http.StatusOK))
			if keys, _ := got["keys"].([]any); len(keys) != 2 {
				c.fatalf("after adding a key the institution has keys %v, want 2", got["keys"])
			}
			tok := c.sign(k, c.instClaims(in.id))
			c.want(c.do("POST", "/v1/outcomes", tok, c.outcome(c.learner(), nil)), http.StatusCreated)
		}},
		{"keys/without-kid-named-by-thumbprint", func(c *tc) {
			// docs/contract.md section 2: a JWK without kid (as jose
			// exports them) is named by its RFC 7638 thumbprint, the
			// SHA-256 of its required members in lexical order.
			in := c.accredited("nokid", "university")
			k := newKey(c, "EdDSA")
			j := k.jwk()
			delete(j, "kid")
			sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + j["x"].(string) + `"}`))
			k.kid = b64url.EncodeToString(sum[:])
			c.want(c.do("POST", "/v1/institutions/"+in.id+"/keys", c.admin(), j), http.StatusCreated, http.StatusOK)
			got := c.obj(c.want(c.do("GET", "/v1/institutions/"+in.id, c.admin(), nil), http.StatusOK))
			found := false
			for _, key := range got["keys"].([]any) {
				if m, _ := key.(map[string]any); m["kid"] == k.kid {
					found = true
				}
			}
			if !found {
				c.fatalf("a key added without kid is not listed under its thumbprint %s: %v", k.kid, got["keys"])
			}
			tok := c.sign(k, c.instClaims(in.id))
			c.want(c.do("POST", "/v1/outcomes", tok, c.outcome(c.learner(), nil)), http.StatusCreated)
		}},
		{"keys/add-private-jwk", func(c *tc) {
			in := c.college()
			c.refused(func() {
				c.wantProblem(c.do("POST", "/v1/institutions/"+in.id+"/keys", c.admin(), newKey(c, "EdDSA").privateJWK()),
					http.StatusBadRequest, http.StatusUnprocessableEntity)
			})
		}},
		{"keys/remove", func(c *tc) {
			k1, k2 := newKey(c, "EdDSA"), newKey(c, "ES256")
			in := c.accredited("rmkey", "university", k1, k2)
			old := c.sign(k2, c.instClaims(in.id))
			c.want(c.do("POST", "/v1/outcomes", old, c.outcome(c.learner(), nil)), http.StatusCreated)
			c.want(c.do("DELETE", "/v1/institutions/"+in.id+"/keys/"+url.PathEscape(k2.kid), c.admin(), nil),
				http.StatusOK, http.StatusNoContent)
			got := c.obj(c.want(c.do("GET", "/v1/institutions/"+in.id, c.admin(), nil), http.StatusOK))
			if keys, _ := got["keys"].([]any); len(keys) != 1 {
				c.fatalf("after removing a key the institution has keys %v, want 1", got["keys"])
			}
			c.refused(func() { c.want401(c.do("POST", "/v1/outcomes", old, c.outcome(c.learner(), nil))) })
			c.want(c.do("POST", "/v1/outcomes", c.sign(k1, c.instClaims(in.id)), c.outcome(c.learner(), nil)), http.StatusCreated)
		}},
	}
}

// narrow is accredited for vocational outcomes up to level 5 completed in
// 2015 to 2020 only.
func (c *tc) narrow() *inst {
	return fixture(c, "narrow", func() *inst {
		in := c.register("narrow", "vocational_college")
		c.accredit(in.id, []string{"vocational"}, 5, "2015-01-01", "2020-12-31")
		return in
	})
}

func inScope(o map[string]any) {
	o["sector"], o["level"], o["completed_on"] = "vocational", 5, "2018-06-01"
}

// outOfScope posts, as narrow, an outcome changed by mod that must be
// refused with 422 and write nothing.
func outOfScope(name string, mod func(o map[string]any)) caseDef {
	return caseDef{"scope/" + name, func(c *tc) {
		in := c.narrow()
		o := c.outcome(c.learner(), func(o map[string]any) { inScope(o); mod(o) })
		c.refused(func() { c.wantProblem(c.post(in, o), http.StatusUnprocessableEntity) })
	}}
}

func scopeCases() []caseDef {
	return []caseDef{
		{"scope/accreditation-answer", func(c *tc) {
			in := c.register("acc", "training_provider")
			got := c.obj(c.want(c.do("POST", "/v1/institutions/"+in.id+"/accreditations", c.admin(), map[string]any{
				"sectors": []string{"non_degree"}, "max_level": 4, "valid_from": "2020-01-01", "valid_until": "2030-12-31"}), http.StatusCreated))
			if c.num(got, "max_level") != 4 {
				c.fatalf("accreditation answered %s, want max_level 4", compact(got))
			}
		}},
		{"scope/inside", func(c *tc) { c.postOK(c.narrow(), c.outcome(c.learner(), inScope)) }},
		{"scope/not-accredited", func(c *tc) {
			in := c.register("unacc", "employer")
			c.refused(func() { c.wantProblem(c.post(in, c.outcome(c.learner(), nil)), http.StatusUnprocessableEntity) })
		}},
		outOfScope("sector", func(o map[string]any) { o["sector"] = "degree" }),
		outOfScope("level", func(o map[string]any) { o["level"] = 6 }),
		outOfScope("before-valid-from", func(o map[string]any) { o["completed_on"] = "2014-12-31" }),
		outOfScope("after-valid-until", func(o map[string]any) { o["completed_on"] = "2021-01-01" }),
		{"scope/bad-accreditation", func(c *tc) {
			in := c.register("badacc", "employer")
			c.refused(func() {
				c.wantProblem(c.do("POST", "/v1/institutions/"+in.id+"/accreditations", c.admin(), map[string]any{
					"sectors": []string{"non_degree"}, "max_level": 11, "valid_from": "2020-01-01", "valid_until": "2030-12-31"}),
					http.StatusBadRequest, http.StatusUnprocessableEntity)
			})
		}},
		{"scope/batch-item-outside", func(c *tc) {
			in := c.narrow()
			l := c.learner()
			good := c.outcome(l, inScope)
			bad := c.outcome(l, func(o map[string]any) { inScope(o); o["level"] = 7 })
			var res struct {
				Results []map[string]any `json:"results"`
			}
			c.decode(c.want(c.post(in, map[string]any{"outcomes": []any{bad, good}}), http.StatusOK), &res)
			if len(res.Results) != 2 || res.Results[0]["status"] != "rejected" || res.Results[1]["status"] != "created" {
				c.fatalf("batch answered %v, want rejected then created", res.Results)
			}
		}},
		{"suspension/tokens-refused", func(c *tc) {
			in := c.accredited("susp", "adult_college")
			tok := in.tok(c)
			c.want(c.do("POST", "/v1/outcomes", tok, c.outcome(c.learner(), nil)), http.StatusCreated)
			c.want(c.do("POST", "/v1/institutions/"+in.id+"/suspension", c.admin(), map[string]any{"reason": "conformance"}),
				http.StatusOK, http.StatusCreated)
			c.refused(func() { c.want401(c.do("POST", "/v1/outcomes", tok, c.outcome(c.learner(), nil))) })
			c.refused(func() { c.want401(c.post(in, c.outcome(c.learner(), nil))) })
		}},
	}
}
