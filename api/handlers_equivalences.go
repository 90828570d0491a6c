package api

import (
	"net/http"

	"github.com/gorilla/mux"

	"creditbank/accreditation"
)

// equivalenceMembers are the members of a group of equivalent units, all
// required as a rule's are (docs/contract.md section 8); valid_until may be
// null for "no end".
var equivalenceMembers = []member{
	{"id", false},
	{"units", false},
	{"valid_from", false},
	{"valid_until", true},
}

// publishEquivalence publishes a group of equivalent units, or its next
// version when the id exists.
func (h *Handler) publishEquivalence(w http.ResponseWriter, r *http.Request, a actor) {
	var input accreditation.EquivalenceInput
	if !readMembers(w, r, &input, equivalenceMembers) {
		return
	}
	g, err := h.bank.PublishEquivalence(r.Context(), a, input)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, g)
}

// getEquivalence answers the latest version of a group of equivalent units.
func (h *Handler) getEquivalence(w http.ResponseWriter, r *http.Request, _ actor) {
	g, err := h.bank.Equivalence(mux.Vars(r)["id"], 0)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}
