package accreditation

import (
	"fmt"
	"testing"
	"time"
)

// setTime moves the clock to tm.
func (c *testClock) setTime(tm time.Time) {
	c.mu.Lock()
	c.t = tm
	c.mu.Unlock()
}

// TestCompletedOnEarliestZone: completed_on may be any date up to today at
// UTC+14, judged at the time the ledger gives the post, and no later.
func TestCompletedOnEarliestZone(t *testing.T) {
	cases := []struct {
		now       string // UTC
		completed string
		ok        bool
	}{
		{"2026-07-15T09:59:59Z", "2026-07-15", true},
		{"2026-07-15T09:59:59Z", "2026-07-16", false}, // 23:59:59 on the 15th at UTC+14
		{"2026-07-15T10:00:00Z", "2026-07-16", true},  // midnight at UTC+14
		{"2026-07-15T10:00:00Z", "2026-07-17", false},
		{"2026-07-15T23:59:59Z", "2026-07-16", true},
		{"2026-07-15T00:00:00Z", "2026-07-15", true},
		{"2026-07-14T23:59:59Z", "2026-07-15", true}, // 13:59:59 on the 15th at UTC+14
		{"2026-12-31T10:00:00Z", "2027-01-01", true},
		{"2026-12-31T09:00:00Z", "2027-01-01", false},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%s completed %s", tc.now, tc.completed), func(t *testing.T) {
			now, err := time.Parse(time.RFC3339, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			// Before anything is written: the ledger's times never go back.
			b := newTestBank(t)
			b.clock.setTime(now)
			college := b.institution(t, rtCollege)
			o := outcome("L1", fmt.Sprintf("date-%d", i))
			o.CompletedOn = tc.completed
			if !tc.ok {
				rtPostRejected(t, b, college, o, CodeInvalid)
				return
			}
			b.post(t, college, o)
			b.checkReplay(t)
		})
	}
}
