package accreditation

import (
	"strconv"
	"strings"

	"creditbank/ledger"
)

// marshalOutcomeInput is ledger.MarshalContent(o): the canonical form of a posted
// outcome, whose SHA-256 is its idempotency hash and which, extended, is the
// stored outcome. It is written out by hand because encoding it by
// reflection was a tenth of a posted outcome's cost; the bytes must never
// change, or repeats of outcomes stored earlier would hash differently, so
// TestOutcomeContent and FuzzOutcomeInput compare the two encodings.
func marshalOutcomeInput(o OutcomeInput) ([]byte, error) {
	if o.Result.Passed == nil {
		return ledger.MarshalContent(o) // not valid anyway; keep the rare shape simple
	}
	b := appendOutcomeMembers(make([]byte, 0, 320+len(o.Unit.Title)), o, o.Learner, true)
	return append(b, '}'), nil
}

// appendOutcomeMembers appends o's opening brace and members, from its
// idempotency key to its supersedes, naming the learner learner: with the
// personal members (the unit's title, the score, the evidence hash) when
// personal is set, as the canonical form has them, and without, as a
// sealed outcome stores them (erasure.go). o.Result.Passed is set.
func appendOutcomeMembers(b []byte, o OutcomeInput, learner string, personal bool) []byte {
	b = appendJSONText(append(b, `{"idempotency_key":`...), o.IdempotencyKey)
	b = appendJSONText(append(b, `,"learner":`...), learner)
	b = appendJSONText(append(b, `,"unit":{"code":`...), o.Unit.Code)
	if personal {
		b = appendJSONText(append(b, `,"title":`...), o.Unit.Title)
	}
	b = appendJSONText(append(b, `},"sector":`...), o.Sector)
	b = strconv.AppendInt(append(b, `,"level":`...), int64(o.Level), 10)
	b = appendJSONText(append(b, `,"field":`...), o.Field)
	b = appendQuotedAmount(append(b, `,"credits":{"amount":`...), o.Credits.Amount)
	b = appendJSONText(append(b, `,"system":`...), o.Credits.System)
	b = append(b, '}')
	if o.Hours != nil {
		b = strconv.AppendInt(append(b, `,"hours":`...), *o.Hours, 10)
	}
	b = strconv.AppendBool(append(b, `,"result":{"passed":`...), *o.Result.Passed)
	if personal && o.Result.Score != nil {
		b = appendQuotedAmount(append(b, `,"score":`...), *o.Result.Score)
	}
	b = appendJSONText(append(b, `},"completed_on":`...), o.CompletedOn)
	if personal && o.EvidenceSHA256 != "" {
		b = appendJSONText(append(b, `,"evidence_sha256":`...), o.EvidenceSHA256)
	}
	if o.Supersedes != nil {
		b = strconv.AppendUint(append(b, `,"supersedes":`...), *o.Supersedes, 10)
	}
	return b
}

// appendJSONText appends s as encoding/json writes it without HTML
// escaping: quoted as it stands, unless it holds what encoding/json
// escapes or replaces (a quote, a backslash, a control character, U+2028,
// U+2029, invalid UTF-8), when encoding/json itself writes it.
func appendJSONText(b []byte, s string) []byte {
	if strings.IndexFunc(s, func(r rune) bool {
		return r < 0x20 || r == '"' || r == '\\' || r == '\u2028' || r == '\u2029' || r == '\uFFFD'
	}) < 0 {
		return appendQuoted(b, s)
	}
	q, err := marshalJSON(s)
	if err != nil {
		panic(err) // not reached: a string always encodes
	}
	return append(b, q...)
}
