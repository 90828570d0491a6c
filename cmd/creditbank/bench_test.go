package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchFlags: bench's flags reach the load generator's configuration,
// and one it cannot run with is a one-line error naming the flag.
func TestBenchFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--clients", "0"}, "--clients"},
		{[]string{"--batch-size", "0"}, "--batch-size"},
		{[]string{"--phases", "single, nope"}, `unknown phase "nope"`},
		{[]string{"--token", "t"}, "--token goes with --url"},
		{[]string{"--duration", "soon"}, "bench: invalid value"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(append([]string{"bench"}, tc.args...), &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("bench %v: %v, want one line naming %s", tc.args, err, tc.want)
		}
	}
	if testing.Short() {
		t.Skip("the rest runs the load generator")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "bench.json")
	var stdout, stderr bytes.Buffer
	args := []string{"bench", "--dir", filepath.Join(dir, "work"), "--phases", "proof", "--learners", "1",
		"--clients", "2", "--batch-size", "100", "--duration", "200ms", "--json", out}
	if err := run(args, &stdout, &stderr); err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Mode      string `json:"mode"`
		Clients   int    `json:"clients"`
		BatchSize int    `json:"batch_size"`
		Learners  int    `json:"transcript_learners"`
		Phases    []struct {
			Phase string `json:"phase"`
		} `json:"phases"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	var phases []string
	for _, p := range rep.Phases {
		phases = append(phases, p.Phase)
	}
	if rep.Mode != "in-process" || rep.Clients != 2 || rep.BatchSize != 100 || rep.Learners != 1 ||
		strings.Join(phases, ",") != "inclusion,checkpoint" {
		t.Errorf("the flags did not reach the run: %s", b)
	}
	if !strings.Contains(stdout.String(), "\ninclusion ") {
		t.Errorf("no table on stdout:\n%s", stdout.String())
	}
}
