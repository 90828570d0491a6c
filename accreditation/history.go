package accreditation

import (
	"slices"

	"creditbank/ledger"
)

// An institution's history (docs/contract.md section 8): every
// accreditation granted or withdrawn and every suspension and lift, each
// with its entry's seq, time, actor and reason, kept in the institution's
// state by apply so that GET /v1/institutions/{id} shows it without reading
// the journal (most of an institution's entries are its outcomes).

// The events of an institution's history.
const (
	EventAccredited             = "accredited"
	EventAccreditationWithdrawn = "accreditation_withdrawn"
	EventSuspended              = "suspended"
	EventSuspensionLifted       = "suspension_lifted"
)

// InstitutionEvent is one step of an institution's history.
type InstitutionEvent struct {
	// Seq is the entry that recorded it.
	Seq        uint64 `json:"seq"`
	Event      string `json:"event"`
	RecordedAt string `json:"recorded_at"`
	// Actor is who asked, as the entry records it (role:id).
	Actor string `json:"actor"`
	// Reason is the suspension's, the withdrawal's or the lift's, or for an
	// accreditation granted outside the policy table its override reason;
	// empty where none was given.
	Reason string `json:"reason,omitempty"`
	// Accreditation is the seq of the accreditation an event of
	// accreditation_withdrawn ended.
	Accreditation *uint64 `json:"accreditation,omitempty"`
}

// Withdrawal ends an accreditation before its valid_until: from its entry
// on, the accreditation admits no posting; outcomes posted before stand.
type Withdrawal struct {
	Seq uint64 `json:"seq"`
	// On is the entry's UTC date, the day the accreditation ended.
	On     string `json:"on"`
	Reason string `json:"reason"`
}

// AccreditationWithdrawn is the content of institution.accreditation_withdrawn.
type AccreditationWithdrawn struct {
	Institution string `json:"institution"`
	// Accreditation is the seq of the institution.accredited entry.
	Accreditation uint64 `json:"accreditation"`
	Reason        string `json:"reason"`
	// On is the group's UTC date: the accreditation ends from it.
	On string `json:"on"`
}

// MarshalJSON writes the institution with its history as [] where none is
// kept (the state of a store written before the history was), since lists
// are written [], never null.
func (in Institution) MarshalJSON() ([]byte, error) {
	type plain Institution // without the method
	p := plain(in)
	if p.History == nil {
		p.History = []InstitutionEvent{}
	}
	return marshalJSON(p)
}

// addEvent appends e's event to the institution's history.
func (in *Institution) addEvent(e ledger.Entry, event, reason string, accreditation *uint64) {
	in.History = append(in.History, InstitutionEvent{
		Seq: e.Seq, Event: event, RecordedAt: e.RecordedAt.UTC().Format(ledger.TimeLayout), Actor: e.Actor,
		Reason: reason, Accreditation: accreditation,
	})
}

// accreditation returns the institution's accreditation granted by entry
// seq, or nil.
func (in *Institution) accreditation(seq uint64) *Accreditation {
	i := slices.IndexFunc(in.Accreditations, func(a Accreditation) bool { return a.Seq == seq })
	if i < 0 {
		return nil
	}
	return &in.Accreditations[i]
}

type withdrawCmd struct {
	Actor         Actor
	Institution   string
	Accreditation uint64
	Reason        string
}

func (c withdrawCmd) decide(t *tx) (any, error) {
	in, err := loadInstitution(t, c.Institution)
	if err != nil {
		return nil, err
	}
	a := in.accreditation(c.Accreditation)
	switch {
	case a == nil:
		return nil, errorf(CodeNotFound, "institution %q has no accreditation granted by entry %d", c.Institution, c.Accreditation)
	case a.Withdrawn != nil:
		return nil, errorf(CodeConflict, "accreditation %d of %q was already withdrawn by entry %d", c.Accreditation, c.Institution, a.Withdrawn.Seq)
	}
	content := AccreditationWithdrawn{Institution: c.Institution, Accreditation: c.Accreditation, Reason: c.Reason, On: t.date()}
	if _, err := t.emit(TypeAccreditationWithdrawn, c.Actor, content, []ledger.IndexKey{institutionIndex(c.Institution)}, nil); err != nil {
		return nil, err
	}
	if in, err = loadInstitution(t, c.Institution); err != nil {
		return nil, err
	}
	return *in.accreditation(c.Accreditation), nil
}
