package accreditation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"creditbank/ledger"
	"creditbank/vault"
)

// Finding is a conversion, or a change of a conversion's items after a
// revocation, that the rules would not have made exactly so; Seq is its
// entry (the revocation's, for a change that is missing).
type Finding struct {
	Seq     uint64 `json:"seq"`
	Problem string `json:"problem"`
}

// Replayer rebuilds the bank's state from a journal, one entry at a time in
// seq order, and audits each conversion and each award (award.go) against
// the state just before it:
// the rule version it names, the outcomes it used, what they had been used
// for, and what the rule had already granted. It audits each revocation
// too: every conversion in force that used the outcome must have its item
// changed by an entry of its own right after it, as decideItemChange
// decides from the state just before that entry.
type Replayer struct {
	state    memStore
	findings []Finding
	next     uint64
	// revoking is the revocation just replayed, until an entry that is not
	// one of its changes follows.
	revoking *revoking
	// byLearner and units are what deciding reads of the journal beside
	// the state (replayJournal): each learner's outcomes in seq order, and
	// each outcome's unit code.
	byLearner map[string][]uint64
	units     map[uint64]string
	// scores reads the scores of sealed outcomes (erasure.go); sealed
	// lists the sealed outcomes, with the score once read; unread those
	// whose learner's key is gone; missed is set while a decision being
	// re-run reads the score of one.
	scores ScoreSource
	sealed map[uint64]*Amount
	unread map[uint64]bool
	missed bool
	// assumed is set when a conversion being re-run took unreadable
	// scores as the conversion used them (recheck).
	assumed bool
	erasure ErasureReport
}

// ScoreSource reads the score of sealed outcome seq (nil when it records
// none), with found false once the learner's key is gone. The bank's own
// replay reads it from its store (StoreScores); creditbank verify --data
// from the data folder's, and --url from the regulator's API.
type ScoreSource func(seq uint64) (score *Amount, found bool, err error)

// ErasureReport is what a replay saw of erasure (docs/contract.md section
// 11): what it could not re-run for want of an erased learner's key, and
// what no key protects.
type ErasureReport struct {
	// Erased counts the learner.erased entries.
	Erased int `json:"erased"`
	// NotRerunnable lists the conversions and conversion changes that
	// needed the score of an outcome whose learner's key is gone: they
	// are neither confirmed nor found wrong.
	NotRerunnable []uint64 `json:"not_rerunnable"`
	// SealedOutcomes counts outcomes whose personal members are sealed,
	// and SealedUnread those of them a re-run needed and could not read.
	SealedOutcomes int `json:"sealed_outcomes"`
	SealedUnread   int `json:"sealed_unread"`
	// PlaintextOutcomes counts outcomes recorded before sealing: they
	// hold the learner id, title and score in clear, and no erasure can
	// make them unreadable.
	PlaintextOutcomes int `json:"plaintext_outcomes"`
}

// SetScoreSource has the replayer read the scores of sealed outcomes
// from src, so that it can re-run conversions that depend on a score.
// Without one every such conversion is reported not re-runnable.
func (r *Replayer) SetScoreSource(src ScoreSource) { r.scores = src }

// Erasure reports what the replay so far saw of erasure.
func (r *Replayer) Erasure() ErasureReport {
	rep := r.erasure
	rep.NotRerunnable = slices.Clone(rep.NotRerunnable)
	rep.SealedUnread = len(r.unread)
	return rep
}

// replayJournal is the Replayer's journal so far.
type replayJournal struct{ r *Replayer }

// Index lists a learner's outcomes from start, the only index deciding a
// conversion reads.
func (j replayJournal) Index(name, value string, start uint64, fn func(uint64) bool) error {
	if name != IndexLearner {
		return fmt.Errorf("replay keeps no index %q", name)
	}
	for _, seq := range j.r.byLearner[value] {
		if seq >= start && !fn(seq) {
			break
		}
	}
	return nil
}

func (j replayJournal) score(seq uint64) (*Amount, error) {
	r := j.r
	sc, ok := r.sealed[seq]
	switch {
	case !ok:
		return nil, fmt.Errorf("entry %d is not a sealed outcome", seq)
	case r.unread[seq]:
		r.missed = true
		return nil, errErased
	case sc != nil:
		if sc == noScore {
			return nil, nil
		}
		return sc, nil
	}
	found := false
	if r.scores != nil {
		var err error
		if sc, found, err = r.scores(seq); err != nil {
			return nil, fmt.Errorf("score of outcome %d: %w", seq, err)
		}
	}
	if !found {
		r.unread[seq] = true
		r.missed = true
		return nil, errErased
	}
	if sc == nil {
		r.sealed[seq] = noScore
		return nil, nil
	}
	r.sealed[seq] = sc
	return sc, nil
}

// noScore marks a sealed outcome read and found to record no score.
var noScore = new(Amount)

func (j replayJournal) unitCode(seq uint64) (string, error) {
	code, ok := j.r.units[seq]
	if !ok {
		return "", fmt.Errorf("entry %d is not an outcome", seq)
	}
	return code, nil
}

// revoking is a revocation whose conversion changes are being replayed.
type revoking struct {
	seq, outcome uint64
	supersededBy *uint64
	// uses are the conversions that used the outcome and have not been
	// changed yet, in the order they used it; awards those that rested on
	// it and have not been flagged yet.
	uses   []uint64
	awards []uint64
	// cases are the recognition cases that granted credit for it and
	// have not had the item reversed yet.
	cases []uint64
}

// NewReplayer starts from the empty state.
func NewReplayer() *Replayer {
	return &Replayer{state: memStore{}, byLearner: map[string][]uint64{}, units: map[uint64]string{},
		sealed: map[uint64]*Amount{}, unread: map[uint64]bool{}}
}

// Apply audits (for conversions) and applies the next entry. An error means
// the journal cannot be applied at all (a gap, an unknown type, a reference
// to nothing); a conversion the rules would not grant is a Finding instead.
func (r *Replayer) Apply(e ledger.Entry) error {
	if e.Seq != r.next {
		return fmt.Errorf("entry %d follows entry %d", e.Seq, r.next-1)
	}
	r.next++
	if e.Type != TypeConversionAdjusted && e.Type != TypeConversionReversed && e.Type != TypeAwardFlagged &&
		e.Type != TypeRecognitionAdjusted && r.revoking != nil {
		r.findings = append(r.findings, r.revoking.left()...)
		r.revoking = nil
	}
	var problem string
	var err error
	r.missed, r.assumed = false, false
	switch e.Type {
	case TypeLearnerErased:
		r.erasure.Erased++
	case TypeConversionGranted:
		var c Conversion
		if err := json.Unmarshal(e.Content, &c); err != nil {
			return fmt.Errorf("entry %d: %w", e.Seq, err)
		}
		problem = r.recheck(e, c)
	case TypeOutcomeRecorded:
		err = r.noteOutcome(e)
	case TypeOutcomeRevoked:
		err = r.openRevocation(e)
	case TypeConversionAdjusted:
		problem, err = r.recheckAdjustment(e)
	case TypeConversionReversed:
		problem, err = r.matchReversal(e)
	case TypeAwardRecorded:
		problem = r.recheckAward(e)
	case TypeAwardFlagged:
		problem, err = r.matchFlag(e)
	case TypeRecognitionAdjusted:
		problem, err = r.matchRecognitionAdjustment(e)
	case TypeRecognitionApplied, TypeRecognitionReviewed, TypeRecognitionDecided, TypeRecognitionAppealed, TypeRecognitionAppealDecided:
		problem, err = r.recheckRecognition(e)
	}
	if err != nil {
		return fmt.Errorf("entry %d (%s): %w", e.Seq, e.Type, err)
	}
	if r.missed && (problem == "" || !r.assumed) {
		// The decision read a score no key opens any more: with the
		// scores taken as it took them it decides alike (or, for an item
		// change, cannot be re-run at all), so it is neither confirmed
		// nor found wrong.
		r.erasure.NotRerunnable = append(r.erasure.NotRerunnable, e.Seq)
		problem = ""
	}
	if problem != "" {
		r.findings = append(r.findings, Finding{Seq: e.Seq, Problem: problem})
	}
	if err := apply(r.state, e); err != nil {
		return fmt.Errorf("entry %d (%s): %w", e.Seq, e.Type, err)
	}
	return nil
}

// recheck re-runs a conversion and describes how it differs, or "".
func (r *Replayer) recheck(e ledger.Entry, c Conversion) string {
	if day := e.RecordedAt.UTC().Format(dateLayout); c.On != day {
		return fmt.Sprintf("dated %s but recorded on %s", c.On, day)
	}
	rule, err := getJSON[Rule](r.state, ruleVersionKey(c.Rule.ID, c.Rule.Version))
	if err != nil || rule == nil {
		return fmt.Sprintf("names rule %s version %d, which was not published before it", c.Rule.ID, c.Rule.Version)
	}
	head, _ := getJSON[ruleHead](r.state, ruleKey(c.Rule.ID))
	switch {
	case head.Latest != c.Rule.Version:
		return fmt.Sprintf("used rule %s version %d while version %d was in force", c.Rule.ID, c.Rule.Version, head.Latest)
	case head.Retired:
		return fmt.Sprintf("used rule %s after it was retired", c.Rule.ID)
	case rule.Target != c.Target:
		return fmt.Sprintf("target %s differs from the rule's %s", c.Target, rule.Target)
	}
	if err := rule.validOn(c.On); err != nil {
		return err.(*Error).Detail
	}
	seqs := make([]uint64, len(c.Items))
	for i, it := range c.Items {
		seqs[i] = it.Outcome
	}
	if c.Contract >= contractV2 {
		if err := targetSuspended(r.state, rule.Target); err != nil {
			return fmt.Sprintf("converts toward %s while %v", rule.Target, err)
		}
	}
	cands, err := candidates(r.state, replayJournal{r}, c.Learner, rule.Target, c.On, seqs, c.Contract, rule.Source.MinScore != nil)
	if err != nil {
		return err.Error()
	}
	// A score no key opens any more is taken as the conversion took it:
	// passing for an outcome it used. Everything else is re-run as it
	// stands, so that a conversion wrong in any other way is still found.
	for i := range cands {
		if cands[i].ScoreUnreadable && slices.Contains(seqs, cands[i].Seq) {
			cands[i].Score, r.assumed = rule.Source.MinScore, true
		}
	}
	already, err := getAmount(r.state, grantedKey(c.Learner, rule.ID))
	if err != nil {
		return err.Error()
	}
	budget, err := newProgrammeBudget(r.state, replayJournal{r}, c.Learner, rule.Target, c.On, cands)
	if err != nil {
		return err.Error()
	}
	d := evaluate(*rule, c.On, cands, already, budget)
	if len(d.Ineligible) > 0 {
		return fmt.Sprintf("used outcome %d, which was not eligible (%s)", d.Ineligible[0].Outcome, d.Ineligible[0].Reason)
	}
	for i, it := range c.Items {
		if it != d.Items[i] {
			return fmt.Sprintf("item %d (outcome %d) records %s of %s standard credits granted; the rule gives %s of %s",
				i, it.Outcome, it.Granted, it.StandardCredits, d.Items[i].Granted, d.Items[i].StandardCredits)
		}
	}
	if c.Granted != d.Granted || c.Capped != d.Capped {
		return fmt.Sprintf("records %s granted (capped %t); the rule gives %s (capped %t)", c.Granted, c.Capped, d.Granted, d.Capped)
	}
	return ""
}

// Findings lists the conversions and conversion changes found wrong so far,
// with the changes a revocation at the end of the journal left out.
func (r *Replayer) Findings() []Finding {
	out := slices.Clone(r.findings)
	if r.revoking != nil {
		out = append(out, r.revoking.left()...)
	}
	return out
}

// State returns the state rebuilt so far, key by key as the bank stores it.
func (r *Replayer) State() map[string][]byte { return maps.Clone(r.state) }

// Audit replays the bank's whole durable journal and returns what the
// replay found wrong. The error is for a journal that cannot be replayed.
func (b *Bank) Audit(ctx context.Context) ([]Finding, error) {
	rp, err := b.Replay(ctx)
	if err != nil {
		return nil, err
	}
	return rp.Findings(), nil
}

// Replay applies the bank's whole durable journal, as of one tree size, to a
// new Replayer and returns it.
func (b *Bank) Replay(ctx context.Context) (*Replayer, error) {
	rp := NewReplayer()
	err := b.l.Read(func(r *ledger.Reader) error {
		rp.SetScoreSource(StoreScores(r, b.keys))
		for seq := uint64(0); seq < r.Size(); seq++ {
			if seq%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			raw, err := r.Entry(seq)
			if err != nil {
				return err
			}
			e, err := ledger.ParseEntry(raw)
			if err != nil {
				return fmt.Errorf("entry %d: %w", seq, err)
			}
			if err := rp.Apply(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rp, nil
}

// State returns the bank's durable state key by key, to compare with a
// replay: all of it but the vault's keys (erasure.go).
func (b *Bank) State() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := b.l.Read(func(r *ledger.Reader) error {
		return r.Scan(nil, nil, func(k, v []byte) bool {
			if !isVaultKey(string(k)) { // derived from no entry
				out[string(k)] = append([]byte(nil), v...)
			}
			return true
		})
	})
	return out, err
}

// openRevocation notes which conversions in force used the outcome that
// entry e revokes: the entries right after it must change each.
func (r *Replayer) openRevocation(e ledger.Entry) error {
	var rev Revocation
	if err := json.Unmarshal(e.Content, &rev); err != nil {
		return err
	}
	st, err := getJSON[outcomeState](r.state, outKey(rev.Outcome))
	if err != nil || st == nil {
		return err // apply names an unknown outcome
	}
	rv := &revoking{seq: e.Seq, outcome: rev.Outcome, supersededBy: rev.SupersededBy}
	for _, u := range st.UsedBy {
		if u.Recognition {
			rv.cases = append(rv.cases, u.Conversion)
		} else {
			rv.uses = append(rv.uses, u.Conversion)
		}
	}
	resting, err := getJSON[restingAwards](r.state, awardRestKey(rev.Outcome))
	if err != nil {
		return err
	}
	if resting != nil {
		rv.awards = slices.Clone(resting.Awards)
	}
	r.revoking = rv
	return nil
}

// matchFlag checks an award.flagged entry: it must flag an award that
// rested on the outcome the revocation just before revoked, once.
func (r *Replayer) matchFlag(e ledger.Entry) (string, error) {
	var f AwardFlagged
	if err := json.Unmarshal(e.Content, &f); err != nil {
		return "", err
	}
	if rv := r.revoking; rv != nil && f.Outcome == rv.outcome {
		if i := slices.Index(rv.awards, f.Award); i >= 0 {
			rv.awards = slices.Delete(rv.awards, i, i+1)
			return "", nil
		}
	}
	return fmt.Sprintf("flags award %d for outcome %d, which the entry before did not revoke from under it", f.Award, f.Outcome), nil
}

// left describes the conversions a revocation left in force unchanged.
func (rv *revoking) left() []Finding {
	var out []Finding
	for _, c := range rv.uses {
		out = append(out, Finding{Seq: rv.seq, Problem: fmt.Sprintf("revokes outcome %d but leaves conversion %d, which used it, unchanged", rv.outcome, c)})
	}
	for _, c := range rv.cases {
		out = append(out, Finding{Seq: rv.seq, Problem: fmt.Sprintf("revokes outcome %d but leaves the item of recognition case %s, which granted credit for it, in force", rv.outcome, RecognitionID(c))})
	}
	for _, a := range rv.awards {
		out = append(out, Finding{Seq: rv.seq, Problem: fmt.Sprintf("revokes outcome %d but does not flag award %d, which rested on it", rv.outcome, a)})
	}
	return out
}

// take removes conversion c from the revocation's pending changes, reporting
// whether it was the next one due.
func (rv *revoking) take(c uint64) (next, found bool) {
	i := slices.Index(rv.uses, c)
	if i < 0 {
		return false, false
	}
	rv.uses = slices.Delete(rv.uses, i, i+1)
	return i == 0, true
}

// recheckAdjustment re-decides a conversion.adjusted entry from the state
// just before it and describes how the entry differs, or "".
func (r *Replayer) recheckAdjustment(e ledger.Entry) (string, error) {
	var a Adjustment
	if err := json.Unmarshal(e.Content, &a); err != nil {
		return "", err
	}
	rv := r.revoking
	if rv == nil || a.Outcome != rv.outcome {
		return fmt.Sprintf("changes conversion %d for outcome %d, which the entry before did not revoke", a.Conversion, a.Outcome), nil
	}
	if next, found := rv.take(a.Conversion); !found {
		return fmt.Sprintf("changes conversion %d, which did not use outcome %d", a.Conversion, a.Outcome), nil
	} else if !next {
		return fmt.Sprintf("changes conversion %d out of the order the conversions used outcome %d", a.Conversion, a.Outcome), nil
	}
	cs, err := getJSON[conversionState](r.state, convKey(a.Conversion))
	if err != nil || cs == nil {
		return "", err // apply names an unknown conversion
	}
	if a.Learner != cs.Learner || a.Rule != cs.Rule || a.Target != cs.Target {
		return fmt.Sprintf("names learner %s, rule %s version %d, target %s; conversion %d is of %s, %s version %d, %s",
			a.Learner, a.Rule.ID, a.Rule.Version, a.Target, a.Conversion, cs.Learner, cs.Rule.ID, cs.Rule.Version, cs.Target), nil
	}
	want, err := decideItemChange(r.state, replayJournal{r}, cs, a.Outcome, rv.supersededBy)
	if err != nil {
		return err.Error(), nil
	}
	if len(a.Items) != 1 || !reflect.DeepEqual(a.Items[0], want) {
		return fmt.Sprintf("records item changes %s; the rules give %s", describeChanges(a.Items), describeChanges([]ItemChange{want})), nil
	}
	return "", nil
}

// describeChanges writes item changes for a finding.
func describeChanges(chs []ItemChange) string {
	var b strings.Builder
	for i, ch := range chs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "outcome %d %s (%s of %s standard credits)", ch.Outcome, ch.Action, ch.Granted, ch.StandardCredits)
		if ch.To != nil {
			fmt.Fprintf(&b, " to outcome %d granting %s of %s", ch.To.Outcome, ch.To.Granted, ch.To.StandardCredits)
		}
		if ch.NotEligible != "" {
			fmt.Fprintf(&b, " as the superseding outcome is not eligible (%s)", ch.NotEligible)
		}
	}
	if len(chs) == 0 {
		b.WriteString("none")
	}
	return b.String()
}

// matchReversal checks a conversion.reversed entry, the whole-conversion
// reversal of ledgers written before items were changed one by one: it
// must reverse a conversion that used the outcome revoked just before.
func (r *Replayer) matchReversal(e ledger.Entry) (string, error) {
	var rev Reversal
	if err := json.Unmarshal(e.Content, &rev); err != nil {
		return "", err
	}
	if rv := r.revoking; rv != nil && rev.Outcome == rv.outcome {
		if _, found := rv.take(rev.Conversion); found {
			return "", nil
		}
	}
	return fmt.Sprintf("reverses conversion %d for outcome %d, which the entry before did not revoke from it", rev.Conversion, rev.Outcome), nil
}

// noteOutcome keeps what deciding reads of an outcome entry beside the
// state: its learner's list of outcomes, its unit code and, for a sealed
// outcome, its score when the learner's key opens it.
func (r *Replayer) noteOutcome(e ledger.Entry) error {
	var o struct {
		Learner string `json:"learner"`
		Unit    Unit   `json:"unit"`
		Sealed  string `json:"sealed"`
	}
	if err := json.Unmarshal(e.Content, &o); err != nil {
		return err
	}
	r.byLearner[o.Learner] = append(r.byLearner[o.Learner], e.Seq)
	r.units[e.Seq] = o.Unit.Code
	if o.Sealed == "" {
		r.erasure.PlaintextOutcomes++
		return nil
	}
	r.erasure.SealedOutcomes++
	r.sealed[e.Seq] = nil
	return nil
}

// StoreScores reads the scores of sealed outcomes from the store read by
// r, whose learners' data keys are wrapped under keys: the bank's own
// (Bank.Replay), or a data folder's opened for creditbank verify --data.
func StoreScores(r *ledger.Reader, keys *vault.Keys) ScoreSource {
	s := readerStore{r}
	return func(seq uint64) (*Amount, bool, error) {
		sc, err := sealedScore(r.Entry, s, keys, seq)
		if errors.Is(err, errErased) {
			return nil, false, nil
		}
		return sc, err == nil, err
	}
}
