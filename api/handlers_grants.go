package api

import (
	"net/http"

	"github.com/gorilla/mux"

	"creditbank/accreditation"
)

// Grants and what an institution reads without one (docs/contract.md
// section 7). A learner grants an institution read access to its
// transcript and balance, lists its grants and withdraws them; without a
// grant in force an institution reads only GET /v1/institutions/{id}/outcomes.

// grantBody is a grant as a learner asks for it; the learner is the path's.
type grantBody struct {
	Institution string `json:"institution"`
	Purpose     string `json:"purpose"`
	ExpiresOn   string `json:"expires_on"`
}

// learnerItself answers 404 for a path id no learner can have and 403
// unless the token is the learner's own, and reports whether the learner
// may go on: granting and withdrawing are the learner's alone (section 2).
func learnerItself(w http.ResponseWriter, a actor, learner string) bool {
	if !accreditation.ValidLearnerID(learner) {
		refuse(w, accreditation.CodeNotFound, "no learner can have this id")
		return false
	}
	if a.Role != accreditation.RoleLearner || !accreditation.SameLearner(a.ID, learner) {
		refuse(w, accreditation.CodeForbidden, "only learner "+learner+" may grant or withdraw access to its record")
		return false
	}
	return true
}

func (h *Handler) createGrant(w http.ResponseWriter, r *http.Request, a actor) {
	learner := mux.Vars(r)["id"]
	if !learnerItself(w, a, learner) {
		return
	}
	var body grantBody
	if !readJSON(w, r, maxBody, &body) {
		return
	}
	g, err := h.bank.CreateGrant(r.Context(), a, accreditation.GrantCreated{
		Learner: learner, Institution: body.Institution, Purpose: body.Purpose, ExpiresOn: body.ExpiresOn})
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Location", "/v1/learners/"+g.Learner+"/grants/"+g.ID)
	writeJSON(w, http.StatusCreated, g)
}

// listGrants lists a learner's grants to the learner itself, and to an
// admin or a regulator, who answer for the bank (the route table keeps
// institutions out: a grant says what the learner shares with whom).
func (h *Handler) listGrants(w http.ResponseWriter, r *http.Request, a actor) {
	learner := mux.Vars(r)["id"]
	if !accreditation.ValidLearnerID(learner) {
		refuse(w, accreditation.CodeNotFound, "no learner can have this id")
		return
	}
	if a.Role == accreditation.RoleLearner && !accreditation.SameLearner(a.ID, learner) {
		refuse(w, accreditation.CodeForbidden, "this token may not read learner "+learner)
		return
	}
	cursor, limit, ok := pageParams(w, r)
	if !ok {
		return
	}
	page, err := h.bank.Grants(learner, cursor, limit)
	if page != nil {
		chargeRows(r, int64(len(page.Grants)))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	// An admin's or a regulator's look at whom the learner shares its
	// record with is itself a read of it (section 7); the learner's own is
	// not recorded (recordRead).
	h.recordRead(r, a, learner, "grants", "")
	writeJSON(w, http.StatusOK, page)
}

func (h *Handler) withdrawGrant(w http.ResponseWriter, r *http.Request, a actor) {
	v := mux.Vars(r)
	if !learnerItself(w, a, v["id"]) {
		return
	}
	seq, ok := accreditation.ParseGrantID(v["grant"])
	if !ok {
		refuse(w, accreditation.CodeNotFound, "no grant can have this id")
		return
	}
	if _, err := h.bank.WithdrawGrant(r.Context(), a, v["id"], seq); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// institutionOutcomes answers what an institution reads of a learner
// without a grant: the outcomes it posted and the conversions toward its
// programmes. An institution reads only under its own id; an admin or a
// regulator under any.
func (h *Handler) institutionOutcomes(w http.ResponseWriter, r *http.Request, a actor) {
	inst := mux.Vars(r)["id"]
	if a.Role == accreditation.RoleInstitution && a.ID != inst {
		refuse(w, accreditation.CodeForbidden, "institution "+a.ID+" reads only its own outcomes")
		return
	}
	learner := queryValue(r, "learner")
	if !accreditation.ValidLearnerID(learner) {
		writeError(w, badParameter("learner", "is required and must be a learner id"))
		return
	}
	cursor, limit, ok := pageParams(w, r)
	if !ok {
		return
	}
	if _, err := h.bank.Institution(inst); err != nil { // 404 for an institution never registered
		writeError(w, err)
		return
	}
	done, ok := h.admitLongRead(r)
	if !ok {
		return
	}
	defer done()
	page, err := h.bank.InstitutionOutcomes(accreditation.InstitutionOutcomesQuery{
		Institution: inst, Learner: learner, Cursor: cursor, Limit: limit, Reader: a})
	if page != nil {
		chargeRows(r, page.Cost.Rows)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}
