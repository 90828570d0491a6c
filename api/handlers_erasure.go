package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"creditbank/accreditation"
)

// Erasure of a learner's personal data (docs/contract.md section 11), and
// the scores of sealed outcomes that an audit reads.
//
// Erasing is the bank's (Bank.EraseLearner destroys the learner's key and
// appends the learner.erased entry); what the API adds is the access log,
// which lives beside the ledger and keys the learner's records by the
// learner's reference: those records are deleted once the bank has erased.
// From then on every route that names the learner answers 410
// learner-erased (problemFor).

// erasureView is an erasure as POST /v1/learners/{id}/erasure answers it:
// the bank's, and how many records of the learner the access log deleted.
type erasureView struct {
	accreditation.Erasure
	AccessRecordsDeleted int `json:"access_records_deleted"`
}

// eraseLearner erases the learner's personal data, on the learner's
// request, as an admin. A path id no learner can have is 404, as on the
// other learner routes.
func (h *Handler) eraseLearner(w http.ResponseWriter, r *http.Request, a actor) {
	learner := mux.Vars(r)["id"]
	if !accreditation.ValidLearnerID(learner) {
		refuse(w, accreditation.CodeNotFound, "no learner can have this id")
		return
	}
	var body reasonBody
	if !readMembers(w, r, &body, reasonMembers) {
		return
	}
	// The access log's records of the learner go first, while the learner
	// is still found by id: should deleting them fail, the answer is an
	// error and nothing is erased, so that the admin's retry does it all.
	// A retry after the erasure would find no reference to delete by.
	before, err := h.eraseAccessOf(learner)
	if err != nil {
		h.requestLog(w).Error("the access log's records of a learner to erase were not deleted; nothing erased", "err", err)
		writeProblem(w, http.StatusInternalServerError, "internal", "Internal error",
			"deleting the learner's access log records failed; nothing was erased, try again")
		return
	}
	e, err := h.bank.EraseLearner(r.Context(), a, learner, body.Reason)
	if err != nil && e.Ref == "" {
		writeError(w, err)
		return
	}
	if err != nil {
		// The erasure is recorded and the key deleted; only rewriting the
		// store's files failed, and the next compaction drops the key's
		// old bytes. Answering an error would have the admin retry an
		// erasure that is done, and leave the access log as it is.
		h.requestLog(w).Error("learner erased; its key's old bytes may stay in the store's files until compaction", "seq", e.Seq, "err", err)
	}
	// Reads served between the first deletion and the erasure recorded
	// a few more.
	deleted, err := h.eraseAccessRecords(e)
	if err != nil {
		h.requestLog(w).Error("learner erased, but the access log's records of reads during the erasure were not all deleted", "seq", e.Seq, "err", err)
		writeProblem(w, http.StatusInternalServerError, "internal", "Internal error",
			"the learner was erased in entry "+strconv.FormatUint(e.Seq, 10)+", but deleting the access log records of reads during the erasure failed")
		return
	}
	writeJSON(w, http.StatusOK, erasureView{Erasure: e, AccessRecordsDeleted: before + deleted})
}

// eraseAccessOf deletes the access log's records of learner before the
// learner is erased: under the reference the store names them by, and
// under the plain id. A learner the store holds nothing of, or erased
// already, has none to delete here.
func (h *Handler) eraseAccessOf(learner string) (int, error) {
	if h.access == nil {
		return 0, nil
	}
	ref, err := h.bank.LearnerRef(learner)
	if accreditation.CodeOf(err) == accreditation.CodeErased || err == nil && ref == "" {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return h.eraseAccessRecords(accreditation.Erasure{Ref: ref, Learner: accreditation.CanonicalLearnerID(learner)})
}

// eraseAccessRecords deletes what the access log keeps of the learner e
// erased: the records under the learner's reference, and, when that is not
// the id, those under the plain id, which a log written before learners
// were named by reference, or a read of the learner before anything was
// recorded for them, keyed by it.
func (h *Handler) eraseAccessRecords(e accreditation.Erasure) (int, error) {
	if h.access == nil {
		return 0, nil
	}
	n, err := h.access.Erase(e.Ref)
	if err != nil || e.Ref == e.Learner {
		return n, err
	}
	m, err := h.access.Erase(e.Learner)
	return n + m, err
}

// scoreSeqs parses the outcomes parameter of GET /v1/audit/scores: 1 to
// accreditation.MaxScoreReads seqs in decimal, comma-separated, each as
// strconv.FormatUint writes it (no sign, no leading zero, no space). It
// splits no further than one past the limit, so that a long list costs no
// more than a list just over it.
func scoreSeqs(v string) ([]uint64, error) {
	if v == "" {
		return nil, badParameter("outcomes", "is required: the seqs of 1 to "+strconv.Itoa(accreditation.MaxScoreReads)+" outcomes, comma-separated")
	}
	parts := strings.SplitN(v, ",", accreditation.MaxScoreReads+1)
	if len(parts) > accreditation.MaxScoreReads {
		return nil, badParameter("outcomes", "names more than "+strconv.Itoa(accreditation.MaxScoreReads)+" outcomes")
	}
	seqs := make([]uint64, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 63)
		if err != nil || strconv.FormatUint(n, 10) != p {
			return nil, badParameter("outcomes", "must be seqs in decimal, comma-separated; item "+strconv.Itoa(i+1)+" is "+strconv.Quote(p))
		}
		seqs[i] = n
	}
	return seqs, nil
}

// auditScores answers the scores of the outcomes named, opening those
// sealed with their learners' keys; an erased learner's come back as
// erased. It is what `creditbank verify --url` reads to re-run a
// conversion whose rule asks for a minimum score, which the public entries
// keep sealed. Each outcome read is charged to the caller's budget.
func (h *Handler) auditScores(w http.ResponseWriter, r *http.Request, a actor) {
	seqs, err := scoreSeqs(queryValue(r, "outcomes"))
	if err != nil {
		writeError(w, err)
		return
	}
	done, ok := h.admitLongRead(r)
	if !ok {
		return
	}
	defer done()
	scores, cost, err := h.bank.SealedScores(a, seqs)
	chargeRows(r, cost.Rows)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"scores": scores})
}
