package accreditation

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"creditbank/ledger"
	"creditbank/vault"
)

// Recognition of prior learning (docs/contract.md section 13): for what no
// rule covers, a learner applies to a programme's institution with
// outcomes of their own and evidence; the institution's assessors review
// the case, then decide it, granting an amount per outcome (at most its
// standard credits) or refusing, with reasons; the learner may appeal once,
// within AppealDays days of the decision; a regulator decides the appeal,
// and an appeal granted replaces the decision's grants. Every step is an
// entry, in that order, dated by the sequencer's view as every other date.
//
// What a case grants counts toward the programme as conversion items do:
// the outcome's uses name the case (conversionUse.Recognition), the award
// audit counts each item in force (source "recognition"), and a decision
// grants no more than the programme's limits leave, as a conversion does
// (programmelimit.go); recognised credit counts in max_converted_share and
// max_per_institution with converted credit. Revoking an outcome a case
// granted credit for reverses that item by a recognition.adjusted entry
// right after the revocation, as conversion items are.
//
// The statement, the evidence hashes, the reviewers' comments and the
// reasons of decisions are the learner's personal data: each entry holds
// them only sealed under the learner's data key (erasure.go), so that an
// erasure leaves a case's steps and amounts readable and its words not.

// Entry types of recognition cases.
const (
	TypeRecognitionApplied       = "recognition.applied"
	TypeRecognitionReviewed      = "recognition.reviewed"
	TypeRecognitionDecided       = "recognition.decided"
	TypeRecognitionAppealed      = "recognition.appealed"
	TypeRecognitionAppealDecided = "recognition.appeal_decided"
	// TypeRecognitionAdjusted reverses the items of a case that used an
	// outcome revoked.
	TypeRecognitionAdjusted = "recognition.adjusted"
)

// IndexRecognition lists a case's entries by its id.
const IndexRecognition = "recognition"

// SourceRecognition is the source of an audit item a case granted.
const SourceRecognition = "recognition"

// Decisions of a case and of its appeal.
const (
	DecisionGranted = "granted"
	DecisionRefused = "refused"
)

// Statuses of a case.
const (
	CaseApplied          = "applied"
	CaseUnderReview      = "under_review"
	CaseGranted          = "granted"
	CaseRefused          = "refused"
	CaseAppealed         = "appealed"
	CaseGrantedOnAppeal  = "granted_on_appeal"
	CaseRefusedOnAppeal  = "refused_on_appeal"
	recognitionSealField = "recognition.personal"
)

// Bounds of a case.
const (
	// AppealDays is how many days after a decision the learner may
	// appeal it.
	AppealDays = 30
	// MaxRecognitionOutcomes bounds the outcomes of one case, and
	// MaxRecognitionEvidence its evidence hashes.
	MaxRecognitionOutcomes = 50
	MaxRecognitionEvidence = 20
	// MaxRecognitionText bounds a statement, a comment and reasons.
	MaxRecognitionText = 2000
)

// RecognitionID is the id of the case opened by entry seq: "r" and the seq
// in decimal, as grants are named (GrantID).
func RecognitionID(seq uint64) string { return "r" + strconv.FormatUint(seq, 10) }

// ParseRecognitionID returns the seq of a case id, or false for a string
// that no case can have.
func ParseRecognitionID(id string) (uint64, bool) {
	digits, ok := strings.CutPrefix(id, "r")
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 63)
	if err != nil || strconv.FormatUint(seq, 10) != digits {
		return 0, false
	}
	return seq, true
}

type (
	// RecognitionApplication is what a learner applies with.
	RecognitionApplication struct {
		Learner   string   `json:"-"`
		Target    Target   `json:"target"`
		Outcomes  []uint64 `json:"outcomes"`
		Evidence  []string `json:"evidence_sha256"`
		Statement string   `json:"statement"`
	}
	// RecognitionGrant is an amount an assessor grants for an outcome.
	RecognitionGrant struct {
		Outcome uint64 `json:"outcome"`
		Amount  Amount `json:"amount"`
	}
	// RecognitionDecision is a decision of a case or of its appeal:
	// granted with amounts per outcome, or refused; with reasons either
	// way.
	RecognitionDecision struct {
		Decision string             `json:"decision"`
		Items    []RecognitionGrant `json:"items"`
		Reasons  string             `json:"reasons"`
	}
	// RecognitionItem is an outcome a decision granted credit for: what
	// the assessor asked, and what the programme's limits let it grant,
	// naming the limit that cut it.
	RecognitionItem struct {
		Outcome         uint64 `json:"outcome"`
		StandardCredits Amount `json:"standard_credits"`
		Requested       Amount `json:"requested"`
		Granted         Amount `json:"granted"`
		Limit           string `json:"limit,omitempty"`
	}
	// RecognitionApplied is the content of recognition.applied: the
	// learner by reference, the programme version applied to, and the
	// statement and evidence sealed.
	RecognitionApplied struct {
		Learner   string       `json:"learner"`
		Target    Target       `json:"target"`
		Programme ProgrammeRef `json:"programme"`
		Outcomes  []uint64     `json:"outcomes"`
		On        string       `json:"on"`
		Sealed    string       `json:"sealed"`
	}
	// RecognitionStep is the content of the entries of a case's later
	// steps: reviewed, decided, appealed, appeal_decided. Decision, Items
	// and Granted are a decision's; the words are sealed.
	RecognitionStep struct {
		Case     uint64            `json:"case"`
		Learner  string            `json:"learner"`
		Target   Target            `json:"target"`
		On       string            `json:"on"`
		Decision string            `json:"decision,omitempty"`
		Items    []RecognitionItem `json:"items,omitempty"`
		Granted  *Amount           `json:"granted,omitempty"`
		Sealed   string            `json:"sealed"`
	}
	// RecognitionAdjusted is the content of recognition.adjusted: the
	// items of a case reversed because their outcome was revoked.
	RecognitionAdjusted struct {
		Case    uint64       `json:"case"`
		Learner string       `json:"learner"`
		Target  Target       `json:"target"`
		Outcome uint64       `json:"outcome"`
		Reason  string       `json:"reason"`
		Items   []ItemChange `json:"items"`
	}
	// recognitionWords is the plaintext of a step's sealed member.
	recognitionWords struct {
		Statement string   `json:"statement,omitempty"`
		Evidence  []string `json:"evidence_sha256,omitempty"`
		Comment   string   `json:"comment,omitempty"`
		Reasons   string   `json:"reasons,omitempty"`
	}
)

// caseDecision is a decision as the case keeps it.
type caseDecision struct {
	Seq      uint64            `json:"seq"`
	On       string            `json:"on"`
	Decision string            `json:"decision"`
	Items    []RecognitionItem `json:"items"`
	Granted  Amount            `json:"granted"`
}

// caseState is a case as the bank keeps it, at rcase/<seq>.
type caseState struct {
	Seq       uint64       `json:"seq"`
	Learner   string       `json:"learner"`
	Target    Target       `json:"target"`
	Programme ProgrammeRef `json:"programme"`
	Outcomes  []uint64     `json:"outcomes"`
	On        string       `json:"on"`
	// Steps are the case's entries in order, the application's first.
	Steps          []uint64      `json:"steps"`
	Reviews        []uint64      `json:"reviews"`
	Decision       *caseDecision `json:"decision,omitempty"`
	Appeal         *uint64       `json:"appeal,omitempty"`
	AppealOn       string        `json:"appeal_on,omitempty"`
	AppealDecision *caseDecision `json:"appeal_decision,omitempty"`
	// InForce are the items granted and not reversed, and Adjusted the
	// recognition.adjusted entries that reversed some.
	InForce  []RecognitionItem `json:"in_force"`
	Adjusted []uint64          `json:"adjusted,omitempty"`
}

func caseKey(seq uint64) string { return hexKey("rcase/", seq) }

func loadCase(s store, seq uint64) (*caseState, error) { return getJSON[caseState](s, caseKey(seq)) }

// status is the case's status.
func (cs *caseState) status() string {
	switch {
	case cs.AppealDecision != nil && cs.AppealDecision.Decision == DecisionGranted:
		return CaseGrantedOnAppeal
	case cs.AppealDecision != nil:
		return CaseRefusedOnAppeal
	case cs.Appeal != nil:
		return CaseAppealed
	case cs.Decision != nil && cs.Decision.Decision == DecisionGranted:
		return CaseGranted
	case cs.Decision != nil:
		return CaseRefused
	case len(cs.Reviews) > 0:
		return CaseUnderReview
	}
	return CaseApplied
}

// Validate checks an application's own form.
func (a *RecognitionApplication) Validate() error {
	if err := checkLearnerID("learner", a.Learner); err != nil {
		return err
	}
	a.Learner = CanonicalLearnerID(a.Learner)
	if err := checkPattern("target.institution", a.Target.Institution, institutionIDPattern); err != nil {
		return err
	}
	if err := checkPattern("target.programme", a.Target.Programme, programmePattern); err != nil {
		return err
	}
	if len(a.Outcomes) < 1 || len(a.Outcomes) > MaxRecognitionOutcomes {
		return errorf(CodeInvalid, "a case names 1 to %d outcomes", MaxRecognitionOutcomes)
	}
	for i, seq := range a.Outcomes {
		if slices.Contains(a.Outcomes[:i], seq) {
			return errorf(CodeInvalid, "outcome %d is named twice", seq)
		}
	}
	if len(a.Evidence) > MaxRecognitionEvidence {
		return errorf(CodeInvalid, "a case carries at most %d evidence hashes", MaxRecognitionEvidence)
	}
	for i, h := range a.Evidence {
		if err := checkPattern("evidence_sha256", h, sha256Pattern); err != nil {
			return err
		}
		if slices.Contains(a.Evidence[:i], h) {
			return errorf(CodeInvalid, "evidence_sha256 %s is listed twice", h)
		}
	}
	return checkText("statement", a.Statement, MaxRecognitionText)
}

// Validate checks a decision's own form: granted with 1 to
// MaxRecognitionOutcomes distinct outcomes, each an amount above 0, or
// refused with none; reasons either way.
func (d RecognitionDecision) Validate() error {
	switch d.Decision {
	case DecisionGranted:
		if len(d.Items) < 1 || len(d.Items) > MaxRecognitionOutcomes {
			return errorf(CodeInvalid, "a granted decision names 1 to %d items", MaxRecognitionOutcomes)
		}
	case DecisionRefused:
		if len(d.Items) > 0 {
			return errorf(CodeInvalid, "a refused decision grants no items")
		}
	default:
		return errorf(CodeInvalid, "decision must be %q or %q", DecisionGranted, DecisionRefused)
	}
	for i, it := range d.Items {
		if it.Amount <= 0 || it.Amount > MaxOutcomeCredits {
			return errorf(CodeInvalid, "items[%d].amount must be above 0 and at most %s", i, MaxOutcomeCredits)
		}
		if slices.ContainsFunc(d.Items[:i], func(o RecognitionGrant) bool { return o.Outcome == it.Outcome }) {
			return errorf(CodeInvalid, "outcome %d is named twice", it.Outcome)
		}
	}
	return checkText("reasons", d.Reasons, MaxRecognitionText)
}

// sealWords seals a step's words under the learner's data key for entry
// seq.
func sealWords(w recognitionWords, dk vault.DataKey, nonce [24]byte, seq uint64) (string, error) {
	plain, err := json.Marshal(w)
	if err != nil {
		return "", err
	}
	sealed := vault.AppendSeal(nil, dk, nonce, seq, recognitionSealField, plain)
	return base64.StdEncoding.EncodeToString(sealed), nil
}

// openWords opens a step's sealed words.
func openWords(sealed string, dk vault.DataKey, seq uint64) (recognitionWords, error) {
	var w recognitionWords
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return w, fmt.Errorf("recognition entry %d: sealed member: %w", seq, err)
	}
	plain, err := vault.OpenSealed(dk, seq, recognitionSealField, raw)
	if err != nil {
		return w, fmt.Errorf("recognition entry %d: %w", seq, err)
	}
	err = json.Unmarshal(plain, &w)
	return w, err
}

// newNonce draws a nonce for sealing, before the sequencer.
func newNonce() ([24]byte, error) {
	var n [24]byte
	_, err := rand.Read(n[:])
	return n, err
}

// recognitionIndex lists a step under its learner, its case and the
// target institution.
func recognitionIndex(learner string, caseSeq uint64, inst string) []ledger.IndexKey {
	return []ledger.IndexKey{learnerIndex(learner), {Name: IndexRecognition, Value: RecognitionID(caseSeq)}, institutionIndex(inst)}
}

type applyRecognitionCmd struct {
	Actor Actor
	App   RecognitionApplication
	// Learner is the learner as a durable read found them.
	Learner resolvedLearner
	Nonce   [24]byte
}

func (c applyRecognitionCmd) decide(t *tx) (any, error) {
	ref := c.Learner.ref
	if err := checkNotErased(t, ref); err != nil {
		return nil, err
	}
	if c.Learner.key == (vault.DataKey{}) {
		return nil, errorf(CodeInvalid, "learner %s has no outcomes in the bank", ref)
	}
	in, err := t.institution(c.App.Target.Institution)
	if err != nil {
		return nil, errorf(CodeInvalid, "target.institution: %v", err)
	}
	if in.Suspension != nil {
		return nil, errorf(CodeInstitutionSuspended, "institution %s is suspended: %s", in.ID, in.Suspension.Reason)
	}
	p, err := programmeOf(t, c.App.Target)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, errorf(CodeInvalid, "target: %s is no programme of %s", c.App.Target.Programme, c.App.Target.Institution)
	}
	if !p.validOn(t.date()) {
		return nil, errorf(CodeInvalid, "programme %s version %d is not valid on %s", p.ID, p.Version, t.date())
	}
	for _, seq := range c.App.Outcomes {
		st, err := getJSON[outcomeState](t, outKey(seq))
		if err != nil {
			return nil, err
		}
		if st == nil || st.Learner != ref || st.Revoked {
			return nil, errorf(CodeInvalid, "outcome %d is not an outcome of learner %s in force", seq, ref)
		}
	}
	seq := t.nextSeq()
	sealed, err := sealWords(recognitionWords{Statement: c.App.Statement, Evidence: c.App.Evidence}, c.Learner.key, c.Nonce, seq)
	if err != nil {
		return nil, err
	}
	content := RecognitionApplied{Learner: ref, Target: c.App.Target, Programme: p.Ref(), Outcomes: c.App.Outcomes, On: t.date(), Sealed: sealed}
	if _, err := t.emit(TypeRecognitionApplied, c.Actor, content, recognitionIndex(ref, seq, in.ID), nil); err != nil {
		return nil, err
	}
	return seq, nil
}

// caseStepCmd is a later step of a case: a review, a decision, an appeal
// or the appeal's decision.
type caseStepCmd struct {
	Actor Actor
	Case  uint64
	Type  string
	// Words are the step's words, Decision the decision of a decided or
	// appeal_decided step.
	Words    recognitionWords
	Decision RecognitionDecision
	Nonce    [24]byte
}

func (c caseStepCmd) decide(t *tx) (any, error) {
	cs, err := loadCase(t, c.Case)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return nil, errorf(CodeNotFound, "no recognition case %s", RecognitionID(c.Case))
	}
	if err := checkNotErased(t, cs.Learner); err != nil {
		return nil, err
	}
	if err := c.mayAct(cs); err != nil {
		return nil, err
	}
	if err := stepAllowed(cs, c.Type, t.date()); err != nil {
		return nil, err
	}
	step := RecognitionStep{Case: c.Case, Learner: cs.Learner, Target: cs.Target, On: t.date()}
	if c.Type == TypeRecognitionDecided || c.Type == TypeRecognitionAppealDecided {
		step.Decision = c.Decision.Decision
		if c.Decision.Decision == DecisionGranted {
			items, err := decideGrants(t, txJournal{t}, cs, c.Decision.Items, t.date())
			if err != nil {
				return nil, err
			}
			var total Amount
			for _, it := range items {
				total += it.Granted
			}
			step.Items, step.Granted = items, &total
		}
	}
	dk, err := unwrapRecord(t, t.keys, cs.Learner)
	if err != nil {
		return nil, err
	}
	seq := t.nextSeq()
	if step.Sealed, err = sealWords(c.Words, dk, c.Nonce, seq); err != nil {
		return nil, err
	}
	if _, err := t.emit(c.Type, c.Actor, step, recognitionIndex(cs.Learner, c.Case, cs.Target.Institution), nil); err != nil {
		return nil, err
	}
	return seq, nil
}

// mayAct checks who takes the step: the target institution reviews and
// decides, the learner appeals, a regulator decides the appeal.
func (c caseStepCmd) mayAct(cs *caseState) error {
	switch c.Type {
	case TypeRecognitionReviewed, TypeRecognitionDecided:
		if c.Actor.Role != RoleInstitution || c.Actor.ID != cs.Target.Institution {
			return errorf(CodeForbidden, "only %s, the case's target institution, reviews and decides it", cs.Target.Institution)
		}
	case TypeRecognitionAppealed:
		if c.Actor.Role != RoleLearner || c.Actor.ID != cs.Learner {
			return errorf(CodeForbidden, "only the learner appeals a decision of their case")
		}
	case TypeRecognitionAppealDecided:
		if c.Actor.Role != RoleRegulator {
			return errorf(CodeForbidden, "only a regulator decides an appeal")
		}
	}
	return nil
}

// stepAllowed says whether a step of type typ may follow the case's steps
// on date: reviews before a decision, a decision after at least one
// review, one appeal within AppealDays days of the decision, and one
// decision of it. It is the order the Replayer checks too.
func stepAllowed(cs *caseState, typ, date string) error {
	id := RecognitionID(cs.Seq)
	switch typ {
	case TypeRecognitionReviewed:
		if cs.Decision != nil {
			return errorf(CodeConflict, "case %s was decided by entry %d: reviews come before the decision", id, cs.Decision.Seq)
		}
	case TypeRecognitionDecided:
		switch {
		case cs.Decision != nil:
			return errorf(CodeConflict, "case %s was decided by entry %d already", id, cs.Decision.Seq)
		case len(cs.Reviews) == 0:
			return errorf(CodeConflict, "case %s has no review yet: a decision follows at least one review", id)
		}
	case TypeRecognitionAppealed:
		switch {
		case cs.Decision == nil:
			return errorf(CodeConflict, "case %s is not decided: there is nothing to appeal", id)
		case cs.Appeal != nil:
			return errorf(CodeConflict, "case %s was appealed by entry %d: a case is appealed once", id, *cs.Appeal)
		case daysBetween(cs.Decision.On, date) > AppealDays:
			return errorf(CodeConflict, "case %s was decided on %s: an appeal comes within %d days, by %s", id, cs.Decision.On, AppealDays, addDays(cs.Decision.On, AppealDays))
		}
	case TypeRecognitionAppealDecided:
		switch {
		case cs.Appeal == nil:
			return errorf(CodeConflict, "case %s is not appealed: there is no appeal to decide", id)
		case cs.AppealDecision != nil:
			return errorf(CodeConflict, "the appeal of case %s was decided by entry %d already", id, cs.AppealDecision.Seq)
		}
	default:
		return fmt.Errorf("no step %q", typ)
	}
	return nil
}

// addDays is date plus n days.
func addDays(date string, n int) string {
	d, err := parseDate("date", date)
	if err != nil {
		return date
	}
	return d.AddDate(0, 0, n).Format(dateLayout)
}

// decideGrants decides what a granted decision of case cs grants on date:
// each outcome must be one of the case's, in force, and granted at most its
// standard credits; the programme's limits then cut each amount as they cut
// a conversion's items, counting what already counts toward the programme
// but the case's own items (which a decision of the appeal replaces). A
// decision that the limits cut to nothing is refused (CodeNotEligible,
// reason programme_limit). It is a function of the state, so the Replayer
// re-runs it.
func decideGrants(s store, j journal, cs *caseState, grants []RecognitionGrant, date string) ([]RecognitionItem, error) {
	p, err := programmeOf(s, cs.Target)
	if err != nil {
		return nil, err
	}
	if p == nil || !p.validOn(date) {
		return nil, errorf(CodeInvalid, "the case's programme %s is not valid on %s", cs.Target, date)
	}
	seqs := make([]uint64, len(grants))
	for i, g := range grants {
		if !slices.Contains(cs.Outcomes, g.Outcome) {
			return nil, errorf(CodeInvalid, "outcome %d is not one of case %s's", g.Outcome, RecognitionID(cs.Seq))
		}
		seqs[i] = g.Outcome
	}
	cands, err := candidates(s, j, cs.Learner, cs.Target, date, seqs, contractV2, false)
	if err != nil {
		return nil, err
	}
	items, err := collectAuditItems(s, j, cs.Learner, p, date)
	if err != nil {
		return nil, err
	}
	items = slices.DeleteFunc(items, func(it AuditItem) bool { return it.caseSeq == cs.Seq })
	budget, err := budgetOf(j, p, date, items, cands)
	if err != nil {
		return nil, err
	}
	out := make([]RecognitionItem, len(grants))
	var total Amount
	var limited []Ineligible
	for i, g := range grants {
		c := &cands[i]
		switch {
		case !c.Found || c.Revoked:
			return nil, errorf(CodeConflict, "outcome %d is not in force", g.Outcome)
		case g.Amount > c.StandardCredits:
			return nil, errorf(CodeInvalid, "outcome %d is worth %s standard credits: it cannot be granted %s", g.Outcome, c.StandardCredits, g.Amount)
		}
		granted, limit := budget.limit(c, g.Amount)
		if granted > 0 {
			budget.take(c, granted)
		} else {
			limited = append(limited, Ineligible{Outcome: g.Outcome, Reason: ReasonProgrammeLimit})
		}
		out[i] = RecognitionItem{Outcome: g.Outcome, StandardCredits: c.StandardCredits, Requested: g.Amount, Granted: granted, Limit: limit}
		total += granted
	}
	if total == 0 {
		e := errorf(CodeNotEligible, "the limits of programme %s version %d let case %s grant nothing", p.ID, p.Version, RecognitionID(cs.Seq))
		e.Reasons, e.ReasonsOmitted = boundReasons(limited)
		return nil, e
	}
	return out, nil
}

// applyRecognition applies the entries of cases.
func applyRecognition(s store, e ledger.Entry) error {
	switch e.Type {
	case TypeRecognitionApplied:
		var a RecognitionApplied
		if err := json.Unmarshal(e.Content, &a); err != nil {
			return err
		}
		return putJSON(s, caseKey(e.Seq), caseState{Seq: e.Seq, Learner: a.Learner, Target: a.Target, Programme: a.Programme,
			Outcomes: a.Outcomes, On: a.On, Steps: []uint64{e.Seq}, Reviews: []uint64{}, InForce: []RecognitionItem{}})
	case TypeRecognitionAdjusted:
		var a RecognitionAdjusted
		if err := json.Unmarshal(e.Content, &a); err != nil {
			return err
		}
		return applyRecognitionAdjustment(s, e.Seq, a)
	}
	var st RecognitionStep
	if err := json.Unmarshal(e.Content, &st); err != nil {
		return err
	}
	cs, err := loadCase(s, st.Case)
	if err != nil {
		return err
	}
	if cs == nil {
		return fmt.Errorf("%s of unknown case %d", e.Type, st.Case)
	}
	cs.Steps = append(cs.Steps, e.Seq)
	switch e.Type {
	case TypeRecognitionReviewed:
		cs.Reviews = append(cs.Reviews, e.Seq)
	case TypeRecognitionAppealed:
		cs.Appeal, cs.AppealOn = &e.Seq, st.On
	case TypeRecognitionDecided, TypeRecognitionAppealDecided:
		d := &caseDecision{Seq: e.Seq, On: st.On, Decision: st.Decision, Items: st.Items}
		if st.Granted != nil {
			d.Granted = *st.Granted
		}
		if e.Type == TypeRecognitionDecided {
			cs.Decision = d
		} else {
			cs.AppealDecision = d
		}
		if st.Decision == DecisionGranted {
			if err := replaceGrants(s, cs, st.Items); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unknown entry type %q", e.Type)
	}
	return putJSON(s, caseKey(cs.Seq), cs)
}

// replaceGrants puts items in force for case cs in place of those in
// force: the outcomes' uses and the learner's balance follow.
func replaceGrants(s store, cs *caseState, items []RecognitionItem) error {
	for _, it := range cs.InForce {
		if err := setCaseUse(s, it.Outcome, cs, false); err != nil {
			return err
		}
		if err := addGrantedDelta(s, cs.Learner, cs.Target, -it.Granted); err != nil {
			return err
		}
	}
	cs.InForce = []RecognitionItem{}
	for _, it := range items {
		if it.Granted <= 0 {
			continue
		}
		cs.InForce = append(cs.InForce, it)
		if err := setCaseUse(s, it.Outcome, cs, true); err != nil {
			return err
		}
		if err := addGrantedDelta(s, cs.Learner, cs.Target, it.Granted); err != nil {
			return err
		}
	}
	return nil
}

// setCaseUse records (use) or removes that case cs uses outcome seq.
func setCaseUse(s store, seq uint64, cs *caseState, use bool) error {
	st, err := getJSON[outcomeState](s, outKey(seq))
	if err != nil {
		return err
	}
	if st == nil {
		return fmt.Errorf("case %d uses unknown outcome %d", cs.Seq, seq)
	}
	st.UsedBy = slices.DeleteFunc(st.UsedBy, func(u conversionUse) bool { return u.Recognition && u.Conversion == cs.Seq })
	if use {
		st.UsedBy = append(st.UsedBy, conversionUse{Conversion: cs.Seq, Target: cs.Target, Recognition: true})
	}
	return putJSON(s, outKey(seq), st)
}

func applyRecognitionAdjustment(s store, seq uint64, a RecognitionAdjusted) error {
	cs, err := loadCase(s, a.Case)
	if err != nil {
		return err
	}
	if cs == nil {
		return fmt.Errorf("adjustment of unknown case %d", a.Case)
	}
	for _, ch := range a.Items {
		i := slices.IndexFunc(cs.InForce, func(it RecognitionItem) bool { return it.Outcome == ch.Outcome })
		if i < 0 {
			return fmt.Errorf("case %d holds no item of outcome %d in force", a.Case, ch.Outcome)
		}
		if err := setCaseUse(s, ch.Outcome, cs, false); err != nil {
			return err
		}
		if err := addGrantedDelta(s, cs.Learner, cs.Target, -cs.InForce[i].Granted); err != nil {
			return err
		}
		cs.InForce = slices.Delete(cs.InForce, i, i+1)
	}
	cs.Adjusted = append(cs.Adjusted, seq)
	return putJSON(s, caseKey(a.Case), cs)
}

// RecognitionEffect is one case item a revocation reversed, as the
// revocation's answer lists it.
type RecognitionEffect struct {
	Seq         uint64 `json:"seq"`
	Recognition string `json:"recognition"`
	ItemChange
}

// adjustRecognitions emits, after the revocation of st and the changes of
// its conversions, one recognition.adjusted entry for each case in force
// that granted credit for it, in the order they did, reversing the item.
func adjustRecognitions(t *tx, actor Actor, st *outcomeState, reason string) ([]RecognitionEffect, error) {
	var effects []RecognitionEffect
	for _, u := range st.UsedBy {
		if !u.Recognition {
			continue
		}
		cs, err := loadCase(t, u.Conversion)
		if err != nil {
			return nil, err
		}
		var item *RecognitionItem
		if cs != nil {
			if i := slices.IndexFunc(cs.InForce, func(it RecognitionItem) bool { return it.Outcome == st.Seq }); i >= 0 {
				item = &cs.InForce[i]
			}
		}
		if item == nil {
			return nil, fmt.Errorf("outcome %d lists case %d, which holds no item of it in force", st.Seq, u.Conversion)
		}
		ch := ItemChange{Outcome: st.Seq, Action: ActionReversed, StandardCredits: item.StandardCredits, Granted: item.Granted}
		a := RecognitionAdjusted{Case: cs.Seq, Learner: cs.Learner, Target: cs.Target, Outcome: st.Seq,
			Reason: fmt.Sprintf("outcome %d revoked: %s", st.Seq, reason), Items: []ItemChange{ch}}
		seq, err := t.emit(TypeRecognitionAdjusted, actor, a, recognitionIndex(cs.Learner, cs.Seq, cs.Target.Institution), nil)
		if err != nil {
			return nil, err
		}
		effects = append(effects, RecognitionEffect{Seq: seq, Recognition: RecognitionID(cs.Seq), ItemChange: ch})
	}
	return effects, nil
}

// RecognitionStepView is one step of a case as it is shown: its entry,
// when and by whom, its words (opened with the learner's key) and, for a
// decision, what it granted.
type RecognitionStepView struct {
	Seq        uint64            `json:"seq"`
	Step       string            `json:"step"`
	On         string            `json:"on"`
	RecordedAt string            `json:"recorded_at"`
	Actor      string            `json:"actor"`
	Statement  string            `json:"statement,omitempty"`
	Evidence   []string          `json:"evidence_sha256,omitempty"`
	Comment    string            `json:"comment,omitempty"`
	Reasons    string            `json:"reasons,omitempty"`
	Decision   string            `json:"decision,omitempty"`
	Items      []RecognitionItem `json:"items,omitempty"`
	Granted    *Amount           `json:"granted,omitempty"`
	// Reversed names the outcome whose revocation reversed items.
	Reversed *uint64 `json:"reversed_outcome,omitempty"`
}

// RecognitionCase is a case as the bank answers it.
type RecognitionCase struct {
	ID        string       `json:"id"`
	Seq       uint64       `json:"seq"`
	Learner   string       `json:"learner"`
	Target    Target       `json:"target"`
	Programme ProgrammeRef `json:"programme"`
	Outcomes  []uint64     `json:"outcomes"`
	Status    string       `json:"status"`
	// AppealBy is the last day the learner may appeal, while they may.
	AppealBy string `json:"appeal_by,omitempty"`
	// InForce are the items granted and not reversed, and Granted their
	// sum: what the case counts toward the programme.
	InForce []RecognitionItem     `json:"items_in_force"`
	Granted Amount                `json:"granted_in_force"`
	Steps   []RecognitionStepView `json:"steps"`
}

// view is the case as the learner of id reads it, on date, with its
// steps' words opened with dk.
func (cs *caseState) view(entry func(uint64) ([]byte, error), id string, dk vault.DataKey, date string) (RecognitionCase, error) {
	rc := RecognitionCase{ID: RecognitionID(cs.Seq), Seq: cs.Seq, Learner: id, Target: cs.Target, Programme: cs.Programme,
		Outcomes: cs.Outcomes, Status: cs.status(), InForce: cs.InForce, Steps: []RecognitionStepView{}}
	for _, it := range cs.InForce {
		rc.Granted += it.Granted
	}
	if cs.Decision != nil && cs.Appeal == nil && daysBetween(cs.Decision.On, date) <= AppealDays {
		rc.AppealBy = addDays(cs.Decision.On, AppealDays)
	}
	steps := slices.Clone(cs.Steps)
	steps = append(steps, cs.Adjusted...)
	slices.Sort(steps)
	for _, seq := range steps {
		raw, err := entry(seq)
		if err != nil {
			return rc, err
		}
		e, err := ledger.DecodeEntry(raw)
		if err != nil {
			return rc, err
		}
		v := RecognitionStepView{Seq: seq, Step: strings.TrimPrefix(e.Type, "recognition."), RecordedAt: e.RecordedAt.UTC().Format(ledger.TimeLayout), Actor: e.Actor}
		v.On = e.RecordedAt.UTC().Format(dateLayout)
		sealed := ""
		switch e.Type {
		case TypeRecognitionApplied:
			var a RecognitionApplied
			if err := unmarshalContent(e.Content, &a); err != nil {
				return rc, err
			}
			sealed = a.Sealed
		case TypeRecognitionAdjusted:
			var a RecognitionAdjusted
			if err := unmarshalContent(e.Content, &a); err != nil {
				return rc, err
			}
			v.Reversed, v.Reasons = &a.Outcome, a.Reason
		default:
			var st RecognitionStep
			if err := unmarshalContent(e.Content, &st); err != nil {
				return rc, err
			}
			sealed, v.Decision, v.Items, v.Granted = st.Sealed, st.Decision, st.Items, st.Granted
		}
		if strings.HasPrefix(e.Actor, string(RoleLearner)+":") {
			v.Actor = string(RoleLearner) + ":" + id // the entry names them by reference
		}
		if sealed != "" {
			w, err := openWords(sealed, dk, seq)
			if err != nil {
				return rc, err
			}
			v.Statement, v.Evidence, v.Comment = w.Statement, w.Evidence, w.Comment
			if w.Reasons != "" {
				v.Reasons = w.Reasons
			}
		}
		rc.Steps = append(rc.Steps, v)
	}
	return rc, nil
}

// ApplyForRecognition opens a case for the learner actor: the target must
// be a programme valid today, and the outcomes the learner's own, in
// force. It answers the case as opened.
func (b *Bank) ApplyForRecognition(ctx context.Context, actor Actor, app RecognitionApplication) (RecognitionCase, error) {
	if actor.Role != RoleLearner || !SameLearner(actor.ID, app.Learner) {
		return RecognitionCase{}, errorf(CodeForbidden, "only the learner applies for recognition of their learning")
	}
	if err := app.Validate(); err != nil {
		return RecognitionCase{}, err
	}
	id := app.Learner
	l, err := b.learnerForCommand(id)
	if err != nil {
		return RecognitionCase{}, err
	}
	nonce, err := newNonce()
	if err != nil {
		return RecognitionCase{}, err
	}
	res, err := b.do(ctx, applyRecognitionCmd{Actor: actorByRef(actor, id, l.ref), App: app, Learner: l, Nonce: nonce})
	if err != nil {
		return RecognitionCase{}, nameLearner(err, l.ref, id)
	}
	return b.Recognition(actor, RecognitionID(res.(uint64)))
}

// ReviewRecognition records a review of case id by its target institution,
// with the assessor's comment.
func (b *Bank) ReviewRecognition(ctx context.Context, actor Actor, id, comment string) (RecognitionCase, error) {
	if err := checkText("comment", comment, MaxRecognitionText); err != nil {
		return RecognitionCase{}, err
	}
	return b.caseStep(ctx, actor, id, caseStepCmd{Type: TypeRecognitionReviewed, Words: recognitionWords{Comment: comment}})
}

// DecideRecognition records the target institution's decision of case id.
func (b *Bank) DecideRecognition(ctx context.Context, actor Actor, id string, d RecognitionDecision) (RecognitionCase, error) {
	if err := d.Validate(); err != nil {
		return RecognitionCase{}, err
	}
	return b.caseStep(ctx, actor, id, caseStepCmd{Type: TypeRecognitionDecided, Decision: d, Words: recognitionWords{Reasons: d.Reasons}})
}

// AppealRecognition records the learner's appeal of the decision of case
// id, with their statement.
func (b *Bank) AppealRecognition(ctx context.Context, actor Actor, id, statement string) (RecognitionCase, error) {
	if err := checkText("statement", statement, MaxRecognitionText); err != nil {
		return RecognitionCase{}, err
	}
	return b.caseStep(ctx, actor, id, caseStepCmd{Type: TypeRecognitionAppealed, Words: recognitionWords{Statement: statement}})
}

// DecideRecognitionAppeal records a regulator's decision of the appeal of
// case id; granted, it replaces what the decision granted.
func (b *Bank) DecideRecognitionAppeal(ctx context.Context, actor Actor, id string, d RecognitionDecision) (RecognitionCase, error) {
	if err := d.Validate(); err != nil {
		return RecognitionCase{}, err
	}
	return b.caseStep(ctx, actor, id, caseStepCmd{Type: TypeRecognitionAppealDecided, Decision: d, Words: recognitionWords{Reasons: d.Reasons}})
}

// caseStep has the sequencer decide step c of case id for actor, a
// learner acting by their reference, and answers the case after it.
func (b *Bank) caseStep(ctx context.Context, actor Actor, id string, c caseStepCmd) (RecognitionCase, error) {
	seq, ok := ParseRecognitionID(id)
	if !ok {
		return RecognitionCase{}, errorf(CodeNotFound, "no recognition case %q", id)
	}
	c.Actor, c.Case = actor, seq
	var learnerID string
	if actor.Role == RoleLearner {
		learnerID = CanonicalLearnerID(actor.ID)
		l, err := b.learnerForCommand(learnerID)
		if err != nil {
			return RecognitionCase{}, err
		}
		c.Actor = actorByRef(actor, learnerID, l.ref)
	}
	var err error
	if c.Nonce, err = newNonce(); err != nil {
		return RecognitionCase{}, err
	}
	if _, err := b.do(ctx, c); err != nil {
		return RecognitionCase{}, err
	}
	return b.Recognition(actor, id)
}

// Recognition answers case id to actor: the learner whose case it is, the
// target institution, a regulator or an admin (any other CodeForbidden; a
// learner who is not the case's cannot tell it from none, CodeNotFound).
// Once the learner is erased it is CodeErased.
func (b *Bank) Recognition(actor Actor, id string) (RecognitionCase, error) {
	seq, ok := ParseRecognitionID(id)
	if !ok {
		return RecognitionCase{}, errorf(CodeNotFound, "no recognition case %q", id)
	}
	var rc RecognitionCase
	err := b.read(func(r *ledger.Reader, s store) error {
		cs, err := loadCase(s, seq)
		if err != nil {
			return err
		}
		if cs == nil {
			return errorf(CodeNotFound, "no recognition case %s", id)
		}
		learner, erased, err := b.learnerOf(s, cs.Learner)
		if err != nil {
			return err
		}
		switch actor.Role {
		case RoleAdmin, RoleRegulator:
		case RoleInstitution:
			if actor.ID != cs.Target.Institution {
				return errorf(CodeForbidden, "case %s is for %s: only that institution reads it", id, cs.Target.Institution)
			}
		case RoleLearner:
			if erased || !SameLearner(actor.ID, learner) {
				return errorf(CodeNotFound, "no recognition case %s", id)
			}
		default:
			return errorf(CodeForbidden, "case %s is not for %s", id, actor)
		}
		if erased {
			return errorf(CodeErased, "the personal data of the learner of case %s was erased", id)
		}
		dk, err := b.dataKey(s, cs.Learner)
		if err != nil {
			return err
		}
		rc, err = cs.view(r.Entry, learner, dk, b.today())
		return err
	})
	return rc, err
}
