package accreditation

import (
	"context"
	"testing"
	"time"

	"creditbank/ledger"
)

// Tests of an institution's history, the withdrawal of an accreditation
// and the last key (docs/contract.md section 8).

func hiInstitution(t *testing.T, b *testBank, id string) *Institution {
	t.Helper()
	in, err := b.Institution(id)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestInstitutionHistory(t *testing.T) {
	ctx := context.Background()
	b := newTestBank(t)
	b.institution(t, rtCollege) // registered, then accredited by the regulator
	steps := []struct {
		name  string
		do    func() error
		event string
		actor Actor
		why   string
	}{
		{"suspend", func() error { _, err := b.Suspend(ctx, regulator, rtCollege, "inspection"); return err }, EventSuspended, regulator, "inspection"},
		{"lift with a reason", func() error { _, err := b.Reinstate(ctx, admin, rtCollege, "inspection passed"); return err }, EventSuspensionLifted, admin, "inspection passed"},
		{"suspend again", func() error { _, err := b.Suspend(ctx, admin, rtCollege, "complaint"); return err }, EventSuspended, admin, "complaint"},
		{"lift without a reason", func() error { _, err := b.Reinstate(ctx, regulator, rtCollege, ""); return err }, EventSuspensionLifted, regulator, ""},
		{"withdraw", func() error {
			_, err := b.WithdrawAccreditation(ctx, regulator, rtCollege, hiInstitution(t, b, rtCollege).Accreditations[0].Seq, "programme closed")
			return err
		}, EventAccreditationWithdrawn, regulator, "programme closed"},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
	}
	in := hiInstitution(t, b, rtCollege)
	if len(in.History) != len(steps)+1 {
		t.Fatalf("history %+v, want %d events", in.History, len(steps)+1)
	}
	acc := in.Accreditations[0].Seq
	if h := in.History[0]; h.Event != EventAccredited || h.Seq != acc || h.Actor != regulator.String() || h.RecordedAt == "" {
		t.Errorf("first event %+v, want the accreditation %d by %s", h, acc, regulator)
	}
	for i, st := range steps {
		h := in.History[i+1]
		if h.Event != st.event || h.Reason != st.why || h.Actor != st.actor.String() || h.Seq <= in.History[i].Seq {
			t.Errorf("%s: event %+v, want %s by %s for %q after entry %d", st.name, h, st.event, st.actor, st.why, in.History[i].Seq)
		}
		if raw, err := b.Ledger().Entry(h.Seq); err != nil {
			t.Fatal(err)
		} else if e, err := ledger.ParseEntry(raw); err != nil || e.RecordedAt.UTC().Format(ledger.TimeLayout) != h.RecordedAt {
			t.Errorf("%s: event time %s is not its entry's (%v)", st.name, h.RecordedAt, err)
		}
	}
	if w := in.History[len(steps)]; w.Accreditation == nil || *w.Accreditation != acc {
		t.Errorf("withdrawal event %+v does not name accreditation %d", w, acc)
	}
	b.checkReplay(t)
}

func TestAccreditationWithdrawal(t *testing.T) {
	ctx := context.Background()
	b := newTestBank(t)
	college := b.institution(t, rtCollege)
	b.institution(t, rtUniv)
	first := hiInstitution(t, b, rtCollege).Accreditations[0].Seq
	second, err := b.Accredit(ctx, admin, rtCollege, AccreditationInput{Sectors: []string{"vocational"}, MaxLevel: 5, ValidFrom: "2020-01-01", ValidUntil: "2030-12-31"})
	if err != nil {
		t.Fatal(err)
	}
	before := b.post(t, college, outcome("L1", "before"))

	refusals := []struct {
		name   string
		inst   string
		seq    uint64
		reason string
		want   Code
	}{
		{"no reason", rtCollege, first, "", CodeInvalid},
		{"unknown institution", "nobody.example", first, "x", CodeNotFound},
		{"no such entry", rtCollege, 999999, "x", CodeNotFound},
		{"an entry that is no accreditation", rtCollege, before, "x", CodeNotFound},
		{"another institution's accreditation", rtUniv, first, "x", CodeNotFound},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			size := b.Ledger().Size()
			_, err := b.WithdrawAccreditation(ctx, regulator, tc.inst, tc.seq, tc.reason)
			rtCode(t, err, tc.want)
			if b.Ledger().Size() != size {
				t.Fatal("a refused withdrawal wrote")
			}
		})
	}

	b.clock.SetDate(t, "2026-08-01")
	w, err := b.WithdrawAccreditation(ctx, regulator, rtCollege, first, "licence revoked")
	if err != nil {
		t.Fatal(err)
	}
	if w.Seq != first || w.Withdrawn == nil || w.Withdrawn.On != "2026-08-01" || w.Withdrawn.Reason != "licence revoked" {
		t.Fatalf("withdrawn accreditation %+v", w)
	}
	_, err = b.WithdrawAccreditation(ctx, admin, rtCollege, first, "again")
	rtCode(t, err, CodeConflict)

	// What was posted before stands; nothing more is admitted under it,
	// even completed long before the withdrawal; the other one still admits.
	if tr := rtTranscript(t, b, "L1"); len(tr.Outcomes) != 1 || tr.Outcomes[0].Seq != before || tr.Outcomes[0].Status != "active" {
		t.Fatalf("transcript after the withdrawal: %+v", tr.Outcomes)
	}
	rtPostRejected(t, b, college, outcome("L1", "after"), CodeNotAccredited)
	old := outcome("L1", "after-but-old")
	old.CompletedOn = "2025-01-10"
	rtPostRejected(t, b, college, old, CodeNotAccredited)
	voc := outcome("L1", "vocational")
	voc.Sector, voc.Level = "vocational", 5
	b.post(t, college, voc)
	if in := hiInstitution(t, b, rtCollege); in.accreditation(second.Seq).Withdrawn != nil {
		t.Fatal("the other accreditation was withdrawn too")
	}
	b.checkReplay(t)
}

func TestLastKeyNotRemovable(t *testing.T) {
	ctx := context.Background()
	b := newTestBank(t)
	b.institution(t, rtCollege) // one key, k1
	if _, err := b.AddKey(ctx, admin, rtCollege, testKey(t, "k2")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.RemoveKey(ctx, admin, rtCollege, rtCollege+"-k1"); err != nil {
		t.Fatalf("remove one of two keys: %v", err)
	}
	size := b.Ledger().Size()
	_, err := b.RemoveKey(ctx, admin, rtCollege, "k2")
	rtCode(t, err, CodeLastKey)
	if b.Ledger().Size() != size {
		t.Fatal("a refused removal wrote")
	}
	if in := hiInstitution(t, b, rtCollege); len(in.Keys) != 1 || in.Keys[0].Kid != "k2" {
		t.Fatalf("keys after the refusal: %+v", in.Keys)
	}
	// Unknown keys are still not found, before the last-key check.
	_, err = b.RemoveKey(ctx, admin, rtCollege, "nope")
	rtCode(t, err, CodeNotFound)
	b.checkReplay(t)
}

// TestOldInstitutionEntriesReplay replays institution entries as written
// before the history was kept: a lift without a reason.
func TestOldInstitutionEntriesReplay(t *testing.T) {
	at := time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)
	entries := []handEntry{
		{TypeInstitutionRegistered, "admin:root", `{"id":"old.example","name":"Old","kind":"university","keys":[]}`},
		{TypeAccredited, "regulator:moe", `{"institution":"old.example","sectors":["degree"],"max_level":8,"valid_from":"2000-01-01","valid_until":"2099-12-31"}`},
		{TypeSuspended, "regulator:moe", `{"institution":"old.example","reason":"audit"}`},
		{TypeReinstated, "admin:root", `{"institution":"old.example"}`},
	}
	rp := replayed(t, handJournal(at, entries))
	in, err := getJSON[Institution](rp.state, instKey("old.example"))
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, h := range in.History {
		events = append(events, h.Event+":"+h.Reason)
	}
	if len(events) != 3 || events[0] != "accredited:" || events[1] != "suspended:audit" || events[2] != "suspension_lifted:" || in.Suspension != nil {
		t.Fatalf("history %v, suspension %+v", events, in.Suspension)
	}
}
