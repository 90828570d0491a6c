package conformance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// confBinary builds creditbank into a temporary folder of t, with the
// extra build flags and coverage folder make cover and make race give
// (as cmd/creditbank's buildBinary does).
func confBinary(t testing.TB) (string, error) {
	bin := filepath.Join(t.TempDir(), "creditbank")
	args := append([]string{"build"}, strings.Fields(os.Getenv("CREDITBANK_TEST_BUILDFLAGS"))...)
	if out, err := exec.Command("go", append(args, "-o", bin, "../cmd/creditbank")...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	if dir := os.Getenv("CREDITBANK_TEST_GOCOVERDIR"); dir != "" {
		if err := os.Setenv("GOCOVERDIR", dir); err != nil {
			return "", err
		}
	}
	return bin, nil
}

// confServer is `creditbank serve` on a loopback port over a data folder;
// restart stops it with SIGTERM and starts it again on the same folder and
// port.
type confServer struct {
	t    testing.TB
	bin  string
	data string
	addr string
	url  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	logs *bytes.Buffer
}

func startConfServer(t testing.TB) *confServer {
	t.Helper()
	bin, err := confBinary(t)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &confServer{t: t, bin: bin, data: filepath.Join(t.TempDir(), "data"), addr: addr, url: "http://" + addr}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func (s *confServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs = &bytes.Buffer{}
	s.cmd = exec.Command(s.bin, "serve", "--data", s.data, "--addr", s.addr)
	s.cmd.Stderr = s.logs
	if err := s.cmd.Start(); err != nil {
		return err
	}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(s.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("server did not start\n%s", s.logs)
}

func (s *confServer) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	cmd := s.cmd
	s.cmd = nil
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("server exit: %v\n%s", err, s.logs)
		}
		return nil
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		return fmt.Errorf("server did not stop on SIGTERM\n%s", s.logs)
	}
}

func (s *confServer) restart() error {
	if err := s.stop(); err != nil {
		return err
	}
	return s.start()
}

// token mints a service token with `creditbank token --data`.
func (s *confServer) token(role, sub string) (string, error) {
	out, err := exec.Command(s.bin, "token", "--data", s.data, "--role", role, "--sub", sub).Output()
	if err != nil {
		return "", fmt.Errorf("creditbank token --role %s: %v", role, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// config is the suite's configuration for s, with every token.
func (s *confServer) config(t testing.TB) Config {
	t.Helper()
	admin, err := s.token("admin", "conformance")
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		URL: s.url, AdminToken: admin,
		RegulatorToken: func(sub string) (string, error) { return s.token("regulator", sub) },
		LearnerToken:   func(sub string) (string, error) { return s.token("learner", sub) },
	}
}

// TestSuite runs every case against the real server, restarting it once
// half way through.
func TestSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("the full conformance run builds and starts the server")
	}
	srv := startConfServer(t)
	cfg := srv.config(t)
	cfg.Restart = srv.restart
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sum := Run(ctx, cfg, func(r Result) {
		switch {
		case r.Skipped:
			t.Logf("SKIP %s: %s", r.Name, r.Err)
		case !r.Passed:
			t.Errorf("FAIL %s: %s", r.Name, r.Err)
		}
	})
	t.Logf("%d passed, %d failed, %d skipped in %s", sum.Passed, sum.Failed, sum.Skipped, sum.Duration.Round(time.Millisecond))
	if sum.Skipped > 0 {
		t.Errorf("%d cases skipped with every token and a restart given", sum.Skipped)
	}
	if sum.Passed < 80 {
		t.Errorf("only %d cases passed, want at least 80", sum.Passed)
	}
	if n := len(Cases()); sum.Passed+sum.Failed+sum.Skipped != n {
		t.Errorf("ran %d cases of %d", sum.Passed+sum.Failed+sum.Skipped, n)
	}
}

// TestCaseNames: names are unique and grouped by area.
func TestCaseNames(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range Cases() {
		if seen[n] {
			t.Errorf("case %s is defined twice", n)
		}
		seen[n] = true
		if area, _, ok := strings.Cut(n, "/"); !ok || area == "" {
			t.Errorf("case %s has no area/ prefix", n)
		}
	}
	if len(seen) < 100 {
		t.Errorf("%d cases", len(seen))
	}
}

// TestOnly: Config.Only selects by name and by prefix.
func TestOnly(t *testing.T) {
	s := newSuite(Config{Only: []string{"ops/healthz", "auth/"}})
	for name, want := range map[string]bool{"ops/healthz": true, "ops/readyz": false, "auth/expired": true, "authx/y": false} {
		if got := s.selected(name); got != want {
			t.Errorf("selected(%s) = %v, want %v", name, got, want)
		}
	}
}

// TestRFC6962 checks the suite's own Merkle code: its roots against
// golang.org/x/mod/sumdb/tlog (an independent implementation, used here
// only), and its verifiers against the proofs RFC 6962 defines, for every
// pair of sizes up to 40, and that they refuse altered proofs.
func TestRFC6962(t *testing.T) {
	if got := treeHash(nil); fmt.Sprintf("%x", got) != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Fatalf("empty root %x", got)
	}
	var leaves []hash
	var stored []tlog.Hash
	for i := range 40 {
		entry := []byte(fmt.Sprintf(`{"seq":%d}`, i))
		leaves = append(leaves, leafHash(entry))
		if leaves[i] != hash(tlog.RecordHash(entry)) {
			t.Fatalf("leaf %d differs from tlog", i)
		}
		hs, err := tlog.StoredHashes(int64(i), entry, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(idx))
			for j, x := range idx {
				out[j] = stored[x]
			}
			return out, nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
	}
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for j, x := range idx {
			out[j] = stored[x]
		}
		return out, nil
	})
	for n := 1; n <= len(leaves); n++ {
		root := treeHash(leaves[:n])
		want, err := tlog.TreeHash(int64(n), reader)
		if err != nil {
			t.Fatal(err)
		}
		if root != hash(want) {
			t.Fatalf("root of %d differs from tlog", n)
		}
		for m := 0; m < n; m++ {
			p := inclusionPath(m, leaves[:n])
			if err := verifyInclusion(uint64(m), uint64(n), leaves[m], p, root); err != nil {
				t.Fatalf("inclusion %d in %d: %v", m, n, err)
			}
			tp, err := tlog.ProveRecord(int64(n), int64(m), reader)
			if err != nil {
				t.Fatal(err)
			}
			if len(tp) != len(p) {
				t.Fatalf("inclusion %d in %d: %d hashes, tlog %d", m, n, len(p), len(tp))
			}
			if len(p) > 0 {
				bad := append([]hash(nil), p...)
				bad[0][0] ^= 1
				if verifyInclusion(uint64(m), uint64(n), leaves[m], bad, root) == nil {
					t.Fatalf("inclusion %d in %d: an altered proof verifies", m, n)
				}
				if verifyInclusion(uint64(m), uint64(n), leaves[m], p[:len(p)-1], root) == nil {
					t.Fatalf("inclusion %d in %d: a short proof verifies", m, n)
				}
			}
			if m == 0 {
				continue
			}
			cp := consistencyProof(m, leaves[:n])
			if err := verifyConsistency(uint64(m), uint64(n), treeHash(leaves[:m]), root, cp); err != nil {
				t.Fatalf("consistency %d to %d: %v", m, n, err)
			}
			tcp, err := tlog.ProveTree(int64(n), int64(m), reader)
			if err != nil {
				t.Fatal(err)
			}
			if len(tcp) != len(cp) {
				t.Fatalf("consistency %d to %d: %d hashes, tlog %d", m, n, len(cp), len(tcp))
			}
			for i := range cp {
				if cp[i] != hash(tcp[i]) {
					t.Fatalf("consistency %d to %d: hash %d differs from tlog", m, n, i)
				}
			}
			wrong := sha256.Sum256([]byte("wrong"))
			if verifyConsistency(uint64(m), uint64(n), wrong, root, cp) == nil {
				t.Fatalf("consistency %d to %d: a wrong first root verifies", m, n)
			}
			if verifyConsistency(uint64(m), uint64(n), treeHash(leaves[:m]), wrong, cp) == nil {
				t.Fatalf("consistency %d to %d: a wrong second root verifies", m, n)
			}
		}
	}
}

// TestRoundHalfEven checks the suite's rounding of the contract's formula.
func TestRoundHalfEven(t *testing.T) {
	for _, tt := range []struct{ num, den, want int64 }{
		{1000, 16, 62}, {3000, 16, 188}, {125, 10, 12}, {135, 10, 14}, {859375, 1000, 859}, {14, 10, 1}, {16, 10, 2},
	} {
		if got := roundHalfEven(tt.num, tt.den); got != tt.want {
			t.Errorf("roundHalfEven(%d, %d) = %d, want %d", tt.num, tt.den, got, tt.want)
		}
	}
	for s, want := range map[string]int64{"3": 300, "7.5": 750, "0.62": 62, "10.05": 1005} {
		if got, err := hundredths(s); err != nil || got != want {
			t.Errorf("hundredths(%q) = %d, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "-3", "3.125", "3.", ".5", "3e2", " 3"} {
		if _, err := hundredths(s); err == nil {
			t.Errorf("hundredths(%q) accepted", s)
		}
	}
}
