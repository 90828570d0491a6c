package client_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"creditbank/accreditation"
	"creditbank/api"
	"creditbank/client"
)

// TestUnits certifies units and a unit's next version, reads them from the
// catalogue without sending the token, one version and the latest, and
// lists them through the filters a page of one at a time.
func TestUnits(t *testing.T) {
	s := startServer(t, 2)
	ctx := context.Background()
	adm := s.client(s.admin)
	hours := int64(48)
	u := client.UnitInput{Institution: "inst000.example", Code: "CU-1", Title: "Circuits", Sector: "vocational", Level: 4,
		Field: "0714", Credits: client.UnitCredits{Amount: "3", System: "cn-credit"}, Hours: &hours, ValidFrom: "2025-01-01"}
	if v, err := adm.CertifyUnit(ctx, u); err != nil || v.Version != 1 || v.StandardCredits != "3" || v.Seq == 0 {
		t.Fatalf("certify: %+v %v", v, err)
	}
	u.Title = "Circuits and motors"
	if v, err := adm.CertifyUnit(ctx, u); err != nil || v.Version != 2 {
		t.Fatalf("certify again: %+v %v", v, err)
	}
	for _, x := range []client.UnitInput{
		{Institution: "inst000.example", Code: "CU-2", Title: "Welding", Sector: "vocational", Level: 5, Field: "0715",
			Credits: client.UnitCredits{Amount: "2", System: "cn-credit"}, ValidFrom: "2025-01-01"},
		{Institution: "inst001.example", Code: "CU-1", Title: "Sensors", Sector: "vocational", Level: 4, Field: "0714",
			Credits: client.UnitCredits{Amount: "1", System: "cn-credit"}, ValidFrom: "2025-01-01"},
	} {
		if _, err := adm.CertifyUnit(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	var se *client.StatusError
	if _, err := s.client(s.learner).CertifyUnit(ctx, u); !errors.As(err, &se) || se.StatusCode != 403 || se.Method != "POST" {
		t.Fatalf("a learner certifies: %v", err)
	}

	before := s.tokenElsewhere.Load()
	if v, err := adm.Unit(ctx, "inst000.example", "CU-1", 1); err != nil || v.Version != 1 || v.Title != "Circuits" {
		t.Fatalf("version 1: %+v %v", v, err)
	}
	if v, err := adm.Unit(ctx, "inst000.example", "CU-1", 0); err != nil || v.Version != 2 || v.Hours == nil || *v.Hours != 48 {
		t.Fatalf("latest: %+v %v", v, err)
	}
	if _, err := adm.Unit(ctx, "inst000.example", "NOPE", 0); !errors.As(err, &se) || se.StatusCode != 404 {
		t.Fatalf("unknown unit: %v", err)
	}
	for _, tc := range []struct {
		f    client.UnitFilter
		want []string
	}{
		{client.UnitFilter{}, []string{"inst000.example/CU-1 2", "inst000.example/CU-2 1", "inst001.example/CU-1 1"}},
		{client.UnitFilter{Institution: "inst000.example"}, []string{"inst000.example/CU-1 2", "inst000.example/CU-2 1"}},
		{client.UnitFilter{Field: "0714"}, []string{"inst000.example/CU-1 2", "inst001.example/CU-1 1"}},
		{client.UnitFilter{Field: "071", Level: 5}, []string{"inst000.example/CU-2 1"}},
		{client.UnitFilter{Institution: "inst001.example", Level: 5}, nil},
	} {
		var got []string
		for v, err := range adm.Units(ctx, tc.f, 1) {
			if err != nil {
				t.Fatalf("%+v: %v", tc.f, err)
			}
			got = append(got, fmt.Sprintf("%s/%s %d", v.Institution, v.Code, v.Version))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("units %+v: %v, want %v", tc.f, got, tc.want)
		}
	}
	for _, err := range adm.Units(ctx, client.UnitFilter{Field: "x"}, 0) {
		if !errors.As(err, &se) || se.StatusCode != 400 && se.StatusCode != 422 {
			t.Errorf("a field that is no ISCED-F prefix: %v", err)
		}
	}
	if n := s.tokenElsewhere.Load() - before; n != 0 {
		t.Errorf("%d reads of the catalogue sent the token", n)
	}
}

// TestRecognitionCase takes a case through its steps with the client: a
// decision before a review refused (409), a review, a refusal, an appeal,
// a second appeal refused (409), the regulator's grant on appeal, the
// case read by its learner and the institution, and the award audit
// counting the grant as recognised credit naming the case.
func TestRecognitionCase(t *testing.T) {
	s := startServer(t, 1)
	ctx := context.Background()
	assessor := s.institutionClient(t, "rpl.example")
	cap := "30"
	if _, err := s.client(s.admin).PublishProgramme(ctx, client.ProgrammeInput{ID: "DIP-RPL", Institution: "rpl.example", Title: "Diploma",
		Total: "20", Requirements: []client.Requirement{{ID: "ict", Fields: []string{"06"}, Min: "10"}},
		PeriodCaps: client.PeriodCaps{Year: &cap}, ValidFrom: "2020-01-01"}); err != nil {
		t.Fatal(err)
	}
	outcomes := s.postScores(t, []string{"L1", "L1"}, []string{"70", "80"})
	learner := s.client(s.learner)
	rc, err := learner.ApplyForRecognition(ctx, client.RecognitionApplication{Target: client.Target{Institution: "rpl.example", Programme: "DIP-RPL"},
		Outcomes: outcomes, Statement: "two years of help-desk work"})
	if err != nil || rc.ID != fmt.Sprintf("r%d", rc.Seq) || rc.Status != "applied" || rc.Learner != "L1" || len(rc.Steps) != 1 {
		t.Fatalf("apply: %+v %v", rc, err)
	}
	grant := client.RecognitionDecision{Decision: "granted", Items: []client.RecognitionGrant{{Outcome: outcomes[0], Amount: "2"}, {Outcome: outcomes[1], Amount: "1.5"}},
		Reasons: "the work covers both units"}
	var se *client.StatusError
	if _, err := assessor.DecideRecognition(ctx, rc.ID, grant); !errors.As(err, &se) || se.StatusCode != 409 || se.Type != "urn:creditbank:problem:conflict" {
		t.Fatalf("a decision before a review: %v", err)
	}
	if rc, err = assessor.ReviewRecognition(ctx, rc.ID, "interviewed"); err != nil || rc.Status != "under_review" {
		t.Fatalf("review: %+v %v", rc, err)
	}
	if _, err := learner.ReviewRecognition(ctx, rc.ID, "my own review"); !errors.As(err, &se) || se.StatusCode != 403 {
		t.Fatalf("a review by the learner: %v", err)
	}
	rc, err = assessor.DecideRecognition(ctx, rc.ID, client.RecognitionDecision{Decision: "refused", Reasons: "no evidence"})
	if err != nil || rc.Status != "refused" || rc.AppealBy == "" || rc.GrantedInForce != "0" {
		t.Fatalf("refusal: %+v %v", rc, err)
	}
	if rc, err = learner.AppealRecognition(ctx, rc.ID, "the evidence was sent"); err != nil || rc.Status != "appealed" {
		t.Fatalf("appeal: %+v %v", rc, err)
	}
	if _, err := learner.AppealRecognition(ctx, rc.ID, "again"); !errors.As(err, &se) || se.StatusCode != 409 {
		t.Fatalf("a second appeal: %v", err)
	}
	reg := s.client(token(t, s.tk, accreditation.RoleRegulator, "moe"))
	rc, err = reg.DecideRecognitionAppeal(ctx, rc.ID, grant)
	if err != nil || rc.Status != "granted_on_appeal" || rc.GrantedInForce != "3.5" || len(rc.ItemsInForce) != 2 ||
		rc.ItemsInForce[1] != (client.RecognitionItem{Outcome: outcomes[1], StandardCredits: "3", Requested: "1.5", Granted: "1.5"}) {
		t.Fatalf("appeal granted: %+v %v", rc, err)
	}
	last := rc.Steps[len(rc.Steps)-1]
	if len(rc.Steps) != 5 || last.Step != "appeal_decided" || last.Actor != "regulator:moe" || last.Granted == nil || *last.Granted != "3.5" {
		t.Fatalf("steps: %+v", rc.Steps)
	}
	for name, c := range map[string]*client.Client{"learner": learner, "institution": assessor} {
		got, err := c.Recognition(ctx, rc.ID)
		if err != nil || got.Status != "granted_on_appeal" || got.Steps[0].Statement != "two years of help-desk work" {
			t.Errorf("%s reads the case: %+v %v", name, got, err)
		}
	}
	if _, err := s.client(token(t, s.tk, accreditation.RoleLearner, "L2")).Recognition(ctx, rc.ID); !errors.As(err, &se) || se.StatusCode != 404 {
		t.Errorf("another learner reads the case: %v", err)
	}
	a, err := learner.ProgrammeAudit(ctx, "L1", "DIP-RPL")
	if err != nil || a.Recognised != "3.5" || a.Converted != "0" || len(a.Requirements[0].Items) != 2 ||
		a.Requirements[0].Items[0].Source != "recognition" || a.Requirements[0].Items[0].Recognition != rc.ID {
		t.Fatalf("audit: %+v %v", a, err)
	}
}

// institutionClient registers institution id with a key it keeps and
// returns a client holding a token the institution signed.
func (s *testServer) institutionClient(t *testing.T, id string) *client.Client {
	t.Helper()
	k := s.registerWithKey(t, id)
	tok, err := api.SignInstitutionToken(k, id, "creditbank", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return s.client(tok)
}
