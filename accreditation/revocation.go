package accreditation

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"creditbank/ledger"
	"creditbank/vault"
)

// A service token (admin, regulator, learner) lives up to its role's
// longest lifetime; when one leaks, or a person leaves, an admin revokes
// it at once instead of waiting for its exp (docs/contract.md section 2):
// one token by its jti, or every token of a sub (of one role, or of any)
// issued before a time. The revocation is a token.revoked entry, so an
// auditor sees who decided it and why, and a replica of the log learns of
// it as of any other decision. The bank keeps what is in force in memory
// (tokenRevocations), loaded from the state at New and updated when an
// entry commits, so that checking a token on every request, cached or
// not, is a map lookup.

// TypeTokenRevoked revokes service tokens; its content is a TokenRevoked.
const TypeTokenRevoked = "token.revoked"

// maxJTIBytes bounds a jti named in a revocation: the jti of the tokens
// the service signs is 32 characters.
const maxJTIBytes = 128

// maxSubjectBytes is the longest sub a service token may carry (as the
// authenticator checks it).
const maxSubjectBytes = 64

// tokenRevocationPrefix starts the state keys of revocations in force:
//
//	tokrev/jti/<jti>            TokenRevocation of one token
//	tokrev/sub/<role>/<sub>     TokenRevocation of a sub's tokens issued
//	                            before a time (<role> empty: every role)
const tokenRevocationPrefix = "tokrev/"

func jtiRevocationKey(jti string) string { return tokenRevocationPrefix + "jti/" + jti }
func subRevocationKey(role Role, sub string) string {
	return tokenRevocationPrefix + "sub/" + string(role) + "/" + foldSubject(sub)
}

// foldSubject is the form in which a revocation by sub is kept and matched:
// ASCII letters in upper case, since learner ids that differ only in case
// name one learner (docs/contract.md, "Identifiers"); for an admin's or a
// regulator's sub this can only revoke more, never less. Only ASCII is
// mapped, as for learner ids, so that no other character folds onto a
// letter.
func foldSubject(sub string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' {
			return r - ('a' - 'A')
		}
		return r
	}, sub)
}

// TokenRevoked is the content of token.revoked, and what an admin asks:
// either JTI, or Subject with IssuedBefore (and Role, to revoke one role's
// tokens only), and a Reason.
type TokenRevoked struct {
	JTI     string `json:"jti,omitempty"`
	Subject string `json:"sub,omitempty"`
	// Role limits a revocation by sub to that role's tokens; empty: all.
	Role Role `json:"role,omitempty"`
	// IssuedBefore is the time (ledger.TimeLayout, UTC) before which the
	// sub's tokens were issued: a token whose iat is earlier, or that has
	// no iat, is refused. Empty in a request means the present.
	IssuedBefore string `json:"issued_before,omitempty"`
	Reason       string `json:"reason"`
}

// TokenRevocation is a revocation in force, as the bank answers and keeps
// it: the request, the entry that recorded it and when, and who decided.
type TokenRevocation struct {
	TokenRevoked
	Seq        uint64 `json:"seq"`
	RecordedAt string `json:"recorded_at"`
	Actor      string `json:"actor"`
}

// Validate checks a revocation's form, and gives a revocation by sub
// without a time the present, now.
func (r *TokenRevoked) Validate(now time.Time) error {
	switch {
	case r.JTI != "" && r.Subject != "":
		return errorf(CodeInvalid, "name either a jti or a sub, not both")
	case r.JTI == "" && r.Subject == "":
		return errorf(CodeInvalid, "name the token to revoke by jti, or the tokens of a sub")
	case r.JTI != "":
		if r.Role != "" || r.IssuedBefore != "" {
			return errorf(CodeInvalid, "role and issued_before go with sub, not with jti")
		}
		if err := checkTokenText("jti", r.JTI, maxJTIBytes); err != nil {
			return err
		}
	default:
		if err := checkTokenText("sub", r.Subject, maxSubjectBytes); err != nil {
			return err
		}
		switch r.Role {
		case "", RoleAdmin, RoleRegulator, RoleLearner:
		default:
			return errorf(CodeInvalid, "role must be admin, regulator or learner (or left out for all), not %q", r.Role)
		}
		at := now
		if r.IssuedBefore != "" {
			t, err := time.Parse(time.RFC3339Nano, r.IssuedBefore)
			if err != nil {
				return errorf(CodeInvalid, "issued_before %q is not an RFC 3339 time", r.IssuedBefore)
			}
			at = t
		}
		r.IssuedBefore = at.UTC().Truncate(time.Microsecond).Format(ledger.TimeLayout)
	}
	return checkText("reason", r.Reason, 500)
}

// RevocableClaims reports whether a service token's sub and jti are ones a
// revocation can name (TokenRevoked.Validate): a token the authenticator
// accepted with any other could never be revoked before its exp.
func RevocableClaims(sub, jti string) bool {
	return checkTokenText("sub", sub, maxSubjectBytes) == nil && checkTokenText("jti", jti, maxJTIBytes) == nil
}

// checkTokenText accepts what a token's claim may hold: 1 to max bytes of
// UTF-8 without control characters.
func checkTokenText(what, s string, max int) error {
	if len(s) > max || !utf8.ValidString(s) {
		return errorf(CodeInvalid, "%s must be 1 to %d bytes of UTF-8", what, max)
	}
	return checkText(what, s, max)
}

// RevokeTokens revokes service tokens as r says (an admin's decision), and
// returns the revocation in force, which every service token is checked
// against from then on, also after a restart.
func (b *Bank) RevokeTokens(ctx context.Context, actor Actor, r TokenRevoked) (TokenRevocation, error) {
	if actor.Role != RoleAdmin {
		return TokenRevocation{}, errorf(CodeForbidden, "only an admin may revoke tokens")
	}
	// The present is the ledger's clock, taken before the sequencer so that
	// the command is plain data whose decision never depends on when it runs.
	if err := r.Validate(b.l.Now()); err != nil {
		return TokenRevocation{}, err
	}
	// A learner's tokens are revoked by the learner's reference, so that
	// the entry does not name them (erasure.go).
	cmd := revokeTokensCmd{Actor: actor, Revocation: r}
	if r.JTI == "" && r.Role == RoleLearner {
		if !ValidLearnerID(r.Subject) {
			return TokenRevocation{}, errorf(CodeInvalid, "sub %q is not a learner id, which a learner's tokens carry", r.Subject)
		}
		id := CanonicalLearnerID(r.Subject)
		res, err := b.doPrepared(ctx, func() (command, error) {
			var err error
			cmd.Learner, err = b.prepareOne(id)
			return cmd, err
		})
		if err != nil {
			ref := id
			if cmd.Learner != nil {
				ref = cmd.Learner.Ref
			}
			return TokenRevocation{}, nameLearner(err, ref, id)
		}
		rev := res.(TokenRevocation)
		b.revoked.add(rev.TokenRevoked) // durable now
		rev.Subject = id
		return rev, nil
	}
	res, err := b.do(ctx, cmd)
	if err != nil {
		return TokenRevocation{}, err
	}
	rev := res.(TokenRevocation)
	b.revoked.add(rev.TokenRevoked) // durable now
	return rev, nil
}

type revokeTokensCmd struct {
	Actor      Actor
	Revocation TokenRevoked
	// Learner is the learner whose tokens a revocation of role learner
	// names, as a durable read found them: the entry names their reference.
	Learner *learnerPrep
}

func (c revokeTokensCmd) decide(t *tx) (any, error) {
	r := c.Revocation
	if c.Actor.Role != RoleAdmin {
		return nil, errorf(CodeForbidden, "only an admin may revoke tokens")
	}
	if c.Learner != nil {
		learner, err := t.learner(c.Learner)
		if err != nil {
			return nil, err
		}
		t.keepLearner(c.Learner, learner)
		r.Subject = learner.ref
	}
	key := jtiRevocationKey(r.JTI)
	if r.JTI == "" {
		key = subRevocationKey(r.Role, r.Subject)
		if r.IssuedBefore > t.recordedAtText() { // one layout: text order is time order
			return nil, errorf(CodeInvalid, "issued_before %s is after the present (%s): only tokens already issued can be revoked", r.IssuedBefore, t.recordedAtText())
		}
	}
	prev, err := getJSON[TokenRevocation](t, key)
	if err != nil {
		return nil, err
	}
	switch {
	case prev != nil && r.JTI != "":
		return nil, errorf(CodeConflict, "token %q was already revoked by entry %d", r.JTI, prev.Seq)
	case prev != nil && prev.IssuedBefore >= r.IssuedBefore:
		return nil, errorf(CodeConflict, "the tokens of %q issued before %s were already revoked by entry %d", r.Subject, prev.IssuedBefore, prev.Seq)
	}
	if _, err := t.emit(TypeTokenRevoked, c.Actor, r, nil, nil); err != nil {
		return nil, err
	}
	rev, err := getJSON[TokenRevocation](t, key)
	if err != nil {
		return nil, err
	}
	return *rev, nil
}

// applyTokenRevocation applies a token.revoked entry: the revocation is
// kept under its key, a later one of a sub replacing the earlier.
func applyTokenRevocation(s store, e ledger.Entry) error {
	var r TokenRevoked
	if err := json.Unmarshal(e.Content, &r); err != nil {
		return err
	}
	key := jtiRevocationKey(r.JTI)
	if r.JTI == "" {
		key = subRevocationKey(r.Role, r.Subject)
	}
	return putJSON(s, key, TokenRevocation{TokenRevoked: r, Seq: e.Seq, RecordedAt: e.RecordedAt.UTC().Format(ledger.TimeLayout), Actor: e.Actor})
}

// ServiceToken is what of a verified service token a revocation names.
type ServiceToken struct {
	Role    Role
	Subject string
	JTI     string
	// IssuedAt is the token's iat; zero when it has none.
	IssuedAt time.Time
}

// TokenIsRevoked reports whether tok is revoked. It is a map lookup, and
// for a learner's token, while some learner's tokens are revoked, a read
// of the learner's reference, which their revocation names; it fails only
// when the revocations could not be read from the store at New and still
// cannot be, or the store cannot be read.
func (b *Bank) TokenIsRevoked(tok ServiceToken) (bool, error) {
	set := b.revoked.set.Load()
	if set == nil {
		if err := b.revoked.load(b); err != nil {
			return false, err
		}
		set = b.revoked.set.Load()
	}
	if set.revokes(tok) {
		return true, nil
	}
	if tok.Role != RoleLearner || !set.learners || !ValidLearnerID(tok.Subject) {
		return false, nil
	}
	ref, err := b.LearnerRef(tok.Subject)
	if CodeOf(err) == CodeErased {
		return false, nil // nothing of the learner can be read or written
	}
	if err != nil || ref == "" || ref == CanonicalLearnerID(tok.Subject) {
		return false, err
	}
	tok.Subject = ref
	return set.revokes(tok), nil
}

// tokenRevocations are the revocations in force, as an immutable set
// replaced whole on each change: revocations are an admin's rare
// decisions, checks are every request's, so a check takes no lock.
type tokenRevocations struct {
	mu  sync.Mutex // serializes load and add
	set atomic.Pointer[revocationSet]
}

// revocationSet maps each revoked jti, and each revoked (sub, role) to the
// time before which its tokens were issued (role "" for every role; sub
// folded by foldSubject).
type revocationSet struct {
	jtis map[string]struct{}
	subs map[subjectRole]time.Time
	// learners is set when some revocation names a learner's reference.
	learners bool
}

type subjectRole struct {
	sub  string
	role Role
}

// revokes reports whether the set revokes tok. A token without iat of a
// revoked sub is refused: it could have been issued at any time.
func (s *revocationSet) revokes(tok ServiceToken) bool {
	if len(s.jtis) == 0 && len(s.subs) == 0 {
		return false
	}
	if _, ok := s.jtis[tok.JTI]; ok && tok.JTI != "" {
		return true
	}
	sub := foldSubject(tok.Subject)
	for _, role := range [2]Role{"", tok.Role} {
		if before, ok := s.subs[subjectRole{sub, role}]; ok && (tok.IssuedAt.IsZero() || tok.IssuedAt.Before(before)) {
			return true
		}
	}
	return false
}

// load reads the revocations in force from the durable state, once.
func (v *tokenRevocations) load(b *Bank) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.set.Load() != nil {
		return nil
	}
	set := &revocationSet{jtis: map[string]struct{}{}, subs: map[subjectRole]time.Time{}}
	err := b.read(func(_ *ledger.Reader, s store) error {
		var keys []string
		if err := s.scan(tokenRevocationPrefix, func(k string) bool { keys = append(keys, k); return true }); err != nil {
			return err
		}
		for _, k := range keys {
			rev, err := getJSON[TokenRevocation](s, k)
			if err != nil {
				return err
			}
			if err := set.add(rev.TokenRevoked); err != nil {
				return fmt.Errorf("state %s: %w", k, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load token revocations: %w", err)
	}
	v.set.Store(set)
	return nil
}

// add puts a committed revocation in force. Before the set is loaded it
// does nothing: the load reads the revocation from the state.
func (v *tokenRevocations) add(r TokenRevoked) {
	v.mu.Lock()
	defer v.mu.Unlock()
	old := v.set.Load()
	if old == nil {
		return
	}
	set := &revocationSet{jtis: make(map[string]struct{}, len(old.jtis)+1), subs: make(map[subjectRole]time.Time, len(old.subs)+1),
		learners: old.learners}
	for k := range old.jtis {
		set.jtis[k] = struct{}{}
	}
	for k, t := range old.subs {
		set.subs[k] = t
	}
	_ = set.add(r) // formed by Validate and stored by the command just committed
	v.set.Store(set)
}

// add adds r to a set not yet published.
func (s *revocationSet) add(r TokenRevoked) error {
	if r.JTI != "" {
		s.jtis[r.JTI] = struct{}{}
		return nil
	}
	before, err := time.Parse(ledger.TimeLayout, r.IssuedBefore)
	if err != nil {
		return err
	}
	k := subjectRole{foldSubject(r.Subject), r.Role}
	if r.Role == RoleLearner && vault.IsRef(r.Subject) {
		s.learners = true
	}
	if prev, ok := s.subs[k]; !ok || before.After(prev) {
		s.subs[k] = before
	}
	return nil
}
