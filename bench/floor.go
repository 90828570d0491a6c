package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync/atomic"

	"creditbank/server"
)

// floorRun measures a write phase's HTTP floor: the same clients post the
// same bodies to a net/http server on loopback whose handler only reads the
// body, commits the shape's keys and bytes per outcome to raw Pebble as
// rawRun does, and answers with the bytes the ledger answered to a post like
// it (one made first). What the floor loses to raw Pebble is HTTP on this
// machine, clients included; what the ledger loses to the floor is its own
// work.
func (r *runner) floorRun(ctx context.Context, label string, clients, per, count int, shape Shape) (Side, error) {
	status, answer, err := r.w.answer(ctx, r.c, per)
	if err != nil {
		return Side{}, fmt.Errorf("floor: %v", err)
	}
	rs, err := openRaw(r.work, r.w, shape)
	if err != nil {
		return Side{}, err
	}
	defer rs.close()
	var seq atomic.Uint64
	h := http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		if _, err := io.ReadAll(http.MaxBytesReader(rw, req.Body, 16<<20)); err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		if err := rs.commit(0, per, rand.New(rand.NewPCG(seq.Add(1), 0))); err != nil {
			http.Error(rw, err.Error(), http.StatusServiceUnavailable)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(status)
		_, _ = rw.Write(answer)
	})
	srv, url, err := serveLoopback(h)
	if err != nil {
		return Side{}, fmt.Errorf("floor: %v", err)
	}
	defer srv.Close()
	fc := newAPIClient(url, clients+8)
	defer fc.hc.CloseIdleConnections()
	defer fc.closeLean()
	return load(ctx, r.prog, label, clients, count, r.cfg.Duration, func(wk int, _ *rand.Rand) (int, error) {
		return per, r.w.post(ctx, fc, wk, per)
	})
}

// serveLoopback serves h on a free loopback port with serve's server
// settings and returns the server and its base URL.
func serveLoopback(h http.Handler) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("listen: %v", err)
	}
	srv := server.NewHTTPServer(h, server.DefaultTimeouts)
	go func() { _ = srv.Serve(ln) }()
	return srv, "http://" + ln.Addr().String(), nil
}
