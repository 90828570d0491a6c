package accreditation

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Tests of the statistics (statistics.go): what each entry counts, the
// filters, and that they are state a restart and a replay keep.

// stPost posts o as inst and returns its seq.
func stPost(t *testing.T, b *testBank, inst Actor, key, sector string, level int, completed string, hours int64, passed bool) uint64 {
	t.Helper()
	o := outcome("L1", key)
	o.Sector, o.Level, o.CompletedOn, o.Hours = sector, level, completed, &hours
	o.Credits.Amount = Amount(hours * 100 / 16)
	o.Result.Passed = &passed
	return b.post(t, inst, o)
}

// stRows indexes a statistics answer by institution/month/sector/level.
func stRows(st *Statistics) map[string]StatisticsCounts {
	out := map[string]StatisticsCounts{}
	for _, r := range st.Rows {
		out[strings.Join([]string{r.Institution, r.Month, r.Sector, strconv.Itoa(r.Level)}, "/")] = r.StatisticsCounts
	}
	return out
}

func TestStatistics(t *testing.T) {
	ctx := context.Background()
	b, college, univ := rtSetup(t)
	o1 := stPost(t, b, college, "o1", "non_degree", 6, "2026-07-01", 48, true) // 3 standard credits
	stPost(t, b, college, "o2", "non_degree", 6, "2026-07-02", 48, false)      // failed: 0
	o3 := stPost(t, b, college, "o3", "vocational", 5, "2026-06-10", 32, true) // 2
	stPost(t, b, univ, "o4", "degree", 7, "2025-12-31", 80, true)              // 5
	if _, err := b.Revoke(ctx, regulator, o3, "entered in error"); err != nil {
		t.Fatal(err)
	}
	rule := rtRule("half", "BSC")
	rule.Ratio = 5000
	rtPublish(t, b, rule)
	rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "half", Outcomes: []uint64{o1}}) // 1.5, dated 2026-07-15
	o5 := outcome("L1", "o5")
	hours := int64(64)
	o5.CompletedOn, o5.Hours, o5.Supersedes = "2026-07-05", &hours, &o1 // 4 standard credits; the item moves to it
	b.post(t, college, o5)

	want := map[string]StatisticsCounts{
		"college.example/2026-07/non_degree/6": {OutcomesActive: 2, OutcomesRevoked: 1, StandardCredits: 400, Conversions: 1, Granted: 200},
		"college.example/2026-06/vocational/5": {OutcomesRevoked: 1},
		"univ.example/2025-12/degree/7":        {OutcomesActive: 1, StandardCredits: 500},
	}
	all, err := b.Statistics(StatisticsFilter{})
	if err != nil {
		t.Fatal(err)
	}
	got := stRows(all)
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %+v, want %+v", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("rows %v, want %d", got, len(want))
	}
	if tot := all.Totals; tot != (StatisticsCounts{OutcomesActive: 3, OutcomesRevoked: 2, StandardCredits: 900, Conversions: 1, Granted: 200}) {
		t.Errorf("totals %+v", tot)
	}
	if all.Rows[0].Institution != "college.example" || all.Rows[0].Month != "2026-06" {
		t.Errorf("rows not in institution, month order: %+v", all.Rows)
	}

	for _, tc := range []struct {
		name string
		f    StatisticsFilter
		keys []string
	}{
		{"institution", StatisticsFilter{Institution: "univ.example"}, []string{"univ.example/2025-12/degree/7"}},
		{"institution no one has", StatisticsFilter{Institution: "nobody.example"}, nil},
		{"sector", StatisticsFilter{Sector: "vocational"}, []string{"college.example/2026-06/vocational/5"}},
		{"from", StatisticsFilter{From: "2026-07"}, []string{"college.example/2026-07/non_degree/6"}},
		{"to", StatisticsFilter{To: "2026-06"}, []string{"college.example/2026-06/vocational/5", "univ.example/2025-12/degree/7"}},
		{"one month", StatisticsFilter{From: "2025-12", To: "2025-12"}, []string{"univ.example/2025-12/degree/7"}},
		{"all of them", StatisticsFilter{Institution: "college.example", Sector: "non_degree", From: "2026-01", To: "2026-12"},
			[]string{"college.example/2026-07/non_degree/6"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := b.Statistics(tc.f)
			if err != nil {
				t.Fatal(err)
			}
			rows := stRows(st)
			if len(rows) != len(tc.keys) {
				t.Fatalf("rows %v, want %v", rows, tc.keys)
			}
			for _, k := range tc.keys {
				if rows[k] != want[k] {
					t.Errorf("%s: %+v, want %+v", k, rows[k], want[k])
				}
			}
		})
	}
	b.checkReplay(t)
}

func TestStatisticsFilterRefused(t *testing.T) {
	b := newTestBank(t)
	for name, f := range map[string]StatisticsFilter{
		"month 13":           {From: "2026-13"},
		"one-digit month":    {To: "2026-7"},
		"a date":             {From: "2026-07-01"},
		"before 1900":        {From: "1899-12"},
		"to before from":     {From: "2026-07", To: "2026-06"},
		"unknown sector":     {Sector: "magic"},
		"bad institution id": {Institution: "Not An Id"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := b.Statistics(f)
			rtCode(t, err, CodeBadParameter)
		})
	}
}

// TestStatisticsSurviveRestart closes the ledger and opens it again: the
// statistics are state on disk, not counters in memory.
func TestStatisticsSurviveRestart(t *testing.T) {
	b := newTestBank(t)
	college := b.institution(t, rtCollege)
	stPost(t, b, college, "a", "non_degree", 6, "2026-07-01", 48, true)
	stPost(t, b, college, "b", "certificate", 3, "2026-05-01", 16, true)
	before, err := b.Statistics(StatisticsFilter{})
	if err != nil {
		t.Fatal(err)
	}
	b = b.reopen(t)
	after, err := b.Statistics(StatisticsFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Rows) != 2 || after.Totals != before.Totals || after.Totals.OutcomesActive != 2 {
		t.Fatalf("after a restart %+v, before %+v", after, before)
	}
	b.checkReplay(t)
}

// TestStatisticsOfOldReversal replays a ledger written before items were
// reversed one by one: a conversion.reversed takes back the whole
// conversion's items.
func TestStatisticsOfOldReversal(t *testing.T) {
	at := time.Date(2026, 7, 15, 12, 0, 0, 0, time.UTC)
	entries := []handEntry{
		{TypeInstitutionRegistered, "admin:root", `{"id":"univ.example","name":"U","kind":"university","keys":[]}`},
		{TypeAccredited, "admin:root", `{"institution":"univ.example","sectors":["degree"],"max_level":8,"valid_from":"2000-01-01","valid_until":"2099-12-31"}`},
		{TypeOutcomeRecorded, "admin:root", `{"idempotency_key":"k1","learner":"L1","unit":{"code":"C1","title":"T"},"sector":"degree","level":6,"field":"0613","credits":{"amount":"3","system":"cn-credit"},"result":{"passed":true},"completed_on":"2026-07-01","institution":"univ.example","standard_credits":"3"}`},
		{TypeRulePublished, "admin:root", `{"id":"r","target":{"institution":"univ.example","programme":"P"},"source":{"sectors":["degree"],"min_level":0,"fields":null,"min_score":null,"max_age_days":null,"institutions":null},"ratio":"1","cap":null,"valid_from":"2026-01-01","valid_until":null,"version":1}`},
		{TypeConversionGranted, "admin:root", `{"learner":"L1","rule":{"id":"r","version":1},"target":{"institution":"univ.example","programme":"P"},"on":"2026-07-15","items":[{"outcome":2,"standard_credits":"3","granted":"3"}],"granted":"3","capped":false}`},
		{TypeOutcomeRevoked, "admin:root", `{"outcome":2,"institution":"univ.example","learner":"L1","reason":"error"}`},
		{TypeConversionReversed, "admin:root", `{"conversion":4,"learner":"L1","rule":{"id":"r","version":1},"target":{"institution":"univ.example","programme":"P"},"granted":"3","outcome":2,"reason":"outcome 2 revoked: error"}`},
	}
	rp := replayed(t, handJournal(at, entries))
	var sum StatisticsCounts
	if err := eachStatDelta(rp.state[statKey("univ.example", "2026-07")], func(_ string, _ int, c StatisticsCounts) { sum.add(c) }); err != nil {
		t.Fatal(err)
	}
	if sum != (StatisticsCounts{OutcomesRevoked: 1}) {
		t.Fatalf("statistics after the old reversal: %+v", sum)
	}
}
