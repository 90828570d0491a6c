package client_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"creditbank/client"
)

// TestProgrammesAndAwards publishes a programme and its next version,
// reads and lists them, reads a learner's award audit, and records an
// award: refused with what is missing while the learner is short (a
// *StatusError carrying Missing), recorded once eligible, refused again
// as a repeat, and listed.
func TestProgrammesAndAwards(t *testing.T) {
	s := startServer(t, 2)
	ctx := context.Background()
	adm := s.client(s.admin)
	cap := "60"
	p := client.ProgrammeInput{ID: "DIP-ICT", Institution: "inst000.example", Title: "Diploma", Total: "6",
		Requirements: []client.Requirement{{ID: "ict", Fields: []string{"06"}, Min: "6"}},
		PeriodCaps:   client.PeriodCaps{Year: &cap}, ValidFrom: "2020-01-01"}
	if v, err := adm.PublishProgramme(ctx, p); err != nil || v.Version != 1 || v.Seq == 0 {
		t.Fatalf("publish: %+v %v", v, err)
	}
	p.Title = "Diploma in ICT"
	if v, err := adm.PublishProgramme(ctx, p); err != nil || v.Version != 2 {
		t.Fatalf("publish again: %+v %v", v, err)
	}
	other := p
	other.ID, other.Institution = "BSC", "inst001.example"
	if _, err := adm.PublishProgramme(ctx, other); err != nil {
		t.Fatal(err)
	}
	moved := p
	moved.Institution = "inst001.example"
	var se *client.StatusError
	if _, err := adm.PublishProgramme(ctx, moved); !errors.As(err, &se) || se.StatusCode != 409 || se.Method != "POST" {
		t.Fatalf("a version moved to another institution: %v", err)
	}
	learner := s.client(s.learner)
	if v, err := learner.Programme(ctx, "DIP-ICT", 1); err != nil || v.Title != "Diploma" || v.PeriodCaps.Year == nil || *v.PeriodCaps.Year != "60" {
		t.Fatalf("version 1: %+v %v", v, err)
	}
	if _, err := learner.Programme(ctx, "NOPE", 0); !errors.As(err, &se) || se.StatusCode != 404 {
		t.Fatalf("unknown programme: %v", err)
	}
	var ids []string
	for v, err := range learner.Programmes(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
	}
	if !slices.Equal(ids, []string{"BSC", "DIP-ICT"}) {
		t.Errorf("programmes %v", ids)
	}
	ids = nil
	for v, err := range learner.Programmes(ctx, "inst001.example") {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
	}
	if !slices.Equal(ids, []string{"BSC"}) {
		t.Errorf("programmes of inst001.example %v", ids)
	}

	first := s.postScores(t, []string{"L1"}, []string{"80"})
	_, err := adm.RecordAward(ctx, "L1", "DIP-ICT")
	if !errors.As(err, &se) || se.StatusCode != 422 || se.Type != "urn:creditbank:problem:award-not-eligible" ||
		len(se.Missing) == 0 || se.Missing[0].Kind != "requirement" || se.Missing[0].Short != "3" {
		t.Fatalf("award of a learner 3 credits short: %v (%+v)", err, se)
	}
	s.postScores(t, []string{"L1"}, []string{"90"})
	a, err := learner.ProgrammeAudit(ctx, "L1", "DIP-ICT")
	if err != nil || !a.Eligible || a.Total.Earned != "6" || a.Programme.Version != 2 || len(a.Requirements) != 1 || len(a.Requirements[0].Items) != 2 {
		t.Fatalf("audit: %+v %v", a, err)
	}
	if _, err := learner.RecordAward(ctx, "L1", "DIP-ICT"); !errors.As(err, &se) || se.StatusCode != 403 {
		t.Fatalf("an award by the learner: %v", err)
	}
	award, err := adm.RecordAward(ctx, "L1", "DIP-ICT")
	if err != nil || award.Seq == 0 || award.Total != "6" || len(award.Outcomes) != 2 || award.Outcomes[0] != first[0] || len(award.Flags) != 0 {
		t.Fatalf("award: %+v %v", award, err)
	}
	if _, err := adm.RecordAward(ctx, "L1", "DIP-ICT"); !errors.As(err, &se) || se.StatusCode != 409 {
		t.Fatalf("a repeated award: %v", err)
	}
	list, err := learner.Awards(ctx, "L1")
	if err != nil || len(list) != 1 || list[0].Seq != award.Seq || list[0].Programme != (client.ProgrammeRef{ID: "DIP-ICT", Version: 2}) {
		t.Fatalf("awards: %+v %v", list, err)
	}
}
