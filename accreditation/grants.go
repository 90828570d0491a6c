package accreditation

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"creditbank/ledger"
)

// A learner grants an institution read access to its transcript and
// balance, for a stated purpose until a date, and may withdraw it at any
// time (docs/contract.md section 7). Without a grant in force an institution
// reads only the outcomes it posted itself and the items of conversions
// toward its own programmes. Grants and withdrawals are ledger entries,
// because they are decisions with legal weight that an auditor must be able
// to see and a replica must learn of; they carry the pseudonymous learner id
// and nothing else of the person. Whether a grant is in force is read from
// the durable state on every request (Bank.ActiveGrant): there is no cache to
// invalidate, so a withdrawal acts on the very next request.

// Entry types of grants.
const (
	// TypeGrantCreated records a learner's grant; its content is a
	// GrantCreated.
	TypeGrantCreated = "grant.created"
	// TypeGrantWithdrawn records the withdrawal of a grant; its content is
	// a GrantWithdrawn.
	TypeGrantWithdrawn = "grant.withdrawn"
)

// Limits of a grant: the purpose is free text of at most
// MaxGrantPurpose characters, and expires_on at most MaxGrantDays days
// after the day it is granted.
const (
	MaxGrantPurpose = 200
	MaxGrantDays    = 366
)

// Statuses of a grant as read on a day.
const (
	GrantStatusActive    = "active"
	GrantStatusExpired   = "expired"
	GrantStatusWithdrawn = "withdrawn"
)

// GrantCreated is the content of grant.created, and what a learner asks:
// the institution that may read, why, and the last day it may.
type GrantCreated struct {
	Learner     string `json:"learner"`
	Institution string `json:"institution"`
	Purpose     string `json:"purpose"`
	// ExpiresOn is the last UTC date on which the grant is in force.
	ExpiresOn string `json:"expires_on"`
}

// GrantWithdrawn is the content of grant.withdrawn: which grant (the seq of
// its grant.created entry), of which learner and institution.
type GrantWithdrawn struct {
	Grant       uint64 `json:"grant"`
	Learner     string `json:"learner"`
	Institution string `json:"institution"`
}

// GrantWithdrawal says which entry withdrew a grant and when.
type GrantWithdrawal struct {
	Seq        uint64 `json:"seq"`
	RecordedAt string `json:"recorded_at"`
}

// Grant is a grant as the bank answers it: its id, the entry that created
// it and when, what was granted, and its status on the day it was read.
type Grant struct {
	ID         string `json:"id"`
	Seq        uint64 `json:"seq"`
	RecordedAt string `json:"recorded_at"`
	GrantCreated
	// Status is GrantStatusActive, GrantStatusExpired or
	// GrantStatusWithdrawn on the day read; it is not stored, since expiry
	// needs no entry.
	Status     string           `json:"status"`
	Withdrawal *GrantWithdrawal `json:"withdrawal,omitempty"`
}

// grantState is what the state keeps of a grant: a Grant without status.
type grantState struct {
	Seq        uint64 `json:"seq"`
	RecordedAt string `json:"recorded_at"`
	GrantCreated
	Withdrawal *GrantWithdrawal `json:"withdrawal,omitempty"`
}

// on is the grant as read on date (YYYY-MM-DD, UTC): in force through its
// expires_on, unless withdrawn.
func (g grantState) on(date string) Grant {
	out := Grant{ID: GrantID(g.Seq), Seq: g.Seq, RecordedAt: g.RecordedAt, GrantCreated: g.GrantCreated, Status: GrantStatusActive, Withdrawal: g.Withdrawal}
	switch {
	case g.Withdrawal != nil:
		out.Status = GrantStatusWithdrawn
	case g.ExpiresOn < date: // one layout: text order is date order
		out.Status = GrantStatusExpired
	}
	return out
}

// GrantID is the id of the grant created by entry seq: "g" and the seq in
// decimal. It is derived from the entry so that a replay gives every grant
// the id it was answered with.
func GrantID(seq uint64) string { return "g" + strconv.FormatUint(seq, 10) }

// ParseGrantID returns the seq of a grant id, or false for a string that
// no grant can have.
func ParseGrantID(id string) (uint64, bool) {
	digits, ok := strings.CutPrefix(id, "g")
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 63)
	if err != nil || strconv.FormatUint(seq, 10) != digits {
		return 0, false
	}
	return seq, true
}

// The state of grants:
//
//	consent/<learner>/<seq>        grantState of the grant of entry seq
//	                               (16 hex digits: key order is seq order)
//	consentby/<learner>/<inst>     the seq, in decimal, of the learner's
//	                               latest grant to the institution
//
// ("granted/" holds the credit conversions granted; the prefixes differ.)
const grantPrefix = "consent/"

func grantsPrefix(learner string) string { return grantPrefix + learner + "/" }
func grantKey(learner string, seq uint64) string {
	return hexKey(grantsPrefix(learner), seq)
}
func grantByKey(learner, inst string) string { return "consentby/" + learner + "/" + inst }

// Validate checks a grant's form against today (the UTC date the request
// is decided on): a known learner id pattern that is no national identity
// number, an institution id, a purpose of free text of 1 to
// MaxGrantPurpose characters, and expires_on after today and at most
// MaxGrantDays days after it. It puts the learner id in canonical form.
func (g *GrantCreated) Validate(today string) error {
	if err := checkLearnerID("learner", g.Learner); err != nil {
		return err
	}
	g.Learner = CanonicalLearnerID(g.Learner)
	if err := checkPattern("institution", g.Institution, institutionIDPattern); err != nil {
		return err
	}
	if err := checkText("purpose", g.Purpose, MaxGrantPurpose); err != nil {
		return err
	}
	return checkGrantExpiry(g.ExpiresOn, today)
}

// checkGrantExpiry accepts expires_on after today and at most MaxGrantDays
// days after it.
func checkGrantExpiry(expiresOn, today string) error {
	if _, err := parseDate("expires_on", expiresOn); err != nil {
		return err
	}
	switch {
	case expiresOn <= today:
		return errorf(CodeInvalid, "expires_on %s must be after today (%s, UTC)", expiresOn, today)
	case daysBetween(today, expiresOn) > MaxGrantDays:
		return errorf(CodeInvalid, "expires_on %s is more than %d days after today (%s, UTC)", expiresOn, MaxGrantDays, today)
	}
	return nil
}

// CreateGrant records the learner actor's grant g. Only the learner itself
// may grant; the institution must be registered (else CodeInvalid), and it
// may hold one grant in force of the learner at a time (else CodeConflict,
// naming it: withdraw it to grant again with another purpose or date).
func (b *Bank) CreateGrant(ctx context.Context, actor Actor, g GrantCreated) (Grant, error) {
	if actor.Role != RoleLearner || !SameLearner(actor.ID, g.Learner) {
		return Grant{}, errorf(CodeForbidden, "only the learner may grant access to its record")
	}
	// The form is checked against the ledger's date here, before the
	// sequencer, and the dates again inside it against the group's own,
	// which is the one recorded.
	if err := g.Validate(b.l.Now().UTC().Format(dateLayout)); err != nil {
		return Grant{}, err
	}
	res, err := b.doPrepared(ctx, func() (command, error) {
		lp, err := b.prepareOne(g.Learner)
		return createGrantCmd{Actor: actor, Grant: g, Learner: lp}, err
	})
	if err != nil {
		return Grant{}, err
	}
	gr := res.(Grant)
	gr.Learner = g.Learner
	return gr, nil
}

type createGrantCmd struct {
	Actor Actor
	// Grant names the learner by id, and Learner is the learner as a
	// durable read found them (erasure.go).
	Grant   GrantCreated
	Learner *learnerPrep
}

func (c createGrantCmd) decide(t *tx) (any, error) {
	g := c.Grant
	if c.Actor.Role != RoleLearner || !SameLearner(c.Actor.ID, g.Learner) {
		return nil, errorf(CodeForbidden, "only the learner may grant access to its record")
	}
	learner, err := t.learner(c.Learner)
	if err != nil {
		return nil, err
	}
	id := g.Learner
	g.Learner = learner.ref
	actor := actorByRef(c.Actor, id, learner.ref)
	today := t.date()
	if err := checkGrantExpiry(g.ExpiresOn, today); err != nil {
		return nil, err
	}
	if _, err := loadInstitution(t, g.Institution); err != nil {
		return nil, errorf(CodeInvalid, "institution: %v", err)
	}
	prev, err := latestGrant(t, g.Learner, g.Institution)
	if err != nil {
		return nil, err
	}
	if prev != nil && prev.on(today).Status == GrantStatusActive {
		return nil, errorf(CodeConflict, "learner %s already has grant %s to %s in force until %s; withdraw it first to grant again",
			id, GrantID(prev.Seq), g.Institution, prev.ExpiresOn)
	}
	t.keepLearner(c.Learner, learner)
	seq, err := t.emit(TypeGrantCreated, actor, g, nil, nil)
	if err != nil {
		return nil, err
	}
	st, err := getJSON[grantState](t, grantKey(g.Learner, seq))
	if err != nil {
		return nil, err
	}
	return st.on(today), nil
}

// WithdrawGrant withdraws the learner's grant seq at once: from the next
// request on, the institution reads no more of the learner than without
// it. A grant that is not the learner's is CodeNotFound (the learner
// cannot tell it from none); one already withdrawn or expired is
// CodeConflict.
func (b *Bank) WithdrawGrant(ctx context.Context, actor Actor, learner string, seq uint64) (Grant, error) {
	if actor.Role != RoleLearner || !SameLearner(actor.ID, learner) {
		return Grant{}, errorf(CodeForbidden, "only the learner may withdraw its grants")
	}
	id := CanonicalLearnerID(learner)
	l, err := b.learnerForCommand(id)
	if err != nil {
		return Grant{}, err
	}
	res, err := b.do(ctx, withdrawGrantCmd{Actor: actorByRef(actor, id, l.ref), Learner: l.ref, Grant: seq})
	if err != nil {
		return Grant{}, nameLearner(err, l.ref, id)
	}
	g := res.(Grant)
	g.Learner = id
	return g, nil
}

type withdrawGrantCmd struct {
	Actor Actor
	// Learner is the learner's reference (erasure.go).
	Learner string
	Grant   uint64
}

func (c withdrawGrantCmd) decide(t *tx) (any, error) {
	if c.Actor.Role != RoleLearner || !SameLearner(c.Actor.ID, c.Learner) {
		return nil, errorf(CodeForbidden, "only the learner may withdraw its grants")
	}
	if err := checkNotErased(t, c.Learner); err != nil {
		return nil, err
	}
	st, err := getJSON[grantState](t, grantKey(c.Learner, c.Grant))
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errorf(CodeNotFound, "learner %s has no grant %s", c.Learner, GrantID(c.Grant))
	}
	switch g := st.on(t.date()); g.Status {
	case GrantStatusWithdrawn:
		return nil, errorf(CodeConflict, "grant %s was already withdrawn by entry %d", g.ID, g.Withdrawal.Seq)
	case GrantStatusExpired:
		return nil, errorf(CodeConflict, "grant %s expired after %s: there is nothing to withdraw", g.ID, g.ExpiresOn)
	}
	content := GrantWithdrawn{Grant: c.Grant, Learner: st.Learner, Institution: st.Institution}
	if _, err := t.emit(TypeGrantWithdrawn, c.Actor, content, nil, nil); err != nil {
		return nil, err
	}
	if st, err = getJSON[grantState](t, grantKey(c.Learner, c.Grant)); err != nil {
		return nil, err
	}
	return st.on(t.date()), nil
}

// latestGrant is the learner's latest grant to inst, or nil.
func latestGrant(s store, learner, inst string) (*grantState, error) {
	b, err := s.get(grantByKey(learner, inst))
	if err != nil || b == nil {
		return nil, err
	}
	seq, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", grantByKey(learner, inst), err)
	}
	st, err := getJSON[grantState](s, grantKey(learner, seq))
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("state %s names grant %d, which has no state", grantByKey(learner, inst), seq)
	}
	return st, nil
}

// applyGrant applies a grant.created or grant.withdrawn entry.
func applyGrant(s store, e ledger.Entry) error {
	at := e.RecordedAt.UTC().Format(ledger.TimeLayout)
	if e.Type == TypeGrantCreated {
		var g GrantCreated
		if err := json.Unmarshal(e.Content, &g); err != nil {
			return err
		}
		if err := putJSON(s, grantKey(g.Learner, e.Seq), grantState{Seq: e.Seq, RecordedAt: at, GrantCreated: g}); err != nil {
			return err
		}
		s.put(grantByKey(g.Learner, g.Institution), strconv.AppendUint(nil, e.Seq, 10))
		return nil
	}
	var w GrantWithdrawn
	if err := json.Unmarshal(e.Content, &w); err != nil {
		return err
	}
	st, err := getJSON[grantState](s, grantKey(w.Learner, w.Grant))
	if err != nil {
		return err
	}
	if st == nil {
		return fmt.Errorf("withdrawal of unknown grant %d of learner %s", w.Grant, w.Learner)
	}
	st.Withdrawal = &GrantWithdrawal{Seq: e.Seq, RecordedAt: at}
	return putJSON(s, grantKey(w.Learner, w.Grant), st)
}

// today is the UTC date a read is answered on: the ledger's clock, which
// never goes back before the last entry, as the sequencer dates its
// decisions.
func (b *Bank) today() string { return b.l.Now().UTC().Format(dateLayout) }

// ActiveGrant returns the id of the learner's grant in force today to the
// institution, or "" when there is none. It reads the durable state on
// every call, on purpose: a withdrawal is durable before its request is
// answered, so the next read is refused, with no cache to invalidate.
func (b *Bank) ActiveGrant(institution, learner string) (string, error) {
	today := b.today()
	var id string
	err := b.read(func(_ *ledger.Reader, s store) error {
		l, err := b.readLearner(s, learner)
		if err != nil {
			return err
		}
		st, err := latestGrant(s, l.ref, institution)
		if err != nil || st == nil {
			return err
		}
		if g := st.on(today); g.Status == GrantStatusActive {
			id = g.ID
		}
		return nil
	})
	return id, err
}

// GrantPage is one page of a learner's grants, oldest first.
type GrantPage struct {
	Learner    string  `json:"learner"`
	Grants     []Grant `json:"grants"`
	NextCursor string  `json:"next_cursor"`
}

// Grants lists up to limit of the learner's grants, in force or not,
// oldest first, from cursor ("" for the first page, or a next_cursor),
// each with its status today.
func (b *Bank) Grants(learner, cursor string, limit int) (*GrantPage, error) {
	learner = CanonicalLearnerID(learner)
	start, err := ledger.ParseCursor(cursor)
	if err != nil {
		return nil, errorf(CodeInvalid, "bad cursor")
	}
	if limit < 1 {
		return nil, errorf(CodeInvalid, "limit must be at least 1")
	}
	today := b.today()
	page := &GrantPage{Learner: learner, Grants: []Grant{}}
	err = b.read(func(r *ledger.Reader, s store) error {
		l, err := b.readLearner(s, learner)
		if err != nil {
			return err
		}
		var derr error
		prefix := grantsPrefix(l.ref)
		err = r.Scan([]byte(prefix), []byte(grantKey(l.ref, start)), func(_, v []byte) bool {
			var st grantState
			if derr = json.Unmarshal(v, &st); derr != nil {
				return false
			}
			if len(page.Grants) == limit {
				page.NextCursor = ledger.FormatCursor(st.Seq)
				return false
			}
			g := st.on(today)
			g.Learner = learner
			page.Grants = append(page.Grants, g)
			return true
		})
		if derr != nil {
			return fmt.Errorf("grant state of learner %s: %w", learner, derr)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}
