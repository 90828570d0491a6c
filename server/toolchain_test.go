package server

import (
	"os"
	"regexp"
	"testing"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
)

// TestToolchainPinned: go.mod names, in a toolchain line, the Go release
// the module is built and tested with, a whole release no older than its go
// line, so that every build of a given commit uses the same compiler and
// standard library.
func TestToolchainPinned(t *testing.T) {
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse("go.mod", b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Toolchain == nil {
		t.Fatal("go.mod has no toolchain line")
	}
	name := f.Toolchain.Name
	if !regexp.MustCompile(`^go1\.\d+\.\d+$`).MatchString(name) {
		t.Fatalf("toolchain %q, want a release such as go1.26.8", name)
	}
	if semver.Compare("v"+name[2:], "v"+f.Go.Version) < 0 {
		t.Errorf("toolchain %s is older than the go line %s", name, f.Go.Version)
	}
}
