package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"creditbank/credential"
)

// requireTool returns the path of a program the printed transcript's tests
// read the PDF with (poppler-utils' pdftotext and pdfimages, zbar-tools'
// zbarimg): code we did not write. Without it the test is skipped, unless
// CREDITBANK_REQUIRE_PDFTOTEXT is set (.ci/run sets it), when it fails.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CREDITBANK_REQUIRE_PDFTOTEXT") != "" {
			t.Fatalf("%s is not installed (apt-get install poppler-utils zbar-tools) and CREDITBANK_REQUIRE_PDFTOTEXT is set", name)
		}
		t.Skipf("%s is not installed (apt-get install poppler-utils zbar-tools)", name)
	}
	return p
}

// pdfText is the text of a PDF as pdftotext reads it.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	tool := requireTool(t, "pdftotext")
	f := filepath.Join(t.TempDir(), "t.pdf")
	if err := os.WriteFile(f, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "-layout", "-enc", "UTF-8", f, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

// pdfQR extracts the PDF's images with pdfimages and decodes the QR code
// in them with zbarimg, returning what it encodes.
func pdfQR(t *testing.T, pdf []byte) string {
	t.Helper()
	images, zbar := requireTool(t, "pdfimages"), requireTool(t, "zbarimg")
	dir := t.TempDir()
	f := filepath.Join(dir, "t.pdf")
	if err := os.WriteFile(f, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(images, "-png", f, filepath.Join(dir, "img")).CombinedOutput(); err != nil {
		t.Fatalf("pdfimages: %v %s", err, out)
	}
	pngs, _ := filepath.Glob(filepath.Join(dir, "img-*.png"))
	if len(pngs) != 1 {
		t.Fatalf("pdfimages found %d images, want the QR code alone", len(pngs))
	}
	out, err := exec.Command(zbar, "--raw", "-q", "-Sdisable", "-Sqrcode.enable", pngs[0]).Output()
	if err != nil {
		t.Fatalf("zbarimg found no QR code: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// printTranscript fetches the learner's printed transcript as tok and
// returns the PDF and the credential its Link header names.
func (c *credSetup) printTranscript(t *testing.T, tok string) ([]byte, string) {
	t.Helper()
	resp, body := c.s.do(t, "GET", "/v1/learners/"+c.learner+"/transcript.pdf", tok, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(body, []byte("%PDF-")) {
		t.Fatalf("transcript.pdf: %d %s %.200q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	link, _, _ := strings.Cut(strings.TrimPrefix(resp.Header.Get("Link"), "<"), ">")
	if !strings.HasPrefix(link, c.s.URL+"/v1/credentials/") {
		t.Fatalf("Link header %q", resp.Header.Get("Link"))
	}
	return body, link
}

// verifyPageSays fetches a verification page and returns its heading's
// verdict: Valid, Revoked or Not valid.
func verifyPageSays(t *testing.T, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	resp, body := send(t, req)
	for _, v := range []string{"Not valid", "Revoked", "Valid"} {
		if bytes.Contains(body, []byte(`">`+v+`</span>`)) {
			return resp.StatusCode, v
		}
	}
	return resp.StatusCode, ""
}

// TestTranscriptPDF prints a learner's transcript and reads it with
// poppler's pdftotext (each outcome's unit, credits and standard credits,
// the institution and the learner are in the text) and its QR code with
// zbar: the link it encodes verifies as valid, on the page and by POST
// /v1/verify. Printing again writes nothing and links the same credential;
// a new outcome makes a new one; revoking an outcome shows the old link's
// credential revoked.
func TestTranscriptPDF(t *testing.T) {
	c := newCredSetup(t)
	units := []struct{ code, title, credits string }{
		{"MATH-101", "Linear algebra", "4"},
		{"INFO-220", "Systèmes répartis", "2.5"},
	}
	var seqs []uint64
	for _, u := range units {
		o := c.outcome(c.learner, u.credits)
		o["unit"] = map[string]any{"code": u.code, "title": u.title}
		seqs = append(seqs, c.post(t, o))
	}
	pdf, credURL := c.printTranscript(t, c.tok)
	text := pdfText(t, pdf)
	_, tb := c.s.do(t, "GET", "/v1/learners/"+c.learner+"/transcript", c.tok, nil)
	var tr struct {
		Outcomes []struct {
			StandardCredits string `json:"standard_credits"`
		} `json:"outcomes"`
	}
	if err := json.Unmarshal(tb, &tr); err != nil || len(tr.Outcomes) != 2 {
		t.Fatalf("transcript: %s", tb)
	}
	want := []string{"Learner: " + c.learner, "college.example"}
	for i, u := range units {
		want = append(want, u.code+" "+u.title, u.credits+" cn-credit", tr.Outcomes[i].StandardCredits)
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("the PDF's text lacks %q:\n%s", w, text)
		}
	}

	link := pdfQR(t, pdf)
	ref := strings.TrimPrefix(credURL, c.s.URL+"/v1/credentials/")
	if link != c.s.URL+"/verify?id="+ref {
		t.Fatalf("the QR code encodes %q, want the verification page of %s", link, credURL)
	}
	if !strings.Contains(text, link) {
		t.Errorf("the PDF does not print the link %s", link)
	}
	if code, says := verifyPageSays(t, link); code != 200 || says != "Valid" {
		t.Fatalf("the QR code's page: %d %q", code, says)
	}
	req, _ := http.NewRequest("GET", credURL, nil)
	resp, jwt := send(t, req)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != credential.MediaType {
		t.Fatalf("GET %s: %d %s", credURL, resp.StatusCode, jwt)
	}
	if r := c.verify(t, string(jwt)); !r.Valid || len(r.Checks) != 5 {
		t.Fatalf("the linked credential verifies as %+v", r)
	}

	// An institution under the learner's grant prints it too (the same
	// credential), and the access log records the read with the grant.
	if resp, b := c.s.do(t, "POST", "/v1/learners/"+c.learner+"/grants", c.tok, grantFor("college.example")); resp.StatusCode != 201 {
		t.Fatalf("grant: %d %s", resp.StatusCode, b)
	}
	if _, byCollege := c.printTranscript(t, c.college); byCollege != credURL {
		t.Fatalf("the college printed %s, the learner %s", byCollege, credURL)
	}
	c.s.access.Flush()
	page := c.s.readAccessLog(t, "/v1/learners/"+c.learner+"/access-log", c.tok)
	if len(page.Records) != 1 || page.Records[0].Who != "institution:college.example" || page.Records[0].What != "transcript" || page.Records[0].Grant == "" {
		t.Fatalf("access log after the college printed the transcript: %+v", page.Records)
	}

	size := c.s.ledger.Size()
	if _, again := c.printTranscript(t, c.tok); again != credURL || c.s.ledger.Size() != size {
		t.Fatalf("printing again linked %s (was %s) and grew the ledger %d → %d", again, credURL, size, c.s.ledger.Size())
	}
	c.post(t, c.outcome(c.learner, "1"))
	_, third := c.printTranscript(t, c.tok)
	if third == credURL {
		t.Fatal("a new outcome did not make a new credential")
	}
	c.ck.call(t, request{route: "revokeOutcome", path: fmt.Sprintf("/v1/outcomes/%d/revocation", seqs[0]), token: c.college,
		body: map[string]any{"reason": "posted in error"}, want: 201})
	if _, says := verifyPageSays(t, link); says != "Revoked" {
		t.Fatalf("after revoking an outcome it rests on, the QR code's page says %q", says)
	}
	if _, fourth := c.printTranscript(t, c.tok); fourth == third {
		t.Fatal("printing after a revocation linked the revoked credential")
	}
}

// TestCredentialLink fetches each kind of credential by its link: the same
// bytes as issued. A link the bank did not make, for a credential or any
// other entry, is 404; after the learner's erasure the link is 410, on the
// page too.
func TestCredentialLink(t *testing.T) {
	c := newCredSetup(t)
	award, _, outcomes := awardFor(t, c)
	key := c.s.issuer.Key
	var refs []string
	for _, body := range []map[string]any{
		{"kind": "outcome", "outcomes": []uint64{outcomes[0]}},
		{"kind": "transcript"},
		{"kind": "transcript", "outcomes": []uint64{outcomes[1]}},
		{"kind": "award", "award": award},
	} {
		_, b := c.ck.call(t, request{route: "issueCredential", path: "/v1/learners/" + c.learner + "/credentials", token: c.tok, body: body, want: 201})
		var v struct {
			Credential string `json:"credential"`
			Seq        uint64 `json:"seq"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		ref := key.Link(v.Seq)
		_, got := c.ck.call(t, request{route: "getCredential", path: "/v1/credentials/" + ref, want: 200})
		if string(got) != v.Credential {
			t.Errorf("%v: the link serves another credential than was issued", body)
		}
		refs = append(refs, ref)
	}
	seq, _ := key.ParseLink(refs[0])
	other, _ := credential.NewKey()
	for _, bad := range []string{
		fmt.Sprintf("%d-%s", seq+1, strings.SplitN(refs[0], "-", 2)[1]), // another seq, this one's MAC
		refs[0][:len(refs[0])-1] + "B",                                  // the MAC changed
		other.Link(seq),                                                 // another key's
		key.Link(outcomes[0]),                                           // a valid MAC of an entry that is no credential
		"0" + refs[0], "x",
	} {
		if bad == refs[0] {
			continue
		}
		c.ck.call(t, request{route: "getCredential", path: "/v1/credentials/" + bad, want: 404})
		if code, _ := verifyPageSays(t, c.s.URL+"/verify?id="+bad); code != 404 {
			t.Errorf("the page of link %s: %d, want 404", bad, code)
		}
	}
	if resp, b := c.s.do(t, "POST", "/v1/learners/"+c.learner+"/erasure", c.adm, map[string]any{"reason": "the learner asked"}); resp.StatusCode != 200 {
		t.Fatalf("erasure: %d %s", resp.StatusCode, b)
	}
	c.ck.call(t, request{route: "getCredential", path: "/v1/credentials/" + refs[1], want: 410})
	if code, _ := verifyPageSays(t, c.s.URL+"/verify?id="+refs[1]); code != 410 {
		t.Errorf("the page of an erased learner's link: %d, want 410", code)
	}
}

// TestVerifyUpload posts a credential to the page's form, pasted and as a
// file (multipart/form-data), and as the body itself: each page says
// Valid, and a changed credential Not valid. A form giving it twice, an
// unknown part, no credential, another media type and an oversized body
// are refused.
func TestVerifyUpload(t *testing.T) {
	c := newCredSetup(t)
	c.post(t, c.outcome(c.learner, "4"))
	jwt := c.issue(t, map[string]any{"kind": "transcript"})
	form := func(parts map[string]string, file string) ([]byte, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		for k, v := range parts {
			if err := mw.WriteField(k, v); err != nil {
				t.Fatal(err)
			}
		}
		if file != "" {
			fw, err := mw.CreateFormFile("file", "transcript.jwt")
			if err != nil {
				t.Fatal(err)
			}
			fw.Write([]byte(file + "\n"))
		}
		mw.Close()
		return b.Bytes(), mw.FormDataContentType()
	}
	says := func(body []byte) string {
		for _, v := range []string{"Not valid", "Revoked", "Valid"} {
			if bytes.Contains(body, []byte(`">`+v+`</span>`)) {
				return v
			}
		}
		return ""
	}
	changed := jwt[:len(jwt)-4] + "AAAA"
	pasted, pastedType := form(map[string]string{"credential": jwt}, "")
	file, fileType := form(map[string]string{"credential": ""}, jwt)
	bad, badType := form(nil, changed)
	for _, r := range []struct {
		name  string
		body  []byte
		ctype string
		want  string
	}{
		{"pasted", pasted, pastedType, "Valid"},
		{"a file", file, fileType, "Valid"},
		{"the body", []byte(jwt), credential.MediaType, "Valid"},
		{"the body as text", []byte(jwt + "\n"), "text/plain; charset=utf-8", "Valid"},
		{"a changed file", bad, badType, "Not valid"},
	} {
		_, body := c.ck.call(t, request{route: "verifyUpload", path: "/verify", body: r.body, contentType: r.ctype, want: 200})
		if got := says(body); got != r.want {
			t.Errorf("%s: the page says %q, want %q", r.name, got, r.want)
		}
	}
	twice, twiceType := form(map[string]string{"credential": jwt}, jwt)
	other, otherType := form(map[string]string{"colour": "blue"}, "")
	empty, emptyType := form(map[string]string{"credential": " "}, "")
	c.ck.call(t, request{route: "verifyUpload", path: "/verify", body: twice, contentType: twiceType, want: 400})
	c.ck.call(t, request{route: "verifyUpload", path: "/verify", body: other, contentType: otherType, want: 400})
	if _, body := c.ck.call(t, request{route: "verifyUpload", path: "/verify", body: empty, contentType: emptyType, want: 400}); !bytes.Contains(body, []byte("no credential given")) {
		t.Errorf("an empty form: %s", body)
	}
	c.ck.call(t, request{route: "verifyUpload", path: "/verify", body: []byte(`{"credential":"x"}`), want: 415})
	c.ck.call(t, request{route: "verifyUpload", path: "/verify", body: bytes.Repeat([]byte("a"), maxUploadBody+1), contentType: "text/plain", want: 413})
}
