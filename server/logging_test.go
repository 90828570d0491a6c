package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"
)

// TestRepeats: the first warning or error of a kind is logged, the others
// within the window are held back, and the end of the window logs the last
// of them with how many were held back (and opens another window), or
// forgets the kind when none was; digits do not make kinds apart, the
// level and the err attribute do; info lines are never held back; close
// logs what is held back and lets everything through.
func TestRepeats(t *testing.T) {
	// Each step logs a line ("level msg" or "level msg|err"), ends the
	// windows open ("tick") or closes the limiter ("close").
	tests := []struct {
		name  string
		steps []string
		want  []string // "msg" or "msg suppressed=N", in order
	}{
		{"info never held back",
			[]string{"INFO request", "INFO request", "INFO request"},
			[]string{"request", "request", "request"}},
		{"repeats counted at the end of the window",
			[]string{"ERROR pebble: open 000123.sst: too many open files", "ERROR pebble: open 000123.sst: too many open files",
				"ERROR pebble: open 000123.sst: too many open files", "tick", "tick", "ERROR pebble: open 000123.sst: too many open files"},
			[]string{"pebble: open 000123.sst: too many open files", "pebble: open 000123.sst: too many open files suppressed=2",
				"pebble: open 000123.sst: too many open files"}},
		{"a flood logs once a window",
			[]string{"WARN slow", "WARN slow", "tick", "WARN slow", "WARN slow", "WARN slow", "tick", "tick", "tick"},
			[]string{"slow", "slow suppressed=1", "slow suppressed=3"}},
		{"digits do not make kinds apart",
			[]string{"ERROR http: Accept error: accept4: too many open files; retrying in 5ms",
				"ERROR http: Accept error: accept4: too many open files; retrying in 10ms",
				"ERROR http: Accept error: accept4: too many open files; retrying in 320ms", "tick"},
			[]string{"http: Accept error: accept4: too many open files; retrying in 5ms",
				"http: Accept error: accept4: too many open files; retrying in 320ms suppressed=2"}},
		{"nor do digits in err",
			[]string{"ERROR pebble background error|open 000007.sst: too many open files",
				"ERROR pebble background error|open 000008.sst: too many open files", "tick"},
			[]string{"pebble background error", "pebble background error suppressed=1"}},
		{"another err is another kind",
			[]string{"ERROR pebble background error|disk full", "ERROR pebble background error|bad checksum", "tick"},
			[]string{"pebble background error", "pebble background error"}},
		{"another level is another kind",
			[]string{"WARN backup", "ERROR backup", "tick"},
			[]string{"backup", "backup"}},
		{"close logs what is held back, then lets everything through",
			[]string{"ERROR stuck", "ERROR stuck", "ERROR stuck", "close", "ERROR stuck", "ERROR stuck"},
			[]string{"stuck", "stuck suppressed=2", "stuck", "stuck"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			var pending []func()
			r := newRepeats()
			r.after = func(d time.Duration, f func()) {
				if d != time.Second {
					t.Errorf("window %v, want 1s", d)
				}
				pending = append(pending, f)
			}
			log := slog.New(r.handler(slog.NewJSONHandler(&out, nil)))
			for _, st := range tt.steps {
				switch st {
				case "tick":
					due := pending
					pending = nil
					for _, f := range due {
						f()
					}
				case "close":
					r.close()
				default:
					var level slog.Level
					lv, rest, _ := bytes.Cut([]byte(st), []byte(" "))
					if err := level.UnmarshalText(lv); err != nil {
						t.Fatal(err)
					}
					msg, errText, hasErr := bytes.Cut(rest, []byte("|"))
					if hasErr {
						log.Log(t.Context(), level, string(msg), "err", string(errText))
					} else {
						log.Log(t.Context(), level, string(msg))
					}
				}
			}
			var got []string
			sc := bufio.NewScanner(&out)
			for sc.Scan() {
				var rec struct {
					Msg        string `json:"msg"`
					Suppressed *int   `json:"suppressed"`
				}
				if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
					t.Fatal(err)
				}
				line := rec.Msg
				if rec.Suppressed != nil {
					line += fmt.Sprintf(" suppressed=%d", *rec.Suppressed)
				}
				got = append(got, line)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("logged\n\t%q\nwant\n\t%q", got, tt.want)
			}
		})
	}
}
