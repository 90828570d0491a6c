package access

import (
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"creditbank/ledger"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// openLedger opens a ledger in dir on fs (a temporary folder when fs is
// nil), the store the access log lives in, and closes it when the test
// ends unless the test did.
func openLedger(t testing.TB, fs vfs.FS, dir string) *ledger.Ledger {
	t.Helper()
	if fs == nil {
		dir = t.TempDir()
	}
	keys, _, err := ledger.GenerateKeys(ledger.DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ledger.Options{Dir: dir, FS: fs, Keys: keys, Logger: quiet, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// openLog opens the access log on l's store with opts and closes it when
// the test ends unless the test did.
func openLog(t testing.TB, l *ledger.Ledger, opts Options) *Log {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	a, err := Open(l.Store(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// all lists every record of learner, paging by limit.
func all(t testing.TB, a *Log, learner string, limit int) []Record {
	t.Helper()
	var out []Record
	cursor := ""
	for pages := 0; ; pages++ {
		p, err := a.Page(learner, cursor, limit)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		if len(p.Records) > limit {
			t.Fatalf("page %d: %d records, limit %d", pages, len(p.Records), limit)
		}
		out = append(out, p.Records...)
		if p.NextCursor == "" {
			return out
		}
		if len(p.Records) != limit {
			t.Fatalf("page %d: short page (%d of %d) with a next cursor", pages, len(p.Records), limit)
		}
		cursor = p.NextCursor
	}
}

// stallFS holds every WAL sync while stall is set, until release is
// closed: a disk that stops answering.
type stallFS struct {
	vfs.FS
	stall, stalled atomic.Bool
	release        chan struct{}
}

func (fs *stallFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return &stallFile{File: f, fs: fs}, nil
}

func (fs *stallFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	return fs.wrap(name, f, err)
}

func (fs *stallFS) ReuseForWrite(old, name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(old, name, c)
	return fs.wrap(name, f, err)
}

type stallFile struct {
	vfs.File
	fs *stallFS
}

func (f *stallFile) wait() {
	if f.fs.stall.Load() {
		f.fs.stalled.Store(true)
		<-f.fs.release
	}
}

func (f *stallFile) Sync() error                  { f.wait(); return f.File.Sync() }
func (f *stallFile) SyncData() error              { f.wait(); return f.File.SyncData() }
func (f *stallFile) SyncTo(n int64) (bool, error) { f.wait(); return f.File.SyncTo(n) }
