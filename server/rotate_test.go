package server

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"creditbank/accreditation"
	"creditbank/vault"
)

// TestRotateKEK: the key-encryption key rotates through a running server's
// admin socket and, with the server stopped, by opening the store; each
// time the key file keeps the new KEK only, and what the learner wrote
// reads on after a restart.
func TestRotateKEK(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t)
	s, learner := startWithGrant(t, cfg, "ROT1")
	keyDir := filepath.Join(cfg.Data, "keys")
	res, err := RotateKEK(ctx, cfg.Data, cfg.Origin)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Online || res.To != 2 || !slices.Equal(res.From, []uint32{1}) || res.Rewrapped != 1 {
		t.Fatalf("online rotation: %+v", res)
	}
	vk, err := vault.Load(keyDir)
	if err != nil || !slices.Equal(vk.KEKs(), []uint32{2}) {
		t.Fatalf("key file after the online rotation: %v %v", vk, err)
	}
	if status, body := get(t, s.URL()+"/v1/learners/ROT1/grants", learner); status != http.StatusOK || !strings.Contains(body, "college-0.example") {
		t.Fatalf("grants after the rotation: %d %s", status, body)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	res, err = RotateKEK(ctx, cfg.Data, cfg.Origin)
	if err != nil {
		t.Fatal(err)
	}
	if res.Online || res.To != 3 || res.Rewrapped != 1 {
		t.Fatalf("offline rotation: %+v", res)
	}
	s = startServer(t, cfg)
	learner, err = s.IssueToken(accreditation.RoleLearner, "ROT1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if status, body := get(t, s.URL()+"/v1/learners/ROT1/grants", learner); status != http.StatusOK || !strings.Contains(body, "college-0.example") {
		t.Fatalf("grants after a restart: %d %s", status, body)
	}
}

// startWithGrant starts a server on cfg (stopped by the test or by Close)
// with one institution, college-0.example, and learner's grant to it: the
// learner has a key in the vault. It returns the learner's token.
func startWithGrant(t *testing.T, cfg Config, learner string) (*Server, string) {
	t.Helper()
	s, err := Start(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	register(t, s, 1)
	tok, err := s.IssueToken(accreditation.RoleLearner, learner, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	grant := `{"institution":"college-0.example","purpose":"admission","expires_on":"` + time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly) + `"}`
	if status, body := send(t, "POST", s.URL()+"/v1/learners/"+learner+"/grants", tok, grant); status != http.StatusCreated {
		t.Fatalf("grant: %d %s", status, body)
	}
	return s, tok
}

// send makes a request with a JSON body and token, and returns the status
// and the body.
func send(t testing.TB, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = io.Copy(&b, resp.Body)
	return resp.StatusCode, b.String()
}

// TestMissingKeyFile: a server whose store holds learners' wrapped keys
// refuses to start without the key file that opens them, rather than make
// a new one that opens none.
func TestMissingKeyFile(t *testing.T) {
	cfg := testConfig(t)
	s, _ := startWithGrant(t, cfg, "KEYLESS1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(cfg.Data, "keys", vault.FileName)); err != nil {
		t.Fatal(err)
	}
	if s, err := Start(cfg, nil); err == nil || !strings.Contains(err.Error(), "restore") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("started without its key file: %v", err)
	}
}

// TestRotateIndexKey: the index key rotates only with the server stopped,
// and the learner reads on after a restart.
func TestRotateIndexKey(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t)
	s, _ := startWithGrant(t, cfg, "IDX1")
	if _, err := RotateIndexKey(ctx, cfg.Data, cfg.Origin); err == nil || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("rotated the index key of a running server: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := vault.Load(filepath.Join(cfg.Data, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	rot, err := RotateIndexKey(ctx, cfg.Data, cfg.Origin)
	if err != nil || rot.Learners != 1 {
		t.Fatalf("rotation %+v %v", rot, err)
	}
	after, err := vault.Load(filepath.Join(cfg.Data, "keys"))
	if err != nil || after.IndexHash("IDX1") == before.IndexHash("IDX1") {
		t.Fatalf("the index key did not change: %v", err)
	}
	s = startServer(t, cfg)
	learner, err := s.IssueToken(accreditation.RoleLearner, "IDX1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if status, body := get(t, s.URL()+"/v1/learners/IDX1/grants", learner); status != http.StatusOK || !strings.Contains(body, "college-0.example") {
		t.Fatalf("grants after the rotation: %d %s", status, body)
	}
}
