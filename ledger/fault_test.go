package ledger

// Fault injection under the ledger with pebble/v2/vfs/errorfs.
//
// Which faults Pebble (v2.1.7) treats as fatal and which it returns:
//
//   - A failed write or sync of the WAL (the ".log" file) is fatal. The
//     WAL's LogWriter hands the error to every batch waiting on that sync
//     (record/log_writer.go: flushPending, pendingSyncs.pop) and keeps it,
//     failing every later write and sync of that WAL. Pebble returns it to
//     the committer, not to a background listener: DB.Apply (which waits for
//     the sync) gets it from commitPipeline.Commit and answers with
//     Logger.Fatalf("pebble: fatal commit error: ...") (db.go,
//     DB.applyInternal), as does DB.ApplyNoSyncWait when the WAL already
//     failed; a batch applied with ApplyNoSyncWait gets it from
//     Batch.SyncWait. The ledger treats both as fatal: pebbleLogger.Fatalf
//     or the ledger's own sync wait marks it failed and calls
//     Options.OnFatal, whose default logs and exits with status 70; the
//     failed group is never acknowledged. (A failed MANIFEST write or sync
//     is fatal in Pebble too, version_set.go; not exercised here.) Note that
//     this holds for ENOSPC as well: a disk that fills up under the WAL ends
//     the process; only Options.MinFreeBytes keeps that from happening.
//     TestFaultWALFatal.
//   - A failed write of an sstable during a flush (or a compaction) is
//     returned, not fatal: the flush fails, Pebble reports the error to
//     EventListener.BackgroundError (compaction.go, DB.flush), keeps the
//     memtable and its WAL, and schedules the flush again at once. The
//     ledger turns an error wrapping ENOSPC into ErrUnavailable until a
//     flush succeeds (EventListener.FlushEnd with no error).
//     TestBackgroundENOSPC.
//   - Low free space is not a fault Pebble sees at all: the ledger reads
//     vfs.FS.GetDiskUsage and refuses writes under Options.MinFreeBytes.
//     TestDiskFullRefusesWrites.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"golang.org/x/mod/sumdb/tlog"
)

// Environment of the fault child process (with envCrashSKey, envCrashVKey).
const (
	envFaultDir  = "LEDGER_FAULT_DIR"
	envFaultMode = "LEDGER_FAULT_MODE" // "write" or "sync"
	envFaultArm  = "LEDGER_FAULT_ARM"  // arm the fault after this many acks
)

// walFault fails WAL writes ("write") or WAL syncs ("sync") once armed.
func walFault(mode string) (*errorfs.Toggle, *errorfs.Counter) {
	var kinds []errorfs.OpKind
	switch mode {
	case "write":
		kinds = []errorfs.OpKind{errorfs.OpFileWrite, errorfs.OpFileWriteAt}
	case "sync":
		// The WAL file is a vfs.NewSyncingFile: its Sync calls SyncData.
		kinds = []errorfs.OpKind{errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo}
	default:
		panic("fault mode " + mode)
	}
	counter := &errorfs.Counter{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if strings.HasSuffix(op.Path, ".log") {
			for _, k := range kinds {
				if op.Kind == k {
					return errorfs.ErrInjected
				}
			}
		}
		return nil
	})}
	return &errorfs.Toggle{Injector: counter}, counter
}

// TestFaultChild is the child of TestFaultWALFatal: it appends to the ledger
// in $LEDGER_FAULT_DIR through an errorfs that fails WAL writes or syncs once
// armed, after $LEDGER_FAULT_ARM acks. It expects to be ended by the default
// OnFatal (exit status 70); anything else it reports and exits 3 or 4.
func TestFaultChild(t *testing.T) {
	dir := os.Getenv(envFaultDir)
	if dir == "" {
		t.Skip("child process of TestFaultWALFatal")
	}
	armAfter, err := strconv.Atoi(os.Getenv(envFaultArm))
	if err != nil {
		t.Fatalf("arm: %v", err)
	}
	toggle, counter := walFault(os.Getenv(envFaultMode))
	opts := testOptions(t, errorfs.Wrap(vfs.Default, toggle), dir)
	opts.Keys = keysFromEnv(t)
	opts.OnFatal = nil // the default: log and exit with status 70
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	opts.CheckpointInterval = 20 * time.Millisecond
	// errorfs does not wrap a WAL file Pebble recycles (FS.ReuseForWrite);
	// a memtable this large is never rotated in the child's short life, so
	// every WAL write goes through the injector.
	opts.Tune = func(o *pebble.Options) { o.MemTableSize = 64 << 20 }
	l, err := Open(opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	os.Stdout.WriteString("ready\n")
	var mu sync.Mutex
	acks := 0
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = runWorkload(ctx, l, 0, 16, func(a workAck) {
		mu.Lock()
		defer mu.Unlock()
		os.Stdout.WriteString(a.line() + "\n")
		if acks++; acks == armAfter {
			os.Stdout.WriteString("armed\n")
			toggle.On()
		}
	})
	// Reaching here means the fault was not fatal.
	fmt.Printf("not fatal: %d errors injected, last %v; append error: %v\n", counter.Load(), counter.LastError(), err)
	os.Exit(3)
}

// TestFaultWALFatal runs a child that fails its WAL writes, or its WAL syncs,
// after a random number of acknowledged appends, and checks that the fault
// ends the process through the default OnFatal (exit status 70) and that
// the store reopened on the healthy disk holds every acknowledged append
// (those printed after the fault was armed included: they were durable),
// with at most whole unacknowledged proposals after them, and verifies.
func TestFaultWALFatal(t *testing.T) {
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d", seed)
		}
	})
	keys, skey, err := GenerateKeys(DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"write", "sync"} {
		t.Run(mode, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ledger")
			armAfter := 20 + rng.Intn(300)
			cmd, out, stderr := startChild(t, "TestFaultChild",
				envFaultDir+"="+dir, envFaultMode+"="+mode, envFaultArm+"="+strconv.Itoa(armAfter),
				envCrashSKey+"="+skey, envCrashVKey+"="+keys.VerifierKey)
			timer := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
			<-out.done
			werr := cmd.Wait()
			timer.Stop()
			acks, other := out.acks()
			// Pebble hands a failed WAL write or sync to the committing batch
			// and the ledger stops the process through OnFatal (status 70).
			// When the failure meets a WAL rotation, or a commit follows the
			// failed write before the sync reports it, Pebble panics inside
			// rotateWAL or commitWrite instead (status 2) before our code
			// can see it. Either way the
			// process stops without acknowledging the failed group.
			var ee *exec.ExitError
			if !errors.As(werr, &ee) {
				t.Fatalf("child (WAL %s fault after %d acks) ended with %v, want it stopped\nstdout: %s\nstderr: %s",
					mode, armAfter, werr, strings.Join(other, "\n"), stderr)
			}
			var fatal string
			switch ee.ExitCode() {
			case 70:
				fatal = firstLine(stderr.String(), "store failed")
				if !strings.Contains(fatal, "injected error") {
					t.Errorf("the child's log does not report the injected WAL error as a store failure:\n%s", stderr)
				}
			case 2:
				if !strings.Contains(stderr.String(), "pebble/v2.(*DB).rotateWAL") && !strings.Contains(stderr.String(), "pebble/v2.(*DB).commitWrite") {
					t.Fatalf("child ended with status 2 but not in Pebble's commit path:\n%s", stderr)
				}
				fatal = "Pebble panicked on the failed WAL"
			default:
				t.Fatalf("child (WAL %s fault after %d acks) ended with %v, want exit status 70 (or Pebble's panic)\nstdout: %s\nstderr: %s",
					mode, armAfter, werr, strings.Join(other, "\n"), stderr)
			}
			afterArmed := 0
			for _, a := range acks {
				if a.afterArmed {
					afterArmed++
				}
			}
			if len(acks) < armAfter {
				t.Fatalf("%d acks, the fault was to be armed after %d", len(acks), armAfter)
			}

			opts := testOptions(t, nil, dir)
			opts.Keys = keys
			l := openTest(t, opts)
			st := checkRecovered(t, l, 0, acks, nil)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			t.Logf("WAL %s fault armed after %d acks: exit status %d; %d acks in all (%d printed after arming, all durable); tree %d entries, %d proposals stored unacknowledged; the child logged: %s",
				mode, armAfter, ee.ExitCode(), len(acks), afterArmed, st.size, st.unacked, fatal)
		})
	}
}

func firstLine(s, containing string) string {
	for line := range strings.Lines(s) {
		if strings.Contains(line, containing) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// spaceFS reports a settable amount of free space.
type spaceFS struct {
	vfs.FS
	avail, total atomic.Uint64
}

func (s *spaceFS) GetDiskUsage(string) (vfs.DiskUsage, error) {
	avail, total := s.avail.Load(), s.total.Load()
	return vfs.DiskUsage{AvailBytes: avail, TotalBytes: total, UsedBytes: total - avail}, nil
}

// TestDiskFullRefusesWrites lowers the free space the file system reports
// below Options.MinFreeBytes: appends are refused with ErrUnavailable while
// every read goes on over the same tree, and resume by themselves, with no
// gap, once the space is back.
func TestDiskFullRefusesWrites(t *testing.T) {
	fs := &spaceFS{FS: vfs.NewMem()}
	fs.total.Store(4 << 30)
	fs.avail.Store(2 << 30)
	opts := testOptions(t, fs, "db")
	opts.MinFreeBytes = 8 << 20
	l := openTest(t, opts)
	appendN(t, l, 40)
	early, err := l.SignCheckpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Writable(); err != nil {
		t.Fatalf("writable with space: %v", err)
	}

	fs.avail.Store(uint64(opts.MinFreeBytes) - 1)
	time.Sleep(150 * time.Millisecond) // the reading is at most 100ms old
	size, root := l.Head()
	ckpt := l.Checkpoint()
	for i := range 5 {
		_, err := l.Append(context.Background(), Records{record("test.entry", "L1", 100+i)})
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("append with the disk full: %v, want ErrUnavailable", err)
		}
	}
	if err := l.Writable(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Writable with the disk full: %v", err)
	}
	if _, err := l.SignCheckpoint(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("SignCheckpoint with the disk full: %v, want ErrUnavailable", err)
	}
	// Reads go on, and see nothing new.
	checkReadsUnchanged(t, l, size, root, ckpt, early)

	fs.avail.Store(uint64(opts.MinFreeBytes) + 1)
	time.Sleep(150 * time.Millisecond)
	if err := l.Writable(); err != nil {
		t.Fatalf("Writable with space back: %v", err)
	}
	rs := appendN(t, l, 10)
	if rs[0].First != size || rs[9].Size != size+10 {
		t.Fatalf("appends after the space came back: first %+v last %+v, tree was %d", rs[0], rs[9], size)
	}
	mustVerify(t, l, early)
}

// checkReadsUnchanged checks that a ledger refusing writes still serves
// entries, proofs, indexes, checkpoints and Verify over the tree it had.
func checkReadsUnchanged(t *testing.T, l *Ledger, size uint64, root tlog.Hash, ckpt, early []byte) {
	t.Helper()
	if s, r := l.Head(); s != size || r != root {
		t.Fatalf("head moved to %d while writes were refused (was %d)", s, size)
	}
	if _, err := l.Entry(size); !errors.Is(err, ErrNotFound) {
		t.Fatalf("entry %d past the tree: %v", size, err)
	}
	b, err := l.Entry(size - 1)
	if err != nil {
		t.Fatalf("read entry %d: %v", size-1, err)
	}
	proof, err := l.InclusionProof(size-1, size)
	if err != nil {
		t.Fatalf("inclusion proof: %v", err)
	}
	if err := tlog.CheckRecord(proof, int64(size), root, int64(size-1), tlog.RecordHash(b)); err != nil {
		t.Fatalf("inclusion proof does not check: %v", err)
	}
	if _, err := l.ConsistencyProof(1, size); err != nil {
		t.Fatalf("consistency proof: %v", err)
	}
	if _, err := l.IndexPage(IndexType, "test.entry", "", 5); err != nil {
		t.Fatalf("index page: %v", err)
	}
	if !bytes.Equal(l.Checkpoint(), ckpt) {
		t.Fatalf("the checkpoint changed while writes were refused")
	}
	if rep := mustVerify(t, l, early); rep.Entries != size {
		t.Fatalf("verify read %d entries, the tree has %d", rep.Entries, size)
	}
}

// logBuffer collects log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// sstableENOSPC fails every write and sync of an sstable with ENOSPC, as a
// full disk does.
func sstableENOSPC(op errorfs.Op) error {
	if !strings.HasSuffix(op.Path, ".sst") {
		return nil
	}
	switch op.Kind {
	case errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo, errorfs.OpFilePreallocate:
		return &os.PathError{Op: "write", Path: op.Path, Err: syscall.ENOSPC}
	}
	return nil
}

// TestBackgroundENOSPC fails the sstable writes of a flush with ENOSPC:
// Pebble reports it as a background error, the ledger refuses appends with
// ErrUnavailable while reads go on, and once the disk takes writes again the
// retried flush succeeds and appends resume by themselves.
func TestBackgroundENOSPC(t *testing.T) {
	counter := &errorfs.Counter{Injector: errorfs.InjectorFunc(sstableENOSPC)}
	toggle := &errorfs.Toggle{Injector: counter}
	logs := &logBuffer{}
	opts := testOptions(t, errorfs.Wrap(vfs.NewMem(), toggle), "db")
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelError}))
	l := openTest(t, opts)
	appendN(t, l, 40)
	early, err := l.SignCheckpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	size, root := l.Head()
	ckpt := l.Checkpoint()

	toggle.On()
	flushed, err := l.db.AsyncFlush()
	if err != nil {
		t.Fatalf("start flush: %v", err)
	}
	waitFor(t, 5*time.Second, "Writable to report ErrUnavailable after the failed flush", func() bool {
		return errors.Is(l.Writable(), ErrUnavailable)
	})
	if _, err := l.Append(context.Background(), Records{record("test.entry", "L1", 1000)}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("append after ENOSPC: %v, want ErrUnavailable", err)
	}
	select {
	case <-flushed:
		t.Fatalf("the flush completed while its writes fail")
	default:
	}
	checkReadsUnchanged(t, l, size, root, ckpt, early)
	injected := counter.Load()
	// The error as logged, without its stack trace.
	_, bgErr, _ := strings.Cut(firstLine(logs.String(), "pebble background error"), `err="`)
	bgErr, _, _ = strings.Cut(bgErr, `\n`)
	if !strings.Contains(bgErr, "no space left on device") {
		t.Errorf("the background error logged does not say ENOSPC: %q", bgErr)
	}

	toggle.Off()
	select {
	case <-flushed: // Pebble retried the flush, and it went through
	case <-time.After(10 * time.Second):
		t.Fatalf("the flush did not complete after the disk took writes again")
	}
	waitFor(t, 2*time.Second, "Writable to clear after the flush succeeded", func() bool { return l.Writable() == nil })
	if err := l.db.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if err := l.Writable(); err != nil {
		t.Fatalf("Writable after a good flush: %v", err)
	}
	rs := appendN(t, l, 10)
	if rs[0].First != size {
		t.Fatalf("first append after ENOSPC got seq %d, the tree had %d", rs[0].First, size)
	}
	mustVerify(t, l, early)
	t.Logf("%d sstable writes failed with ENOSPC; Pebble reported: %s", injected, bgErr)
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCompactionENOSPCRecovers: a compaction that fails with ENOSPC makes
// the ledger refuse writes, and Pebble does not retry it by itself. Once the
// disk takes writes again, a free-space reading above the reserve taken after
// the failure lets writes resume without a restart.
func TestCompactionENOSPCRecovers(t *testing.T) {
	var armed atomic.Bool
	toggle := &errorfs.Toggle{Injector: errorfs.InjectorFunc(sstableENOSPC)}
	fs := &spaceFS{FS: errorfs.Wrap(vfs.NewMem(), toggle)}
	fs.total.Store(4 << 30)
	fs.avail.Store(2 << 30)
	opts := testOptions(t, fs, "db")
	opts.MinFreeBytes = 1 << 20
	opts.Tune = func(o *pebble.Options) {
		o.L0CompactionThreshold = 2
		o.EventListener.CompactionBegin = func(pebble.CompactionInfo) {
			if armed.CompareAndSwap(false, true) {
				toggle.On()
			}
		}
	}
	l := openTest(t, opts)
	// Fill L0 until a compaction starts; flushes are not waited for, since
	// one caught by the injector only completes once the disk recovers.
	waitFor(t, 10*time.Second, "a compaction to start", func() bool {
		for i := range 20 {
			_, err := l.Append(context.Background(), Records{record("test.entry", "L1", i)})
			if err != nil && !errors.Is(err, ErrUnavailable) {
				t.Fatalf("append: %v", err)
			}
		}
		if _, err := l.db.AsyncFlush(); err != nil {
			t.Fatalf("flush: %v", err)
		}
		return armed.Load()
	})
	waitFor(t, 5*time.Second, "Writable to report ErrUnavailable after the failed compaction", func() bool {
		return errors.Is(l.Writable(), ErrUnavailable)
	})
	toggle.Off()
	waitFor(t, 5*time.Second, "Writable to clear once the disk shows free space again", func() bool {
		return l.Writable() == nil
	})
	size := l.Size()
	if rs := appendN(t, l, 5); rs[0].First != size {
		t.Fatalf("first append after recovery got seq %d, the tree had %d", rs[0].First, size)
	}
	mustVerify(t, l, nil)
}

// TestBackgroundENOSPCClearsOnFreeSpace pins down the rule that lifts a
// background ENOSPC when no flush or compaction comes to clear it: a
// free-space reading above the reserve taken after the error.
func TestBackgroundENOSPCClearsOnFreeSpace(t *testing.T) {
	fs := &spaceFS{FS: vfs.NewMem()}
	fs.total.Store(4 << 30)
	fs.avail.Store(512 << 10)
	opts := testOptions(t, fs, "db")
	opts.MinFreeBytes = 1 << 20
	l := openTest(t, opts)
	fs.avail.Store(2 << 30)
	waitFor(t, time.Second, "writes with free space", func() bool { return l.Writable() == nil })
	// What the event listener records when Pebble reports ENOSPC.
	l.bgFullAt.Store(time.Now().UnixNano())
	if err := l.Writable(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Writable right after ENOSPC: %v", err)
	}
	if _, err := l.Append(context.Background(), Records{record("test.entry", "L1", 1)}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("append right after ENOSPC: %v", err)
	}
	// The next reading (at most 100ms later) shows the reserve is there.
	waitFor(t, time.Second, "writes after a later free-space reading", func() bool { return l.Writable() == nil })
	appendN(t, l, 3)
	mustVerify(t, l, nil)
}
