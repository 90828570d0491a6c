package bench

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// buildCreditbank builds the creditbank command into a temporary folder,
// with the extra `go build` flags of $CREDITBANK_TEST_BUILDFLAGS (make
// cover, make race) as cmd/creditbank's tests do; with
// $CREDITBANK_TEST_GOCOVERDIR set, the server it runs writes its coverage
// there.
func buildCreditbank(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "creditbank")
	args := append([]string{"build"}, strings.Fields(os.Getenv("CREDITBANK_TEST_BUILDFLAGS"))...)
	out, err := exec.Command("go", append(args, "-o", bin, "creditbank/cmd/creditbank")...).CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if dir := os.Getenv("CREDITBANK_TEST_GOCOVERDIR"); dir != "" {
		t.Setenv("GOCOVERDIR", dir)
	}
	return bin
}

// TestAbuse is the short form of make soak-abuse: every attack, a few
// seconds each, against a real `creditbank serve` on loopback with a
// small fill, while one institution posts single outcomes. It holds the
// server to what does not depend on the machine's speed: no acknowledged
// post lost, every victim post acknowledged (the server answered the
// victim throughout), resident memory under the bound, and each attack
// actually sent. The victim's p99 is held only to a generous bound, five
// times the quiet window's but never below 100 ms: a window of a few
// seconds has ~100 posts, so its p99 is nearly its slowest post, and on a
// shared 2-core machine one descheduling is tens of milliseconds. The strict
// 2× over 40 s windows is make soak-abuse's (`creditbank abuse --enforce`).
func TestAbuse(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads the server's CPU time and memory from Linux's /proc")
	}
	cfg := DefaultAbuseConfig()
	cfg.Binary = buildCreditbank(t)
	cfg.Dir = t.TempDir()
	cfg.Preload, cfg.HeavyOutcomes = 5000, 5000
	cfg.Quiet, cfg.Attack = 1500*time.Millisecond, 2500*time.Millisecond
	if testing.Short() {
		cfg.Quiet, cfg.Attack = time.Second, 1500*time.Millisecond
	}
	cfg.VictimRate, cfg.Attackers, cfg.MaxConnections = 40, 6, 64
	cfg.MaxRatio = 0 // checked below, with a floor
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var table strings.Builder
	rep, err := Abuse(ctx, cfg, &table, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
	if rep.Acknowledged == 0 {
		t.Fatal("no victim post was acknowledged")
	}
	for _, f := range rep.Failures() {
		t.Error(f)
	}
	if len(rep.Rows) != len(abuseAttacks) {
		t.Fatalf("%d attacks ran, want %d", len(rep.Rows), len(abuseAttacks))
	}
	const floorMs, maxRatio = 100, 5
	for _, row := range rep.Rows {
		if row.Requests == 0 {
			t.Errorf("%s: the attack sent nothing", row.Attack)
		}
		if row.Before.Posts == 0 || row.During.Posts == 0 {
			t.Errorf("%s: the victim posted %d times before and %d during", row.Attack, row.Before.Posts, row.During.Posts)
		}
		if limit := maxRatio * max(row.Before.P99ms, floorMs); row.During.P99ms > limit {
			t.Errorf("%s: victim p99 %.1f ms during the attack, over %.0f ms (%d× the %.1f ms before it, at least %d ms)",
				row.Attack, row.During.P99ms, limit, maxRatio, row.Before.P99ms, floorMs)
		}
	}
}

// TestAbuseConfigCheck: each value the run cannot be made with is refused
// with a line naming its flag.
func TestAbuseConfigCheck(t *testing.T) {
	tests := []struct {
		name   string
		change func(*AbuseConfig)
		want   string
	}{
		{"no binary", func(c *AbuseConfig) { c.Binary = "" }, "--binary"},
		{"no heavy learner", func(c *AbuseConfig) { c.HeavyOutcomes = 0 }, "--heavy-outcomes"},
		{"no attack time", func(c *AbuseConfig) { c.Attack = 0 }, "--attack"},
		{"no victim", func(c *AbuseConfig) { c.VictimRate = 0 }, "--victim-rate"},
		{"tiny cap", func(c *AbuseConfig) { c.MaxConnections = 4 }, "--max-connections"},
		{"unknown attack", func(c *AbuseConfig) { c.Attacks = []string{"smurf"} }, `unknown attack "smurf"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultAbuseConfig()
			cfg.Binary = "creditbank"
			tt.change(&cfg)
			err := cfg.Check()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Check: %v, want an error naming %q", err, tt.want)
			}
		})
	}
	cfg := DefaultAbuseConfig()
	cfg.Binary = "creditbank"
	if err := cfg.Check(); err != nil {
		t.Fatalf("the default configuration: %v", err)
	}
}

// TestAbuseFailures: each bound the report is held to is reported when
// missed, and nothing when all are met.
func TestAbuseFailures(t *testing.T) {
	row := func(before, during float64) AbuseRow {
		return AbuseRow{Attack: "tokens", Before: VictimWindow{P99ms: before}, During: VictimWindow{P99ms: during}, Ratio: during / before}
	}
	tests := []struct {
		name string
		rep  AbuseReport
		want string
	}{
		{"all met", AbuseReport{BoundMiB: 1024, PeakRSSMiB: 300, MaxRatio: 2, Rows: []AbuseRow{row(10, 19)}}, ""},
		{"lost", AbuseReport{BoundMiB: 1024, Lost: 1}, "1 acknowledged victim posts lost"},
		{"memory", AbuseReport{BoundMiB: 1024, PeakRSSMiB: 1500}, "over the bound of 1024 MiB"},
		{"ratio", AbuseReport{BoundMiB: 1024, MaxRatio: 2, Rows: []AbuseRow{row(10, 21)}}, "tokens: victim p99 21.0 ms is 2.1×"},
		{"no ratio bound", AbuseReport{BoundMiB: 1024, Rows: []AbuseRow{row(10, 210)}}, ""},
		{"unanswered", AbuseReport{BoundMiB: 1024, Unanswered: 3}, "3 victim posts never acknowledged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(tt.rep.Failures(), "; ")
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Fatalf("Failures: %q, want %q", got, tt.want)
			}
		})
	}
}
