package accreditation

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	"creditbank/ledger"
	"creditbank/vault"
)

// MaxBatch is the most outcomes one post may carry.
const MaxBatch = 10000

// Bank is the credit bank over a ledger: every method that changes anything
// is one command decided and written atomically by the ledger's sequencer,
// and every read sees the durable ledger only. Checks of a request's own
// form run on the caller's goroutine before it queues; checks against the
// state run inside the sequencer. Permission by role is the caller's job
// (docs/contract.md section 2); what depends on the data (whose outcome, which
// rule's target) is checked here.
type Bank struct {
	l     *ledger.Ledger
	insts institutionCache
	units unitFilter
	// dirs is the filter of the learners' directory keys, and vault the
	// record of changes to learners' existing vault keys (erasure.go).
	dirs     unitFilter
	vault    vaultChanges
	learners learnerCache
	// stalePlans counts conversions planned outside the sequencer that
	// an entry written meanwhile made plan again (Convert).
	stalePlans atomic.Int64
	// revoked are the token revocations in force (revocation.go).
	revoked tokenRevocations
	// keys wrap the learners' data keys and hash their ids (erasure.go);
	// legacy is set when the store holds entries from before sealing,
	// which name learners by plain id.
	keys   *vault.Keys
	legacy bool
	// sealedFrom is the ledger size from which outcomes are sealed.
	sealedFrom uint64
}

// New returns a bank over l, sealing learners' personal data with keys
// (erasure.go), which must be the keys l was written with. The caller
// keeps ownership of l, and writes to it only through this bank: the bank
// caches what it wrote. The token revocations in force are read from l
// here; should that fail, the first check of a token reads them again
// (revocation.go). A store first opened by a bank that seals is marked
// with the size from which its outcomes are sealed, and the erasures the
// ledger records are enforced on the vault (enforceErasures).
func New(l *ledger.Ledger, keys *vault.Keys) (*Bank, error) {
	if keys == nil {
		return nil, errors.New("accreditation: no keys to seal personal data with")
	}
	b := &Bank{l: l, keys: keys, units: unitFilter{prefix: unitPrefix}, dirs: unitFilter{prefix: vaultDirPrefix}}
	if err := b.markSealedFrom(); err != nil {
		return nil, err
	}
	if l.Writable() == nil {
		if _, err := b.enforceErasures(context.Background()); err != nil {
			return nil, fmt.Errorf("replay the erasures: %w", err)
		}
	}
	_ = b.revoked.load(b)
	return b, nil
}

// Ledger is the ledger the bank writes to.
func (b *Bank) Ledger() *ledger.Ledger { return b.l }

// do has the ledger's sequencer decide c and write what it emits, and
// returns the command's result once it is durable.
func (b *Bank) do(ctx context.Context, c command) (any, error) {
	var found []foundLearner
	r, err := b.l.Append(ctx, proposal{cmd: c, insts: &b.insts, units: &b.units, dirs: &b.dirs, keys: b.keys, legacy: b.legacy, sealedFrom: b.sealedFrom,
		vault: &b.vault, learners: &b.learners, found: &found})
	if err != nil {
		return nil, err
	}
	for _, f := range found { // durable now
		b.learners.put(f.hash, f.cachedLearner, &b.vault)
	}
	return r.Result, nil
}

// RegisterInstitution registers an institution with its public keys.
func (b *Bank) RegisterInstitution(ctx context.Context, actor Actor, reg Registration) (*Institution, error) {
	if err := reg.Validate(); err != nil {
		return nil, err
	}
	res, err := b.do(ctx, registerCmd{Actor: actor, Reg: reg})
	if err != nil {
		return nil, err
	}
	return res.(*Institution), nil
}

// AddKey registers one more public key for an institution.
func (b *Bank) AddKey(ctx context.Context, actor Actor, institution string, key PublicJWK) (*Institution, error) {
	res, err := b.do(ctx, addKeyCmd{Actor: actor, Institution: institution, Key: key})
	if err != nil {
		return nil, err
	}
	return res.(*Institution), nil
}

// RemoveKey removes an institution's key; tokens signed with it stop working.
func (b *Bank) RemoveKey(ctx context.Context, actor Actor, institution, kid string) (*Institution, error) {
	res, err := b.do(ctx, removeKeyCmd{Actor: actor, Institution: institution, Kid: kid})
	if err != nil {
		return nil, err
	}
	return res.(*Institution), nil
}

// Accredit grants an institution one more accreditation scope.
func (b *Bank) Accredit(ctx context.Context, actor Actor, institution string, scope AccreditationInput) (Accreditation, error) {
	if err := scope.Validate(); err != nil {
		return Accreditation{}, err
	}
	res, err := b.do(ctx, accreditCmd{Actor: actor, Institution: institution, Scope: scope})
	if err != nil {
		return Accreditation{}, err
	}
	return res.(Accreditation), nil
}

// Suspend stops an institution's postings at once.
func (b *Bank) Suspend(ctx context.Context, actor Actor, institution, reason string) (*Institution, error) {
	if err := checkText("reason", reason, 500); err != nil {
		return nil, err
	}
	res, err := b.do(ctx, suspendCmd{Actor: actor, Institution: institution, Reason: reason})
	if err != nil {
		return nil, err
	}
	return res.(*Institution), nil
}

// Reinstate lifts an institution's suspension, for a reason of up to 500
// characters that the entry records, or none ("").
func (b *Bank) Reinstate(ctx context.Context, actor Actor, institution, reason string) (*Institution, error) {
	if reason != "" {
		if err := checkText("reason", reason, 500); err != nil {
			return nil, err
		}
	}
	res, err := b.do(ctx, suspendCmd{Actor: actor, Institution: institution, Reason: reason, Lift: true})
	if err != nil {
		return nil, err
	}
	return res.(*Institution), nil
}

// WithdrawAccreditation ends an institution's accreditation, the one
// granted by entry seq, from today, for a reason of 1 to 500 characters:
// it admits no posting after; outcomes posted under it stand.
func (b *Bank) WithdrawAccreditation(ctx context.Context, actor Actor, institution string, seq uint64, reason string) (Accreditation, error) {
	if err := checkText("reason", reason, 500); err != nil {
		return Accreditation{}, err
	}
	res, err := b.do(ctx, withdrawCmd{Actor: actor, Institution: institution, Accreditation: seq, Reason: reason})
	if err != nil {
		return Accreditation{}, err
	}
	return res.(Accreditation), nil
}

// OutcomeHash is the SHA-256 of an outcome's canonical form: what the
// idempotency key is bound to.
func OutcomeHash(o OutcomeInput) ([32]byte, error) {
	c, err := marshalOutcomeInput(o)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(c), nil
}

// PostOutcomes records outcomes for the institution actor.ID, one result per
// item in order: valid items are stored even when others are rejected, and
// all that are stored are one atomic write.
func (b *Bank) PostOutcomes(ctx context.Context, actor Actor, items []OutcomeInput) ([]PostResult, error) {
	if actor.Role != RoleInstitution {
		return nil, errorf(CodeForbidden, "only institutions post outcomes")
	}
	if len(items) == 0 || len(items) > MaxBatch {
		return nil, errorf(CodeInvalid, "a post carries 1 to %d outcomes", MaxBatch)
	}
	items = withCanonicalLearners(items) // before the hashes and keys below, so l1 and L1 are one learner
	c := postCmd{Actor: actor, Items: items, Hashes: make([][32]byte, len(items)), Invalid: make([]error, len(items)),
		Prepared: make([]preparedOutcome, len(items)), Nonces: make([][24]byte, len(items))}
	learners := make([]string, 0, len(items))
	for i, o := range items {
		if err := o.Validate(); err != nil {
			c.Invalid[i] = err
			continue
		}
		learners = append(learners, o.Learner)
		input, err := marshalOutcomeInput(o)
		if err != nil {
			return nil, err
		}
		c.Hashes[i] = sha256.Sum256(input) // OutcomeHash, with the input kept
		if c.Prepared[i], err = prepareOutcome(actor.ID, o, input); err != nil {
			return nil, err
		}
	}
	// The items' nonces in one draw from the system's generator.
	nonces := make([]byte, 24*len(items))
	if _, err := rand.Read(nonces); err != nil {
		return nil, err
	}
	for i := range c.Nonces {
		copy(c.Nonces[i][:], nonces[24*i:])
	}
	res, err := b.doPrepared(ctx, func() (command, error) {
		var err error
		if c.Learners, err = b.prepareLearners(learners...); err != nil {
			return nil, err
		}
		c.Keyed = make([][32]byte, len(items))
		for i, o := range items {
			if lp := c.Learners[o.Learner]; c.Invalid[i] == nil && lp != nil && lp.Err == nil {
				c.Keyed[i] = idempotencyMAC(lp.Key, c.Prepared[i].input)
			}
		}
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	return res.([]PostResult), nil
}

// Revoke revokes an outcome and reverses its item of every conversion in
// force that used it (adjust.go).
func (b *Bank) Revoke(ctx context.Context, actor Actor, outcome uint64, reason string) (RevokeResult, error) {
	if err := checkText("reason", reason, 500); err != nil {
		return RevokeResult{}, err
	}
	res, err := b.do(ctx, revokeCmd{Actor: actor, Outcome: outcome, Reason: reason})
	if err != nil {
		return RevokeResult{}, err
	}
	return res.(RevokeResult), nil
}

// PublishRule publishes a rule, or its next version when the id exists.
func (b *Bank) PublishRule(ctx context.Context, actor Actor, r RuleInput) (Rule, error) {
	if err := r.Validate(); err != nil {
		return Rule{}, err
	}
	res, err := b.do(ctx, publishRuleCmd{Actor: actor, Rule: r})
	if err != nil {
		return Rule{}, err
	}
	return res.(Rule), nil
}

// RetireRule stops a rule from granting anything more, for a reason of 1
// to 500 characters that the entry records; past conversions stand.
// Publishing the id again is refused unless the rule input says to
// reinstate it.
func (b *Bank) RetireRule(ctx context.Context, actor Actor, id, reason string) (uint64, error) {
	if err := checkText("reason", reason, 500); err != nil {
		return 0, err
	}
	res, err := b.do(ctx, retireRuleCmd{Actor: actor, Rule: id, Reason: reason})
	if err != nil {
		return 0, err
	}
	return res.(uint64), nil
}

// Convert applies the latest version of a rule to a learner's outcomes.
// It plans the conversion against a durable read, outside the sequencer,
// and answers a refusal from there; the sequencer only checks that nothing
// the plan read has changed and writes it. When something has, it plans
// once more outside, and then, if that plan is overtaken too, inside the
// sequencer, where the scan is as bounded as outside (maxConversionScan).
// A refusal after reading returns a ConversionResult with only Cost set
// beside the error: what the refused request read is charged too.
func (b *Bank) Convert(ctx context.Context, actor Actor, req ConversionRequest) (ConversionResult, error) {
	if err := req.Validate(); err != nil {
		return ConversionResult{}, err
	}
	id := CanonicalLearnerID(req.Learner)
	l, err := b.learnerForCommand(id)
	if err != nil {
		return ConversionResult{}, err
	}
	req.Learner, actor = l.ref, actorByRef(actor, id, l.ref)
	res, err := b.convert(ctx, actor, req)
	res.Learner = id
	return res, nameLearner(err, l.ref, id)
}

// convert is Convert for the learner req names by reference.
func (b *Bank) convert(ctx context.Context, actor Actor, req ConversionRequest) (ConversionResult, error) {
	var cost Cost
	for attempt := 0; ; attempt++ {
		p, c, err := b.planDurable(actor, req)
		cost.Rows += c.Rows
		if err == nil && len(p.decision.Items) == 0 {
			err = notEligible(req.Learner, p)
		}
		if err != nil {
			return ConversionResult{Cost: cost}, err
		}
		res, err := b.do(ctx, convertCmd{Actor: actor, Req: req, Plan: &p, PlanInside: attempt > 0})
		var ce *costError
		if errors.As(err, &ce) {
			cost.Rows += ce.cost.Rows
			err = ce.err
		}
		if errors.Is(err, errStalePlan) {
			b.stalePlans.Add(1)
			continue
		}
		if err != nil {
			return ConversionResult{Cost: cost}, err
		}
		r := res.(ConversionResult)
		r.Cost.Rows += cost.Rows
		return r, nil
	}
}

// read runs fn over the durable state.
func (b *Bank) read(fn func(r *ledger.Reader, s store) error) error {
	return b.l.Read(func(r *ledger.Reader) error { return fn(r, readerStore{r}) })
}

// Institution returns a registered institution, as of the latest durable
// entry. The result is shared and must not be changed.
func (b *Bank) Institution(id string) (*Institution, error) {
	var in *Institution
	err := b.read(func(r *ledger.Reader, s store) error {
		if c, ok := b.insts.get(id); ok {
			in = c
			return nil
		}
		var err error
		if in, err = loadInstitution(s, id); err != nil {
			return err
		}
		b.insts.put(id, in, r.Size())
		return nil
	})
	return in, err
}

// Rule returns the latest version of a rule (version 0) or the given one,
// and whether the rule is retired.
func (b *Bank) Rule(id string, version int) (Rule, bool, error) {
	rule, retired, _, err := b.RuleStatus(id, version)
	return rule, retired, err
}

// RuleStatus is Rule with the retirement in force, if the rule is retired
// (nil also for a retirement a store written before retirements were kept
// holds without one).
func (b *Bank) RuleStatus(id string, version int) (Rule, bool, *Retirement, error) {
	var (
		rule       Rule
		retired    bool
		retirement *Retirement
	)
	err := b.read(func(_ *ledger.Reader, s store) error {
		head, err := getJSON[ruleHead](s, ruleKey(id))
		if err != nil {
			return err
		}
		if head == nil {
			return errorf(CodeNotFound, "no rule %q", id)
		}
		retired, retirement = head.Retired, head.Retirement
		if version == 0 {
			version = head.Latest
		}
		r, err := getJSON[Rule](s, ruleVersionKey(id, version))
		if err != nil {
			return err
		}
		if r == nil {
			return errorf(CodeNotFound, "rule %q has no version %d", id, version)
		}
		rule = *r
		return nil
	})
	return rule, retired, retirement, err
}

// HasPosted reports whether an institution ever posted an outcome for a
// learner. It no longer lets the institution read the learner's record:
// that takes the learner's grant (ActiveGrant, grants.go).
func (b *Bank) HasPosted(institution, learner string) (bool, error) {
	var ok bool
	err := b.read(func(_ *ledger.Reader, s store) error {
		l, err := b.readLearner(s, learner)
		if err != nil {
			return err
		}
		v, err := s.get(postedKey(institution, l.ref))
		ok = v != nil
		return err
	})
	return ok, err
}

// Balance returns what a learner holds now.
func (b *Bank) Balance(learner string) (*Balance, error) {
	learner = CanonicalLearnerID(learner)
	var bal *Balance
	err := b.read(func(r *ledger.Reader, s store) error {
		l, err := b.readLearner(s, learner)
		if err != nil {
			return err
		}
		if bal, err = loadBalance(s, l.ref); bal != nil {
			bal.Learner = learner
			bal.Cost.Rows += r.Rows() // the changes summed, and the keys read
		}
		return err
	})
	return bal, err
}

// TranscriptOutcome is an outcome on a transcript.
type TranscriptOutcome struct {
	Seq        uint64 `json:"seq"`
	RecordedAt string `json:"recorded_at"`
	// Status is "active" or "revoked".
	Status string `json:"status"`
	// Revocation says which entry revoked the outcome and why, when it is
	// revoked.
	Revocation *OutcomeRevocation `json:"revocation,omitempty"`
	// InstitutionName is the name of the institution that posted it.
	InstitutionName string `json:"institution_name,omitempty"`
	Outcome

	// content, when set (by a transcript read undecoded, with Outcome left
	// zero, or by PostResult.TranscriptOutcome), is the outcome's entry
	// content as the ledger stores it, which MarshalJSON writes instead of
	// Outcome.
	content json.RawMessage
	// hideKey leaves the idempotency key out: the reader did not post it.
	hideKey bool
}

// MarshalJSON writes seq, recorded_at, status, the revocation and the
// institution's name followed by the outcome's members: the entry content
// as it stands when the outcome was read undecoded, so that a transcript
// page is written without decoding and re-encoding each outcome (most of a
// transcript read's time).
func (o TranscriptOutcome) MarshalJSON() ([]byte, error) { return o.appendJSON(nil) }

// appendJSON appends what MarshalJSON returns to b.
func (o TranscriptOutcome) appendJSON(b []byte) ([]byte, error) {
	body := []byte(o.content)
	if len(body) < 2 || body[0] != '{' {
		v, err := marshalJSON(o.Outcome)
		if err != nil {
			return nil, err
		}
		body = v
	}
	members := body[1:] // down to and with the closing brace
	if o.hideKey {
		members = membersWithoutKey(body)
	}
	b = strconv.AppendUint(append(b, `{"seq":`...), o.Seq, 10)
	b = append(append(append(b, `,"recorded_at":"`...), o.RecordedAt...), `","status":"`...)
	b = append(append(b, o.Status...), '"')
	if o.Revocation != nil {
		v, err := marshalJSON(o.Revocation)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"revocation":`...), v...)
	}
	if o.InstitutionName != "" {
		b = appendJSONText(append(b, `,"institution_name":`...), o.InstitutionName)
	}
	if len(members) == 1 { // }
		return append(b, '}'), nil
	}
	return append(append(b, ','), members...), nil
}

// AppendJSON appends the transcript as JSON: what json.Marshal writes, less
// its check of each outcome's stored bytes (json.Marshal re-scans whatever a
// MarshalJSON returns, a fifth of a transcript read's time). The stored
// bytes are the ledger's own compact JSON.
func (tr *Transcript) AppendJSON(b []byte) ([]byte, error) {
	learner, err := marshalJSON(tr.Learner)
	if err != nil {
		return nil, err
	}
	b = append(append(append(b, `{"learner":`...), learner...), `,"outcomes":[`...)
	for i, o := range tr.Outcomes {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = o.appendJSON(b); err != nil {
			return nil, err
		}
	}
	for _, part := range []struct {
		name string
		v    any
	}{{"conversions", tr.Conversions}, {"totals", tr.Totals}, {"next_cursor", tr.NextCursor}} {
		v, err := marshalJSON(part.v)
		if err != nil {
			return nil, err
		}
		if part.name == "conversions" {
			b = append(b, ']')
		}
		b = append(append(append(append(b, `,"`...), part.name...), `":`...), v...)
	}
	return append(b, '}'), nil
}

// marshalJSON is json.Marshal without escaping <, > and &, as the API
// writes JSON.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// TranscriptConversion is a conversion on a transcript.
type TranscriptConversion struct {
	Seq        uint64 `json:"seq"`
	RecordedAt string `json:"recorded_at"`
	// Status is "granted", "adjusted" (a revocation changed some items,
	// others stand) or "reversed" (no item is left in force).
	Status     string  `json:"status"`
	ReversedBy *uint64 `json:"reversed_by,omitempty"`
	Conversion
	ConversionChanges
}

// Transcript is one page of a learner's record.
type Transcript struct {
	Learner     string                 `json:"learner"`
	Outcomes    []TranscriptOutcome    `json:"outcomes"`
	Conversions []TranscriptConversion `json:"conversions"`
	Totals      *Balance               `json:"totals"`
	NextCursor  string                 `json:"next_cursor"`
	// Cost is what reading the page took.
	Cost Cost `json:"-"`
}

// Transcript reads up to limit of a learner's entries after cursor, all as
// of one durable tree size, with every member of every outcome: the bank's
// own view, which [Bank.TranscriptPage] narrows to what a reader may see.
func (b *Bank) Transcript(learner, cursor string, limit int) (*Transcript, error) {
	return b.transcript(TranscriptQuery{Learner: learner, Cursor: cursor, Limit: limit, Decode: true, everyKey: true})
}

// TranscriptUndecoded is Transcript with the outcomes left undecoded: each
// keeps its entry content as the ledger stores it and its Outcome is zero,
// so only [TranscriptOutcome.MarshalJSON] and [Transcript.AppendJSON] show
// it. It spares a reader that only writes the page out as JSON decoding
// and re-encoding every outcome.
func (b *Bank) TranscriptUndecoded(learner, cursor string, limit int) (*Transcript, error) {
	return b.transcript(TranscriptQuery{Learner: learner, Cursor: cursor, Limit: limit, everyKey: true})
}

func (b *Bank) transcript(q TranscriptQuery) (*Transcript, error) {
	q.Learner = CanonicalLearnerID(q.Learner)
	if q.Limit < 1 {
		return nil, errorf(CodeInvalid, "limit must be at least 1")
	}
	if err := q.Filter.Validate(); err != nil {
		return nil, err
	}
	start, filter, err := transcriptPosition(q.Cursor, q.Filter)
	if err != nil {
		return nil, err
	}
	tr := &Transcript{Learner: q.Learner, Outcomes: []TranscriptOutcome{}, Conversions: []TranscriptConversion{}}
	rd := &transcriptRead{bank: b, reader: q.Reader, decode: q.Decode, everyKey: q.everyKey, names: map[string]string{}, learner: q.Learner}
	err = b.read(func(r *ledger.Reader, s store) error {
		l, err := b.readLearner(s, q.Learner)
		if err != nil {
			return err
		}
		rd.key = l.key
		seqs, next, err := selectTranscript(r, s, l.ref, start, filter, q.Limit)
		if err != nil {
			return err
		}
		if next != nil {
			tr.NextCursor = transcriptCursor(*next, filter)
		}
		for _, seq := range seqs {
			if err := addToTranscript(tr, r, s, seq, rd); err != nil {
				return err
			}
		}
		tr.Totals, err = loadBalance(s, l.ref)
		tr.Cost.Rows = r.Rows()
		if tr.Totals != nil {
			tr.Totals.Learner = q.Learner
			tr.Cost.Rows += tr.Totals.Cost.Rows // the balance changes summed
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return tr, nil
}

func addToTranscript(tr *Transcript, r *ledger.Reader, s store, seq uint64, rd *transcriptRead) error {
	b, err := r.Entry(seq)
	if err != nil {
		return err
	}
	e, err := ledger.DecodeEntry(b)
	if err != nil {
		return fmt.Errorf("entry %d: %w", seq, err)
	}
	at := e.RecordedAt.Format(ledger.TimeLayout)
	switch e.Type {
	case TypeOutcomeRecorded:
		to, err := rd.outcome(r, s, seq, at, e.Content)
		if err != nil {
			return err
		}
		tr.Outcomes = append(tr.Outcomes, to)
	case TypeConversionGranted:
		cs, err := getJSON[conversionState](s, convKey(seq))
		if err != nil {
			return err
		}
		if cs == nil {
			return fmt.Errorf("conversion %d has no state", seq)
		}
		tc := TranscriptConversion{Seq: seq, RecordedAt: at, Status: "granted", Conversion: cs.Conversion, ConversionChanges: cs.changes()}
		tc.Learner = rd.learner
		if cs.Reversed != nil {
			tc.Status, tc.ReversedBy = "reversed", cs.Reversed
		} else if len(cs.Adjusted) > 0 {
			tc.Status = "adjusted"
		}
		tr.Conversions = append(tr.Conversions, tc)
	}
	return nil
}

// AuditFilter selects conversions for the audit listing. Empty fields match
// everything; From and To bound the conversion date (inclusive).
type AuditFilter struct {
	Rule        string
	Institution string // the target institution, or the institution of a source outcome
	From, To    string
}

// AuditSource is one outcome a conversion used, as the audit lists it.
type AuditSource struct {
	ConversionItem
	Institution string `json:"institution"`
	Sector      string `json:"sector"`
	Level       int    `json:"level"`
	Field       string `json:"field"`
	CompletedOn string `json:"completed_on"`
	Revoked     bool   `json:"revoked"`
}

// AuditedConversion is a conversion with the rule version and the source
// outcomes it used.
type AuditedConversion struct {
	Seq        uint64 `json:"seq"`
	RecordedAt string `json:"recorded_at"`
	Actor      string `json:"actor"`
	Conversion        // learner, rule, target, on, items, granted, capped
	// LearnerErased is set when the learner's personal data was erased:
	// Learner is then the reference the ledger names them by.
	LearnerErased bool          `json:"learner_erased,omitempty"`
	Sources       []AuditSource `json:"sources"`
	ReversedBy    *uint64       `json:"reversed_by,omitempty"`
	ConversionChanges
	// ref is the learner's reference, as the entry names them.
	ref string
}

// AuditPage is one page of the audit listing.
type AuditPage struct {
	Conversions []AuditedConversion `json:"conversions"`
	NextCursor  string              `json:"next_cursor"`
	// Cost is what reading the page took.
	Cost Cost `json:"-"`
}

// auditScanLimit bounds how many conversions one page looks at, so a filter
// that matches little cannot make one request scan the whole journal.
const auditScanLimit = 10000

// AuditConversions lists conversions in seq order after cursor.
func (b *Bank) AuditConversions(f AuditFilter, cursor string, limit int) (*AuditPage, error) {
	start, err := ledger.ParseCursor(cursor)
	if err != nil {
		return nil, errorf(CodeInvalid, "bad cursor")
	}
	if limit < 1 {
		return nil, errorf(CodeInvalid, "limit must be at least 1")
	}
	if err := f.validate(); err != nil {
		return nil, err
	}
	page := &AuditPage{Conversions: []AuditedConversion{}}
	err = b.read(func(r *ledger.Reader, s store) error {
		var (
			scanned int
			ierr    error
		)
		err := r.Index(ledger.IndexType, TypeConversionGranted, start, func(seq uint64) bool {
			if len(page.Conversions) == limit || scanned == auditScanLimit {
				page.NextCursor = ledger.FormatCursor(seq)
				return false
			}
			scanned++
			ac, ok, err := auditedConversion(r, s, seq, f)
			if ok && err == nil {
				ac.Learner, ac.LearnerErased, err = b.learnerOf(s, ac.Learner)
				if ac.LearnerErased {
					ac.Learner = ac.ref
				}
			}
			if err != nil {
				ierr = err
				return false
			}
			if ok {
				page.Conversions = append(page.Conversions, ac)
			}
			return true
		})
		page.Cost.Rows = r.Rows()
		return errors.Join(err, ierr)
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

func auditedConversion(r *ledger.Reader, s store, seq uint64, f AuditFilter) (AuditedConversion, bool, error) {
	b, err := r.Entry(seq)
	if err != nil {
		return AuditedConversion{}, false, err
	}
	e, err := ledger.DecodeEntry(b)
	if err != nil {
		return AuditedConversion{}, false, err
	}
	var c Conversion
	if err := unmarshalContent(e.Content, &c); err != nil {
		return AuditedConversion{}, false, err
	}
	if (f.Rule != "" && c.Rule.ID != f.Rule) || (f.From != "" && c.On < f.From) || (f.To != "" && c.On > f.To) {
		return AuditedConversion{}, false, nil
	}
	ac := AuditedConversion{Seq: seq, RecordedAt: e.RecordedAt.Format(ledger.TimeLayout), Actor: e.Actor, Conversion: c, ref: c.Learner}
	match := f.Institution == "" || c.Target.Institution == f.Institution
	for _, it := range c.Items {
		st, err := getJSON[outcomeState](s, outKey(it.Outcome))
		if err != nil {
			return AuditedConversion{}, false, err
		}
		if st == nil {
			return AuditedConversion{}, false, fmt.Errorf("conversion %d uses unknown outcome %d", seq, it.Outcome)
		}
		match = match || st.Institution == f.Institution
		ac.Sources = append(ac.Sources, AuditSource{ConversionItem: it, Institution: st.Institution, Sector: st.Sector,
			Level: st.Level, Field: st.Field, CompletedOn: st.CompletedOn, Revoked: st.Revoked})
	}
	if !match {
		return AuditedConversion{}, false, nil
	}
	cs, err := getJSON[conversionState](s, convKey(seq))
	if err != nil {
		return AuditedConversion{}, false, err
	}
	if cs != nil {
		ac.ReversedBy, ac.ConversionChanges = cs.Reversed, cs.changes()
	}
	return ac, true, nil
}

func unmarshalContent(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode entry content: %w", err)
	}
	return nil
}

// InstitutionOutcomesQuery asks for one page of what an institution may read
// of a learner without the learner's grant (docs/contract.md section 7): the
// outcomes it posted for the learner, and the conversions toward its own
// programmes with their items.
type InstitutionOutcomesQuery struct {
	Institution string
	Learner     string
	// Cursor is "" for the first page, or a next_cursor of an earlier page.
	Cursor string
	Limit  int
	// Reader is who reads: only the posting institution sees an
	// outcome's idempotency key.
	Reader Actor
}

// InstitutionOutcomes is one page of an institution's view of a learner.
type InstitutionOutcomes struct {
	Institution string              `json:"institution"`
	Learner     string              `json:"learner"`
	Outcomes    []TranscriptOutcome `json:"outcomes"`
	// Conversions are the learner's conversions toward the institution's
	// programmes, with their items (outcomes of any institution, by seq).
	Conversions []TranscriptConversion `json:"conversions"`
	NextCursor  string                 `json:"next_cursor"`
	// Cost is what reading the page took.
	Cost Cost `json:"-"`
}

// InstitutionOutcomes reads up to q.Limit of the learner's entries that
// q.Institution may see without a grant, in seq order after q.Cursor, as of
// one durable tree size: its own outcomes (active or revoked) and the
// conversions whose target is one of its programmes. Nothing else of the
// learner is read out, not even its totals. Like a filtered transcript
// page, a page looks at no more than transcriptScanLimit of the learner's
// entries, so it may come back short, even empty, with a next_cursor.
func (b *Bank) InstitutionOutcomes(q InstitutionOutcomesQuery) (*InstitutionOutcomes, error) {
	q.Learner = CanonicalLearnerID(q.Learner)
	start, err := ledger.ParseCursor(q.Cursor)
	if err != nil {
		return nil, err
	}
	if q.Limit < 1 {
		return nil, errorf(CodeInvalid, "limit must be at least 1")
	}
	tr := &Transcript{Learner: q.Learner, Outcomes: []TranscriptOutcome{}, Conversions: []TranscriptConversion{}}
	out := &InstitutionOutcomes{Institution: q.Institution, Learner: q.Learner}
	rd := &transcriptRead{bank: b, reader: q.Reader, decode: true, names: map[string]string{}, learner: q.Learner}
	err = b.read(func(r *ledger.Reader, s store) error {
		l, err := b.readLearner(s, q.Learner)
		if err != nil {
			return err
		}
		rd.key = l.key
		seqs, next, err := selectLearnerEntries(r, l.ref, start, q.Limit, func(seq uint64) (bool, error) {
			return institutionSees(s, q.Institution, seq)
		})
		if err != nil {
			return err
		}
		if next != nil {
			out.NextCursor = ledger.FormatCursor(*next)
		}
		for _, seq := range seqs {
			if err := addToTranscript(tr, r, s, seq, rd); err != nil {
				return err
			}
		}
		out.Cost.Rows = r.Rows()
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.Outcomes, out.Conversions = tr.Outcomes, tr.Conversions
	return out, nil
}

// institutionSees reports whether entry seq of a learner is one that inst
// reads without a grant: an outcome it posted, or a conversion toward one
// of its programmes. Revocations and adjustments are shown on the outcome
// and the conversion they change.
func institutionSees(s store, inst string, seq uint64) (bool, error) {
	st, err := getJSON[outcomeState](s, outKey(seq))
	if err != nil || st != nil {
		return st != nil && st.Institution == inst, err
	}
	cs, err := getJSON[conversionState](s, convKey(seq))
	return cs != nil && cs.Target.Institution == inst, err
}
