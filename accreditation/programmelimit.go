package accreditation

// A conversion toward a programme never grants past the programme's limits
// (docs/contract.md section 9). When a rule's target is a programme valid
// on the conversion's date, each item's grant, after the rule's own cap, is
// further cut so that, with what already counts toward the programme:
//
//   - what conversions supply stays within max_converted_share × total
//     (rounded down to hundredths);
//   - what conversions from one source institution supply stays within
//     max_per_institution;
//   - what counts in the item's term and year (direct and converted items,
//     by the source outcome's completion date) stays within the period caps;
//   - an item below the programme's minimum level, one of the programme's
//     own institution (it counts directly), and one whose unit or group of
//     equivalent units already counts toward the programme get nothing.
//
// Items of recognition cases (recognition.go) count here as conversion
// items do, and a case's decision is cut by the same limits.
//
// An item cut to nothing is not converted (ReasonProgrammeLimit); one cut
// short is granted less, and names the limit that cut it. What already
// counts is read as the award audit reads it (collectAuditItems,
// auditItems), from the same state and journal the plan reads, so that the
// sequencer's check that the plan is current (planCurrent), a preview and
// the replay all decide alike.

// ReasonProgrammeLimit: the programme the rule's target names lets the
// outcome grant nothing more.
const ReasonProgrammeLimit = "programme_limit"

// The programme limits that can cut a grant (ConversionItem.Limit).
const (
	LimitMinLevel    = "min_level"
	LimitCounted     = "counted" // it, its unit or an equivalent one counts toward the programme already
	LimitShare       = "max_converted_share"
	LimitInstitution = "max_per_institution"
	LimitTerm        = "term"
	LimitYear        = "year"
)

// programmeBudget is what a programme still lets conversions grant a
// learner, updated as a decision grants items.
type programmeBudget struct {
	p    *Programme
	caps periodCaps
	// converted is what conversion and recognition items supply, and
	// perInst that by source institution; terms is what counts by term.
	converted Amount
	perInst   map[string]Amount
	terms     map[string]Amount
	units     map[UnitRef]bool
	groups    map[string]bool
	// codes are the candidates' unit codes.
	codes map[uint64]string
}

// newProgrammeBudget reads what counts toward the programme target names
// for learner on date; nil when target is no programme valid on date.
func newProgrammeBudget(s store, j journal, learner string, target Target, date string, cands []Candidate) (*programmeBudget, error) {
	p, err := programmeOf(s, target)
	if err != nil || p == nil || !p.validOn(date) {
		return nil, err
	}
	items, err := collectAuditItems(s, j, learner, p, date)
	if err != nil {
		return nil, err
	}
	return budgetOf(j, p, date, items, cands)
}

// budgetOf is the budget of p on date given what may count toward it
// (collectAuditItems) and the candidates to grant.
func budgetOf(j journal, p *Programme, date string, items []AuditItem, cands []Candidate) (*programmeBudget, error) {
	a := auditItems(p, date, items)
	b := &programmeBudget{p: p, caps: periodCaps{p.PeriodCaps.Term, p.PeriodCaps.Year}, perInst: map[string]Amount{},
		terms: map[string]Amount{}, units: map[UnitRef]bool{}, groups: map[string]bool{}, codes: map[uint64]string{}}
	counted := a.Other
	for _, r := range a.Requirements {
		counted = append(counted, r.Items...)
	}
	for _, it := range counted {
		b.add(it.Source != SourceOutcome, it.Institution, UnitRef{Institution: it.Institution, Code: it.Unit}, it.groups, it.CompletedOn, it.Amount)
	}
	for _, c := range cands {
		if c.Found {
			code, err := j.unitCode(c.Seq)
			if err != nil {
				return nil, err
			}
			b.codes[c.Seq] = code
		}
	}
	return b, nil
}

// add counts an item of amount g toward the programme.
func (b *programmeBudget) add(converted bool, inst string, unit UnitRef, groups []string, completedOn string, g Amount) {
	if converted {
		b.converted += g
		b.perInst[inst] += g
	}
	b.terms[termOf(completedOn)] += g
	b.units[unit] = true
	for _, id := range groups {
		b.groups[id] = true
	}
}

// limit returns what of g the programme lets candidate c be granted and,
// when less, the limit that cut it.
func (b *programmeBudget) limit(c *Candidate, g Amount) (Amount, string) {
	p := b.p
	unit := UnitRef{Institution: c.Institution, Code: b.codes[c.Seq]}
	switch {
	case c.Level < p.MinLevel:
		return 0, LimitMinLevel
	case c.Institution == p.Institution || b.units[unit] || containsAny(b.groups, c.Equivalents):
		return 0, LimitCounted
	}
	room, which := g, ""
	cut := func(left Amount, name string) {
		if left < room {
			room, which = max(left, 0), name
		}
	}
	if s := p.MaxConvertedShare; s != nil {
		cut(Amount(int64(p.Total)*int64(*s)/amountScale)-b.converted, LimitShare)
	}
	if m := p.MaxPerInstitution; m != nil {
		cut(*m-b.perInst[c.Institution], LimitInstitution)
	}
	term := termOf(c.CompletedOn)
	if b.caps.term != nil {
		cut(*b.caps.term-b.terms[term], LimitTerm)
	}
	if b.caps.year != nil {
		var year Amount
		for _, half := range [2]string{"-H1", "-H2"} {
			s := b.terms[term[:4]+half]
			if b.caps.term != nil {
				s = min(s, *b.caps.term)
			}
			year += s
		}
		cut(*b.caps.year-year, LimitYear)
	}
	return room, which
}

// take counts g granted to candidate c.
func (b *programmeBudget) take(c *Candidate, g Amount) {
	b.add(true, c.Institution, UnitRef{Institution: c.Institution, Code: b.codes[c.Seq]}, c.Equivalents, c.CompletedOn, g)
}

// containsAny reports whether set holds one of ids.
func containsAny(set map[string]bool, ids []string) bool {
	for _, id := range ids {
		if set[id] {
			return true
		}
	}
	return false
}
