package api

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// clientFrom is a client whose connections come from the loopback
// address local (127.0.0.2, say), so that a test can be two clients the
// per-address limits tell apart.
func clientFrom(local string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// TestForgedTokensDoNotDrainIssuer: anyone can read an institution's kid
// from its public record and send tokens in its name signed with another
// key. Before, each took one of the institution's verifications, so a
// client that never held its key kept its real new tokens out (429). Now
// a refused token gives the verification back and is charged to the
// address it came from, which is refused (429) once over its budget,
// while the institution, from another address, mints new tokens as
// before.
func TestForgedTokensDoNotDrainIssuer(t *testing.T) {
	s := newTestServer(t)
	victim := s.institution(t, "victim.example")
	const issuerBurst, refusedBurst = 5, 8
	front := newLimitedServer(t, s, AuthConfig{
		VerifyRate:       RateLimit{Rate: 0.001, Burst: issuerBurst},
		RefusedTokenRate: RateLimit{Rate: 0.001, Burst: refusedBurst},
	})
	forger := mustKey(t, "EdDSA")
	attacker := clientFrom("127.0.0.2")
	statuses := map[int]int{}
	for range 3 * refusedBurst {
		claims := instClaims("victim.example", func(c jwt.MapClaims) { c["jti"] = strconv.FormatInt(nextID(), 10) })
		forged := signJWT(t, forger.signingMethod(), forger.Signer, victim.Kid, claims, nil)
		req, err := http.NewRequestWithContext(context.Background(), "GET", front.URL+"/v1/institutions/victim.example", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+forged)
		resp, err := attacker.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		statuses[resp.StatusCode]++
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	if statuses[401] != refusedBurst || statuses[429] != 2*refusedBurst {
		t.Fatalf("forged tokens from one address answered %v, want %d × 401 then 429", statuses, refusedBurst)
	}
	for i := range issuerBurst {
		tok := freshInstToken(t, victim, "victim.example")
		if resp, body := front.do(t, "POST", "/v1/outcomes", tok, outcomeFor("L"+strconv.Itoa(i+1))); resp.StatusCode != 201 {
			t.Fatalf("the institution's own new token %d after the forgeries: %d %s", i, resp.StatusCode, body)
		}
	}
}

// TestExpiredTokensCostTheirSenderNothing: a client that retries an
// expired token is refused (401 expired) before the signature is checked,
// so it is not charged as a sender of refused tokens: before, every retry
// after the first cost a signature check and the address's budget, and a
// few scripts behind one NAT could lock everyone there out of new tokens.
// A badly signed token is still charged.
func TestExpiredTokensCostTheirSenderNothing(t *testing.T) {
	s := newTestServer(t)
	k := s.institution(t, "nat.example")
	const refusedBurst = 3
	front := newLimitedServer(t, s, AuthConfig{RefusedTokenRate: RateLimit{Rate: 0.001, Burst: refusedBurst}})
	expired := signJWT(t, k.signingMethod(), k.Signer, k.Kid, instClaims("nat.example", func(c jwt.MapClaims) {
		c["iat"], c["exp"] = time.Now().Add(-20*time.Minute).Unix(), time.Now().Add(-11*time.Minute).Unix()
	}), nil)
	for i := range 3 * refusedBurst {
		resp, body := front.do(t, "GET", "/v1/institutions/nat.example", expired, nil)
		if p := problemOf(t, body); resp.StatusCode != 401 || !strings.Contains(p.Detail, "expired") {
			t.Fatalf("expired token, try %d: %d %s, want 401 expired", i, resp.StatusCode, body)
		}
	}
	if resp, body := front.do(t, "GET", "/v1/institutions/nat.example", freshInstToken(t, k, "nat.example"), nil); resp.StatusCode != 200 {
		t.Fatalf("a new token from the same address after the retries: %d %s", resp.StatusCode, body)
	}
	forger := mustKey(t, "EdDSA")
	statuses := map[int]int{}
	for range 2 * refusedBurst {
		forged := signJWT(t, forger.signingMethod(), forger.Signer, k.Kid, instClaims("nat.example", nil), nil)
		resp, _ := front.do(t, "GET", "/v1/institutions/nat.example", forged, nil)
		statuses[resp.StatusCode]++
	}
	if statuses[401] != refusedBurst || statuses[429] != refusedBurst {
		t.Fatalf("badly signed tokens answered %v, want %d × 401 then 429", statuses, refusedBurst)
	}
}
