package accreditation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"creditbank/ledger"
	"creditbank/vault"
)

// Equivalent units (docs/contract.md section 8): a regulator publishes a
// group of units, of one institution or several, that are the same
// learning, in versions as rules are. Toward one target programme the
// outcomes of one group count once: the first eligible one in request
// order, and none once an outcome of the group is in force toward the
// programme; the others are not eligible (ReasonEquivalentUsed). A group
// counts on the dates it is valid, in its latest version.
//
// Deciding reads, beside the state, the unit code of outcomes, which their
// state does not keep: only for outcomes of institutions some group names
// (equinst/<inst>), so that a bank without groups reads nothing more.

// TypeEquivalencePublished is the entry of one version of a group of
// equivalent units: the group as published and its version.
const TypeEquivalencePublished = "equivalence.published"

// IndexEquivalence lists the versions of a group of equivalent units.
const IndexEquivalence = "equivalence"

// ReasonEquivalentUsed: an outcome of a unit equivalent to it already
// counts toward the programme (rules of contract version 2, eligibility.go).
const ReasonEquivalentUsed = "equivalent_used"

// UnitRef names a unit of an institution.
type UnitRef struct {
	Institution string `json:"institution"`
	Code        string `json:"code"`
}

// EquivalenceInput publishes a group of equivalent units (a new version
// when the id exists).
type EquivalenceInput struct {
	ID         string    `json:"id"`
	Units      []UnitRef `json:"units"`
	ValidFrom  string    `json:"valid_from"`
	ValidUntil *string   `json:"valid_until"`
}

// Equivalence is one published version of a group of equivalent units.
type Equivalence struct {
	EquivalenceInput
	Version int `json:"version"`
	// Seq is the entry that published this version.
	Seq uint64 `json:"seq"`
}

// maxEquivalentUnits bounds one group.
const maxEquivalentUnits = 256

// Validate checks the group's own form: an id of the rules' pattern, 2 to
// 256 distinct units, real dates in order.
func (e EquivalenceInput) Validate() error {
	if err := checkPattern("id", e.ID, ruleIDPattern); err != nil {
		return err
	}
	if len(e.Units) < 2 || len(e.Units) > maxEquivalentUnits {
		return errorf(CodeInvalid, "a group lists 2 to %d units", maxEquivalentUnits)
	}
	seen := map[UnitRef]bool{}
	for _, u := range e.Units {
		if err := checkPattern("units.institution", u.Institution, institutionIDPattern); err != nil {
			return err
		}
		if err := checkPattern("units.code", u.Code, unitCodePattern); err != nil {
			return err
		}
		if seen[u] {
			return errorf(CodeInvalid, "unit %s of %s is listed twice", u.Code, u.Institution)
		}
		seen[u] = true
	}
	if _, err := parseDate("valid_from", e.ValidFrom); err != nil {
		return err
	}
	if e.ValidUntil != nil {
		if _, err := parseDate("valid_until", *e.ValidUntil); err != nil {
			return err
		}
		if *e.ValidUntil < e.ValidFrom {
			return errorf(CodeInvalid, "valid_until %s is before valid_from %s", *e.ValidUntil, e.ValidFrom)
		}
	}
	return nil
}

// validOn reports whether the group counts on date.
func (e Equivalence) validOn(date string) bool {
	return e.ValidFrom <= date && (e.ValidUntil == nil || date <= *e.ValidUntil)
}

// The state of groups:
//
//	equiv/<id>                the latest version (equivHead)
//	equivv/<id>/<version>     Equivalence
//	equnit/<inst>/<code>      the groups that ever listed the unit (unitGroups)
//	equinst/<inst>            "1": some group lists a unit of the institution
func equivKey(id string) string               { return "equiv/" + id }
func equivVersionKey(id string, v int) string { return fmt.Sprintf("equivv/%s/%08d", id, v) }
func equivUnitKey(inst, code string) string   { return "equnit/" + inst + "/" + code }
func equivInstKey(inst string) string         { return "equinst/" + inst }

type equivHead struct {
	Latest int `json:"latest"`
}

// unitGroups are the groups that ever listed a unit.
type unitGroups struct {
	Groups []string `json:"groups"`
}

type publishEquivalenceCmd struct {
	Actor Actor
	Group EquivalenceInput
}

func (c publishEquivalenceCmd) decide(t *tx) (any, error) {
	idx := []ledger.IndexKey{{Name: IndexEquivalence, Value: c.Group.ID}}
	for _, u := range c.Group.Units {
		if _, err := t.institution(u.Institution); err != nil {
			return nil, errorf(CodeInvalid, "units: %v", err)
		}
		if k := institutionIndex(u.Institution); !slices.Contains(idx, k) {
			idx = append(idx, k)
		}
	}
	head, err := getJSON[equivHead](t, equivKey(c.Group.ID))
	if err != nil {
		return nil, err
	}
	version := 1
	if head != nil {
		version = head.Latest + 1
	}
	content := struct {
		EquivalenceInput
		Version int `json:"version"`
	}{c.Group, version}
	seq, err := t.emit(TypeEquivalencePublished, c.Actor, content, idx, nil)
	if err != nil {
		return nil, err
	}
	return Equivalence{EquivalenceInput: c.Group, Version: version, Seq: seq}, nil
}

// applyEquivalence applies an equivalence.published entry.
func applyEquivalence(s store, e ledger.Entry) error {
	var g Equivalence
	if err := json.Unmarshal(e.Content, &g); err != nil {
		return err
	}
	g.Seq = e.Seq
	if err := putJSON(s, equivVersionKey(g.ID, g.Version), g); err != nil {
		return err
	}
	if err := putJSON(s, equivKey(g.ID), equivHead{Latest: g.Version}); err != nil {
		return err
	}
	for _, u := range g.Units {
		ug, err := getJSON[unitGroups](s, equivUnitKey(u.Institution, u.Code))
		if err != nil {
			return err
		}
		if ug == nil {
			ug = &unitGroups{}
		}
		if !slices.Contains(ug.Groups, g.ID) {
			ug.Groups = append(ug.Groups, g.ID)
			if err := putJSON(s, equivUnitKey(u.Institution, u.Code), ug); err != nil {
				return err
			}
		}
		s.put(equivInstKey(u.Institution), []byte("1"))
	}
	return nil
}

// PublishEquivalence publishes a group of equivalent units, or its next
// version when the id exists. Every institution it names must be
// registered.
func (b *Bank) PublishEquivalence(ctx context.Context, actor Actor, g EquivalenceInput) (Equivalence, error) {
	if err := g.Validate(); err != nil {
		return Equivalence{}, err
	}
	res, err := b.do(ctx, publishEquivalenceCmd{Actor: actor, Group: g})
	if err != nil {
		return Equivalence{}, err
	}
	return res.(Equivalence), nil
}

// Equivalence returns the latest version of a group of equivalent units
// (version 0) or the given one.
func (b *Bank) Equivalence(id string, version int) (Equivalence, error) {
	var g Equivalence
	err := b.read(func(_ *ledger.Reader, s store) error {
		head, err := getJSON[equivHead](s, equivKey(id))
		if err != nil {
			return err
		}
		if head == nil {
			return errorf(CodeNotFound, "no group of equivalent units %q", id)
		}
		if version == 0 {
			version = head.Latest
		}
		v, err := getJSON[Equivalence](s, equivVersionKey(id, version))
		if err != nil {
			return err
		}
		if v == nil {
			return errorf(CodeNotFound, "group %q has no version %d", id, version)
		}
		g = *v
		return nil
	})
	return g, err
}

// journal is what deciding a conversion reads of the ledger beside the
// state: a learner's entries, and the unit code an outcome records.
type journal interface {
	entryIndex
	unitCode(seq uint64) (string, error)
	// score is the score sealed outcome seq records, read with its
	// learner's data key: errErased once the key is gone.
	score(seq uint64) (*Amount, error)
}

// txJournal reads what a command decides against: the sequencer's view and
// the command's own entries.
type txJournal struct{ t *tx }

// Index lists the view's entries under the index, then the command's own
// (which the view does not index yet).
func (j txJournal) Index(name, value string, start uint64, fn func(uint64) bool) error {
	more := true
	if err := j.t.view.Index(name, value, start, func(seq uint64) bool { more = fn(seq); return more }); err != nil || !more {
		return err
	}
	base := j.t.view.Size()
	for i, rec := range j.t.records {
		seq := base + uint64(i)
		if seq >= start && slices.Contains(rec.Index, ledger.IndexKey{Name: name, Value: value}) && !fn(seq) {
			break
		}
	}
	return nil
}

func (j txJournal) unitCode(seq uint64) (string, error) { return unitCodeOfEntry(j.t.entry, seq) }

func (j txJournal) score(seq uint64) (*Amount, error) {
	return sealedScore(j.t.entry, j.t, j.t.keys, seq)
}

// readerJournal reads a durable read of the ledger; keys open the scores
// of sealed outcomes.
type readerJournal struct {
	r    *ledger.Reader
	keys *vault.Keys
}

func (j readerJournal) score(seq uint64) (*Amount, error) {
	return sealedScore(j.r.Entry, readerStore{j.r}, j.keys, seq)
}

func (j readerJournal) Index(name, value string, start uint64, fn func(uint64) bool) error {
	return j.r.Index(name, value, start, fn)
}

func (j readerJournal) unitCode(seq uint64) (string, error) { return unitCodeOfEntry(j.r.Entry, seq) }

// unitCodeOfEntry reads the unit code of the outcome recorded at seq
// without decoding the rest of it: decoding the whole outcome for its code
// was a third of the CPU of an award audit over 500 outcomes (creditbank
// bench, audit phase), which reads one code per item. The code is found
// where the bank writes it, as spliceOutcome finds it; an entry in any
// other form is decoded whole.
func unitCodeOfEntry(entry func(uint64) ([]byte, error), seq uint64) (string, error) {
	b, err := entry(seq)
	if err != nil {
		return "", err
	}
	e, err := ledger.DecodeEntry(b)
	if err != nil {
		return "", err
	}
	if e.Type != TypeOutcomeRecorded {
		return "", fmt.Errorf("entry %d is a %s: %w", seq, e.Type, errNotOutcome)
	}
	if _, code, ok := findString(e.Content, `,"unit":{"code":`); ok && len(code) >= 2 && bytes.IndexByte(code, '\\') < 0 {
		return string(code[1 : len(code)-1]), nil
	}
	var o Outcome
	if err := unmarshalContent(e.Content, &o); err != nil {
		return "", err
	}
	return o.Unit.Code, nil
}

// equivalents finds the groups of equivalent units of outcomes on one
// date, reading each institution's mark, each unit's groups and each group
// at most once.
type equivalents struct {
	s     store
	j     journal
	date  string
	insts map[string]bool
	units map[UnitRef][]string
}

func newEquivalents(s store, j journal, date string) *equivalents {
	return &equivalents{s: s, j: j, date: date, insts: map[string]bool{}, units: map[UnitRef][]string{}}
}

// of returns the ids of the groups valid on the date whose latest version
// lists the unit of outcome st.
func (q *equivalents) of(st *outcomeState) ([]string, error) {
	listed, ok := q.insts[st.Institution]
	if !ok {
		v, err := q.s.get(equivInstKey(st.Institution))
		if err != nil {
			return nil, err
		}
		listed = v != nil
		q.insts[st.Institution] = listed
	}
	if !listed {
		return nil, nil
	}
	code, err := q.j.unitCode(st.Seq)
	if err != nil {
		return nil, err
	}
	u := UnitRef{Institution: st.Institution, Code: code}
	if ids, ok := q.units[u]; ok {
		return ids, nil
	}
	var in []string
	ug, err := getJSON[unitGroups](q.s, equivUnitKey(u.Institution, u.Code))
	if err != nil || ug == nil {
		q.units[u] = nil
		return nil, err
	}
	for _, id := range ug.Groups {
		head, err := getJSON[equivHead](q.s, equivKey(id))
		if err != nil {
			return nil, err
		}
		g, err := getJSON[Equivalence](q.s, equivVersionKey(id, head.Latest))
		if err != nil {
			return nil, err
		}
		if g.validOn(q.date) && slices.Contains(g.Units, u) {
			in = append(in, id)
		}
	}
	q.units[u] = in
	return in, nil
}

// used returns the groups outcomes of learner already stand for toward
// target: those of outcomes in force toward it and not revoked (an outcome
// being revoked leaves its place to the one that supersedes it).
func (q *equivalents) used(learner string, target Target) (map[string]bool, error) {
	out := map[string]bool{}
	var ierr error
	err := q.j.Index(IndexLearner, learner, 0, func(seq uint64) bool {
		st, err := getJSON[outcomeState](q.s, outKey(seq))
		if err != nil {
			ierr = err
			return false
		}
		if st == nil || st.Revoked || !st.usedToward(target) {
			return true
		}
		ids, err := q.of(st)
		if err != nil {
			ierr = err
			return false
		}
		for _, id := range ids {
			out[id] = true
		}
		return true
	})
	if err == nil {
		err = ierr
	}
	return out, err
}

// addEquivalents fills in, under the rules of contract version 2, the
// groups of each found candidate and whether one of them already counts
// toward target. It reads the learner's other outcomes only when some
// candidate belongs to a group.
func addEquivalents(s store, j journal, learner string, target Target, date string, cands []Candidate) error {
	q := newEquivalents(s, j, date)
	grouped := false
	for i := range cands {
		if !cands[i].Found {
			continue
		}
		ids, err := q.of(&cands[i].outcomeState)
		if err != nil {
			return err
		}
		cands[i].Equivalents = ids
		grouped = grouped || len(ids) > 0
	}
	if !grouped {
		return nil
	}
	used, err := q.used(learner, target)
	if err != nil {
		return err
	}
	for i := range cands {
		cands[i].EquivalentUsed = slices.ContainsFunc(cands[i].Equivalents, func(id string) bool { return used[id] })
	}
	return nil
}
