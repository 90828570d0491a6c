package accreditation

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// Property tests of the award audit's decision (auditItems) on thousands of
// random learners: it is monotone, independent of the order of its items,
// and equal to a reference written here by another method, a maximum flow
// with lower bounds.

// propLearners is how many random learners each property is checked on.
const propLearners = 3000

// randomProgramme is a programme of 1 to 4 requirements over a few
// prefixes (some nested, so that the first matching requirement decides),
// with each cap set or not.
func randomProgramme(rng *rand.Rand) *Programme {
	prefixes := []string{"06", "061", "0613", "00", "02", "03", "04"}
	k := 1 + rng.IntN(4)
	total := Amount(500 + rng.IntN(3500))
	p := &Programme{ProgrammeInput: ProgrammeInput{ID: "p", Institution: "univ.example", Title: "Random", Total: total, MinLevel: rng.IntN(7)}, Version: 1}
	left := total
	for r := range k {
		n := 1 + rng.IntN(2)
		var fields []string
		for range n {
			if f := prefixes[rng.IntN(len(prefixes))]; !slices.Contains(fields, f) {
				fields = append(fields, f)
			}
		}
		m := min(Amount(1+rng.IntN(1500)), left)
		if m == 0 {
			break
		}
		left -= m
		p.Requirements = append(p.Requirements, Requirement{ID: fmt.Sprintf("r%d", r), Fields: fields, Min: m})
	}
	if rng.IntN(4) > 0 {
		p.PeriodCaps.Term = amountPtr(Amount(200 + rng.IntN(1500)))
	}
	if rng.IntN(4) > 0 {
		p.PeriodCaps.Year = amountPtr(Amount(300 + rng.IntN(2500)))
	}
	return p
}

// randomItems are n items over one to four years (so that the caps bind
// often), three institutions, a few unit codes (so that duplicates occur)
// and two groups of equivalent units.
func randomItems(rng *rand.Rand, n int) []AuditItem {
	years := 1 + rng.IntN(4)
	fields := []string{"0613", "0612", "0611", "0011", "0231", "0311", "0411", "0521"}
	insts := []string{"univ.example", "college.example", "open.example"}
	items := make([]AuditItem, n)
	for i := range items {
		src := SourceOutcome
		var conv uint64
		if rng.IntN(3) == 0 {
			src, conv = SourceConversion, uint64(1000+i)
		}
		it := AuditItem{
			Source: src, Outcome: uint64(10 + i), Conversion: conv,
			Institution: insts[rng.IntN(len(insts))], Unit: fmt.Sprintf("U%d", rng.IntN(12)),
			Field: fields[rng.IntN(len(fields))], Level: 3 + rng.IntN(6),
			CompletedOn: fmt.Sprintf("%d-%02d-%02d", 2020+rng.IntN(years), 1+rng.IntN(12), 1+rng.IntN(28)),
			Amount:      Amount(50 * (1 + rng.IntN(12))),
		}
		if rng.IntN(5) == 0 {
			it.groups = []string{fmt.Sprintf("g%d", rng.IntN(2))}
		}
		items[i] = it
	}
	return items
}

func TestAuditOrderIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range propLearners {
		p := randomProgramme(rng)
		items := randomItems(rng, rng.IntN(30))
		want := auditJSON(t, auditItems(p, "2024-01-01", items))
		shuffled := slices.Clone(items)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if got := auditJSON(t, auditItems(p, "2024-01-01", shuffled)); got != want {
			t.Fatalf("learner %d: shuffled items give\n%s\nnot\n%s", n, got, want)
		}
	}
}

func TestAuditMonotone(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := range propLearners {
		p := randomProgramme(rng)
		items := randomItems(rng, rng.IntN(30))
		before := auditItems(p, "2024-01-01", items)
		// An eligible outcome: of a unit no other item has, in no group,
		// at a level the programme counts.
		extra := randomItems(rng, 1)[0]
		extra.Outcome, extra.Unit, extra.groups, extra.Level = 999, "FRESH", nil, max(extra.Level, p.MinLevel)
		after := auditItems(p, "2024-01-01", append(slices.Clone(items), extra))
		if before.Eligible && !after.Eligible {
			t.Fatalf("learner %d: eligible, then not after adding %+v", n, extra)
		}
		if after.Total.Earned < before.Total.Earned {
			t.Fatalf("learner %d: total %s, then %s", n, before.Total.Earned, after.Total.Earned)
		}
		for r := range before.Requirements {
			if b, a := before.Requirements[r], after.Requirements[r]; a.Earned < b.Earned || (b.Met && !a.Met) {
				t.Fatalf("learner %d: requirement %s %s (met %t), then %s (met %t)", n, b.ID, b.Earned, b.Met, a.Earned, a.Met)
			}
		}
	}
}

func TestAuditEqualsMaxFlow(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	eligible, together := 0, 0
	for n := range propLearners {
		p := randomProgramme(rng)
		items := randomItems(rng, rng.IntN(40))
		got := auditItems(p, "2024-01-01", items)
		ref := referenceAudit(p, items)
		if got.Total.Earned != ref.total {
			t.Fatalf("learner %d: total %s, the flow %s", n, got.Total.Earned, ref.total)
		}
		for r, req := range got.Requirements {
			if req.Earned != ref.earned[r] {
				t.Fatalf("learner %d: requirement %s earns %s, the flow %s", n, req.ID, req.Earned, ref.earned[r])
			}
			var listed Amount
			for _, it := range req.Items {
				listed += *it.Counted
			}
			if listed != req.Earned {
				t.Fatalf("learner %d: requirement %s lists %s counted, earns %s", n, req.ID, listed, req.Earned)
			}
		}
		if got.Eligible != ref.eligible {
			t.Fatalf("learner %d: eligible %t, the flow says %t\n%s", n, got.Eligible, ref.eligible, auditJSON(t, got))
		}
		if got.Eligible != (len(got.Missing) == 0) {
			t.Fatalf("learner %d: eligible %t with missing %+v", n, got.Eligible, got.Missing)
		}
		if got.Eligible {
			eligible++
		}
		if slices.ContainsFunc(got.Missing, func(s Shortfall) bool { return s.Kind == ShortTogether }) {
			together++
		}
	}
	// The generator must reach both answers often, and requirements met
	// alone but not together, or the comparison proves little.
	t.Logf("%d of %d random learners eligible, %d short of requirements met alone but not together", eligible, propLearners, together)
	if eligible < propLearners/10 || eligible > propLearners*9/10 || together < propLearners/100 {
		t.Fatalf("%d of %d random learners eligible, %d short together", eligible, propLearners, together)
	}
}

func auditJSON(t *testing.T, a ProgrammeAudit) string {
	t.Helper()
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// flowAudit is what the reference finds: what each requirement's items can
// carry alone, what all can carry, and whether every minimum and the total
// can be carried at once.
type flowAudit struct {
	earned   []Amount
	total    Amount
	eligible bool
}

// referenceAudit selects the counted items by its own plain loop, then
// answers by maximum flows over the network source → year (cap) → term
// (cap) → item (amount) → requirement class → sink, in Amount units.
func referenceAudit(p *Programme, items []AuditItem) flowAudit {
	sorted := slices.Clone(items)
	slices.SortFunc(sorted, func(a, b AuditItem) int {
		if a.CompletedOn != b.CompletedOn {
			if a.CompletedOn < b.CompletedOn {
				return -1
			}
			return 1
		}
		return int(a.Outcome) - int(b.Outcome)
	})
	type counted struct {
		term, year string
		class      int
		amount     int64
	}
	var kept []counted
	seenUnit, seenGroup := map[string]bool{}, map[string]bool{}
	k := len(p.Requirements)
	for _, it := range sorted {
		unit := it.Institution + "/" + it.Unit
		blocked := seenUnit[unit] || it.Level < p.MinLevel
		for _, g := range it.groups {
			blocked = blocked || seenGroup[g]
		}
		if blocked {
			continue
		}
		seenUnit[unit] = true
		for _, g := range it.groups {
			seenGroup[g] = true
		}
		class := k
		for r := k - 1; r >= 0; r-- { // the first requirement whose prefix matches wins
			for _, f := range p.Requirements[r].Fields {
				if len(it.Field) >= len(f) && it.Field[:len(f)] == f {
					class = r
				}
			}
		}
		month := it.CompletedOn[5:7]
		half := "2"
		if month <= "06" {
			half = "1"
		}
		kept = append(kept, counted{term: it.CompletedOn[:4] + half, year: it.CompletedOn[:4], class: class, amount: int64(it.Amount)})
	}
	const inf = int64(1) << 50
	capOf := func(c *Amount) int64 {
		if c == nil {
			return inf
		}
		return int64(*c)
	}
	// build makes the network, the sink edge of class c carrying at most
	// open(c); it returns the graph and the node ids of source, sink and
	// each class.
	build := func(open func(c int) int64) (*flowGraph, int, int, []int) {
		g := &flowGraph{}
		src, sink := g.node(), g.node()
		years, terms := map[string]int{}, map[string]int{}
		classes := make([]int, k+1)
		for c := range classes {
			classes[c] = g.node()
			g.edge(classes[c], sink, open(c))
		}
		for _, it := range kept {
			y, ok := years[it.year]
			if !ok {
				y = g.node()
				years[it.year] = y
				g.edge(src, y, capOf(p.PeriodCaps.Year))
			}
			tm, ok := terms[it.term]
			if !ok {
				tm = g.node()
				terms[it.term] = tm
				g.edge(y, tm, capOf(p.PeriodCaps.Term))
			}
			item := g.node()
			g.edge(tm, item, it.amount)
			g.edge(item, classes[it.class], inf)
		}
		return g, src, sink, classes
	}
	var ref flowAudit
	for r := range k {
		g, s, t, _ := build(func(c int) int64 {
			if c == r {
				return inf
			}
			return 0
		})
		ref.earned = append(ref.earned, Amount(g.maxFlow(s, t)))
	}
	g, s, t, _ := build(func(int) int64 { return inf })
	ref.total = Amount(g.maxFlow(s, t))
	ref.eligible = feasibleWithMinimums(p, build)
	return ref
}

// feasibleWithMinimums decides, by the textbook reduction of lower bounds
// to a circulation, whether a flow exists that carries at least each
// requirement's minimum through its class and at least the total in all.
func feasibleWithMinimums(p *Programme, build func(open func(int) int64) (*flowGraph, int, int, []int)) bool {
	const inf = int64(1) << 50
	k := len(p.Requirements)
	// Class edges to the sink are closed here and replaced by edges
	// class → collector with lower bounds, collector → sink with the
	// total as its lower bound.
	g, s, t, classes := build(func(int) int64 { return 0 })
	collector := g.node()
	superSrc, superSink := g.node(), g.node()
	excess := map[int]int64{}
	lower := func(u, v int, l int64) {
		g.edge(u, v, inf-l)
		excess[v] += l
		excess[u] -= l
	}
	for c := range k + 1 {
		var l int64
		if c < k {
			l = int64(p.Requirements[c].Min)
		}
		lower(classes[c], collector, l)
	}
	lower(collector, t, int64(p.Total))
	g.edge(t, s, inf)
	var need int64
	for v, e := range excess {
		if e > 0 {
			g.edge(superSrc, v, e)
			need += e
		} else if e < 0 {
			g.edge(v, superSink, -e)
		}
	}
	return g.maxFlow(superSrc, superSink) == need
}

// flowGraph is a small directed graph with capacities, and Edmonds–Karp.
type flowGraph struct {
	adj  [][]int // edge ids by node
	to   []int
	capa []int64
}

func (g *flowGraph) node() int { g.adj = append(g.adj, nil); return len(g.adj) - 1 }

// edge adds u → v of capacity c and its residual twin.
func (g *flowGraph) edge(u, v int, c int64) {
	g.adj[u] = append(g.adj[u], len(g.to))
	g.to, g.capa = append(g.to, v), append(g.capa, c)
	g.adj[v] = append(g.adj[v], len(g.to))
	g.to, g.capa = append(g.to, u), append(g.capa, 0)
}

// maxFlow pushes along shortest augmenting paths until none is left.
func (g *flowGraph) maxFlow(s, t int) int64 {
	var total int64
	for {
		via := make([]int, len(g.adj))
		for i := range via {
			via[i] = -1
		}
		via[s] = -2
		queue := []int{s}
		for len(queue) > 0 && via[t] == -1 {
			u := queue[0]
			queue = queue[1:]
			for _, e := range g.adj[u] {
				if v := g.to[e]; g.capa[e] > 0 && via[v] == -1 {
					via[v] = e
					queue = append(queue, v)
				}
			}
		}
		if via[t] == -1 {
			return total
		}
		push := int64(1) << 62
		for v := t; v != s; v = g.to[via[v]^1] {
			push = min(push, g.capa[via[v]])
		}
		for v := t; v != s; v = g.to[via[v]^1] {
			g.capa[via[v]] -= push
			g.capa[via[v]^1] += push
		}
		total += push
	}
}
