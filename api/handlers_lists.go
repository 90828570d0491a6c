package api

import (
	"net/http"
	"time"

	"creditbank/accreditation"
)

// The listings that filter: a learner's transcript, the institutions and
// the rules (docs/contract.md section 8). Each reads its parameters here and
// leaves their meaning to the bank, which refuses a bad value as
// bad-parameter naming it and a cursor of another listing or filter as
// bad-cursor.

// transcriptQuery reads the query of a transcript page that reader asks for.
func transcriptQuery(r *http.Request, learner string, reader actor) (accreditation.TranscriptQuery, error) {
	limit, err := limitParam(r)
	if err != nil {
		return accreditation.TranscriptQuery{}, err
	}
	level, _, err := intParam(r, "level", 1, 10)
	if err != nil {
		return accreditation.TranscriptQuery{}, err
	}
	f := accreditation.TranscriptFilter{
		Sector: queryValue(r, "sector"), Level: level, Institution: queryValue(r, "institution"),
		Status: queryValue(r, "status"), From: queryValue(r, "from"), To: queryValue(r, "to"),
	}
	return accreditation.TranscriptQuery{Learner: learner, Filter: f, Cursor: queryValue(r, "cursor"), Limit: limit, Reader: reader}, nil
}

func (h *Handler) listInstitutions(w http.ResponseWriter, r *http.Request, _ actor) {
	limit, err := limitParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	// A page decodes up to a thousand institutions: admitted as a long read.
	done, ok := h.admitLongRead(r)
	if !ok {
		return
	}
	defer done()
	page, err := h.bank.Institutions(queryValue(r, "cursor"), limit)
	if page != nil {
		chargeRows(r, int64(len(page.Institutions)))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (h *Handler) listRules(w http.ResponseWriter, r *http.Request, _ actor) {
	limit, err := limitParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	active, err := boolParam(r, "active")
	if err != nil {
		writeError(w, err)
		return
	}
	// In force is judged on today's date in UTC, the date a conversion
	// asked for now would be decided on.
	f := accreditation.RuleFilter{TargetInstitution: queryValue(r, "target_institution"), Programme: queryValue(r, "programme"),
		Active: active, Today: time.Now().UTC().Format(time.DateOnly)}
	done, ok := h.admitLongRead(r)
	if !ok {
		return
	}
	defer done()
	page, err := h.bank.Rules(f, queryValue(r, "cursor"), limit)
	if page != nil {
		chargeRows(r, int64(len(page.Rules)))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}
