package api

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"creditbank/accreditation"
)

// Token rules of docs/contract.md section 2 (RFC 7519, RFC 8037).
const (
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway = 30 * time.Second
	// MaxInstitutionTokenLifetime bounds exp − iat of an institution token.
	MaxInstitutionTokenLifetime = 10 * time.Minute
	maxTokenBytes               = 8 << 10
	maxKidBytes                 = 64
	tokenCacheSize              = 100000
)

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
// registered in the bank, named by kid, which is looked up on every request
// so that removing the key or suspending the institution takes effect at
// once. A verified signature is cached until the token's exp, so a reused
// token costs a map lookup, not a signature check.
type Authenticator struct {
	audience string
	issuers  atomic.Pointer[map[string]Issuer]
	bank     *accreditation.Bank
	parser   *jwt.Parser
	now      func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]verifiedToken
}

// verifiedToken is a token whose signature and claims checked out, as the
// cache keeps it: whom it names, the key that signed it and until when.
type verifiedToken struct {
	actor accreditation.Actor
	kid   string
	exp   time.Time
}

// NewAuthenticator checks tokens for audience, trusting issuers for service
// tokens and bank's registered keys for institution tokens.
func NewAuthenticator(audience string, issuers []Issuer, bank *accreditation.Bank, now func() time.Time) *Authenticator {
	if now == nil {
		now = time.Now
	}
	a := &Authenticator{
		audience: audience,
		bank:     bank,
		now:      now,
		cache:    map[[32]byte]verifiedToken{},
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{"EdDSA", "ES256"}),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(Leeway),
			jwt.WithTimeFunc(now),
			jwt.WithStrictDecoding(),
		),
	}
	a.SetIssuers(issuers)
	return a
}

// SetIssuers replaces the trusted service-token issuers atomically.
func (a *Authenticator) SetIssuers(issuers []Issuer) {
	m := make(map[string]Issuer, len(issuers))
	for _, issuer := range issuers {
		m[issuer.Name] = issuer
	}
	a.issuers.Store(&m)
	// Tokens verified with keys that may now be gone must be checked again.
	a.mu.Lock()
	a.cache = map[[32]byte]verifiedToken{}
	a.mu.Unlock()
}

// Issuers returns the trusted issuers (for the JWKS document).
func (a *Authenticator) Issuers() map[string]Issuer { return *a.issuers.Load() }

// claims holds what any of our tokens may carry.
type claims struct {
	jwt.RegisteredClaims
	Role string `json:"role,omitempty"`
}

// Authenticate returns the actor of the request's bearer token, or an
// *tokenError saying why there is none.
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
	a.mu.Lock()
	v, hit := a.cache[sum]
	a.mu.Unlock()
	if hit {
		if !a.now().Before(v.exp.Add(Leeway)) {
			a.mu.Lock()
			delete(a.cache, sum)
			a.mu.Unlock()
			return accreditation.Actor{}, refuseToken("expired")
		}
		if err := a.stillValid(v); err != nil {
			return accreditation.Actor{}, err
		}
		return v.actor, nil
	}
	v, err := a.verify(token)
	if err != nil {
		return accreditation.Actor{}, err
	}
	a.mu.Lock()
	if len(a.cache) >= tokenCacheSize {
		now := a.now()
		for k, c := range a.cache {
			if !now.Before(c.exp.Add(Leeway)) || len(a.cache) >= tokenCacheSize {
				delete(a.cache, k)
			}
		}
	}
	a.cache[sum] = v
	a.mu.Unlock()
	return v.actor, nil
}

// stillValid re-checks what can change while a token lives: the
// institution's key and suspension.
func (a *Authenticator) stillValid(v verifiedToken) error {
	if v.actor.Role != accreditation.RoleInstitution {
		return nil
	}
	_, err := a.institutionKey(v.actor.ID, v.kid)
	return err
}

// institutionKey is the key kid of institution id, refusing the token when
// the institution is unknown or suspended or holds no such key.
func (a *Authenticator) institutionKey(id, kid string) (accreditation.PublicJWK, error) {
	in, err := a.bank.Institution(id)
	if accreditation.CodeOf(err) == accreditation.CodeNotFound {
		return accreditation.PublicJWK{}, refuseToken("unknown issuer")
	}
	if err != nil {
		return accreditation.PublicJWK{}, err
	}
	if in.Suspension != nil {
		return accreditation.PublicJWK{}, refuseToken("institution suspended")
	}
	k, ok := in.Key(kid)
	if !ok {
		return accreditation.PublicJWK{}, refuseToken("unknown key")
	}
	return k, nil
}

// verify checks a token that is not in the cache: its signature with the
// key its iss and kid name, then the claims its kind of token requires.
func (a *Authenticator) verify(token string) (verifiedToken, error) {
	var (
		c           claims
		kid         string
		institution bool
		keyErr      error
	)
	_, err := a.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ = t.Header["kid"].(string)
		if kid == "" || len(kid) > maxKidBytes {
			keyErr = refuseToken("bad kid")
			return nil, keyErr
		}
		var key accreditation.PublicJWK
		if issuer, ok := a.Issuers()[c.Issuer]; ok {
			if key, ok = issuer.Keys[kid]; !ok {
				keyErr = refuseToken("unknown key")
				return nil, keyErr
			}
		} else {
			institution = true
			if key, keyErr = a.institutionKey(c.Issuer, kid); keyErr != nil {
				return nil, keyErr
			}
		}
		// The method must be the key's: an EdDSA key never checks an ES256
		// signature and the other way round.
		switch k := key.Key.(type) {
		case ed25519.PublicKey:
			if t.Method != jwt.SigningMethodEdDSA {
				keyErr = refuseToken("algorithm does not match key")
				return nil, keyErr
			}
			return k, nil
		case *ecdsa.PublicKey:
			if t.Method != jwt.SigningMethodES256 {
				keyErr = refuseToken("algorithm does not match key")
				return nil, keyErr
			}
			return k, nil
		}
		keyErr = refuseToken("unknown key")
		return nil, keyErr
	})
	if keyErr != nil {
		var ae *tokenError
		if errors.As(keyErr, &ae) {
			return verifiedToken{}, keyErr
		}
		return verifiedToken{}, fmt.Errorf("look up token key: %w", keyErr)
	}
	if err != nil {
		return verifiedToken{}, refuseToken(jwtReason(err))
	}
	exp := c.ExpiresAt.Time
	if institution {
		switch {
		case c.Subject != c.Issuer:
			return verifiedToken{}, refuseToken("sub differs from iss")
		case c.IssuedAt == nil:
			return verifiedToken{}, refuseToken("missing iat")
		case exp.Sub(c.IssuedAt.Time) > MaxInstitutionTokenLifetime:
			return verifiedToken{}, refuseToken("lifetime over 10 minutes")
		case c.Role != "":
			return verifiedToken{}, refuseToken("institution token with a role")
		}
		return verifiedToken{actor: accreditation.Actor{Role: accreditation.RoleInstitution, ID: c.Issuer}, kid: kid, exp: exp}, nil
	}
	role := accreditation.Role(c.Role)
	switch role {
	case accreditation.RoleAdmin, accreditation.RoleRegulator, accreditation.RoleLearner:
	default:
		return verifiedToken{}, refuseToken("bad role")
	}
	if c.Subject == "" || len(c.Subject) > 64 {
		return verifiedToken{}, refuseToken("bad sub")
	}
	if c.ID == "" {
		return verifiedToken{}, refuseToken("missing jti")
	}
	return verifiedToken{actor: accreditation.Actor{Role: role, ID: c.Subject}, kid: kid, exp: exp}, nil
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
