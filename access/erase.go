package access

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// eraseChunk is the most records one erasure batch deletes (each with its
// time index key), so that erasing a learner read a million times neither
// builds one huge batch nor holds the writer for one long commit.
const eraseChunk = 10_000

// eraseRequest asks the writer goroutine to erase a learner's records.
type eraseRequest struct {
	learner string
	done    chan eraseResult
}

type eraseResult struct {
	n   int
	err error
}

// Erase deletes every record of learner, with its time index key, and
// returns how many it deleted; they are counted in
// creditbank_access_records_erased_total. It is what erasing a learner's
// personal data (docs/contract.md section 11) asks of the access log, and
// returns once the deletions are synced.
//
// The writer goroutine does the work, so that it is ordered with the
// commits: it first commits what is queued (as Flush does), so that those
// records are deleted and counted with the rest, and from then on discards
// any record of learner that a read served before the erasure queues late,
// instead of writing it back. It deletes in synced batches of
// at most eraseChunk records. A record that pruning deletes meanwhile may
// be counted by both.
func (l *Log) Erase(learner string) (int, error) {
	if learner == "" || strings.IndexByte(learner, 0) >= 0 {
		return 0, errors.New("access: erase: no learner key")
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, errors.New("access: erase: the access log is closed")
	}
	done := make(chan eraseResult, 1)
	l.eraseReq <- eraseRequest{learner: learner, done: done}
	res := <-done
	return res.n, res.err
}

// erase deletes learner's records chunk by chunk, each chunk starting after
// the last key of the one before, so that no chunk walks over the
// deletions of the earlier ones.
func (l *Log) erase(learner string) (int, error) {
	prefix := learnerPrefix(learner)
	lower, total := prefix, 0
	for {
		n, next, err := l.eraseChunk(prefix, lower)
		total += n
		l.erasedRecords.Add(uint64(n))
		if err != nil || n < eraseChunk {
			return total, err
		}
		lower = next
	}
}

// eraseChunk deletes up to eraseChunk of the records under prefix from
// lower on, and their time index keys, in one synced batch, and returns
// how many and the key after the last.
func (l *Log) eraseChunk(prefix, lower []byte) (int, []byte, error) {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return 0, nil, fmt.Errorf("access: erase: %w", err)
	}
	b := l.db.NewBatch()
	defer b.Close()
	n := 0
	var last []byte
	for ok := it.First(); ok && n < eraseChunk; ok = it.Next() {
		k := it.Key()
		if len(k) != len(prefix)+positionLen {
			it.Close()
			return 0, nil, fmt.Errorf("access: erase: malformed record key %x", k)
		}
		pos := k[len(prefix):]
		when, seq := int64(^beUint64(pos[:8])), ^beUint64(pos[8:])
		if err := b.Delete(k, nil); err != nil {
			it.Close()
			return 0, nil, fmt.Errorf("access: erase: %w", err)
		}
		if err := b.Delete(timeKey(when, seq), nil); err != nil {
			it.Close()
			return 0, nil, fmt.Errorf("access: erase: %w", err)
		}
		last = append(last[:0], k...)
		n++
	}
	if err := it.Close(); err != nil {
		return 0, nil, fmt.Errorf("access: erase: %w", err)
	}
	if n == 0 {
		return 0, nil, nil
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, nil, fmt.Errorf("access: erase: %w", err)
	}
	return n, append(last, 0), nil
}
