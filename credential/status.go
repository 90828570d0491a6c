package credential

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Bitstring Status List v1.0 (W3C Recommendation): a credential's status is
// one bit of a list, at the index its credentialStatus names; the list is a
// credential of its own whose encodedList is the bitstring, GZIP-compressed,
// in multibase base64url without padding ("u" prefix). Index 0 is the
// left-most bit: the most significant bit of the first byte.

// ListBits is the length of every list: the spec's minimum of 131,072
// entries (16 KB), the herd that keeps an index from telling which
// credential a verifier is checking.
const ListBits = 131072

// StatusPurpose is the only purpose the bank uses.
const StatusPurpose = "revocation"

// maxListBytes bounds a decoded bitstring read from outside (the spec's
// largest practical list is 16 MB; ours are 16 KB).
const maxListBytes = 16 << 20

// Bitstring is a status list's bits.
type Bitstring []byte

// NewBitstring is a list of n bits, all 0.
func NewBitstring(n int) Bitstring { return make(Bitstring, (n+7)/8) }

// Set sets bit i.
func (b Bitstring) Set(i uint64) { b[i/8] |= 0x80 >> (i % 8) }

// Get reads bit i; false past the end.
func (b Bitstring) Get(i uint64) bool {
	return i/8 < uint64(len(b)) && b[i/8]&(0x80>>(i%8)) != 0
}

// Len is the number of bits.
func (b Bitstring) Len() uint64 { return uint64(len(b)) * 8 }

// Encode is the encodedList of b.
func (b Bitstring) Encode() string {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return "u" + base64.RawURLEncoding.EncodeToString(buf.Bytes())
}

// DecodeBitstring reads an encodedList.
func DecodeBitstring(s string) (Bitstring, error) {
	if len(s) < 2 || s[0] != 'u' {
		return nil, errors.New("encodedList is not multibase base64url (no leading u)")
	}
	z, err := base64.RawURLEncoding.Strict().DecodeString(s[1:])
	if err != nil {
		return nil, errors.New("encodedList is not base64url")
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, fmt.Errorf("encodedList is not GZIP: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(zr, maxListBytes+1))
	if err != nil {
		return nil, fmt.Errorf("encodedList is not GZIP: %w", err)
	}
	if len(b) > maxListBytes {
		return nil, fmt.Errorf("encodedList decodes to over %d bytes", maxListBytes)
	}
	if len(b)*8 < ListBits {
		return nil, fmt.Errorf("encodedList holds %d bits, fewer than the %d the spec requires", len(b)*8, ListBits)
	}
	return Bitstring(b), nil
}

// StatusEntry is a credential's credentialStatus.
type StatusEntry struct {
	ID                   string `json:"id"`
	Type                 string `json:"type"`
	StatusPurpose        string `json:"statusPurpose"`
	StatusListIndex      string `json:"statusListIndex"`
	StatusListCredential string `json:"statusListCredential"`
}

// StatusListURL is where list is served under the issuer's base URL.
func StatusListURL(base, list string) string { return base + "/v1/status/" + list }

// statusEntry is the credentialStatus of index in list.
func statusEntry(base, list string, index uint64) StatusEntry {
	u := StatusListURL(base, list)
	return StatusEntry{ID: fmt.Sprintf("%s#%d", u, index), Type: "BitstringStatusListEntry", StatusPurpose: StatusPurpose,
		StatusListIndex: fmt.Sprint(index), StatusListCredential: u}
}

// statusListCredential is a BitstringStatusListCredential's claims.
type statusListCredential struct {
	Context           []string          `json:"@context"`
	ID                string            `json:"id"`
	Type              []string          `json:"type"`
	Issuer            string            `json:"issuer"`
	ValidFrom         string            `json:"validFrom"`
	CredentialSubject statusListSubject `json:"credentialSubject"`
	Iss               string            `json:"iss"`
	Iat               int64             `json:"iat"`
}

type statusListSubject struct {
	ID            string `json:"id"`
	Type          string `json:"type"`
	StatusPurpose string `json:"statusPurpose"`
	EncodedList   string `json:"encodedList"`
}

// SignStatusList makes the signed BitstringStatusListCredential of list,
// whose bits are bits, as of now.
func SignStatusList(k Key, base, list string, bits Bitstring, now time.Time) string {
	u := StatusListURL(base, list)
	c := statusListCredential{
		Context: []string{ContextVC}, ID: u, Type: []string{"VerifiableCredential", "BitstringStatusListCredential"},
		Issuer: base, ValidFrom: now.UTC().Format(time.RFC3339),
		CredentialSubject: statusListSubject{ID: u + "#list", Type: "BitstringStatusList", StatusPurpose: StatusPurpose, EncodedList: bits.Encode()},
		Iss:               base, Iat: now.Unix(),
	}
	b, _ := json.Marshal(c)
	return Sign(k, b)
}

// readStatusList checks a status list credential's form and decodes its
// bits: its id must be url and its purpose revocation.
func readStatusList(payload []byte, url string) (Bitstring, error) {
	var c statusListCredential
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("status list: %w", err)
	}
	switch {
	case c.ID != url:
		return nil, fmt.Errorf("status list names itself %q, not %q", c.ID, url)
	case !contains(c.Type, "BitstringStatusListCredential"):
		return nil, errors.New("status list is not a BitstringStatusListCredential")
	case c.CredentialSubject.Type != "BitstringStatusList":
		return nil, errors.New("status list's subject is not a BitstringStatusList")
	case c.CredentialSubject.StatusPurpose != StatusPurpose:
		return nil, fmt.Errorf("status list's purpose is %q, not %s", c.CredentialSubject.StatusPurpose, StatusPurpose)
	}
	return DecodeBitstring(c.CredentialSubject.EncodedList)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
