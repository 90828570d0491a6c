// Command creditbank runs the credit bank service and its operator tools.
//
//	creditbank serve  [--data DIR] [--addr HOST:PORT] [--origin ORIGIN]
//	creditbank token  [--data DIR] --role admin|regulator|learner --sub ID [--ttl 1h]
//	creditbank token  [--data DIR] --url URL --revoke-jti J | --revoke-sub S [--revoke-role R] [--issued-before T] --reason TEXT
//	creditbank keygen --out FILE [--alg EdDSA|ES256]
//	creditbank sign   --key FILE --iss INSTITUTION_ID [--aud A] [--ttl 5m]
//	creditbank verify --url URL [--token T] [--key VKEY] | --data DIR [--since FILE] [--save FILE]
//	creditbank backup --data DIR --out DIR
//	creditbank rotate-kek --data DIR
//	creditbank rotate-index-key --data DIR
//	creditbank bench  [--url URL --token ADMIN_TOKEN] [--duration 10s] [--preload N] [--json FILE]
//	creditbank abuse  [--preload N] [--attack 40s] [--attacks A,B] [--enforce]
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
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"creditbank/accreditation"
	"creditbank/api"
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
  rotate-kek  rotate the key that wraps learners' data keys, online or offline
  rotate-index-key  rotate the key that hashes learner ids (server stopped)
  conformance  check a running server against the contract from outside
  bench    measure the service over HTTP against raw Pebble in one run
  abuse    measure a well-behaved institution's latency while each attack runs

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
	case "rotate-kek":
		return rotateKEK(args[1:], stdout, stderr)
	case "rotate-index-key":
		return rotateIndexKey(args[1:], stdout, stderr)
	case "conformance":
		return conformanceCmd(args[1:], stdout, stderr)
	case "bench":
		return benchCmd(args[1:], stdout, stderr)
	case "abuse":
		return abuseCmd(args[1:], stdout, stderr)
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

// tokenFlags are the flags of the commands that mint or check service
// tokens, with cfg's values as their defaults.
func tokenFlags(fs *flag.FlagSet, cfg *server.Config) {
	fs.StringVar(&cfg.Data, "data", cfg.Data, "data folder (store and keys)")
	fs.StringVar(&cfg.Audience, "audience", cfg.Audience, "token audience")
	fs.StringVar(&cfg.Issuer, "issuer", cfg.Issuer, "issuer of the tokens the service signs")
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

// serve is `creditbank serve`: the flags of server.Config, then server.Run
// until SIGTERM or SIGINT.
func serve(args []string, stderr io.Writer) error {
	cfg := server.DefaultConfig()
	fs := newFlagSet("serve", stderr)
	tokenFlags(fs, &cfg)
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "HTTP listen address")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", cfg.MetricsAddr, "listen address that serves /metrics alone, which --addr then does not serve (empty: /metrics on --addr)")
	fs.IntVar(&cfg.MaxConnections, "max-connections", cfg.MaxConnections, "most HTTP connections at once (0: derived from the open files limit)")
	fs.StringVar(&cfg.Origin, "origin", cfg.Origin, "checkpoint origin, a host name and a path such as credits.example.gov/tlog (default: from --public-url, else the data folder's key's name, creditbank.local/ledger for a new one)")
	fs.StringVar(&cfg.PublicURL, "public-url", cfg.PublicURL, "base URL clients reach the service at, such as https://credits.example.gov; the origin defaults to it without the scheme, plus /tlog")
	fs.StringVar(&cfg.BankName, "bank-name", cfg.BankName, "the bank's name as the issuer of the credentials it signs")
	fs.Func("witness", "a C2SP tlog-witness witness each checkpoint is submitted to, KEY,URL: its verifier key and submission URL (repeat for more)", func(v string) error {
		w, err := server.ParseWitness(v)
		if err == nil {
			cfg.Witnesses = append(cfg.Witnesses, w)
		}
		return err
	})
	fs.StringVar(&cfg.WitnessesFile, "witnesses", "", `JSON file of witnesses, [{"key": KEY, "url": URL}]`)
	fs.DurationVar(&cfg.WitnessTimeout, "witness-timeout", 0, "longest wait for a witness's answer (0: 10s)")
	fs.StringVar(&cfg.TrustedIssuers, "trusted-issuers", cfg.TrustedIssuers, "JSON file of other token issuers and their public keys")
	fs.Float64Var(&cfg.InstitutionRate, "institution-rate", cfg.InstitutionRate, "requests per second each institution may make on average (0: no limit)")
	fs.IntVar(&cfg.InstitutionBurst, "institution-burst", cfg.InstitutionBurst, "requests each institution may make at once")
	fs.Float64Var(&cfg.AnonymousRate, "anonymous-rate", cfg.AnonymousRate, "requests per second each client address may make on average without a token, but to /healthz and /readyz (0: no limit)")
	fs.IntVar(&cfg.AnonymousBurst, "anonymous-burst", cfg.AnonymousBurst, "requests without a token each client address may make at once")
	for _, role := range api.BudgetRoles {
		who := "each " + role
		if role == "anonymous" {
			who = "each client address without a token"
		}
		fs.Var(cfg.Rows.For(role), role+"-rows", "rows read "+who+" may cost, RATE,BURST: a second on average, at once (0: no budget)")
		fs.Var(cfg.BodyBytes.For(role), role+"-body-bytes", "request body bytes "+who+" may send, RATE,BURST: a second on average, at once (0: no budget)")
	}
	fs.Var(&cfg.InstitutionNewTokens, "institution-new-tokens", "signature checks of tokens not yet verified each institution may cost, RATE,BURST (0: no limit)")
	fs.Var(&cfg.ServiceNewTokens, "service-new-tokens", "signature checks of tokens not yet verified each trusted issuer's tokens may cost, RATE,BURST (0: no limit)")
	fs.IntVar(&cfg.HeldRefusals, "held-refusals", cfg.HeldRefusals, "429 answers held at once, each up to a second, to slow clients that do not wait as told (0: a quarter of --max-connections, -1: none)")
	fs.Var(&cfg.RefusedTokens, "refused-tokens", "refused tokens each client address may send, RATE,BURST (0: no limit)")
	fs.DurationVar(&cfg.MaxAdminTokenLifetime, "max-admin-token-lifetime", 0, "longest exp - iat of an admin token (0: 1h)")
	fs.DurationVar(&cfg.MaxRegulatorTokenLifetime, "max-regulator-token-lifetime", 0, "longest exp - iat of a regulator token (0: 24h)")
	fs.DurationVar(&cfg.MaxLearnerTokenLifetime, "max-learner-token-lifetime", 0, "longest exp - iat of a learner token (0: 24h)")
	fs.IntVar(&cfg.CacheMiB, "cache-mb", cfg.CacheMiB, "size of the store's block cache in MiB; the default is an eighth of memory, within 256 to 4096")
	fs.BoolVar(&cfg.AccessLog, "access-log", cfg.AccessLog, "record every read of a learner's record by anyone but the learner (GET /v1/learners/{id}/access-log)")
	fs.DurationVar(&cfg.AccessLogRetention, "access-log-retention", cfg.AccessLogRetention, "how long access records are kept before they are deleted (default five years; at least 24h)")
	if err := parse(fs, args); err != nil {
		return err
	}
	// The signals belong to the process, not to the server package: its
	// other users (tests, the load generator) stop it with their own context.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return server.Run(ctx, cfg, slog.New(slog.NewJSONHandler(stderr, nil)))
}

// token is `creditbank token`: print a service token signed with the
// token key of --data, or, with --revoke-jti or --revoke-sub, have the
// server at --url revoke service tokens (revoke.go).
func token(args []string, stdout, stderr io.Writer) error {
	cfg := server.DefaultConfig()
	fs := newFlagSet("token", stderr)
	tokenFlags(fs, &cfg)
	role := fs.String("role", "", "admin, regulator or learner")
	sub := fs.String("sub", "", "the subject: who the token is for (with --revoke-*: who revokes, default the login name)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	url := fs.String("url", "", "with --revoke-*: the running server's base URL")
	revokeJTI := fs.String("revoke-jti", "", "revoke the service token with this jti")
	revokeSubject := fs.String("revoke-sub", "", "revoke the service tokens of this sub issued before --issued-before")
	revokeRole := fs.String("revoke-role", "", "with --revoke-sub: only this role's tokens (default: every role)")
	issuedBefore := fs.String("issued-before", "", "with --revoke-sub: RFC 3339 time (default: now, on the server's clock)")
	reason := fs.String("reason", "", "with --revoke-*: why, recorded in the ledger")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *revokeJTI != "" || *revokeSubject != "" {
		if *revokeJTI != "" && *revokeSubject != "" {
			return errors.New("give --revoke-jti or --revoke-sub, not both")
		}
		if *reason == "" {
			return errors.New("--revoke-jti and --revoke-sub need --reason")
		}
		if *revokeJTI != "" && (*revokeRole != "" || *issuedBefore != "") {
			return errors.New("--revoke-role and --issued-before go with --revoke-sub")
		}
		k, err := api.LoadKeyFile(filepath.Join(cfg.Data, "keys", "token.jwk"))
		if err != nil {
			return fmt.Errorf("token key of --data: %v", err)
		}
		who := *sub
		if who == "" {
			who = revokeSub()
		}
		return revokeTokens(revocation{url: *url, issuer: cfg.Issuer, audience: cfg.Audience, sub: who, key: k,
			body: accreditation.TokenRevoked{JTI: *revokeJTI, Subject: *revokeSubject, Role: accreditation.Role(*revokeRole),
				IssuedBefore: *issuedBefore, Reason: *reason}}, stdout)
	}
	switch accreditation.Role(*role) {
	case accreditation.RoleAdmin, accreditation.RoleRegulator, accreditation.RoleLearner:
	default:
		return fmt.Errorf("--role must be admin, regulator or learner, not %q", *role)
	}
	if *sub == "" || len(*sub) > 64 {
		return errors.New("--sub must be 1 to 64 characters")
	}
	// The server refuses a longer-lived token unless it is configured to
	// allow one; the command does not know that configuration, so it keeps
	// to the defaults.
	if maxTTL := api.DefaultMaxTokenLifetime(accreditation.Role(*role)); *ttl <= 0 || *ttl > maxTTL {
		return fmt.Errorf("--ttl %s must be positive and at most %s for a %s token", *ttl, maxTTL, *role)
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
