package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"creditbank/access"
	"creditbank/accreditation"
	"creditbank/api"
	"creditbank/ledger"
	"creditbank/witness"
)

// Config is the service's configuration. Each field is a flag of
// `creditbank serve`, named in its comment, and a CREDITBANK_ environment
// variable (the flag's name in upper case, - as _). Errors about a field
// name its flag, since that is what an operator can change.
type Config struct {
	// Data is the data folder (--data): the Pebble store in Data/ledger, the
	// keys in Data/keys (ledger.key, ledger.pub, token.jwk) and the admin
	// socket Data/admin.sock. The folder and its keys are created on first
	// start.
	Data string
	// Addr is the HTTP listen address (--addr), host:port. Port 0 picks a
	// free port; Server.Addr tells which.
	Addr string
	// MetricsAddr, when set (--metrics-addr), is a second listen address,
	// host:port, that serves /metrics alone; Addr then answers 404 there.
	// Keeping the metrics on an address only the monitoring can reach
	// spares the public address their cost (2 to 3.4 ms of CPU a scrape).
	// Empty: /metrics is served on Addr.
	MetricsAddr string
	// MaxConnections is the most HTTP connections Addr admits at once
	// (--max-connections); at the limit, a new connection closes the one
	// that has waited longest for a request, or waits while every one is
	// busy. 0 derives it from the limit on open files, which the server
	// raises to its hard limit at start, keeping back what the store and
	// the rest of the process may need (DefaultMaxConnections). A value that
	// leaves fewer than 128 descriptors for the rest is refused.
	MaxConnections int
	// Origin is the checkpoint origin line and the ledger key's name
	// (--origin): a globally unique name, a host name and a path
	// (ledger.CheckOrigin). It is fixed when the key is created; a
	// different value later is refused. Empty: derived from PublicURL when
	// that is set (the tlog-tiles prefix without its scheme, such as
	// credits.example.gov/tlog), otherwise the existing key's name, or
	// ledger.DefaultOrigin for a new data folder.
	Origin string
	// Witnesses are the C2SP tlog-witness witnesses each new checkpoint is
	// submitted to (--witness KEY,URL, repeated), and WitnessesFile a JSON
	// file of more (--witnesses): [{"key": KEY, "url": URL}], KEY the
	// witness's verifier key and URL its submission prefix. The
	// checkpoint served carries the cosignatures they return; what each
	// last cosigned is kept in Data/witnesses.json.
	Witnesses     []witness.Witness
	WitnessesFile string
	// WitnessTimeout bounds each request to a witness
	// (--witness-timeout); 10 s when zero.
	WitnessTimeout time.Duration
	// PublicURL is the base URL clients reach the service at
	// (--public-url), such as https://credits.example.gov; the log's tiles
	// are under PublicURL/tlog/. It names the origin when Origin is empty.
	PublicURL string
	// BankName is the issuer's name in the credentials the service signs
	// (--bank-name); their issuer id is PublicURL, or http://Addr
	// without one.
	BankName string
	// Audience is the aud every token must carry (--audience).
	Audience string
	// Issuer is the iss of the tokens the service signs itself with its
	// token key (--issuer).
	Issuer string
	// InstitutionRate (--institution-rate) and InstitutionBurst
	// (--institution-burst) limit each institution's requests with a token
	// bucket: Rate requests a second on average, Burst at once. A Rate of 0
	// turns the limit off.
	InstitutionRate  float64
	InstitutionBurst int
	// AnonymousRate (--anonymous-rate) and AnonymousBurst
	// (--anonymous-burst) limit, with a token bucket per client address
	// (per /64 for IPv6), the requests to the endpoints that need no token:
	// the checkpoint, the verifier key, proofs, /metrics, /openapi.json and
	// the JWKS. /healthz and /readyz are not limited. Over the limit the
	// answer is 429 with Retry-After. A Rate of 0 turns the limit off;
	// behind a reverse proxy, where every client has the proxy's address,
	// limit there instead.
	AnonymousRate  float64
	AnonymousBurst int
	// Rows are each caller's budget in rows read, per role: a token's
	// subject, or a client address on the routes that need no token
	// (anonymous). A request is let in while its caller's balance is
	// positive and charged one row plus what it read, or one per outcome
	// posted, once it ran; over the budget the answer is 429 with
	// Retry-After. Each role's is a flag, --admin-rows, --regulator-rows,
	// --institution-rows, --learner-rows and --anonymous-rows, written
	// RATE,BURST (rows a second, rows at once) or 0 for none. The defaults
	// are api.DefaultRowBudgets.
	Rows api.Budgets
	// BodyBytes are each caller's budget in request body bytes, charged as
	// the body is read, before it is checked: --admin-body-bytes and so on
	// for each role, RATE,BURST or 0 for none. The burst must hold the
	// largest body the role may send (api.MaxBodyBytes: 16 MiB for an
	// institution, 64 KiB for the others). The defaults are
	// api.DefaultBodyBudgets.
	BodyBytes api.Budgets
	// InstitutionNewTokens (--institution-new-tokens) and
	// ServiceNewTokens (--service-new-tokens) limit the signature
	// verifications of each institution and of each trusted issuer: a
	// token the cache of verified tokens does not hold costs one, and over
	// the limit it is answered 429. RefusedTokens (--refused-tokens) limits
	// the refused tokens of each client address; a refused token costs its
	// issuer nothing. Each is RATE,BURST or 0 for no limit; the defaults
	// are api.DefaultVerifyRate, api.DefaultServiceVerifyRate and
	// api.DefaultRefusedTokenRate.
	InstitutionNewTokens api.RateLimit
	// HeldRefusals (--held-refusals) is how many 429 answers may be held
	// at once, each for the shorter of its Retry-After and a second,
	// before it is sent, which slows a client that does not wait as told
	// without costing CPU; 0 derives it from the connection limit (a
	// quarter of it), -1 holds none.
	HeldRefusals     int
	ServiceNewTokens api.RateLimit
	RefusedTokens    api.RateLimit
	// MaxAdminTokenLifetime, MaxRegulatorTokenLifetime and
	// MaxLearnerTokenLifetime (--max-admin-token-lifetime and the others)
	// bound exp − iat of the service's own and trusted issuers' tokens of
	// each role, so a leaked token is worth little for long; 0 takes the
	// defaults (api.DefaultMaxAdminTokenLifetime: 1 h for admins, 24 h for
	// regulators and learners).
	MaxAdminTokenLifetime     time.Duration
	MaxRegulatorTokenLifetime time.Duration
	MaxLearnerTokenLifetime   time.Duration
	// TrustedIssuers names a JSON file (--trusted-issuers) of other issuers
	// whose public keys may sign admin, regulator and learner tokens:
	// [{"issuer":"https://idp.example","keys":[JWK, ...]}]. Empty: none.
	TrustedIssuers string
	// CacheMiB is the size of the store's block cache in MiB (--cache-mb),
	// 8 to 1<<20. Reads of a large ledger (proofs, transcripts of lifelong
	// learners) miss it once the Merkle hashes and indexes outgrow it: at
	// ten million entries the stored hashes alone are about 800 MiB.
	CacheMiB int
	// AccessLog keeps the access log of docs/contract.md section 7
	// (--access-log, default true): every read of a learner's record by
	// anyone but the learner is recorded in the store, beside the ledger,
	// within a second (package access). Off, nothing is recorded and
	// GET /v1/learners/{id}/access-log answers 404; the load generator
	// turns it off to measure what it costs.
	AccessLog bool
	// AccessLogRetention is how long an access record is kept
	// (--access-log-retention, default access.DefaultRetention: five years
	// of 365.25 days, 43830h); older ones are deleted at start and then
	// every hour. At least a day.
	AccessLogRetention time.Duration
}

// DefaultConfig is the configuration `creditbank serve` runs with when no
// flag is given: ./data, 127.0.0.1:8080, the data folder's origin (the
// default one for a new folder), the default audience and
// issuer, 1000 requests a second per institution in bursts of 2000, 20
// requests a second without a token per client address in bursts of 100,
// the budgets of api.DefaultRowBudgets and api.DefaultBodyBudgets, the
// connection limit derived from the open files limit, a cache sized by
// DefaultCacheMiB, and the access log on, kept access.DefaultRetention.
//
// The limit without a token is far above what a checkpoint monitor, an
// auditor checking proofs or a scraper needs, and holds a client that asks
// for /metrics in a loop to at most some 7% of a core.
func DefaultConfig() Config {
	return Config{
		Data:                 "./data",
		Addr:                 "127.0.0.1:8080",
		Audience:             "creditbank",
		Issuer:               "creditbank",
		BankName:             "Credit bank",
		InstitutionRate:      1000,
		InstitutionBurst:     2000,
		AnonymousRate:        10,
		AnonymousBurst:       50,
		Rows:                 api.DefaultRowBudgets(),
		BodyBytes:            api.DefaultBodyBudgets(),
		InstitutionNewTokens: api.DefaultVerifyRate,
		ServiceNewTokens:     api.DefaultServiceVerifyRate,
		RefusedTokens:        api.DefaultRefusedTokenRate,
		CacheMiB:             DefaultCacheMiB(),
		AccessLog:            true,
		AccessLogRetention:   access.DefaultRetention,
	}
}

// Check reports the first value of c that the service cannot run with, as
// one line naming its flag. It reads no file: Start checks the trusted
// issuers file when it loads it.
func (c *Config) Check() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("--addr %q: %v", c.Addr, err)
	}
	if c.PublicURL != "" {
		if _, err := OriginOf(c.PublicURL); err != nil {
			return fmt.Errorf("--public-url %q: %v", c.PublicURL, err)
		}
	}
	if c.Origin != "" {
		if err := ledger.CheckOrigin(c.Origin); err != nil {
			return fmt.Errorf("--origin: %v", err)
		}
	}
	for _, w := range c.Witnesses {
		if err := checkWitness(w); err != nil {
			return fmt.Errorf("--witness %s,%s: %v", w.Key, w.URL, err)
		}
	}
	if c.WitnessTimeout < 0 {
		return errors.New("--witness-timeout must be 0 (10s) or more")
	}
	if c.MetricsAddr != "" {
		_, port, err := net.SplitHostPort(c.MetricsAddr)
		if err != nil {
			return fmt.Errorf("--metrics-addr %q: %v", c.MetricsAddr, err)
		}
		if c.MetricsAddr == c.Addr && port != "0" {
			return fmt.Errorf("--metrics-addr %q must differ from --addr", c.MetricsAddr)
		}
	}
	if c.HeldRefusals < -1 {
		return fmt.Errorf("--held-refusals %d: want -1 (none), 0 (a quarter of --max-connections) or more", c.HeldRefusals)
	}
	if c.MaxConnections > 0 && c.HeldRefusals >= c.MaxConnections {
		return fmt.Errorf("--held-refusals %d: want fewer than --max-connections %d, or held answers could take every connection", c.HeldRefusals, c.MaxConnections)
	}
	if c.MaxConnections < 0 {
		return errors.New("--max-connections must be 0 (derived from the open files limit) or more")
	}
	if c.InstitutionRate < 0 || c.InstitutionRate > 0 && c.InstitutionBurst < 1 {
		return errors.New("--institution-rate must be 0 or more, with --institution-burst at least 1")
	}
	if c.AnonymousRate < 0 || c.AnonymousRate > 0 && c.AnonymousBurst < 1 {
		return errors.New("--anonymous-rate must be 0 or more, with --anonymous-burst at least 1")
	}
	if err := c.checkBudgets(); err != nil {
		return err
	}
	if c.MaxAdminTokenLifetime < 0 || c.MaxRegulatorTokenLifetime < 0 || c.MaxLearnerTokenLifetime < 0 {
		return errors.New("--max-admin-token-lifetime, --max-regulator-token-lifetime and --max-learner-token-lifetime must be 0 (the default) or more")
	}
	if c.AccessLog && c.AccessLogRetention < 24*time.Hour {
		return fmt.Errorf("--access-log-retention %v: want at least 24h (default %v, five years)", c.AccessLogRetention, access.DefaultRetention)
	}
	if c.CacheMiB < 8 || c.CacheMiB > 1<<20 {
		return fmt.Errorf("--cache-mb %d: want 8 to %d", c.CacheMiB, 1<<20)
	}
	return nil
}

// checkWitness checks a witness's key and URL.
func checkWitness(w witness.Witness) error {
	if _, err := witness.NewVerifier(w.Key); err != nil {
		return err
	}
	u, err := url.Parse(w.URL)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("URL %q: want http:// or https:// and a host", w.URL)
	}
	return nil
}

// ParseWitness reads a witness as --witness gives it: its verifier key, a
// comma and its submission URL.
func ParseWitness(s string) (witness.Witness, error) {
	key, u, ok := strings.Cut(s, ",")
	w := witness.Witness{Key: strings.TrimSpace(key), URL: strings.TrimSpace(u)}
	if !ok {
		return w, errors.New("want KEY,URL: the witness's verifier key and its submission URL")
	}
	return w, checkWitness(w)
}

// witnesses are the configured witnesses, those of WitnessesFile after
// those of the flags.
func (c *Config) witnesses() ([]witness.Witness, error) {
	ws := append([]witness.Witness(nil), c.Witnesses...)
	if c.WitnessesFile == "" {
		return ws, nil
	}
	b, err := os.ReadFile(c.WitnessesFile)
	if err != nil {
		return nil, fmt.Errorf("--witnesses: %v", err)
	}
	var list []witness.Witness
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("--witnesses %s: %v", c.WitnessesFile, err)
	}
	for _, w := range list {
		if err := checkWitness(w); err != nil {
			return nil, fmt.Errorf("--witnesses %s: %s: %v", c.WitnessesFile, w.URL, err)
		}
	}
	return append(ws, list...), nil
}

// origin is the origin the ledger's key must be named: Origin, or the one
// PublicURL gives, or "" for the key's own name.
func (c *Config) origin() string {
	if c.Origin == "" && c.PublicURL != "" {
		o, _ := OriginOf(c.PublicURL)
		return o
	}
	return c.Origin
}

// OriginOf is the checkpoint origin of a service at publicURL: the URL of
// its tlog-tiles prefix, publicURL/tlog, without the scheme, as C2SP
// tlog-tiles asks. The URL is http or https with a host name, and no
// query, fragment or user.
func OriginOf(publicURL string) (string, error) {
	u, err := url.Parse(publicURL)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", errors.New("want http:// or https://, a host name and a path if any, such as https://credits.example.gov")
	}
	origin := strings.ToLower(u.Host) + strings.TrimRight(u.EscapedPath(), "/") + "/tlog"
	if err := ledger.CheckOrigin(origin); err != nil {
		return "", err
	}
	return origin, nil
}

// checkBudgets checks each role's budgets in rows and body bytes: a rate
// of 0 (none) or more, a burst of at least one row, and a body burst that
// holds the largest body the role may send, without which its every such
// body would be refused.
func (c *Config) checkBudgets() error {
	for flag, l := range map[string]api.RateLimit{"institution-new-tokens": c.InstitutionNewTokens, "service-new-tokens": c.ServiceNewTokens, "refused-tokens": c.RefusedTokens} {
		if l.Rate < 0 || l.Rate > 0 && l.Burst < 1 {
			return fmt.Errorf("--%s %s: want a rate of 0 (no limit) or more, with a burst of at least 1", flag, &l)
		}
	}
	for _, role := range api.BudgetRoles {
		rows, body := c.Rows.For(role), c.BodyBytes.For(role)
		if rows.Rate < 0 || rows.Rate > 0 && rows.Burst < 1 {
			return fmt.Errorf("--%s-rows %s: want a rate of 0 (no budget) or more, with a burst of at least 1", role, rows)
		}
		if most := api.MaxBodyBytes(role); body.Rate < 0 || body.Rate > 0 && int64(body.Burst) < most {
			return fmt.Errorf("--%s-body-bytes %s: want a rate of 0 (no budget) or more, with a burst of at least %d, the largest body a caller of this role may send", role, body, most)
		}
	}
	return nil
}

// trustedIssuers reads the file named by c.TrustedIssuers: the issuers,
// other than the service itself, whose keys may sign service tokens.
func (c *Config) trustedIssuers() ([]api.Issuer, error) {
	if c.TrustedIssuers == "" {
		return nil, nil
	}
	b, err := os.ReadFile(c.TrustedIssuers)
	if err != nil {
		return nil, fmt.Errorf("--trusted-issuers: %v", err)
	}
	var list []struct {
		Issuer string                    `json:"issuer"`
		Keys   []accreditation.PublicJWK `json:"keys"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("--trusted-issuers %s: %v", c.TrustedIssuers, err)
	}
	var out []api.Issuer
	for _, is := range list {
		if is.Issuer == "" || is.Issuer == c.Issuer || len(is.Keys) == 0 {
			return nil, fmt.Errorf("--trusted-issuers %s: each issuer needs a name other than %q and keys", c.TrustedIssuers, c.Issuer)
		}
		keys := map[string]accreditation.PublicJWK{}
		for _, k := range is.Keys {
			keys[k.Kid] = k
		}
		out = append(out, api.Issuer{Name: is.Issuer, Keys: keys})
	}
	return out, nil
}

// credentialBase is the issuer id of the credentials the service signs:
// --public-url, or http:// and the listen address without one.
func (c *Config) credentialBase() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	addr := c.Addr
	if strings.HasPrefix(addr, ":") {
		addr = "localhost" + addr
	}
	return "http://" + addr
}
