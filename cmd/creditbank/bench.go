package main

// creditbank bench: the whole service measured over HTTP, with raw Pebble
// doing the same writes in the same run as the yardstick.
//
// Phases, each --duration long unless given a count:
//
//  1. single: --clients concurrent clients each POST one outcome at a time.
//  2. batch: --batch-clients clients POST batches of --batch-size outcomes.
//  3. transcript: --clients clients read whole transcripts (~200 outcomes)
//     of the --learners learners while 4 clients go on posting outcomes.
//  4. inclusion and checkpoint: --clients clients fetch inclusion proofs of
//     random entries, then the checkpoint.
//
// After phases 1 and 2 raw Pebble, on a fresh store in the same folder, opened
// with the ledger's own store options (ledger.StoreOptions: memtable, block
// cache, bloom filters, value separation) and committing with pebble.Sync,
// commits for the same time the same keys and
// bytes per outcome from as many goroutines: one batch per outcome after
// phase 1, one batch per --batch-size outcomes after phase 2. Per outcome the
// ledger writes 9 keys: the entry, ~2 stored Merkle hashes, 2 index keys
// (learner, institution), the idempotency key and 3 state keys (out/ and
// posted/ set, bald/ merged); per synced group one tree head. The bytes are
// measured, not guessed: /metrics gives the bytes of the ledger's batches and
// the entries they held during the phase, and raw Pebble's entry values are
// sized so that its batches weigh as much per outcome.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/tlog"

	"creditbank/accreditation"
	"creditbank/api"
	"creditbank/ledger"
	"creditbank/progress"
	"creditbank/server"
)

const (
	benchPerLearner   = 200    // outcomes given to each transcript learner
	benchPool         = 100000 // learners every other outcome is spread over
	benchInstitutions = 8
	benchTokenTTL     = 10 * time.Minute
	benchTokenRenew   = 5 * time.Minute // institutions sign a new token this often
	benchReadWriters  = 4               // clients posting while transcripts are read
	benchKeysPerOut   = 9               // keys the ledger writes per outcome (see the top)
)

type benchFlags struct {
	url, token, dir, audience string
	clients, batchClients     int
	duration                  time.Duration
	singles, batches          int
	batchSize                 int
	preload, learners         int
	readers                   string
	cacheMiB                  int
	jsonOut, cpuProfile       string
	memProfile                string
	phases                    string
	enforce, floor            bool
}

// benchPhaseNames are the phases --phases may choose, in the order they run.
var benchPhaseNames = []string{"single", "batch", "transcript", "proof"}

func bench(args []string, stdout, stderr io.Writer) error {
	var f benchFlags
	fs := newFlagSet("bench", stderr)
	fs.StringVar(&f.url, "url", "", "measure the server at this URL (default: an in-process server on a temporary store)")
	fs.StringVar(&f.token, "token", "", "with --url: an admin token")
	fs.StringVar(&f.dir, "dir", "", "folder for the in-process store and the raw Pebble baseline; kept, so a preloaded store can be measured again (default: a temporary folder, removed)")
	fs.StringVar(&f.audience, "audience", "creditbank", "token audience")
	fs.IntVar(&f.clients, "clients", 64, "concurrent clients posting single outcomes and reading")
	fs.IntVar(&f.batchClients, "batch-clients", 2, "concurrent clients posting batches (and raw Pebble goroutines committing them)")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "length of each phase not given a count")
	fs.IntVar(&f.singles, "singles", 0, "single posts in phase 1 instead of --duration")
	fs.IntVar(&f.batches, "batches", 0, "batch posts in phase 2 instead of --duration")
	fs.IntVar(&f.batchSize, "batch-size", 1000, "outcomes per batch post")
	fs.IntVar(&f.preload, "preload", 0, "first fill the ledger with this many outcomes through the batch path")
	fs.IntVar(&f.learners, "learners", 100, "learners whose transcripts are read; each gets ~200 outcomes spread over the fill")
	fs.IntVar(&f.cacheMiB, "cache-mb", server.DefaultCacheMiB(), "block cache of the in-process server's store in MiB (as serve --cache-mb; raw Pebble keeps 256)")
	fs.StringVar(&f.readers, "readers", "", "on a kept --dir: read the transcripts of the learners an earlier run seeded (its run id, printed in its report) instead of seeding new ones")
	fs.StringVar(&f.jsonOut, "json", "", "also write the figures to this file as JSON")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured phases to this file")
	fs.StringVar(&f.memProfile, "memprofile", "", "write allocation profiles to this file (after the phases) and FILE.base (before them), for go tool pprof -diff_base")
	fs.StringVar(&f.phases, "phases", strings.Join(benchPhaseNames, ","), "comma-separated phases to run (single, batch, transcript, proof), e.g. to profile one of them")
	fs.BoolVar(&f.enforce, "enforce", false, "exit with status 1 when a target is missed")
	fs.BoolVar(&f.floor, "floor", false, "also measure each write phase's HTTP floor: the same clients posting to a net/http server whose handler only commits the same keys to raw Pebble")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case f.clients < 1 || f.batchClients < 1:
		return errors.New("--clients and --batch-clients must be at least 1")
	case f.duration <= 0:
		return fmt.Errorf("--duration %s must be positive", f.duration)
	case f.singles < 0 || f.batches < 0 || f.preload < 0:
		return errors.New("--singles, --batches and --preload cannot be negative")
	case f.batchSize < 1 || f.batchSize > accreditation.MaxBatch:
		return fmt.Errorf("--batch-size must be 1 to %d", accreditation.MaxBatch)
	case f.learners < 1:
		return errors.New("--learners must be at least 1")
	case f.cacheMiB < 8:
		return errors.New("--cache-mb must be at least 8")
	case f.readers != "" && !benchRunID.MatchString(f.readers):
		return fmt.Errorf("--readers %q: want the 8 hex digits of a run id", f.readers)
	case f.url != "" && f.token == "":
		return errors.New("--url needs --token ADMIN_TOKEN")
	case f.url == "" && f.token != "":
		return errors.New("--token goes with --url")
	}
	run := map[string]bool{}
	for _, name := range strings.Split(f.phases, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(benchPhaseNames, name) {
			return fmt.Errorf("--phases: unknown phase %q (want some of %s)", name, strings.Join(benchPhaseNames, ", "))
		}
		run[name] = true
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	work := f.dir
	if work == "" {
		d, err := os.MkdirTemp("", "creditbank-bench-")
		if err != nil {
			return fmt.Errorf("temporary folder: %v", err)
		}
		defer os.RemoveAll(d)
		work = d
	} else if err := os.MkdirAll(work, 0o700); err != nil {
		return fmt.Errorf("--dir: %v", err)
	}

	rep := &benchReport{Mode: "in-process", GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		Time: time.Now().UTC().Format(time.RFC3339), Clients: f.clients, BatchClients: f.batchClients,
		BatchSize: f.batchSize, PhaseSeconds: f.duration.Seconds(), Learners: f.learners}
	base, admin := f.url, f.token
	if f.url == "" {
		srv, err := startBenchServer(work, f.audience, int64(f.cacheMiB)<<20)
		if err != nil {
			return err
		}
		defer srv.close()
		base, admin = srv.url, srv.admin
	} else {
		rep.Mode, rep.URL = "url", f.url
	}
	c := newBenchClient(strings.TrimRight(base, "/"), f.clients+f.batchClients+benchReadWriters+8)
	defer c.hc.CloseIdleConnections()
	defer c.closeLean()
	prog := progress.New(stderr)

	w, err := newBenchWorkload(ctx, c, admin, f.audience, f.learners, f.readers)
	if err != nil {
		return err
	}
	rep.Run, rep.ReadersOf = w.run, cmp.Or(f.readers, w.run)
	before := c.scrape(ctx)
	rep.SizeBefore = before.size

	// Fill: the preload and the transcript learners' outcomes, spread.
	fill, err := w.fill(ctx, c, prog, f.preload, f.batchSize, max(f.batchClients, 4))
	if err != nil {
		return err
	}
	rep.Fill = fill

	if f.memProfile != "" {
		if err := benchWriteAllocs(f.memProfile + ".base"); err != nil {
			return err
		}
	}
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %v", err)
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return fmt.Errorf("--cpuprofile: %v", err)
		}
		defer pprof.StopCPUProfile()
	}

	if run["single"] {
		// 1. Single posts, then raw Pebble single synced commits.
		p, err := benchWritePhase(ctx, prog, c, work, w, "single", f.clients, 1, f.singles, f.duration, 0.3, 25, f.floor)
		if err != nil {
			return err
		}
		rep.Phases = append(rep.Phases, p)
	}
	if run["batch"] {
		// 2. Batch posts, then raw Pebble batches of the same shape.
		p, err := benchWritePhase(ctx, prog, c, work, w, "batch", f.batchClients, f.batchSize, f.batches, f.duration, 0.5, 0, f.floor)
		if err != nil {
			return err
		}
		rep.Phases = append(rep.Phases, p)
	}
	if run["transcript"] {
		// 3. Transcripts while writes go on.
		entries, err := w.checkTranscript(ctx, c, admin)
		if err != nil {
			return err
		}
		var writes benchSide
		var wg sync.WaitGroup
		var werr error
		wctx, cancelWrites := context.WithCancel(ctx)
		wg.Go(func() {
			r, err := benchLoad(wctx, nil, "", benchReadWriters, 0, 24*time.Hour, func(wk int, _ *rand.Rand) (int, error) {
				err := w.postSingle(wctx, c, wk)
				if wctx.Err() != nil {
					return 0, errBenchStop
				}
				return 1, err
			})
			if errors.Is(err, context.Canceled) && ctx.Err() == nil {
				err = nil // stopped when the reads ended
			}
			writes, werr = r, err
		})
		reads, err := benchLoad(ctx, prog, "transcript GET", f.clients, 0, f.duration, func(_ int, rnd *rand.Rand) (int, error) {
			return 1, c.get(ctx, "/v1/learners/"+w.readers[rnd.IntN(len(w.readers))]+"/transcript?limit=1000", admin)
		})
		cancelWrites()
		wg.Wait()
		if err != nil {
			return fmt.Errorf("transcripts: %v", err)
		}
		if werr != nil {
			return fmt.Errorf("writes during transcripts: %v", werr)
		}
		p3 := benchPhaseOf("transcript", "reads", reads)
		p3.Writes, p3.TranscriptEntries = &writes, entries
		rep.Phases = append(rep.Phases, p3)
	}
	if run["proof"] {
		// 4. Inclusion proofs and checkpoints.
		size, err := c.checkpointSize(ctx)
		if err != nil {
			return err
		}
		proofs, err := benchLoad(ctx, prog, "inclusion proof", f.clients, 0, f.duration, func(_ int, rnd *rand.Rand) (int, error) {
			return 1, c.get(ctx, "/v1/log/proof/inclusion?index="+strconv.FormatUint(rnd.Uint64N(size), 10)+"&size="+strconv.FormatUint(size, 10), "")
		})
		if err != nil {
			return fmt.Errorf("inclusion proofs: %v", err)
		}
		rep.Phases = append(rep.Phases, benchPhaseOf("inclusion", "proofs", proofs))
		ckpts, err := benchLoad(ctx, prog, "checkpoint", f.clients, 0, f.duration, func(int, *rand.Rand) (int, error) {
			return 1, c.get(ctx, "/v1/log/checkpoint", "")
		})
		if err != nil {
			return fmt.Errorf("checkpoints: %v", err)
		}
		rep.Phases = append(rep.Phases, benchPhaseOf("checkpoint", "checkpoints", ckpts))
	}
	if f.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if f.memProfile != "" {
		if err := benchWriteAllocs(f.memProfile); err != nil {
			return err
		}
	}
	rep.SizeAfter = c.scrape(ctx).size

	rep.print(stdout)
	if f.jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(f.jsonOut, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("--json: %v", err)
		}
	}
	if f.enforce {
		for _, p := range rep.Phases {
			if p.Meets != nil && !*p.Meets {
				return fmt.Errorf("%s: target %s missed", p.Phase, p.Target)
			}
		}
	}
	return nil
}

// benchWritePhase has clients post outcomes, per per post, for count posts
// or dur; then raw Pebble commits the same keys and bytes per outcome, per
// per commit, from as many goroutines; and it compares the two against a
// ratio of at least min and, when maxP99 is positive, a p99 of at most
// maxP99 ms. With floor, it also measures the phase's HTTP floor.
func benchWritePhase(ctx context.Context, prog *progress.Display, c *benchClient, work string, w *benchWorkload, name string,
	clients, per, count int, dur time.Duration, min, maxP99 float64, floor bool) (benchPhase, error) {
	m0 := c.scrape(ctx)
	side, err := benchLoad(ctx, prog, name+" POST", clients, count, dur, func(wk int, _ *rand.Rand) (int, error) {
		return per, w.post(ctx, c, wk, per)
	})
	if err != nil {
		return benchPhase{}, fmt.Errorf("%s posts: %v", name, err)
	}
	shape := benchShapeOf(m0, c.scrape(ctx))
	raw, err := benchRawRun(ctx, prog, work, w, "raw "+name+" commit", clients, per, count, dur, shape)
	if err != nil {
		return benchPhase{}, err
	}
	p := benchPhaseOf(name, "outcomes", side)
	p.Raw, p.Shape = &raw, &shape
	p.compare(min, maxP99)
	if floor {
		fl, err := benchFloorRun(ctx, prog, c, work, w, name+" floor POST", clients, per, count, dur, shape)
		if err != nil {
			return benchPhase{}, err
		}
		p.Floor = &fl
		if raw.PerSec > 0 {
			p.FloorRatio = fl.PerSec / raw.PerSec
		}
	}
	return p, nil
}

// benchWriteAllocs writes the allocation profile so far to name.
func benchWriteAllocs(name string) error {
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

// ---------------------------------------------------------------------------
// The in-process server: what `serve` runs, on a real loopback listener.

type benchServer struct {
	url, admin string
	l          *ledger.Ledger
	srv        *http.Server
}

func startBenchServer(dir, audience string, cacheBytes int64) (*benchServer, error) {
	// The access log is formatted as in `serve` and thrown away.
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	metrics := api.NewMetrics()
	l, err := server.OpenLedger(dir, ledger.DefaultOrigin, false, log, metrics.ObserveGroup, cacheBytes)
	if err != nil {
		return nil, err
	}
	metrics.RegisterLedger(l)
	if err := l.Integrity(); err != nil {
		l.Close()
		return nil, fmt.Errorf("store in %s failed its integrity check: %v", dir, err)
	}
	tk, err := api.GenerateKey("EdDSA")
	if err != nil {
		l.Close()
		return nil, err
	}
	pub, _ := tk.Public()
	bank := accreditation.New(l)
	auth := api.NewAuthenticator(audience, []api.Issuer{{Name: "creditbank", Keys: map[string]accreditation.PublicJWK{tk.Kid: pub}}}, bank, nil)
	admin, err := api.IssueToken(tk, "creditbank", audience, string(accreditation.RoleAdmin), "bench", 24*time.Hour)
	if err != nil {
		l.Close()
		return nil, err
	}
	srv, url, err := serveLoopback(api.New(api.Config{Bank: bank, Auth: auth, Log: log, Metrics: metrics}))
	if err != nil {
		l.Close()
		return nil, err
	}
	return &benchServer{url: url, admin: admin, l: l, srv: srv}, nil
}

// serveLoopback serves h on a free loopback port with serve's server
// settings and returns the server and its base URL.
func serveLoopback(h http.Handler) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("listen: %v", err)
	}
	srv := server.NewHTTPServer(h, server.DefaultTimeouts)
	go func() { _ = srv.Serve(ln) }()
	return srv, "http://" + ln.Addr().String(), nil
}

func (s *benchServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	s.l.Close()
}

// ---------------------------------------------------------------------------
// HTTP client.

type benchClient struct {
	hc   *http.Client
	base string

	host  string // host:port of a plain-HTTP base, for the lean connections
	mu    sync.Mutex
	conns []*benchConn // idle lean connections
}

func newBenchClient(base string, conns int) *benchClient {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	c := &benchClient{hc: &http.Client{Transport: tr, Timeout: 2 * time.Minute}, base: base}
	if u, err := url.Parse(base); err == nil && u.Scheme == "http" && u.Path == "" {
		c.host = u.Host
	}
	return c
}

// benchConn is one keep-alive HTTP/1.1 connection that a single goroutine
// writes a request to and reads the answer from. net/http's client runs two
// more goroutines per connection and woke them for every request: on the
// two cores the measured server shares with its clients, that was a fifth
// of all the CPU the single posts took.
type benchConn struct {
	conn net.Conn
	br   *bufio.Reader
	buf  []byte
}

// post sends a request on an idle lean connection (or a new one) and checks
// its status, reading and dropping the answer. Without a plain-HTTP base it
// is do.
func (c *benchClient) post(ctx context.Context, method, path, token string, body []byte, want int) error {
	if c.host == "" {
		_, err := c.do(ctx, method, path, token, body, want, false)
		return err
	}
	c.mu.Lock()
	var bc *benchConn
	if n := len(c.conns); n > 0 {
		bc, c.conns = c.conns[n-1], c.conns[:n-1]
	}
	c.mu.Unlock()
	if bc == nil {
		conn, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", c.host)
		if err != nil {
			return err
		}
		bc = &benchConn{conn: conn, br: bufio.NewReaderSize(conn, 8<<10)}
	}
	reuse, err := bc.do(c.host, method, path, token, body, want)
	if err != nil || !reuse {
		bc.conn.Close()
		return err
	}
	c.mu.Lock()
	c.conns = append(c.conns, bc)
	c.mu.Unlock()
	return nil
}

// closeLean closes the idle lean connections.
func (c *benchClient) closeLean() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, bc := range c.conns {
		bc.conn.Close()
	}
	c.conns = nil
}

// do writes one request and reads its answer with net/http's parser; it
// says whether the connection may carry another.
func (bc *benchConn) do(host, method, path, token string, body []byte, want int) (bool, error) {
	b := append(bc.buf[:0], method...)
	b = append(append(append(b, ' '), path...), " HTTP/1.1\r\nHost: "...)
	b = append(append(b, host...), "\r\n"...)
	if token != "" {
		b = append(append(append(b, "Authorization: Bearer "...), token...), "\r\n"...)
	}
	if body != nil {
		b = append(b, "Content-Type: application/json\r\nContent-Length: "...)
		b = append(strconv.AppendInt(b, int64(len(body)), 10), "\r\n"...)
	}
	b = append(append(b, "\r\n"...), body...)
	bc.buf = b
	if err := bc.conn.SetDeadline(time.Now().Add(2 * time.Minute)); err != nil {
		return false, err
	}
	if _, err := bc.conn.Write(b); err != nil {
		return false, err
	}
	resp, err := http.ReadResponse(bc.br, nil)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if _, err := readResponse(resp, method, path, want, false); err != nil {
		return false, err
	}
	return !resp.Close, nil
}

// readResponse checks an answer's status and reads its body: returned when
// keep is set, else read and dropped so that the connection is reused.
func readResponse(resp *http.Response, method, path string, want int, keep bool) ([]byte, error) {
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, bytes.TrimSpace(msg))
	}
	if keep {
		return io.ReadAll(resp.Body)
	}
	_, err := io.Copy(io.Discard, resp.Body)
	return nil, err
}

// do sends a request and checks its status; it returns the body when keep
// is set and otherwise reads and drops it (so the connection is reused).
func (c *benchClient) do(ctx context.Context, method, path, token string, body []byte, want int, keep bool) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return readResponse(resp, method, path, want, keep)
}

func (c *benchClient) get(ctx context.Context, path, token string) error {
	_, err := c.do(ctx, "GET", path, token, nil, http.StatusOK, false)
	return err
}

// checkpointSize is the size of the latest checkpoint, waiting a few
// seconds for the first one (a checkpoint follows growth within a second).
func (c *benchClient) checkpointSize(ctx context.Context) (uint64, error) {
	for deadline := time.Now().Add(5 * time.Second); ; {
		b, err := c.do(ctx, "GET", "/v1/log/checkpoint", "", nil, http.StatusOK, true)
		if err != nil {
			return 0, err
		}
		lines := strings.SplitN(string(b), "\n", 3)
		if len(lines) < 3 {
			return 0, fmt.Errorf("checkpoint: %q", b)
		}
		n, err := strconv.ParseUint(lines[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("checkpoint size %q", lines[1])
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

// benchCounters are the ledger's counters from /metrics.
type benchCounters struct {
	ok                    bool
	groups, entries, byts float64
	size                  uint64
}

func (c *benchClient) scrape(ctx context.Context) benchCounters {
	var s benchCounters
	b, err := c.do(ctx, "GET", "/metrics", "", nil, http.StatusOK, true)
	if err != nil {
		return s
	}
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		switch name {
		case "creditbank_ledger_groups_total":
			s.groups = v
			found++
		case "creditbank_ledger_entries_total":
			s.entries = v
			found++
		case "creditbank_ledger_group_bytes_sum":
			s.byts = v
			found++
		case "creditbank_ledger_tree_size":
			s.size = uint64(v)
		}
	}
	s.ok = found == 3
	return s
}

// ---------------------------------------------------------------------------
// The benchWorkload: institutions, their tokens, outcomes.

type benchInst struct {
	id, aud string
	key     api.PrivateKey
	mu      sync.Mutex
	tok     string
	signed  time.Time
}

// token returns the institution's token, signing a new one every few
// minutes as a real client would; tokens are reused until then.
func (in *benchInst) token() (string, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.tok == "" || time.Since(in.signed) > benchTokenRenew {
		t, err := api.SignInstitutionToken(in.key, in.id, in.aud, benchTokenTTL)
		if err != nil {
			return "", err
		}
		in.tok, in.signed = t, time.Now()
	}
	return in.tok, nil
}

type benchWorkload struct {
	run     string // random, so idempotency keys and learners are new each run
	insts   []*benchInst
	readers []string // the transcript learners
	// readersOf is the earlier run whose learners are read, or "".
	readersOf string
	n         atomic.Uint64
}

// benchRunID is the form of a run id: random, so that each run's
// idempotency keys, institutions and learners are new.
var benchRunID = regexp.MustCompile(`^[0-9a-f]{8}$`)

// newBenchWorkload registers this run's institutions. Its transcript learners
// are new ones (seeded by fill) unless readersOf names an earlier run, whose
// seeded learners are read instead.
func newBenchWorkload(ctx context.Context, c *benchClient, admin, aud string, learners int, readersOf string) (*benchWorkload, error) {
	var rb [4]byte
	binary.LittleEndian.PutUint32(rb[:], rand.Uint32())
	w := &benchWorkload{run: hex.EncodeToString(rb[:]), readersOf: readersOf}
	if readersOf == "" {
		readersOf = w.run
	}
	for i := range learners {
		w.readers = append(w.readers, fmt.Sprintf("T%s-%05d", readersOf, i))
	}
	for i := range benchInstitutions {
		k, err := api.GenerateKey("EdDSA")
		if err != nil {
			return nil, err
		}
		pub, _ := k.Public()
		in := &benchInst{id: fmt.Sprintf("bench-%s-%02d.example", w.run, i), aud: aud, key: k}
		reg, _ := json.Marshal(map[string]any{"id": in.id, "name": "Bench College " + strconv.Itoa(i), "kind": "university", "keys": []any{pub}})
		if _, err := c.do(ctx, "POST", "/v1/institutions", admin, reg, http.StatusCreated, false); err != nil {
			return nil, fmt.Errorf("register institution: %v", err)
		}
		acc, _ := json.Marshal(map[string]any{"sectors": accreditation.Sectors(), "max_level": 10, "valid_from": "2000-01-01", "valid_until": "2099-12-31"})
		if _, err := c.do(ctx, "POST", "/v1/institutions/"+in.id+"/accreditations", admin, acc, http.StatusCreated, false); err != nil {
			return nil, fmt.Errorf("accredit institution: %v", err)
		}
		w.insts = append(w.insts, in)
	}
	return w, nil
}

var benchUnits = []struct{ code, title, field string }{
	{"CS101", "Introduction to Programming: problem solving, data structures and unit testing in a modern language", "0613"},
	{"DB210", "Design, implement and test a relational database schema with transactions, indexes and constraints", "0612"},
	{"NUR305", "Apply safe working practice in a clinical setting under supervision, with a reflective portfolio", "0913"},
	{"MGT120", "Plan and manage a small project to an agreed budget, schedule and quality standard", "0413"},
	{"LAN150", "Communicate technical findings in writing and in speech to non-specialist audiences", "0231"},
	{"ARC220", "Survey an existing building and prepare measured drawings for a change of use", "0731"},
}

var benchSystems = []string{"cn-credit", "ects", "kr-credit", "hk-qf", "us-semester"}

// appendOutcome appends outcome number i of this run, for learner: a valid
// outcome of about 500 bytes with a unique idempotency key.
func (w *benchWorkload) appendOutcome(b []byte, i uint64, learner string) []byte {
	u := benchUnits[i%uint64(len(benchUnits))]
	passed := i%20 != 7
	b = append(b, `{"idempotency_key":"bench-`...)
	b = append(b, w.run...)
	b = append(b, '-')
	b = strconv.AppendUint(b, i, 10)
	b = append(b, `","learner":"`...)
	b = append(b, learner...)
	b = append(b, `","unit":{"code":"`...)
	b = append(b, u.code...)
	b = append(b, '-')
	b = strconv.AppendUint(b, 2019+i%6, 10)
	b = append(b, `","title":"`...)
	b = append(b, u.title...)
	b = append(b, `"},"sector":"`...)
	b = append(b, accreditation.Sectors()[i%7]...)
	b = append(b, `","level":`...)
	b = strconv.AppendUint(b, 3+i%6, 10)
	b = append(b, `,"field":"`...)
	b = append(b, u.field...)
	b = append(b, `","credits":{"amount":"`...)
	b = strconv.AppendUint(b, 1+i%9, 10)
	if i%2 == 1 {
		b = append(b, ".5"...)
	}
	b = append(b, `","system":"`...)
	b = append(b, benchSystems[i%uint64(len(benchSystems))]...)
	b = append(b, `"},"hours":`...)
	b = strconv.AppendUint(b, 16+i%150, 10)
	b = append(b, `,"result":{"passed":`...)
	b = strconv.AppendBool(b, passed)
	b = append(b, `,"score":"`...)
	if passed {
		b = strconv.AppendUint(b, 60+i%40, 10)
	} else {
		b = strconv.AppendUint(b, 20+i%40, 10)
	}
	b = append(b, `"},"completed_on":"`...)
	b = time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(i%2000)).AppendFormat(b, "2006-01-02")
	b = append(b, `","evidence_sha256":"`...)
	h := sha256.Sum256(binary.BigEndian.AppendUint64([]byte(w.run), i))
	b = hex.AppendEncode(b, h[:])
	return append(b, `"}`...)
}

func benchPoolLearner(n int) string { return fmt.Sprintf("L%07d", n%benchPool) }

// post posts one outcome (per 1) or a batch of per, as worker wk.
func (w *benchWorkload) post(ctx context.Context, c *benchClient, wk, per int) error {
	if per == 1 {
		return w.postSingle(ctx, c, wk)
	}
	return w.postBatch(ctx, c, wk, per, nil)
}

func (w *benchWorkload) postSingle(ctx context.Context, c *benchClient, wk int) error {
	in := w.insts[wk%len(w.insts)]
	tok, err := in.token()
	if err != nil {
		return err
	}
	body := w.appendOutcome(make([]byte, 0, 600), w.n.Add(1), benchPoolLearner(rand.IntN(benchPool)))
	return c.post(ctx, "POST", "/v1/outcomes", tok, body, http.StatusCreated)
}

// postBatch posts n outcomes in one batch by the worker's institution, for
// learner(j) of the j-th item, or random learners of the pool.
func (w *benchWorkload) postBatch(ctx context.Context, c *benchClient, wk, n int, learner func(j int) string) error {
	in := w.insts[wk%len(w.insts)]
	tok, err := in.token()
	if err != nil {
		return err
	}
	res, err := c.do(ctx, "POST", "/v1/outcomes", tok, w.batchBody(n, learner), http.StatusOK, true)
	if err != nil {
		return err
	}
	if got := bytes.Count(res, []byte(`"status":"created"`)); got != n {
		return fmt.Errorf("batch of %d: %d created: %.300s", n, got, res)
	}
	return nil
}

// answer posts one outcome (per 1) or a batch of per and returns the
// status and body of the answer.
func (w *benchWorkload) answer(ctx context.Context, c *benchClient, per int) (int, []byte, error) {
	tok, err := w.insts[0].token()
	if err != nil {
		return 0, nil, err
	}
	status, body := http.StatusCreated, w.appendOutcome(nil, w.n.Add(1), benchPoolLearner(rand.IntN(benchPool)))
	if per > 1 {
		status, body = http.StatusOK, w.batchBody(per, nil)
	}
	res, err := c.do(ctx, "POST", "/v1/outcomes", tok, body, status, true)
	return status, res, err
}

// batchBody is a batch of n new outcomes, for learner(j) of the j-th item,
// or random learners of the pool.
func (w *benchWorkload) batchBody(n int, learner func(j int) string) []byte {
	first := w.n.Add(uint64(n)) - uint64(n) + 1
	body := make([]byte, 0, 16+n*560)
	body = append(body, `{"outcomes":[`...)
	for j := range n {
		if j > 0 {
			body = append(body, ',')
		}
		l := ""
		if learner != nil {
			l = learner(j)
		} else {
			l = benchPoolLearner(rand.IntN(benchPool))
		}
		body = w.appendOutcome(body, first+uint64(j), l)
	}
	return append(body, "]}"...)
}

// fill posts max(preload, learners×200) outcomes in batches: the transcript
// learners' outcomes are spread evenly over the whole fill, so that on a
// preloaded ledger their entries lie across all of it, as a lifelong
// learner's would.
func (w *benchWorkload) fill(ctx context.Context, c *benchClient, prog *progress.Display, preload, size, clients int) (benchFill, error) {
	seeds := len(w.readers) * benchPerLearner
	if w.readersOf != "" {
		seeds = 0 // seeded by that run
	}
	total := max(preload, seeds)
	if total == 0 {
		return benchFill{}, nil
	}
	batches := (total + size - 1) / size
	learnerOf := func(i int) string {
		// Item i is the j-th seed when ⌊(i+1)·S/T⌋ steps past ⌊i·S/T⌋.
		lo, hi := i*seeds/total, (i+1)*seeds/total
		if hi > lo {
			return w.readers[lo%len(w.readers)]
		}
		return benchPoolLearner(i)
	}
	var next atomic.Int64
	r, err := benchLoad(ctx, prog, "fill", clients, batches, 0, func(wk int, _ *rand.Rand) (int, error) {
		b := int(next.Add(1) - 1)
		lo, hi := b*size, min(total, (b+1)*size)
		return hi - lo, w.postBatch(ctx, c, b, hi-lo, func(j int) string { return learnerOf(lo + j) })
	})
	if err != nil {
		return benchFill{}, fmt.Errorf("fill: %v", err)
	}
	return benchFill{Outcomes: r.Items, Seconds: r.Seconds, PerSec: r.PerSec}, nil
}

// checkTranscript reads one transcript learner's whole transcript and
// returns how many outcomes it holds.
func (w *benchWorkload) checkTranscript(ctx context.Context, c *benchClient, admin string) (int, error) {
	b, err := c.do(ctx, "GET", "/v1/learners/"+w.readers[0]+"/transcript?limit=1000", admin, nil, http.StatusOK, true)
	if err != nil {
		return 0, fmt.Errorf("transcript: %v", err)
	}
	var tr struct {
		Outcomes []json.RawMessage `json:"outcomes"`
	}
	if err := json.Unmarshal(b, &tr); err != nil {
		return 0, fmt.Errorf("transcript: %v", err)
	}
	return len(tr.Outcomes), nil
}

// ---------------------------------------------------------------------------
// Load: workers run op until count ops are done (count > 0) or dur passes.

var errBenchStop = errors.New("stop")

type benchSide struct {
	Requests int     `json:"requests"`
	Items    int     `json:"items"`
	Seconds  float64 `json:"seconds"`
	PerSec   float64 `json:"items_per_s"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	P999ms   float64 `json:"p999_ms"`
}

func benchLoad(parent context.Context, prog *progress.Display, label string, workers, count int, dur time.Duration, op func(wk int, rnd *rand.Rand) (int, error)) (benchSide, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var (
		next, items atomic.Int64
		mu          sync.Mutex
		lat         []time.Duration
		firstErr    error
		wg          sync.WaitGroup
	)
	done := prog.Rate(label, count, dur, &items)
	start := time.Now()
	for wk := range workers {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(rand.Uint64(), uint64(wk)))
			var mine []time.Duration
			defer func() {
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
			for ctx.Err() == nil {
				if count > 0 {
					if next.Add(1) > int64(count) {
						return
					}
				} else if time.Since(start) >= dur {
					return
				}
				t0 := time.Now()
				n, err := op(wk, rnd)
				if err == errBenchStop {
					return
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					return
				}
				mine = append(mine, time.Since(t0))
				items.Add(int64(n))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	done()
	if firstErr != nil {
		return benchSide{}, firstErr
	}
	slices.Sort(lat)
	s := benchSide{Requests: len(lat), Items: int(items.Load()), Seconds: elapsed.Seconds()}
	s.PerSec = float64(s.Items) / elapsed.Seconds()
	s.P50ms, s.P99ms, s.P999ms = benchPercentile(lat, 50), benchPercentile(lat, 99), benchPercentile(lat, 99.9)
	// Interrupted (or, for the writers under transcripts, stopped).
	return s, parent.Err()
}

// benchPercentile is the nearest-rank percentile p (0-100) of sorted, in ms.
func benchPercentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(float64(len(sorted))*p/100)) - 1
	k = max(0, min(k, len(sorted)-1))
	return float64(sorted[k]) / float64(time.Millisecond)
}

// ---------------------------------------------------------------------------
// Raw Pebble doing what the ledger does, without deciding anything.

// benchShape is what the ledger wrote per outcome in a phase.
type benchShape struct {
	BytesPerOutcome float64 `json:"bytes_per_outcome"`
	KeysPerOutcome  int     `json:"keys_per_outcome"`
	EntriesPerGroup float64 `json:"ledger_entries_per_group"`
	// Measured is false when /metrics could not be read and the bytes are
	// an estimate.
	Measured bool `json:"measured"`
}

// benchHeadBytes is the tree head record in a batch (tag, lengths, "mhead", 48
// bytes) and benchBatchHeader the batch's own header, both in Pebble's format.
const (
	benchHeadBytes   = 1 + 1 + 5 + 1 + 48
	benchBatchHeader = 12
)

func benchShapeOf(a, b benchCounters) benchShape {
	s := benchShape{KeysPerOutcome: benchKeysPerOut, BytesPerOutcome: 1450}
	de, dg := b.entries-a.entries, b.groups-a.groups
	if !a.ok || !b.ok || de <= 0 || dg <= 0 {
		return s
	}
	s.BytesPerOutcome = (b.byts - a.byts - dg*(benchHeadBytes+benchBatchHeader)) / de
	s.EntriesPerGroup = de / dg
	s.Measured = true
	return s
}

type benchRaw struct {
	db    *pebble.DB
	dir   string
	seq   atomic.Uint64
	entry int    // entry value length making an outcome weigh what the ledger's did
	per   int    // bytes one outcome takes in a batch, as the ledger's did
	text  []byte // entry-like JSON to cut values from
	noise []byte // stands in for hashes
	w     *benchWorkload
}

type benchPebbleLogger struct{}

func (benchPebbleLogger) Infof(string, ...any)  {}
func (benchPebbleLogger) Errorf(string, ...any) {}
func (benchPebbleLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

// benchRawRun opens raw Pebble on a fresh folder in work, commits per outcome
// the shape's keys and bytes in batches of per outcomes from workers
// goroutines, for count commits or dur, and removes the folder.
func benchRawRun(ctx context.Context, prog *progress.Display, work string, w *benchWorkload, label string, workers, per, count int, dur time.Duration, shape benchShape) (benchSide, error) {
	r, err := openBenchRaw(work, w, shape)
	if err != nil {
		return benchSide{}, err
	}
	defer r.close()
	return benchLoad(ctx, prog, label, workers, count, dur, func(wk int, rnd *rand.Rand) (int, error) {
		return per, r.commit(wk, per, rnd)
	})
}

// benchFloorRun measures a write phase's HTTP floor: the same clients post
// the same bodies to a net/http server on loopback whose handler only reads
// the body, commits the shape's keys and bytes per outcome to raw Pebble as
// benchRawRun does, and answers with the bytes the ledger answered to a
// post like it (one made on c first). What the floor loses to raw Pebble
// is HTTP on this machine, clients included; what the ledger loses to the
// floor is its own work.
func benchFloorRun(ctx context.Context, prog *progress.Display, c *benchClient, work string, w *benchWorkload, label string,
	clients, per, count int, dur time.Duration, shape benchShape) (benchSide, error) {
	status, answer, err := w.answer(ctx, c, per)
	if err != nil {
		return benchSide{}, fmt.Errorf("floor: %v", err)
	}
	r, err := openBenchRaw(work, w, shape)
	if err != nil {
		return benchSide{}, err
	}
	defer r.close()
	var seq atomic.Uint64
	h := http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		if _, err := io.ReadAll(http.MaxBytesReader(rw, req.Body, 16<<20)); err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		if err := r.commit(0, per, rand.New(rand.NewPCG(seq.Add(1), 0))); err != nil {
			http.Error(rw, err.Error(), http.StatusServiceUnavailable)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(status)
		_, _ = rw.Write(answer)
	})
	srv, url, err := serveLoopback(h)
	if err != nil {
		return benchSide{}, fmt.Errorf("floor: %v", err)
	}
	defer srv.Close()
	fc := newBenchClient(url, clients+8)
	defer fc.hc.CloseIdleConnections()
	defer fc.closeLean()
	return benchLoad(ctx, prog, label, clients, count, dur, func(wk int, _ *rand.Rand) (int, error) {
		return per, w.post(ctx, fc, wk, per)
	})
}

// openBenchRaw opens raw Pebble, with the ledger's options, on a fresh
// folder in work that close removes, to write outcomes of the shape.
func openBenchRaw(work string, w *benchWorkload, shape benchShape) (*benchRaw, error) {
	dir, err := os.MkdirTemp(work, "raw-pebble-")
	if err != nil {
		return nil, fmt.Errorf("raw pebble: %v", err)
	}
	po := ledger.StoreOptions(256 << 20)
	po.Logger = benchPebbleLogger{}
	db, err := pebble.Open(dir, po)
	po.Cache.Unref()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("raw pebble: %v", err)
	}
	r := &benchRaw{db: db, dir: dir, w: w, noise: make([]byte, 1<<16+32)}
	for i := uint64(0); len(r.text) < 8<<10; i++ {
		r.text = w.appendOutcome(r.text, i, benchPoolLearner(int(i)))
	}
	for i := range r.noise {
		r.noise[i] = byte(rand.Uint32())
	}
	r.calibrate(shape.BytesPerOutcome)
	return r, nil
}

func (r *benchRaw) close() {
	r.db.Close()
	os.RemoveAll(r.dir)
}

// calibrate sizes entry values so that one outcome's keys take perOutcome
// bytes of a batch, as the ledger's did.
func (r *benchRaw) calibrate(perOutcome float64) {
	measure := func() int {
		b := r.db.NewBatch()
		defer b.Close()
		// seq 1<<20+1 has two stored hashes, the mean.
		r.add(b, nil, 1<<20+1, "L0012345", r.w.insts[0].id, "bench-"+r.w.run+"-1234567")
		return b.Len() - benchBatchHeader
	}
	r.entry = 0
	r.per = max(1, int(math.Round(perOutcome)))
	base := measure()
	r.entry = max(64, int(math.Round(perOutcome))-base)
	r.entry = max(64, r.entry+int(math.Round(perOutcome))-measure()) // the value's length varint grew
}

var (
	benchRawOut     = []byte(`{"seq":1234567,"institution":"bench-00000000-00.example","learner":"L0012345","sector":"vocational","level":5,"field":"0613","standard_credits":"3.5","passed":true,"score":"86","completed_on":"2024-06-01","revoked":false}`)
	benchRawBalance = []byte{'c', 2, 5, 0x8c, 0x05} // a balance change, appended (merged)
)

// add writes one outcome's keys as the ledger lays them out.
func (r *benchRaw) add(b *pebble.Batch, buf []byte, seq uint64, learner, inst, idem string) []byte {
	set := func(k, v []byte) { _ = b.Set(k, v, nil) }
	buf = binary.BigEndian.AppendUint64(append(buf[:0], 'e'), seq)
	off := int(seq*61) % (len(r.text) / 2)
	set(buf, r.text[off:off+min(r.entry, len(r.text)-off)])
	for idx := tlog.StoredHashIndex(0, int64(seq)); idx < tlog.StoredHashCount(int64(seq)+1); idx++ {
		buf = binary.BigEndian.AppendUint64(append(buf[:0], 'h'), uint64(idx))
		o := int(uint64(idx)*32) & (1<<16 - 1)
		set(buf, r.noise[o:o+32])
	}
	for _, kv := range [][2]string{{accreditation.IndexLearner, learner}, {accreditation.IndexInstitution, inst}} {
		buf = append(append(append(append(append(buf[:0], 'i'), kv[0]...), 0), kv[1]...), 0)
		set(binary.BigEndian.AppendUint64(buf, seq), nil)
	}
	buf = append(append(append(append(buf[:0], 'k'), inst...), 0), idem...)
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 40), seq)
	set(buf, append(v, r.noise[seq%1024:seq%1024+32]...))
	hex16 := func(b []byte, n uint64) []byte {
		var x [8]byte
		binary.BigEndian.PutUint64(x[:], n)
		return hex.AppendEncode(b, x[:])
	}
	set(hex16(append(buf[:0], "sout/"...), seq), benchRawOut)
	set(append(append(append(append(buf[:0], "sposted/"...), inst...), '/'), learner...), []byte("1"))
	buf = append(append(buf[:0], "sbald/"...), learner...)
	_ = b.Merge(buf, benchRawBalance, nil)
	return buf
}

func (r *benchRaw) commit(wk, n int, rnd *rand.Rand) error {
	first := r.seq.Add(uint64(n)) - uint64(n)
	inst := r.w.insts[wk%len(r.w.insts)].id
	// Sized ahead, as the ledger sizes its group batches: a batch of a
	// thousand outcomes grown from Pebble's default doubled a dozen times.
	b := r.db.NewBatchWithSize(benchBatchHeader + n*r.per + benchHeadBytes)
	defer b.Close()
	buf := make([]byte, 0, 128)
	idem := []byte("bench-" + r.w.run + "-")
	for i := range n {
		seq := first + uint64(i)
		buf = r.add(b, buf, seq, benchPoolLearner(rnd.IntN(benchPool)), inst, string(strconv.AppendUint(idem, seq+1<<40, 10)))
	}
	h := make([]byte, 48)
	binary.BigEndian.PutUint64(h, first+uint64(n))
	copy(h[16:], r.noise[first%1024:])
	if err := b.Set([]byte("mhead"), h, nil); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

// ---------------------------------------------------------------------------
// Report.

type benchFill struct {
	Outcomes int     `json:"outcomes"`
	Seconds  float64 `json:"seconds"`
	PerSec   float64 `json:"outcomes_per_s"`
}

type benchPhase struct {
	Phase string `json:"phase"`
	Unit  string `json:"unit"`
	benchSide
	Raw   *benchSide  `json:"raw_pebble,omitempty"`
	Shape *benchShape `json:"shape,omitempty"`
	// Floor is the phase's HTTP floor (--floor) and FloorRatio its ratio
	// to raw Pebble: what the ratio would be were the ledger free.
	Floor      *benchSide `json:"http_floor,omitempty"`
	FloorRatio float64    `json:"http_floor_ratio,omitempty"`
	Ratio      float64    `json:"ratio,omitempty"`
	Target     string     `json:"target,omitempty"`
	Meets      *bool      `json:"meets_target,omitempty"`
	// Writes are the posts that went on during the transcript reads.
	Writes            *benchSide `json:"concurrent_writes,omitempty"`
	TranscriptEntries int        `json:"transcript_outcomes,omitempty"`
}

func benchPhaseOf(name, unit string, s benchSide) benchPhase {
	return benchPhase{Phase: name, Unit: unit, benchSide: s}
}

// compare sets the ratio to raw Pebble and checks it against min, and the
// p99 against maxP99 ms when that is positive.
func (p *benchPhase) compare(min, maxP99 float64) {
	if p.Raw.PerSec > 0 {
		p.Ratio = p.PerSec / p.Raw.PerSec
	}
	meets := p.Ratio >= min
	p.Target = fmt.Sprintf("≥%.1f×raw", min)
	if maxP99 > 0 {
		meets = meets && p.P99ms <= maxP99
		p.Target += fmt.Sprintf(", p99≤%gms", maxP99)
	}
	p.Meets = &meets
}

type benchReport struct {
	Mode         string       `json:"mode"`
	URL          string       `json:"url,omitempty"`
	GoVersion    string       `json:"go"`
	GOMAXPROCS   int          `json:"gomaxprocs"`
	Time         string       `json:"time"`
	Clients      int          `json:"clients"`
	BatchClients int          `json:"batch_clients"`
	BatchSize    int          `json:"batch_size"`
	PhaseSeconds float64      `json:"phase_seconds"`
	Learners     int          `json:"transcript_learners"`
	Run          string       `json:"run"`
	ReadersOf    string       `json:"readers_of_run"`
	SizeBefore   uint64       `json:"ledger_size_before"`
	SizeAfter    uint64       `json:"ledger_size_after"`
	Fill         benchFill    `json:"fill"`
	Phases       []benchPhase `json:"phases"`
}

func (r *benchReport) print(w io.Writer) {
	fmt.Fprintf(w, "creditbank bench: %s server", r.Mode)
	if r.URL != "" {
		fmt.Fprintf(w, " %s", r.URL)
	}
	fmt.Fprintf(w, ", GOMAXPROCS=%d, %d clients (%d for batches of %d)\n", r.GOMAXPROCS, r.Clients, r.BatchClients, r.BatchSize)
	fmt.Fprintf(w, "run %s, transcripts of the learners run %s seeded (--readers %[2]s reads them again on a kept --dir)\n", r.Run, r.ReadersOf)
	fmt.Fprintf(w, "ledger: %d entries before, %d after; fill: %d outcomes in %.1fs (%.0f/s)\n",
		r.SizeBefore, r.SizeAfter, r.Fill.Outcomes, r.Fill.Seconds, r.Fill.PerSec)
	fmt.Fprintf(w, "%-11s %9s %11s %12s %8s %8s %9s %12s %7s  %s\n",
		"phase", "requests", "items", "items/s", "p50 ms", "p99 ms", "p99.9 ms", "raw items/s", "ratio", "target")
	for _, p := range r.Phases {
		raw, ratio, target := "", "", ""
		if p.Raw != nil {
			raw = fmt.Sprintf("%.0f", p.Raw.PerSec)
			ratio = fmt.Sprintf("%.3f", p.Ratio)
		}
		if p.Meets != nil {
			verdict := "ok"
			if !*p.Meets {
				verdict = "LOW"
			}
			target = p.Target + " " + verdict
		}
		fmt.Fprintf(w, "%-11s %9d %11d %12.0f %8.2f %8.2f %9.2f %12s %7s  %s\n",
			p.Phase, p.Requests, p.Items, p.PerSec, p.P50ms, p.P99ms, p.P999ms, raw, ratio, target)
		if f := p.Floor; f != nil {
			fmt.Fprintf(w, "%-11s %9d %11d %12.0f %8.2f %8.2f %9.2f %12.0f %7.3f  %s\n",
				" floor", f.Requests, f.Items, f.PerSec, f.P50ms, f.P99ms, f.P999ms, p.Raw.PerSec, p.FloorRatio, "net/http + raw Pebble, no ledger")
		}
	}
	for _, p := range r.Phases {
		if p.Shape != nil {
			how := "measured"
			if !p.Shape.Measured {
				how = "estimated"
			}
			fmt.Fprintf(w, "%s: %.0f bytes and %d keys per outcome (%s), ledger %.1f entries per synced group; raw p50/p99 %.2f/%.2f ms\n",
				p.Phase, p.Shape.BytesPerOutcome, p.Shape.KeysPerOutcome, how, p.Shape.EntriesPerGroup, p.Raw.P50ms, p.Raw.P99ms)
		}
		if p.Writes != nil {
			fmt.Fprintf(w, "%s: %d outcomes per transcript; %.0f posts/s went on meanwhile (p99 %.2f ms)\n",
				p.Phase, p.TranscriptEntries, p.Writes.PerSec, p.Writes.P99ms)
		}
	}
}
