// Package access keeps the access log of docs/contract.md section 7: a
// record of every read of a learner's record by anyone but the learner
// (who, in which role, what, when, under which grant), listed for the
// learner newest first and kept for a configured retention period.
//
// The records live in the ledger's Pebble store under keys of their own
// (ledger.AccessTag, keys.go), not in the ledger: reads are frequent, and
// hashing each into the Merkle tree would make every read a write to the
// tree. They are written off the request path: [Log.Record] puts a record
// in a buffered channel and one goroutine commits what it received in one
// synced batch at least every [Options.FlushInterval] (a second), so that a
// crash loses at most the records of the last interval, and a read never
// waits for a disk. A second goroutine deletes the records older than the
// retention period once at start and then every [Options.PruneInterval].
//
// A learner is keyed by the name the caller gives, which for the bank is the
// learner's reference (accreditation.Bank.LearnerRef), never the id itself
// once the learner has one, so that the log holds nothing that names a
// person. [Log.Erase] deletes every record of a learner when their personal
// data is erased (docs/contract.md section 11).
package access

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Record is one read of a learner's record.
type Record struct {
	// Learner is the key of the learner whose record was read: the
	// learner's reference in the bank (accreditation.Bank.LearnerRef), or
	// for a learner the bank names by their id, that id in canonical form
	// (accreditation.CanonicalLearnerID).
	Learner string
	// Who is the reader, as "role:id" (institution:univ.example).
	Who string
	// Role is the reader's role: admin, regulator or institution.
	Role string
	// What is what was read: transcript, balance, grants, credentials or
	// access-log.
	What string
	// When is the server's time of the read, UTC; Record sets it when zero.
	When time.Time
	// Grant is the id of the learner's grant the read was made under, or
	// empty when none was needed.
	Grant string
}

// Defaults of [Options].
const (
	// DefaultRetention is five years of 365.25 days, the period version 2
	// of the contract asks the access log to be kept at least.
	DefaultRetention     = 5 * 8766 * time.Hour
	DefaultFlushInterval = time.Second
	DefaultPruneInterval = time.Hour
	// DefaultBuffer records wait at most for the writer: at 10,000
	// recorded reads a second, six seconds of them.
	DefaultBuffer = 1 << 16
	// DefaultMaxWait is how long Record waits for room in a full buffer
	// before it drops the record: one flush interval, by when the writer
	// has taken a whole batch off the buffer unless the store is stuck.
	DefaultMaxWait = time.Second
)

// maxBatch is the most records committed in one batch, so that a burst is
// written as several batches of a bounded size.
const maxBatch = 4096

// Options configure a [Log]. The zero value of each field takes its
// default.
type Options struct {
	// Retention is how long a record is kept; older ones are pruned.
	Retention time.Duration
	// FlushInterval is the longest a record waits before it is committed
	// and synced: the most a crash can lose.
	FlushInterval time.Duration
	// PruneInterval is how often records older than Retention are
	// deleted (and once when the log opens).
	PruneInterval time.Duration
	// Buffer is how many records may wait for the writer.
	Buffer int
	// MaxWait bounds how long Record waits for room in a full buffer.
	MaxWait time.Duration
	// Clock is the time of reads and of pruning; time.Now when nil.
	Clock func() time.Time
	// Logger logs write and prune failures and dropped records.
	Logger *slog.Logger
}

// Log is the access log. Record is safe for concurrent use. The caller
// must call Close, before closing the store it writes to.
type Log struct {
	db    *pebble.DB
	opts  Options
	clock func() time.Time
	log   *slog.Logger

	in       chan Record
	flushReq chan chan struct{}
	eraseReq chan eraseRequest
	stop     chan struct{}
	wg       sync.WaitGroup
	seq      uint64 // the writer's: the seq of the next record
	// erased holds the learners erased since the log opened; the writer's
	// alone. A read served just before a learner's erasure may queue its
	// record after Erase has run: the writer discards it instead of
	// writing it back. Erasures are rare (one per learner's request), so
	// the set stays small.
	erased map[string]struct{}

	mu     sync.RWMutex // Record holds it read; Close takes it to set closed
	closed bool

	written, dropped, failed, pruned, erasedRecords atomic.Uint64
}

// Open starts the access log on db (the ledger's store,
// ledger.Ledger.Store): it reads the next seq, starts the writer and the
// pruner, which prunes once at once. It writes only keys that start with
// ledger.AccessTag.
func Open(db *pebble.DB, opts Options) (*Log, error) {
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.PruneInterval <= 0 {
		opts.PruneInterval = DefaultPruneInterval
	}
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = DefaultMaxWait
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Log{db: db, opts: opts, clock: opts.Clock, log: opts.Logger,
		in: make(chan Record, opts.Buffer), flushReq: make(chan chan struct{}), eraseReq: make(chan eraseRequest),
		stop: make(chan struct{}), erased: map[string]struct{}{}}
	v, closer, err := db.Get(seqKey)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("access: read next seq: %w", err)
	default:
		if len(v) != 8 {
			closer.Close()
			return nil, fmt.Errorf("access: next seq is %d bytes, want 8", len(v))
		}
		l.seq = beUint64(v)
		closer.Close()
	}
	l.wg.Add(2)
	go l.write()
	go l.pruneLoop()
	return l, nil
}

func beUint64(b []byte) uint64 {
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

// Record queues r to be written and reports whether it was queued. It
// returns at once unless the buffer is full; then it waits up to
// Options.MaxWait for room, slowing the read that made it rather than
// leaving a read unrecorded, and past that drops r, counts it in
// creditbank_access_records_dropped_total and logs it: a dropped record is
// a gap in what the learner is shown, so it is never silent. A record
// after Close, or one whose learner is empty or holds a 0x00, is dropped
// too.
func (l *Log) Record(r Record) bool {
	if r.When.IsZero() {
		r.When = l.clock()
	}
	r.When = r.When.UTC()
	if r.Learner == "" || strings.IndexByte(r.Learner, 0) >= 0 {
		l.drop(r, "no learner id")
		return false
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		l.drop(r, "the access log is closed")
		return false
	}
	select {
	case l.in <- r:
		return true
	default:
	}
	t := time.NewTimer(l.opts.MaxWait)
	defer t.Stop()
	select {
	case l.in <- r:
		return true
	case <-t.C:
		l.drop(r, "the buffer stayed full")
		return false
	}
}

func (l *Log) drop(r Record, why string) {
	l.dropped.Add(1)
	l.log.Error("access record dropped", "why", why, "learner", r.Learner, "who", r.Who, "what", r.What)
}

// Flush returns once every record queued before it was called is committed
// (or failed to be).
func (l *Log) Flush() {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return
	}
	done := make(chan struct{})
	l.flushReq <- done
	<-done
}

// Close stops taking records, commits those queued, stops the pruner and
// returns once both goroutines are done. Call it before the store closes.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return errors.New("access: already closed")
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	l.wg.Wait()
	return nil
}

// write is the writer goroutine: it gathers records and commits them in
// synced batches of at most maxBatch, on every tick of FlushInterval, when
// a batch is full, on Flush, on Erase and on Close.
//
// Each batch is committed with pebble.Sync rather than NoSync and a synced
// flush now and then: it is at most one WAL sync a second at ordinary
// rates (one per maxBatch records under load), which the ledger's own
// group commits dwarf, and it makes the bound on what a crash loses one
// flush interval plus the sync, instead of that plus the sync period.
func (l *Log) write() {
	defer l.wg.Done()
	tick := time.NewTicker(l.opts.FlushInterval)
	defer tick.Stop()
	pending := make([]Record, 0, maxBatch)
	for {
		select {
		case r := <-l.in:
			pending = l.add(pending, r)
		case <-tick.C:
			pending = l.commitAll(pending)
		case done := <-l.flushReq:
			pending = l.commitAll(pending)
			close(done)
		case req := <-l.eraseReq:
			// What is queued is committed first, so that erase deletes
			// and counts it; what comes after is discarded.
			pending = l.commitAll(pending)
			l.erased[req.learner] = struct{}{}
			n, err := l.erase(req.learner)
			req.done <- eraseResult{n, err}
		case <-l.stop:
			l.commitAll(pending)
			return
		}
	}
}

// add appends r to pending, committing a batch once it is full.
func (l *Log) add(pending []Record, r Record) []Record {
	pending = append(pending, r)
	if len(pending) == maxBatch {
		pending = l.commit(pending)
	}
	return pending
}

// commitAll commits pending and whatever waits in the buffer now.
func (l *Log) commitAll(pending []Record) []Record {
	for {
		select {
		case r := <-l.in:
			pending = l.add(pending, r)
			continue
		default:
		}
		break
	}
	if len(pending) > 0 {
		pending = l.commit(pending)
	}
	return pending
}

// commit writes recs and the next seq in one synced batch and returns
// recs emptied for reuse. A record of a learner erased since the log opened
// is discarded, and counted as erased. A failed batch is counted and
// logged; its records are lost (the store is failing, and holding them
// would only fill the buffer).
func (l *Log) commit(recs []Record) []Record {
	recs = l.dropErased(recs)
	if len(recs) == 0 {
		return recs
	}
	b := l.db.NewBatch()
	defer b.Close()
	seq := l.seq
	for _, r := range recs {
		when := max(r.When.UnixNano(), 0)
		if err := b.Set(recordKey(r.Learner, when, seq), encodeValue(r), nil); err != nil {
			l.failBatch(len(recs), err)
			return recs[:0]
		}
		if err := b.Set(timeKey(when, seq), []byte(r.Learner), nil); err != nil {
			l.failBatch(len(recs), err)
			return recs[:0]
		}
		seq++
	}
	var next [8]byte
	for i := range next {
		next[i] = byte(seq >> (56 - 8*i))
	}
	if err := b.Set(seqKey, next[:], nil); err != nil {
		l.failBatch(len(recs), err)
		return recs[:0]
	}
	if err := b.Commit(pebble.Sync); err != nil {
		l.failBatch(len(recs), err)
		return recs[:0]
	}
	// Seqs are only taken once committed, so that a failed batch's are
	// reused rather than leaving a gap that means nothing.
	l.seq = seq
	l.written.Add(uint64(len(recs)))
	clear(recs)
	return recs[:0]
}

// dropErased removes from recs, in place, the records of learners erased
// since the log opened.
func (l *Log) dropErased(recs []Record) []Record {
	if len(l.erased) == 0 {
		return recs
	}
	kept := recs[:0]
	for _, r := range recs {
		if _, gone := l.erased[r.Learner]; gone {
			l.erasedRecords.Add(1)
			continue
		}
		kept = append(kept, r)
	}
	clear(recs[len(kept):])
	return kept
}

func (l *Log) failBatch(n int, err error) {
	l.failed.Add(uint64(n))
	l.log.Error("access records not written", "records", n, "err", err)
}

// Page is one page of a learner's access log.
type Page struct {
	// Records are newest first.
	Records []Record
	// NextCursor continues the listing after the last record; empty on the
	// last page.
	NextCursor string
}

// Page lists learner's records newest first: at most limit of them, after
// the record cursor names (empty: from the newest). A cursor this listing
// did not issue is [ErrBadCursor]. It reads the store as it is, so a
// record may be listed before its batch's sync has returned.
func (l *Log) Page(learner, cursor string, limit int) (*Page, error) {
	if limit < 1 {
		return nil, fmt.Errorf("access: page limit %d", limit)
	}
	prefix := learnerPrefix(learner)
	lower := prefix
	if cursor != "" {
		pos, err := parseCursor(cursor)
		if err != nil {
			return nil, err
		}
		// Strictly after the position: its key with a 0x00 appended.
		lower = append(append(append([]byte(nil), prefix...), pos...), 0)
	}
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("access: read: %w", err)
	}
	defer it.Close()
	p := &Page{}
	var last []byte
	for ok := it.First(); ok; ok = it.Next() {
		if len(p.Records) == limit {
			p.NextCursor = formatCursor(last)
			break
		}
		k := it.Key()
		if len(k) != len(prefix)+positionLen {
			return nil, fmt.Errorf("access: malformed record key %x", k)
		}
		pos := k[len(prefix):]
		r := Record{Learner: learner, When: time.Unix(0, int64(^beUint64(pos[:8]))).UTC()}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("access: read: %w", err)
		}
		if err := decodeValue(v, &r); err != nil {
			return nil, err
		}
		p.Records = append(p.Records, r)
		last = append(last[:0], pos...)
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("access: read: %w", err)
	}
	return p, nil
}
