package credential

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Check is one check of a verification, as POST /v1/verify and the page
// GET /verify show it.
type Check struct {
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// The checks, in the order they are made.
const (
	CheckFormat    = "format"
	CheckSignature = "signature"
	CheckValidity  = "validity"
	CheckStatus    = "status"
	CheckInclusion = "inclusion"
)

// Result is a verification's outcome: valid when every check passed.
type Result struct {
	Valid bool `json:"valid"`
	// Revoked is set when the status check found the credential's bit set.
	Revoked bool    `json:"revoked"`
	Checks  []Check `json:"checks"`
	// Claims is the credential as it reads once its signature checked;
	// nil otherwise, so that nothing unverified is shown as stated.
	Claims *Claims `json:"-"`
}

// Claims are the members of a credential a verifier reads.
type Claims struct {
	ID        string       `json:"id"`
	Iss       string       `json:"iss"`
	Type      []string     `json:"-"`
	Name      string       `json:"name"`
	ValidFrom string       `json:"validFrom"`
	ValidTill string       `json:"validUntil"`
	Status    *StatusEntry `json:"credentialStatus"`
	Record    *Record      `json:"ledgerRecord"`
	Issuer    struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"issuer"`
	RawType json.RawMessage `json:"type"`
}

// Verifier checks credentials of one issuer.
type Verifier struct {
	// Issuer is the issuer's base URL: a credential's iss and issuer.id,
	// and the prefix of the status lists it trusts.
	Issuer string
	// Key returns the issuer's public key named kid.
	Key func(kid string) (ed25519.PublicKey, bool)
	// StatusList returns the VC-JWT of the status list at url (one under
	// Issuer/v1/status/).
	StatusList func(ctx context.Context, url string) (string, error)
	// Prove checks that each entry is in the ledger, by an inclusion proof
	// against a signed checkpoint, and says against which.
	Prove func(ctx context.Context, entries []Entry) (string, error)
	// Now is the time validity is checked at.
	Now func() time.Time
}

// Verify checks token: its form, its signature by the issuer's key, its
// validity dates, its status bit, and the inclusion of its entries. A
// check that cannot run because an earlier one failed is reported failed
// with why.
func (v *Verifier) Verify(ctx context.Context, token string) Result {
	var r Result
	add := func(name string, ok bool, format string, args ...any) {
		r.Checks = append(r.Checks, Check{Check: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	tok, err := Parse(strings.TrimSpace(token))
	if err != nil {
		add(CheckFormat, false, "%v", err)
		for _, c := range []string{CheckSignature, CheckValidity, CheckStatus, CheckInclusion} {
			add(c, false, "not checked: the credential could not be read")
		}
		return r
	}
	var c Claims
	if err := json.Unmarshal(tok.Payload, &c); err != nil {
		add(CheckFormat, false, "claims: %v", err)
	} else if err := c.check(v.Issuer); err != nil {
		add(CheckFormat, false, "%v", err)
	} else {
		add(CheckFormat, true, "a VC-JWT of type %s, id %s", strings.Join(c.Type, ", "), c.ID)
	}
	formatOK := r.Checks[0].OK
	pub, known := v.Key(tok.Header.Kid)
	sigOK := known && tok.VerifySignature(pub)
	switch {
	case !known:
		add(CheckSignature, false, "no key %q among the issuer's keys (%s/.well-known/jwks.json)", tok.Header.Kid, v.Issuer)
	case !sigOK:
		add(CheckSignature, false, "the EdDSA signature does not verify under key %s: the credential was changed or signed by another", tok.Header.Kid)
	default:
		add(CheckSignature, true, "signed by %s with key %s", v.Issuer, tok.Header.Kid)
	}
	if !formatOK || !sigOK {
		for _, n := range []string{CheckValidity, CheckStatus, CheckInclusion} {
			add(n, false, "not checked: the credential's form or signature failed")
		}
		return r
	}
	r.Claims = &c
	v.checkValidity(&c, add)
	r.Revoked = v.checkStatus(ctx, &c, add)
	if detail, err := v.Prove(ctx, c.Record.Entries); err != nil {
		add(CheckInclusion, false, "%v", err)
	} else {
		add(CheckInclusion, true, "%s", detail)
	}
	r.Valid = true
	for _, ch := range r.Checks {
		r.Valid = r.Valid && ch.OK
	}
	return r
}

// check reads what Verify needs of the claims.
func (c *Claims) check(issuer string) error {
	var one string
	if json.Unmarshal(c.RawType, &one) == nil {
		c.Type = []string{one}
	} else if err := json.Unmarshal(c.RawType, &c.Type); err != nil {
		return fmt.Errorf("type: %v", err)
	}
	switch {
	case !contains(c.Type, "VerifiableCredential"):
		return fmt.Errorf("type %v is not a VerifiableCredential", c.Type)
	case !contains(c.Type, "AchievementCredential") && !contains(c.Type, "ClrCredential"):
		return fmt.Errorf("type %v is neither an AchievementCredential nor a ClrCredential", c.Type)
	case c.Iss != issuer || c.Issuer.ID != issuer:
		return fmt.Errorf("issued by %q (iss %q), not by this bank, %s", c.Issuer.ID, c.Iss, issuer)
	case c.Status == nil:
		return fmt.Errorf("no credentialStatus")
	case c.Record == nil || len(c.Record.Entries) == 0:
		return fmt.Errorf("no ledgerRecord naming its entries")
	}
	return nil
}

func (v *Verifier) checkValidity(c *Claims, add func(string, bool, string, ...any)) {
	now := v.Now()
	from, err := time.Parse(time.RFC3339, c.ValidFrom)
	if err != nil {
		add(CheckValidity, false, "validFrom %q is not a date-time", c.ValidFrom)
		return
	}
	if now.Before(from) {
		add(CheckValidity, false, "valid from %s, after now (%s)", c.ValidFrom, timeText(now))
		return
	}
	if c.ValidTill != "" {
		until, err := time.Parse(time.RFC3339, c.ValidTill)
		if err != nil {
			add(CheckValidity, false, "validUntil %q is not a date-time", c.ValidTill)
			return
		}
		if !now.Before(until) {
			add(CheckValidity, false, "expired at %s", c.ValidTill)
			return
		}
		add(CheckValidity, true, "valid from %s until %s", c.ValidFrom, c.ValidTill)
		return
	}
	add(CheckValidity, true, "valid from %s, with no end", c.ValidFrom)
}

// checkStatus reads the credential's bit and reports whether it is set.
func (v *Verifier) checkStatus(ctx context.Context, c *Claims, add func(string, bool, string, ...any)) bool {
	s := c.Status
	prefix := v.Issuer + "/v1/status/"
	if s.Type != "BitstringStatusListEntry" || s.StatusPurpose != StatusPurpose {
		add(CheckStatus, false, "credentialStatus is a %s for %q, not a BitstringStatusListEntry for revocation", s.Type, s.StatusPurpose)
		return false
	}
	if !strings.HasPrefix(s.StatusListCredential, prefix) || len(s.StatusListCredential) == len(prefix) {
		add(CheckStatus, false, "status list %q is not one of this bank's (%s...)", s.StatusListCredential, prefix)
		return false
	}
	index, err := strconv.ParseUint(s.StatusListIndex, 10, 64)
	if err != nil || strconv.FormatUint(index, 10) != s.StatusListIndex {
		add(CheckStatus, false, "statusListIndex %q is not a decimal index", s.StatusListIndex)
		return false
	}
	jwt, err := v.StatusList(ctx, s.StatusListCredential)
	if err != nil {
		add(CheckStatus, false, "status list %s: %v", s.StatusListCredential, err)
		return false
	}
	bits, err := v.readList(jwt, s.StatusListCredential)
	if err != nil {
		add(CheckStatus, false, "status list %s: %v", s.StatusListCredential, err)
		return false
	}
	if index >= bits.Len() {
		add(CheckStatus, false, "index %d is past the list's %d bits", index, bits.Len())
		return false
	}
	if bits.Get(index) {
		add(CheckStatus, false, "revoked: bit %d of %s is set", index, s.StatusListCredential)
		return true
	}
	add(CheckStatus, true, "not revoked: bit %d of %s is 0", index, s.StatusListCredential)
	return false
}

// readList verifies a status list's signature and decodes its bits.
func (v *Verifier) readList(jwt, url string) (Bitstring, error) {
	tok, err := Parse(jwt)
	if err != nil {
		return nil, err
	}
	pub, ok := v.Key(tok.Header.Kid)
	if !ok {
		return nil, fmt.Errorf("signed by unknown key %q", tok.Header.Kid)
	}
	if !tok.VerifySignature(pub) {
		return nil, fmt.Errorf("its signature does not verify under key %s", tok.Header.Kid)
	}
	return readStatusList(tok.Payload, url)
}
