package accreditation

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
)

// Random journals and their invariants for the correctness rules of
// docs/contract.md section 8: groups of equivalent units and previews are
// among the operations, and ptInvariantsV2 walks the journal with a model
// of its own to check duplicates, suspension and equivalent units.

// publishGroup publishes a version of a group of units, mostly of units
// one learner holds.
func (s *ptSim) publishGroup() {
	g := EquivalenceInput{ID: ptPick(s, []string{"g-one", "g-two"}), ValidFrom: s.day(-s.pick(600))}
	learner := ptPick(s, ptLearners)
	for range 2 + s.pick(2) {
		u := UnitRef{Institution: ptPick(s, ptInstitutions[:4]), Code: fmt.Sprintf("U%d", s.pick(50))}
		var mine []ptPosted
		for _, p := range s.posted {
			if p.in.Learner == learner {
				mine = append(mine, p)
			}
		}
		if len(mine) > 0 && s.chance(0.8) {
			p := ptPick(s, mine)
			u = UnitRef{Institution: p.inst, Code: p.in.Unit.Code}
		}
		if !slices.Contains(g.Units, u) {
			g.Units = append(g.Units, u)
		}
	}
	if s.chance(0.2) {
		until := s.day(s.pick(200) - 100)
		g.ValidUntil = &until
	}
	_, err := s.b.PublishEquivalence(s.ctx, regulator, g)
	if s.domain("publish group", err) {
		s.groups++
	}
}

// previewThenConvert previews a conversion and asks for it at once: with
// nothing written between, the conversion grants what the preview showed,
// or is refused as the preview was.
func (s *ptSim) previewThenConvert() {
	learner := ptPick(s, ptLearners)
	req := ConversionRequest{Learner: learner, Rule: ptPick(s, ptRules)}
	actor := Actor{Role: RoleLearner, ID: learner}
	size := s.b.Ledger().Size()
	pv, perr := s.b.Preview(actor, req)
	if s.b.Ledger().Size() != size {
		s.fatalf("op %d: a preview wrote", s.ops)
	}
	res, err := s.b.Convert(s.ctx, actor, req)
	var de *Error
	switch {
	case perr != nil:
		if CodeOf(err) != CodeOf(perr) {
			s.fatalf("op %d %+v: preview refused %v, conversion %v", s.ops, req, perr, err)
		}
	case len(pv.Items) == 0:
		if !errors.As(err, &de) || de.Code != CodeNotEligible || !reflect.DeepEqual(de.Reasons, pv.Ineligible) || de.ReasonsOmitted != pv.IneligibleOmitted {
			s.fatalf("op %d %+v: preview showed nothing eligible (%+v), conversion %v", s.ops, req, pv.Ineligible, err)
		}
	case err != nil || !reflect.DeepEqual(pv.Conversion, res.Conversion) || !reflect.DeepEqual(pv.Ineligible, res.Ineligible) || pv.IneligibleOmitted != res.IneligibleOmitted:
		s.fatalf("op %d %+v: preview %+v, conversion %+v %v", s.ops, req, pv, res, err)
	default:
		s.convs[res.Seq] = res.Conversion
		s.conversions++
	}
	s.previews++
}

// ptInvariantsV2 walks the journal with a model of its own and checks:
//   - no outcome is recorded while another of the same institution,
//     learner, unit code and completion date is in force, unless it
//     supersedes that one;
//   - no conversion decided under contract version 2 uses an outcome of a
//     suspended institution or targets a suspended one;
//   - no two outcomes counting toward one programme, in the conversions in
//     force of a version 2 conversion's time, belong to one group of
//     equivalent units valid on its date.
func ptInvariantsV2(t *testing.T, b *testBank, where string) {
	t.Helper()
	var (
		outcomes  = map[uint64]*Outcome{}
		revoked   = map[uint64]bool{}
		inForce   = map[string]uint64{} // unit key → outcome in force
		suspended = map[string]bool{}
		groups    = map[string]Equivalence{}
		toward    = map[uint64]Conversion{} // conversions in force, items as they stand
	)
	fail := func(seq uint64, format string, args ...any) {
		t.Helper()
		t.Errorf("%s: entry %d: %s", where, seq, fmt.Sprintf(format, args...))
	}
	unitOf := func(o *Outcome) string {
		return o.Institution + "/" + o.Learner + "/" + o.Unit.Code + "/" + o.CompletedOn
	}
	groupsOf := func(o *Outcome, date string) []string {
		var ids []string
		for id, g := range groups {
			if g.validOn(date) && slices.Contains(g.Units, UnitRef{Institution: o.Institution, Code: o.Unit.Code}) {
				ids = append(ids, id)
			}
		}
		return ids
	}
	for _, e := range ptEntries(t, b) {
		switch e.Type {
		case TypeOutcomeRecorded:
			o := ptDecode[Outcome](t, e.Content)
			if prev, ok := inForce[unitOf(&o)]; ok && !revoked[prev] && (o.Supersedes == nil || *o.Supersedes != prev) {
				fail(e.Seq, "repeats outcome %d, in force, of the same unit and date", prev)
			}
			outcomes[e.Seq], inForce[unitOf(&o)] = &o, e.Seq
		case TypeOutcomeRevoked:
			revoked[ptDecode[Revocation](t, e.Content).Outcome] = true
		case TypeSuspended:
			suspended[ptDecode[Suspended](t, e.Content).Institution] = true
		case TypeReinstated:
			delete(suspended, ptDecode[Reinstated](t, e.Content).Institution)
		case TypeEquivalencePublished:
			g := ptDecode[Equivalence](t, e.Content)
			groups[g.ID] = g
		case TypeConversionGranted:
			c := ptDecode[Conversion](t, e.Content)
			if c.Contract >= 2 {
				ptCheckV2(e.Seq, c, outcomes, revoked, suspended, toward, groupsOf, fail)
			}
			toward[e.Seq] = c
		case TypeConversionAdjusted:
			a := ptDecode[Adjustment](t, e.Content)
			c := toward[a.Conversion]
			c.Items = slices.Clone(c.Items)
			for _, ch := range a.Items {
				i := slices.IndexFunc(c.Items, func(it ConversionItem) bool { return it.Outcome == ch.Outcome })
				if i < 0 {
					continue // ptInvariants reports it
				}
				if ch.To != nil {
					c.Items[i] = *ch.To
				} else {
					c.Items = slices.Delete(c.Items, i, i+1)
				}
			}
			toward[a.Conversion] = c
		case TypeConversionReversed:
			delete(toward, ptDecode[Reversal](t, e.Content).Conversion)
		}
	}
}

// ptCheckV2 checks one conversion of contract version 2 against the
// institutions suspended and the groups then.
func ptCheckV2(seq uint64, c Conversion, outcomes map[uint64]*Outcome, revoked map[uint64]bool, suspended map[string]bool,
	toward map[uint64]Conversion, groupsOf func(*Outcome, string) []string, fail func(uint64, string, ...any)) {
	if suspended[c.Target.Institution] {
		fail(seq, "converts toward suspended %s", c.Target.Institution)
	}
	counted := map[string]uint64{} // group → outcome counting for it
	for _, other := range toward {
		if other.Target != c.Target || other.Learner != c.Learner {
			continue
		}
		for _, it := range other.Items {
			if o := outcomes[it.Outcome]; o != nil && !revoked[it.Outcome] {
				for _, id := range groupsOf(o, c.On) {
					counted[id] = it.Outcome
				}
			}
		}
	}
	for _, it := range c.Items {
		o := outcomes[it.Outcome]
		if o == nil {
			continue // ptInvariants reports it
		}
		if suspended[o.Institution] {
			fail(seq, "uses outcome %d of suspended %s", it.Outcome, o.Institution)
		}
		for _, id := range groupsOf(o, c.On) {
			if prev, ok := counted[id]; ok && prev != it.Outcome {
				fail(seq, "counts outcome %d of group %s, for which outcome %d counts already", it.Outcome, id, prev)
			}
			counted[id] = it.Outcome
		}
	}
}
