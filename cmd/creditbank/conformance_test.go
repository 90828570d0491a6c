package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"creditbank/conformance"
)

// adminToken mints an admin token from the server's data folder.
func adminToken(t *testing.T, bin, data string) string {
	t.Helper()
	return strings.TrimSpace(mustRun(t, bin, "token", "--data", data, "--role", "admin", "--sub", "root"))
}

// conformanceReport is the suite's output read back: the cases by outcome
// and the counts of the summary line.
type conformanceReport struct {
	passed, failed, skipped []string
	sumPassed, sumFailed    int
}

var summaryLine = regexp.MustCompile(`^(\d+) passed, (\d+) failed$`)

// readReport parses `creditbank conformance` output; the summary must be
// its last line and agree with the case lines.
func readReport(t *testing.T, stdout string) conformanceReport {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	var rep conformanceReport
	for _, line := range lines[:len(lines)-1] {
		word, rest, _ := strings.Cut(line, " ")
		name, _, _ := strings.Cut(rest, ":")
		switch word {
		case "PASS":
			rep.passed = append(rep.passed, name)
		case "FAIL":
			rep.failed = append(rep.failed, name)
		case "SKIP":
			rep.skipped = append(rep.skipped, name)
		}
	}
	m := summaryLine.FindStringSubmatch(lines[len(lines)-1])
	if m == nil {
		t.Fatalf("last line %q is not \"N passed, N failed\"; output:\n%s", lines[len(lines)-1], stdout)
	}
	rep.sumPassed, _ = strconv.Atoi(m[1])
	rep.sumFailed, _ = strconv.Atoi(m[2])
	if rep.sumPassed != len(rep.passed) || rep.sumFailed != len(rep.failed) {
		t.Fatalf("summary %q, but %d PASS and %d FAIL lines", m[0], len(rep.passed), len(rep.failed))
	}
	known := conformance.Cases()
	for _, name := range slices.Concat(rep.passed, rep.failed, rep.skipped) {
		if !slices.Contains(known, name) {
			t.Fatalf("the output names %q, which is no case of the suite", name)
		}
	}
	return rep
}

// TestConformanceCommandPasses: against a real server, with its data
// folder to mint every token, `creditbank conformance` runs the whole
// suite, passes every case it can run (only the restart cases are skipped:
// the command cannot restart a server) and exits 0 with "N passed, 0
// failed".
func TestConformanceCommandPasses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole suite against a server")
	}
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	url := startServer(t, bin, data)
	r := runCmd(t, bin, nil, "conformance", "--url", url, "--token", adminToken(t, bin, data), "--data", data)
	if r.code != 0 {
		t.Fatalf("exit %d against a good server\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	rep := readReport(t, r.stdout)
	if rep.sumFailed != 0 || rep.sumPassed == 0 {
		t.Fatalf("%d passed, %d failed against a good server: %v", rep.sumPassed, rep.sumFailed, rep.failed)
	}
	for _, name := range rep.skipped {
		if !strings.HasPrefix(name, "restart/") {
			t.Errorf("%s skipped with every token given", name)
		}
	}
	if n := len(conformance.Cases()); len(rep.passed)+len(rep.skipped) != n {
		t.Errorf("%d cases passed and %d skipped of %d", len(rep.passed), len(rep.skipped), n)
	}
	if r.stderr != "" {
		t.Errorf("stderr: %s", r.stderr)
	}
}

// flipCheckpointSignature rewrites the checkpoint's answer with one bit of
// its Ed25519 signature flipped, keeping the note well formed.
func flipCheckpointSignature(resp *http.Response) error {
	if resp.Request.URL.Path != "/v1/log/checkpoint" || resp.StatusCode != http.StatusOK {
		return nil
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	text, sig, ok := strings.Cut(string(b), "\n\n— ")
	name, b64sig, ok2 := strings.Cut(strings.TrimSuffix(sig, "\n"), " ")
	raw, err := base64.StdEncoding.DecodeString(b64sig)
	if !ok || !ok2 || err != nil || len(raw) != 4+64 {
		return errors.New("the checkpoint is not a note with one Ed25519 signature")
	}
	raw[4+10] ^= 0x01
	b = []byte(text + "\n\n— " + name + " " + base64.StdEncoding.EncodeToString(raw) + "\n")
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	return nil
}

// fakeLog is a tiny server of the log's two public documents only: a
// verifier key of its own and, as the checkpoint, what checkpoint says.
func fakeLog(t *testing.T, checkpoint func(signer note.Signer) []byte) string {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, "creditbank.local/ledger")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/log/key", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, vkey+"\n")
	})
	mux.HandleFunc("GET /v1/log/checkpoint", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(checkpoint(signer))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestConformanceCommandFails: against servers that answer the checkpoint
// wrongly, `creditbank conformance` names each failing case on a FAIL line,
// counts them in its summary and exits with status 1 and one line on
// stderr; the same cases through an honest proxy pass.
func TestConformanceCommandFails(t *testing.T) {
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	upstream := startServer(t, bin, data)
	admin := adminToken(t, bin, data)
	proxy := func(modify func(*http.Response) error) string {
		target, err := url.Parse(upstream)
		if err != nil {
			t.Fatal(err)
		}
		p := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }, ModifyResponse: modify}
		srv := httptest.NewServer(p)
		t.Cleanup(srv.Close)
		return srv.URL
	}

	tests := []struct {
		name        string
		url         string
		only        string
		wantFailing []string // must be among the FAIL lines
		wantPassing []string // must be among the PASS lines
	}{
		{
			name: "honest proxy", url: proxy(nil), only: "log/",
			wantPassing: []string{"log/checkpoint-signature", "log/checkpoint-form", "log/key-format"},
		},
		{
			name: "checkpoint signature flipped by a proxy", url: proxy(flipCheckpointSignature), only: "log/",
			wantFailing: []string{"log/checkpoint-signature", "log/root-from-entries"},
			wantPassing: []string{"log/key-format", "log/checkpoint-form"},
		},
		{
			name:        "a server whose checkpoint is not a signed note",
			url:         fakeLog(t, func(note.Signer) []byte { return []byte("creditbank.local/ledger\n3\n") }),
			only:        "log/key-format,log/checkpoint-form,log/checkpoint-signature",
			wantFailing: []string{"log/checkpoint-form", "log/checkpoint-signature"},
			wantPassing: []string{"log/key-format"},
		},
		{
			name: "a server whose checkpoint has a bad root line",
			url: fakeLog(t, func(s note.Signer) []byte {
				signed, err := note.Sign(&note.Note{Text: "creditbank.local/ledger\n3\nnot-base64\n"}, s)
				if err != nil {
					t.Fatal(err)
				}
				return signed
			}),
			only:        "log/key-format,log/checkpoint-form,log/checkpoint-signature",
			wantFailing: []string{"log/checkpoint-signature"},
			wantPassing: []string{"log/key-format", "log/checkpoint-form"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, bin, nil, "conformance", "--url", tt.url, "--token", admin, "--data", data, "--only", tt.only)
			t.Logf("creditbank conformance --only %s: exit %d\n%s", tt.only, r.code, r.stdout)
			rep := readReport(t, r.stdout)
			for _, name := range tt.wantFailing {
				if !slices.Contains(rep.failed, name) {
					t.Errorf("%s is not reported failed; output:\n%s", name, r.stdout)
				}
			}
			for _, name := range tt.wantPassing {
				if !slices.Contains(rep.passed, name) {
					t.Errorf("%s is not reported passed; output:\n%s", name, r.stdout)
				}
			}
			for _, name := range slices.Concat(rep.passed, rep.failed, rep.skipped) {
				if !selectedBy(tt.only, name) {
					t.Errorf("%s ran, but --only %s does not select it", name, tt.only)
				}
			}
			if len(rep.failed) == 0 {
				if r.code != 0 || r.stderr != "" {
					t.Fatalf("all passed but exit %d, stderr %q", r.code, r.stderr)
				}
				return
			}
			want := "creditbank: conformance: " + strconv.Itoa(len(rep.failed)) + " of " + strconv.Itoa(len(rep.failed)+len(rep.passed)) + " cases failed\n"
			if r.code != 1 || r.stderr != want {
				t.Fatalf("exit %d, stderr %q; want exit 1 and %q", r.code, r.stderr, want)
			}
		})
	}
}

// selectedBy says whether --only selects a case: a listed name, or a
// listed prefix ending in "/".
func selectedBy(only, name string) bool {
	for _, o := range strings.Split(only, ",") {
		if o == name || strings.HasSuffix(o, "/") && strings.HasPrefix(name, o) {
			return true
		}
	}
	return false
}

// TestConformanceCommandUsage: a misused conformance command is one line
// on stderr and exit status 1, before any request.
func TestConformanceCommandUsage(t *testing.T) {
	bin := buildBinary(t)
	empty := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no url", []string{"conformance", "--token", "x"}, "--url"},
		{"no token", []string{"conformance", "--url", "http://127.0.0.1:1"}, "--token"},
		{"data without a token key", []string{"conformance", "--url", "http://127.0.0.1:1", "--token", "x", "--data", empty}, "--data: token key"},
		{"unknown flag", []string{"conformance", "--frobnicate"}, "frobnicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, bin, nil, tt.args...)
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			last := lines[len(lines)-1]
			if r.code != 1 || !strings.HasPrefix(last, "creditbank: ") || !strings.Contains(last, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit 1 and a line naming %q", r.code, r.stderr, tt.want)
			}
			if r.stdout != "" {
				t.Fatalf("stdout %q: nothing should have run", r.stdout)
			}
		})
	}
}
