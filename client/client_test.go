package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"creditbank/accreditation"
	"creditbank/api"
	"creditbank/client"
	"creditbank/credential"
	"creditbank/ledger"
	"creditbank/vault"
)

// The client's proofs fit the ledger's auditor without the client
// importing the ledger.
var _ ledger.Prover = client.Prover{}

// testServer is the API over a real store on loopback, with n entries and
// a checkpoint over all of them.
type testServer struct {
	url     string
	admin   string // an admin token: audit rights
	learner string // a learner token: no audit rights
	l       *ledger.Ledger
	bank    *accreditation.Bank
	tk      api.PrivateKey // signs the service's tokens
	cp      ledger.Checkpoint
	signed  []byte // cp as served

	// entryDelay slows every entry read, so that a test can stop an
	// iteration while fetches are still to come.
	entryDelay atomic.Int64
	// tokenElsewhere counts requests that carried a token where none is
	// needed.
	tokenElsewhere atomic.Int64
	// scoreRequests counts the requests for scores of sealed outcomes.
	scoreRequests atomic.Int64
	// failNext makes that many next requests answer 503.
	failNext atomic.Int64
	// noTiles makes /tlog/ answer 404, as a server from before it did.
	noTiles atomic.Bool
	// bundles and entries count the requests for entry bundles and for
	// single entries.
	bundles, entries atomic.Int64
}

func startServer(t *testing.T, n int) *testServer {
	t.Helper()
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	keys, err := ledger.LoadOrCreateKeys(filepath.Join(dir, "keys"), ledger.DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ledger.Options{Dir: filepath.Join(dir, "ledger"), Keys: keys, Logger: quiet, MinFreeBytes: -1,
		OnFatal: func(err error) { panic(fmt.Sprintf("fatal store error: %v", err)) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	vk, err := vault.Generate()
	if err != nil {
		t.Fatal(err)
	}
	bank, err := accreditation.New(l, vk)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := api.GenerateKey("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := tk.Public()
	auth := api.NewAuthenticator("creditbank", []api.Issuer{{Name: "creditbank", Keys: map[string]accreditation.PublicJWK{tk.Kid: pub}}}, bank, nil)
	s := &testServer{l: l, bank: bank, tk: tk}
	s.admin = token(t, tk, accreditation.RoleAdmin, "root")
	s.learner = token(t, tk, accreditation.RoleLearner, "L1")
	ik, err := credential.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	issuer := &credential.Issuer{Key: ik, Name: "Test credit bank", Origin: l.Origin()}
	h := api.New(api.Config{Bank: bank, Auth: auth, Log: quiet, Issuer: issuer})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.failNext.Add(-1) >= 0 {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		s.failNext.Store(0)
		switch {
		case strings.HasPrefix(r.URL.Path, "/tlog/") && s.noTiles.Load():
			http.NotFound(w, r)
			return
		case strings.HasPrefix(r.URL.Path, "/tlog/tile/entries/"):
			s.bundles.Add(1)
			time.Sleep(time.Duration(s.entryDelay.Load()))
		case strings.HasPrefix(r.URL.Path, "/v1/log/entries/"):
			s.entries.Add(1)
			time.Sleep(time.Duration(s.entryDelay.Load()))
		case r.URL.Path == "/v1/audit/scores":
			s.scoreRequests.Add(1)
		case r.Method == http.MethodGet && r.Header.Get("Authorization") != "":
			s.tokenElsewhere.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	issuer.Base = srv.URL
	for i := range n {
		s.register(t, fmt.Sprintf("inst%03d.example", i))
	}
	if s.signed, err = l.SignCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.cp, err = ledger.OpenCheckpoint(s.signed, keys.Verifier); err != nil {
		t.Fatal(err)
	}
	if s.cp.Size != uint64(n) {
		t.Fatalf("%d registrations made %d entries", n, s.cp.Size)
	}
	return s
}

func token(t *testing.T, k api.PrivateKey, role accreditation.Role, sub string) string {
	t.Helper()
	tok, err := api.IssueToken(k, "creditbank", "creditbank", string(role), sub, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// register registers an institution: one entry.
func (s *testServer) register(t *testing.T, id string) { s.registerWithKey(t, id) }

// registerWithKey registers an institution with a new key, which it
// returns: one entry.
func (s *testServer) registerWithKey(t *testing.T, id string) api.PrivateKey {
	t.Helper()
	k, err := api.GenerateKey("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := k.Public()
	jwk, err := pub.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"id":%q,"name":"Test %s","kind":"university","keys":[%s]}`, id, id, jwk)
	req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/institutions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("register %s: %s %s", id, resp.Status, b)
	}
	return k
}

func (s *testServer) client(token string) *client.Client {
	return client.New(client.Config{URL: s.url + "/", Token: token})
}

// rootOf is the RFC 6962 root of leaves, computed with tlog alone.
func rootOf(t *testing.T, leaves [][]byte) tlog.Hash {
	t.Helper()
	var stored []tlog.Hash
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, b := range leaves {
		hs, err := tlog.StoredHashes(int64(i), b, r)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
	}
	root, err := tlog.TreeHash(int64(len(leaves)), r)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestCheckpointAndKey(t *testing.T) {
	s := startServer(t, 3)
	c := s.client("")
	ctx := context.Background()
	got, err := c.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, s.signed) {
		t.Errorf("checkpoint %q, want %q", got, s.signed)
	}
	if n, err := client.TreeSize(got); err != nil || n != 3 {
		t.Errorf("TreeSize = %d, %v; want 3", n, err)
	}
	for _, bad := range []string{"", "origin\n", "origin\nthree\nroot\n"} {
		if n, err := client.TreeSize([]byte(bad)); err == nil {
			t.Errorf("TreeSize(%q) = %d, want an error", bad, n)
		}
	}
	key, err := c.VerifierKey(ctx)
	if err != nil || key != s.l.VerifierKey() {
		t.Errorf("VerifierKey = %q, %v; want %q", key, err, s.l.VerifierKey())
	}
	if n := s.tokenElsewhere.Load(); n != 0 {
		t.Errorf("%d public reads carried a token", n)
	}
}

// TestEntries reads ranges of entries: each comes once, in order, with the
// stored bytes, and all of them hash to the checkpoint's root.
func TestEntries(t *testing.T) {
	const n = 40
	s := startServer(t, n)
	c := s.client(s.admin)
	tests := []struct {
		name     string
		from, to uint64
	}{
		{"all", 0, n},
		{"middle", 5, 12},
		{"last", n - 1, n},
		{"empty", 7, 7},
		{"backwards", 9, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][]byte
			next := tt.from
			for e, err := range c.Entries(context.Background(), tt.from, tt.to) {
				if err != nil {
					t.Fatalf("entry %d: %v", e.Seq, err)
				}
				if e.Seq != next {
					t.Fatalf("entry %d came where %d was due", e.Seq, next)
				}
				want, err := s.l.Entry(e.Seq)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(e.Data, want) {
					t.Fatalf("entry %d is %q, stored %q", e.Seq, e.Data, want)
				}
				got = append(got, e.Data)
				next++
			}
			if want := max(tt.to, tt.from) - tt.from; uint64(len(got)) != want {
				t.Fatalf("%d entries, want %d", len(got), want)
			}
			if tt.name == "all" {
				if root := rootOf(t, got); root != s.cp.Root {
					t.Errorf("the entries' root %v differs from the checkpoint's %v", root, s.cp.Root)
				}
			}
		})
	}
}

// appendRaw appends n entries straight to the ledger, the one at seq big
// (if any) too large for an entry bundle, and signs a checkpoint over them.
func (s *testServer) appendRaw(t *testing.T, n int, big uint64) {
	t.Helper()
	var recs ledger.Records
	for i := range n {
		pad := strings.Repeat("p", i%50)
		if s.l.Size()+uint64(len(recs)) == big {
			pad = strings.Repeat("b", 70_000)
		}
		c, err := ledger.MarshalContent(map[string]any{"i": i, "pad": pad})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, ledger.Record{Type: "test.entry", Actor: "test", Content: c})
		if len(recs) == 500 || i == n-1 {
			if _, err := s.l.Append(context.Background(), recs); err != nil {
				t.Fatal(err)
			}
			recs = nil
		}
	}
	var err error
	if s.signed, err = s.l.SignCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestEntriesFromBundles: entries are read 256 to a request from the entry
// bundles, a bundle holding an entry too large for one entry by entry, and
// every entry from a server without /tlog/ one by one.
func TestEntriesFromBundles(t *testing.T) {
	s := startServer(t, 1)
	s.appendRaw(t, 256*3+9, 600)
	size := s.l.Size()
	c := s.client(s.admin)
	read := func(from, to uint64) {
		t.Helper()
		next := from
		for e, err := range c.Entries(context.Background(), from, to) {
			if err != nil {
				t.Fatalf("entry %d: %v", e.Seq, err)
			}
			want, err := s.l.Entry(e.Seq)
			if err != nil {
				t.Fatal(err)
			}
			if e.Seq != next || !bytes.Equal(e.Data, want) {
				t.Fatalf("entry %d came where %d was due, or with other bytes", e.Seq, next)
			}
			next++
		}
		if next != to {
			t.Fatalf("read to %d, want %d", next, to)
		}
	}
	for _, c := range []struct {
		name             string
		from, to         uint64
		noTiles          bool
		bundles, singles int64
	}{
		{"all", 0, size, false, 4, 256},
		{"within one bundle", 3, 200, false, 1, 0},
		{"across bundles, not the big one", 250, 520, false, 3, 0},
		{"the bundle with the big entry", 512, 700, false, 1, 700 - 512},
		{"no tiles", 0, 300, true, 2, 300},
	} {
		t.Run(c.name, func(t *testing.T) {
			s.noTiles.Store(c.noTiles)
			b0, e0 := s.bundles.Load(), s.entries.Load()
			read(c.from, c.to)
			if b, e := s.bundles.Load()-b0, s.entries.Load()-e0; b != c.bundles && !c.noTiles || e != c.singles {
				t.Fatalf("%d bundle and %d single entry requests, want %d and %d", b, e, c.bundles, c.singles)
			}
		})
	}
}

// TestEntriesBreak stops an iteration early: no bundle is fetched once the
// loop has returned, and no goroutine outlives it.
func TestEntriesBreak(t *testing.T) {
	s := startServer(t, 1)
	s.appendRaw(t, 256*12, 1<<40)
	n := s.l.Size()
	s.entryDelay.Store(int64(20 * time.Millisecond))
	tr := &countingTransport{}
	c := client.New(client.Config{URL: s.url, Token: s.admin, HTTPClient: &http.Client{Transport: tr}})
	before := runtime.NumGoroutine()
	seen := 0
	for e, err := range c.Entries(context.Background(), 0, n) {
		if err != nil {
			t.Fatalf("entry %d: %v", e.Seq, err)
		}
		if seen++; seen == 3 {
			break
		}
	}
	sent := tr.sent.Load()
	if sent >= int64(n/256) {
		t.Errorf("all %d bundles were asked for, for 3 entries", sent)
	}
	time.Sleep(100 * time.Millisecond)
	if later := tr.sent.Load(); later != sent {
		t.Errorf("%d entries asked for after the loop returned", later-sent)
	}
	tr.CloseIdleConnections()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if now := runtime.NumGoroutine(); now > before {
		t.Errorf("%d goroutines before the loop, %d after it", before, now)
	}
}

// countingTransport counts the requests sent through it.
type countingTransport struct {
	http.Transport
	sent atomic.Int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.sent.Add(1)
	return t.Transport.RoundTrip(r)
}

// TestStatusError: answers other than 200 surface as a StatusError with the
// status and the problem type, from one read and from the iterator alike.
func TestStatusError(t *testing.T) {
	s := startServer(t, 3)
	ctx := context.Background()
	tests := []struct {
		name       string
		read       func(*client.Client) error
		token      string
		wantStatus int
		wantType   string
	}{
		{"unknown entry", func(c *client.Client) error { _, err := c.Entry(ctx, 1<<40); return err }, s.admin, 404, "not-found"},
		{"entry without a token", func(c *client.Client) error { _, err := c.Entry(ctx, 0); return err }, "", 401, ""},
		{"entry without audit rights", func(c *client.Client) error { _, err := c.Entry(ctx, 0); return err }, s.learner, 403, ""},
		{"entries without audit rights", func(c *client.Client) error {
			for e, err := range c.Entries(ctx, 0, 3) {
				if err != nil {
					if e.Seq != 0 {
						t.Errorf("the failure names entry %d, want 0", e.Seq)
					}
					return err
				}
			}
			return nil
		}, s.learner, 403, ""},
		{"inclusion beyond the tree", func(c *client.Client) error { _, err := c.InclusionProof(ctx, 5, 3); return err }, "", 400, "out-of-range"},
		{"consistency beyond the tree", func(c *client.Client) error { _, err := c.ConsistencyProof(ctx, 1, 9); return err }, "", 400, "out-of-range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.read(s.client(tt.token))
			var se *client.StatusError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T), want a *client.StatusError", err, err)
			}
			if se.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", se.StatusCode, tt.wantStatus)
			}
			if !strings.HasPrefix(se.Type, "urn:creditbank:problem:") || !strings.HasSuffix(se.Type, tt.wantType) {
				t.Errorf("problem type %q, want one ending %q", se.Type, tt.wantType)
			}
			if !strings.Contains(err.Error(), fmt.Sprint(tt.wantStatus)) {
				t.Errorf("message %q does not give the status", err)
			}
		})
	}
}

// TestRetries: 5xx answers are tried again only as configured.
func TestRetries(t *testing.T) {
	s := startServer(t, 1)
	tests := []struct {
		retries, failures int
		wantOK            bool
	}{
		{0, 1, false},
		{2, 2, true},
		{1, 2, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d retries %d failures", tt.retries, tt.failures), func(t *testing.T) {
			s.failNext.Store(int64(tt.failures))
			c := client.New(client.Config{URL: s.url, Retries: tt.retries})
			_, err := c.Checkpoint(context.Background())
			var se *client.StatusError
			switch {
			case tt.wantOK && err != nil:
				t.Errorf("error %v, want the checkpoint", err)
			case !tt.wantOK && (!errors.As(err, &se) || se.StatusCode != http.StatusServiceUnavailable):
				t.Errorf("error %v, want a 503 StatusError", err)
			}
		})
	}
}

// TestProofs checks the served proofs with tlog against the checkpoint:
// inclusion of entries from their stored bytes, and consistency with the
// roots of smaller trees computed from the entries.
func TestProofs(t *testing.T) {
	const n = 23
	s := startServer(t, n)
	ctx := context.Background()
	c := s.client("")
	var leaves [][]byte
	for i := range uint64(n) {
		b, err := s.l.Entry(i)
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, b)
	}
	for _, index := range []uint64{0, 1, 7, 16, n - 1} {
		t.Run(fmt.Sprintf("inclusion of %d", index), func(t *testing.T) {
			proof, err := c.InclusionProof(ctx, index, n)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckRecord(proof, n, s.cp.Root, int64(index), tlog.RecordHash(leaves[index])); err != nil {
				t.Error(err)
			}
			// The adapter asks the same.
			again, err := c.Prover(ctx).InclusionProof(index, n)
			if err != nil || len(again) != len(proof) {
				t.Errorf("Prover: %d hashes, %v; want %d", len(again), err, len(proof))
			}
		})
	}
	for _, from := range []uint64{1, 2, 8, 13, n} {
		t.Run(fmt.Sprintf("consistency from %d", from), func(t *testing.T) {
			proof, err := c.Prover(ctx).ConsistencyProof(from, n)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckTree(proof, n, s.cp.Root, int64(from), rootOf(t, leaves[:from])); err != nil {
				t.Error(err)
			}
		})
	}
}
