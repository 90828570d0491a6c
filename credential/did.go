package credential

import (
	"net/url"
	"strings"
)

// DIDWeb is the did:web identifier (W3C CCG did:web method) of an issuer
// whose base URL is an https URL of a host alone, such as
// https://credits.example.gov → did:web:credits.example.gov (a port is
// percent-encoded: did:web:localhost%3A8443); false for any other URL,
// since did:web resolves over https only and a path would move the
// document away from /.well-known/did.json.
func DIDWeb(base string) (string, bool) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	return "did:web:" + strings.ReplaceAll(u.Host, ":", "%3A"), true
}

// DIDDocument is the issuer's DID document, served at
// /.well-known/did.json: its one verification method is the issuer key as
// a JWK (the JWKS's, with its kid), for assertions (signing credentials).
// The credentials keep the issuer URL as their issuer id: the did is
// another name for the same key, for verifiers that resolve dids.
func (is *Issuer) DIDDocument() (map[string]any, bool) {
	did, ok := DIDWeb(is.Base)
	if !ok {
		return nil, false
	}
	vm := did + "#" + is.Key.Kid
	return map[string]any{
		"@context":    []string{"https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/jws-2020/v1"},
		"id":          did,
		"alsoKnownAs": []string{is.Base},
		"verificationMethod": []map[string]any{{
			"id": vm, "type": "JsonWebKey2020", "controller": did, "publicKeyJwk": is.Key.Public(),
		}},
		"assertionMethod": []string{vm},
	}, true
}
