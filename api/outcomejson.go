package api

import (
	"bytes"
	"strconv"
	"unicode/utf8"

	"creditbank/accreditation"
)

// Outcomes are most of what the API decodes, a batch up to 10,000 at a
// time, and decoding them with encoding/json was the largest part of a post's
// handler: the decoder scans a value once to find its end and again to fill
// the struct, a batch went through it twice (the body into raw items, then
// each item), and every member is found by reflection. The functions here
// read the common shape of an outcome in one pass over a body checkJSON has
// already accepted.
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
	s := jsonScan{b: data}
	s.space()
	if !s.consume('{') || !s.name("outcomes") || !s.consume(':') || !s.consume('[') {
		return nil, false
	}
	s.space()
	if s.consume(']') {
		items = [][]byte{}
	} else {
		for {
			start := s.i
			if !s.value(2) {
				return nil, false
			}
			items = append(items, data[start:s.i])
			more, ok := s.next(']')
			if !ok {
				return nil, false
			}
			if !more {
				break
			}
		}
	}
	if !s.consume('}') {
		return nil, false
	}
	s.space()
	return items, s.i == len(s.b)
}

// decodeOutcome reads one outcome body (an outcomeBody: the input and an
// ignored recorded_at). ok is false when the caller must use decodeStrict.
func decodeOutcome(data []byte) (in accreditation.OutcomeInput, ok bool) {
	s := jsonScan{b: data}
	s.space()
	ok = s.members(func(name []byte) bool {
		switch string(name) {
		case "idempotency_key":
			return s.text(&in.IdempotencyKey)
		case "learner":
			return s.text(&in.Learner)
		case "unit":
			return s.members(func(name []byte) bool {
				switch string(name) {
				case "code":
					return s.text(&in.Unit.Code)
				case "title":
					return s.text(&in.Unit.Title)
				}
				return false
			})
		case "sector":
			return s.text(&in.Sector)
		case "level":
			n, ok := s.integer()
			in.Level = int(n)
			return ok
		case "field":
			return s.text(&in.Field)
		case "credits":
			return s.members(func(name []byte) bool {
				switch string(name) {
				case "amount":
					return s.amount(&in.Credits.Amount)
				case "system":
					return s.text(&in.Credits.System)
				}
				return false
			})
		case "hours":
			n, ok := s.integer()
			in.Hours = &n
			return ok
		case "result":
			return s.members(func(name []byte) bool {
				switch string(name) {
				case "passed":
					var b bool
					in.Result.Passed = &b
					return s.boolean(&b)
				case "score":
					in.Result.Score = new(accreditation.Amount)
					return s.amount(in.Result.Score)
				}
				return false
			})
		case "completed_on":
			return s.text(&in.CompletedOn)
		case "evidence_sha256":
			return s.text(&in.EvidenceSHA256)
		case "supersedes":
			start := s.i
			if s.i >= len(s.b) || s.b[s.i] == '-' || !s.number() {
				return false
			}
			n, err := strconv.ParseUint(string(s.b[start:s.i]), 10, 64)
			in.Supersedes = &n
			return err == nil
		case "recorded_at":
			return s.value(1) // the server sets it; whatever came is dropped
		}
		return false
	})
	if !ok {
		return accreditation.OutcomeInput{}, false
	}
	s.space()
	return in, s.i == len(s.b)
}

// consume skips white space and then c, reporting whether c was there.
func (s *jsonScan) consume(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// name reads a member name and reports whether it is want, written plainly.
func (s *jsonScan) name(want string) bool {
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return false
	}
	raw, plain, ok := s.str()
	return ok && plain && string(raw) == want
}

// members reads an object, calling member with each member's name (plain
// names only) and the scanner at its value, which member must read. The
// name is the body's bytes, not a string, which cost an allocation per
// member.
func (s *jsonScan) members(member func(name []byte) bool) bool {
	if !s.consume('{') {
		return false
	}
	s.space()
	if s.consume('}') {
		return true
	}
	for {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return false
		}
		raw, plain, ok := s.str()
		if !ok || !plain || !s.consume(':') {
			return false
		}
		s.space()
		if !member(raw) {
			return false
		}
		more, ok := s.next('}')
		if !ok {
			return false
		}
		if !more {
			return true
		}
	}
}

// text reads a string without escapes, whose bytes are then its value.
func (s *jsonScan) text(v *string) bool {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return false
	}
	raw, plain, ok := s.str()
	if !ok || !plain && (bytes.IndexByte(raw, '\\') >= 0 || !utf8.Valid(raw)) {
		return false
	}
	*v = string(raw)
	return true
}

// integer reads a number written as an integer that fits an int64.
func (s *jsonScan) integer() (int64, bool) {
	start := s.i
	if s.i >= len(s.b) || !s.number() {
		return 0, false
	}
	n, err := strconv.ParseInt(string(s.b[start:s.i]), 10, 64)
	return n, err == nil
}

// boolean reads true or false.
func (s *jsonScan) boolean(v *bool) bool {
	switch {
	case s.literal("true"):
		*v = true
	case s.literal("false"):
		*v = false
	default:
		return false
	}
	return true
}

// amount reads a decimal string as Amount.UnmarshalJSON does.
func (s *jsonScan) amount(a *accreditation.Amount) bool {
	start := s.i
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return false
	}
	if _, plain, ok := s.str(); !ok || !plain {
		return false
	}
	return a.UnmarshalJSON(s.b[start:s.i]) == nil
}
