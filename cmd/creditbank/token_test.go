package main

import (
	"bytes"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"creditbank/accreditation"
	"creditbank/api"
)

// TestTokenTTL: `creditbank token --ttl` refuses a lifetime the server
// would refuse by default (an hour for admins, a day for regulators and
// learners) with one line naming the flag, and what it prints within the
// bound is a token the server's default authenticator accepts.
func TestTokenTTL(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	key, err := api.LoadOrCreateTokenKey(filepath.Join(data, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := key.Public()
	auth := api.NewAuthenticator("creditbank", []api.Issuer{{Name: "creditbank", Keys: map[string]accreditation.PublicJWK{pub.Kid: pub}}}, nil, nil)

	for _, tc := range []struct {
		role, ttl string
		ok        bool
	}{
		{"admin", "1h", true},
		{"admin", "61m", false},
		{"admin", "24h", false},
		{"regulator", "24h", true},
		{"regulator", "25h", false},
		{"learner", "24h", true},
		{"learner", "24h1s", false},
		{"learner", "8760h", false},
		{"admin", "0s", false},
		{"regulator", "-1h", false},
	} {
		t.Run(tc.role+" "+tc.ttl, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run([]string{"token", "--data", data, "--role", tc.role, "--sub", "root", "--ttl", tc.ttl}, &stdout, &stderr)
			if !tc.ok {
				if err == nil || !strings.Contains(err.Error(), "--ttl") || strings.Contains(err.Error(), "\n") {
					t.Fatalf("token --ttl %s: %v, want one line naming --ttl", tc.ttl, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("token: %v\n%s", err, stderr.String())
			}
			req := httptest.NewRequest("GET", "/v1/statistics", nil)
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(stdout.String()))
			if actor, err := auth.Authenticate(req); err != nil || string(actor.Role) != tc.role {
				t.Fatalf("the server's default authenticator: %+v, %v", actor, err)
			}
		})
	}
}
