package vault

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"creditbank/internal/jsonscan"
)

// FileName is the key file in a data folder, mode 0600 (see the package doc).
const FileName = "keys.json"

// tmpName is where a new key file is written before it is renamed over
// FileName.
const tmpName = FileName + ".tmp"

// fileVersion is the only version of the key file this package reads.
const fileVersion = 1

// maxFileSize bounds what is read of a key file: a file of 1,000 KEKs is
// about 64 KB, so anything near this size is not ours.
const maxFileSize = 1 << 20

// keySize is the length of every key this package holds.
const keySize = 32

// keyFile is the key file's JSON form. Its field order is the canonical
// member order; keys are base64 strings decoded by hand so that an error
// can say which member is wrong without quoting it.
type keyFile struct {
	Version      int       `json:"version"`
	CurrentKEK   uint32    `json:"current_kek"`
	KEKs         []kekFile `json:"keks"`
	IndexKey     string    `json:"index_key"`
	NextIndexKey *string   `json:"next_index_key,omitempty"`
}

// kekFile is one KEK in the key file.
type kekFile struct {
	ID  uint32 `json:"id"`
	Key string `json:"key"`
}

// parseKeys reads a key file's bytes into a state. Errors name members,
// never key bytes: a syntax error gives only its offset, since the
// character it would quote may be part of a key.
func parseKeys(data []byte) (*state, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	if len(data) == 0 {
		return nil, errors.New("empty")
	}
	var syntax any
	if err := json.Unmarshal(data, &syntax); err != nil {
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, fmt.Errorf("malformed JSON at byte %d", se.Offset)
		}
		return nil, errors.New("malformed JSON")
	}
	// encoding/json matches member names without regard to case and keeps
	// the last of a repeated one; jsonscan refuses both. Its errors quote
	// member names only, never values.
	if err := jsonscan.Check(data, 3); err != nil {
		return nil, err
	}
	if _, ok := syntax.(map[string]any); !ok {
		return nil, errors.New("not a JSON object")
	}
	var f keyFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return nil, fmt.Errorf("member %s: wrong type, or out of range for %s", te.Field, te.Type)
		}
		// An unknown member: encoding/json names it, and only it.
		return nil, errors.New(strings.Replace(err.Error(), "json: unknown field", "unknown member", 1))
	}
	for _, m := range []struct {
		name    string
		present bool
	}{
		{"version", f.Version != 0},
		{"keks", f.KEKs != nil},
		{"index_key", f.IndexKey != ""},
	} {
		if !m.present {
			return nil, fmt.Errorf("member %s missing", m.name)
		}
	}
	if f.Version != fileVersion {
		return nil, fmt.Errorf("version %d, want %d", f.Version, fileVersion)
	}
	return f.state()
}

// state checks a decoded file and builds the keys it holds.
func (f *keyFile) state() (*state, error) {
	st := &state{current: f.CurrentKEK}
	for i, kf := range f.KEKs {
		if kf.ID == 0 {
			return nil, fmt.Errorf("keks[%d]: id 0 (ids start at 1)", i)
		}
		key, err := decodeKey(kf.Key)
		if err != nil {
			return nil, fmt.Errorf("keks[%d] (id %d): key %w", i, kf.ID, err)
		}
		st.keks = append(st.keks, newKEK(kf.ID, key))
	}
	slices.SortFunc(st.keks, func(a, b *kek) int { return cmpID(a.id, b.id) })
	for i := 1; i < len(st.keks); i++ {
		if st.keks[i].id == st.keks[i-1].id {
			return nil, fmt.Errorf("kek id %d appears twice", st.keks[i].id)
		}
	}
	if st.kek(st.current) == nil {
		return nil, fmt.Errorf("current_kek %d is none of the keks", st.current)
	}
	key, err := decodeKey(f.IndexKey)
	if err != nil {
		return nil, fmt.Errorf("index_key %w", err)
	}
	st.index = newIndexKey(key)
	if f.NextIndexKey != nil {
		key, err := decodeKey(*f.NextIndexKey)
		if err != nil {
			return nil, fmt.Errorf("next_index_key %w", err)
		}
		st.next = newIndexKey(key)
	}
	return st, nil
}

func cmpID(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// decodeKey decodes a 32-byte key from standard base64 with padding,
// refusing any other spelling of it (stray bits, line breaks), so that a
// key file has one spelling.
func decodeKey(s string) ([keySize]byte, error) {
	var key [keySize]byte
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || base64.StdEncoding.EncodeToString(b) != s {
		return key, errors.New("is not base64 (RFC 4648, standard alphabet, padded)")
	}
	if len(b) != keySize {
		return key, fmt.Errorf("has %d bytes, want %d", len(b), keySize)
	}
	copy(key[:], b)
	return key, nil
}

// encode writes st in the canonical form of the key file.
func (st *state) encode() []byte {
	f := keyFile{
		Version:    fileVersion,
		CurrentKEK: st.current,
		KEKs:       make([]kekFile, len(st.keks)),
		IndexKey:   base64.StdEncoding.EncodeToString(st.index.key[:]),
	}
	for i, k := range st.keks {
		f.KEKs[i] = kekFile{k.id, base64.StdEncoding.EncodeToString(k.key[:])}
	}
	if st.next != nil {
		next := base64.StdEncoding.EncodeToString(st.next.key[:])
		f.NextIndexKey = &next
	}
	b, err := json.Marshal(f)
	if err != nil {
		panic("vault: encode the key file: " + err.Error()) // not reached: plain types
	}
	return append(b, '\n')
}

// readFile reads and parses dir's key file, refusing one that another user
// may read or write. Its errors name the file.
func readFile(dir string) (*state, error) {
	path := filepath.Join(dir, FileName)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vault: open key file: %w", err)
	}
	defer f.Close()
	// The mode is checked on the open file, so it is the file read.
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("vault: %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("vault: %s is not a regular file (mode %v)", path, info.Mode())
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("vault: %s has mode %04o: a key file must not be open to group or others (chmod 600 it)", path, perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("vault: read %s: %w", path, err)
	}
	st, err := parseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("vault: %s: %w", path, err)
	}
	return st, nil
}

// writeFile replaces dir's key file by st atomically: write keys.json.tmp
// (0600), sync it, rename it over keys.json, sync the folder.
func writeFile(dir string, st *state) (err error) {
	path := filepath.Join(dir, FileName)
	tmp := filepath.Join(dir, tmpName)
	// A stale tmp file may have any mode; O_EXCL makes sure the file
	// written is the one created here with 0600.
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("vault: remove stale %s: %w", tmp, err)
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("vault: create %s: %w", tmp, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(st.encode()); err != nil {
		return fmt.Errorf("vault: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("vault: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("vault: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("vault: rename %s to %s: %w", tmp, FileName, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("vault: sync %s after writing %s: %w", dir, FileName, err)
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
