package progress

import (
	"bytes"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestOffTerminal: on anything but a terminal (a buffer, a file, a nil
// display) nothing is drawn, so logs and pipes get only the command's output.
func TestOffTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	var items atomic.Int64
	for name, d := range map[string]*Display{"buffer": New(&buf), "file": New(f), "nil": nil} {
		d.Bar("verifying")(5, 10)
		d.Rate("fill", 0, time.Second, &items)()
		d.Clear()
		if name == "file" {
			if st, _ := f.Stat(); st.Size() != 0 {
				t.Errorf("%s: %d bytes drawn", name, st.Size())
			}
		}
	}
	if buf.Len() != 0 {
		t.Errorf("buffer: drawn %q", buf.String())
	}
}

// TestBar: the bar shows done of total, at most ten times a second but
// always at the end, and Clear erases it.
func TestBar(t *testing.T) {
	var buf bytes.Buffer
	d := &Display{w: &buf}
	bar := d.Bar("verifying")
	bar(1, 4)
	bar(2, 4) // within 100 ms of the first: skipped
	bar(4, 4) // the end: always drawn
	out := buf.String()
	if want := "\rverifying [#######.......................] 1/4 entries (25%)"; !strings.HasPrefix(out, want) {
		t.Errorf("first draw %q, want prefix %q", out, want)
	}
	if strings.Contains(out, "2/4") {
		t.Errorf("a draw within 100 ms was not skipped: %q", out)
	}
	if !strings.HasSuffix(out, "[##############################] 4/4 entries (100%)") {
		t.Errorf("the last draw is missing: %q", out)
	}
	buf.Reset()
	d.Clear()
	d.Clear() // nothing shown any more: nothing to erase
	if got := buf.String(); got != "\r\033[K" {
		t.Errorf("Clear wrote %q", got)
	}
}

// TestRate: the rate line shows the items counted so far, and stopping it
// erases the line before it returns.
func TestRate(t *testing.T) {
	var buf bytes.Buffer // read only after stop, which waits for the drawing goroutine
	d := &Display{w: &buf}
	var items atomic.Int64
	items.Store(42)
	stop := d.Rate("fill", 100, time.Second, &items)
	time.Sleep(300 * time.Millisecond)
	stop()
	out := buf.String()
	if !strings.Contains(out, "fill: 42 items") {
		t.Errorf("no rate line in %q", out)
	}
	if !strings.HasSuffix(out, "\r\033[K") {
		t.Errorf("the line was not erased at the end: %q", out)
	}
}
