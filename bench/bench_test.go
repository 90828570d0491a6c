package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"creditbank/accreditation"
)

// figures is the part of the report's JSON the smoke test checks, read by
// field name so that a renamed field fails it.
type figures struct {
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
		Side
		Raw   *Side   `json:"raw_pebble"`
		Shape *Shape  `json:"shape"`
		Ratio float64 `json:"ratio"`
		Meets *bool   `json:"meets_target"`

		Floor      *Side   `json:"http_floor"`
		FloorRatio float64 `json:"http_floor_ratio"`

		Writes            *Side `json:"concurrent_writes"`
		TranscriptEntries int   `json:"transcript_outcomes"`
	} `json:"phases"`
}

// tiny is a configuration that runs every phase in a few seconds, with its
// folder in dir.
func tiny(dir string) Config {
	cfg := DefaultConfig()
	cfg.Dir = dir
	cfg.Clients, cfg.BatchClients, cfg.Learners = 8, 2, 2
	cfg.Singles, cfg.Batches, cfg.BatchSize = 200, 3, 50
	cfg.Duration = 300 * time.Millisecond
	return cfg
}

// TestSmoke runs the whole load generator with tiny sizes, in process and
// then against that same kind of server by URL (and with the HTTP floor),
// and checks that the JSON holds every figure.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the load generator for a few seconds")
	}

	t.Run("in-process", func(t *testing.T) {
		dir := t.TempDir()
		cfg := tiny(filepath.Join(dir, "work"))
		cfg.Preload, cfg.JSON = 500, filepath.Join(dir, "bench.json")
		var stdout, stderr bytes.Buffer
		rep, err := Run(context.Background(), cfg, &stdout, &stderr)
		if err != nil {
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
		f := readJSON(t, cfg.JSON)
		checkFigures(t, f, 500, false)
		if f.Mode != "in-process" {
			t.Errorf("mode %q", f.Mode)
		}
		if rep == nil || len(rep.Phases) != len(f.Phases) || rep.SizeAfter != f.SizeAfter {
			t.Errorf("Run returned a report other than the one written: %+v", rep)
		}
	})

	t.Run("url", func(t *testing.T) {
		dir := t.TempDir()
		srv, err := startServer(filepath.Join(dir, "server"), "creditbank", 64)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		admin, err := srv.IssueToken(accreditation.RoleAdmin, "bench", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cfg := tiny(filepath.Join(dir, "raw"))
		cfg.URL, cfg.Token, cfg.Floor, cfg.JSON = srv.URL(), admin, true, filepath.Join(dir, "bench.json")
		var stdout, stderr bytes.Buffer
		if _, err := Run(context.Background(), cfg, &stdout, &stderr); err != nil {
			t.Fatalf("bench: %v\n%s", err, stderr.String())
		}
		f := readJSON(t, cfg.JSON)
		checkFigures(t, f, 0, true)
		if !strings.Contains(stdout.String(), "\n floor ") {
			t.Errorf("the table has no floor row:\n%s", stdout.String())
		}
		if f.Mode != "url" {
			t.Errorf("mode %q", f.Mode)
		}
	})
}

func readJSON(t *testing.T, path string) figures {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f figures
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, b)
	}
	return f
}

func checkFigures(t *testing.T, f figures, preload int, floor bool) {
	t.Helper()
	side := func(what string, s Side) {
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
	if want := max(preload, 2*perLearner); f.Fill.Outcomes != want || f.Fill.Seconds <= 0 || f.Fill.PerSec <= 0 {
		t.Errorf("fill %+v, want %d outcomes", f.Fill, want)
	}
	if f.SizeAfter < f.SizeBefore+uint64(f.Fill.Outcomes)+200+150 {
		t.Errorf("ledger grew from %d to %d entries", f.SizeBefore, f.SizeAfter)
	}
	seen := map[string]bool{}
	for _, p := range f.Phases {
		seen[p.Phase] = true
		side(p.Phase, p.Side)
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
				p.Shape.KeysPerOutcome != keysPerOutcome || p.Shape.EntriesPerGroup < 1 {
				t.Errorf("%s: shape %+v", p.Phase, *p.Shape)
			}
		case "transcript":
			if p.TranscriptEntries != perLearner {
				t.Errorf("transcripts hold %d outcomes, want %d", p.TranscriptEntries, perLearner)
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

// TestOutcome checks the outcomes bench posts: valid, about 500 bytes,
// and each with its own idempotency key.
func TestOutcome(t *testing.T) {
	w := &workload{run: "0badcafe"}
	keys := map[string]bool{}
	for i := range uint64(100) {
		b := w.appendOutcome(nil, i, poolLearner(int(i)))
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

// TestConfigCheck: a configuration the load generator cannot run with is
// refused before anything starts, with its flag named.
func TestConfigCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no clients", func(c *Config) { c.Clients = 0 }, "--clients"},
		{"no duration", func(c *Config) { c.Duration = 0 }, "--duration"},
		{"negative preload", func(c *Config) { c.Preload = -1 }, "--preload"},
		{"batch too big", func(c *Config) { c.BatchSize = accreditation.MaxBatch + 1 }, "--batch-size"},
		{"no learners", func(c *Config) { c.Learners = 0 }, "--learners"},
		{"small cache", func(c *Config) { c.CacheMiB = 4 }, "--cache-mb"},
		{"bad run id", func(c *Config) { c.Readers = "xyz" }, "--readers"},
		{"url without token", func(c *Config) { c.URL = "http://127.0.0.1:1" }, "--url needs --token"},
		{"token without url", func(c *Config) { c.Token = "t" }, "--token goes with --url"},
		{"unknown phase", func(c *Config) { c.Phases = []string{"single", "nope"} }, `unknown phase "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.edit(&cfg)
			_, err := Run(context.Background(), cfg, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run: %v, want an error naming %s", err, tc.want)
			}
		})
	}
	if cfg := DefaultConfig(); cfg.Check() != nil {
		t.Errorf("the default configuration fails its check: %v", cfg.Check())
	}
}
