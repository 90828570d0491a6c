package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/user"
	"strings"
	"time"

	"creditbank/accreditation"
	"creditbank/api"
)

// revokeTimeout bounds the whole revocation request.
const revokeTimeout = 30 * time.Second

// revocation is what `creditbank token --revoke-jti | --revoke-sub` asks of
// a running server: the revocation, where to post it, and who signs the
// admin token that posts it.
type revocation struct {
	url, issuer, audience, sub string
	key                        api.PrivateKey
	body                       accreditation.TokenRevoked
}

// revokeSub is the sub of the admin token that posts a revocation when
// --sub is not given: the operator's login name, which the token.revoked
// entry then records as the actor.
func revokeSub() string {
	if u, err := user.Current(); err == nil && u.Username != "" && len(u.Username) <= 64 {
		return u.Username
	}
	return "operator"
}

// revokeTokens posts r to the server at r.url (POST /v1/token-revocations,
// docs/contract.md section 2) with an admin token of one minute signed by
// the service's token key, and writes the revocation in force to stdout.
// The server records it as a ledger entry and refuses the tokens from its
// next request on.
func revokeTokens(r revocation, stdout io.Writer) error {
	if r.url == "" {
		return errors.New("--revoke-jti and --revoke-sub need --url of the running server")
	}
	tok, err := api.IssueToken(r.key, r.issuer, r.audience, string(accreditation.RoleAdmin), r.sub, time.Minute)
	if err != nil {
		return err
	}
	body, err := json.Marshal(r.body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), revokeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(r.url, "/")+"/v1/token-revocations", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("--url: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("revoke: %v", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("revoke: read the answer: %v", err)
	}
	if resp.StatusCode != http.StatusCreated {
		var p api.Problem
		if json.Unmarshal(answer, &p) == nil && p.Detail != "" {
			return fmt.Errorf("revoke: the server answered %d: %s", resp.StatusCode, p.Detail)
		}
		return fmt.Errorf("revoke: the server answered %s", resp.Status)
	}
	_, err = fmt.Fprintln(stdout, strings.TrimSpace(string(answer)))
	return err
}
