package api

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"testing"

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
