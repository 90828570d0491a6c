package accreditation

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"creditbank/ledger"
	"creditbank/vault"
)

// Erasure of personal data (docs/contract.md section 11).
//
// A learner is named in the ledger by a reference, never by their id: an
// opaque pseudonym (vault.NewRef) that the entries, the indexes and the
// state use wherever they named a learner, under the member "learner" as
// before. The personal parts of an outcome (the learner id, the unit's
// title, the score and the evidence hash) are stored only sealed under the
// learner's data key, and the key lives outside the Merkle tree, in the
// state under vault/. Erasing a learner deletes the key and the one way from
// the id to the reference: the entries, the tree and every proof stay as
// they were, and what they hold of the learner can no longer be read by
// anyone, the bank included.
//
// Keys under vault/ (written in the sequencer's batches like the rest of
// the state, but derived from no entry, so neither replayed nor compared
// with a replay):
//
//	vault/dir/<index hash of the id>     the learner's reference, or "!" once
//	                                     the id was erased: it is never given
//	                                     a reference again
//	vault/key/<ref>                      learnerRecord: the data key wrapped
//	                                     under the KEK, and the id sealed
//	vault/sealed-from                    the ledger size when this store first
//	                                     sealed: entries before it name
//	                                     learners by their plain id
//
// Entries written before sealing name learners by their plain id, and the
// reference of such a learner is that id, so that their state reads on as
// it was written; their new outcomes are sealed all the same.
const (
	vaultPrefix     = "vault/"
	vaultDirPrefix  = "vault/dir/"
	vaultKeyPrefix  = "vault/key/"
	vaultSealedFrom = "vault/sealed-from"
	// erasedPrefix marks an erased reference in the state that the
	// learner.erased entry derives (replayed like any other).
	erasedPrefix = "erased/"
)

// TypeLearnerErased records the erasure of a learner's personal data.
const TypeLearnerErased = "learner.erased"

// Sealed fields: the associated data of a sealed value names what it is,
// beside the seq of the entry that holds it.
const (
	sealedOutcomeField = "outcome.personal"
	sealedIDField      = "learner.id"
)

// LearnerErased is the content of learner.erased.
type LearnerErased struct {
	// Learner is the erased learner's reference.
	Learner string `json:"learner"`
	Reason  string `json:"reason"`
}

// learnerRecord is what the vault keeps of a learner: the data key wrapped
// under the key-encryption key, and the learner's id sealed under the data
// key (so that the bank can name the learner of a reference while the key
// exists).
type learnerRecord struct {
	Wrapped []byte `json:"wrapped"`
	ID      []byte `json:"id"`
}

// personal is the plaintext of an outcome's sealed member.
type personal struct {
	Learner  string  `json:"learner"`
	Title    string  `json:"title"`
	Score    *Amount `json:"score,omitempty"`
	Evidence string  `json:"evidence_sha256,omitempty"`
}

func dirKey(hash string) string   { return vaultDirPrefix + hash }
func vaultKey(ref string) string  { return vaultKeyPrefix + ref }
func erasedKey(ref string) string { return erasedPrefix + ref }

// erasedMark is the directory value of an erased id.
const erasedMark = "!"

func isVaultKey(key string) bool {
	return len(key) >= len(vaultPrefix) && key[:len(vaultPrefix)] == vaultPrefix
}

// learnerPrep is what a command that writes for a learner carries of the
// learner, found (or made) before the sequencer: the reference and data
// key the durable state gave, or a new pair with its vault record. The
// sequencer confirms it against the state it decides on (tx.learner).
type learnerPrep struct {
	ID   string
	Hash string
	Ref  string
	Key  vault.DataKey
	// New is set when the durable state held no reference: Record is then
	// the vault record to write with the first entry, wrapped under KEK,
	// and LegacyRecord the one to write instead should the learner turn
	// out to be named by plain id in entries from before sealing (made
	// only for a store that has such entries).
	New          bool
	Record       []byte
	KEK          uint32
	LegacyRecord []byte
	// Err is why nothing may be written for the learner (CodeErased).
	Err error
	// Size is the ledger size the durable read was at.
	Size uint64
}

// vaultChanges is the ledger size from which a durable read sees every
// change of a learner's existing directory entry or key record decided so
// far: an erasure raises it to the size just after its entry, as it is
// decided; the rare commands that change the vault with no entry (index
// rotation, the erasures enforced at open) raise it for good. A learner
// prepared from a read at or after it is confirmed without reading the
// directory again in the sequencer, where that read was a third of what a
// batch of outcomes for known learners cost.
type vaultChanges struct{ from atomic.Uint64 }

// raise makes reads before size (or, with 0, every read) confirm again.
func (v *vaultChanges) raise(size uint64) {
	if size == 0 {
		size = math.MaxUint64
	}
	for {
		cur := v.from.Load()
		if cur >= size || v.from.CompareAndSwap(cur, size) {
			return
		}
	}
}

// current reports whether a read at size sees every change so far.
func (v *vaultChanges) current(size uint64) bool { return v != nil && size >= v.from.Load() }

// lookupLearner finds the reference and data key of learner id in s.
// found is false when the id has no reference (the learner has never been
// written for, or only in entries before sealing: their reference is then
// the id itself, and ref is set to it). An erased id fails with CodeErased.
func (b *Bank) lookupLearner(s store, id string) (ref string, dk vault.DataKey, found bool, err error) {
	return b.lookupHashed(s, id, b.keys.IndexHash(id))
}

// lookupHashed is lookupLearner given the index hash h of id. A learner
// found is kept in the bank's cache of learners, and found there while no
// vault change was decided since it was read.
func (b *Bank) lookupHashed(s store, id, h string) (ref string, dk vault.DataKey, found bool, err error) {
	ref, dk, found, _, err = b.lookupAt(s, id, h)
	return ref, dk, found, err
}

// lookupAt is lookupHashed, which also says the ledger size of the read
// that found the learner (the cache's, for a learner found there).
func (b *Bank) lookupAt(s store, id, h string) (ref string, dk vault.DataKey, found bool, at uint64, err error) {
	rs, durable := s.(readerStore)
	if durable {
		if c, ok := b.learners.get(h, &b.vault); ok {
			return c.ref, c.key, true, c.at, nil
		}
		at = rs.r.Size()
	}
	v, err := s.get(dirKey(h))
	switch {
	case err != nil:
		return "", dk, false, at, err
	case v == nil:
		return id, dk, false, at, nil
	case string(v) == erasedMark:
		return "", dk, false, at, erasedError(id)
	}
	ref = string(v)
	if dk, err = b.dataKey(s, ref); err != nil {
		return "", dk, false, at, err
	}
	if durable {
		b.learners.put(h, cachedLearner{ref: ref, key: dk, at: at}, &b.vault)
	}
	return ref, dk, true, at, nil
}

// learnerCache keeps the references and data keys of learners found by
// durable reads, by the index hash of their id: a batch of outcomes for
// known learners read two keys and unwrapped a data key for each, a third
// of what posting it cost. An entry serves only while no vault change was
// decided since its read (vaultChanges), so an erasure makes every older
// entry stale at once; the erasure also drops its learner's entry, so that
// the key leaves the cache with the store. When full it is emptied whole:
// learners come back one read each.
type learnerCache struct {
	mu sync.Mutex
	m  map[string]cachedLearner
}

// learnerCacheMax bounds the cache: about 150 bytes a learner, some 20 MB.
const learnerCacheMax = 1 << 17

// foundLearner is a learner a command created or read in the sequencer,
// cached once the command is durable: a command refused, or a group that
// failed, leaves nothing in the cache that the store does not hold.
type foundLearner struct {
	hash string
	cachedLearner
}

// cachedLearner is a learner found by a durable read at ledger size at.
type cachedLearner struct {
	ref string
	key vault.DataKey
	at  uint64
}

func (c *learnerCache) get(h string, v *vaultChanges) (cachedLearner, bool) {
	c.mu.Lock()
	e, ok := c.m[h]
	c.mu.Unlock()
	return e, ok && v.current(e.at)
}

// put keeps e unless a vault change was decided since its read: checked
// under the lock that drop takes, so an erasure's drop never precedes the
// put of its learner read before it.
func (c *learnerCache) put(h string, e cachedLearner, v *vaultChanges) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !v.current(e.at) {
		return
	}
	if c.m == nil || len(c.m) >= learnerCacheMax {
		c.m = make(map[string]cachedLearner)
	}
	c.m[h] = e
}

// drop forgets the learner of index hash h.
func (c *learnerCache) drop(h string) {
	c.mu.Lock()
	delete(c.m, h)
	c.mu.Unlock()
}

// dataKey unwraps the data key of ref from the vault record in s.
func (b *Bank) dataKey(s store, ref string) (vault.DataKey, error) {
	return unwrapRecord(s, b.keys, ref)
}

func unwrapRecord(s store, keys *vault.Keys, ref string) (vault.DataKey, error) {
	var dk vault.DataKey
	rec, err := getJSON[learnerRecord](s, vaultKey(ref))
	if err != nil {
		return dk, err
	}
	if rec == nil {
		// The directory names the learner, but the key is gone: the
		// learner's data cannot be read, as after an erasure.
		return dk, errNoKeyRecord
	}
	dk, err = keys.Unwrap(ref, rec.Wrapped)
	if err != nil {
		return dk, fmt.Errorf("learner reference %s: %w", ref, err)
	}
	return dk, nil
}

// errNoKeyRecord: a learner's directory entry names a reference whose key
// record is gone. Only a vault put together from different copies has
// one; the bank opens it with the erasures enforced (enforceErasures), and
// answers for such a learner as for an erased one.
var errNoKeyRecord = errorf(CodeErased, "the learner's key is gone")

func erasedError(id string) error {
	return errorf(CodeErased, "the personal data of learner %s was erased", id)
}

// prepareLearner prepares learner id for a command that writes: the
// reference and data key the cache of learners holds, or else a new
// reference and data key, which the sequencer writes with the command's
// first entry for the learner, unless the store has a reference for them
// already (tx.learner reads the directory, when its filter says it may
// hold one). It reads nothing from the store: for a learner new to it,
// which most of a batch's often are, that read found nothing at the cost
// of a seek.
func (b *Bank) prepareLearner(id string) (learnerPrep, error) {
	h := b.keys.IndexHash(id)
	if c, ok := b.learners.get(h, &b.vault); ok {
		return learnerPrep{ID: id, Hash: h, Ref: c.ref, Key: c.key, Size: c.at}, nil
	}
	p := learnerPrep{ID: id, Hash: h}
	var err error
	if p.Ref, err = vault.NewRef(); err != nil {
		return learnerPrep{}, err
	}
	if p.Key, err = vault.NewDataKey(); err != nil {
		return learnerPrep{}, err
	}
	p.New, p.KEK = true, b.keys.CurrentKEK()
	if p.Record, err = newLearnerRecord(b.keys, p.Ref, p.Key, id); err != nil {
		return learnerPrep{}, err
	}
	if b.legacy {
		if p.LegacyRecord, err = newLearnerRecord(b.keys, id, p.Key, id); err != nil {
			return learnerPrep{}, err
		}
	}
	return p, nil
}

// newLearnerRecord wraps dk and seals id for the vault record of ref.
func newLearnerRecord(keys *vault.Keys, ref string, dk vault.DataKey, id string) ([]byte, error) {
	wrapped, err := keys.Wrap(ref, dk)
	if err != nil {
		return nil, err
	}
	nonce, err := vault.NewNonce()
	if err != nil {
		return nil, err
	}
	sealed := vault.Seal(dk, nonce, 0, sealedIDField+"/"+ref, []byte(id))
	// What json.Marshal writes of a learnerRecord, []byte as standard
	// base64, without its reflection (TestLearnerRecordJSON).
	b := make([]byte, 0, 20+base64.StdEncoding.EncodedLen(len(wrapped))+base64.StdEncoding.EncodedLen(len(sealed)))
	b = base64.StdEncoding.AppendEncode(append(b, `{"wrapped":"`...), wrapped)
	b = base64.StdEncoding.AppendEncode(append(b, `","id":"`...), sealed)
	return append(b, `"}`...), nil
}

// prepareLearners prepares each distinct learner of ids; an erased one is
// prepared with its Err set.
func (b *Bank) prepareLearners(ids ...string) (map[string]*learnerPrep, error) {
	out := make(map[string]*learnerPrep, len(ids))
	for _, id := range ids {
		if _, ok := out[id]; ok {
			continue
		}
		p, err := b.prepareLearner(id)
		if CodeOf(err) == CodeErased {
			p, err = learnerPrep{ID: id, Err: err}, nil
		}
		if err != nil {
			return nil, err
		}
		out[id] = &p
	}
	return out, nil
}

// prepareOne is prepareLearners for one learner, whose erasure is an
// error.
func (b *Bank) prepareOne(id string) (*learnerPrep, error) {
	m, err := b.prepareLearners(id)
	if err != nil {
		return nil, err
	}
	if p := m[id]; p.Err != nil {
		return nil, p.Err
	}
	return m[id], nil
}

// learner confirms p against the state the command decides on and returns
// the reference and data key to write with: p's own when the state agrees,
// the reference a concurrent command gave the learner meanwhile, or, for a
// learner written for only before sealing, the plain id. It writes
// nothing: keepLearner stores the vault record of a learner's first write
// once the command is sure to write for them. An id erased meanwhile fails
// with CodeErased.
func (t *tx) learner(p *learnerPrep) (resolvedLearner, error) {
	if done, ok := t.refs[p.Hash]; ok {
		return done, nil
	}
	if !p.New && t.vault.current(p.Size) {
		return resolvedLearner{ref: p.Ref, key: p.Key}, nil
	}
	key := dirKey(p.Hash)
	var v []byte
	// A learner the durable read found no reference for is, most of the
	// time, one the store has never seen: the filter spares reading it.
	maybe, err := t.mayHoldDir(key, p.New)
	if err != nil {
		return resolvedLearner{}, err
	}
	if maybe {
		if v, err = t.get(key); err != nil {
			return resolvedLearner{}, err
		}
	}
	r := resolvedLearner{ref: p.Ref, key: p.Key}
	switch {
	case string(v) == erasedMark:
		return resolvedLearner{}, erasedError(p.ID)
	case v != nil && string(v) == p.Ref && !p.New:
	case v != nil:
		// The learner has a reference the cache did not hold (or another
		// command gave them one since p was prepared).
		r.ref = string(v)
		if r.key, err = unwrapRecord(t, t.keys, r.ref); err != nil {
			return resolvedLearner{}, err
		}
		t.found = append(t.found, foundLearner{hash: p.Hash, cachedLearner: cachedLearner{ref: r.ref, key: r.key, at: t.nextSeq()}})
	default:
		if !p.New {
			// Not reached: erasure marks the reference erased.
			return resolvedLearner{}, fmt.Errorf("learner %s lost its reference", p.ID)
		}
		if p.KEK != t.keys.CurrentKEK() {
			return resolvedLearner{}, errStaleKEK // a rotation began since
		}
		r.record = p.Record
		legacy, err := t.legacyLearner(p.ID)
		if err != nil {
			return resolvedLearner{}, err
		}
		if legacy {
			if p.LegacyRecord == nil {
				return resolvedLearner{}, fmt.Errorf("learner %s is named by plain id in entries before sealing, which the store's mark does not say", p.ID)
			}
			r.ref, r.record = p.ID, p.LegacyRecord
		}
	}
	return r, nil
}

// keepLearner stores the vault record of r, the learner p resolved to, if
// this is the first write for them, and remembers r for the command's
// other items.
func (t *tx) keepLearner(p *learnerPrep, r resolvedLearner) {
	if r.record != nil {
		t.put(dirKey(p.Hash), []byte(r.ref))
		t.put(vaultKey(r.ref), r.record)
		r.record = nil
		// The learner's next post finds them in the cache rather than
		// reading the vault, once this command is durable (Bank.do).
		t.found = append(t.found, foundLearner{hash: p.Hash, cachedLearner: cachedLearner{ref: r.ref, key: r.key, at: t.nextSeq()}})
	}
	if t.refs == nil {
		t.refs = map[string]resolvedLearner{}
	}
	t.refs[p.Hash] = r
}

// resolvedLearner is a learner as a command writes for them: the
// reference, the data key and, until keepLearner stored it, the vault
// record of a learner's first write.
type resolvedLearner struct {
	ref    string
	key    vault.DataKey
	record []byte
}

// mayHoldDir reports whether the directory key may be in the store: always
// for a learner the durable read found (it must be confirmed), and for a
// new one unless the filter of directory keys says it is certainly not.
func (t *tx) mayHoldDir(key string, isNew bool) (bool, error) {
	if !isNew || t.dirs == nil {
		return true, nil
	}
	return t.dirs.mayHold(t, key)
}

// legacyLearner reports whether learner id has entries from before this
// store sealed outcomes, which name it by its plain id.
func (t *tx) legacyLearner(id string) (bool, error) {
	if !t.legacy {
		return false, nil
	}
	// An erased learner named so is no one's any more: after the index key
	// rotated, the id is a new learner (RotateIndexKey).
	if erased, err := t.get(erasedKey(id)); err != nil || erased != nil {
		return false, err
	}
	found := false
	err := t.view.Index(IndexLearner, id, 0, func(uint64) bool {
		found = true
		return false
	})
	return found, err
}

// idempotencyMAC is what the idempotency record of a sealed outcome binds
// its key to: HMAC-SHA-256 of the outcome's canonical form under the
// learner's data key. A plain SHA-256 of it, as records of outcomes from
// before sealing hold, would outlive an erasure: anyone could try the
// likely ids and scores of an erased outcome against it.
func idempotencyMAC(dk vault.DataKey, input []byte) [32]byte {
	m := hmac.New(sha256.New, dk[:])
	m.Write([]byte("creditbank idempotency\x00"))
	m.Write(input)
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// appendPersonal appends the personal members of out as the sealed member
// holds them: the JSON of a personal, written by hand (encoding it by
// reflection cost as much as sealing it). TestPersonalJSON compares the two.
func appendPersonal(b []byte, out *Outcome) []byte {
	b = appendJSONText(append(b, `{"learner":`...), out.Learner)
	b = appendJSONText(append(b, `,"title":`...), out.Unit.Title)
	if out.Result.Score != nil {
		b = appendQuotedAmount(append(b, `,"score":`...), *out.Result.Score)
	}
	if out.EvidenceSHA256 != "" {
		b = appendJSONText(append(b, `,"evidence_sha256":`...), out.EvidenceSHA256)
	}
	return append(b, '}')
}

// sealOutcome returns out's stored content: its members less the personal
// ones (plain, as appendPersonal wrote them), the learner named by ref, and
// the personal ones sealed under dk for entry seq; and sets stored to the
// outcome that content decodes to, which the state is derived from (the
// caller's, so that it need not live on the heap).
func sealOutcome(out *Outcome, plain []byte, ref string, dk vault.DataKey, nonce [24]byte, seq uint64, stored *Outcome) json.RawMessage {
	size := vault.SealedSize(len(plain))
	enc := base64.StdEncoding.EncodedLen(size)
	b := make([]byte, 0, 320+enc+size)
	b = appendOutcomeMembers(b, out.OutcomeInput, ref, false)
	b = appendJSONText(append(b, `,"institution":`...), out.Institution)
	b = appendQuotedAmount(append(b, `,"standard_credits":`...), out.StandardCredits)
	b = append(b, `,"sealed":"`...)
	// The ciphertext is sealed into the same buffer, past where its base64
	// and the closing "} end, and encoded into place from there: one
	// allocation for the content instead of two.
	b = slices.Grow(b, enc+2+size)
	start, at := len(b), len(b)+enc+2
	sealed := vault.AppendSeal(b[at:at], dk, nonce, seq, sealedOutcomeField, plain)
	b = base64.StdEncoding.AppendEncode(b, sealed)
	*stored = *out
	stored.Learner, stored.Unit.Title, stored.EvidenceSHA256, stored.Sealed = ref, "", "", string(b[start:])
	stored.Result = Result{Passed: out.Result.Passed}
	b = append(b, `"}`...)
	return b[:len(b):len(b)] // the ciphertext past the end is no part of it
}

// sealedMember opens the sealed member of an outcome's stored content.
const sealedMember = `,"sealed":"`

// sealedAt returns where the sealed member of an outcome's stored content
// starts, or -1 when it has none, without decoding the content: the
// member is the last the bank writes, and its base64 value holds no
// quote, so it starts at the last quote but the closing one.
func sealedAt(content []byte) int {
	if len(content) < len(sealedMember)+2 || !bytes.HasSuffix(content, []byte(`"}`)) {
		return -1
	}
	q := bytes.LastIndexByte(content[:len(content)-2], '"')
	start := q + 1 - len(sealedMember)
	if q < 0 || start < 0 || string(content[start:q+1]) != sealedMember {
		return -1
	}
	return start
}

// isSealed reports whether an outcome's stored content holds a sealed
// member.
func isSealed(content []byte) bool { return sealedAt(content) >= 0 }

// errErased is what opening an outcome of an erased learner gives.
var errErased = errors.New("the learner's personal data was erased")

// openOutcome returns the outcome of entry seq with content as stored,
// its personal members opened with dk, and its content as a reader sees
// it: the form an unsealed outcome is stored in, byte for byte, so that
// every reader of outcomes reads both alike.
func openOutcome(content json.RawMessage, seq uint64, dk vault.DataKey) (*Outcome, json.RawMessage, error) {
	var o Outcome
	if err := unmarshalContent(content, &o); err != nil {
		return nil, nil, err
	}
	if o.Sealed == "" {
		return &o, content, nil
	}
	sealed, err := base64.StdEncoding.DecodeString(o.Sealed)
	if err != nil {
		return nil, nil, fmt.Errorf("outcome %d: sealed member: %w", seq, err)
	}
	plain, err := vault.OpenSealed(dk, seq, sealedOutcomeField, sealed)
	if err != nil {
		return nil, nil, fmt.Errorf("outcome %d: %w", seq, err)
	}
	var p personal
	if err := json.Unmarshal(plain, &p); err != nil {
		return nil, nil, fmt.Errorf("outcome %d: sealed member: %w", seq, err)
	}
	o.Sealed = ""
	o.Learner, o.Unit.Title, o.Result.Score, o.EvidenceSHA256 = p.Learner, p.Title, p.Score, p.Evidence
	input, err := marshalOutcomeInput(o.OutcomeInput)
	if err != nil {
		return nil, nil, err
	}
	c, err := outcomeContent(o, input)
	return &o, c, err
}

// Erasure is an erasure as the bank answers it.
type Erasure struct {
	Seq        uint64 `json:"seq"`
	RecordedAt string `json:"recorded_at"`
	Learner    string `json:"learner"`
	Reason     string `json:"reason"`
	// PlaintextEntries is true when the learner has entries from before
	// this store sealed outcomes: those name the learner and hold the
	// outcome in clear, and no key can make them unreadable.
	PlaintextEntries bool `json:"plaintext_entries"`
	// Ref is the erased learner's reference, by which the caller finds
	// what it keeps of the learner outside the ledger (the access log).
	Ref string `json:"-"`
}

type eraseCmd struct {
	Actor  Actor
	ID     string
	Hash   string
	Reason string
}

func (c eraseCmd) decide(t *tx) (any, error) {
	if c.Actor.Role != RoleAdmin {
		return nil, errorf(CodeForbidden, "only an admin erases a learner's personal data")
	}
	v, err := t.get(dirKey(c.Hash))
	switch {
	case err != nil:
		return nil, err
	case string(v) == erasedMark:
		return nil, erasedError(c.ID)
	case v == nil:
		// A learner named by plain id in entries from before sealing, and
		// written for since by nothing: their reference is the id.
		legacy, err := t.legacyLearner(c.ID)
		if err != nil {
			return nil, err
		}
		if !legacy {
			return nil, errorf(CodeNotFound, "no learner %s: nothing was ever recorded for them", c.ID)
		}
		v = []byte(c.ID)
	}
	ref := string(v)
	seq, err := t.emit(TypeLearnerErased, c.Actor, LearnerErased{Learner: ref, Reason: c.Reason}, []ledger.IndexKey{learnerIndex(ref)}, nil)
	if err != nil {
		return nil, err
	}
	// The key and the way from the id to the reference go in the same
	// batch as the entry; the erased mark in its place keeps the id from
	// ever being given a new reference (a post for it is refused from now
	// on).
	t.put(dirKey(c.Hash), []byte(erasedMark))
	t.put(vaultKey(ref), nil)
	t.vault.raise(seq + 1)
	if t.learners != nil {
		t.learners.drop(c.Hash)
	}
	return Erasure{Seq: seq, RecordedAt: t.recordedAtText(), Learner: c.ID, Reason: c.Reason, PlaintextEntries: ref == c.ID, Ref: ref}, nil
}

// EraseLearner erases the personal data of learner (docs/contract.md
// section 11): it destroys the learner's data key and appends a
// learner.erased entry, then has the store rewrite the vault's keys so that
// no copy of the key is left in its files. From then on the learner's
// transcript, balance, grants and conversions answer CodeErased, and so does
// any post for the id.
func (b *Bank) EraseLearner(ctx context.Context, actor Actor, learner, reason string) (Erasure, error) {
	if actor.Role != RoleAdmin {
		return Erasure{}, errorf(CodeForbidden, "only an admin erases a learner's personal data")
	}
	if err := checkLearnerID("learner", learner); err != nil {
		return Erasure{}, err
	}
	if err := checkText("reason", reason, 500); err != nil {
		return Erasure{}, err
	}
	learner = CanonicalLearnerID(learner)
	res, err := b.do(ctx, eraseCmd{Actor: actor, ID: learner, Hash: b.keys.IndexHash(learner), Reason: reason})
	if err != nil {
		return Erasure{}, err
	}
	e := res.(Erasure)
	if err := b.l.PurgeState(ctx, vaultPrefix); err != nil {
		// The erasure stands: the key is deleted and unreadable through
		// the store; its old bytes leave the files at the next purge or
		// compaction.
		return e, fmt.Errorf("erased, but the store's files may still hold the key: %w", err)
	}
	return e, nil
}

// markSealedFrom records, once, the ledger size from which this store
// seals outcomes: learners written for before it are named by their plain
// id (tx.legacyLearner).
func (b *Bank) markSealedFrom() error {
	from, err := b.l.InitState(vaultSealedFrom, strconv.AppendUint(nil, b.l.Size(), 10))
	if err != nil {
		return err
	}
	b.legacy = len(from) > 0 && string(from) != "0"
	if len(from) > 0 {
		if b.sealedFrom, err = strconv.ParseUint(string(from), 10, 64); err != nil {
			return fmt.Errorf("state %s: %w", vaultSealedFrom, err)
		}
	}
	return nil
}

// readLearner is the learner id is read by in s: their reference and data
// key, or, for an id with no reference, the id itself (which finds the
// entries of a learner written for only before sealing, and nothing
// otherwise) and no key. An erased id fails with CodeErased.
func (b *Bank) readLearner(s store, id string) (resolvedLearner, error) {
	ref, dk, _, err := b.lookupLearner(s, CanonicalLearnerID(id))
	return resolvedLearner{ref: ref, key: dk}, err
}

// learnerOf names the learner of reference ref in s: the id sealed in the
// vault record while it exists, the reference itself for a learner named
// by plain id before sealing, and "" with erased set once the learner's
// key is gone.
func (b *Bank) learnerOf(s store, ref string) (id string, erased bool, err error) {
	if !vault.IsRef(ref) {
		v, err := s.get(erasedKey(ref))
		return ref, v != nil, err
	}
	rec, err := getJSON[learnerRecord](s, vaultKey(ref))
	if err != nil || rec == nil {
		return "", err == nil, err
	}
	dk, err := b.keys.Unwrap(ref, rec.Wrapped)
	if err != nil {
		return "", false, fmt.Errorf("learner reference %s: %w", ref, err)
	}
	plain, err := vault.OpenSealed(dk, 0, sealedIDField+"/"+ref, rec.ID)
	if err != nil {
		return "", false, fmt.Errorf("learner reference %s: %w", ref, err)
	}
	return string(plain), false, nil
}

// LearnerRef is the reference learner is named by in the store, for what
// is kept of a learner beside the ledger (the access log): the reference
// once anything was written for them; the id itself for a learner named so
// in entries from before sealing; "" for a learner of whom the store holds
// nothing, so that nothing naming them is written beside the ledger
// either. An erased id fails with CodeErased.
func (b *Bank) LearnerRef(learner string) (string, error) {
	var ref string
	err := b.read(func(r *ledger.Reader, s store) error {
		id := CanonicalLearnerID(learner)
		_, _, found, err := b.lookupLearner(s, id)
		if err != nil || found {
			ref, _, _, err = b.lookupLearner(s, id)
			return err
		}
		if !b.legacy {
			return nil
		}
		return r.Index(IndexLearner, id, 0, func(uint64) bool {
			ref = id
			return false
		})
	})
	return ref, err
}

// sealedScore reads the score of sealed outcome seq: the entry names the
// learner's reference, whose data key s holds wrapped under keys. It gives
// errErased when the key is gone.
func sealedScore(entry func(uint64) ([]byte, error), s store, keys *vault.Keys, seq uint64) (*Amount, error) {
	o, _, content, err := loadOutcomeEntry(entry, seq)
	if err != nil {
		return nil, err
	}
	if o.Sealed == "" {
		return o.Result.Score, nil
	}
	rec, err := getJSON[learnerRecord](s, vaultKey(o.Learner))
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, errErased
	}
	dk, err := keys.Unwrap(o.Learner, rec.Wrapped)
	if err != nil {
		return nil, fmt.Errorf("learner reference %s: %w", o.Learner, err)
	}
	opened, _, err := openOutcome(content, seq, dk)
	if err != nil {
		return nil, err
	}
	return opened.Result.Score, nil
}

// learnerForCommand is readLearner over one durable read, for a command
// that writes for a learner only when they already have a record
// (conversions, withdrawals): a learner without one is named by their id.
func (b *Bank) learnerForCommand(id string) (resolvedLearner, error) {
	var l resolvedLearner
	err := b.read(func(_ *ledger.Reader, s store) error {
		var err error
		l, err = b.readLearner(s, id)
		return err
	})
	return l, err
}

// actorByRef is actor as a command records it: a learner acting for
// themselves (id) is named by their reference, as everything of them is.
func actorByRef(actor Actor, id, ref string) Actor {
	if actor.Role == RoleLearner && SameLearner(actor.ID, id) {
		actor.ID = ref
	}
	return actor
}

// nameLearner has a refusal decided under a learner's reference name the
// learner by the id the caller gave.
func nameLearner(err error, ref, id string) error {
	var e *Error
	if ref == id || !errors.As(err, &e) {
		return err
	}
	named := *e
	named.Detail = strings.ReplaceAll(e.Detail, ref, id)
	var ce *costError
	if errors.As(err, &ce) {
		return &costError{err: &named, cost: ce.cost}
	}
	return &named
}

// checkNotErased refuses a command for a learner reference that an
// erasure decided meanwhile has closed.
func checkNotErased(t *tx, ref string) error {
	v, err := t.get(erasedKey(ref))
	if err != nil || v == nil {
		return err
	}
	return errorf(CodeErased, "the personal data of learner %s was erased", ref)
}

// MaxScoreReads bounds the outcomes one SealedScores call reads: a
// conversion uses at most that many.
const MaxScoreReads = 1000

// OutcomeScore is the score of one outcome as the regulator's audit reads
// it (SealedScores).
type OutcomeScore struct {
	Outcome uint64  `json:"outcome"`
	Score   *Amount `json:"score"`
	// Erased is set when the outcome's learner was erased: its score is
	// unreadable.
	Erased bool `json:"erased,omitempty"`
}

// SealedScores reads the scores of the outcomes seqs, opening sealed ones
// with their learners' keys: what creditbank verify --url needs to re-run a
// conversion whose rule asks for a minimum score, which the public entries
// keep sealed. Only an admin or a regulator may read them.
func (b *Bank) SealedScores(actor Actor, seqs []uint64) ([]OutcomeScore, Cost, error) {
	if actor.Role != RoleAdmin && actor.Role != RoleRegulator {
		return nil, Cost{}, errorf(CodeForbidden, "only an admin or a regulator reads outcomes' scores")
	}
	if len(seqs) == 0 || len(seqs) > MaxScoreReads {
		return nil, Cost{}, errorf(CodeBadParameter, "outcomes: name 1 to %d outcomes", MaxScoreReads)
	}
	out := make([]OutcomeScore, 0, len(seqs))
	var cost Cost
	err := b.read(func(r *ledger.Reader, s store) error {
		for _, seq := range seqs {
			if seq >= r.Size() {
				return errorf(CodeNotFound, "no outcome %d", seq)
			}
			sc, err := sealedScore(r.Entry, s, b.keys, seq)
			switch {
			case errors.Is(err, errErased):
				out = append(out, OutcomeScore{Outcome: seq, Erased: true})
			case errors.Is(err, errNotOutcome):
				return errorf(CodeNotFound, "entry %d is not an outcome", seq)
			case err != nil:
				return err
			default:
				out = append(out, OutcomeScore{Outcome: seq, Score: sc})
			}
		}
		cost.Rows = r.Rows()
		return nil
	})
	return out, cost, err
}

// HasLearnerKeys reports whether l's store holds any learner's wrapped data
// key: a store that does cannot be served with a key file made afresh,
// which would open none of them.
func HasLearnerKeys(l *ledger.Ledger) (bool, error) {
	found := false
	err := l.Read(func(r *ledger.Reader) error {
		return r.Scan([]byte(vaultKeyPrefix), nil, func(_, _ []byte) bool {
			found = true
			return false
		})
	})
	return found, err
}

// enforceErasures makes sure that no learner the ledger records as erased
// still has a key in the vault: erasures are replayed from the ledger each
// time the bank opens, so that a store whose vault was put back from
// somewhere else (a copy of its files taken apart) brings nobody back. It
// returns how many keys it destroyed.
func (b *Bank) enforceErasures(ctx context.Context) (int, error) {
	var stale []string
	err := b.read(func(_ *ledger.Reader, s store) error {
		var erased []string
		if err := s.scan(erasedPrefix, func(k string) bool { erased = append(erased, k[len(erasedPrefix):]); return true }); err != nil {
			return err
		}
		for _, ref := range erased {
			v, err := s.get(vaultKey(ref))
			if err != nil {
				return err
			}
			if v != nil {
				stale = append(stale, vaultKey(ref))
			}
		}
		return nil
	})
	if err != nil || len(stale) == 0 {
		return 0, err
	}
	// The directory put back with the keys names those learners again:
	// its entries become erased marks. Found by their values, in one scan,
	// only when keys were found: a vault put back is rare.
	refs := map[string]bool{}
	for _, k := range stale {
		refs[k[len(vaultKeyPrefix):]] = true
	}
	var dirs []string
	err = b.read(func(r *ledger.Reader, _ store) error {
		return r.Scan([]byte(vaultDirPrefix), nil, func(k, v []byte) bool {
			if refs[string(v)] {
				dirs = append(dirs, string(k))
			}
			return true
		})
	})
	if err != nil {
		return 0, err
	}
	if _, err := b.do(ctx, deleteKeysCmd{Keys: stale, Erase: dirs}); err != nil {
		return 0, err
	}
	return len(stale), b.l.PurgeState(ctx, vaultPrefix)
}

// openContent is the content openOutcome returns for a sealed outcome,
// spliced together from the stored bytes and the opened plaintext without
// decoding either: reading a transcript is mostly this, and decoding the
// stored outcome and encoding it again took three times as long as
// everything else a transcript line costs. Both inputs are the bank's own
// writing (sealOutcome, appendPersonal), members in a fixed order; where
// they are not what it expects it falls back to openOutcome.
// TestOpenContent compares the two.
func openContent(content json.RawMessage, seq uint64, dk vault.DataKey) (json.RawMessage, error) {
	i := sealedAt(content)
	if i < 0 {
		return nil, fmt.Errorf("outcome %d: no sealed member", seq)
	}
	b64 := content[i+len(sealedMember) : len(content)-2]
	sealed := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
	n, err := base64.StdEncoding.Decode(sealed, b64)
	if err != nil {
		return nil, fmt.Errorf("outcome %d: sealed member: %w", seq, err)
	}
	plain, err := vault.OpenSealed(dk, seq, sealedOutcomeField, sealed[:n])
	if err != nil {
		return nil, fmt.Errorf("outcome %d: %w", seq, err)
	}
	if out, ok := spliceOutcome(content[:i], plain); ok {
		return out, nil
	}
	_, c, err := openOutcome(content, seq, dk)
	return c, err
}

// spliceOutcome writes the plain content of a sealed outcome whose stored
// members (less the sealed one) are stored and whose personal plaintext is
// plain, or reports false when either is not in the form the bank writes.
func spliceOutcome(stored, plain []byte) ([]byte, bool) {
	// The personal members, as appendPersonal writes them.
	p := plain
	learner, p, ok := memberString(p, `{"learner":`)
	if !ok {
		return nil, false
	}
	title, p, ok := memberString(p, `,"title":`)
	if !ok {
		return nil, false
	}
	score, p, _ := memberString(p, `,"score":`)
	evidence, p, _ := memberString(p, `,"evidence_sha256":`)
	if string(p) != "}" {
		return nil, false
	}
	out := make([]byte, 0, len(stored)+len(plain)+32)
	rest := stored
	// "learner": the reference, replaced by the id.
	at, ref, ok := findString(rest, `,"learner":`)
	if !ok {
		return nil, false
	}
	out = append(append(out, rest[:at]...), learner...)
	rest = rest[at+len(ref):]
	// "unit":{"code":...: the title after the code.
	at, code, ok := findString(rest, `,"unit":{"code":`)
	if !ok {
		return nil, false
	}
	out = append(append(append(out, rest[:at+len(code)]...), `,"title":`...), title...)
	rest = rest[at+len(code):]
	// "result":{"passed":true|false: the score after it.
	const passed = `,"result":{"passed":`
	j := bytes.Index(rest, []byte(passed))
	if j < 0 {
		return nil, false
	}
	j += len(passed)
	switch {
	case bytes.HasPrefix(rest[j:], []byte("true")):
		j += 4
	case bytes.HasPrefix(rest[j:], []byte("false")):
		j += 5
	default:
		return nil, false
	}
	out = append(out, rest[:j]...)
	if score != nil {
		out = append(append(out, `,"score":`...), score...)
	}
	rest = rest[j:]
	// "completed_on":"...": the evidence hash after it.
	at, date, ok := findString(rest, `},"completed_on":`)
	if !ok {
		return nil, false
	}
	out = append(out, rest[:at+len(date)]...)
	if evidence != nil {
		out = append(append(out, `,"evidence_sha256":`...), evidence...)
	}
	return append(append(out, rest[at+len(date):]...), '}'), true
}

// memberString reads member, then a JSON string, off the front of b: the
// string as written (quotes and escapes included) and what follows it.
func memberString(b []byte, member string) (value, rest []byte, ok bool) {
	if !bytes.HasPrefix(b, []byte(member)) {
		return nil, b, false
	}
	end := jsonStringEnd(b, len(member))
	if end < 0 {
		return nil, b, false
	}
	return b[len(member):end], b[end:], true
}

// findString finds member in b and the JSON string after it: at is where
// the string starts, value the string as written.
func findString(b []byte, member string) (at int, value []byte, ok bool) {
	i := bytes.Index(b, []byte(member))
	if i < 0 {
		return 0, nil, false
	}
	at = i + len(member)
	end := jsonStringEnd(b, at)
	if end < 0 {
		return 0, nil, false
	}
	return at, b[at:end], true
}

// jsonStringEnd returns the index just after the JSON string starting at
// b[i], or -1 when there is none.
func jsonStringEnd(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}
