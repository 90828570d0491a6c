package api

import (
	"math"
	"sync"
	"time"
)

// RateLimit is a token bucket per key: Rate tokens a second on average,
// Burst at once. The token is a request for the request rates (an
// institution that posts a term's results in batches needs few requests;
// one that floods the bank slows only itself), a row read for the cost
// budgets and a byte for the body budgets (budget.go).
type RateLimit struct {
	Rate  float64
	Burst int
}

// limiter holds one bucket per key. Buckets idle long enough to be full
// again are dropped, so the map stays as small as the set of active keys.
type limiter struct {
	cfg RateLimit
	now func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

// bucket is one key's tokens as of at.
type bucket struct {
	tokens float64
	at     time.Time
}

// newLimiter returns a limiter for cfg; now is the clock, time.Now when nil.
func newLimiter(cfg RateLimit, now func() time.Time) *limiter {
	if now == nil {
		now = time.Now
	}
	return &limiter{cfg: cfg, now: now, buckets: map[string]*bucket{}}
}

// allow takes a token for key. When there is none it returns false and how
// long until there will be one (for Retry-After).
func (l *limiter) allow(key string) (bool, time.Duration) {
	if l == nil || l.cfg.Rate <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, l.waitFor(1 - b.tokens)
}

// admit reports whether key's balance holds a token, the test of the cost
// budgets: a request is let in while it does, and its cost, known only
// once it ran, is charged after (charge), so one large request drives the
// balance below zero and the caller waits until it holds a token again.
// When it does not, admit returns how long that takes.
func (l *limiter) admit(key string) (bool, time.Duration) { return l.admitN(key, 1) }

// admitN is admit for a request known to cost n: it is let in while the
// balance holds n, else admitN returns how long until it does.
func (l *limiter) admitN(key string, n float64) (bool, time.Duration) {
	if l == nil || l.cfg.Rate <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key)
	if b.tokens >= n {
		return true, 0
	}
	return false, l.waitFor(n - b.tokens)
}

// charge takes n tokens from key's bucket, below zero if it holds fewer,
// and reports whether the balance still holds a token and, if not, how
// long until it does.
func (l *limiter) charge(key string, n float64) (bool, time.Duration) {
	if l == nil || l.cfg.Rate <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key)
	b.tokens -= n
	if b.tokens >= 1 {
		return true, 0
	}
	return false, l.waitFor(1 - b.tokens)
}

// waitFor is how long the bucket takes to gain n tokens.
func (l *limiter) waitFor(n float64) time.Duration {
	return time.Duration(n / l.cfg.Rate * float64(time.Second))
}

// refill returns key's bucket, made full when new, with the tokens gained
// since it was last seen; l.mu is held. Buckets idle long enough to be full
// again are swept first, at most once per such interval, so the sweep
// costs each request little. A bucket below zero is kept until it is full
// again: dropping it sooner would forgive a debt.
func (l *limiter) refill(key string) *bucket {
	now := l.now()
	full := time.Duration(float64(l.cfg.Burst) / l.cfg.Rate * float64(time.Second))
	if now.Sub(l.swept) > full {
		for k, b := range l.buckets {
			if b.tokens+now.Sub(b.at).Seconds()*l.cfg.Rate >= float64(l.cfg.Burst) {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: float64(l.cfg.Burst), at: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(float64(l.cfg.Burst), b.tokens+now.Sub(b.at).Seconds()*l.cfg.Rate)
	b.at = now
	return b
}
