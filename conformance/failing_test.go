package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// The suite can fail: a sample of its cases runs against misbehaving
// servers, each a thin proxy in front of a real one that rewrites what the
// real one says, and every case of the sample must be reported failed. The
// same sample against an honest proxy passes, so the failures are the
// misbehaviour's.

// misbehaviour changes requests on their way in and answers on their way out.
type misbehaviour struct {
	request  func(r *http.Request)
	response func(resp *http.Response) error
}

func confProxy(t *testing.T, upstream string, m misbehaviour) string {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			if m.request != nil {
				m.request(pr.Out)
			}
		},
		ModifyResponse: m.response,
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL
}

// replaceBody sets resp's body (and its length).
func replaceBody(resp *http.Response, b []byte) {
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
}

// resignCheckpoint rewrites the checkpoint answer: change edits its text,
// signer signs it again.
func resignCheckpoint(t *testing.T, signer note.Signer, change func(text string) string) func(*http.Response) error {
	return func(resp *http.Response) error {
		if resp.Request.URL.Path != "/v1/log/checkpoint" || resp.StatusCode != http.StatusOK {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		text, _, ok := strings.Cut(string(b), "\n\n")
		if !ok {
			t.Errorf("checkpoint %q is not a note", b)
			replaceBody(resp, b)
			return nil
		}
		signed, err := note.Sign(&note.Note{Text: change(text + "\n")}, signer)
		if err != nil {
			return err
		}
		replaceBody(resp, signed)
		return nil
	}
}

func TestSuiteFails(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the server")
	}
	srv := startConfServer(t)
	skey, err := os.ReadFile(filepath.Join(srv.data, "keys", "ledger.key"))
	if err != nil {
		t.Fatal(err)
	}
	realSigner, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatal(err)
	}
	// A key of the same name that the server never published.
	forgedKey, _, err := note.GenerateKey(rand.Reader, realSigner.Name())
	if err != nil {
		t.Fatal(err)
	}
	forgedSigner, err := note.NewSigner(forgedKey)
	if err != nil {
		t.Fatal(err)
	}
	wrongRoot := func(text string) string {
		lines := strings.Split(text, "\n")
		h := sha256.Sum256([]byte("not the root"))
		lines[2] = base64.StdEncoding.EncodeToString(h[:])
		return strings.Join(lines, "\n")
	}

	tests := []struct {
		name   string
		bad    misbehaviour
		sample []string
	}{
		{
			name:   "checkpoint root is wrong",
			bad:    misbehaviour{response: resignCheckpoint(t, realSigner, wrongRoot)},
			sample: []string{"log/root-from-entries", "log/inclusion-proofs", "log/consistency-proof"},
		},
		{
			name:   "checkpoint signed with another key",
			bad:    misbehaviour{response: resignCheckpoint(t, forgedSigner, func(s string) string { return s })},
			sample: []string{"log/checkpoint-signature", "log/root-from-entries", "log/consistency-now"},
		},
		{
			name: "200 where 401 is due",
			bad: misbehaviour{response: func(resp *http.Response) error {
				if resp.StatusCode == http.StatusUnauthorized {
					resp.StatusCode, resp.Status = http.StatusOK, "200 OK"
					resp.Header.Set("Content-Type", "application/json")
					resp.Header.Del("WWW-Authenticate")
					replaceBody(resp, []byte("{}\n"))
				}
				return nil
			}},
			sample: []string{"auth/alg-none", "auth/expired", "auth/missing-exp", "auth/hs256-with-public-key",
				"auth/removed-key", "auth/suspended-institution", "suspension/tokens-refused"},
		},
		{
			name: "a rule's cap is ignored",
			bad: misbehaviour{request: func(r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/v1/rules" || r.Body == nil {
					return
				}
				b, _ := io.ReadAll(r.Body)
				var rule map[string]any
				if json.Unmarshal(b, &rule) == nil {
					rule["cap"] = nil
					b, _ = json.Marshal(rule)
				}
				r.Body = io.NopCloser(bytes.NewReader(b))
				r.ContentLength = int64(len(b))
				r.Header.Set("Content-Length", strconv.Itoa(len(b)))
			}},
			sample: []string{"conversion/cap-within-one", "conversion/cap-across-conversions",
				"revocation/frees-its-share-of-the-cap"},
		},
		{
			name: "every credential verifies as valid",
			bad: misbehaviour{response: func(resp *http.Response) error {
				if resp.Request.URL.Path != "/v1/verify" || resp.StatusCode != http.StatusOK {
					return nil
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					return err
				}
				var v map[string]any
				if json.Unmarshal(b, &v) == nil {
					v["valid"], v["revoked"] = true, false
					for _, ch := range v["checks"].([]any) {
						ch.(map[string]any)["ok"] = true
					}
					b, _ = json.Marshal(v)
				}
				replaceBody(resp, b)
				return nil
			}},
			sample: []string{"credentials/revoked-within-a-second", "credentials/tampered-invalid"},
		},
		{
			name:   "a status list ignores If-None-Match",
			bad:    misbehaviour{request: func(r *http.Request) { r.Header.Del("If-None-Match") }},
			sample: []string{"credentials/status-list-etag"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sample := tt.sample
			run := func(upstream string) map[string]Result {
				cfg := srv.config(t)
				cfg.URL = upstream
				cfg.Only = sample
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				got := map[string]Result{}
				Run(ctx, cfg, func(r Result) { got[r.Name] = r })
				return got
			}
			honest := run(confProxy(t, srv.url, misbehaviour{}))
			bad := run(confProxy(t, srv.url, tt.bad))
			for _, name := range sample {
				h, ok := honest[name]
				if !ok || !h.Passed {
					t.Errorf("%s against an honest proxy: %+v", name, h)
				}
				r, ok := bad[name]
				switch {
				case !ok:
					t.Errorf("%s did not run", name)
				case r.Passed || r.Skipped:
					t.Errorf("%s passed against a server where %s", name, tt.name)
				default:
					t.Logf("%s failed as it should: %.300s", name, r.Err)
				}
			}
		})
	}
}
