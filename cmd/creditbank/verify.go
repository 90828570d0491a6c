package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"creditbank/accreditation"
	"creditbank/client"
	"creditbank/ledger"
	"creditbank/progress"
	"creditbank/server"
	"creditbank/vault"
	"creditbank/witness"
)

// verify audits a whole ledger, from a running server's API (--url) or from a
// data folder (--data), and prints what it checked and every problem found.
// It returns an error, and so exits non-zero, unless everything holds.
//
// Re-running a conversion whose rule asks for a minimum score needs the
// scores that outcomes keep sealed under their learners' keys
// (docs/contract.md section 11): --data opens them with the data folder's
// key file, --url reads them with the token from GET /v1/audit/scores. A
// conversion that needed the score of an erased learner's outcome cannot be
// re-run; it is listed, and is no failure.
func verify(args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("verify", stderr)
	base := flags.String("url", "", "base URL of a running server, such as http://127.0.0.1:8080")
	token := flags.String("token", "", "admin or regulator token for --url (reading entries needs audit rights)")
	key := flags.String("key", "", "the ledger's verifier key (note format, as GET /v1/log/key gives it) from your own records; with --url it is otherwise taken from the server")
	data := flags.String("data", "", "data folder of a stopped server (or a backup)")
	origin := flags.String("origin", "", "checkpoint origin (--data; default: the name of the data folder's ledger key)")
	since := flags.String("since", "", "a checkpoint saved by an earlier run; the ledger must have grown from it")
	save := flags.String("save", "", "write the latest checkpoint here after a clean run")
	var witnesses []*witness.Verifier
	flags.Func("witness", "a witness's verifier key (repeat for more): with --witness-threshold, the latest checkpoint must carry its cosignature", func(v string) error {
		w, err := witness.NewVerifier(strings.TrimSpace(v))
		if err == nil {
			witnesses = append(witnesses, w)
		}
		return err
	})
	threshold := flags.Int("witness-threshold", 0, "how many of the --witness keys must have cosigned the latest checkpoint (default: all of them)")
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
	if *threshold == 0 {
		*threshold = len(witnesses)
	}
	switch {
	case *threshold < 0 || *threshold > len(witnesses):
		return fmt.Errorf("--witness-threshold %d: want 1 to the number of --witness keys given (%d)", *threshold, len(witnesses))
	case len(witnesses) > 0 && *data != "":
		return errors.New("--witness needs --url: a data folder holds the log's checkpoints, not the witnesses' cosignatures")
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
		a, err = verifyURL(ctx, *base, *token, *key, earlier, stderr, prog, witnessPolicy{witnesses, *threshold})
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
	latest      []byte         // the latest signed checkpoint, saved by --save
	checked     []ledger.Check // what verify itself checked (the key), printed before the report's checks
	replay      *accreditation.Replayer
	replayErr   error
	conversions int
	// changes counts the conversion.adjusted entries re-decided, and
	// awards the award.recorded entries whose audit was re-run.
	changes int
	awards  int
	// scores reads sealed scores through the API (--url only); it is
	// told the outcomes of each conversion replayed, to ask for them
	// together.
	scores *apiScores
}

func newAudit() *audit { return &audit{replay: accreditation.NewReplayer()} }

// onEntry re-runs the domain on each entry: the replay rebuilds the bank and
// re-runs every conversion from the rule version and outcomes it names.
func (a *audit) onEntry(e ledger.Entry) {
	if a.replayErr != nil {
		return
	}
	switch e.Type {
	case accreditation.TypeConversionGranted:
		a.conversions++
	case accreditation.TypeConversionAdjusted:
		a.changes++
	case accreditation.TypeAwardRecorded:
		a.awards++
	}
	if a.scores != nil {
		a.scores.replaying(e)
	}
	a.replayErr = a.replay.Apply(e)
}

// check records one thing checked beyond the report's own lines.
func (a *audit) check(label, format string, args ...any) {
	a.checked = append(a.checked, ledger.Check{Label: label, Result: fmt.Sprintf(format, args...)})
}

// reportLine returns the printer of the report's "label: value" lines,
// values aligned in one column.
func reportLine(w io.Writer) func(label, format string, args ...any) {
	return func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-25s%s\n", label+":", fmt.Sprintf(format, args...))
	}
}

func (a *audit) print(w io.Writer) error {
	line := reportLine(w)
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
		line(c.Label, "%s", c.Result)
	}
	for _, c := range rep.Checks {
		line(c.Label, "%s", c.Result)
	}
	line("conversions re-run", "%d", a.conversions)
	line("item changes re-run", "%d", a.changes)
	line("award audits re-run", "%d", a.awards)
	printErasure(line, a.replay.Erasure())
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "FAIL: %s\n", p)
	}
	if a.replayErr != nil {
		fmt.Fprintf(w, "FAIL: replay: %v\n", a.replayErr)
	}
	findings := a.replay.Findings()
	for _, f := range findings {
		fmt.Fprintf(w, "FAIL: entry %d: %s\n", f.Seq, f.Problem)
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
		return fmt.Errorf("ledger does not verify: %d conversions, item changes, awards or flags the rules would not have made so", len(findings))
	}
	fmt.Fprintln(w, "OK")
	return nil
}

// --- over a data folder

// verifyData audits a data folder's store, proofs included, opened read-only.
func verifyData(ctx context.Context, data, origin, key string, since []byte, prog *progress.Display) (*audit, error) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	l, err := server.OpenLedger(data, origin, true, log, nil, 0)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	a := newAudit()
	a.latest = l.Checkpoint()
	keys, err := dataKeys(data, a)
	if err != nil {
		return nil, err
	}
	// The store is opened read-only, so the reader's state, where the
	// learners' wrapped keys are, is the one the audit reads entries from.
	err = l.Read(func(r *ledger.Reader) error {
		if keys != nil {
			a.replay.SetScoreSource(accreditation.StoreScores(r, keys))
		}
		rep, err := l.Audit(ctx, since, prog.Bar("verifying"), a.onEntry)
		a.rep = rep
		return err
	})
	if err != nil {
		return nil, err
	}
	rep := a.rep
	if key != "" {
		if strings.TrimSpace(key) != l.VerifierKey() {
			rep.Problems = append(rep.Problems, fmt.Sprintf("the data folder's ledger key %s is not the one given with --key", l.VerifierKey()))
		} else {
			a.check("verifier key", "the data folder's key is the one given with --key")
		}
	}
	return a, nil
}

// dataKeys opens the data folder's key file, which opens the learners' data
// keys and so the sealed scores. Without one the audit goes on, and every
// conversion that needed a sealed score is reported not re-runnable.
func dataKeys(data string, a *audit) (*vault.Keys, error) {
	dir := filepath.Join(data, "keys")
	path := filepath.Join(dir, vault.FileName)
	keys, err := vault.Load(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		a.check("learner data keys", "none: %s is missing, so no sealed score can be read", path)
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("learner data keys: %v", err)
	}
	a.check("learner data keys", "%s: sealed scores read with them", path)
	return keys, nil
}

// --- over the API

// witnessPolicy is how many of which witnesses must have cosigned the
// latest checkpoint.
type witnessPolicy struct {
	keys      []*witness.Verifier
	threshold int
}

// checkCosignatures counts the cosignatures of the policy's witnesses on
// signed that verify, and fails the audit when fewer than the threshold
// do.
func (p witnessPolicy) checkCosignatures(a *audit, aud *ledger.Auditor, log note.Verifier, signed []byte) {
	if len(p.keys) == 0 {
		return
	}
	vs := []note.Verifier{log}
	for _, k := range p.keys {
		vs = append(vs, k)
	}
	var good, missing []string
	if n, err := note.Open(signed, note.VerifierList(vs...)); err == nil {
		for _, k := range p.keys {
			if slices.ContainsFunc(n.Sigs, func(s note.Signature) bool { return s.Name == k.Name() && s.Hash == k.KeyHash() }) {
				good = append(good, k.Name())
			} else {
				missing = append(missing, k.Name())
			}
		}
	} else {
		aud.Fail(-1, "witness cosignatures: the latest checkpoint does not open with the log's and the witnesses' keys: %v", err)
		return
	}
	if len(good) < p.threshold {
		aud.Fail(-1, "witness cosignatures: %d of the %d asked for (%s cosigned; none from %s)", len(good), p.threshold, orNone(good), strings.Join(missing, ", "))
		return
	}
	a.check("witness cosignatures", "%d of %d witnesses cosigned the latest checkpoint, %d needed (%s)", len(good), len(p.keys), p.threshold, strings.Join(good, ", "))
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// verifyURL audits a server through its API: every entry, and the proofs
// it serves, against its signed checkpoints, and the witnesses'
// cosignatures on the latest as wit asks.
func verifyURL(ctx context.Context, base, token, key string, since []byte, stderr io.Writer, prog *progress.Display, wit witnessPolicy) (*audit, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--url %q: want http:// or https:// and a host", base)
	}
	// Retries ride out a server restarting or briefly overloaded during a
	// long audit.
	c := client.New(client.Config{URL: base, Token: token, Retries: 3})
	a := newAudit()
	latest, err := c.Checkpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetch the checkpoint: %v", err)
	}
	a.latest = latest
	if key == "" {
		key, err = c.VerifierKey(ctx)
		if err != nil {
			return nil, fmt.Errorf("fetch the verifier key: %v", err)
		}
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
	wit.checkCosignatures(a, aud, verifier, latest)
	// A failure to read the scores ends the audit: without them it would
	// report every conversion that needs one not re-runnable.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	a.scores = &apiScores{ctx: ctx, stop: stop, c: c, known: map[uint64]client.Score{}}
	a.replay.SetScoreSource(a.scores.read)
	// Without a trusted size there is nothing to fetch: the auditor has
	// recorded why the latest checkpoint did not open.
	if cp := aud.Latest(); cp != nil {
		err := auditEntries(ctx, c, aud, cp.Size, prog.Bar("verifying"))
		if a.scores.err != nil {
			return nil, a.scores.err
		}
		if err != nil {
			return nil, err
		}
		aud.CheckProofs(c.Prover(ctx))
	}
	a.check("sealed scores", "%d read with --token through GET /v1/audit/scores, in %d requests", len(a.scores.known), a.scores.requests)
	a.rep = aud.Finish()
	return a, nil
}

// auditEntries feeds entries 0..size-1 to aud in seq order. A fetch that
// fails for good is recorded in aud and ends the audit of the entries
// (whose proofs are then left unchecked). Missing audit rights are an
// error: nothing can be checked without them.
func auditEntries(ctx context.Context, c *client.Client, aud *ledger.Auditor, size uint64, bar func(done, total uint64)) error {
	for e, err := range c.Entries(ctx, 0, size) {
		var se *client.StatusError
		switch {
		case errors.As(err, &se) && (se.StatusCode == http.StatusUnauthorized || se.StatusCode == http.StatusForbidden):
			return fmt.Errorf("reading entries needs an admin or regulator token (--token or CREDITBANK_TOKEN): %v", err)
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			aud.Fail(int64(e.Seq), "entry %d: %v", e.Seq, err)
			return nil
		}
		aud.Add(e.Data)
		bar(e.Seq+1, size)
	}
	return nil
}
