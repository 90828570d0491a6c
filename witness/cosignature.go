package witness

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// algCosignatureV1 is the signature type byte of an Ed25519 cosigner key
// (C2SP tlog-cosignature).
const algCosignatureV1 = 0x04

// Verifier checks a witness's Ed25519 cosignatures (C2SP tlog-cosignature,
// cosignature/v1): a note.Verifier, so that note.Open counts them beside
// the log's own signature.
type Verifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
	vkey string
}

var _ note.Verifier = (*Verifier)(nil)

// NewVerifier parses a cosigner's verifier key, as C2SP signed-note writes
// it: <name>+<key hash, 8 hex digits>+<base64(0x04 ‖ Ed25519 public key)>,
// such as litewitness prints. The key hash must be the one the name and
// key give.
func NewVerifier(vkey string) (*Verifier, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	hash16, key64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || !validName(name) || len(hash16) != 8 || strings.ToLower(hash16) != hash16 {
		return nil, errors.New("witness key: want <name>+<8 hex digits>+<base64 key>")
	}
	hash, err := strconv.ParseUint(hash16, 16, 32)
	if err != nil {
		return nil, errors.New("witness key: bad key hash")
	}
	key, err := base64.StdEncoding.Strict().DecodeString(key64)
	if err != nil || len(key) != 1+ed25519.PublicKeySize {
		return nil, errors.New("witness key: want the base64 of 33 bytes")
	}
	if key[0] != algCosignatureV1 {
		return nil, errors.New("witness key: not an Ed25519 cosignature key (type 0x04)")
	}
	if uint32(hash) != keyHash(name, key) {
		return nil, errors.New("witness key: the key hash does not match the name and key")
	}
	return &Verifier{name: name, hash: uint32(hash), key: ed25519.PublicKey(key[1:]), vkey: vkey}, nil
}

// VerifierKey writes an Ed25519 cosigner's verifier key for name and pub,
// the inverse of NewVerifier.
func VerifierKey(name string, pub ed25519.PublicKey) string {
	key := append([]byte{algCosignatureV1}, pub...)
	return name + "+" + strconv.FormatUint(uint64(keyHash(name, key))|1<<32, 16)[1:] + "+" + base64.StdEncoding.EncodeToString(key)
}

// validName is the signed-note rule for key names: not empty, valid
// UTF-8, no space and no +.
func validName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

func keyHash(name string, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// Name is the witness's name, the name of its signature lines.
func (v *Verifier) Name() string { return v.name }

// KeyHash is the key hash of its signature lines.
func (v *Verifier) KeyHash() uint32 { return v.hash }

// String is the verifier key v was parsed from.
func (v *Verifier) String() string { return v.vkey }

// Verify checks a cosignature, timestamp ‖ Ed25519 signature, over the
// checkpoint msg: the signed message is "cosignature/v1", the time line,
// then the checkpoint body. A timestamp of zero is no cosignature of a
// checkpoint (C2SP tlog-witness requires one).
func (v *Verifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	if t == 0 || t > 1<<63-1 {
		return false
	}
	signed := "cosignature/v1\ntime " + strconv.FormatUint(t, 10) + "\n" + string(msg)
	return ed25519.Verify(v.key, []byte(signed), sig[8:])
}
