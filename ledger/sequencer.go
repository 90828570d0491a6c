package ledger

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/tlog"
)

// A Proposal asks the ledger for a change. The sequencer calls Decide with a
// View of the state including every earlier proposal of the same group, and
// writes the returned Effect atomically with them. Decide must be a
// deterministic function of the view and the proposal's own fields (the time
// comes from View.Now), must not keep the view, and must not block: it runs on
// the one goroutine every write goes through.
//
// An error from Decide rejects this proposal alone; nothing of it is written
// and Append returns the error as it is.
type Proposal interface {
	Decide(v *View) (Effect, error)
}

// View is what a Proposal decides against: a Reader over the committed state
// plus the earlier proposals of the group, and the group's time.
type View struct {
	Reader
	now time.Time
}

// Now is the time stamped on the entries of this group. It is taken once per
// group before any proposal is decided and never goes back.
func (v *View) Now() time.Time { return v.now }

// Effect is what a decided proposal writes.
type Effect struct {
	// Records become entries with consecutive seqs starting at View.Size().
	Records []Record
	// State writes domain state; a nil Value deletes the key (unless the
	// write is an Append).
	State []StateWrite
	// Result is handed back to the caller in the Receipt.
	Result any

	// checked is set when every record passed checkRecord before the
	// sequencer, so only what depends on the group is left to check.
	checked bool
}

// StateWrite sets, deletes or appends to one domain state key.
type StateWrite struct {
	Key   []byte
	Value []byte
	// Append adds Value to the end of the key's value (none counts as
	// empty) without reading it: a Pebble merge with Pebble's default,
	// concatenating merger, so reads see the operands joined in seq order.
	// It spares a read-modify-write of a value that only accumulates.
	Append bool
}

// Record is one entry to append.
type Record struct {
	Type    string
	Actor   string
	Content json.RawMessage // a compact JSON object; see MarshalContent
	// Index lists the secondary indexes the entry goes under; every entry is
	// also listed under {IndexType, Type} unless Unlisted.
	Index []IndexKey
	// Unlisted leaves the entry out of the index by type: for a type that
	// makes up most of the ledger and that nothing lists by type, where the
	// index would be one key more per entry for nothing.
	Unlisted bool
	// Idempotency, when set, records (Scope, Key) -> (seq, Hash) in the
	// idempotency index. Checking it is the proposal's job (View.Idempotency).
	Idempotency *IdempotencyKey
}

// IdempotencyKey is a client-chosen key, unique within its scope (say an
// institution), with a hash of the request it came with.
type IdempotencyKey struct {
	Scope string
	Key   string
	Hash  [32]byte
}

// Records is the plain Proposal: append these records, no questions asked.
// Append checks them on the caller's goroutine, so a large batch costs the
// sequencer only its encoding and hashing.
type Records []Record

// Decide implements Proposal.
func (rs Records) Decide(*View) (Effect, error) { return Effect{Records: rs}, nil }

// checkedRecords are Records that passed checkRecord.
type checkedRecords []Record

func (rs checkedRecords) Decide(*View) (Effect, error) {
	return Effect{Records: rs, checked: true}, nil
}

// checkRecord checks what a record says about itself: header, content,
// index keys and idempotency key.
func checkRecord(rec Record) error {
	if err := checkHeader(rec.Type, rec.Actor); err != nil {
		return err
	}
	if err := checkContent(rec.Content); err != nil {
		return err
	}
	for _, k := range rec.Index {
		if err := k.check(); err != nil {
			return err
		}
	}
	if id := rec.Idempotency; id != nil {
		if err := checkText("idempotency scope", id.Scope, maxIdemLen); err != nil {
			return err
		}
		if err := checkText("idempotency key", id.Key, maxIdemLen); err != nil {
			return err
		}
	}
	return nil
}

// Receipt is what Append returns once the proposal's group is durable.
type Receipt struct {
	// First is the seq of the first record appended; Count how many were.
	First uint64
	Count int
	// Size is the durable tree size after the group.
	Size uint64
	// RecordedAt is the time stamped on the entries.
	RecordedAt time.Time
	// Result is Effect.Result.
	Result any
}

type pending struct {
	p       Proposal
	receipt Receipt
	err     error
	done    chan struct{}
}

// Append submits p and waits until its group is synced to disk. A nil error
// means the effect is durable and readable. Context cancellation is honoured
// only while p waits for the sequencer; once taken, p is decided and written
// or rejected as a whole, and Append reports which.
func (l *Ledger) Append(ctx context.Context, p Proposal) (Receipt, error) {
	if err := l.Writable(); err != nil {
		return Receipt{}, err
	}
	if rs, ok := p.(Records); ok {
		for i, rec := range rs {
			if err := checkRecord(rec); err != nil {
				return Receipt{}, fmt.Errorf("record %d: %w", i, err)
			}
		}
		p = checkedRecords(rs)
	}
	if !l.enter() {
		return Receipt{}, ErrClosed
	}
	defer l.inflight.Done()
	pd := &pending{p: p, done: make(chan struct{})}
	select {
	case l.queue <- pd:
	case <-ctx.Done():
		return Receipt{}, ctx.Err()
	}
	<-pd.done
	return pd.receipt, pd.err
}

// run is the sequencer: it takes proposals in arrival order, groups what has
// queued up, and applies each group as one batch committed with pebble.Sync.
// It does not wait for the sync: syncLoop does, while run goes on deciding
// the next group, so deciding overlaps the disk's fsync as in Pebble's own
// commit pipeline.
func (l *Ledger) run() {
	defer close(l.stopped)
	go l.syncLoop()
	go l.applyLoop()
	ticker := time.NewTicker(l.opts.CheckpointInterval)
	defer ticker.Stop()
	for {
		select {
		case pd := <-l.queue:
			group := append(make([]*pending, 0, 16), pd)
		fill:
			for len(group) < l.opts.MaxGroup {
				select {
				case pd := <-l.queue:
					group = append(group, pd)
				default:
					break fill
				}
			}
			for rest := group; len(rest) > 0; {
				rest = l.commit(rest)
			}
		case <-ticker.C:
			// The ticker spaces checkpoints; the half interval only skips a
			// tick that comes right after one signed on request.
			// Storing a checkpoint is a write: not while writes are refused.
			if l.ckptSize < l.Size() && time.Since(l.lastCkpt) >= l.opts.CheckpointInterval/2 && l.refusal() == nil {
				l.storeCheckpoint(nil)
			}
		case reply := <-l.ckptReq:
			l.storeCheckpoint(reply)
		case <-l.stop:
			l.awaitApplied() // a failure has been answered already
			close(l.applyq)
			close(l.syncq)
			<-l.syncDone
			if l.ckptSize < l.Size() && l.refusal() == nil {
				if _, err := l.signCheckpoint(); err != nil {
					l.log.Error("sign last checkpoint", "err", err)
				}
			}
			return
		}
	}
}

// syncing is a group applied to Pebble whose WAL sync may not have finished:
// its batch, a snapshot holding exactly the tree up to it, and its callers.
type syncing struct {
	// ckpt, when set, makes this a checkpoint's write rather than a group's.
	ckpt    *ckptWrite
	batch   *pebble.Batch
	snap    *pebble.Snapshot
	head    head
	group   []*pending
	stats   GroupStats
	applied time.Time // when ApplyNoSyncWait returned
}

// syncLoop waits for each applied group's sync, in order, then publishes its
// snapshot as the durable view and answers its callers. A failed sync is
// fatal: the group's entries are in Pebble's memtable but maybe not on disk,
// and Pebble's WAL cannot take further writes.
func (l *Ledger) syncLoop() {
	defer close(l.syncDone)
	for g := range l.syncq {
		if c := g.ckpt; c != nil {
			if err := g.batch.SyncWait(); err != nil {
				l.fatal(fmt.Errorf("%w: sync of the checkpoint over %d entries: %v", ErrFailed, c.size, err))
			}
			g.batch.Close()
			l.publishCheckpoint(c.signed, c.size)
			if c.reply != nil {
				c.reply <- ckptResult{signed: c.signed}
			}
			continue
		}
		if err := g.batch.SyncWait(); err != nil {
			l.fatal(fmt.Errorf("%w: sync of entries %d to %d: %v", ErrFailed, l.Size(), g.head.size-1, err))
		}
		g.stats.Sync = time.Since(g.applied)
		g.batch.Close()
		l.publish(g.snap, g.head)
		for _, pd := range g.group {
			if pd.err == nil {
				pd.receipt.Size = g.head.size
			}
		}
		finish(g.group)
		if l.opts.OnGroup != nil {
			l.opts.OnGroup(g.stats)
		}
	}
}

// finish hands each pending proposal its outcome.
func finish(group []*pending) {
	for _, pd := range group {
		close(pd.done)
	}
}

// maxBatchBytes bounds one group's Pebble batch. Proposals left over when a
// group reaches it go into the next group.
const maxBatchBytes = 64 << 20

// commit decides proposals in order, writes the accepted ones in one batch
// and hands it to applyLoop, which applies it while the next group is
// decided and then hands it to syncLoop to wait for its sync. It returns the
// proposals it left for the next group once the batch is full.
func (l *Ledger) commit(group []*pending) (rest []*pending) {
	if err := l.refusal(); err != nil {
		for _, pd := range group {
			pd.err = err
		}
		finish(group)
		return nil
	}
	started := time.Now()
	now := l.clock().UTC().Truncate(time.Microsecond)
	if now.UnixMicro() < l.head.lastTime {
		now = time.UnixMicro(l.head.lastTime).UTC()
	}
	nowText, err := formatRecordedAt(now)
	if err != nil {
		l.fail(group, fmt.Errorf("%w: %v", ErrUnavailable, err))
		return nil
	}
	var base pebble.Reader = l.db
	if l.applying != nil {
		base = l.applyBase
	}
	gb := newGroupBatch(l.db, l.head.size, l.applying, base, l.awaitApplied, l.lastGroup)
	size := l.head.size
	accepted := 0
	n := 0
	for ; n < len(group) && err == nil; n++ {
		if n > 0 && gb.Len() >= maxBatchBytes {
			break
		}
		pd := group[n]
		v := &View{Reader: Reader{r: gb, size: size}, now: now}
		eff, derr := decide(pd.p, v)
		var encoded [][]byte
		if derr == nil {
			encoded, derr = checkEffect(size, nowText, eff)
		}
		if derr != nil {
			pd.err = derr
			continue
		}
		// A failure from here on leaves the batch half-written: the whole
		// group is abandoned.
		if err = l.write(gb, size, encoded, eff); err != nil {
			n++
			break
		}
		pd.receipt = Receipt{First: size, Count: len(eff.Records), RecordedAt: now, Result: eff.Result}
		size += uint64(len(eff.Records))
		accepted++
	}
	group, rest = group[:n], group[n:]
	if cerr := gb.closeReads(); err == nil {
		err = cerr
	}
	if accepted == 0 && err == nil {
		gb.Batch.Close()
		finish(group)
		return rest
	}
	var root [32]byte
	if err == nil {
		root, err = treeHash(size, l.hashCache)
	}
	h := head{size: size, lastTime: now.UnixMicro(), root: root}
	if err == nil {
		err = gb.Batch.Set(headKey, h.encode(), nil)
	}
	gb.group, gb.head, gb.prevHead = group, h, l.head
	l.lastGroup = gb.size()
	gb.stats = GroupStats{Proposals: len(group), Rejected: len(group) - accepted, Entries: int(size - l.head.size), Bytes: gb.Len()}
	gb.decided = time.Now()
	gb.stats.Decide = gb.decided.Sub(started)
	if err == nil {
		err = l.handOff(gb)
	}
	if err != nil {
		gb.Batch.Close()
		// The hashes are read again from the store: the group ahead must
		// be in it. A failure of that group has been answered already.
		l.awaitApplied()
		l.hashCache.reset()
		l.fail(group, fmt.Errorf("%w: commit: %v", ErrUnavailable, err))
	}
	return rest
}

// fail answers every accepted proposal of a group that was not written.
func (l *Ledger) fail(group []*pending, err error) {
	for _, pd := range group {
		if pd.err == nil {
			pd.err = err
			pd.receipt = Receipt{}
		}
	}
	finish(group)
}

// handOff gives a built group to applyLoop, once the group ahead of it is
// applied: Pebble must take batches in order, and the next group reads
// under this one with a snapshot of the store as it is without it.
func (l *Ledger) handOff(g *groupBatch) error {
	if err := l.awaitApplied(); err != nil {
		return err
	}
	if g.after != nil && g.after.applyErr != nil {
		// The group ahead failed while this one was being decided on it
		// (awaited by a read of this group's): its writes never happened.
		return g.after.applyErr
	}
	g.prev, g.base = nil, nil
	l.head = g.head
	l.hashCache.keepEdge(g.head.size)
	l.applyBase = l.db.NewSnapshot()
	l.applying = g
	g.applied = make(chan struct{})
	l.applyq <- g
	return nil
}

// awaitApplied waits until the group last handed to applyLoop is applied.
// If Pebble refused it, the sequencer's head goes back to before it and
// the error is returned; the group's callers have had it already.
func (l *Ledger) awaitApplied() error {
	g := l.applying
	if g == nil {
		return nil
	}
	<-g.applied
	l.applying = nil
	l.applyBase.Close()
	l.applyBase = nil
	if g.applyErr != nil {
		l.head = g.prevHead
		l.hashCache.reset()
		return g.applyErr
	}
	return nil
}

// applyLoop applies each group handed over, in order, and passes it to
// syncLoop with a snapshot holding exactly the tree up to it, taken before
// the next group is applied.
func (l *Ledger) applyLoop() {
	for g := range l.applyq {
		err := l.db.ApplyNoSyncWait(g.Batch, pebble.Sync)
		if err != nil {
			g.Batch.Close()
			g.applyErr = err
			l.fail(g.group, fmt.Errorf("%w: commit: %v", ErrUnavailable, err))
			close(g.applied)
			continue
		}
		snap := l.db.NewSnapshot()
		applied := time.Now()
		g.stats.Apply = applied.Sub(g.decided)
		l.syncq <- &syncing{batch: g.Batch, snap: snap, head: g.head, group: g.group, stats: g.stats, applied: applied}
		close(g.applied)
	}
}

// decide runs Decide, turning a panic into an error for this proposal alone.
func decide(p Proposal, v *View) (eff Effect, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("ledger: proposal panicked: %v", r)
		}
	}()
	return p.Decide(v)
}

// checkEffect validates an effect and encodes its records as entries with
// seqs from first, recorded at recordedAt (formatRecordedAt's text), before
// anything of it touches the batch.
func checkEffect(first uint64, recordedAt []byte, eff Effect) ([][]byte, error) {
	encoded := make([][]byte, len(eff.Records))
	for i, rec := range eff.Records {
		if !eff.checked {
			if err := checkRecord(rec); err != nil {
				return nil, fmt.Errorf("record %d: %w", i, err)
			}
		}
		e := Entry{Seq: first + uint64(i), Type: rec.Type, Actor: rec.Actor, Content: rec.Content}
		encoded[i] = e.encodeAt(recordedAt)
	}
	for _, w := range eff.State {
		if len(w.Key) == 0 {
			return nil, errors.New("state write with an empty key")
		}
	}
	return encoded, nil
}

// write adds a checked effect to the group's batch.
func (l *Ledger) write(b *groupBatch, first uint64, encoded [][]byte, eff Effect) error {
	for _, w := range eff.State {
		var err error
		b.key = appendStateKey(b.key[:0], w.Key)
		switch {
		case w.Append:
			err = b.merge(b.key, w.Value)
		case w.Value == nil:
			err = b.del(b.key)
		default:
			err = b.set(b.key, w.Value)
		}
		if err != nil {
			return fmt.Errorf("batch: %w", err)
		}
	}
	for i, rec := range eff.Records {
		if err := l.writeEntry(b, first+uint64(i), encoded[i], rec); err != nil {
			return err
		}
	}
	return nil
}

func (l *Ledger) writeEntry(b *groupBatch, seq uint64, data []byte, rec Record) error {
	hashes, err := tlog.StoredHashes(int64(seq), data, l.hashCache)
	if err != nil {
		return fmt.Errorf("hash entry %d: %w", seq, err)
	}
	if err := b.addEntry(seq, data); err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	base := tlog.StoredHashIndex(0, int64(seq))
	for i, h := range hashes {
		idx := base + int64(i)
		l.hashCache.m[idx] = h
		b.key = appendU64Key(b.key[:0], tagHash, uint64(idx))
		if err := b.Set(b.key, h[:], nil); err != nil {
			return fmt.Errorf("batch: %w", err)
		}
	}
	if !rec.Unlisted {
		b.key = appendIndexKey(b.key[:0], IndexType, rec.Type, seq)
		if err := b.Set(b.key, nil, nil); err != nil {
			return fmt.Errorf("batch: %w", err)
		}
	}
	for _, k := range rec.Index {
		b.key = appendIndexKey(b.key[:0], k.Name, k.Value, seq)
		if err := b.Set(b.key, nil, nil); err != nil {
			return fmt.Errorf("batch: %w", err)
		}
	}
	if id := rec.Idempotency; id != nil {
		var v [8 + 32]byte
		binary.BigEndian.PutUint64(v[:8], seq)
		copy(v[8:], id.Hash[:])
		b.key = appendIdemKey(b.key[:0], id.Scope, id.Key)
		if err := b.set(b.key, v[:]); err != nil {
			return fmt.Errorf("batch: %w", err)
		}
	}
	return nil
}

type ckptResult struct {
	signed []byte
	err    error
}

// SignCheckpoint returns a checkpoint over the durable tree as it is now,
// signing and storing a new one if the latest is older.
func (l *Ledger) SignCheckpoint(ctx context.Context) ([]byte, error) {
	if err := l.Writable(); err != nil {
		return nil, err
	}
	reply := make(chan ckptResult, 1)
	select {
	case l.ckptReq <- reply:
	case <-l.stopped:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	r := <-reply
	return r.signed, r.err
}

// ckptWrite is a signed checkpoint on its way to disk.
type ckptWrite struct {
	signed []byte
	size   uint64
	reply  chan ckptResult // answered once it is durable, if set
}

// storeCheckpoint signs the durable head and writes the note without
// waiting for the sync: syncLoop publishes it (and answers reply) once it
// is durable, in order with the groups around it. The sequencer used to
// wait here for a sync of its own every second, which held up every write
// queued behind it. A reply is answered at once when the published
// checkpoint already covers the durable head.
func (l *Ledger) storeCheckpoint(reply chan ckptResult) {
	// The note goes to syncLoop behind the last group, so that group must
	// be applied first; a failure of it has been answered already.
	l.awaitApplied()
	signed, size, b, err := l.writeCheckpoint()
	switch {
	case err != nil && reply != nil:
		reply <- ckptResult{err: err}
	case err != nil:
		l.log.Error("sign checkpoint", "err", err)
	case b == nil:
		if reply != nil {
			reply <- ckptResult{signed: signed}
		}
	default:
		l.syncq <- &syncing{ckpt: &ckptWrite{signed: signed, size: size, reply: reply}, batch: b, applied: l.lastCkpt}
	}
}

// writeCheckpoint signs the durable head and applies the note to the store
// without waiting for its sync, which the caller does; it returns no batch,
// and the published checkpoint, when that already covers the head.
func (l *Ledger) writeCheckpoint() (signed []byte, size uint64, b *pebble.Batch, err error) {
	d := l.acquire()
	h := d.head
	d.release()
	if p := l.ckpt.Load(); p != nil && l.ckptPub.Load() == h.size {
		return *p, h.size, nil, nil
	}
	signed, err = SignCheckpoint(Checkpoint{Origin: l.origin, Size: h.size, Root: h.root}, l.opts.Keys.Signer)
	if err != nil {
		return nil, 0, nil, err
	}
	b = l.db.NewBatch()
	if err := b.Set(checkpointKey(h.size), signed, nil); err != nil {
		b.Close()
		return nil, 0, nil, fmt.Errorf("batch: %w", err)
	}
	if err := l.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		b.Close()
		return nil, 0, nil, fmt.Errorf("%w: store checkpoint: %v", ErrUnavailable, err)
	}
	l.ckptSize = h.size
	l.lastCkpt = time.Now()
	return signed, h.size, b, nil
}

// publishCheckpoint makes a durable signed checkpoint over size the latest.
func (l *Ledger) publishCheckpoint(signed []byte, size uint64) {
	l.ckptPub.Store(size)
	l.ckpt.Store(&signed)
	l.ckptAt.Store(time.Now().UnixNano())
}

// signCheckpoint signs the durable head, stores the note with a synced write,
// and only then publishes it. Run by Open before the sequencer starts and by
// the sequencer once syncLoop has ended; the head it signs is the durable
// one, never a group still syncing.
func (l *Ledger) signCheckpoint() ([]byte, error) {
	signed, size, b, err := l.writeCheckpoint()
	if err != nil || b == nil {
		return signed, err
	}
	defer b.Close()
	if err := b.SyncWait(); err != nil {
		return nil, fmt.Errorf("%w: store checkpoint: %v", ErrUnavailable, err)
	}
	l.publishCheckpoint(signed, size)
	return signed, nil
}
