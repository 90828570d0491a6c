package server

import (
	"bytes"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"creditbank/accreditation"
	"creditbank/api"
)

// TestErasureLeavesNothingInTheDataFolder runs the service as it is run:
// an institution posts outcomes for two learners over HTTP, an institution
// reads one under the learner's grant (an access record), an admin erases
// that learner; then, with the server stopped, no file anywhere in the data
// folder (store, write-ahead logs, keys, access log) holds the erased
// learner's id, unit titles, score or evidence hash, while the other
// learner reads as before after a restart.
func TestErasureLeavesNothingInTheDataFolder(t *testing.T) {
	cfg := testConfig(t)
	s, err := Start(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := s.IssueToken(accreditation.RoleAdmin, "root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, jwk := newKey(t, "EdDSA")
	reg := `{"id":"college.example","name":"College","kind":"vocational_college","keys":[` + string(jwk) + `]}`
	mustStatus(t, http.StatusCreated)(send(t, "POST", s.URL()+"/v1/institutions", admin, reg))
	mustStatus(t, http.StatusCreated)(send(t, "POST", s.URL()+"/v1/institutions/college.example/accreditations", admin,
		`{"sectors":["vocational"],"max_level":5,"valid_from":"2000-01-01","valid_until":"2099-12-31"}`))
	inst, err := api.SignInstitutionToken(key, "college.example", cfg.Audience, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	const (
		erased   = "WIPED7Q3"
		kept     = "STAYS4W9"
		title    = "Welding Practice Zq7Xw"
		evidence = "5e3b0c6a9b5d7f92a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f1"
	)
	item := func(learner, key, title string) string {
		return `{"idempotency_key":"` + key + `","learner":"` + learner + `","unit":{"code":"W-` + key + `","title":"` + title +
			`"},"sector":"vocational","level":4,"field":"0715","credits":{"amount":"3","system":"cn-credit"},"result":{"passed":true,"score":"97.13"},` +
			`"completed_on":"2026-06-30","evidence_sha256":"` + evidence + `"}`
	}
	body := `{"outcomes":[` + item(erased, "e1", title) + `,` + item(erased, "e2", title+" II") + `,` + item(kept, "k1", "Kept Title") + `]}`
	mustStatus(t, http.StatusOK)(send(t, "POST", s.URL()+"/v1/outcomes", inst, body))
	learner, err := s.IssueToken(accreditation.RoleLearner, erased, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	grant := `{"institution":"college.example","purpose":"admission","expires_on":"` + time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly) + `"}`
	mustStatus(t, http.StatusCreated)(send(t, "POST", s.URL()+"/v1/learners/"+erased+"/grants", learner, grant))
	if status, got := get(t, s.URL()+"/v1/learners/"+erased+"/transcript", inst); status != http.StatusOK || !strings.Contains(got, title) {
		t.Fatalf("transcript under the grant: %d %s", status, got)
	}
	s.AccessLog().Flush()
	mustStatus(t, http.StatusOK)(send(t, "POST", s.URL()+"/v1/learners/"+erased+"/erasure", admin, `{"reason":"the learner's request"}`))
	if status, _ := get(t, s.URL()+"/v1/learners/"+erased+"/transcript", admin); status != http.StatusGone {
		t.Fatalf("transcript after erasure: %d", status)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{erased, title, "97.13", evidence} {
		err := filepath.WalkDir(cfg.Data, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Type()&fs.ModeSocket != 0 {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds %q after the erasure", path, secret)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	s = startServer(t, cfg)
	admin, err = s.IssueToken(accreditation.RoleAdmin, "root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if status, got := get(t, s.URL()+"/v1/learners/"+kept+"/transcript", admin); status != http.StatusOK || !strings.Contains(got, "Kept Title") {
		t.Fatalf("the other learner after a restart: %d %s", status, got)
	}
	if status, _ := get(t, s.URL()+"/v1/learners/"+erased+"/balance", admin); status != http.StatusGone {
		t.Fatalf("balance of the erased learner after a restart: %d", status)
	}
}

// mustStatus fails the test unless a request answered want.
func mustStatus(t *testing.T, want int) func(int, string) {
	return func(status int, body string) {
		t.Helper()
		if status != want {
			t.Fatalf("status %d, want %d: %s", status, want, body)
		}
	}
}
