package ledger

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// PurgeState has the store rewrite the files that hold domain state under
// prefix, so that values deleted or overwritten there are no longer in any
// of its files: the memtable is flushed (its write-ahead log is then no
// longer needed) and the key range compacted, which drops the shadowed
// values of every key once no open read still sees them. It is how an
// erased learner's data key leaves the store (package accreditation).
//
// What the file system may still hold is beyond the store: a write-ahead
// log file that Pebble keeps for reuse holds its old bytes until they are
// overwritten, and blocks freed by the file system keep theirs until
// reused. Both can hold a deleted value only as it was written, which for
// a data key is wrapped under the key-encryption key: rotating that key
// afterwards makes such copies useless.
func (l *Ledger) PurgeState(ctx context.Context, prefix string) error {
	if err := l.Writable(); err != nil {
		return err
	}
	if !l.enter() {
		return ErrClosed
	}
	defer l.inflight.Done()
	if err := l.db.Flush(); err != nil {
		return fmt.Errorf("ledger: purge %s: flush: %w", prefix, err)
	}
	start := stateKey([]byte(prefix))
	if err := l.db.Compact(ctx, start, PrefixEnd(start), false); err != nil {
		return fmt.Errorf("ledger: purge %s: compact: %w", prefix, err)
	}
	return nil
}

// enter counts an operation in flight, which Close waits for before it
// closes the store, and reports false (counting nothing) once the ledger is
// closed. The caller calls l.inflight.Done when the operation ends.
func (l *Ledger) enter() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.inflight.Add(1)
	return true
}

// InitState stores value under the domain state key when the key holds
// nothing yet, synced, and returns what the key holds afterwards. It is for
// a mark the domain sets once, as a store is first opened by a version
// that needs it, before any command is decided; a read-only ledger returns
// the stored value, or nil, and writes nothing.
func (l *Ledger) InitState(key string, value []byte) ([]byte, error) {
	k := stateKey([]byte(key))
	v, closer, err := l.db.Get(k)
	switch {
	case err == nil:
		defer closer.Close()
		return append([]byte(nil), v...), nil
	case !errors.Is(err, pebble.ErrNotFound):
		return nil, fmt.Errorf("ledger: read %s: %w", key, err)
	case l.opts.ReadOnly:
		return nil, nil
	}
	if err := l.db.Set(k, value, pebble.Sync); err != nil {
		return nil, fmt.Errorf("ledger: write %s: %w", key, err)
	}
	return value, nil
}
