package api

import (
	"net/http"

	"creditbank/accreditation"
)

// revokeTokens revokes service tokens, an admin's decision recorded as a
// token.revoked entry (docs/contract.md section 2): one token by its jti,
// or every token of a sub (of one role, or of any) issued before a time,
// the present when none is given. The Authenticator refuses them from the
// next request on.
func (h *Handler) revokeTokens(w http.ResponseWriter, r *http.Request, a actor) {
	var body accreditation.TokenRevoked
	if !readJSON(w, r, maxBody, &body) {
		return
	}
	rev, err := h.bank.RevokeTokens(r.Context(), a, body)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, rev)
}
