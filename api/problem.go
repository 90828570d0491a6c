package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"unicode/utf8"

	"creditbank/accreditation"
	"creditbank/ledger"
	"creditbank/tiles"
)

// problemBase prefixes every problem type: a stable URN per failure kind,
// so clients branch on the type and never on the human-readable title.
const problemBase = "urn:creditbank:problem:"

// Problem is an RFC 9457 problem details object. Reasons, an extension
// member, lists why each outcome asked for could not be converted: the
// first accreditation.MaxReasons, and ReasonsOmitted how many more.
type Problem struct {
	Type           string                     `json:"type"`
	Title          string                     `json:"title"`
	Status         int                        `json:"status"`
	Detail         string                     `json:"detail,omitempty"`
	Reasons        []accreditation.Ineligible `json:"reasons,omitempty"`
	ReasonsOmitted int                        `json:"reasons_omitted,omitempty"`
	// Existing, for a duplicate-outcome, is the seq of the outcome
	// already recorded.
	Existing *uint64 `json:"existing,omitempty"`
	// Missing, for an award-not-eligible, is what the award audit found
	// missing (docs/contract.md section 9).
	Missing []accreditation.Shortfall `json:"missing,omitempty"`
}

// newProblem builds the problem of a failure kind; kind is the type's last
// segment.
func newProblem(status int, kind, title, detail string) Problem {
	return Problem{Type: problemBase + kind, Title: title, Status: status, Detail: detail}
}

// writeProblem answers with a problem+json body, for the failures that are
// the API's own (a body that is not JSON, a bad query parameter, a refused
// token, an internal error). A failure of a kind the bank or the ledger
// names goes through writeError or refuse instead, so that its status and
// type are spelled in problemFor only.
func writeProblem(w http.ResponseWriter, status int, kind, title, detail string) {
	writeProblemValue(w, newProblem(status, kind, title, detail))
}

// refuse answers with the problem of domain kind code for a refusal the API
// finds itself before calling the bank: a path that names nothing, a role
// the route table refuses, a batch of the wrong size.
func refuse(w http.ResponseWriter, code accreditation.Code, detail string) {
	writeError(w, &accreditation.Error{Code: code, Detail: detail})
}

// maxDetail bounds a problem's detail: a refused input quoted back must not
// make the answer larger than the request.
const maxDetail = 512

// writeProblemValue answers with p, its detail clipped to maxDetail.
func writeProblemValue(w http.ResponseWriter, p Problem) {
	p.Detail = clip(p.Detail)
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeError answers with the problem for err.
func writeError(w http.ResponseWriter, err error) { writeProblemValue(w, problemFor(err)) }

// clip cuts s to maxDetail bytes on a rune boundary.
func clip(s string) string {
	if len(s) <= maxDetail {
		return s
	}
	cut := maxDetail
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// problemFor maps an error from the layers below (an *accreditation.Error
// by its Code, a ledger sentinel, anything else as internal) to its status
// and problem type. It is the one place where that mapping is made.
func problemFor(err error) Problem {
	var de *accreditation.Error
	if errors.As(err, &de) {
		p := Problem{Type: problemBase + string(de.Code), Detail: clip(de.Detail), Reasons: de.Reasons, ReasonsOmitted: de.ReasonsOmitted, Existing: de.Existing, Missing: de.Missing}
		switch de.Code {
		case accreditation.CodeInvalid:
			p.Status, p.Title = http.StatusUnprocessableEntity, "Invalid request"
		case accreditation.CodeNotFound:
			p.Status, p.Title = http.StatusNotFound, "Not found"
		case accreditation.CodeConflict:
			p.Status, p.Title = http.StatusConflict, "Conflict"
		case accreditation.CodeForbidden:
			p.Status, p.Title = http.StatusForbidden, "Forbidden"
		case accreditation.CodeNotAccredited:
			p.Status, p.Title = http.StatusUnprocessableEntity, "Outside the institution's accreditation"
		case accreditation.CodeNotEligible:
			p.Status, p.Title = http.StatusUnprocessableEntity, "Nothing eligible"
		case accreditation.CodeRuleInactive:
			p.Status, p.Title = http.StatusUnprocessableEntity, "Rule not in force"
		case accreditation.CodeBadParameter:
			p.Status, p.Title = http.StatusBadRequest, "Bad query parameter"
		case accreditation.CodeCreditsHoursMismatch:
			p.Status, p.Title = http.StatusUnprocessableEntity, "Credits and hours disagree"
		case accreditation.CodeRuleRetired:
			p.Status, p.Title = http.StatusConflict, "Rule retired"
		case accreditation.CodeLastKey:
			p.Status, p.Title = http.StatusConflict, "Last key"
		case accreditation.CodeAccreditationPolicy:
			p.Status, p.Title = http.StatusUnprocessableEntity, "Outside the accreditation policy"
		case accreditation.CodeDuplicateOutcome:
			p.Status, p.Title = http.StatusConflict, "Duplicate outcome"
		case accreditation.CodeInstitutionSuspended:
			p.Status, p.Title = http.StatusUnprocessableEntity, "Institution suspended"
		case accreditation.CodeLearnerIDPersonal:
			p.Status, p.Title = http.StatusUnprocessableEntity, "Learner id looks personal"
		case accreditation.CodeErased:
			// Gone rather than 404: the learner existed, and never will
			// again under this id (docs/contract.md section 11).
			p.Status, p.Title = http.StatusGone, "Learner erased"
		case accreditation.CodeAwardNotEligible:
			p.Status, p.Title = http.StatusUnprocessableEntity, "Not eligible for the award"
		case accreditation.CodeUnitMismatch:
			p.Status, p.Title = http.StatusUnprocessableEntity, "Outcome differs from its certified unit"
		default:
			p.Status, p.Title = http.StatusUnprocessableEntity, "Refused"
		}
		return p
	}
	p := newProblem
	var tooLarge *tiles.TooLargeError
	switch {
	case errors.As(err, &tooLarge):
		return p(http.StatusNotFound, "entry-too-large", "Entry too large for a bundle",
			err.Error()+"; read it at /v1/log/entries/"+strconv.FormatUint(tooLarge.Seq, 10))
	case errors.Is(err, tiles.ErrNotFound), errors.Is(err, tiles.ErrMalformed):
		return p(http.StatusNotFound, "not-found", "Not found", err.Error())
	case errors.Is(err, ledger.ErrNotFound):
		return p(http.StatusNotFound, "not-found", "Not found", err.Error())
	case errors.Is(err, ledger.ErrRange):
		return p(http.StatusBadRequest, "out-of-range", "Out of range", err.Error())
	case errors.Is(err, ledger.ErrBadCursor):
		return p(http.StatusBadRequest, "bad-cursor", "Bad cursor", err.Error())
	case errors.Is(err, ledger.ErrUnavailable), errors.Is(err, ledger.ErrClosed),
		errors.Is(err, ledger.ErrFailed), errors.Is(err, ledger.ErrCorrupt), errors.Is(err, ledger.ErrReadOnly):
		return p(http.StatusServiceUnavailable, "unavailable", "Not accepting writes", err.Error())
	}
	return p(http.StatusInternalServerError, "internal", "Internal error", "")
}
