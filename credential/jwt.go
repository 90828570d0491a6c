package credential

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Media types and the JWS header's typ (W3C VC-JOSE-COSE).
const (
	MediaType = "application/vc+jwt"
	Typ       = "vc+jwt"
	Alg       = "EdDSA"
)

// MaxTokenBytes bounds a VC-JWT read from outside: a transcript of a
// thousand outcomes is about 2 MB.
const MaxTokenBytes = 4 << 20

// maxDepth bounds the nesting of a credential's JSON.
const maxDepth = 32

// Header is a VC-JWT's protected header: exactly these three members.
type Header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// Token is a VC-JWT parsed but not verified.
type Token struct {
	Header Header
	// Payload is the claims set's JSON: the credential.
	Payload []byte
	// signingInput is header.payload as sent, and Signature the decoded
	// third part.
	signingInput string
	Signature    []byte
}

var b64 = base64.RawURLEncoding.Strict()

// Sign makes a compact JWS of payload (JSON) under k with the VC-JWT
// header.
func Sign(k Key, payload []byte) string {
	h, _ := json.Marshal(Header{Alg: Alg, Kid: k.Kid, Typ: Typ})
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(payload)
	sig := ed25519.Sign(k.Private, []byte(input))
	return input + "." + b64.EncodeToString(sig)
}

// Parse reads a compact VC-JWT strictly: three base64url parts without
// padding, a header of exactly alg EdDSA, typ vc+jwt and a kid, a claims
// set that is one JSON object using each member name once, in every
// object. It checks no signature: [Token.VerifySignature] does.
func Parse(s string) (*Token, error) {
	if len(s) > MaxTokenBytes {
		return nil, fmt.Errorf("credential is %d bytes, over %d", len(s), MaxTokenBytes)
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWS: want three parts separated by dots")
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, errors.New("header is not base64url")
	}
	pb, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, errors.New("payload is not base64url")
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, errors.New("signature is not base64url")
	}
	if err := checkObject(hb); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	var h Header
	dec := json.NewDecoder(bytes.NewReader(hb))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	switch {
	case h.Alg != Alg:
		return nil, fmt.Errorf("header alg %q: only EdDSA is accepted", h.Alg)
	case h.Typ != Typ:
		return nil, fmt.Errorf("header typ %q: want %s", h.Typ, Typ)
	case h.Kid == "" || len(h.Kid) > 64:
		return nil, errors.New("header kid missing or over 64 bytes")
	}
	if err := checkObject(pb); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	return &Token{Header: h, Payload: pb, signingInput: parts[0] + "." + parts[1], Signature: sig}, nil
}

// VerifySignature checks the signature with pub.
func (t *Token) VerifySignature(pub ed25519.PublicKey) bool {
	return len(pub) == ed25519.PublicKeySize && len(t.Signature) == ed25519.SignatureSize &&
		ed25519.Verify(pub, []byte(t.signingInput), t.Signature)
}

// checkObject accepts one JSON object, nested at most maxDepth deep, that
// uses each member name once in every object (RFC 7493): two readers of a
// credential with a repeated claim could otherwise see two credentials.
func checkObject(b []byte) error {
	if !utf8.Valid(b) {
		return errors.New("not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("not a JSON object")
	}
	if err := walkObject(dec, 1); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("text after the object")
	}
	return nil
}

func walkObject(dec *json.Decoder, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("nested over %d deep", maxDepth)
	}
	seen := map[string]bool{}
	for {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("not JSON: %w", err)
		}
		if d, ok := tok.(json.Delim); ok && d == '}' {
			return nil
		}
		name, ok := tok.(string)
		if !ok {
			return errors.New("not JSON: member name is not a string")
		}
		if seen[name] {
			return fmt.Errorf("member %q appears twice", name)
		}
		seen[name] = true
		if err := walkValue(dec, depth); err != nil {
			return err
		}
	}
}

func walkValue(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		return walkObject(dec, depth+1)
	case '[':
		if depth+1 > maxDepth {
			return fmt.Errorf("nested over %d deep", maxDepth)
		}
		for dec.More() {
			if err := walkValue(dec, depth+1); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ]
		return err
	}
	return errors.New("not JSON")
}
