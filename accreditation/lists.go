package accreditation

import (
	"errors"
	"net/url"
	"strings"

	"creditbank/ledger"
)

// The lists of institutions and of rules (docs/contract.md section 8) run
// over the state kept beside the ledger, in key order, never over the
// journal: a page costs reads in proportion to what it looks at.

// listScanLimit bounds how many institutions or rules one page looks at,
// so that a filter that matches little cannot make one request read every
// key: such a page may come back short, even empty, with a next_cursor. A
// variable only so that tests can lower it.
var listScanLimit = 10000

// InstitutionSummary is an institution as the list of institutions shows
// it: what it is, what it may deposit now and whether it is suspended,
// without its keys or its history (GET /v1/institutions/{id} has them).
type InstitutionSummary struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Accreditations are those not withdrawn.
	Accreditations []Accreditation `json:"accreditations"`
	Suspension     *Suspension     `json:"suspension,omitempty"`
	// Seq is the entry that registered it.
	Seq uint64 `json:"seq"`
}

// InstitutionPage is one page of the list of institutions.
type InstitutionPage struct {
	Institutions []InstitutionSummary `json:"institutions"`
	NextCursor   string               `json:"next_cursor"`
}

// Institutions lists registered institutions in id order: up to limit
// after cursor ("" for the first page), as of one durable tree size.
func (b *Bank) Institutions(cursor string, limit int) (*InstitutionPage, error) {
	if limit < 1 {
		return nil, errorf(CodeInvalid, "limit must be at least 1")
	}
	from, _, err := listPosition('i', cursor, url.Values{}, institutionIDPattern)
	if err != nil {
		return nil, err
	}
	page := &InstitutionPage{Institutions: []InstitutionSummary{}}
	err = b.read(func(r *ledger.Reader, s store) error {
		next, err := scanIDs(r, instPrefix, from, func(id string) (bool, error) {
			if len(page.Institutions) == limit {
				return false, nil
			}
			in, err := getJSON[Institution](s, instKey(id))
			if err != nil || in == nil {
				return false, err
			}
			page.Institutions = append(page.Institutions, InstitutionSummary{ID: in.ID, Name: in.Name, Kind: in.Kind,
				Accreditations: currentAccreditations(in.Accreditations), Suspension: in.Suspension, Seq: in.Seq})
			return true, nil
		})
		if next != "" {
			page.NextCursor = formatListCursor('i', next, nil)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// currentAccreditations are those of list not withdrawn, never nil.
func currentAccreditations(list []Accreditation) []Accreditation {
	out := make([]Accreditation, 0, len(list))
	for _, a := range list {
		if a.Withdrawn == nil {
			out = append(out, a)
		}
	}
	return out
}

// RuleFilter selects rules for the list of rules; each field that is set
// must match.
type RuleFilter struct {
	TargetInstitution string
	Programme         string
	// Active keeps the rules in force on Today (true) or the others
	// (false): in force is not retired and valid on that date.
	Active *bool
	// Today is the date Active is judged on (YYYY-MM-DD), the caller's
	// today in UTC as conversions take it; needed only with Active.
	Today string
}

// Validate checks each field's form, naming the query parameter of the same
// name in a CodeBadParameter refusal.
func (f RuleFilter) Validate() error {
	if f.TargetInstitution != "" && !institutionIDPattern.MatchString(f.TargetInstitution) {
		return errorf(CodeBadParameter, "target_institution: %q does not match %s", f.TargetInstitution, institutionIDPattern)
	}
	if f.Programme != "" && !programmePattern.MatchString(f.Programme) {
		return errorf(CodeBadParameter, "programme: %q does not match %s", f.Programme, programmePattern)
	}
	if f.Active != nil {
		if _, err := parseDate("today", f.Today); err != nil {
			return err
		}
	}
	return nil
}

// values is the filter as the query parameters that ask for it.
func (f RuleFilter) values() url.Values {
	v := url.Values{}
	if f.TargetInstitution != "" {
		v.Set("target_institution", f.TargetInstitution)
	}
	if f.Programme != "" {
		v.Set("programme", f.Programme)
	}
	if f.Active != nil {
		v.Set("active", map[bool]string{true: "true", false: "false"}[*f.Active])
	}
	return v
}

// ListedRule is a rule as the list of rules shows it: its latest version,
// whether it is retired (and when and why), and whether it is in force.
type ListedRule struct {
	Rule
	Retired    bool        `json:"retired"`
	Retirement *Retirement `json:"retirement,omitempty"`
	// Active is true when the rule is not retired and valid on the date of
	// the read.
	Active bool `json:"active"`
}

// RulePage is one page of the list of rules.
type RulePage struct {
	Rules      []ListedRule `json:"rules"`
	NextCursor string       `json:"next_cursor"`
}

// Rules lists rules in id order, each at its latest version: up to limit
// that f selects after cursor ("" for the first page; a cursor continues
// the filter it was issued under), as of one durable tree size.
func (b *Bank) Rules(f RuleFilter, cursor string, limit int) (*RulePage, error) {
	if limit < 1 {
		return nil, errorf(CodeInvalid, "limit must be at least 1")
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	from, carried, err := listPosition('r', cursor, f.values(), ruleIDPattern)
	if err != nil {
		return nil, err
	}
	if f, err = ruleFilterOf(carried, f.Today); err != nil {
		return nil, badCursor("the cursor was not issued by this listing")
	}
	page := &RulePage{Rules: []ListedRule{}}
	err = b.read(func(r *ledger.Reader, s store) error {
		next, err := scanIDs(r, "rule/", from, func(id string) (bool, error) {
			if len(page.Rules) == limit {
				return false, nil
			}
			lr, ok, err := listedRule(s, id, f)
			if ok {
				page.Rules = append(page.Rules, lr)
			}
			return err == nil, err
		})
		if next != "" {
			page.NextCursor = formatListCursor('r', next, f.values())
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// ruleFilterOf reads back what RuleFilter.values wrote, for a cursor.
func ruleFilterOf(v url.Values, today string) (RuleFilter, error) {
	f := RuleFilter{TargetInstitution: v.Get("target_institution"), Programme: v.Get("programme"), Today: today}
	switch v.Get("active") {
	case "":
	case "true", "false":
		active := v.Get("active") == "true"
		f.Active = &active
	default:
		return RuleFilter{}, errors.New("bad active")
	}
	if f.values().Encode() != v.Encode() {
		return RuleFilter{}, errors.New("not a filter this bank writes")
	}
	return f, f.Validate()
}

// listedRule reads rule id at its latest version, and whether f selects it.
func listedRule(s store, id string, f RuleFilter) (ListedRule, bool, error) {
	head, err := getJSON[ruleHead](s, ruleKey(id))
	if err != nil || head == nil {
		return ListedRule{}, false, err
	}
	rule, err := getJSON[Rule](s, ruleVersionKey(id, head.Latest))
	if err != nil || rule == nil {
		return ListedRule{}, false, err
	}
	lr := ListedRule{Rule: *rule, Retired: head.Retired, Retirement: head.Retirement}
	lr.Active = !head.Retired && f.Today != "" && rule.validOn(f.Today) == nil
	ok := (f.TargetInstitution == "" || rule.Target.Institution == f.TargetInstitution) &&
		(f.Programme == "" || rule.Target.Programme == f.Programme) &&
		(f.Active == nil || *f.Active == lr.Active)
	return lr, ok, nil
}

// listPosition reads the cursor of a listing over ids: the id to start
// from ("" for the first) and the filter to read with.
func listPosition(kind byte, cursor string, asked url.Values, ids *idPattern) (string, url.Values, error) {
	if cursor == "" {
		return "", asked, nil
	}
	id, carried, err := parseListCursor(kind, cursor)
	if err != nil {
		return "", nil, err
	}
	if !ids.MatchString(id) {
		return "", nil, badCursor("the cursor was not issued by this listing")
	}
	filter, err := continueFilter(asked, carried)
	return id, filter, err
}

// scanIDs calls fn with each id keyed under prefix ("inst/", "rule/") from
// id from on, in order, until fn returns false or listScanLimit ids were
// looked at; next is the id fn stopped at, where the next page starts ("":
// none). Keys with a further "/" under the prefix are not ids.
func scanIDs(r *ledger.Reader, prefix, from string, fn func(id string) (bool, error)) (next string, err error) {
	var start []byte
	if from != "" {
		start = []byte(prefix + from)
	}
	scanned := 0
	var ierr error
	err = r.Scan([]byte(prefix), start, func(k, _ []byte) bool {
		id := string(k[len(prefix):])
		if strings.Contains(id, "/") {
			return true
		}
		if scanned == listScanLimit {
			next = id
			return false
		}
		more, err := fn(id)
		if err != nil {
			ierr = err
			return false
		}
		if !more {
			next = id
			return false
		}
		scanned++
		return true
	})
	return next, errors.Join(err, ierr)
}

// validate checks the audit listing's filter, naming the query parameter of
// the same name in a CodeBadParameter refusal: an id that no rule or
// institution can have is a mistake, not a filter that matches nothing.
func (f AuditFilter) validate() error {
	if f.Rule != "" && !ruleIDPattern.MatchString(f.Rule) {
		return errorf(CodeBadParameter, "rule: %q does not match %s", f.Rule, ruleIDPattern)
	}
	if f.Institution != "" && !institutionIDPattern.MatchString(f.Institution) {
		return errorf(CodeBadParameter, "institution: %q does not match %s", f.Institution, institutionIDPattern)
	}
	return checkFilterDates(f.From, f.To)
}
