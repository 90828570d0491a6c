package accreditation

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"creditbank/ledger"
)

// Tests of recognition cases (docs/contract.md section 13): the steps in
// order, who takes each, the appeal's deadline, the grants within the
// outcome's worth and the programme's limits, their place in the award
// audit, their reversal when an outcome is revoked, and the replay's
// re-check of all of it.

const rcTraining = "training.example"

// rcBank is a bank with univ.example's acbsProgramme and a workplace
// training provider, and learner L1 holding one outcome of it: a
// certificate of 4 standard credits (level 5, field 0613) completed on
// 2026-06-01.
func rcBank(t *testing.T) (*testBank, Actor, Actor, uint64) {
	t.Helper()
	b := newTestBank(t)
	univ := b.institution(t, rtUniv)
	training := b.institution(t, rcTraining)
	if _, err := b.PublishProgramme(context.Background(), regulator, acbsProgramme()); err != nil {
		t.Fatal(err)
	}
	o := outcome("L1", "cert-1")
	o.Sector, o.Level, o.Credits, o.CompletedOn = "workplace", 5, Credits{Amount: 400, System: "cn-credit"}, "2026-06-01"
	seq := b.post(t, training, o)
	_ = univ
	return b, univ, training, seq
}

var rcLearner = Actor{Role: RoleLearner, ID: "L1"}

func rcApplication(outcomes ...uint64) RecognitionApplication {
	return RecognitionApplication{Learner: "L1", Target: Target{Institution: rtUniv, Programme: "bsc-cs"}, Outcomes: outcomes,
		Evidence: []string{strings.Repeat("ab", 32)}, Statement: "Two years maintaining the warehouse's inventory software."}
}

func TestRecognitionCaseSteps(t *testing.T) {
	ctx := context.Background()
	b, univ, training, seq := rcBank(t)
	rc, err := b.ApplyForRecognition(ctx, rcLearner, rcApplication(seq))
	if err != nil {
		t.Fatal(err)
	}
	if rc.Status != CaseApplied || len(rc.Steps) != 1 || rc.Steps[0].Statement == "" || len(rc.Steps[0].Evidence) != 1 || rc.Steps[0].Actor != "learner:L1" {
		t.Fatalf("applied: %+v", rc)
	}
	id := rc.ID
	grant := RecognitionDecision{Decision: DecisionGranted, Items: []RecognitionGrant{{Outcome: seq, Amount: 300}}, Reasons: "Matches the software engineering module."}
	refuse := RecognitionDecision{Decision: DecisionRefused, Reasons: "The evidence does not show programming at level 5."}
	steps := []struct {
		name string
		do   func() (RecognitionCase, error)
		want Code // "" for done
	}{
		{"a decision before a review", func() (RecognitionCase, error) { return b.DecideRecognition(ctx, univ, id, grant) }, CodeConflict},
		{"an appeal before a decision", func() (RecognitionCase, error) { return b.AppealRecognition(ctx, rcLearner, id, "Please look again.") }, CodeConflict},
		{"a review by another institution", func() (RecognitionCase, error) { return b.ReviewRecognition(ctx, training, id, "Looks fine.") }, CodeForbidden},
		{"a review by a regulator", func() (RecognitionCase, error) { return b.ReviewRecognition(ctx, regulator, id, "Looks fine.") }, CodeForbidden},
		{"a review", func() (RecognitionCase, error) {
			return b.ReviewRecognition(ctx, univ, id, "Portfolio read; interview held.")
		}, ""},
		{"a second review", func() (RecognitionCase, error) { return b.ReviewRecognition(ctx, univ, id, "Second assessor agrees.") }, ""},
		{"a decision by another institution", func() (RecognitionCase, error) { return b.DecideRecognition(ctx, training, id, grant) }, CodeForbidden},
		{"a grant above the outcome's worth", func() (RecognitionCase, error) {
			return b.DecideRecognition(ctx, univ, id, RecognitionDecision{Decision: DecisionGranted, Items: []RecognitionGrant{{Outcome: seq, Amount: 401}}, Reasons: "x"})
		}, CodeInvalid},
		{"a grant of an outcome not in the case", func() (RecognitionCase, error) {
			return b.DecideRecognition(ctx, univ, id, RecognitionDecision{Decision: DecisionGranted, Items: []RecognitionGrant{{Outcome: seq - 1, Amount: 100}}, Reasons: "x"})
		}, CodeInvalid},
		{"the decision: refused", func() (RecognitionCase, error) { return b.DecideRecognition(ctx, univ, id, refuse) }, ""},
		{"a second decision", func() (RecognitionCase, error) { return b.DecideRecognition(ctx, univ, id, grant) }, CodeConflict},
		{"a review after the decision", func() (RecognitionCase, error) { return b.ReviewRecognition(ctx, univ, id, "Late.") }, CodeConflict},
		{"an appeal decision before the appeal", func() (RecognitionCase, error) { return b.DecideRecognitionAppeal(ctx, regulator, id, grant) }, CodeConflict},
		{"an appeal by another learner", func() (RecognitionCase, error) {
			return b.AppealRecognition(ctx, Actor{Role: RoleLearner, ID: "L2"}, id, "Mine.")
		}, CodeForbidden},
		{"the appeal", func() (RecognitionCase, error) {
			return b.AppealRecognition(ctx, rcLearner, id, "The interview covered level-5 design.")
		}, ""},
		{"a second appeal", func() (RecognitionCase, error) { return b.AppealRecognition(ctx, rcLearner, id, "Again.") }, CodeConflict},
		{"an appeal decided by the institution", func() (RecognitionCase, error) { return b.DecideRecognitionAppeal(ctx, univ, id, grant) }, CodeForbidden},
		{"the appeal granted", func() (RecognitionCase, error) { return b.DecideRecognitionAppeal(ctx, regulator, id, grant) }, ""},
		{"a second appeal decision", func() (RecognitionCase, error) { return b.DecideRecognitionAppeal(ctx, regulator, id, refuse) }, CodeConflict},
	}
	for _, s := range steps {
		size := b.Ledger().Size()
		_, err := s.do()
		if CodeOf(err) != s.want || (s.want == "" && err != nil) {
			t.Fatalf("%s: got %v, want %q", s.name, err, s.want)
		}
		if s.want != "" && b.Ledger().Size() != size {
			t.Fatalf("%s: a refusal wrote %d entries", s.name, b.Ledger().Size()-size)
		}
	}
	rc, err = b.Recognition(rcLearner, id)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Status != CaseGrantedOnAppeal || rc.Granted != 300 || len(rc.Steps) != 6 || rc.Steps[3].Reasons != refuse.Reasons || rc.Steps[4].Statement == "" {
		t.Fatalf("the case: %+v", rc)
	}
	// Who reads it.
	for _, a := range []Actor{univ, regulator, admin, rcLearner} {
		if _, err := b.Recognition(a, id); err != nil {
			t.Fatalf("%s reads the case: %v", a, err)
		}
	}
	if _, err := b.Recognition(training, id); CodeOf(err) != CodeForbidden {
		t.Fatalf("another institution: %v", err)
	}
	if _, err := b.Recognition(Actor{Role: RoleLearner, ID: "L2"}, id); CodeOf(err) != CodeNotFound {
		t.Fatalf("another learner: %v", err)
	}

	// The award audit counts the grant beside converted credit, naming
	// the case.
	a, err := b.AuditProgramme(ctx, "L1", "bsc-cs")
	if err != nil {
		t.Fatal(err)
	}
	if a.Recognised != 300 || a.Converted != 0 {
		t.Fatalf("audit: recognised %s, converted %s", a.Recognised, a.Converted)
	}
	item := a.Requirements[0].Items[0]
	if item.Source != SourceRecognition || item.Recognition != id || item.Outcome != seq || item.Amount != 300 {
		t.Fatalf("audit item: %+v", item)
	}
	bal, err := b.Balance("L1")
	if err != nil {
		t.Fatal(err)
	}
	if bal.Granted[rtUniv+"/bsc-cs"] != 300 {
		t.Fatalf("balance: %+v", bal.Granted)
	}
	b.checkReplay(t)

	// Revoking the outcome reverses the case's item.
	res, err := b.Revoke(ctx, training, seq, "issued in error")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Recognitions) != 1 || res.Recognitions[0].Recognition != id || res.Recognitions[0].Granted != 300 {
		t.Fatalf("revocation: %+v", res)
	}
	if a, err = b.AuditProgramme(ctx, "L1", "bsc-cs"); err != nil || a.Recognised != 0 {
		t.Fatalf("audit after the revocation: %s %v", a.Recognised, err)
	}
	if rc, err = b.Recognition(rcLearner, id); err != nil || rc.Granted != 0 || len(rc.InForce) != 0 || rc.Steps[len(rc.Steps)-1].Step != "adjusted" {
		t.Fatalf("the case after the revocation: %+v %v", rc, err)
	}
	b.checkReplay(t)
}

func TestRecognitionAppealDeadline(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		date string
		want Code
	}{{"2026-08-14", ""}, {"2026-08-15", CodeConflict}} {
		t.Run(c.date, func(t *testing.T) {
			b, univ, _, seq := rcBank(t)
			rc, err := b.ApplyForRecognition(ctx, rcLearner, rcApplication(seq))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.ReviewRecognition(ctx, univ, rc.ID, "Read."); err != nil {
				t.Fatal(err)
			}
			if _, err := b.DecideRecognition(ctx, univ, rc.ID, RecognitionDecision{Decision: DecisionRefused, Reasons: "No."}); err != nil {
				t.Fatal(err)
			}
			b.clock.SetDate(t, c.date) // decided on 2026-07-15
			if _, err := b.AppealRecognition(ctx, rcLearner, rc.ID, "Please."); CodeOf(err) != c.want {
				t.Fatalf("appeal on %s: %v, want %q", c.date, err, c.want)
			}
		})
	}
}

func TestRecognitionApplication(t *testing.T) {
	ctx := context.Background()
	b, _, training, seq := rcBank(t)
	other := b.post(t, training, outcome("L2", "l2-1"))
	revoked := b.post(t, training, outcome("L1", "l1-revoked"))
	if _, err := b.Revoke(ctx, training, revoked, "error"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		actor  Actor
		change func(a *RecognitionApplication)
		want   Code
	}{
		{"another learner's outcome", rcLearner, func(a *RecognitionApplication) { a.Outcomes = []uint64{other} }, CodeInvalid},
		{"a revoked outcome", rcLearner, func(a *RecognitionApplication) { a.Outcomes = []uint64{revoked} }, CodeInvalid},
		{"no outcome", rcLearner, func(a *RecognitionApplication) { a.Outcomes = nil }, CodeInvalid},
		{"an outcome twice", rcLearner, func(a *RecognitionApplication) { a.Outcomes = []uint64{seq, seq} }, CodeInvalid},
		{"no programme", rcLearner, func(a *RecognitionApplication) { a.Target.Programme = "ba-art" }, CodeInvalid},
		{"the programme at another institution", rcLearner, func(a *RecognitionApplication) { a.Target.Institution = rcTraining }, CodeInvalid},
		{"bad evidence", rcLearner, func(a *RecognitionApplication) { a.Evidence = []string{"xyz"} }, CodeInvalid},
		{"no statement", rcLearner, func(a *RecognitionApplication) { a.Statement = "" }, CodeInvalid},
		{"for another learner", Actor{Role: RoleLearner, ID: "L2"}, func(a *RecognitionApplication) {}, CodeForbidden},
		{"by an institution", Actor{Role: RoleInstitution, ID: rtUniv}, func(a *RecognitionApplication) {}, CodeForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			app := rcApplication(seq)
			c.change(&app)
			if _, err := b.ApplyForRecognition(ctx, c.actor, app); CodeOf(err) != c.want {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

// TestRecognitionWithinProgrammeLimits grants a case more than the term
// cap leaves: the grant is cut to the cap and names it, and a decision the
// limits cut to nothing is refused.
func TestRecognitionWithinProgrammeLimits(t *testing.T) {
	ctx := context.Background()
	b, univ, training, _ := rcBank(t)
	var seqs []uint64
	for i := range 7 { // 7 × 4 credits in the first half of 2026: the term cap is 24
		o := outcome("L1", fmt.Sprintf("lim-%d", i))
		o.Sector, o.Level, o.Credits, o.CompletedOn = "workplace", 5, Credits{Amount: 400, System: "cn-credit"}, "2026-05-01"
		seqs = append(seqs, b.post(t, training, o))
	}
	rc, err := b.ApplyForRecognition(ctx, rcLearner, rcApplication(seqs...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReviewRecognition(ctx, univ, rc.ID, "Read."); err != nil {
		t.Fatal(err)
	}
	d := RecognitionDecision{Decision: DecisionGranted, Reasons: "All of it."}
	for _, s := range seqs {
		d.Items = append(d.Items, RecognitionGrant{Outcome: s, Amount: 400})
	}
	rc, err = b.DecideRecognition(ctx, univ, rc.ID, d)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Granted != 2400 {
		t.Fatalf("granted %s, want the term cap 24", rc.Granted)
	}
	last := rc.Steps[len(rc.Steps)-1].Items[6]
	if last.Granted != 0 || last.Limit != LimitTerm {
		t.Fatalf("the seventh item: %+v", last)
	}
	// A second case in the same term gets nothing.
	o := outcome("L1", "lim-more")
	o.Sector, o.Level, o.Credits, o.CompletedOn = "workplace", 5, Credits{Amount: 400, System: "cn-credit"}, "2026-04-01"
	more := b.post(t, training, o)
	rc2, err := b.ApplyForRecognition(ctx, rcLearner, rcApplication(more))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReviewRecognition(ctx, univ, rc2.ID, "Read."); err != nil {
		t.Fatal(err)
	}
	_, err = b.DecideRecognition(ctx, univ, rc2.ID, RecognitionDecision{Decision: DecisionGranted, Items: []RecognitionGrant{{Outcome: more, Amount: 400}}, Reasons: "x"})
	var e *Error
	if CodeOf(err) != CodeNotEligible || !errorsAs(err, &e) || len(e.Reasons) != 1 || e.Reasons[0].Reason != ReasonProgrammeLimit {
		t.Fatalf("a case past the term cap: %v", err)
	}
	b.checkReplay(t)
}

func errorsAs(err error, e **Error) bool {
	de, ok := err.(*Error)
	*e = de
	return ok
}

// TestRecognitionReplayFindsDecisionBeforeReview replays a journal in which
// the review of a case was cut out, so that its decision precedes any
// review, and one whose grant exceeds the outcome's worth.
func TestRecognitionReplayFindsDecisionBeforeReview(t *testing.T) {
	ctx := context.Background()
	b, univ, _, seq := rcBank(t)
	rc, err := b.ApplyForRecognition(ctx, rcLearner, rcApplication(seq))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReviewRecognition(ctx, univ, rc.ID, "Read."); err != nil {
		t.Fatal(err)
	}
	grant := RecognitionDecision{Decision: DecisionGranted, Items: []RecognitionGrant{{Outcome: seq, Amount: 300}}, Reasons: "Yes."}
	if _, err := b.DecideRecognition(ctx, univ, rc.ID, grant); err != nil {
		t.Fatal(err)
	}
	es := ptEntries(t, b)
	n := len(es)
	if es[n-2].Type != TypeRecognitionReviewed || es[n-1].Type != TypeRecognitionDecided {
		t.Fatalf("the journal ends %s, %s", es[n-2].Type, es[n-1].Type)
	}
	if f := b.replayed(t, es).Findings(); len(f) != 0 {
		t.Fatalf("the journal as written: %+v", f)
	}
	cut := append(es[:n-2:n-2], es[n-1])
	cut[n-2].Seq = uint64(n - 2)
	f := b.replayed(t, cut).Findings()
	if len(f) != 1 || f[0].Seq != uint64(n-2) || !strings.Contains(f[0].Problem, "no review") {
		t.Fatalf("decision before review: %+v", f)
	}

	// The same decision granting 5 of an outcome worth 4.
	var st RecognitionStep
	if err := json.Unmarshal(es[n-1].Content, &st); err != nil {
		t.Fatal(err)
	}
	st.Items[0].Requested, st.Items[0].Granted = 500, 500
	total := Amount(500)
	st.Granted = &total
	c, err := ledger.MarshalContent(st)
	if err != nil {
		t.Fatal(err)
	}
	over := append(es[:n-1:n-1], es[n-1])
	over[n-1].Content = c
	if f := b.replayed(t, over).Findings(); len(f) != 1 || !strings.Contains(f[0].Problem, "cannot be granted") {
		t.Fatalf("a grant above the outcome's worth: %+v", f)
	}
}

func TestRecognitionAfterErasure(t *testing.T) {
	ctx := context.Background()
	b, univ, _, seq := rcBank(t)
	rc, err := b.ApplyForRecognition(ctx, rcLearner, rcApplication(seq))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.EraseLearner(ctx, admin, "L1", "the learner asked"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Recognition(univ, rc.ID); CodeOf(err) != CodeErased {
		t.Fatalf("read after erasure: %v", err)
	}
	if _, err := b.ReviewRecognition(ctx, univ, rc.ID, "Read."); CodeOf(err) != CodeErased {
		t.Fatalf("review after erasure: %v", err)
	}
	// The statement is in the ledger only sealed.
	es := ptEntries(t, b)
	for _, e := range es {
		if strings.Contains(string(e.Content), "warehouse") || strings.Contains(string(e.Content), strings.Repeat("ab", 32)) {
			t.Fatalf("entry %d holds the statement or the evidence in clear", e.Seq)
		}
	}
	b.checkReplay(t)
}
