package vault

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

var update = flag.Bool("update", false, "rewrite testdata/keys.json and testdata/vectors.json")

// testKey is a fixed key named by label, so that tests and vectors are
// reproducible.
func testKey(label string) [32]byte {
	return sha256.Sum256([]byte("creditbank vault test " + label))
}

// b64 is a key as the key file spells it.
func b64(key [32]byte) string { return base64.StdEncoding.EncodeToString(key[:]) }

// writeKeyFile writes data as dir's key file with mode perm.
func writeKeyFile(t testing.TB, dir string, data []byte, perm os.FileMode) {
	t.Helper()
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // WriteFile's mode is cut by the umask
		t.Fatal(err)
	}
}

// fixtureDir copies testdata/keys.json into a new folder with mode 0600
// (git keeps no such mode) and returns the folder.
func fixtureDir(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", FileName))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeKeyFile(t, dir, data, 0o600)
	return dir
}

func mustOpen(t testing.TB, dir string) *Keys {
	t.Helper()
	k, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustLoad(t testing.TB, dir string) *Keys {
	t.Helper()
	k, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fixtureState is the state of testdata/keys.json: KEKs 1 and 2, 2
// current, and an index key rotation under way.
func fixtureState() *state {
	return &state{
		current: 2,
		keks:    []*kek{newKEK(1, testKey("kek 1")), newKEK(2, testKey("kek 2"))},
		index:   newIndexKey(testKey("index")),
		next:    newIndexKey(testKey("next index")),
	}
}

// vectors are the byte-for-byte expectations of testdata/vectors.json.
type vectors struct {
	Seal  []sealVector  `json:"seal"`
	Wrap  []wrapVector  `json:"wrap"`
	Index []indexVector `json:"index"`
}

type sealVector struct {
	Key       string `json:"key"`
	Nonce     string `json:"nonce"`
	Seq       uint64 `json:"seq"`
	Field     string `json:"field"`
	Plaintext string `json:"plaintext"`
	Sealed    string `json:"sealed"`
}

// wrapVector is a data key wrapped under a KEK of testdata/keys.json.
type wrapVector struct {
	KEK     uint32 `json:"kek"`
	Nonce   string `json:"nonce"`
	Ref     string `json:"ref"`
	DataKey string `json:"data_key"`
	Wrapped string `json:"wrapped"`
}

// indexVector is an index hash under testdata/keys.json's index key.
type indexVector struct {
	ID   string `json:"id"`
	Hash string `json:"hash"`
}

// makeVectors computes the vectors with this package's code, for -update.
func makeVectors() vectors {
	var v vectors
	st := fixtureState()
	for i, c := range []struct {
		seq       uint64
		field     string
		plaintext string
	}{
		{0, "sealed", ""},
		{1, "sealed", `{"learner":"alice-01","title":"Linear algebra","score":"A","evidence":"sha256:00"}`},
		{1<<63 + 5, "learner", "alice-01"},
	} {
		key, nonce := testKey(fmt.Sprint("data ", i)), testKey(fmt.Sprint("nonce ", i))
		v.Seal = append(v.Seal, sealVector{
			Key: hex.EncodeToString(key[:]), Nonce: hex.EncodeToString(nonce[:24]),
			Seq: c.seq, Field: c.field, Plaintext: c.plaintext,
			Sealed: hex.EncodeToString(Seal(key, [24]byte(nonce[:24]), c.seq, c.field, []byte(c.plaintext))),
		})
	}
	for i, kk := range st.keks {
		dk, nonce := DataKey(testKey(fmt.Sprint("wrapped ", i))), testKey(fmt.Sprint("wrap nonce ", i))
		ref := "_" + refEncoding.EncodeToString(nonce[24:])
		v.Wrap = append(v.Wrap, wrapVector{
			KEK: kk.id, Nonce: hex.EncodeToString(nonce[:24]), Ref: ref, DataKey: hex.EncodeToString(dk[:]),
			Wrapped: hex.EncodeToString(kk.wrap([24]byte(nonce[:24]), ref, dk)),
		})
	}
	for _, id := range []string{"alice-01", "B", strings.Repeat("z", 64)} {
		v.Index = append(v.Index, indexVector{ID: id, Hash: st.index.hash(id)})
	}
	return v
}

// TestUpdateTestdata rewrites the fixtures under -update; otherwise it checks
// that they are what this package makes.
func TestUpdateTestdata(t *testing.T) {
	keys := fixtureState().encode()
	vec, err := json.MarshalIndent(makeVectors(), "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	vec = append(vec, '\n')
	for _, f := range []struct {
		name string
		data []byte
	}{{FileName, keys}, {"vectors.json", vec}} {
		path := filepath.Join("testdata", f.name)
		if *update {
			if err := os.WriteFile(path, f.data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.data) {
			t.Errorf("%s differs from what this package makes (go test -run TestUpdateTestdata -update ./vault if the change is meant)", path)
		}
	}
}

func readVectors(t *testing.T) vectors {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVectors checks the stored vectors byte for byte: sealing, opening,
// unwrapping under the fixture's KEKs and index hashing.
func TestVectors(t *testing.T) {
	v := readVectors(t)
	if len(v.Seal) == 0 || len(v.Wrap) == 0 || len(v.Index) == 0 {
		t.Fatal("testdata/vectors.json is missing vectors")
	}
	for i, c := range v.Seal {
		t.Run(fmt.Sprint("seal ", i), func(t *testing.T) {
			key, nonce := DataKey(unhex(t, c.Key)), [24]byte(unhex(t, c.Nonce))
			want := unhex(t, c.Sealed)
			if got := Seal(key, nonce, c.Seq, c.Field, []byte(c.Plaintext)); !bytes.Equal(got, want) {
				t.Errorf("Seal = %x, want %x", got, want)
			}
			pt, err := OpenSealed(key, c.Seq, c.Field, want)
			if err != nil || string(pt) != c.Plaintext {
				t.Errorf("OpenSealed = %q, %v; want %q", pt, err, c.Plaintext)
			}
			// The vector opens by the format alone: nonce || ciphertext,
			// associated data seq || field.
			ad := append(binary.BigEndian.AppendUint64(nil, c.Seq), c.Field...)
			if pt, err := xOpen(t, key[:], want[:24], want[24:], ad); err != nil || string(pt) != c.Plaintext {
				t.Errorf("NewX Open = %q, %v; want %q", pt, err, c.Plaintext)
			}
		})
	}
	k := mustLoad(t, fixtureDir(t))
	for i, c := range v.Wrap {
		t.Run(fmt.Sprint("wrap ", i), func(t *testing.T) {
			wrapped := unhex(t, c.Wrapped)
			if id, ok := WrappedUnder(wrapped); !ok || id != c.KEK {
				t.Errorf("WrappedUnder = %d, %t; want %d", id, ok, c.KEK)
			}
			dk, err := k.Unwrap(c.Ref, wrapped)
			if err != nil || !bytes.Equal(dk[:], unhex(t, c.DataKey)) {
				t.Errorf("Unwrap: %v, or not the vector's data key", err)
			}
			// By the format alone: id || nonce || ciphertext, associated
			// data "creditbank data key\x00" || ref.
			kek := testKey(fmt.Sprint("kek ", c.KEK))
			raw, err := xOpen(t, kek[:], wrapped[4:28], wrapped[28:], []byte("creditbank data key\x00"+c.Ref))
			if err != nil || !bytes.Equal(raw, unhex(t, c.DataKey)) {
				t.Errorf("NewX Open: %v, or not the vector's data key", err)
			}
		})
	}
	for _, c := range v.Index {
		if got := k.IndexHash(c.ID); got != c.Hash {
			t.Errorf("IndexHash(%q) = %s, want %s", c.ID, got, c.Hash)
		}
	}
}

// xOpen opens with chacha20poly1305.NewX directly.
func xOpen(t *testing.T, key, nonce, ciphertext, ad []byte) ([]byte, error) {
	t.Helper()
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		t.Fatal(err)
	}
	return aead.Open(nil, nonce, ciphertext, ad)
}

// sealAt is Seal with a fresh nonce.
func sealAt(t testing.TB, dk DataKey, seq uint64, field string, plaintext []byte) []byte {
	t.Helper()
	nonce, err := NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	return Seal(dk, nonce, seq, field, plaintext)
}

func TestSealRoundTrip(t *testing.T) {
	dk, err := NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		seq       uint64
		field     string
		plaintext []byte
	}{
		{"empty", 0, "sealed", nil},
		{"learner id", 7, "learner", []byte("alice-01")},
		{"outcome", 1 << 40, "sealed", []byte(`{"learner":"alice-01","title":"Linear algebra","score":"A","evidence":"sha256:4f2a"}`)},
		{"empty field name", 3, "", []byte("x")},
		{"long field name", 3, strings.Repeat("f", 200), []byte("score 97")},
		{"binary", 9, "sealed", bytes.Repeat([]byte{0, 0xff}, 4096)},
	} {
		t.Run(c.name, func(t *testing.T) {
			sealed := sealAt(t, dk, c.seq, c.field, c.plaintext)
			if len(sealed) != SealedSize(len(c.plaintext)) {
				t.Errorf("sealed %d bytes into %d, want %d", len(c.plaintext), len(sealed), SealedSize(len(c.plaintext)))
			}
			if len(c.plaintext) >= 4 && bytes.Contains(sealed, c.plaintext[:4]) {
				t.Errorf("the sealed bytes hold the plaintext")
			}
			got, err := OpenSealed(dk, c.seq, c.field, sealed)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, c.plaintext) {
				t.Errorf("OpenSealed = %q, want %q", got, c.plaintext)
			}
			// AppendSeal keeps what dst holds and appends what Seal makes.
			nonce := [24]byte(sealed[:24])
			prefix := []byte("prefix")
			appended := AppendSeal(prefix, dk, nonce, c.seq, c.field, c.plaintext)
			if !bytes.HasPrefix(appended, prefix) || !bytes.Equal(appended[len(prefix):], sealed) {
				t.Errorf("AppendSeal is not prefix || Seal")
			}
		})
	}
}

func TestOpenSealedRefuses(t *testing.T) {
	dk, err := NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	const seq, field = 42, "sealed"
	sealed := sealAt(t, dk, seq, field, []byte("alice-01 Linear algebra A"))
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 1
		return b
	}
	for _, c := range []struct {
		name   string
		key    DataKey
		seq    uint64
		field  string
		sealed []byte
	}{
		{"other seq", dk, seq + 1, field, sealed},
		{"seq 0", dk, 0, field, sealed},
		{"other field", dk, seq, "learner", sealed},
		{"field with a suffix", dk, seq, field + "x", sealed},
		{"other key", other, seq, field, sealed},
		{"nonce byte changed", dk, seq, field, flip(0)},
		{"ciphertext byte changed", dk, seq, field, flip(30)},
		{"tag byte changed", dk, seq, field, flip(len(sealed) - 1)},
		{"truncated", dk, seq, field, sealed[:len(sealed)-1]},
		{"byte added", dk, seq, field, append(bytes.Clone(sealed), 0)},
		{"shorter than nonce and tag", dk, seq, field, sealed[:39]},
		{"empty", dk, seq, field, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			pt, err := OpenSealed(c.key, c.seq, c.field, c.sealed)
			if !errors.Is(err, ErrOpen) {
				t.Fatalf("OpenSealed = %q, %v; want ErrOpen", pt, err)
			}
			msg := err.Error()
			for _, key := range []DataKey{dk, other} {
				if strings.Contains(msg, hex.EncodeToString(key[:4])) || strings.Contains(msg, base64.StdEncoding.EncodeToString(key[:])[:8]) {
					t.Errorf("error %q shows key bytes", msg)
				}
			}
		})
	}
}

// TestSealInterop opens Seal's output with chacha20poly1305.NewX called
// here, and the reverse, so that the format (nonce || ciphertext, associated
// data seq || field) is checked by a path that does not go through Seal.
func TestSealInterop(t *testing.T) {
	dk, err := NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	aead, err := chacha20poly1305.NewX(dk[:])
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		seq   uint64
		field string
		pt    string
	}{{0, "sealed", "alice-01"}, {1<<64 - 1, "title", "Linear algebra"}, {12345, "", ""}} {
		t.Run(fmt.Sprint(c.seq, c.field), func(t *testing.T) {
			ad := binary.BigEndian.AppendUint64(nil, c.seq)
			ad = append(ad, c.field...)
			sealed := sealAt(t, dk, c.seq, c.field, []byte(c.pt))
			pt, err := aead.Open(nil, sealed[:chacha20poly1305.NonceSizeX], sealed[chacha20poly1305.NonceSizeX:], ad)
			if err != nil || string(pt) != c.pt {
				t.Errorf("NewX Open of Seal's output = %q, %v; want %q", pt, err, c.pt)
			}
			nonce, err := NewNonce()
			if err != nil {
				t.Fatal(err)
			}
			theirs := aead.Seal(bytes.Clone(nonce[:]), nonce[:], []byte(c.pt), ad)
			pt, err = OpenSealed(dk, c.seq, c.field, theirs)
			if err != nil || string(pt) != c.pt {
				t.Errorf("OpenSealed of NewX's output = %q, %v; want %q", pt, err, c.pt)
			}
		})
	}
}

// wrapCheck is what unwrapping one wrapped key is expected to give at a
// step of a rotation: nil, ErrOpen or ErrUnknownKEK.
type wrapCheck struct {
	name    string
	ref     string
	wrapped *[]byte
	dk      DataKey
	want    error
}

func checkUnwraps(t *testing.T, k *Keys, checks []wrapCheck) {
	t.Helper()
	for _, c := range checks {
		dk, err := k.Unwrap(c.ref, *c.wrapped)
		switch {
		case c.want == nil && err != nil:
			t.Errorf("%s: Unwrap: %v", c.name, err)
		case c.want == nil && dk != c.dk:
			t.Errorf("%s: Unwrap gave another data key", c.name)
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("%s: Unwrap = %v, want %v", c.name, err, c.want)
		}
	}
}

// TestWrapRotation wraps data keys across a KEK rotation, checking after
// each step the keys in memory and the keys Load reads from the file.
func TestWrapRotation(t *testing.T) {
	dir := t.TempDir()
	k := mustOpen(t, dir)
	refA, err := NewRef()
	if err != nil {
		t.Fatal(err)
	}
	refB, err := NewRef()
	if err != nil {
		t.Fatal(err)
	}
	dkA, err := NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	dkB, err := NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	var oldA, newA, newB []byte
	wrap := func(ref string, dk DataKey, into *[]byte) func() error {
		return func() (err error) {
			*into, err = k.Wrap(ref, dk)
			return err
		}
	}
	steps := []struct {
		name    string
		do      func() error
		current uint32
		keks    []uint32
		checks  []wrapCheck
	}{
		{"wrap under KEK 1", wrap(refA, dkA, &oldA), 1, []uint32{1}, []wrapCheck{
			{"old wrap", refA, &oldA, dkA, nil},
			{"old wrap, other ref", refB, &oldA, dkA, ErrOpen},
		}},
		{"begin rotation", func() error {
			id, err := k.BeginRotation()
			if err == nil && id != 2 {
				err = fmt.Errorf("BeginRotation = %d, want 2", id)
			}
			return err
		}, 2, []uint32{1, 2}, []wrapCheck{
			{"old wrap", refA, &oldA, dkA, nil},
		}},
		{"rewrap under KEK 2", func() error {
			if err := wrap(refA, dkA, &newA)(); err != nil {
				return err
			}
			return wrap(refB, dkB, &newB)()
		}, 2, []uint32{1, 2}, []wrapCheck{
			{"old wrap", refA, &oldA, dkA, nil},
			{"new wrap", refA, &newA, dkA, nil},
			{"new wrap of B", refB, &newB, dkB, nil},
			{"new wrap, other ref", refB, &newA, dkA, ErrOpen},
		}},
		{"finish rotation", k.FinishRotation, 2, []uint32{2}, []wrapCheck{
			{"old wrap", refA, &oldA, dkA, ErrUnknownKEK},
			{"new wrap", refA, &newA, dkA, nil},
			{"new wrap of B", refB, &newB, dkB, nil},
		}},
		{"finish again", k.FinishRotation, 2, []uint32{2}, []wrapCheck{
			{"new wrap", refA, &newA, dkA, nil},
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := s.do(); err != nil {
				t.Fatal(err)
			}
			for _, kk := range []struct {
				name string
				k    *Keys
			}{{"in memory", k}, {"loaded", mustLoad(t, dir)}} {
				if got := kk.k.CurrentKEK(); got != s.current {
					t.Errorf("%s: CurrentKEK = %d, want %d", kk.name, got, s.current)
				}
				if got := kk.k.KEKs(); !slices.Equal(got, s.keks) {
					t.Errorf("%s: KEKs = %v, want %v", kk.name, got, s.keks)
				}
				checkUnwraps(t, kk.k, s.checks)
			}
		})
	}
	if id, _ := WrappedUnder(oldA); id != 1 {
		t.Errorf("the first wrap names KEK %d, want 1", id)
	}
	if id, _ := WrappedUnder(newA); id != 2 {
		t.Errorf("a wrap after BeginRotation names KEK %d, want 2", id)
	}
}

func TestUnwrapRefuses(t *testing.T) {
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := NewRef()
	if err != nil {
		t.Fatal(err)
	}
	dk, err := NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := k.Wrap(ref, dk)
	if err != nil {
		t.Fatal(err)
	}
	if len(wrapped) != 76 {
		t.Errorf("Wrap made %d bytes, want 76", len(wrapped))
	}
	flip := func(i int) []byte {
		b := bytes.Clone(wrapped)
		b[i] ^= 1
		return b
	}
	other, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		k       *Keys
		ref     string
		wrapped []byte
		want    error
	}{
		{"other ref", k, "_" + strings.Repeat("A", 26), wrapped, ErrOpen},
		{"plain id as ref", k, "alice-01", wrapped, ErrOpen},
		{"other keys, same KEK id", other, ref, wrapped, ErrOpen},
		{"KEK id changed", k, ref, flip(3), ErrUnknownKEK},
		{"nonce changed", k, ref, flip(4), ErrOpen},
		{"ciphertext changed", k, ref, flip(40), ErrOpen},
		{"tag changed", k, ref, flip(75), ErrOpen},
		{"truncated", k, ref, wrapped[:75], ErrOpen},
		{"KEK id only", k, ref, wrapped[:4], ErrOpen},
		{"empty", k, ref, nil, ErrOpen},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.k.Unwrap(c.ref, c.wrapped)
			if !errors.Is(err, c.want) {
				t.Fatalf("Unwrap = %v, want %v", err, c.want)
			}
			if got != (DataKey{}) {
				t.Errorf("a refused Unwrap returned key bytes")
			}
		})
	}
	if _, ok := WrappedUnder(wrapped[:3]); ok {
		t.Errorf("WrappedUnder of 3 bytes reports a KEK")
	}
}

// TestOpenCreates checks the file Open makes, in a folder that does not
// exist yet, and that Open and Load read it back.
func TestOpenCreates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	k := mustOpen(t, dir)
	path := filepath.Join(dir, FileName)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s has mode %04o, want 0600", path, perm)
	}
	if _, err := os.Stat(filepath.Join(dir, tmpName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left behind: %v", tmpName, err)
	}
	if k.CurrentKEK() != 1 || !slices.Equal(k.KEKs(), []uint32{1}) {
		t.Errorf("new keys: %v, want KEK 1 current and alone", k)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, k.load().encode()) {
		t.Errorf("the file is not the canonical encoding of the keys")
	}
	for _, again := range []*Keys{mustOpen(t, dir), mustLoad(t, dir)} {
		if again.IndexHash("alice-01") != k.IndexHash("alice-01") {
			t.Errorf("keys read back hash ids differently")
		}
	}
	after, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(after, data) {
		t.Errorf("opening existing keys rewrote the file (%v)", err)
	}
	if _, err := Load(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a folder with no key file = %v, want os.ErrNotExist", err)
	}
}

// TestKeyFileCanonical checks that the fixture parses and re-encodes to its
// own bytes.
func TestKeyFileCanonical(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", FileName))
	if err != nil {
		t.Fatal(err)
	}
	st, err := parseKeys(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.encode(); !bytes.Equal(got, data) {
		t.Errorf("re-encoded:\n%s\nwant:\n%s", got, data)
	}
}

// validFile is a key file of the fixture's keys, spelled out so that the
// refusal cases below can change it.
func validFile() string {
	return fmt.Sprintf(`{"version":1,"current_kek":2,"keks":[{"id":1,"key":%q},{"id":2,"key":%q}],"index_key":%q,"next_index_key":%q}`+"\n",
		b64(testKey("kek 1")), b64(testKey("kek 2")), b64(testKey("index")), b64(testKey("next index")))
}

// keyFileCase is a key file Open and Load must refuse.
type keyFileCase struct {
	name string
	data string
	perm os.FileMode
	want string // in the error
}

func keyFileCases() []keyFileCase {
	valid := validFile()
	kek1 := b64(testKey("kek 1"))
	short := testKey("short")
	longKey := testKey("long")
	long := append(longKey[:], 7)
	return []keyFileCase{
		{"readable by others", valid, 0o644, "mode 0644"},
		{"readable by group", valid, 0o640, "mode 0640"},
		{"readable by others only", valid, 0o604, "mode 0604"},
		{"writable by group", valid, 0o620, "mode 0620"},
		{"truncated", valid[:len(valid)/2], 0o600, "malformed JSON"},
		{"empty", "", 0o600, "empty"},
		{"trailing data", valid + "{}", 0o600, "malformed JSON"},
		{"not an object", `[1]`, 0o600, "not a JSON object"},
		{"unknown member", strings.Replace(valid, `"version":1`, `"version":1,"comment":"x"`, 1), 0o600, `unknown member "comment"`},
		{"upper-case member", strings.Replace(valid, `"version"`, `"Version"`, 1), 0o600, "lower case"},
		{"repeated member", strings.Replace(valid, `"current_kek":2`, `"current_kek":2,"current_kek":1`, 1), 0o600, "appears twice"},
		{"bad base64", strings.Replace(valid, kek1, "not base64!", 1), 0o600, "keks[0] (id 1): key is not base64"},
		{"url-safe base64", strings.Replace(valid, kek1, strings.NewReplacer("+", "-", "/", "_").Replace(kek1), 1), 0o600, "not base64"},
		{"line break in base64", strings.Replace(valid, kek1, kek1[:20]+`\n`+kek1[20:], 1), 0o600, "not base64"},
		{"31-byte KEK", strings.Replace(valid, kek1, base64.StdEncoding.EncodeToString(short[:31]), 1), 0o600, "key has 31 bytes, want 32"},
		{"33-byte index key", strings.Replace(valid, b64(testKey("index")), base64.StdEncoding.EncodeToString(long), 1), 0o600, "index_key has 33 bytes"},
		{"empty next index key", strings.Replace(valid, b64(testKey("next index")), "", 1), 0o600, "next_index_key has 0 bytes"},
		{"missing current KEK", strings.Replace(valid, `"current_kek":2`, `"current_kek":3`, 1), 0o600, "current_kek 3 is none of the keks"},
		{"no current_kek member", strings.Replace(valid, `"current_kek":2,`, ``, 1), 0o600, "current_kek 0"},
		{"no KEKs", fmt.Sprintf(`{"version":1,"current_kek":1,"keks":[],"index_key":%q}`, b64(testKey("index"))), 0o600, "current_kek 1 is none"},
		{"duplicate ids", strings.Replace(valid, `"id":2`, `"id":1`, 1), 0o600, "kek id 1 appears twice"},
		{"id 0", strings.Replace(valid, `"id":1`, `"id":0`, 1), 0o600, "id 0"},
		{"id out of range", strings.Replace(valid, `"id":1`, `"id":4294967296`, 1), 0o600, "keks.id"},
		{"id as a string", strings.Replace(valid, `"id":1`, `"id":"1"`, 1), 0o600, "keks.id"},
		{"version 2", strings.Replace(valid, `"version":1`, `"version":2`, 1), 0o600, "version 2, want 1"},
		{"no version", strings.Replace(valid, `"version":1,`, ``, 1), 0o600, "member version missing"},
		{"no index key", strings.Replace(valid, fmt.Sprintf(`"index_key":%q,`, b64(testKey("index"))), ``, 1), 0o600, "member index_key missing"},
	}
}

// TestOpenRefuses checks each refused key file: Open and Load fail naming
// the file, show no key bytes, and leave the file as it was.
func TestOpenRefuses(t *testing.T) {
	secrets := []string{b64(testKey("kek 1")), b64(testKey("kek 2")), b64(testKey("index")), b64(testKey("next index"))}
	for _, c := range keyFileCases() {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeKeyFile(t, dir, []byte(c.data), c.perm)
			for _, open := range []struct {
				name string
				f    func(string) (*Keys, error)
			}{{"Open", Open}, {"Load", Load}} {
				k, err := open.f(dir)
				if err == nil {
					t.Fatalf("%s accepted the file: %v", open.name, k)
				}
				msg := err.Error()
				t.Logf("%s: %s", open.name, msg)
				if !strings.Contains(msg, c.want) {
					t.Errorf("%s: %q does not say %q", open.name, msg, c.want)
				}
				if !strings.Contains(msg, filepath.Join(dir, FileName)) {
					t.Errorf("%s: %q does not name the file", open.name, msg)
				}
				for _, s := range secrets {
					if strings.Contains(msg, s[:8]) {
						t.Errorf("%s: %q shows key bytes", open.name, msg)
					}
				}
			}
			after, err := os.ReadFile(filepath.Join(dir, FileName))
			if err != nil || string(after) != c.data {
				t.Errorf("the refused file was changed (%v)", err)
			}
		})
	}
	t.Run("a folder named keys.json", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, FileName), 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("Open = %v, want not a regular file", err)
		}
	})
}

// TestOpenAfterCrash simulates a crash between writing keys.json.tmp and
// renaming it: Open must read keys.json, remove the stale file, and write
// the next change with mode 0600 whatever the stale file's mode.
func TestOpenAfterCrash(t *testing.T) {
	other := validFile() // a complete file of keys other than dir's
	for _, c := range []struct {
		name  string
		stale string
	}{
		{"complete stale file", other},
		{"torn stale file", other[:40]},
		{"empty stale file", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			want := mustOpen(t, dir).IndexHash("alice-01")
			old, err := os.ReadFile(filepath.Join(dir, FileName))
			if err != nil {
				t.Fatal(err)
			}
			tmp := filepath.Join(dir, tmpName)
			if err := os.WriteFile(tmp, []byte(c.stale), 0o644); err != nil {
				t.Fatal(err)
			}
			l := mustLoad(t, dir)
			if _, err := os.Stat(tmp); err != nil {
				t.Errorf("Load changed the folder: %v", err)
			}
			k := mustOpen(t, dir)
			for _, kk := range []*Keys{l, k} {
				if kk.IndexHash("alice-01") != want {
					t.Errorf("keys after the crash are not the file's")
				}
			}
			if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Open left the stale %s: %v", tmpName, err)
			}
			if now, _ := os.ReadFile(filepath.Join(dir, FileName)); !bytes.Equal(now, old) {
				t.Errorf("Open rewrote keys.json")
			}
			if _, err := k.BeginRotation(); err != nil {
				t.Fatal(err)
			}
			info, err := os.Stat(filepath.Join(dir, FileName))
			if err != nil || info.Mode().Perm() != 0o600 {
				t.Errorf("after a change keys.json is %v, %v; want mode 0600", info.Mode(), err)
			}
			if got := mustLoad(t, dir).KEKs(); !slices.Equal(got, []uint32{1, 2}) {
				t.Errorf("after the rotation the file holds KEKs %v, want [1 2]", got)
			}
		})
	}
	t.Run("crash before the first rename", func(t *testing.T) {
		dir := t.TempDir()
		tmp := filepath.Join(dir, tmpName)
		if err := os.WriteFile(tmp, []byte(other), 0o644); err != nil {
			t.Fatal(err)
		}
		k := mustOpen(t, dir)
		if k.IndexHash("alice-01") == mustLoad(t, fixtureDir(t)).IndexHash("alice-01") {
			t.Errorf("Open took the keys of a file that was never renamed")
		}
		if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Open left the stale %s: %v", tmpName, err)
		}
		if info, err := os.Stat(filepath.Join(dir, FileName)); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("keys.json: %v, %v; want mode 0600", info, err)
		}
	})
}

// TestIndexHash checks the hash against HMAC computed here, its stability
// across Load, and an index key rotation.
func TestIndexHash(t *testing.T) {
	dir := t.TempDir()
	k := mustOpen(t, dir)
	hexDigits := regexp.MustCompile(`^[0-9a-f]{64}$`)
	ids := []string{"alice-01", "alice-02", "A", strings.Repeat("z", 64)}
	seen := map[string]bool{}
	for _, id := range ids {
		h := k.IndexHash(id)
		if !hexDigits.MatchString(h) {
			t.Errorf("IndexHash(%q) = %q, want 64 lower-case hex digits", id, h)
		}
		if seen[h] {
			t.Errorf("IndexHash(%q) repeats another id's", id)
		}
		seen[h] = true
		mac := hmac.New(sha256.New, k.load().index.key[:])
		mac.Write([]byte("creditbank learner\x00" + id))
		if want := hex.EncodeToString(mac.Sum(nil)); h != want {
			t.Errorf("IndexHash(%q) = %s, HMAC computed here %s", id, h, want)
		}
		if got := mustLoad(t, dir).IndexHash(id); got != h {
			t.Errorf("IndexHash(%q) after Load = %s, want %s", id, got, h)
		}
	}
	other, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if other.IndexHash("alice-01") == k.IndexHash("alice-01") {
		t.Errorf("two index keys hash an id alike")
	}

	if _, ok := k.IndexHashNext("alice-01"); ok {
		t.Errorf("IndexHashNext with no pending key reports one")
	}
	if err := k.CommitIndexKey(); err == nil {
		t.Errorf("CommitIndexKey with no pending key succeeded")
	}
	before := k.IndexHash("alice-01")
	if err := k.NextIndexKey(); err != nil {
		t.Fatal(err)
	}
	next, ok := k.IndexHashNext("alice-01")
	if !ok || next == before || !hexDigits.MatchString(next) {
		t.Fatalf("IndexHashNext = %q, %t; want a new hash", next, ok)
	}
	if k.IndexHash("alice-01") != before {
		t.Errorf("NextIndexKey changed IndexHash before the commit")
	}
	loaded := mustLoad(t, dir)
	if got, ok := loaded.IndexHashNext("alice-01"); !ok || got != next {
		t.Errorf("the pending key was not persisted: %q, %t", got, ok)
	}
	if err := k.CommitIndexKey(); err != nil {
		t.Fatal(err)
	}
	for _, kk := range []*Keys{k, mustLoad(t, dir)} {
		if got := kk.IndexHash("alice-01"); got != next {
			t.Errorf("after CommitIndexKey IndexHash = %s, want the pending key's %s", got, next)
		}
		if _, ok := kk.IndexHashNext("alice-01"); ok {
			t.Errorf("a pending key is left after CommitIndexKey")
		}
	}
}

// learnerID is the form of a learner id (docs/contract.md).
var learnerID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)

func TestRefs(t *testing.T) {
	form := regexp.MustCompile(`^_[A-Z2-7]{26}$`)
	seen := map[string]bool{}
	for range 1000 {
		ref, err := NewRef()
		if err != nil {
			t.Fatal(err)
		}
		if !form.MatchString(ref) || !IsRef(ref) || learnerID.MatchString(ref) || seen[ref] {
			t.Fatalf("NewRef = %q: not of the form, not IsRef, a learner id or a repeat", ref)
		}
		seen[ref] = true
		if b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(ref[1:]); err != nil || len(b) != 16 {
			t.Fatalf("NewRef = %q does not spell 16 bytes: %v", ref, err)
		}
	}
	valid := "_" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("0123456789abcdef"))
	for _, c := range []struct {
		s    string
		want bool
	}{
		{valid, true},
		{"_AAAAAAAAAAAAAAAAAAAAAAAAAA", true},
		{"_77777777777777777777777774", true},
		{"_77777777777777777777777777", false}, // last character's unused bits set
		{"_AAAAAAAAAAAAAAAAAAAAAAAAAB", false},
		{strings.ToLower(valid), false},
		{valid[:26], false},
		{valid + "A", false},
		{valid[1:] + "A", false}, // no underscore
		{"-" + valid[1:], false},
		{valid[:26] + "=", false},
		{"_AAAAAAAAAAAAAAAAAAAAAAAAA0", false},
		{"_AAAAAAAAAAAAAAAAAAAAAAAAA8", false},
		{"alice-01", false},
		{"A", false},
		{strings.Repeat("A", 27), false},
		{"", false},
		{"_", false},
	} {
		if got := IsRef(c.s); got != c.want {
			t.Errorf("IsRef(%q) = %t, want %t", c.s, got, c.want)
		}
	}
}

// TestNoKeyInPrint prints keys with every common verb and through slog.
func TestNoKeyInPrint(t *testing.T) {
	k := mustLoad(t, fixtureDir(t))
	dk := DataKey(testKey("printed"))
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("keys", "dk", dk, "keys", k)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("keys", "dk", dk, "keys", k)
	out := logged.String()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		out += fmt.Sprintf(verb, k) + fmt.Sprintf(verb, dk) + fmt.Sprintf(verb, []DataKey{dk})
	}
	st := fixtureState()
	keys := [][32]byte{st.keks[0].key, st.keks[1].key, st.index.key, st.next.key, dk}
	for _, key := range keys {
		for _, spelling := range []string{
			b64(key)[:8], hex.EncodeToString(key[:4]), strings.ToUpper(hex.EncodeToString(key[:4])),
			strings.Trim(fmt.Sprint(key[:4]), "[]"), fmt.Sprintf("%#x, %#x", key[0], key[1]),
		} {
			if strings.Contains(out, spelling) {
				t.Errorf("printed keys hold %q of a key:\n%s", spelling, out)
			}
		}
	}
	if !strings.Contains(k.String(), "keks:1,2 current:2") {
		t.Errorf("String = %q, want the ids", k.String())
	}
}

// TestGenerate checks that keys from Generate rotate in memory.
func TestGenerate(t *testing.T) {
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	dk, err := NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	old, err := k.Wrap("_A", dk)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := k.BeginRotation(); err != nil || id != 2 {
		t.Fatalf("BeginRotation = %d, %v", id, err)
	}
	if got, err := k.Unwrap("_A", old); err != nil || got != dk {
		t.Errorf("Unwrap during the rotation: %v", err)
	}
	if err := k.FinishRotation(); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Unwrap("_A", old); !errors.Is(err, ErrUnknownKEK) {
		t.Errorf("Unwrap after the rotation = %v, want ErrUnknownKEK", err)
	}
	before := k.IndexHash("a")
	if err := k.NextIndexKey(); err != nil {
		t.Fatal(err)
	}
	if err := k.CommitIndexKey(); err != nil {
		t.Fatal(err)
	}
	if k.IndexHash("a") == before {
		t.Errorf("CommitIndexKey left the index key")
	}
	if !strings.Contains(k.String(), "in memory") {
		t.Errorf("String = %q, want it to say the keys are in memory", k)
	}
}

// TestConcurrent wraps, unwraps and hashes while the keys rotate (run with
// -race).
func TestConcurrent(t *testing.T) {
	k := mustOpen(t, t.TempDir())
	dk, err := NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				w, err := k.Wrap("_A", dk)
				if err != nil {
					t.Error(err)
					return
				}
				// Only FinishRotation can drop the KEK w names, and it is
				// called after stop.
				if got, err := k.Unwrap("_A", w); err != nil || got != dk {
					t.Errorf("Unwrap: %v", err)
					return
				}
				k.IndexHash("alice-01")
				k.IndexHashNext("alice-01")
			}
		})
	}
	for range 3 {
		if _, err := k.BeginRotation(); err != nil {
			t.Fatal(err)
		}
		if err := k.NextIndexKey(); err != nil {
			t.Fatal(err)
		}
		if err := k.CommitIndexKey(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if err := k.FinishRotation(); err != nil {
		t.Fatal(err)
	}
	if got := mustLoad(t, k.dir).KEKs(); !slices.Equal(got, []uint32{4}) {
		t.Errorf("KEKs = %v, want [4]", got)
	}
}

// FuzzParseKeys checks that the key file parser never panics and that what
// it accepts re-encodes to a file that parses to the same keys and
// re-encodes to the same bytes.
func FuzzParseKeys(f *testing.F) {
	f.Add([]byte(validFile()))
	for _, c := range keyFileCases() {
		f.Add([]byte(c.data))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := parseKeys(data)
		if err != nil {
			return
		}
		enc := st.encode()
		again, err := parseKeys(enc)
		if err != nil {
			t.Fatalf("the re-encoding of an accepted file is refused: %v", err)
		}
		if !bytes.Equal(again.encode(), enc) {
			t.Fatalf("re-encoding is not stable")
		}
		if !json.Valid(enc) || again.current != st.current || len(again.keks) != len(st.keks) {
			t.Fatalf("the re-encoding holds other keys")
		}
	})
}

// FuzzIsRef checks that IsRef accepts exactly the spellings of 16 bytes
// NewRef makes.
func FuzzIsRef(f *testing.F) {
	f.Add("_AAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("_77777777777777777777777777")
	f.Add("alice-01")
	f.Fuzz(func(t *testing.T, s string) {
		if !IsRef(s) {
			return
		}
		b, err := refEncoding.DecodeString(s[1:])
		if err != nil || len(b) != 16 || "_"+refEncoding.EncodeToString(b) != s {
			t.Fatalf("IsRef(%q) but it is not NewRef's spelling of 16 bytes (%v)", s, err)
		}
		if learnerID.MatchString(s) {
			t.Fatalf("IsRef(%q) and it is a learner id", s)
		}
	})
}

// benchPlaintext is an outcome's personal parts as sealed: 120 bytes.
var benchPlaintext = []byte(`{"learner":"learner-000123","title":"Introduction to linear algebra","score":"A","evidence":"sha256:4f2a9c0b7e11d30000"}`)

func BenchmarkSeal(b *testing.B) {
	dk, _ := NewDataKey()
	nonce, _ := NewNonce()
	b.SetBytes(int64(len(benchPlaintext)))
	b.ReportAllocs()
	for b.Loop() {
		Seal(dk, nonce, 12345, "sealed", benchPlaintext)
	}
}

// BenchmarkAppendSeal is the sequencer's hot path: a buffer with room.
func BenchmarkAppendSeal(b *testing.B) {
	dk, _ := NewDataKey()
	nonce, _ := NewNonce()
	buf := make([]byte, 0, 4096)
	b.SetBytes(int64(len(benchPlaintext)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendSeal(buf[:0], dk, nonce, 12345, "sealed", benchPlaintext)
	}
}

func BenchmarkOpenSealed(b *testing.B) {
	dk, _ := NewDataKey()
	nonce, _ := NewNonce()
	sealed := Seal(dk, nonce, 12345, "sealed", benchPlaintext)
	b.SetBytes(int64(len(benchPlaintext)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := OpenSealed(dk, 12345, "sealed", sealed); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWrap(b *testing.B) {
	k, _ := Generate()
	dk, _ := NewDataKey()
	ref, _ := NewRef()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Wrap(ref, dk); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnwrap(b *testing.B) {
	k, _ := Generate()
	dk, _ := NewDataKey()
	ref, _ := NewRef()
	wrapped, _ := k.Wrap(ref, dk)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Unwrap(ref, wrapped); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIndexHash(b *testing.B) {
	k, _ := Generate()
	b.ReportAllocs()
	for b.Loop() {
		k.IndexHash("learner-000123")
	}
}
