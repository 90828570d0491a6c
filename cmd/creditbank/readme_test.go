package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readmeWalkthrough returns the shell block of README.md between the
// walkthrough markers.
func readmeWalkthrough(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- walkthrough:begin -->\n```sh\n")
	script, _, ok2 := strings.Cut(rest, "```\n<!-- walkthrough:end -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no walkthrough block")
	}
	return script
}

// TestReadmeWalkthrough runs the README's curl walk-through, as written,
// twice against one server, data folder and working folder, with
// `set -euo pipefail` so that any failing step fails. The first run does
// every step; the second finds each one done and says so, without harm.
func TestReadmeWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("the walk-through needs curl, which .ci/run installs: install it")
	}
	script := readmeWalkthrough(t)
	bin := buildBinary(t)
	work := t.TempDir()
	data := filepath.Join(work, "data")
	url := startServer(t, bin, data)
	examples, err := filepath.Abs(filepath.Join("..", "..", "docs", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(name string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", "-c", "set -euo pipefail\n"+script)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "B="+url, "CB="+bin, "DATA="+data, "EX="+examples)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s run of the walkthrough failed: %v\n%s", name, err, out)
		}
		t.Logf("%s run:\n%s", name, out)
		return string(out)
	}
	check := func(name, out string, want, unwanted []string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s run: output lacks %q", name, w)
			}
		}
		for _, u := range unwanted {
			if strings.Contains(out, u) {
				t.Errorf("%s run: output has %q", name, u)
			}
		}
	}
	first := run("first")
	check("first", first,
		[]string{`"standard_credits":"3"`, `"granted":"1.5"`, "HTTP 201\n", `"version":1,`, "creditbank.local/ledger\n",
			`"purpose":"admission to BSC-CS"`, "HTTP 403\n", "HTTP 204\n",
			`"learner":"L000456","reason":"the learner asked"`, "urn:creditbank:problem:learner-erased", "HTTP 410\n",
			`"id":"acbs-bsc-computer-science","institution":"acbs.example"`, `"id":"sh-hvd-mechatronics"`,
			`"earned":"3","required":"60","met":false`, "urn:creditbank:problem:award-not-eligible", `"missing":[{"kind":"requirement"`, "HTTP 422\n",
			// section 13: a certified unit in the catalogue, a mismatched outcome of it refused, its
			// outcome converted, a case refused then granted on appeal, the audit counting both
			`{"units":[{"institution":"community.example","code":"CE-HA-04"`, "urn:creditbank:problem:unit-mismatch",
			`"status":"refused","appeal_by":"`, `"status":"granted_on_appeal"`, `"source":"recognition"`,
			`"converted":"4","recognised":"5"`},
		[]string{"already", "kept"})
	second := run("second")
	check("second", second,
		[]string{
			"college.jwk exists: kept", "univ.jwk exists: kept",
			"college.example is already registered", "univ.example is already registered",
			"college.example is already accredited", "HTTP 200\n", `"version":2,`,
			"nothing left to convert", `"granted":"1.5"`, "creditbank.local/ledger\n",
			`"status":"withdrawn"`, "HTTP 204\n", // the first run's grant, listed; a new one granted and withdrawn
			"L000456 was erased on an earlier run: the post is refused",
			"L000456 was erased on an earlier run: erasing again answers 410", "HTTP 410\n",
			"acbs.example is already registered", "nothing left to convert: the outcome already counts toward the bachelor's",
			"urn:creditbank:problem:award-not-eligible",
			"community.example is already accredited", "harbour.example is already accredited", "urn:creditbank:problem:unit-mismatch",
			"nothing left to convert: the unit already counts toward the diploma", "granted credit on an earlier run: the learner reads it",
			`"status":"granted_on_appeal"`, `"converted":"4","recognised":"5"`,
		},
		[]string{"HTTP 201\n"})
}
