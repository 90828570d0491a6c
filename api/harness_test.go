package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"creditbank/access"
	"creditbank/accreditation"
	"creditbank/credential"
	"creditbank/ledger"
	"creditbank/vault"
)

// testServer is the API over a fresh ledger in a temporary folder, served
// by a real net/http server on loopback, with a service token key.
type testServer struct {
	*httptest.Server
	ledger   *ledger.Ledger
	bank     *accreditation.Bank
	auth     *Authenticator
	metrics  *Metrics
	tokenKey PrivateKey
	handler  *Handler
	// access is the access log the handler records reads in.
	access *access.Log
	// issuer signs the credentials the handler issues.
	issuer *credential.Issuer
}

const testAudience = "creditbank"

func newTestServer(t testing.TB) *testServer {
	t.Helper()
	keys, _, err := ledger.GenerateKeys(ledger.DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	metrics := NewMetrics()
	l, err := ledger.Open(ledger.Options{Dir: t.TempDir(), Keys: keys, Logger: log, MinFreeBytes: -1, OnGroup: metrics.ObserveGroup})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	metrics.RegisterLedger(l)
	// Closed before the ledger (cleanups run last first), which closes the
	// store it writes to.
	acc, err := access.Open(l.Store(), access.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { acc.Close() })
	tk, err := GenerateKey("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := tk.Public()
	bank := newBank(t, l, testVaultKeys(t))
	auth := NewAuthenticator(testAudience, []Issuer{{Name: "creditbank", Keys: map[string]accreditation.PublicJWK{tk.Kid: pub}}}, bank, nil)
	ik, err := credential.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	issuer := &credential.Issuer{Key: ik, Name: "Test credit bank", Origin: l.Origin()}
	h := New(Config{Bank: bank, Auth: auth, Log: log, Metrics: metrics, Access: acc, Issuer: issuer})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	issuer.Base = srv.URL // the credentials' issuer id: where the test server answers
	return &testServer{Server: srv, ledger: l, bank: bank, auth: auth, metrics: metrics, tokenKey: tk, handler: h, access: acc, issuer: issuer}
}

// testVaultKeys returns fresh key-encryption and index keys, held in
// memory: a test that reopens a store keeps the same ones across the
// reopen, as the server keeps its data folder's key file.
func testVaultKeys(t testing.TB) *vault.Keys {
	t.Helper()
	keys, err := vault.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// newBank opens the bank over l with keys.
func newBank(t testing.TB, l *ledger.Ledger, keys *vault.Keys) *accreditation.Bank {
	t.Helper()
	bank, err := accreditation.New(l, keys)
	if err != nil {
		t.Fatal(err)
	}
	return bank
}

// token issues a service token.
func (s *testServer) token(t testing.TB, role, sub string) string {
	t.Helper()
	tok, err := IssueToken(s.tokenKey, "creditbank", testAudience, role, sub, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// do sends a request with an optional JSON body and bearer token and
// returns the status and body.
func (s *testServer) do(t testing.TB, method, path, token string, body any) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, ok := body.([]byte)
		if !ok {
			var err error
			if b, err = json.Marshal(body); err != nil {
				t.Fatal(err)
			}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return send(t, req)
}

// send sends req and returns the answer with its whole body.
func send(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	return sendWith(t, http.DefaultClient, req)
}

// sendWith is send through the client c.
func sendWith(t testing.TB, c *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, out
}

// institution registers an institution with a fresh key, accredits it for
// every sector, and returns its key.
func (s *testServer) institution(t testing.TB, id string) PrivateKey {
	t.Helper()
	k, err := GenerateKey("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := k.Public()
	adm := s.token(t, "admin", "root")
	if resp, body := s.do(t, "POST", "/v1/institutions", adm, map[string]any{"id": id, "name": "Inst " + id, "kind": "university", "keys": []any{pub}}); resp.StatusCode != 201 {
		t.Fatalf("register %s: %d %s", id, resp.StatusCode, body)
	}
	if resp, body := s.do(t, "POST", "/v1/institutions/"+id+"/accreditations", adm, map[string]any{
		"sectors": accreditation.Sectors(), "max_level": 10, "valid_from": "2000-01-01", "valid_until": "2099-12-31"}); resp.StatusCode != 201 {
		t.Fatalf("accredit %s: %d %s", id, resp.StatusCode, body)
	}
	return k
}

// instToken signs an institution token with k.
func instToken(t testing.TB, k PrivateKey, id string) string {
	t.Helper()
	tok, err := SignInstitutionToken(k, id, testAudience, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
