// Package client reads a creditbank ledger over HTTP, as an auditor or any
// tool outside the service sees it: the signed checkpoint, the verifier key,
// entries (one, or a range as an iterator read from the C2SP tlog-tiles
// entry bundles, 256 entries a request) and RFC 6962 inclusion and
// consistency proofs. The endpoints and their formats are those of
// docs/contract.md sections 4 and 12. For the erasure of personal data
// (docs/contract.md section 11) it also erases a learner and reads the
// scores that sealed outcomes keep from the public entries, which an audit
// needs to re-run conversions (erasure.go), and publishes and reads
// programmes, award audits and awards (docs/contract.md section 9,
// programmes.go), and certifies units, reads their public catalogue and
// takes recognition cases through their steps (section 13, recognition.go).
//
// The client checks the form of what it reads (a proof is the one asked for
// and its hashes are base64 SHA-256 hashes) and trusts none of it: checking
// a checkpoint's signature (golang.org/x/mod/sumdb/note), the entries
// against its root and the proofs (golang.org/x/mod/sumdb/tlog) is the
// caller's. It depends on nothing of the service but that contract, so that
// it reads any implementation of it.
package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"creditbank/tiles"
)

// Config says which server to read and how.
type Config struct {
	// URL is the server's base URL, such as http://127.0.0.1:8080; a
	// trailing slash is ignored.
	URL string
	// Token, when set, is sent as a bearer token to read entries and the
	// scores of sealed outcomes, which need audit rights (an admin or
	// regulator token), and to erase a learner (an admin token). The
	// checkpoint, the key and the proofs are public and are read without it.
	Token string
	// HTTPClient sends every request; nil means a client with a 30 s timeout.
	HTTPClient *http.Client
	// Retries is how many times a read that failed on the network or with
	// a 5xx answer is tried again, after a short pause. Zero means never,
	// which is what a conformance check wants: there a flaky answer is a
	// finding, not something to paper over.
	Retries int
}

// Client reads one server's ledger. Its methods are safe for concurrent use.
type Client struct {
	base    string
	token   string
	hc      *http.Client
	retries int
}

// New returns a client for cfg. It does not contact the server.
func New(cfg Config) *Client {
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: strings.TrimRight(cfg.URL, "/"), token: cfg.Token, hc: hc, retries: max(cfg.Retries, 0)}
}

// StatusError is an answer other than 200 OK. Callers branch on its
// StatusCode (404 for an entry not written yet, 401 or 403 for missing
// audit rights) or on its Type.
type StatusError struct {
	// Method is the request's method; "" means GET.
	Method string
	// Path is the path and query asked for, such as /v1/log/entries/7.
	Path string
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Type is the RFC 9457 problem type when the answer was
	// application/problem+json, and "" otherwise.
	Type string
	// Detail is the answer's detail member, when it had one.
	Detail string
	// Missing is, for an award refused as not eligible (Type ending in
	// award-not-eligible), what the award audit found missing.
	Missing []Shortfall
}

func (e *StatusError) Error() string {
	method := e.Method
	if method == "" {
		method = http.MethodGet
	}
	msg := fmt.Sprintf("%s %s: %d %s", method, e.Path, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// maxBody bounds what one answer may hold; an entry is far smaller.
const maxBody = 32 << 20

// Checkpoint returns the latest signed checkpoint as served: a C2SP
// tlog-checkpoint in a C2SP signed note, not yet verified.
func (c *Client) Checkpoint(ctx context.Context) ([]byte, error) {
	return c.get(ctx, "/v1/log/checkpoint", false)
}

// VerifierKey returns the key the server says signs its checkpoints, in
// the note verifier key format. Taking it from the server is trust on
// first use; an auditor compares it with one kept from earlier.
func (c *Client) VerifierKey(ctx context.Context) (string, error) {
	b, err := c.get(ctx, "/v1/log/key", false)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// TreeSize reads the tree size line of a signed checkpoint without checking
// its signature: enough to choose which entries or proofs to ask for, never
// enough to trust them.
func TreeSize(checkpoint []byte) (uint64, error) {
	lines := strings.SplitN(string(checkpoint), "\n", 3)
	if len(lines) < 3 {
		return 0, fmt.Errorf("checkpoint %q has no tree size line", checkpoint)
	}
	n, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("checkpoint tree size %q: %v", lines[1], err)
	}
	return n, nil
}

// Entry returns entry seq's exact stored bytes: the leaf the tree hashes.
func (c *Client) Entry(ctx context.Context, seq uint64) ([]byte, error) {
	return c.get(ctx, "/v1/log/entries/"+strconv.FormatUint(seq, 10), true)
}

// Entry is one entry read by Entries.
type Entry struct {
	Seq  uint64
	Data []byte // the exact stored bytes
}

// Bundle returns the entries of the C2SP tlog-tiles entry bundle n of
// width w (1 to 256; 256 for a full one), entries 256n to 256n+w-1, each
// the exact stored bytes: GET /tlog/tile/entries/..., which needs audit
// rights as an entry does. It fails unless the bundle holds exactly w
// entries.
func (c *Client) Bundle(ctx context.Context, n uint64, w int) ([][]byte, error) {
	if w < 1 || w > tiles.Width || n >= 1<<54 {
		return nil, fmt.Errorf("no entry bundle %d of width %d", n, w)
	}
	path := "/tlog/" + tiles.Path(tlog.Tile{H: tiles.Height, L: -1, N: int64(n), W: w})
	b, err := c.get(ctx, path, true)
	if err != nil {
		return nil, err
	}
	es, err := tiles.SplitBundle(b)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %v", path, err)
	}
	if len(es) != w {
		return nil, fmt.Errorf("GET %s: %d entries, want %d", path, len(es), w)
	}
	return es, nil
}

// fetchWorkers is how many entry bundles Entries fetches at once;
// fetchWindow bounds how many bundles fetching runs ahead of the one the
// caller is at, and so the memory held (some 16 × 256 entries).
const (
	fetchWorkers = 4
	fetchWindow  = 16
)

// Entries returns the entries from seq from up to, not including, to, in
// seq order, read 256 at a time from the log's entry bundles
// (docs/contract.md section 12), a few bundles at once. A bundle the
// server does not serve (404: one holding an entry too large for a
// bundle, or a server without /tlog/) is read entry by entry instead. A
// failure is yielded with the Seq of the first entry of the bundle that
// failed and ends the sequence. Breaking out of the loop stops the
// fetching; the loop returns once every request has ended, so nothing
// outlives it.
func (c *Client) Entries(ctx context.Context, from, to uint64) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		if from >= to {
			return
		}
		first, last := from/tiles.Width, (to-1)/tiles.Width
		n := min(last-first+1, fetchWindow)
		ctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		// Deferred calls run last first: cancel, then wait for the workers.
		defer wg.Wait()
		defer cancel()
		type fetched struct {
			es  [][]byte
			err error
		}
		// ring[i] holds the answer for bundle first+i modulo n. A bundle is
		// handed out only with a credit, returned once its answer is
		// taken, so a slot is always empty when its next answer arrives
		// and no worker ever blocks on it.
		ring := make([]chan fetched, n)
		for i := range ring {
			ring[i] = make(chan fetched, 1)
		}
		credits := make(chan struct{}, n)
		jobs := make(chan uint64)
		wg.Go(func() {
			defer close(jobs)
			for b := first; b <= last; b++ {
				select {
				case credits <- struct{}{}:
				case <-ctx.Done():
					return
				}
				select {
				case jobs <- b:
				case <-ctx.Done():
					return
				}
			}
		})
		for range min(n, fetchWorkers) {
			wg.Go(func() {
				for b := range jobs {
					es, err := c.bundleOrEntries(ctx, b, min(tiles.Width, to-b*tiles.Width))
					ring[(b-first)%n] <- fetched{es, err}
				}
			})
		}
		for b := first; b <= last; b++ {
			start := b * tiles.Width
			var r fetched
			select {
			case r = <-ring[(b-first)%n]:
			case <-ctx.Done():
				yield(Entry{Seq: max(start, from)}, ctx.Err())
				return
			}
			<-credits
			if r.err != nil {
				yield(Entry{Seq: max(start, from)}, r.err)
				return
			}
			for i, e := range r.es {
				if seq := start + uint64(i); seq >= from && !yield(Entry{Seq: seq, Data: e}, nil) {
					return
				}
			}
		}
	}
}

// bundleOrEntries reads bundle b of width w, or its entries one by one
// where the server does not serve it.
func (c *Client) bundleOrEntries(ctx context.Context, b, w uint64) ([][]byte, error) {
	es, err := c.Bundle(ctx, b, int(w))
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusNotFound {
		return es, err
	}
	es = make([][]byte, w)
	for i := range es {
		if es[i], err = c.Entry(ctx, b*tiles.Width+uint64(i)); err != nil {
			return nil, err
		}
	}
	return es, nil
}

// InclusionProof returns the RFC 6962 audit path of entry index in the tree
// of the given size.
func (c *Client) InclusionProof(ctx context.Context, index, size uint64) ([]tlog.Hash, error) {
	return c.proof(ctx, "inclusion", "index", index, "size", size)
}

// ConsistencyProof returns the RFC 6962 proof that the tree of size from is
// a prefix of the tree of size to.
func (c *Client) ConsistencyProof(ctx context.Context, from, to uint64) ([]tlog.Hash, error) {
	return c.proof(ctx, "consistency", "from", from, "to", to)
}

// proof fetches /v1/log/proof/{kind}?{p}={a}&{q}={b} and checks that the
// answer names the proof asked for.
func (c *Client) proof(ctx context.Context, kind, p string, a uint64, q string, b uint64) ([]tlog.Hash, error) {
	path := fmt.Sprintf("/v1/log/proof/%s?%s=%d&%s=%d", kind, p, a, q, b)
	body, err := c.get(ctx, path, false)
	if err != nil {
		return nil, err
	}
	var ans struct {
		Index  *uint64  `json:"index"`
		Size   *uint64  `json:"size"`
		From   *uint64  `json:"from"`
		To     *uint64  `json:"to"`
		Hashes []string `json:"hashes"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, fmt.Errorf("GET %s: %v", path, err)
	}
	named := [2]*uint64{ans.Index, ans.Size}
	if kind == "consistency" {
		named = [2]*uint64{ans.From, ans.To}
	}
	if named[0] == nil || *named[0] != a || named[1] == nil || *named[1] != b {
		return nil, fmt.Errorf("GET %s: the answer names %s %s and %s %s", path, p, show(named[0]), q, show(named[1]))
	}
	out := make([]tlog.Hash, len(ans.Hashes))
	for i, h := range ans.Hashes {
		raw, err := base64.StdEncoding.DecodeString(h)
		if err != nil || len(raw) != tlog.HashSize {
			return nil, fmt.Errorf("GET %s: hash %d is not a base64 SHA-256 hash", path, i)
		}
		copy(out[i][:], raw)
	}
	return out, nil
}

func show(n *uint64) string {
	if n == nil {
		return "nothing"
	}
	return strconv.FormatUint(*n, 10)
}

// Prover is a client's proofs with a context bound, in the shape of the
// ledger's Prover, for code that asks for proofs without a context.
type Prover struct {
	ctx context.Context
	c   *Client
}

// Prover returns c's proofs, each fetched with ctx.
func (c *Client) Prover(ctx context.Context) Prover { return Prover{ctx, c} }

// InclusionProof is [Client.InclusionProof] with the bound context.
func (p Prover) InclusionProof(index, size uint64) ([]tlog.Hash, error) {
	return p.c.InclusionProof(p.ctx, index, size)
}

// ConsistencyProof is [Client.ConsistencyProof] with the bound context.
func (p Prover) ConsistencyProof(from, to uint64) ([]tlog.Hash, error) {
	return p.c.ConsistencyProof(p.ctx, from, to)
}

// get fetches path and returns the body of a 200 answer, trying again after
// network errors and 5xx answers as configured. auth sends the token.
func (c *Client) get(ctx context.Context, path string, auth bool) ([]byte, error) {
	var err error
	for attempt := range c.retries + 1 {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		var b []byte
		b, err = c.getOnce(ctx, path, auth)
		var se *StatusError
		if err == nil || ctx.Err() != nil || (errors.As(err, &se) && se.StatusCode < 500) {
			return b, err
		}
	}
	return nil, err
}

func (c *Client) getOnce(ctx context.Context, path string, auth bool) ([]byte, error) {
	return c.send(ctx, http.MethodGet, path, nil, auth)
}

// send makes one request, with body as JSON when it is not nil, and
// returns the body of a 200 answer, or of a 201 to a POST (a resource
// created). auth sends the token.
func (c *Client) send(ctx context.Context, method, path string, body []byte, auth bool) ([]byte, error) {
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
	if auth && c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != http.StatusOK && !(resp.StatusCode == http.StatusCreated && method == http.MethodPost) {
		e := statusError(path, resp, answer)
		if method != http.MethodGet {
			e.Method = method
		}
		return nil, e
	}
	return answer, nil
}

// statusError describes an answer other than 200 from its problem details
// (RFC 9457), when it has them.
func statusError(path string, resp *http.Response, body []byte) *StatusError {
	e := &StatusError{Path: path, StatusCode: resp.StatusCode}
	var p struct {
		Type    string      `json:"type"`
		Detail  string      `json:"detail"`
		Missing []Shortfall `json:"missing"`
	}
	if json.Unmarshal(body, &p) != nil {
		return e
	}
	e.Detail = p.Detail
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/problem+json" {
		e.Type, e.Missing = p.Type, p.Missing
	}
	return e
}
