package api

import (
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"creditbank/accreditation"
	"creditbank/credential"
)

// The printed transcript and the links of credentials (docs/contract.md
// section 10). A transcript's VC-JWT is several kilobytes, too long for a
// QR code a phone reads, so the PDF's QR code carries a link instead: the
// page GET /verify?id=<ref>, whose ref (credential.Key.Link) names the
// credential.issued entry with an HMAC only the bank can compute. The
// credential behind a link is not stored: it is built again from its
// entry through the learner's key and signed again, the same bytes, so
// that erasing the learner ends the link with the rest of their data.

// credentialLink is the verification page of the credential recorded at
// seq, and credentialURL the credential itself.
func (h *Handler) credentialLink(seq uint64) string {
	return h.issuer.Base + "/verify?id=" + h.issuer.Key.Link(seq)
}

func (h *Handler) credentialURL(seq uint64) string {
	return h.issuer.Base + "/v1/credentials/" + h.issuer.Key.Link(seq)
}

// transcriptPDF is GET /v1/learners/{id}/transcript.pdf: it prints a CLR
// transcript credential of every active outcome with the QR code of its
// link, the learner's last one when it is in force and of exactly the
// outcomes active now, else one it issues as the reader. Who may read it,
// and the access log, are the JSON transcript's.
func (h *Handler) transcriptPDF(w http.ResponseWriter, r *http.Request, a actor) {
	learner := mux.Vars(r)["id"]
	grant, ok := h.mayReadLearner(w, a, learner)
	if !ok {
		return
	}
	done, ok := h.admitLongRead(r)
	if !ok {
		return
	}
	defer done()
	ic, err := h.bank.TranscriptCredential(r.Context(), a, learner)
	if err != nil {
		writeError(w, err)
		return
	}
	chargeRows(r, int64(len(ic.Outcomes)+1))
	cr, err := h.credentialRequest(ic)
	if err != nil {
		writeError(w, err)
		return
	}
	// Signed now, though the PDF carries only its link, so that a
	// credential that cannot be built fails here rather than at its link.
	if _, _, err := h.issuer.Issue(cr); err != nil {
		writeError(w, err)
		return
	}
	pt := credential.PrintedTranscript{Bank: h.issuer.Name, Learner: ic.LearnerID, IssuedAt: cr.IssuedAt,
		CredentialID: ic.ID, Link: h.credentialLink(ic.Seq)}
	for i, o := range cr.Outcomes {
		pt.Outcomes = append(pt.Outcomes, credential.PrintedOutcome{Outcome: o, Status: ic.Outcomes[i].Status})
	}
	pdf, err := credential.RenderPDF(pt)
	if err != nil {
		writeError(w, err)
		return
	}
	h.recordRead(r, a, learner, "transcript", grant)
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `inline; filename="transcript-`+strconv.FormatUint(ic.Seq, 10)+`.pdf"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Link", "<"+h.credentialURL(ic.Seq)+`>; rel="alternate"; type="`+credential.MediaType+`"`)
	_, _ = w.Write(pdf)
}

// linkedCredential builds again and signs the credential a link names.
func (h *Handler) linkedCredential(r *http.Request, ref string) (string, error) {
	seq, ok := h.issuer.Key.ParseLink(ref)
	if !ok {
		return "", &accreditation.Error{Code: accreditation.CodeNotFound, Detail: "no credential has this link"}
	}
	done, ok := h.admitLongRead(r)
	if !ok {
		return "", r.Context().Err()
	}
	defer done()
	ic, err := h.bank.Credential(seq)
	if err != nil {
		return "", err
	}
	chargeRows(r, int64(len(ic.Outcomes)+1))
	return h.sign(ic)
}

// getCredential is GET /v1/credentials/{ref}: the credential a link names,
// to whoever holds the link.
func (h *Handler) getCredential(w http.ResponseWriter, r *http.Request, _ actor) {
	jwt, err := h.linkedCredential(r, mux.Vars(r)["ref"])
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", credential.MediaType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write([]byte(jwt))
}

// didDocument is GET /.well-known/did.json: the issuer's did:web document,
// when the issuer URL is an https URL of a host alone.
func (h *Handler) didDocument(w http.ResponseWriter, _ *http.Request, _ actor) {
	doc, ok := h.issuer.DIDDocument()
	if !ok {
		refuse(w, accreditation.CodeNotFound, "the issuer URL "+h.issuer.Base+" is not an https URL of a host alone: the issuer has no did:web")
		return
	}
	writeJSON(w, http.StatusOK, doc)
}
