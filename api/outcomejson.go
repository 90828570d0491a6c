package api

import (
	"creditbank/accreditation"
	"creditbank/internal/jsonscan"
)

// Outcomes are most of what the API decodes, a batch up to 10,000 at a
// time, and decoding them with encoding/json was the largest part of a post's
// handler: the decoder scans a value once to find its end and again to fill
// the struct, a batch went through it twice (the body into raw items, then
// each item), and every member is found by reflection. The functions here
// read the common shape of an outcome in one pass over a body checkJSON has
// already accepted; jsonscan.Scanner does the reading, and this file says
// only which members an outcome has and which field each goes into.
//
// They are a fast path, not a second definition of the format: for anything
// they do not read themselves (an escape in a string, a null, a number with
// a fraction or exponent, a member of the wrong type, an unknown member)
// they say so, and the caller decodes the body with decodeStrict, whose
// answer, value or error, stands. FuzzDecodeOutcome checks that whenever
// they do answer, decodeStrict gives the same value.

// decodeOutcomeBody decodes one outcome as posted, by decodeOutcome where it
// can and by decodeStrict where it cannot.
func decodeOutcomeBody(data []byte) (accreditation.OutcomeInput, error) {
	if in, ok := decodeOutcome(data); ok {
		return in, nil
	}
	var body outcomeBody
	if err := decodeStrict(data, &body); err != nil {
		return accreditation.OutcomeInput{}, err
	}
	return body.OutcomeInput, nil
}

// outcomeItems returns the items of a batch body {"outcomes":[...]} as the
// slices of data they occupy, which is what decoding the body into
// []json.RawMessage gives. ok is false for any other shape.
func outcomeItems(data []byte) (items [][]byte, ok bool) {
	s := jsonscan.NewScanner(data, maxJSONDepth)
	ok = s.Members(func(name []byte) bool {
		if string(name) != "outcomes" || items != nil {
			return false
		}
		var isArray bool
		items, isArray = s.Items()
		return isArray
	})
	if !ok || items == nil || !s.End() {
		return nil, false
	}
	return items, true
}

// decodeOutcome reads one outcome body (an outcomeBody: the input and an
// ignored recorded_at). ok is false when the caller must use decodeStrict.
func decodeOutcome(data []byte) (in accreditation.OutcomeInput, ok bool) {
	s := jsonscan.NewScanner(data, maxJSONDepth)
	ok = s.Members(func(name []byte) bool {
		switch string(name) {
		case "idempotency_key":
			return s.Text(&in.IdempotencyKey)
		case "learner":
			return s.Text(&in.Learner)
		case "unit":
			return s.Members(func(name []byte) bool {
				switch string(name) {
				case "code":
					return s.Text(&in.Unit.Code)
				case "title":
					return s.Text(&in.Unit.Title)
				}
				return false
			})
		case "sector":
			return s.Text(&in.Sector)
		case "level":
			var n int64
			ok := s.Int(&n)
			in.Level = int(n)
			return ok
		case "field":
			return s.Text(&in.Field)
		case "credits":
			return s.Members(func(name []byte) bool {
				switch string(name) {
				case "amount":
					return readAmount(s, &in.Credits.Amount)
				case "system":
					return s.Text(&in.Credits.System)
				}
				return false
			})
		case "hours":
			in.Hours = new(int64)
			return s.Int(in.Hours)
		case "result":
			return s.Members(func(name []byte) bool {
				switch string(name) {
				case "passed":
					in.Result.Passed = new(bool)
					return s.Bool(in.Result.Passed)
				case "score":
					in.Result.Score = new(accreditation.Amount)
					return readAmount(s, in.Result.Score)
				}
				return false
			})
		case "completed_on":
			return s.Text(&in.CompletedOn)
		case "evidence_sha256":
			return s.Text(&in.EvidenceSHA256)
		case "supersedes":
			in.Supersedes = new(uint64)
			return s.Uint(in.Supersedes)
		case "recorded_at":
			_, ok := s.Value() // the server sets it; whatever came is dropped
			return ok
		}
		return false
	})
	if !ok || !s.End() {
		return accreditation.OutcomeInput{}, false
	}
	return in, true
}

// readAmount reads a decimal string as Amount.UnmarshalJSON does. It is
// here rather than in jsonscan, which knows nothing of the bank's types.
func readAmount(s *jsonscan.Scanner, a *accreditation.Amount) bool {
	quoted, ok := s.PlainString()
	return ok && a.UnmarshalJSON(quoted) == nil
}
