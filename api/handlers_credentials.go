package api

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"creditbank/accreditation"
	"creditbank/credential"
	"creditbank/ledger"
)

// Credentials a learner can show (docs/contract.md section 10). The bank
// records the issuance and the status bits; package credential builds,
// signs and verifies; what is the API's is who may ask, the signed status
// lists served with an ETag, the inclusion proofs a verification checks,
// and the page GET /verify.

// credentialMembers are the members of a credential request: kind is
// required, outcomes and award as the kind needs them.
var credentialMembers = []member{{"kind", false}}

// verifyMembers are the members of POST /v1/verify.
var verifyMembers = []member{{"credential", false}}

type verifyBody struct {
	Credential string `json:"credential"`
}

// maxVerifyBody bounds POST /v1/verify: a credential and its JSON quoting.
const maxVerifyBody = credential.MaxTokenBytes + 1024

// issuedCredential is the answer of POST /v1/learners/{id}/credentials.
type issuedCredential struct {
	Credential string `json:"credential"`
	ID         string `json:"id"`
	Seq        uint64 `json:"seq"`
	Kind       string `json:"kind"`
	Status     string `json:"status"`
}

func (h *Handler) issueCredential(w http.ResponseWriter, r *http.Request, a actor) {
	learner := mux.Vars(r)["id"]
	if !accreditation.ValidLearnerID(learner) {
		refuse(w, accreditation.CodeNotFound, "no learner can have this id")
		return
	}
	if a.Role == accreditation.RoleLearner && !accreditation.SameLearner(a.ID, learner) {
		refuse(w, accreditation.CodeForbidden, "a learner asks for credentials of its own record only")
		return
	}
	var req accreditation.CredentialRequest
	if !readMembers(w, r, &req, credentialMembers) {
		return
	}
	jwt, ic, err := h.issue(r.Context(), a, learner, req)
	if err != nil {
		writeError(w, err)
		return
	}
	chargeRows(r, int64(len(ic.Outcomes)+1))
	writeJSON(w, http.StatusCreated, issuedCredential{Credential: jwt, ID: ic.ID, Seq: ic.Seq, Kind: ic.Kind,
		Status: credential.StatusListURL(h.issuer.Base, strconv.FormatUint(ic.List, 10)) + "#" + strconv.FormatUint(ic.Index, 10)})
}

// issue records a credential of learner's and signs it.
func (h *Handler) issue(ctx context.Context, a actor, learner string, req accreditation.CredentialRequest) (string, accreditation.IssuedCredential, error) {
	ic, err := h.bank.IssueCredential(ctx, a, learner, req)
	if err != nil {
		return "", ic, err
	}
	jwt, err := h.sign(ic)
	return jwt, ic, err
}

// sign builds and signs the credential a credential.issued entry records,
// as read through the learner's key: at issuance, and again when the
// credential is served by its link (Bank.Credential), the same bytes.
func (h *Handler) sign(ic accreditation.IssuedCredential) (string, error) {
	cr, err := h.credentialRequest(ic)
	if err != nil {
		return "", err
	}
	jwt, _, err := h.issuer.Issue(cr)
	return jwt, err
}

// credentialRequest is what the credential ic records states.
func (h *Handler) credentialRequest(ic accreditation.IssuedCredential) (credential.Request, error) {
	var err error
	cr := credential.Request{Kind: ic.Kind, ID: ic.ID, Learner: ic.LearnerID, Partial: ic.Partial,
		List: strconv.FormatUint(ic.List, 10), Index: ic.Index}
	if cr.IssuedAt, err = time.Parse(ledger.TimeLayout, ic.RecordedAt); err != nil {
		return cr, err
	}
	if cr.Issued, err = h.entryRef(ic.Seq); err != nil {
		return cr, err
	}
	names := map[string]string{}
	for _, o := range ic.Outcomes {
		ref, err := h.entryRef(o.Seq)
		if err != nil {
			return cr, err
		}
		name, ok := names[o.Institution]
		if !ok {
			name = o.InstitutionName
			if name == "" {
				if in, err := h.bank.Institution(o.Institution); err == nil {
					name = in.Name
				}
			}
			names[o.Institution] = name
		}
		fieldName, _ := accreditation.FieldName(o.Field)
		co := credential.Outcome{Entry: ref, Institution: credential.Institution{ID: o.Institution, Name: name},
			UnitCode: o.Unit.Code, UnitTitle: o.Unit.Title, Sector: o.Sector, Level: o.Level, Field: o.Field, FieldName: fieldName,
			Credits: o.Credits.Amount.String(), CreditSystem: o.Credits.System, StandardCredits: o.StandardCredits.String(),
			Passed: o.Result.Passed != nil && *o.Result.Passed, CompletedOn: o.CompletedOn}
		if o.Result.Score != nil {
			co.Score = o.Result.Score.String()
		}
		cr.Outcomes = append(cr.Outcomes, co)
	}
	if ic.Award != nil {
		ref, err := h.entryRef(ic.Award.Seq)
		if err != nil {
			return cr, err
		}
		in, err := h.bank.Institution(ic.Award.Institution)
		if err != nil {
			return cr, err
		}
		cr.Award = &credential.Award{Entry: ref, Institution: credential.Institution{ID: in.ID, Name: in.Name},
			Programme: ic.Award.Programme.ID, Version: ic.Award.Programme.Version, Title: ic.Programme.Title,
			Earned: ic.Award.Total.String(), Required: ic.Programme.Total.String(), On: ic.Award.On}
	}
	return cr, nil
}

// entryRef names ledger entry seq by its type and leaf hash.
func (h *Handler) entryRef(seq uint64) (credential.Entry, error) {
	b, err := h.ledger.Entry(seq)
	if err != nil {
		return credential.Entry{}, fmt.Errorf("entry %d: %w", seq, err)
	}
	e, err := ledger.DecodeEntry(b)
	if err != nil {
		return credential.Entry{}, fmt.Errorf("entry %d: %w", seq, err)
	}
	return credential.NewEntry(seq, e.Type, tlog.RecordHash(b)), nil
}

// statusLists caches each status list as last signed, with its ETag: a
// list is signed again only when its bits changed, and its bits are read
// from the durable state on every request, so that a revocation shows at
// the next one.
type statusLists struct {
	mu    sync.Mutex
	lists map[uint64]*signedList
}

type signedList struct {
	bits []uint64
	jwt  string
	etag string
}

// statusList returns list's signed credential, or false when there is
// no such list.
func (h *Handler) statusList(list uint64) (*signedList, bool, error) {
	bits, exists, err := h.bank.StatusBits(list)
	if err != nil || !exists {
		return nil, false, err
	}
	h.status.mu.Lock()
	defer h.status.mu.Unlock()
	if s, ok := h.status.lists[list]; ok && slices.Equal(s.bits, bits) {
		return s, true, nil
	}
	bs := credential.NewBitstring(credential.ListBits)
	for _, i := range bits {
		bs.Set(i)
	}
	jwt := credential.SignStatusList(h.issuer.Key, h.issuer.Base, strconv.FormatUint(list, 10), bs, time.Now())
	sum := sha256.Sum256([]byte(jwt))
	s := &signedList{bits: bits, jwt: jwt, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
	if h.status.lists == nil {
		h.status.lists = map[uint64]*signedList{}
	}
	h.status.lists[list] = s
	return s, true, nil
}

// parseList reads a list number as the path names it.
func parseList(s string) (uint64, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return n, err == nil && n > 0 && strconv.FormatUint(n, 10) == s
}

func (h *Handler) getStatusList(w http.ResponseWriter, r *http.Request, _ actor) {
	list, ok := parseList(mux.Vars(r)["list"])
	if !ok {
		refuse(w, accreditation.CodeNotFound, "no status list can have this name")
		return
	}
	s, found, err := h.statusList(list)
	if err != nil {
		writeError(w, err)
		return
	}
	if !found {
		refuse(w, accreditation.CodeNotFound, "no status list "+strconv.FormatUint(list, 10))
		return
	}
	w.Header().Set("ETag", s.etag)
	// Revalidated on every use, so that a bit set shows at once.
	w.Header().Set("Cache-Control", "no-cache")
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, s.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", credential.MediaType)
	_, _ = w.Write([]byte(s.jwt))
}

// verifier checks credentials of this bank: its issuer key, its status
// lists as they stand, and inclusion in its own log.
func (h *Handler) verifier() *credential.Verifier {
	pub := h.issuer.Key.Private.Public().(ed25519.PublicKey)
	prefix := h.issuer.Base + "/v1/status/"
	return &credential.Verifier{
		Issuer: h.issuer.Base,
		Key: func(kid string) (ed25519.PublicKey, bool) {
			return pub, kid == h.issuer.Key.Kid
		},
		StatusList: func(_ context.Context, url string) (string, error) {
			list, ok := parseList(strings.TrimPrefix(url, prefix))
			if !ok {
				return "", errors.New("no such list")
			}
			s, found, err := h.statusList(list)
			if err != nil {
				return "", err
			}
			if !found {
				return "", errors.New("no such list")
			}
			return s.jwt, nil
		},
		Prove: h.proveEntries,
		Now:   time.Now,
	}
}

// maxProvedEntries bounds the entries one verification proves.
const maxProvedEntries = 1002

// proveEntries checks each entry's leaf hash by an inclusion proof against
// the signed checkpoint served, or, when that does not cover them yet, a
// fresh one.
func (h *Handler) proveEntries(ctx context.Context, entries []credential.Entry) (string, error) {
	if len(entries) > maxProvedEntries {
		return "", fmt.Errorf("names %d entries, over %d", len(entries), maxProvedEntries)
	}
	v, err := note.NewVerifier(h.ledger.VerifierKey())
	if err != nil {
		return "", err
	}
	var last uint64
	for _, e := range entries {
		last = max(last, e.Seq)
	}
	c, err := ledger.OpenCheckpoint(h.servedCheckpoint(), v)
	if err != nil || c.Size <= last {
		signed, err := h.ledger.SignCheckpoint(ctx)
		if err != nil {
			return "", fmt.Errorf("no checkpoint to prove against: %v", err)
		}
		if c, err = ledger.OpenCheckpoint(signed, v); err != nil {
			return "", err
		}
	}
	if c.Size <= last {
		return "", fmt.Errorf("entry %d is not in the log, of %d entries", last, c.Size)
	}
	for _, e := range entries {
		leaf, err := base64.StdEncoding.Strict().DecodeString(e.LeafHash)
		if err != nil || len(leaf) != tlog.HashSize {
			return "", fmt.Errorf("entry %d: leaf hash is not a base64 SHA-256", e.Seq)
		}
		proof, err := h.ledger.InclusionProof(e.Seq, c.Size)
		if err != nil {
			return "", fmt.Errorf("entry %d: %v", e.Seq, err)
		}
		if err := tlog.CheckRecord(proof, int64(c.Size), c.Root, int64(e.Seq), tlog.Hash(leaf)); err != nil {
			return "", fmt.Errorf("entry %d: its leaf hash is not the log's at that place: %v", e.Seq, err)
		}
	}
	return fmt.Sprintf("%d entries proved by inclusion in the checkpoint of %s at size %d", len(entries), c.Origin, c.Size), nil
}

func (h *Handler) verifyCredential(w http.ResponseWriter, r *http.Request, _ actor) {
	var body verifyBody
	if !readMembersLimit(w, r, &body, verifyMembers, maxVerifyBody) {
		return
	}
	res := h.verifier().Verify(r.Context(), body.Credential)
	chargeRows(r, int64(len(res.Checks)))
	writeJSON(w, http.StatusOK, res)
}

// verifyPage is GET /verify: a form to paste or upload a credential and,
// with one given (?credential=, or ?id= the link of a printed transcript's
// QR code), the result of each check. Plain HTML, no script.
func (h *Handler) verifyPage(w http.ResponseWriter, r *http.Request, _ actor) {
	page := verifyPageData{Credential: queryValue(r, "credential")}
	status := http.StatusOK
	if id := queryValue(r, "id"); id != "" && page.Credential == "" {
		jwt, err := h.linkedCredential(r, id)
		if err != nil {
			p := problemFor(err)
			status, page.Error = p.Status, cmp.Or(p.Detail, p.Title)
		}
		page.Linked = jwt
	}
	h.showVerification(w, r, status, page)
}

// maxUploadBody bounds POST /verify: a credential and a form's framing.
const maxUploadBody = credential.MaxTokenBytes + 16<<10

// verifyUpload is POST /verify, the page's form: the credential pasted
// (part credential) or uploaded (part file) as multipart/form-data, or
// the request's body itself as application/vc+jwt or text/plain.
func (h *Handler) verifyUpload(w http.ResponseWriter, r *http.Request, _ actor) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "multipart/form-data" && mt != credential.MediaType && mt != "text/plain") {
		writeProblem(w, http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
			"send the credential as multipart/form-data (part credential or file), "+credential.MediaType+" or text/plain")
		return
	}
	data, ok := readLimited(w, r, maxUploadBody, "bad-form", "Bad form")
	if !ok {
		return
	}
	if mt == "multipart/form-data" {
		if data, err = uploadedCredential(data, params["boundary"]); err != nil {
			writeProblem(w, http.StatusBadRequest, "bad-form", "Bad form", err.Error())
			return
		}
	}
	page, status := verifyPageData{Credential: strings.TrimSpace(string(data))}, http.StatusOK
	if page.Credential == "" {
		status, page.Error = http.StatusBadRequest, "no credential given: paste one or choose its file"
	}
	h.showVerification(w, r, status, page)
}

// uploadedCredential reads the one credential a form gives, pasted or as
// a file: parts other than credential and file are refused, as is a form
// giving both.
func uploadedCredential(body []byte, boundary string) ([]byte, error) {
	if boundary == "" {
		return nil, errors.New("multipart/form-data without a boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var out []byte
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("form: %v", err)
		}
		if name := part.FormName(); name != "credential" && name != "file" {
			return nil, fmt.Errorf("form part %q: only credential and file are read", name)
		}
		b, err := io.ReadAll(part)
		if err != nil {
			return nil, fmt.Errorf("form: %v", err)
		}
		if b = bytes.TrimSpace(b); len(b) > 0 {
			if out != nil {
				return nil, errors.New("the form gives a credential twice: paste one or choose its file")
			}
			out = b
		}
	}
}

// showVerification verifies the credential page names, if any, and
// writes the page with status.
func (h *Handler) showVerification(w http.ResponseWriter, r *http.Request, status int, page verifyPageData) {
	if jwt := cmp.Or(page.Credential, page.Linked); jwt != "" {
		res := h.verifier().Verify(r.Context(), jwt)
		chargeRows(r, int64(len(res.Checks)))
		page.Result = &res
		if res.Claims != nil {
			page.Name = res.Claims.Name
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	w.WriteHeader(status)
	if err := verifyTemplate.Execute(w, page); err != nil {
		h.requestLog(w).Error("verify page", "err", err)
	}
}

type verifyPageData struct {
	// Credential is the one pasted; Linked the one a link named, which
	// the form does not repeat (the link is what the holder shares).
	Credential string
	Linked     string
	Error      string
	Name       string
	Result     *credential.Result
}

var verifyTemplate = template.Must(template.New("verify").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Verify a credential</title>
<style>body{font-family:sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}textarea{width:100%}
.ok{color:#075e07}.failed{color:#a00}td,th{padding:.3rem .6rem;text-align:left;vertical-align:top}</style></head>
<body>
<main>
<h1>Verify a credential</h1>
{{with .Error}}<p class="failed" role="alert">{{.}}</p>{{end}}
{{with .Result}}<section aria-labelledby="result">
<h2 id="result">{{if .Valid}}<span class="ok">Valid</span>{{else if .Revoked}}<span class="failed">Revoked</span>{{else}}<span class="failed">Not valid</span>{{end}}{{with $.Name}}: {{.}}{{end}}</h2>
<table><thead><tr><th scope="col">Check</th><th scope="col">Result</th><th scope="col">Detail</th></tr></thead><tbody>
{{range .Checks}}<tr><th scope="row">{{.Check}}</th><td class="{{if .OK}}ok{{else}}failed{{end}}">{{if .OK}}ok{{else}}failed{{end}}</td><td>{{.Detail}}</td></tr>
{{end}}</tbody></table></section>{{end}}
<form method="post" action="/verify" enctype="multipart/form-data">
<p><label for="credential">Paste a credential (a VC-JWT):</label></p>
<p><textarea id="credential" name="credential" rows="8">{{.Credential}}</textarea></p>
<p><label for="file">or choose its file:</label> <input type="file" id="file" name="file" accept=".jwt,.txt,application/vc+jwt,text/plain"></p>
<p><button type="submit">Verify</button></p>
</form>
<p>Programs can POST the credential to <code>/v1/verify</code> as <code>{"credential": "..."}</code>.</p>
</main>
</body></html>
`))

// withIssuer answers 404 for a credential route of a handler with no
// issuer key.
func withIssuer(fn func(*Handler, http.ResponseWriter, *http.Request, actor)) func(*Handler, http.ResponseWriter, *http.Request, actor) {
	return func(h *Handler, w http.ResponseWriter, r *http.Request, a actor) {
		if h.issuer == nil {
			refuse(w, accreditation.CodeNotFound, "this service issues no credentials: it has no issuer key")
			return
		}
		fn(h, w, r, a)
	}
}
