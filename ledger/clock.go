package ledger

import "time"

// Now is the time a group decided now would be stamped with, as far as a
// reader can tell: the ledger's clock, never before the last durable
// entry's recorded_at. A read that asks what a command would decide now
// (a conversion preview) dates itself by it, so that it agrees with the
// sequencer's clock, a test's fixed one included.
func (l *Ledger) Now() time.Time {
	d := l.acquire()
	defer d.release()
	now := l.clock().UTC().Truncate(time.Microsecond)
	if now.UnixMicro() < d.head.lastTime {
		now = time.UnixMicro(d.head.lastTime).UTC()
	}
	return now
}
