package api

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// jwkMembers is a JWK, private or public, as a map, for tests that change
// its members.
func jwkMembers(t testing.TB, k json.Marshaler) map[string]any {
	t.Helper()
	b, err := k.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// withMembers returns k's private JWK with members set (a nil value
// deletes the member).
func withMembers(t *testing.T, k PrivateKey, set map[string]any) []byte {
	t.Helper()
	m := jwkMembers(t, k)
	for name, v := range set {
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkSigns fails unless k signs what want's public key verifies.
func checkSigns(t *testing.T, k PrivateKey, want crypto.PublicKey) {
	t.Helper()
	msg := []byte("a token's signing input")
	digest := sha256.Sum256(msg)
	switch pub := want.(type) {
	case ed25519.PublicKey:
		sig, err := k.Signer.Sign(rand.Reader, msg, crypto.Hash(0))
		if err != nil || !ed25519.Verify(pub, msg, sig) {
			t.Fatalf("the parsed Ed25519 key does not sign for its public key: %v", err)
		}
	case *ecdsa.PublicKey:
		sig, err := k.Signer.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil || !ecdsa.VerifyASN1(pub, digest[:], sig) {
			t.Fatalf("the parsed P-256 key does not sign for its public key: %v", err)
		}
	default:
		t.Fatalf("unexpected public key %T", want)
	}
}

// TestParsePrivateKey: the private JWKs keygen writes parse back to the
// same key, which signs for the public key and re-encodes to the same
// bytes; JWKs of another type or curve, without a usable "d", with "d" in
// bad base64, or whose public members do not belong to "d", are refused.
func TestParsePrivateKey(t *testing.T) {
	ed, ed2 := mustKey(t, "EdDSA"), mustKey(t, "EdDSA")
	ec, ec2 := mustKey(t, "ES256"), mustKey(t, "ES256")
	edD := jwkMembers(t, ed)["d"].(string)

	good := []struct {
		name    string
		data    []byte
		key     PrivateKey // the key it must be
		kid     string
		reenc   bool // MarshalJSON gives data back
		wantAlg string
	}{
		{"Ed25519 as keygen writes it", mustJSON(t, ed), ed, ed.Kid, true, "EdDSA"},
		{"P-256 as keygen writes it", mustJSON(t, ec), ec, ec.Kid, true, "ES256"},
		{"members it does not read", withMembers(t, ed, map[string]any{"key_ops": []string{"sign"}, "ext": true}), ed, ed.Kid, false, "EdDSA"},
		{"a kid other than the thumbprint", withMembers(t, ec, map[string]any{"kid": "college-2026"}), ec, "college-2026", true, "ES256"},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParsePrivateKey(tt.data)
			if err != nil {
				t.Fatalf("ParsePrivateKey(%s): %v", tt.data, err)
			}
			if k.Kid != tt.kid || k.Alg() != tt.wantAlg {
				t.Fatalf("kid %q alg %s, want %q %s", k.Kid, k.Alg(), tt.kid, tt.wantAlg)
			}
			checkSigns(t, k, tt.key.Signer.Public())
			if tt.reenc {
				b, err := k.MarshalJSON()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(b, tt.data) {
					t.Fatalf("re-encoded as\n%s\nread from\n%s", b, tt.data)
				}
			}
		})
	}

	bad := []struct {
		name string
		data []byte
		want string // in the error
	}{
		{"not JSON", []byte(`{"kty":"OKP",`), "private key:"},
		{"a JSON array", []byte(`[]`), "private key:"},
		{"missing d", withMembers(t, ed, map[string]any{"d": nil}), `"d"`},
		{"empty d", withMembers(t, ed, map[string]any{"d": ""}), `"d"`},
		{"d with base64 padding", withMembers(t, ed, map[string]any{"d": edD + "="}), `"d"`},
		{"d in the standard base64 alphabet", withMembers(t, ed, map[string]any{"d": "+" + edD[1:]}), `"d"`},
		{"d with white space", withMembers(t, ed, map[string]any{"d": edD[:10] + " " + edD[10:]}), `"d"`},
		{"d as a number", withMembers(t, ed, map[string]any{"d": 7}), "private key:"},
		{"d too short for Ed25519", withMembers(t, ed, map[string]any{"d": b64.EncodeToString(make([]byte, 31))}), "unsupported"},
		{"d of another Ed25519 key", withMembers(t, ed, map[string]any{"d": jwkMembers(t, ed2)["d"]}), "do not match"},
		{"x of another Ed25519 key", withMembers(t, ed, map[string]any{"x": jwkMembers(t, ed2)["x"]}), "do not match"},
		{"Ed25519 with a y", withMembers(t, ed, map[string]any{"y": jwkMembers(t, ec)["y"]}), "do not match"},
		{"d of another P-256 key", withMembers(t, ec, map[string]any{"d": jwkMembers(t, ec2)["d"]}), "do not match"},
		{"P-256 without y", withMembers(t, ec, map[string]any{"y": nil}), "do not match"},
		{"P-256 with another key's y", withMembers(t, ec, map[string]any{"y": jwkMembers(t, ec2)["y"]}), "do not match"},
		{"P-256 d of zero", withMembers(t, ec, map[string]any{"d": b64.EncodeToString(make([]byte, 32))}), "private key:"},
		{"P-256 d above the group order", withMembers(t, ec, map[string]any{"d": b64.EncodeToString(bytes.Repeat([]byte{0xff}, 32))}), "private key:"},
		{"P-256 d of 31 bytes", withMembers(t, ec, map[string]any{"d": b64.EncodeToString(bytes.Repeat([]byte{1}, 31))}), "private key:"},
		{"wrong curve: X25519", withMembers(t, ed, map[string]any{"crv": "X25519"}), "unsupported"},
		{"wrong curve: Ed448", withMembers(t, ed, map[string]any{"crv": "Ed448", "d": b64.EncodeToString(make([]byte, 57))}), "unsupported"},
		{"wrong curve: P-384", withMembers(t, ec, map[string]any{"crv": "P-384"}), "unsupported"},
		{"wrong curve: secp256k1", withMembers(t, ec, map[string]any{"crv": "secp256k1"}), "unsupported"},
		{"EC type with the Ed25519 curve", withMembers(t, ed, map[string]any{"kty": "EC"}), "unsupported"},
		{"OKP type with the P-256 curve", withMembers(t, ec, map[string]any{"kty": "OKP"}), "unsupported"},
		{"no kty", withMembers(t, ed, map[string]any{"kty": nil}), "unsupported"},
		{"RSA", []byte(`{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","d":"X4cTteJY_gn4FYPsXB8rdXix5vwsg1FLN5E3EaG6RJoVH-HLLKD9M7dx5oo7GURknchnrRweUkC7hT5fJLM0WbFAKNLWY2vv7B6NqXSzUvxT0_YSfqijwp3RTzlBaCxWp4doFk5N2o8Gy_nHNKroADIkJ46pRUohsXywbReAdYaMwFs9tv8d_cPVY3i07a3t8MN6TNwm0dSawm9v47UiCl3Sk5ZiG7xojPLu4sbg1U2jx4IBTNBznbJSzFHK66jT8bgkuqsk0GjskDJk19Z4qwjwbsnn4j2WBii3RL-Us2lGVkY8fkFzme1z0HbIkfz0Y6mqnOYtqc0X4jfcKoAC8Q","kid":"rsa-1"}`), "unsupported"},
		{"oct", []byte(`{"kty":"oct","k":"c2VjcmV0LXNoYXJlZC13aXRoLXRoZS1zZXJ2aWNl","kid":"hmac-1","alg":"HS256"}`), `"d"`},
		{"oct with a d", []byte(`{"kty":"oct","k":"c2VjcmV0","d":"c2VjcmV0","kid":"hmac-1"}`), "unsupported"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParsePrivateKey(tt.data)
			if err == nil {
				t.Fatalf("ParsePrivateKey accepted %s as a %s key", tt.data, k.Alg())
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to say %s", err, tt.want)
			}
		})
	}
}

func mustJSON(t *testing.T, k PrivateKey) []byte {
	t.Helper()
	b, err := k.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKeyFiles: WriteKeyFile writes a file of mode 0600 that LoadKeyFile
// reads back and never overwrites one; LoadKeyFile names the file in its
// errors and leaves a missing file recognisable.
func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	k := mustKey(t, "ES256")
	path := filepath.Join(dir, "college.jwk")
	if err := WriteKeyFile(path, k); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	got, err := LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kid != k.Kid {
		t.Fatalf("kid %q, want %q", got.Kid, k.Kid)
	}
	checkSigns(t, got, k.Signer.Public())
	if err := WriteKeyFile(path, mustKey(t, "EdDSA")); err == nil {
		t.Fatal("WriteKeyFile overwrote a key file")
	}
	if again, err := LoadKeyFile(path); err != nil || again.Kid != k.Kid {
		t.Fatalf("the key file changed: %v", err)
	}
	bad := filepath.Join(dir, "bad.jwk")
	if err := os.WriteFile(bad, []byte(`{"kty":"OKP","crv":"Ed25519","x":"AA"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyFile(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("error %v, want it to name %s", err, bad)
	}
	if _, err := LoadKeyFile(filepath.Join(dir, "missing.jwk")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}
