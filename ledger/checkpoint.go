package ledger

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// DefaultOrigin is the checkpoint origin line, and the name of the ledger's
// signing key, when none is configured. It is a name of the right form but
// not a globally unique one: a ledger that witnesses or tile clients see
// should be named after the address it is served at.
const DefaultOrigin = "creditbank.local/ledger"

// CheckOrigin reports whether origin is a checkpoint origin of the form
// C2SP tlog-checkpoint asks for, a globally unique name: a host name (with
// a port, if any), a slash and a path, without a scheme or a trailing
// slash, such as credits.example.gov/tlog. It is the key name of the
// signed notes too, so it holds no space or +.
func CheckOrigin(origin string) error {
	host, path, ok := strings.Cut(origin, "/")
	if !ok || path == "" {
		return fmt.Errorf("origin %q: want a host name and a path, such as credits.example.gov/tlog", origin)
	}
	if len(origin) > 255 {
		return fmt.Errorf("origin %q: longer than 255 bytes", origin)
	}
	name, port, hasPort := strings.Cut(host, ":")
	if hasPort {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 || strconv.FormatUint(n, 10) != port {
			return fmt.Errorf("origin %q: bad port %q", origin, port)
		}
	}
	labels := strings.Split(name, ".")
	// A top-level label is never all digits: that is an IP address.
	if tld := labels[len(labels)-1]; len(labels) < 2 || strings.Trim(tld, "0123456789") == "" {
		return fmt.Errorf("origin %q: %q is not a fully qualified host name", origin, name)
	}
	for _, l := range labels {
		if !hostLabel(l) {
			return fmt.Errorf("origin %q: %q is not a host name (lower-case letters, digits and inner hyphens, dot-separated)", origin, name)
		}
	}
	for _, seg := range strings.Split(path, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("origin %q: the path has an empty, . or .. segment (or a trailing slash)", origin)
		}
		for _, c := range seg {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~", c)) {
				return fmt.Errorf("origin %q: the path holds %q; use letters, digits and -._~", origin, c)
			}
		}
	}
	return nil
}

// hostLabel reports whether l is one label of a host name.
func hostLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Checkpoint is the body of a C2SP tlog-checkpoint: the origin line, the tree
// size and the root hash. Extension lines are not produced and are ignored
// when parsed.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   tlog.Hash
}

// Text returns the checkpoint body as it is signed.
func (c Checkpoint) Text() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
}

// ParseCheckpoint parses a checkpoint body (the text of a signed note).
func ParseCheckpoint(text string) (Checkpoint, error) {
	if !strings.HasSuffix(text, "\n") {
		return Checkpoint{}, errors.New("checkpoint: body does not end in a newline")
	}
	if strings.ContainsRune(text, '\r') {
		return Checkpoint{}, errors.New("checkpoint: carriage return in body")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return Checkpoint{}, errors.New("checkpoint: fewer than three lines")
	}
	origin := lines[0]
	if origin == "" {
		return Checkpoint{}, errors.New("checkpoint: empty origin line")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("checkpoint: bad tree size %q", lines[1])
	}
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return Checkpoint{}, fmt.Errorf("checkpoint: bad root hash %q", lines[2])
	}
	for _, ext := range lines[3:] {
		if ext == "" {
			return Checkpoint{}, errors.New("checkpoint: empty extension line")
		}
	}
	c := Checkpoint{Origin: origin, Size: size}
	copy(c.Root[:], root)
	return c, nil
}

// SignCheckpoint signs c as a C2SP signed note with signer, whose name must
// be the checkpoint's origin.
func SignCheckpoint(c Checkpoint, signer note.Signer) ([]byte, error) {
	if signer.Name() != c.Origin {
		return nil, fmt.Errorf("checkpoint: signer %q does not match origin %q", signer.Name(), c.Origin)
	}
	msg, err := note.Sign(&note.Note{Text: c.Text()}, signer)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return msg, nil
}

// OpenCheckpoint verifies a signed checkpoint with verifier and parses its
// body. The origin must be the verifier's name.
func OpenCheckpoint(signed []byte, verifier note.Verifier) (Checkpoint, error) {
	n, err := note.Open(signed, note.VerifierList(verifier))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint signature: %w", err)
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != verifier.Name() {
		return Checkpoint{}, fmt.Errorf("checkpoint: origin %q is not %q", c.Origin, verifier.Name())
	}
	return c, nil
}

// Keys is the ledger's checkpoint signing key pair.
type Keys struct {
	Signer note.Signer
	// VerifierKey is the public key in note format,
	// "<origin>+<key hash hex>+<base64(0x01 || public key)>".
	VerifierKey string
	Verifier    note.Verifier
}

// GenerateKeys makes a fresh Ed25519 key pair named origin and returns it with
// its private key in note format.
func GenerateKeys(origin string) (Keys, string, error) {
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return Keys{}, "", fmt.Errorf("generate ledger key: %w", err)
	}
	k, err := keysFromPrivate(skey, vkey)
	return k, skey, err
}

func keysFromPrivate(skey, vkey string) (Keys, error) {
	s, err := note.NewSigner(skey)
	if err != nil {
		return Keys{}, fmt.Errorf("ledger signing key: %w", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return Keys{}, fmt.Errorf("ledger verifier key: %w", err)
	}
	if v.Name() != s.Name() || v.KeyHash() != s.KeyHash() {
		return Keys{}, errors.New("ledger key files do not belong together")
	}
	return Keys{Signer: s, VerifierKey: vkey, Verifier: v}, nil
}

// LoadOrCreateKeys reads the signing key in dir with LoadKeys, creating the
// pair (ledger.key, mode 0600, and ledger.pub) named origin on first use;
// an empty origin takes the existing key's name, or DefaultOrigin for a new
// one.
func LoadOrCreateKeys(dir, origin string) (Keys, error) {
	privPath := filepath.Join(dir, "ledger.key")
	if _, err := os.Stat(privPath); !errors.Is(err, fs.ErrNotExist) {
		return LoadKeys(dir, origin)
	}
	if origin == "" {
		origin = DefaultOrigin
	}
	keys, priv, err := GenerateKeys(origin)
	if err != nil {
		return Keys{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Keys{}, fmt.Errorf("create key folder: %w", err)
	}
	if err := writeFileSync(filepath.Join(dir, "ledger.pub"), []byte(keys.VerifierKey+"\n"), 0o644); err != nil {
		return Keys{}, err
	}
	// The private key is written last: its presence means the pair is whole.
	if err := writeFileSync(privPath, []byte(priv+"\n"), 0o600); err != nil {
		return Keys{}, err
	}
	return keys, nil
}

// LoadKeys reads the key pair in dir. The key must be named origin (any
// name when origin is empty): a changed origin would make every earlier
// checkpoint unverifiable.
func LoadKeys(dir, origin string) (Keys, error) {
	privPath := filepath.Join(dir, "ledger.key")
	skey, err := os.ReadFile(privPath)
	if err != nil {
		return Keys{}, fmt.Errorf("read ledger key: %w", err)
	}
	vkey, err := os.ReadFile(filepath.Join(dir, "ledger.pub"))
	if err != nil {
		return Keys{}, fmt.Errorf("read ledger public key: %w", err)
	}
	keys, err := keysFromPrivate(string(bytes.TrimSpace(skey)), string(bytes.TrimSpace(vkey)))
	if err != nil {
		return Keys{}, fmt.Errorf("%s: %w", privPath, err)
	}
	if origin != "" && keys.Signer.Name() != origin {
		return Keys{}, fmt.Errorf("%s is named %q but the origin is %q", privPath, keys.Signer.Name(), origin)
	}
	return keys, nil
}

// writeFileSync writes a new file and syncs it and its folder, so that a key
// acknowledged as created survives a crash.
func writeFileSync(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("sync folder of %s: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync folder of %s: %w", path, err)
	}
	return nil
}
