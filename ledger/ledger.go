package ledger

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/mod/sumdb/tlog"
)

// Errors a caller may branch on.
var (
	// ErrNotFound: no such entry, index key or state within the durable tree.
	ErrNotFound = errors.New("ledger: not found")
	// ErrUnavailable: the ledger refuses writes for now (the disk is full or
	// Pebble reported a background write error); reads go on and writes
	// resume by themselves once the cause is gone.
	ErrUnavailable = errors.New("ledger: not accepting writes")
	// ErrCorrupt: the store failed its integrity check on open; the ledger
	// serves reads for inspection but refuses every write.
	ErrCorrupt = errors.New("ledger: store failed its integrity check")
	// ErrFailed: Pebble hit an error it cannot go on from; nothing more is
	// acknowledged and the process must restart.
	ErrFailed = errors.New("ledger: store failed")
	// ErrClosed: the ledger is closed.
	ErrClosed = errors.New("ledger: closed")
	// ErrReadOnly: the ledger was opened read-only.
	ErrReadOnly = errors.New("ledger: opened read-only")
	// ErrRange: a proof or page was asked for sizes or positions the
	// durable tree does not have.
	ErrRange = errors.New("ledger: out of range")
)

// Options configure [Open]. Dir and Keys are required.
type Options struct {
	// Dir is the Pebble folder.
	Dir string
	// FS is the file system Pebble runs on; vfs.Default when nil. Tests pass
	// vfs.NewCrashableMem() or an errorfs wrapper.
	FS vfs.FS
	// Keys sign checkpoints; the signer's name is the checkpoint origin.
	Keys Keys
	// Clock gives the time stamped on each group of entries; time.Now when nil.
	// Entries never go back in time even if the clock does.
	Clock func() time.Time
	// CheckpointInterval is how often a new checkpoint is signed while the
	// tree grows; 1s when zero.
	CheckpointInterval time.Duration
	// MaxGroup bounds how many proposals share one Pebble batch; 1024 when zero.
	MaxGroup int
	// CacheBytes is the size of Pebble's block cache; 256 MiB when zero.
	CacheBytes int64
	// MinFreeBytes: writes are refused while the disk holding Dir has less
	// free space than this; 64 MiB when zero, never when negative.
	MinFreeBytes int64
	// ReadOnly opens the store for reading only (for audits and backups).
	ReadOnly bool
	// Logger receives the ledger's and Pebble's log lines; slog.Default when nil.
	Logger *slog.Logger
	// OnFatal is called when Pebble hits an error it cannot go on from (a
	// failed WAL write or sync). It should stop the process; the default logs
	// and exits with status 70. If it returns, the goroutine that hit the
	// error blocks forever, so nothing after the failure is acknowledged.
	OnFatal func(error)
	// Tune, if set, may adjust Pebble's options before the store opens.
	Tune func(*pebble.Options)
	// OnGroup, if set, is called after each group is durable, from the
	// goroutine that waits for syncs: it must be quick (update metrics).
	OnGroup func(GroupStats)
}

// GroupStats describes one committed group, for metrics.
type GroupStats struct {
	Proposals int // proposals in the group, accepted or not
	Rejected  int // proposals whose Decide failed
	Entries   int // entries appended
	Bytes     int // size of the Pebble batch
	// Decide is the time spent deciding and building the batch, Apply the
	// time from then until Pebble had taken it (the group ahead applied,
	// then the WAL write and memtable inserts, while the next group is
	// decided), Sync the time from then until the WAL sync finished.
	Decide, Apply, Sync time.Duration
}

// Ledger is the journal. All methods are safe for concurrent use. Reads see
// the tree as of the last synced group and never anything beyond it.
// The caller must call Close.
type Ledger struct {
	opts     Options
	db       *pebble.DB
	log      *slog.Logger
	origin   string
	clock    func() time.Time
	queue    chan *pending
	syncq    chan *syncing
	syncDone chan struct{}
	stop     chan struct{}
	stopped  chan struct{}
	ckptReq  chan chan ckptResult
	inflight sync.WaitGroup

	mu     sync.Mutex // guards closed
	closed bool

	// Sequencer-owned state: the head of the groups decided, the group
	// being applied and a snapshot of the store without it, and the latest
	// checkpoint.
	head      head
	applyq    chan *groupBatch
	applying  *groupBatch
	applyBase *pebble.Snapshot
	lastGroup groupSize // of the group decided last, to size the next
	ckptSize  uint64
	lastCkpt  time.Time
	hashCache *hashCache

	durableMu sync.RWMutex // guards cur
	cur       *durable
	ckpt      atomic.Pointer[[]byte] // latest durable signed checkpoint
	ckptPub   atomic.Uint64          // the size it is over
	ckptAt    atomic.Int64           // when the latest checkpoint was signed or loaded, Unix ns

	integrity error        // set on open when the integrity check fails
	failed    atomic.Bool  // Pebble reported a fatal error
	bgFullAt  atomic.Int64 // when Pebble last reported ENOSPC in the background (Unix ns), 0 if cleared
	diskFree  atomic.Int64 // last free-space reading, -1 when unknown
	diskAt    atomic.Int64 // when diskFree was read, Unix nanoseconds
}

// durable is a Pebble snapshot taken right after a group synced, with the
// tree head it holds. Readers take a reference; the last one closes it.
type durable struct {
	snap *pebble.Snapshot
	head head
	refs atomic.Int32
}

func (d *durable) release() {
	if d.refs.Add(-1) == 0 {
		d.snap.Close()
	}
}

// emptyRoot is the RFC 6962 hash of the empty tree, SHA-256 of nothing.
var emptyRoot = tlog.Hash(sha256.Sum256(nil))

// Open opens or creates the ledger in opts.Dir. It fails if Pebble cannot
// open the store; a store that opens but fails the integrity check is
// returned with [Ledger.Integrity] reporting why, and refuses writes.
func Open(opts Options) (*Ledger, error) {
	if opts.Dir == "" {
		return nil, errors.New("ledger: no folder given")
	}
	if opts.Keys.Signer == nil || opts.Keys.Verifier == nil {
		return nil, errors.New("ledger: no signing key given")
	}
	if opts.FS == nil {
		opts.FS = vfs.Default
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = time.Second
	}
	if opts.MaxGroup <= 0 {
		opts.MaxGroup = 1024
	}
	if opts.MinFreeBytes == 0 {
		opts.MinFreeBytes = 64 << 20
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = 256 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	l := &Ledger{
		opts:      opts,
		log:       opts.Logger,
		origin:    opts.Keys.Signer.Name(),
		clock:     opts.Clock,
		queue:     make(chan *pending, 4096),
		syncq:     make(chan *syncing, 1),
		applyq:    make(chan *groupBatch),
		syncDone:  make(chan struct{}),
		stop:      make(chan struct{}),
		stopped:   make(chan struct{}),
		ckptReq:   make(chan chan ckptResult),
		hashCache: newHashCache(),
	}
	if opts.OnFatal == nil {
		l.opts.OnFatal = func(err error) {
			l.log.Error("store failed; stopping", "err", err)
			os.Exit(70)
		}
	}
	l.diskFree.Store(-1)
	po := storeOptions(opts.FS, opts.CacheBytes)
	defer po.Cache.Unref()
	po.ReadOnly = opts.ReadOnly
	po.Logger = pebbleLogger{l}
	po.EventListener = &pebble.EventListener{
		BackgroundError: func(err error) {
			l.log.Error("pebble background error", "err", err)
			if errors.Is(err, syscall.ENOSPC) {
				l.bgFullAt.Store(time.Now().UnixNano())
			}
		},
		FlushEnd: func(info pebble.FlushInfo) {
			if info.Err == nil {
				l.bgFullAt.Store(0)
			}
		},
		CompactionEnd: func(info pebble.CompactionInfo) {
			if info.Err == nil {
				l.bgFullAt.Store(0)
			}
		},
	}
	if opts.Tune != nil {
		opts.Tune(po)
	}
	db, err := pebble.Open(opts.Dir, po)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", opts.Dir, err)
	}
	l.db = db
	l.hashCache.db = db
	if err := l.load(); err != nil {
		l.integrity = err
		l.log.Error("ledger failed its integrity check; refusing writes", "err", err)
	}
	l.publish(db.NewSnapshot(), l.head)
	if opts.ReadOnly || l.integrity != nil {
		close(l.stopped)
		return l, nil
	}
	if l.ckpt.Load() == nil || l.ckptSize < l.head.size {
		if _, err := l.signCheckpoint(); err != nil {
			db.Close()
			return nil, err
		}
	}
	go l.run()
	return l, nil
}

// StoreOptions returns the Pebble options the ledger opens its store with,
// apart from logging and events, so that a benchmark can open raw Pebble the
// same way. The options hold a new block cache of cacheBytes: the caller
// unrefs it (po.Cache.Unref()) once the store is open.
func StoreOptions(cacheBytes int64) *pebble.Options { return storeOptions(nil, cacheBytes) }

// maxOpenFiles is how many files Pebble may keep open: most of what the
// process may open, less room for connections and the rest.
func maxOpenFiles() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur < 2000 {
		return 1000
	}
	return int(min(rl.Cur-1000, 1<<16))
}

// valueSeparationMinimum is the smallest value stored in a blob file: entries
// are bigger, the state and index values smaller.
const valueSeparationMinimum = 256

// storeOptions are the Pebble options of the ledger's store, apart from
// logging and events; the benchmarks open their raw-Pebble baseline with the
// same. The caller must Unref the cache once the store is open.
func storeOptions(fs vfs.FS, cacheBytes int64) *pebble.Options {
	po := &pebble.Options{
		FS:    fs,
		Cache: pebble.NewCache(cacheBytes),
		// Writes come in synced groups of up to a few MiB: a larger
		// memtable means fewer flushes and fewer L0 files to read through.
		MemTableSize:       64 << 20,
		FormatMajorVersion: pebble.FormatNewest,
		// StateWrite.Append relies on merges concatenating; the merger's
		// name is stored with the data, so it can never change.
		Merger: pebble.DefaultMerger,
		// Pebble's default of 1,000 open files is reached near ten million
		// entries (tables and blob files), and past it every read may open
		// a file again and reread its index and filter: transcripts, whose
		// entries lie all over the ledger, slowed down by half.
		MaxOpenFiles: maxOpenFiles(),
	}
	// Bloom filters spare the point lookups that usually miss (a new
	// idempotency key, a learner's first outcome) a read of every table.
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	// Entries are large, written once and never overwritten or deleted:
	// separated into blob files at flush, they are not rewritten by every
	// compaction that moves their keys down the levels, which was most of
	// the CPU compactions took. With nothing ever deleted there is no
	// garbage to collect, so blob files are never rewritten for space.
	po.Experimental.ValueSeparationPolicy = func() pebble.ValueSeparationPolicy {
		return pebble.ValueSeparationPolicy{
			Enabled:               true,
			MinimumSize:           valueSeparationMinimum,
			MaxBlobReferenceDepth: 10,
			RewriteMinimumAge:     5 * time.Minute,
			TargetGarbageRatio:    1.0,
		}
	}
	return po
}

// load reads the head and the latest checkpoint and checks that the store
// holds what they say: no entry past the head, the last leaf hashed as
// stored, the root recomputed from the stored hashes, and the checkpoint
// signed by our key over a prefix of this tree.
func (l *Ledger) load() error {
	v, closer, err := l.db.Get(headKey)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		l.head = head{root: emptyRoot}
	case err != nil:
		return fmt.Errorf("read tree head: %w", err)
	default:
		h, err := decodeHead(v)
		closer.Close()
		if err != nil {
			return err
		}
		l.head = h
	}
	h := l.head
	// Nothing may lie past the head.
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: entryKey(h.size), UpperBound: []byte{tagEntry + 1}})
	if err != nil {
		return fmt.Errorf("scan entries: %w", err)
	}
	extra := it.First()
	it.Close()
	if extra {
		return fmt.Errorf("entries stored past the tree size %d", h.size)
	}
	hr := l.dbHashes(l.db)
	if h.size > 0 {
		last, err := getCopy(l.db, entryKey(h.size-1))
		if err != nil {
			return fmt.Errorf("entry %d: %w", h.size-1, err)
		}
		e, err := ParseEntry(last)
		if err != nil {
			return fmt.Errorf("entry %d: %w", h.size-1, err)
		}
		if e.Seq != h.size-1 {
			return fmt.Errorf("entry %d holds seq %d", h.size-1, e.Seq)
		}
		stored, err := hr.ReadHashes([]int64{tlog.StoredHashIndex(0, int64(h.size-1))})
		if err != nil {
			return fmt.Errorf("leaf hash %d: %w", h.size-1, err)
		}
		if stored[0] != tlog.RecordHash(last) {
			return fmt.Errorf("entry %d does not match its leaf hash", h.size-1)
		}
	}
	root, err := treeHash(h.size, hr)
	if err != nil {
		return fmt.Errorf("tree hash: %w", err)
	}
	if root != h.root {
		return fmt.Errorf("stored hashes give a root other than the tree head's at size %d", h.size)
	}
	// The latest checkpoint.
	it, err = l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{tagCheckpoint}, UpperBound: []byte{tagCheckpoint + 1}})
	if err != nil {
		return fmt.Errorf("scan checkpoints: %w", err)
	}
	defer it.Close()
	if !it.Last() {
		return nil
	}
	signed := append([]byte(nil), it.Value()...)
	// Kept even if the checks below fail, so that Verify compares it with
	// the entries and says what is wrong; a store that fails takes no writes.
	l.ckpt.Store(&signed)
	c, err := OpenCheckpoint(signed, l.opts.Keys.Verifier)
	if err != nil {
		return fmt.Errorf("latest checkpoint: %w", err)
	}
	if c.Size > h.size {
		return fmt.Errorf("latest checkpoint is over %d entries but the tree has %d", c.Size, h.size)
	}
	croot, err := treeHash(c.Size, hr)
	if err != nil {
		return fmt.Errorf("tree hash at %d: %w", c.Size, err)
	}
	if croot != c.Root {
		return fmt.Errorf("latest checkpoint's root differs from the tree's at size %d", c.Size)
	}
	l.ckptSize = c.Size
	l.ckptPub.Store(c.Size)
	l.ckptAt.Store(time.Now().UnixNano())
	return nil
}

// publish makes snap, which holds the tree up to h, the durable view readers
// see. It is called on open and by syncLoop once h's group has synced.
func (l *Ledger) publish(snap *pebble.Snapshot, h head) {
	d := &durable{snap: snap, head: h}
	d.refs.Store(1)
	l.durableMu.Lock()
	old := l.cur
	l.cur = d
	l.durableMu.Unlock()
	if old != nil {
		old.release()
	}
}

func (l *Ledger) acquire() *durable {
	l.durableMu.RLock()
	d := l.cur
	d.refs.Add(1)
	l.durableMu.RUnlock()
	return d
}

// Close stops accepting appends, waits for those in flight, signs a last
// checkpoint if the tree grew since the previous one, and closes the store.
func (l *Ledger) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	l.mu.Unlock()
	if l.failed.Load() {
		// Pebble's commit pipeline is wedged and the sequencer blocked for
		// good; waiting for it, or closing the store, could hang.
		return ErrFailed
	}
	l.inflight.Wait()
	select {
	case <-l.stopped:
	default:
		close(l.stop)
		<-l.stopped
	}
	l.durableMu.Lock()
	d := l.cur
	l.cur = nil
	l.durableMu.Unlock()
	d.release()
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// Store is the Pebble store the ledger keeps its keys in, for data kept
// beside the ledger in the same store and the same backups but outside its
// tree: the access log, under keys that start with [AccessTag]. Whoever
// writes through it writes only under such a tag, never the ledger's keys;
// what it writes is not an entry, is not hashed, verified or served by the
// ledger, and is durable only as its own batches are synced. Reads through
// it see the latest writes, not the durable view the ledger serves. The
// ledger owns the store: stop writing before [Ledger.Close], which closes it.
func (l *Ledger) Store() *pebble.DB { return l.db }

// CheckpointTime is when the latest checkpoint was signed (or, for one
// signed before the ledger opened, when it was loaded).
func (l *Ledger) CheckpointTime() time.Time { return time.Unix(0, l.ckptAt.Load()) }

// StoreMetrics returns Pebble's own metrics of the store.
func (l *Ledger) StoreMetrics() *pebble.Metrics { return l.db.Metrics() }

// Origin is the checkpoint origin line and the signing key's name.
func (l *Ledger) Origin() string { return l.origin }

// VerifierKey is the checkpoint verifier key in note format.
func (l *Ledger) VerifierKey() string { return l.opts.Keys.VerifierKey }

// Integrity reports why the store failed its integrity check on open, or nil.
func (l *Ledger) Integrity() error { return l.integrity }

// Writable reports whether an append would be accepted now, and if not why:
// ErrReadOnly, ErrCorrupt, ErrFailed, ErrClosed or ErrUnavailable (wrapped).
func (l *Ledger) Writable() error {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return l.refusal()
}

// refusal is Writable without the closed check: the sequencer goes on
// writing what was queued before Close.
func (l *Ledger) refusal() error {
	switch {
	case l.opts.ReadOnly:
		return ErrReadOnly
	case l.integrity != nil:
		return fmt.Errorf("%w: %v", ErrCorrupt, l.integrity)
	case l.failed.Load():
		return ErrFailed
	}
	if err := l.checkDiskSpace(); err != nil {
		return err
	}
	// After a background ENOSPC, writes wait for a flush or compaction to
	// succeed, or for a free-space reading taken since that shows the reserve
	// is back (Pebble does not retry a failed compaction by itself, and with
	// writes refused no flush would come to clear it).
	if at := l.bgFullAt.Load(); at != 0 {
		if l.diskAt.Load() > at && l.diskFree.Load() >= max(l.opts.MinFreeBytes, 1) {
			l.bgFullAt.CompareAndSwap(at, 0)
			return nil
		}
		return fmt.Errorf("%w: the store reported the disk full", ErrUnavailable)
	}
	return nil
}

// checkDiskSpace refuses writes while free space is under MinFreeBytes. The
// reading is refreshed at most every 100ms; file systems that cannot tell
// (in-memory ones) are never refused.
func (l *Ledger) checkDiskSpace() error {
	if l.opts.MinFreeBytes < 0 {
		return nil
	}
	now := time.Now().UnixNano()
	if now-l.diskAt.Load() > int64(100*time.Millisecond) {
		free := int64(-1)
		if u, err := l.opts.FS.GetDiskUsage(l.opts.Dir); err == nil && u.TotalBytes > 0 {
			free = int64(u.AvailBytes)
		}
		l.diskFree.Store(free)
		l.diskAt.Store(now)
	}
	if free := l.diskFree.Load(); free >= 0 && free < l.opts.MinFreeBytes {
		return fmt.Errorf("%w: %d bytes free on disk, below the %d kept in reserve", ErrUnavailable, free, l.opts.MinFreeBytes)
	}
	return nil
}

// pebbleLogger sends Pebble's log lines to slog and turns Fatalf into OnFatal.
type pebbleLogger struct{ l *Ledger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.log.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.log.Error("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.fatal(fmt.Errorf("%w: pebble: "+format, append([]any{ErrFailed}, args...)...))
}

// fatal stops all writing for good and hands err to OnFatal. It never
// returns: the goroutine that hit the failure must not go on to acknowledge
// anything.
func (l *Ledger) fatal(err error) {
	l.failed.Store(true)
	l.opts.OnFatal(err)
	select {}
}

// getCopy reads one key and returns a copy of its value.
func getCopy(r pebble.Reader, key []byte) ([]byte, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), v...)
	if err := closer.Close(); err != nil {
		return nil, err
	}
	return out, nil
}

var _ io.Closer = (*Ledger)(nil)
