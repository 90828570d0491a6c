package accreditation

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// Tests of awards (docs/contract.md section 9): recorded only when the
// audit says eligible, once per programme version, flagged (never revoked)
// when an outcome they rested on is revoked or superseded, kept across a
// restart and re-run by the replay.

// awSetup is a bank with programme bsc at univ.example (10 credits, 6 in
// 06, no limits), a rule from the college toward it, and learner L1 with
// three univ courses of 3 credits (0613) and one college course of 3
// converted: eligible with 12. It returns the bank, the college, the
// univ, the univ outcomes and the converted college outcome.
func awSetup(t *testing.T) (*testBank, Actor, Actor, []uint64, uint64) {
	t.Helper()
	b, college, univ := rtSetup(t)
	p := ProgrammeInput{ID: "bsc", Institution: rtUniv, Title: "BSc", Total: 1000,
		Requirements: []Requirement{{ID: "major", Fields: []string{"06"}, Min: 600}}, ValidFrom: "2020-01-01"}
	if _, err := b.PublishProgramme(context.Background(), regulator, p); err != nil {
		t.Fatal(err)
	}
	rtPublish(t, b, rtRule("to-bsc", "bsc"))
	direct := pgPostTerm(t, b, univ, "U", "0613", 3, "2025-03-01")
	conv := b.post(t, college, pgCourse("c", "C1", "0613", 6, 300, "2024-03-01"))
	rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "to-bsc", Outcomes: []uint64{conv}})
	return b, college, univ, direct, conv
}

func TestAwards(t *testing.T) {
	ctx := context.Background()
	b, college, univ, direct, conv := awSetup(t)
	refusals := []struct {
		name    string
		actor   Actor
		learner string
		code    Code
	}{
		{"another institution", college, "L1", CodeForbidden},
		{"a learner", rtLearner("L1"), "L1", CodeForbidden},
		{"not eligible", univ, "L2", CodeAwardNotEligible},
	}
	b.post(t, univ, adUnit("L2", "l2", "U-L2", 300))
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			size := b.Ledger().Size()
			_, err := b.RecordAward(ctx, tc.actor, tc.learner, "bsc")
			rtCode(t, err, tc.code)
			if b.Ledger().Size() != size {
				t.Fatal("a refused award wrote an entry")
			}
			if tc.code == CodeAwardNotEligible {
				m := err.(*Error).Missing
				if len(m) != 2 || m[0].Kind != ShortRequirement || m[0].Short != 300 || m[1].Kind != ShortTotal || m[1].Short != 700 {
					t.Fatalf("missing %+v", m)
				}
				if !strings.Contains(err.Error(), "L2") {
					t.Fatalf("the refusal %q does not name the learner by id", err)
				}
			}
		})
	}
	rec, err := b.RecordAward(ctx, univ, "l1", "bsc")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Learner != "L1" || rec.Total != 1200 || rec.Size != rec.Seq || len(rec.Outcomes) != 3 || len(rec.Conversions) != 1 ||
		rec.Conversions[0].Outcome != conv || len(rec.Flags) != 0 {
		t.Fatalf("award %+v", rec)
	}
	stored := rtContent[Award](t, b, rec.Seq, TypeAwardRecorded)
	if stored.Learner == "L1" || stored.Programme != (ProgrammeRef{ID: "bsc", Version: 1}) {
		t.Fatalf("the entry %+v names the learner by id or the wrong programme", stored)
	}
	t.Run("once per version", func(t *testing.T) {
		_, err := b.RecordAward(ctx, admin, "L1", "bsc")
		rtCode(t, err, CodeConflict)
	})

	// Revoking a direct outcome, superseding another and revoking the
	// source of the conversion item each flag the award, which stands.
	res, err := b.Revoke(ctx, univ, direct[0], "posted in error")
	if err != nil || len(res.Flagged) != 1 || len(res.Reversals) != 0 {
		t.Fatalf("revocation %+v %v", res, err)
	}
	flag := rtContent[AwardFlagged](t, b, res.Flagged[0], TypeAwardFlagged)
	if flag.Award != rec.Seq || flag.Outcome != direct[0] || !strings.Contains(flag.Reason, "posted in error") {
		t.Fatalf("flag %+v", flag)
	}
	fix := pgCourse("fix", "U1-2025-03-01", "0613", 6, 400, "2025-03-01")
	fix.Supersedes = &direct[1]
	b.post(t, univ, fix)
	res, err = b.Revoke(ctx, college, conv, "wrong learner")
	if err != nil || len(res.Flagged) != 1 || len(res.Reversals) != 1 {
		t.Fatalf("revoking the converted outcome: %+v %v", res, err)
	}
	check := func(b *testBank) {
		t.Helper()
		awards, err := b.Awards("L1")
		if err != nil || len(awards) != 1 || awards[0].Seq != rec.Seq || len(awards[0].Flags) != 3 {
			t.Fatalf("awards %+v %v", awards, err)
		}
		if r := awards[0].Flags[1].Reason; !strings.Contains(r, "superseded") {
			t.Fatalf("the supersession's flag says %q", r)
		}
	}
	check(b)
	b = b.reopen(t)
	check(b)
	b.checkReplay(t)

	t.Run("the replay re-runs the audit", func(t *testing.T) {
		es := ptEntries(t, b)
		var a Award
		if err := json.Unmarshal(es[rec.Seq].Content, &a); err != nil {
			t.Fatal(err)
		}
		a.Total, a.Requirements[0].Earned = 1500, 1500
		if es[rec.Seq].Content, err = json.Marshal(a); err != nil {
			t.Fatal(err)
		}
		findings := b.replayed(t, es).Findings()
		if len(findings) != 1 || findings[0].Seq != rec.Seq || !strings.Contains(findings[0].Problem, "the audit gives total 12") {
			t.Fatalf("findings %+v", findings)
		}
	})
	t.Run("a revocation that flags nothing", func(t *testing.T) {
		// The journal ends with the last revocation's flag: without it the
		// revocation leaves the award unflagged.
		es := ptEntries(t, b)
		last := len(es) - 1
		if es[last].Type != TypeAwardFlagged {
			t.Fatalf("the journal ends with a %s", es[last].Type)
		}
		findings := b.replayed(t, es[:last]).Findings()
		if len(findings) != 1 || !strings.Contains(findings[0].Problem, "does not flag award") {
			t.Fatalf("findings %+v", findings)
		}
	})
}

func TestAwardErasedLearner(t *testing.T) {
	ctx := context.Background()
	b, _, univ, _, _ := awSetup(t)
	if _, err := b.RecordAward(ctx, univ, "L1", "bsc"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.EraseLearner(ctx, admin, "L1", "asked"); err != nil {
		t.Fatal(err)
	}
	_, err := b.AuditProgramme(ctx, "L1", "bsc")
	rtCode(t, err, CodeErased)
	_, err = b.RecordAward(ctx, admin, "L1", "bsc")
	rtCode(t, err, CodeErased)
	_, err = b.Awards("L1")
	rtCode(t, err, CodeErased)
	b.checkReplay(t)
}

// TestAwardSameAnswerAsAudit: the award records what the audit read at the
// same size shows.
func TestAwardSameAnswerAsAudit(t *testing.T) {
	ctx := context.Background()
	b, _, univ, _, _ := awSetup(t)
	a, err := b.AuditProgramme(ctx, "L1", "bsc")
	if err != nil || !a.Eligible {
		t.Fatalf("audit %+v %v", a, err)
	}
	rec, err := b.RecordAward(ctx, univ, "L1", "bsc")
	if err != nil {
		t.Fatal(err)
	}
	a.Learner = rec.Award.Learner // the entry names the reference
	want := awardOf(&a)
	if got := rec.Award; !reflect.DeepEqual(got, want) {
		t.Fatalf("award %+v, audit %+v", got, want)
	}
}
