package witness_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/torchwood"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/mod/sumdb/note"

	"creditbank/internal/witnesstest"
	"creditbank/ledger"
	"creditbank/witness"
)

const origin = "credits.example.gov/tlog"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// openLedger opens a ledger on a fresh store signed with keys, with n
// entries whose content starts with tag, and a checkpoint over them.
func openLedger(t *testing.T, keys ledger.Keys, n int, tag string) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(ledger.Options{Dir: t.TempDir(), Keys: keys, Logger: quiet, MinFreeBytes: -1,
		OnFatal: func(err error) { panic(err) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	grow(t, l, n, tag)
	return l
}

// grow appends n entries and signs a checkpoint over them.
func grow(t *testing.T, l *ledger.Ledger, n int, tag string) {
	t.Helper()
	var recs ledger.Records
	for i := range n {
		c, err := ledger.MarshalContent(map[string]any{"tag": tag, "i": i})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, ledger.Record{Type: "test.entry", Actor: "test", Content: c})
	}
	if n > 0 {
		if _, err := l.Append(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.SignCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func newKeys(t *testing.T) ledger.Keys {
	t.Helper()
	keys, _, err := ledger.GenerateKeys(origin)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// start starts a submitter for ws over l that polls often and backs off
// briefly, with its own registry, and closes it when the test ends.
func start(t *testing.T, l witness.Log, state string, ws ...witness.Witness) (*witness.Submitter, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := witness.Start(witness.Options{Log: l, Witnesses: ws, StateFile: state, Poll: 10 * time.Millisecond,
		Timeout: 300 * time.Millisecond, MinBackoff: 200 * time.Millisecond, MaxBackoff: time.Second, Logger: quiet, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, reg
}

// cosigners returns the names of the witnesses among vs whose cosignature
// of l's checkpoint the submitter serves.
func cosigners(t *testing.T, l *ledger.Ledger, served []byte, keys ledger.Keys, vs ...string) []string {
	t.Helper()
	list := []note.Verifier{keys.Verifier}
	for _, vk := range vs {
		v, err := witness.NewVerifier(vk)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, v)
	}
	n, err := note.Open(served, note.VerifierList(list...))
	if err != nil {
		t.Fatalf("open the served checkpoint: %v\n%s", err, served)
	}
	var names []string
	for _, s := range n.Sigs {
		if s.Name != origin {
			names = append(names, s.Name)
		}
	}
	return names
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func checkpointSize(t *testing.T, served []byte) string {
	t.Helper()
	return strings.SplitN(string(served), "\n", 3)[1]
}

// TestLitewitness: torchwood's litewitness, a witness we did not write,
// cosigns each new checkpoint given a consistency proof from the size it
// last cosigned; the size survives a restart in the state file, and one
// lost is learnt again from the witness's 409.
func TestLitewitness(t *testing.T) {
	keys := newKeys(t)
	l := openLedger(t, keys, 10, "a")
	lw := witnesstest.Start(t, "witness.example/w1", origin, keys.VerifierKey)
	state := filepath.Join(t.TempDir(), "witnesses.json")
	ws := witness.Witness{URL: lw.URL, Key: lw.VerifierKey}
	s, reg := start(t, l, state, ws)
	waitFor(t, "a cosignature of size 10", func() bool {
		return checkpointSize(t, s.Checkpoint()) == "10" && len(cosigners(t, l, s.Checkpoint(), keys, lw.VerifierKey)) == 1
	})
	// Grown past a tile and more: the proof from 10 to 310 has several
	// hashes, which litewitness checks against the root it kept.
	grow(t, l, 300, "a")
	waitFor(t, "a cosignature of size 310", func() bool {
		return checkpointSize(t, s.Checkpoint()) == "310" && len(cosigners(t, l, s.Checkpoint(), keys, lw.VerifierKey)) == 1
	})
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP creditbank_witness_cosigned_tree_size Tree size of the latest checkpoint a witness cosigned.
# TYPE creditbank_witness_cosigned_tree_size gauge
creditbank_witness_cosigned_tree_size{witness="witness.example/w1"} 310
`), "creditbank_witness_cosigned_tree_size"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	var st struct{ Witnesses map[string]uint64 }
	b, err := os.ReadFile(state)
	if err != nil || json.Unmarshal(b, &st) != nil || st.Witnesses[lw.VerifierKey] != 310 {
		t.Fatalf("state file %s: %v", b, err)
	}
	s.Close()

	// The state file lost: the next start submits from 0, is told 310
	// with a 409, and goes on from there.
	os.Remove(state)
	grow(t, l, 5, "a")
	s2, reg2 := start(t, l, state, ws)
	waitFor(t, "a cosignature of size 315", func() bool {
		return checkpointSize(t, s2.Checkpoint()) == "315" && len(cosigners(t, l, s2.Checkpoint(), keys, lw.VerifierKey)) == 1
	})
	if n := failures(t, reg2, "witness.example/w1", ""); n != 0 {
		t.Errorf("%v failures after a 409 that was followed", n)
	}
}

// failures reads creditbank_witness_failures_total of witness for reason
// (all reasons when "").
func failures(t *testing.T, reg *prometheus.Registry, name, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != "creditbank_witness_failures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["witness"] == name && (reason == "" || labels["reason"] == reason) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// fakeWitness answers add-checkpoint as answer says, counting requests.
type fakeWitness struct {
	name, vkey string
	requests   atomic.Int64
	srv        *httptest.Server
}

func newFake(t *testing.T, name string, answer func(w http.ResponseWriter, body []byte, signer *torchwood.CosignatureSigner)) *fakeWitness {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := torchwood.NewCosignatureSigner(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeWitness{name: name, vkey: witness.VerifierKey(name, pub)}
	if f.vkey != signer.Verifier().String() {
		t.Fatalf("our verifier key %s, torchwood's %s", f.vkey, signer.Verifier())
	}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/add-checkpoint" {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		answer(w, body, signer)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// cosign signs the checkpoint of an add-checkpoint body with signer.
func cosign(body []byte, signer note.Signer) []byte {
	_, cp, _ := bytes.Cut(body, []byte("\n\n"))
	text := cp[:bytes.LastIndex(cp, []byte("\n\n"))+1]
	signed, err := note.Sign(&note.Note{Text: string(text)}, signer)
	if err != nil {
		panic(err)
	}
	return signed[bytes.LastIndex(signed, []byte("\n\n"))+2:]
}

// TestMisbehavingWitnesses: a witness that signs with another key, one
// that keeps answering 409 with a stale size, one too slow to answer, one
// that refuses our key, and one answering garbage are each reported under
// their reason, cost no more than the request timeout, are not asked again
// until their backoff ends, and do not keep the good witness's cosignature
// from being served.
func TestMisbehavingWitnesses(t *testing.T) {
	keys := newKeys(t)
	l := openLedger(t, keys, 20, "a")
	lw := witnesstest.Start(t, "witness.example/good", origin, keys.VerifierKey)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	otherSigner, _ := torchwood.NewCosignatureSigner("witness.example/wrong-key", other)
	fakes := map[string]*fakeWitness{
		"forged": newFake(t, "witness.example/forged", func(w http.ResponseWriter, body []byte, s *torchwood.CosignatureSigner) {
			// Its own name and key hash, a signature that does not verify.
			line := cosign(body, s)
			name, sig, _ := bytes.Cut(bytes.TrimSuffix(line, []byte("\n")), []byte(" witness.example/forged "))
			raw, _ := base64.StdEncoding.DecodeString(string(sig))
			raw[len(raw)-1] ^= 1
			fmt.Fprintf(w, "%s witness.example/forged %s\n", name, base64.StdEncoding.EncodeToString(raw))
		}),
		witness.ReasonBadCosignature: newFake(t, "witness.example/wrong-key", func(w http.ResponseWriter, body []byte, _ *torchwood.CosignatureSigner) {
			w.Write(cosign(body, otherSigner))
		}),
		witness.ReasonConflict: newFake(t, "witness.example/stale", func(w http.ResponseWriter, _ []byte, _ *torchwood.CosignatureSigner) {
			w.Header().Set("Content-Type", "text/x.tlog.size")
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, "5\n")
		}),
		witness.ReasonUnreachable: newFake(t, "witness.example/slow", func(w http.ResponseWriter, body []byte, s *torchwood.CosignatureSigner) {
			time.Sleep(2 * time.Second)
			w.Write(cosign(body, s))
		}),
		witness.ReasonRefused: newFake(t, "witness.example/refusing", func(w http.ResponseWriter, _ []byte, _ *torchwood.CosignatureSigner) {
			http.Error(w, "unknown key", http.StatusForbidden)
		}),
		witness.ReasonBadResponse: newFake(t, "witness.example/garbage", func(w http.ResponseWriter, _ []byte, _ *torchwood.CosignatureSigner) {
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, "many\n")
		}),
	}
	ws := []witness.Witness{{URL: lw.URL, Key: lw.VerifierKey}}
	for _, f := range fakes {
		ws = append(ws, witness.Witness{URL: f.srv.URL, Key: f.vkey})
	}
	began := time.Now()
	s, reg := start(t, l, filepath.Join(t.TempDir(), "w.json"), ws...)
	waitFor(t, "the good witness's cosignature", func() bool {
		return len(cosigners(t, l, s.Checkpoint(), keys, lw.VerifierKey)) == 1
	})
	// The slow witness holds the first round for its timeout, not its 2 s.
	if took := time.Since(began); took > 1500*time.Millisecond {
		t.Errorf("the first round took %v with a 300ms timeout", took)
	}
	vks := []string{lw.VerifierKey}
	for _, f := range fakes {
		vks = append(vks, f.vkey)
	}
	if got := cosigners(t, l, s.Checkpoint(), keys, vks...); len(got) != 1 || got[0] != "witness.example/good" {
		t.Errorf("served cosignatures of %v, want the good witness's alone", got)
	}
	for reason, f := range fakes {
		if reason == "forged" {
			reason = witness.ReasonBadCosignature
		}
		waitFor(t, f.name+" reported as "+reason, func() bool { return failures(t, reg, f.name, reason) >= 1 })
		if other := failures(t, reg, f.name, "") - failures(t, reg, f.name, reason); other != 0 {
			t.Errorf("%s: %v failures under other reasons than %s", f.name, other, reason)
		}
	}
	if n := failures(t, reg, "witness.example/good", ""); n != 0 {
		t.Errorf("the good witness: %v failures", n)
	}
	// The stale one was asked three times a round (409, retry, 409...);
	// over a second of 10ms polls, backoff keeps every one to a few rounds.
	time.Sleep(time.Second)
	for reason, f := range fakes {
		if n := f.requests.Load(); n > 12 {
			t.Errorf("%s (%s): %d requests in about 1.5 s: no backoff", f.name, reason, n)
		}
	}
}

// TestSplitView: a second log with the same key and origin but another
// history is caught by the witness that cosigned the first: it cannot get
// a cosignature, whether it is longer (422, the proof fails against the
// root the witness kept) or shorter (the witness has cosigned more than it
// has: a rollback) than the history the witness saw.
func TestSplitView(t *testing.T) {
	keys := newKeys(t)
	a := openLedger(t, keys, 20, "a")
	lw := witnesstest.Start(t, "witness.example/w1", origin, keys.VerifierKey)
	ws := witness.Witness{URL: lw.URL, Key: lw.VerifierKey}
	sa, _ := start(t, a, filepath.Join(t.TempDir(), "a.json"), ws)
	waitFor(t, "log A cosigned", func() bool { return len(cosigners(t, a, sa.Checkpoint(), keys, lw.VerifierKey)) == 1 })
	for _, c := range []struct {
		name   string
		size   int
		reason string
	}{
		{"longer", 30, witness.ReasonInconsistent},
		{"shorter", 12, witness.ReasonConflict},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := openLedger(t, keys, c.size, "b")
			sb, reg := start(t, b, filepath.Join(t.TempDir(), "b.json"), ws)
			waitFor(t, "log B refused", func() bool { return failures(t, reg, "witness.example/w1", c.reason) >= 1 })
			if got := cosigners(t, b, sb.Checkpoint(), keys, lw.VerifierKey); len(got) != 0 {
				t.Fatalf("log B was cosigned by %v", got)
			}
		})
	}
	// Log A goes on being cosigned.
	grow(t, a, 3, "a")
	waitFor(t, "log A cosigned at 23", func() bool {
		return checkpointSize(t, sa.Checkpoint()) == "23" && len(cosigners(t, a, sa.Checkpoint(), keys, lw.VerifierKey)) == 1
	})
}
