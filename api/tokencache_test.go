package api

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"creditbank/accreditation"
)

// cacheKey is a distinct cache key for n.
func cacheKey(n int) [32]byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	return sha256.Sum256(b[:])
}

// cachedToken is a verification of issuer's token that expires at exp.
func cachedToken(issuer string, exp time.Time) verifiedToken {
	return verifiedToken{actor: accreditation.Actor{Role: accreditation.RoleInstitution, ID: issuer}, issuer: issuer, kid: "k", exp: exp, institution: true}
}

// TestTokenCacheEviction: which entry an insert evicts. An issuer at its
// cap loses its own least recently used token and nobody else's; a full
// cache loses the least recently used of all; a use makes a token recent;
// an expired token is dropped when met.
func TestTokenCacheEviction(t *testing.T) {
	now := time.Date(2026, 7, 15, 12, 0, 0, 0, time.UTC)
	var clock struct {
		sync.Mutex
		t time.Time
	}
	clock.t = now
	tick := func() time.Time { clock.Lock(); defer clock.Unlock(); return clock.t }
	later := now.Add(time.Hour)

	type op struct {
		put    int    // key to insert, of issuer
		issuer string // "" for a get of key get
		get    int
	}
	for _, tc := range []struct {
		name      string
		size, cap int
		ops       []op
		present   []int
		absent    []int
	}{
		{"issuer at its cap evicts its own oldest, not another's", 10, 3,
			[]op{{put: 1, issuer: "b"}, {put: 2, issuer: "a"}, {put: 3, issuer: "a"}, {put: 4, issuer: "a"}, {put: 5, issuer: "a"}, {put: 6, issuer: "a"}},
			[]int{1, 4, 5, 6}, []int{2, 3}},
		{"a use makes a token recent within its issuer", 10, 3,
			[]op{{put: 1, issuer: "a"}, {put: 2, issuer: "a"}, {put: 3, issuer: "a"}, {get: 1}, {put: 4, issuer: "a"}},
			[]int{1, 3, 4}, []int{2}},
		{"a full cache evicts the least recently used of all", 3, 3,
			[]op{{put: 1, issuer: "a"}, {put: 2, issuer: "b"}, {put: 3, issuer: "c"}, {get: 1}, {put: 4, issuer: "d"}},
			[]int{1, 3, 4}, []int{2}},
		{"a flood of one issuer keeps others in a full cache", 4, 2,
			[]op{{put: 1, issuer: "victim"}, {put: 2, issuer: "x"}, {put: 3, issuer: "x"}, {put: 4, issuer: "x"}, {put: 5, issuer: "x"}, {put: 6, issuer: "x"}},
			[]int{1, 5, 6}, []int{2, 3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTokenCache(tc.size, tick)
			for _, o := range tc.ops {
				if o.issuer == "" {
					if _, hit, _ := c.get(cacheKey(o.get)); !hit {
						t.Fatalf("get %d: miss", o.get)
					}
					continue
				}
				c.put(cacheKey(o.put), cachedToken(o.issuer, later), tc.cap)
			}
			for _, k := range tc.present {
				if _, hit, _ := c.get(cacheKey(k)); !hit {
					t.Errorf("token %d was evicted", k)
				}
			}
			for _, k := range tc.absent {
				if _, hit, _ := c.get(cacheKey(k)); hit {
					t.Errorf("token %d is still cached", k)
				}
			}
		})
	}

	t.Run("expired tokens are dropped when met", func(t *testing.T) {
		c := newTokenCache(10, tick)
		c.put(cacheKey(1), cachedToken("a", now.Add(time.Minute)), 10)
		c.put(cacheKey(2), cachedToken("a", now.Add(time.Minute)), 10)
		c.put(cacheKey(3), cachedToken("b", later), 10)
		clock.Lock()
		clock.t = now.Add(time.Minute + Leeway)
		clock.Unlock()
		if _, hit, expired := c.get(cacheKey(1)); hit || !expired {
			t.Fatalf("an expired token: hit %v expired %v", hit, expired)
		}
		if c.len() != 2 || c.issuerLen("a") != 1 {
			t.Fatalf("after a get of an expired token the cache holds %d (issuer a %d)", c.len(), c.issuerLen("a"))
		}
		c.put(cacheKey(4), cachedToken("b", later), 10) // meets token 2 at the tail
		if c.len() != 2 || c.issuerLen("a") != 0 {
			t.Fatalf("after an insert the cache holds %d (issuer a %d), want the expired tail dropped", c.len(), c.issuerLen("a"))
		}
	})
}

// newLimitedServer is s's bank behind a second handler whose
// authenticator is configured by cfg (issuers, bank and audience as s's).
func newLimitedServer(t testing.TB, s *testServer, cfg AuthConfig) *testServer {
	t.Helper()
	pub, _ := s.tokenKey.Public()
	cfg.Audience, cfg.Bank = testAudience, s.bank
	cfg.Issuers = []Issuer{{Name: "creditbank", Keys: map[string]accreditation.PublicJWK{pub.Kid: pub}}}
	a, err := NewAuthenticatorFromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := New(Config{Bank: s.bank, Auth: a, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testServer{Server: srv, ledger: s.ledger, bank: s.bank, auth: a, tokenKey: s.tokenKey, handler: h}
}

// freshInstToken signs an institution token no other call signs: its jti
// is new, so its bytes are too.
func freshInstToken(t testing.TB, k PrivateKey, id string) string {
	t.Helper()
	return signJWT(t, k.signingMethod(), k.Signer, k.Kid, instClaims(id, func(c jwt.MapClaims) { c["jti"] = strconv.FormatInt(nextID(), 10) }), nil)
}

// TestVerifyRateByIssuer: a token the cache does not hold spends one of
// its issuer's signature verifications. On a real server on loopback, an
// institution that mints new tokens past its burst gets 429 rate-limited
// with Retry-After (not 401), while another institution's cached token
// and its new ones keep working, and a token naming an unknown issuer or
// key is refused without spending anything.
func TestVerifyRateByIssuer(t *testing.T) {
	s := newTestServer(t)
	kFlood := s.institution(t, "flood.example")
	kCalm := s.institution(t, "calm.example")
	const burst = 5
	front := newLimitedServer(t, s, AuthConfig{VerifyRate: RateLimit{Rate: 0.001, Burst: burst}})
	calm := instToken(t, kCalm, "calm.example")
	if resp, body := front.do(t, "GET", "/v1/institutions/calm.example", calm, nil); resp.StatusCode != 200 {
		t.Fatalf("calm before the flood: %d %s", resp.StatusCode, body)
	}

	// Tokens naming no known issuer or key cost nothing from a bucket.
	stranger := mustKey(t, "EdDSA")
	for i := range 2 * burst {
		for _, tok := range []string{freshInstToken(t, stranger, "nobody.example"), freshInstToken(t, stranger, "flood.example")} {
			resp, body := front.do(t, "GET", "/v1/institutions/calm.example", tok, nil)
			if resp.StatusCode != 401 {
				t.Fatalf("unknown issuer or key %d: %d %s, want 401", i, resp.StatusCode, body)
			}
		}
	}

	for i := range burst {
		tok := freshInstToken(t, kFlood, "flood.example")
		if resp, body := front.do(t, "GET", "/v1/institutions/flood.example", tok, nil); resp.StatusCode != 200 {
			t.Fatalf("flood token %d of its burst: %d %s", i, resp.StatusCode, body)
		}
	}
	before := front.ledger.Size()
	resp, body := front.do(t, "POST", "/v1/outcomes", freshInstToken(t, kFlood, "flood.example"), outcomeFor("L1"))
	if p := problemOf(t, body); resp.StatusCode != 429 || p.Type != problemBase+"rate-limited" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("flood past its burst: %d %s (Retry-After %q), want 429 rate-limited", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	if front.ledger.Size() != before {
		t.Fatal("a rate-limited post wrote entries")
	}
	// The flood's cached tokens still work: only new ones are limited.
	if resp, body := front.do(t, "GET", "/v1/institutions/flood.example", instToken(t, kFlood, "flood.example"), nil); resp.StatusCode != 429 {
		t.Fatalf("another new flood token: %d %s, want 429", resp.StatusCode, body)
	}
	for name, tok := range map[string]string{"calm's cached token": calm, "calm's new token": freshInstToken(t, kCalm, "calm.example")} {
		if resp, body := front.do(t, "POST", "/v1/outcomes", tok, outcomeFor("L2")); resp.StatusCode != 201 {
			t.Fatalf("%s during the flood: %d %s", name, resp.StatusCode, body)
		}
	}
}

// TestTokenFloodKeepsOthersCached: a flood of distinct valid tokens of one
// institution, many times the cache's size, leaves another institution's
// cached token in the cache (it is not verified again), because the flood
// evicts only its own. With no share per issuer (TokenCachePerInstitution
// as large as the cache) the victim's token is evicted.
func TestTokenFloodKeepsOthersCached(t *testing.T) {
	s := newTestServer(t)
	kFlood := s.institution(t, "flood.example")
	kVictim := s.institution(t, "victim.example")
	const size = 40
	front := newLimitedServer(t, s, AuthConfig{VerifyRate: RateLimit{Rate: -1}, TokenCacheSize: size, TokenCachePerInstitution: size / 4})
	victim := instToken(t, kVictim, "victim.example")
	if resp, body := front.do(t, "GET", "/v1/institutions/victim.example", victim, nil); resp.StatusCode != 200 {
		t.Fatalf("victim: %d %s", resp.StatusCode, body)
	}
	for i := range 3 * size {
		if resp, body := front.do(t, "GET", "/v1/institutions/flood.example", freshInstToken(t, kFlood, "flood.example"), nil); resp.StatusCode != 200 {
			t.Fatalf("flood token %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if _, hit, _ := front.auth.cache.get(sha256.Sum256([]byte(victim))); !hit {
		t.Fatal("the flood evicted the victim's cached token")
	}
	if n := front.auth.cache.issuerLen("flood.example"); n != size/4 {
		t.Fatalf("the flooding institution holds %d cached tokens, want its share %d", n, size/4)
	}
	if resp, body := front.do(t, "GET", "/v1/institutions/victim.example", victim, nil); resp.StatusCode != 200 {
		t.Fatalf("victim after the flood: %d %s", resp.StatusCode, body)
	}
}

// oldMapCache is the first version's cache insert, kept as the baseline of
// BenchmarkTokenCacheInsert: a map that, once full, is scanned whole under
// its lock on every insert.
type oldMapCache struct {
	size int
	now  func() time.Time
	mu   sync.Mutex
	m    map[[32]byte]verifiedToken
}

func (c *oldMapCache) put(sum [32]byte, v verifiedToken) {
	c.mu.Lock()
	if len(c.m) >= c.size {
		now := c.now()
		for k, e := range c.m {
			if !now.Before(e.exp.Add(Leeway)) || len(c.m) >= c.size {
				delete(c.m, k)
			}
		}
	}
	c.m[sum] = v
	c.mu.Unlock()
}

// BenchmarkTokenCacheInsert inserts new tokens into an empty and into a
// full cache of the default size, with the first version's map and scan
// and with the LRU lists: the ratio full/empty is what a flood of new
// tokens costs each insert once the cache is full.
func BenchmarkTokenCacheInsert(b *testing.B) {
	exp := time.Now().Add(time.Hour)
	const size = DefaultTokenCacheSize
	fill := func(put func([32]byte, verifiedToken)) {
		for i := range size {
			put(cacheKey(i), cachedToken("inst-"+strconv.Itoa(i%500), exp))
		}
	}
	for _, full := range []bool{false, true} {
		name := map[bool]string{false: "empty", true: "full"}[full]
		b.Run("old-map-scan/"+name, func(b *testing.B) {
			c := &oldMapCache{size: size, now: time.Now, m: map[[32]byte]verifiedToken{}}
			if full {
				fill(c.put)
			}
			b.ResetTimer()
			for i := range b.N {
				if !full && len(c.m) >= size-1 {
					c.m = map[[32]byte]verifiedToken{}
				}
				c.put(cacheKey(size+i), cachedToken("flood", exp))
			}
		})
		b.Run("lru/"+name, func(b *testing.B) {
			c := newTokenCache(size, time.Now)
			if full {
				fill(func(k [32]byte, v verifiedToken) { c.put(k, v, DefaultTokenCachePerInstitution) })
			}
			b.ResetTimer()
			for i := range b.N {
				if !full && c.len() >= DefaultTokenCachePerInstitution-1 {
					c.clear()
				}
				c.put(cacheKey(size+i), cachedToken("flood", exp), DefaultTokenCachePerInstitution)
			}
		})
	}
}

// BenchmarkAuthenticateCached authenticates one cached institution token
// with the rest of the cache empty and full: a hit must cost the same.
func BenchmarkAuthenticateCached(b *testing.B) {
	s := newTestServer(b)
	k := s.institution(b, "bench.example")
	for _, full := range []bool{false, true} {
		b.Run(map[bool]string{false: "empty", true: "full"}[full], func(b *testing.B) {
			s.auth.cache.clear()
			if full {
				exp := time.Now().Add(time.Hour)
				for i := range DefaultTokenCacheSize - 1 {
					s.auth.cache.put(cacheKey(i), cachedToken("inst-"+strconv.Itoa(i%500), exp), DefaultTokenCachePerInstitution)
				}
			}
			req := httptest.NewRequest("GET", "/v1/institutions/bench.example", nil)
			req.Header.Set("Authorization", "Bearer "+instToken(b, k, "bench.example"))
			if _, err := s.auth.Authenticate(req); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := s.auth.Authenticate(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTokenCacheMemory reports the heap bytes an entry of a full
// cache takes (bytes/entry), for the memory bound in tokencache.go: ids,
// issuers and kids of 40 bytes, as long as the longest the API lets
// through are rare.
func BenchmarkTokenCacheMemory(b *testing.B) {
	for range b.N {
		exp := time.Now().Add(time.Hour)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := newTokenCache(DefaultTokenCacheSize, time.Now)
		for i := range DefaultTokenCacheSize {
			issuer := fmt.Sprintf("institution-%029d", i%500)
			v := cachedToken(issuer, exp)
			v.kid = fmt.Sprintf("kid-%036d", i%500)
			v.actor.ID = fmt.Sprintf("institution-%029d", i%500)
			c.put(cacheKey(i), v, DefaultTokenCachePerInstitution)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/DefaultTokenCacheSize, "bytes/entry")
		runtime.KeepAlive(c)
	}
}
