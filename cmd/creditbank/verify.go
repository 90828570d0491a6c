package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"creditbank/accreditation"
	"creditbank/ledger"
	"creditbank/progress"
	"creditbank/server"
)

// verify audits a whole ledger, from a running server's API (--url) or from a
// data folder (--data), and prints what it checked and every problem found.
// It returns an error, and so exits non-zero, unless everything holds.
func verify(args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("verify", stderr)
	base := flags.String("url", "", "base URL of a running server, such as http://127.0.0.1:8080")
	token := flags.String("token", "", "admin or regulator token for --url (reading entries needs audit rights)")
	key := flags.String("key", "", "the ledger's verifier key (note format, as GET /v1/log/key gives it) from your own records; with --url it is otherwise taken from the server")
	data := flags.String("data", "", "data folder of a stopped server (or a backup)")
	origin := flags.String("origin", ledger.DefaultOrigin, "checkpoint origin (--data)")
	since := flags.String("since", "", "a checkpoint saved by an earlier run; the ledger must have grown from it")
	save := flags.String("save", "", "write the latest checkpoint here after a clean run")
	if err := parse(flags, args); err != nil {
		return err
	}
	// A flag on the command line wins over a CREDITBANK_URL or
	// CREDITBANK_DATA left in the environment.
	if *base != "" && *data != "" {
		set := map[string]bool{}
		flags.Visit(func(f *flag.Flag) { set[f.Name] = true })
		switch {
		case set["url"] && !set["data"]:
			*data = ""
		case set["data"] && !set["url"]:
			*base = ""
		}
	}
	if (*base == "") == (*data == "") {
		return errors.New("verify needs exactly one of --url URL and --data DIR")
	}
	var earlier []byte
	if *since != "" {
		b, err := os.ReadFile(*since)
		if err != nil {
			return fmt.Errorf("--since: %v", err)
		}
		earlier = b
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	prog := progress.New(stderr)
	var (
		a   *audit
		err error
	)
	if *base != "" {
		a, err = verifyURL(ctx, *base, *token, *key, earlier, stderr, prog)
	} else {
		a, err = verifyData(ctx, *data, *origin, *key, earlier, prog)
	}
	prog.Clear()
	if err != nil {
		return err
	}
	if err := a.print(stdout); err != nil {
		return err
	}
	if *save != "" {
		if err := os.WriteFile(*save, a.latest, 0o644); err != nil {
			return fmt.Errorf("--save: %v", err)
		}
		fmt.Fprintf(stdout, "saved the latest checkpoint to %s\n", *save)
	}
	return nil
}

// audit gathers what one run of verify checked and found, over a store or
// an API alike, and prints it.
type audit struct {
	rep         *ledger.Report
	latest      []byte // the latest signed checkpoint, saved by --save
	checked     [][2]string
	replay      *accreditation.Replayer
	replayErr   error
	conversions int
}

func newAudit() *audit { return &audit{replay: accreditation.NewReplayer()} }

// onEntry re-runs the domain on each entry: the replay rebuilds the bank and
// re-runs every conversion from the rule version and outcomes it names.
func (a *audit) onEntry(e ledger.Entry) {
	if a.replayErr != nil {
		return
	}
	if e.Type == accreditation.TypeConversionGranted {
		a.conversions++
	}
	a.replayErr = a.replay.Apply(e)
}

// check records one thing checked beyond the report's own lines.
func (a *audit) check(label, format string, args ...any) {
	a.checked = append(a.checked, [2]string{label, fmt.Sprintf(format, args...)})
}

func (a *audit) print(w io.Writer) error {
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-25s%s\n", label+":", fmt.Sprintf(format, args...))
	}
	rep := a.rep
	line("entries read and hashed", "%d", rep.Entries)
	line("root of the entries", "%s", rep.Root)
	if c := rep.Checkpoint; c != nil {
		line("latest checkpoint", "signature good, size %d, root %s", c.Size, c.Root)
	}
	if c := rep.Since; c != nil {
		line("earlier checkpoint", "signature good, size %d, root %s", c.Size, c.Root)
	}
	for _, c := range a.checked {
		line(c[0], "%s", c[1])
	}
	line("conversions re-run", "%d", a.conversions)
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "FAIL: %s\n", p)
	}
	if a.replayErr != nil {
		fmt.Fprintf(w, "FAIL: replay: %v\n", a.replayErr)
	}
	findings := a.replay.Findings()
	for _, f := range findings {
		fmt.Fprintf(w, "FAIL: conversion %d: %s\n", f.Seq, f.Problem)
	}
	if !rep.OK() {
		if rep.FirstBad >= 0 {
			return fmt.Errorf("ledger does not verify: %d problems, first bad entry %d", len(rep.Problems), rep.FirstBad)
		}
		return fmt.Errorf("ledger does not verify: %d problems", len(rep.Problems))
	}
	if a.replayErr != nil {
		return fmt.Errorf("ledger does not verify: the entries do not replay: %v", a.replayErr)
	}
	if len(findings) > 0 {
		return fmt.Errorf("ledger does not verify: %d conversions the rules would not have granted so", len(findings))
	}
	fmt.Fprintln(w, "OK")
	return nil
}

// prover gives the RFC 6962 proofs of a store or a server.
type prover interface {
	consistency(from, to uint64) ([]tlog.Hash, error)
	inclusion(index, size uint64) ([]tlog.Hash, error)
}

// sample picks the entries whose inclusion proofs are checked: a few at
// random and the last one.
func sample(size uint64) []uint64 {
	if size == 0 {
		return nil
	}
	out := []uint64{size - 1}
	for range 4 {
		out = append(out, rand.Uint64N(size))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// checkProofs checks a consistency proof from the earlier checkpoint to the
// latest with tlog.CheckTree, and inclusion proofs of the sampled entries,
// whose leaf hashes the caller computed from their bytes, with
// tlog.CheckRecord. Failures go to fail.
func (a *audit) checkProofs(p prover, latest ledger.Checkpoint, since *ledger.Checkpoint, leaves map[uint64]tlog.Hash, fail func(seq int64, format string, args ...any)) {
	if since != nil {
		switch {
		case since.Size == 0:
			a.check("consistency proof", "none needed: the earlier checkpoint is of the empty tree")
		case since.Size > latest.Size:
			a.check("consistency proof", "none possible: the earlier checkpoint is larger than the latest")
		default:
			proof, err := p.consistency(since.Size, latest.Size)
			if err == nil {
				err = tlog.CheckTree(proof, int64(latest.Size), latest.Root, int64(since.Size), since.Root)
			}
			if err != nil {
				fail(-1, "consistency proof from size %d to %d: %v", since.Size, latest.Size, err)
			} else {
				a.check("consistency proof", "good, from size %d to %d (%d hashes)", since.Size, latest.Size, len(proof))
			}
		}
	}
	if len(leaves) == 0 {
		return
	}
	idx := slices.Sorted(func(yield func(uint64) bool) {
		for i := range leaves {
			if !yield(i) {
				return
			}
		}
	})
	good := 0
	for _, i := range idx {
		proof, err := p.inclusion(i, latest.Size)
		if err == nil {
			err = tlog.CheckRecord(proof, int64(latest.Size), latest.Root, int64(i), leaves[i])
		}
		if err != nil {
			fail(int64(i), "inclusion proof of entry %d in the tree of size %d: %v", i, latest.Size, err)
			continue
		}
		good++
	}
	strs := make([]string, len(idx))
	for i, n := range idx {
		strs[i] = strconv.FormatUint(n, 10)
	}
	a.check("inclusion proofs", "%d of %d good, entries %s in the tree of size %d", good, len(idx), strings.Join(strs, ", "), latest.Size)
}

// --- over a data folder

type storeProver struct{ l *ledger.Ledger }

func (s storeProver) consistency(from, to uint64) ([]tlog.Hash, error) {
	return s.l.ConsistencyProof(from, to)
}

func (s storeProver) inclusion(index, size uint64) ([]tlog.Hash, error) {
	return s.l.InclusionProof(index, size)
}

func verifyData(ctx context.Context, data, origin, key string, since []byte, prog *progress.Display) (*audit, error) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	l, err := server.OpenLedger(data, origin, true, log, nil, 0)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	a := newAudit()
	a.latest = l.Checkpoint()
	rep, err := l.VerifyEach(ctx, since, prog.Bar("verifying"), a.onEntry)
	if err != nil {
		return nil, err
	}
	a.rep = rep
	fail := func(_ int64, format string, args ...any) {
		rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
	}
	if key != "" {
		if strings.TrimSpace(key) != l.VerifierKey() {
			fail(-1, "the data folder's ledger key %s is not the one given with --key", l.VerifierKey())
		} else {
			a.check("verifier key", "the data folder's key is the one given with --key")
		}
	}
	if c := rep.Checkpoint; c != nil && c.Size <= rep.Entries {
		leaves := map[uint64]tlog.Hash{}
		for _, i := range sample(c.Size) {
			b, err := l.Entry(i)
			if err != nil {
				fail(int64(i), "entry %d: %v", i, err)
				continue
			}
			leaves[i] = tlog.RecordHash(b)
		}
		a.checkProofs(storeProver{l}, *c, rep.Since, leaves, fail)
	}
	return a, nil
}

// --- over the API

// fetchWorkers is how many entries are fetched at once; fetchWindow bounds
// how far fetching runs ahead of the entry being checked.
const (
	fetchWorkers = 8
	fetchWindow  = 256
)

type logClient struct {
	base  string
	token string
	http  *http.Client
}

// errStatus is an HTTP answer other than 200.
type errStatus struct {
	status int
	msg    string
}

func (e *errStatus) Error() string { return e.msg }

// get fetches path and returns the body of a 200 answer, retrying network
// errors and 5xx answers a few times.
func (c *logClient) get(ctx context.Context, path string, auth bool) ([]byte, error) {
	var err error
	for attempt := range 4 {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		var b []byte
		b, err = c.getOnce(ctx, path, auth)
		var es *errStatus
		if err == nil || ctx.Err() != nil || (errors.As(err, &es) && es.status < 500) {
			return b, err
		}
	}
	return nil, err
}

func (c *logClient) getOnce(ctx context.Context, path string, auth bool) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	if auth && c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := fmt.Sprintf("GET %s: %s", path, resp.Status)
		var p struct {
			Detail string `json:"detail"`
		}
		if json.Unmarshal(body, &p) == nil && p.Detail != "" {
			msg += ": " + p.Detail
		}
		return nil, &errStatus{resp.StatusCode, msg}
	}
	return body, nil
}

type apiProver struct {
	ctx context.Context
	c   *logClient
}

func (p apiProver) proof(path string) ([]tlog.Hash, error) {
	b, err := p.c.get(p.ctx, path, false)
	if err != nil {
		return nil, err
	}
	var body struct {
		Hashes []string `json:"hashes"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		return nil, fmt.Errorf("GET %s: %v", path, err)
	}
	out := make([]tlog.Hash, len(body.Hashes))
	for i, h := range body.Hashes {
		raw, err := base64.StdEncoding.DecodeString(h)
		if err != nil || len(raw) != tlog.HashSize {
			return nil, fmt.Errorf("GET %s: hash %d is not a base64 SHA-256 hash", path, i)
		}
		copy(out[i][:], raw)
	}
	return out, nil
}

func (p apiProver) consistency(from, to uint64) ([]tlog.Hash, error) {
	return p.proof(fmt.Sprintf("/v1/log/proof/consistency?from=%d&to=%d", from, to))
}

func (p apiProver) inclusion(index, size uint64) ([]tlog.Hash, error) {
	return p.proof(fmt.Sprintf("/v1/log/proof/inclusion?index=%d&size=%d", index, size))
}

func verifyURL(ctx context.Context, base, token, key string, since []byte, stderr io.Writer, prog *progress.Display) (*audit, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--url %q: want http:// or https:// and a host", base)
	}
	c := &logClient{base: strings.TrimSuffix(base, "/"), token: token, http: &http.Client{Timeout: 30 * time.Second}}
	a := newAudit()
	latest, err := c.get(ctx, "/v1/log/checkpoint", false)
	if err != nil {
		return nil, fmt.Errorf("fetch the checkpoint: %v", err)
	}
	a.latest = latest
	if key == "" {
		b, err := c.get(ctx, "/v1/log/key", false)
		if err != nil {
			return nil, fmt.Errorf("fetch the verifier key: %v", err)
		}
		key = strings.TrimSpace(string(b))
		fmt.Fprintf(stderr, "warning: the verifier key %s was taken from the server itself (trust on first use); pin it with --key\n", key)
		a.check("verifier key", "%s, from the server itself (pin it with --key)", key)
	} else {
		key = strings.TrimSpace(key)
		a.check("verifier key", "%s, given with --key", key)
	}
	verifier, err := note.NewVerifier(key)
	if err != nil {
		return nil, fmt.Errorf("verifier key %q: %v", key, err)
	}
	aud := ledger.NewAuditor(verifier, latest, since)
	aud.OnEntry = a.onEntry
	cp, err := ledger.OpenCheckpoint(latest, verifier)
	if err != nil {
		// The auditor has recorded why; without a trusted size there is
		// nothing to fetch.
		a.rep = aud.Finish()
		return a, nil
	}
	var sinceCp *ledger.Checkpoint
	if since != nil {
		if sc, err := ledger.OpenCheckpoint(since, verifier); err == nil {
			sinceCp = &sc
		}
	}
	sampled := map[uint64]bool{}
	for _, i := range sample(cp.Size) {
		sampled[i] = true
	}
	leaves := map[uint64]tlog.Hash{}
	bar := prog.Bar("verifying")
	complete, err := fetchEntries(ctx, c, cp.Size, func(seq uint64, b []byte) {
		leaf := aud.Add(b)
		if sampled[seq] {
			leaves[seq] = leaf
		}
		bar(seq+1, cp.Size)
	}, aud.Fail)
	if err != nil {
		return nil, err
	}
	if complete {
		a.checkProofs(apiProver{ctx, c}, cp, sinceCp, leaves, aud.Fail)
	}
	a.rep = aud.Finish()
	return a, nil
}

// fetchEntries fetches entries 0..size-1 with a few concurrent requests and
// hands them to add in seq order. A fetch that fails for good is recorded
// with fail and ends the run (complete is false). Missing audit rights are
// an error: nothing can be checked without them.
func fetchEntries(ctx context.Context, c *logClient, size uint64, add func(seq uint64, b []byte), fail func(int64, string, ...any)) (complete bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type fetched struct {
		b   []byte
		err error
	}
	ring := make([]chan fetched, fetchWindow)
	for i := range ring {
		ring[i] = make(chan fetched, 1)
	}
	credits := make(chan struct{}, fetchWindow)
	jobs := make(chan uint64)
	go func() {
		defer close(jobs)
		for seq := range size {
			select {
			case credits <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- seq:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range fetchWorkers {
		go func() {
			for seq := range jobs {
				b, err := c.get(ctx, "/v1/log/entries/"+strconv.FormatUint(seq, 10), true)
				ring[seq%fetchWindow] <- fetched{b, err}
			}
		}()
	}
	for seq := range size {
		var r fetched
		select {
		case r = <-ring[seq%fetchWindow]:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		<-credits
		if r.err != nil {
			var es *errStatus
			if errors.As(r.err, &es) && (es.status == http.StatusUnauthorized || es.status == http.StatusForbidden) {
				return false, fmt.Errorf("reading entries needs an admin or regulator token (--token or CREDITBANK_TOKEN): %v", r.err)
			}
			fail(int64(seq), "entry %d: %v", seq, r.err)
			return false, nil
		}
		add(seq, r.b)
	}
	return true, nil
}
