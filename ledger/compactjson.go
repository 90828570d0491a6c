package ledger

// compactObject reports whether b is one JSON object (RFC 8259) in compact
// form: no white space outside strings, nothing after the closing brace.
// It is the check every entry's content goes through, in one pass at a few
// times the speed of json.Valid followed by a scan for white space. It does
// not check UTF-8 (utf8.Valid does, faster) and, like encoding/json, nests
// at most 10000 deep.
func compactObject(b []byte) bool {
	if len(b) == 0 || b[0] != '{' {
		return false
	}
	s := jsonScan{b: b}
	return s.value() && s.i == len(b)
}

const maxNesting = 10000

type jsonScan struct {
	b     []byte
	i     int
	depth int
}

func (s *jsonScan) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *jsonScan) value() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.container('{', '}')
	case c == '[':
		return s.container('[', ']')
	case c == '"':
		return s.str()
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.num()
	}
	return false
}

// container scans an object or an array starting at its open bracket.
func (s *jsonScan) container(open, close byte) bool {
	s.depth++
	if s.depth > maxNesting {
		return false
	}
	s.i++ // open
	if s.eat(close) {
		s.depth--
		return true
	}
	for {
		if open == '{' {
			if s.i >= len(s.b) || s.b[s.i] != '"' || !s.str() || !s.eat(':') {
				return false
			}
		}
		if !s.value() {
			return false
		}
		if s.eat(',') {
			continue
		}
		if s.eat(close) {
			s.depth--
			return true
		}
		return false
	}
}

func (s *jsonScan) str() bool {
	b := s.b
	i := s.i + 1 // the opening quote
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			s.i = i + 1
			return true
		case c == '\\':
			i++
			if i >= len(b) {
				return false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+4 >= len(b) {
					return false
				}
				for _, h := range b[i+1 : i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return false
					}
				}
				i += 5
			default:
				return false
			}
		case c < 0x20:
			return false
		default:
			i++
		}
	}
	return false
}

func (s *jsonScan) lit(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

func (s *jsonScan) digits() bool {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

func (s *jsonScan) num() bool {
	s.eat('-')
	if s.eat('0') {
		// no more integer digits after a leading zero
	} else if s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9' {
		s.digits()
	} else {
		return false
	}
	if s.eat('.') && !s.digits() {
		return false
	}
	if s.eat('e') || s.eat('E') {
		if !s.eat('+') {
			s.eat('-')
		}
		if !s.digits() {
			return false
		}
	}
	return true
}
