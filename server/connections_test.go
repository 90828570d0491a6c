package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"creditbank/accreditation"
)

// fileLimitEnv names the data folder on which the test binary, started
// again by TestIdleConnectionsDoNotStarveWrites, serves with a limit of
// childFileLimit open files, as under `ulimit -n 256`.
const fileLimitEnv = "SERVER_TEST_FILE_LIMIT_DATA"

const childFileLimit = 256

// serveWithFileLimit is the child process of
// TestIdleConnectionsDoNotStarveWrites: it lowers its open files limit
// (soft and hard) to childFileLimit, starts a server on data, prints its URL
// and an admin token on one line, logs as JSON to stderr, and serves until
// its stdin is closed.
func serveWithFileLimit(data string) int {
	lim := syscall.Rlimit{Cur: childFileLimit, Max: childFileLimit}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Println("setrlimit:", err)
		return 1
	}
	cfg := DefaultConfig()
	cfg.Data, cfg.Addr, cfg.CacheMiB = data, "127.0.0.1:0", 8
	s, err := Start(cfg, slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	if err != nil {
		fmt.Println(err)
		return 1
	}
	tok, err := s.IssueToken(accreditation.RoleAdmin, "root", time.Hour)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println(s.URL(), tok)
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestIdleConnectionsDoNotStarveWrites: a server whose process may open
// only 256 files, held by 400 idle keep-alive connections, still takes a
// write on a new connection within a few seconds, and never runs out of
// file descriptors (nothing in its log says "too many open files").
func TestIdleConnectionsDoNotStarveWrites(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fileLimitEnv+"="+data)
	var logs syncBuffer
	cmd.Stderr = &logs
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		stdin.Close()
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("server process: %v\n%s", err, logs.String())
			}
		case <-time.After(ShutdownTimeout + 5*time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("server process did not stop")
		}
	})
	first, err := bufio.NewReader(stdout).ReadString('\n')
	fields := strings.Fields(first)
	if err != nil || len(fields) != 2 || !strings.HasPrefix(fields[0], "http://") {
		t.Fatalf("server process said %q (%v)\n%s", first, err, logs.String())
	}
	url, admin := fields[0], fields[1]

	const idle = 400
	for range idle {
		c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: creditbank\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // the server answers what it can

	_, jwk := newKey(t, "EdDSA")
	body := `{"id":"college.example","name":"College","kind":"vocational_college","keys":[` + string(jwk) + `]}`
	req, err := http.NewRequest("POST", url+"/v1/institutions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	resp, err := c.Do(req)
	took := time.Since(start)
	switch {
	case err != nil:
		t.Errorf("a write with %d idle connections held: %v after %v", idle, err, took.Round(time.Millisecond))
	case resp.StatusCode != http.StatusCreated:
		out, _ := io.ReadAll(resp.Body)
		t.Errorf("POST /v1/institutions: %s %s", resp.Status, out)
	case took > 3*time.Second:
		t.Errorf("a write with %d idle connections held took %v, want under 3s", idle, took.Round(time.Millisecond))
	default:
		t.Logf("a write with %d idle connections held took %v", idle, took.Round(time.Millisecond))
	}
	if resp != nil {
		resp.Body.Close()
	}
	if n := strings.Count(logs.String(), "too many open files"); n > 0 {
		t.Errorf("the server ran out of file descriptors: %d log lines say so", n)
	}
	if !strings.Contains(logs.String(), "may exceed the open files limit: raise it") {
		t.Errorf("no warning that %d open files are too few for a large ledger", childFileLimit)
	}
	rec := logs.line("serving")
	if rec == nil || rec["open_files"] != float64(childFileLimit) || rec["open_files_hard"] != float64(childFileLimit) || rec["max_connections"] != float64(childFileLimit/4) {
		t.Errorf("serving line %v, want open_files and open_files_hard %d, max_connections %d", rec, childFileLimit, childFileLimit/4)
	}
}

// TestDefaultMaxConnections: connections get what the store and the rest
// of the process leave of the open files limit, at most 4096, and a
// quarter of the limit where the store may take nearly all of it.
func TestDefaultMaxConnections(t *testing.T) {
	tests := []struct {
		files uint64
		store int
		want  int
	}{
		{256, 1000, 64},
		{1024, 1000, 256},
		{1500, 1000, 372},
		{2000, 1000, 872},
		{20000, 19000, 872},
		{65536, 64536, 872},
		{1 << 20, 1 << 16, 4096},
		{4, 1000, 1},
	}
	for _, tt := range tests {
		if got := DefaultMaxConnections(tt.files, tt.store); got != tt.want {
			t.Errorf("DefaultMaxConnections(%d, %d) = %d, want %d", tt.files, tt.store, got, tt.want)
		}
	}
}

// TestConnectionLimitChoice: --max-connections 0 takes the default; a
// limit that, with the store's share, may pass the open files limit is
// flagged crowded; one that leaves fewer than 128 descriptors is refused.
func TestConnectionLimitChoice(t *testing.T) {
	tests := []struct {
		max   int
		files uint64
		store int
		want  int
		crowd bool
		err   string
	}{
		{0, 20000, 19000, 872, false, ""},
		{0, 1024, 1000, 256, true, ""},
		{100, 20000, 1000, 100, false, ""},
		{5000, 20000, 19000, 5000, true, ""},
		{19872, 20000, 1000, 19872, true, ""},
		{19873, 20000, 1000, 0, false, "--max-connections 19873: the process may open 20000 files (ulimit -n) and keeps 128 for the store's logs, the admin socket and the rest: at most 19872"},
	}
	for _, tt := range tests {
		n, crowded, err := connectionLimit(tt.max, tt.files, tt.store)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("connectionLimit(%d, %d, %d): error %v, want %q", tt.max, tt.files, tt.store, err, tt.err)
			}
			continue
		}
		if err != nil || n != tt.want || crowded != tt.crowd {
			t.Errorf("connectionLimit(%d, %d, %d) = %d, %t, %v; want %d, %t", tt.max, tt.files, tt.store, n, crowded, err, tt.want, tt.crowd)
		}
	}
}

// TestConnectionLimit: on a server that admits four connections, a busy
// one is never closed to make room, idle ones are, so that each new client
// is answered at once; the metrics count the connections and those closed.
func TestConnectionLimit(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConnections = 4
	s := startServer(t, cfg)
	admin, err := s.IssueToken(accreditation.RoleAdmin, "root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()

	// A write whose body is half sent holds its connection busy.
	_, jwk := newKey(t, "EdDSA")
	body := `{"id":"college.example","name":"College","kind":"vocational_college","keys":[` + string(jwk) + `]}`
	busy, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	fmt.Fprintf(busy, "POST /v1/institutions HTTP/1.1\r\nHost: creditbank\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		admin, len(body), body[:10])

	// Eight clients in turn each make a request and leave the connection
	// idle: with one slot busy, at most three are open at once.
	var idle []net.Conn
	for i := range 8 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: creditbank\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		resp.Body.Close()
		idle = append(idle, c)
	}
	// Five idle connections were closed, three are open. (Which ones
	// depends on when the server marked each idle after answering it;
	// TestLimitListener checks the order.)
	open := 0
	for _, c := range idle {
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
			open++
		}
	}
	if open != 3 {
		t.Errorf("%d of 8 idle connections open, want 3", open)
	}
	// The busy write goes through.
	if _, err := io.WriteString(busy, body[10:]); err != nil {
		t.Fatal(err)
	}
	_ = busy.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatalf("the busy connection: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("the busy write: %s", resp.Status)
	}
	mfs, err := s.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[mf.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	if got["creditbank_http_connections_limit"] != 4 || got["creditbank_http_idle_connections_closed_total"] != 5 || got["creditbank_http_connections"] > 4 {
		t.Errorf("connection metrics: limit %v, idle closed %v, open %v; want 4, 5, at most 4",
			got["creditbank_http_connections_limit"], got["creditbank_http_idle_connections_closed_total"], got["creditbank_http_connections"])
	}
}

// TestLimitListener: a full listener makes room for a new connection by
// closing the one that has waited longest for a request, never a busy one;
// when all are busy it waits until one is idle.
func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newLimitListener(inner, 2)
	defer ln.Close()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	accept := func() net.Conn {
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// closed reports whether the server closed the client's connection c.
	closed := func(c net.Conn) bool {
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		return errors.Is(err, io.EOF)
	}
	ca, cb, cc, cd := dial(), dial(), dial(), dial()
	a := accept()
	ln.ConnState(a, http.StateNew)
	b := accept()
	ln.ConnState(b, http.StateNew)
	ln.ConnState(b, http.StateActive)
	ln.ConnState(a, http.StateActive)
	ln.ConnState(a, http.StateIdle)

	c := accept() // a is idle, b busy: a is closed
	ln.ConnState(c, http.StateNew)
	ln.ConnState(c, http.StateActive)
	if !closed(ca) || closed(cb) {
		t.Fatalf("full with a idle and b busy, a new connection closed a: %t, b: %t; want a only", closed(ca), closed(cb))
	}
	if ln.Open() != 2 || ln.ClosedIdle() != 1 {
		t.Errorf("open %d, closed idle %d; want 2 and 1", ln.Open(), ln.ClosedIdle())
	}

	got := make(chan net.Conn, 1)
	go func() {
		d, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		got <- d
	}()
	select {
	case <-got:
		t.Fatal("a connection was admitted while every one was busy")
	case <-time.After(200 * time.Millisecond):
	}
	ln.ConnState(b, http.StateIdle)
	ln.ConnState(c, http.StateIdle)
	select {
	case d := <-got:
		defer d.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("no connection admitted after two became idle")
	}
	if !closed(cb) || closed(cc) || closed(cd) {
		t.Errorf("once b then c were idle, the new connection closed b: %t, c: %t, itself: %t; want b only", closed(cb), closed(cc), closed(cd))
	}
}

// TestLimitListenerClosesHalfClosedFirst: net/http half-closes a
// connection it is done with while its client may still send (a refused
// body it did not read) and closes it half a second later. At the cap such
// a connection goes before any idle keep-alive one: before, a client
// refused in a loop made these faster than they closed, and each new one
// pushed out a well-behaved client's idle connection (creditbank abuse:
// 357 of the victim's connections reset in 3 s).
func TestLimitListenerClosesHalfClosedFirst(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newLimitListener(inner, 2)
	defer ln.Close()
	var clients []net.Conn
	accept := func() *limitedConn {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		clients = append(clients, c)
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s.(*limitedConn)
	}
	readErr := func(c net.Conn) error {
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		return err
	}
	keepAlive := accept() // a well-behaved client, idle between requests
	ln.ConnState(keepAlive, http.StateNew)
	ln.ConnState(keepAlive, http.StateActive)
	ln.ConnState(keepAlive, http.StateIdle)
	refused := accept() // answered 429 without its body being read
	ln.ConnState(refused, http.StateNew)
	ln.ConnState(refused, http.StateActive)
	if err := refused.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(readErr(clients[1]), io.EOF) {
		t.Fatal("CloseWrite did not half-close the connection")
	}
	next := accept() // at the cap: the half-closed one goes
	ln.ConnState(next, http.StateNew)
	if !refused.closed.Load() {
		t.Error("the half-closed connection is still open")
	}
	if err := readErr(clients[0]); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the idle keep-alive connection was closed (read: %v); want it open", err)
	}
	if ln.Open() != 2 {
		t.Errorf("open %d, want 2", ln.Open())
	}
}
