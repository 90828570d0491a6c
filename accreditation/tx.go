package accreditation

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"

	"creditbank/ledger"
	"creditbank/vault"
)

// tx is one command being decided inside the ledger's sequencer: the state
// as the ledger's view holds it, with this command's own writes on top, and
// the entries it emits. Every emitted entry is applied at once, so later
// checks of the same command see it.
type tx struct {
	view   *ledger.View
	writes map[string][]byte
	// appends holds what was appended to keys whose value the tx did not
	// set: the stored value plus these bytes is the key's value.
	appends map[string][]byte
	// order lists the keys of writes and appends in the order first
	// written, the order the effect writes them in: deterministic without
	// sorting them.
	order   []string
	records []ledger.Record
	idem    map[string]ledger.Idempotent
	// insts is the bank's institution cache, read but never filled here:
	// what a tx reads may not be durable yet.
	insts *institutionCache
	// units is the bank's filter of unit keys (duplicate.go), told of
	// every one the command writes; nil when the bank keeps none.
	units *unitFilter
	// instChanged is set when the command wrote an institution's state.
	instChanged bool
	// keys unwrap a learner's data key that a concurrent command stored
	// (tx.learner), and refs are the learners the command confirmed.
	keys *vault.Keys
	refs map[string]resolvedLearner
	// dirs is the bank's filter of directory keys, told of every one the
	// command writes; legacy is set for a store with entries from before
	// sealing (tx.legacyLearner).
	dirs   *unitFilter
	legacy bool
	// vault is the bank's record of vault changes, and learners its cache
	// of learners found (erasure.go).
	vault    *vaultChanges
	learners *learnerCache
	// found are the learners the command created or read (erasure.go).
	found []foundLearner
	// sealedFrom is the ledger size from which outcomes are sealed: the
	// idempotency records before it hold plain hashes.
	sealedFrom uint64
	// today and recordedAt are the view's time as the tx writes it,
	// formatted once for all of a batch's outcomes.
	today, recordedAt string
}

// newTx starts a command's transaction; entries is about how many entries
// the command will write (0 if unknown), so that a batch of outcomes does
// not grow its maps a dozen times over.
func newTx(v *ledger.View, insts *institutionCache, entries int) *tx {
	return &tx{view: v, writes: make(map[string][]byte, 2*entries), appends: make(map[string][]byte, entries),
		idem: make(map[string]ledger.Idempotent, entries), records: make([]ledger.Record, 0, entries),
		order: make([]string, 0, 3*entries), insts: insts}
}

// institution is loadInstitution through the bank's cache, unless this
// command changed the institution itself.
func (t *tx) institution(id string) (*Institution, error) {
	if _, own := t.writes[instKey(id)]; !own && t.insts != nil {
		if in, ok := t.insts.get(id); ok {
			return in, nil
		}
	}
	return loadInstitution(t, id)
}

func (t *tx) get(key string) ([]byte, error) {
	if b, ok := t.writes[key]; ok {
		return b, nil
	}
	b, err := t.view.Get([]byte(key))
	if errors.Is(err, ledger.ErrNotFound) {
		b, err = nil, nil
	}
	if a, ok := t.appends[key]; ok && err == nil {
		b = append(slices.Clip(b), a...)
	}
	return b, err
}

func (t *tx) appendValue(key string, value []byte) {
	if w, ok := t.writes[key]; ok {
		t.writes[key] = append(slices.Clip(w), value...)
		return
	}
	a, ok := t.appends[key]
	if !ok {
		t.order = append(t.order, key)
	}
	t.appends[key] = append(a, value...)
}

func (t *tx) put(key string, value []byte) {
	_, written := t.writes[key]
	_, appended := t.appends[key]
	if !written && !appended {
		t.order = append(t.order, key)
	}
	delete(t.appends, key)
	t.writes[key] = value
	if strings.HasPrefix(key, instPrefix) {
		t.instChanged = true
	}
	if t.dirs != nil && value != nil && strings.HasPrefix(key, vaultDirPrefix) {
		t.dirs.add(key)
	}
}

func (t *tx) scan(prefix string, fn func(string) bool) error {
	keys := map[string]bool{}
	err := t.view.Scan([]byte(prefix), nil, func(k, _ []byte) bool {
		keys[string(k)] = true
		return true
	})
	if err != nil {
		return err
	}
	for k := range t.writes {
		if strings.HasPrefix(k, prefix) {
			keys[k] = true
		}
	}
	for k := range t.appends {
		if strings.HasPrefix(k, prefix) {
			keys[k] = true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if !fn(k) {
			break
		}
	}
	return nil
}

// date is the UTC date of the group being decided: the "today" of every
// check, so that a decision never depends on when it is re-run.
func (t *tx) date() string {
	if t.today == "" {
		t.today = t.view.Now().UTC().Format(dateLayout)
	}
	return t.today
}

// recordedAtText is the recorded_at of the tx's entries.
func (t *tx) recordedAtText() string {
	if t.recordedAt == "" {
		t.recordedAt = t.view.Now().UTC().Format(ledger.TimeLayout)
	}
	return t.recordedAt
}

// nextSeq is the seq the next emitted entry gets.
func (t *tx) nextSeq() uint64 { return t.view.Size() + uint64(len(t.records)) }

// emit appends an entry and applies it to the state.
func (t *tx) emit(typ string, actor Actor, content any, index []ledger.IndexKey, idem *ledger.IdempotencyKey) (uint64, error) {
	c, err := ledger.MarshalContent(content)
	if err != nil {
		return 0, err
	}
	return t.emitEncoded(typ, actor, c, nil, index, idem)
}

// emitEncoded is emit with the content already encoded; decoded, when not
// nil, is what c decodes to, handed to applyDecoded so that it need not
// decode c again.
func (t *tx) emitEncoded(typ string, actor Actor, c json.RawMessage, decoded any, index []ledger.IndexKey, idem *ledger.IdempotencyKey) (uint64, error) {
	seq := t.nextSeq()
	e := ledger.Entry{Seq: seq, Type: typ, RecordedAt: t.view.Now(), Actor: actor.String(), Content: c}
	if err := applyDecoded(t, e, decoded); err != nil {
		return 0, err
	}
	// Outcomes are most of the ledger and nothing lists them by type.
	t.records = append(t.records, ledger.Record{Type: typ, Actor: e.Actor, Content: c, Index: index, Idempotency: idem,
		Unlisted: typ == TypeOutcomeRecorded})
	if idem != nil {
		t.idem[idem.Scope+"\x00"+idem.Key] = ledger.Idempotent{Seq: seq, Hash: idem.Hash}
	}
	return seq, nil
}

// entry returns the bytes of entry seq, whether this command emitted it or
// the ledger holds it already.
func (t *tx) entry(seq uint64) ([]byte, error) {
	if base := t.view.Size(); seq >= base && seq < base+uint64(len(t.records)) {
		rec := t.records[seq-base]
		return ledger.Entry{Seq: seq, Type: rec.Type, RecordedAt: t.view.Now(), Actor: rec.Actor, Content: rec.Content}.Encode()
	}
	return t.view.Entry(seq)
}

// idempotency looks up (scope, key) among this command's entries and the
// ledger's idempotency index.
func (t *tx) idempotency(scope, key string) (ledger.Idempotent, bool, error) {
	if rec, ok := t.idem[scope+"\x00"+key]; ok {
		return rec, true, nil
	}
	return t.view.Idempotency(scope, key)
}

// effect is what the command writes: its entries and the state they led to,
// in the order the command first wrote each key, so that equal commands give
// equal batches.
func (t *tx) effect(result any) ledger.Effect {
	eff := ledger.Effect{Records: t.records, Result: result, State: make([]ledger.StateWrite, 0, len(t.order))}
	n := 0
	for _, k := range t.order {
		n += len(k)
	}
	keys := make([]byte, 0, n) // one allocation for the keys of a batch's thousand outcomes
	for _, k := range t.order {
		keys = append(keys, k...)
		key := keys[len(keys)-len(k) : len(keys) : len(keys)]
		if a, ok := t.appends[k]; ok {
			eff.State = append(eff.State, ledger.StateWrite{Key: key, Value: a, Append: true})
			continue
		}
		eff.State = append(eff.State, ledger.StateWrite{Key: key, Value: t.writes[k]})
	}
	return eff
}

// command is a request decided inside the sequencer. Commands are plain
// data (so that a replicated log could carry them); decide must read only
// the tx and the command's own fields.
type command interface {
	decide(t *tx) (any, error)
}

// proposal adapts a command to the ledger: what [Bank] hands to
// ledger.Ledger.Append.
type proposal struct {
	cmd   command
	insts *institutionCache
	units *unitFilter
	dirs  *unitFilter
	keys  *vault.Keys
	// legacy says the store has entries from before sealing (erasure.go).
	legacy   bool
	vault    *vaultChanges
	learners *learnerCache
	// found receives the learners the command created or read, for the
	// bank to cache once the command is durable.
	found *[]foundLearner
	// sealedFrom is the ledger size from which outcomes are sealed.
	sealedFrom uint64
}

// Decide implements ledger.Proposal: it decides the command against v, the
// state as the sequencer holds it, and returns the entries and state writes
// the ledger then commits.
func (p proposal) Decide(v *ledger.View) (ledger.Effect, error) {
	entries := 0
	if c, ok := p.cmd.(postCmd); ok {
		entries = len(c.Items)
	}
	t := newTx(v, p.insts, entries)
	t.units, t.dirs, t.keys, t.legacy, t.vault, t.learners = p.units, p.dirs, p.keys, p.legacy, p.vault, p.learners
	t.sealedFrom = p.sealedFrom
	if t.vault == nil {
		t.vault = &vaultChanges{} // a proposal of a test: raises go nowhere
		t.vault.raise(0)
	}
	res, err := p.cmd.decide(t)
	if err != nil {
		return ledger.Effect{}, err
	}
	if t.instChanged && p.insts != nil {
		// Before the entries can be published, so before any reader can
		// see them: see institutionCache.
		p.insts.changed(t.nextSeq())
	}
	if p.found != nil {
		*p.found = t.found
	}
	return t.effect(res), nil
}

// readerStore is a read-only store over a durable ledger read.
type readerStore struct{ r *ledger.Reader }

func (s readerStore) get(key string) ([]byte, error) {
	b, err := s.r.Get([]byte(key))
	if errors.Is(err, ledger.ErrNotFound) {
		return nil, nil
	}
	return b, err
}

func (s readerStore) put(string, []byte) { panic("accreditation: write to a read-only store") }
func (s readerStore) appendValue(string, []byte) {
	panic("accreditation: write to a read-only store")
}

func (s readerStore) scan(prefix string, fn func(string) bool) error {
	return s.r.Scan([]byte(prefix), nil, func(k, _ []byte) bool { return fn(string(k)) })
}
