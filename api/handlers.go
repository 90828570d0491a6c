package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"
	"golang.org/x/mod/sumdb/tlog"

	"creditbank/accreditation"
	"creditbank/ledger"
)

// actor is who asks, as authenticated by endpoint: the last argument of
// every handler.
type actor = accreditation.Actor

// writeJSON answers with v as JSON without escaping <, > and &, as the
// ledger encodes entry content, which some answers copy as it stands.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		writeProblem(w, http.StatusInternalServerError, "internal", "Internal error", "")
		return
	}
	writeJSONBytes(w, status, buf.Bytes())
}

// writeJSONBytes writes a JSON document already encoded.
func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (h *Handler) healthz(w http.ResponseWriter, _ *http.Request, _ actor) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func (h *Handler) readyz(w http.ResponseWriter, _ *http.Request, _ actor) {
	if err := h.ledger.Writable(); err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ready\n"))
}

func (h *Handler) jwks(w http.ResponseWriter, _ *http.Request, _ actor) {
	keys := []accreditation.PublicJWK{}
	for _, issuer := range h.auth.Issuers() {
		for _, k := range issuer.Keys {
			keys = append(keys, k)
		}
	}
	if h.issuer != nil {
		keys = append(keys, h.issuer.Key.Public())
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// --- institutions

func (h *Handler) registerInstitution(w http.ResponseWriter, r *http.Request, a actor) {
	var reg accreditation.Registration
	if !readJSON(w, r, maxBody, &reg) {
		return
	}
	in, err := h.bank.RegisterInstitution(r.Context(), a, reg)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, in)
}

func (h *Handler) getInstitution(w http.ResponseWriter, r *http.Request, _ actor) {
	in, err := h.bank.Institution(mux.Vars(r)["id"])
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, in)
}

func (h *Handler) addKey(w http.ResponseWriter, r *http.Request, a actor) {
	var k accreditation.PublicJWK
	if !readJSON(w, r, maxBody, &k) {
		return
	}
	in, err := h.bank.AddKey(r.Context(), a, mux.Vars(r)["id"], k)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, in)
}

func (h *Handler) removeKey(w http.ResponseWriter, r *http.Request, a actor) {
	v := mux.Vars(r)
	if _, err := h.bank.RemoveKey(r.Context(), a, v["id"], v["kid"]); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) accredit(w http.ResponseWriter, r *http.Request, a actor) {
	var scope accreditation.AccreditationInput
	if !readJSON(w, r, maxBody, &scope) {
		return
	}
	acc, err := h.bank.Accredit(r.Context(), a, mux.Vars(r)["id"], scope)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, acc)
}

// reasonBody is the body of a suspension or a revocation.
type reasonBody struct {
	Reason string `json:"reason"`
}

func (h *Handler) suspend(w http.ResponseWriter, r *http.Request, a actor) {
	var body reasonBody
	if !readJSON(w, r, maxBody, &body) {
		return
	}
	in, err := h.bank.Suspend(r.Context(), a, mux.Vars(r)["id"], body.Reason)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, in)
}

func (h *Handler) reinstate(w http.ResponseWriter, r *http.Request, a actor) {
	var body reasonBody
	if hasBody(r) && !readMembers(w, r, &body, reasonMembers) {
		return
	}
	in, err := h.bank.Reinstate(r.Context(), a, mux.Vars(r)["id"], body.Reason)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, in)
}

// --- outcomes

// outcomeBody is an outcome as posted. The server sets recorded_at and
// ignores any value a client sends (docs/contract.md section 3): it is accepted
// here and dropped, so it is neither stored nor part of the idempotency hash.
type outcomeBody struct {
	accreditation.OutcomeInput
	RecordedAt json.RawMessage `json:"recorded_at"`
}

// batchResult is one item's answer in a batch post.
type batchResult struct {
	Status string   `json:"status"`
	Seq    *uint64  `json:"seq,omitempty"`
	Error  *Problem `json:"error,omitempty"`
	// Effects are the conversion items a superseding outcome changed.
	Effects []accreditation.ItemEffect `json:"effects,omitempty"`
	// Flagged are the award.flagged entries of the awards that rested on
	// the outcome a superseding outcome replaced.
	Flagged []uint64 `json:"flagged,omitempty"`
}

func (h *Handler) postOutcomes(w http.ResponseWriter, r *http.Request, a actor) {
	data, ok := readBody(w, r, maxBatchBody)
	if !ok {
		return
	}
	isObject, batch := objectHasMember(data, "outcomes")
	if !isObject {
		writeProblem(w, http.StatusBadRequest, "bad-json", "Bad JSON body", "the body must be a JSON object")
		return
	}
	if batch {
		h.postBatch(w, r, a, data)
		return
	}
	input, err := decodeOutcomeBody(data)
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "bad-json", "Bad JSON body", err.Error())
		return
	}
	inputs := []accreditation.OutcomeInput{input}
	chargeRows(r, 1) // a post is charged per outcome
	results, err := h.bank.PostOutcomes(r.Context(), a, inputs)
	if err != nil {
		writeError(w, err)
		return
	}
	h.countOutcomes(inputs, results)
	result := results[0]
	if result.Status == accreditation.PostRejected {
		writeError(w, result.Err)
		return
	}
	status := http.StatusCreated
	if result.Status == accreditation.PostDuplicate {
		status = http.StatusOK
	}
	// The outcome as a transcript shows it to the institution that posted
	// it, named beside its id; the institution is cached since the token's
	// check read it.
	in, err := h.bank.Institution(a.ID)
	if err != nil {
		writeError(w, err)
		return
	}
	to := result.TranscriptOutcome()
	to.InstitutionName = in.Name
	b, err := to.MarshalJSON()
	if err == nil {
		b, err = appendEffects(b, result.Effects, result.Flagged)
	}
	if err != nil {
		writeProblem(w, http.StatusInternalServerError, "internal", "Internal error", "")
		return
	}
	writeJSONBytes(w, status, append(b, '\n'))
}

func (h *Handler) postBatch(w http.ResponseWriter, r *http.Request, a actor, data []byte) {
	items, ok := outcomeItems(data)
	if !ok {
		var body struct {
			Outcomes []json.RawMessage `json:"outcomes"`
		}
		if err := decodeStrict(data, &body); err != nil {
			writeProblem(w, http.StatusBadRequest, "bad-json", "Bad JSON body", err.Error())
			return
		}
		items = make([][]byte, len(body.Outcomes))
		for i, raw := range body.Outcomes {
			items[i] = raw
		}
	}
	// A post is charged per outcome, as each is decided and written.
	chargeRows(r, int64(len(items)))
	if len(items) == 0 || len(items) > accreditation.MaxBatch {
		refuse(w, accreditation.CodeInvalid, "a batch carries 1 to "+strconv.Itoa(accreditation.MaxBatch)+" outcomes")
		return
	}
	answers := make([]batchResult, len(items))
	inputs := make([]accreditation.OutcomeInput, 0, len(items))
	// itemOf[j] is the place in the batch of inputs[j]: items that do not
	// decode are answered here and never reach the bank.
	itemOf := make([]int, 0, len(items))
	for i, raw := range items {
		input, err := decodeOutcomeBody(raw)
		if err != nil {
			p := newProblem(http.StatusBadRequest, "bad-json", "Bad JSON body", clip(err.Error()))
			answers[i] = batchResult{Status: accreditation.PostRejected, Error: &p}
			continue
		}
		inputs = append(inputs, input)
		itemOf = append(itemOf, i)
	}
	if len(inputs) > 0 {
		results, err := h.bank.PostOutcomes(r.Context(), a, inputs)
		if err != nil {
			writeError(w, err)
			return
		}
		h.countOutcomes(inputs, results)
		for j, result := range results {
			answer := batchResult{Status: result.Status}
			if result.Status == accreditation.PostRejected {
				p := problemFor(result.Err)
				answer.Error = &p
			} else {
				seq := result.Seq
				answer.Seq, answer.Effects, answer.Flagged = &seq, result.Effects, result.Flagged
			}
			answers[itemOf[j]] = answer
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": answers})
}

// countOutcomes counts posted outcomes by sector and result; sectors outside
// the known set (rejected input) count as "invalid".
func (h *Handler) countOutcomes(inputs []accreditation.OutcomeInput, results []accreditation.PostResult) {
	// Counted per label pair and added once: a batch of 1,000 looked up its
	// counter 1,000 times.
	type labels struct{ sector, status string }
	counts := make(map[labels]float64, 4)
	for i, result := range results {
		sector := inputs[i].Sector
		if !accreditation.ValidSector(sector) {
			sector = "invalid"
		}
		counts[labels{sector, result.Status}]++
	}
	for l, n := range counts {
		h.metrics.outcomes.WithLabelValues(l.sector, l.status).Add(n)
	}
}

// seqVar reads the path variable name as a seq, answering 404 for anything
// else: a path that names no entry names no resource.
func seqVar(w http.ResponseWriter, r *http.Request, name string) (uint64, bool) {
	v := mux.Vars(r)[name]
	n, err := strconv.ParseUint(v, 10, 63)
	if err != nil || strconv.FormatUint(n, 10) != v {
		refuse(w, accreditation.CodeNotFound, name+" must be a non-negative integer")
		return 0, false
	}
	return n, true
}

func (h *Handler) revokeOutcome(w http.ResponseWriter, r *http.Request, a actor) {
	seq, ok := seqVar(w, r, "seq")
	if !ok {
		return
	}
	var body reasonBody
	if !readJSON(w, r, maxBody, &body) {
		return
	}
	res, err := h.bank.Revoke(r.Context(), a, seq, body.Reason)
	if err != nil {
		writeError(w, err)
		return
	}
	answer := map[string]any{"seq": res.Seq, "outcome": seq, "reversals": orEmpty(res.Reversals),
		"effects": orEmpty(res.Effects), "flagged": orEmpty(res.Flagged)}
	if len(res.Recognitions) > 0 {
		answer["recognitions"] = res.Recognitions // items of recognition cases reversed (section 13)
	}
	writeJSON(w, http.StatusCreated, answer)
}

// orEmpty returns s, or an empty slice for nil: the contract writes an empty
// list as [], never null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// --- learners

// mayReadLearner applies the data-dependent rows of the permission table
// (docs/contract.md sections 2 and 7): a learner reads only its own record,
// an institution only under the learner's grant in force today. It returns
// the id of that grant ("" for the other roles), for the access log. The
// grant is read from the durable state on every request, never cached, so
// that a withdrawal or an expiry refuses the very next read.
func (h *Handler) mayReadLearner(w http.ResponseWriter, a actor, learner string) (string, bool) {
	if !accreditation.ValidLearnerID(learner) {
		refuse(w, accreditation.CodeNotFound, "no learner can have this id")
		return "", false
	}
	switch a.Role {
	case accreditation.RoleAdmin, accreditation.RoleRegulator:
		return "", true
	case accreditation.RoleLearner:
		if accreditation.SameLearner(a.ID, learner) {
			return "", true
		}
	case accreditation.RoleInstitution:
		grant, err := h.bank.ActiveGrant(a.ID, learner)
		if err != nil {
			writeError(w, err)
			return "", false
		}
		if grant != "" {
			return grant, true
		}
		refuse(w, accreditation.CodeForbidden, "institution "+a.ID+" holds no grant in force from learner "+learner+
			"; without one it reads GET /v1/institutions/"+a.ID+"/outcomes?learner="+learner)
		return "", false
	}
	refuse(w, accreditation.CodeForbidden, "this token may not read learner "+learner)
	return "", false
}

// pageParams reads the query's limit (default 100, at most 1000) and
// cursor, answering 400 itself when either is bad.
func pageParams(w http.ResponseWriter, r *http.Request) (string, int, bool) {
	limit, err := limitParam(r)
	if err != nil {
		writeError(w, err)
		return "", 0, false
	}
	cursor := queryValue(r, "cursor")
	if _, err := ledger.ParseCursor(cursor); err != nil {
		p := problemFor(ledger.ErrBadCursor)
		p.Detail = "the cursor was not issued by this service"
		writeProblemValue(w, p)
		return "", 0, false
	}
	return cursor, limit, true
}

// admitLongRead waits for one of the slots of reads that take many store
// reads each (a transcript page, an audit listing) and returns the function
// that frees it, or false when the client went away first. Left to run all
// at once, 64 transcript readers on two cores held four writers to a p99 of
// 0.7 s: every write needs the sequencer to get a core.
func (h *Handler) admitLongRead(r *http.Request) (func(), bool) {
	select {
	case h.longReads <- struct{}{}:
		return func() { <-h.longReads }, true
	case <-r.Context().Done():
		return nil, false
	}
}

func (h *Handler) transcript(w http.ResponseWriter, r *http.Request, a actor) {
	learner := mux.Vars(r)["id"]
	grant, ok := h.mayReadLearner(w, a, learner)
	if !ok {
		return
	}
	q, err := transcriptQuery(r, learner, a)
	if err != nil {
		writeError(w, err)
		return
	}
	done, ok := h.admitLongRead(r)
	if !ok {
		return
	}
	defer done()
	tr, err := h.bank.TranscriptPage(q)
	if tr != nil {
		chargeRows(r, tr.Cost.Rows)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	b, err := tr.AppendJSON(make([]byte, 0, 1024+700*len(tr.Outcomes)))
	if err != nil {
		writeError(w, err)
		return
	}
	h.recordRead(r, a, learner, "transcript", grant) // only what is served is a read
	writeJSONBytes(w, http.StatusOK, append(b, '\n'))
}

func (h *Handler) balance(w http.ResponseWriter, r *http.Request, a actor) {
	learner := mux.Vars(r)["id"]
	grant, ok := h.mayReadLearner(w, a, learner)
	if !ok {
		return
	}
	if _, _, ok := pageParams(w, r); !ok {
		return
	}
	// A balance sums, when read, a stored change for every outcome and
	// conversion of the learner: admitted as a long read, as a transcript.
	done, ok := h.admitLongRead(r)
	if !ok {
		return
	}
	defer done()
	bal, err := h.bank.Balance(learner)
	if bal != nil {
		chargeRows(r, bal.Cost.Rows)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	h.recordRead(r, a, learner, "balance", grant) // only what is served is a read
	// A balance is one small document: it always fits in one page.
	writeJSON(w, http.StatusOK, map[string]any{
		"learner": bal.Learner, "standard_credits": bal.StandardCredits,
		"by_sector": bal.BySector, "granted": bal.Granted, "next_cursor": "",
	})
}

// --- rules and conversions

// ruleView is a rule version as the API answers with it: the rule,
// whether it is retired, and when and why while it is.
type ruleView struct {
	accreditation.Rule
	Retired    bool                      `json:"retired"`
	Retirement *accreditation.Retirement `json:"retirement,omitempty"`
}

func (h *Handler) publishRule(w http.ResponseWriter, r *http.Request, a actor) {
	var input accreditation.RuleInput
	if !readMembers(w, r, &input, ruleMembers) {
		return
	}
	rule, err := h.bank.PublishRule(r.Context(), a, input)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, ruleView{Rule: rule})
}

func (h *Handler) getRule(w http.ResponseWriter, r *http.Request, _ actor) {
	rule, retired, retirement, err := h.bank.RuleStatus(mux.Vars(r)["id"], 0)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ruleView{Rule: rule, Retired: retired, Retirement: retirement})
}

func (h *Handler) getRuleVersion(w http.ResponseWriter, r *http.Request, _ actor) {
	v := mux.Vars(r)["version"]
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || strconv.Itoa(n) != v {
		refuse(w, accreditation.CodeNotFound, "version must be a positive integer")
		return
	}
	rule, retired, retirement, err := h.bank.RuleStatus(mux.Vars(r)["id"], n)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ruleView{Rule: rule, Retired: retired, Retirement: retirement})
}

func (h *Handler) retireRule(w http.ResponseWriter, r *http.Request, a actor) {
	id := mux.Vars(r)["id"]
	if !accreditation.ValidRuleID(id) {
		refuse(w, accreditation.CodeNotFound, "no rule can have this id")
		return
	}
	var body reasonBody
	if !readMembers(w, r, &body, reasonMembers) {
		return
	}
	seq, err := h.bank.RetireRule(r.Context(), a, id, body.Reason)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"seq": seq, "rule": id, "reason": body.Reason})
}

// conversionView is a granted conversion as the API answers with it: its
// seq, then what its preview would have answered.
type conversionView struct {
	Seq uint64 `json:"seq"`
	previewView
}

func (h *Handler) convert(w http.ResponseWriter, r *http.Request, a actor) {
	var req accreditation.ConversionRequest
	if !readJSON(w, r, maxBody, &req) {
		return
	}
	res, err := h.bank.Convert(r.Context(), a, req)
	// A refused conversion read its candidates too: its cost comes with
	// the error.
	chargeRows(r, res.Cost.Rows)
	if err != nil {
		result := string(accreditation.CodeOf(err))
		if result == "" {
			result = "error"
		}
		h.metrics.conversions.WithLabelValues(result).Inc()
		writeError(w, err)
		return
	}
	h.metrics.conversions.WithLabelValues("granted").Inc()
	writeJSON(w, http.StatusCreated, conversionView{Seq: res.Seq, previewView: previewView{
		Rule: res.Rule, Learner: res.Learner, Target: res.Target, On: res.On,
		Granted: res.Granted, Capped: res.Capped, Items: res.Items, Ineligible: orEmpty(res.Ineligible), Omitted: res.IneligibleOmitted,
	}})
}

func (h *Handler) auditConversions(w http.ResponseWriter, r *http.Request, _ actor) {
	cursor, limit, ok := pageParams(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := accreditation.AuditFilter{Rule: q.Get("rule"), Institution: q.Get("institution"), From: q.Get("from"), To: q.Get("to")}
	done, ok := h.admitLongRead(r)
	if !ok {
		return
	}
	defer done()
	page, err := h.bank.AuditConversions(f, cursor, limit)
	if page != nil {
		chargeRows(r, page.Cost.Rows)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversions": page.Conversions, "next_cursor": page.NextCursor})
}

// --- the log

func (h *Handler) logEntry(w http.ResponseWriter, r *http.Request, _ actor) {
	seq, ok := seqVar(w, r, "seq")
	if !ok {
		return
	}
	b, err := h.ledger.Entry(seq)
	if err != nil {
		writeError(w, err)
		return
	}
	// The exact stored bytes: the leaf the tree hashes.
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(b)
}

func (h *Handler) checkpoint(w http.ResponseWriter, _ *http.Request, _ actor) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(h.servedCheckpoint())
}

func (h *Handler) logKey(w http.ResponseWriter, _ *http.Request, _ actor) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(h.ledger.VerifierKey() + "\n"))
}

// uintParams reads required non-negative integer query parameters.
func uintParams(w http.ResponseWriter, req *http.Request, names ...string) ([]uint64, bool) {
	out := make([]uint64, len(names))
	q := req.URL.Query()
	for i, name := range names {
		v := q.Get(name)
		n, err := strconv.ParseUint(v, 10, 63)
		if err != nil || strconv.FormatUint(n, 10) != v {
			writeError(w, badParameter(name, "must be a non-negative integer in decimal"))
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

// inclusionProof and consistencyProof are the RFC 6962 proofs as the API
// answers with them, each hash in standard base64.
type inclusionProof struct {
	Index  uint64   `json:"index"`
	Size   uint64   `json:"size"`
	Hashes []string `json:"hashes"`
}

type consistencyProof struct {
	From   uint64   `json:"from"`
	To     uint64   `json:"to"`
	Hashes []string `json:"hashes"`
}

func (h *Handler) inclusion(w http.ResponseWriter, r *http.Request, _ actor) {
	params, ok := uintParams(w, r, "index", "size")
	if !ok {
		return
	}
	index, size := params[0], params[1]
	hashes, err := h.ledger.InclusionProof(index, size)
	chargeRows(r, int64(len(hashes))) // each hash is a stored row
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, inclusionProof{Index: index, Size: size, Hashes: encodeHashes(hashes)})
}

func (h *Handler) consistency(w http.ResponseWriter, r *http.Request, _ actor) {
	params, ok := uintParams(w, r, "from", "to")
	if !ok {
		return
	}
	from, to := params[0], params[1]
	hashes, err := h.ledger.ConsistencyProof(from, to)
	chargeRows(r, int64(len(hashes))) // each hash is a stored row
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, consistencyProof{From: from, To: to, Hashes: encodeHashes(hashes)})
}

// encodeHashes writes proof hashes in standard base64.
func encodeHashes(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return out
}

func (h *Handler) serveMetrics(w http.ResponseWriter, r *http.Request, _ actor) {
	h.metrics.Handler().ServeHTTP(w, r)
}

func (h *Handler) openapi(w http.ResponseWriter, _ *http.Request, _ actor) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDocument)
}
