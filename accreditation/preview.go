package accreditation

import (
	"slices"

	"creditbank/ledger"
)

// A conversion and its preview (docs/contract.md section 8) decide alike:
// planConversion is both. A preview plans against one durable read and
// writes nothing; a conversion plans the same way, outside the sequencer,
// and the sequencer only confirms that nothing the plan read has changed
// before it writes the plan (convertCmd): a learner with ten thousand
// outcomes no longer holds every write of the bank while they are read.

// entryIndex lists a learner's entries in seq order: the ledger's index,
// read through a ledger.Reader or the sequencer's ledger.View.
type entryIndex interface {
	Index(name, value string, start uint64, fn func(seq uint64) bool) error
}

// maxConversionScan bounds a conversion or preview that names no
// outcomes: it looks at no more of the learner's entries (outcomes,
// revocations, conversions) than this, and a learner with more is refused
// (CodeInvalid) and asked to name the outcomes, at most 1000 a request
// (docs/contract.md section 8). Planning over 100,000 outcomes took 1.2 to
// 1.8 CPU-seconds and answered 4 MB. It is the bound on named outcomes too:
// what a conversion grants is recorded in the sequencer, item by item
// (about 17 µs each), and a conversion of 5,000 items held every write for
// about 100 ms under hostile load (creditbank abuse). A variable so that
// tests can lower it.
var maxConversionScan = 1000

// MaxReasons bounds the reasons a conversion, its preview or its
// not-eligible refusal lists: the first MaxReasons in request (or seq)
// order, and how many were left out.
const MaxReasons = 100

// boundReasons cuts reasons to MaxReasons and says how many it left out.
func boundReasons(reasons []Ineligible) ([]Ineligible, int) {
	if len(reasons) <= MaxReasons {
		return reasons, 0
	}
	return slices.Clip(reasons[:MaxReasons]), len(reasons) - MaxReasons
}

// plan is what applying a rule to a learner's outcomes on a date gives. It
// is plain data, so that a conversion command can carry it.
type plan struct {
	rule     *Rule
	date     string
	decision Decision
	// size is the ledger size the plan was read at: the sequencer checks
	// the entries from there on for anything the plan depends on
	// (planCurrent).
	size uint64
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
		more := false
		err := ix.Index(IndexLearner, req.Learner, 0, func(seq uint64) bool {
			if len(seqs) == maxConversionScan {
				more = true
				return false
			}
			seqs = append(seqs, seq)
			return true
		})
		if err != nil {
			return plan{}, err
		}
		if more {
			return plan{}, errorf(CodeInvalid, "learner %s has more than %d entries: name the outcomes to convert in outcomes, at most %d a request",
				req.Learner, maxConversionScan, maxConversionOutcomes)
		}
	}
	cands, err := candidates(s, ix, req.Learner, rule.Target, date, seqs, contractV2, rule.Source.MinScore != nil)
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
	budget, err := newProgrammeBudget(s, ix, req.Learner, rule.Target, date, cands)
	if err != nil {
		return plan{}, err
	}
	return plan{rule: rule, date: date, decision: evaluate(*rule, date, cands, already, budget)}, nil
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
		if !SameLearner(actor.ID, req.Learner) {
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
	// Ineligible is the first MaxReasons outcomes that would not count,
	// and IneligibleOmitted how many more there are.
	Ineligible        []Ineligible
	IneligibleOmitted int
	// Cost is what planning the preview read, also when it was refused.
	Cost Cost `json:"-"`
}

// Preview evaluates req as Convert would now, against one durable read of
// the ledger, and writes nothing. The refusals are Convert's (an unknown or
// retired rule, a rule not in force today, a request the actor may not
// make, a learner with too many entries to look at); nothing eligible is an
// answer, not a refusal. A refusal after reading returns a Preview with
// only Cost set beside the error.
func (b *Bank) Preview(actor Actor, req ConversionRequest) (Preview, error) {
	if err := req.Validate(); err != nil {
		return Preview{}, err
	}
	id := CanonicalLearnerID(req.Learner)
	l, err := b.learnerForCommand(id)
	if err != nil {
		return Preview{}, err
	}
	req.Learner, actor = l.ref, actorByRef(actor, id, l.ref)
	p, cost, err := b.planDurable(actor, req)
	if err != nil {
		return Preview{Cost: cost}, nameLearner(err, l.ref, id)
	}
	pv := Preview{Conversion: p.conversion(id), Cost: cost}
	pv.Ineligible, pv.IneligibleOmitted = boundReasons(p.decision.Ineligible)
	if pv.Items == nil {
		pv.Items = []ConversionItem{}
	}
	return pv, nil
}

// planDurable plans req against one durable read of the ledger, dated
// today (UTC), and says what the read cost.
func (b *Bank) planDurable(actor Actor, req ConversionRequest) (plan, Cost, error) {
	var (
		p    plan
		cost Cost
	)
	err := b.read(func(r *ledger.Reader, s store) error {
		var err error
		p, err = planConversion(s, readerJournal{r, b.keys}, actor, req, b.l.Now().UTC().Format(dateLayout))
		p.size, cost.Rows = r.Size(), r.Rows()
		return err
	})
	return p, cost, err
}
