package accreditation

import (
	"context"
	"strings"
	"testing"
)

// Tests of grants (grants.go) and of what an institution reads without one
// (Bank.InstitutionOutcomes), on a real bank; each ends with a full replay.

// grantOf is a valid grant by learner to inst, on the test bank's date
// (2026-07-15).
func grantOf(learner, inst string) GrantCreated {
	return GrantCreated{Learner: learner, Institution: inst, Purpose: "admission to the BSc", ExpiresOn: "2026-12-31"}
}

func TestCreateGrantRefusals(t *testing.T) {
	b, _, _ := rtSetup(t)
	ctx := context.Background()
	cases := []struct {
		name   string
		actor  Actor
		change func(g *GrantCreated)
		want   Code
	}{
		{"another learner", rtLearner("L2"), nil, CodeForbidden},
		{"an admin", admin, nil, CodeForbidden},
		{"an institution", Actor{Role: RoleInstitution, ID: rtUniv}, nil, CodeForbidden},
		{"unknown institution", rtLearner("L1"), func(g *GrantCreated) { g.Institution = "nowhere.example" }, CodeInvalid},
		{"bad institution id", rtLearner("L1"), func(g *GrantCreated) { g.Institution = "Univ.Example" }, CodeInvalid},
		{"no purpose", rtLearner("L1"), func(g *GrantCreated) { g.Purpose = "" }, CodeInvalid},
		{"purpose of 201 characters", rtLearner("L1"), func(g *GrantCreated) { g.Purpose = strings.Repeat("p", 201) }, CodeInvalid},
		{"purpose with a bidi override", rtLearner("L1"), func(g *GrantCreated) { g.Purpose = "admission \u202e" }, CodeInvalid},
		{"purpose with a control character", rtLearner("L1"), func(g *GrantCreated) { g.Purpose = "a\nb" }, CodeInvalid},
		{"expires today", rtLearner("L1"), func(g *GrantCreated) { g.ExpiresOn = "2026-07-15" }, CodeInvalid},
		{"expired", rtLearner("L1"), func(g *GrantCreated) { g.ExpiresOn = "2026-07-14" }, CodeInvalid},
		{"367 days ahead", rtLearner("L1"), func(g *GrantCreated) { g.ExpiresOn = "2027-07-17" }, CodeInvalid},
		{"not a date", rtLearner("L1"), func(g *GrantCreated) { g.ExpiresOn = "2026-13-01" }, CodeInvalid},
		{"no expiry", rtLearner("L1"), func(g *GrantCreated) { g.ExpiresOn = "" }, CodeInvalid},
		{"national-id-looking learner", rtLearner("123456789"), func(g *GrantCreated) { g.Learner = "123456789" }, CodeLearnerIDPersonal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := grantOf("L1", rtUniv)
			if c.change != nil {
				c.change(&g)
			}
			before := b.l.Size()
			_, err := b.CreateGrant(ctx, c.actor, g)
			if CodeOf(err) != c.want {
				t.Fatalf("CreateGrant: %v, want code %s", err, c.want)
			}
			if after := b.l.Size(); after != before {
				t.Errorf("refused grant wrote: %d → %d", before, after)
			}
		})
	}
	// The bounds themselves are accepted: 366 days ahead, 200 characters.
	g := grantOf("L1", rtUniv)
	g.ExpiresOn, g.Purpose = "2027-07-16", strings.Repeat("p", 200)
	if _, err := b.CreateGrant(ctx, rtLearner("l1"), g); err != nil {
		t.Fatalf("grant at the limits: %v", err)
	}
	b.checkReplay(t)
}

func TestGrantLifecycle(t *testing.T) {
	b, _, _ := rtSetup(t)
	ctx := context.Background()
	me := rtLearner("l1") // ids compare case-insensitively

	if id, err := b.ActiveGrant(rtUniv, "L1"); err != nil || id != "" {
		t.Fatalf("before any grant: %q %v", id, err)
	}
	g, err := b.CreateGrant(ctx, me, grantOf("l1", rtUniv))
	if err != nil {
		t.Fatal(err)
	}
	if g.ID != GrantID(g.Seq) || g.Status != GrantStatusActive || g.Learner != "L1" || g.RecordedAt == "" {
		t.Fatalf("grant %+v", g)
	}
	if id, err := b.ActiveGrant(rtUniv, "L1"); err != nil || id != g.ID {
		t.Fatalf("ActiveGrant = %q %v, want %s", id, err, g.ID)
	}
	if id, _ := b.ActiveGrant(rtCollege, "L1"); id != "" {
		t.Fatalf("a grant to %s let %s read: %s", rtUniv, rtCollege, id)
	}
	// One grant in force per institution.
	if _, err := b.CreateGrant(ctx, me, grantOf("L1", rtUniv)); CodeOf(err) != CodeConflict || !strings.Contains(err.Error(), g.ID) {
		t.Fatalf("second grant: %v, want a conflict naming %s", err, g.ID)
	}

	// Withdrawal: another learner cannot tell the grant from none.
	if _, err := b.WithdrawGrant(ctx, rtLearner("L2"), "L2", g.Seq); CodeOf(err) != CodeNotFound {
		t.Fatalf("withdraw another's grant: %v", err)
	}
	if _, err := b.WithdrawGrant(ctx, rtLearner("L2"), "L1", g.Seq); CodeOf(err) != CodeForbidden {
		t.Fatalf("withdraw for another learner: %v", err)
	}
	w, err := b.WithdrawGrant(ctx, me, "L1", g.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if w.Status != GrantStatusWithdrawn || w.Withdrawal == nil || w.Withdrawal.Seq <= g.Seq {
		t.Fatalf("withdrawn %+v", w)
	}
	if id, _ := b.ActiveGrant(rtUniv, "L1"); id != "" {
		t.Fatalf("withdrawn grant still in force: %s", id)
	}
	if _, err := b.WithdrawGrant(ctx, me, "L1", g.Seq); CodeOf(err) != CodeConflict {
		t.Fatalf("withdraw twice: %v", err)
	}

	// Granted again, then expired: in force through expires_on, not after.
	g2, err := b.CreateGrant(ctx, me, grantOf("L1", rtUniv))
	if err != nil {
		t.Fatal(err)
	}
	b.clock.SetDate(t, "2026-12-31")
	if id, _ := b.ActiveGrant(rtUniv, "L1"); id != g2.ID {
		t.Fatalf("on its expires_on: %q, want %s", id, g2.ID)
	}
	b.clock.SetDate(t, "2027-01-01")
	if id, _ := b.ActiveGrant(rtUniv, "L1"); id != "" {
		t.Fatalf("after its expires_on: %s", id)
	}
	if _, err := b.WithdrawGrant(ctx, me, "L1", g2.Seq); CodeOf(err) != CodeConflict {
		t.Fatalf("withdraw an expired grant: %v", err)
	}
	// An expired grant does not stand in the way of a new one.
	g3 := grantOf("L1", rtUniv)
	g3.ExpiresOn = "2027-02-01"
	if _, err := b.CreateGrant(ctx, me, g3); err != nil {
		t.Fatalf("grant after expiry: %v", err)
	}

	page, err := b.Grants("l1", "", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Grants) != 2 || page.Grants[0].Status != GrantStatusWithdrawn || page.Grants[1].Status != GrantStatusExpired || page.NextCursor == "" {
		t.Fatalf("first page %+v", page)
	}
	page, err = b.Grants("L1", page.NextCursor, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Grants) != 1 || page.Grants[0].Status != GrantStatusActive || page.NextCursor != "" {
		t.Fatalf("second page %+v", page)
	}
	if other, _ := b.Grants("L10", "", 10); len(other.Grants) != 0 {
		t.Fatalf("L10 lists L1's grants: %+v", other.Grants)
	}
	b.checkReplay(t)
}

// TestGrantReplay rebuilds the grants from the journal alone: a replica or
// an auditor that applies the entries knows which grant is in force.
func TestGrantReplay(t *testing.T) {
	b, _, _ := rtSetup(t)
	ctx := context.Background()
	g, err := b.CreateGrant(ctx, rtLearner("L1"), grantOf("L1", rtUniv))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateGrant(ctx, rtLearner("L1"), grantOf("L1", rtCollege)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WithdrawGrant(ctx, rtLearner("L1"), "L1", g.Seq); err != nil {
		t.Fatal(err)
	}
	b.checkReplay(t)
	rp, err := b.Replay(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := latestGrant(memStore(rp.State()), b.ref(t, "L1"), rtUniv)
	if err != nil || st == nil || st.Withdrawal == nil {
		t.Fatalf("replayed grant to %s: %+v %v", rtUniv, st, err)
	}
}

func TestParseGrantID(t *testing.T) {
	for _, c := range []struct {
		id   string
		seq  uint64
		okay bool
	}{{"g0", 0, true}, {"g42", 42, true}, {"42", 0, false}, {"g042", 0, false}, {"g", 0, false}, {"g-1", 0, false},
		{"G42", 0, false}, {"g99999999999999999999", 0, false}, {"g4 2", 0, false}} {
		seq, ok := ParseGrantID(c.id)
		if ok != c.okay || seq != c.seq {
			t.Errorf("ParseGrantID(%q) = %d %v", c.id, seq, ok)
		}
		if ok && GrantID(seq) != c.id {
			t.Errorf("GrantID(%d) = %q", seq, GrantID(seq))
		}
	}
}

// TestInstitutionOutcomes: without a grant an institution reads its own
// outcomes of the learner and the conversions toward its programmes, and
// nothing of another institution's outcomes.
func TestInstitutionOutcomes(t *testing.T) {
	b, college, univ := rtSetup(t)
	other := b.institution(t, "other.example")
	mine := b.post(t, univ, outcome("L1", "u-1"))
	failed := outcome("L1", "o-1")
	failed.Result = Result{Passed: new(bool)}
	b.post(t, other, failed) // another institution's failed module
	src := b.post(t, college, outcome("L1", "c-1"))
	b.post(t, univ, outcome("L2", "u-2")) // another learner
	rtPublish(t, b, rtRule("r-univ", "BSC"))
	conv := rtConvert(t, b, rtLearner("L1"), ConversionRequest{Learner: "L1", Rule: "r-univ", Outcomes: []uint64{src}})

	read := func(inst, cursor string, limit int) *InstitutionOutcomes {
		t.Helper()
		page, err := b.InstitutionOutcomes(InstitutionOutcomesQuery{Institution: inst, Learner: "l1", Cursor: cursor, Limit: limit,
			Reader: Actor{Role: RoleInstitution, ID: inst}})
		if err != nil {
			t.Fatal(err)
		}
		return page
	}
	page := read(rtUniv, "", 10)
	if len(page.Outcomes) != 1 || page.Outcomes[0].Seq != mine || page.Outcomes[0].IdempotencyKey != "u-1" {
		t.Fatalf("univ's outcomes %+v", page.Outcomes)
	}
	if len(page.Conversions) != 1 || page.Conversions[0].Seq != conv.Seq || page.Conversions[0].Items[0].Outcome != src {
		t.Fatalf("univ's conversions %+v", page.Conversions)
	}
	if page.Learner != "L1" || page.NextCursor != "" {
		t.Fatalf("page %+v", page)
	}
	// The college sees its outcome, not the conversion toward univ's
	// programme that used it, nor the other's failed module.
	page = read(rtCollege, "", 10)
	if len(page.Outcomes) != 1 || page.Outcomes[0].Seq != src || len(page.Conversions) != 0 {
		t.Fatalf("college's page %+v", page)
	}
	// Paged one at a time, univ's view is the same two entries.
	first := read(rtUniv, "", 1)
	if len(first.Outcomes) != 1 || len(first.Conversions) != 0 || first.NextCursor == "" {
		t.Fatalf("first page %+v", first)
	}
	second := read(rtUniv, first.NextCursor, 1)
	if len(second.Outcomes) != 0 || len(second.Conversions) != 1 {
		t.Fatalf("second page %+v", second)
	}
	if _, err := b.InstitutionOutcomes(InstitutionOutcomesQuery{Institution: rtUniv, Learner: "L1", Cursor: "nope", Limit: 1}); err == nil {
		t.Fatal("a bad cursor was accepted")
	}
}
