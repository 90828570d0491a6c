package jsonscan

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// The methods below read a value whose shape the caller knows, each from
// the scanner's position (white space already skipped) to just after the
// value. They are a fast path for decoders of data Check has accepted: each
// reads only the plainest spelling of its kind and reports false for
// anything else (an escape in a name, a null, a fraction where an integer
// is wanted), so that the caller can leave the data to encoding/json, whose
// answer stands. After a false the scanner's position is unspecified.

// Members reads an object, calling member with each member's name and the
// scanner at the member's value, which member must read. Names must be
// plain (ASCII from the space up, without escapes); the name is the data's bytes,
// not a string, which cost an allocation per member.
func (s *Scanner) Members(member func(name []byte) bool) bool {
	if !s.consume('{') || !s.enter() {
		return false
	}
	s.space()
	if s.consume('}') {
		s.depth--
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
			s.depth--
			return true
		}
	}
}

// Items reads an array and returns its elements as the slices of the data
// they occupy, which is what decoding it into []json.RawMessage gives.
func (s *Scanner) Items() (items [][]byte, ok bool) {
	if !s.consume('[') || !s.enter() {
		return nil, false
	}
	s.space()
	if s.consume(']') {
		s.depth--
		return [][]byte{}, true
	}
	// One return of items, after the loop, lets the compiler start the
	// slice in the stack frame and move it to the heap only there.
	for more := true; more; {
		item, ok := s.Value()
		if !ok {
			return nil, false
		}
		items = append(items, item)
		if more, ok = s.next(']'); !ok {
			return nil, false
		}
	}
	s.depth--
	return items, true
}

// Value reads one value of any kind, checked as Check checks it, and
// returns its bytes.
func (s *Scanner) Value() ([]byte, bool) {
	start := s.i
	if !s.value() {
		return nil, false
	}
	return s.b[start:s.i], true
}

// Text reads a string without escapes, whose bytes are then its value.
func (s *Scanner) Text(v *string) bool {
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

// PlainString reads a string of ASCII from the space up without escapes and
// returns it with its quotes, as an UnmarshalJSON method takes it.
func (s *Scanner) PlainString() (quoted []byte, ok bool) {
	start := s.i
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	if _, plain, ok := s.str(); !ok || !plain {
		return nil, false
	}
	return s.b[start:s.i], true
}

// Int reads a number written as an integer that fits an int64.
func (s *Scanner) Int(v *int64) bool {
	start := s.i
	if s.i >= len(s.b) || !s.number() {
		return false
	}
	n, err := strconv.ParseInt(string(s.b[start:s.i]), 10, 64)
	*v = n
	return err == nil
}

// Uint reads a number written as an integer without a sign that fits a
// uint64.
func (s *Scanner) Uint(v *uint64) bool {
	start := s.i
	if s.i >= len(s.b) || s.b[s.i] == '-' || !s.number() {
		return false
	}
	n, err := strconv.ParseUint(string(s.b[start:s.i]), 10, 64)
	*v = n
	return err == nil
}

// Bool reads true or false.
func (s *Scanner) Bool(v *bool) bool {
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

// End skips white space and reports whether the data ends there.
func (s *Scanner) End() bool {
	s.space()
	return s.i == len(s.b)
}

// consume skips white space and then c, reporting whether c was there.
func (s *Scanner) consume(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}
