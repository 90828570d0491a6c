// Package witnesstest runs filippo.io/torchwood's litewitness, a C2SP
// tlog-witness witness we did not write, as a real process on loopback for
// the tests of packages witness and main. litewitness and witnessctl are
// pinned by go.mod's tool directive and built once per test process.
package witnesstest

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"creditbank/witness"
)

// Litewitness is a running litewitness.
type Litewitness struct {
	// URL is its submission prefix, http://127.0.0.1:PORT.
	URL string
	// Name and VerifierKey are its cosigner name and key.
	Name, VerifierKey string
	db                string
}

var build = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "litewitness")
	if err != nil {
		return "", err
	}
	out, err := exec.Command("go", "build", "-o", dir, "filippo.io/torchwood/cmd/litewitness", "filippo.io/torchwood/cmd/witnessctl").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build litewitness: %v\n%s", err, out)
	}
	return dir, nil
})

// Start runs a litewitness named name that knows the log origin by its
// verifier key logKey, and stops it when the test ends.
func Start(t testing.TB, name, origin, logKey string) *Litewitness {
	t.Helper()
	bin, err := build()
	if err != nil {
		t.Fatal(err)
	}
	// A unix socket path must stay under about 100 bytes: not t.TempDir().
	dir, err := os.MkdirTemp("", "lw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	db := filepath.Join(dir, "w.db")
	for _, args := range [][]string{{"add-log", "-db", db, "-origin", origin}, {"add-key", "-db", db, "-origin", origin, "-key", logKey}} {
		if out, err := exec.Command(filepath.Join(bin, "witnessctl"), args...).CombinedOutput(); err != nil {
			t.Fatalf("witnessctl %s: %v\n%s", args[0], err, out)
		}
	}
	pub, fingerprint := startAgent(t, filepath.Join(dir, "agent.sock"))
	for try := 0; ; try++ {
		addr := freeAddr(t)
		cmd := exec.Command(filepath.Join(bin, "litewitness"), "-db", db, "-name", name, "-key", fingerprint,
			"-ssh-agent", filepath.Join(dir, "agent.sock"), "-listen", addr)
		logf, err := os.Create(filepath.Join(dir, "litewitness.log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); logf.Close(); close(exited) }()
		if up(addr, exited) {
			t.Cleanup(func() {
				cmd.Process.Signal(os.Interrupt)
				select {
				case <-exited:
				case <-time.After(5 * time.Second):
					cmd.Process.Kill()
					<-exited
				}
			})
			return &Litewitness{URL: "http://" + addr, Name: name, VerifierKey: witness.VerifierKey(name, pub), db: db}
		}
		cmd.Process.Kill()
		<-exited
		if try == 3 {
			log, _ := os.ReadFile(filepath.Join(dir, "litewitness.log"))
			t.Fatalf("litewitness did not start:\n%s", log)
		}
	}
}

// up waits for the witness to answer on addr, unless it exits first.
func up(addr string, exited chan struct{}) bool {
	for range 100 {
		select {
		case <-exited:
			return false
		default:
		}
		if resp, err := http.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// freeAddr finds a loopback port nothing listens on now.
func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startAgent serves a fresh Ed25519 key over the ssh-agent protocol on
// sock, as litewitness takes its key, and returns the public key and its
// SSH fingerprint.
func startAgent(t testing.TB, sock string) (ed25519.PublicKey, string) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kr := agent.NewKeyring()
	if err := kr.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { agent.ServeAgent(kr, c); c.Close() }()
		}
	}()
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pub, ssh.FingerprintSHA256(sp)
}
