package api

import (
	"math"
	"net/http"

	"github.com/gorilla/mux"

	"creditbank/accreditation"
)

// Programmes, the award audit and awards (docs/contract.md section 9). The
// bank decides; what is the API's is who may read a learner's audit (the
// programme's institution only, and only under the learner's grant), the
// access log of those reads, and what each read is charged.

// programmeMembers are the members of a programme body, all required:
// null says "no limit" or "no end" where the contract allows it.
var programmeMembers = []member{
	{"id", false},
	{"institution", false},
	{"title", false},
	{"total", false},
	{"requirements", false},
	{"min_level", false},
	{"max_converted_share", true},
	{"max_per_institution", true},
	{"period_caps", false},
	{"period_caps.term", true},
	{"period_caps.year", true},
	{"valid_from", false},
	{"valid_until", true},
}

// awardMembers are the members of an award's body.
var awardMembers = []member{{"programme", false}}

// awardBody is POST /v1/learners/{id}/awards.
type awardBody struct {
	Programme string `json:"programme"`
}

func (h *Handler) publishProgramme(w http.ResponseWriter, r *http.Request, a actor) {
	var input accreditation.ProgrammeInput
	if !readMembers(w, r, &input, programmeMembers) {
		return
	}
	p, err := h.bank.PublishProgramme(r.Context(), a, input)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, p)
}

func (h *Handler) listProgrammes(w http.ResponseWriter, r *http.Request, _ actor) {
	limit, err := limitParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	// A page decodes up to a thousand programmes: admitted as a long read.
	done, ok := h.admitLongRead(r)
	if !ok {
		return
	}
	defer done()
	page, err := h.bank.Programmes(queryValue(r, "institution"), queryValue(r, "cursor"), limit)
	if page != nil {
		chargeRows(r, int64(len(page.Programmes)))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (h *Handler) getProgramme(w http.ResponseWriter, r *http.Request, _ actor) {
	id := mux.Vars(r)["id"]
	if !accreditation.ValidProgrammeID(id) {
		refuse(w, accreditation.CodeNotFound, "no programme can have this id")
		return
	}
	version, _, err := intParam(r, "version", 1, math.MaxInt32)
	if err != nil {
		writeError(w, err)
		return
	}
	p, err := h.bank.Programme(id, version)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// mayAudit applies the permission of the award audit: the learner, an
// admin or a regulator as for a transcript, and of the institutions only
// the programme's, under the learner's grant in force (mayReadLearner).
// It returns the grant, for the access log.
func (h *Handler) mayAudit(w http.ResponseWriter, a actor, learner, programme string) (string, bool) {
	if !accreditation.ValidLearnerID(learner) {
		refuse(w, accreditation.CodeNotFound, "no learner can have this id")
		return "", false
	}
	if !accreditation.ValidProgrammeID(programme) {
		refuse(w, accreditation.CodeNotFound, "no programme can have this id")
		return "", false
	}
	if a.Role == accreditation.RoleInstitution {
		p, err := h.bank.Programme(programme, 0)
		if err != nil {
			writeError(w, err)
			return "", false
		}
		if p.Institution != a.ID {
			refuse(w, accreditation.CodeForbidden, "programme "+programme+" is "+p.Institution+"'s: only that institution reads a learner's audit toward it, under the learner's grant")
			return "", false
		}
	}
	return h.mayReadLearner(w, a, learner)
}

// programmeAudit answers the award audit of a learner toward the latest
// version of a programme. It reads every item of the learner that may
// count: admitted as a long read and charged the rows it read, as a
// transcript is.
func (h *Handler) programmeAudit(w http.ResponseWriter, r *http.Request, a actor) {
	vars := mux.Vars(r)
	learner, programme := vars["id"], vars["programme"]
	grant, ok := h.mayAudit(w, a, learner, programme)
	if !ok {
		return
	}
	done, ok := h.admitLongRead(r)
	if !ok {
		return
	}
	defer done()
	audit, err := h.bank.AuditProgramme(r.Context(), learner, programme)
	chargeRows(r, audit.Cost.Rows)
	if err != nil {
		writeError(w, err)
		return
	}
	h.recordRead(r, a, learner, "audit", grant) // only what is served is a read
	writeJSON(w, http.StatusOK, audit)
}

// recordAward records an award; the bank checks that the caller is the
// programme's institution or an admin, and runs the audit in the
// sequencer. It is charged what that audit read, also when it refused.
func (h *Handler) recordAward(w http.ResponseWriter, r *http.Request, a actor) {
	learner := mux.Vars(r)["id"]
	if !accreditation.ValidLearnerID(learner) {
		refuse(w, accreditation.CodeNotFound, "no learner can have this id")
		return
	}
	var body awardBody
	if !readMembers(w, r, &body, awardMembers) {
		return
	}
	rec, err := h.bank.RecordAward(r.Context(), a, learner, body.Programme)
	chargeRows(r, rec.Cost.Rows)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, rec)
}

// listAwards lists a learner's awards with their flags, with the read
// rights of a transcript.
func (h *Handler) listAwards(w http.ResponseWriter, r *http.Request, a actor) {
	learner := mux.Vars(r)["id"]
	grant, ok := h.mayReadLearner(w, a, learner)
	if !ok {
		return
	}
	awards, err := h.bank.Awards(learner)
	chargeRows(r, int64(len(awards)))
	if err != nil {
		writeError(w, err)
		return
	}
	h.recordRead(r, a, learner, "awards", grant)
	writeJSON(w, http.StatusOK, map[string]any{"learner": accreditation.CanonicalLearnerID(learner), "awards": awards})
}
