// Package bench is the load generator behind `creditbank bench`: the whole
// service measured over HTTP, with raw Pebble doing the same writes in the
// same run as the yardstick.
//
// Phases, each Config.Duration long unless given a count:
//
//  1. single: Config.Clients concurrent clients each POST one outcome at a
//     time.
//  2. batch: Config.BatchClients clients POST batches of Config.BatchSize
//     outcomes.
//  3. transcript: Config.Clients clients read whole transcripts (~200
//     outcomes) of the Config.Learners learners while 4 clients go on
//     posting outcomes.
//  4. audit: one learner's award audit toward a programme, over 500
//     outcomes that all count toward it, against the same learner's
//     transcript of all 500, read in turn by Config.Clients clients: the
//     audit's p99 over the transcript's, held to at most 1.5 (audit.go).
//  5. inclusion and checkpoint: Config.Clients clients fetch inclusion
//     proofs of random entries, then the checkpoint, through package client.
//  6. access-log: the transcript reads of phase 3 on the same store four
//     times, the in-process server restarted before each with the access
//     log off (serve --access-log=false), on, on, off: the mean reads per
//     second with the log (every admin read recorded) over the mean
//     without it is what the log costs, held to at least 0.9. Not run
//     against --url.
//
// After phases 1 and 2 raw Pebble, on a fresh store in the same folder, opened
// with the ledger's own store options (ledger.StoreOptions: memtable, block
// cache, bloom filters, value separation) and committing with pebble.Sync,
// commits for the same time the same keys and bytes per outcome from as many
// goroutines: one batch per outcome after phase 1, one batch per
// Config.BatchSize outcomes after phase 2. Per outcome the ledger writes 11
// keys: the entry, ~2 stored Merkle hashes, 2 index keys (learner,
// institution), the idempotency key and 5 state keys (out/, posted/ and
// outunit/ set, bald/ and stat/ merged); per synced group one tree head.
// Raw Pebble writes each of them through the ledger's exported layout
// (ledger.AppendEntryKey and the rest, accreditation.StateKeysOfOutcome,
// UnitKeyOfOutcome and StatisticsKeyOfOutcome), so that a change of keys changes
// the yardstick with it. The bytes are measured, not guessed: /metrics gives
// the bytes of the ledger's batches and the entries they held during the
// phase, and raw Pebble's entry values are sized so that its batches weigh as
// much per outcome.
//
// With Config.Floor each write phase also has its HTTP floor: the same
// clients posting to a bare net/http server whose handler only commits the
// same keys to raw Pebble. docs/performance.md shows the figures and how to
// read them.
package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"creditbank/accreditation"
	"creditbank/api"
	"creditbank/client"
	"creditbank/progress"
	"creditbank/server"
)

const (
	perLearner      = 200    // outcomes given to each transcript learner
	pool            = 100000 // learners every other outcome is spread over
	runInstitutions = 8      // institutions each run registers
	tokenTTL        = 10 * time.Minute
	tokenRenew      = 5 * time.Minute // institutions sign a new token this often
	readWriters     = 4               // clients posting while transcripts are read
	keysPerOutcome  = 11              // keys the ledger writes per outcome (see the package doc)
)

// phaseNames are the phases Config.Phases may choose, in the order they run.
var phaseNames = []string{"single", "batch", "transcript", "audit", "proof", "access-log"}

// Config says what to measure and how hard. Each field is a flag of
// `creditbank bench`, named in its comment; errors about a field name its
// flag.
type Config struct {
	// URL is the base URL of the server to measure (--url). Empty means an
	// in-process server (server.Start, as `serve` runs it) on a loopback
	// port, with its data folder in Dir.
	URL string
	// Token is an admin token of the server at URL (--token): it registers
	// the run's institutions and reads transcripts. Only with URL.
	Token string
	// Dir is the folder of the in-process server's data and the raw Pebble
	// baselines (--dir). It is kept, so that a preloaded store can be
	// measured again; empty means a temporary folder, removed at the end.
	Dir string
	// Audience is the aud of every token (--audience).
	Audience string
	// Clients is how many clients post single outcomes and read
	// (--clients), BatchClients how many post batches (--batch-clients);
	// raw Pebble commits from as many goroutines.
	Clients, BatchClients int
	// Duration is the length of each phase not given a count (--duration).
	Duration time.Duration
	// Singles and Batches, when positive, are how many posts phases 1 and
	// 2 make instead of lasting Duration (--singles, --batches).
	Singles, Batches int
	// BatchSize is the number of outcomes per batch post (--batch-size), 1
	// to accreditation.MaxBatch.
	BatchSize int
	// Preload is how many outcomes first fill the ledger through the batch
	// path (--preload).
	Preload int
	// Learners is how many learners' transcripts are read (--learners);
	// each gets ~200 outcomes spread over the fill.
	Learners int
	// CacheMiB is the block cache of the in-process server's store in MiB
	// (--cache-mb), as serve's; raw Pebble keeps 256.
	CacheMiB int
	// Readers, on a kept Dir, is the run id (8 hex digits, printed in each
	// report) of an earlier run whose seeded learners' transcripts are read
	// instead of seeding new ones (--readers).
	Readers string
	// JSON names a file the report is also written to as JSON (--json).
	JSON string
	// CPUProfile names a file for a CPU profile of the measured phases
	// (--cpuprofile). MemProfile names a file for an allocation profile
	// after the phases, and MemProfile+".base" one for before them, for go
	// tool pprof -diff_base (--memprofile).
	CPUProfile, MemProfile string
	// Phases are the phases to run (--phases): some of single, batch,
	// transcript and proof, run in that order whatever the order here.
	// Empty means all of them.
	Phases []string
	// Enforce makes Run fail when a phase misses its target (--enforce).
	Enforce bool
	// Floor also measures each write phase's HTTP floor (--floor).
	Floor bool
}

// DefaultConfig is what `creditbank bench` runs with when no flag is given:
// an in-process server with the cache `serve` would have, 64 clients for
// single posts and reads, 2 for batches of 1000, 10 s a phase, 100
// transcript learners and every phase.
func DefaultConfig() Config {
	return Config{
		Audience:     "creditbank",
		Clients:      64,
		BatchClients: 2,
		Duration:     10 * time.Second,
		BatchSize:    1000,
		Learners:     100,
		CacheMiB:     server.DefaultCacheMiB(),
		Phases:       slices.Clone(phaseNames),
	}
}

// Check reports the first value of c that the load generator cannot run
// with, as one line naming its flag.
func (c *Config) Check() error {
	switch {
	case c.Clients < 1 || c.BatchClients < 1:
		return errors.New("--clients and --batch-clients must be at least 1")
	case c.Duration <= 0:
		return fmt.Errorf("--duration %s must be positive", c.Duration)
	case c.Singles < 0 || c.Batches < 0 || c.Preload < 0:
		return errors.New("--singles, --batches and --preload cannot be negative")
	case c.BatchSize < 1 || c.BatchSize > accreditation.MaxBatch:
		return fmt.Errorf("--batch-size must be 1 to %d", accreditation.MaxBatch)
	case c.Learners < 1:
		return errors.New("--learners must be at least 1")
	case c.CacheMiB < 8:
		return errors.New("--cache-mb must be at least 8")
	case c.Readers != "" && !runID.MatchString(c.Readers):
		return fmt.Errorf("--readers %q: want the 8 hex digits of a run id", c.Readers)
	case c.URL != "" && c.Token == "":
		return errors.New("--url needs --token ADMIN_TOKEN")
	case c.URL == "" && c.Token != "":
		return errors.New("--token goes with --url")
	}
	for _, name := range c.Phases {
		if !slices.Contains(phaseNames, name) {
			return fmt.Errorf("--phases: unknown phase %q (want some of %s)", name, strings.Join(phaseNames, ", "))
		}
	}
	return nil
}

// runs says whether c chose the phase.
func (c *Config) runs(phase string) bool {
	return len(c.Phases) == 0 || slices.Contains(c.Phases, phase)
}

// Run measures the server cfg names, or an in-process one, as the package
// doc describes: it fills the ledger, runs the chosen phases, prints the
// report's table to stdout and, with cfg.JSON, writes the report as JSON.
// stderr shows progress when it is a terminal. Cancelling ctx stops the run
// with an error. With cfg.Enforce a missed target is an error, returned with
// the report.
func Run(ctx context.Context, cfg Config, stdout, stderr io.Writer) (*Report, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	work := cfg.Dir
	if work == "" {
		d, err := os.MkdirTemp("", "creditbank-bench-")
		if err != nil {
			return nil, fmt.Errorf("temporary folder: %v", err)
		}
		defer os.RemoveAll(d)
		work = d
	} else if err := os.MkdirAll(work, 0o700); err != nil {
		return nil, fmt.Errorf("--dir: %v", err)
	}
	r, err := start(ctx, cfg, work, stderr)
	if err != nil {
		return nil, err
	}
	defer r.close()
	if err := r.fill(ctx); err != nil {
		return nil, err
	}
	if err := r.measure(ctx); err != nil {
		return nil, err
	}
	rep := r.rep
	rep.SizeAfter = r.c.scrape(ctx).size
	rep.print(stdout)
	if cfg.JSON != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return rep, err
		}
		if err := os.WriteFile(cfg.JSON, append(b, '\n'), 0o644); err != nil {
			return rep, fmt.Errorf("--json: %v", err)
		}
	}
	if cfg.Enforce {
		for _, p := range rep.Phases {
			if p.Meets != nil && !*p.Meets {
				return rep, fmt.Errorf("%s: target %s missed", p.Phase, p.Target)
			}
		}
	}
	return rep, nil
}

// runner is one run: the server measured, the clients that load it and the
// report being filled in.
type runner struct {
	cfg   Config
	work  string         // folder of the in-process server and the raw Pebble stores
	srv   *server.Server // the in-process server, or nil
	c     *apiClient
	log   *client.Client // reads the log: checkpoints and proofs
	admin string
	w     *workload
	prog  *progress.Display
	rep   *Report
}

// start starts the in-process server unless cfg names one, registers the
// run's institutions and reads the ledger's size. The caller must close the
// runner.
func start(ctx context.Context, cfg Config, work string, stderr io.Writer) (*runner, error) {
	r := &runner{cfg: cfg, work: work, prog: progress.New(stderr)}
	r.rep = &Report{Mode: "in-process", GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		Time: time.Now().UTC().Format(time.RFC3339), Clients: cfg.Clients, BatchClients: cfg.BatchClients,
		BatchSize: cfg.BatchSize, PhaseSeconds: cfg.Duration.Seconds(), Learners: cfg.Learners}
	base, admin := cfg.URL, cfg.Token
	if cfg.URL == "" {
		srv, err := startServer(work, cfg.Audience, cfg.CacheMiB)
		if err != nil {
			return nil, err
		}
		r.srv, base = srv, srv.URL()
		if admin, err = srv.IssueToken(accreditation.RoleAdmin, "bench", time.Hour); err != nil {
			r.close()
			return nil, err
		}
	} else {
		r.rep.Mode, r.rep.URL = "url", cfg.URL
	}
	r.admin = admin
	r.c = newAPIClient(strings.TrimRight(base, "/"), cfg.Clients+cfg.BatchClients+readWriters+8)
	// The log client shares the load's connections, as many as there are
	// clients: its default would keep two idle and redial for the others.
	r.log = client.New(client.Config{URL: base, HTTPClient: r.c.hc})
	w, err := newWorkload(ctx, r.c, admin, cfg.Audience, cfg.Learners, cfg.Readers)
	if err != nil {
		r.close()
		return nil, err
	}
	r.w = w
	r.rep.Run, r.rep.ReadersOf = w.run, cmp.Or(cfg.Readers, w.run)
	r.rep.SizeBefore = r.c.scrape(ctx).size
	return r, nil
}

// startServer starts what `serve` runs, on a free loopback port with its
// data folder in dir. No caller has a rate limit or a budget, so that the
// load is measured rather than refused (creditbank abuse measures the
// limits); the access log is formatted as serve's is (its cost is part of
// what is measured) and thrown away.
func startServer(dir, audience string, cacheMiB int) (*server.Server, error) {
	return startServerLogging(dir, audience, cacheMiB, true)
}

// startServerLogging is startServer with the access log on or off.
func startServerLogging(dir, audience string, cacheMiB int, accessLog bool) (*server.Server, error) {
	cfg := server.DefaultConfig()
	cfg.Data, cfg.Addr, cfg.Audience, cfg.CacheMiB = dir, "127.0.0.1:0", audience, cacheMiB
	cfg.AccessLog = accessLog
	cfg.InstitutionRate, cfg.AnonymousRate = 0, 0
	cfg.Rows, cfg.BodyBytes = api.Budgets{}, api.Budgets{}
	return server.Start(cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
}

// close closes the connections and stops the in-process server.
func (r *runner) close() {
	if r.c != nil {
		r.c.closeLean()
		r.c.hc.CloseIdleConnections()
	}
	if r.srv != nil {
		_ = r.srv.Close()
	}
}

// fill posts the preload and the transcript learners' outcomes, spread.
func (r *runner) fill(ctx context.Context) error {
	f, err := r.w.fill(ctx, r.c, r.prog, r.cfg.Preload, r.cfg.BatchSize, max(r.cfg.BatchClients, 4))
	r.rep.Fill = f
	return err
}

// measure runs the chosen phases in order, profiled as cfg asks: the fill
// before them is left out of the profiles.
func (r *runner) measure(ctx context.Context) error {
	if r.cfg.MemProfile != "" {
		if err := writeAllocs(r.cfg.MemProfile + ".base"); err != nil {
			return err
		}
	}
	stopCPU := func() {}
	if r.cfg.CPUProfile != "" {
		pf, err := os.Create(r.cfg.CPUProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %v", err)
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return fmt.Errorf("--cpuprofile: %v", err)
		}
		stopCPU = pprof.StopCPUProfile
	}
	phases := map[string]func(context.Context) ([]Phase, error){
		"single": r.single, "batch": r.batch, "transcript": r.transcript, "audit": r.audit, "proof": r.proof,
		"access-log": r.accessLog,
	}
	for _, name := range phaseNames {
		if !r.cfg.runs(name) {
			continue
		}
		ps, err := phases[name](ctx)
		if err != nil {
			stopCPU()
			return err
		}
		r.rep.Phases = append(r.rep.Phases, ps...)
	}
	stopCPU()
	if r.cfg.MemProfile != "" {
		return writeAllocs(r.cfg.MemProfile)
	}
	return nil
}

// writeAllocs writes the allocation profile so far to name.
func writeAllocs(name string) error {
	pf, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("--memprofile: %v", err)
	}
	defer pf.Close()
	if err := pprof.Lookup("allocs").WriteTo(pf, 0); err != nil {
		return fmt.Errorf("--memprofile: %v", err)
	}
	return pf.Close()
}

// single is phase 1: single posts, then raw Pebble single synced commits.
func (r *runner) single(ctx context.Context) ([]Phase, error) {
	p, err := r.writePhase(ctx, "single", r.cfg.Clients, 1, r.cfg.Singles, 0.3, 25)
	if err != nil {
		return nil, err
	}
	return []Phase{p}, nil
}

// batch is phase 2: batch posts, then raw Pebble batches of the same shape.
func (r *runner) batch(ctx context.Context) ([]Phase, error) {
	p, err := r.writePhase(ctx, "batch", r.cfg.BatchClients, r.cfg.BatchSize, r.cfg.Batches, 0.5, 0)
	if err != nil {
		return nil, err
	}
	return []Phase{p}, nil
}

// writePhase has clients post outcomes, per per post, for count posts or
// the configured duration; then raw Pebble commits the same keys and bytes
// per outcome, per per commit, from as many goroutines; and it compares the
// two against a ratio of at least min and, when maxP99 is positive, a p99 of
// at most maxP99 ms. With Config.Floor it also measures the phase's HTTP
// floor.
func (r *runner) writePhase(ctx context.Context, name string, clients, per, count int, min, maxP99 float64) (Phase, error) {
	m0 := r.c.scrape(ctx)
	side, err := load(ctx, r.prog, name+" POST", clients, count, r.cfg.Duration, func(wk int, _ *rand.Rand) (int, error) {
		return per, r.w.post(ctx, r.c, wk, per)
	})
	if err != nil {
		return Phase{}, fmt.Errorf("%s posts: %v", name, err)
	}
	shape := shapeOf(m0, r.c.scrape(ctx))
	raw, err := r.rawRun(ctx, "raw "+name+" commit", clients, per, count, shape)
	if err != nil {
		return Phase{}, err
	}
	p := phaseOf(name, "outcomes", side)
	p.Raw, p.Shape = &raw, &shape
	p.compare(min, maxP99)
	if r.cfg.Floor {
		fl, err := r.floorRun(ctx, name+" floor POST", clients, per, count, shape)
		if err != nil {
			return Phase{}, err
		}
		p.Floor = &fl
		if raw.PerSec > 0 {
			p.FloorRatio = fl.PerSec / raw.PerSec
		}
	}
	return p, nil
}

// transcript is phase 3: transcripts read while a few clients go on
// posting, so that reads are measured against a ledger that is growing.
func (r *runner) transcript(ctx context.Context) ([]Phase, error) {
	entries, err := r.w.checkTranscript(ctx, r.c, r.admin)
	if err != nil {
		return nil, err
	}
	var writes Side
	var wg sync.WaitGroup
	var werr error
	wctx, cancelWrites := context.WithCancel(ctx)
	wg.Go(func() {
		s, err := load(wctx, nil, "", readWriters, 0, 24*time.Hour, func(wk int, _ *rand.Rand) (int, error) {
			err := r.w.postSingle(wctx, r.c, wk)
			if wctx.Err() != nil {
				return 0, errStop
			}
			return 1, err
		})
		if errors.Is(err, context.Canceled) && ctx.Err() == nil {
			err = nil // stopped when the reads ended
		}
		writes, werr = s, err
	})
	reads, err := load(ctx, r.prog, "transcript GET", r.cfg.Clients, 0, r.cfg.Duration, func(_ int, rnd *rand.Rand) (int, error) {
		return 1, r.c.get(ctx, "/v1/learners/"+r.w.readers[rnd.IntN(len(r.w.readers))]+"/transcript?limit=1000", r.admin)
	})
	cancelWrites()
	wg.Wait()
	if err != nil {
		return nil, fmt.Errorf("transcripts: %v", err)
	}
	if werr != nil {
		return nil, fmt.Errorf("writes during transcripts: %v", werr)
	}
	p := phaseOf("transcript", "reads", reads)
	p.Writes, p.TranscriptEntries = &writes, entries
	return []Phase{p}, nil
}

// accessLog is phase 5: the transcript reads of phase 3 four times more on
// the same store, with the access log off, on, on and off, each after a
// restart of the server (serve --access-log=false, or as serve runs), so
// that each starts alike: a cold block cache warmed by one read of each
// learner's transcript. Reads slow down as the writers grow the ledger
// (307, 246, 193 reads/s in three back-to-back runs); in this order a drift
// that is steady over the phase weighs on both sides equally, and the
// ratio, the mean reads per second with the log over the mean without,
// measures the log.
func (r *runner) accessLog(ctx context.Context) ([]Phase, error) {
	if r.srv == nil {
		return nil, nil // --url: the server's own configuration decides
	}
	var out []Phase
	var on, off float64
	var written uint64
	var ons, offs int
	for _, logged := range []bool{false, true, true, false} {
		p, err := r.readsAfterRestart(ctx, logged)
		if err != nil {
			return nil, err
		}
		if logged {
			on += p.PerSec / 2
			// Every read (the admin's) was recorded: count the records, to
			// show the log was on.
			a := r.srv.AccessLog()
			a.Flush()
			written += a.Stats().Written
			ons++
			p.Phase = fmt.Sprintf("acc-on-%d", ons)
		} else {
			off += p.PerSec / 2
			offs++
			p.Phase = fmt.Sprintf("acc-off-%d", offs)
		}
		out = append(out, p)
	}
	last := &out[len(out)-1]
	if off > 0 {
		last.Ratio = on / off
	}
	meets := last.Ratio >= 0.9
	last.Target, last.Meets = "on ≥0.9×off", &meets
	last.AccessRecords = &written
	return out, nil
}

// readsAfterRestart restarts the server with the access log on or off,
// reads each learner's transcript once, and measures the transcript reads.
func (r *runner) readsAfterRestart(ctx context.Context, accessLog bool) (Phase, error) {
	if err := r.restart(accessLog); err != nil {
		return Phase{}, err
	}
	for _, learner := range r.w.readers {
		if err := r.c.get(ctx, "/v1/learners/"+learner+"/transcript?limit=1000", r.admin); err != nil {
			return Phase{}, fmt.Errorf("warming the cache: %v", err)
		}
	}
	ps, err := r.transcript(ctx)
	if err != nil {
		return Phase{}, err
	}
	return ps[0], nil
}

// restart stops the in-process server and starts it again on the same
// store, with the access log on or off, and connects to it afresh. The
// token key is the store's, so the run's tokens still hold.
func (r *runner) restart(accessLog bool) error {
	r.c.closeLean()
	r.c.hc.CloseIdleConnections()
	if err := r.srv.Close(); err != nil {
		return fmt.Errorf("stop the server: %v", err)
	}
	r.srv = nil
	srv, err := startServerLogging(r.work, r.cfg.Audience, r.cfg.CacheMiB, accessLog)
	if err != nil {
		return fmt.Errorf("restart the server: %v", err)
	}
	r.srv = srv
	r.c = newAPIClient(srv.URL(), r.cfg.Clients+r.cfg.BatchClients+readWriters+8)
	r.log = client.New(client.Config{URL: srv.URL(), HTTPClient: r.c.hc})
	return nil
}

// proof is phase 4: inclusion proofs of random entries of the latest
// checkpoint's tree, then checkpoints.
func (r *runner) proof(ctx context.Context) ([]Phase, error) {
	size, err := r.checkpointSize(ctx)
	if err != nil {
		return nil, err
	}
	// The read phases measure the server: the load generator fetches and
	// drops each answer over its own connections, as it reads transcripts.
	// Decoding every proof through the log client took enough of the two
	// shared cores that back-to-back runs read 6,228-6,413 proofs/s instead
	// of 8,312-9,505.
	proofs, err := load(ctx, r.prog, "inclusion proof", r.cfg.Clients, 0, r.cfg.Duration, func(_ int, rnd *rand.Rand) (int, error) {
		return 1, r.c.get(ctx, "/v1/log/proof/inclusion?index="+strconv.FormatUint(rnd.Uint64N(size), 10)+"&size="+strconv.FormatUint(size, 10), "")
	})
	if err != nil {
		return nil, fmt.Errorf("inclusion proofs: %v", err)
	}
	ckpts, err := load(ctx, r.prog, "checkpoint", r.cfg.Clients, 0, r.cfg.Duration, func(int, *rand.Rand) (int, error) {
		return 1, r.c.get(ctx, "/v1/log/checkpoint", "")
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoints: %v", err)
	}
	return []Phase{phaseOf("inclusion", "proofs", proofs), phaseOf("checkpoint", "checkpoints", ckpts)}, nil
}

// checkpointSize is the size of the latest checkpoint, waiting a few
// seconds for the first one (a checkpoint follows growth within a second).
func (r *runner) checkpointSize(ctx context.Context) (uint64, error) {
	for deadline := time.Now().Add(5 * time.Second); ; {
		b, err := r.log.Checkpoint(ctx)
		if err != nil {
			return 0, err
		}
		n, err := client.TreeSize(b)
		if err != nil {
			return 0, err
		}
		if n > 0 {
			return n, nil
		}
		if time.Now().After(deadline) {
			return 0, errors.New("no checkpoint over a non-empty ledger after 5s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
