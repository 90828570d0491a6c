package ledger

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// testKeys is one signing key for every test in the package: generating a
// key is cheap, but a fixed one keeps failures comparable between runs.
var testKeys = sync.OnceValue(func() Keys {
	k, _, err := GenerateKeys(DefaultOrigin)
	if err != nil {
		panic(err)
	}
	return k
})

// fixedClock is a test clock that advances by a millisecond on every read.
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFixedClock() *fixedClock {
	return &fixedClock{t: time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC)}
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

// testOptions gives options for a ledger in dir on fs (a fresh temporary
// folder on the real disk when fs is nil), with a quiet logger and a fatal
// hook that fails the test.
func testOptions(t testing.TB, fs vfs.FS, dir string) Options {
	t.Helper()
	if fs == nil && dir == "" {
		dir = t.TempDir()
	}
	return Options{
		Dir:          dir,
		FS:           fs,
		Keys:         testKeys(),
		Clock:        newFixedClock().Now,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		MinFreeBytes: -1,
		OnFatal:      func(err error) { panic(fmt.Sprintf("unexpected fatal store error: %v", err)) },
	}
}

// openTest opens a ledger with opts and closes it when the test ends
// (unless the test closed it itself).
func openTest(t testing.TB, opts Options) *Ledger {
	t.Helper()
	l, err := Open(opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := l.Integrity(); err != nil {
		t.Fatalf("integrity: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// record makes a small test record.
func record(typ, learner string, i int) Record {
	content, err := MarshalContent(map[string]any{"learner": learner, "n": i})
	if err != nil {
		panic(err)
	}
	r := Record{Type: typ, Actor: "test", Content: content}
	if learner != "" {
		r.Index = []IndexKey{{Name: "learner", Value: learner}}
	}
	return r
}

// appendN appends n single-record proposals and returns their receipts.
func appendN(t testing.TB, l *Ledger, n int) []Receipt {
	t.Helper()
	out := make([]Receipt, n)
	for i := range out {
		r, err := l.Append(context.Background(), Records{record("test.entry", fmt.Sprintf("L%d", i%7), i)})
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		out[i] = r
	}
	return out
}

// mustVerify runs Verify and fails the test on any problem.
func mustVerify(t testing.TB, l *Ledger, since []byte) *Report {
	t.Helper()
	rep, err := l.Verify(context.Background(), since, nil)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !rep.OK() {
		t.Fatalf("verify found problems: %v", rep.Problems)
	}
	return rep
}
