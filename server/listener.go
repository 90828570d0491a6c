package server

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// limitListener admits at most max connections at once. A connection that
// arrives when all are taken closes the one that has waited longest for a
// request (a new connection that has sent no request yet, or an idle
// keep-alive one) and takes its place; when every connection is busy with a
// request, it waits in the kernel's backlog until one ends. So idle
// connections, however many a client holds open, can neither exhaust the
// process's descriptors nor keep a new client out. Closing an idle
// connection races with a request the client sends on it at that moment,
// as the idle timeout does: the oldest idle connection is the least likely
// to be reused, which is why it is the one closed.
//
// A connection the server has finished with but not yet closed comes
// first: net/http half-closes a connection whose client may still be
// sending (a body the handler did not read, as when a request is refused
// before its body is read, or an answer that closes the connection) and
// waits half a second before closing it, so that the client reads the
// answer before a reset. A client refused again and again makes such
// connections faster than they close; were they kept, they would fill
// the slots and push out the idle keep-alive connections of well-behaved
// clients. Closing one early costs at most a client that did not wait for
// its answer the end of that answer.
//
// Its ConnState method must be the http.Server's ConnState hook: that is
// how it learns which connections wait for a request.
type limitListener struct {
	net.Listener
	slots chan struct{} // one per open connection
	// waiting is signalled when a connection starts waiting for a request,
	// so that an Accept blocked on a full listener may close it.
	waiting chan struct{}
	done    chan struct{}
	once    sync.Once
	evicted atomic.Uint64

	mu   sync.Mutex
	idle map[*limitedConn]time.Time // connections waiting for a request, since when
	// closing holds the connections half-closed by the server (CloseWrite).
	closing map[*limitedConn]struct{}
}

func newLimitListener(ln net.Listener, max int) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, max), waiting: make(chan struct{}, 1),
		done: make(chan struct{}), idle: map[*limitedConn]time.Time{}, closing: map[*limitedConn]struct{}{}}
}

// Accept waits for a connection, then for a slot for it.
func (l *limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if !l.acquire() {
		c.Close()
		return nil, net.ErrClosed
	}
	return &limitedConn{Conn: c, l: l}, nil
}

// acquire takes a slot, closing the connection that has waited longest
// for a request when none is free. It returns false once the listener is
// closed.
func (l *limitListener) acquire() bool {
	for {
		select {
		case l.slots <- struct{}{}:
			return true
		case <-l.done:
			return false
		default:
		}
		if l.closeOldestIdle() {
			continue
		}
		select {
		case l.slots <- struct{}{}:
			return true
		case <-l.waiting:
		case <-l.done:
			return false
		}
	}
}

// closeOldestIdle closes a connection the server is done with, or else the
// one that has waited longest for a request, if there is one.
func (l *limitListener) closeOldestIdle() bool {
	l.mu.Lock()
	var oldest *limitedConn
	for c := range l.closing {
		oldest = c
		break
	}
	if oldest == nil {
		var since time.Time
		for c, t := range l.idle {
			if oldest == nil || t.Before(since) {
				oldest, since = c, t
			}
		}
	}
	delete(l.idle, oldest)
	delete(l.closing, oldest)
	l.mu.Unlock()
	if oldest == nil {
		return false
	}
	oldest.Close()
	l.evicted.Add(1)
	return true
}

// ConnState tracks which connections wait for a request: new ones until
// their first request has been read, and idle keep-alive ones.
func (l *limitListener) ConnState(nc net.Conn, st http.ConnState) {
	c, ok := nc.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch st {
	case http.StateNew, http.StateIdle:
		if !c.closed.Load() {
			l.idle[c] = time.Now()
		}
		select {
		case l.waiting <- struct{}{}:
		default:
		}
	default:
		delete(l.idle, c)
	}
}

// Close stops accepting; connections already open are the server's to
// close.
func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// Open is the number of connections open now.
func (l *limitListener) Open() int { return len(l.slots) }

// Max is the most connections open at once.
func (l *limitListener) Max() int { return cap(l.slots) }

// ClosedIdle counts the connections closed to make room for new ones.
func (l *limitListener) ClosedIdle() uint64 { return l.evicted.Load() }

// limitedConn gives its slot back when it is closed, once.
type limitedConn struct {
	net.Conn
	l      *limitListener
	closed atomic.Bool
}

// CloseWrite half-closes the connection, as net/http does when it is done
// with it but the client may still be sending, and makes it the first to
// close when a slot is needed.
func (c *limitedConn) CloseWrite() error {
	c.l.mu.Lock()
	if !c.closed.Load() {
		c.l.closing[c] = struct{}{}
	}
	c.l.mu.Unlock()
	select {
	case c.l.waiting <- struct{}{}:
	default:
	}
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Close closes the connection and frees its slot.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.l.mu.Lock()
		delete(c.l.idle, c)
		delete(c.l.closing, c)
		c.l.mu.Unlock()
		<-c.l.slots
	}
	return err
}
