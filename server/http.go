package server

import (
	"net/http"
	"time"
)

// Timeouts bound how long a client may take: a slow or stalled client is
// cut off instead of holding a connection and a goroutine.
type Timeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// DefaultTimeouts leave room for a 16 MiB batch on a slow link and for the
// group commit of a large batch, and little for anything else. An idle
// keep-alive connection holds a file descriptor and a goroutine: 30 s
// keeps it for a client that posts again within seconds, and one that
// comes back later pays a reconnection, a round trip on the networks
// institutions post from. (Held at 120 s, 1,100 idle connections kept
// their descriptors for two minutes.)
var DefaultTimeouts = Timeouts{ReadHeader: 5 * time.Second, Read: 30 * time.Second, Write: 60 * time.Second, Idle: 30 * time.Second}

// NewHTTPServer is the service's http.Server: every timeout set, headers
// limited to 64 KiB.
func NewHTTPServer(h http.Handler, t Timeouts) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    64 << 10,
	}
}
