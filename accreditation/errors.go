package accreditation

import (
	"errors"
	"fmt"
)

// Code names the kind of a domain failure. Codes are stable: the API turns
// each into its problem type and HTTP status, and clients branch on them.
type Code string

// The failure codes.
const (
	// CodeInvalid: the request breaks a rule of its own form (a bad id,
	// date, level, amount, field code ...). Nothing about the state.
	CodeInvalid Code = "invalid"
	// CodeNotFound: the institution, outcome, rule or version does not exist.
	CodeNotFound Code = "not-found"
	// CodeConflict: the state forbids it (the id is taken, the idempotency
	// key was used with other content, the outcome is already revoked ...).
	CodeConflict Code = "conflict"
	// CodeForbidden: the actor may not do this to this object (an institution
	// revoking another's outcome, a learner converting for someone else).
	CodeForbidden Code = "forbidden"
	// CodeNotAccredited: the outcome lies outside the institution's active
	// accreditation (sector, level, dates) or the institution is suspended.
	CodeNotAccredited Code = "not-accredited"
	// CodeNotEligible: no outcome asked for may be converted; Reasons says
	// why for each.
	CodeNotEligible Code = "not-eligible"
	// CodeRuleInactive: the rule is retired or not valid on the date.
	CodeRuleInactive Code = "rule-inactive"
	// CodeBadParameter: a query parameter of a read is unknown, repeated
	// or malformed (a filter's level that is no number, a bad date).
	CodeBadParameter Code = "bad-parameter"
	// CodeCreditsHoursMismatch: an outcome's hours and credits disagree by
	// more than a factor of two.
	CodeCreditsHoursMismatch Code = "credits-hours-mismatch"
	// CodeRuleRetired: a rule id being published again names a retired
	// rule, and the request does not say to reinstate it.
	CodeRuleRetired Code = "rule-retired"
	// CodeLastKey: removing the key would leave the institution with none.
	CodeLastKey Code = "last-key"
	// CodeAccreditationPolicy: the accreditation names a sector or a level
	// the institution's kind may not be accredited for (policy.go), and no
	// override reason was given.
	CodeAccreditationPolicy Code = "accreditation-policy"
	// CodeDuplicateOutcome: the institution already recorded an outcome
	// of the same learner, unit code and completion date, under another
	// idempotency key; Existing names it.
	CodeDuplicateOutcome Code = "duplicate-outcome"
	// CodeInstitutionSuspended: a conversion toward the programmes of a
	// suspended institution, refused while the suspension lasts.
	CodeInstitutionSuspended Code = "institution-suspended"
	// CodeLearnerIDPersonal: a learner id looks like a national identity
	// number (identifiers.go); learner ids are pseudonyms.
	CodeLearnerIDPersonal Code = "learner-id-personal"
	// CodeErased: the learner's personal data was erased (erasure.go);
	// nothing of it can be read or written again.
	CodeErased Code = "learner-erased"
	// CodeAwardNotEligible: the award audit says the learner is not
	// eligible for the programme; Missing says what is missing.
	CodeAwardNotEligible Code = "award-not-eligible"
	// CodeUnitMismatch: an outcome of a certified unit differs from the
	// catalogue in level, field or standard credits (units.go).
	CodeUnitMismatch Code = "unit-mismatch"
)

// Error is a domain failure: what kind, a human-readable detail, and for
// CodeNotEligible the reason for each outcome asked for.
type Error struct {
	Code    Code
	Detail  string
	Reasons []Ineligible
	// ReasonsOmitted is how many reasons were left out of Reasons, which
	// lists the first MaxReasons.
	ReasonsOmitted int
	// Existing is the outcome a CodeDuplicateOutcome repeats.
	Existing *uint64
	// Missing is what the award audit found missing, for
	// CodeAwardNotEligible.
	Missing []Shortfall
}

// Error returns the code and the detail, the form logs show.
func (e *Error) Error() string { return string(e.Code) + ": " + e.Detail }

// errorf builds a domain failure; every refusal in the package is made by it.
func errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of a domain error, or "" for any other error.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
