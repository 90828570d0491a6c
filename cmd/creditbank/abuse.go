package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"creditbank/bench"
)

// abuseCmd is `creditbank abuse`: the flags of bench.AbuseConfig, then
// bench.Abuse against a `serve` this executable starts; with --enforce, a
// missed bound is exit status 1.
func abuseCmd(args []string, stdout, stderr io.Writer) error {
	cfg := bench.DefaultAbuseConfig()
	fs := newFlagSet("abuse", stderr)
	fs.StringVar(&cfg.Binary, "binary", "", "creditbank executable to run as the server (default: this one)")
	fs.StringVar(&cfg.Dir, "dir", "", "the server's data folder, which must not hold a ledger (default: a temporary folder, removed)")
	serveFlags := fs.String("serve-flags", "", "more flags for serve, space-separated (e.g. \"--institution-rate 500\")")
	fs.IntVar(&cfg.Preload, "preload", cfg.Preload, "outcomes spread over 100,000 learners filling the ledger first")
	fs.IntVar(&cfg.HeavyOutcomes, "heavy-outcomes", cfg.HeavyOutcomes, "outcomes of the one learner the conversions and reads attacks use")
	fs.DurationVar(&cfg.Quiet, "quiet", cfg.Quiet, "victim alone before each attack")
	fs.DurationVar(&cfg.Attack, "attack", cfg.Attack, "length of each attack")
	fs.Float64Var(&cfg.VictimRate, "victim-rate", cfg.VictimRate, "single outcomes a second the victim institution posts")
	fs.IntVar(&cfg.Attackers, "attackers", cfg.Attackers, "goroutines per attack")
	fs.IntVar(&cfg.MaxConnections, "max-connections", cfg.MaxConnections, "the server's --max-connections; the connections attack holds twice as many")
	fs.IntVar(&cfg.CacheMiB, "cache-mb", cfg.CacheMiB, "the server's --cache-mb")
	fs.IntVar(&cfg.MemoryBoundMiB, "memory-bound-mb", cfg.MemoryBoundMiB, "most resident memory (VmHWM) the server may reach, in MiB")
	fs.Float64Var(&cfg.MaxRatio, "max-ratio", cfg.MaxRatio, "most an attack may raise the victim's p99 over the quiet window before it (0: no bound)")
	attacks := fs.String("attacks", "", "comma-separated attacks to run (connections, tokens, conversions, bodies, anonymous, reads; default all)")
	fs.StringVar(&cfg.JSON, "json", "", "also write the figures to this file as JSON")
	enforce := fs.Bool("enforce", false, "exit with status 1 when a bound is missed: a lost or unanswered post, memory, --max-ratio")
	if err := parse(fs, args); err != nil {
		return err
	}
	if cfg.Binary == "" {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("--binary: %v", err)
		}
		cfg.Binary = self
	}
	cfg.ServeFlags = strings.Fields(*serveFlags)
	for name := range strings.SplitSeq(*attacks, ",") {
		if name = strings.TrimSpace(name); name != "" {
			cfg.Attacks = append(cfg.Attacks, name)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Abuse(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	if f := rep.Failures(); *enforce && len(f) > 0 {
		return errors.New(strings.Join(f, "; "))
	}
	return nil
}
