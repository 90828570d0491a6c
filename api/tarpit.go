package api

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// A refusal for being over a limit (429) is cheap, but not free: a client
// that ignores Retry-After and asks again at once, from a few connections,
// gets thousands of them a second, and on a small machine the refusals
// alone take the cores the well-behaved callers need (measured with
// `creditbank abuse`: 135,000 refused tokens in 40 s took half a core and
// tripled a victim's p99). So a 429 is answered only after the shorter of
// its Retry-After and holdMax: a client that waits as told loses nothing,
// since it was told to wait at least that long, and one that does not is
// slowed to one request per hold per connection, at the cost of a parked
// goroutine and no CPU. Holds are bounded, so that held requests cannot
// occupy every connection the server admits; past the bound the 429 is
// answered at once and the connection closed, which costs a client that
// keeps asking a new connection each time.

// holdMax is the longest a 429 is held.
const holdMax = time.Second

// tarpit counts the 429s being held. There is no share per client: a held
// answer is one its client was refused anyway, so one client holding every
// place takes nothing from anyone who is not refused.
type tarpit struct {
	total int

	mu     sync.Mutex
	inHold int
}

// newTarpit holds at most total 429s at once; 0 holds none.
func newTarpit(total int) *tarpit { return &tarpit{total: total} }

// reserve takes a place to hold a 429, and reports false when every place
// is taken (or holding is off).
func (t *tarpit) reserve() bool {
	if t == nil || t.total <= 0 {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.inHold >= t.total {
		return false
	}
	t.inHold++
	return true
}

// hold waits the shorter of retryAfter (the answer's Retry-After, in
// whole seconds) and holdMax, or until the client goes, then gives back
// the place reserve took.
func (t *tarpit) hold(r *http.Request, retryAfter string) {
	defer func() {
		t.mu.Lock()
		t.inHold--
		t.mu.Unlock()
	}()
	secs, err := strconv.Atoi(retryAfter)
	if err != nil || secs <= 0 {
		return
	}
	timer := time.NewTimer(min(time.Duration(secs)*time.Second, holdMax))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-r.Context().Done():
	}
}
