package accreditation

import (
	"slices"

	"creditbank/ledger"
)

// A conversion and its preview (docs/contract.md section 8) decide alike:
// planConversion is both, against the sequencer's view for a conversion and
// against one durable read for a preview, which writes nothing.

// entryIndex lists a learner's entries in seq order: the ledger's index,
// read through a ledger.Reader or the sequencer's ledger.View.
type entryIndex interface {
	Index(name, value string, start uint64, fn func(seq uint64) bool) error
}

// plan is what applying a rule to a learner's outcomes on a date gives.
type plan struct {
	rule     *Rule
	date     string
	decision Decision
}

// planConversion checks that actor may ask for req and that its rule is in
// force on date, and evaluates the rule's latest version on the outcomes
// req names (or every outcome of the learner, in seq order).
func planConversion(s store, ix journal, actor Actor, req ConversionRequest, date string) (plan, error) {
	if err := mayConvert(actor, req); err != nil {
		return plan{}, err
	}
	head, err := getJSON[ruleHead](s, ruleKey(req.Rule))
	if err != nil {
		return plan{}, err
	}
	if head == nil {
		return plan{}, errorf(CodeNotFound, "no rule %q", req.Rule)
	}
	if head.Retired {
		return plan{}, errorf(CodeRuleInactive, "rule %q is retired", req.Rule)
	}
	rule, err := getJSON[Rule](s, ruleVersionKey(req.Rule, head.Latest))
	if err != nil {
		return plan{}, err
	}
	if err := rule.validOn(date); err != nil {
		return plan{}, err
	}
	if err := targetSuspended(s, rule.Target); err != nil {
		return plan{}, err
	}
	seqs, every := req.Outcomes, req.Outcomes == nil
	if every {
		// The learner's entries in seq order; those that are not outcomes
		// have no outcome state and are left out below.
		err := ix.Index(IndexLearner, req.Learner, 0, func(seq uint64) bool {
			seqs = append(seqs, seq)
			return true
		})
		if err != nil {
			return plan{}, err
		}
	}
	cands, err := candidates(s, ix, req.Learner, rule.Target, date, seqs, contractV2)
	if err != nil {
		return plan{}, err
	}
	if every {
		cands = slices.DeleteFunc(cands, func(c Candidate) bool { return !c.Found })
	}
	already, err := getAmount(s, grantedKey(req.Learner, rule.ID))
	if err != nil {
		return plan{}, err
	}
	return plan{rule: rule, date: date, decision: Evaluate(*rule, date, cands, already)}, nil
}

// mayConvert applies the data-dependent rows of the permission table to a
// conversion or its preview: a learner for itself, an admin on a learner's
// behalf. Since contract version 2 no institution may, not even the rule's
// target: the learner decides, and a refusal's reasons would tell an
// institution which outcomes a learner holds elsewhere. It is checked
// before anything about the learner's outcomes is read.
func mayConvert(actor Actor, req ConversionRequest) error {
	switch actor.Role {
	case RoleAdmin:
	case RoleLearner:
		if actor.ID != req.Learner {
			return errorf(CodeForbidden, "a learner may only convert their own outcomes")
		}
	default:
		return errorf(CodeForbidden, "%s may not ask for conversions", actor.Role)
	}
	return nil
}

// conversion is the conversion the plan grants, without items when
// nothing is eligible.
func (p plan) conversion(learner string) Conversion {
	d := p.decision
	return Conversion{
		Learner: learner, Rule: RuleRef{ID: p.rule.ID, Version: p.rule.Version}, Target: p.rule.Target,
		On: p.date, Items: d.Items, Granted: d.Granted, Capped: d.Capped, Contract: contractV2,
	}
}

// Preview is what a conversion would grant now: the conversion, with no
// item when nothing is eligible, and why each outcome asked for (or of the
// learner) would not count.
type Preview struct {
	Conversion
	Ineligible []Ineligible
	// Cost is what planning the preview read, also when it was refused.
	Cost Cost `json:"-"`
}

// Preview evaluates req as Convert would now, against one durable read of
// the ledger, and writes nothing. The refusals are Convert's (an unknown or
// retired rule, a rule not in force today, a request the actor may not
// make); nothing eligible is an answer, not a refusal.
func (b *Bank) Preview(actor Actor, req ConversionRequest) (Preview, error) {
	if err := req.Validate(); err != nil {
		return Preview{}, err
	}
	var pv Preview
	err := b.read(func(r *ledger.Reader, s store) error {
		p, err := planConversion(s, readerJournal{r}, actor, req, b.l.Now().UTC().Format(dateLayout))
		if err != nil {
			return err
		}
		pv = Preview{Conversion: p.conversion(req.Learner), Ineligible: p.decision.Ineligible}
		return nil
	})
	if err != nil {
		return Preview{}, err
	}
	if pv.Items == nil {
		pv.Items = []ConversionItem{}
	}
	return pv, nil
}
