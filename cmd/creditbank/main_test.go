package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildBinary builds creditbank into a temporary folder, with the extra
// `go build` flags of $CREDITBANK_TEST_BUILDFLAGS (make cover: -cover, make
// race: -race). With $CREDITBANK_TEST_GOCOVERDIR set, every process the
// tests start from then on writes its coverage there (GOCOVERDIR), where
// make cover merges it with the tests' own.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "creditbank")
	args := append([]string{"build"}, strings.Fields(os.Getenv("CREDITBANK_TEST_BUILDFLAGS"))...)
	out, err := exec.Command("go", append(args, "-o", bin, ".")...).CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if dir := os.Getenv("CREDITBANK_TEST_GOCOVERDIR"); dir != "" {
		// go test points GOCOVERDIR at a folder of its own, which it reads
		// only for the test binary's data and then deletes.
		if err := os.Setenv("GOCOVERDIR", dir); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer runs `creditbank serve` on a free loopback port and waits
// until it answers; the server is stopped with SIGTERM when the test ends.
func startServer(t *testing.T, bin, data string) string {
	t.Helper()
	addr := freeAddr(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve", "--data", data, "--addr", addr)
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server exit: %v\n%s", err, logs.String())
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("server did not stop on SIGINT\n%s", logs.String())
		}
	})
	url := "http://" + addr
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			return url
		}
	}
	t.Fatalf("server did not start\n%s", logs.String())
	return ""
}

// TestCommandErrors: bad flags and a data folder held by another process
// are one line on stderr and exit status 1.
func TestCommandErrors(t *testing.T) {
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	startServer(t, bin, data)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "no command given"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"bad addr", []string{"serve", "--data", t.TempDir(), "--addr", "nope"}, "--addr"},
		{"tiny cache", []string{"serve", "--data", t.TempDir(), "--cache-mb", "1"}, "--cache-mb 1: want 8 to"},
		{"data in use", []string{"serve", "--data", data, "--addr", freeAddr(t)}, "in use by another process"},
		{"bad role", []string{"token", "--data", data, "--role", "king", "--sub", "x"}, "--role"},
		{"long ttl", []string{"sign", "--key", "k", "--iss", "a.example", "--ttl", "11m"}, "--ttl"},
		{"verify without data", []string{"verify"}, "--data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			cmd := exec.Command(bin, tt.args...)
			cmd.Stderr = &stderr
			err := cmd.Run()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 1 {
				t.Fatalf("exit: %v (stderr %q)", err, stderr.String())
			}
			last := strings.TrimSpace(stderr.String())
			if i := strings.LastIndex(last, "\n"); i >= 0 {
				last = last[i+1:]
			}
			if !strings.HasPrefix(last, "creditbank: ") || !strings.Contains(last, tt.want) {
				t.Fatalf("stderr %q, want one line naming %q", stderr.String(), tt.want)
			}
			if strings.Contains(stderr.String(), "goroutine ") {
				t.Fatalf("stack trace on stderr: %s", stderr.String())
			}
		})
	}
}
