package api

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"creditbank/accreditation"
)

// PrivateKey is a signing key with its key id: the service's token key, or
// an institution's key made by `creditbank keygen`. It is stored as a private
// JWK (RFC 7517, RFC 8037) in a file of mode 0600.
type PrivateKey struct {
	Kid    string
	Signer crypto.Signer // ed25519.PrivateKey or *ecdsa.PrivateKey on P-256
}

// Alg is the JWS algorithm of the key: EdDSA or ES256.
func (k PrivateKey) Alg() string {
	if _, ok := k.Signer.(*ecdsa.PrivateKey); ok {
		return "ES256"
	}
	return "EdDSA"
}

// signingMethod is the JWT library's method for the key's algorithm.
func (k PrivateKey) signingMethod() jwt.SigningMethod {
	if k.Alg() == "ES256" {
		return jwt.SigningMethodES256
	}
	return jwt.SigningMethodEdDSA
}

// Public returns the public half as the JWK the bank registers.
func (k PrivateKey) Public() (accreditation.PublicJWK, error) {
	return accreditation.PublicJWK{Kid: k.Kid, Alg: k.Alg(), Key: k.Signer.Public()}, nil
}

// GenerateKey makes a key for alg (EdDSA or ES256). Its kid is the RFC 7638
// thumbprint of the public key, so it names the key without a registry.
func GenerateKey(alg string) (PrivateKey, error) {
	var signer crypto.Signer
	switch alg {
	case "EdDSA", "":
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return PrivateKey{}, err
		}
		signer = priv
	case "ES256":
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return PrivateKey{}, err
		}
		signer = priv
	default:
		return PrivateKey{}, fmt.Errorf("unsupported algorithm %q (EdDSA or ES256)", alg)
	}
	k := PrivateKey{Signer: signer}
	pub, _ := k.Public()
	k.Kid = pub.Thumbprint()
	return k, nil
}

// privateJWK is the form of a private key file: the public members and d.
type privateJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	D   string `json:"d"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
}

// b64 is the unpadded base64url of JWK members and token ids.
var b64 = base64.RawURLEncoding

// MarshalJSON writes the private JWK.
func (k PrivateKey) MarshalJSON() ([]byte, error) {
	pub, err := k.Public()
	if err != nil {
		return nil, err
	}
	var members map[string]any
	pj, err := pub.MarshalJSON()
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(pj, &members); err != nil {
		return nil, err
	}
	switch s := k.Signer.(type) {
	case ed25519.PrivateKey:
		members["d"] = b64.EncodeToString(s.Seed())
	case *ecdsa.PrivateKey:
		d, err := s.Bytes()
		if err != nil {
			return nil, err
		}
		members["d"] = b64.EncodeToString(d)
	default:
		return nil, errors.New("unsupported private key")
	}
	return json.Marshal(members)
}

// ParsePrivateKey reads a private JWK written by MarshalJSON, or exported
// by another JOSE tool: one without a kid is named by its RFC 7638
// thumbprint, as the bank names its public half.
func ParsePrivateKey(data []byte) (PrivateKey, error) {
	var j privateJWK
	if err := json.Unmarshal(data, &j); err != nil {
		return PrivateKey{}, fmt.Errorf("private key: %w", err)
	}
	d, err := b64.DecodeString(j.D)
	if err != nil || j.D == "" {
		return PrivateKey{}, errors.New("private key: missing or bad \"d\"")
	}
	var k PrivateKey
	switch {
	case j.Kty == "OKP" && j.Crv == "Ed25519" && len(d) == ed25519.SeedSize:
		k.Signer = ed25519.NewKeyFromSeed(d)
	case j.Kty == "EC" && j.Crv == "P-256":
		priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
		if err != nil {
			return PrivateKey{}, fmt.Errorf("private key: %w", err)
		}
		k.Signer = priv
	default:
		return PrivateKey{}, fmt.Errorf("private key: unsupported kty %q crv %q", j.Kty, j.Crv)
	}
	k.Kid = j.Kid
	if k.Kid == "" {
		// A key exported by a JOSE library has no kid; the bank names such
		// a key by its thumbprint when it is registered (docs/contract.md
		// section 2), so its tokens must name it so too.
		k.Kid = accreditation.PublicJWK{Key: k.Signer.Public()}.Thumbprint()
	}
	// The public members must belong to the private part.
	pub, err := k.Public()
	if err != nil {
		return PrivateKey{}, err
	}
	pubJSON, err := pub.MarshalJSON()
	if err != nil {
		return PrivateKey{}, fmt.Errorf("private key: %w", err)
	}
	var want privateJWK
	if err := json.Unmarshal(pubJSON, &want); err != nil {
		return PrivateKey{}, fmt.Errorf("private key: %w", err)
	}
	if want.X != j.X || want.Y != j.Y {
		return PrivateKey{}, errors.New("private key: public members do not match \"d\"")
	}
	return k, nil
}

// LoadKeyFile reads a private JWK file.
func LoadKeyFile(path string) (PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return PrivateKey{}, err
	}
	k, err := ParsePrivateKey(b)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// WriteKeyFile writes a private JWK file with mode 0600; it refuses to
// overwrite an existing file, so a key is never lost by mistake.
func WriteKeyFile(path string, k PrivateKey) error {
	b, err := k.MarshalJSON()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// LoadOrCreateTokenKey reads the service's token key from dir/token.jwk,
// creating an Ed25519 key on first use.
func LoadOrCreateTokenKey(dir string) (PrivateKey, error) {
	path := filepath.Join(dir, "token.jwk")
	k, err := LoadKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if k, err = GenerateKey("EdDSA"); err != nil {
			return PrivateKey{}, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return PrivateKey{}, err
		}
		if err := WriteKeyFile(path, k); err != nil {
			return PrivateKey{}, fmt.Errorf("write token key: %w", err)
		}
		return k, nil
	}
	return k, err
}

// ServiceClaims are the claims of an admin, regulator or learner token.
type ServiceClaims struct {
	jwt.RegisteredClaims
	Role string `json:"role"`
}

// IssueToken signs a service token for role and sub, valid for ttl.
func IssueToken(k PrivateKey, issuer, audience, role, sub string, ttl time.Duration) (string, error) {
	now := time.Now()
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	c := ServiceClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: issuer, Subject: sub, Audience: jwt.ClaimStrings{audience},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			ID: b64.EncodeToString(jti),
		},
		Role: role,
	}
	return sign(k, c)
}

// SignInstitutionToken signs an institution token: iss = sub = the
// institution id, valid for ttl (at most 10 minutes).
func SignInstitutionToken(k PrivateKey, institution, audience string, ttl time.Duration) (string, error) {
	if ttl > MaxInstitutionTokenLifetime {
		return "", fmt.Errorf("an institution token lives at most %s", MaxInstitutionTokenLifetime)
	}
	now := time.Now()
	c := jwt.RegisteredClaims{
		Issuer: institution, Subject: institution, Audience: jwt.ClaimStrings{audience},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	return sign(k, c)
}

// sign signs claims with k, naming it in the kid header.
func sign(k PrivateKey, c jwt.Claims) (string, error) {
	t := jwt.NewWithClaims(k.signingMethod(), c)
	t.Header["kid"] = k.Kid
	return t.SignedString(k.Signer)
}
