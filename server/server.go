package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"creditbank/accreditation"
	"creditbank/api"
	"creditbank/ledger"
)

// ShutdownTimeout bounds how long Run and Close wait for requests in flight
// before they close the store anyway, so that a stop neither cuts off
// requests at once nor waits for ever on a stalled client.
const ShutdownTimeout = 30 * time.Second

// Server is the credit bank service running in this process: the ledger
// in its data folder, the HTTP API on a TCP listener and the admin socket.
// It holds the data folder's lock until Shutdown or Close.
type Server struct {
	cfg      Config
	log      *slog.Logger
	ledger   *ledger.Ledger
	tokenKey api.PrivateKey
	metrics  *api.Metrics
	http     *http.Server
	addr     net.Addr
	admin    *adminServer
	// served receives what http.Server.Serve returned.
	served chan error

	once     sync.Once
	closeErr error
}

// Start checks cfg, opens the ledger in cfg.Data and checks its integrity,
// loads or creates the token key, and serves the API on cfg.Addr and the
// admin socket in the data folder. It returns once the listener is open, so
// that a client may connect at once. A nil log logs nothing. The caller
// must call Shutdown or Close.
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
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, metrics: api.NewMetrics(), served: make(chan error, 1)}
	s.ledger, err = OpenLedger(cfg.Data, cfg.Origin, false, log, s.metrics.ObserveGroup, int64(cfg.CacheMiB)<<20)
	if err != nil {
		return nil, err
	}
	if err := s.listen(trusted); err != nil {
		s.ledger.Close()
		return nil, err
	}
	s.admin = startAdmin(cfg.Data, s.ledger, log)
	log.Info("serving", "addr", s.addr.String(), "data", cfg.Data, "size", s.ledger.Size())
	return s, nil
}

// listen builds the API on the open ledger and serves it on cfg.Addr.
func (s *Server) listen(trusted []api.Issuer) error {
	s.metrics.RegisterLedger(s.ledger)
	if err := s.ledger.Integrity(); err != nil {
		return fmt.Errorf("store in %s failed its integrity check: %v", s.cfg.Data, err)
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
	bank := accreditation.New(s.ledger)
	handler := api.New(api.Config{
		Bank:            bank,
		Auth:            api.NewAuthenticator(s.cfg.Audience, append([]api.Issuer{own}, trusted...), bank, nil),
		Log:             s.log,
		Metrics:         s.metrics,
		InstitutionRate: api.RateLimit{Rate: s.cfg.InstitutionRate, Burst: s.cfg.InstitutionBurst},
	})
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %v", err)
	}
	s.addr = ln.Addr()
	s.http = NewHTTPServer(handler, DefaultTimeouts)
	go func() { s.served <- s.http.Serve(ln) }()
	return nil
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
			s.admin.Close()
			s.ledger.Close()
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

// Ledger is the service's ledger. The server owns it: Shutdown closes it.
func (s *Server) Ledger() *ledger.Ledger { return s.ledger }

// Metrics are the service's metrics, served at /metrics; they already see
// every group commit of the ledger.
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
	if err := s.http.Shutdown(ctx); err != nil {
		s.log.Error("shutdown", "err", err)
	}
	s.admin.Close()
	if err := s.ledger.Close(); err != nil {
		return fmt.Errorf("close store: %v", err)
	}
	s.log.Info("stopped")
	return nil
}

// Close is Shutdown bounded by ShutdownTimeout.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	return s.Shutdown(ctx)
}
