// Package progress shows how far a long command has got: a bar for work of
// known size (verifying a ledger, checking a backup) and a running rate for
// timed load. It draws only on a terminal, so that logs and pipes get
// nothing but the command's own output.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Display draws progress lines on one writer. A nil *Display, or one whose
// writer is not a terminal, draws nothing. Its methods are safe for
// concurrent use.
type Display struct {
	w     io.Writer
	mu    sync.Mutex
	shown bool
	last  time.Time
}

// New returns a display on w, which draws only when w is a terminal.
func New(w io.Writer) *Display {
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return &Display{w: w}
		}
	}
	return &Display{}
}

func (d *Display) on() bool { return d != nil && d.w != nil }

// Bar returns a function that draws a bar of done out of total entries
// after label, at most ten times a second and always when done reaches
// total. Its signature is that of the ledger's verification progress.
func (d *Display) Bar(label string) func(done, total uint64) {
	return func(done, total uint64) {
		if !d.on() {
			return
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if done < total && time.Since(d.last) < 100*time.Millisecond {
			return
		}
		d.last = time.Now()
		pct := uint64(100)
		if total > 0 {
			pct = done * 100 / total
		}
		const width = 30
		filled := int(min(pct, 100) * width / 100)
		bar := strings.Repeat("#", filled) + strings.Repeat(".", width-filled)
		fmt.Fprintf(d.w, "\r%s [%s] %d/%d entries (%d%%)", label, bar, done, total, pct)
		d.shown = true
	}
}

// Rate shows label's count of items and their rate four times a second
// until the returned function is called, which clears the line. With a
// count (a fixed amount of work) it shows the time taken so far; otherwise
// the time taken out of dur.
func (d *Display) Rate(label string, count int, dur time.Duration, items *atomic.Int64) (stop func()) {
	if !d.on() || label == "" {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	began := time.Now()
	go func() {
		defer close(done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				d.Clear()
				return
			case <-t.C:
				el := time.Since(began)
				of := fmt.Sprintf("%.0fs of %.0fs", el.Seconds(), dur.Seconds())
				if count > 0 {
					of = fmt.Sprintf("%.0fs", el.Seconds())
				}
				n := items.Load()
				d.mu.Lock()
				fmt.Fprintf(d.w, "\r\033[K%s: %d items, %.0f/s, %s", label, n, float64(n)/el.Seconds(), of)
				d.shown = true
				d.mu.Unlock()
			}
		}
	}()
	return func() { close(quit); <-done }
}

// Clear removes the progress line, if one is shown, so that what the
// command prints next starts on a clean line.
func (d *Display) Clear() {
	if !d.on() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.shown {
		fmt.Fprint(d.w, "\r\033[K")
		d.shown = false
	}
}
