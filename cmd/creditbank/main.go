// Command creditbank runs the credit bank service and its operator tools.
//
//	creditbank serve  [--data DIR] [--addr HOST:PORT] [--origin ORIGIN]
//	creditbank verify --data DIR [--since FILE] [--save FILE]
//
// Every flag can also be set with a CREDITBANK_* environment variable
// (--data is CREDITBANK_DATA); a flag given on the command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"creditbank/accreditation"
	"creditbank/api"
	"creditbank/ledger"
)

const usage = `usage: creditbank <command> [flags]

commands:
  serve    run the service
  verify   audit a whole ledger from its data folder (stop the server first)

run 'creditbank <command> -h' for the flags of a command.
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "creditbank:", err)
		}
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "verify":
		return verify(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

// Config is the service's configuration. Each field is a flag of the same
// name and a CREDITBANK_ environment variable (upper case, - as _).
type Config struct {
	// Data is the data folder: the Pebble store in Data/ledger and the keys
	// in Data/keys, created on first start.
	Data string
	// Addr is the HTTP listen address.
	Addr string
	// Origin is the checkpoint origin line and the ledger key's name. It is
	// fixed when the key is created; a different value later is refused.
	Origin string
}

// newFlagSet makes a flag set whose defaults come from CREDITBANK_* variables.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse parses args after applying CREDITBANK_* environment variables to
// the flags they name, so the command line wins over the environment.
func parse(fs *flag.FlagSet, args []string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := "CREDITBANK_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && err == nil {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %v", env, v, e)
			}
		}
	})
	if err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

func serve(args []string, stderr io.Writer) error {
	var cfg Config
	fs := newFlagSet("serve", stderr)
	fs.StringVar(&cfg.Data, "data", "./data", "data folder (store and keys)")
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "HTTP listen address")
	fs.StringVar(&cfg.Origin, "origin", ledger.DefaultOrigin, "checkpoint origin")
	if err := parse(fs, args); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return fmt.Errorf("--addr %q: %v", cfg.Addr, err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	l, err := openLedger(cfg.Data, cfg.Origin, false, log)
	if err != nil {
		return err
	}
	if err := l.Integrity(); err != nil {
		l.Close()
		return fmt.Errorf("store in %s failed its integrity check: %v", cfg.Data, err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		l.Close()
		return fmt.Errorf("listen: %v", err)
	}
	srv := &http.Server{
		Handler:           api.New(l, log),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "data", cfg.Data, "size", l.Size())
	select {
	case err := <-errc:
		l.Close()
		return fmt.Errorf("serve: %v", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Error("shutdown", "err", err)
	}
	if err := l.Close(); err != nil {
		return fmt.Errorf("close store: %v", err)
	}
	log.Info("stopped")
	return nil
}

// openLedger opens the ledger in data, creating the folder and its keys on
// first use (unless readOnly).
func openLedger(data, origin string, readOnly bool, log *slog.Logger) (*ledger.Ledger, error) {
	store := filepath.Join(data, "ledger")
	if readOnly {
		if _, err := os.Stat(store); err != nil {
			return nil, fmt.Errorf("no ledger in %s: %v", data, err)
		}
	} else if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %v", err)
	}
	load := ledger.LoadOrCreateKeys
	if readOnly {
		load = ledger.LoadKeys
	}
	keys, err := load(filepath.Join(data, "keys"), origin)
	if err != nil {
		return nil, err
	}
	l, err := ledger.Open(ledger.Options{Dir: store, Keys: keys, ReadOnly: readOnly, Logger: log})
	if err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EAGAIN) {
			return nil, fmt.Errorf("data folder %s is in use by another process: %v", data, err)
		}
		return nil, err
	}
	return l, nil
}

func verify(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify", stderr)
	data := fs.String("data", "", "data folder of a stopped server (or a backup)")
	origin := fs.String("origin", ledger.DefaultOrigin, "checkpoint origin")
	since := fs.String("since", "", "a checkpoint saved by an earlier run; the ledger must have grown from it")
	save := fs.String("save", "", "write the latest checkpoint here after a clean run")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *data == "" {
		return errors.New("verify needs --data DIR")
	}
	var earlier []byte
	if *since != "" {
		b, err := os.ReadFile(*since)
		if err != nil {
			return fmt.Errorf("--since: %v", err)
		}
		earlier = b
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	l, err := openLedger(*data, *origin, true, log)
	if err != nil {
		return err
	}
	defer l.Close()
	// The domain replay rebuilds the bank from the entries and re-runs every
	// conversion from the rule version and outcomes it names.
	replay := accreditation.NewReplayer()
	var replayErr error
	conversions := 0
	rep, err := l.VerifyEach(context.Background(), earlier, nil, func(e ledger.Entry) {
		if replayErr != nil {
			return
		}
		if e.Type == accreditation.TypeConversionGranted {
			conversions++
		}
		replayErr = replay.Apply(e)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "entries read and hashed: %d\n", rep.Entries)
	fmt.Fprintf(stdout, "root of the entries:     %s\n", rep.Root)
	if c := rep.Checkpoint; c != nil {
		fmt.Fprintf(stdout, "latest checkpoint:       signature good, size %d, root %s\n", c.Size, c.Root)
	}
	if c := rep.Since; c != nil {
		fmt.Fprintf(stdout, "earlier checkpoint:      signature good, size %d, root %s\n", c.Size, c.Root)
	}
	fmt.Fprintf(stdout, "conversions re-run:      %d\n", conversions)
	for _, p := range rep.Problems {
		fmt.Fprintf(stdout, "FAIL: %s\n", p)
	}
	if replayErr != nil {
		fmt.Fprintf(stdout, "FAIL: replay: %v\n", replayErr)
	}
	findings := replay.Findings()
	for _, f := range findings {
		fmt.Fprintf(stdout, "FAIL: conversion %d: %s\n", f.Seq, f.Problem)
	}
	if replayErr != nil || len(findings) > 0 {
		return fmt.Errorf("ledger does not verify: %d conversions the rules would not have granted so", len(findings))
	}
	if !rep.OK() {
		if rep.FirstBad >= 0 {
			return fmt.Errorf("ledger does not verify: first bad entry %d", rep.FirstBad)
		}
		return errors.New("ledger does not verify")
	}
	fmt.Fprintln(stdout, "OK")
	if *save != "" {
		if err := os.WriteFile(*save, l.Checkpoint(), 0o644); err != nil {
			return fmt.Errorf("--save: %v", err)
		}
	}
	return nil
}
