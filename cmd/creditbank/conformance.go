package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"creditbank/api"
	"creditbank/conformance"
	"creditbank/server"
)

// conformanceCmd runs the conformance suite against a running server. With
// --data (the server's data folder on this machine) it mints regulator and
// learner tokens as `creditbank token` does, so the cases that need them
// run; without it they are skipped.
func conformanceCmd(args []string, stdout, stderr io.Writer) error {
	var cfg server.Config
	fs := newFlagSet("conformance", stderr)
	url := fs.String("url", "", "base URL of the server to check, such as http://127.0.0.1:8080")
	tok := fs.String("token", "", "an admin token for the server")
	fs.StringVar(&cfg.Data, "data", "", "the server's data folder, to mint regulator and learner tokens (optional)")
	fs.StringVar(&cfg.Audience, "audience", "creditbank", "token audience")
	fs.StringVar(&cfg.Issuer, "issuer", "creditbank", "issuer of the tokens the service signs")
	only := fs.String("only", "", "comma-separated case names or prefixes ending in / to run (default: all)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *url == "" || *tok == "" {
		return errors.New("conformance needs --url URL and --token ADMIN_TOKEN")
	}
	c := conformance.Config{URL: *url, AdminToken: *tok, Audience: cfg.Audience}
	if *only != "" {
		c.Only = strings.Split(*only, ",")
	}
	if cfg.Data != "" {
		k, err := api.LoadKeyFile(filepath.Join(cfg.Data, "keys", "token.jwk"))
		if err != nil {
			return fmt.Errorf("--data: token key: %v", err)
		}
		mint := func(role string) func(string) (string, error) {
			return func(sub string) (string, error) {
				return api.IssueToken(k, cfg.Issuer, cfg.Audience, role, sub, time.Hour)
			}
		}
		c.RegulatorToken, c.LearnerToken = mint("regulator"), mint("learner")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	sum := conformance.Run(ctx, c, func(r conformance.Result) {
		switch {
		case r.Skipped:
			fmt.Fprintf(stdout, "SKIP %s: %s\n", r.Name, r.Err)
		case r.Passed:
			fmt.Fprintf(stdout, "PASS %s\n", r.Name)
		default:
			fmt.Fprintf(stdout, "FAIL %s: %s\n", r.Name, oneLine(r.Err))
		}
	})
	if sum.Skipped > 0 {
		fmt.Fprintf(stdout, "%d skipped\n", sum.Skipped)
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", sum.Passed, sum.Failed)
	if sum.Failed > 0 {
		return fmt.Errorf("conformance: %d of %d cases failed", sum.Failed, sum.Passed+sum.Failed)
	}
	if ctx.Err() != nil {
		return errors.New("conformance: interrupted")
	}
	return nil
}

// oneLine keeps a failure on its line.
func oneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", " | ") }
