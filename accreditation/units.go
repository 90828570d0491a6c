package accreditation

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"creditbank/ledger"
)

// Certified units (docs/contract.md section 13): a regulator certifies a
// unit of an institution in advance, with its sector, level, field and
// credits, in versions by (institution, code) as rules are. The catalogue
// is public. An outcome the institution posts of a certified unit,
// completed on a date a version of it is valid, must carry that version's
// level, field and standard credits, else it is refused
// (CodeUnitMismatch): what the catalogue says a unit is worth is what its
// outcomes count for.
//
// The check sits on the post path: a post reads one mark of its
// institution (unitinst/<inst>) once per request, and only an institution
// some unit of which is certified reads the unit of each item.

// TypeUnitCertified is the entry of one version of a certified unit.
const TypeUnitCertified = "unit.certified"

// IndexUnit lists the versions of a certified unit, by "institution/code".
const IndexUnit = "unit"

// CertifiedUnitInput certifies a unit (a new version when the institution
// already has a certified unit of that code).
type CertifiedUnitInput struct {
	Institution string  `json:"institution"`
	Code        string  `json:"code"`
	Title       string  `json:"title"`
	Sector      string  `json:"sector"`
	Level       int     `json:"level"`
	Field       string  `json:"field"`
	Credits     Credits `json:"credits"`
	Hours       *int64  `json:"hours"`
	ValidFrom   string  `json:"valid_from"`
	ValidUntil  *string `json:"valid_until"`
}

// CertifiedUnit is one published version of a certified unit, with the
// standard credits its outcomes count for.
type CertifiedUnit struct {
	CertifiedUnitInput
	StandardCredits Amount `json:"standard_credits"`
	Version         int    `json:"version"`
	// Seq is the entry that published this version.
	Seq uint64 `json:"seq"`
}

// Validate checks the unit's own form, as an outcome of it is checked:
// identifiers, sector, level, field, credits and hours that agree, and
// real dates in order.
func (u CertifiedUnitInput) Validate() error {
	if err := checkPattern("institution", u.Institution, institutionIDPattern); err != nil {
		return err
	}
	if err := checkPattern("code", u.Code, unitCodePattern); err != nil {
		return err
	}
	if err := checkText("title", u.Title, 200); err != nil {
		return err
	}
	passed := true
	o := OutcomeInput{Sector: u.Sector, Level: u.Level, Field: u.Field, Credits: u.Credits, Hours: u.Hours, Result: Result{Passed: &passed}}
	if !ValidSector(o.Sector) {
		return errorf(CodeInvalid, "unknown sector %q (one of %v)", o.Sector, sectors)
	}
	if o.Level < 1 || o.Level > 10 {
		return errorf(CodeInvalid, "level %d is not a framework level from 1 to 10", o.Level)
	}
	if err := ValidField(o.Field); err != nil {
		return errorf(CodeInvalid, "field: %v", err)
	}
	if err := ValidateSystem(o.Credits.System); err != nil {
		return errorf(CodeInvalid, "credits.system: %v", err)
	}
	if o.Credits.Amount <= 0 || o.Credits.Amount > MaxOutcomeCredits {
		return errorf(CodeInvalid, "credits.amount must be above 0 and at most %s", MaxOutcomeCredits)
	}
	if o.Hours != nil && (*o.Hours < 1 || *o.Hours > maxHours) {
		return errorf(CodeInvalid, "hours %d is not between 1 and %d", *o.Hours, maxHours)
	}
	if err := o.checkHoursAgree(); err != nil {
		return err
	}
	if _, err := o.standardCredits(); err != nil {
		return err
	}
	if _, err := parseDate("valid_from", u.ValidFrom); err != nil {
		return err
	}
	if u.ValidUntil != nil {
		if _, err := parseDate("valid_until", *u.ValidUntil); err != nil {
			return err
		}
		if *u.ValidUntil < u.ValidFrom {
			return errorf(CodeInvalid, "valid_until %s is before valid_from %s", *u.ValidUntil, u.ValidFrom)
		}
	}
	return nil
}

// standardCredits is what an outcome of the unit counts for when passed.
func (u CertifiedUnitInput) standardCredits() (Amount, error) {
	return StandardCredits(u.Credits.Amount, u.Credits.System, u.Hours)
}

// validOn reports whether the version certifies outcomes completed on date.
func (u CertifiedUnit) validOn(date string) bool {
	return u.ValidFrom <= date && (u.ValidUntil == nil || date <= *u.ValidUntil)
}

// The state of certified units:
//
//	unit/<inst>/<code>               the latest version (unitHead)
//	unitv/<inst>/<code>/<version>    CertifiedUnit
//	unitinst/<inst>                  "1": some unit of the institution is certified
//
// ("outunit/" holds the duplicate check's keys; the prefixes differ.)
const unitHeadPrefix = "unit/"

func unitHeadKey(inst, code string) string { return unitHeadPrefix + inst + "/" + code }
func unitVersionKey(inst, code string, v int) string {
	return fmt.Sprintf("unitv/%s/%s/%08d", inst, code, v)
}
func unitInstKey(inst string) string { return "unitinst/" + inst }

type unitHead struct {
	Latest int `json:"latest"`
}

type certifyUnitCmd struct {
	Actor Actor
	Unit  CertifiedUnitInput
}

func (c certifyUnitCmd) decide(t *tx) (any, error) {
	if _, err := t.institution(c.Unit.Institution); err != nil {
		return nil, errorf(CodeInvalid, "institution: %v", err)
	}
	sc, err := c.Unit.standardCredits()
	if err != nil {
		return nil, errorf(CodeInvalid, "standard credits: %v", err)
	}
	head, err := getJSON[unitHead](t, unitHeadKey(c.Unit.Institution, c.Unit.Code))
	if err != nil {
		return nil, err
	}
	version := 1
	if head != nil {
		version = head.Latest + 1
	}
	content := struct {
		CertifiedUnitInput
		StandardCredits Amount `json:"standard_credits"`
		Version         int    `json:"version"`
	}{c.Unit, sc, version}
	idx := []ledger.IndexKey{{Name: IndexUnit, Value: c.Unit.Institution + "/" + c.Unit.Code}, institutionIndex(c.Unit.Institution)}
	seq, err := t.emit(TypeUnitCertified, c.Actor, content, idx, nil)
	if err != nil {
		return nil, err
	}
	return CertifiedUnit{CertifiedUnitInput: c.Unit, StandardCredits: sc, Version: version, Seq: seq}, nil
}

// applyUnit applies a unit.certified entry.
func applyUnit(s store, e ledger.Entry) error {
	var u CertifiedUnit
	if err := json.Unmarshal(e.Content, &u); err != nil {
		return err
	}
	u.Seq = e.Seq
	if err := putJSON(s, unitVersionKey(u.Institution, u.Code, u.Version), u); err != nil {
		return err
	}
	if err := putJSON(s, unitHeadKey(u.Institution, u.Code), unitHead{Latest: u.Version}); err != nil {
		return err
	}
	s.put(unitInstKey(u.Institution), []byte("1"))
	return nil
}

// loadUnit reads version v of the certified unit (0: the latest), or nil.
func loadUnit(s store, inst, code string, v int) (*CertifiedUnit, error) {
	if v == 0 {
		head, err := getJSON[unitHead](s, unitHeadKey(inst, code))
		if err != nil || head == nil {
			return nil, err
		}
		v = head.Latest
	}
	return getJSON[CertifiedUnit](s, unitVersionKey(inst, code, v))
}

// unitOn returns the latest version of the certified unit valid on date,
// or nil when none is.
func unitOn(s store, inst, code, date string) (*CertifiedUnit, error) {
	head, err := getJSON[unitHead](s, unitHeadKey(inst, code))
	if err != nil || head == nil {
		return nil, err
	}
	for v := head.Latest; v >= 1; v-- {
		u, err := getJSON[CertifiedUnit](s, unitVersionKey(inst, code, v))
		if err != nil {
			return nil, err
		}
		if u != nil && u.validOn(date) {
			return u, nil
		}
	}
	return nil, nil
}

// certifiedUnits checks the outcomes of one post against the catalogue:
// hasUnits is read once per post, and a post of an institution with no
// certified unit reads nothing more.
type certifiedUnits struct {
	hasUnits bool
}

// newCertifiedUnits reads whether institution inst has certified units.
func newCertifiedUnits(s store, inst string) (certifiedUnits, error) {
	v, err := s.get(unitInstKey(inst))
	return certifiedUnits{hasUnits: v != nil}, err
}

// check refuses an outcome of a certified unit, completed while a version
// of it is valid, whose level, field or standard credits differ from that
// version's. The standard credits compared are those of the credits
// posted, passed or not: a failed outcome counts 0 whatever the unit is
// worth, but it is still an outcome of that unit.
func (cu certifiedUnits) check(s store, inst string, o *OutcomeInput) error {
	if !cu.hasUnits {
		return nil
	}
	u, err := unitOn(s, inst, o.Unit.Code, o.CompletedOn)
	if err != nil || u == nil {
		return err
	}
	sc, err := StandardCredits(o.Credits.Amount, o.Credits.System, o.Hours)
	if err != nil {
		return errorf(CodeInvalid, "standard credits: %v", err)
	}
	var diffs []string
	if o.Level != u.Level {
		diffs = append(diffs, fmt.Sprintf("level %d, not %d", o.Level, u.Level))
	}
	if o.Field != u.Field {
		diffs = append(diffs, fmt.Sprintf("field %s, not %s", o.Field, u.Field))
	}
	if sc != u.StandardCredits {
		diffs = append(diffs, fmt.Sprintf("%s standard credits, not %s", sc, u.StandardCredits))
	}
	if len(diffs) > 0 {
		return errorf(CodeUnitMismatch, "unit %s of %s is certified (version %d, entry %d) with level %d, field %s and %s standard credits; the outcome has %s",
			u.Code, inst, u.Version, u.Seq, u.Level, u.Field, u.StandardCredits, strings.Join(diffs, ", "))
	}
	return nil
}

// CertifyUnit certifies a unit of an institution, or publishes its next
// version when the institution already has a certified unit of that code.
// The institution must be registered.
func (b *Bank) CertifyUnit(ctx context.Context, actor Actor, u CertifiedUnitInput) (CertifiedUnit, error) {
	if err := u.Validate(); err != nil {
		return CertifiedUnit{}, err
	}
	res, err := b.do(ctx, certifyUnitCmd{Actor: actor, Unit: u})
	if err != nil {
		return CertifiedUnit{}, err
	}
	return res.(CertifiedUnit), nil
}

// CertifiedUnit returns the latest version of a certified unit (version 0)
// or the given one.
func (b *Bank) CertifiedUnit(inst, code string, version int) (CertifiedUnit, error) {
	var u CertifiedUnit
	err := b.read(func(_ *ledger.Reader, s store) error {
		v, err := loadUnit(s, inst, code, version)
		switch {
		case err != nil:
			return err
		case v == nil && version == 0:
			return errorf(CodeNotFound, "no certified unit %s of %s", code, inst)
		case v == nil:
			return errorf(CodeNotFound, "certified unit %s of %s has no version %d", code, inst, version)
		}
		u = *v
		return nil
	})
	return u, err
}

// UnitFilter selects certified units from the catalogue; zero members
// select all.
type UnitFilter struct {
	Institution string
	// Field matches by prefix, as a rule's fields do.
	Field string
	Level int
}

// Validate checks the filter's values, naming the query parameter of each.
func (f UnitFilter) Validate() error {
	if f.Institution != "" && !institutionIDPattern.MatchString(f.Institution) {
		return errorf(CodeBadParameter, "institution: %q does not match %s", f.Institution, institutionIDPattern)
	}
	if f.Field != "" && !fieldPrefixPattern(f.Field) {
		return errorf(CodeBadParameter, "field: %q is not an ISCED-F code or prefix of 2 to 4 digits", f.Field)
	}
	if f.Level < 0 || f.Level > 10 {
		return errorf(CodeBadParameter, "level: %d is not a framework level from 1 to 10", f.Level)
	}
	return nil
}

// fieldPrefixPattern accepts 2 to 4 digits.
func fieldPrefixPattern(s string) bool {
	if len(s) < 2 || len(s) > 4 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (f UnitFilter) values() url.Values {
	v := url.Values{}
	if f.Institution != "" {
		v.Set("institution", f.Institution)
	}
	if f.Field != "" {
		v.Set("field", f.Field)
	}
	if f.Level != 0 {
		v.Set("level", strconv.Itoa(f.Level))
	}
	return v
}

func (f UnitFilter) matches(u *CertifiedUnit) bool {
	return (f.Institution == "" || u.Institution == f.Institution) &&
		(f.Field == "" || strings.HasPrefix(u.Field, f.Field)) &&
		(f.Level == 0 || u.Level == f.Level)
}

// UnitPage is one page of the catalogue.
type UnitPage struct {
	Units      []CertifiedUnit `json:"units"`
	NextCursor string          `json:"next_cursor"`
}

// Units lists the catalogue of certified units, each at its latest
// version, in (institution, code) order: up to limit after cursor ("" for
// the first page) that match f (a cursor continues the filter it was
// issued under), as of one durable tree size. At most listScanLimit units
// are looked at per page, so that a filter that matches little still
// answers in bounded time, with a cursor to go on.
func (b *Bank) Units(f UnitFilter, cursor string, limit int) (*UnitPage, error) {
	if limit < 1 {
		return nil, errorf(CodeInvalid, "limit must be at least 1")
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	from, carried := "", f.values()
	if cursor != "" {
		pos, filter, err := parseListCursor('u', cursor)
		if err != nil {
			return nil, err
		}
		inst, code, ok := strings.Cut(pos, "/")
		if !ok || !institutionIDPattern.MatchString(inst) || !unitCodePattern.MatchString(code) {
			return nil, badCursor("the cursor was not issued by this listing")
		}
		if carried, err = continueFilter(f.values(), filter); err != nil {
			return nil, err
		}
		from = pos
		level, _ := strconv.Atoi(carried.Get("level"))
		f = UnitFilter{Institution: carried.Get("institution"), Field: carried.Get("field"), Level: level}
	}
	prefix := unitHeadPrefix
	if f.Institution != "" {
		prefix += f.Institution + "/"
	}
	page := &UnitPage{Units: []CertifiedUnit{}}
	err := b.read(func(r *ledger.Reader, s store) error {
		start := []byte(prefix)
		if from != "" {
			start = []byte(unitHeadPrefix + from)
		}
		scanned := 0
		var ierr error
		err := r.Scan([]byte(prefix), start, func(k, _ []byte) bool {
			pos := string(k[len(unitHeadPrefix):])
			if len(page.Units) == limit || scanned == listScanLimit {
				page.NextCursor = formatListCursor('u', pos, carried)
				return false
			}
			scanned++
			inst, code, _ := strings.Cut(pos, "/")
			u, err := loadUnit(s, inst, code, 0)
			if err != nil {
				ierr = err
				return false
			}
			if u != nil && f.matches(u) {
				page.Units = append(page.Units, *u)
			}
			return true
		})
		if err == nil {
			err = ierr
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}
