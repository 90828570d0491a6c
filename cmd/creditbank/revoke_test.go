package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTokenRevoke drives `creditbank token --revoke-jti` and `--revoke-sub`
// as an operator would, against a real server on loopback: the revoked
// tokens are refused (401, reason revoked) on their next request, the
// others keep working, a repeat fails with one line naming the server's
// answer, and a misuse of the flags is one line and exit status 1.
func TestTokenRevoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the binary")
	}
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	url := startServer(t, bin, data)

	issue := func(role, sub string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := run([]string{"token", "--data", data, "--role", role, "--sub", sub}, &stdout, &stderr); err != nil {
			t.Fatalf("token: %v %s", err, stderr.String())
		}
		return strings.TrimSpace(stdout.String())
	}
	status := func(tok string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url+"/v1/institutions", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p struct{ Detail string }
		_ = json.NewDecoder(resp.Body).Decode(&p)
		return resp.StatusCode, p.Detail
	}
	cli := func(args ...string) (string, string, error) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"token", "--data", data}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	jtiOf := func(tok string) string {
		t.Helper()
		payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
		if err != nil {
			t.Fatal(err)
		}
		var c struct{ JTI string }
		if err := json.Unmarshal(payload, &c); err != nil || c.JTI == "" {
			t.Fatalf("token without jti: %s", payload)
		}
		return c.JTI
	}

	leaked, sibling := issue("regulator", "moe"), issue("regulator", "moe")
	learner, other := issue("learner", "L1"), issue("learner", "L2")
	for _, tok := range []string{leaked, sibling, learner, other} {
		if code, detail := status(tok); code != 200 {
			t.Fatalf("before revocation: %d %s", code, detail)
		}
	}

	out, errOut, err := cli("--url", url, "--revoke-jti", jtiOf(leaked), "--reason", "pasted in a chat", "--sub", "alice")
	if err != nil {
		t.Fatalf("--revoke-jti: %v\n%s", err, errOut)
	}
	var rev struct {
		Seq   *uint64 `json:"seq"`
		Actor string  `json:"actor"`
	}
	if err := json.Unmarshal([]byte(out), &rev); err != nil || rev.Seq == nil || rev.Actor != "admin:alice" {
		t.Fatalf("--revoke-jti printed %q", out)
	}
	if _, errOut, err := cli("--url", url, "--revoke-sub", "L1", "--revoke-role", "learner", "--reason", "phone stolen"); err != nil {
		t.Fatalf("--revoke-sub: %v\n%s", err, errOut)
	}
	for _, tc := range []struct {
		name    string
		tok     string
		revoked bool
	}{
		{"the revoked jti", leaked, true},
		{"the same sub's other token", sibling, false},
		{"the revoked sub's token", learner, true},
		{"another learner", other, false},
	} {
		code, detail := status(tc.tok)
		if tc.revoked != (code == 401 && detail == "token refused: revoked") || (!tc.revoked && code != 200) {
			t.Errorf("%s: %d %q", tc.name, code, detail)
		}
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a repeat", []string{"--url", url, "--revoke-jti", jtiOf(leaked), "--reason", "again"}, "409"},
		{"no url", []string{"--revoke-jti", "x", "--reason", "r"}, "--url"},
		{"no reason", []string{"--url", url, "--revoke-jti", "x"}, "--reason"},
		{"both", []string{"--url", url, "--revoke-jti", "x", "--revoke-sub", "y", "--reason", "r"}, "not both"},
		{"a role with a jti", []string{"--url", url, "--revoke-jti", "x", "--revoke-role", "learner", "--reason", "r"}, "--revoke-sub"},
		{"a time in the future", []string{"--url", url, "--revoke-sub", "L2", "--issued-before", "2999-01-01T00:00:00Z", "--reason", "r"}, "422"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, err := cli(tc.args...)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("%v, stderr %q; want exit 1 and one line naming %q", err, errOut, tc.want)
			}
		})
	}
	if code, _ := status(other); code != 200 {
		t.Fatal("a refused revocation revoked a token")
	}
}
