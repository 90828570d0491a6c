package ledger

// "Nothing is served before it is durable" (docs/ledger.md, "How it keeps
// its promises"): Pebble makes a batch readable as soon as it is applied,
// before its WAL sync returns, so the ledger must keep every read, every
// receipt and every checkpoint to the groups whose sync has returned. These
// tests hold the WAL sync open through a vfs.FS wrapper, the way
// fault_test.go injects faults, and look at everything a reader can get
// while a group is written but not yet durable.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/mod/sumdb/tlog"
)

// holdFS is a vfs.FS whose WAL files (".log") wait in their syncs while the
// test holds them, and are slowed by delay otherwise. A held group is in
// Pebble's memtable, readable through the DB, and not on disk: the window
// the ledger must never serve from.
type holdFS struct {
	vfs.FS
	delay time.Duration // added to every WAL sync

	mu      sync.Mutex
	gate    chan struct{} // while set, WAL syncs wait for it to close
	waiting chan struct{} // told (without blocking) when a sync starts waiting
}

func newHoldFS(fs vfs.FS) *holdFS {
	return &holdFS{FS: fs, waiting: make(chan struct{}, 1)}
}

// hold makes every WAL sync from now on wait until release.
func (fs *holdFS) hold() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.gate == nil {
		fs.gate = make(chan struct{})
	}
}

// release lets the waiting syncs, and all later ones, through. It may be
// called when nothing is held.
func (fs *holdFS) release() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.gate != nil {
		close(fs.gate)
		fs.gate = nil
	}
}

// awaitHeld waits until a WAL sync is waiting on the gate.
func (fs *holdFS) awaitHeld(t *testing.T) {
	t.Helper()
	select {
	case <-fs.waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("no WAL sync reached the held gate in 10s")
	}
}

// beforeSync runs before each WAL sync reaches the file system below.
func (fs *holdFS) beforeSync() {
	fs.mu.Lock()
	gate := fs.gate
	fs.mu.Unlock()
	if gate != nil {
		select {
		case fs.waiting <- struct{}{}:
		default:
		}
		<-gate
	}
	if fs.delay > 0 {
		time.Sleep(fs.delay)
	}
}

// wrap holds the syncs of f if it is a WAL file.
func (fs *holdFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return holdFile{File: f, fs: fs}, nil
}

// Create implements vfs.FS.
func (fs *holdFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	return fs.wrap(name, f, err)
}

// OpenReadWrite implements vfs.FS.
func (fs *holdFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, c, opts...)
	return fs.wrap(name, f, err)
}

// ReuseForWrite implements vfs.FS: Pebble recycles WAL files through it.
func (fs *holdFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, c)
	return fs.wrap(newname, f, err)
}

// Unwrap implements vfs.FS.
func (fs *holdFS) Unwrap() vfs.FS { return fs.FS }

var _ vfs.FS = (*holdFS)(nil)

// holdFile is a WAL file of a holdFS. Pebble syncs the WAL through Sync or
// SyncData depending on the wrappers above it; both are held.
type holdFile struct {
	vfs.File
	fs *holdFS
}

func (f holdFile) Sync() error {
	f.fs.beforeSync()
	return f.File.Sync()
}

func (f holdFile) SyncData() error {
	f.fs.beforeSync()
	return f.File.SyncData()
}

func (f holdFile) SyncTo(length int64) (bool, error) {
	f.fs.beforeSync()
	return f.File.SyncTo(length)
}

// served is what the ledger serves about the tree, and how many of the held
// entries (seqs first to first+count-1) each kind of read reaches.
type served struct {
	size, headSize, readSize, ckptSize uint64
	headRoot                           string // base64

	entries     int // Entry
	readEntries int // Read → Reader.Entry
	learnerIdx  int // IndexPage by learner
	typeIdx     int // IndexPage by type
	readerIdx   int // Read → Reader.Index
	idempotency int // Read → Reader.Idempotency
	state       int // Read → Reader.Get of each entry's state key
	inclusion   int // InclusionProof(seq, seq+1)
	consistency int // ConsistencyProof(seq, seq+1) (from seq ≥ 1)
	roots       int // RootAt(seq+1)
}

// heldRecords are the records of the held proposal: each indexed under the
// learner L-held, with an idempotency key, listed by type.
func heldRecords(first uint64, count int) []Record {
	var rs []Record
	for i := range count {
		r := record("test.held", "L-held", int(first)+i)
		r.Idempotency = &IdempotencyKey{Scope: "held.example", Key: fmt.Sprintf("k-%d", int(first)+i)}
		rs = append(rs, r)
	}
	return rs
}

func heldStateKey(seq uint64) []byte { return fmt.Appendf(nil, "held/%d", seq) }

// observe reads everything a reader can about entries first to
// first+count-1. An error other than "not found" or "out of range" fails
// the test.
func observe(t *testing.T, l *Ledger, first uint64, count int) served {
	t.Helper()
	var s served
	s.size = l.Size()
	var root tlog.Hash
	s.headSize, root = l.Head()
	s.headRoot = root.String()
	c, err := OpenCheckpoint(l.Checkpoint(), testKeys().Verifier)
	if err != nil {
		t.Fatalf("the published checkpoint: %v", err)
	}
	s.ckptSize = c.Size
	found := func(err error, what string) int {
		t.Helper()
		switch {
		case err == nil:
			return 1
		case errors.Is(err, ErrNotFound), errors.Is(err, ErrRange):
			return 0
		}
		t.Fatalf("%s: %v", what, err)
		return 0
	}
	listed := func(seqs []uint64) int {
		n := 0
		for i := range count {
			if slices.Contains(seqs, first+uint64(i)) {
				n++
			}
		}
		return n
	}
	for i := range count {
		seq := first + uint64(i)
		_, err := l.Entry(seq)
		s.entries += found(err, fmt.Sprintf("entry %d", seq))
		_, err = l.InclusionProof(seq, seq+1)
		s.inclusion += found(err, fmt.Sprintf("inclusion of %d", seq))
		if seq > 0 {
			_, err = l.ConsistencyProof(seq, seq+1)
			s.consistency += found(err, fmt.Sprintf("consistency %d to %d", seq, seq+1))
		}
		_, err = l.RootAt(seq + 1)
		s.roots += found(err, fmt.Sprintf("root at %d", seq+1))
	}
	for name, n := range map[string]*int{"learner": &s.learnerIdx, IndexType: &s.typeIdx} {
		value := map[string]string{"learner": "L-held", IndexType: "test.held"}[name]
		page, err := l.IndexPage(name, value, "", 1000)
		if err != nil {
			t.Fatalf("index %s: %v", name, err)
		}
		*n = listed(page.Seqs)
	}
	err = l.Read(func(r *Reader) error {
		s.readSize = r.Size()
		var seqs []uint64
		if err := r.Index("learner", "L-held", 0, func(seq uint64) bool { seqs = append(seqs, seq); return true }); err != nil {
			return err
		}
		s.readerIdx = listed(seqs)
		for i := range count {
			seq := first + uint64(i)
			_, err := r.Entry(seq)
			s.readEntries += found(err, fmt.Sprintf("reader entry %d", seq))
			_, err = r.Get(heldStateKey(seq))
			s.state += found(err, fmt.Sprintf("state of %d", seq))
			rec, ok, err := r.Idempotency("held.example", fmt.Sprintf("k-%d", seq))
			if err != nil {
				return err
			}
			if ok && rec.Seq == seq {
				s.idempotency++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return s
}

// nothingOf is what a reader must see while the entries from first on are
// not durable: the tree as it was, and none of them.
func nothingOf(first uint64, root tlog.Hash) served {
	return served{size: first, headSize: first, readSize: first, ckptSize: first, headRoot: root.String()}
}

// allOf is what a reader must see once count entries from first are
// durable and a checkpoint covers them.
func allOf(first uint64, count int, root tlog.Hash) served {
	n := first + uint64(count)
	s := served{size: n, headSize: n, readSize: n, ckptSize: n, headRoot: root.String(),
		entries: count, readEntries: count, learnerIdx: count, typeIdx: count, readerIdx: count,
		idempotency: count, state: count, inclusion: count, consistency: count, roots: count}
	if first == 0 {
		s.consistency-- // no consistency proof from the empty tree
	}
	return s
}

// signAnswer is what SignCheckpoint returned.
type signAnswer struct {
	signed []byte
	err    error
}

// startSign asks for a checkpoint on another goroutine.
func startSign(l *Ledger) <-chan signAnswer {
	ch := make(chan signAnswer, 1)
	go func() {
		signed, err := l.SignCheckpoint(context.Background())
		ch <- signAnswer{signed, err}
	}()
	return ch
}

// awaitSign fails the test unless the checkpoint asked for is answered
// within d. A checkpoint is over the durable tree, so a ledger never needs
// to wait for a WAL sync to answer for one.
func awaitSign(t *testing.T, ch <-chan signAnswer, d time.Duration) Checkpoint {
	t.Helper()
	select {
	case a := <-ch:
		if a.err != nil {
			t.Fatalf("sign checkpoint: %v", a.err)
		}
		c, err := OpenCheckpoint(a.signed, testKeys().Verifier)
		if err != nil {
			t.Fatalf("signed checkpoint: %v", err)
		}
		return c
	case <-time.After(d):
		t.Fatalf("SignCheckpoint had not answered after %s: it waits on a group whose WAL sync is held, so it signed over entries that are not durable", d)
		return Checkpoint{}
	}
}

// signWithin asks for a checkpoint and waits for it as awaitSign does.
func signWithin(t *testing.T, l *Ledger, d time.Duration) Checkpoint {
	t.Helper()
	return awaitSign(t, startSign(l), d)
}

// TestNothingServedBeforeDurable holds the WAL sync of one group open and
// checks that, until the sync returns, no read reflects the group: size,
// head, the Reader, entries, both indexes, the idempotency record, the
// state, inclusion and consistency proofs and roots; the published
// checkpoint and one asked for stay over the durable tree, and the
// proposal is not acknowledged. Once the sync returns, every one of them
// reflects the group.
func TestNothingServedBeforeDurable(t *testing.T) {
	tests := []struct {
		name     string
		before   int  // entries appended and durable first
		count    int  // entries of the held proposal
		state    bool // the proposal also writes state
		asRecord bool // a plain Records proposal, checked before the sequencer
	}{
		{name: "first entry of an empty ledger", before: 0, count: 1, asRecord: true},
		{name: "one record", before: 5, count: 1, asRecord: true},
		{name: "records with state", before: 3, count: 4, state: true},
		{name: "after a larger tree", before: 37, count: 2, state: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newHoldFS(vfs.NewMem())
			opts := testOptions(t, fs, "ledger")
			opts.CheckpointInterval = 2 * time.Millisecond
			l := openTest(t, opts)
			t.Cleanup(fs.release) // before the ledger closes: cleanups run last first
			appendN(t, l, tt.before)
			n := uint64(tt.before)
			if c := signWithin(t, l, 5*time.Second); c.Size != n {
				t.Fatalf("checkpoint over %d entries before the hold, want %d", c.Size, n)
			}
			_, root := l.Head()
			want := nothingOf(n, root)
			if got := observe(t, l, n, tt.count); got != want {
				t.Fatalf("before the held append:\n got %+v\nwant %+v", got, want)
			}

			fs.hold()
			var p Proposal
			recs := heldRecords(n, tt.count)
			if tt.asRecord {
				p = Records(recs)
			} else {
				eff := Effect{Records: recs}
				if tt.state {
					for i := range tt.count {
						eff.State = append(eff.State, StateWrite{Key: heldStateKey(n + uint64(i)), Value: []byte("1")})
					}
				}
				p = effect(eff)
			}
			type result struct {
				r   Receipt
				err error
			}
			done := make(chan result, 1)
			go func() {
				r, err := l.Append(context.Background(), p)
				done <- result{r, err}
			}()
			fs.awaitHeld(t)

			// The group is applied and its sync held. Ask for a checkpoint,
			// and look for a while, long enough for many checkpoint ticks.
			sign := startSign(l)
			for i := 0; i < 50; i++ {
				if got := observe(t, l, n, tt.count); got != want {
					t.Fatalf("with the WAL sync held (look %d), the ledger serves what is not durable:\n got %+v\nwant %+v", i, got, want)
				}
				select {
				case r := <-done:
					t.Fatalf("append acknowledged with its WAL sync held: %+v, %v", r.r, r.err)
				default:
				}
				time.Sleep(opts.CheckpointInterval)
			}
			if c := awaitSign(t, sign, 5*time.Second); c.Size != n {
				t.Fatalf("a checkpoint asked for while the WAL sync is held is over %d entries; %d are durable", c.Size, n)
			}

			fs.release()
			var r result
			select {
			case r = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("append not acknowledged 10s after its WAL sync was released")
			}
			if r.err != nil {
				t.Fatalf("append: %v", r.err)
			}
			end := n + uint64(tt.count)
			if r.r.First != n || r.r.Count != tt.count || r.r.Size != end {
				t.Fatalf("receipt %+v, want first %d, count %d, size %d", r.r, n, tt.count, end)
			}
			c := signWithin(t, l, 5*time.Second)
			if c.Size != end {
				t.Fatalf("checkpoint over %d entries after the sync, want %d", c.Size, end)
			}
			want = allOf(n, tt.count, c.Root)
			if !tt.state {
				want.state = 0 // nothing wrote the state keys
			}
			if got := observe(t, l, n, tt.count); got != want {
				t.Fatalf("after the WAL sync returned:\n got %+v\nwant %+v", got, want)
			}
			// The root is the RFC 6962 root of what is served, and each held
			// entry is proved in it.
			for i := range tt.count {
				seq := n + uint64(i)
				data, err := l.Entry(seq)
				if err != nil {
					t.Fatal(err)
				}
				p, err := l.InclusionProof(seq, end)
				if err != nil {
					t.Fatal(err)
				}
				if err := tlog.CheckRecord(p, int64(end), c.Root, int64(seq), tlog.RecordHash(data)); err != nil {
					t.Fatalf("entry %d is not proved in the checkpoint's root: %v", seq, err)
				}
			}
			mustVerify(t, l, nil)
		})
	}
}

// TestCheckpointsNeverAheadOfDurable runs appenders, readers, a checkpoint
// signer and a power cutter together, with WAL syncs slowed a little so
// that groups spend time applied but not durable. Every checkpoint a
// reader gets is over at most the durable size read right after it, and
// its entries are readable and proved in its root. Now and then the
// cutter reads the published checkpoint and size, then clones the file
// system as a power cut would leave it (only what was synced) and opens a
// ledger on the clone: it holds at least that size, and the checkpoint's
// root. That last check does not rely on the ledger's own idea of what is
// durable.
func TestCheckpointsNeverAheadOfDurable(t *testing.T) {
	mem := vfs.NewCrashableMem()
	fs := newHoldFS(mem)
	fs.delay = 300 * time.Microsecond
	opts := testOptions(t, fs, "ledger")
	opts.CheckpointInterval = time.Millisecond
	l := openTest(t, opts)

	duration := 1500 * time.Millisecond
	if testing.Short() {
		duration = 500 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var wg sync.WaitGroup
	var appended, reads, cuts atomic.Int64
	fail := make(chan string, 16)
	failf := func(format string, args ...any) {
		select {
		case fail <- fmt.Sprintf(format, args...):
		default:
		}
		cancel()
	}

	for g := range 8 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				recs := make(Records, 1+i%3)
				for j := range recs {
					recs[j] = record("test.entry", fmt.Sprintf("L%d", g), i)
				}
				if _, err := l.Append(context.Background(), recs); err != nil {
					failf("append: %v", err)
					return
				}
				appended.Add(int64(len(recs)))
			}
		})
	}
	for range 3 {
		wg.Go(func() {
			for ctx.Err() == nil {
				c, err := OpenCheckpoint(l.Checkpoint(), testKeys().Verifier)
				if err != nil {
					failf("published checkpoint: %v", err)
					return
				}
				if size := l.Size(); c.Size > size {
					failf("a checkpoint over %d entries was served when %d were durable", c.Size, size)
					return
				}
				if msg := checkCheckpointServed(l, c); msg != "" {
					failf("%s", msg)
					return
				}
				reads.Add(1)
				// Leave the appenders the processor now and then.
				time.Sleep(50 * time.Microsecond)
			}
		})
	}
	wg.Go(func() {
		for ctx.Err() == nil {
			signed, err := l.SignCheckpoint(context.Background())
			if err != nil {
				failf("sign checkpoint: %v", err)
				return
			}
			c, err := OpenCheckpoint(signed, testKeys().Verifier)
			if err != nil {
				failf("signed checkpoint: %v", err)
				return
			}
			if size := l.Size(); c.Size > size {
				failf("SignCheckpoint returned a checkpoint over %d entries when %d were durable", c.Size, size)
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
		for ctx.Err() == nil {
			time.Sleep(time.Duration(20+rng.IntN(80)) * time.Millisecond)
			if ctx.Err() != nil {
				return
			}
			if msg := powerCutCheck(t, l, mem); msg != "" {
				failf("%s", msg)
				return
			}
			cuts.Add(1)
		}
	})
	wg.Wait()
	close(fail)
	for msg := range fail {
		t.Error(msg)
	}
	if t.Failed() {
		return
	}
	if reads.Load() == 0 || cuts.Load() == 0 || appended.Load() == 0 {
		t.Fatalf("the run did too little: %d entries, %d checkpoint reads, %d power cuts", appended.Load(), reads.Load(), cuts.Load())
	}
	t.Logf("%d entries appended; %d checkpoints read, each within the durable tree; %d power-cut clones, each holding what was served before it",
		appended.Load(), reads.Load(), cuts.Load())
}

// checkCheckpointServed checks that c's entries are readable and that its
// root is the served tree's at its size, proving its last entry in it. It
// returns what is wrong, or "".
func checkCheckpointServed(l *Ledger, c Checkpoint) string {
	if c.Size == 0 {
		return ""
	}
	last, err := l.Entry(c.Size - 1)
	if err != nil {
		return fmt.Sprintf("checkpoint over %d entries, but entry %d cannot be read: %v", c.Size, c.Size-1, err)
	}
	root, err := l.RootAt(c.Size)
	if err != nil {
		return fmt.Sprintf("checkpoint over %d entries, but no root at that size: %v", c.Size, err)
	}
	if root != c.Root {
		return fmt.Sprintf("checkpoint over %d entries has a root other than the tree's", c.Size)
	}
	p, err := l.InclusionProof(c.Size-1, c.Size)
	if err != nil {
		return fmt.Sprintf("inclusion of %d in %d: %v", c.Size-1, c.Size, err)
	}
	if err := tlog.CheckRecord(p, int64(c.Size), c.Root, int64(c.Size-1), tlog.RecordHash(last)); err != nil {
		return fmt.Sprintf("entry %d is not proved in the checkpoint over %d: %v", c.Size-1, c.Size, err)
	}
	return ""
}

// powerCutCheck reads the published checkpoint and durable size, then
// clones mem keeping only what was synced and opens a read-only ledger on
// the clone: it must hold at least that size, and the checkpoint's root.
// It returns what is wrong, or "".
func powerCutCheck(t *testing.T, l *Ledger, mem *vfs.MemFS) string {
	signed := l.Checkpoint()
	size := l.Size()
	clone := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	opts := testOptions(t, clone, "ledger")
	opts.ReadOnly = true
	cl, err := Open(opts)
	if err != nil {
		return fmt.Sprintf("open the power-cut clone: %v", err)
	}
	defer cl.Close()
	if err := cl.Integrity(); err != nil {
		return fmt.Sprintf("power-cut clone: %v", err)
	}
	c, err := OpenCheckpoint(signed, testKeys().Verifier)
	if err != nil {
		return fmt.Sprintf("published checkpoint: %v", err)
	}
	kept := cl.Size()
	if kept < size || kept < c.Size {
		return fmt.Sprintf("a power cut keeps %d entries, but %d were served as durable and the published checkpoint covers %d", kept, size, c.Size)
	}
	root, err := cl.RootAt(c.Size)
	if err != nil || root != c.Root {
		return fmt.Sprintf("after a power cut the tree at %d has another root than the checkpoint served before it (%v)", c.Size, err)
	}
	return ""
}
