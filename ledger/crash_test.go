package ledger

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// The crash test kills a child process that appends to a ledger on the real
// disk with SIGKILL at a random moment, reopens the ledger and checks that
// every append the child saw acknowledged survived, byte for byte, and that
// the store is whole. The helpers in this file (the workload, its ack lines
// and the recovery check) are shared with powercut_test.go and fault_test.go.

var (
	crashRounds = flag.Int("crash.rounds", 0, "SIGKILL rounds of TestCrashRecovery (0: 20, or 6 with -short)")
	crashSeed   = flag.Int64("crash.seed", 0, "seed of TestCrashRecovery (0: from the clock)")
)

// Environment of the child processes.
const (
	envCrashDir   = "LEDGER_CRASH_DIR"
	envCrashRound = "LEDGER_CRASH_ROUND"
	envCrashSKey  = "LEDGER_CRASH_SKEY"
	envCrashVKey  = "LEDGER_CRASH_VKEY"
)

// workContent is the content of every workload record. (r, g, c) names the
// proposal (round, goroutine, counter), i the record within it and n how
// many records it has, so the check can tell a whole proposal from a torn one.
type workContent struct {
	R   int    `json:"r"`
	G   int    `json:"g"`
	C   int    `json:"c"`
	I   int    `json:"i"`
	N   int    `json:"n"`
	Pad string `json:"pad,omitempty"`
}

type workKey struct{ r, g, c int }

// workSize is how many records proposal (g, c) has: mostly one, every third
// a multi-record proposal of 2 to 5.
func workSize(g, c int) int {
	if (g+c)%3 != 0 {
		return 1
	}
	return 2 + (g*7+c)%4
}

// workRecord is record i of proposal (r, g, c); its bytes depend on nothing
// else, so the checker can rebuild exactly what was acknowledged.
func workRecord(r, g, c, i, n int) Record {
	pad := (g*31 + c*17 + i*5) % 160
	if (c+i)%41 == 0 {
		pad = 3000 + g*100 // now and then a bigger one, across WAL blocks
	}
	content, err := MarshalContent(workContent{R: r, G: g, C: c, I: i, N: n, Pad: strings.Repeat("x", pad)})
	if err != nil {
		panic(err)
	}
	rec := Record{
		Type:    "crash.work",
		Actor:   fmt.Sprintf("g%d", g),
		Content: content,
		Index:   []IndexKey{{Name: "crashgroup", Value: fmt.Sprintf("r%dg%d", r, g)}},
	}
	if i == 0 {
		rec.Idempotency = &IdempotencyKey{Scope: "crash", Key: workIdemKey(r, g, c)}
	}
	return rec
}

func workIdemKey(r, g, c int) string { return fmt.Sprintf("r%d/g%d/c%d", r, g, c) }
func workStateKey(r, g int) []byte   { return fmt.Appendf(nil, "crash/r%d/g%d", r, g) }
func workIndexValue(r, g int) string { return fmt.Sprintf("r%dg%d", r, g) }
func (k workKey) String() string     { return fmt.Sprintf("(r%d g%d c%d)", k.r, k.g, k.c) }
func workRecords(r, g, c int) (rs []Record) {
	n := workSize(g, c)
	for i := range n {
		rs = append(rs, workRecord(r, g, c, i, n))
	}
	return rs
}

// workProposal appends proposal (r, g, c) and sets the state key of (r, g)
// to c in the same batch. Goroutine g proposes c = 0, 1, 2... one after the
// other, so Decide insists that the state holds c-1: the view must show every
// earlier acknowledged proposal of the goroutine.
type workProposal struct{ r, g, c int }

func (p workProposal) Decide(v *View) (Effect, error) {
	prev, err := v.Get(workStateKey(p.r, p.g))
	switch {
	case errors.Is(err, ErrNotFound):
		if p.c != 0 {
			return Effect{}, fmt.Errorf("proposal %v: state of the goroutine missing", workKey(p))
		}
	case err != nil:
		return Effect{}, err
	default:
		if string(prev) != strconv.Itoa(p.c-1) {
			return Effect{}, fmt.Errorf("proposal %v: state holds %q", workKey(p), prev)
		}
	}
	return Effect{
		Records: workRecords(p.r, p.g, p.c),
		State:   []StateWrite{{Key: workStateKey(p.r, p.g), Value: []byte(strconv.Itoa(p.c))}},
	}, nil
}

// workAck is one acknowledged Append of the workload.
type workAck struct {
	first      uint64
	count      int
	r, g, c    int
	afterArmed bool // fault test: printed after the fault was armed
}

func (a workAck) line() string {
	return fmt.Sprintf("ack %d %d %d %d %d", a.first, a.count, a.r, a.g, a.c)
}

func parseAck(line string) (workAck, bool) {
	f := strings.Fields(line)
	if len(f) != 6 || f[0] != "ack" {
		return workAck{}, false
	}
	var n [5]uint64
	for i := range n {
		v, err := strconv.ParseUint(f[i+1], 10, 64)
		if err != nil {
			return workAck{}, false
		}
		n[i] = v
	}
	return workAck{first: n[0], count: int(n[1]), r: int(n[2]), g: int(n[3]), c: int(n[4])}, true
}

// runWorkload appends from workers goroutines until ctx is done or an Append
// fails, mixing single proposals and multi-record ones, and reports each
// acknowledged Append to ack (called concurrently). It returns the first
// Append error that is not ctx's.
func runWorkload(ctx context.Context, l *Ledger, round, workers int, ack func(workAck)) error {
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for g := range workers {
		wg.Go(func() {
			for c := 0; ctx.Err() == nil; c++ {
				rcpt, err := l.Append(context.Background(), workProposal{round, g, c})
				if err != nil {
					if ctx.Err() == nil {
						errs <- fmt.Errorf("goroutine %d append %d: %w", g, c, err)
					}
					return
				}
				n := workSize(g, c)
				if rcpt.Count != n || rcpt.Size < rcpt.First+uint64(n) {
					errs <- fmt.Errorf("goroutine %d append %d: receipt %+v for %d records", g, c, rcpt, n)
					return
				}
				ack(workAck{first: rcpt.First, count: rcpt.Count, r: round, g: g, c: c})
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// jsonUnmarshalStrict decodes one JSON value, refusing unknown fields.
func jsonUnmarshalStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// recoveryStats is what checkRecovered found past from.
type recoveryStats struct {
	size      uint64
	proposals int // whole proposals stored
	unacked   int // of them, not acknowledged (allowed)
	acked     int // acknowledged proposals checked
	entries   int // acknowledged entries checked
}

// checkRecovered checks a ledger reopened after a crash against the acks
// given before it: each acknowledged proposal is stored at its seqs with
// exactly the acknowledged bytes; seqs run from 0 with no gap; every stored
// proposal is whole (all its records, consecutive) and stored once; its
// state, index and idempotency records are there and agree; the integrity
// check passed; Verify is clean (and the ledger grew from since, when given);
// and the latest checkpoint covers at most the tree and has its root.
//
// Entries below from were checked this way by an earlier call, and since, a
// checkpoint signed right after it over those from entries, makes Verify
// prove that they are unchanged; only the entries from there on are read
// again (the test would be quadratic otherwise). The workload's keys of
// every round must be unique (the round is part of them).
func checkRecovered(t testing.TB, l *Ledger, from uint64, acks []workAck, since []byte) recoveryStats {
	t.Helper()
	if err := l.Integrity(); err != nil {
		t.Fatalf("integrity after recovery: %v", err)
	}
	type stored struct {
		first uint64
		n     int
	}
	groups := make(map[workKey]stored)
	lastC := make(map[[2]int]int) // (r, g) -> highest c stored
	index := make(map[[2]int][]uint64)
	var st recoveryStats
	err := l.Read(func(r *Reader) error {
		st.size = r.Size()
		if from > st.size {
			return fmt.Errorf("the tree has %d entries, %d were there before", st.size, from)
		}
		var open *workKey // proposal whose records are still coming
		var openN, nextI int
		for seq := from; seq < r.Size(); seq++ {
			b, err := r.Entry(seq)
			if err != nil {
				return fmt.Errorf("entry %d of %d: %w", seq, r.Size(), err)
			}
			e, err := ParseEntry(b)
			if err != nil {
				return fmt.Errorf("entry %d: %w", seq, err)
			}
			if e.Seq != seq {
				return fmt.Errorf("entry %d holds seq %d", seq, e.Seq)
			}
			var wc workContent
			if err := jsonUnmarshalStrict(e.Content, &wc); err != nil {
				return fmt.Errorf("entry %d content %s: %w", seq, e.Content, err)
			}
			k := workKey{wc.R, wc.G, wc.C}
			if open != nil {
				if k != *open || wc.I != nextI || wc.N != openN {
					return fmt.Errorf("entry %d is %v record %d/%d, but proposal %v is torn after record %d/%d", seq, k, wc.I, wc.N, *open, nextI, openN)
				}
			} else {
				if wc.I != 0 {
					return fmt.Errorf("entry %d is record %d of %v, with its first records missing", seq, wc.I, k)
				}
				if _, dup := groups[k]; dup {
					return fmt.Errorf("entry %d: proposal %v stored twice", seq, k)
				}
				groups[k] = stored{first: seq, n: wc.N}
				open, openN = &k, wc.N
			}
			want := workRecord(wc.R, wc.G, wc.C, wc.I, wc.N)
			if wc.N != workSize(wc.G, wc.C) || e.Type != want.Type || e.Actor != want.Actor || string(e.Content) != string(want.Content) {
				return fmt.Errorf("entry %d is not the record %v %d/%d the workload makes: %s", seq, k, wc.I, wc.N, b)
			}
			rg := [2]int{wc.R, wc.G}
			index[rg] = append(index[rg], seq)
			if c, ok := lastC[rg]; !ok || wc.C > c {
				lastC[rg] = wc.C
			}
			nextI = wc.I + 1
			if nextI == openN {
				open = nil
			}
		}
		if open != nil {
			return fmt.Errorf("proposal %v is torn at the end of the tree: %d of %d records", *open, nextI, openN)
		}
		// State, indexes and idempotency records agree with the entries.
		for rg, c := range lastC {
			v, err := r.Get(workStateKey(rg[0], rg[1]))
			if err != nil || string(v) != strconv.Itoa(c) {
				return fmt.Errorf("state of r%d g%d is %q (%v), but the last proposal stored is c%d", rg[0], rg[1], v, err, c)
			}
		}
		for rg, seqs := range index {
			var got []uint64
			if err := r.Index("crashgroup", workIndexValue(rg[0], rg[1]), 0, func(seq uint64) bool {
				got = append(got, seq)
				return true
			}); err != nil {
				return err
			}
			if fmt.Sprint(got) != fmt.Sprint(seqs) {
				return fmt.Errorf("index of r%d g%d lists %v, the entries are %v", rg[0], rg[1], got, seqs)
			}
		}
		for k, s := range groups {
			id, ok, err := r.Idempotency("crash", workIdemKey(k.r, k.g, k.c))
			if err != nil || !ok || id.Seq != s.first {
				return fmt.Errorf("idempotency record of %v: %+v %v %v, want seq %d", k, id, ok, err, s.first)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("recovered store (size %d): %v", st.size, err)
	}
	st.proposals = len(groups)
	ackedKeys := make(map[workKey]bool, len(acks))
	for _, a := range acks {
		if a.first < from {
			if a.first+uint64(a.count) > from {
				t.Fatalf("acknowledged proposal %v at seq %d (%d records) straddles the %d entries checked before", workKey{a.r, a.g, a.c}, a.first, a.count, from)
			}
			continue // checked before; Verify against since covers it
		}
		k := workKey{a.r, a.g, a.c}
		s, ok := groups[k]
		switch {
		case !ok:
			t.Fatalf("acknowledged proposal %v at seq %d (%d records) is lost; the tree has %d entries", k, a.first, a.count, st.size)
		case s.first != a.first || s.n != a.count:
			t.Fatalf("acknowledged proposal %v at seq %d (%d records) is stored at seq %d (%d records)", k, a.first, a.count, s.first, s.n)
		}
		ackedKeys[k] = true
		st.acked++
		st.entries += a.count
	}
	st.unacked = len(groups) - len(ackedKeys)

	mustVerify(t, l, since)
	checkLatestCheckpoint(t, l)
	return st
}

// checkLatestCheckpoint checks that the latest checkpoint is signed by the
// ledger's key, covers no more than the durable tree and holds its root.
func checkLatestCheckpoint(t testing.TB, l *Ledger) Checkpoint {
	t.Helper()
	signed := l.Checkpoint()
	if signed == nil {
		t.Fatalf("no checkpoint after recovery")
	}
	c, err := OpenCheckpoint(signed, l.opts.Keys.Verifier)
	if err != nil {
		t.Fatalf("latest checkpoint: %v", err)
	}
	size := l.Size()
	if c.Size > size {
		t.Fatalf("latest checkpoint covers %d entries, the tree has %d", c.Size, size)
	}
	root, err := l.RootAt(c.Size)
	if err != nil || root != c.Root {
		t.Fatalf("latest checkpoint's root at %d differs from the tree's (%v)", c.Size, err)
	}
	if c.Size > 0 && c.Size < size {
		proof, err := l.ConsistencyProof(c.Size, size)
		if err != nil {
			t.Fatalf("consistency proof %d..%d: %v", c.Size, size, err)
		}
		_, head := l.Head()
		if err := tlog.CheckTree(proof, int64(size), head, int64(c.Size), c.Root); err != nil {
			t.Fatalf("latest checkpoint is not a prefix of the tree: %v", err)
		}
	}
	return c
}

// keysFromEnv rebuilds the parent's signing keys in a child process.
func keysFromEnv(t testing.TB) Keys {
	t.Helper()
	s, err := note.NewSigner(os.Getenv(envCrashSKey))
	if err != nil {
		t.Fatalf("signer: %v", err)
	}
	v, err := note.NewVerifier(os.Getenv(envCrashVKey))
	if err != nil {
		t.Fatalf("verifier: %v", err)
	}
	return Keys{Signer: s, Verifier: v, VerifierKey: os.Getenv(envCrashVKey)}
}

// childOutput collects the lines a child process prints.
type childOutput struct {
	mu    sync.Mutex
	lines []string
	ready chan struct{} // closed when the child printed "ready"
	done  chan struct{} // closed at EOF
}

func readChild(r io.Reader) *childOutput {
	o := &childOutput{ready: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(o.done)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		readyClosed := false
		for sc.Scan() {
			line := sc.Text()
			o.mu.Lock()
			o.lines = append(o.lines, line)
			o.mu.Unlock()
			if line == "ready" && !readyClosed {
				close(o.ready)
				readyClosed = true
			}
		}
		io.Copy(io.Discard, r)
	}()
	return o
}

// acks returns the acks printed; those after an "armed" line are marked.
func (o *childOutput) acks() (acks []workAck, other []string) {
	<-o.done
	armed := false
	for _, line := range o.lines {
		if a, ok := parseAck(line); ok {
			a.afterArmed = armed
			acks = append(acks, a)
			continue
		}
		if line == "armed" {
			armed = true
		}
		other = append(other, line)
	}
	return acks, other
}

// childAckWriter prints one ack line per acknowledged Append. Each line is
// one write(2) of well under PIPE_BUF bytes, so a kill cannot tear it.
func childAckWriter() func(workAck) {
	var mu sync.Mutex
	return func(a workAck) {
		mu.Lock()
		defer mu.Unlock()
		os.Stdout.WriteString(a.line() + "\n")
	}
}

// TestCrashChild is the child of TestCrashRecovery: it appends to the ledger
// in $LEDGER_CRASH_DIR until it is killed, printing an ack line for each
// acknowledged Append.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(envCrashDir)
	if dir == "" {
		t.Skip("child process of TestCrashRecovery")
	}
	round, err := strconv.Atoi(os.Getenv(envCrashRound))
	if err != nil {
		t.Fatalf("round: %v", err)
	}
	opts := testOptions(t, nil, dir)
	opts.Keys = keysFromEnv(t)
	opts.CheckpointInterval = 20 * time.Millisecond
	l, err := Open(opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := l.Integrity(); err != nil {
		t.Fatalf("integrity: %v", err)
	}
	os.Stdout.WriteString("ready\n")
	// The parent kills us well before this; the limit only stops an orphan.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := runWorkload(ctx, l, round, 16, childAckWriter()); err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(3)
	}
	fmt.Println("orphan: not killed in time")
	os.Exit(4)
}

// startChild runs the named child test of this test binary with env added.
func startChild(t *testing.T, test string, env ...string) (*exec.Cmd, *childOutput, *logBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	if dir := os.Getenv("CREDITBANK_TEST_GOCOVERDIR"); dir != "" {
		// make cover: the child's coverage goes where the parent's does.
		cmd.Env = append(cmd.Env, "GOCOVERDIR="+dir)
	}
	stderr := &logBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	return cmd, readChild(stdout), stderr
}

// TestCrashRecovery kills a child appending from 16 goroutines with SIGKILL
// after a random delay, again and again on the same folder, and checks after
// each kill that every acknowledged append is there with its exact bytes,
// with no gap, torn proposal or damage (see checkRecovered).
func TestCrashRecovery(t *testing.T) {
	rounds := *crashRounds
	if rounds <= 0 {
		rounds = 20
		if testing.Short() {
			rounds = 6
		}
	}
	seed := *crashSeed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d (rerun with -crash.seed=%d)", seed, seed)
		}
	})
	rng := rand.New(rand.NewSource(seed))

	keys, skey, err := GenerateKeys(DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ledger")
	env := []string{envCrashDir + "=" + dir, envCrashSKey + "=" + skey, envCrashVKey + "=" + keys.VerifierKey}

	var since []byte   // a checkpoint taken after the previous round
	var checked uint64 // entries checked after earlier rounds
	var totalUnacked, totalAcks, totalEntries int
	start := time.Now()
	for round := range rounds {
		cmd, out, stderr := startChild(t, "TestCrashChild", append(env, fmt.Sprintf("%s=%d", envCrashRound, round))...)
		select {
		case <-out.ready:
		case <-out.done:
		case <-time.After(20 * time.Second):
		}
		// Mostly kill while appends are in full flow; now and then right
		// at the start, while the first groups and checkpoint are written.
		delay := time.Duration(rng.Int63n(int64(100 * time.Millisecond)))
		if rng.Intn(8) == 0 {
			delay = time.Duration(rng.Int63n(int64(3 * time.Millisecond)))
		}
		time.Sleep(delay)
		cmd.Process.Kill() // SIGKILL
		<-out.done
		werr := cmd.Wait()
		acks, other := out.acks()
		var ee *exec.ExitError
		if !errors.As(werr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child did not die by SIGKILL: %v\nstdout: %s\nstderr: %s", round, werr, strings.Join(other, "\n"), stderr)
		}

		opts := testOptions(t, nil, dir)
		opts.Keys = keys
		l, err := Open(opts)
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		st := checkRecovered(t, l, checked, acks, since)
		checked = st.size
		totalUnacked += st.unacked
		totalAcks += len(acks)
		for _, a := range acks {
			totalEntries += a.count
		}
		if testing.Verbose() {
			t.Logf("round %d: killed after %v, %d acks this round, tree %d entries, %d proposals stored unacknowledged",
				round, delay.Round(time.Millisecond), len(acks), st.size, st.unacked)
		}
		if since, err = l.SignCheckpoint(context.Background()); err != nil {
			t.Fatalf("round %d: sign checkpoint: %v", round, err)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("round %d: close: %v", round, err)
		}
	}
	t.Logf("%d SIGKILL rounds in %v: %d acknowledged appends (%d entries), all recovered; %d proposals stored unacknowledged (allowed); seed %d",
		rounds, time.Since(start).Round(time.Millisecond), totalAcks, totalEntries, totalUnacked, seed)
}
