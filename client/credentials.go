package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"creditbank/credential"
)

// Credentials (docs/contract.md section 10): the client asks for a
// learner's credentials, reads status lists with their ETags, verifies a
// credential, fetches one by its link and prints a transcript.

// CredentialRequest is the body of POST /v1/learners/{id}/credentials.
type CredentialRequest struct {
	Kind     string   `json:"kind"`
	Outcomes []uint64 `json:"outcomes,omitempty"`
	Award    *uint64  `json:"award,omitempty"`
}

// IssuedCredential is a credential as issued: the VC-JWT, its id, its
// credential.issued entry, its kind and its status list entry's id.
type IssuedCredential struct {
	Credential string `json:"credential"`
	ID         string `json:"id"`
	Seq        uint64 `json:"seq"`
	Kind       string `json:"kind"`
	Status     string `json:"status"`
}

// IssueCredential asks for a credential of learner's (the client's token
// is the learner's, or an admin's).
func (c *Client) IssueCredential(ctx context.Context, learner string, req CredentialRequest) (IssuedCredential, error) {
	var out IssuedCredential
	return out, c.sendJSON(ctx, http.MethodPost, "/v1/learners/"+url.PathEscape(learner)+"/credentials", req, &out)
}

// StatusList is a signed Bitstring Status List as served, with its ETag.
type StatusList struct {
	JWT  string
	ETag string
}

// StatusList reads status list list (no token). With etag, the list as
// last read, an unchanged list is answered 304: then it returns the zero
// StatusList and notModified.
func (c *Client) StatusList(ctx context.Context, list uint64, etag string) (sl StatusList, notModified bool, err error) {
	path := "/v1/status/" + strconv.FormatUint(list, 10)
	h := http.Header{}
	if etag != "" {
		h.Set("If-None-Match", etag)
	}
	resp, body, err := c.raw(ctx, http.MethodGet, path, h, nil)
	if err != nil {
		return sl, false, err
	}
	switch resp.StatusCode {
	case http.StatusNotModified:
		return sl, true, nil
	case http.StatusOK:
		return StatusList{JWT: string(body), ETag: resp.Header.Get("ETag")}, false, nil
	}
	return sl, false, statusError(path, resp, body)
}

// Verify has the server check a credential (no token): the result names
// each check.
func (c *Client) Verify(ctx context.Context, jwt string) (credential.Result, error) {
	var out credential.Result
	b, err := json.Marshal(map[string]string{"credential": jwt})
	if err != nil {
		return out, err
	}
	body, err := c.send(ctx, http.MethodPost, "/v1/verify", b, false)
	if err != nil {
		return out, err
	}
	return out, json.Unmarshal(body, &out)
}

// LinkedCredential fetches the credential a link names (no token): ref is
// the last segment of the link, as GET /v1/credentials/{ref} and the page
// /verify?id= take it.
func (c *Client) LinkedCredential(ctx context.Context, ref string) (string, error) {
	b, err := c.get(ctx, "/v1/credentials/"+url.PathEscape(ref), false)
	return string(b), err
}

// TranscriptPDF prints learner's transcript and returns the PDF and the
// reference of the credential its QR code links to (from the answer's Link
// header).
func (c *Client) TranscriptPDF(ctx context.Context, learner string) (pdf []byte, ref string, err error) {
	path := "/v1/learners/" + url.PathEscape(learner) + "/transcript.pdf"
	h := http.Header{}
	if c.token != "" {
		h.Set("Authorization", "Bearer "+c.token)
	}
	resp, body, err := c.raw(ctx, http.MethodGet, path, h, nil)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", statusError(path, resp, body)
	}
	link, _, _ := strings.Cut(strings.TrimPrefix(resp.Header.Get("Link"), "<"), ">")
	i := strings.LastIndex(link, "/v1/credentials/")
	if i < 0 {
		return nil, "", fmt.Errorf("GET %s: the answer's Link header %q names no credential", path, resp.Header.Get("Link"))
	}
	return body, link[i+len("/v1/credentials/"):], nil
}

// raw makes one request with headers h and returns the answer whatever
// its status, for the callers that read its headers.
func (c *Client) raw(ctx context.Context, method, path string, h http.Header, body []byte) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %v", method, path, err)
	}
	return resp, answer, nil
}
