package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"creditbank/internal/witnesstest"
	"creditbank/ledger"
	"creditbank/witness"
)

// served returns what path answers, with no token.
func served(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// waitCosigned waits until the server's checkpoint covers its tree and
// carries a cosignature by the witness named name.
func waitCosigned(t *testing.T, b *httpBank, name string) {
	t.Helper()
	want := b.durableSize()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		cp := served(t, b.url+"/tlog/checkpoint")
		if checkpointSize(t, []byte(cp)) >= want && strings.Contains(cp, "\n— "+name+" ") {
			return
		}
	}
	t.Fatalf("no checkpoint over %d entries cosigned by %s:\n%s", want, name, served(t, b.url+"/tlog/checkpoint"))
}

// TestVerifyWitnesses: a server configured with torchwood's litewitness
// serves checkpoints it cosigned; verify --witness passes with its key and
// fails with another's or with a threshold the cosignatures do not reach.
// A second server with the same key and origin but another history (a
// split view) gets no cosignature from that witness, which counts it
// refused, and verify --since a checkpoint of the first fails on it.
func TestVerifyWitnesses(t *testing.T) {
	bin := buildBinary(t)
	work := t.TempDir()
	const publicURL = "https://credits.example.gov"
	const origin = "credits.example.gov/tlog"
	dataA, dataB := filepath.Join(work, "a"), filepath.Join(work, "b")
	keys, err := ledger.LoadOrCreateKeys(filepath.Join(dataA, "keys"), origin)
	if err != nil {
		t.Fatal(err)
	}
	// The same signing key for the second log.
	if err := os.MkdirAll(filepath.Join(dataB, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ledger.key", "ledger.pub"} {
		b, err := os.ReadFile(filepath.Join(dataA, "keys", f))
		if err == nil {
			err = os.WriteFile(filepath.Join(dataB, "keys", f), b, 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	lw := witnesstest.Start(t, "witness.example/w1", origin, keys.VerifierKey)
	wflag := []string{"--public-url", publicURL, "--witness", lw.VerifierKey + "," + lw.URL}

	srvA := runServer(t, bin, dataA, wflag...)
	a := newBank(t, bin, dataA, srvA.url)
	a.round(1, 2)
	waitCosigned(t, a, lw.Name)
	if cp := served(t, srvA.url+"/v1/log/checkpoint"); !strings.HasPrefix(cp, origin+"\n") || !strings.Contains(cp, "\n— "+lw.Name+" ") {
		t.Fatalf("/v1/log/checkpoint:\n%s", cp)
	}
	saved := filepath.Join(work, "a.checkpoint")
	out := mustRun(t, bin, "verify", "--url", srvA.url, "--token", a.admin, "--key", keys.VerifierKey,
		"--witness", lw.VerifierKey, "--witness-threshold", "1", "--save", saved)
	if !strings.Contains(out, "witness cosignatures:    1 of 1 witnesses cosigned the latest checkpoint, 1 needed (witness.example/w1)") {
		t.Errorf("verify with the witness:\n%s", out)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	stranger := witness.VerifierKey("witness.example/stranger", pub)
	for _, c := range []struct {
		name string
		args []string
		exit int
		want string
	}{
		{"another witness", []string{"--witness", stranger}, 1, "FAIL: witness cosignatures: 0 of the 1 asked for (none cosigned; none from witness.example/stranger)"},
		{"two of two", []string{"--witness", lw.VerifierKey, "--witness", stranger, "--witness-threshold", "2"}, 1, "FAIL: witness cosignatures: 1 of the 2 asked for (witness.example/w1 cosigned; none from witness.example/stranger)"},
		{"one of two", []string{"--witness", lw.VerifierKey, "--witness", stranger, "--witness-threshold", "1"}, 0, "1 of 2 witnesses cosigned the latest checkpoint, 1 needed"},
		{"threshold above the keys", []string{"--witness", lw.VerifierKey, "--witness-threshold", "2"}, 1, "--witness-threshold 2: want 1 to the number of --witness keys given (1)"},
		{"not a cosigner key", []string{"--witness", keys.VerifierKey}, 1, "not an Ed25519 cosignature key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runCmd(t, bin, nil, append([]string{"verify", "--url", srvA.url, "--token", a.admin, "--key", keys.VerifierKey}, c.args...)...)
			if r.code != c.exit || !strings.Contains(r.stdout+r.stderr, c.want) {
				t.Fatalf("exit %d, want %d and %q:\n%s", r.code, c.exit, c.want, r)
			}
		})
	}

	// The split view: log B, same key and origin, another history.
	srvB := runServer(t, bin, dataB, wflag...)
	b := newBank(t, bin, dataB, srvB.url)
	b.round(7, 3) // longer than A: its proof from A's size cannot hold
	b.waitCheckpoint()
	var metrics string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		metrics = served(t, srvB.url+"/metrics")
		if strings.Contains(metrics, `creditbank_witness_failures_total{reason="inconsistent",witness="witness.example/w1"} 1`) {
			break
		}
	}
	if !strings.Contains(metrics, `creditbank_witness_failures_total{reason="inconsistent",witness="witness.example/w1"}`) ||
		strings.Contains(metrics, `creditbank_witness_failures_total{reason="inconsistent",witness="witness.example/w1"} 0`) {
		t.Errorf("log B's witness failures:\n%s", grepLines(metrics, "creditbank_witness"))
	}
	if cp := served(t, srvB.url+"/tlog/checkpoint"); strings.Contains(cp, "— "+lw.Name) {
		t.Errorf("log B was cosigned:\n%s", cp)
	}
	r := runCmd(t, bin, nil, "verify", "--url", srvB.url, "--token", b.admin, "--key", keys.VerifierKey, "--since", saved)
	if r.code != 1 || !strings.Contains(r.stdout, "FAIL: consistency proof from size") {
		t.Fatalf("verify of log B --since log A's checkpoint: exit %d\n%s", r.code, r)
	}
	t.Logf("verify of log B --since log A's checkpoint:\n%s", r.stdout)
	// Log A goes on being cosigned.
	a.round(2, 1)
	waitCosigned(t, a, lw.Name)
	if _, err := os.Stat(filepath.Join(dataA, "witnesses.json")); err != nil {
		t.Errorf("witness state: %v", err)
	}
}

// grepLines keeps the lines of s that hold sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
