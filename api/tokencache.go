package api

import (
	"sync"
	"time"
)

// The verified-token cache. A reused token must cost a lookup, not a
// signature check, and no caller may make anyone else's lookups slow or
// push anyone else's tokens out: the first version kept a plain map and,
// when it was full, scanned all of it under its lock for each insert,
// which took a victim's p99 from 16.7 to 91.6 ms while one institution
// minted new tokens. Here an insert and an eviction are O(1): the entries
// are in a least-recently-used list, and each issuer's entries also in a
// list of their own, counted, so that an issuer at its cap evicts its own
// least recently used token and never another issuer's.
//
// Sizes (the memory bound): an entry with its map slot and 40-byte ids is
// about 430 bytes (BenchmarkTokenCacheMemory measures it), so the default
// 100,000 entries hold about 43 MB, 50 MB with the longest ids the API
// accepts. An institution's tokens live 10 minutes and it needs a few at a
// time, so one institution holds at most 1,000 (0.5 MB); the
// service's own issuer signs a token for each learner who signs in, so a
// service issuer may hold half the cache.
const (
	// DefaultTokenCacheSize is the most tokens the cache holds.
	DefaultTokenCacheSize = 100000
	// DefaultTokenCachePerInstitution is the most one institution holds.
	DefaultTokenCachePerInstitution = 1000
	// DefaultTokenCachePerServiceIssuer is the most one trusted issuer of
	// service tokens holds.
	DefaultTokenCachePerServiceIssuer = DefaultTokenCacheSize / 2
)

// tokenCache maps the SHA-256 of a token to its verification. It is safe
// for concurrent use; each call holds its one lock for a few map and list
// operations.
type tokenCache struct {
	size int
	now  func() time.Time

	mu      sync.Mutex
	entries map[[32]byte]*cacheEntry
	// all is the list of every entry, most recently used first.
	all cacheList
	// issuers holds each issuer's entries, most recently used first, with
	// its cap.
	issuers map[string]*issuerEntries
}

// issuerEntries are one issuer's cached tokens.
type issuerEntries struct {
	list cacheList
	cap  int
}

// cacheEntry is one cached token, linked into two lists: all entries, and
// its issuer's.
type cacheEntry struct {
	key   [32]byte
	token verifiedToken
	links [2]cacheLinks // [inAll], [inIssuer]
}

type cacheLinks struct{ prev, next *cacheEntry }

const (
	inAll = iota
	inIssuer
)

// cacheList is an intrusive doubly linked list through one of the
// entries' two links; head is the most recently used.
type cacheList struct {
	which      int
	head, tail *cacheEntry
	n          int
}

func (l *cacheList) pushFront(e *cacheEntry) {
	lk := &e.links[l.which]
	lk.prev, lk.next = nil, l.head
	if l.head != nil {
		l.head.links[l.which].prev = e
	}
	l.head = e
	if l.tail == nil {
		l.tail = e
	}
	l.n++
}

func (l *cacheList) remove(e *cacheEntry) {
	lk := &e.links[l.which]
	if lk.prev != nil {
		lk.prev.links[l.which].next = lk.next
	} else {
		l.head = lk.next
	}
	if lk.next != nil {
		lk.next.links[l.which].prev = lk.prev
	} else {
		l.tail = lk.prev
	}
	lk.prev, lk.next = nil, nil
	l.n--
}

func (l *cacheList) moveToFront(e *cacheEntry) {
	if l.head != e {
		l.remove(e)
		l.pushFront(e)
	}
}

// newTokenCache holds at most size tokens; now is the clock.
func newTokenCache(size int, now func() time.Time) *tokenCache {
	return &tokenCache{size: size, now: now, entries: map[[32]byte]*cacheEntry{},
		all: cacheList{which: inAll}, issuers: map[string]*issuerEntries{}}
}

// expired reports whether a cached token is past its exp, with the leeway
// the parser allows.
func (c *tokenCache) expired(v *verifiedToken, now time.Time) bool {
	return !now.Before(v.exp.Add(Leeway))
}

// get returns the verification of the token that hashes to key. A token
// found expired is dropped and reported as such.
func (c *tokenCache) get(key [32]byte) (v verifiedToken, hit, expired bool) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return verifiedToken{}, false, false
	}
	if c.expired(&e.token, now) {
		c.drop(e)
		return verifiedToken{}, false, true
	}
	c.all.moveToFront(e)
	c.issuers[e.token.issuer].list.moveToFront(e)
	return e.token, true, false
}

// put caches v under key, with issuerCap the most tokens v's issuer may
// hold. When the issuer is at its cap its least recently used token goes;
// else when the cache is full, the least recently used of all. Expired
// tokens at the tail of either list go first.
func (c *tokenCache) put(key [32]byte, v verifiedToken, issuerCap int) {
	if issuerCap <= 0 || c.size <= 0 {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok { // verified twice at once
		c.drop(e)
	}
	is := c.issuers[v.issuer]
	if is == nil {
		is = &issuerEntries{list: cacheList{which: inIssuer}}
		c.issuers[v.issuer] = is
	}
	is.cap = issuerCap
	// Dropping the expired tail entries met here keeps each insert's work
	// bounded (at most two) while the dead do not linger at the ends.
	for i := 0; i < 2 && c.all.tail != nil && c.expired(&c.all.tail.token, now); i++ {
		c.drop(c.all.tail)
	}
	for is.list.n >= is.cap {
		c.drop(is.list.tail)
	}
	for c.all.n >= c.size {
		c.drop(c.all.tail)
	}
	e := &cacheEntry{key: key, token: v}
	c.entries[key] = e
	c.all.pushFront(e)
	is.list.pushFront(e)
	if c.issuers[v.issuer] == nil { // its last entry went above
		c.issuers[v.issuer] = is
	}
}

// drop removes e from the map and both lists.
func (c *tokenCache) drop(e *cacheEntry) {
	delete(c.entries, e.key)
	c.all.remove(e)
	is := c.issuers[e.token.issuer]
	is.list.remove(e)
	if is.list.n == 0 {
		delete(c.issuers, e.token.issuer)
	}
}

// clear drops every entry.
func (c *tokenCache) clear() {
	c.mu.Lock()
	c.entries = map[[32]byte]*cacheEntry{}
	c.all = cacheList{which: inAll}
	c.issuers = map[string]*issuerEntries{}
	c.mu.Unlock()
}

// len is the number of tokens cached.
func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.all.n
}

// issuerLen is the number of tokens of issuer cached.
func (c *tokenCache) issuerLen(issuer string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if is := c.issuers[issuer]; is != nil {
		return is.list.n
	}
	return 0
}
