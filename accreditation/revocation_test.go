package accreditation

import (
	"context"
	"testing"
	"time"
)

// TestRevokeTokensRefusals: a revocation of the wrong form, or by anyone
// but an admin, is refused with its code and writes nothing.
func TestRevokeTokensRefusals(t *testing.T) {
	b := newTestBank(t)
	ctx := context.Background()
	future := "2026-07-17T00:00:00Z" // the test clock is at 2026-07-15
	for _, tc := range []struct {
		name  string
		actor Actor
		in    TokenRevoked
		code  Code
	}{
		{"regulator", regulator, TokenRevoked{JTI: "j1", Reason: "leaked"}, CodeForbidden},
		{"learner", Actor{Role: RoleLearner, ID: "L1"}, TokenRevoked{Subject: "L1", Reason: "mine"}, CodeForbidden},
		{"institution", Actor{Role: RoleInstitution, ID: "uni"}, TokenRevoked{JTI: "j1", Reason: "leaked"}, CodeForbidden},
		{"neither jti nor sub", admin, TokenRevoked{Reason: "leaked"}, CodeInvalid},
		{"both jti and sub", admin, TokenRevoked{JTI: "j1", Subject: "L1", Reason: "leaked"}, CodeInvalid},
		{"jti with a role", admin, TokenRevoked{JTI: "j1", Role: RoleLearner, Reason: "leaked"}, CodeInvalid},
		{"jti with issued_before", admin, TokenRevoked{JTI: "j1", IssuedBefore: "2026-01-01T00:00:00Z", Reason: "leaked"}, CodeInvalid},
		{"no reason", admin, TokenRevoked{JTI: "j1"}, CodeInvalid},
		{"control character in reason", admin, TokenRevoked{JTI: "j1", Reason: "a\nb"}, CodeInvalid},
		{"jti too long", admin, TokenRevoked{JTI: string(make([]byte, 129)), Reason: "x"}, CodeInvalid},
		{"jti with a control character", admin, TokenRevoked{JTI: "a\x00b", Reason: "x"}, CodeInvalid},
		{"sub too long", admin, TokenRevoked{Subject: string(make([]byte, 65)), Reason: "x"}, CodeInvalid},
		{"institution role", admin, TokenRevoked{Subject: "uni", Role: RoleInstitution, Reason: "x"}, CodeInvalid},
		{"unknown role", admin, TokenRevoked{Subject: "L1", Role: "root", Reason: "x"}, CodeInvalid},
		{"issued_before not a time", admin, TokenRevoked{Subject: "L1", IssuedBefore: "yesterday", Reason: "x"}, CodeInvalid},
		{"issued_before in the future", admin, TokenRevoked{Subject: "L1", IssuedBefore: future, Reason: "x"}, CodeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := b.Ledger().Size()
			_, err := b.RevokeTokens(ctx, tc.actor, tc.in)
			if CodeOf(err) != tc.code {
				t.Fatalf("RevokeTokens: %v, want %s", err, tc.code)
			}
			if after := b.Ledger().Size(); after != before {
				t.Fatalf("a refused revocation wrote %d entries", after-before)
			}
		})
	}
}

// TestRevokeTokens: what each revocation refuses and what it lets through,
// the conflicts of a repeat, and that the revocations are in force again
// when the store is closed and opened anew, read from the state.
func TestRevokeTokens(t *testing.T) {
	tb := newTestBank(t)
	b, l := tb.Bank, tb.Ledger()
	ctx := context.Background()
	noon := time.Date(2026, 7, 15, 12, 0, 0, 0, time.UTC)
	tokens := []struct {
		name    string
		tok     ServiceToken
		revoked bool
	}{
		{"the revoked jti", ServiceToken{Role: RoleAdmin, Subject: "root", JTI: "leaked-1", IssuedAt: noon}, true},
		{"another jti of the same sub", ServiceToken{Role: RoleAdmin, Subject: "root", JTI: "other", IssuedAt: noon}, false},
		{"learner issued before", ServiceToken{Role: RoleLearner, Subject: "L1", JTI: "a", IssuedAt: noon.Add(-2 * time.Hour)}, true},
		{"learner issued after", ServiceToken{Role: RoleLearner, Subject: "L1", JTI: "b", IssuedAt: noon.Add(-30 * time.Minute)}, false},
		{"learner without iat", ServiceToken{Role: RoleLearner, Subject: "L1", JTI: "c"}, true},
		{"same sub as a regulator, issued before", ServiceToken{Role: RoleRegulator, Subject: "L1", JTI: "d", IssuedAt: noon.Add(-2 * time.Hour)}, true},
		{"a regulator's sub revoked as admin only", ServiceToken{Role: RoleRegulator, Subject: "moe", JTI: "e", IssuedAt: noon.Add(-2 * time.Hour)}, false},
		{"admin moe issued before", ServiceToken{Role: RoleAdmin, Subject: "moe", JTI: "f", IssuedAt: noon.Add(-2 * time.Hour)}, true},
		{"another sub", ServiceToken{Role: RoleLearner, Subject: "L2", JTI: "g", IssuedAt: noon.Add(-2 * time.Hour)}, false},
		{"the revoked learner in lower case", ServiceToken{Role: RoleLearner, Subject: "l1", JTI: "i", IssuedAt: noon.Add(-2 * time.Hour)}, true},
	}
	check := func(t *testing.T, b *Bank) {
		t.Helper()
		for _, tc := range tokens {
			if got, err := b.TokenIsRevoked(tc.tok); err != nil || got != tc.revoked {
				t.Errorf("%s: revoked %v, %v; want %v", tc.name, got, err, tc.revoked)
			}
		}
	}
	for _, tc := range tokens {
		if got, err := b.TokenIsRevoked(tc.tok); err != nil || got {
			t.Fatalf("%s revoked before any revocation: %v %v", tc.name, got, err)
		}
	}
	hourAgo := noon.Add(-time.Hour).Format(time.RFC3339)
	for _, r := range []TokenRevoked{
		{JTI: "leaked-1", Reason: "pasted in a chat"},
		{Subject: "L1", IssuedBefore: hourAgo, Reason: "phone stolen"},
		{Subject: "moe", Role: RoleAdmin, IssuedBefore: hourAgo, Reason: "left the ministry"},
	} {
		rev, err := b.RevokeTokens(ctx, admin, r)
		if err != nil {
			t.Fatalf("revoke %+v: %v", r, err)
		}
		if rev.Actor != "admin:root" || rev.Reason != r.Reason || rev.RecordedAt == "" {
			t.Fatalf("revocation answered %+v", rev)
		}
	}
	check(t, b)

	// A repeat is a conflict; a sub's revocation may only move later.
	for _, r := range []TokenRevoked{
		{JTI: "leaked-1", Reason: "again"},
		{Subject: "l1", IssuedBefore: hourAgo, Reason: "again, in another case"},
		{Subject: "L1", IssuedBefore: noon.Add(-3 * time.Hour).Format(time.RFC3339), Reason: "earlier"},
	} {
		size := l.Size()
		if _, err := b.RevokeTokens(ctx, admin, r); CodeOf(err) != CodeConflict || l.Size() != size {
			t.Fatalf("repeat %+v: %v, %d entries written", r, err, l.Size()-size)
		}
	}
	tb.checkReplay(t)

	tb = tb.reopen(t)
	b = tb.Bank
	check(t, b)

	// A later revocation of the sub moves its time, and defaults to now.
	if _, err := b.RevokeTokens(ctx, admin, TokenRevoked{Subject: "L1", Reason: "still stolen"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.TokenIsRevoked(ServiceToken{Role: RoleLearner, Subject: "L1", JTI: "b", IssuedAt: noon.Add(-30 * time.Minute)}); !got {
		t.Fatal("a token issued before the second revocation of its sub is not revoked")
	}
	if got, _ := b.TokenIsRevoked(ServiceToken{Role: RoleLearner, Subject: "L1", JTI: "h", IssuedAt: noon.Add(time.Hour)}); got {
		t.Fatal("a token issued after the revocation is revoked")
	}
}
