// Package api serves creditbank over HTTP: the resources of docs/contract.md
// sections 2 to 5, as the one [http.Handler] that [New] builds on
// gorilla/mux.
//
// It owns what is HTTP about the bank: the route table, which is also the
// permission table by role ([Routes]); bearer tokens (JWTs, RFC 7519,
// signed with EdDSA as RFC 8037 defines it or with ES256), checked by the
// [Authenticator], and the key files and token signing the commands use;
// the strict decoding of request bodies and the limit on each, and of
// query parameters, which each route lists in its row (params.go); the
// answers, with failures as RFC 9457 problem details
// (application/problem+json) whose type is stable per kind of failure and
// mapped from the bank's and the ledger's errors in one function,
// problemFor; a token bucket per institution, and one per client address
// for what needs no token; the Prometheus [Metrics]; and the OpenAPI
// document served at /openapi.json.
//
// It decides nothing about credit. A handler decodes the request, calls
// the [accreditation.Bank] and writes the answer; the only permissions it
// checks itself are the route table's and who may read a learner's record,
// for which it asks the bank whether the learner's grant to the
// institution is in force.
// It reaches the ledger only to serve entries, checkpoints and proofs and
// to report its health; it must not know Pebble, the ledger's keys or the
// bank's state, and mux types never leave it.
package api

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"creditbank/access"
	"creditbank/accreditation"
	"creditbank/credential"
	"creditbank/ledger"
)

// Config configures the handler.
type Config struct {
	Bank *accreditation.Bank
	Auth *Authenticator
	Log  *slog.Logger
	// Metrics, when set, are recorded and served at /metrics.
	Metrics *Metrics
	// InstitutionRate limits each institution's requests; zero Rate: none.
	InstitutionRate RateLimit
	// AnonymousRate limits the requests each client address makes to the
	// routes that need no token, but for /healthz and /readyz
	// (anonymous.go); zero Rate: none.
	AnonymousRate RateLimit
	// Rows is each caller's budget in rows read (budget.go): a request is
	// let in while its caller's balance holds a row and charged what it
	// read once it ran. BodyBytes is each caller's budget in request body
	// bytes, charged as the body is read. A role whose Rate is zero has no
	// budget; the zero Budgets: none (DefaultRowBudgets and
	// DefaultBodyBudgets are what `creditbank serve` starts with).
	Rows      Budgets
	BodyBytes Budgets
	// MetricsElsewhere leaves /metrics out of this handler (it answers 404
	// here): [Handler.MetricsHandler] serves it on a listener of its own.
	MetricsElsewhere bool
	// HeldRefusals is how many 429 answers may be held at once before they
	// are sent (tarpit.go); past that a 429 is sent at once and closes its
	// connection. Zero holds none. It should be well under the connections
	// the server admits.
	HeldRefusals int
	// Checkpoint, when set, gives the checkpoint GET /v1/log/checkpoint and
	// GET /tlog/checkpoint serve: the ledger's latest with the witnesses'
	// cosignatures (package witness). Nil serves the ledger's own.
	Checkpoint func() []byte
	// Access is the access log (package access) that reads of a learner's
	// record by others are recorded in and that
	// GET /v1/learners/{id}/access-log lists; nil keeps none (that route
	// then answers 404). The caller closes it, after the handler is done.
	Access *access.Log
	// Issuer signs the credentials learners ask for and the status lists
	// (package credential); nil: the credential routes answer 404.
	Issuer *credential.Issuer
}

// Handler is the HTTP API.
type Handler struct {
	bank    *accreditation.Bank
	ledger  *ledger.Ledger
	auth    *Authenticator
	log     *slog.Logger
	router  *mux.Router
	metrics *Metrics
	limit   *limiter
	// anonymous limits requests without a token per client address.
	anonymous *limiter
	// rows and bodyBytes are the budgets of every caller (budget.go).
	rows      *budget
	bodyBytes *budget
	// longReads admits transcript, balance and audit reads a few at a time.
	longReads chan struct{}
	// tarpit holds 429s (tarpit.go).
	tarpit *tarpit
	// access is the access log; nil when none is kept (handlers_access.go).
	access *access.Log
	// servedCheckpoint gives the checkpoint served.
	servedCheckpoint func() []byte
	// issuer signs credentials, and status the status lists as last
	// signed (handlers_credentials.go).
	issuer *credential.Issuer
	status *statusLists
}

// longReadSlots is how many long reads (transcript pages, balances, audit
// pages, statistics, lists) run at once on procs cores: one fewer than the
// cores, so that one is always left for the sequencer and the short
// requests. Two per core, as before, let a regulator and a learner reading
// a large record in a loop hold a victim's single posts at ×30 their p99
// on two cores (creditbank abuse).
func longReadSlots(procs int) int { return max(1, procs-1) }

// anyone marks a route that needs no token; anyToken one that takes any
// valid token.
var (
	anyone   []accreditation.Role
	anyToken = []accreditation.Role{accreditation.RoleAdmin, accreditation.RoleRegulator, accreditation.RoleInstitution, accreditation.RoleLearner}
	admin    = []accreditation.Role{accreditation.RoleAdmin}
	adminReg = []accreditation.Role{accreditation.RoleAdmin, accreditation.RoleRegulator}
	// adminLearner asks for conversions: the learner decides (contract
	// version 2), or an admin on the learner's behalf.
	adminLearner = []accreditation.Role{accreditation.RoleAdmin, accreditation.RoleLearner}
	// learnerOnly grants and withdraws access to a learner's record: the
	// learner's own decision (docs/contract.md section 7).
	learnerOnly = []accreditation.Role{accreditation.RoleLearner}
	// adminRegLearner lists a learner's grants: the learner, and those who
	// answer for the bank.
	adminRegLearner = []accreditation.Role{accreditation.RoleAdmin, accreditation.RoleRegulator, accreditation.RoleLearner}
	// adminRegInstitution reads what an institution posted for a learner:
	// the institution itself (the handler checks which), admins and
	// regulators.
	adminRegInstitution = []accreditation.Role{accreditation.RoleAdmin, accreditation.RoleRegulator, accreditation.RoleInstitution}
	// adminInstitution records awards: the programme's institution (the
	// bank checks which), or an admin.
	adminInstitution = []accreditation.Role{accreditation.RoleAdmin, accreditation.RoleInstitution}
	// institutionOnly reviews and decides recognition cases: the case's
	// target institution (the bank checks which); regulatorOnly decides
	// their appeals (docs/contract.md section 13).
	institutionOnly = []accreditation.Role{accreditation.RoleInstitution}
	regulatorOnly   = []accreditation.Role{accreditation.RoleRegulator}
)

// page is the query of a listing that only pages: limit and cursor.
var page = []string{"limit", "cursor"}

// Route is one endpoint: its name, method, path template and the roles
// allowed to call it (nil: no token needed). This table is the permission
// table of docs/contract.md section 2, in one place; what depends on the data
// (an institution's own outcomes, a learner's own transcript, the rule's
// target institution) is checked by the handler or the bank.
type Route struct {
	Name   string
	Method string
	Path   string
	Roles  []accreditation.Role
	// Query lists the query parameters the route defines, each taking one
	// value (nil: none). The endpoint refuses any other parameter, and one
	// given twice, with 400 bad-parameter before the handler runs, so a
	// route that takes a new parameter lists it here and nothing else; the
	// handler still checks the values (params.go).
	Query  []string
	handle func(h *Handler, w http.ResponseWriter, r *http.Request, actor accreditation.Actor)
}

// Routes lists every endpoint.
var Routes = []Route{
	{"healthz", "GET", "/healthz", anyone, nil, (*Handler).healthz},
	{"readyz", "GET", "/readyz", anyone, nil, (*Handler).readyz},
	{"openapi", "GET", "/openapi.json", anyone, nil, (*Handler).openapi},
	{"jwks", "GET", "/.well-known/jwks.json", anyone, nil, (*Handler).jwks},
	{"didDocument", "GET", "/.well-known/did.json", anyone, nil, withIssuer((*Handler).didDocument)},
	{"metrics", "GET", "/metrics", anyone, nil, (*Handler).serveMetrics},
	{"registerInstitution", "POST", "/v1/institutions", admin, nil, (*Handler).registerInstitution},
	{"listInstitutions", "GET", "/v1/institutions", anyToken, page, (*Handler).listInstitutions},
	{"getInstitution", "GET", "/v1/institutions/{id}", anyToken, nil, (*Handler).getInstitution},
	{"addKey", "POST", "/v1/institutions/{id}/keys", admin, nil, (*Handler).addKey},
	{"removeKey", "DELETE", "/v1/institutions/{id}/keys/{kid}", admin, nil, (*Handler).removeKey},
	{"accredit", "POST", "/v1/institutions/{id}/accreditations", adminReg, nil, (*Handler).accredit},
	{"withdrawAccreditation", "POST", "/v1/institutions/{id}/accreditations/{seq}/withdrawal", adminReg, nil, (*Handler).withdrawAccreditation},
	{"suspend", "POST", "/v1/institutions/{id}/suspension", adminReg, nil, (*Handler).suspend},
	{"reinstate", "DELETE", "/v1/institutions/{id}/suspension", adminReg, nil, (*Handler).reinstate},
	{"postOutcomes", "POST", "/v1/outcomes", []accreditation.Role{accreditation.RoleInstitution}, nil, (*Handler).postOutcomes},
	{"revokeOutcome", "POST", "/v1/outcomes/{seq}/revocation", []accreditation.Role{accreditation.RoleInstitution, accreditation.RoleRegulator}, nil, (*Handler).revokeOutcome},
	{"transcript", "GET", "/v1/learners/{id}/transcript", anyToken, []string{"sector", "level", "institution", "status", "from", "to", "limit", "cursor"}, (*Handler).transcript},
	{"transcriptPDF", "GET", "/v1/learners/{id}/transcript.pdf", anyToken, nil, withIssuer((*Handler).transcriptPDF)},
	{"balance", "GET", "/v1/learners/{id}/balance", anyToken, page, (*Handler).balance},
	{"createGrant", "POST", "/v1/learners/{id}/grants", learnerOnly, nil, (*Handler).createGrant},
	{"listGrants", "GET", "/v1/learners/{id}/grants", adminRegLearner, page, (*Handler).listGrants},
	{"withdrawGrant", "DELETE", "/v1/learners/{id}/grants/{grant}", learnerOnly, nil, (*Handler).withdrawGrant},
	{"institutionOutcomes", "GET", "/v1/institutions/{id}/outcomes", adminRegInstitution, []string{"learner", "limit", "cursor"}, (*Handler).institutionOutcomes},
	{"accessLog", "GET", "/v1/learners/{id}/access-log", adminRegLearner, page, (*Handler).accessLog},
	{"eraseLearner", "POST", "/v1/learners/{id}/erasure", admin, nil, (*Handler).eraseLearner},
	{"publishRule", "POST", "/v1/rules", adminReg, nil, (*Handler).publishRule},
	{"listRules", "GET", "/v1/rules", anyToken, []string{"target_institution", "programme", "active", "limit", "cursor"}, (*Handler).listRules},
	{"getRule", "GET", "/v1/rules/{id}", anyToken, nil, (*Handler).getRule},
	{"getRuleVersion", "GET", "/v1/rules/{id}/versions/{version}", anyToken, nil, (*Handler).getRuleVersion},
	{"retireRule", "POST", "/v1/rules/{id}/retirement", adminReg, nil, (*Handler).retireRule},
	{"convert", "POST", "/v1/conversions", adminLearner, nil, (*Handler).convert},
	{"previewConversion", "POST", "/v1/conversions/preview", adminLearner, nil, (*Handler).previewConversion},
	{"publishProgramme", "POST", "/v1/programmes", adminReg, nil, (*Handler).publishProgramme},
	{"listProgrammes", "GET", "/v1/programmes", anyToken, []string{"institution", "limit", "cursor"}, (*Handler).listProgrammes},
	{"getProgramme", "GET", "/v1/programmes/{id}", anyToken, []string{"version"}, (*Handler).getProgramme},
	{"programmeAudit", "GET", "/v1/learners/{id}/programmes/{programme}/audit", anyToken, nil, (*Handler).programmeAudit},
	{"recordAward", "POST", "/v1/learners/{id}/awards", adminInstitution, nil, (*Handler).recordAward},
	{"listAwards", "GET", "/v1/learners/{id}/awards", anyToken, nil, (*Handler).listAwards},
	{"publishEquivalence", "POST", "/v1/equivalences", adminReg, nil, (*Handler).publishEquivalence},
	{"getEquivalence", "GET", "/v1/equivalences/{id}", anyToken, nil, (*Handler).getEquivalence},
	{"auditConversions", "GET", "/v1/audit/conversions", adminReg, []string{"rule", "institution", "from", "to", "limit", "cursor"}, (*Handler).auditConversions},
	{"auditScores", "GET", "/v1/audit/scores", adminReg, []string{"outcomes"}, (*Handler).auditScores},
	{"statistics", "GET", "/v1/statistics", adminReg, []string{"institution", "sector", "from", "to", "format"}, (*Handler).statistics},
	{"logEntry", "GET", "/v1/log/entries/{seq}", adminReg, nil, (*Handler).logEntry},
	{"revokeTokens", "POST", "/v1/token-revocations", admin, nil, (*Handler).revokeTokens},
	{"checkpoint", "GET", "/v1/log/checkpoint", anyone, nil, (*Handler).checkpoint},
	{"logKey", "GET", "/v1/log/key", anyone, nil, (*Handler).logKey},
	{"inclusionProof", "GET", "/v1/log/proof/inclusion", anyone, []string{"index", "size"}, (*Handler).inclusion},
	{"consistencyProof", "GET", "/v1/log/proof/consistency", anyone, []string{"from", "to"}, (*Handler).consistency},
	{"issueCredential", "POST", "/v1/learners/{id}/credentials", adminLearner, nil, withIssuer((*Handler).issueCredential)},
	{"statusList", "GET", "/v1/status/{list}", anyone, nil, withIssuer((*Handler).getStatusList)},
	{"verifyCredential", "POST", "/v1/verify", anyone, nil, withIssuer((*Handler).verifyCredential)},
	{"verifyPage", "GET", "/verify", anyone, []string{"credential", "id"}, withIssuer((*Handler).verifyPage)},
	{"verifyUpload", "POST", "/verify", anyone, nil, withIssuer((*Handler).verifyUpload)},
	{"getCredential", "GET", "/v1/credentials/{ref}", anyone, nil, withIssuer((*Handler).getCredential)},
	{"certifyUnit", "POST", "/v1/units", adminReg, nil, (*Handler).certifyUnit},
	{"listUnits", "GET", "/v1/units", anyone, []string{"institution", "field", "level", "limit", "cursor"}, (*Handler).listUnits},
	{"getUnit", "GET", "/v1/units/{institution}/{code}", anyone, []string{"version"}, (*Handler).getUnit},
	{"applyForRecognition", "POST", "/v1/recognitions", learnerOnly, nil, (*Handler).applyForRecognition},
	{"getRecognition", "GET", "/v1/recognitions/{id}", anyToken, nil, (*Handler).getRecognition},
	{"reviewRecognition", "POST", "/v1/recognitions/{id}/reviews", institutionOnly, nil, (*Handler).reviewRecognition},
	{"decideRecognition", "POST", "/v1/recognitions/{id}/decision", institutionOnly, nil, (*Handler).decideRecognition},
	{"appealRecognition", "POST", "/v1/recognitions/{id}/appeal", learnerOnly, nil, (*Handler).appealRecognition},
	{"decideRecognitionAppeal", "POST", "/v1/recognitions/{id}/appeal/decision", regulatorOnly, nil, (*Handler).decideRecognitionAppeal},
	{"tlogCheckpoint", "GET", "/tlog/checkpoint", anyone, nil, (*Handler).tlogCheckpoint},
	{"tlogTile", "GET", "/tlog/tile/{level}/{index}", anyone, nil, (*Handler).tlogTile},
	{"tlogEntries", "GET", "/tlog/tile/entries/{index}", adminReg, nil, (*Handler).tlogEntries},
}

// New returns the API handler.
func New(cfg Config) *Handler {
	h := &Handler{bank: cfg.Bank, ledger: cfg.Bank.Ledger(), auth: cfg.Auth, log: cfg.Log, metrics: cfg.Metrics,
		limit: newLimiter(cfg.InstitutionRate, nil), anonymous: newLimiter(cfg.AnonymousRate, nil),
		longReads: make(chan struct{}, longReadSlots(runtime.GOMAXPROCS(0))),
		tarpit:    newTarpit(cfg.HeldRefusals)}
	if h.metrics == nil {
		h.metrics = NewMetrics()
	}
	h.access = cfg.Access
	h.issuer = cfg.Issuer
	h.status = &statusLists{}
	h.servedCheckpoint = cfg.Checkpoint
	if h.servedCheckpoint == nil {
		h.servedCheckpoint = h.ledger.Checkpoint
	}
	refusals := newBudgetRefusals(h.metrics.Registry)
	h.rows = newBudget("rows", "rows read", cfg.Rows, refusals, nil)
	h.bodyBytes = newBudget("body_bytes", "body bytes", cfg.BodyBytes, refusals, nil)
	h.router = h.newRouter(func(rt Route) bool { return !cfg.MetricsElsewhere || rt.Name != "metrics" })
	return h
}

// MetricsHandler serves /metrics alone, with the request ids, access log,
// panic recovery and per-address limit of the API, for a listener of its
// own (Config.MetricsElsewhere); any other path is 404.
func (h *Handler) MetricsHandler() http.Handler {
	m := *h
	m.router = m.newRouter(func(rt Route) bool { return rt.Name == "metrics" })
	return &m
}

// newRouter routes the routes that keep accepts, with the API's answers
// for a path or method that matches none.
func (h *Handler) newRouter(keep func(Route) bool) *mux.Router {
	// Paths are matched as sent: no cleaning of dot segments (which would
	// redirect a POST) and no decoding of %2F into a separator.
	r := mux.NewRouter().SkipClean(true).UseEncodedPath()
	for _, rt := range Routes {
		if keep(rt) {
			pattern := rt.Path
			if p, ok := muxPatterns[rt.Name]; ok {
				pattern = p
			}
			r.Handle(pattern, h.endpoint(rt)).Methods(rt.Method).Name(rt.Name)
		}
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		refuse(w, accreditation.CodeNotFound, "no such resource")
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Allow", h.allowedMethods(req))
		writeProblem(w, http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed", req.Method+" is not allowed here")
	})
	return r
}

// maxLoggedPath and maxLoggedMethod bound a path and a method in the log:
// each is as long as a client makes it, up to the 64 KiB of headers, and
// every byte would be written to the log of each request.
const (
	maxLoggedPath   = 256
	maxLoggedMethod = 16
)

// logged cuts s to n bytes on a rune boundary, marked with its length.
func logged(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "...(" + strconv.Itoa(len(s)) + " bytes)"
}

// ServeHTTP wraps the router from outside (mux middleware does not run for
// 404 and 405): a request id, panic recovery and an access log line, whose
// method and path are cut to a length that keeps the line short whatever
// the client sent.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("X-Request-Id")
	if id == "" || len(id) > 64 {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id = hex.EncodeToString(b)
	}
	w.Header().Set("X-Request-Id", id)
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK, requestID: id, tarpit: h.tarpit}
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			h.log.Error("panic serving request", "request_id", id, "panic", p, "method", logged(r.Method, maxLoggedMethod), "path", logged(r.URL.Path, maxLoggedPath))
			if !sw.wrote {
				writeProblem(sw, http.StatusInternalServerError, "internal", "Internal error", "")
			}
		}
		elapsed := time.Since(start)
		route, method := sw.route, methodLabel(r.Method)
		if route == "" {
			route = h.routeOf(r) // no endpoint ran: 404, 405
		}
		h.metrics.requests.WithLabelValues(route, method, strconv.Itoa(sw.status)).Inc()
		h.metrics.duration.WithLabelValues(route, method).Observe(elapsed.Seconds())
		h.log.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("request_id", id),
			slog.String("method", logged(r.Method, maxLoggedMethod)), slog.String("path", logged(r.URL.Path, maxLoggedPath)), slog.Int("status", sw.status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000))
	}()
	defer func() {
		if sw.hold > 0 {
			h.tarpit.release() // also when the handler panicked
		}
	}()
	h.router.ServeHTTP(sw, r)
	if sw.hold > 0 {
		// The 429 is still in the response's buffer (a problem is far
		// smaller than it): holding here holds the answer.
		h.tarpit.wait(r, sw.hold)
	}
}

// methodLabel folds a request's method to a fixed set for metric labels.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead, http.MethodPatch, http.MethodOptions:
		return m
	}
	return "other"
}

// routeOf names the route template of a request no endpoint served (never
// the raw path), for metrics; endpoints name their own, sparing every
// request a second match of the router.
func (h *Handler) routeOf(r *http.Request) string {
	var match mux.RouteMatch
	if h.router.Match(r, &match) && match.Route != nil {
		// The template of the route's row: a mux pattern with a regular
		// expression (muxPatterns) is no label.
		if i := slices.IndexFunc(Routes, func(rt Route) bool { return rt.Name == match.Route.GetName() }); i >= 0 {
			return Routes[i].Path
		}
		if tpl, err := match.Route.GetPathTemplate(); err == nil {
			return tpl
		}
	}
	return "unmatched"
}

// requestLog is the logger for lines about the request w answers.
func (h *Handler) requestLog(w http.ResponseWriter) *slog.Logger {
	if sw, ok := w.(*statusWriter); ok {
		return h.log.With("request_id", sw.requestID)
	}
	return h.log
}

// statusWriter records what ServeHTTP reports about a request: its status,
// and the route template of the endpoint that served it.
type statusWriter struct {
	http.ResponseWriter
	requestID string
	route     string
	status    int
	wrote     bool
	// tarpit, when set, holds this request's 429 (tarpit.go); hold is how
	// long, once it reserved a place to.
	tarpit *tarpit
	hold   time.Duration
}

// WriteHeader records the first status written. A 429 takes a place in
// the tarpit, to be held once the handler returns, or, when there is none,
// closes the connection after it: the header must be set now, before the
// status line goes out.
func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
		if code == http.StatusTooManyRequests && s.tarpit != nil {
			if hold := s.tarpit.reserve(s.Header()); hold > 0 {
				s.hold = hold
			} else {
				s.Header().Set("Connection", "close")
			}
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write records that the answer has begun, so a panic after it cannot
// write a problem on top.
func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// endpoint authenticates and authorizes by the route's roles (or, for a
// route that needs no token, limits the client's address), admits the
// caller by its budget of rows read, refuses a query parameter the route
// does not define, then calls its handler with the body charged to the
// caller's body budget, and charges what the request read.
func (h *Handler) endpoint(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sw, ok := w.(*statusWriter); ok {
			sw.route = rt.Path
		}
		if rt.Roles == nil && !h.admitAnonymous(w, r, rt) {
			return
		}
		var actor accreditation.Actor
		if rt.Roles != nil {
			var err error
			actor, err = h.auth.Authenticate(r)
			if err != nil {
				h.unauthorized(w, r, err)
				return
			}
			if actor.Role == accreditation.RoleInstitution {
				if ok, wait := h.limit.allow(actor.ID); !ok {
					tooManyRequests(w, wait, "this institution is over its request rate; retry after the Retry-After seconds")
					return
				}
			}
			if !slices.Contains(rt.Roles, actor.Role) {
				refuse(w, accreditation.CodeForbidden, string(actor.Role)+" tokens may not "+rt.Method+" "+rt.Path)
				return
			}
		}
		// Health and readiness probes cost nothing and are asked often
		// from one address: they have no budget, as they have no rate.
		if !unlimitedRoutes[rt.Name] {
			c := callerOf(r, rt.Roles != nil, actor)
			if err := h.rows.admit(c); err != nil {
				err.write(w)
				return
			}
			var m *meter
			r, m = withMeter(r)
			defer func() { h.rows.charge(c, float64(baseRows+m.rows)) }()
			if err := h.budgetBody(r, c); err != nil {
				err.write(w)
				return
			}
		}
		if err := checkQuery(r, rt.Query); err != nil {
			writeError(w, err)
			return
		}
		rt.handle(h, w, r, actor)
	})
}

// unauthorized answers a refused token with 401 and a WWW-Authenticate
// challenge, and counts the refusal by its reason; a token whose issuer is
// over its rate of signature verifications with 429 and Retry-After (the
// token may be good); a failure to look the key up is no refusal and is
// answered as the error it is.
func (h *Handler) unauthorized(w http.ResponseWriter, r *http.Request, err error) {
	if rl, ok := err.(*rateLimitedError); ok {
		h.metrics.authFailures.WithLabelValues("rate limited").Inc()
		if rl.address {
			tooManyRequests(w, rl.wait, "this address sent too many refused tokens; retry after the Retry-After seconds")
			return
		}
		tooManyRequests(w, rl.wait, "this token's issuer is over its rate of new tokens; reuse a token, or retry after the Retry-After seconds")
		return
	}
	ae, ok := err.(*tokenError)
	if !ok {
		h.requestLog(w).Error("authenticate", "err", err)
		writeError(w, err)
		return
	}
	h.metrics.authFailures.WithLabelValues(ae.reason).Inc()
	if ae.reason == "missing" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="creditbank"`)
	} else {
		w.Header().Set("WWW-Authenticate", `Bearer realm="creditbank", error="invalid_token"`)
	}
	writeProblem(w, http.StatusUnauthorized, "unauthorized", "Unauthorized", "token refused: "+ae.reason)
}

// allowedMethods lists the methods the router accepts for the request's
// path, for the Allow header of a 405.
func (h *Handler) allowedMethods(req *http.Request) string {
	var methods []string
	for _, rt := range Routes {
		route := h.router.Get(rt.Name)
		if route == nil { // not served by this handler
			continue
		}
		probe := req.Clone(req.Context())
		probe.Method = rt.Method
		var match mux.RouteMatch
		if route.Match(probe, &match) && match.MatchErr == nil && !slices.Contains(methods, rt.Method) {
			methods = append(methods, rt.Method)
		}
	}
	sort.Strings(methods)
	return strings.Join(methods, ", ")
}
