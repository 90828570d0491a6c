package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"creditbank/accreditation"
	"creditbank/client"
)

// postScores accredits the test server's first institution and posts, in
// one batch, one passed outcome for each learner with the given score (""
// for none); it returns their seqs.
func (s *testServer) postScores(t *testing.T, learners []string, scores []string) []uint64 {
	t.Helper()
	ctx := context.Background()
	inst := "inst000.example"
	if _, err := s.bank.Accredit(ctx, accreditation.Actor{Role: accreditation.RoleAdmin, ID: "root"}, inst,
		accreditation.AccreditationInput{Sectors: accreditation.Sectors(), MaxLevel: 10, ValidFrom: "2000-01-01", ValidUntil: "2099-12-31",
			OverrideReason: "client tests"}); err != nil && accreditation.CodeOf(err) != accreditation.CodeConflict {
		t.Fatal(err)
	}
	passed := true
	items := make([]accreditation.OutcomeInput, len(learners))
	for i, l := range learners {
		var sc *accreditation.Amount
		if scores[i] != "" {
			a, err := accreditation.ParseAmount(scores[i])
			if err != nil {
				t.Fatal(err)
			}
			sc = &a
		}
		key := fmt.Sprintf("%s-%d-%d", l, i, s.l.Size())
		items[i] = accreditation.OutcomeInput{IdempotencyKey: key, Learner: l,
			Unit:   accreditation.Unit{Code: "U-" + key, Title: "Unit " + key},
			Sector: "non_degree", Level: 6, Field: "0613",
			Credits: accreditation.Credits{Amount: 300, System: "cn-credit"},
			Result:  accreditation.Result{Passed: &passed, Score: sc}, CompletedOn: "2025-01-01"}
	}
	res, err := s.bank.PostOutcomes(ctx, accreditation.Actor{Role: accreditation.RoleInstitution, ID: inst}, items)
	if err != nil {
		t.Fatal(err)
	}
	seqs := make([]uint64, len(res))
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("outcome %d: %v", i, r.Err)
		}
		seqs[i] = r.Seq
	}
	return seqs
}

// TestErasureAndScores reads the scores of sealed outcomes as an admin and
// as a regulator, erases a learner, and reads the erased learner's scores
// as erased; the refusals come back as StatusErrors.
func TestErasureAndScores(t *testing.T) {
	s := startServer(t, 1)
	ctx := context.Background()
	seqs := s.postScores(t, []string{"ERASEME1", "KEEPME2", "KEEPME2"}, []string{"86", "70.5", ""})
	admin := s.client(s.admin)
	regulator := s.client(token(t, s.tk, accreditation.RoleRegulator, "moe"))

	want := []client.Score{{Outcome: seqs[0], Score: "86"}, {Outcome: seqs[1], Score: "70.5"}, {Outcome: seqs[2]}}
	for name, c := range map[string]*client.Client{"admin": admin, "regulator": regulator} {
		// Asked twice, one outcome is read once and answered twice.
		got, err := c.AuditScores(ctx, append(slices.Clone(seqs), seqs[0]))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(got, append(slices.Clone(want), want[0])) {
			t.Errorf("%s read %+v, want %+v", name, got, want)
		}
	}

	e, err := admin.EraseLearner(ctx, "ERASEME1", "the learner asked")
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq <= seqs[2] || e.Learner != "ERASEME1" || e.Reason != "the learner asked" || e.RecordedAt == "" || e.PlaintextEntries {
		t.Errorf("erasure %+v", e)
	}
	got, err := regulator.AuditScores(ctx, seqs)
	if err != nil {
		t.Fatal(err)
	}
	want[0] = client.Score{Outcome: seqs[0], Erased: true}
	if !slices.Equal(got, want) {
		t.Errorf("after the erasure: %+v, want %+v", got, want)
	}

	tests := []struct {
		name       string
		do         func() error
		wantStatus int
		wantType   string
		wantMsg    string
	}{
		{"erased again", func() error { _, err := admin.EraseLearner(ctx, "ERASEME1", "again"); return err }, http.StatusGone, "learner-erased", "POST /v1/learners/ERASEME1/erasure: 410"},
		{"unknown learner", func() error { _, err := admin.EraseLearner(ctx, "NOBODY9", "x"); return err }, http.StatusNotFound, "", "POST "},
		{"erasure by a regulator", func() error { _, err := regulator.EraseLearner(ctx, "KEEPME2", "x"); return err }, http.StatusForbidden, "", "POST "},
		{"scores as a learner", func() error { _, err := s.client(s.learner).AuditScores(ctx, seqs); return err }, http.StatusForbidden, "", "GET /v1/audit/scores"},
		{"scores of an entry that is no outcome", func() error { _, err := admin.AuditScores(ctx, []uint64{0}); return err }, http.StatusNotFound, "", "GET /v1/audit/scores?outcomes=0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			var se *client.StatusError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T), want a *client.StatusError", err, err)
			}
			if se.StatusCode != tt.wantStatus || !strings.HasSuffix(se.Type, tt.wantType) {
				t.Errorf("status %d type %q, want %d and a type ending %q", se.StatusCode, se.Type, tt.wantStatus, tt.wantType)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("message %q lacks %q", err, tt.wantMsg)
			}
		})
	}
	if got, err := regulator.AuditScores(ctx, seqs[1:]); err != nil || got[0].Score != "70.5" {
		t.Errorf("the other learner's scores after the erasure: %+v, %v", got, err)
	}
}

// TestAuditScoresSplits: a list longer than the contract's bound is asked
// for in parts.
func TestAuditScoresSplits(t *testing.T) {
	s := startServer(t, 1)
	n := client.MaxScoreReads + 1
	learners, scores := make([]string, n), make([]string, n)
	for i := range n {
		learners[i], scores[i] = fmt.Sprintf("SPLIT%04d", i), fmt.Sprint(i%100)
	}
	seqs := s.postScores(t, learners, scores)
	before := s.scoreRequests.Load()
	got, err := s.client(s.admin).AuditScores(context.Background(), seqs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n || got[n-1].Score != scores[n-1] || got[0].Score != "0" {
		t.Errorf("%d scores, first %+v, last %+v", len(got), got[0], got[n-1])
	}
	if r := s.scoreRequests.Load() - before; r != 2 {
		t.Errorf("%d requests for %d outcomes, want 2", r, n)
	}
}
