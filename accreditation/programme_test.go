package accreditation

import (
	"context"
	"strings"
	"testing"
)

// Tests of programmes (docs/contract.md section 9): their form, their
// versions and their list.

// acbsProgramme is the bachelor's profile of Korea's Academic Credit Bank
// System at univ.example: 140 credits, 60 in the major (ICT, ISCED-F 06)
// and 30 of general education (generic programmes, arts and humanities,
// social sciences), at most 24 credits a term and 42 a year, at most 30%
// from conversions.
func acbsProgramme() ProgrammeInput {
	return ProgrammeInput{
		ID: "bsc-cs", Institution: rtUniv, Title: "BSc Computer Science", Total: 14000,
		Requirements: []Requirement{
			{ID: "major", Fields: []string{"06"}, Min: 6000},
			{ID: "general", Fields: []string{"00", "02", "03"}, Min: 3000},
		},
		MinLevel: 5, MaxConvertedShare: amountPtr(30),
		PeriodCaps: PeriodCaps{Term: amountPtr(2400), Year: amountPtr(4200)},
		ValidFrom:  "2020-01-01",
	}
}

func TestProgrammeValidation(t *testing.T) {
	until := "2019-12-31"
	bad := "2026-02-30"
	cases := []struct {
		name   string
		change func(p *ProgrammeInput)
		want   string
	}{
		{"bad id", func(p *ProgrammeInput) { p.ID = "bsc cs" }, "id"},
		{"bad institution id", func(p *ProgrammeInput) { p.Institution = "U" }, "institution"},
		{"empty title", func(p *ProgrammeInput) { p.Title = "" }, "title"},
		{"control character in title", func(p *ProgrammeInput) { p.Title = "BSc\x07" }, "title"},
		{"zero total", func(p *ProgrammeInput) { p.Total = 0 }, "total"},
		{"huge total", func(p *ProgrammeInput) { p.Total = maxProgrammeTotal + 1 }, "total"},
		{"no requirement", func(p *ProgrammeInput) { p.Requirements = nil }, "1 to 12 requirements"},
		{"thirteen requirements", func(p *ProgrammeInput) {
			p.Requirements = nil
			for i := range 13 {
				p.Requirements = append(p.Requirements, Requirement{ID: string(rune('a' + i)), Fields: []string{"06"}, Min: 100})
			}
		}, "1 to 12 requirements"},
		{"requirement id twice", func(p *ProgrammeInput) { p.Requirements[1].ID = "major" }, "listed twice"},
		{"bad requirement id", func(p *ProgrammeInput) { p.Requirements[0].ID = "-x" }, "requirements[0].id"},
		{"no field", func(p *ProgrammeInput) { p.Requirements[0].Fields = nil }, "requirements[0].fields"},
		{"unknown field", func(p *ProgrammeInput) { p.Requirements[0].Fields = []string{"17"} }, "requirements[0].fields"},
		{"field twice", func(p *ProgrammeInput) { p.Requirements[1].Fields = []string{"02", "02"} }, "listed twice"},
		{"zero minimum", func(p *ProgrammeInput) { p.Requirements[0].Min = 0 }, "requirements[0].min"},
		{"minimums above the total", func(p *ProgrammeInput) { p.Requirements[0].Min = 12000 }, "add up to 150"},
		{"level 11", func(p *ProgrammeInput) { p.MinLevel = 11 }, "min_level"},
		{"negative level", func(p *ProgrammeInput) { p.MinLevel = -1 }, "min_level"},
		{"share 0", func(p *ProgrammeInput) { p.MaxConvertedShare = amountPtr(0) }, "max_converted_share"},
		{"share above 1", func(p *ProgrammeInput) { p.MaxConvertedShare = amountPtr(101) }, "max_converted_share"},
		{"zero per institution", func(p *ProgrammeInput) { p.MaxPerInstitution = amountPtr(0) }, "max_per_institution"},
		{"zero term cap", func(p *ProgrammeInput) { p.PeriodCaps.Term = amountPtr(0) }, "period_caps.term"},
		{"huge year cap", func(p *ProgrammeInput) { p.PeriodCaps.Year = amountPtr(maxProgrammeTotal + 1) }, "period_caps.year"},
		{"bad valid_from", func(p *ProgrammeInput) { p.ValidFrom = bad }, "valid_from"},
		{"valid_until before valid_from", func(p *ProgrammeInput) { p.ValidUntil = &until }, "before valid_from"},
	}
	b, _, _ := rtSetup(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := acbsProgramme()
			p.Requirements = append([]Requirement(nil), p.Requirements...)
			tc.change(&p)
			size := b.Ledger().Size()
			_, err := b.PublishProgramme(context.Background(), regulator, p)
			rtCode(t, err, CodeInvalid)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %q", err, tc.want)
			}
			if got := b.Ledger().Size(); got != size {
				t.Fatalf("a refused programme wrote %d entries", got-size)
			}
		})
	}
	t.Run("share of exactly 1 and no limits", func(t *testing.T) {
		p := acbsProgramme()
		p.ID, p.MaxConvertedShare, p.PeriodCaps = "open", amountPtr(shareOne), PeriodCaps{}
		if _, err := b.PublishProgramme(context.Background(), regulator, p); err != nil {
			t.Fatal(err)
		}
	})
}

func TestProgrammeVersions(t *testing.T) {
	ctx := context.Background()
	b, _, _ := rtSetup(t)
	p := acbsProgramme()
	v1, err := b.PublishProgramme(ctx, regulator, p)
	if err != nil || v1.Version != 1 {
		t.Fatalf("publish: %+v %v", v1, err)
	}
	p.Total = 13000
	v2, err := b.PublishProgramme(ctx, admin, p)
	if err != nil || v2.Version != 2 || v2.Seq <= v1.Seq {
		t.Fatalf("second version: %+v %v", v2, err)
	}
	t.Run("the institution stays", func(t *testing.T) {
		moved := p
		moved.Institution = rtCollege
		size := b.Ledger().Size()
		_, err := b.PublishProgramme(ctx, regulator, moved)
		rtCode(t, err, CodeConflict)
		if b.Ledger().Size() != size {
			t.Fatal("a refused version was written")
		}
	})
	t.Run("an unregistered institution", func(t *testing.T) {
		other := acbsProgramme()
		other.ID, other.Institution = "ba", "nowhere.example"
		size := b.Ledger().Size()
		_, err := b.PublishProgramme(ctx, regulator, other)
		rtCode(t, err, CodeInvalid)
		if b.Ledger().Size() != size {
			t.Fatal("a refused programme was written")
		}
	})
	for _, tc := range []struct {
		version int
		total   Amount
	}{{0, 13000}, {1, 14000}, {2, 13000}} {
		got, err := b.Programme("bsc-cs", tc.version)
		if err != nil || got.Total != tc.total {
			t.Fatalf("version %d: %+v %v", tc.version, got, err)
		}
	}
	if _, err := b.Programme("bsc-cs", 3); CodeOf(err) != CodeNotFound {
		t.Fatalf("version 3: %v", err)
	}
	if _, err := b.Programme("nothing", 0); CodeOf(err) != CodeNotFound {
		t.Fatalf("unknown programme: %v", err)
	}
	other := acbsProgramme()
	other.ID, other.Institution = "cert-it", rtCollege
	if _, err := b.PublishProgramme(ctx, regulator, other); err != nil {
		t.Fatal(err)
	}
	page, err := b.Programmes("", "", 1)
	if err != nil || len(page.Programmes) != 1 || page.Programmes[0].ID != "bsc-cs" || page.Programmes[0].Version != 2 || page.NextCursor == "" {
		t.Fatalf("first page: %+v %v", page, err)
	}
	page, err = b.Programmes("", page.NextCursor, 1)
	if err != nil || len(page.Programmes) != 1 || page.Programmes[0].ID != "cert-it" || page.NextCursor != "" {
		t.Fatalf("second page: %+v %v", page, err)
	}
	page, err = b.Programmes(rtCollege, "", 10)
	if err != nil || len(page.Programmes) != 1 || page.Programmes[0].ID != "cert-it" {
		t.Fatalf("filtered: %+v %v", page, err)
	}
	b = b.reopen(t)
	if got, err := b.Programme("bsc-cs", 0); err != nil || got.Version != 2 {
		t.Fatalf("after reopening: %+v %v", got, err)
	}
	b.checkReplay(t)
}
