package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"creditbank/ledger"
)

// problemBase prefixes every problem type: a stable URN per failure kind,
// so clients branch on the type and never on the human-readable title.
const problemBase = "urn:creditbank:problem:"

// Problem is an RFC 9457 problem details object.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// writeProblem answers with a problem+json body.
func writeProblem(w http.ResponseWriter, status int, kind, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Problem{Type: problemBase + kind, Title: title, Status: status, Detail: detail})
}

// writeError maps an error from the layers below to its status and problem
// type. It is the one place where that mapping is made.
func writeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		writeProblem(w, http.StatusNotFound, "not-found", "Not found", err.Error())
	case errors.Is(err, ledger.ErrRange):
		writeProblem(w, http.StatusBadRequest, "out-of-range", "Out of range", err.Error())
	case errors.Is(err, ledger.ErrBadCursor):
		writeProblem(w, http.StatusBadRequest, "bad-cursor", "Bad cursor", err.Error())
	case errors.Is(err, ledger.ErrUnavailable), errors.Is(err, ledger.ErrClosed),
		errors.Is(err, ledger.ErrFailed), errors.Is(err, ledger.ErrCorrupt), errors.Is(err, ledger.ErrReadOnly):
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "Not accepting writes", err.Error())
	default:
		writeProblem(w, http.StatusInternalServerError, "internal", "Internal error", "")
	}
}
