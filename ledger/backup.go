package ledger

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Backup writes a consistent copy of the open store to dir, which must not
// exist yet, while the ledger goes on taking writes. The copy is a Pebble
// store of its own: open it with [Open] (read-only for an audit) and the same
// keys. Backup first signs a checkpoint over the durable tree (as
// [Ledger.SignCheckpoint]), so the copy carries one over every entry
// acknowledged before Backup began.
//
// The copy is a Pebble checkpoint ([pebble.DB.Checkpoint]): sstables are
// immutable and hard-linked or copied, the MANIFEST is cut at the version the
// checkpoint took, and the write-ahead log is copied. Why it is consistent:
//
//   - A Pebble checkpoint is made of whole batches. Opening it replays the
//     copied WAL record by record; each record is one batch, checksummed, so
//     a record torn by a write racing the copy is dropped whole and never
//     half applied.
//   - Every group of entries is one batch: the entries, their tree hashes,
//     index and idempotency keys, domain state and the tree head are
//     committed together, and checkpoint notes are written in batches of
//     their own, over heads already durable. So whatever prefix of batches the
//     copy holds, its tree head matches its entries and every checkpoint in
//     it covers no more than that head; a reopen of the copy resumes after its
//     last batch exactly as a reopen after a crash does.
//   - The copy may hold groups the ledger had applied but not yet
//     acknowledged (their WAL sync was still in flight). Backup syncs the WAL
//     before the checkpoint (WithFlushedWAL, so everything acknowledged
//     before Backup began is in the copy) and again after it. WAL syncs are
//     ordered and, once one fails, every later one fails, so when Backup
//     returns nil every group in the copy is on the ledger's disk too: the
//     copy never holds a group whose sync has not finished, nor anything a
//     crash of the running ledger could lose. It is a prefix of the ledger's
//     durable history.
//
// A read-only ledger cannot be backed up (ErrReadOnly): Pebble checkpoints
// only a store it has open for writing. Copy a stopped store's folder instead,
// or open it for writing (the folder lock guarantees no one else has it).
func (l *Ledger) Backup(dir string) error {
	if !l.enter() {
		return ErrClosed
	}
	defer l.inflight.Done()
	if l.failed.Load() {
		return ErrFailed
	}
	if l.opts.ReadOnly {
		return ErrReadOnly
	}
	if dir == "" {
		return errors.New("ledger: backup: no folder given")
	}
	if _, err := l.opts.FS.Stat(dir); err == nil {
		return fmt.Errorf("ledger: backup: %s already exists", dir)
	}
	// A checkpoint over every entry acknowledged so far goes into the copy,
	// so that it carries a signed head as recent as it can. Failing to sign
	// one (the disk is full, say) leaves the latest earlier one, which is
	// still good.
	if _, err := l.SignCheckpoint(context.Background()); err != nil {
		l.log.Warn("backup: no fresh checkpoint signed", "err", err)
	}
	if err := l.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		_ = l.opts.FS.RemoveAll(dir)
		return fmt.Errorf("ledger: backup to %s: %w", dir, err)
	}
	// Everything the copy took from the WAL is synced once this returns.
	if err := l.db.LogData(nil, pebble.Sync); err != nil {
		_ = l.opts.FS.RemoveAll(dir)
		return fmt.Errorf("ledger: backup to %s: sync after the copy: %w", dir, err)
	}
	return nil
}
