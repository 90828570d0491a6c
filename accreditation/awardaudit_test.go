package accreditation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"creditbank/ledger"
)

// Tests of the award audit and of conversions toward a programme on a
// real bank (docs/contract.md section 9).

// pgCourse is an outcome of learner L1: a unit of 3 credits (cn-credit,
// so 3 standard credits) unless amount says otherwise, of field and level,
// completed on date.
func pgCourse(key, code, field string, level int, amount Amount, date string) OutcomeInput {
	o := adUnit("L1", key, code, amount)
	o.Field, o.Level, o.CompletedOn, o.Sector = field, level, date, "degree"
	return o
}

// pgPostTerm posts n courses of the field, 3 credits each, completed on
// date, and returns their seqs.
func pgPostTerm(t *testing.T, b *testBank, inst Actor, prefix, field string, n int, date string) []uint64 {
	t.Helper()
	var seqs []uint64
	for i := range n {
		key := fmt.Sprintf("%s-%s-%d", prefix, date, i)
		seqs = append(seqs, b.post(t, inst, pgCourse(key, fmt.Sprintf("%s%d-%s", prefix, i, date), field, 6, 300, date)))
	}
	return seqs
}

func pgAudit(t *testing.T, b *testBank) ProgrammeAudit {
	t.Helper()
	a, err := b.AuditProgramme(context.Background(), "L1", "bsc-cs")
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	return a
}

// TestAuditACBSBachelor works the ACBS bachelor's profile (acbsProgramme:
// 140 credits, major 06 ≥ 60, general 00/02/03 ≥ 30, 24 a term, 42 a
// year, 30% from conversions, level 5 and up) through a learner who
// studied at a college in 2020–2021 and converts that, then studies at
// the university from 2022. The figures are the ones a person computes by
// hand.
func TestAuditACBSBachelor(t *testing.T) {
	ctx := context.Background()
	b, college, univ := rtSetup(t)
	if _, err := b.PublishProgramme(ctx, regulator, acbsProgramme()); err != nil {
		t.Fatal(err)
	}
	rule := rtRule("college-to-bsc", "bsc-cs")
	rule.Cap = amountPtr(6000) // the rule allows 60; the programme's share, 42
	rtPublish(t, b, rule)
	if _, err := b.PublishEquivalence(ctx, regulator, EquivalenceInput{ID: "networks",
		Units: []UnitRef{{rtCollege, "NET101"}, {rtUniv, "CS210"}}, ValidFrom: "2020-01-01"}); err != nil {
		t.Fatal(err)
	}

	// At the college:
	//   2020-H2  five ICT courses (0613)                 3 × 5 = 15
	//   2021-H1  four ICT courses (0612) and NET101 (0612) 3 × 5 = 15,
	//            and one at level 4                       3 (below level 5)
	//   2021-H2  general (0231): three of 3 and one of 4   13, and one of 3
	pgPostTerm(t, b, college, "CM", "0613", 5, "2020-12-10")
	pgPostTerm(t, b, college, "CN", "0612", 4, "2021-06-10")
	net101 := b.post(t, college, pgCourse("net101", "NET101", "0612", 6, 300, "2021-06-10"))
	low := b.post(t, college, pgCourse("low", "CL1", "0613", 4, 300, "2021-06-10"))
	gen := pgPostTerm(t, b, college, "CG", "0231", 3, "2021-12-10")
	g4 := b.post(t, college, pgCourse("g4", "CG4", "0231", 6, 400, "2021-12-10"))
	g5 := b.post(t, college, pgCourse("g5", "CG5", "0231", 6, 300, "2021-12-10"))

	// One conversion of everything: 30% of 140 is 42. In seq order the
	// 2020 and 2021-H1 courses grant 15 + 15 = 30, the level-4 course
	// nothing, the three general ones 9 (39), the one of 4 only 3 (42,
	// cut by the share) and the last nothing.
	req := ConversionRequest{Learner: "L1", Rule: "college-to-bsc"}
	pv, err := b.Preview(admin, req)
	if err != nil {
		t.Fatal(err)
	}
	c := rtConvert(t, b, admin, req)
	if c.Granted != 4200 || len(c.Items) != 14 || c.Capped {
		t.Fatalf("conversion granted %s in %d items (capped %t)", c.Granted, len(c.Items), c.Capped)
	}
	if last := c.Items[13]; last.Outcome != g4 || last.Granted != 300 || last.Limit != LimitShare {
		t.Fatalf("the item cut by the share: %+v", last)
	}
	rtWantReasons(t, c.Ineligible, []Ineligible{{Outcome: low, Reason: ReasonProgrammeLimit}, {Outcome: g5, Reason: ReasonProgrammeLimit}})
	if !slices.Equal(pv.Items, c.Items) || pv.Granted != c.Granted || !slices.Equal(pv.Ineligible, c.Ineligible) {
		t.Fatalf("preview %+v, conversion %+v", pv, c)
	}
	_ = gen

	// At the university, level 6, 3 credits each:
	//   2022-H1  5 major + 3 general = 24            (term at its cap)
	//   2022-H2  5 major + 2 general = 21; the year offers 45, counts 42
	//   2023-H1  7 major + 3 general = 30, the term counts 24
	//   2023-H2  4 major + 2 general = 18; the year 24 + 18 = 42
	//   2024-H1  CS210 (equivalent to NET101, which counts) + 3 major = 9
	first2022 := pgPostTerm(t, b, univ, "UM", "0613", 5, "2022-06-20")
	pgPostTerm(t, b, univ, "UG", "0231", 3, "2022-06-20")
	pgPostTerm(t, b, univ, "UM", "0613", 5, "2022-12-15")
	pgPostTerm(t, b, univ, "UG", "0311", 2, "2022-12-15")
	pgPostTerm(t, b, univ, "UM", "0613", 7, "2023-06-20")
	pgPostTerm(t, b, univ, "UG", "0231", 3, "2023-06-20")
	pgPostTerm(t, b, univ, "UM", "0613", 4, "2023-12-15")
	pgPostTerm(t, b, univ, "UG", "0011", 2, "2023-12-15")
	cs210 := b.post(t, univ, pgCourse("cs210", "CS210", "0612", 6, 300, "2024-06-20"))
	pgPostTerm(t, b, univ, "UM", "0613", 3, "2024-06-20")

	// Total: 2020 15; 2021 15 + 12 = 27; 2022 42; 2023 42; 2024 9: 135.
	// Major alone: 15 + 15 + (15 + 15) + (21 + 12) + 9 = 102 ≥ 60.
	// General alone: 12 + (9 + 6) + (9 + 6) = 42 ≥ 30.
	a := pgAudit(t, b)
	want := struct {
		total, major, general, converted Amount
		eligible                         bool
	}{13500, 10200, 4200, 4200, false}
	if a.Total.Earned != want.total || a.Requirements[0].Earned != want.major || a.Requirements[1].Earned != want.general ||
		a.Converted != want.converted || a.Eligible != want.eligible {
		t.Fatalf("audit: total %s, major %s, general %s, converted %s, eligible %t\n%s", a.Total.Earned, a.Requirements[0].Earned,
			a.Requirements[1].Earned, a.Converted, a.Eligible, a.Summary)
	}
	if len(a.Missing) != 1 || a.Missing[0].Kind != ShortTotal || a.Missing[0].Short != 500 {
		t.Fatalf("missing %+v", a.Missing)
	}
	if !strings.Contains(a.Summary, "135 of 140") || !strings.Contains(a.Summary, "5 credits in all") {
		t.Fatalf("summary %q", a.Summary)
	}
	wantLimits := []LimitAudit{
		{Cap: CapYear, Period: "2022", Limit: 4200, Offered: 4500, Counted: 4200},
		{Cap: CapTerm, Period: "2023-H1", Limit: 2400, Offered: 3000, Counted: 2400},
	}
	if !slices.Equal(a.Limits, wantLimits) {
		t.Fatalf("limits %+v, want %+v", a.Limits, wantLimits)
	}
	notCounted := map[uint64]string{}
	for _, it := range a.NotCounted {
		notCounted[it.Outcome] = it.Reason
		if it.Outcome == cs210 && it.Of != net101 {
			t.Fatalf("CS210 gives way to %d, not NET101 (%d)", it.Of, net101)
		}
	}
	if len(notCounted) != 1 || notCounted[cs210] != ReasonEquivalentUsed {
		t.Fatalf("not counted: %v", notCounted)
	}

	// 2024-H2: a retake of a 2022 unit (a duplicate: it does not count)
	// and 2 more major courses: 135 + 6 = 141, eligible.
	retake := pgCourse("retake", "UM0-2022-06-20", "0613", 6, 300, "2024-12-15")
	dup := b.post(t, univ, retake)
	pgPostTerm(t, b, univ, "UM", "0613", 2, "2024-12-15")
	a = pgAudit(t, b)
	if a.Total.Earned != 14100 || !a.Eligible || len(a.Missing) != 0 {
		t.Fatalf("after 2024-H2: total %s, eligible %t, missing %+v", a.Total.Earned, a.Eligible, a.Missing)
	}
	if i := slices.IndexFunc(a.NotCounted, func(it AuditItem) bool { return it.Outcome == dup }); i < 0 ||
		a.NotCounted[i].Reason != ReasonDuplicate || a.NotCounted[i].Of != first2022[0] {
		t.Fatalf("the retake: %+v", a.NotCounted)
	}
	if !strings.HasPrefix(a.Summary, "Eligible for BSc Computer Science: 141 credits count") {
		t.Fatalf("summary %q", a.Summary)
	}
	// Each requirement lists what counts under it, adding up to its
	// earned amount; the converted items are named by their conversion.
	for _, r := range a.Requirements {
		var sum Amount
		for _, it := range r.Items {
			sum += *it.Counted
			if it.Source == SourceConversion && it.Conversion != c.Seq {
				t.Fatalf("converted item %+v names another conversion", it)
			}
		}
		if sum != r.Earned {
			t.Fatalf("requirement %s lists %s, earns %s", r.ID, sum, r.Earned)
		}
	}
	b.checkReplay(t)
}

// pgLimitSetup is a bank with a programme bsc at univ.example changed by
// change, a permissive rule toward it, and the college and a second
// source institution.
func pgLimitSetup(t *testing.T, change func(p *ProgrammeInput)) (*testBank, Actor, Actor, Actor) {
	t.Helper()
	b, college, univ := rtSetup(t)
	open := b.institution(t, "open.example")
	p := ProgrammeInput{ID: "bsc", Institution: rtUniv, Title: "BSc", Total: 10000,
		Requirements: []Requirement{{ID: "major", Fields: []string{"06"}, Min: 3000}}, ValidFrom: "2020-01-01"}
	change(&p)
	if _, err := b.PublishProgramme(context.Background(), regulator, p); err != nil {
		t.Fatal(err)
	}
	rtPublish(t, b, rtRule("to-bsc", "bsc"))
	return b, college, univ, open
}

func TestConversionProgrammeLimits(t *testing.T) {
	type granted struct {
		amount Amount
		limit  string
	}
	cases := []struct {
		name   string
		change func(p *ProgrammeInput)
		// post posts the learner's outcomes and returns those to convert.
		post func(t *testing.T, b *testBank, college, univ, open Actor) []uint64
		rule *Amount // the rule's cap
		want []granted
	}{
		{"share of the total", func(p *ProgrammeInput) { p.MaxConvertedShare = amountPtr(5) }, // 5% of 100 = 5
			func(t *testing.T, b *testBank, college, _, _ Actor) []uint64 {
				return pgPostTerm(t, b, college, "C", "0613", 3, "2025-03-01")
			}, nil, []granted{{300, ""}, {200, LimitShare}, {0, ""}}},
		{"per source institution", func(p *ProgrammeInput) { p.MaxPerInstitution = amountPtr(400) },
			func(t *testing.T, b *testBank, college, _, open Actor) []uint64 {
				s := pgPostTerm(t, b, college, "C", "0613", 2, "2025-03-01")
				return append(s, pgPostTerm(t, b, open, "O", "0613", 1, "2025-03-01")...)
			}, nil, []granted{{300, ""}, {100, LimitInstitution}, {300, ""}}},
		{"term cap, with what counts directly", func(p *ProgrammeInput) { p.PeriodCaps.Term = amountPtr(800) },
			func(t *testing.T, b *testBank, college, univ, _ Actor) []uint64 {
				pgPostTerm(t, b, univ, "U", "0613", 1, "2025-02-01") // 3 of the term's 8
				s := pgPostTerm(t, b, college, "C", "0613", 2, "2025-03-01")
				return append(s, pgPostTerm(t, b, college, "D", "0613", 1, "2025-09-01")...)
			}, nil, []granted{{300, ""}, {200, LimitTerm}, {300, ""}}},
		{"year cap across terms", func(p *ProgrammeInput) { p.PeriodCaps.Year = amountPtr(500) },
			func(t *testing.T, b *testBank, college, _, _ Actor) []uint64 {
				s := pgPostTerm(t, b, college, "C", "0613", 1, "2025-03-01")
				s = append(s, pgPostTerm(t, b, college, "D", "0613", 2, "2025-09-01")...)
				return append(s, pgPostTerm(t, b, college, "E", "0613", 1, "2024-09-01")...)
			}, nil, []granted{{300, ""}, {200, LimitYear}, {0, ""}, {300, ""}}},
		{"minimum level", func(p *ProgrammeInput) { p.MinLevel = 7 },
			func(t *testing.T, b *testBank, college, _, _ Actor) []uint64 {
				hi := pgCourse("hi", "HI", "0613", 7, 300, "2025-03-01")
				return []uint64{b.post(t, college, pgCourse("lo", "LO", "0613", 6, 300, "2025-03-01")), b.post(t, college, hi)}
			}, nil, []granted{{0, ""}, {300, ""}}},
		{"the programme's own outcomes count directly", func(p *ProgrammeInput) {},
			func(t *testing.T, b *testBank, college, univ, _ Actor) []uint64 {
				return []uint64{b.post(t, univ, pgCourse("own", "OWN", "0613", 6, 300, "2025-03-01")),
					b.post(t, college, pgCourse("other", "OTHER", "0613", 6, 300, "2025-03-01"))}
			}, nil, []granted{{0, ""}, {300, ""}}},
		{"the rule's own cap still applies", func(p *ProgrammeInput) { p.MaxConvertedShare = amountPtr(5) },
			func(t *testing.T, b *testBank, college, _, _ Actor) []uint64 {
				return pgPostTerm(t, b, college, "C", "0613", 2, "2025-03-01")
			}, amountPtr(400), []granted{{300, ""}, {100, ""}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, college, univ, open := pgLimitSetup(t, tc.change)
			if tc.rule != nil {
				r := rtRule("to-bsc", "bsc")
				r.Cap = tc.rule
				rtPublish(t, b, r)
			}
			seqs := tc.post(t, b, college, univ, open)
			req := ConversionRequest{Learner: "L1", Rule: "to-bsc", Outcomes: seqs}
			pv, err := b.Preview(admin, req)
			if err != nil {
				t.Fatal(err)
			}
			c := rtConvert(t, b, admin, req)
			if !slices.Equal(pv.Items, c.Items) || !slices.Equal(pv.Ineligible, c.Ineligible) {
				t.Fatalf("preview %+v / %+v, conversion %+v / %+v", pv.Items, pv.Ineligible, c.Items, c.Ineligible)
			}
			for i, seq := range seqs {
				w := tc.want[i]
				j := slices.IndexFunc(c.Items, func(it ConversionItem) bool { return it.Outcome == seq })
				switch {
				case w.amount == 0 && j >= 0:
					t.Fatalf("outcome %d granted %+v, want nothing", seq, c.Items[j])
				case w.amount == 0 && !slices.Contains(c.Ineligible, Ineligible{Outcome: seq, Reason: ReasonProgrammeLimit}):
					t.Fatalf("outcome %d: reasons %s, want %s", seq, rtReasons(c.Ineligible), ReasonProgrammeLimit)
				case w.amount != 0 && (j < 0 || c.Items[j].Granted != w.amount || c.Items[j].Limit != w.limit):
					t.Fatalf("outcome %d: items %+v, want %s (limit %q)", seq, c.Items, w.amount, w.limit)
				}
			}
			b.checkReplay(t)
		})
	}
}

// TestConversionProgrammeVersion: the limits are the latest version's,
// and a programme not valid on the date limits nothing.
func TestConversionProgrammeVersion(t *testing.T) {
	ctx := context.Background()
	b, college, _, _ := pgLimitSetup(t, func(p *ProgrammeInput) { p.MaxConvertedShare = amountPtr(3) })
	seqs := pgPostTerm(t, b, college, "C", "0613", 3, "2025-03-01")
	if c := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "to-bsc", Outcomes: seqs[:1]}); c.Granted != 300 {
		t.Fatalf("first: %+v", c)
	}
	_, err := b.Convert(ctx, admin, ConversionRequest{Learner: "L1", Rule: "to-bsc", Outcomes: seqs[1:2]})
	rtWantReasons(t, rtNotEligible(t, err), []Ineligible{{Outcome: seqs[1], Reason: ReasonProgrammeLimit}})
	p, err := b.Programme("bsc", 0)
	if err != nil {
		t.Fatal(err)
	}
	p.MaxConvertedShare = amountPtr(6)
	if _, err := b.PublishProgramme(ctx, regulator, p.ProgrammeInput); err != nil {
		t.Fatal(err)
	}
	if c := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "to-bsc", Outcomes: seqs[1:2]}); c.Granted != 300 {
		t.Fatalf("under version 2: %+v", c)
	}
	until := "2025-12-31"
	p.ValidUntil = &until
	if _, err := b.PublishProgramme(ctx, regulator, p.ProgrammeInput); err != nil {
		t.Fatal(err)
	}
	if c := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "to-bsc", Outcomes: seqs[2:]}); c.Granted != 300 || c.Items[0].Limit != "" {
		t.Fatalf("with the programme no longer valid: %+v", c)
	}
	b.checkReplay(t)
}

// TestUnitCodeOfEntry: the unit code read where the bank writes it is the
// code of the whole decoded outcome, for sealed outcomes with a title full
// of JSON-looking text and for each unit code form, and an entry that is
// no outcome is refused as such.
func TestUnitCodeOfEntry(t *testing.T) {
	b := newTestBank(t)
	inst := b.institution(t, "college.example")
	var seqs []uint64
	for i, code := range []string{"CS101", "a.b-c_d", strings.Repeat("Z", 64), "9"} {
		o := outcome("L1", fmt.Sprintf("k-%d", i))
		o.Unit = Unit{Code: code, Title: `a title with ,"unit":{"code":"X"} inside`}
		seqs = append(seqs, b.post(t, inst, o))
	}
	err := b.Ledger().Read(func(r *ledger.Reader) error {
		for _, seq := range seqs {
			o, _, _, err := loadOutcomeEntry(r.Entry, seq)
			if err != nil {
				return err
			}
			got, err := unitCodeOfEntry(r.Entry, seq)
			if err != nil || got != o.Unit.Code {
				t.Errorf("outcome %d: unit code %q (%v), want %q", seq, got, err, o.Unit.Code)
			}
		}
		if _, err := unitCodeOfEntry(r.Entry, 0); !errors.Is(err, errNotOutcome) {
			t.Errorf("entry 0: %v, want errNotOutcome", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
