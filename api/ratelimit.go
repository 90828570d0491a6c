package api

import (
	"math"
	"sync"
	"time"
)

// RateLimit is a token bucket per institution: Rate requests a second on
// average, Burst at once. An institution that posts a term's results in
// batches needs few requests; one that floods the bank slows only itself.
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
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	full := time.Duration(float64(l.cfg.Burst) / l.cfg.Rate * float64(time.Second))
	if now.Sub(l.swept) > full {
		for k, b := range l.buckets {
			if now.Sub(b.at) >= full {
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
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.cfg.Rate * float64(time.Second))
	return false, wait
}
