package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"creditbank/accreditation"
	"creditbank/vault"
)

// TestVerifyErasure audits a ledger in which a learner whose conversion
// needed their scores (the rule asks for a minimum score) was erased:
// through the API with a regulator's token, from the stopped server's data
// folder, and from a copy without the key file. The erased learner's
// conversion cannot be re-run and is listed, which fails nothing; without
// keys no conversion can be, and the list stops at 20. A server that will
// not give the scores fails the audit with a message that says why.
func TestVerifyErasure(t *testing.T) {
	bin := buildBinary(t)
	work := t.TempDir()
	data := filepath.Join(work, "data")
	srv := runServer(t, bin, data)
	b := newBank(t, bin, data, srv.url)
	var convs []uint64
	for i := range 22 {
		convs = append(convs, b.convertTwo(fmt.Sprintf("E1L%03d", i)))
	}
	erasedConv := b.convertTwo("ERASEME1")
	convs = append(convs, erasedConv)
	b.post(b.admin, "/v1/learners/ERASEME1/erasure", `{"reason":"the learner asked"}`)
	b.waitCheckpoint()

	common := []string{
		"conversions re-run:      23\n",
		"learners erased:         1\n",
		"plaintext outcomes:      0\n",
		"OK\n",
	}
	withKeys := append([]string{
		"sealed outcomes:         46, of which 2 needed by a re-run and unreadable",
		fmt.Sprintf("not re-runnable:         1, each needing the score of an outcome no key opens (neither confirmed nor found wrong): %d\n", erasedConv),
	}, common...)
	check := func(name string, r cmdResult, want []string) {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("%s: %s", name, r)
		}
		for _, w := range want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%s output lacks %q:\n%s", name, w, r.stdout)
			}
		}
		t.Logf("%s:\n%s", name, r.stdout)
	}

	r := runCmd(t, bin, nil, "verify", "--url", srv.url, "--token", b.reg)
	// One request per conversion: its two outcomes asked for together.
	check("verify --url", r, append(withKeys, "sealed scores:           46 read with --token through GET /v1/audit/scores, in 23 requests\n"))

	for _, tt := range []struct {
		status int
		want   string
	}{
		{http.StatusForbidden, "needs an admin or regulator token"},
		{http.StatusNotFound, "serves no GET /v1/audit/scores"},
	} {
		proxy := refusingScores(t, srv.url, tt.status)
		r := runCmd(t, bin, nil, "verify", "--url", proxy, "--token", b.admin)
		if r.code != 1 || !strings.Contains(r.stderr, tt.want) || strings.Contains(r.stdout, "OK\n") {
			t.Errorf("verify --url, the scores answered %d: %s", tt.status, r)
		}
	}
	srv.stop(t)

	r = runCmd(t, bin, nil, "verify", "--data", data)
	check("verify --data", r, append(withKeys, "learner data keys:       "+filepath.Join(data, "keys", vault.FileName)+": sealed scores read with them\n"))

	noKeys := filepath.Join(work, "nokeys")
	copyData(t, data, noKeys)
	if err := os.Remove(filepath.Join(noKeys, "keys", vault.FileName)); err != nil {
		t.Fatal(err)
	}
	r = runCmd(t, bin, nil, "verify", "--data", noKeys)
	check("verify --data without keys", r, append([]string{
		"learner data keys:       none: " + filepath.Join(noKeys, "keys", vault.FileName) + " is missing",
		"sealed outcomes:         46, of which 46 needed by a re-run and unreadable",
		fmt.Sprintf("not re-runnable:         23, each needing the score of an outcome no key opens (neither confirmed nor found wrong): %s and 3 more\n",
			seqList(convs[:20], 20)),
	}, common...))
}

// convertTwo posts two outcomes for learner and converts them; it returns
// the conversion's seq.
func (b *httpBank) convertTwo(learner string) uint64 {
	b.t.Helper()
	for j := range 2 {
		if _, err := b.outcome(learner, fmt.Sprintf("%s-%d", learner, j)); err != nil {
			b.t.Fatal(err)
		}
	}
	return b.post(b.admin, "/v1/conversions", `{"learner":"`+learner+`","rule":"nd-cs-to-bsc"}`)
}

// refusingScores is a proxy to the server at target that answers status,
// as a problem, to every request for scores; it returns its URL.
func refusingScores(t *testing.T, target string, status int) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	// verify exits while requests are in flight: not worth a log line.
	rp.ErrorLog = log.New(io.Discard, "", 0)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/audit/scores" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"type":"urn:creditbank:problem:refused","title":"Refused","status":%d,"detail":"refused by the test"}`, status)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// TestPrintErasure: the report's erasure lines, a long list cut at 20.
func TestPrintErasure(t *testing.T) {
	many := make([]uint64, 25)
	for i := range many {
		many[i] = uint64(100 + i)
	}
	tests := []struct {
		name string
		rep  accreditation.ErasureReport
		want []string
	}{
		{"nothing erased", accreditation.ErasureReport{SealedOutcomes: 4},
			[]string{"learners erased:         0\n", "sealed outcomes:         4\n", "plaintext outcomes:      0\n", "not re-runnable:         0\n"}},
		{"plaintext outcomes", accreditation.ErasureReport{PlaintextOutcomes: 3},
			[]string{"plaintext outcomes:      3: written before sealing, they hold the learner id, unit title and score in clear and cannot be erased by key\n"}},
		{"a few not re-runnable", accreditation.ErasureReport{Erased: 2, SealedOutcomes: 9, SealedUnread: 3, NotRerunnable: []uint64{7, 12}},
			[]string{"learners erased:         2\n", "sealed outcomes:         9, of which 3 needed", ": 7, 12\n"}},
		{"more than 20", accreditation.ErasureReport{Erased: 1, NotRerunnable: many},
			[]string{"not re-runnable:         25, each", ": 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119 and 5 more\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			printErasure(reportLine(&b), tt.rep)
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}
