package credential

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"creditbank/accreditation"
)

// KeyFile is the issuer key's file name in the data folder's keys folder.
const KeyFile = "issuer.jwk"

// Key is the bank's issuer key: the Ed25519 key that signs credentials and
// status lists. It is not the token key (package api) nor the checkpoint
// key (package ledger): a credential outlives any token, and rotating the
// token key must not make every credential unverifiable.
type Key struct {
	// Kid is the RFC 7638 thumbprint of the public key.
	Kid     string
	Private ed25519.PrivateKey
}

// NewKey makes a fresh issuer key.
func NewKey() (Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Key{}, err
	}
	return keyOf(priv), nil
}

func keyOf(priv ed25519.PrivateKey) Key {
	k := Key{Private: priv}
	k.Kid = k.Public().Thumbprint()
	return k
}

// Public is the public half as a JWK, as GET /.well-known/jwks.json
// publishes it.
func (k Key) Public() accreditation.PublicJWK {
	return accreditation.PublicJWK{Kid: k.Kid, Alg: "EdDSA", Key: k.Private.Public()}
}

// privateFile is the key file: an OKP private JWK (RFC 8037).
type privateFile struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	D   string `json:"d"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
}

// LoadOrCreateKey reads dir/issuer.jwk, or creates it (mode 0600) when
// there is none. A file whose kid is not its key's thumbprint, or whose
// public member does not match its private one, is refused.
func LoadOrCreateKey(dir string) (Key, error) {
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err := NewKey()
		if err != nil {
			return Key{}, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return Key{}, err
		}
		raw := base64.RawURLEncoding
		f := privateFile{Kty: "OKP", Crv: "Ed25519", X: raw.EncodeToString(k.Private.Public().(ed25519.PublicKey)),
			D: raw.EncodeToString(k.Private.Seed()), Kid: k.Kid, Alg: "EdDSA"}
		out, _ := json.Marshal(f)
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, out, 0o600); err != nil {
			return Key{}, err
		}
		if err := os.Rename(tmp, path); err != nil {
			return Key{}, err
		}
		return k, nil
	}
	if err != nil {
		return Key{}, err
	}
	return ParseKey(b)
}

// ParseKey reads a key file's bytes.
func ParseKey(b []byte) (Key, error) {
	var f privateFile
	if err := json.Unmarshal(b, &f); err != nil {
		return Key{}, fmt.Errorf("issuer key: %w", err)
	}
	if f.Kty != "OKP" || f.Crv != "Ed25519" {
		return Key{}, fmt.Errorf("issuer key: not an Ed25519 key (kty %q, crv %q)", f.Kty, f.Crv)
	}
	seed, err := base64.RawURLEncoding.Strict().DecodeString(f.D)
	if err != nil || len(seed) != ed25519.SeedSize {
		return Key{}, errors.New("issuer key: bad d")
	}
	k := keyOf(ed25519.NewKeyFromSeed(seed))
	if f.X != base64.RawURLEncoding.EncodeToString(k.Private.Public().(ed25519.PublicKey)) {
		return Key{}, errors.New("issuer key: x does not match d")
	}
	if f.Kid != k.Kid {
		return Key{}, fmt.Errorf("issuer key: kid %q is not the key's thumbprint %q", f.Kid, k.Kid)
	}
	return k, nil
}
