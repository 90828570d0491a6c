package accreditation

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
)

// The simulation's model and steps for the correctness rules of
// docs/contract.md section 8 that go beyond one command's answer: groups of
// equivalent units, previews and corrections that carry conversion items
// over. Like the rest of the model they are written from the contract and
// share no code with the bank.

// simGroupIDs are the ids of groups the simulation publishes.
var simGroupIDs = []string{"g-one", "g-two"}

// groupsOf is the ids of the groups, in their latest versions valid on
// date, that list o's unit.
func (m *simModel) groupsOf(o *simOutcome, date string) []string {
	if o == nil {
		return nil
	}
	var out []string
	for _, id := range slices.Sorted(maps.Keys(m.groups)) {
		vs := m.groups[id]
		g := vs[len(vs)-1]
		if g.ValidFrom > date || (g.ValidUntil != nil && date > *g.ValidUntil) {
			continue
		}
		if slices.Contains(g.Units, UnitRef{Institution: o.inst, Code: o.in.Unit.Code}) {
			out = append(out, id)
		}
	}
	return out
}

// usedGroups is the groups a learner's outcomes in force toward target, and
// not revoked, stand for on date.
func (m *simModel) usedGroups(learner string, target Target, date string) map[string]bool {
	used := map[string]bool{}
	for _, seq := range m.byLearner[learner] {
		o := m.outcomes[seq]
		if o.revoked || !slices.ContainsFunc(o.usedBy, func(c uint64) bool { return m.convs[c].target == target }) {
			continue
		}
		for _, id := range m.groupsOf(o, date) {
			used[id] = true
		}
	}
	return used
}

// publishGroup publishes a version of a group of equivalent units, mostly
// of units learners already hold, so that groups matter.
func (s *simRun) publishGroup() {
	g := EquivalenceInput{ID: simPick(s, simGroupIDs), ValidFrom: s.day(-s.rng.IntN(800))}
	seqs := slices.Sorted(maps.Keys(s.m.outcomes))
	if l := s.pickLearner(); len(s.m.byLearner[l]) >= 2 && s.chance(0.7) {
		seqs, s.groupLearner = s.m.byLearner[l], l // units one learner holds, so that they compete
	}
	for range 2 + s.rng.IntN(3) {
		u := UnitRef{Institution: simPick(s, simInstitutions[:4]), Code: fmt.Sprintf("U%03d", s.rng.IntN(200))}
		if len(seqs) > 0 && s.chance(0.8) {
			o := s.m.outcomes[simPick(s, seqs)]
			u = UnitRef{Institution: o.inst, Code: o.in.Unit.Code}
		}
		if !slices.Contains(g.Units, u) {
			g.Units = append(g.Units, u)
		}
	}
	if s.chance(0.15) {
		until := s.day(s.rng.IntN(120) - 60)
		if until < g.ValidFrom {
			until = g.ValidFrom
		}
		g.ValidUntil = &until
	}
	want := Code("")
	switch {
	case len(g.Units) < 2:
		want = CodeInvalid
	case s.chance(0.05):
		g.Units[0].Institution, want = "ghost.example", CodeInvalid
		if s.m.insts["ghost.example"] != nil {
			want = ""
		}
	}
	for _, u := range g.Units {
		if want == "" && s.m.insts[u.Institution] == nil {
			want = CodeInvalid
		}
	}
	got, err := s.b.PublishEquivalence(s.ctx, regulator, g)
	op := "publish group " + g.ID
	s.code(op, err, want)
	if want != "" {
		return
	}
	s.m.groups[g.ID] = append(s.m.groups[g.ID], g)
	if got.Version != len(s.m.groups[g.ID]) || got.Seq != s.m.next {
		s.fatalf("%s: bank version %d seq %d; model version %d seq %d", op, got.Version, got.Seq, len(s.m.groups[g.ID]), s.m.next)
	}
	s.m.next++
	s.groupsOK++
}

// preview checks that a preview of req answers what the model decides,
// and writes nothing.
func (s *simRun) preview(op string, actor Actor, req ConversionRequest, date string) {
	op = "preview of " + op
	size := s.l.Size()
	got, err := s.b.Preview(actor, req)
	if s.l.Size() != size {
		s.fatalf("%s: the ledger grew from %d to %d", op, size, s.l.Size())
	}
	var want simConvWant
	if req.Outcomes != nil && len(req.Outcomes) == 0 {
		want.code = CodeInvalid
	} else {
		want = s.m.decide(actor, req, date)
	}
	s.previews++
	switch want.code {
	case "":
		c := want.conv
		wc := Conversion{Learner: c.learner, Rule: c.rule, Target: c.target, On: c.on, Items: c.items, Granted: c.granted, Capped: c.capped, Contract: 2}
		wi, omitted := simBound(want.ineligible)
		if err != nil || !reflect.DeepEqual(got.Conversion, wc) || !reflect.DeepEqual(got.Ineligible, wi) || got.IneligibleOmitted != omitted {
			s.fatalf("%s: bank %+v %+v %v; model %+v %+v", op, got.Conversion, got.Ineligible, err, wc, want.ineligible)
		}
	case CodeNotEligible:
		wr, omitted := simBound(want.reasons)
		if err != nil || len(got.Items) != 0 || got.Granted != 0 || !reflect.DeepEqual(got.Ineligible, wr) || got.IneligibleOmitted != omitted {
			s.fatalf("%s: bank %+v %v; model nothing eligible: %+v", op, got, err, want.reasons)
		}
	default:
		var de *Error
		if !errors.As(err, &de) || de.Code != want.code {
			s.fatalf("%s: bank %v; model %q", op, err, want.code)
		}
	}
}

// correction is an outcome of inst correcting one of its own: the same
// learner, unit and date, other credits or score, so that items of
// conversions move to it more often than a random outcome would let them.
func (s *simRun) correction(inst string) OutcomeInput {
	var mine []*simOutcome
	for _, seq := range slices.Sorted(maps.Keys(s.m.outcomes)) {
		if o := s.m.outcomes[seq]; o.inst == inst && !o.revoked && s.mostlyLive(o) {
			mine = append(mine, o)
		}
	}
	if len(mine) == 0 {
		return s.superseding(inst)
	}
	if used := slices.DeleteFunc(slices.Clone(mine), func(o *simOutcome) bool { return len(o.usedBy) == 0 }); len(used) > 0 && s.chance(0.7) {
		mine = used
	}
	old := simPick(s, mine)
	s.keyN++
	o := old.in
	o.IdempotencyKey = fmt.Sprintf("k-%d-%d", s.seed, s.keyN)
	o.Supersedes = &old.seq
	o.Hours = nil
	o.Credits.Amount = simPick(s, simAmounts)
	if s.chance(0.3) {
		sc := simPick(s, simScores)
		o.Result.Score = &sc
	}
	if s.chance(0.1) {
		o.Unit.Code = fmt.Sprintf("U%03d", s.rng.IntN(200))
	}
	return o
}

// repeat is an outcome of inst repeating one it recorded (the same
// learner, unit and date) under a new key, mostly without saying it
// corrects it: a duplicate while the first is in force.
func (s *simRun) repeat(inst string) OutcomeInput {
	var mine []*simOutcome
	for _, seq := range slices.Sorted(maps.Keys(s.m.outcomes)) {
		if o := s.m.outcomes[seq]; o.inst == inst && s.mostlyLive(o) {
			mine = append(mine, o)
		}
	}
	if len(mine) == 0 {
		return s.newOutcome(s.pickLearner())
	}
	old := simPick(s, mine)
	s.keyN++
	o := old.in
	o.IdempotencyKey = fmt.Sprintf("k-%d-%d", s.seed, s.keyN)
	o.Supersedes = nil
	if s.chance(0.2) {
		o.Supersedes = &old.seq
	}
	return o
}
