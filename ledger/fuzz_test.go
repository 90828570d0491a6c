package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata/entries.golden from the current Entry.Encode")

// fzGoodEntry is a canonical entry the tests below start from.
const fzGoodEntry = `{"seq":7,"type":"credit.awarded","recorded_at":"2026-07-01T08:00:00.123456Z","actor":"registrar","content":{"learner":"L1","n":7}}`

// FuzzParseEntry: ParseEntry never panics, and whatever it accepts is the
// canonical encoding of what it returns: Encode gives the same bytes back,
// and parsing those again gives the same entry.
func FuzzParseEntry(f *testing.F) {
	f.Add([]byte(fzGoodEntry))
	f.Add([]byte(`{"seq":0,"type":"a","recorded_at":"0001-01-01T00:00:00.000000Z","actor":"x","content":{}}`))
	f.Add([]byte(`{"seq": 7,"type":"a","recorded_at":"2026-07-01T08:00:00.000000Z","actor":"x","content":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEntry(data)
		if err != nil {
			return
		}
		again, err := e.Encode()
		if err != nil {
			t.Fatalf("ParseEntry accepted %q but Encode fails: %v", data, err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("ParseEntry accepted %q, which encodes as %q", data, again)
		}
		e2, err := ParseEntry(again)
		if err != nil {
			t.Fatalf("re-encoded entry %q does not parse: %v", again, err)
		}
		if e2.Seq != e.Seq || e2.Type != e.Type || e2.Actor != e.Actor || !e2.RecordedAt.Equal(e.RecordedAt) || !bytes.Equal(e2.Content, e.Content) {
			t.Fatalf("parse(encode(parse(%q))) = %+v, want %+v", data, e2, e)
		}
		if !json.Valid(data) {
			t.Fatalf("ParseEntry accepted invalid JSON %q", data)
		}
	})
}

// FuzzParseCheckpoint: ParseCheckpoint never panics; what it accepts formats
// back to the same text when it has no extension lines, and to the text's
// first three lines when it has; and the formatted text parses to the same
// checkpoint.
func FuzzParseCheckpoint(f *testing.F) {
	f.Add("creditbank.local/ledger\n42\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
	f.Add("o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseCheckpoint(text)
		if err != nil {
			return
		}
		formatted := c.Text()
		if strings.Count(text, "\n") == 3 {
			if formatted != text {
				t.Fatalf("ParseCheckpoint accepted %q, which formats as %q", text, formatted)
			}
		} else if !strings.HasPrefix(text, formatted) {
			t.Fatalf("checkpoint %q with extension lines formats as %q, not its first lines", text, formatted)
		}
		c2, err := ParseCheckpoint(formatted)
		if err != nil {
			t.Fatalf("formatted checkpoint %q does not parse: %v", formatted, err)
		}
		if c2 != c {
			t.Fatalf("parse(format(parse(%q))) = %+v, want %+v", text, c2, c)
		}
	})
}

// FuzzParseCursor: ParseCursor never panics; a cursor it accepts formats
// back to the same string ("" being the start, seq 0).
func FuzzParseCursor(f *testing.F) {
	f.Add("")
	f.Add(FormatCursor(0))
	f.Add(FormatCursor(1 << 40))
	f.Fuzz(func(t *testing.T, cursor string) {
		seq, err := ParseCursor(cursor)
		if err != nil {
			if !errors.Is(err, ErrBadCursor) {
				t.Fatalf("ParseCursor(%q) error %v is not ErrBadCursor", cursor, err)
			}
			return
		}
		if cursor == "" {
			if seq != 0 {
				t.Fatalf("empty cursor gives seq %d", seq)
			}
			return
		}
		if got := FormatCursor(seq); got != cursor {
			t.Fatalf("ParseCursor accepted %q (seq %d), which formats as %q", cursor, seq, got)
		}
	})
}

// TestParseEntry accepts canonical entries and rejects everything else:
// every way of writing the same entry but one, and entries whose fields are
// out of bounds.
func TestParseEntry(t *testing.T) {
	long := strings.Repeat("a", maxActorLen)
	type64 := "t" + strings.Repeat("x", 63)
	mk := func(seq, typ, at, actor, content string) string {
		return `{"seq":` + seq + `,"type":` + typ + `,"recorded_at":` + at + `,"actor":` + actor + `,"content":` + content + `}`
	}
	const (
		at = `"2026-07-01T08:00:00.123456Z"`
		ty = `"credit.awarded"`
		ac = `"registrar"`
		co = `{"learner":"L1","n":7}`
	)
	tests := []struct {
		name string
		in   string
		// ok: accepted. canon: rejected with ErrNotCanonical (decodes, but
		// is not the canonical encoding). Neither: rejected otherwise.
		ok, canon bool
	}{
		{name: "good", in: fzGoodEntry, ok: true},
		{name: "seq 0", in: mk("0", ty, at, ac, co), ok: true},
		{name: "seq max", in: mk("18446744073709551615", ty, at, ac, co), ok: true},
		{name: "type max length", in: mk("1", `"`+type64+`"`, at, ac, co), ok: true},
		{name: "type digits underscore dot", in: mk("1", `"a1_b.c9"`, at, ac, co), ok: true},
		{name: "actor max length", in: mk("1", ty, at, `"`+long+`"`, co), ok: true},
		{name: "actor unicode", in: mk("1", ty, at, `"Zoë Ōtsuka 学"`, co), ok: true},
		{name: "actor quote backslash", in: mk("1", ty, at, `"a\"b\\c"`, co), ok: true},
		{name: "actor HTML characters raw", in: mk("1", ty, at, `"a<b>&c"`, co), ok: true},
		{name: "actor U+2028 escaped", in: mk("1", ty, at, `"a\u2028b"`, co), ok: true},
		{name: "empty content", in: mk("1", ty, at, ac, `{}`), ok: true},
		{name: "nested content", in: mk("1", ty, at, ac, `{"a":[1,{"b":null}],"c":"ü","d":-1.5e3}`), ok: true},
		// Content is kept as the domain encoded it (compact JSON, any key
		// order or string escaping): the bytes are what is hashed.
		{name: "content keys unsorted", in: mk("1", ty, at, ac, `{"z":1,"a":2}`), ok: true},
		{name: "content HTML-escaped kept verbatim", in: mk("1", ty, at, ac, `{"a":"\u003cb\u003e"}`), ok: true},
		{name: "time zero year", in: mk("1", ty, `"0000-01-01T00:00:00.000000Z"`, ac, co), ok: true},

		{name: "space after colon", in: `{"seq": 7,"type":"credit.awarded","recorded_at":"2026-07-01T08:00:00.123456Z","actor":"registrar","content":{"learner":"L1","n":7}}`, canon: true},
		{name: "space after comma", in: `{"seq":7, "type":"credit.awarded","recorded_at":"2026-07-01T08:00:00.123456Z","actor":"registrar","content":{"learner":"L1","n":7}}`, canon: true},
		{name: "leading space", in: " " + fzGoodEntry, canon: true},
		{name: "trailing newline", in: fzGoodEntry + "\n", canon: true},
		{name: "pretty printed", in: "{\n  \"seq\": 7,\n  \"type\": \"credit.awarded\",\n  \"recorded_at\": \"2026-07-01T08:00:00.123456Z\",\n  \"actor\": \"registrar\",\n  \"content\": {\"learner\":\"L1\",\"n\":7}\n}", canon: true},
		{name: "trailing data", in: fzGoodEntry + "{}", canon: true},
		{name: "key order", in: `{"type":"credit.awarded","seq":7,"recorded_at":"2026-07-01T08:00:00.123456Z","actor":"registrar","content":{"learner":"L1","n":7}}`, canon: true},
		{name: "content before actor", in: `{"seq":7,"type":"credit.awarded","recorded_at":"2026-07-01T08:00:00.123456Z","content":{"learner":"L1","n":7},"actor":"registrar"}`, canon: true},
		{name: "key case", in: `{"SEQ":7,"type":"credit.awarded","recorded_at":"2026-07-01T08:00:00.123456Z","actor":"registrar","content":{"learner":"L1","n":7}}`, canon: true},
		{name: "duplicate key", in: `{"seq":7,"seq":7,"type":"credit.awarded","recorded_at":"2026-07-01T08:00:00.123456Z","actor":"registrar","content":{"learner":"L1","n":7}}`, canon: true},
		{name: "actor HTML-escaped", in: mk("1", ty, at, `"a\u003cb"`, co), canon: true},
		{name: "actor needless escape", in: mk("1", ty, at, `"\u0072egistrar"`, co), canon: true},
		{name: "actor non-ASCII escaped", in: mk("1", ty, at, `"Zo\u00eb"`, co), canon: true},
		{name: "actor U+2028 raw", in: mk("1", ty, at, "\"a\u2028b\"", co), canon: true},
		{name: "actor invalid UTF-8", in: mk("1", ty, at, "\"a\xffb\"", co), canon: true},
		{name: "actor escaped slash", in: mk("1", ty, at, `"a\/b"`, co), canon: true},
		{name: "type escaped", in: mk("1", `"credit\u002eawarded"`, at, ac, co), canon: true},

		{name: "missing seq", in: `{"type":"credit.awarded","recorded_at":"2026-07-01T08:00:00.123456Z","actor":"registrar","content":{"learner":"L1","n":7}}`},
		{name: "seq null", in: mk("null", ty, at, ac, co)},
		{name: "seq string", in: mk(`"7"`, ty, at, ac, co)},
		{name: "seq negative", in: mk("-1", ty, at, ac, co)},
		{name: "seq fraction", in: mk("7.0", ty, at, ac, co)},
		{name: "seq exponent", in: mk("7e0", ty, at, ac, co)},
		{name: "seq leading zero", in: mk("07", ty, at, ac, co)},
		{name: "seq overflow", in: mk("18446744073709551616", ty, at, ac, co)},
		{name: "unknown field", in: `{"seq":7,"type":"credit.awarded","recorded_at":"2026-07-01T08:00:00.123456Z","actor":"registrar","content":{},"extra":1}`},
		{name: "empty object", in: `{}`},
		{name: "empty input", in: ``},
		{name: "not an object", in: `[1,2]`},
		{name: "truncated", in: fzGoodEntry[:len(fzGoodEntry)-1]},

		{name: "time without fraction", in: mk("1", ty, `"2026-07-01T08:00:00Z"`, ac, co)},
		{name: "time millis", in: mk("1", ty, `"2026-07-01T08:00:00.123Z"`, ac, co)},
		{name: "time nanos", in: mk("1", ty, `"2026-07-01T08:00:00.123456789Z"`, ac, co)},
		{name: "time offset", in: mk("1", ty, `"2026-07-01T08:00:00.123456+00:00"`, ac, co)},
		{name: "time no zone", in: mk("1", ty, `"2026-07-01T08:00:00.123456"`, ac, co)},
		{name: "time lower-case z", in: mk("1", ty, `"2026-07-01T08:00:00.123456z"`, ac, co)},
		{name: "time space", in: mk("1", ty, `"2026-07-01 08:00:00.123456Z"`, ac, co)},
		{name: "time impossible date", in: mk("1", ty, `"2026-02-30T08:00:00.123456Z"`, ac, co)},
		{name: "time hour 24", in: mk("1", ty, `"2026-07-01T24:00:00.000000Z"`, ac, co)},
		{name: "time number", in: mk("1", ty, `1782892800`, ac, co)},
		{name: "time missing", in: `{"seq":7,"type":"credit.awarded","actor":"registrar","content":{"learner":"L1","n":7}}`},

		{name: "type empty", in: mk("1", `""`, at, ac, co)},
		{name: "type upper case", in: mk("1", `"Credit.awarded"`, at, ac, co)},
		{name: "type leading digit", in: mk("1", `"1credit"`, at, ac, co)},
		{name: "type dash", in: mk("1", `"credit-awarded"`, at, ac, co)},
		{name: "type too long", in: mk("1", `"`+type64+`x"`, at, ac, co)},
		{name: "type trailing newline", in: mk("1", `"credit\n"`, at, ac, co)},

		{name: "actor empty", in: mk("1", ty, at, `""`, co)},
		{name: "actor too long", in: mk("1", ty, at, `"`+long+`b"`, co)},
		{name: "actor control escaped", in: mk("1", ty, at, `"a\u0001b"`, co)},
		{name: "actor tab", in: mk("1", ty, at, `"a\tb"`, co)},
		{name: "actor newline", in: mk("1", ty, at, `"a\nb"`, co)},
		{name: "actor NUL", in: mk("1", ty, at, `"a\u0000b"`, co)},
		{name: "actor DEL", in: mk("1", ty, at, "\"a\x7fb\"", co)},
		{name: "actor number", in: mk("1", ty, at, `42`, co)},

		{name: "content array", in: mk("1", ty, at, ac, `[1,2]`)},
		{name: "content string", in: mk("1", ty, at, ac, `"x"`)},
		{name: "content number", in: mk("1", ty, at, ac, `1`)},
		{name: "content null", in: mk("1", ty, at, ac, `null`)},
		{name: "content missing", in: `{"seq":7,"type":"credit.awarded","recorded_at":"2026-07-01T08:00:00.123456Z","actor":"registrar"}`},
		{name: "content not compact", in: mk("1", ty, at, ac, `{"a": 1}`)},
		{name: "content inner space", in: mk("1", ty, at, ac, `{"a":[1, 2]}`)},
		{name: "too large", in: mk("1", ty, at, ac, `{"a":"`+strings.Repeat("x", maxEntrySize)+`"}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseEntry([]byte(tc.in))
			switch {
			case tc.ok:
				if err != nil {
					t.Fatalf("ParseEntry(%.200q): %v", tc.in, err)
				}
				b, err := e.Encode()
				if err != nil || string(b) != tc.in {
					t.Fatalf("Encode = %q, %v; want the input back", b, err)
				}
			case err == nil:
				t.Fatalf("ParseEntry(%.200q) accepted: %+v", tc.in, e)
			case tc.canon && !errors.Is(err, ErrNotCanonical):
				t.Fatalf("ParseEntry(%.200q) = %v, want ErrNotCanonical", tc.in, err)
			case !tc.canon && errors.Is(err, ErrNotCanonical):
				t.Fatalf("ParseEntry(%.200q) = %v; want a decoding or bounds error, not ErrNotCanonical", tc.in, err)
			}
		})
	}
}

// fzGoldenEntries are encoded into testdata/entries.golden, one a line. They
// pin down the canonical form: field order, string escaping in the header
// (quotes and backslashes escaped, U+2028/U+2029 escaped, no HTML escaping),
// time formatting (converted to UTC, six fraction digits, the
// sub-microsecond part dropped) and content passed through as given.
func fzGoldenEntries() []Entry {
	cet := time.FixedZone("CET", 3600)
	return []Entry{
		{Seq: 0, Type: "ledger.genesis", RecordedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Actor: "system", Content: json.RawMessage(`{}`)},
		{Seq: 1, Type: "credit.awarded", RecordedAt: time.Date(2026, 7, 1, 8, 0, 0, 123456000, time.UTC), Actor: "registrar@uni.example", Content: json.RawMessage(`{"credits":5,"learner":"L000123","module":"CS101"}`)},
		{Seq: 42, Type: "learner.renamed", RecordedAt: time.Date(2026, 7, 1, 9, 30, 0, 999999999, cet), Actor: `Zoë "Z" O'Brien \ <admin> & co`, Content: json.RawMessage(`{"name":"Zoë <Ōtsuka>","note":"line\nbreak \u003c"}`)},
		{Seq: 18446744073709551615, Type: "a", RecordedAt: time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), Actor: "x\u2028y\u2029z", Content: json.RawMessage(`{"a":[1,2,{"b":null}],"c":true}`)},
	}
}

// TestEntryEncodeGolden compares Entry.Encode for fixed entries with
// testdata/entries.golden; run with -rewrite to regenerate the file after a
// deliberate change of the encoding (which would change every leaf hash).
func TestEntryEncodeGolden(t *testing.T) {
	var buf bytes.Buffer
	for i, e := range fzGoldenEntries() {
		b, err := e.Encode()
		if err != nil {
			t.Fatalf("encode golden entry %d: %v", i, err)
		}
		if _, err := ParseEntry(b); err != nil {
			t.Fatalf("golden entry %d encodes as %q, which does not parse: %v", i, b, err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	path := filepath.Join("testdata", "entries.golden")
	if *rewrite {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %s", path)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -rewrite to create it)", err)
	}
	got := buf.Bytes()
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gl), len(wl)) {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Errorf("line %d:\n got  %s\n want %s", i+1, g, w)
		}
	}
}

// FuzzDecodeEntry: DecodeEntry never panics, on canonical bytes agrees with
// ParseEntry, and its fast path agrees with decoding the bytes as JSON.
func FuzzDecodeEntry(f *testing.F) {
	f.Add([]byte(`{"seq":1,"type":"a","recorded_at":"2026-07-01T08:00:00.000000Z","actor":"x","content":{}}`))
	f.Add([]byte(`{"seq":12,"type":"outcome.recorded","recorded_at":"2026-07-01T08:00:00.123456Z","actor":"institution:u.example","content":{"a":[1,{"b":"\u00e9"}]}}`))
	f.Add([]byte(`{"seq":01,"type":"a","recorded_at":"2026-07-01T08:00:00.000000Z","actor":"x\"y","content":{}}`))
	f.Add([]byte(`{"seq":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if fast, ok := decodeCanonicalEntry(b); ok {
			slow, err := decodeEntryJSON(b)
			if err != nil {
				t.Fatalf("fast path decodes %q, which JSON refuses: %v", b, err)
			}
			if slow.Seq != fast.Seq || slow.Type != fast.Type || !slow.RecordedAt.Equal(fast.RecordedAt) ||
				slow.Actor != fast.Actor || !bytes.Equal(slow.Content, fast.Content) {
				t.Fatalf("fast path %+v, JSON %+v", fast, slow)
			}
		}
		d, derr := DecodeEntry(b)
		p, perr := ParseEntry(b)
		if perr == nil {
			if derr != nil {
				t.Fatalf("ParseEntry accepts %q but DecodeEntry fails: %v", b, derr)
			}
			if d.Seq != p.Seq || d.Type != p.Type || !d.RecordedAt.Equal(p.RecordedAt) || d.Actor != p.Actor || !bytes.Equal(d.Content, p.Content) {
				t.Fatalf("DecodeEntry %+v, ParseEntry %+v", d, p)
			}
		}
	})
}
