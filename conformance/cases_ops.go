package conformance

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// docs/contract.md section 5 and the token keys of section 2.
func opsCases() []caseDef {
	return []caseDef{
		{"ops/healthz", func(c *tc) { c.want(c.do("GET", "/healthz", "", nil), http.StatusOK) }},
		{"ops/readyz", func(c *tc) { c.want(c.do("GET", "/readyz", "", nil), http.StatusOK) }},
		{"ops/metrics", func(c *tc) {
			r := c.want(c.do("GET", "/metrics", "", nil), http.StatusOK)
			mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
			if mt != "text/plain" && !strings.Contains(mt, "openmetrics") {
				c.fatalf("/metrics content type %q, want the Prometheus text format", r.header.Get("Content-Type"))
			}
			body := string(r.body)
			if !strings.Contains(body, "# TYPE creditbank_") || !strings.Contains(body, "# HELP creditbank_") {
				c.fatalf("/metrics has no creditbank_ metrics with HELP and TYPE lines")
			}
			for _, line := range strings.Split(body, "\n") {
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				if f := strings.Fields(line); len(f) < 2 {
					c.fatalf("/metrics line %q is not \"name value\"", line)
				}
			}
		}},
		{"ops/openapi", func(c *tc) {
			doc := c.obj(c.want(c.do("GET", "/openapi.json", "", nil), http.StatusOK))
			if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1") {
				c.fatalf("openapi is %q, want 3.1.x", doc["openapi"])
			}
			paths, _ := doc["paths"].(map[string]any)
			have := map[string]bool{}
			for p := range paths {
				have[templateShape(p)] = true
			}
			for _, p := range contractPaths {
				if !have[templateShape(p)] {
					c.fatalf("the OpenAPI document lacks the contract's path %s", p)
				}
			}
		}},
		{"ops/jwks", func(c *tc) {
			var set struct {
				Keys []map[string]any `json:"keys"`
			}
			c.decode(c.want(c.do("GET", "/.well-known/jwks.json", "", nil), http.StatusOK), &set)
			if len(set.Keys) == 0 {
				c.fatalf("the JWK set has no keys")
			}
			for _, k := range set.Keys {
				for _, priv := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
					if _, ok := k[priv]; ok {
						c.fatalf("the JWK set publishes a private member %q", priv)
					}
				}
				if kid, _ := k["kid"].(string); kid == "" {
					c.fatalf("a published key has no kid: %v", k)
				}
			}
			// The admin token must verify with the published key it names.
			tok, err := jwt.Parse(c.admin(), func(t *jwt.Token) (any, error) {
				kid, _ := t.Header["kid"].(string)
				for _, k := range set.Keys {
					if k["kid"] == kid {
						return publicKey(k)
					}
				}
				return nil, fmt.Errorf("no published key has kid %q", kid)
			}, jwt.WithValidMethods([]string{"EdDSA", "ES256"}))
			if err != nil || !tok.Valid {
				c.fatalf("the admin token does not verify with /.well-known/jwks.json: %v", err)
			}
		}},
		// An early checkpoint, kept for the consistency proofs at the end.
		{"log/early-checkpoint", func(c *tc) { c.early() }},
	}
}

// contractPaths are the routes docs/contract.md names.
var contractPaths = []string{
	"/v1/institutions", "/v1/institutions/{id}", "/v1/institutions/{id}/keys", "/v1/institutions/{id}/keys/{kid}",
	"/v1/institutions/{id}/accreditations", "/v1/institutions/{id}/suspension", "/v1/outcomes",
	"/v1/outcomes/{seq}/revocation", "/v1/learners/{id}/transcript", "/v1/learners/{id}/balance", "/v1/rules",
	"/v1/rules/{id}", "/v1/rules/{id}/versions/{v}", "/v1/conversions", "/v1/audit/conversions",
	"/v1/log/entries/{seq}", "/v1/log/checkpoint", "/v1/log/key", "/v1/log/proof/inclusion",
	"/v1/log/proof/consistency", "/.well-known/jwks.json", "/metrics", "/healthz", "/readyz", "/openapi.json",
}

// templateShape blanks the parameter names of a path template, so that
// /v1/rules/{id}/versions/{v} and /v1/rules/{id}/versions/{version} match.
func templateShape(p string) string {
	var b strings.Builder
	in := false
	for _, r := range p {
		switch {
		case r == '{':
			in = true
			b.WriteString("{}")
		case r == '}':
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// publicKey reads an Ed25519 or P-256 public JWK.
func publicKey(k map[string]any) (any, error) {
	x, err := b64url.DecodeString(fmt.Sprint(k["x"]))
	if err != nil {
		return nil, fmt.Errorf("jwk x: %v", err)
	}
	switch {
	case k["kty"] == "OKP" && k["crv"] == "Ed25519" && len(x) == ed25519.PublicKeySize:
		return ed25519.PublicKey(x), nil
	case k["kty"] == "EC" && k["crv"] == "P-256":
		y, err := b64url.DecodeString(fmt.Sprint(k["y"]))
		if err != nil {
			return nil, fmt.Errorf("jwk y: %v", err)
		}
		if len(x) != 32 || len(y) != 32 {
			return nil, fmt.Errorf("jwk: P-256 coordinates of %d and %d bytes", len(x), len(y))
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("jwk: %v", err)
		}
		return pub, nil
	}
	b, _ := json.Marshal(k)
	return nil, fmt.Errorf("unsupported JWK %s", b)
}
