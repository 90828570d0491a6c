package accreditation

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"creditbank/ledger"
)

// Credentials a learner can show (docs/contract.md section 10): the bank
// records each issuance as a credential.issued entry naming the learner by
// reference, the kind, the outcomes or award it rests on, and its place in
// a status list (a list number and an index drawn at random before the
// sequencer, which refuses a taken index so that the caller draws again).
// The entry holds no personal data; package credential builds and signs
// the credential itself from what the learner's key opens.
//
// Status bits are state derived from entries, in apply: a revocation or
// supersession of an outcome (outcome.revoked), a flag on an award
// (award.flagged) and the erasure of the learner (learner.erased) revoke
// every credential resting on them, live and in replay alike.

// TypeCredentialIssued records the issuance of a credential.
const TypeCredentialIssued = "credential.issued"

// Kinds of credential.
const (
	CredentialOutcome    = "outcome"
	CredentialTranscript = "transcript"
	CredentialAward      = "award"
)

// StatusListBits is the length of a status list, W3C Bitstring Status
// List's minimum of 131,072 (credential.ListBits; a test checks they
// agree). A list takes new credentials until a quarter of its indexes are
// used (statusListFill), so that a random draw rarely hits a taken one and
// the index says nothing of the order of issuance; then the next list opens.
const (
	StatusListBits = 131072
	statusListFill = StatusListBits / 4
)

// CredentialIssued is the content of credential.issued.
type CredentialIssued struct {
	// ID is the credential's id (urn:uuid), chosen before the sequencer.
	ID string `json:"id"`
	// Learner is the learner's reference.
	Learner  string   `json:"learner"`
	Kind     string   `json:"kind"`
	Outcomes []uint64 `json:"outcomes"`
	Award    *uint64  `json:"award,omitempty"`
	List     uint64   `json:"list"`
	Index    uint64   `json:"index"`
	// Partial marks a transcript of selected outcomes, so that the
	// credential can be built again from its entry (Bank.Credential).
	Partial bool `json:"partial,omitempty"`
}

// CredentialRevocation says which entry revoked a credential and why.
type CredentialRevocation struct {
	Seq    uint64 `json:"seq"`
	Reason string `json:"reason"`
}

// credentialState is what the bank keeps of an issued credential.
type credentialState struct {
	Seq uint64 `json:"seq"`
	CredentialIssued
	Revoked *CredentialRevocation `json:"revoked,omitempty"`
}

// openList is the status list taking new credentials.
type openList struct {
	List   uint64 `json:"list"`
	Issued uint64 `json:"issued"`
}

// The state of credentials:
//
//	cred/<seq>                    credentialState
//	credidx/<list>/<index>        the seq of the credential at that index
//	credon/<outcome seq>          restingCredentials: those resting on the outcome
//	credaward/<award seq>         restingCredentials: those resting on the award
//	credlearner/<reference>       restingCredentials: the learner's
//	credrevoked/<list>/<index>    the seq of the entry that revoked it: the set bits
//	credlist                      openList
func credKey(seq uint64) string { return hexKey("cred/", seq) }
func credIndexKey(list, index uint64) string {
	return fmt.Sprintf("credidx/%08d/%08d", list, index)
}
func credOnKey(outcome uint64) string  { return hexKey("credon/", outcome) }
func credAwardKey(award uint64) string { return hexKey("credaward/", award) }
func credLearnerKey(ref string) string { return "credlearner/" + ref }
func credRevokedPrefix(list uint64) string {
	return fmt.Sprintf("credrevoked/%08d/", list)
}

const credListKey = "credlist"

type restingCredentials struct {
	Credentials []uint64 `json:"credentials"`
}

// errStatusTaken sends IssueCredential to draw another index: the one it
// drew is taken, or the list it read is no longer open.
var errStatusTaken = errors.New("status index taken")

type issueCredentialCmd struct {
	Actor   Actor
	Content CredentialIssued
}

func (c issueCredentialCmd) decide(t *tx) (any, error) {
	ci := c.Content
	if err := checkNotErased(t, ci.Learner); err != nil {
		return nil, err
	}
	open, err := loadOpenList(t)
	if err != nil {
		return nil, err
	}
	if ci.List != open.List || ci.Index >= StatusListBits {
		return nil, errStatusTaken
	}
	if v, err := t.get(credIndexKey(ci.List, ci.Index)); err != nil {
		return nil, err
	} else if v != nil {
		return nil, errStatusTaken
	}
	for _, seq := range ci.Outcomes {
		st, err := getJSON[outcomeState](t, outKey(seq))
		if err != nil {
			return nil, err
		}
		if st == nil || st.Learner != ci.Learner {
			return nil, errorf(CodeNotFound, "learner has no outcome %d", seq)
		}
		if st.Revoked {
			return nil, errorf(CodeConflict, "outcome %d is revoked: no credential can rest on it", seq)
		}
	}
	if ci.Award != nil {
		rec, err := getJSON[AwardRecord](t, awardKey(*ci.Award))
		if err != nil {
			return nil, err
		}
		if rec == nil || rec.Learner != ci.Learner {
			return nil, errorf(CodeNotFound, "learner has no award %d", *ci.Award)
		}
		if len(rec.Flags) > 0 {
			return nil, errorf(CodeConflict, "award %d is flagged (entry %d): no credential can rest on it", *ci.Award, rec.Flags[0].Seq)
		}
	}
	return t.emit(TypeCredentialIssued, c.Actor, ci, []ledger.IndexKey{learnerIndex(ci.Learner)}, nil)
}

func loadOpenList(s store) (openList, error) {
	o, err := getJSON[openList](s, credListKey)
	if err != nil || o == nil {
		return openList{List: 1}, err
	}
	return *o, nil
}

// applyCredential applies credential.issued.
func applyCredential(s store, e ledger.Entry) error {
	var ci CredentialIssued
	if err := json.Unmarshal(e.Content, &ci); err != nil {
		return err
	}
	if err := putJSON(s, credKey(e.Seq), credentialState{Seq: e.Seq, CredentialIssued: ci}); err != nil {
		return err
	}
	s.put(credIndexKey(ci.List, ci.Index), strconv.AppendUint(nil, e.Seq, 10))
	rests := []string{credLearnerKey(ci.Learner)}
	for _, o := range ci.Outcomes {
		rests = append(rests, credOnKey(o))
	}
	if ci.Award != nil {
		rests = append(rests, credAwardKey(*ci.Award))
	}
	for _, k := range rests {
		list, err := getJSON[restingCredentials](s, k)
		if err != nil {
			return err
		}
		if list == nil {
			list = &restingCredentials{}
		}
		if !slices.Contains(list.Credentials, e.Seq) {
			list.Credentials = append(list.Credentials, e.Seq)
			if err := putJSON(s, k, list); err != nil {
				return err
			}
		}
	}
	open, err := loadOpenList(s)
	if err != nil {
		return err
	}
	if ci.List == open.List {
		open.Issued++
		if open.Issued >= statusListFill {
			open = openList{List: open.List + 1}
		}
	}
	return putJSON(s, credListKey, open)
}

// revokeResting revokes every credential listed under key, by entry seq:
// their bits are set from then on.
func revokeResting(s store, key string, seq uint64, reason string) error {
	list, err := getJSON[restingCredentials](s, key)
	if err != nil || list == nil {
		return err
	}
	for _, c := range list.Credentials {
		st, err := getJSON[credentialState](s, credKey(c))
		if err != nil {
			return err
		}
		if st == nil {
			return fmt.Errorf("%s lists credential %d, which has no state", key, c)
		}
		if st.Revoked != nil {
			continue
		}
		st.Revoked = &CredentialRevocation{Seq: seq, Reason: reason}
		if err := putJSON(s, credKey(c), st); err != nil {
			return err
		}
		s.put(fmt.Sprintf("%s%08d", credRevokedPrefix(st.List), st.Index), strconv.AppendUint(nil, seq, 10))
	}
	return nil
}

// CredentialRequest is what a learner asks a credential of: an outcome
// (Outcomes names one), a transcript (the outcomes named, or every active
// one when none is), or an award.
type CredentialRequest struct {
	Kind     string   `json:"kind"`
	Outcomes []uint64 `json:"outcomes,omitempty"`
	Award    *uint64  `json:"award,omitempty"`
}

// IssuedCredential is a credential.issued entry with what the credential
// states, read through the learner's key.
type IssuedCredential struct {
	Seq        uint64
	RecordedAt string
	CredentialIssued
	// Learner is the learner's id (the entry names the reference).
	LearnerID string
	Outcomes  []TranscriptOutcome
	Award     *AwardRecord
	Programme *Programme
}

// IssueCredential records the issuance of a credential of learner's
// outcomes or award: actor is the learner (or an admin for them). It
// reads what the credential states through the learner's key, draws a
// status index, and has the sequencer check the outcomes or award still
// stand and the index is free, drawing again when it is taken.
func (b *Bank) IssueCredential(ctx context.Context, actor Actor, learner string, req CredentialRequest) (IssuedCredential, error) {
	if err := checkLearnerID("learner", learner); err != nil {
		return IssuedCredential{}, err
	}
	id := CanonicalLearnerID(learner)
	l, err := b.learnerForCommand(id)
	if err != nil {
		return IssuedCredential{}, err
	}
	out, err := b.credentialContent(id, req)
	if err != nil {
		return IssuedCredential{}, err
	}
	out.LearnerID = id
	out.Learner = l.ref
	out.Kind = req.Kind
	if out.ID, err = newUUID(); err != nil {
		return IssuedCredential{}, err
	}
	for range 16 {
		var open openList
		if err := b.read(func(_ *ledger.Reader, s store) error {
			open, err = loadOpenList(s)
			return err
		}); err != nil {
			return IssuedCredential{}, err
		}
		var n [8]byte
		if _, err := rand.Read(n[:]); err != nil {
			return IssuedCredential{}, err
		}
		out.List, out.Index = open.List, binary.BigEndian.Uint64(n[:])%StatusListBits
		r, err := b.l.Append(ctx, proposal{cmd: issueCredentialCmd{Actor: actorByRef(actor, id, l.ref), Content: out.CredentialIssued},
			insts: &b.insts, units: &b.units, dirs: &b.dirs, keys: b.keys, legacy: b.legacy, sealedFrom: b.sealedFrom, vault: &b.vault, learners: &b.learners})
		if errors.Is(err, errStatusTaken) {
			continue
		}
		if err != nil {
			return IssuedCredential{}, nameLearner(err, l.ref, id)
		}
		out.Seq = r.Result.(uint64)
		out.RecordedAt = r.RecordedAt.UTC().Format(ledger.TimeLayout)
		return out, nil
	}
	return IssuedCredential{}, errors.New("no free status index after 16 draws")
}

// credentialContent reads what a credential of req states, as of one
// durable read per page.
func (b *Bank) credentialContent(id string, req CredentialRequest) (IssuedCredential, error) {
	var out IssuedCredential
	switch req.Kind {
	case CredentialAward:
		if req.Award == nil || len(req.Outcomes) > 0 {
			return out, errorf(CodeInvalid, "an award credential names one award, and no outcomes")
		}
		awards, err := b.Awards(id)
		if err != nil {
			return out, err
		}
		i := slices.IndexFunc(awards, func(a AwardRecord) bool { return a.Seq == *req.Award })
		if i < 0 {
			return out, errorf(CodeNotFound, "learner %s has no award %d", id, *req.Award)
		}
		if len(awards[i].Flags) > 0 {
			return out, errorf(CodeConflict, "award %d is flagged (entry %d): no credential can rest on it", *req.Award, awards[i].Flags[0].Seq)
		}
		p, err := b.Programme(awards[i].Programme.ID, awards[i].Programme.Version)
		if err != nil {
			return out, err
		}
		out.Award, out.Programme = &awards[i], &p
		out.CredentialIssued.Award = req.Award
		out.CredentialIssued.Outcomes = []uint64{}
		return out, nil
	case CredentialOutcome:
		if len(req.Outcomes) != 1 || req.Award != nil {
			return out, errorf(CodeInvalid, "an outcome credential names one outcome, and no award")
		}
	case CredentialTranscript:
		if req.Award != nil {
			return out, errorf(CodeInvalid, "a transcript credential names no award")
		}
		if len(req.Outcomes) > 1000 {
			return out, errorf(CodeInvalid, "a transcript credential names at most 1000 outcomes")
		}
	default:
		return out, errorf(CodeInvalid, "kind must be outcome, transcript or award, not %q", req.Kind)
	}
	active, err := b.activeOutcomes(id)
	if err != nil {
		return out, err
	}
	if len(req.Outcomes) == 0 {
		if len(active) == 0 {
			return out, errorf(CodeInvalid, "learner %s has no active outcome to put in a transcript", id)
		}
		if len(active) > 1000 {
			return out, errorf(CodeInvalid, "learner %s has %d active outcomes: name at most 1000", id, len(active))
		}
		out.Outcomes = active
	} else {
		for _, seq := range req.Outcomes {
			i := slices.IndexFunc(active, func(o TranscriptOutcome) bool { return o.Seq == seq })
			if i < 0 {
				return out, errorf(CodeNotFound, "learner %s has no active outcome %d", id, seq)
			}
			if slices.ContainsFunc(out.Outcomes, func(o TranscriptOutcome) bool { return o.Seq == seq }) {
				return out, errorf(CodeInvalid, "outcome %d is named twice", seq)
			}
			out.Outcomes = append(out.Outcomes, active[i])
		}
		out.Partial = req.Kind == CredentialTranscript
	}
	for _, o := range out.Outcomes {
		out.CredentialIssued.Outcomes = append(out.CredentialIssued.Outcomes, o.Seq)
	}
	return out, nil
}

// Credential reads credential.issued entry seq with what the credential
// states, read through the learner's key as IssueCredential read it, so
// that the credential can be signed again, byte for byte the same (the
// signature is deterministic) unless an institution's name changed since.
// An outcome or award revoked or flagged since is still read: the
// credential's status says so. Not a credential: CodeNotFound; a learner
// erased since: CodeErased.
func (b *Bank) Credential(seq uint64) (IssuedCredential, error) {
	var out IssuedCredential
	var id string
	err := b.read(func(_ *ledger.Reader, s store) error {
		st, err := getJSON[credentialState](s, credKey(seq))
		if err != nil {
			return err
		}
		if st == nil {
			return errorf(CodeNotFound, "entry %d is not a credential", seq)
		}
		out.CredentialIssued = st.CredentialIssued
		var erased bool
		if id, erased, err = b.learnerOf(s, st.Learner); err != nil {
			return err
		}
		if erased {
			return errorf(CodeErased, "the learner of credential %d was erased", seq)
		}
		return nil
	})
	if err != nil {
		return IssuedCredential{}, err
	}
	raw, err := b.l.Entry(seq)
	if err != nil {
		return IssuedCredential{}, err
	}
	e, err := ledger.DecodeEntry(raw)
	if err != nil {
		return IssuedCredential{}, err
	}
	out.Seq, out.RecordedAt, out.LearnerID = seq, e.RecordedAt.UTC().Format(ledger.TimeLayout), id
	if out.CredentialIssued.Award != nil {
		awards, err := b.Awards(id)
		if err != nil {
			return IssuedCredential{}, err
		}
		i := slices.IndexFunc(awards, func(a AwardRecord) bool { return a.Seq == *out.CredentialIssued.Award })
		if i < 0 {
			return IssuedCredential{}, fmt.Errorf("credential %d: learner has no award %d", seq, *out.CredentialIssued.Award)
		}
		p, err := b.Programme(awards[i].Programme.ID, awards[i].Programme.Version)
		if err != nil {
			return IssuedCredential{}, err
		}
		out.Award, out.Programme = &awards[i], &p
		return out, nil
	}
	all, err := b.outcomesOf(id, func(TranscriptOutcome) bool { return true })
	if err != nil {
		return IssuedCredential{}, err
	}
	for _, seq := range out.CredentialIssued.Outcomes {
		i := slices.IndexFunc(all, func(o TranscriptOutcome) bool { return o.Seq == seq })
		if i < 0 {
			return IssuedCredential{}, fmt.Errorf("credential %d: learner has no outcome %d", out.Seq, seq)
		}
		out.Outcomes = append(out.Outcomes, all[i])
	}
	return out, nil
}

// TranscriptCredential returns a transcript credential of every active
// outcome of learner: the last one issued when it is still in force and of
// exactly the outcomes active now, so that printing a transcript again
// writes nothing, else a new one issued as actor.
func (b *Bank) TranscriptCredential(ctx context.Context, actor Actor, learner string) (IssuedCredential, error) {
	if err := checkLearnerID("learner", learner); err != nil {
		return IssuedCredential{}, err
	}
	id := CanonicalLearnerID(learner)
	l, err := b.learnerForCommand(id)
	if err != nil {
		return IssuedCredential{}, err
	}
	var last *credentialState
	if err := b.read(func(_ *ledger.Reader, s store) error {
		list, err := getJSON[restingCredentials](s, credLearnerKey(l.ref))
		if err != nil || list == nil {
			return err
		}
		for _, seq := range slices.Backward(list.Credentials) {
			st, err := getJSON[credentialState](s, credKey(seq))
			if err != nil {
				return err
			}
			if st != nil && st.Kind == CredentialTranscript && !st.Partial {
				last = st
				return nil
			}
		}
		return nil
	}); err != nil {
		return IssuedCredential{}, err
	}
	if last != nil && last.Revoked == nil {
		active, err := b.activeOutcomes(id)
		if err != nil {
			return IssuedCredential{}, err
		}
		if slices.Equal(last.Outcomes, outcomeSeqs(active)) {
			return b.Credential(last.Seq)
		}
	}
	return b.IssueCredential(ctx, actor, learner, CredentialRequest{Kind: CredentialTranscript})
}

func outcomeSeqs(os []TranscriptOutcome) []uint64 {
	seqs := make([]uint64, len(os))
	for i, o := range os {
		seqs[i] = o.Seq
	}
	return seqs
}

// activeOutcomes reads every active outcome of the learner, opened.
func (b *Bank) activeOutcomes(id string) ([]TranscriptOutcome, error) {
	return b.outcomesOf(id, func(o TranscriptOutcome) bool { return o.Status == "active" })
}

// outcomesOf reads the learner's outcomes that keep holds of, opened.
func (b *Bank) outcomesOf(id string, keep func(TranscriptOutcome) bool) ([]TranscriptOutcome, error) {
	var out []TranscriptOutcome
	cursor := ""
	for {
		tr, err := b.Transcript(id, cursor, 1000)
		if err != nil {
			return nil, err
		}
		for _, o := range tr.Outcomes {
			if keep(o) {
				out = append(out, o)
			}
		}
		if tr.NextCursor == "" {
			return out, nil
		}
		cursor = tr.NextCursor
	}
}

// StatusBits returns the set bits (revoked indexes) of status list list,
// in order, and whether the list exists (it was opened).
func (b *Bank) StatusBits(list uint64) ([]uint64, bool, error) {
	var bits []uint64
	var exists bool
	err := b.read(func(_ *ledger.Reader, s store) error {
		open, err := loadOpenList(s)
		if err != nil {
			return err
		}
		if list == 0 || list > open.List {
			return nil
		}
		exists = true
		prefix := credRevokedPrefix(list)
		return s.scan(prefix, func(k string) bool {
			if i, err := strconv.ParseUint(k[len(prefix):], 10, 64); err == nil {
				bits = append(bits, i)
			}
			return true
		})
	})
	return bits, exists, err
}

// newUUID is a random RFC 9562 version 4 UUID as a URN.
func newUUID() (string, error) {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return "", err
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return "urn:uuid:" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}
