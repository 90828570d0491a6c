package accreditation

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"filippo.io/edwards25519"
)

var jwkB64 = base64.RawURLEncoding

// jwkTestKeys are one key of each supported type, in JWK form.
type jwkTestKeys struct {
	edPub      ed25519.PublicKey
	edX        string
	ecPub      *ecdsa.PublicKey
	ecX, ecY   string
	ecPriv     *ecdsa.PrivateKey
	edPrivSeed string
}

func newJWKTestKeys(t testing.TB) jwkTestKeys {
	t.Helper()
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	point, err := ecPriv.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return jwkTestKeys{
		edPub:      edPub,
		edX:        jwkB64.EncodeToString(edPub),
		ecPub:      &ecPriv.PublicKey,
		ecX:        jwkB64.EncodeToString(point[1:33]),
		ecY:        jwkB64.EncodeToString(point[33:]),
		ecPriv:     ecPriv,
		edPrivSeed: jwkB64.EncodeToString(edPriv.Seed()),
	}
}

// obj builds a JSON object from name, raw-value pairs, in the given order
// and without any checking, so that tests can write malformed JWKs.
func jwkObj(pairs ...string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i < len(pairs); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(pairs[i]) + ":" + pairs[i+1])
	}
	b.WriteByte('}')
	return b.String()
}

// q quotes a string as a JSON value.
func jwkQ(s string) string { return strconv.Quote(s) }

func (k jwkTestKeys) ed(extra ...string) string {
	return jwkObj(append([]string{"kty", jwkQ("OKP"), "crv", jwkQ("Ed25519"), "x", jwkQ(k.edX), "kid", jwkQ("k1")}, extra...)...)
}

func (k jwkTestKeys) ec(extra ...string) string {
	return jwkObj(append([]string{"kty", jwkQ("EC"), "crv", jwkQ("P-256"), "x", jwkQ(k.ecX), "y", jwkQ(k.ecY), "kid", jwkQ("k1")}, extra...)...)
}

// jwkSameKey reports whether two parsed keys are the same key with the same
// kid and alg; PublicJWK cannot be compared with ==.
func jwkSameKey(a, b PublicJWK) bool {
	if a.Kid != b.Kid || a.Alg != b.Alg {
		return false
	}
	eq, ok := a.Key.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b.Key)
}

func TestParsePublicJWKGood(t *testing.T) {
	k := newJWKTestKeys(t)
	tests := []struct {
		name, jwk string
		key       crypto.PublicKey
		alg       string
		kid       string
	}{
		{"ed25519 minimal", k.ed(), k.edPub, "EdDSA", "k1"},
		{"ed25519 all members", k.ed("alg", jwkQ("EdDSA"), "use", jwkQ("sig"), "key_ops", `["verify"]`), k.edPub, "EdDSA", "k1"},
		{"ed25519 members reordered", jwkObj("kid", jwkQ("a.b_c-D9"), "x", jwkQ(k.edX), "alg", jwkQ("EdDSA"), "crv", jwkQ("Ed25519"), "kty", jwkQ("OKP")), k.edPub, "EdDSA", "a.b_c-D9"},
		{"ed25519 whitespace", " \n\t" + strings.ReplaceAll(k.ed(), ",", " ,\n ") + "\r\n ", k.edPub, "EdDSA", "k1"},
		{"ed25519 escaped name", strings.Replace(k.ed(), `"kid"`, `"ki\u0064"`, 1), k.edPub, "EdDSA", "k1"},
		{"kid of 64", jwkObj("kty", jwkQ("OKP"), "crv", jwkQ("Ed25519"), "x", jwkQ(k.edX), "kid", jwkQ(strings.Repeat("a", 64))), k.edPub, "EdDSA", strings.Repeat("a", 64)},
		{"kid of 1", jwkObj("kty", jwkQ("OKP"), "crv", jwkQ("Ed25519"), "x", jwkQ(k.edX), "kid", jwkQ("Z")), k.edPub, "EdDSA", "Z"},
		{"kid with single dots", jwkObj("kty", jwkQ("OKP"), "crv", jwkQ("Ed25519"), "x", jwkQ(k.edX), "kid", jwkQ(".a.b.")), k.edPub, "EdDSA", ".a.b."},
		{"ed25519 alg Ed25519 (RFC 9864)", k.ed("alg", jwkQ("Ed25519")), k.edPub, "EdDSA", "k1"},
		{"ed25519 without kid", jwkObj("kty", jwkQ("OKP"), "crv", jwkQ("Ed25519"), "x", jwkQ(k.edX)), k.edPub, "EdDSA", PublicJWK{Key: k.edPub}.Thumbprint()},
		{"p256 minimal", k.ec(), k.ecPub, "ES256", "k1"},
		{"p256 without kid", jwkObj("kty", jwkQ("EC"), "crv", jwkQ("P-256"), "x", jwkQ(k.ecX), "y", jwkQ(k.ecY)), k.ecPub, "ES256", PublicJWK{Key: k.ecPub}.Thumbprint()},
		{"p256 all members", k.ec("alg", jwkQ("ES256"), "use", jwkQ("sig"), "key_ops", `["verify"]`), k.ecPub, "ES256", "k1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePublicJWK([]byte(tc.jwk))
			if err != nil {
				t.Fatalf("ParsePublicJWK(%s) = %v", tc.jwk, err)
			}
			want := PublicJWK{Kid: tc.kid, Alg: tc.alg, Key: tc.key}
			if !jwkSameKey(got, want) {
				t.Fatalf("ParsePublicJWK(%s) = %+v, want %+v", tc.jwk, got, want)
			}
			switch key := got.Key.(type) {
			case ed25519.PublicKey:
				if tc.alg != "EdDSA" || len(key) != ed25519.PublicKeySize {
					t.Fatalf("Ed25519 key %v with alg %s", key, tc.alg)
				}
			case *ecdsa.PublicKey:
				if tc.alg != "ES256" || key.Curve != elliptic.P256() {
					t.Fatalf("ECDSA key on %v with alg %s", key.Curve, tc.alg)
				}
			default:
				t.Fatalf("key of type %T", got.Key)
			}
		})
	}
}

// TestParsePublicJWKVerifies checks that a parsed key is usable as it is:
// a signature by the private key verifies with Key.
func TestParsePublicJWKVerifies(t *testing.T) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	jwk := jwkObj("kty", jwkQ("OKP"), "crv", jwkQ("Ed25519"), "x", jwkQ(jwkB64.EncodeToString(edPub)), "kid", jwkQ("k"))
	k, err := ParsePublicJWK([]byte(jwk))
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("credit record")
	if !ed25519.Verify(k.Key.(ed25519.PublicKey), msg, ed25519.Sign(edPriv, msg)) {
		t.Error("Ed25519 signature does not verify with the parsed key")
	}

	keys := newJWKTestKeys(t)
	k, err = ParsePublicJWK([]byte(keys.ec()))
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(msg)
	sig, err := ecdsa.SignASN1(rand.Reader, keys.ecPriv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(k.Key.(*ecdsa.PublicKey), digest[:], sig) {
		t.Error("ES256 signature does not verify with the parsed key")
	}
}

func TestParsePublicJWKBad(t *testing.T) {
	k := newJWKTestKeys(t)
	edBase := []string{"kty", jwkQ("OKP"), "crv", jwkQ("Ed25519"), "x", jwkQ(k.edX)}
	withKid := func(kid string) string { return jwkObj(append(edBase, "kid", kid)...) }

	// A P-256 point off the curve: a real x with a changed y.
	point, _ := k.ecPub.Bytes()
	badY := append([]byte(nil), point[33:]...)
	badY[31] ^= 1
	offCurve := jwkObj("kty", jwkQ("EC"), "crv", jwkQ("P-256"), "x", jwkQ(k.ecX), "y", jwkQ(jwkB64.EncodeToString(badY)), "kid", jwkQ("k1"))
	ff := jwkB64.EncodeToString(bytes.Repeat([]byte{0xff}, 32))
	zero := jwkB64.EncodeToString(make([]byte, 32))

	// An x whose unused low bits are not zero: 43 characters hold 258 bits.
	lastBits := []byte(k.edX)
	lastBits[42] = jwkB64Alphabet[strings.IndexByte(jwkB64Alphabet, lastBits[42])^1]

	rsa := jwkObj("kty", jwkQ("RSA"), "n", jwkQ("sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw"), "e", jwkQ("AQAB"), "kid", jwkQ("k1"))

	tests := []struct{ name, jwk, want string }{
		// Private keys.
		{"ed25519 private d", k.ed("d", jwkQ(k.edPrivSeed)), "private key part"},
		{"p256 private d", k.ec("d", jwkQ(jwkB64.EncodeToString(jwkECPrivBytes(t, k.ecPriv)))), "private key part"},
		{"private d first", jwkObj("d", jwkQ("AA"), "kty", jwkQ("nonsense")), "private key part"},
		{"private d null", k.ed("d", "null"), "private key part"},
		{"private d escaped", jwkAddRaw(k.ed(), `"\u0064":"AA"`), "private key part"},
		{"rsa private p", jwkObj("kty", jwkQ("RSA"), "p", jwkQ("AA")), "private key part"},
		{"rsa private qi", jwkObj("kty", jwkQ("RSA"), "qi", jwkQ("AA")), "private key part"},
		{"rsa private oth", jwkObj("kty", jwkQ("RSA"), "oth", "[]"), "private key part"},
		{"oct secret k", jwkObj("kty", jwkQ("oct"), "k", jwkQ("c2VjcmV0")), "private key part"},
		// Key types and curves.
		{"rsa", rsa, "key type \"RSA\" is not supported"},
		{"oct", jwkObj("kty", jwkQ("oct"), "crv", jwkQ("Ed25519"), "x", jwkQ(k.edX), "kid", jwkQ("k1")), "key type \"oct\""},
		{"kty lower case", jwkObj("kty", jwkQ("okp"), "crv", jwkQ("Ed25519"), "x", jwkQ(k.edX), "kid", jwkQ("k1")), "key type"},
		{"kty missing", jwkObj("crv", jwkQ("Ed25519"), "x", jwkQ(k.edX), "kid", jwkQ("k1")), `no "kty"`},
		{"kty number", jwkObj("kty", "1", "crv", jwkQ("Ed25519"), "x", jwkQ(k.edX), "kid", jwkQ("k1")), `"kty" must be a string`},
		{"kty null", jwkObj("kty", "null", "crv", jwkQ("Ed25519"), "x", jwkQ(k.edX), "kid", jwkQ("k1")), `"kty" must be a string`},
		{"crv missing", jwkObj("kty", jwkQ("OKP"), "x", jwkQ(k.edX), "kid", jwkQ("k1")), `no "crv"`},
		{"x25519", jwkObj("kty", jwkQ("OKP"), "crv", jwkQ("X25519"), "x", jwkQ(k.edX), "kid", jwkQ("k1")), "curve \"X25519\""},
		{"ed448", jwkObj("kty", jwkQ("OKP"), "crv", jwkQ("Ed448"), "x", jwkQ(k.edX), "kid", jwkQ("k1")), "curve \"Ed448\""},
		{"p384", jwkObj("kty", jwkQ("EC"), "crv", jwkQ("P-384"), "x", jwkQ(k.ecX), "y", jwkQ(k.ecY), "kid", jwkQ("k1")), "curve \"P-384\""},
		{"secp256k1", jwkObj("kty", jwkQ("EC"), "crv", jwkQ("secp256k1"), "x", jwkQ(k.ecX), "y", jwkQ(k.ecY), "kid", jwkQ("k1")), "curve"},
		{"ed25519 as EC", jwkObj("kty", jwkQ("EC"), "crv", jwkQ("Ed25519"), "x", jwkQ(k.edX), "kid", jwkQ("k1")), "curve \"Ed25519\" is not supported for EC"},
		{"p256 as OKP", jwkObj("kty", jwkQ("OKP"), "crv", jwkQ("P-256"), "x", jwkQ(k.ecX), "y", jwkQ(k.ecY), "kid", jwkQ("k1")), "curve \"P-256\" is not supported for OKP"},
		{"ed25519 with y", k.ed("y", jwkQ(k.edX)), `"y" is not allowed`},
		// Key material.
		{"p256 off curve", offCurve, "not a point on the P-256 curve"},
		{"p256 all ff", jwkObj("kty", jwkQ("EC"), "crv", jwkQ("P-256"), "x", jwkQ(ff), "y", jwkQ(ff), "kid", jwkQ("k1")), "not a point"},
		{"p256 zero", jwkObj("kty", jwkQ("EC"), "crv", jwkQ("P-256"), "x", jwkQ(zero), "y", jwkQ(zero), "kid", jwkQ("k1")), "not a point"},
		{"p256 y missing", jwkObj("kty", jwkQ("EC"), "crv", jwkQ("P-256"), "x", jwkQ(k.ecX), "kid", jwkQ("k1")), `no "y"`},
		{"x missing", jwkObj("kty", jwkQ("OKP"), "crv", jwkQ("Ed25519"), "kid", jwkQ("k1")), `no "x"`},
		{"x empty", jwkWithKidX(edBase, "", jwkQ("k1")), "is 0 bytes"},
		{"x short", jwkWithKidX(edBase, k.edX[:41], jwkQ("k1")), "not valid base64url"},
		{"x 31 bytes", jwkWithKidX(edBase, jwkB64.EncodeToString(make([]byte, 31)), jwkQ("k1")), "is 31 bytes, want 32"},
		{"x 33 bytes", jwkWithKidX(edBase, jwkB64.EncodeToString(make([]byte, 33)), jwkQ("k1")), "is 33 bytes, want 32"},
		{"x padded", jwkWithKidX(edBase, k.edX+"=", jwkQ("k1")), "without padding"},
		{"x std base64", jwkWithKidX(edBase, base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)), jwkQ("k1")), "not base64url"},
		{"x with newline", jwkWithKidX(edBase, k.edX[:20]+`\n`+k.edX[20:], jwkQ("k1")), "not base64url"},
		{"x with space", jwkWithKidX(edBase, k.edX[:20]+" "+k.edX[20:], jwkQ("k1")), "not base64url"},
		{"x trailing bits", jwkWithKidX(edBase, string(lastBits), jwkQ("k1")), "not valid base64url"},
		{"x number", jwkObj("kty", jwkQ("OKP"), "crv", jwkQ("Ed25519"), "x", "12", "kid", jwkQ("k1")), `"x" must be a string`},
		{"y 31 bytes", jwkObj("kty", jwkQ("EC"), "crv", jwkQ("P-256"), "x", jwkQ(k.ecX), "y", jwkQ(jwkB64.EncodeToString(make([]byte, 31))), "kid", jwkQ("k1")), `"y" is 31 bytes`},
		// kid.
		{"kid empty", withKid(jwkQ("")), "kid is empty"},
		{"kid 65", withKid(jwkQ(strings.Repeat("a", 65))), "more than 64"},
		{"kid slash", withKid(jwkQ("a/b")), "may contain only"},
		{"kid dotdot", withKid(jwkQ("a..b")), `contain ".."`},
		{"kid only dotdot", withKid(jwkQ("..")), `contain ".."`},
		{"kid dot", withKid(jwkQ(".")), `must not be "."`},
		{"kid space", withKid(jwkQ("a b")), "may contain only"},
		{"kid unicode", withKid(jwkQ("clé")), "may contain only"},
		{"kid nul", withKid(`"a\u0000"`), "may contain only"},
		{"kid number", withKid("7"), `"kid" must be a string`},
		// alg, use, key_ops.
		{"alg ES256 on ed25519", k.ed("alg", jwkQ("ES256")), `alg "ES256" does not match`},
		{"alg EdDSA on p256", k.ec("alg", jwkQ("EdDSA")), `alg "EdDSA" does not match`},
		{"alg Ed25519 on p256", k.ec("alg", jwkQ("Ed25519")), `alg "Ed25519" does not match`},
		{"alg Ed448", k.ed("alg", jwkQ("Ed448")), `alg "Ed448" does not match`},
		{"alg RS256", k.ed("alg", jwkQ("RS256")), "does not match"},
		{"alg none", k.ec("alg", jwkQ("none")), "does not match"},
		{"alg empty", k.ed("alg", jwkQ("")), "does not match"},
		{"alg lower case", k.ed("alg", jwkQ("eddsa")), "does not match"},
		{"alg null", k.ed("alg", "null"), `"alg" must be a string`},
		{"use enc", k.ed("use", jwkQ("enc")), `use "enc" is not allowed`},
		{"use empty", k.ed("use", jwkQ("")), "is not allowed"},
		{"use array", k.ed("use", `["sig"]`), `"use" must be a string`},
		{"key_ops sign", k.ed("key_ops", `["sign"]`), "exactly"},
		{"key_ops verify twice", k.ed("key_ops", `["verify","verify"]`), "exactly"},
		{"key_ops verify and sign", k.ed("key_ops", `["verify","sign"]`), "exactly"},
		{"key_ops empty", k.ed("key_ops", `[]`), "exactly"},
		{"key_ops string", k.ed("key_ops", jwkQ("verify")), "array of strings"},
		{"key_ops null item", k.ed("key_ops", `[null]`), "exactly"},
		{"key_ops null", k.ed("key_ops", `null`), "array of strings"},
		// Other members.
		{"x5c", k.ed("x5c", `["MIIB"]`), "certificate chains are not supported"},
		{"x5t", k.ed("x5t", jwkQ("AA")), "certificate chains"},
		{"x5t#S256", k.ed("x5t#S256", jwkQ("AA")), "certificate chains"},
		{"x5u", k.ed("x5u", jwkQ("https://example.org/c")), "certificate chains"},
		{"unknown exp", k.ed("exp", "1"), `unknown member "exp"`},
		{"unknown upper case", k.ed("KTY", jwkQ("OKP")), `unknown member "KTY"`},
		{"unknown n", k.ed("n", jwkQ("AA")), `unknown member "n"`},
		// JSON form.
		{"duplicate kid", k.ed("kid", jwkQ("k2")), `member "kid" more than once`},
		{"duplicate x", k.ed("x", jwkQ(k.edX)), `member "x" more than once`},
		{"duplicate escaped", jwkAddRaw(k.ed(), `"k\u0069d":"k1"`), `"kid" more than once`},
		{"trailing object", k.ed() + "{}", "data after"},
		{"trailing text", k.ed() + "x", "data after"},
		{"two objects", k.ed() + " " + k.ed(), "data after"},
		{"not an object", `[` + k.ed() + `]`, "must be a JSON object"},
		{"string", jwkQ(k.ed()), "must be a JSON object"},
		{"null", `null`, "must be a JSON object"},
		{"empty", ``, "not valid JSON"},
		{"empty object", `{}`, `no "kty"`},
		{"truncated", k.ed()[:40], "not valid JSON"},
		{"unclosed", strings.TrimSuffix(k.ed(), "}"), "not valid JSON"},
		{"trailing comma", strings.TrimSuffix(k.ed(), "}") + ",}", "not valid JSON"},
		{"single quotes", strings.ReplaceAll(k.ed(), `"`, `'`), "not valid JSON"},
		{"too big", k.ed() + strings.Repeat(" ", MaxJWKSize), "more than the 4096 allowed"},
		{"too big member", k.ed("exp", jwkQ(strings.Repeat("a", MaxJWKSize))), "more than the 4096 allowed"},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		if seen[tc.name] {
			t.Fatalf("duplicate test name %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePublicJWK([]byte(tc.jwk))
			if err == nil {
				t.Fatalf("ParsePublicJWK(%s) = %+v, want error containing %q", tc.jwk, got, tc.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Fatalf("ParsePublicJWK(%s) error = %q, want it to contain %q", tc.jwk, msg, tc.want)
			}
			if msg[0] < 'a' || msg[0] > 'z' {
				t.Errorf("error %q does not start in lower case", msg)
			}
			if len(msg) > 300 {
				t.Errorf("error is %d bytes long: %q", len(msg), msg)
			}
			if got.Key != nil || got.Kid != "" || got.Alg != "" {
				t.Errorf("ParsePublicJWK returned %+v with its error", got)
			}
		})
	}
}

// jwkAddRaw adds a member, written as raw JSON, at the end of an object.
func jwkAddRaw(object, member string) string {
	return strings.TrimSuffix(object, "}") + "," + member + "}"
}

func jwkECPrivBytes(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	b, err := k.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const jwkB64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// jwkWithKidX builds an Ed25519 JWK from base with x replaced and the given
// raw kid value.
func jwkWithKidX(base []string, x, kid string) string {
	pairs := append([]string(nil), base...)
	for i := 0; i < len(pairs); i += 2 {
		if pairs[i] == "x" {
			pairs[i+1] = jwkQ(x)
		}
	}
	return jwkObj(append(pairs, "kid", kid)...)
}

func TestPublicJWKRoundTrip(t *testing.T) {
	k := newJWKTestKeys(t)
	inputs := []string{
		k.ed(),
		k.ed("alg", jwkQ("EdDSA"), "use", jwkQ("sig"), "key_ops", `["verify"]`),
		k.ec(),
		k.ec("key_ops", `["verify"]`),
	}
	for _, in := range inputs {
		first, err := ParsePublicJWK([]byte(in))
		if err != nil {
			t.Fatalf("ParsePublicJWK(%s): %v", in, err)
		}
		enc, err := first.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
		second, err := ParsePublicJWK(enc)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", enc, err)
		}
		if !jwkSameKey(first, second) {
			t.Fatalf("round trip changed the key: %+v then %+v", first, second)
		}
		again, err := second.MarshalJSON()
		if err != nil || !bytes.Equal(enc, again) {
			t.Fatalf("re-encoding gave %s, %v; want %s", again, err, enc)
		}
		if first.Thumbprint() != second.Thumbprint() {
			t.Fatalf("thumbprint changed in the round trip")
		}
		// encoding/json uses the same methods, inside other values too.
		viaJSON, err := json.Marshal(struct{ Keys []PublicJWK }{[]PublicJWK{first}})
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"Keys":[` + string(enc) + `]}`; string(viaJSON) != want {
			t.Fatalf("json.Marshal = %s, want %s", viaJSON, want)
		}
		var back struct{ Keys []PublicJWK }
		if err := json.Unmarshal(viaJSON, &back); err != nil || len(back.Keys) != 1 || !jwkSameKey(back.Keys[0], first) {
			t.Fatalf("json.Unmarshal = %+v, %v", back, err)
		}
	}

	// The exact canonical form, member by member.
	ed, _ := ParsePublicJWK([]byte(jwkObj("kid", jwkQ("k1"), "use", jwkQ("sig"), "x", jwkQ(k.edX), "crv", jwkQ("Ed25519"), "kty", jwkQ("OKP"))))
	enc, _ := ed.MarshalJSON()
	if want := `{"kty":"OKP","crv":"Ed25519","x":"` + k.edX + `","kid":"k1","alg":"EdDSA","use":"sig"}`; string(enc) != want {
		t.Errorf("MarshalJSON = %s, want %s", enc, want)
	}
	ec, _ := ParsePublicJWK([]byte(k.ec()))
	enc, _ = ec.MarshalJSON()
	if want := `{"kty":"EC","crv":"P-256","x":"` + k.ecX + `","y":"` + k.ecY + `","kid":"k1","alg":"ES256","use":"sig"}`; string(enc) != want {
		t.Errorf("MarshalJSON = %s, want %s", enc, want)
	}
}

func TestPublicJWKUnmarshalJSONChecks(t *testing.T) {
	k := newJWKTestKeys(t)
	var reg struct{ Keys []PublicJWK }
	err := json.Unmarshal([]byte(`{"Keys":[`+k.ed("d", jwkQ(k.edPrivSeed))+`]}`), &reg)
	if err == nil || !strings.Contains(err.Error(), "private key part") {
		t.Fatalf("json.Unmarshal of a private JWK = %v", err)
	}
}

func TestPublicJWKMarshalRejectsHandBuilt(t *testing.T) {
	k := newJWKTestKeys(t)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	tests := []struct {
		name string
		key  PublicJWK
	}{
		{"no key", PublicJWK{Kid: "k1"}},
		{"short ed25519", PublicJWK{Kid: "k1", Key: ed25519.PublicKey(make([]byte, 31))}},
		{"nil ecdsa", PublicJWK{Kid: "k1", Key: (*ecdsa.PublicKey)(nil)}},
		{"p384", PublicJWK{Kid: "k1", Key: &p384.PublicKey}},
		{"private key", PublicJWK{Kid: "k1", Key: k.ecPriv}},
		{"bad kid", PublicJWK{Kid: "a/b", Key: k.edPub}},
		{"empty kid", PublicJWK{Key: k.edPub}},
		{"alg mismatch", PublicJWK{Kid: "k1", Alg: "ES256", Key: k.edPub}},
	}
	for _, tc := range tests {
		if b, err := tc.key.MarshalJSON(); err == nil {
			t.Errorf("%s: MarshalJSON = %s, want error", tc.name, b)
		}
	}
	if tp := (PublicJWK{Kid: "k1"}).Thumbprint(); tp != "" {
		t.Errorf("Thumbprint of no key = %q", tp)
	}
	// An empty Alg means the key's own algorithm.
	b, err := PublicJWK{Kid: "k1", Key: k.edPub}.MarshalJSON()
	if err != nil || !bytes.Contains(b, []byte(`"alg":"EdDSA"`)) {
		t.Errorf("MarshalJSON with empty Alg = %s, %v", b, err)
	}
}

// TestThumbprintRFC8037 checks the RFC 7638 thumbprint against the worked
// example of RFC 8037 appendix A.3.
func TestThumbprintRFC8037(t *testing.T) {
	jwk := `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"rfc8037"}`
	k, err := ParsePublicJWK([]byte(jwk))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k.Thumbprint(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Errorf("Thumbprint = %s, want %s", got, want)
	}
	// The thumbprint ignores kid, alg and use.
	k.Kid = "other"
	if got := k.Thumbprint(); got != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Errorf("Thumbprint depends on kid: %s", got)
	}
}

// TestThumbprintP256 checks the EC form of RFC 7638 section 3.2: crv, kty,
// x, y in that order.
func TestThumbprintP256(t *testing.T) {
	k := newJWKTestKeys(t)
	parsed, err := ParsePublicJWK([]byte(k.ec()))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + k.ecX + `","y":"` + k.ecY + `"}`))
	if got, want := parsed.Thumbprint(), jwkB64.EncodeToString(sum[:]); got != want {
		t.Errorf("Thumbprint = %s, want %s", got, want)
	}
	if ed, _ := ParsePublicJWK([]byte(k.ed())); ed.Thumbprint() == parsed.Thumbprint() {
		t.Error("two different keys share a thumbprint")
	}
}

func FuzzParsePublicJWK(f *testing.F) {
	k := newJWKTestKeys(f)
	f.Add([]byte(k.ed()))
	f.Add([]byte(k.ec("alg", jwkQ("ES256"), "use", jwkQ("sig"))))
	for _, x := range jwkSmallOrderPoints(f) {
		f.Add([]byte(jwkObj("kty", jwkQ("OKP"), "crv", jwkQ("Ed25519"), "x", jwkQ(jwkB64.EncodeToString(x)))))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		first, err := ParsePublicJWK(data)
		if err != nil {
			if first.Key != nil || first.Kid != "" || first.Alg != "" {
				t.Fatalf("error %v with a non-zero result %+v", err, first)
			}
			return
		}
		enc, err := first.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON of a parsed key: %v", err)
		}
		second, err := ParsePublicJWK(enc)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", enc, err)
		}
		if !jwkSameKey(first, second) {
			t.Fatalf("%s re-encoded as %s parses to a different key", data, enc)
		}
		again, err := second.MarshalJSON()
		if err != nil || !bytes.Equal(enc, again) {
			t.Fatalf("re-encoding is not idempotent: %s then %s (%v)", enc, again, err)
		}
		if first.Thumbprint() == "" || first.Thumbprint() != second.Thumbprint() {
			t.Fatalf("thumbprint %q then %q", first.Thumbprint(), second.Thumbprint())
		}
		// An accepted Ed25519 key is a canonical point of large order.
		if ed, ok := first.Key.(ed25519.PublicKey); ok {
			p, err := new(edwards25519.Point).SetBytes(ed)
			if err != nil || !bytes.Equal(p.Bytes(), ed) || new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
				t.Fatalf("accepted the weak Ed25519 key %x", []byte(ed))
			}
		}
	})
}

// TestJWKFuzzSeeds keeps the seed corpus honest: a seed named good_ parses
// and one named bad_ does not.
func TestJWKFuzzSeeds(t *testing.T) {
	seeds := readFuzzSeedValues(t, filepath.Join("testdata", "fuzz", "FuzzParsePublicJWK"))
	if len(seeds) == 0 {
		t.Fatal("no seeds")
	}
	for name, data := range seeds {
		if _, err := ParsePublicJWK([]byte(data)); (err == nil) != strings.HasPrefix(name, "good_") {
			t.Errorf("seed %s: ParsePublicJWK = %v", name, err)
		}
	}
}

// jwkTorsionGenerator encodes a point of order 8 on edwards25519; its
// multiples are the eight points of small order.
const jwkTorsionGenerator = "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"

// jwkSmallOrderPoints returns the canonical encodings of the eight points
// of small order, checking that they are what the test says they are.
func jwkSmallOrderPoints(t testing.TB) [][]byte {
	t.Helper()
	raw, _ := hex.DecodeString(jwkTorsionGenerator)
	g, err := new(edwards25519.Point).SetBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	p := edwards25519.NewIdentityPoint()
	for range 8 {
		if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) != 1 {
			t.Fatalf("%x is not of small order", p.Bytes())
		}
		out = append(out, p.Bytes())
		p = new(edwards25519.Point).Add(p, g)
	}
	if p.Equal(edwards25519.NewIdentityPoint()) != 1 || bytes.Equal(out[4], out[0]) {
		t.Fatalf("%s does not have order 8", jwkTorsionGenerator)
	}
	return out
}

// TestParsePublicJWKWeakEd25519 refuses the Ed25519 keys anyone can sign
// for (the eight points of small order, whatever their encoding) and the
// non-canonical encodings of ordinary points, and shows why: under the
// identity, a signature made without any private key verifies.
func TestParsePublicJWKWeakEd25519(t *testing.T) {
	jwk := func(x []byte) string {
		return jwkObj("kty", jwkQ("OKP"), "crv", jwkQ("Ed25519"), "x", jwkQ(jwkB64.EncodeToString(x)), "kid", jwkQ("k1"))
	}
	type weak struct {
		name string
		x    []byte
		want string
	}
	var tests []weak
	for i, x := range jwkSmallOrderPoints(t) {
		tests = append(tests, weak{fmt.Sprintf("small order %d (%x)", i, x[:4]), x, "small order"})
	}
	identitySigned := append([]byte{1}, make([]byte, 31)...)
	identitySigned[31] |= 0x80 // x = 0 with the sign bit set: the identity again
	tests = append(tests, weak{"identity with the sign bit", identitySigned, "canonical"})
	// y = p + i, not reduced: each is another encoding of the point y = i,
	// and for some i that point has large order, so only the canonical
	// check refuses it.
	largeOrder := 0
	for i := range 19 {
		x := bytes.Repeat([]byte{0xff}, 32)
		x[0], x[31] = 0xed+byte(i), 0x7f
		p, err := new(edwards25519.Point).SetBytes(x)
		if err != nil {
			tests = append(tests, weak{fmt.Sprintf("p+%d off the curve", i), x, "not a point"})
			continue
		}
		if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) != 1 {
			largeOrder++
		}
		tests = append(tests, weak{fmt.Sprintf("p+%d unreduced", i), x, "canonical"})
	}
	if largeOrder == 0 {
		t.Fatal("no unreduced encoding of a point of large order: the canonical check is not tested alone")
	}
	notOnCurve := make([]byte, 32)
	notOnCurve[0] = 2 // y = 2 has no x on edwards25519
	if _, err := new(edwards25519.Point).SetBytes(notOnCurve); err == nil {
		t.Fatal("y = 2 is on the curve after all")
	}
	tests = append(tests, weak{"not on the curve", notOnCurve, "not a point"})

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePublicJWK([]byte(jwk(tc.x)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParsePublicJWK(x = %x) = %+v, %v; want an error saying %q", tc.x, got, err, tc.want)
			}
			var via PublicJWK
			if err := json.Unmarshal([]byte(jwk(tc.x)), &via); err == nil {
				t.Fatalf("json.Unmarshal accepted x = %x", tc.x)
			}
		})
	}

	// The attack the check stops: a "signature" under the identity, made
	// from a random scalar alone, verifies for any message.
	var seed [64]byte
	if _, err := rand.Read(seed[:]); err != nil {
		t.Fatal(err)
	}
	s, _ := new(edwards25519.Scalar).SetUniformBytes(seed[:])
	r := new(edwards25519.Point).ScalarBaseMult(s)
	sig := append(r.Bytes(), s.Bytes()...)
	if !ed25519.Verify(ed25519.PublicKey(jwkSmallOrderPoints(t)[0]), []byte("any message"), sig) {
		t.Fatal("the forged signature does not verify under the identity: the test no longer shows the risk")
	}
}
