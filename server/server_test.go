package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"creditbank/accreditation"
	"creditbank/api"
	"creditbank/ledger"
)

// otherProcessEnv names the data folder on which the test binary, started
// again by TestInUseByAnotherProcess, tries to start a second server.
const otherProcessEnv = "SERVER_TEST_OTHER_PROCESS_DATA"

func TestMain(m *testing.M) {
	if data := os.Getenv(fileLimitEnv); data != "" {
		os.Exit(serveWithFileLimit(data))
	}
	if data := os.Getenv(otherProcessEnv); data != "" {
		cfg := DefaultConfig()
		cfg.Data, cfg.Addr, cfg.CacheMiB = data, "127.0.0.1:0", 8
		s, err := Start(cfg, nil)
		if err == nil {
			s.Close()
			fmt.Println("started")
			os.Exit(0)
		}
		fmt.Println(err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// testConfig is the default configuration on a fresh data folder, a free
// loopback port and the smallest cache.
func testConfig(t testing.TB) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Data = filepath.Join(t.TempDir(), "data")
	cfg.Addr = "127.0.0.1:0"
	cfg.CacheMiB = 8
	return cfg
}

// startServer starts a server with cfg and shuts it down when the test
// ends.
func startServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := Start(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// get fetches url, with token when it is not empty, and returns the status
// and the body.
func get(t testing.TB, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// register registers n institutions through the API as an admin: n
// entries in the ledger.
func register(t testing.TB, s *Server, n int) {
	t.Helper()
	admin, err := s.IssueToken(accreditation.RoleAdmin, "root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		_, jwk := newKey(t, "EdDSA")
		body := fmt.Sprintf(`{"id":"college-%d.example","name":"College %d","kind":"vocational_college","keys":[%s]}`, i, i, jwk)
		req, err := http.NewRequest("POST", s.URL()+"/v1/institutions", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("register: %s\n%s", resp.Status, out)
		}
	}
}

// TestStart: a server on a free loopback port answers health and
// checkpoint requests over real HTTP, accepts the tokens it issues and no
// others, and holds its data folder: a second server on it fails to start
// while the first serves on.
func TestStart(t *testing.T) {
	cfg := testConfig(t)
	s := startServer(t, cfg)
	if s.URL() != "http://"+s.Addr() || strings.HasSuffix(s.Addr(), ":0") {
		t.Fatalf("URL %q, Addr %q", s.URL(), s.Addr())
	}
	if code, body := get(t, s.URL()+"/healthz", ""); code != http.StatusOK {
		t.Fatalf("GET /healthz: %d %s", code, body)
	}
	code, body := get(t, s.URL()+"/v1/log/checkpoint", "")
	if code != http.StatusOK || !strings.HasPrefix(body, ledger.DefaultOrigin+"\n0\n") {
		t.Fatalf("GET /v1/log/checkpoint: %d %q", code, body)
	}
	if fi, err := os.Stat(filepath.Join(cfg.Data, AdminSocket)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket: %v (%v)", fi, err)
	}

	regulator, err := s.IssueToken(accreditation.RoleRegulator, "moe", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, s.URL()+"/v1/audit/conversions", regulator); code != http.StatusOK {
		t.Errorf("audit with the server's own token: %d %s", code, body)
	}
	k, err := api.LoadKeyFile(filepath.Join(cfg.Data, "keys", "token.jwk"))
	if err != nil {
		t.Fatal(err)
	}
	elsewhere, err := api.IssueToken(k, cfg.Issuer, "another-audience", "regulator", "moe", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, s.URL()+"/v1/audit/conversions", elsewhere); code != http.StatusUnauthorized {
		t.Errorf("audit with a token for another audience: %d, want 401", code)
	}

	again := cfg
	again.Addr = "127.0.0.1:0"
	if s2, err := Start(again, nil); err == nil {
		s2.Close()
		t.Fatal("a second server started on a data folder in use")
	}
	if code, _ := get(t, s.URL()+"/healthz", ""); code != http.StatusOK {
		t.Errorf("the first server stopped answering after a second one failed to start: %d", code)
	}
	if _, err := os.Stat(filepath.Join(cfg.Data, AdminSocket)); err != nil {
		t.Errorf("the first server's admin socket is gone: %v", err)
	}
}

// TestInUseByAnotherProcess: a server started by another process on a
// data folder in use fails with one line saying so.
func TestInUseByAnotherProcess(t *testing.T) {
	cfg := testConfig(t)
	startServer(t, cfg)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), otherProcessEnv+"="+cfg.Data)
	out, err := cmd.Output()
	if err == nil {
		t.Fatalf("the other process started a server: %s", out)
	}
	line := strings.TrimSpace(string(out))
	if strings.Contains(line, "\n") || !strings.Contains(line, "data folder "+cfg.Data+" is in use by another process") {
		t.Fatalf("error %q, want one line saying the folder is in use", line)
	}
}

// syncBuffer is a log destination that a test reads while the server
// writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is everything written so far.
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// line returns the first log line with msg, or nil.
func (s *syncBuffer) line(msg string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == msg {
			return rec
		}
	}
	return nil
}

// TestRun: Run serves until its context is cancelled, then drains, removes
// the admin socket and closes the store, which opens again at the size the
// server left it.
func TestRun(t *testing.T) {
	cfg := testConfig(t)
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, slog.New(slog.NewJSONHandler(&logs, nil))) }()
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == ""; time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("Run returned before serving: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no serving line in the log")
		}
		if rec := logs.line("serving"); rec != nil {
			addr, _ = rec["addr"].(string)
		}
	}
	if code, body := get(t, "http://"+addr+"/healthz", ""); code != http.StatusOK {
		t.Fatalf("GET /healthz: %d %s", code, body)
	}
	if code, _ := get(t, "http://"+addr+"/v1/log/checkpoint", ""); code != http.StatusOK {
		t.Fatalf("GET /v1/log/checkpoint: %d", code)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(ShutdownTimeout):
		t.Fatal("Run did not return after its context was cancelled")
	}
	if logs.line("shutting down") == nil || logs.line("stopped") == nil {
		t.Errorf("no shutting down and stopped lines in the log:\n%s", logs.b.String())
	}
	if _, err := os.Lstat(filepath.Join(cfg.Data, AdminSocket)); !os.IsNotExist(err) {
		t.Errorf("admin socket left after shutdown: %v", err)
	}
	s := startServer(t, cfg)
	if size := s.Ledger().Size(); size != 0 {
		t.Errorf("reopened ledger has %d entries, want 0", size)
	}
}

// TestShutdownKeepsEntries: entries acknowledged before Shutdown are in
// the store when it is opened again, and a second Shutdown is harmless.
func TestShutdownKeepsEntries(t *testing.T) {
	cfg := testConfig(t)
	s, err := Start(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	register(t, s, 3)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	s = startServer(t, cfg)
	if size := s.Ledger().Size(); size != 3 {
		t.Errorf("reopened ledger has %d entries, want 3", size)
	}
}

// newKey makes a key pair of alg and returns it with its public JWK.
func newKey(t testing.TB, alg string) (api.PrivateKey, []byte) {
	t.Helper()
	k, err := api.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.Public()
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := json.Marshal(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k, jwk
}

// TestConfigErrors: a bad configuration or trusted issuers file is one
// line naming its flag, and creates no data folder.
func TestConfigErrors(t *testing.T) {
	_, jwk := newKey(t, "EdDSA")
	tests := []struct {
		name    string
		edit    func(*Config)
		issuers string // the trusted issuers file, when not empty
		want    string
	}{
		{"bad addr", func(c *Config) { c.Addr = "nope" }, "", `--addr "nope"`},
		{"empty addr", func(c *Config) { c.Addr = "" }, "", `--addr ""`},
		{"bad metrics addr", func(c *Config) { c.MetricsAddr = "nope" }, "", `--metrics-addr "nope"`},
		{"metrics addr is addr", func(c *Config) { c.Addr, c.MetricsAddr = "127.0.0.1:8080", "127.0.0.1:8080" }, "", "must differ from --addr"},
		{"negative max connections", func(c *Config) { c.MaxConnections = -1 }, "", "--max-connections must be 0"},
		{"more connections than files", func(c *Config) { c.MaxConnections = 1 << 30 }, "", "--max-connections 1073741824: the process may open "},
		{"negative anonymous rate", func(c *Config) { c.AnonymousRate = -1 }, "", "--anonymous-rate must be 0 or more"},
		{"anonymous rate without burst", func(c *Config) { c.AnonymousBurst = 0 }, "", "--anonymous-burst at least 1"},
		{"negative rate", func(c *Config) { c.InstitutionRate = -1 }, "", "--institution-rate must be 0 or more"},
		{"rate without burst", func(c *Config) { c.InstitutionBurst = 0 }, "", "--institution-burst at least 1"},
		{"negative learner rows", func(c *Config) { c.Rows.Learner.Rate = -1 }, "", "--learner-rows -1,50000: want a rate of 0 (no budget) or more"},
		{"regulator rows without burst", func(c *Config) { c.Rows.Regulator.Burst = 0 }, "", "--regulator-rows 5000,0: want a rate of 0"},
		{"held refusals as many as connections", func(c *Config) { c.MaxConnections, c.HeldRefusals = 64, 64 }, "", "--held-refusals 64: want fewer than --max-connections 64"},
		{"negative refused tokens", func(c *Config) { c.RefusedTokens.Rate = -1 }, "", "--refused-tokens -1,500: want a rate of 0 (no limit) or more"},
		{"new tokens without burst", func(c *Config) { c.InstitutionNewTokens.Burst = 0 }, "", "--institution-new-tokens 20,0: want a rate of 0 (no limit) or more, with a burst of at least 1"},
		{"institution body burst below a batch", func(c *Config) { c.BodyBytes.Institution.Burst = 1 << 20 }, "",
			"--institution-body-bytes 1048576,1048576: want a rate of 0 (no budget) or more, with a burst of at least 16777216"},
		{"anonymous body burst below a body", func(c *Config) { c.BodyBytes.Anonymous = api.RateLimit{Rate: 1, Burst: 1000} }, "",
			"--anonymous-body-bytes 1,1000: want a rate of 0 (no budget) or more, with a burst of at least 65536"},
		{"tiny cache", func(c *Config) { c.CacheMiB = 1 }, "", "--cache-mb 1: want 8 to 1048576"},
		{"huge cache", func(c *Config) { c.CacheMiB = 1<<20 + 1 }, "", "--cache-mb 1048577: want 8 to"},
		{"short access log retention", func(c *Config) { c.AccessLogRetention = time.Hour }, "", "--access-log-retention 1h0m0s: want at least 24h"},
		{"negative token lifetime", func(c *Config) { c.MaxLearnerTokenLifetime = -time.Second }, "", "--max-learner-token-lifetime must be 0 (the default) or more"},
		{"no issuers file", func(c *Config) { c.TrustedIssuers = filepath.Join(t.TempDir(), "none.json") }, "", "--trusted-issuers: open "},
		{"issuers not JSON", nil, `{"issuer":`, "--trusted-issuers "},
		{"issuers not a list", nil, `{"issuer":"https://idp.example"}`, "--trusted-issuers "},
		{"issuer without name", nil, `[{"keys":[` + string(jwk) + `]}]`, `each issuer needs a name other than "creditbank" and keys`},
		{"issuer named as the service", nil, `[{"issuer":"creditbank","keys":[` + string(jwk) + `]}]`, "each issuer needs a name other than"},
		{"issuer without keys", nil, `[{"issuer":"https://idp.example","keys":[]}]`, "each issuer needs a name other than"},
		{"origin without a path", func(c *Config) { c.Origin = "credits.example.gov" }, "", `--origin: origin "credits.example.gov": want a host name and a path`},
		{"origin with a scheme", func(c *Config) { c.Origin = "https://credits.example.gov/tlog" }, "", `--origin: origin "https://credits.example.gov/tlog"`},
		{"origin not qualified", func(c *Config) { c.Origin = "localhost/tlog" }, "", `"localhost" is not a fully qualified host name`},
		{"origin with a space", func(c *Config) { c.Origin = "credits.example.gov/my log" }, "", `the path holds ' '`},
		{"public url without scheme", func(c *Config) { c.PublicURL = "credits.example.gov" }, "", `--public-url "credits.example.gov": want http:// or https://`},
		{"public url with a query", func(c *Config) { c.PublicURL = "https://credits.example.gov/?a=b" }, "", `--public-url "https://credits.example.gov/?a=b"`},
		{"public url on an address", func(c *Config) { c.PublicURL = "http://127.0.0.1:8080" }, "", `--public-url "http://127.0.0.1:8080": origin "127.0.0.1:8080/tlog": "127.0.0.1" is not a fully qualified host name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			if tt.issuers != "" {
				cfg.TrustedIssuers = filepath.Join(t.TempDir(), "issuers.json")
				if err := os.WriteFile(cfg.TrustedIssuers, []byte(tt.issuers), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s, err := Start(cfg, nil)
			if err == nil {
				s.Close()
				t.Fatal("started")
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, tt.want) {
				t.Fatalf("error %q, want one line with %q", msg, tt.want)
			}
			if _, err := os.Stat(cfg.Data); !os.IsNotExist(err) {
				t.Errorf("a bad configuration made the data folder: %v", err)
			}
		})
	}
}

// TestOrigin: the origin comes from --origin, else from --public-url, else
// from the data folder's key; it never changes once the key exists.
func TestOrigin(t *testing.T) {
	cfg := testConfig(t)
	cfg.PublicURL = "https://Credits.Example.gov:8443/bank/"
	s, err := Start(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Ledger().Origin(), "credits.example.gov:8443/bank/tlog"; got != want {
		t.Errorf("origin %q, want %q", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, origin, publicURL, err string
	}{
		{"the key's name without flags", "", "", ""},
		{"the same name given", "credits.example.gov:8443/bank/tlog", "", ""},
		{"another public url", "", "https://other.example.gov", "the origin other.example.gov/tlog comes from --public-url; an origin cannot change: give --origin"},
		{"another origin", "other.example.gov/tlog", "", `is named "credits.example.gov:8443/bank/tlog" but the origin is "other.example.gov/tlog"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg.Origin, cfg.PublicURL = c.origin, c.publicURL
			s, err := Start(cfg, nil)
			if c.err != "" {
				if err == nil {
					s.Close()
					t.Fatal("started")
				}
				if !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %q, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.Ledger().Origin(); got != "credits.example.gov:8443/bank/tlog" {
				t.Errorf("origin %q", got)
			}
		})
	}
}

// TestTrustedIssuers: a token signed by a trusted issuer's key is
// accepted beside the service's own.
func TestTrustedIssuers(t *testing.T) {
	k, jwk := newKey(t, "ES256")
	list, err := json.Marshal([]any{map[string]any{"issuer": "https://idp.example", "keys": []json.RawMessage{jwk}}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.TrustedIssuers = filepath.Join(t.TempDir(), "issuers.json")
	if err := os.WriteFile(cfg.TrustedIssuers, list, 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, cfg)
	tok, err := api.IssueToken(k, "https://idp.example", cfg.Audience, "regulator", "moe", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, s.URL()+"/v1/audit/conversions", tok); code != http.StatusOK {
		t.Errorf("audit with a trusted issuer's token: %d %s", code, body)
	}
	forged, err := api.IssueToken(k, cfg.Issuer, cfg.Audience, "regulator", "moe", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, s.URL()+"/v1/audit/conversions", forged); code != http.StatusUnauthorized {
		t.Errorf("a trusted issuer's key signing as the service: %d, want 401", code)
	}
}

// TestTokenLifetimes: the service's tokens are held to their role's
// longest lifetime, 1 h for admins by default, and the configuration moves
// that bound.
func TestTokenLifetimes(t *testing.T) {
	for _, tt := range []struct {
		name string
		max  time.Duration
		ttl  time.Duration
		want int
	}{
		{"default, within", 0, time.Hour, http.StatusOK},
		{"default, longer", 0, 90 * time.Minute, http.StatusUnauthorized},
		{"raised, within", 2 * time.Hour, 90 * time.Minute, http.StatusOK},
		{"lowered, longer", 10 * time.Minute, 30 * time.Minute, http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.MaxAdminTokenLifetime = tt.max
			s := startServer(t, cfg)
			tok, err := s.IssueToken(accreditation.RoleAdmin, "root", tt.ttl)
			if err != nil {
				t.Fatal(err)
			}
			if code, body := get(t, s.URL()+"/v1/audit/conversions", tok); code != tt.want {
				t.Errorf("an admin token of %s under a bound of %s: %d %s, want %d", tt.ttl, tt.max, code, body, tt.want)
			}
		})
	}
}
