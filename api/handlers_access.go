package api

import (
	"net/http"

	"github.com/gorilla/mux"

	"creditbank/access"
	"creditbank/accreditation"
	"creditbank/ledger"
)

// The access log (docs/contract.md section 7): every read of a learner's
// record by anyone but the learner is recorded by recordRead, off the
// request path (package access), and listed for the learner, an admin or a
// regulator at GET /v1/learners/{id}/access-log.
//
// The log keys a learner's records by the learner's reference in the bank
// (Bank.LearnerRef), never by the id, so that it holds nothing that names
// the person; erasing the learner (handlers_erasure.go) deletes them.

// recordRead records in the access log that a read what (transcript,
// balance, grants, credentials, access-log) of learner's record, under
// grant (empty: none was needed). A learner reading its own record is not
// recorded: the log is of who else read it. It does not wait for the disk
// (access.Log.Record); when the record cannot be queued in time, or the
// learner's reference cannot be read, it is dropped and logged with the
// request's path, and the read is still served: refusing it would make a
// slow disk an outage. A learner erased since the read was served has no
// reference any more, and nothing to record the read under.
func (h *Handler) recordRead(r *http.Request, a accreditation.Actor, learner, what, grant string) {
	if h.access == nil {
		return
	}
	if a.Role == accreditation.RoleLearner && accreditation.SameLearner(a.ID, learner) {
		return
	}
	ref, err := h.bank.LearnerRef(learner)
	if accreditation.CodeOf(err) == accreditation.CodeErased {
		return
	}
	if err != nil {
		h.log.Error("read not recorded in the access log: the learner's reference is unreadable", "path", logged(r.URL.Path, maxLoggedPath), "who", a.String(), "what", what, "err", err)
		return
	}
	if ref == "" {
		return // the store holds nothing of the learner, and keeps nothing naming them
	}
	rec := access.Record{Learner: ref, Who: a.String(), Role: string(a.Role), What: what, Grant: grant}
	if !h.access.Record(rec) {
		h.log.Error("read not recorded in the access log", "path", logged(r.URL.Path, maxLoggedPath), "learner", rec.Learner, "who", rec.Who, "what", what)
	}
}

// accessRecordView is one record as GET /v1/learners/{id}/access-log
// answers it.
type accessRecordView struct {
	Who   string `json:"who"`
	Role  string `json:"role"`
	What  string `json:"what"`
	When  string `json:"when"`
	Grant string `json:"grant"`
}

// accessLog lists who read the learner's record, newest first. The
// learner reads its own; an admin or a regulator any learner's, and that
// read is itself recorded, so that a learner sees who looked at who looked.
// An erased learner's is 410, as every read of an erased learner: its
// records were deleted with the learner's personal data.
func (h *Handler) accessLog(w http.ResponseWriter, r *http.Request, a actor) {
	learner := mux.Vars(r)["id"]
	if !accreditation.ValidLearnerID(learner) {
		refuse(w, accreditation.CodeNotFound, "no learner can have this id")
		return
	}
	switch {
	case a.Role == accreditation.RoleAdmin, a.Role == accreditation.RoleRegulator:
	case a.Role == accreditation.RoleLearner && accreditation.SameLearner(a.ID, learner):
	default:
		refuse(w, accreditation.CodeForbidden, "only the learner, an admin or a regulator may read learner "+learner+"'s access log")
		return
	}
	limit, err := limitParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	ref, err := h.bank.LearnerRef(learner)
	if err != nil {
		writeError(w, err)
		return
	}
	if h.access == nil {
		refuse(w, accreditation.CodeNotFound, "this server keeps no access log")
		return
	}
	done, ok := h.admitLongRead(r)
	if !ok {
		return
	}
	defer done()
	learner = accreditation.CanonicalLearnerID(learner)
	page := &access.Page{}
	if ref != "" { // else the store holds nothing of the learner, no record either
		if page, err = h.access.Page(ref, queryValue(r, "cursor"), limit); err != nil {
			writeError(w, err)
			return
		}
	}
	chargeRows(r, int64(len(page.Records)))
	h.recordRead(r, a, learner, "access-log", "")
	records := make([]accessRecordView, len(page.Records))
	for i, rec := range page.Records {
		records[i] = accessRecordView{Who: rec.Who, Role: rec.Role, What: rec.What, When: rec.When.Format(ledger.TimeLayout), Grant: rec.Grant}
	}
	writeJSON(w, http.StatusOK, map[string]any{"learner": learner, "records": records, "next_cursor": page.NextCursor})
}
