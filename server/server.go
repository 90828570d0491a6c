package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"creditbank/access"
	"creditbank/accreditation"
	"creditbank/api"
	"creditbank/credential"
	"creditbank/ledger"
	"creditbank/vault"
	"creditbank/witness"
)

// ShutdownTimeout bounds how long Run and Close wait for requests in flight
// before they close the store anyway, so that a stop neither cuts off
// requests at once nor waits for ever on a stalled client.
const ShutdownTimeout = 30 * time.Second

// metricsConnections is the most connections the metrics listener admits:
// a scraper or two needs one each.
const metricsConnections = 8

// Server is the credit bank service running in this process: the ledger
// in its data folder, the HTTP API on a TCP listener (and the metrics on
// another, when configured) and the admin socket. It holds the data
// folder's lock until Shutdown or Close.
type Server struct {
	cfg      Config
	log      *slog.Logger
	repeats  *repeats
	ledger   *ledger.Ledger
	access   *access.Log // in the ledger's store, closed before it; nil when Config.AccessLog is off
	tokenKey api.PrivateKey
	metrics  *api.Metrics
	http     *http.Server
	addr     net.Addr
	// metricsHTTP and metricsAddr serve Config.MetricsAddr; nil without it.
	metricsHTTP *http.Server
	metricsAddr net.Addr
	// files is the soft limit on open files, filesHard the hard one, and
	// maxConns the most connections the API's listener admits.
	files, filesHard uint64
	maxConns         int
	admin            *adminServer
	// witnesses submits checkpoints to the configured witnesses; nil
	// without any.
	witnesses *witness.Submitter
	// served receives what each http.Server.Serve returned.
	served chan error

	once     sync.Once
	closeErr error
}

// noPublicURLWarning is logged at start without --public-url: the
// credentials' issuer id, status lists and the printed transcripts' links
// then name the listen address, which a verifier elsewhere cannot reach.
const noPublicURLWarning = "no --public-url: credentials issued now name the local address as their issuer, status lists and verification links; set --public-url to the address verifiers reach"

// Start checks cfg, raises the soft limit on open files to the hard limit,
// closes the data folder to others (0700) and refuses a private key file
// others may read, opens the ledger in cfg.Data and checks its integrity,
// loads or creates the token key, and serves the API on cfg.Addr (and the
// metrics on cfg.MetricsAddr, when set) and the admin socket in the data
// folder. It returns once the listeners are open, so that a client may
// connect at once. A nil log logs nothing; repeated warnings and errors are
// held back (see repeats). The caller must call Shutdown or Close.
//
// The trusted issuers file is read before the data folder is touched, so
// that a bad configuration creates nothing.
func Start(cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	trusted, err := cfg.trustedIssuers()
	if err != nil {
		return nil, err
	}
	witnesses, err := cfg.witnesses()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reps := newRepeats()
	log = slog.New(reps.handler(log.Handler()))
	s := &Server{cfg: cfg, log: log, repeats: reps, metrics: api.NewMetrics(), served: make(chan error, 2)}
	if err := s.prepare(); err != nil {
		return nil, err
	}
	s.ledger, err = OpenLedger(cfg.Data, cfg.origin(), false, log, s.metrics.ObserveGroup, int64(cfg.CacheMiB)<<20)
	if err != nil {
		if o := cfg.origin(); o != "" && cfg.Origin == "" {
			return nil, fmt.Errorf("%v (the origin %s comes from --public-url; an origin cannot change: give --origin with the key's name to keep it)", err, o)
		}
		return nil, err
	}
	if err := ledger.CheckOrigin(s.ledger.Origin()); err != nil {
		log.Warn("the ledger's origin is not a globally unique name; witnesses and tile clients need one (a new data folder with --public-url or --origin)", "err", err)
	}
	if err := s.startWitnesses(witnesses); err != nil {
		s.closeAccess()
		s.ledger.Close()
		return nil, err
	}
	if err := s.listen(trusted); err != nil {
		s.closeWitnesses()
		s.closeAccess()
		s.ledger.Close()
		return nil, err
	}
	attrs := []any{"addr", s.addr.String(), "data", cfg.Data, "size", s.ledger.Size(),
		"open_files", s.files, "open_files_hard", s.filesHard, "max_connections", s.maxConns}
	if s.metricsAddr != nil {
		attrs = append(attrs, "metrics_addr", s.metricsAddr.String())
	}
	log.Info("serving", attrs...)
	return s, nil
}

// prepare raises the open files limit and derives the connection limit
// from it, and closes the data folder and checks its keys, before anything
// is opened.
func (s *Server) prepare() error {
	var err error
	s.files, s.filesHard, err = raiseFileLimit()
	if err != nil {
		s.log.Warn("the soft limit on open files stays below the hard limit", "open_files", s.files, "open_files_hard", s.filesHard, "err", err)
	}
	store := storeFiles()
	var crowded bool
	s.maxConns, crowded, err = connectionLimit(s.cfg.MaxConnections, s.files, store)
	if err != nil {
		return err
	}
	if crowded {
		s.log.Warn("the store's open files and the connections together may exceed the open files limit: raise it (ulimit -n) before the ledger grows large",
			"open_files", s.files, "store_files", store, "max_connections", s.maxConns)
	}
	if err := closeDataFolder(s.cfg.Data, s.log); err != nil {
		return err
	}
	return checkKeyFiles(s.cfg.Data)
}

// listen builds the API on the open ledger and serves it.
func (s *Server) listen(trusted []api.Issuer) error {
	s.metrics.RegisterLedger(s.ledger)
	if err := s.ledger.Integrity(); err != nil {
		return fmt.Errorf("store in %s failed its integrity check: %v", s.cfg.Data, err)
	}
	if err := s.openAccess(); err != nil {
		return err
	}
	var err error
	s.tokenKey, err = api.LoadOrCreateTokenKey(filepath.Join(s.cfg.Data, "keys"))
	if err != nil {
		return fmt.Errorf("token key: %v", err)
	}
	pub, err := s.tokenKey.Public()
	if err != nil {
		return err
	}
	own := api.Issuer{Name: s.cfg.Issuer, Keys: map[string]accreditation.PublicJWK{pub.Kid: pub}}
	keyDir := filepath.Join(s.cfg.Data, "keys")
	if _, err := os.Stat(filepath.Join(keyDir, vault.FileName)); errors.Is(err, fs.ErrNotExist) {
		// A fresh key file would open none of the learners' keys: refuse
		// rather than serve every sealed outcome as unreadable.
		if held, err := accreditation.HasLearnerKeys(s.ledger); err != nil || held {
			return fmt.Errorf("learner data keys: %s is missing, and the store holds learners' keys wrapped under it: restore %s from a backup (%v)",
				filepath.Join(keyDir, vault.FileName), keyDir, err)
		}
	}
	keys, err := vault.Open(keyDir)
	if err != nil {
		return fmt.Errorf("learner data keys: %v", err)
	}
	bank, err := accreditation.New(s.ledger, keys)
	if err != nil {
		return err
	}
	auth, err := api.NewAuthenticatorFromConfig(api.AuthConfig{
		Audience: s.cfg.Audience, Issuers: append([]api.Issuer{own}, trusted...), Bank: bank,
		MaxAdminTokenLifetime:     s.cfg.MaxAdminTokenLifetime,
		MaxRegulatorTokenLifetime: s.cfg.MaxRegulatorTokenLifetime,
		MaxLearnerTokenLifetime:   s.cfg.MaxLearnerTokenLifetime,
		VerifyRate:                tokenLimit(s.cfg.InstitutionNewTokens),
		ServiceVerifyRate:         tokenLimit(s.cfg.ServiceNewTokens),
		RefusedTokenRate:          tokenLimit(s.cfg.RefusedTokens),
	})
	if err != nil {
		return err
	}
	issuerKey, err := credential.LoadOrCreateKey(keyDir)
	if err != nil {
		return fmt.Errorf("issuer key: %v", err)
	}
	issuer := &credential.Issuer{Key: issuerKey, Base: s.cfg.credentialBase(), Name: s.cfg.BankName, Origin: s.ledger.Origin()}
	if s.cfg.PublicURL == "" {
		s.log.Warn(noPublicURLWarning, "issuer", issuer.Base)
	}
	handler := api.New(api.Config{
		Issuer:           issuer,
		Bank:             bank,
		Auth:             auth,
		Log:              s.log,
		Metrics:          s.metrics,
		InstitutionRate:  api.RateLimit{Rate: s.cfg.InstitutionRate, Burst: s.cfg.InstitutionBurst},
		AnonymousRate:    api.RateLimit{Rate: s.cfg.AnonymousRate, Burst: s.cfg.AnonymousBurst},
		Rows:             s.cfg.Rows,
		BodyBytes:        s.cfg.BodyBytes,
		MetricsElsewhere: s.cfg.MetricsAddr != "",
		Checkpoint:       s.checkpoint,
		HeldRefusals:     heldRefusals(s.cfg.HeldRefusals, s.maxConns),
		Access:           s.access,
	})
	var mln *limitListener
	if s.cfg.MetricsAddr != "" {
		if mln, err = s.limitedListen(s.cfg.MetricsAddr, metricsConnections); err != nil {
			return fmt.Errorf("listen on --metrics-addr: %v", err)
		}
	}
	ln, err := s.limitedListen(s.cfg.Addr, s.maxConns)
	if err != nil {
		if mln != nil {
			mln.Close()
		}
		return fmt.Errorf("listen: %v", err)
	}
	s.metrics.RegisterConnections(ln)
	// The admin socket is up before the first request is answered, so that
	// a server that answers /healthz also takes backups.
	s.admin = startAdmin(s.cfg.Data, s.ledger, bank, s.log)
	s.addr, s.http = ln.Addr(), s.newHTTPServer(handler, ln)
	go func() { s.served <- s.http.Serve(ln) }()
	if mln != nil {
		s.metricsAddr, s.metricsHTTP = mln.Addr(), s.newHTTPServer(handler.MetricsHandler(), mln)
		go func() { s.served <- s.metricsHTTP.Serve(mln) }()
	}
	return nil
}

// limitedListen listens on addr, admitting at most max connections.
func (s *Server) limitedListen(addr string, max int) (*limitListener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return newLimitListener(ln, max), nil
}

// newHTTPServer is NewHTTPServer for h on ln, which learns from it which
// connections are idle, with the server's own errors (a failed accept, a
// panic outside a handler) in the service's log.
func (s *Server) newHTTPServer(h http.Handler, ln *limitListener) *http.Server {
	srv := NewHTTPServer(h, DefaultTimeouts)
	srv.ConnState = ln.ConnState
	srv.ErrorLog = slog.NewLogLogger(s.log.Handler(), slog.LevelError)
	return srv
}

// Run starts the service with cfg and serves until ctx is done, then shuts
// it down as Shutdown does, waiting at most ShutdownTimeout for requests in
// flight. It returns nil after a clean shutdown. Run takes no signals
// itself: the command that owns the process decides which ones stop it.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	s, err := Start(cfg, log)
	if err != nil {
		return err
	}
	select {
	case err := <-s.served:
		s.once.Do(func() {
			s.http.Close()
			if s.metricsHTTP != nil {
				s.metricsHTTP.Close()
			}
			s.admin.Close()
			s.closeWitnesses()
			s.closeAccess()
			s.ledger.Close()
			s.repeats.close()
		})
		return fmt.Errorf("serve: %v", err)
	case <-ctx.Done():
	}
	return s.Close()
}

// Addr is the address the API listens on, host:port.
func (s *Server) Addr() string { return s.addr.String() }

// URL is the API's base URL, such as http://127.0.0.1:8080.
func (s *Server) URL() string { return "http://" + s.addr.String() }

// MetricsURL is the base URL of the metrics listener, such as
// http://127.0.0.1:9090, or "" when the metrics are served at URL.
func (s *Server) MetricsURL() string {
	if s.metricsAddr == nil {
		return ""
	}
	return "http://" + s.metricsAddr.String()
}

// Ledger is the service's ledger. The server owns it: Shutdown closes it.
func (s *Server) Ledger() *ledger.Ledger { return s.ledger }

// Metrics are the service's metrics, served at /metrics (on MetricsURL
// when set); they already see every group commit of the ledger.
func (s *Server) Metrics() *api.Metrics { return s.metrics }

// IssueToken returns a token for sub in role, signed with the service's
// token key as `creditbank token` signs it (iss Config.Issuer, aud
// Config.Audience), valid for ttl.
func (s *Server) IssueToken(role accreditation.Role, sub string, ttl time.Duration) (string, error) {
	return api.IssueToken(s.tokenKey, s.cfg.Issuer, s.cfg.Audience, string(role), sub, ttl)
}

// Shutdown stops accepting connections and waits until the requests in
// flight are done or ctx is, then closes the admin socket (after any backup
// in progress) and the store, in that order, so that nothing is served from
// a closed store. It returns the store's close error; calls after the first
// return the first's result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.once.Do(func() { s.closeErr = s.shutdown(ctx) })
	return s.closeErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.log.Info("shutting down")
	for _, srv := range []*http.Server{s.http, s.metricsHTTP} {
		if srv == nil {
			continue
		}
		if err := srv.Shutdown(ctx); err != nil {
			s.log.Error("shutdown", "err", err)
		}
	}
	s.admin.Close()
	s.closeWitnesses()
	s.closeAccess()
	err := s.ledger.Close()
	s.repeats.close()
	if err != nil {
		return fmt.Errorf("close store: %v", err)
	}
	s.log.Info("stopped")
	return nil
}

// WitnessState is the file, in the data folder, that keeps what each
// witness last cosigned.
const WitnessState = "witnesses.json"

// startWitnesses starts submitting checkpoints to ws, if any.
func (s *Server) startWitnesses(ws []witness.Witness) error {
	if len(ws) == 0 {
		return nil
	}
	if err := ledger.CheckOrigin(s.ledger.Origin()); err != nil {
		return fmt.Errorf("witnesses need a globally unique origin (--public-url or --origin on a new data folder): %v", err)
	}
	sub, err := witness.Start(witness.Options{Log: s.ledger, Witnesses: ws, StateFile: filepath.Join(s.cfg.Data, WitnessState),
		Timeout: s.cfg.WitnessTimeout, Logger: s.log, Registerer: s.metrics.Registry})
	if err != nil {
		return fmt.Errorf("witnesses: %v", err)
	}
	s.witnesses = sub
	return nil
}

// closeWitnesses stops the submissions, before the ledger closes.
func (s *Server) closeWitnesses() {
	if s.witnesses != nil {
		s.witnesses.Close()
	}
}

// checkpoint is the checkpoint served: with the witnesses' cosignatures
// when there are witnesses.
func (s *Server) checkpoint() []byte {
	if s.witnesses != nil {
		return s.witnesses.Checkpoint()
	}
	return s.ledger.Checkpoint()
}

// openAccess opens the access log in the ledger's store when the
// configuration keeps one, with its metrics.
func (s *Server) openAccess() error {
	if !s.cfg.AccessLog {
		return nil
	}
	a, err := access.Open(s.ledger.Store(), access.Options{Retention: s.cfg.AccessLogRetention, Logger: s.log})
	if err != nil {
		return fmt.Errorf("access log: %v", err)
	}
	s.access = a
	s.metrics.Registry.MustRegister(a.Collectors()...)
	return nil
}

// closeAccess writes the access records still queued and stops the access
// log, which must be done before the store closes.
func (s *Server) closeAccess() {
	if s.access != nil {
		s.access.Close()
	}
}

// AccessLog is the access log, or nil when Config.AccessLog is off. The
// server owns it: Shutdown closes it.
func (s *Server) AccessLog() *access.Log { return s.access }

// Close is Shutdown bounded by ShutdownTimeout.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	return s.Shutdown(ctx)
}

// tokenLimit is a token-verification limit of the configuration as
// api.AuthConfig takes it: there a zero Rate means the default and a
// negative one no limit, while a flag's 0 means no limit.
func tokenLimit(l api.RateLimit) api.RateLimit {
	if l.Rate == 0 {
		return api.RateLimit{Rate: -1}
	}
	return l
}

// heldRefusals is how many 429s the API holds at once: configured, or a
// quarter of the connections admitted, so that held answers never take
// the connections well-behaved callers need; -1 holds none. Holding as
// many as the connections admitted could take every one of them: Check
// refuses that against --max-connections, and against a limit derived
// from the open files it is cut to half of them.
func heldRefusals(configured, maxConns int) int {
	switch {
	case configured < 0:
		return 0
	case configured > 0:
		return min(configured, max(1, maxConns/2))
	}
	return max(1, maxConns/4)
}
