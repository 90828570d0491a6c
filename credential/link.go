package credential

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
)

// A link names one issued credential (its credential.issued entry) so that
// whoever holds the link can fetch the credential without a token: the
// printed transcript's QR code carries one, since a transcript's VC-JWT is
// too long for a QR code a phone reads. The link is unguessable: the seq
// is public (the log lists the entry), so it carries a 128-bit HMAC of the
// seq under a key derived from the issuer key, which only the bank can
// compute. Whoever has the link reads the credential, as whoever has the
// paper reads it; a link is withdrawn only with the credential (its status
// bit) or the learner's erasure. Rotating the issuer key would end every
// link: docs/contract.md section 10.

const linkInfo = "creditbank credential link v1"

// linkKey derives the key of links from the issuer key's seed (HKDF-SHA256,
// RFC 5869), so that links need no key of their own and no stored table.
func (k Key) linkKey() []byte {
	b, err := hkdf.Key(sha256.New, k.Private.Seed(), nil, linkInfo, 32)
	if err != nil {
		panic("hkdf of 32 bytes: " + err.Error()) // cannot fail for 32 bytes of SHA-256
	}
	return b
}

func (k Key) linkMAC(seq uint64) string {
	m := hmac.New(sha256.New, k.linkKey())
	m.Write(strconv.AppendUint([]byte("credential "), seq, 10))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// Link is the reference of the credential recorded at entry seq:
// "<seq>-<22 characters of base64url>".
func (k Key) Link(seq uint64) string {
	return strconv.FormatUint(seq, 10) + "-" + k.linkMAC(seq)
}

// ParseLink returns the seq a reference made by Link names, or false for
// anything Link did not make with this key.
func (k Key) ParseLink(ref string) (uint64, bool) {
	s, mac, ok := strings.Cut(ref, "-")
	if !ok || len(mac) != 22 {
		return 0, false
	}
	seq, err := strconv.ParseUint(s, 10, 64)
	if err != nil || strconv.FormatUint(seq, 10) != s {
		return 0, false
	}
	return seq, hmac.Equal([]byte(mac), []byte(k.linkMAC(seq)))
}
