package accreditation

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// The simulation's model and steps for recognition cases (docs/contract.md
// section 13): applications, reviews, decisions, one appeal within
// AppealDays days and its decision, each taken in and out of order, by the
// right actor and by others, before and after the deadline as the
// simulation's clock moves; reads of a case by everyone; and the reversal
// of a case's item when its outcome is revoked or superseded. Like the rest
// of the model it is written from the contract and shares no code with the
// bank.
//
// The cases' programme has no limits: no converted share, no cap per
// institution, term or year, min_level 0, and an institution that posts no
// outcomes. What a decision grants is then exactly what it asks, within
// each outcome's standard credits, but for an outcome whose unit, or an
// equivalent one, already counts toward the programme through another
// case (counted, 0). The limits themselves are recognition_property_test.go's.

// simRecTarget is the programme every simulated case applies to; its
// institution is registered at setup and takes no other part.
var simRecTarget = Target{Institution: "assess.example", Programme: "open-studies"}

func simRecProgramme() ProgrammeInput {
	return ProgrammeInput{
		ID: simRecTarget.Programme, Institution: simRecTarget.Institution, Title: "Open studies", Total: 100000,
		Requirements: []Requirement{{ID: "any", Fields: []string{"06"}, Min: 100}},
		ValidFrom:    "2000-01-01",
	}
}

// simDecision is a decision of a case or of its appeal, as the model keeps it.
type simDecision struct {
	seq      uint64
	on       string
	decision string
	items    []RecognitionItem
	granted  Amount
}

// simCaseStep is one entry of a case: its step, its date, the decision it
// records, or the outcome whose revocation reversed an item.
type simCaseStep struct {
	seq      uint64
	step     string
	on       string
	d        *simDecision
	reversed uint64
}

type simCase struct {
	seq      uint64
	learner  string
	outcomes []uint64
	steps    []simCaseStep
	reviews  int
	decision *simDecision
	appeal   *uint64
	// appealDecision is the regulator's decision of the appeal.
	appealDecision *simDecision
	// inForce are the items granted and not reversed.
	inForce []RecognitionItem
}

// status is the case's status as the contract names it.
func (c *simCase) status() string {
	switch {
	case c.appealDecision != nil && c.appealDecision.decision == DecisionGranted:
		return CaseGrantedOnAppeal
	case c.appealDecision != nil:
		return CaseRefusedOnAppeal
	case c.appeal != nil:
		return CaseAppealed
	case c.decision != nil && c.decision.decision == DecisionGranted:
		return CaseGranted
	case c.decision != nil:
		return CaseRefused
	case c.reviews > 0:
		return CaseUnderReview
	}
	return CaseApplied
}

// applyWant is the model's answer to actor applying with app.
func (m *simModel) applyWant(actor Actor, app RecognitionApplication) Code {
	switch {
	case actor.Role != RoleLearner || actor.ID != app.Learner:
		return CodeForbidden
	case len(app.Outcomes) == 0:
		return CodeInvalid
	}
	if _, gone := m.erased[app.Learner]; gone {
		return CodeErased
	}
	if len(m.byLearner[app.Learner]) == 0 || app.Target != simRecTarget {
		return CodeInvalid
	}
	for _, seq := range app.Outcomes {
		if o := m.outcomes[seq]; o == nil || o.in.Learner != app.Learner || o.revoked {
			return CodeInvalid
		}
	}
	return ""
}

// apply records a case opened on date.
func (m *simModel) apply(app RecognitionApplication, date string) *simCase {
	c := &simCase{seq: m.next, learner: app.Learner, outcomes: app.Outcomes,
		steps: []simCaseStep{{seq: m.next, step: "applied", on: date}}}
	m.next++
	m.cases[c.seq] = c
	return c
}

// simDecisionForm is the model's refusal of a decision's own form.
func simDecisionForm(d RecognitionDecision) Code {
	switch {
	case d.Reasons == "":
		return CodeInvalid
	case d.Decision == DecisionGranted && len(d.Items) == 0, d.Decision == DecisionRefused && len(d.Items) > 0:
		return CodeInvalid
	case d.Decision != DecisionGranted && d.Decision != DecisionRefused:
		return CodeInvalid
	}
	for _, it := range d.Items {
		if it.Amount <= 0 {
			return CodeInvalid
		}
	}
	return ""
}

// stepWant is the model's answer to actor taking step typ of case seq on
// date with decision d (for decided and appeal_decided), in the order the
// contract has them checked: the form, an erased actor, the case, its
// learner erased, the actor, the order, then what a granted decision asks.
// It answers the items a granted decision would record, and the reasons of
// a decision the limits cut to nothing.
func (m *simModel) stepWant(actor Actor, seq uint64, typ string, d RecognitionDecision, date string) (Code, []RecognitionItem, []Ineligible) {
	decides := typ == TypeRecognitionDecided || typ == TypeRecognitionAppealDecided
	if decides {
		if code := simDecisionForm(d); code != "" {
			return code, nil, nil
		}
	}
	if _, gone := m.erased[actor.ID]; gone && actor.Role == RoleLearner {
		return CodeErased, nil, nil
	}
	c := m.cases[seq]
	if c == nil {
		return CodeNotFound, nil, nil
	}
	if _, gone := m.erased[c.learner]; gone {
		return CodeErased, nil, nil
	}
	switch typ {
	case TypeRecognitionReviewed, TypeRecognitionDecided:
		if actor.Role != RoleInstitution || actor.ID != simRecTarget.Institution {
			return CodeForbidden, nil, nil
		}
	case TypeRecognitionAppealed:
		if actor.Role != RoleLearner || actor.ID != c.learner {
			return CodeForbidden, nil, nil
		}
	default:
		if actor.Role != RoleRegulator {
			return CodeForbidden, nil, nil
		}
	}
	switch typ {
	case TypeRecognitionReviewed:
		if c.decision != nil {
			return CodeConflict, nil, nil
		}
	case TypeRecognitionDecided:
		if c.decision != nil || c.reviews == 0 {
			return CodeConflict, nil, nil
		}
	case TypeRecognitionAppealed:
		if c.decision == nil || c.appeal != nil || simDays(c.decision.on, date) > AppealDays {
			return CodeConflict, nil, nil
		}
	default:
		if c.appeal == nil || c.appealDecision != nil {
			return CodeConflict, nil, nil
		}
	}
	if !decides || d.Decision != DecisionGranted {
		return "", nil, nil
	}
	return m.grants(c, d.Items, date)
}

// grants is what a granted decision of case c records on date: every
// outcome one of the case's, in force, asked at most its standard credits;
// each granted what it asks unless its unit or an equivalent one already
// counts toward the programme (the other cases' items in force, in the
// order the award audit counts them, then this decision's earlier items).
func (m *simModel) grants(c *simCase, asked []RecognitionGrant, date string) (Code, []RecognitionItem, []Ineligible) {
	for _, g := range asked {
		if !slices.Contains(c.outcomes, g.Outcome) {
			return CodeInvalid, nil, nil
		}
	}
	type counted struct {
		o       *simOutcome
		caseSeq uint64
	}
	var prior []counted
	for _, cs := range slices.Sorted(maps.Keys(m.cases)) {
		oc := m.cases[cs]
		if oc.learner != c.learner || oc == c {
			continue
		}
		for _, it := range oc.inForce {
			prior = append(prior, counted{m.outcomes[it.Outcome], cs})
		}
	}
	slices.SortStableFunc(prior, func(a, b counted) int {
		switch {
		case a.o.in.CompletedOn != b.o.in.CompletedOn:
			return strings.Compare(a.o.in.CompletedOn, b.o.in.CompletedOn)
		case a.o.seq != b.o.seq:
			return int(a.o.seq) - int(b.o.seq)
		}
		return int(a.caseSeq) - int(b.caseSeq)
	})
	units, groups := map[UnitRef]bool{}, map[string]bool{}
	counts := func(o *simOutcome) bool {
		return units[UnitRef{Institution: o.inst, Code: o.in.Unit.Code}] ||
			slices.ContainsFunc(m.groupsOf(o, date), func(g string) bool { return groups[g] })
	}
	take := func(o *simOutcome) {
		units[UnitRef{Institution: o.inst, Code: o.in.Unit.Code}] = true
		for _, g := range m.groupsOf(o, date) {
			groups[g] = true
		}
	}
	for _, p := range prior {
		if !counts(p.o) {
			take(p.o)
		}
	}
	items := make([]RecognitionItem, len(asked))
	var total Amount
	var limited []Ineligible
	for i, g := range asked {
		o := m.outcomes[g.Outcome]
		switch {
		case o.revoked:
			return CodeConflict, nil, nil
		case g.Amount > o.sc:
			return CodeInvalid, nil, nil
		}
		items[i] = RecognitionItem{Outcome: o.seq, StandardCredits: o.sc, Requested: g.Amount, Granted: g.Amount}
		if counts(o) {
			items[i].Granted, items[i].Limit = 0, LimitCounted
			limited = append(limited, Ineligible{Outcome: o.seq, Reason: ReasonProgrammeLimit})
			continue
		}
		take(o)
		total += g.Amount
	}
	if total == 0 {
		return CodeNotEligible, nil, limited
	}
	return "", items, nil
}

// step records step typ of case c, taken on date with decision d granting
// items.
func (m *simModel) step(c *simCase, typ string, d RecognitionDecision, items []RecognitionItem, date string) {
	st := simCaseStep{seq: m.next, step: strings.TrimPrefix(typ, "recognition."), on: date}
	m.next++
	switch typ {
	case TypeRecognitionReviewed:
		c.reviews++
	case TypeRecognitionAppealed:
		c.appeal = &st.seq
	default:
		sd := &simDecision{seq: st.seq, on: date, decision: d.Decision, items: items}
		for _, it := range items {
			sd.granted += it.Granted
		}
		st.d = sd
		if typ == TypeRecognitionDecided {
			c.decision = sd
		} else {
			c.appealDecision = sd
		}
		if d.Decision == DecisionGranted {
			m.replaceGrants(c, items)
		}
	}
	c.steps = append(c.steps, st)
}

// replaceGrants puts items in force for case c in place of those in force;
// the case moves to the end of each outcome's uses.
func (m *simModel) replaceGrants(c *simCase, items []RecognitionItem) {
	for _, it := range c.inForce {
		o := m.outcomes[it.Outcome]
		o.cases = slices.DeleteFunc(o.cases, func(s uint64) bool { return s == c.seq })
	}
	c.inForce = nil
	for _, it := range items {
		if it.Granted > 0 {
			c.inForce = append(c.inForce, it)
			o := m.outcomes[it.Outcome]
			o.cases = append(o.cases, c.seq)
		}
	}
}

// reverseCases records, after a revocation of o and its conversion
// changes, one recognition.adjusted entry for every case that holds an
// item of o in force, in the order they came to hold it.
func (m *simModel) reverseCases(o *simOutcome) []RecognitionEffect {
	var effects []RecognitionEffect
	for _, cs := range o.cases {
		c := m.cases[cs]
		i := slices.IndexFunc(c.inForce, func(it RecognitionItem) bool { return it.Outcome == o.seq })
		it := c.inForce[i]
		c.inForce = slices.Delete(c.inForce, i, i+1)
		c.steps = append(c.steps, simCaseStep{seq: m.next, step: "adjusted", reversed: o.seq})
		effects = append(effects, RecognitionEffect{Seq: m.next, Recognition: RecognitionID(cs),
			ItemChange: ItemChange{Outcome: o.seq, Action: ActionReversed, StandardCredits: it.StandardCredits, Granted: it.Granted}})
		m.next++
	}
	o.cases = nil
	return effects
}

// readWant is the model's answer to actor reading case seq.
func (m *simModel) readWant(actor Actor, seq uint64) Code {
	c := m.cases[seq]
	if c == nil {
		return CodeNotFound
	}
	_, gone := m.erased[c.learner]
	switch actor.Role {
	case RoleAdmin, RoleRegulator:
	case RoleInstitution:
		if actor.ID != simRecTarget.Institution {
			return CodeForbidden
		}
	case RoleLearner:
		if gone || actor.ID != c.learner {
			return CodeNotFound
		}
	default:
		return CodeForbidden
	}
	if gone {
		return CodeErased
	}
	return ""
}

// view is the case as the model says the bank shows it on date, the
// steps' words, times and actors aside (simNormCase).
func (m *simModel) view(c *simCase, date string) RecognitionCase {
	rc := RecognitionCase{ID: RecognitionID(c.seq), Seq: c.seq, Learner: c.learner, Target: simRecTarget,
		Programme: ProgrammeRef{ID: simRecTarget.Programme, Version: 1}, Outcomes: c.outcomes, Status: c.status(), InForce: c.inForce}
	for _, it := range c.inForce {
		rc.Granted += it.Granted
	}
	if c.decision != nil && c.appeal == nil && simDays(c.decision.on, date) <= AppealDays {
		rc.AppealBy = simAddDays(c.decision.on, AppealDays)
	}
	for _, st := range c.steps {
		v := RecognitionStepView{Seq: st.seq, Step: st.step}
		if st.d != nil {
			v.Decision, v.Items = st.d.decision, st.d.items
			if st.d.decision == DecisionGranted {
				g := st.d.granted
				v.Granted = &g
			}
		}
		if st.step == "adjusted" {
			r := st.reversed
			v.Reversed = &r
		} else {
			v.On = st.on
		}
		rc.Steps = append(rc.Steps, v)
	}
	return rc
}

func simAddDays(date string, n int) string {
	d, _ := parseDate("date", date)
	return d.AddDate(0, 0, n).Format(dateLayout)
}

// simNormCase keeps of a case what the model predicts: the steps' words,
// times and actors go, an adjustment's date too (it is the revocation's),
// and empty lists are nil.
func simNormCase(rc RecognitionCase) RecognitionCase {
	if len(rc.InForce) == 0 {
		rc.InForce = nil
	}
	steps := make([]RecognitionStepView, len(rc.Steps))
	for i, st := range rc.Steps {
		steps[i] = RecognitionStepView{Seq: st.Seq, Step: st.Step, On: st.On, Decision: st.Decision, Items: st.Items, Granted: st.Granted, Reversed: st.Reversed}
		if st.Reversed != nil {
			steps[i].On = ""
		}
		if len(st.Items) == 0 {
			steps[i].Items = nil
		}
	}
	if len(steps) == 0 {
		steps = nil
	}
	rc.Steps = steps
	return rc
}

// checkCase compares a case the bank answered with the model's.
func (s *simRun) checkCase(op string, got RecognitionCase, c *simCase) {
	s.t.Helper()
	want := simNormCase(s.m.view(c, s.today()))
	if got := simNormCase(got); !reflect.DeepEqual(got, want) {
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		s.fatalf("%s: case\nbank  %s\nmodel %s", op, gj, wj)
	}
}

// checkCases reads every case the model holds as an admin: each must be
// what the model says, or refused 410 once its learner is erased; and a
// case that does not exist is 404.
func (s *simRun) checkCases(where string) {
	for _, seq := range slices.Sorted(maps.Keys(s.m.cases)) {
		got, err := s.b.Recognition(admin, RecognitionID(seq))
		if want := s.m.readWant(admin, seq); CodeOf(err) != want {
			s.fatalf("%s: case %d read %v, the model %q", where, seq, err, want)
		} else if want == "" {
			s.checkCase(fmt.Sprintf("%s: case %d", where, seq), got, s.m.cases[seq])
		}
	}
	if _, err := s.b.Recognition(admin, RecognitionID(s.m.next)); CodeOf(err) != CodeNotFound {
		s.fatalf("%s: case %d, which does not exist: %v", where, s.m.next, err)
	}
}

// --- the driver's steps

// recognition takes one step of a case: an application, a later step, or
// a read.
func (s *simRun) recognition() {
	switch r := s.rng.Float64(); {
	case r < 0.15 || len(s.m.cases) == 0:
		s.applyCase()
	case r < 0.35:
		s.readCase()
	default:
		s.caseStep()
	}
}

// applyCase has a learner (or now and then someone else) apply with some of
// their outcomes in force, now and then one revoked, another learner's or
// none, or toward a programme that does not exist.
func (s *simRun) applyCase() {
	learner := s.pickLearner()
	app := RecognitionApplication{Learner: learner, Target: simRecTarget, Statement: "learnt at work, assessed by my employer"}
	for _, seq := range s.m.byLearner[learner] {
		if (!s.m.outcomes[seq].revoked || s.chance(0.05)) && s.chance(0.4) && len(app.Outcomes) < MaxRecognitionOutcomes-1 {
			app.Outcomes = append(app.Outcomes, seq)
		}
	}
	if len(app.Outcomes) == 0 && len(s.m.byLearner[learner]) > 0 && s.chance(0.9) {
		app.Outcomes = append(app.Outcomes, simPick(s, s.m.byLearner[learner]))
	}
	if s.chance(0.05) && len(s.m.outcomes) > 0 {
		if seq := simPick(s, slices.Sorted(maps.Keys(s.m.outcomes))); !slices.Contains(app.Outcomes, seq) {
			app.Outcomes = append(app.Outcomes, seq) // maybe another learner's
		}
	}
	if s.chance(0.3) {
		// An outcome another case granted credit for: granted again, it
		// counts already.
		for _, seq := range s.m.byLearner[learner] {
			if len(s.m.outcomes[seq].cases) > 0 && !slices.Contains(app.Outcomes, seq) {
				app.Outcomes = append(app.Outcomes, seq)
				break
			}
		}
	}
	if s.chance(0.04) {
		app.Target.Programme = "no-such-programme"
	}
	actor := Actor{Role: RoleLearner, ID: learner}
	switch r := s.rng.Float64(); {
	case r < 0.05:
		actor.ID = s.pickLearner()
	case r < 0.08:
		actor = Actor{Role: RoleInstitution, ID: simRecTarget.Institution}
	case r < 0.1:
		actor = admin
	}
	want := s.m.applyWant(actor, app)
	date := s.today()
	got, err := s.b.ApplyForRecognition(s.ctx, actor, app)
	op := fmt.Sprintf("apply %s by %s outcomes %v toward %s", learner, actor, app.Outcomes, app.Target)
	s.code(op, err, want)
	if want != "" {
		return
	}
	c := s.m.apply(app, date)
	s.wantSeq(op, got.Seq, c.seq)
	s.checkCase(op, got, c)
	s.recApplied++
}

// readCase reads a case as someone: the learner, another learner, the
// target institution, another institution, a regulator or an admin.
func (s *simRun) readCase() {
	seq := simPick(s, slices.Sorted(maps.Keys(s.m.cases)))
	if s.chance(0.05) {
		seq = s.m.next + uint64(s.rng.IntN(3))
	}
	actor := s.caseActor(s.m.cases[seq])
	got, err := s.b.Recognition(actor, RecognitionID(seq))
	want := s.m.readWant(actor, seq)
	op := fmt.Sprintf("read-case %d by %s", seq, actor)
	s.code(op, err, want)
	if want == "" {
		s.checkCase(op, got, s.m.cases[seq])
	}
	s.recReads++
}

// caseActor is anyone who might act on case c (nil: any case): mostly one
// who may, often one who may not.
func (s *simRun) caseActor(c *simCase) Actor {
	learner := s.pickLearner()
	if c != nil && s.chance(0.5) {
		learner = c.learner
	}
	switch s.rng.IntN(6) {
	case 0:
		return Actor{Role: RoleLearner, ID: learner}
	case 1:
		return Actor{Role: RoleInstitution, ID: simRecTarget.Institution}
	case 2:
		return Actor{Role: RoleInstitution, ID: simPick(s, simInstitutions)}
	case 3:
		return regulator
	case 4:
		return admin
	}
	return Actor{Role: RoleLearner, ID: s.pickLearner()}
}

// nextStep is the step case c would take next in order, or, now and then,
// any step.
func (s *simRun) nextStep(c *simCase) string {
	all := []string{TypeRecognitionReviewed, TypeRecognitionDecided, TypeRecognitionAppealed, TypeRecognitionAppealDecided}
	switch {
	case s.chance(0.15):
		return simPick(s, all)
	case c.decision == nil && (c.reviews == 0 || s.chance(0.2)):
		return TypeRecognitionReviewed
	case c.decision == nil:
		return TypeRecognitionDecided
	case c.appeal == nil:
		return TypeRecognitionAppealed
	}
	return TypeRecognitionAppealDecided
}

// rightActor is who may take step typ of case c.
func rightActor(c *simCase, typ string) Actor {
	switch typ {
	case TypeRecognitionReviewed, TypeRecognitionDecided:
		return Actor{Role: RoleInstitution, ID: simRecTarget.Institution}
	case TypeRecognitionAppealed:
		return Actor{Role: RoleLearner, ID: c.learner}
	}
	return regulator
}

// decisionFor draws a decision of case c: mostly granted, asking for some
// of its outcomes at most their standard credits, now and then more, one
// not of the case, or a form the contract refuses.
func (s *simRun) decisionFor(c *simCase) RecognitionDecision {
	d := RecognitionDecision{Decision: DecisionGranted, Reasons: "assessed against the programme's outcomes"}
	if s.chance(0.2) {
		d.Decision = DecisionRefused
		if s.chance(0.05) {
			d.Items = []RecognitionGrant{{Outcome: c.outcomes[0], Amount: 100}}
		}
		return d
	}
	for _, seq := range c.outcomes {
		// Mostly outcomes worth something and in force.
		o := s.m.outcomes[seq]
		if !s.chance(0.7) || (o.sc == 0 || o.revoked) && !s.chance(0.1) {
			continue
		}
		sc := o.sc
		a := Amount(1)
		if sc > 0 {
			a = 1 + Amount(s.rng.IntN(int(sc)))
			if s.chance(0.3) {
				a = sc
			}
		}
		if s.chance(0.05) {
			a = sc + 1
		}
		d.Items = append(d.Items, RecognitionGrant{Outcome: seq, Amount: a})
	}
	if len(d.Items) == 0 && s.chance(0.9) {
		seq := simPick(s, c.outcomes)
		d.Items = append(d.Items, RecognitionGrant{Outcome: seq, Amount: max(s.m.outcomes[seq].sc, 1)})
	}
	if s.chance(0.04) && len(s.m.outcomes) > 0 {
		if seq := simPick(s, slices.Sorted(maps.Keys(s.m.outcomes))); !slices.ContainsFunc(d.Items, func(g RecognitionGrant) bool { return g.Outcome == seq }) {
			d.Items = append(d.Items, RecognitionGrant{Outcome: seq, Amount: 1}) // maybe not the case's
		}
	}
	if s.chance(0.03) {
		d.Reasons = ""
	}
	return d
}

// caseStep takes a later step of a case, mostly the next in order by the
// one who may, and moves the clock to either side of the appeal's deadline
// now and then before an appeal.
func (s *simRun) caseStep() {
	c := s.pickCase()
	seq := c.seq
	typ := s.nextStep(c)
	actor := rightActor(c, typ)
	if s.chance(0.15) {
		actor = s.caseActor(c)
	}
	if s.chance(0.03) {
		seq = s.m.next + uint64(s.rng.IntN(3)) // no case
	}
	if typ == TypeRecognitionAppealed && c.decision != nil && s.chance(0.4) {
		// the last day to appeal, or the day after
		if days, to := simDays(c.decision.on, s.today()), AppealDays+s.rng.IntN(2); days < to {
			s.clock.addDays(to - days)
		}
	}
	var d RecognitionDecision
	decides := typ == TypeRecognitionDecided || typ == TypeRecognitionAppealDecided
	if decides {
		d = s.decisionFor(c)
	}
	date := s.today()
	code, items, reasons := s.m.stepWant(actor, seq, typ, d, date)
	got, err := s.takeStep(actor, RecognitionID(seq), typ, d)
	op := fmt.Sprintf("case-step %s of %s by %s on %s", typ, RecognitionID(seq), actor, date)
	if decides {
		op += fmt.Sprintf(" decision %+v", d)
	}
	s.code(op, err, code)
	if code == CodeNotEligible {
		var de *Error
		if wr, omitted := simBound(reasons); !errors.As(err, &de) || !reflect.DeepEqual(de.Reasons, wr) || de.ReasonsOmitted != omitted {
			s.fatalf("%s: bank reasons %v, model %v", op, de, reasons)
		}
	}
	if code == CodeConflict && typ == TypeRecognitionAppealed && seq == c.seq && c.decision != nil {
		s.recLate++
	}
	if code != "" {
		return
	}
	s.wantSeq(op, got.Steps[len(got.Steps)-1].Seq, s.m.next)
	s.m.step(c, typ, d, items, date)
	s.checkCase(op, got, c)
	s.recSteps++
	for _, it := range items {
		if it.Limit != "" {
			s.recCounted++
		}
	}
	if typ == TypeRecognitionAppealed {
		s.recAppeals++
	}
}

// takeStep has actor take step typ of case id with decision d.
func (s *simRun) takeStep(actor Actor, id, typ string, d RecognitionDecision) (RecognitionCase, error) {
	switch typ {
	case TypeRecognitionReviewed:
		return s.b.ReviewRecognition(s.ctx, actor, id, "reviewed the evidence")
	case TypeRecognitionDecided:
		return s.b.DecideRecognition(s.ctx, actor, id, d)
	case TypeRecognitionAppealed:
		return s.b.AppealRecognition(s.ctx, actor, id, "the decision overlooked my portfolio")
	}
	return s.b.DecideRecognitionAppeal(s.ctx, actor, id, d)
}

// pickCase is a case to take a step of: mostly one still open, of a
// learner the bank keeps data of.
func (s *simRun) pickCase() *simCase {
	seqs := slices.Sorted(maps.Keys(s.m.cases))
	open := slices.DeleteFunc(slices.Clone(seqs), func(q uint64) bool {
		c := s.m.cases[q]
		_, gone := s.m.erased[c.learner]
		late := c.decision != nil && c.appeal == nil && simDays(c.decision.on, s.today()) > AppealDays
		return gone || late || c.appealDecision != nil
	})
	// Often one decided that may still be appealed: the clock moves on
	// fast enough to let most deadlines pass otherwise.
	appealable := slices.DeleteFunc(slices.Clone(open), func(q uint64) bool {
		c := s.m.cases[q]
		return c.decision == nil || c.appeal != nil || simDays(c.decision.on, s.today()) > AppealDays
	})
	switch {
	case len(appealable) > 0 && s.chance(0.4):
		open = appealable
	case len(open) == 0 || s.chance(0.15):
		open = seqs
	}
	return s.m.cases[simPick(s, open)]
}
