package conformance

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Credentials a learner can show (docs/contract.md section 10): a learner
// asks for a VC-JWT of its outcomes, which POST /v1/verify checks (format,
// signature, validity, status, inclusion, each reported); revoking an
// outcome it rests on sets its status bit within a second; a changed
// credential fails its signature; the status list answers its ETag with
// 304; another learner is refused; and the printed transcript's link names
// a credential that verifies. The suite does not check the signature with
// its own code: the package's interop test does that with jose (Node).

// public sends a request without a token, as a verifier would. Such
// requests are limited per client address (docs/contract.md section 5),
// and the cases before these may have spent the suite's share: a 429 is
// waited out as its Retry-After says (0 when the server held the answer
// that long already), at most ten times, as a verifier does.
func (c *tc) public(method, path string, body any) reply {
	return c.waitingOut(func() reply { return c.do(method, path, "", body) })
}

// waitingOut sends a request without a token by send, waiting out a 429.
func (c *tc) waitingOut(send func() reply) reply {
	for range 10 {
		r := send()
		if r.status != http.StatusTooManyRequests {
			return r
		}
		wait, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || wait < 0 || wait > 10 {
			c.fatalf("%s, with Retry-After %q", r, r.header.Get("Retry-After"))
		}
		select {
		case <-time.After(time.Duration(wait) * time.Second):
		case <-c.ctx.Done():
			c.fatalf("%s: %v", r.req, c.ctx.Err())
		}
	}
	c.fatalf("still 429 after waiting ten times as Retry-After said")
	return reply{}
}

// verifyChecks are the checks POST /v1/verify reports, in order.
var verifyChecks = []string{"format", "signature", "validity", "status", "inclusion"}

type verification struct {
	Valid   bool `json:"valid"`
	Revoked bool `json:"revoked"`
	Checks  []struct {
		Check  string `json:"check"`
		OK     bool   `json:"ok"`
		Detail string `json:"detail"`
	} `json:"checks"`
}

// issueCredential has learner ask for a credential of body and returns
// the answer.
func (c *tc) issueCredential(learner string, body map[string]any) map[string]any {
	return c.obj(c.want(c.do("POST", "/v1/learners/"+learner+"/credentials", c.learnerToken(learner), body), http.StatusCreated))
}

// verifyCredential posts jwt to POST /v1/verify (no token) and checks the
// answer names every check, in order.
func (c *tc) verifyCredential(jwt string) verification {
	var v verification
	c.decode(c.want(c.public("POST", "/v1/verify", map[string]any{"credential": jwt}), http.StatusOK), &v)
	var names []string
	for _, ch := range v.Checks {
		names = append(names, ch.Check)
	}
	if !slices.Equal(names, verifyChecks) {
		c.fatalf("POST /v1/verify reported checks %v, want %v", names, verifyChecks)
	}
	return v
}

func (c *tc) wantValid(v verification, what string) {
	for _, ch := range v.Checks {
		if !ch.OK {
			c.fatalf("%s: check %s failed: %s", what, ch.Check, ch.Detail)
		}
	}
	if !v.Valid || v.Revoked {
		c.fatalf("%s: valid %v, revoked %v with every check passed", what, v.Valid, v.Revoked)
	}
}

// claims decodes a VC-JWT's claims set, unverified: the suite reads where
// the credential says its status is.
func (c *tc) claims(jwt string) map[string]any {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		c.fatalf("credential %.40q... is not a compact JWS", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	c.check(err, "credential payload")
	var m map[string]any
	c.check(json.Unmarshal(b, &m), "credential claims")
	return m
}

// statusPath is the path of the status list a credential names.
func (c *tc) statusPath(jwt string) string {
	st, _ := c.claims(jwt)["credentialStatus"].(map[string]any)
	url, _ := st["statusListCredential"].(string)
	i := strings.Index(url, "/v1/status/")
	if i < 0 {
		c.fatalf("credentialStatus %v names no status list", st)
	}
	return url[i:]
}

func credentialCases() []caseDef {
	return []caseDef{
		{"credentials/issue-verify-valid", func(c *tc) {
			l := c.learner()
			seqs := c.posted(c.college(), l, 2, nil)
			for _, body := range []map[string]any{
				{"kind": "outcome", "outcomes": []uint64{seqs[0]}},
				{"kind": "transcript"},
			} {
				ic := c.issueCredential(l, body)
				if ic["kind"] != body["kind"] || !strings.HasPrefix(c.str(ic, "id"), "urn:uuid:") {
					c.fatalf("issued %v for %v", compact(ic), body)
				}
				c.wantValid(c.verifyCredential(c.str(ic, "credential")), compact(body))
			}
		}},
		{"credentials/revoked-within-a-second", func(c *tc) {
			l := c.learner()
			seqs := c.posted(c.college(), l, 2, nil)
			jwt := c.str(c.issueCredential(l, map[string]any{"kind": "outcome", "outcomes": []uint64{seqs[0]}}), "credential")
			other := c.str(c.issueCredential(l, map[string]any{"kind": "outcome", "outcomes": []uint64{seqs[1]}}), "credential")
			c.want(c.do("POST", "/v1/outcomes/"+itoa(seqs[0])+"/revocation", c.college().tok(c), map[string]any{"reason": "conformance: posted in error"}), http.StatusCreated)
			acked := time.Now()
			v := c.verifyCredential(jwt)
			if d := time.Since(acked); d > time.Second {
				c.fatalf("verifying took %v after the revocation was acknowledged", d)
			}
			if v.Valid || !v.Revoked || v.Checks[3].OK || !v.Checks[1].OK {
				c.fatalf("a credential of a revoked outcome verifies as %+v", v)
			}
			c.wantValid(c.verifyCredential(other), "a credential of another outcome of the learner")
		}},
		{"credentials/tampered-invalid", func(c *tc) {
			l := c.learner()
			c.posted(c.college(), l, 1, nil)
			jwt := c.str(c.issueCredential(l, map[string]any{"kind": "transcript"}), "credential")
			m := c.claims(jwt)
			m["name"] = "A transcript changed after signing"
			b, err := json.Marshal(m)
			c.check(err, "claims")
			parts := strings.Split(jwt, ".")
			changed := parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
			v := c.verifyCredential(changed)
			if v.Valid || v.Checks[1].OK {
				c.fatalf("a credential changed after signing verifies as %+v", v)
			}
			for _, ch := range v.Checks[2:] {
				if ch.OK {
					c.fatalf("check %s of a credential whose signature failed passed: %s", ch.Check, ch.Detail)
				}
			}
			if v := c.verifyCredential("not.a.credential"); v.Valid || v.Checks[0].OK {
				c.fatalf("a malformed credential verifies as %+v", v)
			}
		}},
		{"credentials/status-list-etag", func(c *tc) {
			l := c.learner()
			c.posted(c.college(), l, 1, nil)
			path := c.statusPath(c.str(c.issueCredential(l, map[string]any{"kind": "transcript"}), "credential"))
			r := c.want(c.public("GET", path, nil), http.StatusOK)
			etag := r.header.Get("ETag")
			if etag == "" || r.header.Get("Content-Type") != "application/vc+jwt" || len(c.claims(string(r.body))) == 0 {
				c.fatalf("GET %s: ETag %q, Content-Type %q", path, etag, r.header.Get("Content-Type"))
			}
			again := c.waitingOut(func() reply {
				req, err := http.NewRequestWithContext(c.ctx, "GET", c.s.base+path, nil)
				c.check(err, "request")
				req.Header.Set("If-None-Match", etag)
				resp, err := c.s.client.Do(req)
				c.check(err, "GET "+path)
				resp.Body.Close()
				return reply{req: "GET " + path, status: resp.StatusCode, header: resp.Header}
			})
			if again.status != http.StatusNotModified {
				c.fatalf("GET %s with If-None-Match its ETag: %d, want 304", path, again.status)
			}
			c.wantProblem(c.public("GET", "/v1/status/4294967295", nil), http.StatusNotFound)
		}},
		{"credentials/another-learner-refused", func(c *tc) {
			l := c.learner()
			c.posted(c.college(), l, 1, nil)
			other := c.learnerToken(c.learner())
			c.refused(func() {
				c.wantProblem(c.do("POST", "/v1/learners/"+l+"/credentials", other, map[string]any{"kind": "transcript"}), http.StatusForbidden)
				c.wantProblem(c.do("GET", "/v1/learners/"+l+"/transcript.pdf", other, nil), http.StatusForbidden)
				c.wantProblem(c.do("POST", "/v1/learners/"+l+"/credentials", c.college().tok(c), map[string]any{"kind": "transcript"}), http.StatusForbidden)
			})
		}},
		{"credentials/printed-transcript-links-its-credential", func(c *tc) {
			l := c.learner()
			c.posted(c.college(), l, 2, nil)
			tok := c.learnerToken(l)
			r := c.want(c.do("GET", "/v1/learners/"+l+"/transcript.pdf", tok, nil), http.StatusOK)
			if r.header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(r.body, []byte("%PDF-")) {
				c.fatalf("GET transcript.pdf: Content-Type %q, body %.8q", r.header.Get("Content-Type"), r.body)
			}
			link, _, _ := strings.Cut(strings.TrimPrefix(r.header.Get("Link"), "<"), ">")
			i := strings.Index(link, "/v1/credentials/")
			if i < 0 {
				c.fatalf("transcript.pdf's Link header %q names no credential", r.header.Get("Link"))
			}
			path, ref := link[i:], link[i+len("/v1/credentials/"):]
			jwt := c.want(c.public("GET", path, nil), http.StatusOK)
			c.wantValid(c.verifyCredential(string(jwt.body)), "the printed transcript's credential")
			page := c.want(c.public("GET", "/verify?id="+ref, nil), http.StatusOK)
			if !bytes.Contains(page.body, []byte(">Valid<")) {
				c.fatalf("GET /verify?id=%s does not say Valid", ref)
			}
			// Printing again prints the same credential, and writes nothing.
			c.refused(func() {
				again := c.want(c.do("GET", "/v1/learners/"+l+"/transcript.pdf", tok, nil), http.StatusOK)
				if again.header.Get("Link") != r.header.Get("Link") {
					c.fatalf("printing again linked %q, then %q", r.header.Get("Link"), again.header.Get("Link"))
				}
			})
			bad := ref[:len(ref)-1] + "A"
			if bad == ref {
				bad = ref[:len(ref)-1] + "B"
			}
			c.wantProblem(c.public("GET", "/v1/credentials/"+bad, nil), http.StatusNotFound)
			c.want(c.public("GET", "/verify?id="+bad, nil), http.StatusNotFound)
		}},
	}
}
