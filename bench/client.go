package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// apiClient is the load's side of the API: net/http for registrations,
// batches and reads, and lean connections of its own for the write phases'
// posts. It is a measuring instrument, not a log client: what reads the log
// goes through package client.
type apiClient struct {
	hc   *http.Client
	base string

	host  string // host:port of a plain-HTTP base, for the lean connections
	mu    sync.Mutex
	conns []*leanConn // idle lean connections
}

// newAPIClient returns a client of base that keeps up to conns connections
// idle, one for each client of the load, so that none is redialled.
func newAPIClient(base string, conns int) *apiClient {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	c := &apiClient{hc: &http.Client{Transport: tr, Timeout: 2 * time.Minute}, base: base}
	if u, err := url.Parse(base); err == nil && u.Scheme == "http" && u.Path == "" {
		c.host = u.Host
	}
	return c
}

// leanConn is one keep-alive HTTP/1.1 connection that a single goroutine
// writes a request to and reads the answer from. net/http's client runs two
// more goroutines per connection and woke them for every request: on the
// two cores the measured server shares with its clients, that was a fifth
// of all the CPU the single posts took.
type leanConn struct {
	conn net.Conn
	br   *bufio.Reader
	buf  []byte
	// idleSince is when the connection last went back to the pool.
	idleSince time.Time
}

// maxLeanIdle is the longest a lean connection waits in the pool before it
// is dropped rather than reused: well under the server's idle timeout
// (server.DefaultTimeouts, 30 s), past which the server closes it, and a
// request written to it meets EOF. Phases are 10 s apart or more, with the
// raw baselines run between them.
const maxLeanIdle = 15 * time.Second

// post sends a request on an idle lean connection (or a new one) and checks
// its status, reading and dropping the answer. Without a plain-HTTP base it
// is do.
func (c *apiClient) post(ctx context.Context, method, path, token string, body []byte, want int) error {
	if c.host == "" {
		_, err := c.do(ctx, method, path, token, body, want, false)
		return err
	}
	c.mu.Lock()
	var bc *leanConn
	if n := len(c.conns); n > 0 {
		bc, c.conns = c.conns[n-1], c.conns[:n-1]
	}
	c.mu.Unlock()
	if bc != nil && time.Since(bc.idleSince) > maxLeanIdle {
		bc.conn.Close()
		bc = nil
	}
	if bc == nil {
		conn, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", c.host)
		if err != nil {
			return err
		}
		bc = &leanConn{conn: conn, br: bufio.NewReaderSize(conn, 8<<10)}
	}
	reuse, err := bc.do(c.host, method, path, token, body, want)
	if err != nil || !reuse {
		bc.conn.Close()
		return err
	}
	bc.idleSince = time.Now()
	c.mu.Lock()
	c.conns = append(c.conns, bc)
	c.mu.Unlock()
	return nil
}

// closeLean closes the idle lean connections.
func (c *apiClient) closeLean() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, bc := range c.conns {
		bc.conn.Close()
	}
	c.conns = nil
}

// do writes one request and reads its answer with net/http's parser; it
// says whether the connection may carry another.
func (bc *leanConn) do(host, method, path, token string, body []byte, want int) (bool, error) {
	b := append(bc.buf[:0], method...)
	b = append(append(append(b, ' '), path...), " HTTP/1.1\r\nHost: "...)
	b = append(append(b, host...), "\r\n"...)
	if token != "" {
		b = append(append(append(b, "Authorization: Bearer "...), token...), "\r\n"...)
	}
	if body != nil {
		b = append(b, "Content-Type: application/json\r\nContent-Length: "...)
		b = append(strconv.AppendInt(b, int64(len(body)), 10), "\r\n"...)
	}
	b = append(append(b, "\r\n"...), body...)
	bc.buf = b
	if err := bc.conn.SetDeadline(time.Now().Add(2 * time.Minute)); err != nil {
		return false, err
	}
	if _, err := bc.conn.Write(b); err != nil {
		return false, err
	}
	resp, err := http.ReadResponse(bc.br, nil)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if _, err := readResponse(resp, method, path, want, false); err != nil {
		return false, err
	}
	return !resp.Close, nil
}

// readResponse checks an answer's status and reads its body: returned when
// keep is set, else read and dropped so that the connection is reused.
func readResponse(resp *http.Response, method, path string, want int, keep bool) ([]byte, error) {
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, bytes.TrimSpace(msg))
	}
	if keep {
		return io.ReadAll(resp.Body)
	}
	_, err := io.Copy(io.Discard, resp.Body)
	return nil, err
}

// do sends a request and checks its status; it returns the body when keep
// is set and otherwise reads and drops it (so the connection is reused).
func (c *apiClient) do(ctx context.Context, method, path, token string, body []byte, want int, keep bool) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return readResponse(resp, method, path, want, keep)
}

// get sends a GET and checks that it is answered 200 OK.
func (c *apiClient) get(ctx context.Context, path, token string) error {
	_, err := c.do(ctx, "GET", path, token, nil, http.StatusOK, false)
	return err
}

// counters are the ledger's counters from /metrics.
type counters struct {
	ok                    bool
	groups, entries, byts float64
	size                  uint64
}

// scrape reads the ledger's counters from /metrics; ok is false when they
// could not be read.
func (c *apiClient) scrape(ctx context.Context) counters {
	var s counters
	b, err := c.do(ctx, "GET", "/metrics", "", nil, http.StatusOK, true)
	if err != nil {
		return s
	}
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		switch name {
		case "creditbank_ledger_groups_total":
			s.groups = v
			found++
		case "creditbank_ledger_entries_total":
			s.entries = v
			found++
		case "creditbank_ledger_group_bytes_sum":
			s.byts = v
			found++
		case "creditbank_ledger_tree_size":
			s.size = uint64(v)
		}
	}
	s.ok = found == 3
	return s
}
