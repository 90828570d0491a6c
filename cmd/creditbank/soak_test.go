package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"creditbank/accreditation"
	"creditbank/api"
)

// The soak test is the server-level crash harness: many clients post
// outcomes over HTTP to a real `creditbank serve` while the process is killed
// with SIGKILL at a random moment, round after round, on one data folder.
// After each restart every write acknowledged before the kill must still be
// there with the same seq: re-posting the same body is an idempotent replay
// (200 and the original for a single outcome, "duplicate" for a batch item)
// and the entry at that seq holds that outcome. No seq may ever be reported
// for two different idempotency keys, and the whole store must pass
// `creditbank verify --data` at the end.

var (
	soakRounds = flag.Int("soak.rounds", 0, "SIGKILL rounds of TestSoak (0: 20, or 4 with -short)")
	soakSeed   = flag.Int64("soak.seed", 0, "seed of TestSoak (0: from the clock)")
)

const (
	soakInstitution = "soak.example"
	soakWorkers     = 6
)

// soakAck is one acknowledged write: the idempotency key, the seq the server
// gave it, and the request that carried it (a single outcome or a batch).
type soakAck struct {
	key   string
	seq   uint64
	batch bool
	body  []byte // the single outcome's body; for a batch item, the item alone
	// recordedAt is the single outcome's recorded_at as first answered: a
	// replay answers the original, so the same.
	recordedAt string
}

// soakServer is one run of `creditbank serve`.
type soakServer struct {
	cmd     *exec.Cmd
	url     string
	logs    *bytes.Buffer
	done    chan error
	once    sync.Once
	exitErr error
}

// startSoakServer starts `serve` on a free port and waits until it answers.
func startSoakServer(t *testing.T, bin, data string) *soakServer {
	t.Helper()
	addr := freeAddr(t)
	s := &soakServer{logs: &bytes.Buffer{}, done: make(chan error, 1), url: "http://" + addr}
	s.cmd = exec.Command(bin, "serve", "--data", data, "--addr", addr, "--institution-rate", "0")
	s.cmd.Stderr = &lockedWriter{w: s.logs}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(s.kill) // a failed test leaves no server behind
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if s.exited() {
			t.Fatalf("server exited on start: %v\n%s", s.exitErr, s.logText())
		}
		if resp, err := client.Get(s.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
	}
	s.kill()
	t.Fatalf("server did not become ready\n%s", s.logText())
	return nil
}

func (s *soakServer) logText() string {
	if lw, ok := s.cmd.Stderr.(*lockedWriter); ok {
		lw.mu.Lock()
		defer lw.mu.Unlock()
	}
	b := s.logs.Bytes()
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// exited reports whether the process is gone (without waiting).
func (s *soakServer) exited() bool {
	select {
	case err := <-s.done:
		s.once.Do(func() { s.exitErr = err })
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *soakServer) kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	s.once.Do(func() { s.exitErr = <-s.done })
}

// stop sends SIGTERM and expects a clean exit.
func (s *soakServer) stop(t *testing.T) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.AfterFunc(30*time.Second, func() { _ = s.cmd.Process.Signal(syscall.SIGKILL) })
	defer timer.Stop()
	s.once.Do(func() { s.exitErr = <-s.done })
	if s.exitErr != nil {
		t.Fatalf("server exit after SIGTERM: %v\n%s", s.exitErr, s.logText())
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// soakClient posts JSON with a bearer token.
type soakClient struct {
	http *http.Client
}

func (c *soakClient) do(ctx context.Context, method, url, token string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, out, nil
}

// soakOutcome is the body of the outcome with idempotency key key (which
// must also be a valid unit code): it depends on nothing else, so a replay
// sends the same content.
func soakOutcome(key string, n int) []byte {
	sectors := accreditation.Sectors()
	o := map[string]any{
		"idempotency_key": key,
		"learner":         fmt.Sprintf("L%06d", n%997),
		// The unit code is the key: outcomes under two keys are never one
		// unit on one day, which the bank would refuse as a duplicate.
		"unit":         map[string]any{"code": key, "title": "Soak unit " + strconv.Itoa(n%50)},
		"sector":       sectors[n%len(sectors)],
		"level":        1 + n%8,
		"field":        []string{"0613", "06", "041", "0311"}[n%4],
		"credits":      map[string]any{"amount": strconv.Itoa(1 + n%6), "system": "cn-credit"},
		"result":       map[string]any{"passed": n%7 != 0, "score": strconv.Itoa(50 + n%50)},
		"completed_on": "2025-06-01",
	}
	if n%3 == 0 {
		o["hours"] = 16*(1+n%6) + n%5 // agreeing with the credits, as hours must
	}
	b, err := json.Marshal(o)
	if err != nil {
		panic(err)
	}
	return b
}

func batchBody(items [][]byte) []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"outcomes":[`)
	for i, it := range items {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(it)
	}
	buf.WriteString(`]}`)
	return buf.Bytes()
}

type batchReply struct {
	Results []struct {
		Status string          `json:"status"`
		Seq    *uint64         `json:"seq"`
		Error  json.RawMessage `json:"error"`
	} `json:"results"`
}

type singleReply struct {
	Seq            *uint64 `json:"seq"`
	IdempotencyKey string  `json:"idempotency_key"`
	RecordedAt     string  `json:"recorded_at"`
}

func TestSoak(t *testing.T) {
	rounds := *soakRounds
	if rounds <= 0 {
		rounds = 20
		if testing.Short() {
			rounds = 4
		}
	}
	seed := *soakSeed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("seed %d (rerun with -soak.seed=%d), %d rounds", seed, seed, rounds)
	rng := rand.New(rand.NewSource(seed))
	start := time.Now()

	bin := buildBinary(t)
	work := t.TempDir()
	data := filepath.Join(work, "data")
	client := &soakClient{http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	ctx := context.Background()

	// Set up: the service's token key signs the admin's token; the
	// institution gets a key pair and an accreditation for every sector.
	srv := startSoakServer(t, bin, data)
	tokenKey, err := api.LoadKeyFile(filepath.Join(data, "keys", "token.jwk"))
	if err != nil {
		srv.kill()
		t.Fatal(err)
	}
	adminTok, err := api.IssueToken(tokenKey, "creditbank", "creditbank", "admin", "soak", time.Hour)
	if err != nil {
		srv.kill()
		t.Fatal(err)
	}
	instKey, err := api.GenerateKey("EdDSA")
	if err != nil {
		srv.kill()
		t.Fatal(err)
	}
	pub, _ := instKey.Public()
	reg, _ := json.Marshal(map[string]any{"id": soakInstitution, "name": "Soak College", "kind": "open_university", "keys": []any{pub}})
	acc, _ := json.Marshal(map[string]any{"sectors": accreditation.Sectors(), "max_level": 10, "valid_from": "2000-01-01", "valid_until": "2099-12-31"})
	for _, step := range []struct {
		path string
		body []byte
	}{{"/v1/institutions", reg}, {"/v1/institutions/" + soakInstitution + "/accreditations", acc}} {
		if code, out, err := client.do(ctx, "POST", srv.url+step.path, adminTok, step.body); err != nil || code != http.StatusCreated {
			srv.kill()
			t.Fatalf("set-up POST %s: %d %v %s", step.path, code, err, out)
		}
	}
	instToken := func() string {
		tok, err := api.SignInstitutionToken(instKey, soakInstitution, "creditbank", 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	var (
		all         []soakAck
		bySeq       = map[uint64]string{} // seq -> key, across every round
		replays     int
		entryChecks int
		posted      int // requests sent, acknowledged or not
	)
	record := func(a soakAck) {
		if other, ok := bySeq[a.seq]; ok && other != a.key {
			t.Fatalf("seq %d served twice: for key %q and key %q", a.seq, other, a.key)
		}
		bySeq[a.seq] = a.key
	}

	for round := range rounds {
		if srv == nil {
			srv = startSoakServer(t, bin, data)
		}
		tok := instToken()
		var (
			mu    sync.Mutex
			acks  []soakAck
			wg    sync.WaitGroup
			fails []string
			sent  int
		)
		runCtx, stopWork := context.WithCancel(ctx)
		for w := range soakWorkers {
			wrng := rand.New(rand.NewSource(rng.Int63()))
			wg.Go(func() {
				for c := 0; runCtx.Err() == nil; c++ {
					n := wrng.Intn(1 << 20)
					single := wrng.Intn(10) < 7
					var items [][]byte
					var keys []string
					count := 1
					if !single {
						count = 2 + wrng.Intn(4)
					}
					for i := range count {
						k := fmt.Sprintf("soak-r%d-w%d-c%d-i%d", round, w, c, i)
						keys = append(keys, k)
						items = append(items, soakOutcome(k, n+i))
					}
					body := items[0]
					if !single {
						body = batchBody(items)
					}
					mu.Lock()
					sent++
					mu.Unlock()
					code, out, err := client.do(runCtx, "POST", srv.url+"/v1/outcomes", tok, body)
					if err != nil {
						continue // killed, or killing: not acknowledged
					}
					var got []soakAck
					var bad string
					switch {
					case single && (code == http.StatusCreated || code == http.StatusOK):
						var r singleReply
						if err := json.Unmarshal(out, &r); err != nil || r.Seq == nil || r.IdempotencyKey != keys[0] {
							bad = fmt.Sprintf("single %s: %d %s", keys[0], code, out)
						} else if code == http.StatusOK {
							bad = fmt.Sprintf("single %s: first post answered 200 (a replay) %s", keys[0], out)
						} else {
							got = append(got, soakAck{key: keys[0], seq: *r.Seq, body: body, recordedAt: r.RecordedAt})
						}
					case !single && code == http.StatusOK:
						var r batchReply
						if err := json.Unmarshal(out, &r); err != nil || len(r.Results) != count {
							bad = fmt.Sprintf("batch %s: %d %s", keys[0], code, out)
							break
						}
						for i, res := range r.Results {
							if res.Status != "created" || res.Seq == nil {
								bad = fmt.Sprintf("batch item %s: %s (seq %v) %s", keys[i], res.Status, res.Seq, res.Error)
								break
							}
							got = append(got, soakAck{key: keys[i], seq: *res.Seq, batch: true, body: items[i]})
						}
					case code == http.StatusServiceUnavailable:
						// refused, not acknowledged: allowed
					default:
						bad = fmt.Sprintf("post %s: unexpected %d %s", keys[0], code, out)
					}
					mu.Lock()
					acks = append(acks, got...)
					if bad != "" {
						fails = append(fails, bad)
					}
					mu.Unlock()
				}
			})
		}
		// Kill at a random moment: mostly early in a busy run, now and then later.
		delay := time.Duration(30+rng.Intn(700)) * time.Millisecond
		time.Sleep(delay)
		srv.kill()
		stopWork()
		wg.Wait()
		if len(fails) > 0 {
			t.Fatalf("round %d: %d bad answers, first: %s\n%s", round, len(fails), fails[0], srv.logText())
		}
		posted += sent
		for _, a := range acks {
			record(a)
		}

		// Restart and find every acknowledged write of the round.
		srv = startSoakServer(t, bin, data)
		lost := checkSoakAcks(t, client, srv, instToken(), adminTok, acks, true)
		replays += len(acks)
		entryChecks += len(acks)
		if len(lost) > 0 {
			t.Fatalf("round %d (killed after %v): %d of %d acknowledged writes lost or changed, first: %s\n%s",
				round, delay, len(lost), len(acks), lost[0], srv.logText())
		}
		all = append(all, acks...)
		t.Logf("round %d: killed after %v, %d requests, %d writes acknowledged, all found", round, delay, sent, len(acks))
		if round < rounds-1 {
			srv.kill() // the next round starts from a kill-recovered store as well
			srv = nil
		}
	}

	// Last: every write of every round, once more, as batches; then a clean
	// stop and a full audit of the data folder.
	lost := checkSoakAcks(t, client, srv, instToken(), adminTok, all, false)
	replays += len(all)
	if len(lost) > 0 {
		t.Fatalf("final check: %d of %d acknowledged writes lost or changed, first: %s", len(lost), len(all), lost[0])
	}
	cp, err := http.Get(srv.url + "/v1/log/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	cpText, _ := io.ReadAll(cp.Body)
	cp.Body.Close()
	lines := bytes.Split(cpText, []byte("\n"))
	size, err := strconv.ParseUint(string(lines[min(1, len(lines)-1)]), 10, 64)
	if err != nil {
		t.Fatalf("checkpoint %q: %v", cpText, err)
	}
	srv.stop(t)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "verify", "--data", data)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("verify --data: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("verify --data: %s", bytes.TrimSpace(stdout.Bytes()))
	// The checkpoint may lag the last writes by a second; the audit read them all.
	if m := regexp.MustCompile(`entries read and hashed: (\d+)`).FindSubmatch(stdout.Bytes()); m != nil {
		if n, err := strconv.ParseUint(string(m[1]), 10, 64); err == nil {
			size = max(size, n)
		}
	}
	// Entries past what was acknowledged were written before a kill whose
	// answer never arrived: allowed (the client retries with the same key).
	t.Logf("soak: seed %d, %d rounds, %d requests posted, %d acknowledged writes, 0 lost, %d replays checked, %d entries checked, 0 seqs served twice, ledger size %d (2 set-up entries, %d stored but never acknowledged), %v",
		seed, rounds, posted, len(all), replays, entryChecks, size, int(size)-2-len(all), time.Since(start).Round(time.Millisecond))
	fmt.Printf("SOAK rounds=%d acknowledged=%d lost=0 replays=%d seed=%d elapsed=%v\n",
		rounds, len(all), replays, seed, time.Since(start).Round(time.Millisecond))
}

// checkSoakAcks replays acknowledged writes against a restarted server and
// returns what it could not find. With asPosted, each is replayed the way it
// was first sent (a single outcome alone, expecting 200 and the same seq; a
// batch item in a batch, expecting "duplicate" and the same seq) and the log
// entry at its seq is read back; otherwise all are replayed in batches.
func checkSoakAcks(t *testing.T, c *soakClient, srv *soakServer, tok, adminTok string, acks []soakAck, asPosted bool) []string {
	t.Helper()
	ctx := context.Background()
	var (
		mu   sync.Mutex
		lost []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		lost = append(lost, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	var singles, items []soakAck
	for _, a := range acks {
		if asPosted && !a.batch {
			singles = append(singles, a)
		} else {
			items = append(items, a)
		}
	}
	jobs := make(chan func())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for j := range jobs {
				j()
			}
		})
	}
	for _, a := range singles {
		jobs <- func() {
			code, out, err := c.do(ctx, "POST", srv.url+"/v1/outcomes", tok, a.body)
			var r singleReply
			switch {
			case err != nil:
				fail("replay %s: %v", a.key, err)
			case code != http.StatusOK:
				fail("replay %s (seq %d): %d %s", a.key, a.seq, code, out)
			case json.Unmarshal(out, &r) != nil || r.Seq == nil || *r.Seq != a.seq || r.IdempotencyKey != a.key || r.RecordedAt != a.recordedAt:
				fail("replay %s: acknowledged as seq %d recorded at %s, now %s", a.key, a.seq, a.recordedAt, out)
			}
		}
	}
	for len(items) > 0 {
		n := min(len(items), 500)
		chunk := items[:n]
		items = items[n:]
		jobs <- func() {
			bodies := make([][]byte, len(chunk))
			for i, a := range chunk {
				bodies[i] = a.body
			}
			code, out, err := c.do(ctx, "POST", srv.url+"/v1/outcomes", tok, batchBody(bodies))
			var r batchReply
			if err != nil || code != http.StatusOK || json.Unmarshal(out, &r) != nil || len(r.Results) != len(chunk) {
				fail("replay batch from %s: %d %v %.500s", chunk[0].key, code, err, out)
				return
			}
			for i, res := range r.Results {
				if res.Status != "duplicate" || res.Seq == nil || *res.Seq != chunk[i].seq {
					fail("replay %s: acknowledged as seq %d, now %s seq %v %s", chunk[i].key, chunk[i].seq, res.Status, res.Seq, res.Error)
				}
			}
		}
	}
	if asPosted {
		// The entry at each acknowledged seq is that outcome.
		for _, a := range acks {
			jobs <- func() {
				code, out, err := c.do(ctx, "GET", srv.url+"/v1/log/entries/"+strconv.FormatUint(a.seq, 10), adminTok, nil)
				var e struct {
					Seq     uint64 `json:"seq"`
					Type    string `json:"type"`
					Content struct {
						IdempotencyKey string `json:"idempotency_key"`
						Institution    string `json:"institution"`
					} `json:"content"`
				}
				switch {
				case err != nil:
					fail("entry %d of %s: %v", a.seq, a.key, err)
				case code != http.StatusOK:
					fail("entry %d of %s: %d %s", a.seq, a.key, code, out)
				case json.Unmarshal(out, &e) != nil || e.Seq != a.seq || e.Content.IdempotencyKey != a.key:
					fail("entry %d should hold %s: %.400s", a.seq, a.key, out)
				}
			}
		}
	}
	close(jobs)
	wg.Wait()
	return lost
}
