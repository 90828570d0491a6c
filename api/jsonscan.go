package api

import (
	"bytes"
	"encoding/json"
	"strings"
)

// jsonAcceptable reports whether data is what checkJSONTokens accepts: one
// JSON value (RFC 8259) with optional white space around it, at most
// maxJSONDepth objects and arrays deep, whose objects use each member name
// once and only in lower case. It reads data once and, for the bodies the
// API takes, allocates nothing.
func jsonAcceptable(data []byte) bool {
	s := jsonScan{b: data}
	s.space()
	if !s.value(0) {
		return false
	}
	s.space()
	return s.i == len(s.b)
}

type jsonScan struct {
	b []byte
	i int
}

func (s *jsonScan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScan) value(depth int) bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return depth < maxJSONDepth && s.object(depth)
	case c == '[':
		return depth < maxJSONDepth && s.array(depth)
	case c == '"':
		_, _, ok := s.str()
		return ok
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return false
}

func (s *jsonScan) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *jsonScan) number() bool {
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.digits() == 0:
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

func (s *jsonScan) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

// str reads a string and returns the bytes between its quotes, and whether
// they are plain: printable ASCII without escapes, so that they are the
// string's value as they stand.
func (s *jsonScan) str() (raw []byte, plain, ok bool) {
	// The loop keeps the body and position in locals: through s, every
	// byte of every string was a load and a store, most of the time a
	// batch's JSON check took.
	b, i := s.b, s.i+1
	start := i
	plain = true
	for i < len(b) {
		c := b[i]
		if strPlain[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			s.i = i + 1
			return b[start:i], plain, true
		case c < 0x20:
			s.i = i
			return nil, false, false
		case c == '\\':
			plain = false
			if i+1 >= len(b) {
				s.i = i
				return nil, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 {
					s.i = i
					return nil, false, false
				}
				for _, h := range b[i+2 : i+6] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						s.i = i
						return nil, false, false
					}
				}
				i += 6
			default:
				s.i = i
				return nil, false, false
			}
		default: // c >= 0x80
			plain = false
			i++
		}
	}
	s.i = i
	return nil, false, false
}

// strPlain marks the bytes a string holds as they are in plain ASCII: not
// a quote, a backslash, a control character or part of a longer character.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func (s *jsonScan) array(depth int) bool {
	s.i++ // [
	s.space()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return true
	}
	for {
		if !s.value(depth + 1) {
			return false
		}
		if more, ok := s.next(']'); !more {
			return ok
		}
	}
}

// next reads what follows a member or element: a comma, after which it
// says more, or the closing byte; anything else is not ok.
func (s *jsonScan) next(closing byte) (more, ok bool) {
	s.space()
	if s.i >= len(s.b) {
		return false, false
	}
	switch s.b[s.i] {
	case ',':
		s.i++
		s.space()
		return true, true
	case closing:
		s.i++
		return false, true
	}
	return false, false
}

// maxScanNames is how many member names an object may have before their
// duplicates are looked for in a map instead of a list.
const maxScanNames = 32

func (s *jsonScan) object(depth int) bool {
	s.i++ // {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return true
	}
	var few [maxScanNames][]byte
	names := few[:0]
	var many map[string]bool
	for {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return false
		}
		raw, plain, ok := s.str()
		if !ok {
			return false
		}
		name, ok := memberName(raw, plain)
		if !ok {
			return false
		}
		switch {
		case many != nil:
			if many[string(name)] {
				return false
			}
			many[string(name)] = true
		case len(names) < maxScanNames:
			for _, n := range names {
				if bytes.Equal(n, name) {
					return false
				}
			}
			names = append(names, name)
		default:
			many = make(map[string]bool, 2*maxScanNames)
			for _, n := range names {
				many[string(n)] = true
			}
			if many[string(name)] {
				return false
			}
			many[string(name)] = true
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.space()
		if !s.value(depth + 1) {
			return false
		}
		if more, ok := s.next('}'); !more {
			return ok
		}
	}
}

// memberName returns the value of a member name read by str, and whether it
// is in lower case. A plain name is its own value; any other is decoded as
// encoding/json decodes it, invalid UTF-8 becoming U+FFFD, and lower case
// is what strings.ToLower leaves alone.
func memberName(raw []byte, plain bool) ([]byte, bool) {
	if plain {
		for _, c := range raw {
			if c >= 'A' && c <= 'Z' {
				return nil, false
			}
		}
		return raw, true
	}
	quoted := make([]byte, 0, len(raw)+2)
	quoted = append(append(append(quoted, '"'), raw...), '"')
	var name string
	if json.Unmarshal(quoted, &name) != nil {
		return nil, false
	}
	return []byte(name), strings.ToLower(name) == name
}

// objectHasMember reports whether data, which jsonAcceptable accepted, is
// an object, and whether it has a member called name at its top level.
// It only scans: probing a batch by decoding it into a map parsed every
// item once more than needed.
func objectHasMember(data []byte, name string) (isObject, has bool) {
	s := jsonScan{b: data}
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return false, false
	}
	s.i++
	for {
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return true, false // '}' or, for unchecked data, anything
		}
		raw, plain, ok := s.str()
		if !ok {
			return true, false
		}
		if n, _ := memberName(raw, plain); string(n) == name {
			return true, true
		}
		s.space()
		s.i++ // ':'
		s.space()
		if !s.value(1) {
			return true, false
		}
		s.space()
		s.i++ // ',' or '}'
	}
}
