package api

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"creditbank/credential"
)

// TestDIDDocument serves the issuer's did:web document under an https
// issuer URL: its verification method is the key the JWKS lists under the
// same kid, and the issuer's public key. Under an http issuer URL there is
// none (404).
func TestDIDDocument(t *testing.T) {
	s := newTestServer(t)
	ck := newOASChecker(t, s)
	ck.call(t, request{route: "didDocument", path: "/.well-known/did.json", want: 404})

	issuer := &credential.Issuer{Key: s.issuer.Key, Base: "https://credits.example.gov:8443", Name: "Test credit bank"}
	h := New(Config{Bank: s.bank, Auth: s.auth, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Issuer: issuer})
	get := func(path string) []byte {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		return rec.Body.Bytes()
	}
	var doc struct {
		ID                 string `json:"id"`
		VerificationMethod []struct {
			ID, Type, Controller string
			PublicKeyJwk         map[string]string `json:"publicKeyJwk"`
		} `json:"verificationMethod"`
		AssertionMethod []string `json:"assertionMethod"`
	}
	if err := json.Unmarshal(get("/.well-known/did.json"), &doc); err != nil {
		t.Fatal(err)
	}
	var jwks struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(get("/.well-known/jwks.json"), &jwks); err != nil {
		t.Fatal(err)
	}
	const did = "did:web:credits.example.gov%3A8443"
	kid := s.issuer.Key.Kid
	if doc.ID != did || len(doc.VerificationMethod) != 1 || len(doc.AssertionMethod) != 1 || doc.AssertionMethod[0] != did+"#"+kid {
		t.Fatalf("document %+v", doc)
	}
	vm := doc.VerificationMethod[0]
	if vm.ID != did+"#"+kid || vm.Type != "JsonWebKey2020" || vm.Controller != did {
		t.Fatalf("verification method %+v", vm)
	}
	var listed map[string]string
	for _, k := range jwks.Keys {
		if k["kid"] == kid {
			listed = k
		}
	}
	if listed == nil || listed["x"] != vm.PublicKeyJwk["x"] || vm.PublicKeyJwk["kty"] != "OKP" || vm.PublicKeyJwk["crv"] != "Ed25519" {
		t.Fatalf("the document's key %v is not the JWKS's %v", vm.PublicKeyJwk, listed)
	}
	x, err := base64.RawURLEncoding.DecodeString(vm.PublicKeyJwk["x"])
	if err != nil || !ed25519.PublicKey(x).Equal(s.issuer.Key.Private.Public()) {
		t.Fatalf("the document's key is not the issuer's: %v", err)
	}
}
