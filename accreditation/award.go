package accreditation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"creditbank/ledger"
)

// Awards (docs/contract.md section 9): the programme's institution, or an
// admin, records that a learner earned a programme once the award audit,
// run in the sequencer at the award's place in the log, says the learner
// is eligible. The entry names the audit's ledger size and the items it
// rested on. Revoking or superseding an outcome an award rested on (as a
// direct item, or as the source of a conversion item) writes an
// award.flagged entry in the same command, naming the award and why: the
// award stands, flagged for review; no degree is revoked silently. The
// Replayer re-runs the audit of every award at its size (recheckAward) and
// checks that every revocation flagged every award resting on it.

// Entry types of awards.
const (
	TypeAwardRecorded = "award.recorded"
	TypeAwardFlagged  = "award.flagged"
)

type (
	// AwardRequirement is what one requirement earned in the audit an
	// award rested on.
	AwardRequirement struct {
		ID     string `json:"id"`
		Earned Amount `json:"earned"`
	}
	// AwardItemRef names a conversion item an award rested on.
	AwardItemRef struct {
		Conversion uint64 `json:"conversion"`
		Outcome    uint64 `json:"outcome"`
	}
	// Award is the content of award.recorded.
	Award struct {
		Learner     string       `json:"learner"`
		Programme   ProgrammeRef `json:"programme"`
		Institution string       `json:"institution"`
		// On is the audit's date (the entry's UTC date), and Size the
		// ledger size it read: the entry's own seq.
		On           string             `json:"on"`
		Size         uint64             `json:"size"`
		Total        Amount             `json:"total"`
		Requirements []AwardRequirement `json:"requirements"`
		// Outcomes are the direct items the award rested on, and
		// Conversions the conversion items.
		Outcomes    []uint64       `json:"outcomes"`
		Conversions []AwardItemRef `json:"conversions"`
		// Recognitions are the items of recognition cases, when there
		// are any (awards recorded before cases have none).
		Recognitions []AwardRecognitionRef `json:"recognitions,omitempty"`
	}
	// AwardRecognitionRef names an item of a recognition case an award
	// rested on.
	AwardRecognitionRef struct {
		Recognition string `json:"recognition"`
		Outcome     uint64 `json:"outcome"`
	}
	// AwardFlagged is the content of award.flagged.
	AwardFlagged struct {
		Award     uint64       `json:"award"`
		Learner   string       `json:"learner"`
		Programme ProgrammeRef `json:"programme"`
		// Outcome is the outcome revoked or superseded that the award
		// rested on.
		Outcome uint64 `json:"outcome"`
		Reason  string `json:"reason"`
	}
)

// AwardFlag is a flag on an award: the award.flagged entry and why.
type AwardFlag struct {
	Seq     uint64 `json:"seq"`
	Outcome uint64 `json:"outcome"`
	Reason  string `json:"reason"`
}

// AwardRecord is an award as the bank keeps and answers it: the entry,
// when it was recorded, and its flags (none: an empty list).
type AwardRecord struct {
	Seq        uint64 `json:"seq"`
	RecordedAt string `json:"recorded_at"`
	Award
	Flags []AwardFlag `json:"flags"`
	// Cost is what the audit RecordAward ran read, also when it refused.
	Cost Cost `json:"-"`
}

// The state of awards:
//
//	award/<seq>                              AwardRecord
//	awardp/<learner>/<programme>/<version>   the award's seq, in decimal
//	awardrest/<outcome seq>                  restingAwards: the awards resting on the outcome
func awardKey(seq uint64) string { return hexKey("award/", seq) }
func awardProgrammeKey(learner string, p ProgrammeRef) string {
	return fmt.Sprintf("awardp/%s/%s/%08d", learner, p.ID, p.Version)
}
func awardRestKey(outcome uint64) string { return hexKey("awardrest/", outcome) }

// restingAwards are the seqs of the awards that rest on an outcome.
type restingAwards struct {
	Awards []uint64 `json:"awards"`
}

// awardOf is the award an eligible audit of learner gives.
func awardOf(a *ProgrammeAudit) Award {
	aw := Award{Learner: a.Learner, Programme: a.Programme, Institution: a.Institution, On: a.On, Size: a.Size, Total: a.Total.Earned,
		Requirements: []AwardRequirement{}, Outcomes: []uint64{}, Conversions: []AwardItemRef{}}
	counted := slices.Clone(a.Other)
	for _, r := range a.Requirements {
		aw.Requirements = append(aw.Requirements, AwardRequirement{ID: r.ID, Earned: r.Earned})
		counted = append(counted, r.Items...)
	}
	for _, it := range counted {
		switch it.Source {
		case SourceConversion:
			aw.Conversions = append(aw.Conversions, AwardItemRef{Conversion: it.Conversion, Outcome: it.Outcome})
		case SourceRecognition:
			aw.Recognitions = append(aw.Recognitions, AwardRecognitionRef{Recognition: it.Recognition, Outcome: it.Outcome})
		default:
			aw.Outcomes = append(aw.Outcomes, it.Outcome)
		}
	}
	slices.SortFunc(aw.Recognitions, func(x, y AwardRecognitionRef) int {
		if x.Recognition != y.Recognition {
			return strings.Compare(x.Recognition, y.Recognition)
		}
		return int(x.Outcome) - int(y.Outcome)
	})
	slices.Sort(aw.Outcomes)
	slices.SortFunc(aw.Conversions, func(x, y AwardItemRef) int {
		if x.Conversion != y.Conversion {
			return int(x.Conversion) - int(y.Conversion)
		}
		return int(x.Outcome) - int(y.Outcome)
	})
	return aw
}

type recordAwardCmd struct {
	Actor Actor
	// Learner is the learner's reference.
	Learner   string
	Programme string
}

func (c recordAwardCmd) decide(t *tx) (any, error) {
	if err := checkNotErased(t, c.Learner); err != nil {
		return nil, err
	}
	p, err := loadProgramme(t, c.Programme, 0)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, errorf(CodeNotFound, "no programme %q", c.Programme)
	}
	if c.Actor.Role != RoleAdmin && (c.Actor.Role != RoleInstitution || c.Actor.ID != p.Institution) {
		return nil, errorf(CodeForbidden, "only the programme's institution, %s, or an admin may record its awards", p.Institution)
	}
	if !p.validOn(t.date()) {
		return nil, errorf(CodeInvalid, "programme %s version %d is not valid on %s", p.ID, p.Version, t.date())
	}
	if v, err := t.get(awardProgrammeKey(c.Learner, p.Ref())); err != nil {
		return nil, err
	} else if v != nil {
		return nil, errorf(CodeConflict, "learner %s was awarded programme %s version %d by entry %s", c.Learner, p.ID, p.Version, v)
	}
	before := t.view.Rows()
	a, err := auditLearner(t, txJournal{t}, c.Learner, p, t.date(), t.view.Size())
	cost := Cost{Rows: t.view.Rows() - before}
	if err != nil {
		return nil, &costError{err: err, cost: cost}
	}
	if !a.Eligible {
		e := errorf(CodeAwardNotEligible, "learner %s is not eligible for programme %s version %d: %s", c.Learner, p.ID, p.Version, a.Summary)
		e.Missing = a.Missing
		return nil, &costError{err: e, cost: cost}
	}
	idx := []ledger.IndexKey{learnerIndex(c.Learner), institutionIndex(p.Institution), {Name: IndexProgramme, Value: p.ID}}
	seq, err := t.emit(TypeAwardRecorded, c.Actor, awardOf(&a), idx, nil)
	if err != nil {
		return nil, err
	}
	rec, err := getJSON[AwardRecord](t, awardKey(seq))
	if err != nil {
		return nil, err
	}
	rec.Cost = cost
	return *rec, nil
}

// flagAwards emits, after the revocation of st, an award.flagged entry for
// each award that rested on it, and returns their seqs.
func flagAwards(t *tx, actor Actor, st *outcomeState, reason string, supersededBy *uint64) ([]uint64, error) {
	resting, err := getJSON[restingAwards](t, awardRestKey(st.Seq))
	if err != nil || resting == nil {
		return nil, err
	}
	why := fmt.Sprintf("outcome %d revoked: %s", st.Seq, reason)
	if supersededBy != nil {
		why = fmt.Sprintf("outcome %d superseded by outcome %d", st.Seq, *supersededBy)
	}
	var seqs []uint64
	for _, award := range resting.Awards {
		rec, err := getJSON[AwardRecord](t, awardKey(award))
		if err != nil {
			return nil, err
		}
		if rec == nil {
			return nil, fmt.Errorf("outcome %d lists award %d, which has no state", st.Seq, award)
		}
		f := AwardFlagged{Award: award, Learner: rec.Learner, Programme: rec.Programme, Outcome: st.Seq, Reason: why}
		idx := []ledger.IndexKey{learnerIndex(rec.Learner), institutionIndex(rec.Institution), {Name: IndexProgramme, Value: rec.Programme.ID}}
		seq, err := t.emit(TypeAwardFlagged, actor, f, idx, nil)
		if err != nil {
			return nil, err
		}
		seqs = append(seqs, seq)
	}
	return seqs, nil
}

// applyAward applies award.recorded and award.flagged entries.
func applyAward(s store, e ledger.Entry) error {
	if e.Type == TypeAwardFlagged {
		var f AwardFlagged
		if err := json.Unmarshal(e.Content, &f); err != nil {
			return err
		}
		rec, err := getJSON[AwardRecord](s, awardKey(f.Award))
		if err != nil {
			return err
		}
		if rec == nil {
			return fmt.Errorf("flag of unknown award %d", f.Award)
		}
		rec.Flags = append(rec.Flags, AwardFlag{Seq: e.Seq, Outcome: f.Outcome, Reason: f.Reason})
		if err := putJSON(s, awardKey(f.Award), rec); err != nil {
			return err
		}
		return revokeResting(s, credAwardKey(f.Award), e.Seq, fmt.Sprintf("award %d flagged: %s", f.Award, f.Reason))
	}
	var a Award
	if err := json.Unmarshal(e.Content, &a); err != nil {
		return err
	}
	rec := AwardRecord{Seq: e.Seq, RecordedAt: e.RecordedAt.UTC().Format(ledger.TimeLayout), Award: a, Flags: []AwardFlag{}}
	if err := putJSON(s, awardKey(e.Seq), rec); err != nil {
		return err
	}
	s.put(awardProgrammeKey(a.Learner, a.Programme), strconv.AppendUint(nil, e.Seq, 10))
	rests := slices.Clone(a.Outcomes)
	for _, c := range a.Conversions {
		rests = append(rests, c.Outcome)
	}
	for _, c := range a.Recognitions {
		rests = append(rests, c.Outcome)
	}
	for _, o := range rests {
		list, err := getJSON[restingAwards](s, awardRestKey(o))
		if err != nil {
			return err
		}
		if list == nil {
			list = &restingAwards{}
		}
		if !slices.Contains(list.Awards, e.Seq) {
			list.Awards = append(list.Awards, e.Seq)
			if err := putJSON(s, awardRestKey(o), list); err != nil {
				return err
			}
		}
	}
	return nil
}

// RecordAward records that learner earned the latest version of programme,
// when the award audit, decided in the sequencer, says so: actor is the
// programme's institution or an admin. A learner not eligible is refused
// with CodeAwardNotEligible and the audit's Missing; a second award of the
// same version with CodeConflict; an erased learner with CodeErased.
func (b *Bank) RecordAward(ctx context.Context, actor Actor, learner, programme string) (AwardRecord, error) {
	if err := checkLearnerID("learner", learner); err != nil {
		return AwardRecord{}, err
	}
	if err := checkPattern("programme", programme, programmePattern); err != nil {
		return AwardRecord{}, err
	}
	id := CanonicalLearnerID(learner)
	l, err := b.learnerForCommand(id)
	if err != nil {
		return AwardRecord{}, err
	}
	res, err := b.do(ctx, recordAwardCmd{Actor: actor, Learner: l.ref, Programme: programme})
	var ce *costError
	if errors.As(err, &ce) {
		return AwardRecord{Cost: ce.cost}, nameLearner(ce.err, l.ref, id)
	}
	if err != nil {
		return AwardRecord{}, nameLearner(err, l.ref, id)
	}
	rec := res.(AwardRecord)
	rec.Learner = id
	return rec, nil
}

// Awards lists a learner's awards in the order of their programmes' ids
// and versions, each with its flags, as of one durable read.
func (b *Bank) Awards(learner string) ([]AwardRecord, error) {
	id := CanonicalLearnerID(learner)
	out := []AwardRecord{}
	err := b.read(func(_ *ledger.Reader, s store) error {
		l, err := b.readLearner(s, id)
		if err != nil {
			return err
		}
		var keys []string
		if err := s.scan("awardp/"+l.ref+"/", func(k string) bool { keys = append(keys, k); return true }); err != nil {
			return err
		}
		for _, k := range keys {
			v, err := s.get(k)
			if err != nil {
				return err
			}
			seq, err := strconv.ParseUint(string(v), 10, 64)
			if err != nil {
				return fmt.Errorf("state %s: %w", k, err)
			}
			rec, err := getJSON[AwardRecord](s, awardKey(seq))
			if err != nil {
				return err
			}
			if rec == nil {
				return fmt.Errorf("state %s names award %d, which has no state", k, seq)
			}
			rec.Learner = id
			out = append(out, *rec)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// recheckAward re-runs the audit of an award.recorded entry on the state
// just before it and describes how the entry differs, or "".
func (r *Replayer) recheckAward(e ledger.Entry) string {
	var a Award
	if err := json.Unmarshal(e.Content, &a); err != nil {
		return err.Error()
	}
	if day := e.RecordedAt.UTC().Format(dateLayout); a.On != day || a.Size != e.Seq {
		return fmt.Sprintf("dated %s at size %d but recorded on %s as entry %d", a.On, a.Size, day, e.Seq)
	}
	p, err := loadProgramme(r.state, a.Programme.ID, 0)
	if err != nil || p == nil || p.Version != a.Programme.Version {
		return fmt.Sprintf("names programme %s version %d, which was not its latest version", a.Programme.ID, a.Programme.Version)
	}
	if v, _ := r.state.get(awardProgrammeKey(a.Learner, a.Programme)); v != nil {
		return fmt.Sprintf("repeats the award of entry %s", v)
	}
	audit, err := auditLearner(r.state, replayJournal{r}, a.Learner, p, a.On, e.Seq)
	if err != nil {
		return err.Error()
	}
	if !audit.Eligible {
		return "awards a learner the audit finds not eligible: " + audit.Summary
	}
	if want := awardOf(&audit); !reflect.DeepEqual(a, want) {
		return fmt.Sprintf("records %s; the audit gives %s", describeAward(a), describeAward(want))
	}
	return ""
}

// describeAward writes what an award rested on, for a finding.
func describeAward(a Award) string {
	var b strings.Builder
	fmt.Fprintf(&b, "total %s", a.Total)
	for _, r := range a.Requirements {
		fmt.Fprintf(&b, ", %s %s", r.ID, r.Earned)
	}
	fmt.Fprintf(&b, " on outcomes %v and conversion items %v", a.Outcomes, a.Conversions)
	if len(a.Recognitions) > 0 {
		fmt.Fprintf(&b, " and recognition items %v", a.Recognitions)
	}
	return b.String()
}
