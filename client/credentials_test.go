package client_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"creditbank/client"
	"creditbank/credential"
)

// TestCredentials has a learner ask for a transcript credential and
// verify it (each check passes), reads its status list and again with the
// ETag (304), prints the transcript and verifies the credential its link
// names, and is refused another learner's credential; a changed credential
// fails its signature.
func TestCredentials(t *testing.T) {
	s := startServer(t, 1)
	ctx := context.Background()
	s.postScores(t, []string{"L1", "L1"}, []string{"80", "90"})
	learner := s.client(s.learner)
	ic, err := learner.IssueCredential(ctx, "L1", client.CredentialRequest{Kind: "transcript"})
	if err != nil || ic.Kind != "transcript" || ic.Seq == 0 || ic.Credential == "" {
		t.Fatalf("issue: %+v %v", ic, err)
	}
	anon := s.client("")
	r, err := anon.Verify(ctx, ic.Credential)
	if err != nil || !r.Valid || r.Revoked || len(r.Checks) != 5 {
		t.Fatalf("verify: %+v %v", r, err)
	}
	for _, ch := range r.Checks {
		if !ch.OK {
			t.Errorf("check %s failed: %s", ch.Check, ch.Detail)
		}
	}
	changed := ic.Credential[:len(ic.Credential)-2] + "AA"
	if changed == ic.Credential {
		changed = ic.Credential[:len(ic.Credential)-2] + "BB"
	}
	if r, err := anon.Verify(ctx, changed); err != nil || r.Valid {
		t.Fatalf("a changed credential: %+v %v", r, err)
	}
	sl, notModified, err := anon.StatusList(ctx, 1, "")
	if err != nil || notModified || sl.ETag == "" || sl.JWT == "" {
		t.Fatalf("status list: %+v %v %v", sl, notModified, err)
	}
	if again, notModified, err := anon.StatusList(ctx, 1, sl.ETag); err != nil || !notModified || again.JWT != "" {
		t.Fatalf("status list with its ETag: %+v %v %v", again, notModified, err)
	}
	var se *client.StatusError
	if _, _, err := anon.StatusList(ctx, 9, ""); !errors.As(err, &se) || se.StatusCode != 404 {
		t.Fatalf("an unopened list: %v", err)
	}

	pdf, ref, err := learner.TranscriptPDF(ctx, "L1")
	if err != nil || !bytes.HasPrefix(pdf, []byte("%PDF-")) || ref == "" {
		t.Fatalf("transcript.pdf: %.20q %q %v", pdf, ref, err)
	}
	jwt, err := anon.LinkedCredential(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := anon.Verify(ctx, jwt); err != nil || !r.Valid || r.Checks[0].Check != credential.CheckFormat {
		t.Fatalf("the printed transcript's credential: %+v %v", r, err)
	}
	if _, err := anon.LinkedCredential(ctx, ref+"A"); !errors.As(err, &se) || se.StatusCode != 404 {
		t.Fatalf("a changed link: %v", err)
	}
	other := s.client(token(t, s.tk, "learner", "L2"))
	if _, err := other.IssueCredential(ctx, "L1", client.CredentialRequest{Kind: "transcript"}); !errors.As(err, &se) || se.StatusCode != 403 || se.Method != "POST" {
		t.Fatalf("another learner's credential: %v", err)
	}
	if _, _, err := other.TranscriptPDF(ctx, "L1"); !errors.As(err, &se) || se.StatusCode != 403 {
		t.Fatalf("another learner's printed transcript: %v", err)
	}
}
