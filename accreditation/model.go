package accreditation

import (
	"fmt"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"
)

// Identifier patterns from the contract.
var (
	institutionIDPattern = newIDPattern(`^[a-z0-9][a-z0-9.-]{2,63}$`, lowerDigits, lowerDigits+".-", 2, 63)
	learnerIDPattern     = newIDPattern(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`, alnum, alnum+"-", 0, 63)
	// Rule ids follow institution ids; programme and unit codes are looser
	// but still plain ASCII, so they index and print safely.
	ruleIDPattern    = institutionIDPattern
	programmePattern = newIDPattern(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`, alnum, alnum+"._-", 0, 63)
	unitCodePattern  = programmePattern
	sha256Pattern    = newIDPattern(`^[0-9a-f]{64}$`, "0123456789abcdef", "0123456789abcdef", 63, 63)
	idemKeyPattern   = newIDPattern(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$`, alnum, alnum+"._:/-", 0, 127)
)

const (
	lowerDigits = "abcdefghijklmnopqrstuvwxyz0123456789"
	alnum       = lowerDigits + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

// idPattern is an identifier grammar of the one shape the contract uses,
// ^[first][rest]{min,max}$, matched by byte class. Every outcome is checked
// against four of them, and the regular expression engine took a tenth of
// an outcome's handling; the expression is kept for messages, and
// TestIDPatterns checks that both say the same.
type idPattern struct {
	re          *regexp.Regexp
	first, rest [256]bool
	min, max    int // repetitions of rest
}

func newIDPattern(expr, first, rest string, min, max int) *idPattern {
	p := &idPattern{re: regexp.MustCompile(expr), min: min, max: max}
	for _, c := range []byte(first) {
		p.first[c] = true
	}
	for _, c := range []byte(rest) {
		p.rest[c] = true
	}
	return p
}

// MatchString reports whether s is an identifier of this pattern.
func (p *idPattern) MatchString(s string) bool {
	if len(s) < 1+p.min || len(s) > 1+p.max || !p.first[s[0]] {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !p.rest[s[i]] {
			return false
		}
	}
	return true
}

// String returns the regular expression, which messages quote.
func (p *idPattern) String() string { return p.re.String() }

// ValidLearnerID reports whether id can name a learner at all, in any case
// (identifiers.go): a read by an id that looks like a national identity
// number is not refused, so that what a store recorded before the rule
// stays readable.
func ValidLearnerID(id string) bool { return learnerIDPattern.MatchString(id) }

// ValidRuleID reports whether id can name a rule at all.
func ValidRuleID(id string) bool { return ruleIDPattern.MatchString(id) }

// ValidInstitutionID reports whether id is a well-formed institution id.
func ValidInstitutionID(id string) bool { return institutionIDPattern.MatchString(id) }

// ValidProgrammeID reports whether id can name a programme.
func ValidProgrammeID(id string) bool { return programmePattern.MatchString(id) }

// Role is what an authenticated caller is.
type Role string

// The roles of docs/contract.md section 2.
const (
	RoleAdmin       Role = "admin"
	RoleRegulator   Role = "regulator"
	RoleInstitution Role = "institution"
	RoleLearner     Role = "learner"
)

// Actor is who asks: a role and the id the token named (the institution id
// for institutions, the token's sub otherwise). It is recorded on every entry.
type Actor struct {
	Role Role
	ID   string
}

// String is role:id, the form recorded as every entry's actor.
func (a Actor) String() string { return string(a.Role) + ":" + a.ID }

// Kinds of institution.
var institutionKinds = []string{
	"university", "vocational_college", "open_university", "adult_college",
	"community_college", "community_school", "elderly_university",
	"training_provider", "cultural_venue", "research_institute", "employer",
}

// Sectors of education.
var sectors = []string{"degree", "non_degree", "vocational", "community", "elderly", "workplace", "certificate"}

// InstitutionKinds lists the institution kinds the contract allows.
func InstitutionKinds() []string { return slices.Clone(institutionKinds) }

// ValidSector reports whether s is one of the sectors the contract allows.
func ValidSector(s string) bool { return slices.Contains(sectors, s) }

// Sectors lists the sectors of education the contract allows.
func Sectors() []string { return slices.Clone(sectors) }

// dateLayout is the contract's YYYY-MM-DD.
const dateLayout = "2006-01-02"

// parseDate reads a real calendar date in YYYY-MM-DD.
func parseDate(what, s string) (time.Time, error) {
	t, err := time.Parse(dateLayout, s)
	if err != nil || t.Format(dateLayout) != s {
		return time.Time{}, errorf(CodeInvalid, "%s %q is not a date in YYYY-MM-DD", what, s)
	}
	if t.Year() < 1900 {
		return time.Time{}, errorf(CodeInvalid, "%s %q is before 1900", what, s)
	}
	return t, nil
}

// daysBetween counts whole days from a to b (both YYYY-MM-DD, valid).
func daysBetween(a, b string) int {
	ta, _ := time.Parse(dateLayout, a)
	tb, _ := time.Parse(dateLayout, b)
	return int(tb.Sub(ta).Hours() / 24)
}

// checkText accepts 1 to max runes of valid UTF-8 without control
// characters, bidirectional controls, invisible format characters other
// than the joiners, or U+FFFD (hiddenRune, identifiers.go).
func checkText(what, s string, max int) error {
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return errorf(CodeInvalid, "%s must be 1 to %d characters of UTF-8", what, max)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return errorf(CodeInvalid, "%s contains a control character", what)
		}
		if why := hiddenRune(r); why != "" {
			return errorf(CodeInvalid, "%s contains U+%04X, %s", what, r, why)
		}
	}
	return nil
}

// checkPattern accepts an identifier of pattern p; the refusal quotes the
// pattern's regular expression.
func checkPattern(what, s string, p *idPattern) error {
	if !p.MatchString(s) {
		return errorf(CodeInvalid, "%s %q does not match %s", what, s, p)
	}
	return nil
}

// checkSectors accepts a non-empty list of distinct known sectors.
func checkSectors(what string, list []string, allowEmpty bool) error {
	if len(list) == 0 && !allowEmpty {
		return errorf(CodeInvalid, "%s must name at least one sector", what)
	}
	seen := map[string]bool{}
	for _, s := range list {
		if !ValidSector(s) {
			return errorf(CodeInvalid, "%s: unknown sector %q (one of %v)", what, s, sectors)
		}
		if seen[s] {
			return errorf(CodeInvalid, "%s: sector %q is listed twice", what, s)
		}
		seen[s] = true
	}
	return nil
}

// Target is a programme at an institution that conversions grant credit
// toward.
type Target struct {
	Institution string `json:"institution"`
	Programme   string `json:"programme"`
}

// String is institution/programme, the key of [Balance.Granted].
func (t Target) String() string { return t.Institution + "/" + t.Programme }

// Institution is a registered institution as the bank knows it now.
type Institution struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	Kind           string          `json:"kind"`
	Keys           []PublicJWK     `json:"keys"`
	Accreditations []Accreditation `json:"accreditations"`
	Suspension     *Suspension     `json:"suspension,omitempty"`
	// Seq is the entry that registered it.
	Seq uint64 `json:"seq"`
	// History lists its accreditations, withdrawals, suspensions and lifts
	// in seq order (history.go); a store written before it was kept has
	// none for what came before.
	History []InstitutionEvent `json:"history"`
}

// Key returns the registered key named kid.
func (in *Institution) Key(kid string) (PublicJWK, bool) {
	for _, k := range in.Keys {
		if k.Kid == kid {
			return k, true
		}
	}
	return PublicJWK{}, false
}

// Accreditation is one scope an institution may deposit in: outcomes of
// these sectors, up to this level, completed between these dates.
type Accreditation struct {
	Sectors    []string `json:"sectors"`
	MaxLevel   int      `json:"max_level"`
	ValidFrom  string   `json:"valid_from"`
	ValidUntil string   `json:"valid_until"`
	// Seq is the entry that granted it.
	Seq uint64 `json:"seq"`
	// OverrideReason is the reason given for an accreditation granted
	// beyond the policy table, and OutsidePolicy what it went beyond
	// (policy.go); both are empty for the others.
	OverrideReason string `json:"override_reason,omitempty"`
	OutsidePolicy  string `json:"outside_policy,omitempty"`
	// Withdrawn is set once the accreditation was withdrawn (history.go).
	Withdrawn *Withdrawal `json:"withdrawn,omitempty"`
}

// covers reports whether the scope admits an outcome posted now: a
// withdrawn accreditation admits none.
func (a Accreditation) covers(sector string, level int, completedOn string) bool {
	return a.Withdrawn == nil && slices.Contains(a.Sectors, sector) && level <= a.MaxLevel &&
		a.ValidFrom <= completedOn && completedOn <= a.ValidUntil
}

// Suspension stops an institution's postings from its seq on.
type Suspension struct {
	Reason string `json:"reason"`
	Seq    uint64 `json:"seq"`
}

// Registration asks to register an institution.
type Registration struct {
	ID   string      `json:"id"`
	Name string      `json:"name"`
	Kind string      `json:"kind"`
	Keys []PublicJWK `json:"keys"`
}

// Validate checks the registration's own form.
func (r Registration) Validate() error {
	if err := checkPattern("institution id", r.ID, institutionIDPattern); err != nil {
		return err
	}
	if err := checkName("name", r.Name, 200); err != nil {
		return err
	}
	if !slices.Contains(institutionKinds, r.Kind) {
		return errorf(CodeInvalid, "unknown institution kind %q (one of %v)", r.Kind, institutionKinds)
	}
	if len(r.Keys) == 0 || len(r.Keys) > 16 {
		return errorf(CodeInvalid, "an institution registers 1 to 16 keys")
	}
	kids := map[string]bool{}
	for _, k := range r.Keys {
		if kids[k.Kid] {
			return errorf(CodeInvalid, "key id %q is listed twice", k.Kid)
		}
		kids[k.Kid] = true
	}
	return nil
}

// AccreditationInput asks to accredit an institution for a scope.
type AccreditationInput struct {
	Sectors    []string `json:"sectors"`
	MaxLevel   int      `json:"max_level"`
	ValidFrom  string   `json:"valid_from"`
	ValidUntil string   `json:"valid_until"`
	// OverrideReason, when given, lets a regulator or an admin accredit
	// beyond the policy table for the institution's kind (policy.go).
	OverrideReason string `json:"override_reason,omitempty"`
}

// Validate checks the scope's own form.
func (a AccreditationInput) Validate() error {
	if err := checkSectors("sectors", a.Sectors, false); err != nil {
		return err
	}
	if a.MaxLevel < 1 || a.MaxLevel > 10 {
		return errorf(CodeInvalid, "max_level %d is not a framework level from 1 to 10", a.MaxLevel)
	}
	if _, err := parseDate("valid_from", a.ValidFrom); err != nil {
		return err
	}
	if _, err := parseDate("valid_until", a.ValidUntil); err != nil {
		return err
	}
	if a.ValidUntil < a.ValidFrom {
		return errorf(CodeInvalid, "valid_until %s is before valid_from %s", a.ValidUntil, a.ValidFrom)
	}
	if a.OverrideReason != "" {
		if err := checkText("override_reason", a.OverrideReason, 500); err != nil {
			return err
		}
	}
	return nil
}

// Unit is the course or module an outcome certifies.
type Unit struct {
	Code  string `json:"code"`
	Title string `json:"title"`
}

// Credits is an amount in an institution's own credit system.
type Credits struct {
	Amount Amount `json:"amount"`
	System string `json:"system"`
}

// Result is how the learner did. Credit is all or nothing: a failed outcome
// is on the transcript but carries 0 standard credits.
type Result struct {
	Passed *bool   `json:"passed"`
	Score  *Amount `json:"score,omitempty"`
}

// OutcomeInput is one outcome as an institution posts it.
type OutcomeInput struct {
	IdempotencyKey string  `json:"idempotency_key"`
	Learner        string  `json:"learner"`
	Unit           Unit    `json:"unit"`
	Sector         string  `json:"sector"`
	Level          int     `json:"level"`
	Field          string  `json:"field"`
	Credits        Credits `json:"credits"`
	Hours          *int64  `json:"hours,omitempty"`
	Result         Result  `json:"result"`
	CompletedOn    string  `json:"completed_on"`
	EvidenceSHA256 string  `json:"evidence_sha256,omitempty"`
	Supersedes     *uint64 `json:"supersedes,omitempty"`
}

// maxHours bounds an outcome's learning hours: a lifetime of full-time study
// is under 100,000.
const maxHours = 100000

// MaxOutcomeCredits bounds one outcome's credits: a whole degree is a few
// hundred credits in any system. The bound keeps every total the bank adds
// up far inside what it can store.
const MaxOutcomeCredits Amount = 10000 * 100

// Validate checks an outcome's own form: identifiers, the ISCED-F field,
// the level, a real calendar date, the credit system and amounts, the
// result. It does not look at the state (accreditation, idempotency).
func (o OutcomeInput) Validate() error {
	if err := checkPattern("idempotency_key", o.IdempotencyKey, idemKeyPattern); err != nil {
		return err
	}
	if err := checkLearnerID("learner", o.Learner); err != nil {
		return err
	}
	if err := checkPattern("unit.code", o.Unit.Code, unitCodePattern); err != nil {
		return err
	}
	if err := checkText("unit.title", o.Unit.Title, 200); err != nil {
		return err
	}
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
	if o.Credits.Amount < 0 || o.Credits.Amount > MaxOutcomeCredits {
		return errorf(CodeInvalid, "credits.amount must be 0 to %s", MaxOutcomeCredits)
	}
	if o.Hours != nil && (*o.Hours < 1 || *o.Hours > maxHours) {
		return errorf(CodeInvalid, "hours %d is not between 1 and %d", *o.Hours, maxHours)
	}
	if o.Result.Passed == nil {
		return errorf(CodeInvalid, "result.passed is required")
	}
	if s := o.Result.Score; s != nil && (*s < 0 || *s > MaxAmount) {
		return errorf(CodeInvalid, "result.score is out of range")
	}
	if _, err := parseDate("completed_on", o.CompletedOn); err != nil {
		return err
	}
	if o.EvidenceSHA256 != "" {
		if err := checkPattern("evidence_sha256", o.EvidenceSHA256, sha256Pattern); err != nil {
			return err
		}
	}
	if err := o.checkHoursAgree(); err != nil {
		return err
	}
	if _, err := o.standardCredits(); err != nil {
		return err
	}
	return nil
}

// standardCredits is what the outcome counts for: 0 when failed.
func (o OutcomeInput) standardCredits() (Amount, error) {
	sc, err := StandardCredits(o.Credits.Amount, o.Credits.System, o.Hours)
	if err != nil {
		return 0, errorf(CodeInvalid, "standard credits: %v", err)
	}
	if o.Result.Passed != nil && !*o.Result.Passed {
		return 0, nil
	}
	return sc, nil
}

// Outcome is a recorded outcome: the input as posted, who posted it, and the
// standard credits the bank derived.
type Outcome struct {
	OutcomeInput
	Institution     string `json:"institution"`
	StandardCredits Amount `json:"standard_credits"`
	// Sealed is, in a stored outcome, its personal members (the learner
	// id, the unit's title, the score and the evidence hash) sealed under
	// the learner's data key, base64: erasure.go. Empty in an outcome as
	// it is posted and read, and in outcomes stored before sealing.
	Sealed string `json:"sealed,omitempty"`
}

// RuleSource says which outcomes a rule counts.
type RuleSource struct {
	Sectors      []string `json:"sectors"`
	MinLevel     int      `json:"min_level"`
	Fields       []string `json:"fields"`
	MinScore     *Amount  `json:"min_score"`
	MaxAgeDays   *int     `json:"max_age_days"`
	Institutions []string `json:"institutions"`
}

// RuleInput publishes a conversion rule (a new version when the id exists).
type RuleInput struct {
	ID         string     `json:"id"`
	Target     Target     `json:"target"`
	Source     RuleSource `json:"source"`
	Ratio      Ratio      `json:"ratio"`
	Cap        *Amount    `json:"cap"`
	ValidFrom  string     `json:"valid_from"`
	ValidUntil *string    `json:"valid_until"`
	// Reinstate asks to publish the id of a retired rule again; without it
	// that is refused (CodeRuleRetired). It is how the request is meant, not
	// part of the rule: the version it publishes records it as Reinstated.
	Reinstate bool `json:"reinstate,omitempty"`
}

// Rule is one published version of a conversion rule.
type Rule struct {
	RuleInput
	Version int `json:"version"`
	// Reinstated is set on a version that published a retired rule again.
	Reinstated bool `json:"reinstated,omitempty"`
	// Seq is the entry that published this version.
	Seq uint64 `json:"seq"`
}

// Retirement is when and why a rule was retired.
type Retirement struct {
	// Seq is the rule.retired entry.
	Seq        uint64 `json:"seq"`
	RecordedAt string `json:"recorded_at"`
	// Reason is empty for a retirement recorded before retiring took one.
	Reason string `json:"reason,omitempty"`
}

// Validate checks the rule's own form.
func (r RuleInput) Validate() error {
	if err := checkPattern("rule id", r.ID, ruleIDPattern); err != nil {
		return err
	}
	if err := checkPattern("target.institution", r.Target.Institution, institutionIDPattern); err != nil {
		return err
	}
	if err := checkPattern("target.programme", r.Target.Programme, programmePattern); err != nil {
		return err
	}
	s := r.Source
	if err := checkSectors("source.sectors", s.Sectors, false); err != nil {
		return err
	}
	if s.MinLevel < 0 || s.MinLevel > 10 {
		return errorf(CodeInvalid, "source.min_level %d is not 0 to 10", s.MinLevel)
	}
	if len(s.Fields) > 64 {
		return errorf(CodeInvalid, "source.fields lists more than 64 prefixes")
	}
	for _, f := range s.Fields {
		if err := ValidField(f); err != nil {
			return errorf(CodeInvalid, "source.fields: %v", err)
		}
	}
	if s.MinScore != nil && (*s.MinScore < 0 || *s.MinScore > MaxAmount) {
		return errorf(CodeInvalid, "source.min_score is out of range")
	}
	if s.MaxAgeDays != nil && (*s.MaxAgeDays < 0 || *s.MaxAgeDays > 36600) {
		return errorf(CodeInvalid, "source.max_age_days must be 0 to 36600")
	}
	if len(s.Institutions) > 256 {
		return errorf(CodeInvalid, "source.institutions lists more than 256 institutions")
	}
	for _, id := range s.Institutions {
		if err := checkPattern("source.institutions", id, institutionIDPattern); err != nil {
			return err
		}
	}
	if r.Ratio <= 0 || r.Ratio > MaxRatio {
		return errorf(CodeInvalid, "ratio must be above 0 and at most %s", MaxRatio)
	}
	if r.Cap != nil && (*r.Cap <= 0 || *r.Cap > MaxAmount) {
		return errorf(CodeInvalid, "cap must be above 0")
	}
	if _, err := parseDate("valid_from", r.ValidFrom); err != nil {
		return err
	}
	if r.ValidUntil != nil {
		if _, err := parseDate("valid_until", *r.ValidUntil); err != nil {
			return err
		}
		if *r.ValidUntil < r.ValidFrom {
			return errorf(CodeInvalid, "valid_until %s is before valid_from %s", *r.ValidUntil, r.ValidFrom)
		}
	}
	return nil
}

// validOn reports whether the rule may be applied on date.
func (r Rule) validOn(date string) error {
	if date < r.ValidFrom {
		return errorf(CodeRuleInactive, "rule %s version %d is valid from %s", r.ID, r.Version, r.ValidFrom)
	}
	if r.ValidUntil != nil && date > *r.ValidUntil {
		return errorf(CodeRuleInactive, "rule %s version %d was valid until %s", r.ID, r.Version, *r.ValidUntil)
	}
	return nil
}

// ConversionRequest asks to convert a learner's outcomes under a rule. A nil
// Outcomes selects every eligible outcome of the learner, in seq order.
type ConversionRequest struct {
	Learner  string   `json:"learner"`
	Rule     string   `json:"rule"`
	Outcomes []uint64 `json:"outcomes,omitempty"`
}

// maxConversionOutcomes bounds one conversion request.
const maxConversionOutcomes = 1000

// Validate checks the request's own form, and writes its learner id in
// canonical form (CanonicalLearnerID): a conversion and its preview then
// read and record the one learner whatever case the request used.
func (c *ConversionRequest) Validate() error {
	if err := checkLearnerID("learner", c.Learner); err != nil {
		return err
	}
	c.Learner = CanonicalLearnerID(c.Learner)
	if err := checkPattern("rule", c.Rule, ruleIDPattern); err != nil {
		return err
	}
	if c.Outcomes != nil && len(c.Outcomes) == 0 {
		return errorf(CodeInvalid, "outcomes is empty; leave it out to select every eligible outcome")
	}
	if len(c.Outcomes) > maxConversionOutcomes {
		return errorf(CodeInvalid, "a conversion names at most %d outcomes", maxConversionOutcomes)
	}
	return nil
}

// levelBand groups framework levels for balances.
func levelBand(level int) string {
	lo := level - (level+1)%2
	return fmt.Sprintf("%d-%d", lo, lo+1)
}
