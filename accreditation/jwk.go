package accreditation

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"filippo.io/edwards25519"
)

// PublicJWK is a public signing key an institution registers, parsed from a
// JSON Web Key (RFC 7517; RFC 8037 for the OKP key type). Only two kinds of
// key are accepted, Ed25519 and ECDSA on P-256, because they are the two
// that every JOSE library verifies and that have a single unambiguous
// encoding; supporting fewer algorithms leaves fewer ways to get
// verification wrong.
//
// A PublicJWK holds a slice inside Key, so it cannot be compared with ==;
// compare [PublicJWK.Thumbprint] values, or Kid, Alg and the key's Equal
// method.
type PublicJWK struct {
	// Kid names the key within its institution, so that a signature can say
	// which registered key verifies it. It is 1 to 64 characters of
	// [A-Za-z0-9._-], never "." and never containing "..", so it is safe in
	// URLs, file names and log lines without escaping. A JWK without one
	// gets its [PublicJWK.Thumbprint], which satisfies the same rule.
	Kid string
	// Alg is the JWS algorithm the key verifies: "EdDSA" for Ed25519 or
	// "ES256" for P-256. Each key type allows exactly one, so a signature
	// cannot pick a weaker algorithm for a registered key. The RFC 9864 name
	// "Ed25519" is read as "EdDSA", so that one key has one encoding.
	Alg string
	// Key is the key itself: an ed25519.PublicKey or an *ecdsa.PublicKey on
	// P-256, ready for ed25519.Verify or ecdsa.Verify.
	Key crypto.PublicKey
}

// MaxJWKSize is the largest JWK, in bytes, that [ParsePublicJWK] reads. A
// public P-256 JWK with every allowed member is under 300 bytes; the bound
// only stops a caller from making the parser chew on megabytes.
const MaxJWKSize = 4 << 10

// The algorithms and curves accepted, as JOSE names them.
const (
	jwkAlgEdDSA = "EdDSA"
	// jwkAlgEd25519 is RFC 9864's fully specified name for EdDSA with
	// Ed25519, the only EdDSA the bank accepts, so the two mean one thing.
	jwkAlgEd25519 = "Ed25519"
	jwkAlgES256   = "ES256"
	jwkKtyOKP     = "OKP"
	jwkKtyEC      = "EC"
	jwkCrvEd      = "Ed25519"
	jwkCrvP256    = "P-256"
	jwkCoordLen   = 32 // bytes in an Ed25519 key and in a P-256 coordinate
	jwkMaxKid     = 64
)

// jwkPrivateMembers are the members that carry private key material in any
// key type (RFC 7518 section 6; "k" is a symmetric key). A JWK holding one
// of them is refused outright, whatever else is wrong with it, because the
// institution has just leaked a secret and must be told so plainly.
var jwkPrivateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"}

// jwkCertMembers are the X.509 members of RFC 7517. The bank trusts keys
// because an institution registered them, not because of a certificate
// chain, and checking chains would need a trust store it does not have.
var jwkCertMembers = []string{"x5c", "x5t", "x5t#S256", "x5u"}

// jwkAllowedMembers are the only other members a JWK may have. Anything
// else is refused rather than ignored: the ledger stores what it accepted,
// and silently dropping a member such as "exp" would store a key whose
// owner believes it is limited when it is not.
var jwkAllowedMembers = []string{"kty", "crv", "x", "y", "kid", "alg", "use", "key_ops"}

// ParsePublicJWK parses and checks a public JWK. It accepts
//
//	{"kty":"OKP","crv":"Ed25519","x":...}
//	{"kty":"EC","crv":"P-256","x":...,"y":...}
//
// with x and y unpadded base64url of 32 bytes each; the P-256 point on the
// curve; the Ed25519 point canonically encoded and not of small order (see
// jwkCheckEd25519); an optional kid (see [PublicJWK.Kid]), the key's
// thumbprint when absent, as keys exported by JOSE libraries have none; an
// optional alg, which must be the one algorithm of the key type ("EdDSA" or
// its RFC 9864 name "Ed25519" for Ed25519 keys) and is inferred when
// absent; an optional use, which must be "sig"; and optional key_ops, which
// must be exactly ["verify"]. It refuses private key members, certificate
// members, any other member, duplicate member names, a body over
// [MaxJWKSize] bytes and anything after the object, because each of these
// either hides a mistake or lets two parties read the same bytes as
// different keys.
func ParsePublicJWK(data []byte) (PublicJWK, error) {
	members, err := jwkMembers(data)
	if err != nil {
		return PublicJWK{}, err
	}
	for _, name := range jwkPrivateMembers {
		if _, ok := members[name]; ok {
			return PublicJWK{}, fmt.Errorf("jwk holds a private key part (%q): register only the public key, and treat this private key as compromised", name)
		}
	}
	for _, name := range jwkCertMembers {
		if _, ok := members[name]; ok {
			return PublicJWK{}, fmt.Errorf("jwk member %q: certificate chains are not supported", name)
		}
	}

	// The key type and curve come before unknown members so that an RSA
	// key is refused as RSA, not for its "n".
	kty, err := jwkString(members, "kty", true)
	if err != nil {
		return PublicJWK{}, err
	}
	if kty != jwkKtyOKP && kty != jwkKtyEC {
		return PublicJWK{}, fmt.Errorf("jwk key type %s is not supported: use OKP (Ed25519) or EC (P-256)", quoteInput(kty))
	}
	crv, err := jwkString(members, "crv", true)
	if err != nil {
		return PublicJWK{}, err
	}
	if kty == jwkKtyOKP && crv != jwkCrvEd {
		return PublicJWK{}, fmt.Errorf("jwk curve %s is not supported for OKP keys: only Ed25519 is", quoteInput(crv))
	}
	if kty == jwkKtyEC && crv != jwkCrvP256 {
		return PublicJWK{}, fmt.Errorf("jwk curve %s is not supported for EC keys: only P-256 is", quoteInput(crv))
	}
	for _, name := range slices.Sorted(maps.Keys(members)) { // sorted: one error for one input
		if !slices.Contains(jwkAllowedMembers, name) {
			return PublicJWK{}, fmt.Errorf("jwk has unknown member %s", quoteInput(name))
		}
	}

	var k PublicJWK
	if k.Key, k.Alg, err = jwkKeyMaterial(kty, members); err != nil {
		return PublicJWK{}, err
	}
	if _, ok := members["kid"]; ok {
		if k.Kid, err = jwkString(members, "kid", true); err != nil {
			return PublicJWK{}, err
		}
		if err := jwkCheckKid(k.Kid); err != nil {
			return PublicJWK{}, err
		}
	} else {
		k.Kid = k.Thumbprint()
	}
	alg, err := jwkString(members, "alg", false)
	if err != nil {
		return PublicJWK{}, err
	}
	if alg == jwkAlgEd25519 && k.Alg == jwkAlgEdDSA {
		alg = jwkAlgEdDSA
	}
	if _, ok := members["alg"]; ok && alg != k.Alg {
		return PublicJWK{}, fmt.Errorf("jwk alg %s does not match the key: a %s key uses %s", quoteInput(alg), crv, k.Alg)
	}
	if _, ok := members["use"]; ok {
		use, err := jwkString(members, "use", false)
		if err != nil {
			return PublicJWK{}, err
		}
		if use != "sig" {
			return PublicJWK{}, fmt.Errorf(`jwk use %s is not allowed: registered keys only verify signatures, so use must be "sig"`, quoteInput(use))
		}
	}
	if raw, ok := members["key_ops"]; ok {
		if err := jwkCheckKeyOps(raw); err != nil {
			return PublicJWK{}, err
		}
	}
	return k, nil
}

// jwkKeyMaterial decodes the key of a JWK of type kty (OKP or EC, its
// curve already checked) and returns it with its one algorithm.
func jwkKeyMaterial(kty string, members map[string]json.RawMessage) (crypto.PublicKey, string, error) {
	if kty == jwkKtyOKP {
		if _, ok := members["y"]; ok {
			return nil, "", errors.New(`jwk member "y" is not allowed in an Ed25519 key`)
		}
		x, err := jwkCoordinate(members, "x")
		if err != nil {
			return nil, "", err
		}
		if err := jwkCheckEd25519(x); err != nil {
			return nil, "", err
		}
		return ed25519.PublicKey(x), jwkAlgEdDSA, nil
	}
	x, err := jwkCoordinate(members, "x")
	if err != nil {
		return nil, "", err
	}
	y, err := jwkCoordinate(members, "y")
	if err != nil {
		return nil, "", err
	}
	point := make([]byte, 0, 1+2*jwkCoordLen)
	point = append(point, 4) // SEC 1 uncompressed point
	point = append(append(point, x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, "", errors.New("jwk x and y are not a point on the P-256 curve")
	}
	return pub, jwkAlgES256, nil
}

// UnmarshalJSON parses a JWK with [ParsePublicJWK], so that a registration
// decoded with encoding/json gets the same checks as one parsed directly;
// the default decoding would ignore the key material and every check.
func (k *PublicJWK) UnmarshalJSON(data []byte) error {
	parsed, err := ParsePublicJWK(data)
	if err != nil {
		return err
	}
	*k = parsed
	return nil
}

// MarshalJSON writes the canonical public form of the key,
//
//	{"kty":..,"crv":..,"x":..[,"y":..],"kid":..,"alg":..,"use":"sig"}
//
// always with these members in this order and nothing else, so that the
// same key always encodes to the same bytes: the ledger stores and hashes
// these bytes, and two encodings of one key would make equal registrations
// look different. The output parses back to the same key. It fails for a
// PublicJWK that [ParsePublicJWK] could not have produced; an empty Alg is
// taken to mean the key's own algorithm.
func (k PublicJWK) MarshalJSON() ([]byte, error) {
	p, err := k.params()
	if err != nil {
		return nil, err
	}
	if err := jwkCheckKid(k.Kid); err != nil {
		return nil, err
	}
	if k.Alg != "" && k.Alg != p.alg {
		return nil, fmt.Errorf("jwk alg %s does not match the key: a %s key uses %s", quoteInput(k.Alg), p.crv, p.alg)
	}
	// Every value is plain ASCII from a fixed alphabet (the kid was just
	// checked, x and y are base64url), so none needs escaping.
	var b bytes.Buffer
	b.WriteString(`{"kty":"` + p.kty + `","crv":"` + p.crv + `","x":"` + p.x + `"`)
	if p.y != "" {
		b.WriteString(`,"y":"` + p.y + `"`)
	}
	b.WriteString(`,"kid":"` + k.Kid + `","alg":"` + p.alg + `","use":"sig"}`)
	return b.Bytes(), nil
}

// Thumbprint returns the key's RFC 7638 JWK thumbprint: the unpadded
// base64url SHA-256 of its required members in lexicographic order. It
// identifies the key material alone, whatever the kid, so it shows when an
// institution registers the same key twice or two institutions share one.
// It returns "" for a PublicJWK that holds no supported key.
func (k PublicJWK) Thumbprint() string {
	p, err := k.params()
	if err != nil {
		return ""
	}
	var in string
	if p.kty == jwkKtyOKP {
		in = `{"crv":"` + p.crv + `","kty":"` + p.kty + `","x":"` + p.x + `"}`
	} else {
		in = `{"crv":"` + p.crv + `","kty":"` + p.kty + `","x":"` + p.x + `","y":"` + p.y + `"}`
	}
	sum := sha256.Sum256([]byte(in))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// jwkParams are the JWK members that describe a key, already encoded.
type jwkParams struct {
	kty, crv, alg, x, y string
}

// params encodes the key material of k, checking that it is a key
// ParsePublicJWK accepts, since a PublicJWK can also be built by hand.
func (k PublicJWK) params() (jwkParams, error) {
	enc := base64.RawURLEncoding
	switch key := k.Key.(type) {
	case ed25519.PublicKey:
		if len(key) != ed25519.PublicKeySize {
			return jwkParams{}, fmt.Errorf("jwk: Ed25519 public key has %d bytes, want %d", len(key), ed25519.PublicKeySize)
		}
		return jwkParams{kty: jwkKtyOKP, crv: jwkCrvEd, alg: jwkAlgEdDSA, x: enc.EncodeToString(key)}, nil
	case *ecdsa.PublicKey:
		if key == nil || key.Curve != elliptic.P256() {
			return jwkParams{}, errors.New("jwk: ECDSA public key is not on P-256")
		}
		point, err := key.Bytes()
		if err != nil || len(point) != 1+2*jwkCoordLen {
			return jwkParams{}, errors.New("jwk: ECDSA public key is not a valid P-256 point")
		}
		return jwkParams{
			kty: jwkKtyEC, crv: jwkCrvP256, alg: jwkAlgES256,
			x: enc.EncodeToString(point[1 : 1+jwkCoordLen]),
			y: enc.EncodeToString(point[1+jwkCoordLen:]),
		}, nil
	default:
		return jwkParams{}, fmt.Errorf("jwk: unsupported public key type %T", k.Key)
	}
}

// jwkMembers splits a JSON object into its members, refusing what
// encoding/json would otherwise let through: a repeated member name (where
// Unmarshal keeps the last value and another parser might keep the first,
// so two verifiers could see two different keys) and data after the object.
func jwkMembers(data []byte) (map[string]json.RawMessage, error) {
	if len(data) > MaxJWKSize {
		return nil, fmt.Errorf("jwk is %d bytes, more than the %d allowed", len(data), MaxJWKSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("jwk is not valid JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("jwk must be a JSON object")
	}
	members := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("jwk is not valid JSON: %w", err)
		}
		name, ok := tok.(string)
		if !ok { // the decoder only yields strings here; be safe anyway
			return nil, errors.New("jwk is not valid JSON: member name is not a string")
		}
		if _, dup := members[name]; dup {
			return nil, fmt.Errorf("jwk has member %s more than once", quoteInput(name))
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("jwk is not valid JSON: %w", err)
		}
		members[name] = raw
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("jwk is not valid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("jwk has data after the JSON object")
	}
	return members, nil
}

// jwkString returns the string member name, or "" when it is absent and
// not required. A null or a number is an error rather than "", because
// json.Unmarshal would turn null into "" silently.
func jwkString(members map[string]json.RawMessage, name string, required bool) (string, error) {
	raw, ok := members[name]
	if !ok {
		if required {
			return "", fmt.Errorf("jwk has no %q member", name)
		}
		return "", nil
	}
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", fmt.Errorf("jwk member %q must be a string", name)
	}
	return s, nil
}

// jwkCoordinate decodes a required base64url member of 32 bytes. It checks
// the alphabet itself because the encoding package skips CR and LF, and
// uses strict decoding so that unused trailing bits must be zero: each key
// then has exactly one textual form, which MarshalJSON reproduces.
func jwkCoordinate(members map[string]json.RawMessage, name string) ([]byte, error) {
	s, err := jwkString(members, name, true)
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(s); i++ {
		if !jwkBase64URLChar(s[i]) {
			if s[i] == '=' {
				return nil, fmt.Errorf("jwk member %q must be base64url without padding", name)
			}
			return nil, fmt.Errorf("jwk member %q is not base64url: character %q is not allowed", name, s[i])
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("jwk member %q is not valid base64url", name)
	}
	if len(b) != jwkCoordLen {
		return nil, fmt.Errorf("jwk member %q is %d bytes, want %d", name, len(b), jwkCoordLen)
	}
	return b, nil
}

// jwkCheckEd25519 refuses the Ed25519 public keys no signature can be
// trusted with. A small-order point (the identity among them) is no key
// anyone holds, yet ed25519.Verify accepts (R = [S]B, S) under the identity
// for any message, and under the other seven for at least one message in
// eight, so anyone could sign for the institution without a private key.
// A non-canonical encoding (y not reduced mod p, or x = 0 with the sign bit
// set) names a point that has another, canonical one: the same key would
// have two thumbprints, and verifiers that follow RFC 8032 refuse it. Bytes
// that are no point at all could never verify a signature and are refused
// as the mistake they are.
func jwkCheckEd25519(x []byte) error {
	p, err := new(edwards25519.Point).SetBytes(x)
	if err != nil {
		return errors.New(`jwk member "x" is not a point on the Ed25519 curve`)
	}
	if !bytes.Equal(p.Bytes(), x) {
		return errors.New(`jwk member "x" is not the canonical encoding of an Ed25519 point`)
	}
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return errors.New(`jwk member "x" is an Ed25519 point of small order: no private key belongs to it, and anyone could sign for it`)
	}
	return nil
}

// jwkCheckKid checks a key id against the rule documented on PublicJWK.Kid.
func jwkCheckKid(kid string) error {
	if kid == "" {
		return errors.New("jwk kid is empty")
	}
	if len(kid) > jwkMaxKid {
		return fmt.Errorf("jwk kid has %d characters, more than %d", len(kid), jwkMaxKid)
	}
	for i := 0; i < len(kid); i++ {
		c := kid[i]
		if !(jwkAlnum(c) || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("jwk kid %s may contain only A-Z, a-z, 0-9, '.', '_' and '-'", quoteInput(kid))
		}
	}
	if kid == "." || strings.Contains(kid, "..") {
		return fmt.Errorf("jwk kid %s must not be \".\" or contain \"..\"", quoteInput(kid))
	}
	return nil
}

// jwkCheckKeyOps checks that key_ops is exactly ["verify"]: a public key
// can do nothing else, and RFC 7517 forbids repeated values.
func jwkCheckKeyOps(raw json.RawMessage) error {
	var ops []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &ops) != nil {
		return errors.New(`jwk member "key_ops" must be an array of strings`)
	}
	if len(ops) != 1 {
		return errors.New(`jwk key_ops must be exactly ["verify"]`)
	}
	var op string
	if len(ops[0]) == 0 || ops[0][0] != '"' || json.Unmarshal(ops[0], &op) != nil || op != "verify" {
		return errors.New(`jwk key_ops must be exactly ["verify"]`)
	}
	return nil
}

func jwkAlnum(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
}

func jwkBase64URLChar(c byte) bool {
	return jwkAlnum(c) || c == '-' || c == '_'
}
