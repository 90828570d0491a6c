// Command creditbank runs the credit bank service and its operator tools.
//
//	creditbank serve  [--data DIR] [--addr HOST:PORT] [--origin ORIGIN]
//	creditbank token  [--data DIR] --role admin|regulator|learner --sub ID [--ttl 1h]
//	creditbank keygen --out FILE [--alg EdDSA|ES256]
//	creditbank sign   --key FILE --iss INSTITUTION_ID [--aud A] [--ttl 5m]
//	creditbank verify --url URL [--token T] [--key VKEY] | --data DIR [--since FILE] [--save FILE]
//	creditbank backup --data DIR --out DIR
//	creditbank bench  [--url URL --token ADMIN_TOKEN] [--duration 10s] [--preload N] [--json FILE]
//
// Every flag can also be set with a CREDITBANK_* environment variable
// (--data is CREDITBANK_DATA); a flag given on the command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"encoding/json"

	"creditbank/accreditation"
	"creditbank/api"
	"creditbank/ledger"
	"creditbank/server"
)

const usage = `usage: creditbank <command> [flags]

commands:
  serve    run the service
  token    print an admin, regulator or learner token signed with the service's key
  keygen   make an institution key pair
  sign     print an institution token signed with its key
  verify   audit a whole ledger, from a server's API (--url) or a data folder (--data)
  backup   copy a data folder, online through a running server or offline
  conformance  check a running server against the contract from outside
  bench    measure the service over HTTP against raw Pebble in one run

run 'creditbank <command> -h' for the flags of a command.
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "creditbank:", err)
		}
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "verify":
		return verify(args[1:], stdout, stderr)
	case "backup":
		return backup(args[1:], stdout, stderr)
	case "conformance":
		return conformanceCmd(args[1:], stdout, stderr)
	case "bench":
		return bench(args[1:], stdout, stderr)
	case "token":
		return token(args[1:], stdout, stderr)
	case "keygen":
		return keygen(args[1:], stdout, stderr)
	case "sign":
		return sign(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

// Config is the service's configuration. Each field is a flag of the same
// name and a CREDITBANK_ environment variable (upper case, - as _).
type Config struct {
	// Data is the data folder: the Pebble store in Data/ledger and the keys
	// in Data/keys (ledger.key, ledger.pub, token.jwk), created on first start.
	Data string
	// Addr is the HTTP listen address.
	Addr string
	// Origin is the checkpoint origin line and the ledger key's name. It is
	// fixed when the key is created; a different value later is refused.
	Origin string
	// Audience is the aud every token must carry.
	Audience string
	// Issuer is the iss of tokens the service signs itself.
	Issuer string
	// InstitutionRate and InstitutionBurst limit each institution's requests
	// (a token bucket); 0 turns the limit off.
	InstitutionRate  float64
	InstitutionBurst int
	// TrustedIssuers names a JSON file of other issuers whose public keys
	// may sign admin, regulator and learner tokens:
	// [{"issuer":"https://idp.example","keys":[JWK, ...]}].
	TrustedIssuers string
	// CacheMiB is the size of the store's block cache in MiB. Reads of a
	// large ledger (proofs, transcripts of lifelong learners) miss it once
	// the Merkle hashes and indexes outgrow it: at ten million entries the
	// stored hashes alone are about 800 MiB.
	CacheMiB int
}

func (c *Config) tokenFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Data, "data", "./data", "data folder (store and keys)")
	fs.StringVar(&c.Audience, "audience", "creditbank", "token audience")
	fs.StringVar(&c.Issuer, "issuer", "creditbank", "issuer of the tokens the service signs")
}

// issuers returns the service's own issuer and any trusted ones.
func (c *Config) issuers(tokenKey api.PrivateKey) ([]api.Issuer, error) {
	pub, err := tokenKey.Public()
	if err != nil {
		return nil, err
	}
	out := []api.Issuer{{Name: c.Issuer, Keys: map[string]accreditation.PublicJWK{pub.Kid: pub}}}
	if c.TrustedIssuers == "" {
		return out, nil
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

// helpOut is where each flag set prints its flags for -h.
var helpOut = map[*flag.FlagSet]io.Writer{}

// newFlagSet makes a flag set that reports errors only through its return
// value, so that a bad flag is one line on stderr; -h prints the flags.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	helpOut[fs] = stderr
	return fs
}

// parse parses args after applying CREDITBANK_* environment variables to
// the flags they name, so the command line wins over the environment.
func parse(fs *flag.FlagSet, args []string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := "CREDITBANK_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && err == nil {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %v", env, v, e)
			}
		}
	})
	if err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			out := helpOut[fs]
			fmt.Fprintf(out, "usage of creditbank %s (each flag also from CREDITBANK_<NAME>):\n", fs.Name())
			fs.SetOutput(out)
			fs.PrintDefaults()
			return err
		}
		return fmt.Errorf("%s: %v", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

func serve(args []string, stderr io.Writer) error {
	var cfg Config
	fs := newFlagSet("serve", stderr)
	cfg.tokenFlags(fs)
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "HTTP listen address")
	fs.StringVar(&cfg.Origin, "origin", ledger.DefaultOrigin, "checkpoint origin")
	fs.StringVar(&cfg.TrustedIssuers, "trusted-issuers", "", "JSON file of other token issuers and their public keys")
	fs.Float64Var(&cfg.InstitutionRate, "institution-rate", 1000, "requests per second each institution may make on average (0: no limit)")
	fs.IntVar(&cfg.InstitutionBurst, "institution-burst", 2000, "requests each institution may make at once")
	fs.IntVar(&cfg.CacheMiB, "cache-mb", server.DefaultCacheMiB(), "size of the store's block cache in MiB; the default is an eighth of memory, within 256 to 4096")
	if err := parse(fs, args); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return fmt.Errorf("--addr %q: %v", cfg.Addr, err)
	}
	if cfg.InstitutionRate < 0 || cfg.InstitutionRate > 0 && cfg.InstitutionBurst < 1 {
		return errors.New("--institution-rate must be 0 or more, with --institution-burst at least 1")
	}
	if cfg.CacheMiB < 8 || cfg.CacheMiB > 1<<20 {
		return fmt.Errorf("--cache-mb %d: want 8 to %d", cfg.CacheMiB, 1<<20)
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	metrics := api.NewMetrics()
	l, err := server.OpenLedger(cfg.Data, cfg.Origin, false, log, metrics.ObserveGroup, int64(cfg.CacheMiB)<<20)
	if err != nil {
		return err
	}
	metrics.RegisterLedger(l)
	if err := l.Integrity(); err != nil {
		l.Close()
		return fmt.Errorf("store in %s failed its integrity check: %v", cfg.Data, err)
	}
	tokenKey, err := api.LoadOrCreateTokenKey(filepath.Join(cfg.Data, "keys"))
	if err != nil {
		l.Close()
		return fmt.Errorf("token key: %v", err)
	}
	issuers, err := cfg.issuers(tokenKey)
	if err != nil {
		l.Close()
		return err
	}
	bank := accreditation.New(l)
	handler := api.New(api.Config{Bank: bank, Auth: api.NewAuthenticator(cfg.Audience, issuers, bank, nil), Log: log, Metrics: metrics,
		InstitutionRate: api.RateLimit{Rate: cfg.InstitutionRate, Burst: cfg.InstitutionBurst}})
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		l.Close()
		return fmt.Errorf("listen: %v", err)
	}
	srv := server.NewHTTPServer(handler, server.DefaultTimeouts)
	admin := startAdmin(cfg.Data, l, log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "data", cfg.Data, "size", l.Size())
	select {
	case err := <-errc:
		admin.Close()
		l.Close()
		return fmt.Errorf("serve: %v", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Error("shutdown", "err", err)
	}
	admin.Close()
	if err := l.Close(); err != nil {
		return fmt.Errorf("close store: %v", err)
	}
	log.Info("stopped")
	return nil
}

func token(args []string, stdout, stderr io.Writer) error {
	var cfg Config
	fs := newFlagSet("token", stderr)
	cfg.tokenFlags(fs)
	role := fs.String("role", "", "admin, regulator or learner")
	sub := fs.String("sub", "", "the subject: who the token is for")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch accreditation.Role(*role) {
	case accreditation.RoleAdmin, accreditation.RoleRegulator, accreditation.RoleLearner:
	default:
		return fmt.Errorf("--role must be admin, regulator or learner, not %q", *role)
	}
	if *sub == "" || len(*sub) > 64 {
		return errors.New("--sub must be 1 to 64 characters")
	}
	if *ttl <= 0 || *ttl > 366*24*time.Hour {
		return fmt.Errorf("--ttl %s must be positive and at most a year", *ttl)
	}
	k, err := api.LoadKeyFile(filepath.Join(cfg.Data, "keys", "token.jwk"))
	if err != nil {
		return fmt.Errorf("token key (start the server once to create it): %v", err)
	}
	tok, err := api.IssueToken(k, cfg.Issuer, cfg.Audience, *role, *sub, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

func keygen(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keygen", stderr)
	out := fs.String("out", "", "file to write the private key (JWK) to; must not exist")
	alg := fs.String("alg", "EdDSA", "EdDSA or ES256")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("keygen needs --out FILE")
	}
	k, err := api.GenerateKey(*alg)
	if err != nil {
		return err
	}
	if err := api.WriteKeyFile(*out, k); err != nil {
		return fmt.Errorf("--out: %v", err)
	}
	pub, err := k.Public()
	if err != nil {
		return err
	}
	b, err := pub.MarshalJSON()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, string(b))
	return nil
}

func sign(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sign", stderr)
	keyFile := fs.String("key", "", "the institution's private key file (from keygen)")
	iss := fs.String("iss", "", "the institution id")
	aud := fs.String("aud", "creditbank", "the service audience")
	ttl := fs.Duration("ttl", 5*time.Minute, "lifetime, at most 10m")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *keyFile == "" || *iss == "" {
		return errors.New("sign needs --key FILE and --iss INSTITUTION_ID")
	}
	if *ttl <= 0 || *ttl > api.MaxInstitutionTokenLifetime {
		return fmt.Errorf("--ttl %s must be positive and at most %s", *ttl, api.MaxInstitutionTokenLifetime)
	}
	k, err := api.LoadKeyFile(*keyFile)
	if err != nil {
		return fmt.Errorf("--key: %v", err)
	}
	tok, err := api.SignInstitutionToken(k, *iss, *aud, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
