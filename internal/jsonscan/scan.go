package jsonscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Check reports whether data is one JSON value, with optional white space
// around it, nesting at most maxDepth objects and arrays deep, whose
// objects use each member name once and only in lower case. encoding/json
// matches names without regard to case and keeps the last of a repeated
// one, so without this check "LEVEL" would quietly set "level", or
// override it.
//
// A one-pass scan accepts the bodies that pass, allocating nothing for
// the bodies the API takes (the token walk alone took a quarter of a
// single post's handler time), and names a repeated or upper-case member
// and a nesting too deep itself, where it stops. Only a body of at most
// maxExplained bytes refused for its syntax is walked again by
// encoding/json's tokens, for an error that says what is wrong; a larger
// one is refused with the offset the scan stopped at. Walking a 16 MiB
// batch again for a duplicate member at its end took 1.3 to 2.2 CPU-s,
// 13 to 20 times reading it.
func Check(data []byte, maxDepth int) error {
	s := NewScanner(data, maxDepth)
	s.space()
	if s.value() && s.End() {
		return nil
	}
	if s.why != nil {
		return s.why
	}
	if len(data) > maxExplained {
		return fmt.Errorf("invalid JSON at byte %d", s.i)
	}
	if err := checkTokens(data, maxDepth); err != nil {
		return err
	}
	return errors.New("invalid JSON") // not reached: the two agree (FuzzJSONScan)
}

// maxExplained bounds the refused bodies Check walks again for a message.
const maxExplained = 64 << 10

// acceptable is Check's verdict without its message.
func acceptable(data []byte, maxDepth int) bool {
	s := NewScanner(data, maxDepth)
	s.space()
	return s.value() && s.End()
}

// CompactObject reports whether b is one JSON object in compact form: no
// white space outside strings, nothing after the closing brace; that is,
// an object json.Compact leaves unchanged. Member names are not checked.
// It is the check every ledger entry's content goes through, in one pass at
// a few times the speed of json.Valid followed by a scan for white space.
// It does not check UTF-8 (utf8.Valid does, faster) and, like
// encoding/json, nests at most 10000 deep.
func CompactObject(b []byte) bool {
	if len(b) == 0 || b[0] != '{' {
		return false
	}
	s := Scanner{b: b, maxDepth: maxNesting, compact: true}
	return s.value() && s.i == len(b)
}

// maxNesting is encoding/json's depth limit, which CompactObject shares so
// that it accepts what json.Valid accepts.
const maxNesting = 10000

// ObjectHasMember reports whether data, which Check accepted with the same
// maxDepth, is an object, and whether it has a member called name at its
// top level. It only scans: probing a body by decoding it into a map parsed
// every item of a batch once more than needed.
func ObjectHasMember(data []byte, name string, maxDepth int) (isObject, has bool) {
	s := NewScanner(data, maxDepth)
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return false, false
	}
	s.i++
	s.depth = 1
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
		if !s.value() {
			return true, false
		}
		s.space()
		s.i++ // ',' or '}'
	}
}

// A Scanner reads JSON text (RFC 8259) in place, one pass from the start,
// without decoding it into Go values. The functions above use it for their
// checks; its exported methods read values of a shape the caller knows, for
// decoders that want to skip encoding/json's reflection. A Scanner is not
// safe for concurrent use.
type Scanner struct {
	b        []byte
	i        int  // the next byte to read
	depth    int  // objects and arrays open around b[i]
	maxDepth int  // how many may be open at once
	compact  bool // no white space, and member names as they come
	// why, when set, is why the scan stopped: a member name repeated or
	// not in lower case, or a nesting too deep.
	why error
}

// NewScanner returns a scanner at the start of data that accepts values as
// Check does: white space between tokens, at most maxDepth objects and
// arrays deep, member names in lower case and each once per object.
func NewScanner(data []byte, maxDepth int) *Scanner {
	return &Scanner{b: data, maxDepth: maxDepth}
}

func (s *Scanner) space() {
	if s.compact {
		return
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value reads one value of any kind.
func (s *Scanner) value() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object()
	case c == '[':
		return s.array()
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

func (s *Scanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *Scanner) number() bool {
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

func (s *Scanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

// str reads a string and returns the bytes between its quotes, and whether
// they are plain: ASCII from the space up, without escapes, so that they
// are the string's value as they stand.
func (s *Scanner) str() (raw []byte, plain, ok bool) {
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
			n := escapeLen(b[i:])
			if n == 0 {
				s.i = i
				return nil, false, false
			}
			i += n
		default: // c >= 0x80
			plain = false
			i++
		}
	}
	s.i = i
	return nil, false, false
}

// escapeLen returns the length of the escape sequence b starts with, or 0
// if it is not one JSON allows.
func escapeLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		if len(b) < 6 {
			return 0
		}
		for _, h := range b[2:6] {
			if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
				return 0
			}
		}
		return 6
	}
	return 0
}

// strPlain marks the bytes a string holds as they are in plain ASCII: not
// a quote, a backslash, a control character or part of a longer character.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// enter counts an object or array opening at b[i], reporting whether it
// is within the depth limit.
func (s *Scanner) enter() bool {
	s.depth++
	if s.depth > s.maxDepth {
		s.why = fmt.Errorf("JSON nested deeper than %d", s.maxDepth)
		return false
	}
	return true
}

func (s *Scanner) array() bool {
	if !s.enter() {
		return false
	}
	s.i++ // [
	s.space()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		s.depth--
		return true
	}
	for {
		if !s.value() {
			return false
		}
		if more, ok := s.next(']'); !more {
			s.depth--
			return ok
		}
	}
}

// next reads what follows a member or element: a comma, after which it
// says more, or the closing byte; anything else is not ok.
func (s *Scanner) next(closing byte) (more, ok bool) {
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

func (s *Scanner) object() bool {
	if !s.enter() {
		return false
	}
	if s.compact {
		return s.objectMembers(nil)
	}
	// The set is declared only here: zeroing it for every object of an
	// entry's content is work the compact check has no use for.
	var names nameSet
	return s.objectMembers(&names)
}

// objectMembers reads an object from its opening brace, adding each
// member's name to names unless names is nil.
func (s *Scanner) objectMembers(names *nameSet) bool {
	s.i++ // {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		s.depth--
		return true
	}
	for {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return false
		}
		raw, plain, ok := s.str()
		if !ok {
			return false
		}
		if names != nil && !names.add(raw, plain) {
			s.why = nameError(raw, plain)
			return false
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.space()
		if !s.value() {
			return false
		}
		if more, ok := s.next('}'); !more {
			s.depth--
			return ok
		}
	}
}

// maxFewNames is how many member names an object may have before their
// duplicates are looked for in a map instead of a list.
const maxFewNames = 32

// nameSet holds the member names of one object, to find a repeated one.
// The first names stay in an array on the stack, without allocating.
type nameSet struct {
	few  [maxFewNames][]byte
	n    int
	many map[string]bool
}

// add reports whether a name read by str is in lower case and new, and
// remembers it.
func (ns *nameSet) add(raw []byte, plain bool) bool {
	name, ok := memberName(raw, plain)
	if !ok {
		return false
	}
	switch {
	case ns.many != nil:
	case ns.n < maxFewNames:
		for _, n := range ns.few[:ns.n] {
			if bytes.Equal(n, name) {
				return false
			}
		}
		ns.few[ns.n] = name
		ns.n++
		return true
	default:
		ns.many = make(map[string]bool, 2*maxFewNames)
		for _, n := range ns.few {
			ns.many[string(n)] = true
		}
	}
	if ns.many[string(name)] {
		return false
	}
	ns.many[string(name)] = true
	return true
}

// nameError says why names.add refused a member name read by str, in the
// words of checkTokens.
func nameError(raw []byte, plain bool) error {
	name := string(raw)
	if !plain {
		quoted := append(append([]byte{'"'}, raw...), '"')
		_ = json.Unmarshal(quoted, &name) // str accepted it
	}
	if strings.ToLower(name) != name {
		return fmt.Errorf("member %q: member names are lower case", name)
	}
	return fmt.Errorf("member %q appears twice", name)
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
