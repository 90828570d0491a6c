package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"creditbank/internal/jsonscan"
)

// TimeLayout is the layout of an entry's recorded_at: RFC 3339 in UTC with a
// fixed six-digit fraction, so that equal times always give equal bytes.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// Limits on the header fields of an entry. They keep index keys short and the
// header free of anything but printable text.
const (
	maxTypeLen   = 64
	maxActorLen  = 200
	maxIndexLen  = 200
	maxIdemLen   = 200
	maxEntrySize = 16 << 20
)

// validType reports whether typ matches ^[a-z][a-z0-9_.]{0,63}$ (a byte
// loop: this runs for every entry on the sequencer).
func validType(typ string) bool {
	if len(typ) == 0 || len(typ) > maxTypeLen || typ[0] < 'a' || typ[0] > 'z' {
		return false
	}
	for i := 1; i < len(typ); i++ {
		c := typ[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Entry is one record of the journal as it is stored and served.
//
// Its canonical encoding (see [Entry.Encode]) is
//
//	{"seq":N,"type":"T","recorded_at":"R","actor":"A","content":{...}}
//
// with the fields in that order, no insignificant white space, and content a
// JSON object as the domain encoded it. Those bytes are the Merkle tree leaf.
type Entry struct {
	Seq        uint64          `json:"seq"`
	Type       string          `json:"type"`
	RecordedAt time.Time       `json:"recorded_at"`
	Actor      string          `json:"actor"`
	Content    json.RawMessage `json:"content"`
}

// Encode returns the canonical bytes of e. It fails if a header field is out
// of bounds or the content is not a compact JSON object.
func (e Entry) Encode() ([]byte, error) {
	if err := checkHeader(e.Type, e.Actor); err != nil {
		return nil, err
	}
	if err := checkContent(e.Content); err != nil {
		return nil, err
	}
	return e.encodeChecked()
}

// encodeChecked encodes an entry whose type, actor and content are known to
// be valid (checked by Encode, or by checkRecord before the sequencer).
func (e Entry) encodeChecked() ([]byte, error) {
	at, err := formatRecordedAt(e.RecordedAt)
	if err != nil {
		return nil, err
	}
	return e.encodeAt(at), nil
}

// formatRecordedAt is an entry's recorded_at as encoded, without quotes.
func formatRecordedAt(t time.Time) ([]byte, error) {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("entry recorded_at year %d is outside 0000 to 9999", y)
	}
	return t.UTC().AppendFormat(make([]byte, 0, len(TimeLayout)), TimeLayout), nil
}

// encodeAt is encodeChecked with recorded_at formatted already (e.RecordedAt
// is not read): a group's entries share one time, and formatting it per
// entry took a tenth of their encoding.
func (e Entry) encodeAt(recordedAt []byte) []byte {
	b := make([]byte, 0, 96+len(e.Actor)+len(e.Content))
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, e.Type)
	b = append(b, `,"recorded_at":"`...)
	b = append(b, recordedAt...)
	b = append(b, `","actor":`...)
	b = appendJSONString(b, e.Actor)
	b = append(b, `,"content":`...)
	b = append(b, e.Content...)
	return append(b, '}')
}

// ErrNotCanonical is wrapped by [ParseEntry] when bytes decode as an entry but
// are not the canonical encoding of that entry.
var ErrNotCanonical = errors.New("entry bytes are not canonical")

// ParseEntry decodes stored entry bytes and checks that they are canonical:
// re-encoding the result gives exactly b.
func ParseEntry(b []byte) (Entry, error) {
	if len(b) > maxEntrySize {
		return Entry{}, fmt.Errorf("entry of %d bytes exceeds %d", len(b), maxEntrySize)
	}
	var raw struct {
		Seq        *uint64         `json:"seq"`
		Type       string          `json:"type"`
		RecordedAt string          `json:"recorded_at"`
		Actor      string          `json:"actor"`
		Content    json.RawMessage `json:"content"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return Entry{}, fmt.Errorf("decode entry: %w", err)
	}
	if raw.Seq == nil {
		return Entry{}, errors.New("decode entry: no seq")
	}
	t, err := time.Parse(TimeLayout, raw.RecordedAt)
	if err != nil {
		return Entry{}, fmt.Errorf("decode entry: recorded_at: %w", err)
	}
	e := Entry{Seq: *raw.Seq, Type: raw.Type, RecordedAt: t, Actor: raw.Actor, Content: raw.Content}
	again, err := e.Encode()
	if err != nil {
		return Entry{}, fmt.Errorf("decode entry: %w", err)
	}
	if !bytes.Equal(again, b) {
		return Entry{}, ErrNotCanonical
	}
	return e, nil
}

// DecodeEntry decodes entry bytes this ledger stored and serves, without
// ParseEntry's canonical re-encoding: for reads of the ledger's own durable
// entries, where the bytes were encoded canonically on the way in. Audits
// of bytes from elsewhere use ParseEntry. The entry's Content may share
// memory with b.
func DecodeEntry(b []byte) (Entry, error) {
	if e, ok := decodeCanonicalEntry(b); ok {
		return e, nil
	}
	return decodeEntryJSON(b)
}

// decodeEntryJSON decodes entry bytes as JSON, whatever their layout.
func decodeEntryJSON(b []byte) (Entry, error) {
	var raw struct {
		Seq        uint64          `json:"seq"`
		Type       string          `json:"type"`
		RecordedAt string          `json:"recorded_at"`
		Actor      string          `json:"actor"`
		Content    json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Entry{}, fmt.Errorf("decode entry: %w", err)
	}
	t, err := time.Parse(TimeLayout, raw.RecordedAt)
	if err != nil {
		return Entry{}, fmt.Errorf("decode entry: recorded_at: %w", err)
	}
	return Entry{Seq: raw.Seq, Type: raw.Type, RecordedAt: t, Actor: raw.Actor, Content: raw.Content}, nil
}

// decodeCanonicalEntry reads b by the layout encodeChecked writes, when b
// follows it with a plain actor (no escapes) and compact content; else it
// says no and DecodeEntry decodes b as JSON. Transcripts decode hundreds of
// entries per read, and decoding the envelope as JSON was a quarter of it.
func decodeCanonicalEntry(b []byte) (Entry, bool) {
	rest, ok := bytes.CutPrefix(b, []byte(`{"seq":`))
	if !ok {
		return Entry{}, false
	}
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n == 0 || n > 1 && rest[0] == '0' {
		return Entry{}, false
	}
	seq, err := strconv.ParseUint(string(rest[:n]), 10, 64)
	if err != nil {
		return Entry{}, false
	}
	rest, ok = bytes.CutPrefix(rest[n:], []byte(`,"type":"`))
	if !ok {
		return Entry{}, false
	}
	typ, rest, ok := bytes.Cut(rest, []byte(`","recorded_at":"`))
	if !ok || !validType(string(typ)) || len(rest) < len(TimeLayout) {
		return Entry{}, false
	}
	at, err := time.Parse(TimeLayout, string(rest[:len(TimeLayout)]))
	if err != nil {
		return Entry{}, false
	}
	rest, ok = bytes.CutPrefix(rest[len(TimeLayout):], []byte(`","actor":"`))
	if !ok {
		return Entry{}, false
	}
	actor, rest, ok := bytes.Cut(rest, []byte(`","content":`))
	if !ok || bytes.ContainsFunc(actor, func(r rune) bool { return r < 0x20 || r == '"' || r == '\\' || r == utf8.RuneError }) {
		return Entry{}, false
	}
	content, ok := bytes.CutSuffix(rest, []byte("}"))
	if !ok || !jsonscan.CompactObject(content) {
		return Entry{}, false
	}
	return Entry{Seq: seq, Type: string(typ), RecordedAt: at, Actor: string(actor), Content: json.RawMessage(content)}, true
}

func checkHeader(typ, actor string) error {
	if !validType(typ) {
		return fmt.Errorf("entry type %q does not match ^[a-z][a-z0-9_.]{0,63}$", typ)
	}
	if err := checkText("actor", actor, maxActorLen); err != nil {
		return err
	}
	return nil
}

// checkText accepts non-empty valid UTF-8 without control characters.
func checkText(what, s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("%s must be 1 to %d bytes", what, max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s contains a control character", what)
		}
	}
	return nil
}

// checkContent accepts a compact JSON object in valid UTF-8: the form
// json.Compact gives. It runs for every entry, so the common case is one
// pass of jsonscan.CompactObject; only a failure pays for a precise message.
func checkContent(c json.RawMessage) error {
	if len(c) == 0 || c[0] != '{' {
		return errors.New("entry content must be a JSON object")
	}
	if !utf8.Valid(c) {
		return errors.New("entry content is not valid UTF-8")
	}
	if jsonscan.CompactObject(c) {
		return nil
	}
	if !json.Valid(c) {
		return errors.New("entry content is not valid JSON")
	}
	return errors.New("entry content is not compact JSON")
}

// appendJSONString appends s as a JSON string without HTML escaping. For
// what an entry header may hold (no control characters) that is what
// encoding/json writes with SetEscapeHTML(false); for \b and \f it writes
// \u0008 and \u000c where encoding/json now writes the short escapes, and
// it must go on doing so, since entries are checked by re-encoding them.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// MarshalContent encodes v as the compact JSON object an entry's content
// holds, without HTML escaping. Go structs encode their fields in declaration
// order and maps in sorted key order, so equal values give equal bytes.
func MarshalContent(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode content: %w", err)
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(out) == 0 || out[0] != '{' {
		return nil, errors.New("encode content: not a JSON object")
	}
	return out, nil
}
