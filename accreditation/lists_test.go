package accreditation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"creditbank/ledger"
)

// TestInstitutionsList: the list holds every institution in id order with
// its accreditations and suspension, page by page, as the state holds it.
func TestInstitutionsList(t *testing.T) {
	b := newTestBank(t)
	ctx := context.Background()
	ids := []string{"zeta.example", "alpha.example", "mid.example", "beta.example", "omega.example"}
	for _, id := range ids {
		b.institution(t, id)
	}
	if _, err := b.Suspend(ctx, regulator, "mid.example", "inspection"); err != nil {
		t.Fatal(err)
	}
	// beta holds a second accreditation, withdrawn: the list leaves it out.
	second, err := b.Accredit(ctx, regulator, "beta.example", AccreditationInput{Sectors: []string{"degree"}, MaxLevel: 6, ValidFrom: "2020-01-01", ValidUntil: "2030-12-31"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.WithdrawAccreditation(ctx, regulator, "beta.example", second.Seq, "programme closed"); err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(ids))
	for _, limit := range []int{1, 2, 5, 100} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			var got []string
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > len(ids) {
					t.Fatal("too many pages")
				}
				page, err := b.Institutions(cursor, limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Institutions) > limit {
					t.Fatalf("%d institutions on a page of %d", len(page.Institutions), limit)
				}
				for _, in := range page.Institutions {
					got = append(got, in.ID)
					full, err := b.Institution(in.ID)
					if err != nil {
						t.Fatal(err)
					}
					if in.Name != full.Name || in.Kind != full.Kind || in.Seq != full.Seq ||
						len(in.Accreditations) != 1 || in.Accreditations[0].Seq != full.Accreditations[0].Seq ||
						(in.Suspension != nil) != (in.ID == "mid.example") {
						t.Errorf("listed %+v, the institution is %+v", in, full)
					}
				}
				if page.NextCursor == "" {
					break
				}
				cursor = page.NextCursor
			}
			if !slices.Equal(got, want) {
				t.Fatalf("listed %v, want %v", got, want)
			}
		})
	}
	for _, bad := range []string{"x", formatListCursor('r', "alpha.example", nil), formatListCursor('i', "Not/An/Id", nil), ledger.FormatCursor(3)} {
		if _, err := b.Institutions(bad, 10); !errors.Is(err, ledger.ErrBadCursor) {
			t.Errorf("cursor %q: error %v, want a bad cursor", bad, err)
		}
	}
}

// TestRulesList: the list holds each rule once, at its latest version, with
// retired ones marked, and the filters select by target and by whether the
// rule is in force on the date asked about.
func TestRulesList(t *testing.T) {
	b, _, _ := rtSetup(t)
	ctx := context.Background()
	b.institution(t, "other.example")
	publish := func(id, inst, prog, from string) {
		r := rtRule(id, prog)
		r.Target.Institution, r.ValidFrom = inst, from
		rtPublish(t, b, r)
	}
	publish("r-a", rtUniv, "BSC", "2026-01-01")
	publish("r-b", rtUniv, "BA", "2026-01-01")
	publish("r-c", "other.example", "BSC", "2026-01-01")
	publish("r-d", rtUniv, "BSC", "2027-01-01") // not yet valid
	publish("r-e", rtUniv, "BSC", "2026-01-01")
	publish("r-a", rtUniv, "BSC", "2026-02-01") // version 2
	if _, err := b.RetireRule(ctx, regulator, "r-e", "replaced by r-a"); err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	cases := []struct {
		name   string
		filter RuleFilter
		want   []string
	}{
		{"all", RuleFilter{}, []string{"r-a", "r-b", "r-c", "r-d", "r-e"}},
		{"target institution", RuleFilter{TargetInstitution: rtUniv}, []string{"r-a", "r-b", "r-d", "r-e"}},
		{"programme", RuleFilter{Programme: "BSC"}, []string{"r-a", "r-c", "r-d", "r-e"}},
		{"target institution and programme", RuleFilter{TargetInstitution: rtUniv, Programme: "BSC"}, []string{"r-a", "r-d", "r-e"}},
		{"active", RuleFilter{Active: &yes}, []string{"r-a", "r-b", "r-c"}},
		{"not active", RuleFilter{Active: &no}, []string{"r-d", "r-e"}},
		{"active a year on", RuleFilter{Active: &yes, Today: "2027-06-01"}, []string{"r-a", "r-b", "r-c", "r-d"}},
		{"nothing", RuleFilter{Programme: "PHD"}, nil},
	}
	for _, tc := range cases {
		if tc.filter.Today == "" {
			tc.filter.Today = "2026-07-15"
		}
		for _, limit := range []int{1, 2, 100} {
			t.Run(fmt.Sprintf("%s/limit %d", tc.name, limit), func(t *testing.T) {
				var got []string
				cursor := ""
				for pages := 0; ; pages++ {
					if pages > 10 {
						t.Fatal("too many pages")
					}
					page, err := b.Rules(tc.filter, cursor, limit)
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range page.Rules {
						got = append(got, r.ID)
						checkListedRule(t, b, r, tc.filter.Today)
					}
					if page.NextCursor == "" {
						break
					}
					cursor = page.NextCursor
				}
				if !slices.Equal(got, tc.want) {
					t.Fatalf("listed %v, want %v", got, tc.want)
				}
			})
		}
	}
	t.Run("cursors keep their filter", func(t *testing.T) {
		f := RuleFilter{Programme: "BSC", Today: "2026-07-15"}
		page, err := b.Rules(f, "", 1)
		if err != nil || page.NextCursor == "" {
			t.Fatalf("%+v %v", page, err)
		}
		next, err := b.Rules(RuleFilter{Today: "2026-07-15"}, page.NextCursor, 1)
		if err != nil || len(next.Rules) != 1 || next.Rules[0].ID != "r-c" {
			t.Fatalf("the cursor alone continued with %+v %v, want r-c", next, err)
		}
		if _, err := b.Rules(RuleFilter{Programme: "BA", Today: "2026-07-15"}, page.NextCursor, 1); !errors.Is(err, ledger.ErrBadCursor) {
			t.Fatalf("another filter with the cursor: %v, want a bad cursor", err)
		}
	})
	t.Run("bad values", func(t *testing.T) {
		for _, f := range []RuleFilter{{TargetInstitution: "UPPER"}, {Programme: "has space"}} {
			_, err := b.Rules(f, "", 10)
			rtCode(t, err, CodeBadParameter)
		}
	})
	b.checkReplay(t)
}

// checkListedRule compares a listed rule with what GET /v1/rules/{id} reads.
func checkListedRule(t *testing.T, b *testBank, r ListedRule, today string) {
	t.Helper()
	rule, retired, retirement, err := b.RuleStatus(r.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != rule.Version || r.Seq != rule.Seq || r.Retired != retired || (r.Retirement == nil) != (retirement == nil) {
		t.Errorf("listed %+v, the rule is %+v retired %t", r, rule, retired)
	}
	if active := !retired && rule.validOn(today) == nil; r.Active != active {
		t.Errorf("rule %s listed active %t on %s, want %t", r.ID, r.Active, today, active)
	}
}

// TestAuditFilterParameters: the audit listing refuses filter values that no
// rule, institution or date can have, naming the parameter.
func TestAuditFilterParameters(t *testing.T) {
	b := newTestBank(t)
	for _, f := range []AuditFilter{{Rule: "Bad Rule"}, {Institution: "UPPER.example"}, {From: "2026-13-01"}, {To: "soon"}} {
		_, err := b.AuditConversions(f, "", 10)
		rtCode(t, err, CodeBadParameter)
	}
}

// TestRulesListScanBound: a page looks at no more than listScanLimit rules;
// one that finds nothing within them is empty but carries the cursor that
// goes on, and the pages together still list every match.
func TestRulesListScanBound(t *testing.T) {
	b, _, _ := rtSetup(t)
	for i := range 5 {
		prog := "BA"
		if i == 4 {
			prog = "BSC"
		}
		rtPublish(t, b, rtRule(fmt.Sprintf("scan-%d", i), prog))
	}
	old := listScanLimit
	listScanLimit = 2
	t.Cleanup(func() { listScanLimit = old })
	f := RuleFilter{Programme: "BSC", Today: "2026-07-15"}
	page, err := b.Rules(f, "", 100)
	if err != nil || len(page.Rules) != 0 || page.NextCursor == "" {
		t.Fatalf("first page %+v %v, want no rule and a cursor", page, err)
	}
	var got []string
	for pages := 1; page.NextCursor != ""; pages++ {
		if pages > 5 {
			t.Fatal("too many pages")
		}
		if page, err = b.Rules(f, page.NextCursor, 100); err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Rules {
			got = append(got, r.ID)
		}
	}
	if !slices.Equal(got, []string{"scan-4"}) {
		t.Fatalf("listed %v, want [scan-4]", got)
	}
}
