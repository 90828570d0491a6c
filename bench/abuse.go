package bench

// The hostile-load run: `creditbank abuse`, make soak-abuse and, in short
// form, TestAbuse. A real `creditbank serve` runs as a child process, so that
// its CPU time and memory, read from /proc, are its own and not the load's.
// One well-behaved institution (the victim) posts single outcomes at a
// steady rate the whole time; each attack runs alone, for a window after a
// quiet window of the same victim load, and the report compares the
// victim's latencies in the two. At the end every post the victim saw
// acknowledged is replayed: each must answer "duplicate" with the seq it was
// first given. docs/performance.md shows the figures.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"creditbank/accreditation"
	"creditbank/api"
)

// abuseAttacks are the attacks AbuseConfig.Attacks may choose, in the order
// they run, each with what it does.
var abuseAttacks = []struct{ name, what string }{
	{"connections", "idle keep-alive connections, twice the connection cap, redialled as the server closes them"},
	{"tokens", "a new valid token on every request: an institution's own, and a learner's from the service issuer"},
	{"conversions", "a learner with many outcomes converting and previewing all of them, and converting 1,000 others' outcomes"},
	{"bodies", "16 MiB batch bodies with a duplicate member at their end"},
	{"anonymous", "/metrics, checkpoints and inclusion proofs without a token, from one address"},
	{"reads", "a regulator and the learner reading the many-outcome learner's transcript and balance"},
}

// AbuseConfig says how the hostile-load run is made. Each field is a flag of
// `creditbank abuse`, named in its comment.
type AbuseConfig struct {
	// Binary is the creditbank executable run as `serve` (--binary;
	// `creditbank abuse` defaults it to itself).
	Binary string
	// Dir is the server's data folder (--dir); empty means a temporary
	// folder, removed at the end. It must not hold a ledger already.
	Dir string
	// ServeFlags are more flags for `serve` (--serve-flags), after those the
	// run sets: --data, --addr, --cache-mb and --max-connections.
	ServeFlags []string
	// Preload is how many outcomes, spread over 100,000 learners, fill the
	// ledger before anything is measured (--preload).
	Preload int
	// HeavyOutcomes is how many outcomes the one learner the conversion and
	// read attacks use holds (--heavy-outcomes), posted after the preload.
	HeavyOutcomes int
	// Quiet is the length of the window before each attack, with the
	// victim alone (--quiet); Attack that of each attack (--attack). The
	// default makes them equal: a p99 of twice as many posts is the slowest
	// of twice as many chances, and with a victim's p99 of 2 to 4 ms a
	// single slow disk sync moves it, so unequal windows compare unlike
	// things.
	Quiet, Attack time.Duration
	// VictimRate is how many single outcomes a second the victim posts
	// (--victim-rate), each with its own idempotency key, whatever the
	// answers take: a slow answer does not slow the next post.
	VictimRate float64
	// Attackers is how many goroutines each attack runs (--attackers).
	Attackers int
	// MaxConnections is the server's --max-connections (--max-connections);
	// the connections attack holds twice as many.
	MaxConnections int
	// CacheMiB is the server's --cache-mb (--cache-mb): the block cache is
	// most of a server's memory, so it is fixed for the bound to mean
	// something.
	CacheMiB int
	// MemoryBoundMiB is the most resident memory the server may ever reach
	// (--memory-bound-mb), checked against its VmHWM at the end.
	MemoryBoundMiB int
	// MaxRatio, when positive, is the most an attack may raise the victim's
	// p99 over the quiet window before it (--max-ratio).
	MaxRatio float64
	// Attacks are the attacks to run (--attacks), in the order of
	// abuseAttacks whatever the order here; empty means all.
	Attacks []string
	// JSON names a file the report is also written to as JSON (--json).
	JSON string
}

// DefaultAbuseConfig is the long form that make soak-abuse runs: 200,000
// preloaded outcomes and 100,000 for the heavy learner, 40 s quiet and 40 s
// of each attack, a victim at 50 posts a second, 8 attackers, a cap of 256
// connections, a 256 MiB block cache and a bound of 1 GiB of resident
// memory, and at most twice the quiet p99 under attack.
func DefaultAbuseConfig() AbuseConfig {
	return AbuseConfig{
		Preload:        200000,
		HeavyOutcomes:  100000,
		Quiet:          40 * time.Second,
		Attack:         40 * time.Second,
		VictimRate:     50,
		Attackers:      8,
		MaxConnections: 256,
		CacheMiB:       256,
		MemoryBoundMiB: 1024,
		MaxRatio:       2,
	}
}

// Check reports the first value of c the run cannot be made with, as one
// line naming its flag.
func (c *AbuseConfig) Check() error {
	switch {
	case c.Binary == "":
		return errors.New("--binary: the creditbank executable to serve with is needed")
	case c.Preload < 0 || c.HeavyOutcomes < 1:
		return errors.New("--preload cannot be negative and --heavy-outcomes must be at least 1")
	case c.Quiet <= 0 || c.Attack <= 0:
		return errors.New("--quiet and --attack must be positive")
	case c.VictimRate <= 0 || c.VictimRate > 1000:
		return errors.New("--victim-rate must be above 0 and at most 1000")
	case c.Attackers < 1:
		return errors.New("--attackers must be at least 1")
	case c.MaxConnections < 16:
		return errors.New("--max-connections must be at least 16")
	case c.CacheMiB < 8:
		return errors.New("--cache-mb must be at least 8")
	case c.MemoryBoundMiB < 1 || c.MaxRatio < 0:
		return errors.New("--memory-bound-mb must be positive and --max-ratio not negative")
	}
	for _, name := range c.Attacks {
		if !slices.ContainsFunc(abuseAttacks, func(a struct{ name, what string }) bool { return a.name == name }) {
			return fmt.Errorf("--attacks: unknown attack %q", name)
		}
	}
	return nil
}

// AbuseRow is one attack's figures: what the attackers sent and how it was
// answered, the victim's latencies in the quiet window before it and during
// it (nearest-rank, in ms), the server's CPU time during it (with the tail
// it left running once the attackers stopped) and its resident memory.
type AbuseRow struct {
	Attack     string         `json:"attack"`
	What       string         `json:"what"`
	Requests   int            `json:"requests"`
	Answers    map[string]int `json:"answers"` // by status code; "error" for no answer
	Before     VictimWindow   `json:"victim_before"`
	During     VictimWindow   `json:"victim_during"`
	Ratio      float64        `json:"p99_ratio"`
	CPUSec     float64        `json:"server_cpu_s"`
	PeakRSSMiB float64        `json:"server_peak_rss_mib"` // highest VmRSS sampled during the attack
	Seconds    float64        `json:"seconds"`
}

// VictimWindow is the victim's posts that began in one window.
type VictimWindow struct {
	Posts int     `json:"posts"`
	P50ms float64 `json:"p50_ms"`
	P99ms float64 `json:"p99_ms"`
	// Refused counts posts answered with anything but 201 at least once
	// (each was retried with the same idempotency key, as a careful client
	// does); Unanswered those never acknowledged.
	Refused    int `json:"refused"`
	Unanswered int `json:"unanswered"`
}

// AbuseReport is what a hostile-load run measured.
type AbuseReport struct {
	Time           string     `json:"time"`
	Preload        int        `json:"preload"`
	HeavyOutcomes  int        `json:"heavy_outcomes"`
	QuietSec       float64    `json:"quiet_s"`
	AttackSec      float64    `json:"attack_s"`
	VictimRate     float64    `json:"victim_posts_per_s"`
	Attackers      int        `json:"attackers"`
	MaxConnections int        `json:"max_connections"`
	CacheMiB       int        `json:"cache_mib"`
	ServeFlags     []string   `json:"serve_flags,omitempty"`
	Rows           []AbuseRow `json:"attacks"`
	// Acknowledged is how many victim posts were acknowledged, Lost how
	// many of them a replay did not find under the seq first given.
	// Unanswered is how many victim posts were never acknowledged, in 30 s
	// of retries; Refused how many were answered other than 201 at least
	// once. Each counts every post of the run, in a window or between.
	Acknowledged int `json:"acknowledged"`
	Lost         int `json:"lost"`
	Unanswered   int `json:"unanswered"`
	Refused      int `json:"refused"`
	// PeakRSSMiB is the server's VmHWM at the end; BoundMiB the bound.
	PeakRSSMiB float64 `json:"server_peak_rss_mib"`
	BoundMiB   int     `json:"memory_bound_mib"`
	MaxRatio   float64 `json:"max_ratio,omitempty"`
}

// Failures lists what the run was held to and missed: a lost or
// unanswered victim post, memory over the bound, a ratio over MaxRatio.
func (r *AbuseReport) Failures() []string {
	var f []string
	if r.Lost > 0 {
		f = append(f, fmt.Sprintf("%d acknowledged victim posts lost", r.Lost))
	}
	if r.PeakRSSMiB > float64(r.BoundMiB) {
		f = append(f, fmt.Sprintf("server peak RSS %.0f MiB over the bound of %d MiB", r.PeakRSSMiB, r.BoundMiB))
	}
	if r.Unanswered > 0 {
		f = append(f, fmt.Sprintf("%d victim posts never acknowledged", r.Unanswered))
	}
	for _, row := range r.Rows {
		if r.MaxRatio > 0 && row.Ratio > r.MaxRatio {
			f = append(f, fmt.Sprintf("%s: victim p99 %.1f ms is %.1f× the %.1f ms before it (at most %.1f×)",
				row.Attack, row.During.P99ms, row.Ratio, row.Before.P99ms, r.MaxRatio))
		}
	}
	return f
}

// Abuse makes the hostile-load run cfg describes: it starts the server,
// fills it, runs the victim and each attack, checks that nothing the victim
// was told is stored is missing, prints the table to stdout and returns the
// report. stderr gets a line as each step begins. The error is about the
// run itself (a server that would not start, a fill refused); what the run
// measured against its bounds is in the report's Failures.
func Abuse(ctx context.Context, cfg AbuseConfig, stdout, stderr io.Writer) (*AbuseReport, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "creditbank-abuse-")
		if err != nil {
			return nil, fmt.Errorf("temporary folder: %v", err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	srv, err := startChild(ctx, cfg, dir)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	r := &abuseRun{cfg: cfg, srv: srv, log: stderr}
	r.rep = &AbuseReport{Time: time.Now().UTC().Format(time.RFC3339), Preload: cfg.Preload, HeavyOutcomes: cfg.HeavyOutcomes,
		QuietSec: cfg.Quiet.Seconds(), AttackSec: cfg.Attack.Seconds(), VictimRate: cfg.VictimRate, Attackers: cfg.Attackers,
		MaxConnections: cfg.MaxConnections, CacheMiB: cfg.CacheMiB, ServeFlags: cfg.ServeFlags,
		BoundMiB: cfg.MemoryBoundMiB, MaxRatio: cfg.MaxRatio}
	if err := r.setUp(ctx); err != nil {
		return nil, err
	}
	if err := r.attackAll(ctx); err != nil {
		return nil, err
	}
	if err := r.checkAcknowledged(ctx); err != nil {
		return nil, err
	}
	hwm, _, err := srv.memory()
	if err != nil {
		return nil, err
	}
	r.rep.PeakRSSMiB = hwm
	if err := srv.stop(); err != nil {
		return nil, err
	}
	r.rep.print(stdout)
	if cfg.JSON != "" {
		b, err := json.MarshalIndent(r.rep, "", "  ")
		if err != nil {
			return r.rep, err
		}
		if err := os.WriteFile(cfg.JSON, append(b, '\n'), 0o644); err != nil {
			return r.rep, fmt.Errorf("--json: %v", err)
		}
	}
	return r.rep, nil
}

// child is the `creditbank serve` process under attack.
type child struct {
	cmd     *exec.Cmd
	url     string
	logPath string
	done    chan struct{}
	exitErr error
	once    sync.Once
	stopErr error
}

// startChild starts `serve` on a free loopback port with its data in dir
// and waits until it is ready. The caller must stop it.
func startChild(ctx context.Context, cfg AbuseConfig, dir string) (*child, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	logPath := filepath.Join(dir, "server.log")
	data := filepath.Join(dir, "data")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	args := append([]string{"serve", "--data", data, "--addr", addr, "--cache-mb", strconv.Itoa(cfg.CacheMiB),
		"--max-connections", strconv.Itoa(cfg.MaxConnections)}, cfg.ServeFlags...)
	c := &child{cmd: exec.Command(cfg.Binary, args...), url: "http://" + addr, logPath: logPath, done: make(chan struct{})}
	// The access log goes to a file, not through this process: reading it
	// here would take CPU from the server it measures.
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s serve: %v", cfg.Binary, err)
	}
	go func() { c.exitErr = c.cmd.Wait(); close(c.done) }()
	hc := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(20 * time.Millisecond) {
		select {
		case <-c.done:
			return nil, fmt.Errorf("server exited on start: %v\n%s", c.exitErr, c.logTail())
		default:
		}
		if resp, err := hc.Get(c.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c, nil
			}
		}
	}
	c.stop()
	return nil, fmt.Errorf("server did not become ready\n%s", c.logTail())
}

// stop sends SIGTERM and waits for a clean exit (SIGKILL after 30 s).
func (c *child) stop() error {
	c.once.Do(func() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
			c.stopErr = fmt.Errorf("server did not stop within 30 s of SIGTERM\n%s", c.logTail())
			return
		}
		if c.exitErr != nil {
			c.stopErr = fmt.Errorf("server exit: %v\n%s", c.exitErr, c.logTail())
		}
	})
	return c.stopErr
}

// logTail is the end of the server's log, for an error.
func (c *child) logTail() string {
	b, _ := os.ReadFile(c.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// cpuSeconds is the server's user and system CPU time so far, from
// /proc/PID/stat (fields 14 and 15, in ticks of 1/100 s, USER_HZ on Linux).
func (c *child) cpuSeconds() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("server CPU time (the run needs Linux's /proc): %v", err)
	}
	// The command name (field 2) may hold spaces; the fields after it
	// start past its closing parenthesis, at field 3.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("server CPU time: short /proc stat %q", b)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("server CPU time: %v", err)
	}
	return float64(utime+stime) / 100, nil
}

// memory is the server's peak (VmHWM) and current (VmRSS) resident memory
// in MiB, from /proc/PID/status.
func (c *child) memory() (hwm, rss float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0, 0, fmt.Errorf("server memory (the run needs Linux's /proc): %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok || name != "VmHWM" && name != "VmRSS" {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 64)
		if err != nil {
			return 0, 0, fmt.Errorf("server memory: %s: %v", line, err)
		}
		if name == "VmHWM" {
			hwm = kb / 1024
		} else {
			rss = kb / 1024
		}
	}
	return hwm, rss, nil
}

// maxListed is the most outcomes a conversion may list
// (docs/contract.md, section 3).
const maxListed = 1000

// abuseRun is one hostile-load run: the server, the workload's
// institutions and learners, the victim's record and the report.
type abuseRun struct {
	cfg AbuseConfig
	srv *child
	log io.Writer
	rep *AbuseReport

	c        *apiClient
	tokenKey api.PrivateKey // the service's own token key, as `creditbank token` uses it
	w        *workload
	victim   *institution // posts the victim's outcomes
	flooder  *institution // signs a new token per request in the tokens attack
	bodies   *institution // posts the 16 MiB bodies
	heavy    string       // the learner with cfg.HeavyOutcomes outcomes
	others   []uint64     // seqs of preloaded outcomes of other learners
	ruleID   string
	treeSize uint64
	adminTok struct {
		mu   sync.Mutex
		tok  string
		made time.Time
	}

	posts   victimLog
	rssPeak atomic.Uint64 // highest VmRSS sampled since reset, in KiB
}

// admin returns an admin token, a new one every 20 minutes (an admin token
// lives at most an hour).
func (r *abuseRun) admin() (string, error) {
	a := &r.adminTok
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tok == "" || time.Since(a.made) > 20*time.Minute {
		t, err := api.IssueToken(r.tokenKey, "creditbank", "creditbank", string(accreditation.RoleAdmin), "abuse-admin", time.Hour)
		if err != nil {
			return "", err
		}
		a.tok, a.made = t, time.Now()
	}
	return a.tok, nil
}

// serviceToken is a token of the service's issuer for role and sub.
func (r *abuseRun) serviceToken(role accreditation.Role, sub string) (string, error) {
	return api.IssueToken(r.tokenKey, "creditbank", "creditbank", string(role), sub, time.Hour)
}

// setUp registers the institutions, fills the ledger, gives the heavy
// learner its outcomes and publishes the rule the conversions use.
func (r *abuseRun) setUp(ctx context.Context) error {
	k, err := api.LoadKeyFile(filepath.Join(filepath.Dir(r.srv.logPath), "data", "keys", "token.jwk"))
	if err != nil {
		return fmt.Errorf("the server's token key: %v", err)
	}
	r.tokenKey = k
	admin, err := r.admin()
	if err != nil {
		return err
	}
	r.c = newAPIClient(r.srv.url, 16)
	if r.w, err = newWorkload(ctx, r.c, admin, "creditbank", 1, ""); err != nil {
		return err
	}
	r.victim, r.flooder, r.bodies = r.w.insts[0], r.w.insts[6], r.w.insts[7]
	r.heavy = "H" + r.w.run
	fmt.Fprintf(r.log, "abuse: filling %d outcomes, then %d for learner %s\n", r.cfg.Preload, r.cfg.HeavyOutcomes, r.heavy)
	t0 := time.Now()
	if err := r.fill(ctx, r.cfg.Preload, poolLearner); err != nil {
		return err
	}
	if err := r.fill(ctx, r.cfg.HeavyOutcomes, func(int) string { return r.heavy }); err != nil {
		return err
	}
	if _, err := r.settle(ctx); err != nil {
		return err
	}
	fmt.Fprintf(r.log, "abuse: filled and settled in %s\n", time.Since(t0).Round(time.Second))
	if len(r.others) == 0 {
		return errors.New("fill: no outcome of another learner to list in a conversion (--preload 0?)")
	}
	r.ruleID = "abuse-" + r.w.run
	rule, _ := json.Marshal(map[string]any{
		"id": r.ruleID, "target": map[string]any{"institution": r.w.insts[1].id, "programme": "ABUSE"},
		"source": map[string]any{"sectors": accreditation.Sectors(), "min_level": 0, "fields": []string{},
			"min_score": nil, "max_age_days": nil, "institutions": []string{}},
		"ratio": "0.5", "cap": nil, "valid_from": "2000-01-01", "valid_until": nil,
	})
	if _, err := r.c.do(ctx, "POST", "/v1/rules", admin, rule, http.StatusCreated, false); err != nil {
		return fmt.Errorf("publish the conversions' rule: %v", err)
	}
	size, err := r.checkpointSize(ctx)
	if err != nil {
		return err
	}
	r.treeSize = size
	return nil
}

// checkpointSize waits up to 10 s for a checkpoint over the fill.
func (r *abuseRun) checkpointSize(ctx context.Context) (uint64, error) {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		b, err := r.c.do(ctx, "GET", "/v1/log/checkpoint", "", nil, http.StatusOK, true)
		if err == nil {
			if lines := strings.SplitN(string(b), "\n", 3); len(lines) == 3 {
				if n, err := strconv.ParseUint(lines[1], 10, 64); err == nil && n > 1000 {
					return n, nil
				}
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, fmt.Errorf("no checkpoint over the fill after 10 s: %v", err)
		}
	}
}

// fill posts n outcomes in batches of 1,000, the j-th for learner(j), from
// 4 clients, retrying a batch the server refuses with 429 or 503 after the
// Retry-After it gives: the fill is set-up, not an attack, whatever limits
// the server has. It keeps some seqs of other learners' outcomes for the
// conversions attack.
func (r *abuseRun) fill(ctx context.Context, n int, learner func(j int) string) error {
	const size = 1000
	var next atomic.Int64
	var mu sync.Mutex
	_, err := load(ctx, nil, "", 4, (n+size-1)/size, 0, func(wk int, _ *mrand.Rand) (int, error) {
		b := int(next.Add(1) - 1)
		lo, hi := b*size, min(n, (b+1)*size)
		body := r.w.batchBody(hi-lo, func(j int) string { return learner(lo + j) })
		in := r.w.insts[1+b%5] // neither the victim nor the attackers' institutions
		res, err := r.postRetrying(ctx, in, body)
		if err != nil {
			return 0, err
		}
		var ans struct {
			Results []struct {
				Status string `json:"status"`
				Seq    uint64 `json:"seq"`
			} `json:"results"`
		}
		if err := json.Unmarshal(res, &ans); err != nil {
			return 0, fmt.Errorf("fill: %v", err)
		}
		for _, it := range ans.Results {
			if it.Status != "created" {
				return 0, fmt.Errorf("fill: an item %s: %.300s", it.Status, res)
			}
		}
		if learner(lo) != r.heavy {
			mu.Lock()
			for _, it := range ans.Results {
				if len(r.others) < maxListed {
					r.others = append(r.others, it.Seq)
				}
			}
			mu.Unlock()
		}
		return hi - lo, nil
	})
	if err != nil {
		return fmt.Errorf("fill: %v", err)
	}
	return nil
}

// postRetrying posts a batch as in and returns the 200 answer, waiting out
// 429 and 503 answers for up to a minute.
func (r *abuseRun) postRetrying(ctx context.Context, in *institution, body []byte) ([]byte, error) {
	for deadline := time.Now().Add(time.Minute); ; {
		tok, err := in.token()
		if err != nil {
			return nil, err
		}
		status, res, wait, err := r.send(ctx, r.c.hc, "POST", "/v1/outcomes", tok, body)
		switch {
		case err != nil:
			return nil, err
		case status == http.StatusOK:
			return res, nil
		case (status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable) || time.Now().After(deadline):
			return nil, fmt.Errorf("batch: status %d: %.300s", status, res)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(max(wait, 100*time.Millisecond)):
		}
	}
}

// send makes one request and returns the status, the body and the
// Retry-After the answer gave.
func (r *abuseRun) send(ctx context.Context, hc *http.Client, method, path, token string, body []byte) (int, []byte, time.Duration, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.srv.url+path, rd)
	if err != nil {
		return 0, nil, 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	return resp.StatusCode, out, time.Duration(secs) * time.Second, err
}

// victimPost is one post of the victim: when it began, in which window,
// how long until it was acknowledged, and what the server said.
type victimPost struct {
	window  string
	latency time.Duration
	refused bool   // answered other than 201 at least once
	seq     uint64 // 0: never acknowledged
	key     string
	body    []byte
}

// victimLog is what the victim posted, and the window posts begin in.
type victimLog struct {
	mu     sync.Mutex
	window string
	posts  []victimPost
}

func (v *victimLog) setWindow(w string) {
	v.mu.Lock()
	v.window = w
	v.mu.Unlock()
}

func (v *victimLog) currentWindow() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.window
}

func (v *victimLog) add(p victimPost) {
	v.mu.Lock()
	v.posts = append(v.posts, p)
	v.mu.Unlock()
}

// summary sums up the posts that began in window w.
func (v *victimLog) summary(w string) VictimWindow {
	v.mu.Lock()
	defer v.mu.Unlock()
	var lat []time.Duration
	var s VictimWindow
	for _, p := range v.posts {
		if p.window != w {
			continue
		}
		s.Posts++
		if p.refused {
			s.Refused++
		}
		if p.seq == 0 {
			s.Unanswered++
			continue
		}
		lat = append(lat, p.latency)
	}
	slices.Sort(lat)
	s.P50ms, s.P99ms = percentile(lat, 50), percentile(lat, 99)
	return s
}

// runVictim posts one outcome every 1/VictimRate seconds until ctx ends,
// each in a goroutine of its own so that a slow answer does not delay the
// next post (which would hide the slowness it measures).
func (r *abuseRun) runVictim(ctx context.Context) *sync.WaitGroup {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy: nil, MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second, DisableCompression: true,
	}}
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Duration(float64(time.Second) / r.cfg.VictimRate))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			window := r.posts.currentWindow()
			if window == "" {
				continue
			}
			wg.Go(func() { r.posts.add(r.victimPost(hc, window)) })
		}
	})
	return &wg
}

// victimPost posts one new outcome as the victim. A post that fails, or is
// answered 429 or 5xx, is sent again with the same idempotency key for up to
// 30 s, as a careful client does; its latency runs from the first try to
// the acknowledgement. It does not take the run's context: a post begun
// is seen through.
func (r *abuseRun) victimPost(hc *http.Client, window string) victimPost {
	i := r.w.n.Add(1)
	p := victimPost{window: window, key: "bench-" + r.w.run + "-" + strconv.FormatUint(i, 10)}
	p.body = r.w.appendOutcome(nil, i, poolLearner(mrand.IntN(pool)))
	ctx := context.Background()
	t0 := time.Now()
	for time.Since(t0) < 30*time.Second {
		tok, err := r.victim.token()
		if err != nil {
			return p
		}
		status, res, wait, err := r.send(ctx, hc, "POST", "/v1/outcomes", tok, p.body)
		if err == nil && (status == http.StatusCreated || status == http.StatusOK) {
			var ans struct {
				Seq uint64 `json:"seq"`
			}
			if json.Unmarshal(res, &ans) == nil && ans.Seq > 0 {
				p.latency, p.seq = time.Since(t0), ans.Seq
				p.refused = p.refused || status != http.StatusCreated
				return p
			}
		}
		p.refused = true
		if err == nil && status != http.StatusTooManyRequests && status < 500 {
			return p // a refusal a retry cannot change
		}
		time.Sleep(max(min(wait, 5*time.Second), 50*time.Millisecond))
	}
	return p
}

// sampleMemory reads the server's VmRSS every 100 ms into rssPeak until
// ctx ends.
func (r *abuseRun) sampleMemory(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, rss, err := r.srv.memory(); err == nil {
			kib := uint64(rss * 1024)
			for old := r.rssPeak.Load(); kib > old && !r.rssPeak.CompareAndSwap(old, kib); old = r.rssPeak.Load() {
			}
		}
	}
}

// attackAll runs the victim the whole time and each chosen attack after
// its quiet window.
func (r *abuseRun) attackAll(ctx context.Context) error {
	vctx, stopVictim := context.WithCancel(ctx)
	victims := r.runVictim(vctx)
	go r.sampleMemory(vctx)
	defer func() { stopVictim(); victims.Wait() }()
	for _, a := range abuseAttacks {
		if len(r.cfg.Attacks) > 0 && !slices.Contains(r.cfg.Attacks, a.name) {
			continue
		}
		fmt.Fprintf(r.log, "abuse: %s: %s quiet, then %s of attack\n", a.name, r.cfg.Quiet, r.cfg.Attack)
		r.posts.setWindow("before " + a.name)
		if err := sleep(ctx, r.cfg.Quiet); err != nil {
			return err
		}
		row, err := r.attack(ctx, a.name)
		if err != nil {
			return fmt.Errorf("%s: %v", a.name, err)
		}
		row.What = a.what
		r.rep.Rows = append(r.rep.Rows, row)
	}
	r.posts.setWindow("")
	stopVictim()
	victims.Wait()
	for i := range r.rep.Rows {
		row := &r.rep.Rows[i]
		row.Before, row.During = r.posts.summary("before "+row.Attack), r.posts.summary(row.Attack)
		if row.Before.P99ms > 0 {
			row.Ratio = row.During.P99ms / row.Before.P99ms
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// attack runs one attack for cfg.Attack with cfg.Attackers goroutines, then
// waits (up to a minute) for the server to stop working on what it left, and
// returns its row: the CPU time counts that tail too.
func (r *abuseRun) attack(ctx context.Context, name string) (AbuseRow, error) {
	op, err := r.attackOp(ctx, name)
	if err != nil {
		return AbuseRow{}, err
	}
	cpu0, err := r.srv.cpuSeconds()
	if err != nil {
		return AbuseRow{}, err
	}
	r.rssPeak.Store(0)
	r.posts.setWindow(name)
	tl := &tally{answers: map[string]int{}}
	actx, cancel := context.WithTimeout(ctx, r.cfg.Attack)
	t0 := time.Now()
	var wg sync.WaitGroup
	for wk := range r.cfg.Attackers {
		wg.Go(func() { op(actx, wk, tl) })
	}
	<-actx.Done()
	cancel()
	wg.Wait()
	r.posts.setWindow("after " + name) // the tail's posts belong to no window
	cpu1, err := r.settle(ctx)
	if err != nil {
		return AbuseRow{}, err
	}
	return AbuseRow{Attack: name, Requests: tl.requests, Answers: tl.answers, CPUSec: cpu1 - cpu0,
		PeakRSSMiB: float64(r.rssPeak.Load()) / 1024, Seconds: time.Since(t0).Seconds()}, ctx.Err()
}

// settle waits until the server uses less than a fifth of a core over half
// a second, or a minute passes, and returns its CPU time then. Work an
// attack left (conversions the server goes on deciding after their clients
// gave up, compactions after the fill) would otherwise be measured as the
// next quiet window's: in the first runs, a 10 s wait left the window
// after the conversions attack with a victim p99 of 458 ms.
func (r *abuseRun) settle(ctx context.Context) (float64, error) {
	last, err := r.srv.cpuSeconds()
	if err != nil {
		return 0, err
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return 0, err
		}
		now, err := r.srv.cpuSeconds()
		if err != nil {
			return 0, err
		}
		idle := now-last < 0.1
		last = now
		if idle {
			break
		}
	}
	return last, nil
}

// tally counts an attack's requests by how they were answered.
type tally struct {
	mu       sync.Mutex
	requests int
	answers  map[string]int
}

// add counts one request answered with status, or not answered (err):
// "unfinished" when the end of the attack cut it short (a 16 MiB body can
// take longer than a short attack), "error" otherwise.
func (t *tally) add(ctx context.Context, status int, err error) {
	key := strconv.Itoa(status)
	switch {
	case err != nil && ctx.Err() != nil:
		key = "unfinished"
	case err != nil:
		key = "error"
	}
	t.mu.Lock()
	t.requests++
	t.answers[key]++
	t.mu.Unlock()
}

// attackOp is what one attacker goroutine of the named attack does until
// ctx ends; it counts each request in the tally.
type attackOp func(ctx context.Context, wk int, t *tally)

// attackOp returns the attack's loop, with what it needs made beforehand
// (tokens, the 16 MiB body) so that the attack measures the server, not
// the making.
func (r *abuseRun) attackOp(ctx context.Context, name string) (attackOp, error) {
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		Proxy: nil, MaxIdleConnsPerHost: 2 * r.cfg.Attackers, DisableCompression: true,
	}}
	get := func(ctx context.Context, t *tally, path, token string) {
		status, _, _, err := r.send(ctx, hc, "GET", path, token, nil)
		t.add(ctx, status, err)
	}
	post := func(ctx context.Context, t *tally, path, token string, body []byte) {
		status, _, _, err := r.send(ctx, hc, "POST", path, token, body)
		t.add(ctx, status, err)
	}
	switch name {
	case "connections":
		return r.holdIdle, nil
	case "tokens":
		return func(ctx context.Context, wk int, t *tally) {
			for ctx.Err() == nil {
				if wk%2 == 0 {
					tok, err := freshInstitutionToken(r.flooder)
					if err != nil {
						t.add(ctx, 0, err)
						return
					}
					get(ctx, t, "/v1/institutions/"+r.flooder.id, tok)
				} else {
					tok, err := r.serviceToken(accreditation.RoleLearner, "A"+r.w.run)
					if err != nil {
						t.add(ctx, 0, err)
						return
					}
					get(ctx, t, "/v1/learners/A"+r.w.run+"/balance", tok)
				}
			}
		}, nil
	case "conversions":
		tok, err := r.serviceToken(accreditation.RoleLearner, r.heavy)
		if err != nil {
			return nil, err
		}
		all, _ := json.Marshal(map[string]any{"learner": r.heavy, "rule": r.ruleID})
		others, _ := json.Marshal(map[string]any{"learner": r.heavy, "rule": r.ruleID, "outcomes": r.others})
		return func(ctx context.Context, wk int, t *tally) {
			for i := 0; ctx.Err() == nil; i++ {
				switch (wk + i) % 3 {
				case 0:
					post(ctx, t, "/v1/conversions/preview", tok, all)
				case 1:
					post(ctx, t, "/v1/conversions", tok, all)
				default:
					post(ctx, t, "/v1/conversions", tok, others)
				}
			}
		}, nil
	case "bodies":
		body := r.duplicateAtEnd()
		return func(ctx context.Context, _ int, t *tally) {
			for ctx.Err() == nil {
				tok, err := r.bodies.token()
				if err != nil {
					t.add(ctx, 0, err)
					return
				}
				post(ctx, t, "/v1/outcomes", tok, body)
			}
		}, nil
	case "anonymous":
		return func(ctx context.Context, wk int, t *tally) {
			for i := 0; ctx.Err() == nil; i++ {
				switch (wk + i) % 3 {
				case 0:
					get(ctx, t, "/metrics", "")
				case 1:
					get(ctx, t, "/v1/log/checkpoint", "")
				default:
					get(ctx, t, "/v1/log/proof/inclusion?index="+strconv.FormatUint(mrand.Uint64N(r.treeSize), 10)+
						"&size="+strconv.FormatUint(r.treeSize, 10), "")
				}
			}
		}, nil
	case "reads":
		reg, err := r.serviceToken(accreditation.RoleRegulator, "abuse-regulator")
		if err != nil {
			return nil, err
		}
		learner, err := r.serviceToken(accreditation.RoleLearner, r.heavy)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, wk int, t *tally) {
			tok := reg
			if wk%2 == 1 {
				tok = learner
			}
			for i := 0; ctx.Err() == nil; i++ {
				if i%2 == 0 {
					get(ctx, t, "/v1/learners/"+r.heavy+"/transcript?limit=1000", tok)
				} else {
					get(ctx, t, "/v1/learners/"+r.heavy+"/balance", tok)
				}
			}
		}, nil
	}
	return nil, fmt.Errorf("no such attack %q", name)
}

// freshInstitutionToken signs a token for in that no request has carried
// before: a random jti makes each one distinct, as an attacker who wants to
// fill the server's token cache would.
func freshInstitutionToken(in *institution) (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	now := time.Now()
	c := jwt.RegisteredClaims{Issuer: in.id, Subject: in.id, Audience: jwt.ClaimStrings{in.aud},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)),
		ID: base64.RawURLEncoding.EncodeToString(jti[:])}
	method := jwt.SigningMethod(jwt.SigningMethodEdDSA)
	if in.key.Alg() == "ES256" {
		method = jwt.SigningMethodES256
	}
	t := jwt.NewWithClaims(method, c)
	t.Header["kid"] = in.key.Kid
	return t.SignedString(in.key.Signer)
}

// duplicateAtEnd is a batch body just under the 16 MiB batch limit whose
// items are all valid, with the member "outcomes" given a second time at
// its very end: a strict reader refuses it, but only once it has read it
// all.
func (r *abuseRun) duplicateAtEnd() []byte {
	const limit = 16 << 20
	tail := []byte(`],"outcomes":[]}`)
	b := make([]byte, 0, limit)
	b = append(b, `{"outcomes":[`...)
	item := make([]byte, 0, 1024)
	for i := uint64(1); ; i++ {
		item = r.w.appendOutcome(item[:0], 1<<40+i, poolLearner(int(i)))
		if len(b)+1+len(item)+len(tail) > limit {
			break
		}
		if i > 1 {
			b = append(b, ',')
		}
		b = append(b, item...)
	}
	return append(b, tail...)
}

// holdIdle is one attacker of the connections attack: it keeps its share of
// twice the server's connection cap open and idle, each after one request,
// and dials again each time the server closes one.
func (r *abuseRun) holdIdle(ctx context.Context, wk int, t *tally) {
	share := 2 * r.cfg.MaxConnections / r.cfg.Attackers
	if wk < 2*r.cfg.MaxConnections%r.cfg.Attackers {
		share++
	}
	host := strings.TrimPrefix(r.srv.url, "http://")
	conns := make([]net.Conn, share)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	probe := make([]byte, 1)
	for ctx.Err() == nil {
		for i, c := range conns {
			if ctx.Err() != nil {
				return
			}
			if c != nil {
				// An idle connection the server closed reads EOF at once.
				_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
				if _, err := c.Read(probe); err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
					c.Close()
					conns[i] = nil
				}
				continue
			}
			conns[i] = dialIdle(ctx, host, t)
		}
		_ = sleep(ctx, 100*time.Millisecond)
	}
}

// dialIdle opens a connection, makes one keep-alive request on it and
// returns it idle, or nil when the server would not answer.
func dialIdle(ctx context.Context, host string, t *tally) net.Conn {
	c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", host)
	if err != nil {
		t.add(ctx, 0, err)
		return nil
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: "+host+"\r\n\r\n"); err != nil {
		t.add(ctx, 0, err)
		c.Close()
		return nil
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.add(ctx, 0, err)
		c.Close()
		return nil
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	t.add(ctx, resp.StatusCode, nil)
	_ = c.SetDeadline(time.Time{})
	return c
}

// checkAcknowledged replays every post the victim saw acknowledged, in
// batches of 1,000 as the victim: each item must answer "duplicate" with the
// seq first given, or it counts as lost.
func (r *abuseRun) checkAcknowledged(ctx context.Context) error {
	var acked []victimPost
	r.posts.mu.Lock()
	for _, p := range r.posts.posts {
		if p.refused {
			r.rep.Refused++
		}
		if p.seq == 0 {
			r.rep.Unanswered++
			continue
		}
		acked = append(acked, p)
	}
	r.posts.mu.Unlock()
	r.rep.Acknowledged = len(acked)
	fmt.Fprintf(r.log, "abuse: replaying the victim's %d acknowledged posts\n", len(acked))
	for chunk := range slices.Chunk(acked, 1000) {
		body := []byte(`{"outcomes":[`)
		for i, p := range chunk {
			if i > 0 {
				body = append(body, ',')
			}
			body = append(body, p.body...)
		}
		body = append(body, "]}"...)
		res, err := r.postRetrying(ctx, r.victim, body)
		if err != nil {
			return fmt.Errorf("replay: %v", err)
		}
		var ans struct {
			Results []struct {
				Status string `json:"status"`
				Seq    uint64 `json:"seq"`
			} `json:"results"`
		}
		if err := json.Unmarshal(res, &ans); err != nil || len(ans.Results) != len(chunk) {
			return fmt.Errorf("replay: %d results for %d items (%v): %.300s", len(ans.Results), len(chunk), err, res)
		}
		for i, it := range ans.Results {
			if it.Status != "duplicate" || it.Seq != chunk[i].seq {
				r.rep.Lost++
				if r.rep.Lost <= 5 {
					fmt.Fprintf(r.log, "abuse: lost %s: acknowledged as seq %d, now %s seq %d\n", chunk[i].key, chunk[i].seq, it.Status, it.Seq)
				}
			}
		}
	}
	return nil
}

// print writes the report as a table: a row per attack, then what was
// checked at the end.
func (rep *AbuseReport) print(w io.Writer) {
	fmt.Fprintf(w, "hostile load: %d preloaded outcomes, %d for one learner; victim %.0f posts/s; %d attackers; %.0fs quiet, %.0fs attack; --max-connections %d --cache-mb %d %s\n",
		rep.Preload, rep.HeavyOutcomes, rep.VictimRate, rep.Attackers, rep.QuietSec, rep.AttackSec, rep.MaxConnections, rep.CacheMiB, strings.Join(rep.ServeFlags, " "))
	fmt.Fprintf(w, "%-12s %9s  %-44s %17s %17s %6s %8s %8s\n", "attack", "requests", "answers", "victim p50 ms", "victim p99 ms", "ratio", "CPU-s", "RSS MiB")
	fmt.Fprintf(w, "%-12s %9s  %-44s %17s %17s %6s %8s %8s\n", "", "", "", "before → during", "before → during", "", "server", "peak")
	for _, row := range rep.Rows {
		fmt.Fprintf(w, "%-12s %9d  %-44s %7.1f → %7.1f %7.1f → %7.1f %6.2f %8.1f %8.0f\n", row.Attack, row.Requests, answerText(row.Answers),
			row.Before.P50ms, row.During.P50ms, row.Before.P99ms, row.During.P99ms, row.Ratio, row.CPUSec, row.PeakRSSMiB)
	}
	fmt.Fprintf(w, "victim: %d posts acknowledged, %d lost, %d never acknowledged, %d refused at least once; server peak RSS %.0f MiB (bound %d MiB)\n",
		rep.Acknowledged, rep.Lost, rep.Unanswered, rep.Refused, rep.PeakRSSMiB, rep.BoundMiB)
}

// answerText is a tally's answers as "400:12 429:3000", by status.
func answerText(a map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(a)) {
		parts = append(parts, k+":"+strconv.Itoa(a[k]))
	}
	return strings.Join(parts, " ")
}
