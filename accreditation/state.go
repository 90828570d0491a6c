package accreditation

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"creditbank/ledger"
)

// Entry types: every event the bank records is one ledger entry of one of
// these types, with the content below.
const (
	TypeInstitutionRegistered = "institution.registered"
	TypeKeyAdded              = "institution.key_added"
	TypeKeyRemoved            = "institution.key_removed"
	TypeAccredited            = "institution.accredited"
	TypeSuspended             = "institution.suspended"
	TypeReinstated            = "institution.reinstated"
	TypeOutcomeRecorded       = "outcome.recorded"
	TypeOutcomeRevoked        = "outcome.revoked"
	TypeRulePublished         = "rule.published"
	TypeRuleRetired           = "rule.retired"
	TypeConversionGranted     = "conversion.granted"
	TypeConversionReversed    = "conversion.reversed"
	// TypeConversionAdjusted changes the items of a conversion that used a
	// revoked outcome (adjust.go); conversion.reversed, which reversed a
	// whole conversion, is only read, in ledgers written before.
	TypeConversionAdjusted = "conversion.adjusted"
	// TypeAccreditationWithdrawn ends one accreditation early (history.go).
	TypeAccreditationWithdrawn = "institution.accreditation_withdrawn"
)

// Index names the bank lists entries under in the ledger.
const (
	IndexLearner     = "learner"
	IndexInstitution = "institution"
	IndexRule        = "rule"
)

// The contents of the entries. Fields are exported for JSON; the types are
// the journal's format, so fields are only ever added, never changed.
type (
	// KeyAdded is the content of institution.key_added.
	KeyAdded struct {
		Institution string    `json:"institution"`
		Key         PublicJWK `json:"key"`
	}
	// KeyRemoved is the content of institution.key_removed.
	KeyRemoved struct {
		Institution string `json:"institution"`
		Kid         string `json:"kid"`
	}
	// Accredited is the content of institution.accredited.
	Accredited struct {
		Institution string `json:"institution"`
		AccreditationInput
		// OutsidePolicy is what of the scope the policy table did not allow,
		// granted under the override reason; empty when it allowed it all.
		OutsidePolicy string `json:"outside_policy,omitempty"`
	}
	// Suspended is the content of institution.suspended.
	Suspended struct {
		Institution string `json:"institution"`
		Reason      string `json:"reason"`
	}
	// Reinstated is the content of institution.reinstated.
	Reinstated struct {
		Institution string `json:"institution"`
		// Reason is why the suspension was lifted, when one was given.
		Reason string `json:"reason,omitempty"`
	}
	// Revocation is the content of outcome.revoked.
	Revocation struct {
		Outcome     uint64 `json:"outcome"`
		Institution string `json:"institution"`
		Learner     string `json:"learner"`
		Reason      string `json:"reason"`
		// SupersededBy is the outcome that corrected this one, when the
		// reason is "superseded".
		SupersededBy *uint64 `json:"superseded_by,omitempty"`
	}
	// RuleRetired is the content of rule.retired.
	RuleRetired struct {
		Rule    string `json:"rule"`
		Version int    `json:"version"`
		// Reason is why; entries written before retiring took a reason
		// have none.
		Reason string `json:"reason,omitempty"`
	}
	// RuleRef names one version of a rule.
	RuleRef struct {
		ID      string `json:"id"`
		Version int    `json:"version"`
	}
	// ConversionItem is one outcome a conversion used.
	ConversionItem struct {
		Outcome         uint64 `json:"outcome"`
		StandardCredits Amount `json:"standard_credits"`
		Granted         Amount `json:"granted"`
		// Limit names the limit of the target's programme that cut the
		// grant short (programmelimit.go); empty when none did.
		Limit string `json:"limit,omitempty"`
	}
	// Conversion is the content of conversion.granted.
	Conversion struct {
		Learner string  `json:"learner"`
		Rule    RuleRef `json:"rule"`
		Target  Target  `json:"target"`
		// On is the date the rule was applied (the entry's UTC date).
		On      string           `json:"on"`
		Items   []ConversionItem `json:"items"`
		Granted Amount           `json:"granted"`
		Capped  bool             `json:"capped"`
		// Contract is the version of the contract whose eligibility rules
		// decided the conversion (eligibility.go): 2 adds institution_suspended
		// and equivalent_used. Conversions recorded before have none and
		// were decided under version 1.
		Contract int `json:"contract,omitempty"`
	}
	// Reversal is the content of conversion.reversed.
	Reversal struct {
		Conversion uint64  `json:"conversion"`
		Learner    string  `json:"learner"`
		Rule       RuleRef `json:"rule"`
		Target     Target  `json:"target"`
		Granted    Amount  `json:"granted"`
		// Outcome is the revoked outcome that caused the reversal.
		Outcome uint64 `json:"outcome"`
		Reason  string `json:"reason"`
	}
)

// instPrefix starts the key of every institution's state.
const instPrefix = "inst/"

// The state the bank keeps, derived from the entries. Keys:
//
//	inst/<id>                 Institution
//	out/<seq>                 outcomeState
//	lout/<learner>/<seq>      "" (the learner's outcomes), from stores written
//	                          before the learner index served for them
//	rule/<id>                 ruleHead
//	rulev/<id>/<version>      Rule
//	conv/<seq>                conversionState
//	granted/<learner>/<rule>  Amount granted under the rule, all versions
//	bald/<learner>            balance changes, appended (see balance.go)
//	bal/<learner>             Balance as JSON, from stores written before
//	                          the changes were appended; never written now
//	posted/<inst>/<learner>   "1" (the institution posted for the learner)
//	outunit/<inst>/<learner>/<code>/<date>
//	                          the seq of the latest outcome of that unit and
//	                          completion date (duplicate.go)
//	revocation/<seq>          OutcomeRevocation of outcome seq (transcript.go);
//	                          none for revocations of stores written before
//	stat/<inst>/<YYYY-MM>     statistics changes, appended (statistics.go)
//	consent/, consentby/      a learner's grants (grants.go)
//	erased/<learner>          the seq of the learner's learner.erased entry
//	prog/, progv/             programmes (programme.go)
//	award/, awardp/, awardrest/
//	                          awards and what they rest on (award.go)
//	cred/, credidx/, credon/, credaward/, credlearner/, credrevoked/, credlist
//	                          credentials and their status bits (credential.go)
//	vault/                    the learners' keys (erasure.go): derived from
//	                          no entry, neither replayed nor compared
func instKey(id string) string               { return instPrefix + id }
func outKey(seq uint64) string               { return hexKey("out/", seq) }
func ruleKey(id string) string               { return "rule/" + id }
func ruleVersionKey(id string, v int) string { return fmt.Sprintf("rulev/%s/%08d", id, v) }
func convKey(seq uint64) string              { return hexKey("conv/", seq) }
func grantedKey(learner, rule string) string { return "granted/" + learner + "/" + rule }
func balanceKey(learner string) string       { return "bal/" + learner }
func balanceDeltaKey(learner string) string  { return "bald/" + learner }
func postedKey(inst, learner string) string  { return "posted/" + inst + "/" + learner }

// hexKey is prefix and seq in 16 lower-case hex digits, as "%016x" writes it.
func hexKey(prefix string, seq uint64) string {
	var b [24]byte
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], seq)
	return string(hex.AppendEncode(append(b[:0], prefix...), n[:]))
}

// outcomeState is what the bank keeps of a recorded outcome.
type outcomeState struct {
	Seq             uint64  `json:"seq"`
	Institution     string  `json:"institution"`
	Learner         string  `json:"learner"`
	Sector          string  `json:"sector"`
	Level           int     `json:"level"`
	Field           string  `json:"field"`
	StandardCredits Amount  `json:"standard_credits"`
	Passed          bool    `json:"passed"`
	Score           *Amount `json:"score,omitempty"`
	CompletedOn     string  `json:"completed_on"`
	Revoked         bool    `json:"revoked"`
	// Sealed is set when the outcome's entry holds its personal members
	// sealed (erasure.go): its score, if any, is read from there with the
	// learner's data key, and Score is nil.
	Sealed bool `json:"sealed,omitempty"`
	// UsedBy lists the conversions in force that used the outcome, and
	// the cases that granted credit for it.
	UsedBy []conversionUse `json:"used_by,omitempty"`
}

// stateRevoked reports whether an outcome's stored state says it is revoked,
// without decoding it, which took as long as the rest of a transcript line.
// The state is always written by putJSON as compact JSON, where the member
// "revoked" is present and `,"revoked":true` cannot occur inside a string
// (every quote there is escaped).
func stateRevoked(b []byte) bool { return bytes.Contains(b, []byte(`,"revoked":true`)) }

// appendJSON appends what ledger.MarshalContent makes of the state (as
// putJSON stores it): written out by hand, because encoding it by
// reflection was a tenth of the sequencer's time per outcome, except for a
// state some conversion used. TestOutcomeStateJSON compares the two.
func (o *outcomeState) appendJSON(b []byte) []byte {
	if len(o.UsedBy) > 0 {
		// A copy, so that o itself stays off the heap for the common case.
		c, err := ledger.MarshalContent(*o)
		if err != nil {
			panic(fmt.Sprintf("outcome state does not encode: %v", err)) // not reached: every field encodes
		}
		return append(b, c...)
	}
	b = strconv.AppendUint(append(b, `{"seq":`...), o.Seq, 10)
	b = appendJSONText(append(b, `,"institution":`...), o.Institution)
	b = appendJSONText(append(b, `,"learner":`...), o.Learner)
	b = appendJSONText(append(b, `,"sector":`...), o.Sector)
	b = strconv.AppendInt(append(b, `,"level":`...), int64(o.Level), 10)
	b = appendJSONText(append(b, `,"field":`...), o.Field)
	b = appendQuotedAmount(append(b, `,"standard_credits":`...), o.StandardCredits)
	b = strconv.AppendBool(append(b, `,"passed":`...), o.Passed)
	if o.Score != nil {
		b = appendQuotedAmount(append(b, `,"score":`...), *o.Score)
	}
	b = appendJSONText(append(b, `,"completed_on":`...), o.CompletedOn)
	b = strconv.AppendBool(append(b, `,"revoked":`...), o.Revoked)
	if o.Sealed {
		b = append(b, `,"sealed":true`...)
	}
	return append(b, '}')
}

// conversionUse is a conversion in force, or a recognition case
// (recognition.go), that used an outcome toward a target: Conversion is
// the seq of the conversion or of the case's application.
type conversionUse struct {
	Conversion  uint64 `json:"conversion"`
	Target      Target `json:"target"`
	Recognition bool   `json:"recognition,omitempty"`
}

// usedToward reports whether a conversion in force used the outcome toward
// t, or a case granted credit for it toward t.
func (o *outcomeState) usedToward(t Target) bool {
	return slices.ContainsFunc(o.UsedBy, func(u conversionUse) bool { return u.Target == t })
}

// ruleHead is the latest version of a rule and whether it is retired.
type ruleHead struct {
	Latest  int  `json:"latest"`
	Retired bool `json:"retired"`
	// Retirement is the retirement in force, while Retired.
	Retirement *Retirement `json:"retirement,omitempty"`
}

// conversionState is a conversion as the bank keeps it.
type conversionState struct {
	Seq uint64 `json:"seq"`
	Conversion
	Reversed *uint64 `json:"reversed,omitempty"` // the reversal's seq
	// Adjusted lists the conversion.adjusted entries that changed its
	// items, and InForce the items they left in force (inForce reads it).
	Adjusted []uint64         `json:"adjusted,omitempty"`
	InForce  []ConversionItem `json:"in_force,omitempty"`
}

// Balance is what a learner holds: standard credits of active outcomes by
// sector and level band, and credit granted per target programme by
// conversions in force.
type Balance struct {
	Learner string `json:"learner"`
	// StandardCredits is the total over active, passed outcomes.
	StandardCredits Amount `json:"standard_credits"`
	// BySector maps sector → level band ("1-2" ... "9-10") → credits.
	BySector map[string]map[string]Amount `json:"by_sector"`
	// Granted maps "institution/programme" → credits granted toward it.
	Granted map[string]Amount `json:"granted"`
	// Cost is what reading the balance took.
	Cost Cost `json:"-"`
}

func newBalance(learner string) *Balance {
	return &Balance{Learner: learner, BySector: map[string]map[string]Amount{}, Granted: map[string]Amount{}}
}

func (b *Balance) addCredits(sector string, level int, sc Amount) {
	band := levelBand(level)
	m := b.BySector[sector]
	if m == nil {
		m = map[string]Amount{}
		b.BySector[sector] = m
	}
	m[band] += sc
	if m[band] == 0 {
		delete(m, band)
	}
	if len(m) == 0 {
		delete(b.BySector, sector)
	}
	b.StandardCredits += sc
}

func (b *Balance) addGranted(k string, g Amount) {
	b.Granted[k] += g
	if b.Granted[k] == 0 {
		delete(b.Granted, k)
	}
}

// store is the state the bank decides against and applies entries to: the
// ledger's domain state while deciding, a map when replaying.
type store interface {
	// get returns the value of key, or nil when there is none.
	get(key string) ([]byte, error)
	put(key string, value []byte)
	// appendValue adds value to the end of key's value (none counts as
	// empty) without reading it.
	appendValue(key string, value []byte)
	// scan calls fn for each key with the prefix, in key order.
	scan(prefix string, fn func(key string) bool) error
}

func getJSON[T any](s store, key string) (*T, error) {
	b, err := s.get(key)
	if err != nil || b == nil {
		return nil, err
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("state %s: %w", key, err)
	}
	return v, nil
}

func putJSON(s store, key string, v any) error {
	b, err := ledger.MarshalContent(v)
	if err != nil {
		return fmt.Errorf("state %s: %w", key, err)
	}
	s.put(key, b)
	return nil
}

func getAmount(s store, key string) (Amount, error) {
	a, err := getJSON[Amount](s, key)
	if err != nil || a == nil {
		return 0, err
	}
	return *a, nil
}

func putAmount(s store, key string, a Amount) error {
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("state %s: %w", key, err)
	}
	s.put(key, b)
	return nil
}

// apply changes the state by one entry. It is the only code that writes the
// state, live and in replay alike, and it does not check anything a decision
// checked: a journal is applied as it stands.
func apply(s store, e ledger.Entry) error { return applyDecoded(s, e, nil) }

// applyDecoded is apply given the entry's content already decoded, as the
// command that emitted it holds it: decoding what was just encoded took a
// fifth of the sequencer's time per outcome. Only an *Outcome is taken (its
// fields are all checked text and numbers, which decode to what they were);
// any other content, or a nil one, is decoded from the entry.
func applyDecoded(s store, e ledger.Entry, decoded any) error {
	switch e.Type {
	case TypeInstitutionRegistered:
		var r Registration
		if err := json.Unmarshal(e.Content, &r); err != nil {
			return err
		}
		return putJSON(s, instKey(r.ID), Institution{ID: r.ID, Name: r.Name, Kind: r.Kind, Keys: r.Keys, Accreditations: []Accreditation{},
			Seq: e.Seq, History: []InstitutionEvent{}})
	case TypeKeyAdded, TypeKeyRemoved, TypeAccredited, TypeSuspended, TypeReinstated, TypeAccreditationWithdrawn:
		return applyInstitution(s, e)
	case TypeOutcomeRecorded:
		o, ok := decoded.(*Outcome)
		if !ok {
			var err error
			if o, err = decodeOutcome(e.Content); err != nil {
				return err
			}
		}
		return applyOutcome(s, e.Seq, o)
	case TypeOutcomeRevoked:
		var r Revocation
		if err := json.Unmarshal(e.Content, &r); err != nil {
			return err
		}
		st, err := getJSON[outcomeState](s, outKey(r.Outcome))
		if err != nil {
			return err
		}
		if st == nil {
			return fmt.Errorf("revocation of unknown outcome %d", r.Outcome)
		}
		st.Revoked = true
		if err := putJSON(s, outKey(r.Outcome), st); err != nil {
			return err
		}
		if err := putRevocation(s, e, r); err != nil {
			return err
		}
		if err := addOutcomeStat(s, st, -1); err != nil {
			return err
		}
		if err := addCreditsDelta(s, st.Learner, st.Sector, st.Level, -st.StandardCredits); err != nil {
			return err
		}
		why := fmt.Sprintf("outcome %d revoked: %s", r.Outcome, r.Reason)
		if r.SupersededBy != nil {
			why = fmt.Sprintf("outcome %d superseded by outcome %d", r.Outcome, *r.SupersededBy)
		}
		return revokeResting(s, credOnKey(r.Outcome), e.Seq, why)
	case TypeRulePublished:
		var r Rule
		if err := json.Unmarshal(e.Content, &r); err != nil {
			return err
		}
		r.Seq = e.Seq
		if err := putJSON(s, ruleVersionKey(r.ID, r.Version), r); err != nil {
			return err
		}
		return putJSON(s, ruleKey(r.ID), ruleHead{Latest: r.Version})
	case TypeRuleRetired:
		var r RuleRetired
		if err := json.Unmarshal(e.Content, &r); err != nil {
			return err
		}
		ret := &Retirement{Seq: e.Seq, RecordedAt: e.RecordedAt.UTC().Format(ledger.TimeLayout), Reason: r.Reason}
		return putJSON(s, ruleKey(r.Rule), ruleHead{Latest: r.Version, Retired: true, Retirement: ret})
	case TypeConversionGranted:
		var c Conversion
		if err := json.Unmarshal(e.Content, &c); err != nil {
			return err
		}
		return applyConversion(s, e.Seq, c)
	case TypeConversionReversed:
		var r Reversal
		if err := json.Unmarshal(e.Content, &r); err != nil {
			return err
		}
		return applyReversal(s, e.Seq, r)
	case TypeConversionAdjusted:
		var a Adjustment
		if err := json.Unmarshal(e.Content, &a); err != nil {
			return err
		}
		return applyAdjustment(s, e.Seq, a)
	case TypeEquivalencePublished:
		return applyEquivalence(s, e)
	case TypeProgrammePublished:
		return applyProgramme(s, e)
	case TypeUnitCertified:
		return applyUnit(s, e)
	case TypeRecognitionApplied, TypeRecognitionReviewed, TypeRecognitionDecided, TypeRecognitionAppealed,
		TypeRecognitionAppealDecided, TypeRecognitionAdjusted:
		return applyRecognition(s, e)
	case TypeAwardRecorded, TypeAwardFlagged:
		return applyAward(s, e)
	case TypeTokenRevoked:
		return applyTokenRevocation(s, e)
	case TypeGrantCreated, TypeGrantWithdrawn:
		return applyGrant(s, e)
	case TypeLearnerErased:
		var le LearnerErased
		if err := json.Unmarshal(e.Content, &le); err != nil {
			return err
		}
		s.put(erasedKey(le.Learner), strconv.AppendUint(nil, e.Seq, 10))
		return revokeResting(s, credLearnerKey(le.Learner), e.Seq, "the learner's personal data was erased")
	case TypeCredentialIssued:
		return applyCredential(s, e)
	}
	return fmt.Errorf("unknown entry type %q", e.Type)
}

// applyOutcome records outcome o of entry seq in the state. It keeps
// nothing of o itself, so that the outcome a post hands it may live on the
// post's stack.
func applyOutcome(s store, seq uint64, o *Outcome) error {
	st := outcomeState{
		Seq: seq, Institution: o.Institution, Learner: o.Learner, Sector: o.Sector,
		Level: o.Level, Field: o.Field, StandardCredits: o.StandardCredits,
		Passed: o.Result.Passed != nil && *o.Result.Passed, Score: o.Result.Score, CompletedOn: o.CompletedOn,
		Sealed: o.Sealed != "",
	}
	s.put(outKey(seq), st.appendJSON(make([]byte, 0, 256)))
	s.put(postedKey(o.Institution, o.Learner), []byte("1"))
	putUnit(s, seq, o.Institution, o)
	if err := addOutcomeStat(s, &st, 1); err != nil {
		return err
	}
	return addCreditsDelta(s, o.Learner, o.Sector, o.Level, o.StandardCredits)
}

// decodeOutcome decodes an outcome.recorded entry's content.
func decodeOutcome(content []byte) (*Outcome, error) {
	o := new(Outcome)
	if err := json.Unmarshal(content, o); err != nil {
		return nil, err
	}
	return o, nil
}

func applyInstitution(s store, e ledger.Entry) error {
	var ref struct {
		Institution string `json:"institution"`
	}
	if err := json.Unmarshal(e.Content, &ref); err != nil {
		return err
	}
	in, err := getJSON[Institution](s, instKey(ref.Institution))
	if err != nil {
		return err
	}
	if in == nil {
		return fmt.Errorf("%s for unknown institution %q", e.Type, ref.Institution)
	}
	switch e.Type {
	case TypeKeyAdded:
		var k KeyAdded
		if err := json.Unmarshal(e.Content, &k); err != nil {
			return err
		}
		in.Keys = append(in.Keys, k.Key)
	case TypeKeyRemoved:
		var k KeyRemoved
		if err := json.Unmarshal(e.Content, &k); err != nil {
			return err
		}
		in.Keys = slices.DeleteFunc(in.Keys, func(p PublicJWK) bool { return p.Kid == k.Kid })
	case TypeAccredited:
		var a Accredited
		if err := json.Unmarshal(e.Content, &a); err != nil {
			return err
		}
		in.Accreditations = append(in.Accreditations, Accreditation{
			Sectors: a.Sectors, MaxLevel: a.MaxLevel, ValidFrom: a.ValidFrom, ValidUntil: a.ValidUntil, Seq: e.Seq,
			OverrideReason: a.OverrideReason, OutsidePolicy: a.OutsidePolicy,
		})
		in.addEvent(e, EventAccredited, a.OverrideReason, nil)
	case TypeAccreditationWithdrawn:
		var w AccreditationWithdrawn
		if err := json.Unmarshal(e.Content, &w); err != nil {
			return err
		}
		a := in.accreditation(w.Accreditation)
		if a == nil {
			return fmt.Errorf("withdrawal of unknown accreditation %d of %q", w.Accreditation, in.ID)
		}
		a.Withdrawn = &Withdrawal{Seq: e.Seq, On: w.On, Reason: w.Reason}
		in.addEvent(e, EventAccreditationWithdrawn, w.Reason, &w.Accreditation)
	case TypeSuspended:
		var su Suspended
		if err := json.Unmarshal(e.Content, &su); err != nil {
			return err
		}
		in.Suspension = &Suspension{Reason: su.Reason, Seq: e.Seq}
		in.addEvent(e, EventSuspended, su.Reason, nil)
	case TypeReinstated:
		var re Reinstated
		if err := json.Unmarshal(e.Content, &re); err != nil {
			return err
		}
		in.Suspension = nil
		in.addEvent(e, EventSuspensionLifted, re.Reason, nil)
	}
	return putJSON(s, instKey(in.ID), in)
}

func applyConversion(s store, seq uint64, c Conversion) error {
	for _, it := range c.Items {
		st, err := getJSON[outcomeState](s, outKey(it.Outcome))
		if err != nil {
			return err
		}
		if st == nil {
			return fmt.Errorf("conversion uses unknown outcome %d", it.Outcome)
		}
		st.UsedBy = append(st.UsedBy, conversionUse{Conversion: seq, Target: c.Target})
		if err := putJSON(s, outKey(it.Outcome), st); err != nil {
			return err
		}
		if err := addConversionStat(s, st, c.On, 1, it.Granted); err != nil {
			return err
		}
	}
	if err := putJSON(s, convKey(seq), conversionState{Seq: seq, Conversion: c}); err != nil {
		return err
	}
	return recordGranted(s, c.Learner, c.Rule.ID, c.Target, c.Granted)
}

func applyReversal(s store, seq uint64, r Reversal) error {
	cs, err := getJSON[conversionState](s, convKey(r.Conversion))
	if err != nil {
		return err
	}
	if cs == nil {
		return fmt.Errorf("reversal of unknown conversion %d", r.Conversion)
	}
	cs.Reversed = &seq
	if err := putJSON(s, convKey(r.Conversion), cs); err != nil {
		return err
	}
	for _, it := range cs.Items {
		st, err := getJSON[outcomeState](s, outKey(it.Outcome))
		if err != nil {
			return err
		}
		st.UsedBy = slices.DeleteFunc(st.UsedBy, func(u conversionUse) bool { return u.Conversion == r.Conversion })
		if err := putJSON(s, outKey(it.Outcome), st); err != nil {
			return err
		}
		if err := addConversionStat(s, st, cs.On, -1, -it.Granted); err != nil {
			return err
		}
	}
	return recordGranted(s, cs.Learner, cs.Rule.ID, cs.Target, -cs.Granted)
}

func recordGranted(s store, learner, rule string, t Target, g Amount) error {
	total, err := getAmount(s, grantedKey(learner, rule))
	if err != nil {
		return err
	}
	if err := putAmount(s, grantedKey(learner, rule), total+g); err != nil {
		return err
	}
	return addGrantedDelta(s, learner, t, g)
}

// memStore is the state as a map, for replaying a journal.
type memStore map[string][]byte

func (m memStore) get(key string) ([]byte, error) { return m[key], nil }
func (m memStore) put(key string, value []byte)   { m[key] = value }
func (m memStore) appendValue(key string, value []byte) {
	m[key] = append(slices.Clip(m[key]), value...)
}
func (m memStore) scan(prefix string, fn func(string) bool) error {
	keys := slices.Sorted(maps.Keys(m))
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) && !fn(k) {
			break
		}
	}
	return nil
}
