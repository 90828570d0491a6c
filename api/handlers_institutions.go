package api

import (
	"net/http"

	"github.com/gorilla/mux"
)

// The history of an institution (docs/contract.md section 8): withdrawing
// one of its accreditations, and lifting a suspension with a reason.

// hasBody reports whether the request carries a body: a DELETE may or may
// not, and one without is read as no reason given.
func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

func (h *Handler) withdrawAccreditation(w http.ResponseWriter, r *http.Request, a actor) {
	seq, ok := seqVar(w, r, "seq")
	if !ok {
		return
	}
	var body reasonBody
	if !readMembers(w, r, &body, reasonMembers) {
		return
	}
	acc, err := h.bank.WithdrawAccreditation(r.Context(), a, mux.Vars(r)["id"], seq, body.Reason)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, acc)
}
