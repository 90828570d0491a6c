package server

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// A failure that repeats on every attempt (accept failing for want of
// descriptors, Pebble failing to open a file) can log a line per attempt:
// 789,557 lines, 146 MB, in one such episode. The log keeps the first line
// of each kind and then one a second with the count of those held back.

// repeatWindow is how long identical warnings and errors are held back
// after one is logged.
const repeatWindow = time.Second

// maxRepeatKinds bounds how many kinds of line are tracked at once; lines
// of further kinds are logged as they come.
const maxRepeatKinds = 4096

// repeats holds back repeated warnings and errors: the first of a kind is
// logged, the others that come within the window are counted, and when the
// window ends the last of them is logged with suppressed=N, the number held
// back, which opens a new window. A kind quiet for a whole window is
// forgotten. Two records are of one kind when they have the same level,
// message and err attribute once every run of digits is ignored, so that
// "retrying in 5ms" and "retrying in 10ms", or the numbers of two table
// files, do not make two kinds. Info and debug lines (one per request) are
// never held back.
type repeats struct {
	window time.Duration
	// after runs f once d has passed; time.AfterFunc but in tests.
	after func(d time.Duration, f func())

	mu     sync.Mutex
	kinds  map[string]*repeated
	closed bool
}

// repeated is one kind of line within its window.
type repeated struct {
	suppressed int
	last       slog.Record  // the latest held back, cloned
	to         slog.Handler // where it was headed
}

func newRepeats() *repeats {
	return &repeats{window: repeatWindow, kinds: map[string]*repeated{},
		after: func(d time.Duration, f func()) { time.AfterFunc(d, f) }}
}

// handler returns a handler that logs to h through r.
func (r *repeats) handler(h slog.Handler) slog.Handler { return repeatHandler{h, r} }

// admit says whether rec, headed for to, is logged now; if not, it is
// counted and kept for the end of its window.
func (r *repeats) admit(to slog.Handler, rec slog.Record) bool {
	if rec.Level < slog.LevelWarn {
		return true
	}
	key := repeatKey(rec)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return true
	}
	k := r.kinds[key]
	if k == nil {
		if len(r.kinds) < maxRepeatKinds {
			r.kinds[key] = &repeated{}
			r.after(r.window, func() { r.endWindow(key) })
		}
		return true
	}
	k.suppressed++
	k.last, k.to = rec.Clone(), to
	return false
}

// endWindow logs the last record held back of kind key with the count, or
// forgets the kind if none was.
func (r *repeats) endWindow(key string) {
	r.mu.Lock()
	k := r.kinds[key]
	if k == nil || r.closed {
		r.mu.Unlock()
		return
	}
	if k.suppressed == 0 {
		delete(r.kinds, key)
		r.mu.Unlock()
		return
	}
	rec, to, n := k.last, k.to, k.suppressed
	*k = repeated{}
	r.after(r.window, func() { r.endWindow(key) })
	r.mu.Unlock()
	rec.AddAttrs(slog.Int("suppressed", n))
	_ = to.Handle(context.Background(), rec)
}

// close logs what is held back, so that a server that stops leaves no
// count unsaid, and lets every later record through.
func (r *repeats) close() {
	r.mu.Lock()
	kinds := r.kinds
	r.kinds, r.closed = nil, true
	r.mu.Unlock()
	for _, k := range kinds {
		if k.suppressed > 0 {
			k.last.AddAttrs(slog.Int("suppressed", k.suppressed))
			_ = k.to.Handle(context.Background(), k.last)
		}
	}
}

// repeatKey is the kind of rec: its level, message and err attribute with
// every run of digits as one '#'.
func repeatKey(rec slog.Record) string {
	var b strings.Builder
	b.WriteString(rec.Level.String())
	b.WriteByte(0)
	digitless(&b, rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key != "err" {
			return true
		}
		b.WriteByte(0)
		digitless(&b, a.Value.String())
		return false
	})
	return b.String()
}

// digitless writes s to b with every run of digits as one '#'.
func digitless(b *strings.Builder, s string) {
	inRun := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' {
			if !inRun {
				b.WriteByte('#')
			}
			inRun = true
			continue
		}
		inRun = false
		b.WriteByte(c)
	}
}

// repeatHandler is a slog.Handler that holds back repeated warnings and
// errors (see repeats) before handing records to the handler it wraps.
type repeatHandler struct {
	h slog.Handler
	r *repeats
}

// Enabled is the wrapped handler's.
func (h repeatHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

// Handle logs rec unless it repeats a line logged within the window.
func (h repeatHandler) Handle(ctx context.Context, rec slog.Record) error {
	if !h.r.admit(h.h, rec) {
		return nil
	}
	return h.h.Handle(ctx, rec)
}

// WithAttrs keeps the same window for the derived handler.
func (h repeatHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return repeatHandler{h.h.WithAttrs(as), h.r}
}

// WithGroup keeps the same window for the derived handler.
func (h repeatHandler) WithGroup(name string) slog.Handler {
	return repeatHandler{h.h.WithGroup(name), h.r}
}
