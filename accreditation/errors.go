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
)

// Error is a domain failure: what kind, a human-readable detail, and for
// CodeNotEligible the reason for each outcome asked for.
type Error struct {
	Code    Code
	Detail  string
	Reasons []Ineligible
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
