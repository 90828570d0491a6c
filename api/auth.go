package api

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/golang-jwt/jwt/v5"

	"creditbank/accreditation"
)

// Token rules of docs/contract.md section 2 (RFC 7519, RFC 8037).
const (
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway = 30 * time.Second
	// MaxInstitutionTokenLifetime bounds exp − iat of an institution token.
	MaxInstitutionTokenLifetime = 10 * time.Minute
	// DefaultMaxAdminTokenLifetime, DefaultMaxRegulatorTokenLifetime and
	// DefaultMaxLearnerTokenLifetime bound exp − iat of service tokens
	// unless [AuthConfig] says otherwise: an admin token can register
	// institutions and their keys, so a leaked one should be worth an hour
	// at most; regulators and learners hold a working day's token.
	DefaultMaxAdminTokenLifetime     = time.Hour
	DefaultMaxRegulatorTokenLifetime = 24 * time.Hour
	DefaultMaxLearnerTokenLifetime   = 24 * time.Hour
	maxTokenBytes                    = 8 << 10
	maxKidBytes                      = 64
	maxSubBytes                      = 64
)

// DefaultVerifyRate is the default budget of signature verifications of
// each institution: a token the cache does not hold costs one. An
// institution mints a token every few minutes and reuses it; 20 a second
// with a burst of 100 is far above that. A request with a new token costs
// the server about 0.8 ms of a core in all (the check itself 50 µs for
// Ed25519, 100 µs for P-256; the rest is parsing, caching and the
// request), and at 50 a second with a trusted issuer's 200 a flood of new
// tokens held a victim's p99 at 2.6 times its quiet value.
var DefaultVerifyRate = RateLimit{Rate: 20, Burst: 100}

// DefaultServiceVerifyRate is the default budget of each trusted issuer of
// service tokens, five times an institution's: the service's own issuer
// signs a token for every learner who signs in, and a morning's sign-ins
// come at once (100 a second is 360,000 an hour). A flood of them at 500 a
// second more than doubled a victim's p99 on two cores, and at 200 a
// second (with an institution's 50) still did.
var DefaultServiceVerifyRate = RateLimit{Rate: 100, Burst: 500}

// DefaultRefusedTokenRate is the default budget of refused tokens of each
// client address (an IPv6 one per /64). An issuer's budget of
// verifications is spent only by tokens that verify (a refused one gives
// its verification back): else anyone who read an institution's kid from
// its public record could send badly signed tokens in its name and keep
// its real new tokens out. The refused ones are charged to the address
// they came from instead. An honest client is refused a token now and then
// (one that expired on the way), and a test suite probing the token rules
// a few hundred times; at 5 a second past a burst of 500, refused tokens
// cost the service at most 5 signature checks a second per address.
var DefaultRefusedTokenRate = RateLimit{Rate: 5, Burst: 500}

// DefaultMaxTokenLifetime is the longest a service token of role may live
// (exp − iat) under the default configuration, and 0 for a role that has
// no service tokens.
func DefaultMaxTokenLifetime(role accreditation.Role) time.Duration {
	switch role {
	case accreditation.RoleAdmin:
		return DefaultMaxAdminTokenLifetime
	case accreditation.RoleRegulator:
		return DefaultMaxRegulatorTokenLifetime
	case accreditation.RoleLearner:
		return DefaultMaxLearnerTokenLifetime
	}
	return 0
}

// The JWS algorithms accepted: EdDSA (Ed25519 only), also under its RFC
// 9864 name, and ES256.
const (
	algEdDSA   = "EdDSA"
	algEd25519 = "Ed25519"
	algES256   = "ES256"
)

// ed25519Method is EdDSA under its RFC 9864 name: the same signature, so
// the same verification.
type ed25519Method struct{ *jwt.SigningMethodEd25519 }

// Alg is the name the token header gives.
func (ed25519Method) Alg() string { return algEd25519 }

// The JWT library knows Ed25519 signatures only as "EdDSA"; the parser
// looks a header's alg up in its registry, so the RFC 9864 name must be
// registered to be verified at all. A library that learns the name keeps
// its own.
func init() {
	if jwt.GetSigningMethod(algEd25519) == nil {
		jwt.RegisterSigningMethod(algEd25519, func() jwt.SigningMethod { return ed25519Method{jwt.SigningMethodEdDSA} })
	}
}

// rateLimitedError refuses a token not in the cache because its issuer is
// over its rate of signature verifications (AuthConfig.VerifyRate), or the
// client's address over its rate of refused tokens
// (AuthConfig.RefusedTokenRate); the endpoint answers 429 with
// Retry-After, not 401: the token may be good.
type rateLimitedError struct {
	wait time.Duration
	// address is set when the client's address is over its rate, not the
	// issuer.
	address bool
}

// Error says the issuer is over its rate.
func (e *rateLimitedError) Error() string {
	if e.address {
		return "client address over its rate of refused tokens; retry in " + e.wait.String()
	}
	return "token issuer over its rate of new tokens; retry in " + e.wait.String()
}

// tokenError is why a token was refused; the reason is a small fixed set, safe
// to use as a metric label, and never contains the token.
type tokenError struct{ reason string }

// Error says the token is invalid and why.
func (e *tokenError) Error() string { return "invalid token: " + e.reason }

// refuseToken refuses a token for reason, one of the fixed set.
func refuseToken(reason string) error { return &tokenError{reason} }

// Issuer is a set of public keys, by kid, trusted to sign service tokens
// (admin, regulator, learner) with one iss.
type Issuer struct {
	Name string
	Keys map[string]accreditation.PublicJWK
}

// Authenticator checks bearer tokens. Service tokens are verified with the
// keys of a trusted issuer; institution tokens with the institution's key
// registered in the bank, named by kid. A verified signature is cached
// until the token's exp (tokencache.go), so a reused token costs a map
// lookup, not a signature check; the key its kid names is looked up again
// on every request and must still be the one that verified it, so that
// removing the key, rotating it under the same kid or suspending the
// institution takes effect at once, and a service token is checked against
// the bank's token revocations on every request. A token the cache does
// not hold spends one of its issuer's signature verifications
// (AuthConfig.VerifyRate), taken only once the issuer and its key are
// known, so a token naming no issuer costs nothing but its parsing.
type Authenticator struct {
	audience    string
	issuers     atomic.Pointer[map[string]Issuer]
	bank        *accreditation.Bank
	parser      *jwt.Parser
	now         func() time.Time
	maxLifetime map[accreditation.Role]time.Duration

	cache *tokenCache
	// perInstitution and perServiceIssuer are the most tokens of one
	// institution and of one trusted issuer the cache holds.
	perInstitution, perServiceIssuer int
	// verifications and serviceVerifications limit the signature
	// verifications of each institution and of each trusted issuer.
	verifications, serviceVerifications *limiter
	// refused limits the refused tokens of each client address.
	refused *limiter
}

// AuthConfig configures an [Authenticator].
type AuthConfig struct {
	// Audience is the aud every token must hold.
	Audience string
	// Issuers are trusted to sign service tokens (admin, regulator,
	// learner); any other iss is taken as an institution id.
	Issuers []Issuer
	// Bank holds the institutions and their registered keys.
	Bank *accreditation.Bank
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxAdminTokenLifetime, MaxRegulatorTokenLifetime and
	// MaxLearnerTokenLifetime bound exp − iat of the service tokens of each
	// role (exp − now for a token without iat); a longer-lived token is
	// refused however it was signed. Zero means the default
	// (DefaultMaxAdminTokenLifetime and the others); negative is an error.
	MaxAdminTokenLifetime     time.Duration
	MaxRegulatorTokenLifetime time.Duration
	MaxLearnerTokenLifetime   time.Duration
	// VerifyRate and ServiceVerifyRate are the budgets of signature
	// verifications of each institution and of each trusted issuer, which
	// a token not in the cache spends; an issuer over its budget gets 429.
	// Zero: DefaultVerifyRate and DefaultServiceVerifyRate; a negative
	// Rate: no limit.
	VerifyRate        RateLimit
	ServiceVerifyRate RateLimit
	// RefusedTokenRate is the budget of refused tokens of each client
	// address; an address over it gets 429 for any token the cache does
	// not hold. Zero: DefaultRefusedTokenRate; a negative Rate: no limit.
	RefusedTokenRate RateLimit
	// TokenCacheSize, TokenCachePerInstitution and
	// TokenCachePerServiceIssuer bound the verified-token cache in all, for
	// one institution and for one trusted issuer; zero means the defaults
	// (DefaultTokenCacheSize and the others), negative is an error.
	TokenCacheSize             int
	TokenCachePerInstitution   int
	TokenCachePerServiceIssuer int
}

// verifiedToken is a token whose signature and claims checked out, as the
// cache keeps it: whom it names, the key that signed it (by its issuer and
// kid, to look it up, and the key itself, to know it is still the same key)
// and until when; for a service token, also what a revocation names (its
// jti and iat).
type verifiedToken struct {
	actor       accreditation.Actor
	issuer      string
	kid         string
	key         crypto.PublicKey
	exp         time.Time
	institution bool
	jti         string
	iat         time.Time
}

// NewAuthenticator checks tokens for audience, trusting issuers for service
// tokens and bank's registered keys for institution tokens, with the
// default lifetimes of service tokens.
func NewAuthenticator(audience string, issuers []Issuer, bank *accreditation.Bank, now func() time.Time) *Authenticator {
	a, _ := NewAuthenticatorFromConfig(AuthConfig{Audience: audience, Issuers: issuers, Bank: bank, Now: now})
	return a
}

// NewAuthenticatorFromConfig checks tokens as cfg says; it fails only for a
// negative lifetime or cache size.
func NewAuthenticatorFromConfig(cfg AuthConfig) (*Authenticator, error) {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	lifetimes := map[accreditation.Role]time.Duration{
		accreditation.RoleAdmin:     cfg.MaxAdminTokenLifetime,
		accreditation.RoleRegulator: cfg.MaxRegulatorTokenLifetime,
		accreditation.RoleLearner:   cfg.MaxLearnerTokenLifetime,
	}
	for role, d := range lifetimes {
		switch {
		case d < 0:
			return nil, fmt.Errorf("the longest lifetime of %s tokens is %s: it must not be negative", role, d)
		case d == 0:
			lifetimes[role] = DefaultMaxTokenLifetime(role)
		}
	}
	sizes := []struct {
		name string
		n    *int
		def  int
	}{
		{"token cache size", &cfg.TokenCacheSize, DefaultTokenCacheSize},
		{"token cache share of an institution", &cfg.TokenCachePerInstitution, DefaultTokenCachePerInstitution},
		{"token cache share of a service issuer", &cfg.TokenCachePerServiceIssuer, DefaultTokenCachePerServiceIssuer},
	}
	for _, sz := range sizes {
		switch {
		case *sz.n < 0:
			return nil, fmt.Errorf("the %s is %d: it must not be negative", sz.name, *sz.n)
		case *sz.n == 0:
			*sz.n = sz.def
		}
	}
	rate := func(r, def RateLimit) RateLimit {
		switch {
		case r.Rate == 0:
			return def
		case r.Rate < 0:
			return RateLimit{}
		}
		return r
	}
	a := &Authenticator{
		audience:             cfg.Audience,
		bank:                 cfg.Bank,
		now:                  now,
		maxLifetime:          lifetimes,
		cache:                newTokenCache(cfg.TokenCacheSize, now),
		perInstitution:       cfg.TokenCachePerInstitution,
		perServiceIssuer:     cfg.TokenCachePerServiceIssuer,
		verifications:        newLimiter(rate(cfg.VerifyRate, DefaultVerifyRate), now),
		serviceVerifications: newLimiter(rate(cfg.ServiceVerifyRate, DefaultServiceVerifyRate), now),
		refused:              newLimiter(rate(cfg.RefusedTokenRate, DefaultRefusedTokenRate), now),
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{algEdDSA, algEd25519, algES256}),
			jwt.WithAudience(cfg.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(Leeway),
			jwt.WithTimeFunc(now),
			jwt.WithStrictDecoding(),
		),
	}
	a.SetIssuers(cfg.Issuers)
	return a, nil
}

// SetIssuers replaces the trusted service-token issuers atomically.
func (a *Authenticator) SetIssuers(issuers []Issuer) {
	m := make(map[string]Issuer, len(issuers))
	for _, issuer := range issuers {
		m[issuer.Name] = issuer
	}
	a.issuers.Store(&m)
	// A cached token whose key is gone would be refused on its next use
	// (stillValid); dropping them all frees the memory at once.
	if a.cache != nil {
		a.cache.clear()
	}
}

// Issuers returns the trusted issuers (for the JWKS document).
func (a *Authenticator) Issuers() map[string]Issuer { return *a.issuers.Load() }

// claims holds what any of our tokens may carry.
type claims struct {
	jwt.RegisteredClaims
	Role string `json:"role,omitempty"`
}

// Authenticate returns the actor of the request's bearer token, or a
// *tokenError saying why there is none, or a *rateLimitedError when the
// token is not cached and its issuer is over its rate of verifications.
func (a *Authenticator) Authenticate(r *http.Request) (accreditation.Actor, error) {
	header := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(header, " ")
	if header == "" {
		return accreditation.Actor{}, refuseToken("missing")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return accreditation.Actor{}, refuseToken("malformed")
	}
	if len(token) > maxTokenBytes {
		return accreditation.Actor{}, refuseToken("malformed")
	}
	sum := sha256.Sum256([]byte(token))
	v, hit, expired := a.cache.get(sum)
	if expired {
		return accreditation.Actor{}, refuseToken("expired")
	}
	if hit {
		if err := a.stillValid(v); err != nil {
			return accreditation.Actor{}, err
		}
		if err := a.notRevoked(v); err != nil {
			return accreditation.Actor{}, err
		}
		return v.actor, nil
	}
	// A token the cache does not hold may cost a signature check. The
	// sender's address pays for it up front, so that one address has as
	// many checks in flight as its budget holds, and gets it back unless
	// the token is refused after its signature was checked: a refused
	// token costs its sender, never the issuer it names. The issuer pays
	// only for a token that verified (verify admits it first).
	addr := clientKey(r)
	if ok, wait := a.refused.allow(addr); !ok {
		return accreditation.Actor{}, &rateLimitedError{wait: wait, address: true}
	}
	v, spent, err := a.verify(token)
	if err == nil {
		err = a.notRevoked(v)
	}
	if err == nil || spent.bucket == nil {
		a.refused.charge(addr, -1)
	}
	if err != nil {
		return accreditation.Actor{}, err
	}
	spent.bucket.charge(spent.issuer, 1)
	share := a.perServiceIssuer
	if v.institution {
		share = a.perInstitution
	}
	a.cache.put(sum, v, share)
	return v.actor, nil
}

// notRevoked refuses a service token the bank's revocations name (by jti,
// or by sub and issue time); institution tokens are never revoked so, an
// institution's key is removed instead.
func (a *Authenticator) notRevoked(v verifiedToken) error {
	if v.institution || a.bank == nil {
		return nil
	}
	revoked, err := a.bank.TokenIsRevoked(accreditation.ServiceToken{Role: v.actor.Role, Subject: v.actor.ID, JTI: v.jti, IssuedAt: v.iat})
	if err != nil {
		return fmt.Errorf("check token revocations: %w", err)
	}
	if revoked {
		return refuseToken("revoked")
	}
	return nil
}

// stillValid re-checks what can change while a token lives: the key its
// kid names must still be there, still the same key (a kid removed and
// then given to another key names different key material), and an
// institution must not be suspended. The key material is compared as it
// is (Equal on the public key), which a cache hit can afford: hashing a
// thumbprint each time cost about 1 µs for an Ed25519 key and 2.4 µs for a
// P-256 one.
func (a *Authenticator) stillValid(v verifiedToken) error {
	key, _, err := a.tokenKey(v.issuer, v.kid)
	if err != nil {
		return err
	}
	if k, ok := key.Key.(interface{ Equal(crypto.PublicKey) bool }); !ok || v.key == nil || !k.Equal(v.key) {
		return refuseToken("unknown key")
	}
	return nil
}

// tokenKey is the key kid of the token's issuer: a trusted issuer's key,
// or else the key the institution iss registered, refusing the token when
// the institution is unknown or suspended or either holds no such key.
func (a *Authenticator) tokenKey(iss, kid string) (key accreditation.PublicJWK, institution bool, err error) {
	if issuer, ok := a.Issuers()[iss]; ok {
		if key, ok = issuer.Keys[kid]; !ok {
			return accreditation.PublicJWK{}, false, refuseToken("unknown key")
		}
		return key, false, nil
	}
	in, err := a.bank.Institution(iss)
	if accreditation.CodeOf(err) == accreditation.CodeNotFound {
		return accreditation.PublicJWK{}, true, refuseToken("unknown issuer")
	}
	if err != nil {
		return accreditation.PublicJWK{}, true, err
	}
	if in.Suspension != nil {
		return accreditation.PublicJWK{}, true, refuseToken("institution suspended")
	}
	key, ok := in.Key(kid)
	if !ok {
		return accreditation.PublicJWK{}, true, refuseToken("unknown key")
	}
	return key, true, nil
}

// spentVerification is the signature check a token cost: the bucket of
// the issuer it names, which pays for it once the token verified; the
// zero value means no signature was checked.
type spentVerification struct {
	bucket *limiter
	issuer string
}

// verify checks a token that is not in the cache: its form (checkTokenForm),
// its signature with the key its iss and kid name, then the claims its
// kind of token requires. It also returns the signature check it made,
// if it got that far. A token whose exp has passed or whose nbf has not
// come is refused before its signature is checked: the refusal grants
// nothing, and a client retrying an expired token then costs a parse.
func (a *Authenticator) verify(token string) (verifiedToken, spentVerification, error) {
	var spent spentVerification
	payload, err := checkTokenForm(token)
	if err != nil {
		return verifiedToken{}, spent, err
	}
	if err := a.checkTimes(payload); err != nil {
		return verifiedToken{}, spent, err
	}
	var (
		c           claims
		key         accreditation.PublicJWK
		institution bool
		keyErr      error
	)
	parsed, err := a.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" || len(kid) > maxKidBytes {
			keyErr = refuseToken("bad kid")
			return nil, keyErr
		}
		if key, institution, keyErr = a.tokenKey(c.Issuer, kid); keyErr != nil {
			return nil, keyErr
		}
		// The issuer and its key exist: only now is the verification worth
		// spending, from the bucket of the iss the token claims (unverified,
		// and used for nothing else).
		bucket := a.serviceVerifications
		if institution {
			bucket = a.verifications
		}
		if ok, wait := bucket.admit(c.Issuer); !ok {
			keyErr = &rateLimitedError{wait: wait}
			return nil, keyErr
		}
		spent = spentVerification{bucket: bucket, issuer: c.Issuer}
		// The method must be the key's: an EdDSA key never checks an ES256
		// signature and the other way round.
		alg := t.Method.Alg()
		switch k := key.Key.(type) {
		case ed25519.PublicKey:
			if alg == algEdDSA || alg == algEd25519 {
				return k, nil
			}
		case *ecdsa.PublicKey:
			if alg == algES256 {
				return k, nil
			}
		default:
			keyErr = refuseToken("unknown key")
			return nil, keyErr
		}
		keyErr = refuseToken("algorithm does not match key")
		return nil, keyErr
	})
	if keyErr != nil {
		var (
			ae *tokenError
			rl *rateLimitedError
		)
		if errors.As(keyErr, &ae) || errors.As(keyErr, &rl) {
			return verifiedToken{}, spent, keyErr
		}
		return verifiedToken{}, spent, fmt.Errorf("look up token key: %w", keyErr)
	}
	if err != nil {
		return verifiedToken{}, spent, refuseToken(jwtReason(err))
	}
	kid, _ := parsed.Header["kid"].(string)
	v := verifiedToken{issuer: c.Issuer, kid: kid, key: key.Key, exp: c.ExpiresAt.Time, institution: institution, jti: c.ID}
	if c.IssuedAt != nil {
		v.iat = c.IssuedAt.Time
	}
	if institution {
		v.actor, err = institutionActor(c)
	} else {
		v.actor, err = a.serviceActor(c)
	}
	if err != nil {
		return verifiedToken{}, spent, err
	}
	return v, spent, nil
}

// institutionActor is the institution a token signed with its registered
// key names, once the claims an institution token needs are checked.
func institutionActor(c claims) (accreditation.Actor, error) {
	switch {
	case c.Subject != c.Issuer:
		return accreditation.Actor{}, refuseToken("sub differs from iss")
	case c.IssuedAt == nil:
		return accreditation.Actor{}, refuseToken("missing iat")
	case c.ExpiresAt.Sub(c.IssuedAt.Time) > MaxInstitutionTokenLifetime:
		return accreditation.Actor{}, refuseToken("lifetime over 10 minutes")
	case c.Role != "":
		return accreditation.Actor{}, refuseToken("institution token with a role")
	}
	return accreditation.Actor{Role: accreditation.RoleInstitution, ID: c.Issuer}, nil
}

// serviceActor is the admin, regulator or learner a trusted issuer's token
// names, once its role, sub, jti and lifetime are checked. The sub becomes
// the actor every ledger entry records, so it is held to the entries' rule
// for text: a control character in it is a refusal here rather than a
// failed write later.
func (a *Authenticator) serviceActor(c claims) (accreditation.Actor, error) {
	role := accreditation.Role(c.Role)
	maxLifetime, ok := a.maxLifetime[role]
	if !ok {
		return accreditation.Actor{}, refuseToken("bad role")
	}
	if c.Subject == "" || len(c.Subject) > maxSubBytes || !plainText(c.Subject) {
		return accreditation.Actor{}, refuseToken("bad sub")
	}
	if c.ID == "" {
		return accreditation.Actor{}, refuseToken("missing jti")
	}
	if !accreditation.RevocableClaims(c.Subject, c.ID) {
		// A sub or jti no revocation could name (an invisible or bidi
		// character, a jti over 128 bytes) would make a token that lives
		// until its exp whatever an admin does.
		return accreditation.Actor{}, refuseToken("bad sub or jti")
	}
	from := a.now()
	if c.IssuedAt != nil {
		from = c.IssuedAt.Time
	}
	if c.ExpiresAt.Sub(from) > maxLifetime {
		return accreditation.Actor{}, refuseToken("lifetime over role maximum")
	}
	id := c.Subject
	if role == accreditation.RoleLearner {
		// One learner whatever the case of the sub: the entries a learner
		// writes, their budget and the revocations of their tokens all
		// name the canonical id.
		id = accreditation.CanonicalLearnerID(id)
	}
	return accreditation.Actor{Role: role, ID: id}, nil
}

// plainText reports whether s is valid UTF-8 without control characters
// (C0, DEL, C1).
func plainText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// tokenSegment is the strict unpadded base64url of a token's segments, as
// the parser decodes them (WithStrictDecoding).
var tokenSegment = base64.RawURLEncoding.Strict()

// checkTokenForm refuses what the JWT library would let through: the
// library decodes the header and the claims with encoding/json, which
// keeps the last of a repeated member, matches claim names without regard
// to case and reads a NumericDate from a string holding a number, so two
// verifiers could read one signed token as two different sets of claims.
// It refuses a header with crit (the bank understands no extension, and
// RFC 7515 says a verifier must refuse a token whose critical extensions
// it does not understand), an alg other than EdDSA, Ed25519 and ES256, a
// member name repeated in any object of the header or the claims, a claim
// the bank reads spelled in another case, exp, iat and nbf that are not
// JSON numbers, and either part that is not one JSON object in UTF-8.
func checkTokenForm(token string) (map[string]json.RawMessage, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, refuseToken("malformed")
	}
	header, err := tokenObject(parts[0])
	if err != nil {
		return nil, err
	}
	if _, ok := header["crit"]; ok {
		return nil, refuseToken("critical header")
	}
	var alg string
	if raw, ok := header["alg"]; !ok || json.Unmarshal(raw, &alg) != nil {
		return nil, refuseToken("malformed")
	}
	if alg != algEdDSA && alg != algEd25519 && alg != algES256 {
		return nil, refuseToken("unsupported algorithm")
	}
	payload, err := tokenObject(parts[1])
	if err != nil {
		return nil, err
	}
	for name, raw := range payload {
		switch lower := strings.ToLower(name); lower {
		case "exp", "iat", "nbf":
			if name != lower {
				return nil, refuseToken("malformed")
			}
			if c := raw[0]; c != '-' && (c < '0' || c > '9') {
				return nil, refuseToken("time not a number")
			}
		case "iss", "sub", "aud", "jti", "role":
			if name != lower {
				return nil, refuseToken("malformed")
			}
		}
	}
	return payload, nil
}

// checkTimes refuses a token whose exp has passed or whose nbf has not
// come, with the leeway, from its claims as sent (checkTokenForm has made
// sure they are numbers); the JWT library checks them again after the
// signature, as it checks everything.
func (a *Authenticator) checkTimes(payload map[string]json.RawMessage) error {
	now := a.now()
	at := func(name string) (time.Time, bool) {
		raw, ok := payload[name]
		if !ok {
			return time.Time{}, false
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return time.Time{}, false // the library's check will refuse it
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)), true
	}
	if exp, ok := at("exp"); ok && !now.Before(exp.Add(Leeway)) {
		return refuseToken("expired")
	}
	if nbf, ok := at("nbf"); ok && now.Add(Leeway).Before(nbf) {
		return refuseToken("not yet valid")
	}
	return nil
}

// tokenObject decodes a token segment holding one JSON object into its
// members. The segment must be valid JSON in UTF-8 whose escapes are all
// Unicode characters, and use each member name once in every object, as
// RFC 7493 (I-JSON) has it; encoding/json would let each of these through.
func tokenObject(segment string) (map[string]json.RawMessage, error) {
	b, err := tokenSegment.DecodeString(segment)
	if err != nil || !jsontext.Value(b).IsValid(jsontext.AllowDuplicateNames(true)) {
		return nil, refuseToken("malformed")
	}
	if !jsontext.Value(b).IsValid() {
		return nil, refuseToken("duplicate member")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil || members == nil {
		return nil, refuseToken("malformed")
	}
	return members, nil
}

// jwtReason maps the library's errors onto our fixed set of reasons.
func jwtReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "not yet valid"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "missing claim"
	}
	return "invalid"
}
