package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"creditbank/bench"
)

// benchCmd is `creditbank bench`: the flags of bench.Config, then bench.Run
// until it is done or SIGINT or SIGTERM stops it.
func benchCmd(args []string, stdout, stderr io.Writer) error {
	cfg := bench.DefaultConfig()
	fs := newFlagSet("bench", stderr)
	fs.StringVar(&cfg.URL, "url", "", "measure the server at this URL (default: an in-process server on a temporary store)")
	fs.StringVar(&cfg.Token, "token", "", "with --url: an admin token")
	fs.StringVar(&cfg.Dir, "dir", "", "folder for the in-process store and the raw Pebble baseline; kept, so a preloaded store can be measured again (default: a temporary folder, removed)")
	fs.StringVar(&cfg.Audience, "audience", cfg.Audience, "token audience")
	fs.IntVar(&cfg.Clients, "clients", cfg.Clients, "concurrent clients posting single outcomes and reading")
	fs.IntVar(&cfg.BatchClients, "batch-clients", cfg.BatchClients, "concurrent clients posting batches (and raw Pebble goroutines committing them)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "length of each phase not given a count")
	fs.IntVar(&cfg.Singles, "singles", 0, "single posts in phase 1 instead of --duration")
	fs.IntVar(&cfg.Batches, "batches", 0, "batch posts in phase 2 instead of --duration")
	fs.IntVar(&cfg.BatchSize, "batch-size", cfg.BatchSize, "outcomes per batch post")
	fs.IntVar(&cfg.Preload, "preload", 0, "first fill the ledger with this many outcomes through the batch path")
	fs.IntVar(&cfg.Learners, "learners", cfg.Learners, "learners whose transcripts are read; each gets ~200 outcomes spread over the fill")
	fs.IntVar(&cfg.CacheMiB, "cache-mb", cfg.CacheMiB, "block cache of the in-process server's store in MiB (as serve --cache-mb; raw Pebble keeps 256)")
	fs.StringVar(&cfg.Readers, "readers", "", "on a kept --dir: read the transcripts of the learners an earlier run seeded (its run id, printed in its report) instead of seeding new ones")
	fs.StringVar(&cfg.JSON, "json", "", "also write the figures to this file as JSON")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the measured phases to this file")
	fs.StringVar(&cfg.MemProfile, "memprofile", "", "write allocation profiles to this file (after the phases) and FILE.base (before them), for go tool pprof -diff_base")
	phases := fs.String("phases", strings.Join(cfg.Phases, ","), "comma-separated phases to run (single, batch, transcript, audit, proof, access-log), e.g. to profile one of them")
	fs.BoolVar(&cfg.Enforce, "enforce", false, "exit with status 1 when a target is missed")
	fs.BoolVar(&cfg.Floor, "floor", false, "also measure each write phase's HTTP floor: the same clients posting to a net/http server whose handler only commits the same keys to raw Pebble")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg.Phases = nil
	for name := range strings.SplitSeq(*phases, ",") {
		cfg.Phases = append(cfg.Phases, strings.TrimSpace(name))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, err := bench.Run(ctx, cfg, stdout, stderr)
	return err
}
