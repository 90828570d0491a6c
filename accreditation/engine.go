package accreditation

import (
	"slices"
)

// Reasons an outcome is not eligible for a conversion. They are stable
// strings: clients and the audit compare them.
const (
	ReasonNotFound     = "not_found"     // no such outcome of this learner
	ReasonDuplicate    = "duplicate"     // named twice in the request
	ReasonRevoked      = "revoked"       // revoked or superseded
	ReasonFailed       = "failed"        // not passed: credit is all or nothing
	ReasonAlreadyUsed  = "already_used"  // a conversion in force used it toward the same programme
	ReasonSector       = "sector"        // not from a sector the rule counts
	ReasonLevel        = "level"         // below the rule's minimum level
	ReasonField        = "field"         // not in a field the rule counts
	ReasonScore        = "score"         // no score, or below the rule's minimum
	ReasonTooOld       = "too_old"       // completed longer ago than the rule allows
	ReasonInstitution  = "institution"   // from an institution the rule does not count
	ReasonNoCredits    = "no_credits"    // would grant nothing
	ReasonCapReached   = "cap_reached"   // the rule's cap for the learner is used up
	ReasonNotCompleted = "not_completed" // completed after the conversion date
	// ReasonSuspended: the outcome's institution is suspended (rules of
	// contract version 2, eligibility.go).
	ReasonSuspended = "institution_suspended"
)

// Ineligible says why one outcome asked for was not converted.
type Ineligible struct {
	Outcome uint64 `json:"outcome"`
	Reason  string `json:"reason"`
}

// Candidate is what the engine knows of one outcome asked for. Found is
// false when the learner has no such outcome.
type Candidate struct {
	Seq   uint64
	Found bool
	// UsedToward is true when a conversion in force already used the
	// outcome toward the rule's target programme.
	UsedToward bool
	// Suspended is true when the outcome's institution is suspended.
	Suspended bool
	// Equivalents are the groups of equivalent units the outcome's unit
	// belongs to on the date, and EquivalentUsed is true when an outcome
	// of one of them already counts toward the target programme.
	Equivalents    []string
	EquivalentUsed bool
	// ScoreUnreadable is set when the outcome's score is sealed and its
	// learner's key erased: the score counts as absent.
	ScoreUnreadable bool
	outcomeState
}

// Decision is the engine's answer: the items granted in request order, or
// (with no items) only reasons. Capped is true when the learner has reached
// the rule's cap, whether or not an item was cut to fit.
type Decision struct {
	Items      []ConversionItem
	Granted    Amount
	Capped     bool
	Ineligible []Ineligible
}

// Evaluate applies rule on date to the candidates in order, given what the
// rule already granted the learner (all versions, conversions in force). For
// each eligible outcome it grants min(ratio × standard credits, cap − granted
// so far), rounded half-even to hundredths; an outcome that would get nothing
// because the cap is used up is left unconverted (and unconsumed) with
// ReasonCapReached. It is deterministic and reads nothing but its arguments.
func Evaluate(rule Rule, date string, candidates []Candidate, alreadyGranted Amount) Decision {
	return evaluate(rule, date, candidates, alreadyGranted, nil)
}

// evaluate is Evaluate within the limits of the programme the rule's
// target names, when budget is not nil (programmelimit.go): an item the
// programme lets grant nothing is not eligible (ReasonProgrammeLimit), and
// one it cuts short names the limit.
func evaluate(rule Rule, date string, candidates []Candidate, alreadyGranted Amount, budget *programmeBudget) Decision {
	var d Decision
	remaining := Amount(-1) // no cap
	if rule.Cap != nil {
		remaining = max(*rule.Cap-alreadyGranted, 0)
	}
	seen := map[uint64]bool{}
	claimed := map[string]bool{} // groups an item of this decision stands for
	for _, c := range candidates {
		reason := ineligibility(rule, date, c)
		if reason == "" && seen[c.Seq] {
			reason = ReasonDuplicate
		}
		seen[c.Seq] = true
		if reason == "" && (c.EquivalentUsed || slices.ContainsFunc(c.Equivalents, func(g string) bool { return claimed[g] })) {
			reason = ReasonEquivalentUsed
		}
		var g Amount
		if reason == "" {
			g = rule.Ratio.Apply(c.StandardCredits)
			if g == 0 {
				reason = ReasonNoCredits
			}
		}
		if reason == "" && remaining >= 0 {
			if remaining == 0 {
				reason = ReasonCapReached
			} else if g > remaining {
				g = remaining
			}
		}
		var limit string
		if reason == "" && budget != nil {
			if g, limit = budget.limit(&c, g); g == 0 {
				reason = ReasonProgrammeLimit
			}
		}
		if reason != "" {
			d.Ineligible = append(d.Ineligible, Ineligible{Outcome: c.Seq, Reason: reason})
			continue
		}
		if remaining >= 0 {
			remaining -= g
		}
		if budget != nil {
			budget.take(&c, g)
		}
		for _, eq := range c.Equivalents {
			claimed[eq] = true
		}
		d.Items = append(d.Items, ConversionItem{Outcome: c.Seq, StandardCredits: c.StandardCredits, Granted: g, Limit: limit})
		d.Granted += g
	}
	// Capped says the learner has reached the rule's cap: it follows from
	// the items and what was granted before, so a re-run of the items alone
	// gives the same answer.
	d.Capped = remaining == 0
	return d
}

// ineligibility is the first reason c may not count under rule on date, or "".
func ineligibility(rule Rule, date string, c Candidate) string {
	s := rule.Source
	switch {
	case !c.Found:
		return ReasonNotFound
	case c.Revoked:
		return ReasonRevoked
	case !c.Passed:
		return ReasonFailed
	case c.Suspended:
		return ReasonSuspended
	case c.UsedToward:
		return ReasonAlreadyUsed
	case !slices.Contains(s.Sectors, c.Sector):
		return ReasonSector
	case c.Level < s.MinLevel:
		return ReasonLevel
	case !FieldMatches(c.Field, s.Fields):
		return ReasonField
	case s.MinScore != nil && (c.Score == nil || *c.Score < *s.MinScore):
		return ReasonScore
	case c.CompletedOn > date:
		return ReasonNotCompleted
	case s.MaxAgeDays != nil && daysBetween(c.CompletedOn, date) > *s.MaxAgeDays:
		return ReasonTooOld
	case len(s.Institutions) > 0 && !slices.Contains(s.Institutions, c.Institution):
		return ReasonInstitution
	}
	return ""
}
