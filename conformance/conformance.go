// Package conformance checks a running creditbank server against docs/contract.md
// from outside: over HTTP only, with an admin token and whatever other
// tokens the caller can give, as an auditor or a second implementation
// would see it. It is the pattern of the Go checksum database's
// golang.org/x/mod/sumdb/storage.TestStorage: one exported suite that any
// implementation runs.
//
// The suite makes its own institutions with freshly generated Ed25519 and
// P-256 keys, signs their tokens itself (RFC 7519, RFC 8037), and uses
// identifiers with a random suffix, so it can run again and again against
// the same server. It reads the ledger with package client and checks it
// with its own RFC 6962 code (rfc6962.go) and the checkpoint's signature
// (C2SP signed-note and tlog-checkpoint) with golang.org/x/mod/sumdb/note.
//
// The suite writes, and counts what the server wrote: entry seq numbers
// have no gaps, so a refused request that wrote nothing leaves the next
// write exactly one seq after the one before. It therefore needs to be the
// only writer while it runs.
package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"creditbank/client"
)

// Config says which server to check and how.
type Config struct {
	// URL is the server's base URL, such as http://127.0.0.1:8080.
	URL string
	// AdminToken is an admin token for the server (creditbank token --role admin).
	AdminToken string
	// RegulatorToken and LearnerToken, when set, return a regulator or
	// learner token for sub. Without them the cases that need such a token
	// are reported as skipped: the suite cannot mint them without the
	// service's token key.
	RegulatorToken func(sub string) (string, error)
	LearnerToken   func(sub string) (string, error)
	// HTTPClient sends every request; nil means a client with a 30 s timeout.
	HTTPClient *http.Client
	// Restart, when set, restarts the server on the same data and address.
	// The suite calls it once, half way through, and then checks that what
	// was written before is still there.
	Restart func() error
	// Audience is the aud the server expects in tokens; "" means creditbank.
	Audience string
	// Only, when not empty, runs just these cases: a name, or a prefix
	// ending in "/" (such as "auth/"). Names are those of Cases.
	Only []string
	// CaseTimeout bounds each case; 0 means 60 s.
	CaseTimeout time.Duration
}

// Result is the outcome of one case.
type Result struct {
	Name     string
	Passed   bool
	Skipped  bool
	Err      string // why it failed or was skipped
	Duration time.Duration
}

// Summary counts the results of a run.
type Summary struct {
	Passed, Failed, Skipped int
	Duration                time.Duration
	Results                 []Result
}

// OK reports whether no case failed.
func (s Summary) OK() bool { return s.Failed == 0 }

// Cases lists the names of every case, in the order Run runs them.
func Cases() []string {
	var names []string
	for _, c := range allCases() {
		names = append(names, c.name)
	}
	return names
}

// Run runs the suite (or cfg.Only of it) against cfg.URL, calling report
// after each case when report is not nil, and returns the counts.
func Run(ctx context.Context, cfg Config, report func(Result)) Summary {
	start := time.Now()
	s := newSuite(cfg)
	var sum Summary
	for _, c := range allCases() {
		if !s.selected(c.name) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		r := s.runCase(ctx, c)
		switch {
		case r.Skipped:
			sum.Skipped++
		case r.Passed:
			sum.Passed++
		default:
			sum.Failed++
		}
		sum.Results = append(sum.Results, r)
		if report != nil {
			report(r)
		}
	}
	sum.Duration = time.Since(start)
	return sum
}

// caseDef is one named case.
type caseDef struct {
	name string
	run  func(c *tc)
}

// allCases is every case in order: the ones before the restart, the
// restart, and the ones after it (which include the checks that the
// earlier writes survived).
func allCases() []caseDef {
	var cs []caseDef
	for _, part := range [][]caseDef{
		opsCases(), registrationCases(), keyCases(), scopeCases(), outcomeCases(),
		inputCases(), authCases(), learnerCases(), identifierCases(), paramCases(), listCases(), statisticsCases(),
		restartCases(),
		permissionCases(), grantCases(), ruleCases(), ruleLifeCases(), historyCases(), policyCases(), conversionCases(), revocationCases(), duplicateCases(), previewCases(), suspensionCases(), equivalenceCases(), programmeCases(), unitCases(), recognitionCases(), logCases(), credentialCases(), erasureCases(),
		afterRestartCases(), statisticsAfterRestartCases(),
	} {
		cs = append(cs, part...)
	}
	return cs
}

// suite is the state one run shares between its cases: fixtures made on
// first use (so that any subset of the cases runs on its own) and what the
// restart cases compare.
type suite struct {
	cfg    Config
	client *http.Client
	// log reads the ledger with the admin token, never trying a request
	// again: a flaky answer is a finding.
	log   *client.Client
	base  string
	aud   string
	runID string

	mu       sync.Mutex
	n        int
	fixtures map[string]any
	// learners posted for, so the restart can compare their transcripts.
	learners []string
	// restart is what was read just before the restart (nil until then).
	restart *restartState
}

func newSuite(cfg Config) *suite {
	s := &suite{cfg: cfg, client: cfg.HTTPClient, base: strings.TrimRight(cfg.URL, "/"), aud: cfg.Audience,
		fixtures: map[string]any{}}
	if s.client == nil {
		s.client = &http.Client{Timeout: 30 * time.Second}
	}
	if s.aud == "" {
		s.aud = "creditbank"
	}
	s.log = client.New(client.Config{URL: s.base, Token: cfg.AdminToken, HTTPClient: s.client})
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	s.runID = hex.EncodeToString(b)
	return s
}

func (s *suite) selected(name string) bool {
	if len(s.cfg.Only) == 0 {
		return true
	}
	return slices.ContainsFunc(s.cfg.Only, func(o string) bool {
		return o == name || (strings.HasSuffix(o, "/") && strings.HasPrefix(name, o))
	})
}

// next returns a number unique within the run.
func (s *suite) next() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return s.n
}

// failure and skipping are how a case stops early (as t.Fatal does).
type failure struct{ msg string }
type skipping struct{ msg string }

func (s *suite) runCase(ctx context.Context, c caseDef) (r Result) {
	timeout := s.cfg.CaseTimeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := &tc{s: s, ctx: ctx, name: c.name}
	start := time.Now()
	r.Name = c.name
	defer func() {
		r.Duration = time.Since(start)
		switch p := recover().(type) {
		case nil:
			r.Passed = true
		case failure:
			r.Err = p.msg
		case skipping:
			r.Skipped, r.Err = true, p.msg
		default:
			r.Err = fmt.Sprintf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	c.run(t)
	return r
}

// tc is one running case: it stops the case on the first failure.
type tc struct {
	s    *suite
	ctx  context.Context
	name string
}

func (c *tc) fatalf(format string, args ...any) {
	panic(failure{fmt.Sprintf(format, args...)})
}

func (c *tc) skipf(format string, args ...any) {
	panic(skipping{fmt.Sprintf(format, args...)})
}

func (c *tc) check(err error, what string) {
	if err != nil {
		c.fatalf("%s: %v", what, err)
	}
}

// fixture returns the value made once per run under key. A make that fails
// fails the case that asked, and the next case to ask tries again.
func fixture[T any](c *tc, key string, make func() T) T {
	c.s.mu.Lock()
	v, ok := c.s.fixtures[key]
	c.s.mu.Unlock()
	if ok {
		return v.(T)
	}
	out := make()
	c.s.mu.Lock()
	c.s.fixtures[key] = out
	c.s.mu.Unlock()
	return out
}

// regulator returns a regulator token, or skips the case.
func (c *tc) regulator() string {
	if c.s.cfg.RegulatorToken == nil {
		c.skipf("no regulator token: Config.RegulatorToken is not set")
	}
	tok, err := c.s.cfg.RegulatorToken("conformance-" + c.s.runID)
	c.check(err, "regulator token")
	return tok
}

// learnerToken returns a token for learner sub, or skips the case.
func (c *tc) learnerToken(sub string) string {
	if c.s.cfg.LearnerToken == nil {
		c.skipf("no learner token: Config.LearnerToken is not set")
	}
	tok, err := c.s.cfg.LearnerToken(sub)
	c.check(err, "learner token")
	return tok
}

func (c *tc) admin() string {
	if c.s.cfg.AdminToken == "" {
		c.fatalf("no admin token: Config.AdminToken is empty")
	}
	return c.s.cfg.AdminToken
}
