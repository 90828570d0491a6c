package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"creditbank/accreditation"
)

// benchFigures is the part of bench's JSON the smoke test checks.
type benchFigures struct {
	Mode       string `json:"mode"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	SizeBefore uint64 `json:"ledger_size_before"`
	SizeAfter  uint64 `json:"ledger_size_after"`
	Fill       struct {
		Outcomes int     `json:"outcomes"`
		Seconds  float64 `json:"seconds"`
		PerSec   float64 `json:"outcomes_per_s"`
	} `json:"fill"`
	Phases []struct {
		Phase string `json:"phase"`
		benchSide
		Raw   *benchSide  `json:"raw_pebble"`
		Shape *benchShape `json:"shape"`
		Ratio float64     `json:"ratio"`
		Meets *bool       `json:"meets_target"`

		Floor      *benchSide `json:"http_floor"`
		FloorRatio float64    `json:"http_floor_ratio"`

		Writes            *benchSide `json:"concurrent_writes"`
		TranscriptEntries int        `json:"transcript_outcomes"`
	} `json:"phases"`
}

// TestBenchSmoke runs the whole bench command with tiny sizes, in process
// and then against that same kind of server by --url (and with --floor),
// and checks that the JSON holds every figure.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the bench command for a few seconds")
	}
	tiny := []string{"--clients", "8", "--batch-clients", "2", "--singles", "200", "--batches", "3",
		"--batch-size", "50", "--duration", "300ms", "--learners", "2"}

	t.Run("in-process", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "bench.json")
		var stdout, stderr bytes.Buffer
		args := append([]string{"bench", "--dir", filepath.Join(dir, "work"), "--preload", "500", "--json", out}, tiny...)
		if err := run(args, &stdout, &stderr); err != nil {
			t.Fatalf("bench: %v\n%s", err, stderr.String())
		}
		if stderr.Len() > 0 {
			t.Errorf("stderr is not a terminal, yet bench wrote to it: %q", stderr.String())
		}
		for _, phase := range []string{"single", "batch", "transcript", "inclusion", "checkpoint"} {
			if !strings.Contains(stdout.String(), "\n"+phase+" ") {
				t.Errorf("the table has no %s row:\n%s", phase, stdout.String())
			}
		}
		f := readBenchJSON(t, out)
		checkBenchFigures(t, f, 500, false)
		if f.Mode != "in-process" {
			t.Errorf("mode %q", f.Mode)
		}
	})

	t.Run("url", func(t *testing.T) {
		dir := t.TempDir()
		srv, err := startBenchServer(filepath.Join(dir, "server"), "creditbank", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.close()
		out := filepath.Join(dir, "bench.json")
		var stdout, stderr bytes.Buffer
		args := append([]string{"bench", "--url", srv.url, "--token", srv.admin, "--dir", filepath.Join(dir, "raw"), "--floor", "--json", out}, tiny...)
		if err := run(args, &stdout, &stderr); err != nil {
			t.Fatalf("bench: %v\n%s", err, stderr.String())
		}
		f := readBenchJSON(t, out)
		checkBenchFigures(t, f, 0, true)
		if !strings.Contains(stdout.String(), "\n floor ") {
			t.Errorf("the table has no floor row:\n%s", stdout.String())
		}
		if f.Mode != "url" {
			t.Errorf("mode %q", f.Mode)
		}
	})
}

func readBenchJSON(t *testing.T, path string) benchFigures {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f benchFigures
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, b)
	}
	return f
}

func checkBenchFigures(t *testing.T, f benchFigures, preload int, floor bool) {
	t.Helper()
	side := func(what string, s benchSide) {
		t.Helper()
		if s.Requests <= 0 || s.Items < s.Requests || s.Seconds <= 0 || s.PerSec <= 0 {
			t.Errorf("%s: counts %+v", what, s)
		}
		if s.P50ms <= 0 || s.P99ms < s.P50ms || s.P999ms < s.P99ms {
			t.Errorf("%s: latencies %+v", what, s)
		}
	}
	if f.GOMAXPROCS < 1 {
		t.Errorf("gomaxprocs %d", f.GOMAXPROCS)
	}
	// Two learners of ~200 outcomes each, spread over the preload.
	if want := max(preload, 2*benchPerLearner); f.Fill.Outcomes != want || f.Fill.Seconds <= 0 || f.Fill.PerSec <= 0 {
		t.Errorf("fill %+v, want %d outcomes", f.Fill, want)
	}
	if f.SizeAfter < f.SizeBefore+uint64(f.Fill.Outcomes)+200+150 {
		t.Errorf("ledger grew from %d to %d entries", f.SizeBefore, f.SizeAfter)
	}
	seen := map[string]bool{}
	for _, p := range f.Phases {
		seen[p.Phase] = true
		side(p.Phase, p.benchSide)
		switch p.Phase {
		case "single", "batch":
			want := map[string]int{"single": 200, "batch": 150}[p.Phase]
			if p.Items != want {
				t.Errorf("%s: %d outcomes, want %d", p.Phase, p.Items, want)
			}
			if p.Raw == nil || p.Shape == nil || p.Meets == nil || p.Ratio <= 0 {
				t.Fatalf("%s: no raw Pebble comparison", p.Phase)
			}
			side(p.Phase+" raw", *p.Raw)
			if p.Raw.Items != p.Items {
				t.Errorf("%s: raw Pebble wrote %d outcomes, the ledger %d", p.Phase, p.Raw.Items, p.Items)
			}
			switch {
			case !floor && p.Floor != nil:
				t.Errorf("%s: a floor without --floor", p.Phase)
			case floor && (p.Floor == nil || p.FloorRatio <= 0):
				t.Errorf("%s: no HTTP floor", p.Phase)
			case floor:
				side(p.Phase+" floor", *p.Floor)
				if p.Floor.Items != p.Items {
					t.Errorf("%s: the floor took %d outcomes, the ledger %d", p.Phase, p.Floor.Items, p.Items)
				}
			}
			if !p.Shape.Measured || p.Shape.BytesPerOutcome < 800 || p.Shape.BytesPerOutcome > 3000 ||
				p.Shape.KeysPerOutcome != benchKeysPerOut || p.Shape.EntriesPerGroup < 1 {
				t.Errorf("%s: shape %+v", p.Phase, *p.Shape)
			}
		case "transcript":
			if p.TranscriptEntries != benchPerLearner {
				t.Errorf("transcripts hold %d outcomes, want %d", p.TranscriptEntries, benchPerLearner)
			}
			if p.Writes == nil {
				t.Fatal("no writes during the transcript reads")
			}
			side("writes during transcripts", *p.Writes)
		}
	}
	for _, p := range []string{"single", "batch", "transcript", "inclusion", "checkpoint"} {
		if !seen[p] {
			t.Errorf("no %s phase in the JSON", p)
		}
	}
}

// TestBenchOutcome checks the outcomes bench posts: valid, about 500 bytes,
// and each with its own idempotency key.
func TestBenchOutcome(t *testing.T) {
	w := &benchWorkload{run: "0badcafe"}
	keys := map[string]bool{}
	for i := range uint64(100) {
		b := w.appendOutcome(nil, i, benchPoolLearner(int(i)))
		if len(b) < 400 || len(b) > 600 {
			t.Errorf("outcome %d is %d bytes: %s", i, len(b), b)
		}
		var o accreditation.OutcomeInput
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o); err != nil {
			t.Fatalf("outcome %d: %v: %s", i, err, b)
		}
		if err := o.Validate(); err != nil {
			t.Errorf("outcome %d: %v: %s", i, err, b)
		}
		if keys[o.IdempotencyKey] {
			t.Errorf("idempotency key %q repeats", o.IdempotencyKey)
		}
		keys[o.IdempotencyKey] = true
	}
}
