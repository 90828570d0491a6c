// Command mutate checks that the tests guard the core invariants: it plants
// each mutation of a fixed list (mutations.go), one at a time, in a copy of
// the working tree, runs the tests that should catch it, and reports which
// mutations survive. `make mutate` runs it from the top of the clone;
// docs/testing.md keeps the table it prints.
//
// The working tree is never touched: the files git knows of (tracked, and
// untracked but not ignored) are copied to a temporary folder and mutated
// there. Each mutation replaces exact text, which must occur exactly once
// in its file: when the code changes under a mutation the run stops and
// says which, so that the list is fixed rather than silently skipped.
// Every test run is first made on the unmutated copy; one that fails there
// would kill every mutation and prove nothing, so it is left out and the
// whole run fails once the table is printed.
//
// A mutation that survives fails the run unless the list explains why no
// test can tell it apart from the real code (equivalent); one listed as
// equivalent that a test does catch fails it too, so the list stays true.
//
// Usage:
//
//	go run ./tools/mutate [-run REGEXP] [-keep] [-list] [-timeout 10m]
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// edit replaces Old, which must occur exactly once in File, with New.
type edit struct {
	File, Old, New string
}

// testRun is one `go test` of the named tests of a package.
type testRun struct {
	Pkg   string
	Tests []string
}

// pattern is the -run pattern selecting exactly the named tests.
func (r testRun) pattern() string { return "^(" + strings.Join(r.Tests, "|") + ")$" }

func (r testRun) String() string { return r.Pkg + " -run '" + r.pattern() + "'" }

// key identifies the run for de-duplication.
func (r testRun) key() string { return r.String() }

// mutation is one planted bug.
type mutation struct {
	Name  string
	Edits []edit
	// Tests are the runs that should catch it; all are run, so that the
	// report names every test that does.
	Tests []testRun
	// Equivalent, when set, says why no test can catch the mutation: it
	// does not change what the code promises.
	Equivalent string
}

// outcome is what became of one mutation.
type outcome struct {
	m        mutation
	killedBy []string // "pkg: TestName" of each failing test
	broken   string   // the mutation does not compile, or a run could not start
	took     time.Duration
}

func (o outcome) verdict() string {
	switch {
	case o.broken != "":
		return "BROKEN"
	case len(o.killedBy) > 0 && o.m.Equivalent != "":
		return "KILLED, LISTED AS EQUIVALENT"
	case len(o.killedBy) > 0:
		return "killed"
	case o.m.Equivalent != "":
		return "equivalent"
	}
	return "SURVIVED"
}

// ok says whether the outcome leaves the list true.
func (o outcome) ok() bool {
	v := o.verdict()
	return v == "killed" || v == "equivalent"
}

func main() {
	runRE := flag.String("run", "", "run only the mutations whose name matches this regular expression")
	keep := flag.Bool("keep", false, "keep the copy of the tree (its path is printed)")
	list := flag.Bool("list", false, "list the mutations and their tests, and exit")
	timeout := flag.Duration("timeout", 10*time.Minute, "go test -timeout for each run")
	flag.Parse()
	if err := run(*runRE, *keep, *list, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "mutate:", err)
		os.Exit(1)
	}
}

func run(runRE string, keep, list bool, timeout time.Duration) error {
	re, err := regexp.Compile(runRE)
	if err != nil {
		return fmt.Errorf("-run: %v", err)
	}
	var selected []mutation
	for _, m := range mutations {
		if re.MatchString(m.Name) {
			selected = append(selected, m)
		}
	}
	if len(selected) == 0 {
		return fmt.Errorf("no mutation matches -run %q", runRE)
	}
	if list {
		for _, m := range selected {
			fmt.Printf("%s\n", m.Name)
			for _, t := range m.Tests {
				fmt.Printf("    go test %s\n", t)
			}
		}
		return nil
	}
	root, err := gitOutput("", "rev-parse", "--show-toplevel")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "creditbank-mutate-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Printf("copy of the tree: %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if err := copyTree(strings.TrimSpace(root), dir); err != nil {
		return err
	}
	if err := checkEdits(dir, selected); err != nil {
		return err
	}
	failing, err := baseline(dir, selected, timeout)
	if err != nil {
		return err
	}
	var outcomes []outcome
	for i, m := range selected {
		fmt.Printf("[%d/%d] %s ... ", i+1, len(selected), m.Name)
		o, err := plant(dir, m, failing, timeout)
		if err != nil {
			return err
		}
		fmt.Printf("%s (%s)\n", o.verdict(), o.took.Round(time.Second))
		outcomes = append(outcomes, o)
	}
	if err := report(os.Stdout, outcomes); err != nil {
		return err
	}
	if len(failing) > 0 {
		return fmt.Errorf("%d test runs fail without any mutation (listed above): the table is incomplete", len(failing))
	}
	return nil
}

// gitOutput runs git read-only in dir and returns its output.
func gitOutput(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// copyTree copies the files git knows of in root (tracked, and untracked
// but not ignored, as they are in the working tree) to dir.
func copyTree(root, dir string) error {
	out, err := gitOutput(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	if err != nil {
		return err
	}
	n := 0
	for _, name := range strings.Split(out, "\x00") {
		if name == "" {
			continue
		}
		src := filepath.Join(root, name)
		fi, err := os.Lstat(src)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the working tree, not yet in the index
		}
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		if err := copyFile(src, filepath.Join(dir, name), fi.Mode().Perm()); err != nil {
			return err
		}
		n++
	}
	head, err := gitOutput(root, "rev-parse", "--short", "HEAD")
	if err != nil {
		return err
	}
	fmt.Printf("copied %d files of %s (HEAD %s and the working tree's changes)\n", n, root, strings.TrimSpace(head))
	return nil
}

func copyFile(src, dst string, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// checkEdits fails, naming every one, if an edit's old text is not found
// exactly once: the code changed and the list must follow it.
func checkEdits(dir string, ms []mutation) error {
	var problems []string
	for _, m := range ms {
		if len(m.Edits) == 0 || len(m.Tests) == 0 {
			problems = append(problems, fmt.Sprintf("%s: no edit or no test", m.Name))
		}
		for _, e := range m.Edits {
			b, err := os.ReadFile(filepath.Join(dir, e.File))
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", m.Name, err))
				continue
			}
			if n := bytes.Count(b, []byte(e.Old)); n != 1 {
				problems = append(problems, fmt.Sprintf("%s: %s holds the old text %d times, want once:\n\t%s", m.Name, e.File, n, e.Old))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("the mutation list no longer matches the code:\n%s", strings.Join(problems, "\n"))
	}
	return nil
}

// baseline runs every selected test once on the unmutated copy and
// returns the runs that fail there: such a run would kill every mutation
// and prove nothing, so it is left out (and the run fails at the end).
func baseline(dir string, ms []mutation, timeout time.Duration) (map[string]bool, error) {
	var runs []testRun
	seen := map[string]bool{}
	for _, m := range ms {
		for _, t := range m.Tests {
			if !seen[t.key()] {
				seen[t.key()] = true
				runs = append(runs, t)
			}
		}
	}
	fmt.Printf("baseline: %d test runs on the unmutated tree\n", len(runs))
	failing := map[string]bool{}
	for _, t := range runs {
		if err := checkTestsExist(dir, t); err != nil {
			return nil, err
		}
		start := time.Now()
		out, failed, err := goTest(dir, t, timeout)
		if err != nil {
			return nil, err
		}
		if failed {
			failing[t.key()] = true
			fmt.Printf("  FAIL go test %s fails without any mutation; left out:\n%s\n", t, tail(out, 30))
			continue
		}
		fmt.Printf("  ok  go test %s (%s)\n", t, time.Since(start).Round(time.Second))
	}
	return failing, nil
}

// plant applies m in dir, runs its tests (but those failing unmutated)
// and puts the files back.
func plant(dir string, m mutation, failing map[string]bool, timeout time.Duration) (outcome, error) {
	o := outcome{m: m}
	start := time.Now()
	saved := map[string][]byte{}
	defer func() {
		for name, b := range saved {
			os.WriteFile(filepath.Join(dir, name), b, 0o644)
		}
	}()
	for _, e := range m.Edits {
		path := filepath.Join(dir, e.File)
		b, err := os.ReadFile(path)
		if err != nil {
			return o, err
		}
		if _, ok := saved[e.File]; !ok {
			saved[e.File] = b
		}
		if err := os.WriteFile(path, bytes.Replace(b, []byte(e.Old), []byte(e.New), 1), 0o644); err != nil {
			return o, err
		}
	}
	ran := 0
	for _, t := range m.Tests {
		if failing[t.key()] {
			continue
		}
		ran++
		out, failed, err := goTest(dir, t, timeout)
		if err != nil {
			return o, err
		}
		if !failed {
			continue
		}
		if strings.Contains(out, "[build failed]") || strings.Contains(out, "[setup failed]") {
			o.broken = "does not compile:\n" + tail(out, 20)
			break
		}
		for _, name := range failedTests(out) {
			o.killedBy = append(o.killedBy, strings.TrimPrefix(t.Pkg, "./")+": "+name)
		}
	}
	if ran == 0 {
		o.broken = "every test run listed for it fails without any mutation"
	}
	o.took = time.Since(start)
	return o, nil
}

var failLine = regexp.MustCompile(`(?m)^--- FAIL: (\S+)`)

// failedTests names the top-level tests go test reported failed, or says
// how the run failed when no test was named (a panic or a timeout in
// another goroutine).
func failedTests(out string) []string {
	var names []string
	for _, m := range failLine.FindAllStringSubmatch(out, -1) {
		if !slices.Contains(names, m[1]) {
			names = append(names, m[1])
		}
	}
	switch {
	case len(names) > 0:
		return names
	case strings.Contains(out, "panic: test timed out"):
		return []string{"(timed out)"}
	case strings.Contains(out, "panic:"):
		return []string{"(panicked: " + firstLineWith(out, "panic:") + ")"}
	}
	return []string{"(failed: " + firstLineWith(out, "FAIL") + ")"}
}

// checkTestsExist fails unless every test t names is one of its package:
// a renamed test would otherwise quietly catch nothing.
func checkTestsExist(dir string, t testRun) error {
	cmd := exec.Command("go", "test", "-list", t.pattern(), t.Pkg)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go test -list %s: %v\n%s", t, err, tail(string(out), 20))
	}
	listed := strings.Fields(string(out))
	var missing []string
	for _, name := range t.Tests {
		if !slices.Contains(listed, name) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the mutation list names tests %s has not: %s", t.Pkg, strings.Join(missing, ", "))
	}
	return nil
}

// goTest runs one test run in dir and reports whether it failed.
func goTest(dir string, t testRun, timeout time.Duration) (string, bool, error) {
	cmd := exec.Command("go", "test", "-count=1", "-timeout", timeout.String(), "-run", t.pattern(), t.Pkg)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), false, nil
	case errors.As(err, &ee):
		return out.String(), true, nil
	}
	return "", false, fmt.Errorf("go test %s: %v", t, err)
}

// report prints the table and fails unless every outcome is killed or
// explained as equivalent.
func report(w io.Writer, outcomes []outcome) error {
	fmt.Fprintf(w, "\n| mutation | result | caught by, or why equivalent |\n| --- | --- | --- |\n")
	counts := map[string]int{}
	bad := 0
	for _, o := range outcomes {
		v := o.verdict()
		counts[v]++
		if !o.ok() {
			bad++
		}
		why := byPackage(o.killedBy)
		switch v {
		case "equivalent":
			why = o.m.Equivalent
		case "BROKEN":
			why = strings.ReplaceAll(o.broken, "\n", " ")
		case "SURVIVED":
			var runs []string
			for _, t := range o.m.Tests {
				runs = append(runs, "go test "+t.String())
			}
			why = "no failure in " + strings.Join(runs, "; ")
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", o.m.Name, v, why)
	}
	fmt.Fprintf(w, "\n%d mutations: %d killed, %d equivalent, %d survived, %d broken, %d killed though listed as equivalent\n",
		len(outcomes), counts["killed"], counts["equivalent"], counts["SURVIVED"], counts["BROKEN"], counts["KILLED, LISTED AS EQUIVALENT"])
	if bad > 0 {
		return fmt.Errorf("%d of %d mutations are neither killed nor explained", bad, len(outcomes))
	}
	return nil
}

// byPackage writes "pkg: A, pkg: B, other: C" as "pkg: A, B; other: C".
func byPackage(killedBy []string) string {
	var parts []string
	last := ""
	for _, k := range killedBy {
		pkg, name, _ := strings.Cut(k, ": ")
		if pkg == last {
			parts[len(parts)-1] += ", " + name
			continue
		}
		parts = append(parts, k)
		last = pkg
	}
	return strings.Join(parts, "; ")
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func firstLineWith(s, sub string) string {
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}
