package accreditation

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"creditbank/ledger"
)

func institutionIndex(id string) ledger.IndexKey {
	return ledger.IndexKey{Name: IndexInstitution, Value: id}
}

func learnerIndex(id string) ledger.IndexKey { return ledger.IndexKey{Name: IndexLearner, Value: id} }

func ruleIndex(id string) ledger.IndexKey { return ledger.IndexKey{Name: IndexRule, Value: id} }

// loadInstitution reads an institution, or fails with CodeNotFound.
func loadInstitution(s store, id string) (*Institution, error) {
	in, err := getJSON[Institution](s, instKey(id))
	if err != nil {
		return nil, err
	}
	if in == nil {
		return nil, errorf(CodeNotFound, "no institution %q", id)
	}
	return in, nil
}

type registerCmd struct {
	Actor Actor
	Reg   Registration
}

func (c registerCmd) decide(t *tx) (any, error) {
	if b, err := t.get(instKey(c.Reg.ID)); err != nil {
		return nil, err
	} else if b != nil {
		return nil, errorf(CodeConflict, "institution %q is already registered", c.Reg.ID)
	}
	if _, err := t.emit(TypeInstitutionRegistered, c.Actor, c.Reg, []ledger.IndexKey{institutionIndex(c.Reg.ID)}, nil); err != nil {
		return nil, err
	}
	return loadInstitution(t, c.Reg.ID)
}

type addKeyCmd struct {
	Actor       Actor
	Institution string
	Key         PublicJWK
}

// maxKeys bounds the keys one institution holds at a time.
const maxKeys = 16

func (c addKeyCmd) decide(t *tx) (any, error) {
	in, err := loadInstitution(t, c.Institution)
	if err != nil {
		return nil, err
	}
	if _, ok := in.Key(c.Key.Kid); ok {
		return nil, errorf(CodeConflict, "institution %q already has a key %q", c.Institution, c.Key.Kid)
	}
	if len(in.Keys) >= maxKeys {
		return nil, errorf(CodeConflict, "institution %q already holds %d keys; remove one first", c.Institution, maxKeys)
	}
	if _, err := t.emit(TypeKeyAdded, c.Actor, KeyAdded{Institution: c.Institution, Key: c.Key}, []ledger.IndexKey{institutionIndex(c.Institution)}, nil); err != nil {
		return nil, err
	}
	return loadInstitution(t, c.Institution)
}

type removeKeyCmd struct {
	Actor       Actor
	Institution string
	Kid         string
}

func (c removeKeyCmd) decide(t *tx) (any, error) {
	in, err := loadInstitution(t, c.Institution)
	if err != nil {
		return nil, err
	}
	if _, ok := in.Key(c.Kid); !ok {
		return nil, errorf(CodeNotFound, "institution %q has no key %q", c.Institution, c.Kid)
	}
	if len(in.Keys) == 1 {
		// With no key the institution could sign nothing, not even to ask
		// for a new one: a key is replaced by adding the new one first.
		return nil, errorf(CodeLastKey, "key %q is institution %q's last key; add its replacement before removing it", c.Kid, c.Institution)
	}
	if _, err := t.emit(TypeKeyRemoved, c.Actor, KeyRemoved{Institution: c.Institution, Kid: c.Kid}, []ledger.IndexKey{institutionIndex(c.Institution)}, nil); err != nil {
		return nil, err
	}
	return loadInstitution(t, c.Institution)
}

type accreditCmd struct {
	Actor       Actor
	Institution string
	Scope       AccreditationInput
}

func (c accreditCmd) decide(t *tx) (any, error) {
	in, err := loadInstitution(t, c.Institution)
	if err != nil {
		return nil, err
	}
	outside := policyRefusal(in.Kind, c.Scope)
	switch {
	case c.Scope.OverrideReason != "" && c.Actor.Role != RoleAdmin && c.Actor.Role != RoleRegulator:
		return nil, errorf(CodeForbidden, "only a regulator or an admin may override the accreditation policy")
	case outside != "" && c.Scope.OverrideReason == "":
		return nil, errorf(CodeAccreditationPolicy, "%s; a regulator may grant it with an override_reason", outside)
	}
	content := Accredited{Institution: c.Institution, AccreditationInput: c.Scope, OutsidePolicy: outside}
	seq, err := t.emit(TypeAccredited, c.Actor, content, []ledger.IndexKey{institutionIndex(c.Institution)}, nil)
	if err != nil {
		return nil, err
	}
	return Accreditation{Sectors: c.Scope.Sectors, MaxLevel: c.Scope.MaxLevel, ValidFrom: c.Scope.ValidFrom, ValidUntil: c.Scope.ValidUntil, Seq: seq,
		OverrideReason: c.Scope.OverrideReason, OutsidePolicy: outside}, nil
}

type suspendCmd struct {
	Actor       Actor
	Institution string
	Reason      string
	Lift        bool
}

func (c suspendCmd) decide(t *tx) (any, error) {
	in, err := loadInstitution(t, c.Institution)
	if err != nil {
		return nil, err
	}
	idx := []ledger.IndexKey{institutionIndex(c.Institution)}
	switch {
	case c.Lift && in.Suspension == nil:
		return nil, errorf(CodeConflict, "institution %q is not suspended", c.Institution)
	case c.Lift:
		_, err = t.emit(TypeReinstated, c.Actor, Reinstated{Institution: c.Institution, Reason: c.Reason}, idx, nil)
	case in.Suspension != nil:
		return nil, errorf(CodeConflict, "institution %q is already suspended (entry %d)", c.Institution, in.Suspension.Seq)
	default:
		_, err = t.emit(TypeSuspended, c.Actor, Suspended{Institution: c.Institution, Reason: c.Reason}, idx, nil)
	}
	if err != nil {
		return nil, err
	}
	return loadInstitution(t, c.Institution)
}

// Post statuses of a batch item.
const (
	PostCreated   = "created"
	PostDuplicate = "duplicate"
	PostRejected  = "rejected"
)

// PostResult is the answer for one outcome posted.
type PostResult struct {
	Status string
	Seq    uint64
	// Outcome is the stored outcome (created or the original of a duplicate).
	Outcome *Outcome
	// RecordedAt is when it was recorded.
	RecordedAt string
	Err        error
	// Effects lists the conversion items a superseding outcome changed
	// (empty when none); nil when the outcome supersedes nothing.
	Effects []ItemEffect
	// Flagged lists the award.flagged entries of the awards that rested on
	// the superseded outcome (empty when none); nil when the outcome
	// supersedes nothing.
	Flagged []uint64

	// content is the outcome's entry content as stored.
	content json.RawMessage
}

// TranscriptOutcome is the outcome of a created or duplicate result as the
// bank answers a post with it, the line a transcript shows: seq,
// recorded_at, status (active: it was just posted, or is the original of a
// repeat) and the outcome's members, which its MarshalJSON writes from the
// entry content rather than encoding the outcome again.
func (r PostResult) TranscriptOutcome() TranscriptOutcome {
	return TranscriptOutcome{Seq: r.Seq, RecordedAt: r.RecordedAt, Status: "active", Outcome: *r.Outcome, content: r.content}
}

type postCmd struct {
	Actor Actor
	Items []OutcomeInput
	// Hashes are the SHA-256 of each item's canonical form, for idempotency.
	Hashes [][32]byte
	// Invalid holds each item's form error, found before the sequencer.
	Invalid []error
	// Prepared holds each valid item as it would be stored, encoded before
	// the sequencer: nothing in it depends on the state, and encoding it
	// there took a fifth of the sequencer's time per outcome.
	Prepared []preparedOutcome
	// Learners are the items' learners by id, with their references and
	// keys as a durable read found them (erasure.go), and Nonces each
	// item's nonce for sealing: chosen before the sequencer, so that
	// deciding stays a function of the state and the command. Keyed are
	// the items' idempotency MACs under those keys (idempotencyMAC); Hashes
	// serve for the records of outcomes from before sealing.
	Learners map[string]*learnerPrep
	Nonces   [][24]byte
	Keyed    [][32]byte
}

// preparedOutcome is an outcome item as stored, with its entry content, or
// the error computing its standard credits gave.
type preparedOutcome struct {
	out     Outcome
	content json.RawMessage
	// input is the canonical form, and personal the plaintext the
	// sequencer seals (erasure.go).
	input    []byte
	personal []byte
	err      error
}

// prepareOutcome computes what postOne stores for item o of institution
// inst, given input = MarshalContent(o); it depends on nothing but its
// arguments.
func prepareOutcome(inst string, o OutcomeInput, input json.RawMessage) (preparedOutcome, error) {
	sc, err := o.standardCredits()
	if err != nil {
		return preparedOutcome{err: err}, nil
	}
	p := preparedOutcome{out: Outcome{OutcomeInput: o, Institution: inst, StandardCredits: sc}, input: input}
	if p.content, err = outcomeContent(p.out, input); err != nil {
		return preparedOutcome{}, err
	}
	p.personal = appendPersonal(make([]byte, 0, 64+len(o.Learner)+len(o.Unit.Title)+len(o.EvidenceSHA256)), &p.out)
	return p, nil
}

// outcomeContent is MarshalContent(out) given input = MarshalContent of
// out's input, which the idempotency hash needed anyway. Outcome embeds
// OutcomeInput, so encoding/json writes the input's members first and then
// the two it adds: appending those to input spares encoding the outcome a
// second time. TestOutcomeContent checks the two ways give the same bytes.
func outcomeContent(out Outcome, input json.RawMessage) (json.RawMessage, error) {
	if len(input) < 3 || input[len(input)-1] != '}' {
		return ledger.MarshalContent(out)
	}
	c := make(json.RawMessage, 0, len(input)+len(out.Institution)+64)
	c = append(c, input[:len(input)-1]...)
	c = appendJSONText(append(c, `,"institution":`...), out.Institution)
	c = appendQuotedAmount(append(c, `,"standard_credits":`...), out.StandardCredits)
	return append(c, '}'), nil
}

func (c postCmd) decide(t *tx) (any, error) {
	results := make([]PostResult, len(c.Items))
	in, err := t.institution(c.Actor.ID)
	if err != nil {
		return nil, err
	}
	units, err := newCertifiedUnits(t, in.ID)
	if err != nil {
		return nil, err
	}
	// Each learner is confirmed once and then found here by the command's
	// other items: sized at once, a batch's map is not grown a dozen times.
	t.refs = make(map[string]resolvedLearner, len(c.Learners))
	for i := range c.Items {
		if c.Invalid[i] != nil {
			results[i] = PostResult{Status: PostRejected, Err: c.Invalid[i]}
			continue
		}
		r, err := c.postOne(t, in, units, i, c.Hashes[i])
		if err != nil && CodeOf(err) == "" {
			return nil, err // the store failed: nothing of the command is written
		}
		if err != nil {
			r = PostResult{Status: PostRejected, Err: err}
		}
		results[i] = r
	}
	return results, nil
}

func (c postCmd) postOne(t *tx, in *Institution, units certifiedUnits, i int, hash [32]byte) (PostResult, error) {
	o, p := c.Items[i], &c.Prepared[i]
	lp := c.Learners[o.Learner]
	if lp == nil {
		return PostResult{}, fmt.Errorf("post: learner %s was not prepared", o.Learner)
	}
	if lp.Err != nil {
		return PostResult{}, lp.Err
	}
	// An erased learner's item is refused as such before anything else,
	// a repeat of one posted before the erasure included.
	learner, err := t.learner(lp)
	if err != nil {
		return PostResult{}, err
	}
	// The idempotency record binds the key to the outcome's MAC under the
	// learner's key, or, for an outcome from before sealing, its hash.
	keyed := c.Keyed[i]
	if learner.key != lp.Key {
		keyed = idempotencyMAC(learner.key, p.input)
	}
	prev, found, err := t.idempotency(in.ID, o.IdempotencyKey)
	if err != nil {
		return PostResult{}, err
	}
	if found {
		want := keyed
		if prev.Seq < t.sealedFrom {
			want = hash
		}
		if prev.Hash != want {
			return PostResult{}, errorf(CodeConflict, "idempotency key %q was used for other content (entry %d)", o.IdempotencyKey, prev.Seq)
		}
		orig, recordedAt, content, err := t.loadOutcome(prev.Seq, learner)
		if err != nil {
			return PostResult{}, err
		}
		r := PostResult{Status: PostDuplicate, Seq: prev.Seq, Outcome: orig, RecordedAt: recordedAt, content: content}
		if orig.Supersedes != nil {
			if r.Effects, err = recordedEffects(t, prev.Seq); err != nil {
				return PostResult{}, err
			}
		}
		return r, nil
	}
	if in.Suspension != nil {
		return PostResult{}, errorf(CodeNotAccredited, "institution %q is suspended: %s", in.ID, in.Suspension.Reason)
	}
	if !slices.ContainsFunc(in.Accreditations, func(a Accreditation) bool { return a.covers(o.Sector, o.Level, o.CompletedOn) }) {
		return PostResult{}, errorf(CodeNotAccredited, "institution %q is not accredited for %s outcomes at level %d completed on %s", in.ID, o.Sector, o.Level, o.CompletedOn)
	}
	if latest := t.latestCompletion(); o.CompletedOn > latest {
		return PostResult{}, errorf(CodeInvalid, "completed_on %s is after today in the earliest time zone (UTC+14), %s", o.CompletedOn, latest)
	}
	var old *outcomeState
	if o.Supersedes != nil {
		old, err = getJSON[outcomeState](t, outKey(*o.Supersedes))
		if err != nil {
			return PostResult{}, err
		}
		switch {
		case old == nil:
			return PostResult{}, errorf(CodeNotFound, "supersedes: no outcome %d", *o.Supersedes)
		case old.Institution != in.ID || old.Learner != learner.ref:
			return PostResult{}, errorf(CodeConflict, "supersedes: outcome %d is not one of this institution's for learner %s", *o.Supersedes, o.Learner)
		case old.Revoked:
			return PostResult{}, errorf(CodeConflict, "supersedes: outcome %d is already revoked", *o.Supersedes)
		}
	}
	byRef := o
	byRef.Learner = learner.ref
	if err := checkDuplicate(t, in.ID, byRef, o.Learner); err != nil {
		return PostResult{}, err
	}
	if p.err != nil {
		return PostResult{}, p.err
	}
	if p.out.Institution != in.ID {
		return PostResult{}, fmt.Errorf("outcome prepared for institution %q, posted by %q", p.out.Institution, in.ID)
	}
	if err := units.check(t, in.ID, &o); err != nil {
		return PostResult{}, err
	}
	seq := t.nextSeq()
	var stored Outcome
	content := sealOutcome(&p.out, p.personal, learner.ref, learner.key, c.Nonces[i], seq, &stored)
	t.keepLearner(lp, learner)
	idem := &ledger.IdempotencyKey{Scope: in.ID, Key: o.IdempotencyKey, Hash: keyed}
	if _, err := t.emitEncoded(TypeOutcomeRecorded, c.Actor, content, &stored, []ledger.IndexKey{learnerIndex(learner.ref), institutionIndex(in.ID)}, idem); err != nil {
		return PostResult{}, err
	}
	// The prepared outcome is the answer as it stands: nothing changes it
	// once prepared, and a copy was an allocation per outcome.
	r := PostResult{Status: PostCreated, Seq: seq, Outcome: &p.out, RecordedAt: t.recordedAtText(), content: p.content}
	if old != nil {
		by := seq // on the heap only for a superseding outcome
		if r.Effects, _, r.Flagged, err = revoke(t, c.Actor, old, "superseded", &by); err != nil {
			return PostResult{}, err
		}
		if r.Flagged == nil {
			r.Flagged = []uint64{}
		}
	}
	return r, nil
}

// loadOutcome is loadOutcomeEntry for the command's own reads, with a
// sealed outcome opened under the key of its learner.
func (t *tx) loadOutcome(seq uint64, learner resolvedLearner) (*Outcome, string, json.RawMessage, error) {
	orig, recordedAt, content, err := loadOutcomeEntry(t.entry, seq)
	if err != nil || orig.Sealed == "" {
		return orig, recordedAt, content, err
	}
	if orig.Learner != learner.ref {
		return nil, "", nil, fmt.Errorf("outcome %d is of learner reference %s, not %s", seq, orig.Learner, learner.ref)
	}
	orig, content, err = openOutcome(content, seq, learner.key)
	return orig, recordedAt, content, err
}

// errNotOutcome is loadOutcomeEntry's refusal of an entry of another type.
var errNotOutcome = errors.New("not an outcome")

// loadOutcomeEntry decodes the outcome recorded at seq, returning also the
// entry's content as stored.
func loadOutcomeEntry(entry func(uint64) ([]byte, error), seq uint64) (*Outcome, string, json.RawMessage, error) {
	b, err := entry(seq)
	if err != nil {
		return nil, "", nil, err
	}
	e, err := ledger.DecodeEntry(b)
	if err != nil {
		return nil, "", nil, err
	}
	if e.Type != TypeOutcomeRecorded {
		return nil, "", nil, fmt.Errorf("entry %d is a %s: %w", seq, e.Type, errNotOutcome)
	}
	var o Outcome
	if err := unmarshalContent(e.Content, &o); err != nil {
		return nil, "", nil, err
	}
	return &o, e.RecordedAt.Format(ledger.TimeLayout), e.Content, nil
}

// revoke emits the revocation of an outcome, an adjustment of every
// conversion in force that used it (adjust.go), a reversal of every
// recognition case's item that granted credit for it (recognition.go) and
// a flag on every award that rested on it (award.go), and returns what
// each adjustment changed (never nil, so that a supersession answers its
// effects even when there are none), the cases' items reversed and the
// flags' seqs.
func revoke(t *tx, actor Actor, st *outcomeState, reason string, supersededBy *uint64) ([]ItemEffect, []RecognitionEffect, []uint64, error) {
	rev := Revocation{Outcome: st.Seq, Institution: st.Institution, Learner: st.Learner, Reason: reason, SupersededBy: supersededBy}
	idx := []ledger.IndexKey{learnerIndex(st.Learner), institutionIndex(st.Institution)}
	if _, err := t.emit(TypeOutcomeRevoked, actor, rev, idx, nil); err != nil {
		return nil, nil, nil, err
	}
	effects, err := adjustConversions(t, actor, st, reason, supersededBy)
	if err != nil {
		return nil, nil, nil, err
	}
	if effects == nil {
		effects = []ItemEffect{}
	}
	recognised, err := adjustRecognitions(t, actor, st, reason)
	if err != nil {
		return nil, nil, nil, err
	}
	flags, err := flagAwards(t, actor, st, reason, supersededBy)
	return effects, recognised, flags, err
}

type revokeCmd struct {
	Actor   Actor
	Outcome uint64
	Reason  string
}

// RevokeResult is the revocation's seq, the conversion.adjusted entries it
// caused and what each changed, and the award.flagged entries of the
// awards that rested on the outcome.
type RevokeResult struct {
	Seq       uint64
	Reversals []uint64
	Effects   []ItemEffect
	// Recognitions are the items of recognition cases it reversed.
	Recognitions []RecognitionEffect
	Flagged      []uint64
}

func (c revokeCmd) decide(t *tx) (any, error) {
	st, err := getJSON[outcomeState](t, outKey(c.Outcome))
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errorf(CodeNotFound, "no outcome %d", c.Outcome)
	}
	switch c.Actor.Role {
	case RoleRegulator:
	case RoleInstitution:
		if c.Actor.ID != st.Institution {
			return nil, errorf(CodeForbidden, "outcome %d was posted by another institution", c.Outcome)
		}
	default:
		return nil, errorf(CodeForbidden, "only the posting institution or a regulator may revoke an outcome")
	}
	if st.Revoked {
		return nil, errorf(CodeConflict, "outcome %d is already revoked", c.Outcome)
	}
	first := t.nextSeq()
	effects, recognised, flagged, err := revoke(t, c.Actor, st, c.Reason, nil)
	if err != nil {
		return nil, err
	}
	res := RevokeResult{Seq: first, Effects: effects, Recognitions: recognised, Flagged: flagged}
	for _, e := range effects {
		if !slices.Contains(res.Reversals, e.Seq) {
			res.Reversals = append(res.Reversals, e.Seq)
		}
	}
	return res, nil
}

type publishRuleCmd struct {
	Actor Actor
	Rule  RuleInput
}

func (c publishRuleCmd) decide(t *tx) (any, error) {
	if _, err := loadInstitution(t, c.Rule.Target.Institution); err != nil {
		return nil, errorf(CodeInvalid, "target.institution: %v", err)
	}
	for _, id := range c.Rule.Source.Institutions {
		if _, err := loadInstitution(t, id); err != nil {
			return nil, errorf(CodeInvalid, "source.institutions: %v", err)
		}
	}
	head, err := getJSON[ruleHead](t, ruleKey(c.Rule.ID))
	if err != nil {
		return nil, err
	}
	if err := checkReinstate(c.Rule.ID, head, c.Rule.Reinstate); err != nil {
		return nil, err
	}
	version := 1
	if head != nil {
		version = head.Latest + 1
	}
	input := c.Rule
	input.Reinstate = false // recorded as the version's reinstated
	r := Rule{RuleInput: input, Version: version, Reinstated: c.Rule.Reinstate}
	idx := []ledger.IndexKey{ruleIndex(c.Rule.ID), institutionIndex(c.Rule.Target.Institution)}
	// The entry holds the rule and its version; its own seq is the entry's.
	content := struct {
		RuleInput
		Version    int  `json:"version"`
		Reinstated bool `json:"reinstated,omitempty"`
	}{input, version, r.Reinstated}
	seq, err := t.emit(TypeRulePublished, c.Actor, content, idx, nil)
	if err != nil {
		return nil, err
	}
	r.Seq = seq
	return r, nil
}

// checkReinstate refuses to publish a retired rule's id again unless the
// request says to reinstate it, and a reinstatement of a rule that is not
// retired: either is a mistake a regulator would want to hear about.
func checkReinstate(id string, head *ruleHead, reinstate bool) error {
	retired := head != nil && head.Retired
	switch {
	case retired && !reinstate:
		detail := fmt.Sprintf("rule %q is retired", id)
		if ret := head.Retirement; ret != nil {
			detail = fmt.Sprintf("rule %q was retired by entry %d", id, ret.Seq)
			if ret.Reason != "" {
				detail += " (" + ret.Reason + ")"
			}
		}
		return errorf(CodeRuleRetired, "%s; send \"reinstate\": true to publish it again", detail)
	case !retired && reinstate:
		return errorf(CodeConflict, "rule %q is not retired: there is nothing to reinstate; leave reinstate out", id)
	}
	return nil
}

type retireRuleCmd struct {
	Actor  Actor
	Rule   string
	Reason string
}

func (c retireRuleCmd) decide(t *tx) (any, error) {
	head, err := getJSON[ruleHead](t, ruleKey(c.Rule))
	if err != nil {
		return nil, err
	}
	if head == nil {
		return nil, errorf(CodeNotFound, "no rule %q", c.Rule)
	}
	if head.Retired {
		return nil, errorf(CodeConflict, "rule %q is already retired", c.Rule)
	}
	seq, err := t.emit(TypeRuleRetired, c.Actor, RuleRetired{Rule: c.Rule, Version: head.Latest, Reason: c.Reason}, []ledger.IndexKey{ruleIndex(c.Rule)}, nil)
	if err != nil {
		return nil, err
	}
	return seq, nil
}

type convertCmd struct {
	Actor Actor
	Req   ConversionRequest
	// Plan, when set, is the conversion as planned outside the sequencer
	// against a durable read (Bank.Convert). decide writes it when nothing
	// it read has changed since (planCurrent); when something has, decide
	// refuses with errStalePlan, or plans again itself if PlanInside.
	Plan       *plan
	PlanInside bool
}

// errStalePlan refuses a conversion whose plan read something that changed
// before the sequencer came to it; Bank.Convert plans again.
var errStalePlan = errors.New("the conversion's plan is out of date")

// costError is a refusal decided in the sequencer with what deciding read,
// which the ledger hands back as it is and Bank.Convert takes apart.
type costError struct {
	err  error
	cost Cost
}

func (e *costError) Error() string { return e.err.Error() }
func (e *costError) Unwrap() error { return e.err }

// ConversionResult is a granted conversion, with the outcomes asked for (or,
// when none were named, of the learner) that it did not use and why.
type ConversionResult struct {
	Seq uint64
	Conversion
	// Ineligible is the first MaxReasons outcomes not used, and
	// IneligibleOmitted how many more there are.
	Ineligible        []Ineligible
	IneligibleOmitted int
	// Cost is what planning the conversion read, also when it was refused.
	Cost Cost `json:"-"`
}

func (c convertCmd) decide(t *tx) (any, error) {
	if err := checkNotErased(t, c.Req.Learner); err != nil {
		return nil, err
	}
	before := t.view.Rows()
	p, err := c.plan(t)
	cost := Cost{Rows: t.view.Rows() - before}
	if err == nil && len(p.decision.Items) == 0 {
		err = notEligible(c.Req.Learner, p)
	}
	if err != nil {
		return nil, &costError{err: err, cost: cost}
	}
	conv := p.conversion(c.Req.Learner)
	idx := []ledger.IndexKey{learnerIndex(c.Req.Learner), ruleIndex(p.rule.ID), institutionIndex(p.rule.Target.Institution)}
	seq, err := t.emit(TypeConversionGranted, c.Actor, conv, idx, nil)
	if err != nil {
		return nil, err
	}
	res := ConversionResult{Seq: seq, Conversion: conv, Cost: cost}
	res.Ineligible, res.IneligibleOmitted = boundReasons(p.decision.Ineligible)
	return res, nil
}

// plan is the command's plan when it is still current, else (when the
// command says so) the plan made here, else errStalePlan.
func (c convertCmd) plan(t *tx) (plan, error) {
	if c.Plan != nil {
		ok, err := planCurrent(t, c.Req.Learner, *c.Plan)
		if err != nil || ok {
			return *c.Plan, err
		}
		if !c.PlanInside {
			return plan{}, errStalePlan
		}
	}
	return planConversion(t, txJournal{t}, c.Actor, c.Req, t.date())
}

// notEligible is the refusal of a plan that grants nothing, with its
// first MaxReasons reasons.
func notEligible(learner string, p plan) error {
	e := errorf(CodeNotEligible, "no outcome of learner %s is eligible under rule %s version %d", learner, p.rule.ID, p.rule.Version)
	e.Reasons, e.ReasonsOmitted = boundReasons(p.decision.Ineligible)
	return e
}

// planTypes are the entry types that change what a plan read beside the
// learner's own entries: the rule (published, retired), the groups of
// equivalent units, whether an institution is suspended, and the programme
// the rule's target names, whose limits bound the grants
// (programmelimit.go). They are rare, and the ledger lists entries by
// type, so one seek each tells whether any was written since the plan.
var planTypes = []string{TypeRulePublished, TypeRuleRetired, TypeEquivalencePublished, TypeSuspended, TypeReinstated, TypeProgrammePublished}

// planCurrent reports whether planning in t would give p: the date is the
// same and no entry written since p's read changes anything it read. What a
// plan reads is the rule, the target's and the outcomes' institutions, the
// groups of equivalent units, and the learner's outcomes, their uses and
// what the rule granted the learner; every entry that changes the last
// three is listed under the learner (outcomes, revocations, conversions and
// their adjustments), and the others are planTypes. An outcome named that
// is not the learner's stays not found whatever happens to it.
func planCurrent(t *tx, learner string, p plan) (bool, error) {
	if p.date != t.date() || p.size > t.view.Size() {
		return false, nil
	}
	changed := false
	since := func(seq uint64) bool { changed = true; return false }
	if err := t.view.Index(IndexLearner, learner, p.size, since); err != nil || changed {
		return false, err
	}
	for _, typ := range planTypes {
		if err := t.view.Index(ledger.IndexType, typ, p.size, since); err != nil || changed {
			return false, err
		}
	}
	return true, nil
}

// candidates loads what the engine needs of each outcome seq.
// Under the rules of contract version 2 (eligibility.go) it also says whether
// each outcome's institution is suspended and which groups of equivalent
// units it belongs to on date (equivalence.go).
//
// A sealed outcome keeps its score in its entry (erasure.go): when scores
// is set (the rule has a minimum score), it is read from there, and an
// outcome whose learner's key is gone has ScoreUnreadable set.
func candidates(s store, j journal, learner string, target Target, date string, seqs []uint64, contract int, scores bool) ([]Candidate, error) {
	out := make([]Candidate, len(seqs))
	suspended := suspensions{s: s}
	for i, seq := range seqs {
		st, err := getJSON[outcomeState](s, outKey(seq))
		if err != nil {
			return nil, err
		}
		out[i] = Candidate{Seq: seq}
		if st == nil || st.Learner != learner {
			continue
		}
		out[i] = Candidate{Seq: seq, Found: true, UsedToward: st.usedToward(target), outcomeState: *st}
		if scores && st.Sealed {
			out[i].Score, err = j.score(seq)
			if errors.Is(err, errErased) {
				out[i].ScoreUnreadable, err = true, nil
			}
			if err != nil {
				return nil, err
			}
		}
		if contract >= contractV2 {
			if out[i].Suspended, err = suspended.of(st.Institution); err != nil {
				return nil, err
			}
		}
	}
	if contract >= contractV2 {
		if err := addEquivalents(s, j, learner, target, date, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}
