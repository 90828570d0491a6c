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
// its Retry-After and holdMax, with that time taken off the Retry-After it
// carries: a client that waits as told asks again when it would have, and
// one that does not is slowed to one request per hold per connection, at
// the cost of a parked goroutine and no CPU. Holds are bounded, so that held requests cannot
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

// reserve takes a place to hold the 429 whose header is h, and returns
// how long to hold it: the shorter of its Retry-After and holdMax, which it
// takes off the Retry-After it sends, so that a client that waits as told
// asks again when it would have without the hold. It returns 0 when every
// place is taken (or holding is off, or the answer has no Retry-After).
func (t *tarpit) reserve(h http.Header) time.Duration {
	if t == nil || t.total <= 0 {
		return 0
	}
	secs, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || secs <= 0 {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.inHold >= t.total {
		return 0
	}
	t.inHold++
	hold := min(time.Duration(secs)*time.Second, holdMax)
	h.Set("Retry-After", strconv.Itoa(secs-int(hold/time.Second)))
	return hold
}

// wait holds for d, or until the client goes.
func (t *tarpit) wait(r *http.Request, d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-r.Context().Done():
	}
}

// release gives back the place reserve took.
func (t *tarpit) release() {
	t.mu.Lock()
	t.inHold--
	t.mu.Unlock()
}
