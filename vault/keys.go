package vault

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
)

// ErrUnknownKEK is returned (wrapped) by [Keys.Unwrap] for a data key
// wrapped under a KEK these keys no longer hold: a rotation was finished
// before the key was rewrapped.
var ErrUnknownKEK = errors.New("vault: data key wrapped under a KEK no longer held")

// Keys is a data folder's key-encryption keys (KEKs, by id, one current) and
// its index key, with a pending index key while that key rotates. Keys is
// safe for concurrent use: readers share an RWMutex, and a change builds a
// new state, persists it and only then swaps it in, holding the write lock
// for the swap alone.
//
// Keys never prints a key: String, and every fmt verb, name only ids.
type Keys struct {
	// dir is the data folder holding the key file, "" for keys from
	// Generate, which are never written.
	dir string

	// change serialises changes, each with its write of the file.
	change sync.Mutex

	mu sync.RWMutex
	st *state // never changed once published: a change replaces it
}

// state is one version of the keys. It is immutable once a Keys holds it.
type state struct {
	current uint32
	keks    []*kek // ascending id
	index   *indexKey
	next    *indexKey // nil unless an index key rotation is under way
}

// kek is one key-encryption key, with its AEAD made once.
type kek struct {
	id   uint32
	key  [keySize]byte
	aead cipher.AEAD
}

// indexKey is an index key with a pool of HMACs keyed by it: making one
// hashes both pads, which is most of the cost of hashing a short id. A hash
// of a 14-character id took 1.3-1.7 µs and 9 allocations with hmac.New per
// call, 0.36-0.51 µs and 1 allocation (the string returned) from the pool
// (BenchmarkIndexHash, 2 cores, AMD EPYC).
type indexKey struct {
	key  [keySize]byte
	pool sync.Pool // of *indexHasher
}

// indexHasher is an HMAC under an index key and a buffer for its input.
type indexHasher struct {
	mac hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

// indexContext separates the index hash from any other use of the key.
const indexContext = "creditbank learner\x00"

// wrapContext separates a wrapped data key's associated data from a sealed
// field's (which starts with an 8-byte seq).
const wrapContext = "creditbank data key\x00"

func newKEK(id uint32, key [keySize]byte) *kek {
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		panic("vault: " + err.Error()) // not reached: the key is 32 bytes
	}
	return &kek{id: id, key: key, aead: aead}
}

func newIndexKey(key [keySize]byte) *indexKey {
	ik := &indexKey{key: key}
	ik.pool.New = func() any {
		return &indexHasher{mac: hmac.New(sha256.New, ik.key[:]), buf: make([]byte, 0, 128)}
	}
	return ik
}

// hash returns hex(HMAC-SHA-256(key, indexContext || id)).
func (ik *indexKey) hash(id string) string {
	h := ik.pool.Get().(*indexHasher)
	h.mac.Reset()
	h.buf = append(append(h.buf[:0], indexContext...), id...)
	h.mac.Write(h.buf)
	sum := h.mac.Sum(h.sum[:0])
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum)
	if cap(h.buf) <= 1024 { // an outsized id does not pin its buffer
		ik.pool.Put(h)
	}
	return string(out[:])
}

// kek returns the KEK of that id, nil if st holds none.
func (st *state) kek(id uint32) *kek {
	for _, k := range st.keks {
		if k.id == id {
			return k
		}
	}
	return nil
}

// clone returns a copy of st to change: the KEKs and index keys themselves
// are shared, being immutable.
func (st *state) clone() *state {
	c := *st
	c.keks = append([]*kek(nil), st.keks...)
	return &c
}

// randomKey returns 32 bytes from crypto/rand.
func randomKey() ([keySize]byte, error) {
	var key [keySize]byte
	if _, err := rand.Read(key[:]); err != nil {
		return key, fmt.Errorf("vault: random key: %w", err)
	}
	return key, nil
}

// freshState returns new keys: KEK 1, current, and an index key.
func freshState() (*state, error) {
	kk, err := randomKey()
	if err != nil {
		return nil, err
	}
	ik, err := randomKey()
	if err != nil {
		return nil, err
	}
	return &state{current: 1, keks: []*kek{newKEK(1, kk)}, index: newIndexKey(ik)}, nil
}

// Open reads dir's key file ([FileName]), or creates it, with KEK 1 current
// and a fresh index key, when dir holds none; dir itself is created (0700)
// if missing. The file is created as every change writes it: keys.json.tmp
// (0600), synced, renamed, folder synced. A keys.json.tmp left by a crash is
// removed. Open refuses a key file open to group or others, malformed, with
// a key that is not 32 bytes, with no current KEK or with an id twice.
//
// Open creates keys for a folder that has none, so a store whose data keys
// were wrapped under a lost key file would quietly get new, useless keys:
// a caller that knows its store already holds wrapped keys uses [Load].
func Open(dir string) (*Keys, error) {
	st, err := readFile(dir)
	switch {
	case err == nil:
		// The rename never happened, so nothing used a key only the
		// stale file holds.
		if err := os.Remove(filepath.Join(dir, tmpName)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("vault: remove stale %s: %w", tmpName, err)
		}
		return &Keys{dir: dir, st: st}, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("vault: create data folder: %w", err)
	}
	if st, err = freshState(); err != nil {
		return nil, err
	}
	if err := writeFile(dir, st); err != nil {
		return nil, err
	}
	return &Keys{dir: dir, st: st}, nil
}

// Load reads dir's key file and fails, wrapping os.ErrNotExist, when there is
// none: for `verify --data`, backup checks and any caller that must not
// create keys. It checks the file as [Open] does and changes nothing in dir.
func Load(dir string) (*Keys, error) {
	st, err := readFile(dir)
	if err != nil {
		return nil, err
	}
	return &Keys{dir: dir, st: st}, nil
}

// Generate returns fresh keys held in memory only, never written: for tests
// and the bench's in-process server. Their rotations change memory only.
func Generate() (*Keys, error) {
	st, err := freshState()
	if err != nil {
		return nil, err
	}
	return &Keys{st: st}, nil
}

// load returns the current state.
func (k *Keys) load() *state {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.st
}

// update applies change to a copy of the state, persists the copy (unless
// the keys came from Generate) and then makes it the state, so that no key
// is used before it is on disk. If the write fails the keys in memory stay
// as they were; the file is then either the old one or the new one.
func (k *Keys) update(change func(st *state) error) error {
	k.change.Lock()
	defer k.change.Unlock()
	st := k.load().clone()
	if err := change(st); err == errUnchanged {
		return nil
	} else if err != nil {
		return err
	}
	if k.dir != "" {
		if err := writeFile(k.dir, st); err != nil {
			return err
		}
	}
	k.mu.Lock()
	k.st = st
	k.mu.Unlock()
	return nil
}

// errUnchanged is what a change returns to leave the keys, and the file, as
// they are.
var errUnchanged = errors.New("unchanged")

// IndexHash is hex(HMAC-SHA-256(index key, "creditbank learner\x00" + id)),
// 64 lower-case hex digits: the key under which the bank files a learner's
// id without storing it.
func (k *Keys) IndexHash(id string) string {
	return k.load().index.hash(id)
}

// IndexHashNext is IndexHash under the pending index key, false when no
// index key rotation is under way.
func (k *Keys) IndexHashNext(id string) (string, bool) {
	next := k.load().next
	if next == nil {
		return "", false
	}
	return next.hash(id), true
}

// NextIndexKey adds a fresh pending index key and persists it, beginning an
// index key rotation: the bank rebuilds its directory with [Keys.IndexHashNext]
// (offline), then calls [Keys.CommitIndexKey]. A pending key from an
// earlier call is replaced, so a rebuild begun under it must start over.
func (k *Keys) NextIndexKey() error {
	key, err := randomKey()
	if err != nil {
		return err
	}
	return k.update(func(st *state) error {
		st.next = newIndexKey(key)
		return nil
	})
}

// CommitIndexKey makes the pending index key the index key, drops the old
// one and persists. It fails when no index key is pending.
func (k *Keys) CommitIndexKey() error {
	return k.update(func(st *state) error {
		if st.next == nil {
			return errors.New("vault: commit index key: no index key is pending (NextIndexKey first)")
		}
		st.index, st.next = st.next, nil
		return nil
	})
}

// CurrentKEK is the id of the KEK new wraps use.
func (k *Keys) CurrentKEK() uint32 {
	return k.load().current
}

// KEKs lists the ids of the KEKs held, ascending.
func (k *Keys) KEKs() []uint32 {
	st := k.load()
	ids := make([]uint32, len(st.keks))
	for i, kk := range st.keks {
		ids[i] = kk.id
	}
	return ids
}

// BeginRotation adds a fresh KEK with the next id, makes it current and
// persists, keeping the old KEKs so that every wrapped key still opens. The
// bank then rewraps every data key and calls [Keys.FinishRotation]. It
// returns the new KEK's id.
func (k *Keys) BeginRotation() (uint32, error) {
	key, err := randomKey()
	if err != nil {
		return 0, err
	}
	var id uint32
	err = k.update(func(st *state) error {
		last := st.keks[len(st.keks)-1].id
		if last == math.MaxUint32 {
			return errors.New("vault: begin rotation: KEK ids are used up")
		}
		id = last + 1
		st.keks = append(st.keks, newKEK(id, key))
		st.current = id
		return nil
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// FinishRotation drops every KEK but the current one and persists. A data
// key still wrapped under a dropped KEK then fails to unwrap with
// [ErrUnknownKEK].
func (k *Keys) FinishRotation() error {
	return k.update(func(st *state) error {
		if len(st.keks) == 1 {
			return errUnchanged
		}
		st.keks = []*kek{st.kek(st.current)}
		return nil
	})
}

// wrappedSize is the length of what Wrap returns.
const wrappedSize = 4 + chacha20poly1305.NonceSizeX + keySize + chacha20poly1305.Overhead

// Wrap encrypts dk under the current KEK for the learner ref: XChaCha20-
// Poly1305 with a random nonce and associated data "creditbank data key\x00"
// + ref. The output is the KEK's id (4 bytes big-endian) || nonce (24 bytes)
// || ciphertext and tag (48 bytes).
func (k *Keys) Wrap(ref string, dk DataKey) ([]byte, error) {
	var nonce [chacha20poly1305.NonceSizeX]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("vault: wrap: random nonce: %w", err)
	}
	st := k.load()
	return st.kek(st.current).wrap(nonce, ref, dk), nil
}

// wrap is Wrap under kk with the given nonce.
func (kk *kek) wrap(nonce [chacha20poly1305.NonceSizeX]byte, ref string, dk DataKey) []byte {
	out := make([]byte, 4, wrappedSize)
	binary.BigEndian.PutUint32(out, kk.id)
	out = append(out, nonce[:]...)
	return kk.aead.Seal(out, out[4:], dk[:], wrapAD(ref))
}

// Unwrap opens what [Keys.Wrap] made for ref under any KEK these keys still
// hold. It fails with [ErrUnknownKEK] when that KEK is gone and with [ErrOpen]
// when the bytes or the ref do not match.
func (k *Keys) Unwrap(ref string, wrapped []byte) (DataKey, error) {
	var dk DataKey
	id, ok := WrappedUnder(wrapped)
	if !ok || len(wrapped) != wrappedSize {
		return dk, fmt.Errorf("vault: unwrap the data key of %s: %d bytes, want %d: %w", ref, len(wrapped), wrappedSize, ErrOpen)
	}
	kk := k.load().kek(id)
	if kk == nil {
		return dk, fmt.Errorf("vault: unwrap the data key of %s: KEK %d: %w", ref, id, ErrUnknownKEK)
	}
	nonce := wrapped[4 : 4+chacha20poly1305.NonceSizeX]
	if _, err := kk.aead.Open(dk[:0], nonce, wrapped[4+len(nonce):], wrapAD(ref)); err != nil {
		return DataKey{}, fmt.Errorf("vault: unwrap the data key of %s: %w", ref, ErrOpen)
	}
	return dk, nil
}

// wrapAD is a wrapped data key's associated data.
func wrapAD(ref string) []byte {
	return append([]byte(wrapContext), ref...)
}

// WrappedUnder returns the id of the KEK a wrapped data key names, false if
// it is too short to name one.
func WrappedUnder(wrapped []byte) (uint32, bool) {
	if len(wrapped) < 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(wrapped), true
}

// String names the keys' ids and file, never a key.
func (k *Keys) String() string {
	st := k.load()
	var b strings.Builder
	b.WriteString("vault.Keys{keks:")
	for i, kk := range st.keks {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, kk.id)
	}
	fmt.Fprintf(&b, " current:%d index key pending:%t", st.current, st.next != nil)
	if k.dir == "" {
		b.WriteString(" in memory}")
	} else {
		fmt.Fprintf(&b, " file:%s}", filepath.Join(k.dir, FileName))
	}
	return b.String()
}

// Format prints [Keys.String] for every verb, so that no verb (%#v, %x, %d)
// reaches the key bytes.
func (k *Keys) Format(f fmt.State, verb rune) {
	f.Write([]byte(k.String()))
}
