package accreditation

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strings"

	"creditbank/ledger"
)

// The award audit (docs/contract.md section 9): what a learner has toward
// a programme, requirement by requirement, and what is missing. It is a
// pure function of the ledger at one durable size and a date: the items
// are collected from the state (collectAuditItems), then auditItems
// decides from them alone, in an order it sorts them into itself, so that
// the same items give the same audit whatever order they came in.
//
// What counts is bounded by the programme's period caps. For a set S of
// counted items, f(S) = Σ over years min(year cap, Σ over its terms
// min(term cap, Σ amounts of S in the term)) is the most S can count: the
// rank of a polymatroid over the laminar family of terms nested in years.
// A requirement earns f(its items), what it could count on its own; the
// total earns f(every counted item); and the learner is eligible when the
// total is reached and, for every set R of requirements, f(∪ items of R) ≥
// Σ minimums of R, which is exactly when the caps let every minimum be met
// at once (and then the total too, since in a polymatroid every
// independent vector extends to one of rank f(all)). f only grows with S,
// so adding an item never unmeets a requirement nor makes an eligible
// learner ineligible.

// Sources of an audit item.
const (
	SourceOutcome    = "outcome"
	SourceConversion = "conversion"
)

// ReasonLevelTooLow: the item's level is below the programme's minimum.
// The other reasons an item does not count are ReasonDuplicate (another
// outcome of the same institution and unit code counts) and
// ReasonEquivalentUsed (an outcome of an equivalent unit counts).
const ReasonLevelTooLow = "level_too_low"

// Kinds of shortfall.
const (
	ShortTotal       = "total"
	ShortRequirement = "requirement"
	// ShortTogether: requirements each met alone whose minimums the period
	// caps do not let be met together.
	ShortTogether = "together"
)

// Kinds of period cap.
const (
	CapTerm = "term"
	CapYear = "year"
)

// AuditItem is an outcome (a direct item, posted by the programme's
// institution) or a conversion item toward the programme that the audit
// looked at. Field, level, completion date and institution are the
// outcome's; Amount is its standard credits, or what the conversion item
// granted.
type AuditItem struct {
	Source     string `json:"source"`
	Outcome    uint64 `json:"outcome"`
	Conversion uint64 `json:"conversion,omitempty"`
	// Recognition is the case that granted the item, for an item of
	// source "recognition".
	Recognition string `json:"recognition,omitempty"`
	Institution string `json:"institution"`
	Unit        string `json:"unit"`
	Field       string `json:"field"`
	Level       int    `json:"level"`
	CompletedOn string `json:"completed_on"`
	Amount      Amount `json:"amount"`
	// Counted is what of Amount counts under the period caps in the list
	// that shows the item; absent for an item that does not count.
	Counted *Amount `json:"counted,omitempty"`
	// Reason is why the item does not count, and Of the outcome that
	// counts in its place (for a duplicate or an equivalent unit).
	Reason string `json:"reason,omitempty"`
	Of     uint64 `json:"of,omitempty"`
	// groups are the groups of equivalent units the unit belongs to on
	// the audit's date; caseSeq is the seq of Recognition's case.
	groups  []string
	caseSeq uint64
}

// AuditTotal is what counts toward the programme's total.
type AuditTotal struct {
	Earned   Amount `json:"earned"`
	Required Amount `json:"required"`
	Met      bool   `json:"met"`
}

// RequirementAudit is one requirement: what its items could count on
// their own under the period caps, and the items, each with what it
// counts in a chronological fill.
type RequirementAudit struct {
	ID       string      `json:"id"`
	Fields   []string    `json:"fields"`
	Earned   Amount      `json:"earned"`
	Required Amount      `json:"required"`
	Met      bool        `json:"met"`
	Items    []AuditItem `json:"items"`
}

// LimitAudit is a period whose cap bound what counts: Offered is what its
// counted items (for a year, after its terms' caps) bring, Counted what
// the cap lets count.
type LimitAudit struct {
	Cap     string `json:"cap"`
	Period  string `json:"period"`
	Limit   Amount `json:"limit"`
	Offered Amount `json:"offered"`
	Counted Amount `json:"counted"`
}

// Shortfall is one thing missing for the award, with its amounts and in
// plain words.
type Shortfall struct {
	Kind string `json:"kind"`
	// Requirements names the requirement(s) short; none for the total.
	Requirements []string `json:"requirements,omitempty"`
	Required     Amount   `json:"required"`
	Earned       Amount   `json:"earned"`
	Short        Amount   `json:"short"`
	Detail       string   `json:"detail"`
}

// ProgrammeAudit is the award audit of a learner toward a programme
// version, on a date, read at one ledger size.
type ProgrammeAudit struct {
	Learner     string       `json:"learner"`
	Programme   ProgrammeRef `json:"programme"`
	Institution string       `json:"institution"`
	Title       string       `json:"title"`
	On          string       `json:"on"`
	Size        uint64       `json:"size"`
	Total       AuditTotal   `json:"total"`
	// Converted is what conversion items among the counted bring, as
	// granted, and Recognised what items of recognition cases bring.
	Converted    Amount             `json:"converted"`
	Recognised   Amount             `json:"recognised"`
	Requirements []RequirementAudit `json:"requirements"`
	// Other are counted items of no requirement's field: they count
	// toward the total only.
	Other      []AuditItem  `json:"other"`
	NotCounted []AuditItem  `json:"not_counted"`
	Limits     []LimitAudit `json:"limits"`
	Eligible   bool         `json:"eligible"`
	Missing    []Shortfall  `json:"missing"`
	Summary    string       `json:"summary"`
	// Cost is what reading the audit took (AuditProgramme), also when it
	// was refused after reading.
	Cost Cost `json:"-"`
}

// periodCaps are a programme's caps, nil for none.
type periodCaps struct{ term, year *Amount }

// termOf is the term of a completion date: YYYY-H1 (January–June) or
// YYYY-H2; its first four bytes are the year.
func termOf(date string) string {
	if date[5:7] <= "06" {
		return date[:4] + "-H1"
	}
	return date[:4] + "-H2"
}

// rank is f of the items whose amounts by term are sums: the most they
// can count under the caps.
func (c periodCaps) rank(sums map[string]Amount) Amount {
	byYear := map[string]Amount{}
	for term, s := range sums {
		if c.term != nil {
			s = min(s, *c.term)
		}
		byYear[term[:4]] += s
	}
	var total Amount
	for _, s := range byYear {
		if c.year != nil {
			s = min(s, *c.year)
		}
		total += s
	}
	return total
}

// fill sets each item's Counted in order, each taking what the caps leave
// of its term and year among the items before it, and returns the sum:
// for one set of items under nested caps this greedy fill reaches f.
func (c periodCaps) fill(items []AuditItem) Amount {
	terms, years := map[string]Amount{}, map[string]Amount{}
	var total Amount
	for i := range items {
		it := &items[i]
		term := termOf(it.CompletedOn)
		g := it.Amount
		if c.term != nil {
			g = min(g, *c.term-terms[term])
		}
		if c.year != nil {
			g = min(g, *c.year-years[term[:4]])
		}
		g = max(g, 0)
		terms[term] += g
		years[term[:4]] += g
		total += g
		it.Counted = &g
	}
	return total
}

// auditItems is the audit of items toward p on date on, the learner and
// size left for the caller to fill in.
func auditItems(p *Programme, on string, items []AuditItem) ProgrammeAudit {
	items = slices.Clone(items)
	slices.SortFunc(items, func(a, b AuditItem) int {
		return cmp.Or(cmp.Compare(a.CompletedOn, b.CompletedOn), cmp.Compare(a.Outcome, b.Outcome), cmp.Compare(a.Conversion, b.Conversion),
			cmp.Compare(a.caseSeq, b.caseSeq))
	})
	a := ProgrammeAudit{Programme: p.Ref(), Institution: p.Institution, Title: p.Title, On: on,
		Other: []AuditItem{}, NotCounted: []AuditItem{}, Limits: []LimitAudit{}, Missing: []Shortfall{}}
	caps := periodCaps{p.PeriodCaps.Term, p.PeriodCaps.Year}
	k := len(p.Requirements)
	classes := make([][]AuditItem, k+1) // the last: of no requirement
	units, groups := map[UnitRef]uint64{}, map[string]uint64{}
	all := map[string]Amount{}
	for _, it := range items {
		unit := UnitRef{Institution: it.Institution, Code: it.Unit}
		if first, ok := units[unit]; ok {
			it.Reason, it.Of = ReasonDuplicate, first
		} else if i := slices.IndexFunc(it.groups, func(g string) bool { _, ok := groups[g]; return ok }); i >= 0 {
			it.Reason, it.Of = ReasonEquivalentUsed, groups[it.groups[i]]
		}
		if it.Level < p.MinLevel {
			it.Reason, it.Of = ReasonLevelTooLow, 0
		}
		if it.Reason != "" {
			a.NotCounted = append(a.NotCounted, it)
			continue
		}
		units[unit] = it.Outcome
		for _, g := range it.groups {
			groups[g] = it.Outcome
		}
		all[termOf(it.CompletedOn)] += it.Amount
		switch it.Source {
		case SourceConversion:
			a.Converted += it.Amount
		case SourceRecognition:
			a.Recognised += it.Amount
		}
		r := slices.IndexFunc(p.Requirements, func(r Requirement) bool { return FieldMatches(it.Field, r.Fields) })
		if r < 0 {
			r = k
		}
		classes[r] = append(classes[r], it)
	}
	for r, req := range p.Requirements {
		earned := caps.fill(classes[r])
		a.Requirements = append(a.Requirements, RequirementAudit{ID: req.ID, Fields: req.Fields, Earned: earned, Required: req.Min,
			Met: earned >= req.Min, Items: append([]AuditItem{}, classes[r]...)})
	}
	caps.fill(classes[k])
	a.Other = append(a.Other, classes[k]...)
	a.Total = AuditTotal{Earned: caps.rank(all), Required: p.Total}
	a.Total.Met = a.Total.Earned >= p.Total
	a.Limits = caps.limits(all)
	together := jointShortfalls(p, caps, classes[:k], a.Requirements)
	a.Eligible = a.Total.Met && len(together.failing) == 0
	a.Missing = a.shortfalls(together.minimal, caps)
	a.Summary = a.summary()
	return a
}

// limits lists the periods whose cap bound what counts.
func (c periodCaps) limits(sums map[string]Amount) []LimitAudit {
	out := []LimitAudit{}
	terms := slices.Sorted(maps.Keys(sums))
	years := map[string]Amount{}
	for _, t := range terms {
		s := sums[t]
		if c.term != nil && s > *c.term {
			out = append(out, LimitAudit{Cap: CapTerm, Period: t, Limit: *c.term, Offered: s, Counted: *c.term})
			s = *c.term
		}
		years[t[:4]] += s
	}
	for _, t := range terms {
		y := t[:4]
		if s, ok := years[y]; ok && c.year != nil && s > *c.year {
			out = append(out, LimitAudit{Cap: CapYear, Period: y, Limit: *c.year, Offered: s, Counted: *c.year})
		}
		delete(years, y)
	}
	// In time: each year after its terms.
	slices.SortStableFunc(out, func(a, b LimitAudit) int {
		return cmp.Or(cmp.Compare(a.Period[:4], b.Period[:4]), cmp.Compare(a.Cap, b.Cap)) // "term" < "year"
	})
	return out
}

// jointAudit is what the sets of requirements give: the sets (as bit
// masks over the requirements) whose minimums the caps do not let be met
// together, and among them the smallest made of requirements each met
// alone.
type jointAudit struct {
	failing []uint
	minimal []jointShort
}

type jointShort struct {
	mask             uint
	required, earned Amount
}

// jointShortfalls checks every non-empty set R of requirements: f(∪ items
// of R) ≥ Σ minimums of R. The amounts of each requirement by term are
// summed once, so each of the 2^k sets (k ≤ 12) costs k additions a term.
func jointShortfalls(p *Programme, caps periodCaps, classes [][]AuditItem, reqs []RequirementAudit) jointAudit {
	k := len(classes)
	byTerm := make([]map[string]Amount, k)
	for r, items := range classes {
		byTerm[r] = map[string]Amount{}
		for _, it := range items {
			byTerm[r][termOf(it.CompletedOn)] += it.Amount
		}
	}
	var ja jointAudit
	masks := make([]uint, 0, 1<<k-1)
	for m := uint(1); m < 1<<k; m++ {
		masks = append(masks, m)
	}
	// By size, so that a failing set is kept only when no smaller failing
	// set inside it was.
	slices.SortStableFunc(masks, func(a, b uint) int { return cmp.Compare(bits.OnesCount(a), bits.OnesCount(b)) })
	for _, m := range masks {
		union := map[string]Amount{}
		var required Amount
		allMet := true
		for r := range k {
			if m&(1<<r) == 0 {
				continue
			}
			required += p.Requirements[r].Min
			allMet = allMet && reqs[r].Met
			for t, s := range byTerm[r] {
				union[t] += s
			}
		}
		earned := caps.rank(union)
		if earned >= required {
			continue
		}
		ja.failing = append(ja.failing, m)
		if !allMet || bits.OnesCount(m) < 2 || slices.ContainsFunc(ja.minimal, func(j jointShort) bool { return j.mask&m == j.mask }) {
			continue
		}
		ja.minimal = append(ja.minimal, jointShort{mask: m, required: required, earned: earned})
	}
	return ja
}

// shortfalls lists what is missing: each requirement short, each smallest
// set of requirements met alone but not together, and the total.
func (a *ProgrammeAudit) shortfalls(joint []jointShort, caps periodCaps) []Shortfall {
	out := []Shortfall{}
	for _, r := range a.Requirements {
		if r.Met {
			continue
		}
		out = append(out, Shortfall{Kind: ShortRequirement, Requirements: []string{r.ID}, Required: r.Required, Earned: r.Earned,
			Short: r.Required - r.Earned, Detail: fmt.Sprintf("%s needs %s credits in fields %s; %s count, %s more are needed",
				r.ID, r.Required, strings.Join(r.Fields, ", "), r.Earned, r.Required-r.Earned)})
	}
	for _, j := range joint {
		var ids []string
		for r := range a.Requirements {
			if j.mask&(1<<r) != 0 {
				ids = append(ids, a.Requirements[r].ID)
			}
		}
		out = append(out, Shortfall{Kind: ShortTogether, Requirements: ids, Required: j.required, Earned: j.earned, Short: j.required - j.earned,
			Detail: fmt.Sprintf("%s need %s together, but the %s let %s of their credits count", joinWords(ids), j.required, caps.words(), j.earned)})
	}
	if !a.Total.Met {
		t := a.Total
		out = append(out, Shortfall{Kind: ShortTotal, Required: t.Required, Earned: t.Earned, Short: t.Required - t.Earned,
			Detail: fmt.Sprintf("the programme needs %s credits in all; %s count, %s more are needed", t.Required, t.Earned, t.Required-t.Earned)})
	}
	return out
}

// words names the caps in force.
func (c periodCaps) words() string {
	switch {
	case c.term != nil && c.year != nil:
		return "term and year caps"
	case c.term != nil:
		return "term cap"
	default:
		return "year cap"
	}
}

// joinWords writes a, b and c.
func joinWords(list []string) string {
	if len(list) < 2 {
		return strings.Join(list, "")
	}
	return strings.Join(list[:len(list)-1], ", ") + " and " + list[len(list)-1]
}

// summary is the audit in one or two plain sentences.
func (a *ProgrammeAudit) summary() string {
	if a.Eligible {
		return fmt.Sprintf("Eligible for %s: %s credits count toward the %s required, and every requirement is met.",
			a.Title, a.Total.Earned, a.Total.Required)
	}
	var parts []string
	for _, s := range a.Missing {
		switch s.Kind {
		case ShortRequirement:
			parts = append(parts, fmt.Sprintf("%s credits in %s (%s of %s)", s.Short, s.Requirements[0], s.Earned, s.Required))
		case ShortTogether:
			parts = append(parts, fmt.Sprintf("%s credits that %s can count together under the period caps (%s of %s)", s.Short, joinWords(s.Requirements), s.Earned, s.Required))
		case ShortTotal:
			parts = append(parts, fmt.Sprintf("%s credits in all", s.Short))
		}
	}
	return fmt.Sprintf("Not yet eligible for %s: %s of %s credits count. Still missing: %s.",
		a.Title, a.Total.Earned, a.Total.Required, strings.Join(parts, "; "))
}

// maxAuditScan bounds the learner's entries one audit looks at; a learner
// with more is refused (CodeInvalid). A lifetime of study is a few hundred
// outcomes; the bound keeps an audit, and a conversion toward a programme,
// which reads the same items, from reading without end. A variable so that
// tests can lower it.
var maxAuditScan = 10000

// collectAuditItems reads what may count toward p for learner (a
// reference) on date on: the learner's outcomes of p's institution in
// force, passed and completed by then (direct items), and the items in
// force of the learner's conversions toward p (an outcome that is a
// direct item counts once, as such), each with its unit code and its
// groups of equivalent units on the date.
func collectAuditItems(s store, j journal, learner string, p *Programme, on string) ([]AuditItem, error) {
	var seqs []uint64
	more := false
	if err := j.Index(IndexLearner, learner, 0, func(seq uint64) bool {
		if len(seqs) == maxAuditScan {
			more = true
			return false
		}
		seqs = append(seqs, seq)
		return true
	}); err != nil {
		return nil, err
	}
	if more {
		return nil, errorf(CodeInvalid, "learner %s has more than %d entries, more than an audit reads", learner, maxAuditScan)
	}
	target := p.Target()
	q := newEquivalents(s, j, on)
	convs := map[uint64]*conversionState{}
	items := []AuditItem{}
	for _, seq := range seqs {
		st, err := getJSON[outcomeState](s, outKey(seq))
		if err != nil {
			return nil, err
		}
		if st == nil || st.Revoked {
			continue // not an outcome, or none of its items are in force
		}
		var found []AuditItem
		if st.Institution == p.Institution && st.Passed && st.CompletedOn <= on && st.StandardCredits > 0 {
			found = append(found, AuditItem{Source: SourceOutcome, Amount: st.StandardCredits})
		} else {
			for _, u := range st.UsedBy {
				if u.Target != target {
					continue
				}
				if u.Recognition {
					rc, err := loadCase(s, u.Conversion)
					if err != nil {
						return nil, err
					}
					if rc == nil {
						return nil, fmt.Errorf("outcome %d lists case %d, which has no state", seq, u.Conversion)
					}
					for _, it := range rc.InForce {
						if it.Outcome == seq && it.Granted > 0 {
							found = append(found, AuditItem{Source: SourceRecognition, Recognition: RecognitionID(rc.Seq), caseSeq: rc.Seq, Amount: it.Granted})
						}
					}
					continue
				}
				cs, ok := convs[u.Conversion]
				if !ok {
					if cs, err = getJSON[conversionState](s, convKey(u.Conversion)); err != nil {
						return nil, err
					}
					convs[u.Conversion] = cs
				}
				if cs == nil {
					return nil, fmt.Errorf("outcome %d lists conversion %d, which has no state", seq, u.Conversion)
				}
				for _, it := range cs.inForce() {
					if it.Outcome == seq && it.Granted > 0 {
						found = append(found, AuditItem{Source: SourceConversion, Conversion: u.Conversion, Amount: it.Granted})
					}
				}
			}
		}
		if len(found) == 0 {
			continue
		}
		code, err := j.unitCode(seq)
		if err != nil {
			return nil, err
		}
		groups, err := q.of(st)
		if err != nil {
			return nil, err
		}
		for _, it := range found {
			it.Outcome, it.Institution, it.Unit, it.Field, it.Level, it.CompletedOn, it.groups =
				seq, st.Institution, code, st.Field, st.Level, st.CompletedOn, groups
			items = append(items, it)
		}
	}
	return items, nil
}

// auditLearner is the audit of learner (a reference) toward p on date on
// from store s and journal j at ledger size size.
func auditLearner(s store, j journal, learner string, p *Programme, on string, size uint64) (ProgrammeAudit, error) {
	items, err := collectAuditItems(s, j, learner, p, on)
	if err != nil {
		return ProgrammeAudit{}, err
	}
	a := auditItems(p, on, items)
	a.Learner, a.Size = learner, size
	return a, nil
}

// AuditProgramme is the award audit of learner toward the latest version
// of programme, today (UTC), as of one durable read of the ledger. Who may
// read it is the caller's check (docs/contract.md section 9); an erased
// learner is refused with CodeErased. Its Cost is set also on a refusal
// after reading.
func (b *Bank) AuditProgramme(ctx context.Context, learner, programme string) (ProgrammeAudit, error) {
	if err := ctx.Err(); err != nil {
		return ProgrammeAudit{}, err
	}
	id := CanonicalLearnerID(learner)
	var a ProgrammeAudit
	err := b.read(func(r *ledger.Reader, s store) error {
		defer func() { a.Cost.Rows = r.Rows() }()
		l, err := b.readLearner(s, id)
		if err != nil {
			return err
		}
		p, err := loadProgramme(s, programme, 0)
		if err != nil {
			return err
		}
		if p == nil {
			return errorf(CodeNotFound, "no programme %q", programme)
		}
		if a, err = auditLearner(s, readerJournal{r, b.keys}, l.ref, p, b.l.Now().UTC().Format(dateLayout), r.Size()); err != nil {
			return nameLearner(err, l.ref, id)
		}
		return nil
	})
	if err != nil {
		return ProgrammeAudit{Cost: a.Cost}, err
	}
	a.Learner = id
	return a, nil
}
