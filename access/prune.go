package access

import (
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// pruneChunk is the most records one pruning batch deletes, so that
// pruning a backlog (a store opened with a shorter retention) holds
// neither a huge batch in memory nor the store's commit pipeline for long.
const pruneChunk = 10_000

// pruneLoop prunes once at start and then every PruneInterval until Close.
func (l *Log) pruneLoop() {
	defer l.wg.Done()
	tick := func() {
		if _, err := l.Prune(); err != nil {
			l.log.Error("access log pruning failed", "err", err)
		}
	}
	tick()
	t := time.NewTicker(l.opts.PruneInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			tick()
		case <-l.stop:
			return
		}
	}
}

// Prune deletes every record older than the retention period before now
// (Options.Clock) and returns how many it deleted. It walks the time index
// from its oldest key: each chunk point-deletes the chunk's record keys
// and deletes the chunk's span of the time index with one DeleteRange, in
// one batch, so that the index never names a record that is gone. The
// batches are not synced: a deletion a crash loses is done again by the
// next pruning.
func (l *Log) Prune() (int, error) {
	cutoff := l.clock().Add(-l.opts.Retention).UnixNano()
	if cutoff <= 0 {
		return 0, nil
	}
	upper := timeKey(cutoff, 0) // every record strictly older than cutoff
	lower := timePrefix
	total := 0
	for {
		n, next, err := l.pruneChunk(lower, upper)
		total += n
		l.pruned.Add(uint64(n))
		if err != nil || n < pruneChunk {
			return total, err
		}
		lower = next
	}
}

// pruneChunk deletes up to pruneChunk records whose time index keys lie in
// [lower, upper) and returns how many, and the key after the last.
func (l *Log) pruneChunk(lower, upper []byte) (int, []byte, error) {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return 0, nil, fmt.Errorf("access: prune: %w", err)
	}
	b := l.db.NewBatch()
	defer b.Close()
	n := 0
	var last []byte
	for ok := it.First(); ok && n < pruneChunk; ok = it.Next() {
		when, seq, err := parseTimeKey(it.Key())
		if err != nil {
			it.Close()
			return 0, nil, err
		}
		learner, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return 0, nil, fmt.Errorf("access: prune: %w", err)
		}
		if err := b.Delete(recordKey(string(learner), when, seq), nil); err != nil {
			it.Close()
			return 0, nil, fmt.Errorf("access: prune: %w", err)
		}
		last = append(last[:0], it.Key()...)
		n++
	}
	if err := it.Close(); err != nil {
		return 0, nil, fmt.Errorf("access: prune: %w", err)
	}
	if n == 0 {
		return 0, nil, nil
	}
	next := append(last, 0)
	if err := b.DeleteRange(lower, next, nil); err != nil {
		return 0, nil, fmt.Errorf("access: prune: %w", err)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return 0, nil, fmt.Errorf("access: prune: %w", err)
	}
	return n, next, nil
}

// Collectors are the log's metrics, for a Prometheus registry: records
// written, dropped (buffer full for MaxWait, or after Close), failed (a
// batch the store refused), pruned and erased, and the records waiting in
// the buffer.
func (l *Log) Collectors() []prometheus.Collector {
	counter := func(name, help string, v interface{ Load() uint64 }) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	return []prometheus.Collector{
		counter("creditbank_access_records_written_total", "Access log records committed to the store.", &l.written),
		counter("creditbank_access_records_dropped_total", "Access log records dropped because the buffer stayed full or the log was closed: reads the learner is not shown.", &l.dropped),
		counter("creditbank_access_records_failed_total", "Access log records lost because the store refused their batch.", &l.failed),
		counter("creditbank_access_records_pruned_total", "Access log records deleted after the retention period.", &l.pruned),
		counter("creditbank_access_records_erased_total", "Access log records deleted, or discarded before they were written, because their learner's personal data was erased.", &l.erasedRecords),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "creditbank_access_records_queued", Help: "Access log records waiting to be written."},
			func() float64 { return float64(len(l.in)) }),
	}
}

// Stats counts the log's records since it opened.
type Stats struct {
	Written, Dropped, Failed, Pruned, Erased uint64
}

// Stats returns the counts of records written, dropped, failed, pruned and
// erased.
func (l *Log) Stats() Stats {
	return Stats{Written: l.written.Load(), Dropped: l.dropped.Load(), Failed: l.failed.Load(), Pruned: l.pruned.Load(),
		Erased: l.erasedRecords.Load()}
}
