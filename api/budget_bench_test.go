package api

import (
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkBudgetPerRequest is what the budgets add to every request: a
// caller admitted by its rows budget and charged after, as endpoint does,
// among 1,000 callers. Compare it with the ~105 µs of CPU a single post
// costs the server (docs/performance.md) for its share of the hot path.
func BenchmarkBudgetPerRequest(b *testing.B) {
	refusals := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x_refusals_total", Help: "x"}, []string{"budget", "role"})
	rows := newBudget("rows", "rows read", DefaultRowBudgets(), refusals, nil)
	callers := make([]caller, 1000)
	for i := range callers {
		callers[i] = caller{role: "institution", id: "inst-" + strconv.Itoa(i)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		c := callers[i%len(callers)]
		if err := rows.admit(c); err != nil {
			b.Fatal(err)
		}
		rows.charge(c, baseRows+1)
	}
}
