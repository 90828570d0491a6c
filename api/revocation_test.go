package api

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"creditbank/accreditation"
	"creditbank/ledger"
	"creditbank/vault"
)

// reopenableServer is the API over a ledger in dir that the test closes
// and opens again, with the same checkpoint and token keys each time.
type reopenableServer struct {
	dir      string
	keys     ledger.Keys
	vault    *vault.Keys
	tokenKey PrivateKey
	*testServer
}

func newReopenableServer(t *testing.T) *reopenableServer {
	t.Helper()
	keys, _, err := ledger.GenerateKeys(ledger.DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	rs := &reopenableServer{dir: t.TempDir(), keys: keys, vault: testVaultKeys(t), tokenKey: mustKey(t, "EdDSA")}
	rs.open(t)
	return rs
}

// open opens the ledger and serves the API over it.
func (rs *reopenableServer) open(t *testing.T) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := ledger.Open(ledger.Options{Dir: rs.dir, Keys: rs.keys, Logger: log, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := rs.tokenKey.Public()
	bank := newBank(t, l, rs.vault)
	auth := NewAuthenticator(testAudience, []Issuer{{Name: "creditbank", Keys: map[string]accreditation.PublicJWK{pub.Kid: pub}}}, bank, nil)
	h := New(Config{Bank: bank, Auth: auth, Log: log})
	srv := httptest.NewServer(h)
	rs.testServer = &testServer{Server: srv, ledger: l, bank: bank, auth: auth, tokenKey: rs.tokenKey, handler: h}
	t.Cleanup(func() { srv.Close(); l.Close() })
}

// restart stops the server and closes the store, then opens both again.
func (rs *reopenableServer) restart(t *testing.T) {
	t.Helper()
	rs.Close()
	if err := rs.ledger.Close(); err != nil {
		t.Fatal(err)
	}
	rs.open(t)
}

// serviceToken signs a service token of role for sub, issued at iat, with
// the jti given.
func (s *testServer) serviceToken(t testing.TB, role, sub, jti string, iat time.Time) string {
	t.Helper()
	return signJWT(t, s.tokenKey.signingMethod(), s.tokenKey.Signer, s.tokenKey.Kid, svcClaims(func(c jwt.MapClaims) {
		c["role"], c["sub"], c["jti"], c["iat"] = role, sub, jti, iat.Unix()
	}), nil)
}

// TestTokenRevocationOverHTTP: an admin revokes a service token by its jti,
// or a sub's tokens issued before a time; the revoked token, cached or not,
// is refused (401, reason revoked) on the very next request, also after
// the store is closed and opened again, while the sub's other tokens, its
// newer ones and everyone else's keep working. Only an admin may revoke;
// a bad body writes nothing.
func TestTokenRevocationOverHTTP(t *testing.T) {
	rs := newReopenableServer(t)
	now := time.Now()
	admin := rs.serviceToken(t, "admin", "root", "admin-1", now)
	leaked := rs.serviceToken(t, "regulator", "moe", "leaked-jti", now)
	sibling := rs.serviceToken(t, "regulator", "moe", "other-jti", now)
	oldLearner := rs.serviceToken(t, "learner", "L1", "l-old", now.Add(-time.Hour))
	otherLearner := rs.serviceToken(t, "learner", "L2", "l2", now.Add(-time.Hour))
	const read = "/v1/institutions"
	for name, tok := range map[string]string{"leaked": leaked, "sibling": sibling, "old learner": oldLearner, "other learner": otherLearner} {
		if resp, body := rs.do(t, "GET", read, tok, nil); resp.StatusCode != 200 { // cached from here on
			t.Fatalf("%s before revocation: %d %s", name, resp.StatusCode, body)
		}
	}

	for _, tc := range []struct {
		name    string
		token   string
		body    any
		status  int
		problem string
	}{
		{"regulator may not revoke", sibling, map[string]any{"jti": "leaked-jti", "reason": "x"}, 403, "forbidden"},
		{"learner may not revoke", oldLearner, map[string]any{"sub": "L1", "reason": "x"}, 403, "forbidden"},
		{"unknown member", admin, map[string]any{"jti": "leaked-jti", "reason": "x", "why": "y"}, 400, "bad-json"},
		{"neither jti nor sub", admin, map[string]any{"reason": "x"}, 422, "invalid"},
		{"jti and sub", admin, map[string]any{"jti": "a", "sub": "b", "reason": "x"}, 422, "invalid"},
		{"no reason", admin, map[string]any{"jti": "leaked-jti"}, 422, "invalid"},
		{"bad issued_before", admin, map[string]any{"sub": "L1", "issued_before": "yesterday", "reason": "x"}, 422, "invalid"},
		{"issued_before in the future", admin, map[string]any{"sub": "L1", "issued_before": now.Add(time.Hour).UTC().Format(time.RFC3339), "reason": "x"}, 422, "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := rs.ledger.Size()
			resp, body := rs.do(t, "POST", "/v1/token-revocations", tc.token, tc.body)
			if p := problemOf(t, body); resp.StatusCode != tc.status || p.Type != problemBase+tc.problem {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, body, tc.status, tc.problem)
			}
			if rs.ledger.Size() != before {
				t.Fatal("a refused revocation wrote an entry")
			}
		})
	}

	cut := now.Add(-time.Minute).UTC().Format(time.RFC3339)
	for _, body := range []map[string]any{
		{"jti": "leaked-jti", "reason": "pasted in a chat"},
		{"sub": "L1", "role": "learner", "issued_before": cut, "reason": "phone stolen"},
	} {
		if resp, out := rs.do(t, "POST", "/v1/token-revocations", admin, body); resp.StatusCode != 201 {
			t.Fatalf("revoke %v: %d %s", body, resp.StatusCode, out)
		}
	}
	if resp, body := rs.do(t, "POST", "/v1/token-revocations", admin, map[string]any{"jti": "leaked-jti", "reason": "again"}); resp.StatusCode != 409 {
		t.Fatalf("revoking a jti twice: %d %s, want 409", resp.StatusCode, body)
	}
	newLearner := rs.serviceToken(t, "learner", "L1", "l-new", now.Add(time.Second))
	check := func(when string) {
		t.Helper()
		for _, tc := range []struct {
			name    string
			token   string
			revoked bool
		}{
			{"the revoked jti", leaked, true},
			{"the same sub's other token", sibling, false},
			{"the learner's token issued before", oldLearner, true},
			{"the learner's token issued after", newLearner, false},
			{"another learner", otherLearner, false},
		} {
			before := rs.ledger.Size()
			resp, body := rs.do(t, "GET", read, tc.token, nil)
			switch {
			case tc.revoked && (resp.StatusCode != 401 || problemOf(t, body).Detail != "token refused: revoked"):
				t.Errorf("%s %s: %d %s, want 401 revoked", when, tc.name, resp.StatusCode, body)
			case !tc.revoked && resp.StatusCode != 200:
				t.Errorf("%s %s: %d %s, want 200", when, tc.name, resp.StatusCode, body)
			}
			if rs.ledger.Size() != before {
				t.Errorf("%s %s: a read wrote entries", when, tc.name)
			}
		}
	}
	check("at once:")
	rs.restart(t)
	check("after a restart:")
	// A revocation is a ledger entry an auditor reads, naming who decided.
	entry := rs.ledger.Size() - 1
	if resp, body := rs.do(t, "GET", "/v1/log/entries/"+strconv.FormatUint(entry, 10), admin, nil); resp.StatusCode != 200 ||
		!strings.Contains(string(body), `"type":"token.revoked"`) || !strings.Contains(string(body), `admin:root`) {
		t.Fatalf("the revocation entry: %d %s", resp.StatusCode, body)
	}
}
