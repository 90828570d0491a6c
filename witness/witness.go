// Package witness has the ledger's checkpoints cosigned by independent
// witnesses, so that the log cannot show one history to some and another
// to others (a split view) without a witness noticing. It speaks C2SP
// tlog-witness: each new checkpoint is POSTed to every configured witness's
// add-checkpoint with a consistency proof from the size the witness last
// cosigned, and the Ed25519 cosignatures that come back (C2SP
// tlog-cosignature, cosignature/v1) are checked with the witness's key and
// served with the checkpoint (docs/contract.md section 12).
//
// Witnessing is outside the ledger: the ledger stays a function of its
// entries, and a witness that is down, slow or refusing costs the log its
// cosignature, never a write. What each witness last cosigned is kept in a
// small file, so that a restart resumes from it; a witness that disagrees
// says so with 409 and its size, which the submitter takes and retries
// with.
package witness

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"creditbank/ledger"
)

// Log is what the submitter reads from the ledger (a *ledger.Ledger).
type Log interface {
	// Checkpoint returns the latest signed checkpoint, a note whose body is
	// a C2SP tlog-checkpoint.
	Checkpoint() []byte
	// ConsistencyProof returns the RFC 6962 proof from the tree of size
	// from (0: empty) to the tree of size to.
	ConsistencyProof(from, to uint64) ([]tlog.Hash, error)
}

// Witness is one configured witness.
type Witness struct {
	// URL is the witness's submission prefix: add-checkpoint is POSTed to
	// URL/add-checkpoint.
	URL string `json:"url"`
	// Key is its verifier key (NewVerifier); its name names the witness
	// in metrics and logs.
	Key string `json:"key"`
}

// Options configure [Start]. Log and StateFile are required.
type Options struct {
	Log       Log
	Witnesses []Witness
	// StateFile keeps, for each witness, the size it last cosigned (or told
	// us with a 409); created when missing.
	StateFile string
	// Timeout bounds each request to a witness; 10 s when zero. A round
	// waits for its slowest witness up to this long.
	Timeout time.Duration
	// Poll is how often the log's checkpoint is looked at; 1 s when zero.
	Poll time.Duration
	// MinBackoff and MaxBackoff bound the pause after a witness failed,
	// doubled on each failure in a row; 1 s and 5 min when zero.
	MinBackoff, MaxBackoff time.Duration
	// HTTPClient sends the requests; one of its own when nil.
	HTTPClient *http.Client
	// Logger gets a line per failure; slog.Default when nil.
	Logger *slog.Logger
	// Registerer, when set, gets the metrics.
	Registerer prometheus.Registerer
}

// Failure reasons, the label values of creditbank_witness_failures_total.
const (
	ReasonUnreachable    = "unreachable"     // network error, timeout or 5xx
	ReasonRefused        = "refused"         // 403: the witness does not trust our key
	ReasonUnknownLog     = "unknown-log"     // 404: the witness does not know our origin
	ReasonConflict       = "conflict"        // 409 with a size we cannot go on from
	ReasonInconsistent   = "inconsistent"    // 422: our proof or root contradicts what it saw
	ReasonBadRequest     = "bad-request"     // 400
	ReasonBadResponse    = "bad-response"    // an answer that does not parse
	ReasonBadCosignature = "bad-cosignature" // 200 without a valid cosignature by its key
	ReasonInternal       = "internal"        // no proof from our own log
)

var reasons = []string{ReasonUnreachable, ReasonRefused, ReasonUnknownLog, ReasonConflict, ReasonInconsistent,
	ReasonBadRequest, ReasonBadResponse, ReasonBadCosignature, ReasonInternal}

// Submitter submits checkpoints to the witnesses from its own goroutine.
// Its methods are safe for concurrent use. The caller must call Close.
type Submitter struct {
	opts      Options
	log       *slog.Logger
	witnesses []*witnessState
	published atomic.Pointer[[]byte]
	started   time.Time
	stop      chan struct{}
	done      chan struct{}

	// last is the checkpoint of the latest round (goroutine-owned).
	last []byte

	failures *prometheus.CounterVec
}

// witnessState is one witness as the submitter knows it.
type witnessState struct {
	Witness
	v *Verifier

	mu sync.Mutex
	// size is the size the witness last cosigned or told us; the old size
	// of the next request.
	size uint64
	// cosigned is the checkpoint body it last cosigned, line its
	// cosignature line, at when it was made and cosignedSize over what.
	cosigned     string
	line         string
	at           time.Time
	cosignedSize uint64
	// failed counts failures in a row; retryAt is when to try again.
	failed  int
	retryAt time.Time
}

// Start checks the witnesses' keys, loads the state file, registers the
// metrics and starts submitting.
func Start(opts Options) (*Submitter, error) {
	if opts.Log == nil || opts.StateFile == "" {
		return nil, errors.New("witness: no log or state file")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Submitter{opts: opts, log: opts.Logger, started: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	names := map[string]bool{}
	for _, w := range opts.Witnesses {
		v, err := NewVerifier(w.Key)
		if err != nil {
			return nil, fmt.Errorf("witness %s: %v", w.URL, err)
		}
		if names[v.Name()] {
			return nil, fmt.Errorf("witness %s: two witnesses are named %s", w.URL, v.Name())
		}
		names[v.Name()] = true
		s.witnesses = append(s.witnesses, &witnessState{Witness: w, v: v})
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	s.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "creditbank_witness_failures_total", Help: "Checkpoints a witness did not cosign, by witness and reason.",
	}, []string{"witness", "reason"})
	for _, w := range s.witnesses {
		for _, r := range reasons {
			s.failures.WithLabelValues(w.v.Name(), r)
		}
	}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(s.failures); err != nil {
			return nil, err
		}
		if err := opts.Registerer.Register(collector{s}); err != nil {
			return nil, err
		}
	}
	go s.run()
	return s, nil
}

// Close stops submitting and waits for the round in progress, whose
// requests it cancels.
func (s *Submitter) Close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

// Checkpoint is the checkpoint to serve: the latest one a round was held
// for, with the cosignatures the witnesses gave for it appended, or the
// log's latest before the first round ends.
func (s *Submitter) Checkpoint() []byte {
	if p := s.published.Load(); p != nil {
		return *p
	}
	return s.opts.Log.Checkpoint()
}

func (s *Submitter) run() {
	defer close(s.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-s.done:
		}
	}()
	tick := time.NewTicker(s.opts.Poll)
	defer tick.Stop()
	for {
		cp := s.opts.Log.Checkpoint()
		if !bytes.Equal(cp, s.last) || s.due(cp) {
			s.round(ctx, cp)
		}
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
	}
}

// due reports whether a witness that has not cosigned cp may be asked
// again.
func (s *Submitter) due(cp []byte) bool {
	body := noteBody(cp)
	now := time.Now()
	for _, w := range s.witnesses {
		w.mu.Lock()
		d := w.cosigned != body && !now.Before(w.retryAt)
		w.mu.Unlock()
		if d {
			return true
		}
	}
	return false
}

// noteBody is the text of a signed note, up to and with the newline before
// the blank line.
func noteBody(signed []byte) string {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	if i < 0 {
		return ""
	}
	return string(signed[:i+1])
}

// round submits cp to every witness that has not cosigned it and is not
// waiting out a failure, at once, then publishes cp with the cosignatures
// collected and saves the state.
func (s *Submitter) round(ctx context.Context, cp []byte) {
	s.last = cp
	n, err := note.Open(cp, anyVerifier{})
	var c ledger.Checkpoint
	if err == nil {
		c, err = ledger.ParseCheckpoint(n.Text)
	}
	if err != nil {
		s.log.Error("witness: the log's checkpoint does not parse", "err", err)
		return
	}
	body := n.Text
	now := time.Now()
	var wg sync.WaitGroup
	for _, w := range s.witnesses {
		w.mu.Lock()
		skip := w.cosigned == body || now.Before(w.retryAt)
		w.mu.Unlock()
		if !skip {
			wg.Go(func() { s.submit(ctx, w, cp, body, c.Size) })
		}
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	out := append([]byte(nil), cp...)
	for _, w := range s.witnesses {
		w.mu.Lock()
		if w.cosigned == body {
			out = append(out, w.line+"\n"...)
		}
		w.mu.Unlock()
	}
	// The sizes are saved before the checkpoint is served, so that one
	// served with a witness's cosignature never has a size the next start
	// would not know.
	if err := s.save(); err != nil {
		s.log.Error("witness: save state", "err", err)
	}
	s.published.Store(&out)
}

// anyVerifier opens the log's own note for its text: the log's signature
// was checked where it was made.
type anyVerifier struct{}

func (anyVerifier) Verifier(name string, hash uint32) (note.Verifier, error) {
	return acceptAll{name, hash}, nil
}

type acceptAll struct {
	name string
	hash uint32
}

func (a acceptAll) Name() string            { return a.name }
func (a acceptAll) KeyHash() uint32         { return a.hash }
func (a acceptAll) Verify(_, _ []byte) bool { return true }

// label names w in metrics and logs.
func (w *witnessState) label() string { return w.v.Name() }

// submit asks w to cosign cp, over the tree of size size, following a 409
// to the size the witness has; it records the cosignature or the failure.
func (s *Submitter) submit(ctx context.Context, w *witnessState, cp []byte, body string, size uint64) {
	for range 3 {
		w.mu.Lock()
		old := w.size
		w.mu.Unlock()
		if old > size {
			s.fail(w, ReasonConflict, fmt.Errorf("the witness has cosigned a tree of %d entries, larger than our %d", old, size))
			return
		}
		proof, err := s.opts.Log.ConsistencyProof(old, size)
		if err != nil {
			s.fail(w, ReasonInternal, fmt.Errorf("consistency proof from %d to %d: %v", old, size, err))
			return
		}
		req, err := requestBody(old, proof, cp)
		if err != nil {
			s.fail(w, ReasonInternal, err)
			return
		}
		status, answer, err := s.post(ctx, w, req)
		switch {
		case err != nil || status >= 500:
			if ctx.Err() != nil {
				return
			}
			s.fail(w, ReasonUnreachable, fmt.Errorf("add-checkpoint: status %d: %v", status, err))
			return
		case status == http.StatusOK:
			line, err := s.cosignature(w, body, answer)
			if err != nil {
				s.fail(w, ReasonBadCosignature, err)
				return
			}
			w.mu.Lock()
			w.size, w.cosigned, w.line, w.at, w.cosignedSize, w.failed, w.retryAt = size, body, line, time.Now(), size, 0, time.Time{}
			w.mu.Unlock()
			return
		case status == http.StatusConflict:
			n, err := ParseSize(answer)
			if err != nil {
				s.fail(w, ReasonBadResponse, err)
				return
			}
			w.mu.Lock()
			w.size = n
			w.mu.Unlock()
			s.log.Info("witness: took the size it has cosigned", "witness", w.label(), "size", n, "old", old)
			continue
		default:
			reason := map[int]string{http.StatusBadRequest: ReasonBadRequest, http.StatusForbidden: ReasonRefused,
				http.StatusNotFound: ReasonUnknownLog, http.StatusUnprocessableEntity: ReasonInconsistent}[status]
			if reason == "" {
				reason = ReasonBadResponse
			}
			s.fail(w, reason, fmt.Errorf("add-checkpoint from size %d to %d: status %d: %.200q", old, size, status, answer))
			return
		}
	}
	s.fail(w, ReasonConflict, errors.New("the witness answered 409 three times"))
}

// post sends one add-checkpoint request and reads the answer.
func (s *Submitter) post(ctx context.Context, w *witnessState, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(w.URL, "/")+"/add-checkpoint", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	resp, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, answer, nil
}

// cosignature picks w's cosignature of body out of its answer and checks
// it with w's key; it returns its signature line.
func (s *Submitter) cosignature(w *witnessState, body string, answer []byte) (string, error) {
	lines, err := ParseSignatureLines(answer)
	if err != nil {
		return "", err
	}
	n, err := note.Open([]byte(body+"\n"+strings.Join(lines, "\n")+"\n"), note.VerifierList(w.v))
	if err != nil {
		return "", fmt.Errorf("no cosignature by %s in the answer: %v", w.v, err)
	}
	sig := n.Sigs[0]
	return "— " + sig.Name + " " + sig.Base64, nil
}

// fail records a failure and when to try again: MinBackoff doubled for each
// failure in a row, at most MaxBackoff, less up to a fifth at random so
// that logs restarted together do not stay in step.
func (s *Submitter) fail(w *witnessState, reason string, err error) {
	s.failures.WithLabelValues(w.label(), reason).Inc()
	w.mu.Lock()
	w.failed++
	pause := s.opts.MaxBackoff
	if w.failed < 30 {
		pause = min(s.opts.MinBackoff<<(w.failed-1), s.opts.MaxBackoff)
	}
	if j, _ := rand.Int(rand.Reader, big.NewInt(int64(pause/5)+1)); j != nil {
		pause -= time.Duration(j.Int64())
	}
	w.retryAt = time.Now().Add(pause)
	failed := w.failed
	w.mu.Unlock()
	s.log.Warn("witness did not cosign", "witness", w.label(), "url", w.URL, "reason", reason, "failures_in_a_row", failed, "retry_in", pause.Round(time.Millisecond), "err", err)
}

// state is the state file: for each witness, by verifier key, the size it
// last cosigned or told us.
type state struct {
	Witnesses map[string]uint64 `json:"witnesses"`
}

func (s *Submitter) load() error {
	b, err := os.ReadFile(s.opts.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("witness state: %v", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("witness state %s: %v", s.opts.StateFile, err)
	}
	for _, w := range s.witnesses {
		w.size = st.Witnesses[w.Key]
	}
	return nil
}

// save writes the state file and syncs it and its folder: a size saved is
// a size the next start begins from.
func (s *Submitter) save() error {
	st := state{Witnesses: map[string]uint64{}}
	for _, w := range s.witnesses {
		w.mu.Lock()
		st.Witnesses[w.Key] = w.size
		w.mu.Unlock()
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(s.opts.StateFile); err == nil && bytes.Equal(old, b) {
		return nil
	}
	tmp := s.opts.StateFile + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.opts.StateFile); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(s.opts.StateFile))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// collector reports each witness's last cosigned size and the age of its
// latest cosignature (since the submitter started, when it has none).
type collector struct{ s *Submitter }

var (
	descCosignedSize = prometheus.NewDesc("creditbank_witness_cosigned_tree_size", "Tree size of the latest checkpoint a witness cosigned.", []string{"witness"}, nil)
	descCosignAge    = prometheus.NewDesc("creditbank_witness_cosignature_age_seconds", "Seconds since a witness last cosigned a checkpoint (since start, when it has not yet).", []string{"witness"}, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) { ch <- descCosignedSize; ch <- descCosignAge }

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, w := range c.s.witnesses {
		w.mu.Lock()
		size, at := w.cosignedSize, w.at
		w.mu.Unlock()
		if at.IsZero() {
			at = c.s.started
		}
		ch <- prometheus.MustNewConstMetric(descCosignedSize, prometheus.GaugeValue, float64(size), w.label())
		ch <- prometheus.MustNewConstMetric(descCosignAge, prometheus.GaugeValue, time.Since(at).Seconds(), w.label())
	}
}
