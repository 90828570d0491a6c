package accreditation

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"strings"
)

// An institution records one outcome per learner, unit code and
// completion date (docs/contract.md section 8): another under a new
// idempotency key is refused with CodeDuplicateOutcome, naming the one
// recorded; a correction says so with supersedes. A revoked outcome does
// not block a new one: revoking is how an institution withdraws an outcome
// posted in error, and the outcome it then posts correctly is no
// duplicate of anything in force.
//
// The check is one state read per outcome: unitKey holds the seq of the
// latest outcome recorded with the four values, and its state says whether
// it was revoked since. Outcomes recorded by a version without the key are
// not found by it.

// unitKey is the state key of the latest outcome institution recorded for
// learner of unit code completed on date: outunit/<inst>/<learner>/<code>/<date>.
// None of the four can hold a '/'.
func unitKey(inst, learner, code, date string) string {
	return unitPrefix + inst + "/" + learner + "/" + code + "/" + date
}

// unitPrefix starts every unit key.
const unitPrefix = "outunit/"

// UnitKeyOfOutcome returns the state key besides StateKeysOfOutcome that
// recording an outcome writes: the one that finds a repeat of its
// institution, learner, unit code and completion date. Its value is the
// outcome's seq in 8 bytes, big-endian.
func UnitKeyOfOutcome(institution, learner, unitCode, completedOn string) string {
	return unitKey(institution, learner, unitCode, completedOn)
}

// putUnit records seq as the latest outcome of its unit key.
func putUnit(s store, seq uint64, inst string, o *Outcome) {
	key := unitKey(inst, o.Learner, o.Unit.Code, o.CompletedOn)
	if t, ok := s.(*tx); ok && t.units != nil {
		t.units.add(key)
	}
	s.put(key, binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq))
}

// duplicateOf returns the outcome in force that o, posted by inst, would
// repeat, if any.
func duplicateOf(s store, inst string, o OutcomeInput) (uint64, bool, error) {
	key := unitKey(inst, o.Learner, o.Unit.Code, o.CompletedOn)
	if t, ok := s.(*tx); ok && t.units != nil {
		if maybe, err := t.units.mayHold(t, key); err != nil || !maybe {
			return 0, false, err
		}
	}
	v, err := s.get(key)
	if err != nil || v == nil {
		return 0, false, err
	}
	if len(v) != 8 {
		return 0, false, fmt.Errorf("state %s: %d bytes, not a seq", key, len(v))
	}
	seq := binary.BigEndian.Uint64(v)
	st, err := s.get(outKey(seq))
	if err != nil || st == nil || stateRevoked(st) {
		return 0, false, err
	}
	return seq, true, nil
}

// checkDuplicate refuses o, whose Learner is the learner's reference, when
// it repeats an outcome in force other than the one it supersedes; learner
// is the id the refusal names.
func checkDuplicate(s store, inst string, o OutcomeInput, learner string) error {
	seq, found, err := duplicateOf(s, inst, o)
	if err != nil || !found || (o.Supersedes != nil && *o.Supersedes == seq) {
		return err
	}
	e := errorf(CodeDuplicateOutcome, "outcome %d already records unit %s completed on %s for learner %s; correct it with supersedes",
		seq, o.Unit.Code, o.CompletedOn, learner)
	e.Existing = &seq
	return e
}

// unitFilter spares most posts the read of their unit key: a Bloom filter
// over the unit keys the ledger holds. Reading a key that is not there
// costs a seek to a random place of Pebble's memtable, and measured a
// third of a batch's throughput (docs/performance.md); nearly every
// outcome posted repeats nothing. The filter lives in the bank's memory
// and only the sequencer touches it: it is built from the state by the
// first command that asks, and every command that writes a unit key adds
// it while deciding, before its entries can be read. So a key it was
// never told of is certainly not in the store, and one it was told of is
// read (a command that fails leaves only keys that are read for nothing).
//
// The same filter spares a learner's first outcome the read of the
// learner's directory entry (erasure.go): a filter is over the keys under
// one prefix, unitPrefix or vaultDirPrefix.
type unitFilter struct {
	prefix string
	bits   []uint64
	n      int // keys added
	built  bool
	seed   maphash.Seed
}

// unitFilterBits is the filter's first size in bits; it grows fourfold,
// rebuilt from the state, whenever it holds more than one key per 12 bits,
// which keeps false positives under 1% with 4 probes. Tests make it small.
var unitFilterBits = 1 << 20

// mayHold reports whether the store may hold key; false is certain.
func (f *unitFilter) mayHold(t *tx, key string) (bool, error) {
	if !f.built || f.n*12 > len(f.bits)*64 {
		if err := f.build(t); err != nil {
			return false, err
		}
	}
	h1, h2 := f.hashes(key)
	for i := range uint64(4) {
		b := (h1 + i*h2) % uint64(len(f.bits)*64)
		if f.bits[b/64]&(1<<(b%64)) == 0 {
			return false, nil
		}
	}
	return true, nil
}

// add tells the filter of a key written.
func (f *unitFilter) add(key string) {
	if !f.built {
		return // the build reads it from the state
	}
	f.set(maphash.String(f.seed, key))
}

// set adds the key whose hash is h.
func (f *unitFilter) set(h uint64) {
	h1, h2 := h, h>>32|1
	for i := range uint64(4) {
		b := (h1 + i*h2) % uint64(len(f.bits)*64)
		f.bits[b/64] |= 1 << (b % 64)
	}
	f.n++
}

func (f *unitFilter) hashes(key string) (uint64, uint64) {
	h := maphash.String(f.seed, key)
	return h, h>>32 | 1
}

// build fills the filter from the unit keys the view holds and those the
// command wrote already, sized for four times as many. It reads the keys
// twice, counting and then hashing them, rather than holding them all:
// a store of tens of millions of outcomes would need gigabytes for that.
func (f *unitFilter) build(t *tx) error {
	scan := func(fn func(k []byte)) error {
		return t.view.Scan([]byte(f.prefix), nil, func(k, _ []byte) bool { fn(k); return true })
	}
	n := 0
	if err := scan(func([]byte) { n++ }); err != nil {
		return err
	}
	var written []string
	for k := range t.writes {
		if strings.HasPrefix(k, f.prefix) {
			written = append(written, k)
		}
	}
	size := unitFilterBits
	for size < 4*12*(n+len(written)) {
		size *= 4
	}
	*f = unitFilter{prefix: f.prefix, bits: make([]uint64, size/64), built: true, seed: maphash.MakeSeed()}
	// maphash.Bytes and maphash.String hash the same bytes alike.
	if err := scan(func(k []byte) { f.set(maphash.Bytes(f.seed, k)) }); err != nil {
		return err
	}
	for _, k := range written {
		f.add(k)
	}
	return nil
}
