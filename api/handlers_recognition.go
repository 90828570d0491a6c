package api

import (
	"math"
	"net/http"

	"github.com/gorilla/mux"

	"creditbank/accreditation"
)

// Certified units and recognition cases (docs/contract.md section 13). The
// catalogue is public; a case is read by its learner, its target
// institution, regulators and admins (the bank checks which), and a read
// by anyone but the learner is recorded in the access log.

// unitMembers are the members of a certified unit's body, all required:
// null says "no hours given" or "no end".
var unitMembers = []member{
	{"institution", false},
	{"code", false},
	{"title", false},
	{"sector", false},
	{"level", false},
	{"field", false},
	{"credits", false},
	{"credits.amount", false},
	{"credits.system", false},
	{"hours", true},
	{"valid_from", false},
	{"valid_until", true},
}

// recognitionMembers are the members of an application.
var recognitionMembers = []member{
	{"target", false},
	{"target.institution", false},
	{"target.programme", false},
	{"outcomes", false},
	{"evidence_sha256", false},
	{"statement", false},
}

// decisionMembers are the members of a decision and of an appeal's
// decision; items is [] for a refusal.
var decisionMembers = []member{{"decision", false}, {"items", false}, {"reasons", false}}

func (h *Handler) certifyUnit(w http.ResponseWriter, r *http.Request, a actor) {
	var input accreditation.CertifiedUnitInput
	if !readMembers(w, r, &input, unitMembers) {
		return
	}
	u, err := h.bank.CertifyUnit(r.Context(), a, input)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

// listUnits serves the public catalogue: no token, limited per client
// address as every such route is, charged one row per unit listed.
func (h *Handler) listUnits(w http.ResponseWriter, r *http.Request, _ actor) {
	limit, err := limitParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	level, _, err := intParam(r, "level", 1, 10)
	if err != nil {
		writeError(w, err)
		return
	}
	f := accreditation.UnitFilter{Institution: queryValue(r, "institution"), Field: queryValue(r, "field"), Level: level}
	done, ok := h.admitLongRead(r)
	if !ok {
		return
	}
	defer done()
	page, err := h.bank.Units(f, queryValue(r, "cursor"), limit)
	if page != nil {
		chargeRows(r, int64(len(page.Units)))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (h *Handler) getUnit(w http.ResponseWriter, r *http.Request, _ actor) {
	vars := mux.Vars(r)
	inst, code := vars["institution"], vars["code"]
	if !accreditation.ValidInstitutionID(inst) || !accreditation.ValidProgrammeID(code) {
		refuse(w, accreditation.CodeNotFound, "no certified unit can have this institution and code")
		return
	}
	version, _, err := intParam(r, "version", 1, math.MaxInt32)
	if err != nil {
		writeError(w, err)
		return
	}
	u, err := h.bank.CertifiedUnit(inst, code, version)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (h *Handler) applyForRecognition(w http.ResponseWriter, r *http.Request, a actor) {
	var app accreditation.RecognitionApplication
	if !readMembers(w, r, &app, recognitionMembers) {
		return
	}
	app.Learner = a.ID // the route admits learners only: their own case
	rc, err := h.bank.ApplyForRecognition(r.Context(), a, app)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Location", "/v1/recognitions/"+rc.ID)
	writeJSON(w, http.StatusCreated, rc)
}

func (h *Handler) getRecognition(w http.ResponseWriter, r *http.Request, a actor) {
	id := mux.Vars(r)["id"]
	rc, err := h.bank.Recognition(a, id)
	chargeRows(r, int64(len(rc.Steps)))
	if err != nil {
		writeError(w, err)
		return
	}
	h.recordRead(r, a, rc.Learner, "recognition", "")
	writeJSON(w, http.StatusOK, rc)
}

// commentBody is a review; statementBody an appeal.
type (
	commentBody struct {
		Comment string `json:"comment"`
	}
	statementBody struct {
		Statement string `json:"statement"`
	}
)

func (h *Handler) reviewRecognition(w http.ResponseWriter, r *http.Request, a actor) {
	var body commentBody
	if !readMembers(w, r, &body, []member{{"comment", false}}) {
		return
	}
	h.answerCase(w, r, a)(h.bank.ReviewRecognition(r.Context(), a, mux.Vars(r)["id"], body.Comment))
}

func (h *Handler) decideRecognition(w http.ResponseWriter, r *http.Request, a actor) {
	var d accreditation.RecognitionDecision
	if !readMembers(w, r, &d, decisionMembers) {
		return
	}
	h.answerCase(w, r, a)(h.bank.DecideRecognition(r.Context(), a, mux.Vars(r)["id"], d))
}

func (h *Handler) appealRecognition(w http.ResponseWriter, r *http.Request, a actor) {
	var body statementBody
	if !readMembers(w, r, &body, []member{{"statement", false}}) {
		return
	}
	h.answerCase(w, r, a)(h.bank.AppealRecognition(r.Context(), a, mux.Vars(r)["id"], body.Statement))
}

func (h *Handler) decideRecognitionAppeal(w http.ResponseWriter, r *http.Request, a actor) {
	var d accreditation.RecognitionDecision
	if !readMembers(w, r, &d, decisionMembers) {
		return
	}
	h.answerCase(w, r, a)(h.bank.DecideRecognitionAppeal(r.Context(), a, mux.Vars(r)["id"], d))
}

// answerCase answers a step with the case after it (201), recorded as a
// read of the case by whoever took it but the learner.
func (h *Handler) answerCase(w http.ResponseWriter, r *http.Request, a actor) func(accreditation.RecognitionCase, error) {
	return func(rc accreditation.RecognitionCase, err error) {
		if err != nil {
			writeError(w, err)
			return
		}
		h.recordRead(r, a, rc.Learner, "recognition", "")
		writeJSON(w, http.StatusCreated, rc)
	}
}
