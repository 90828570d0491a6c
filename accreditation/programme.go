package accreditation

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"creditbank/ledger"
)

// Programmes (docs/contract.md section 9): a versioned qualification
// profile of a target institution, published by a regulator or an admin as
// rules are. It says how many standard credits the qualification needs,
// how many of them in which fields (ISCED-F prefixes), from which level,
// and the limits on what may count: the share conversions may supply, what
// one source institution may supply, and what one term or one calendar
// year may supply. A rule whose target is (institution, id) of a programme
// grants inside those limits (programmelimit.go), and the award audit
// (awardaudit.go) reads a learner's record against it.

// TypeProgrammePublished is the entry of one version of a programme: the
// programme as published and its version.
const TypeProgrammePublished = "programme.published"

// IndexProgramme lists the versions of a programme.
const IndexProgramme = "programme"

// Bounds of a programme body.
const (
	maxRequirements      = 12
	maxRequirementFields = 32
	// maxProgrammeTotal bounds a programme's total: a doctorate after a
	// bachelor's is a few hundred credits, and the bound keeps every sum
	// the audit makes of a programme's amounts far inside an Amount.
	maxProgrammeTotal Amount = 100000 * amountScale
	// shareOne is a max_converted_share of 1 ("1" as an Amount).
	shareOne Amount = amountScale
)

// Requirement is one field requirement of a programme: at least Min
// standard credits from outcomes whose field starts with one of Fields.
type Requirement struct {
	ID     string   `json:"id"`
	Fields []string `json:"fields"`
	Min    Amount   `json:"min"`
}

// PeriodCaps bound what counts toward a programme from outcomes completed
// in one term (January–June, July–December) or one calendar year; nil is
// no cap.
type PeriodCaps struct {
	Term *Amount `json:"term"`
	Year *Amount `json:"year"`
}

// ProgrammeInput publishes a programme (a new version when the id exists).
// Every member is required; the nullable ones say null for none.
type ProgrammeInput struct {
	ID           string        `json:"id"`
	Institution  string        `json:"institution"`
	Title        string        `json:"title"`
	Total        Amount        `json:"total"`
	Requirements []Requirement `json:"requirements"`
	// MinLevel is the lowest framework level that counts (0: any).
	MinLevel int `json:"min_level"`
	// MaxConvertedShare is the share of Total conversions may supply, in
	// (0, 1]; nil is no limit.
	MaxConvertedShare *Amount `json:"max_converted_share"`
	// MaxPerInstitution is what conversions from one source institution,
	// other than the programme's own, may supply; nil is no limit.
	MaxPerInstitution *Amount    `json:"max_per_institution"`
	PeriodCaps        PeriodCaps `json:"period_caps"`
	ValidFrom         string     `json:"valid_from"`
	ValidUntil        *string    `json:"valid_until"`
}

// Programme is one published version of a programme.
type Programme struct {
	ProgrammeInput
	Version int `json:"version"`
	// Seq is the entry that published this version.
	Seq uint64 `json:"seq"`
}

// ProgrammeRef names one version of a programme.
type ProgrammeRef struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
}

// Target is the programme as the target of conversion rules.
func (p *Programme) Target() Target { return Target{Institution: p.Institution, Programme: p.ID} }

// Ref names this version.
func (p *Programme) Ref() ProgrammeRef { return ProgrammeRef{ID: p.ID, Version: p.Version} }

// validOn reports whether the programme is in force on date.
func (p *Programme) validOn(date string) bool {
	return p.ValidFrom <= date && (p.ValidUntil == nil || date <= *p.ValidUntil)
}

// Validate checks the programme's own form: ids, the title, amounts in
// range, 1 to 12 requirements with distinct ids, valid ISCED-F prefixes
// and minimums that fit in the total, a share in (0, 1], real dates in
// order. It does not look at the state (the institution, earlier versions).
func (p ProgrammeInput) Validate() error {
	if err := checkPattern("id", p.ID, programmePattern); err != nil {
		return err
	}
	if err := checkPattern("institution", p.Institution, institutionIDPattern); err != nil {
		return err
	}
	if err := checkText("title", p.Title, 200); err != nil {
		return err
	}
	if p.Total <= 0 || p.Total > maxProgrammeTotal {
		return errorf(CodeInvalid, "total must be above 0 and at most %s", maxProgrammeTotal)
	}
	if err := checkRequirements(p.Requirements, p.Total); err != nil {
		return err
	}
	if p.MinLevel < 0 || p.MinLevel > 10 {
		return errorf(CodeInvalid, "min_level %d is not 0 to 10", p.MinLevel)
	}
	if s := p.MaxConvertedShare; s != nil && (*s <= 0 || *s > shareOne) {
		return errorf(CodeInvalid, "max_converted_share %s is not above 0 and at most 1", *s)
	}
	for _, c := range []struct {
		name string
		v    *Amount
	}{{"max_per_institution", p.MaxPerInstitution}, {"period_caps.term", p.PeriodCaps.Term}, {"period_caps.year", p.PeriodCaps.Year}} {
		if c.v != nil && (*c.v <= 0 || *c.v > maxProgrammeTotal) {
			return errorf(CodeInvalid, "%s must be above 0 and at most %s, or null for no limit", c.name, maxProgrammeTotal)
		}
	}
	if _, err := parseDate("valid_from", p.ValidFrom); err != nil {
		return err
	}
	if p.ValidUntil != nil {
		if _, err := parseDate("valid_until", *p.ValidUntil); err != nil {
			return err
		}
		if *p.ValidUntil < p.ValidFrom {
			return errorf(CodeInvalid, "valid_until %s is before valid_from %s", *p.ValidUntil, p.ValidFrom)
		}
	}
	return nil
}

// checkRequirements checks a programme's requirements against its total.
func checkRequirements(reqs []Requirement, total Amount) error {
	if len(reqs) < 1 || len(reqs) > maxRequirements {
		return errorf(CodeInvalid, "a programme lists 1 to %d requirements", maxRequirements)
	}
	ids := map[string]bool{}
	var sum Amount
	for i, r := range reqs {
		what := fmt.Sprintf("requirements[%d]", i)
		if err := checkPattern(what+".id", r.ID, programmePattern); err != nil {
			return err
		}
		if ids[r.ID] {
			return errorf(CodeInvalid, "requirement %q is listed twice", r.ID)
		}
		ids[r.ID] = true
		if len(r.Fields) < 1 || len(r.Fields) > maxRequirementFields {
			return errorf(CodeInvalid, "%s.fields must list 1 to %d ISCED-F prefixes", what, maxRequirementFields)
		}
		seen := map[string]bool{}
		for _, f := range r.Fields {
			if err := ValidField(f); err != nil {
				return errorf(CodeInvalid, "%s.fields: %v", what, err)
			}
			if seen[f] {
				return errorf(CodeInvalid, "%s.fields: %q is listed twice", what, f)
			}
			seen[f] = true
		}
		if r.Min <= 0 || r.Min > total {
			return errorf(CodeInvalid, "%s.min must be above 0 and at most the total, %s", what, total)
		}
		sum += r.Min
	}
	if sum > total {
		return errorf(CodeInvalid, "the requirements' minimums add up to %s, more than the total %s", sum, total)
	}
	return nil
}

// The state of programmes:
//
//	prog/<id>                 the latest version (programmeHead)
//	progv/<id>/<version>      Programme
func programmeKey(id string) string               { return "prog/" + id }
func programmeVersionKey(id string, v int) string { return fmt.Sprintf("progv/%s/%08d", id, v) }

type programmeHead struct {
	Latest int `json:"latest"`
}

// loadProgramme reads version v of programme id (0: the latest), or nil.
func loadProgramme(s store, id string, v int) (*Programme, error) {
	if v == 0 {
		head, err := getJSON[programmeHead](s, programmeKey(id))
		if err != nil || head == nil {
			return nil, err
		}
		v = head.Latest
	}
	return getJSON[Programme](s, programmeVersionKey(id, v))
}

// programmeOf returns the latest version of the programme a rule's target
// names, or nil when there is none: a target is a programme when its
// programme is a programme id and its institution that programme's.
func programmeOf(s store, target Target) (*Programme, error) {
	if !programmePattern.MatchString(target.Programme) {
		return nil, nil
	}
	p, err := loadProgramme(s, target.Programme, 0)
	if err != nil || p == nil || p.Institution != target.Institution {
		return nil, err
	}
	return p, nil
}

type publishProgrammeCmd struct {
	Actor     Actor
	Programme ProgrammeInput
}

func (c publishProgrammeCmd) decide(t *tx) (any, error) {
	p := c.Programme
	if _, err := t.institution(p.Institution); err != nil {
		return nil, errorf(CodeInvalid, "institution: %v", err)
	}
	prev, err := loadProgramme(t, p.ID, 0)
	if err != nil {
		return nil, err
	}
	version := 1
	if prev != nil {
		if prev.Institution != p.Institution {
			return nil, errorf(CodeConflict, "programme %q is %s's (version %d); a new version must keep the institution", p.ID, prev.Institution, prev.Version)
		}
		version = prev.Version + 1
	}
	content := struct {
		ProgrammeInput
		Version int `json:"version"`
	}{p, version}
	idx := []ledger.IndexKey{{Name: IndexProgramme, Value: p.ID}, institutionIndex(p.Institution)}
	seq, err := t.emit(TypeProgrammePublished, c.Actor, content, idx, nil)
	if err != nil {
		return nil, err
	}
	return Programme{ProgrammeInput: p, Version: version, Seq: seq}, nil
}

// applyProgramme applies a programme.published entry.
func applyProgramme(s store, e ledger.Entry) error {
	var p Programme
	if err := json.Unmarshal(e.Content, &p); err != nil {
		return err
	}
	p.Seq = e.Seq
	if err := putJSON(s, programmeVersionKey(p.ID, p.Version), p); err != nil {
		return err
	}
	return putJSON(s, programmeKey(p.ID), programmeHead{Latest: p.Version})
}

// PublishProgramme publishes a programme, or its next version when the id
// exists (which must keep the institution). The institution must be
// registered.
func (b *Bank) PublishProgramme(ctx context.Context, actor Actor, p ProgrammeInput) (Programme, error) {
	if err := p.Validate(); err != nil {
		return Programme{}, err
	}
	res, err := b.do(ctx, publishProgrammeCmd{Actor: actor, Programme: p})
	if err != nil {
		return Programme{}, err
	}
	return res.(Programme), nil
}

// Programme returns the latest version of a programme (version 0) or the
// given one.
func (b *Bank) Programme(id string, version int) (Programme, error) {
	var p Programme
	err := b.read(func(_ *ledger.Reader, s store) error {
		v, err := loadProgramme(s, id, version)
		switch {
		case err != nil:
			return err
		case v == nil && version == 0:
			return errorf(CodeNotFound, "no programme %q", id)
		case v == nil:
			return errorf(CodeNotFound, "programme %q has no version %d", id, version)
		}
		p = *v
		return nil
	})
	return p, err
}

// ProgrammePage is one page of the list of programmes.
type ProgrammePage struct {
	Programmes []Programme `json:"programmes"`
	NextCursor string      `json:"next_cursor"`
}

// Programmes lists programmes in id order, each at its latest version: up
// to limit after cursor ("" for the first page), of one institution when
// institution is not "" (a cursor continues the filter it was issued
// under), as of one durable tree size.
func (b *Bank) Programmes(institution, cursor string, limit int) (*ProgrammePage, error) {
	if limit < 1 {
		return nil, errorf(CodeInvalid, "limit must be at least 1")
	}
	asked := url.Values{}
	if institution != "" {
		if !institutionIDPattern.MatchString(institution) {
			return nil, errorf(CodeBadParameter, "institution: %q does not match %s", institution, institutionIDPattern)
		}
		asked.Set("institution", institution)
	}
	from, carried, err := listPosition('p', cursor, asked, programmePattern)
	if err != nil {
		return nil, err
	}
	institution = carried.Get("institution")
	page := &ProgrammePage{Programmes: []Programme{}}
	err = b.read(func(r *ledger.Reader, s store) error {
		next, err := scanIDs(r, "prog/", from, func(id string) (bool, error) {
			if len(page.Programmes) == limit {
				return false, nil
			}
			p, err := loadProgramme(s, id, 0)
			if err == nil && p != nil && (institution == "" || p.Institution == institution) {
				page.Programmes = append(page.Programmes, *p)
			}
			return err == nil, err
		})
		if next != "" {
			page.NextCursor = formatListCursor('p', next, carried)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}
