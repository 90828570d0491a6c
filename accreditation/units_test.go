package accreditation

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// Tests of certified units (docs/contract.md section 13): their form,
// their versions, the catalogue, and the check of outcomes posted of them.

// communityUnit is a unit of a community college certified in advance: 32
// hours of digital literacy, 2 cn-credits, level 3.
func communityUnit() CertifiedUnitInput {
	hours := int64(32)
	return CertifiedUnitInput{
		Institution: "community.example", Code: "DL-101", Title: "Digital literacy for everyday life",
		Sector: "community", Level: 3, Field: "0611", Credits: Credits{Amount: 200, System: "cn-credit"}, Hours: &hours,
		ValidFrom: "2026-01-01",
	}
}

func TestCertifiedUnitValidation(t *testing.T) {
	bad := "2026-02-30"
	early := "2025-12-31"
	cases := []struct {
		name   string
		change func(u *CertifiedUnitInput)
		want   string
	}{
		{"bad institution", func(u *CertifiedUnitInput) { u.Institution = "C" }, "institution"},
		{"bad code", func(u *CertifiedUnitInput) { u.Code = "DL 101" }, "code"},
		{"empty title", func(u *CertifiedUnitInput) { u.Title = "" }, "title"},
		{"unknown sector", func(u *CertifiedUnitInput) { u.Sector = "hobby" }, "sector"},
		{"level 0", func(u *CertifiedUnitInput) { u.Level = 0 }, "level"},
		{"level 11", func(u *CertifiedUnitInput) { u.Level = 11 }, "level"},
		{"unknown field", func(u *CertifiedUnitInput) { u.Field = "17" }, "field"},
		{"unknown system", func(u *CertifiedUnitInput) { u.Credits.System = "points" }, "credits.system"},
		{"no credits", func(u *CertifiedUnitInput) { u.Credits.Amount = 0 }, "credits.amount"},
		{"hours 0", func(u *CertifiedUnitInput) { h := int64(0); u.Hours = &h }, "hours"},
		{"hours and credits disagree", func(u *CertifiedUnitInput) { h := int64(500); u.Hours = &h }, "disagree"},
		{"bad valid_from", func(u *CertifiedUnitInput) { u.ValidFrom = bad }, "valid_from"},
		{"bad valid_until", func(u *CertifiedUnitInput) { u.ValidUntil = &bad }, "valid_until"},
		{"until before from", func(u *CertifiedUnitInput) { u.ValidUntil = &early }, "before valid_from"},
	}
	if err := communityUnit().Validate(); err != nil {
		t.Fatalf("the valid unit: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := communityUnit()
			c.change(&u)
			err := u.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want a refusal naming %q", err, c.want)
			}
		})
	}
}

// certifiedOutcome is an outcome of communityUnit as its college posts it.
func certifiedOutcome(learner, key string) OutcomeInput {
	o := outcome(learner, key)
	u := communityUnit()
	o.Unit, o.Sector, o.Level, o.Field, o.Credits, o.Hours = Unit{Code: u.Code, Title: u.Title}, u.Sector, u.Level, u.Field, u.Credits, u.Hours
	o.CompletedOn = "2026-06-20"
	return o
}

func TestCertifiedUnitChecksOutcomes(t *testing.T) {
	ctx := context.Background()
	b := newTestBank(t)
	college := b.institution(t, "community.example")
	other := b.institution(t, "other.example")
	u, err := b.CertifyUnit(ctx, regulator, communityUnit())
	if err != nil {
		t.Fatal(err)
	}
	if u.Version != 1 || u.StandardCredits != 200 {
		t.Fatalf("certified %+v", u)
	}
	cases := []struct {
		name   string
		inst   Actor
		change func(o *OutcomeInput)
		want   Code // "" for created
	}{
		{"as certified", college, func(o *OutcomeInput) {}, ""},
		{"other level", college, func(o *OutcomeInput) { o.Level = 4 }, CodeUnitMismatch},
		{"other field", college, func(o *OutcomeInput) { o.Field = "0613" }, CodeUnitMismatch},
		{"other credits", college, func(o *OutcomeInput) { o.Credits.Amount = 300; o.Hours = nil }, CodeUnitMismatch},
		{"same standard credits in hours", college, func(o *OutcomeInput) {
			o.Credits = Credits{Amount: 3200, System: "hours"}
		}, ""},
		{"failed, as certified", college, func(o *OutcomeInput) { f := false; o.Result = Result{Passed: &f} }, ""},
		{"failed, other level", college, func(o *OutcomeInput) { f := false; o.Result = Result{Passed: &f}; o.Level = 5 }, CodeUnitMismatch},
		{"completed before the unit was valid", college, func(o *OutcomeInput) { o.CompletedOn = "2025-12-31"; o.Level = 4 }, ""},
		{"another code", college, func(o *OutcomeInput) { o.Unit.Code = "DL-102"; o.Level = 4 }, ""},
		{"another institution's unit of that code", other, func(o *OutcomeInput) { o.Level = 4 }, ""},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := certifiedOutcome(fmt.Sprintf("L%d", i), fmt.Sprintf("k%d", i))
			c.change(&o)
			size := b.Ledger().Size()
			res, err := b.PostOutcomes(ctx, c.inst, []OutcomeInput{o})
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case c.want == "" && res[0].Status != PostCreated:
				t.Fatalf("%s %v, want created", res[0].Status, res[0].Err)
			case c.want != "" && (res[0].Status != PostRejected || CodeOf(res[0].Err) != c.want):
				t.Fatalf("%s %v, want rejected %s", res[0].Status, res[0].Err, c.want)
			case c.want != "" && b.Ledger().Size() != size:
				t.Fatalf("a refused outcome wrote %d entries", b.Ledger().Size()-size)
			}
		})
	}

	// In a batch the item that differs is refused and the others stored.
	good, bad := certifiedOutcome("L100", "batch-1"), certifiedOutcome("L101", "batch-2")
	bad.Level = 2
	res, err := b.PostOutcomes(ctx, college, []OutcomeInput{good, bad})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != PostCreated || res[1].Status != PostRejected || CodeOf(res[1].Err) != CodeUnitMismatch {
		t.Fatalf("batch: %s %v / %s %v", res[0].Status, res[0].Err, res[1].Status, res[1].Err)
	}
	if !strings.Contains(res[1].Err.Error(), "level 2, not 3") {
		t.Fatalf("the refusal does not say what differs: %v", res[1].Err)
	}

	// A second version, valid from July, changes what July's outcomes
	// must carry; June's are still checked against the first.
	v2 := communityUnit()
	v2.Level, v2.ValidFrom = 4, "2026-07-01"
	if u, err = b.CertifyUnit(ctx, regulator, v2); err != nil || u.Version != 2 {
		t.Fatalf("version 2: %+v %v", u, err)
	}
	june, july := certifiedOutcome("L200", "v-june"), certifiedOutcome("L201", "v-july")
	july.CompletedOn = "2026-07-02"
	res, err = b.PostOutcomes(ctx, college, []OutcomeInput{june, july})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != PostCreated || res[1].Status != PostRejected {
		t.Fatalf("versions: %s %v / %s %v", res[0].Status, res[0].Err, res[1].Status, res[1].Err)
	}
	b.checkReplay(t)
}

func TestCertifiedUnitRefusesUnknownInstitution(t *testing.T) {
	b := newTestBank(t)
	if _, err := b.CertifyUnit(context.Background(), regulator, communityUnit()); CodeOf(err) != CodeInvalid {
		t.Fatalf("got %v, want invalid", err)
	}
}

func TestUnitCatalogue(t *testing.T) {
	ctx := context.Background()
	b := newTestBank(t)
	b.institution(t, "community.example")
	b.institution(t, "elderly.example")
	for i, spec := range []struct {
		inst, code, field string
		level             int
	}{
		{"community.example", "A1", "0611", 3}, {"community.example", "A2", "0213", 2},
		{"community.example", "A3", "0612", 3}, {"elderly.example", "E1", "0611", 3},
		{"elderly.example", "E2", "0915", 1},
	} {
		u := communityUnit()
		u.Institution, u.Code, u.Field, u.Level = spec.inst, spec.code, spec.field, spec.level
		if _, err := b.CertifyUnit(ctx, regulator, u); err != nil {
			t.Fatalf("unit %d: %v", i, err)
		}
	}
	list := func(f UnitFilter, limit int) []string {
		t.Helper()
		var got []string
		cursor := ""
		for range 10 {
			page, err := b.Units(f, cursor, limit)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range page.Units {
				got = append(got, u.Institution+"/"+u.Code)
			}
			if cursor = page.NextCursor; cursor == "" {
				return got
			}
		}
		t.Fatal("the listing does not end")
		return nil
	}
	cases := []struct {
		name string
		f    UnitFilter
		want string
	}{
		{"all", UnitFilter{}, "community.example/A1 community.example/A2 community.example/A3 elderly.example/E1 elderly.example/E2"},
		{"institution", UnitFilter{Institution: "elderly.example"}, "elderly.example/E1 elderly.example/E2"},
		{"field prefix", UnitFilter{Field: "061"}, "community.example/A1 community.example/A3 elderly.example/E1"},
		{"level", UnitFilter{Level: 3}, "community.example/A1 community.example/A3 elderly.example/E1"},
		{"together", UnitFilter{Institution: "community.example", Field: "06", Level: 3}, "community.example/A1 community.example/A3"},
		{"none", UnitFilter{Level: 9}, ""},
	}
	for _, c := range cases {
		for _, limit := range []int{1, 2, 100} {
			t.Run(fmt.Sprintf("%s/limit %d", c.name, limit), func(t *testing.T) {
				if got := strings.Join(list(c.f, limit), " "); got != c.want {
					t.Fatalf("got %q, want %q", got, c.want)
				}
			})
		}
	}
	page, err := b.Units(UnitFilter{Level: 3}, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Units(UnitFilter{Level: 2}, page.NextCursor, 1); err == nil {
		t.Fatal("a cursor continued under another filter")
	}
	for _, f := range []UnitFilter{{Institution: "X"}, {Field: "6"}, {Field: "06a"}, {Level: 11}} {
		if _, err := b.Units(f, "", 10); CodeOf(err) != CodeBadParameter {
			t.Fatalf("filter %+v: got %v, want bad-parameter", f, err)
		}
	}
	got, err := b.CertifiedUnit("elderly.example", "E2", 0)
	if err != nil || got.Level != 1 {
		t.Fatalf("read back: %+v %v", got, err)
	}
	if _, err := b.CertifiedUnit("elderly.example", "E2", 2); CodeOf(err) != CodeNotFound {
		t.Fatalf("version 2: %v", err)
	}
}
