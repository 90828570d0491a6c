package api

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"creditbank/ledger"
	"creditbank/tiles"
)

// appendTestEntries appends n entries straight to the ledger (no domain
// rules: the tiles serve whatever the tree holds), the one at seq big, if
// any, larger than an entry bundle can hold; it returns the signed
// checkpoint over them all.
func appendTestEntries(t *testing.T, s *testServer, n int, big int) []byte {
	t.Helper()
	ctx := context.Background()
	first := s.ledger.Size()
	var recs ledger.Records
	for i := range n {
		v := map[string]any{"n": i, "pad": strings.Repeat("x", i%97)}
		if int(first)+i == big {
			v["pad"] = strings.Repeat("y", tiles.MaxEntrySize)
		}
		c, err := ledger.MarshalContent(v)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, ledger.Record{Type: "test.entry", Actor: "test", Content: c})
		if len(recs) == 500 || i == n-1 {
			if _, err := s.ledger.Append(ctx, recs); err != nil {
				t.Fatal(err)
			}
			recs = nil
		}
	}
	signed, err := s.ledger.SignCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// bearer adds a token to every request, as an auditor's tile client would
// to read entry bundles.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// TestTorchwoodClientReadsTiles: filippo.io/torchwood's tile client, which
// we did not write, reads every entry from /tlog/ and authenticates each
// against the checkpoint it serves, and proves entries from the hash tiles
// alone.
func TestTorchwoodClientReadsTiles(t *testing.T) {
	s := newTestServer(t)
	const n = 256*3 + 70 // full and partial bundles, a partial level 1 tile
	appendTestEntries(t, s, n, -1)
	ctx := context.Background()
	fetcher, err := torchwood.NewTileFetcher(s.URL+"/tlog/", torchwood.WithHTTPClient(&http.Client{Transport: bearer{s.token(t, "regulator", "reg")}}))
	if err != nil {
		t.Fatal(err)
	}
	signed, err := fetcher.ReadEndpoint(ctx, "checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(s.ledger.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	nt, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		t.Fatalf("open /tlog/checkpoint: %v", err)
	}
	cp, err := torchwood.ParseCheckpoint(nt.Text)
	if err != nil {
		t.Fatal(err)
	}
	if cp.N != n || cp.Origin != ledger.DefaultOrigin {
		t.Fatalf("checkpoint %+v, want size %d", cp, n)
	}
	c, err := torchwood.NewClient(fetcher)
	if err != nil {
		t.Fatal(err)
	}
	next := int64(0)
	// Entries stops before a trailing partial bundle; asked again from
	// there, it reads it.
	for round := 0; next < cp.N && round < 3; round++ {
		for i, e := range c.Entries(ctx, cp.Tree, next) {
			if i != next {
				t.Fatalf("entry %d yielded at %d", i, next)
			}
			want, err := s.ledger.Entry(uint64(i))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(e, want) {
				t.Fatalf("entry %d: the bundle's bytes are not the stored ones", i)
			}
			next++
		}
		if err := c.Err(); err != nil {
			t.Fatalf("torchwood client: %v", err)
		}
	}
	if next != cp.N {
		t.Fatalf("read %d entries of %d", next, cp.N)
	}
	for _, i := range []int64{0, 255, 256, 700, n - 1} {
		e, proof, err := c.Entry(ctx, cp.Tree, i)
		if err != nil {
			t.Fatalf("entry %d with its proof: %v", i, err)
		}
		if err := tlog.CheckRecord(proof, cp.N, cp.Hash, i, tlog.RecordHash(e)); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
}

// TestTileRoutes: what each tile route answers, its headers and its cost.
func TestTileRoutes(t *testing.T) {
	s := newTestServer(t)
	const n = 256 + 30
	appendTestEntries(t, s, n, 256+20)
	reg := s.token(t, "regulator", "reg")
	learner := s.token(t, "learner", "L1")
	for _, c := range []struct {
		name, path, token string
		status            int
		problem           string
		size              int // of the body of a 200
	}{
		{"checkpoint", "/tlog/checkpoint", "", 200, "", -1},
		{"full level 0", "/tlog/tile/0/000", "", 200, "", 256 * 32},
		{"partial level 0", "/tlog/tile/0/001.p/30", "", 200, "", 30 * 32},
		{"narrower partial", "/tlog/tile/0/001.p/3", "", 200, "", 3 * 32},
		{"partial level 1", "/tlog/tile/1/000.p/1", "", 200, "", 32},
		{"wider than the tree", "/tlog/tile/0/001.p/31", "", 404, "not-found", 0},
		{"full beyond the tree", "/tlog/tile/0/001", "", 404, "not-found", 0},
		{"level 2", "/tlog/tile/2/000.p/1", "", 404, "not-found", 0},
		{"leading zero", "/tlog/tile/00/000", "", 404, "not-found", 0},
		{"x000 group", "/tlog/tile/0/x000/000", "", 404, "not-found", 0},
		{"width 0", "/tlog/tile/0/000.p/0", "", 404, "not-found", 0},
		{"bundle", "/tlog/tile/entries/000", reg, 200, "", -1},
		{"bundle below the big entry", "/tlog/tile/entries/001.p/20", reg, 200, "", -1},
		{"bundle over the big entry", "/tlog/tile/entries/001.p/21", reg, 404, "entry-too-large", 0},
		{"bundle without a token", "/tlog/tile/entries/000", "", 401, "unauthorized", 0},
		{"bundle for a learner", "/tlog/tile/entries/000", learner, 403, "forbidden", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := s.do(t, "GET", c.path, c.token, nil)
			if resp.StatusCode != c.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, c.status)
			}
			if c.status != 200 {
				if !strings.Contains(string(body), "urn:creditbank:problem:"+c.problem+`"`) {
					t.Fatalf("problem %s, want %s", body, c.problem)
				}
				return
			}
			if c.size >= 0 && len(body) != c.size {
				t.Fatalf("%d bytes, want %d", len(body), c.size)
			}
			cc, ct := resp.Header.Get("Cache-Control"), resp.Header.Get("Content-Type")
			if strings.HasPrefix(c.path, "/tlog/tile/") {
				if cc != tileCacheControl || ct != "application/octet-stream" {
					t.Fatalf("Cache-Control %q, Content-Type %q", cc, ct)
				}
			} else if cc != "no-store" || ct != "text/plain; charset=utf-8" {
				t.Fatalf("Cache-Control %q, Content-Type %q", cc, ct)
			}
		})
	}
	// A tile read is charged a row per hash or entry, as a proof a row per
	// hash: an address whose budget holds 300 rows reads one full tile and
	// is then refused.
	h := New(Config{Bank: s.bank, Auth: s.auth, Log: s.handler.log, Rows: Budgets{Anonymous: RateLimit{Rate: 0.001, Burst: 300}}})
	for i, want := range []int{200, 200, 429} {
		req, _ := http.NewRequest("GET", "/tlog/tile/0/000", nil)
		req.RemoteAddr = "192.0.2.1:1234"
		rec := newRecorder()
		h.ServeHTTP(rec, req)
		if rec.code != want {
			t.Fatalf("read %d: %d, want %d", i, rec.code, want)
		}
	}
}

// recorder is a minimal http.ResponseWriter for calling the handler
// directly with a chosen client address.
type recorder struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func newRecorder() *recorder             { return &recorder{h: http.Header{}} }
func (r *recorder) Header() http.Header  { return r.h }
func (r *recorder) WriteHeader(code int) { r.code = code }
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = 200
	}
	return r.body.Write(b)
}

// TestConsistencyFromZero: the proof from the empty tree is empty, as RFC
// 6962 defines it, for every size up to the durable one.
func TestConsistencyFromZero(t *testing.T) {
	s := newTestServer(t)
	appendTestEntries(t, s, 5, -1)
	for _, c := range []struct {
		query  string
		status int
		body   string
	}{
		{"from=0&to=0", 200, `{"from":0,"to":0,"hashes":[]}`},
		{"from=0&to=5", 200, `{"from":0,"to":5,"hashes":[]}`},
		{"from=0&to=6", 400, "out-of-range"},
		{"from=1&to=0", 400, "out-of-range"},
	} {
		resp, body := s.do(t, "GET", "/v1/log/proof/consistency?"+c.query, "", nil)
		if resp.StatusCode != c.status || !strings.Contains(string(body), c.body) {
			t.Errorf("%s: %d %s, want %d %s", c.query, resp.StatusCode, body, c.status, c.body)
		}
	}
}

var (
	torchwoodURL   = flag.String("torchwood.url", "", "measure torchwood's client reading every entry of the server at this URL (TestTorchwoodThroughput)")
	torchwoodToken = flag.String("torchwood.token", "", "an admin or regulator token for -torchwood.url")
)

// TestTorchwoodThroughput reads and authenticates every entry of a running
// server through torchwood's tile client, and reports entries a second:
// docs/performance.md compares it with verify --url. Run only with
// -torchwood.url.
func TestTorchwoodThroughput(t *testing.T) {
	if *torchwoodURL == "" {
		t.Skip("-torchwood.url not given")
	}
	ctx := context.Background()
	fetcher, err := torchwood.NewTileFetcher(*torchwoodURL+"/tlog/", torchwood.WithHTTPClient(&http.Client{Transport: bearer{*torchwoodToken}}))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	signed, err := fetcher.ReadEndpoint(ctx, "checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(*torchwoodURL + "/v1/log/key")
	if err != nil {
		t.Fatal(err)
	}
	key, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(key)))
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := torchwood.ParseCheckpoint(n.Text)
	if err != nil {
		t.Fatal(err)
	}
	c, err := torchwood.NewClient(fetcher)
	if err != nil {
		t.Fatal(err)
	}
	var next int64
	var bytes int64
	for next < cp.N {
		for i, e := range c.Entries(ctx, cp.Tree, next) {
			if i != next {
				t.Fatalf("entry %d at %d", i, next)
			}
			bytes += int64(len(e))
			next++
		}
		if err := c.Err(); err != nil {
			t.Fatal(err)
		}
	}
	d := time.Since(start)
	t.Logf("torchwood client: %d entries (%d MB) read and authenticated in %v: %.0f entries/s", next, bytes>>20, d.Round(time.Millisecond), float64(next)/d.Seconds())
}
