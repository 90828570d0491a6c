package ledger

// Append throughput of the ledger against raw Pebble doing the same writes.
//
// Benchmarks (one number per run, as usual):
//
//	go test -run '^$' -bench . -benchtime=3s ./ledger
//	go test -run '^$' -bench 'AppendBatch/size=1000' ./ledger
//
// Each case has a /ledger and a /raw-pebble sub-benchmark. The raw side opens
// Pebble with the options the ledger uses (FormatNewest, defaults otherwise)
// and commits, per proposal, one batch with pebble.Sync holding the same keys
// and the same number of bytes the ledger writes for it: per entry the entry
// bytes, its stored Merkle hashes, the type index key, the learner index key
// and the idempotency key; per batch one head key.
//
// The ledger ÷ raw ratios, from one run with rounds alternating between the
// two sides, come from TestBenchRatios (this is what `make bench` runs):
//
//	go test ./ledger -run TestBenchRatios -v -bench.ratios
//	go test ./ledger -run TestBenchRatios -v -bench.ratios -bench.json=bench.json
//
// The package must come before -bench.ratios (or the flag go after -args):
// once go test meets a flag it does not know, it takes every later argument
// for the test binary, so `go test -bench.ratios ./ledger` tests package "."
// instead. -bench.rounds=N changes the rounds per side (5), -bench.enforce
// makes a ratio under its target fail the test.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/tlog"
)

var (
	benchRatios  = flag.Bool("bench.ratios", false, "run TestBenchRatios: ledger against raw Pebble append throughput")
	benchJSON    = flag.String("bench.json", "", "TestBenchRatios also writes its figures to this file")
	benchRounds  = flag.Int("bench.rounds", 5, "TestBenchRatios: rounds per side (the median is reported)")
	benchEnforce = flag.Bool("bench.enforce", false, "TestBenchRatios fails when a ratio is under its target")
)

// ---------------------------------------------------------------------------
// Workload: outcome-sized records.

const (
	benchType        = "outcome.recorded"
	benchContentPool = 1024    // distinct contents, reused round-robin
	benchRecordRing  = 1 << 16 // records built ahead; proposals cycle through them
	benchLearners    = 10000
	benchConcurrency = 64
)

type benchOutcome struct {
	Learner     string   `json:"learner"`
	Institution string   `json:"institution"`
	Programme   string   `json:"programme"`
	Outcome     string   `json:"outcome"`
	Title       string   `json:"title"`
	Framework   string   `json:"framework"`
	Level       int      `json:"level"`
	Credits     float64  `json:"credits"`
	Grade       string   `json:"grade"`
	AssessedAt  string   `json:"assessed_at"`
	Assessor    string   `json:"assessor"`
	Method      string   `json:"method"`
	Evidence    []string `json:"evidence"`
	Notes       string   `json:"notes"`
}

var benchTitles = []string{
	"Analyse and evaluate data using appropriate statistical methods",
	"Design, implement and test a relational database schema",
	"Communicate technical findings to non-specialist audiences",
	"Apply safe working practice in a clinical laboratory",
	"Plan and manage a small project to an agreed budget",
}

// benchContent is the JSON content of outcome i: about 450-550 bytes.
func benchContent(i int) json.RawMessage {
	learner := benchLearner(i)
	c := benchOutcome{
		Learner:     learner,
		Institution: benchInstitution(i),
		Programme:   fmt.Sprintf("PRG-%04d-BSc-Data-Science", i%173),
		Outcome:     fmt.Sprintf("LO-%05d", i%9973),
		Title:       benchTitles[i%len(benchTitles)],
		Framework:   "EQF",
		Level:       4 + i%4,
		Credits:     float64(5+i%26) / 2,
		Grade:       []string{"pass", "merit", "distinction"}[i%3],
		AssessedAt:  time.Date(2026, 6, 1+i%28, 9+i%8, i%60, 0, 0, time.UTC).Format(time.RFC3339),
		Assessor:    fmt.Sprintf("assessor-%03d@%s", i%311, "example.ac.uk"),
		Method:      "portfolio",
		Evidence: []string{
			fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(learner+strconv.Itoa(i))))[:48],
			fmt.Sprintf("https://evidence.example.ac.uk/%s/%d", learner, i),
		},
		Notes: "Assessed against the published criteria; moderated sample.",
	}
	b, err := MarshalContent(c)
	if err != nil {
		panic(err)
	}
	return b
}

func benchLearner(i int) string     { return fmt.Sprintf("L%07d", i%benchLearners) }
func benchInstitution(i int) string { return fmt.Sprintf("INST-%03d", i%97) }

// benchRecords builds n records (at most benchRecordRing distinct ones), each
// with a learner index key and an idempotency key.
func benchRecords(n int) []Record {
	n = min(n, benchRecordRing)
	contents := make([]json.RawMessage, min(n, benchContentPool))
	hashes := make([][32]byte, len(contents))
	for i := range contents {
		contents[i] = benchContent(i)
		hashes[i] = sha256.Sum256(contents[i])
	}
	recs := make([]Record, n)
	for i := range recs {
		j := i % len(contents)
		recs[i] = Record{
			Type:    benchType,
			Actor:   "institution:" + benchInstitution(i) + "/assessor",
			Content: contents[j],
			Index:   []IndexKey{{Name: "learner", Value: benchLearner(i)}},
			Idempotency: &IdempotencyKey{
				Scope: benchInstitution(i),
				Key:   "req-" + strconv.Itoa(i) + "-" + strconv.Itoa(j),
				Hash:  hashes[j],
			},
		}
	}
	return recs
}

// ring hands out consecutive slices of a fixed record set, wrapping around.
type ring struct {
	recs []Record
	pos  int
}

func (r *ring) next(n int) []Record {
	if n > len(r.recs) {
		panic("ring too small")
	}
	if r.pos+n > len(r.recs) {
		r.pos = 0
	}
	out := r.recs[r.pos : r.pos+n]
	r.pos += n
	return out
}

// ---------------------------------------------------------------------------
// The two sides.

// appender commits one proposal of records durably. Safe for concurrent use.
type appender interface {
	append(recs []Record) error
	close()
}

type ledgerSide struct {
	l      *Ledger
	groups atomic.Int64 // groups committed, counted by their last proposal
}

func openLedgerSide(tb testing.TB, dir string) *ledgerSide {
	tb.Helper()
	l, err := Open(testOptions(tb, nil, dir))
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	return &ledgerSide{l: l}
}

func (s *ledgerSide) append(recs []Record) error {
	r, err := s.l.Append(context.Background(), Records(recs))
	if err == nil && r.First+uint64(r.Count) == r.Size {
		s.groups.Add(1)
	}
	return err
}

func (s *ledgerSide) close() { s.l.Close() }

// rawSide writes with plain Pebble what the ledger writes, without deciding,
// validating, hashing or publishing anything.
type rawSide struct {
	db  *pebble.DB
	seq atomic.Uint64
	now time.Time
}

type quietPebbleLogger struct{}

func (quietPebbleLogger) Infof(string, ...any)  {}
func (quietPebbleLogger) Errorf(string, ...any) {}
func (quietPebbleLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

func openRawSide(tb testing.TB, dir string) *rawSide {
	tb.Helper()
	// The ledger's own store options: the same memtable, cache and filters.
	po := storeOptions(nil, 256<<20)
	defer po.Cache.Unref()
	po.Logger = quietPebbleLogger{}
	db, err := pebble.Open(dir, po)
	if err != nil {
		tb.Fatalf("pebble open: %v", err)
	}
	return &rawSide{db: db, now: time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC)}
}

// benchNoise is random bytes standing in for stored hashes: as incompressible
// as SHA-256 output, without the cost of computing it.
var benchNoise = sync.OnceValue(func() []byte {
	b := make([]byte, 1<<16+tlog.HashSize)
	rand.Read(b)
	return b
})

func (s *rawSide) append(recs []Record) error {
	first := s.seq.Add(uint64(len(recs))) - uint64(len(recs))
	noise := benchNoise()
	b := s.db.NewBatch()
	defer b.Close()
	for i, rec := range recs {
		seq := first + uint64(i)
		// The entry, encoded as Entry.Encode does (without its checks).
		e := make([]byte, 0, 96+len(rec.Actor)+len(rec.Content))
		e = append(e, `{"seq":`...)
		e = strconv.AppendUint(e, seq, 10)
		e = append(e, `,"type":`...)
		e = appendJSONString(e, rec.Type)
		e = append(e, `,"recorded_at":"`...)
		e = s.now.AppendFormat(e, TimeLayout)
		e = append(e, `","actor":`...)
		e = appendJSONString(e, rec.Actor)
		e = append(e, `,"content":`...)
		e = append(e, rec.Content...)
		e = append(e, '}')
		if err := b.Set(entryKey(seq), e, nil); err != nil {
			return err
		}
		// As many 32-byte stored hashes as tlog stores for this record.
		base := tlog.StoredHashIndex(0, int64(seq))
		for idx := base; idx < tlog.StoredHashCount(int64(seq)+1); idx++ {
			off := int(uint64(idx)*tlog.HashSize) & (1<<16 - 1)
			if err := b.Set(hashKey(idx), noise[off:off+tlog.HashSize], nil); err != nil {
				return err
			}
		}
		if err := b.Set(indexKey(IndexType, rec.Type, seq), nil, nil); err != nil {
			return err
		}
		for _, k := range rec.Index {
			if err := b.Set(indexKey(k.Name, k.Value, seq), nil, nil); err != nil {
				return err
			}
		}
		if id := rec.Idempotency; id != nil {
			v := binary.BigEndian.AppendUint64(make([]byte, 0, 40), seq)
			v = append(v, id.Hash[:]...)
			if err := b.Set(idemKey(id.Scope, id.Key), v, nil); err != nil {
				return err
			}
		}
	}
	off := int(first*7) & (1<<16 - 1)
	h := head{size: first + uint64(len(recs)), lastTime: s.now.UnixMicro()}
	copy(h.root[:], noise[off:])
	if err := b.Set(headKey, h.encode(), nil); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

func (s *rawSide) close() { s.db.Close() }

type sideKind int

const (
	sideLedger sideKind = iota
	sideRaw
)

func (k sideKind) String() string { return [...]string{"ledger", "raw-pebble"}[k] }

// openSide opens a store of kind k in dir, an empty folder on the real disk.
func openSide(tb testing.TB, k sideKind, dir string) appender {
	if k == sideLedger {
		return openLedgerSide(tb, dir)
	}
	return openRawSide(tb, dir)
}

// ---------------------------------------------------------------------------
// Runners shared by the benchmarks and TestBenchRatios.

type runResult struct {
	entries int
	elapsed time.Duration
	lat     []time.Duration // per-append latencies (concurrent runs only), sorted
	groups  int64           // ledger only: group commits (synced batches)
}

// perGroup is the mean number of entries per synced ledger batch.
func (r runResult) perGroup() float64 {
	if r.groups == 0 {
		return 0
	}
	return float64(r.entries) / float64(r.groups)
}

// withGroups fills in the group count when a is a ledger.
func withGroups(r runResult, a appender) runResult {
	if s, ok := a.(*ledgerSide); ok {
		r.groups = s.groups.Load()
	}
	return r
}

func (r runResult) rate() float64 { return float64(r.entries) / r.elapsed.Seconds() }

// percentile is the nearest-rank percentile p (0-100) of sorted, in ms.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(float64(len(sorted))*p/100+0.999999) - 1
	k = max(0, min(k, len(sorted)-1))
	return float64(sorted[k]) / float64(time.Millisecond)
}

// runBatch appends proposals proposals of size records each, one at a time.
func runBatch(tb testing.TB, a appender, rg *ring, size, proposals int) runResult {
	start := time.Now()
	for range proposals {
		if err := a.append(rg.next(size)); err != nil {
			tb.Fatalf("append: %v", err)
		}
	}
	return withGroups(runResult{entries: size * proposals, elapsed: time.Since(start)}, a)
}

// runConcurrent has workers goroutines append single-record proposals until
// total have been made, timing each append.
func runConcurrent(tb testing.TB, a appender, recs []Record, workers, total int) runResult {
	lat := make([]time.Duration, total)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				t0 := time.Now()
				if err := a.append(recs[i%len(recs) : i%len(recs)+1]); err != nil {
					failed.Store(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := failed.Load(); err != nil {
		tb.Fatalf("append: %v", err)
	}
	slices.Sort(lat)
	return withGroups(runResult{entries: total, elapsed: elapsed, lat: lat}, a)
}

// ---------------------------------------------------------------------------
// Benchmarks.

func BenchmarkAppendBatch(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		b.Run("size="+strconv.Itoa(size), func(b *testing.B) {
			for _, k := range []sideKind{sideLedger, sideRaw} {
				b.Run(k.String(), func(b *testing.B) {
					rg := &ring{recs: benchRecords(max(size*b.N, size*4))}
					a := openSide(b, k, b.TempDir())
					defer a.close()
					b.ResetTimer()
					r := runBatch(b, a, rg, size, b.N)
					b.StopTimer()
					b.ReportMetric(r.rate(), "entries/s")
				})
			}
		})
	}
}

func BenchmarkAppendConcurrent64(b *testing.B) {
	for _, k := range []sideKind{sideLedger, sideRaw} {
		b.Run(k.String(), func(b *testing.B) {
			recs := benchRecords(b.N)
			a := openSide(b, k, b.TempDir())
			defer a.close()
			b.ResetTimer()
			r := runConcurrent(b, a, recs, benchConcurrency, b.N)
			b.StopTimer()
			b.ReportMetric(r.rate(), "entries/s")
			b.ReportMetric(percentile(r.lat, 50), "p50-ms")
			b.ReportMetric(percentile(r.lat, 99), "p99-ms")
			if k == sideLedger {
				b.ReportMetric(r.perGroup(), "entries/group")
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Ratios: both sides in one process, alternating, fixed work.

type ratioCase struct {
	name        string
	size        int // records per proposal; 0 for the concurrent case
	entries     int // entries per run
	target      float64
	concurrency int
}

type sideFigures struct {
	EntriesPerSec float64   `json:"entries_per_s"`
	P50ms         float64   `json:"p50_ms,omitempty"`
	P99ms         float64   `json:"p99_ms,omitempty"`
	Runs          []float64 `json:"runs_entries_per_s"`
}

type caseFigures struct {
	Case    string      `json:"case"`
	Entries int         `json:"entries_per_run"`
	Ledger  sideFigures `json:"ledger"`
	Raw     sideFigures `json:"raw_pebble"`
	Ratio   float64     `json:"ratio"` // of the medians
	// Paired is the median of the per-round ratios: each round's two runs
	// are back to back, so this is less sensitive to a disk whose speed drifts.
	Paired float64 `json:"paired_ratio"`
	// PerGroup is the ledger's mean entries per synced batch (median run).
	PerGroup float64 `json:"ledger_entries_per_group"`
	Target   float64 `json:"target,omitempty"`
	Meets    *bool   `json:"meets_target,omitempty"`
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func TestBenchRatios(t *testing.T) {
	if !*benchRatios {
		t.Skip("set -bench.ratios to measure ledger against raw Pebble")
	}
	rounds := max(*benchRounds, 1)
	cases := []ratioCase{
		{name: "batch size=1", size: 1, entries: 2000},
		{name: "batch size=100", size: 100, entries: 30000},
		{name: "batch size=1000", size: 1000, entries: 50000, target: 0.6},
		{name: "concurrent 64 x 1", entries: benchConcurrency * 150, target: 0.5, concurrency: benchConcurrency},
	}
	var out []caseFigures
	for _, c := range cases {
		recs := benchRecords(c.entries)
		var rate [2][]float64
		var p50, p99 [2][]float64
		var perGroup []float64
		for round := range rounds {
			// Alternate who goes first, so neither side always runs on a
			// disk still busy with the other's background work.
			order := []sideKind{sideLedger, sideRaw}
			if round%2 == 1 {
				order = []sideKind{sideRaw, sideLedger}
			}
			for _, k := range order {
				r := runRatio(t, k, c, recs)
				rate[k] = append(rate[k], r.rate())
				if k == sideLedger {
					perGroup = append(perGroup, r.perGroup())
				}
				if c.concurrency > 0 {
					p50[k] = append(p50[k], percentile(r.lat, 50))
					p99[k] = append(p99[k], percentile(r.lat, 99))
				}
				t.Logf("%-18s round %d %-10s %10.0f entries/s", c.name, round+1, k, r.rate())
			}
		}
		f := caseFigures{Case: c.name, Entries: c.entries, Target: c.target, PerGroup: median(perGroup)}
		for k, s := range []*sideFigures{&f.Ledger, &f.Raw} {
			s.EntriesPerSec = median(rate[k])
			s.Runs = rate[k]
			s.P50ms = median(p50[k])
			s.P99ms = median(p99[k])
		}
		f.Ratio = f.Ledger.EntriesPerSec / f.Raw.EntriesPerSec
		var paired []float64
		for i := range rate[sideLedger] {
			paired = append(paired, rate[sideLedger][i]/rate[sideRaw][i])
		}
		f.Paired = median(paired)
		if c.target > 0 {
			meets := f.Ratio >= c.target
			f.Meets = &meets
		}
		out = append(out, f)
	}

	var tb strings.Builder
	fmt.Fprintf(&tb, "ledger vs raw Pebble, median of %d alternating rounds, GOMAXPROCS=%d\n", rounds, runtime.GOMAXPROCS(0))
	fmt.Fprintf(&tb, "%-18s %8s %12s %12s %7s %7s %8s %18s %18s %9s\n",
		"case", "entries", "ledger e/s", "raw e/s", "ratio", "paired", "target", "ledger p50/p99 ms", "raw p50/p99 ms", "e/group")
	for _, f := range out {
		target, lat, rawLat := "", "", ""
		if f.Meets != nil {
			verdict := "ok"
			if !*f.Meets {
				verdict = "LOW"
			}
			target = fmt.Sprintf("%.2f %s", f.Target, verdict)
		}
		if f.Ledger.P50ms > 0 || f.Raw.P50ms > 0 {
			lat = fmt.Sprintf("%.2f / %.2f", f.Ledger.P50ms, f.Ledger.P99ms)
			rawLat = fmt.Sprintf("%.2f / %.2f", f.Raw.P50ms, f.Raw.P99ms)
		}
		fmt.Fprintf(&tb, "%-18s %8d %12.0f %12.0f %7.3f %7.3f %8s %18s %18s %9.1f\n",
			f.Case, f.Entries, f.Ledger.EntriesPerSec, f.Raw.EntriesPerSec, f.Ratio, f.Paired, target, lat, rawLat, f.PerGroup)
	}
	fmt.Print(tb.String())

	if *benchJSON != "" {
		doc := map[string]any{
			"rounds":     rounds,
			"gomaxprocs": runtime.GOMAXPROCS(0),
			"go":         runtime.Version(),
			"time":       time.Now().UTC().Format(time.RFC3339),
			"cases":      out,
		}
		data, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(*benchJSON, append(data, '\n'), 0o644); err != nil {
			t.Fatalf("write %s: %v", *benchJSON, err)
		}
	}
	if *benchEnforce {
		for _, f := range out {
			if f.Meets != nil && !*f.Meets {
				t.Errorf("%s: ledger/raw %.3f is under the target %.2f", f.Case, f.Ratio, f.Target)
			}
		}
	}
}

// runRatio opens a fresh store of kind k, runs case c on it and removes it.
func runRatio(t *testing.T, k sideKind, c ratioCase, recs []Record) runResult {
	t.Helper()
	dir, err := os.MkdirTemp(t.TempDir(), "run")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	a := openSide(t, k, dir)
	defer a.close()
	if c.concurrency > 0 {
		return runConcurrent(t, a, recs, c.concurrency, c.entries)
	}
	return runBatch(t, a, &ring{recs: recs}, c.size, c.entries/c.size)
}

// TestBenchRawMatchesLedger checks the baseline: after the same proposals,
// raw Pebble holds the same keys as the ledger (checkpoints aside) with values
// of the same lengths, and the contents are outcome-sized.
func TestBenchRawMatchesLedger(t *testing.T) {
	recs := benchRecords(300)
	for _, r := range recs {
		if n := len(r.Content); n < 400 || n > 600 {
			t.Fatalf("content of %d bytes: %s", n, r.Content)
		}
	}
	dump := func(k sideKind) map[string]int {
		dir := t.TempDir()
		a := openSide(t, k, dir)
		rg := &ring{recs: recs}
		for _, size := range []int{1, 1, 7, 100, 1, 190} {
			if err := a.append(rg.next(size)); err != nil {
				t.Fatal(err)
			}
		}
		var db *pebble.DB
		if s, ok := a.(*ledgerSide); ok {
			db = s.l.db
		} else {
			db = a.(*rawSide).db
		}
		got := map[string]int{}
		it, err := db.NewIter(nil)
		if err != nil {
			t.Fatal(err)
		}
		for ok := it.First(); ok; ok = it.Next() {
			if it.Key()[0] != tagCheckpoint {
				got[string(it.Key())] = len(it.Value())
			}
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		a.close()
		return got
	}
	ledger, raw := dump(sideLedger), dump(sideRaw)
	if len(ledger) != len(raw) {
		t.Errorf("ledger holds %d keys, raw %d", len(ledger), len(raw))
	}
	for k, n := range ledger {
		if m, ok := raw[k]; !ok || m != n {
			t.Errorf("key %q: ledger value %d bytes, raw %d (present %v)", k, n, m, ok)
		}
	}
	t.Logf("%d keys; content %d-%d bytes", len(ledger), len(recs[0].Content), len(recs[1].Content))
}
