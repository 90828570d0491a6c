package api

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"creditbank/credential"
)

// credSetup is a college posting outcomes for a learner who asks for
// credentials of them.
type credSetup struct {
	*cvSetup
	learner string
	tok     string
}

func newCredSetup(t *testing.T) *credSetup {
	c := &credSetup{cvSetup: newCVSetup(t), learner: "LEARNER7"}
	c.tok = c.s.token(t, "learner", c.learner)
	return c
}

// issue asks for a credential as the learner and returns the VC-JWT.
func (c *credSetup) issue(t *testing.T, body map[string]any) string {
	t.Helper()
	_, b := c.ck.call(t, request{route: "issueCredential", path: "/v1/learners/" + c.learner + "/credentials", token: c.tok, body: body, want: 201})
	var v struct {
		Credential string `json:"credential"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.Credential == "" {
		t.Fatalf("issue: %s", b)
	}
	return v.Credential
}

// verify posts a credential to POST /v1/verify.
func (c *credSetup) verify(t *testing.T, jwt string) credential.Result {
	t.Helper()
	_, b := c.ck.call(t, request{route: "verifyCredential", path: "/v1/verify", body: map[string]any{"credential": jwt}, want: 200})
	var r credential.Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func checkOf(r credential.Result, name string) credential.Check {
	for _, c := range r.Checks {
		if c.Check == name {
			return c
		}
	}
	return credential.Check{Check: name, Detail: "missing"}
}

// statusBit fetches status list 1 and reads bit i, checking its signature
// with the service's issuer key.
func (c *credSetup) statusBit(t *testing.T, i uint64) bool {
	t.Helper()
	resp, body := c.s.do(t, "GET", "/v1/status/1", "", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != credential.MediaType || resp.Header.Get("ETag") == "" {
		t.Fatalf("status list: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("ETag"))
	}
	tok, err := credential.Parse(string(body))
	if err != nil || !tok.VerifySignature(c.s.issuer.Key.Private.Public().(ed25519.PublicKey)) {
		t.Fatalf("status list does not verify: %v", err)
	}
	var sl struct {
		CredentialSubject struct {
			EncodedList string `json:"encodedList"`
		} `json:"credentialSubject"`
	}
	if err := json.Unmarshal(tok.Payload, &sl); err != nil {
		t.Fatal(err)
	}
	bits, err := credential.DecodeBitstring(sl.CredentialSubject.EncodedList)
	if err != nil {
		t.Fatal(err)
	}
	return bits.Get(i)
}

// statusIndex is the statusListIndex of a credential.
func statusIndex(t *testing.T, jwt string) uint64 {
	t.Helper()
	tok, err := credential.Parse(jwt)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Status credential.StatusEntry `json:"credentialStatus"`
	}
	if err := json.Unmarshal(tok.Payload, &v); err != nil {
		t.Fatal(err)
	}
	var i uint64
	fmt.Sscan(v.Status.StatusListIndex, &i)
	return i
}

// TestCredentialIssueVerify has a learner ask for an outcome credential,
// a transcript of all its outcomes and one of a selection, and verifies
// each: every check passes, and the list serves its ETag and a 304.
func TestCredentialIssueVerify(t *testing.T) {
	c := newCredSetup(t)
	o1 := c.post(t, c.outcome(c.learner, "4"))
	o2 := c.post(t, c.outcome(c.learner, "2.5"))
	for _, body := range []map[string]any{
		{"kind": "outcome", "outcomes": []uint64{o1}},
		{"kind": "transcript"},
		{"kind": "transcript", "outcomes": []uint64{o2}},
	} {
		jwt := c.issue(t, body)
		r := c.verify(t, jwt)
		if !r.Valid || r.Revoked || len(r.Checks) != 5 {
			t.Fatalf("%v: %+v", body, r)
		}
		for _, ch := range r.Checks {
			if !ch.OK {
				t.Errorf("%v: check %s failed: %s", body, ch.Check, ch.Detail)
			}
		}
	}
	resp, _ := c.s.do(t, "GET", "/v1/status/1", "", nil)
	etag := resp.Header.Get("ETag")
	req, _ := http.NewRequest("GET", c.s.URL+"/v1/status/1", nil)
	req.Header.Set("If-None-Match", etag)
	if resp, _ := send(t, req); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match the ETag: %d, want 304", resp.StatusCode)
	}
	for _, bad := range []struct {
		body map[string]any
		want int
	}{
		{map[string]any{"kind": "outcome"}, 422},
		{map[string]any{"kind": "outcome", "outcomes": []uint64{o1, o2}}, 422},
		{map[string]any{"kind": "diploma"}, 422},
		{map[string]any{"kind": "outcome", "outcomes": []uint64{99999}}, 404},
	} {
		if resp, b := c.s.do(t, "POST", "/v1/learners/"+c.learner+"/credentials", c.tok, bad.body); resp.StatusCode != bad.want {
			t.Errorf("%v: %d %s, want %d", bad.body, resp.StatusCode, b, bad.want)
		}
	}
	other := c.s.token(t, "learner", "SOMEONE2")
	if resp, _ := c.s.do(t, "POST", "/v1/learners/"+c.learner+"/credentials", other, map[string]any{"kind": "transcript"}); resp.StatusCode != 403 {
		t.Errorf("another learner: %d, want 403", resp.StatusCode)
	}
}

// TestCredentialRevokedWithinASecond revokes the outcome a credential
// rests on and a transcript's, and supersedes another's: each bit is set
// at GET /v1/status/1 as soon as the revoking write is acknowledged (and
// within a second), and POST /v1/verify says revoked.
func TestCredentialRevokedWithinASecond(t *testing.T) {
	c := newCredSetup(t)
	o1 := c.post(t, c.outcome(c.learner, "4"))
	o2 := c.post(t, c.outcome(c.learner, "3"))
	single := c.issue(t, map[string]any{"kind": "outcome", "outcomes": []uint64{o1}})
	transcript := c.issue(t, map[string]any{"kind": "transcript"})
	other := c.issue(t, map[string]any{"kind": "outcome", "outcomes": []uint64{o2}})
	for _, jwt := range []string{single, transcript, other} {
		if c.statusBit(t, statusIndex(t, jwt)) {
			t.Fatal("a bit is set before any revocation")
		}
	}
	c.ck.call(t, request{route: "revokeOutcome", path: fmt.Sprintf("/v1/outcomes/%d/revocation", o1), token: c.college,
		body: map[string]any{"reason": "posted in error"}, want: 201})
	acked := time.Now()
	for _, jwt := range []string{single, transcript} {
		if !c.statusBit(t, statusIndex(t, jwt)) {
			t.Fatal("the bit of a credential resting on the revoked outcome is not set")
		}
	}
	if d := time.Since(acked); d > time.Second {
		t.Fatalf("the bits showed %v after the revocation was acknowledged", d)
	}
	if c.statusBit(t, statusIndex(t, other)) {
		t.Fatal("the bit of a credential on another outcome is set")
	}
	for _, jwt := range []string{single, transcript} {
		r := c.verify(t, jwt)
		if r.Valid || !r.Revoked || checkOf(r, credential.CheckStatus).OK || !checkOf(r, credential.CheckSignature).OK || !checkOf(r, credential.CheckInclusion).OK {
			t.Fatalf("a revoked credential verifies as %+v", r)
		}
	}
	// Supersession revokes the superseded outcome's credential too.
	corr := c.outcome(c.learner, "3.5")
	corr["supersedes"] = o2
	c.post(t, corr)
	if !c.statusBit(t, statusIndex(t, other)) {
		t.Fatal("superseding an outcome left its credential's bit unset")
	}
	if r := c.verify(t, other); r.Valid || !r.Revoked {
		t.Fatalf("a superseded outcome's credential verifies as %+v", r)
	}
}

// TestCredentialErasedLearnerRevoked erases a learner: its credentials
// verify as revoked, their entries still proved in the log.
func TestCredentialErasedLearnerRevoked(t *testing.T) {
	c := newCredSetup(t)
	c.post(t, c.outcome(c.learner, "4"))
	jwt := c.issue(t, map[string]any{"kind": "transcript"})
	if r := c.verify(t, jwt); !r.Valid {
		t.Fatalf("before the erasure: %+v", r)
	}
	if resp, b := c.s.do(t, "POST", "/v1/learners/"+c.learner+"/erasure", c.adm, map[string]any{"reason": "the learner asked"}); resp.StatusCode != 200 {
		t.Fatalf("erasure: %d %s", resp.StatusCode, b)
	}
	r := c.verify(t, jwt)
	if r.Valid || !r.Revoked || !checkOf(r, credential.CheckInclusion).OK {
		t.Fatalf("after the erasure: %+v", r)
	}
	if resp, _ := c.s.do(t, "POST", "/v1/learners/"+c.learner+"/credentials", c.tok, map[string]any{"kind": "transcript"}); resp.StatusCode != 410 {
		t.Fatalf("a credential of an erased learner: %d, want 410", resp.StatusCode)
	}
}

// TestCredentialInclusionChecked re-signs, with the issuer's own key, a
// credential whose leaf hash was changed: the signature then holds, and
// the inclusion check alone finds it.
func TestCredentialInclusionChecked(t *testing.T) {
	c := newCredSetup(t)
	o := c.post(t, c.outcome(c.learner, "4"))
	jwt := c.issue(t, map[string]any{"kind": "outcome", "outcomes": []uint64{o}})
	tok, err := credential.Parse(jwt)
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(tok.Payload, &claims); err != nil {
		t.Fatal(err)
	}
	entries := claims["ledgerRecord"].(map[string]any)["entries"].([]any)
	first := entries[0].(map[string]any)
	h := first["leafHash"].(string)
	first["leafHash"] = strings.Repeat("A", len(h)-1) + "="
	b, _ := json.Marshal(claims)
	r := c.verify(t, credential.Sign(c.s.issuer.Key, b))
	if r.Valid || !checkOf(r, credential.CheckSignature).OK || checkOf(r, credential.CheckInclusion).OK {
		t.Fatalf("a changed leaf hash verifies as %+v", r)
	}
}

// newAwardSetup has alpha.example publish programme P-ALPHA and award it
// to c's learner on two outcomes of its own, and returns the award's seq
// and alpha's token and the outcomes.
func newAwardSetup(t *testing.T, c *credSetup) uint64 {
	award, _, _ := awardFor(t, c)
	return award
}

func awardFor(t *testing.T, c *credSetup) (award uint64, alpha string, outcomes []uint64) {
	t.Helper()
	s := c.s
	k := s.institution(t, "alpha.example")
	alpha = instToken(t, k, "alpha.example")
	if resp, body := s.do(t, "POST", "/v1/programmes", c.adm, programmeFor("P-ALPHA", "alpha.example")); resp.StatusCode != 201 {
		t.Fatalf("programme: %d %s", resp.StatusCode, body)
	}
	f := &permFixture{s: s}
	outcomes = []uint64{f.post(t, alpha, c.learner), f.post(t, alpha, c.learner)}
	resp, body := s.do(t, "POST", "/v1/learners/"+c.learner+"/awards", alpha, map[string]any{"programme": "P-ALPHA"})
	var v struct {
		Seq uint64 `json:"seq"`
	}
	if resp.StatusCode != 201 || json.Unmarshal(body, &v) != nil {
		t.Fatalf("award: %d %s", resp.StatusCode, body)
	}
	return v.Seq, alpha, outcomes
}

// TestCredentialAwardFlagged issues an award's credential, then supersedes
// an outcome the award rested on: the award is flagged, and its credential
// verifies as revoked.
func TestCredentialAwardFlagged(t *testing.T) {
	c := newCredSetup(t)
	award, alpha, outcomes := awardFor(t, c)
	jwt := c.issue(t, map[string]any{"kind": "award", "award": award})
	if r := c.verify(t, jwt); !r.Valid {
		t.Fatalf("award credential: %+v", r)
	}
	o := outcomeFor(c.learner)
	o["supersedes"] = outcomes[0]
	if resp, body := c.s.do(t, "POST", "/v1/outcomes", alpha, o); resp.StatusCode != 201 {
		t.Fatalf("correction: %d %s", resp.StatusCode, body)
	}
	if r := c.verify(t, jwt); r.Valid || !r.Revoked {
		t.Fatalf("a flagged award's credential verifies as %+v", r)
	}
	if resp, _ := c.s.do(t, "POST", "/v1/learners/"+c.learner+"/credentials", c.tok, map[string]any{"kind": "award", "award": award}); resp.StatusCode != 409 {
		t.Fatalf("a credential of a flagged award: %d, want 409", resp.StatusCode)
	}
}
