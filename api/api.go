// Package api serves creditbank over HTTP with gorilla/mux. Failures are
// answered as RFC 9457 problem details (application/problem+json).
//
// This first cut serves the parts of the contract that need no token: health,
// readiness, and the transparency log's checkpoint, verifier key and RFC 6962
// proofs (CONTRACT.md section 4).
package api

import (
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
	"golang.org/x/mod/sumdb/tlog"

	"creditbank/ledger"
)

// New returns the HTTP handler of the service over the ledger l.
func New(l *ledger.Ledger, log *slog.Logger) http.Handler {
	s := &server{ledger: l, log: log}
	r := mux.NewRouter()
	r.HandleFunc("/healthz", s.healthz).Methods(http.MethodGet)
	r.HandleFunc("/readyz", s.readyz).Methods(http.MethodGet)
	r.HandleFunc("/v1/log/checkpoint", s.checkpoint).Methods(http.MethodGet)
	r.HandleFunc("/v1/log/key", s.key).Methods(http.MethodGet)
	r.HandleFunc("/v1/log/proof/inclusion", s.inclusion).Methods(http.MethodGet)
	r.HandleFunc("/v1/log/proof/consistency", s.consistency).Methods(http.MethodGet)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeProblem(w, http.StatusNotFound, "not-found", "Not found", "no such resource")
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Allow", allowed(r, req))
		writeProblem(w, http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed", req.Method+" is not allowed here")
	})
	return r
}

type server struct {
	ledger *ledger.Ledger
	log    *slog.Logger
}

// allowed lists the methods the router accepts for the request's path.
func allowed(r *mux.Router, req *http.Request) string {
	var methods []string
	_ = r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		ms, err := route.GetMethods()
		if err != nil {
			return nil
		}
		for _, m := range ms {
			probe := req.Clone(req.Context())
			probe.Method = m
			var match mux.RouteMatch
			if route.Match(probe, &match) && match.MatchErr == nil {
				methods = append(methods, m)
			}
		}
		return nil
	})
	sort.Strings(methods)
	return strings.Join(methods, ", ")
}

func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func (s *server) readyz(w http.ResponseWriter, _ *http.Request) {
	if err := s.ledger.Writable(); err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ready\n"))
}

func (s *server) checkpoint(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(s.ledger.Checkpoint())
}

func (s *server) key(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(s.ledger.VerifierKey() + "\n"))
}

// uintParams reads required non-negative integer query parameters.
func uintParams(w http.ResponseWriter, req *http.Request, names ...string) ([]uint64, bool) {
	out := make([]uint64, len(names))
	q := req.URL.Query()
	for i, name := range names {
		v := q.Get(name)
		n, err := strconv.ParseUint(v, 10, 63)
		if err != nil || strconv.FormatUint(n, 10) != v {
			writeProblem(w, http.StatusBadRequest, "bad-parameter", "Bad query parameter",
				name+" must be a non-negative integer in decimal")
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

type inclusionProof struct {
	Index  uint64   `json:"index"`
	Size   uint64   `json:"size"`
	Hashes []string `json:"hashes"`
}

type consistencyProof struct {
	From   uint64   `json:"from"`
	To     uint64   `json:"to"`
	Hashes []string `json:"hashes"`
}

func (s *server) inclusion(w http.ResponseWriter, req *http.Request) {
	p, ok := uintParams(w, req, "index", "size")
	if !ok {
		return
	}
	hashes, err := s.ledger.InclusionProof(p[0], p[1])
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, inclusionProof{Index: p[0], Size: p[1], Hashes: encodeHashes(hashes)})
}

func (s *server) consistency(w http.ResponseWriter, req *http.Request) {
	p, ok := uintParams(w, req, "from", "to")
	if !ok {
		return
	}
	hashes, err := s.ledger.ConsistencyProof(p[0], p[1])
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, consistencyProof{From: p[0], To: p[1], Hashes: encodeHashes(hashes)})
}

func encodeHashes(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
