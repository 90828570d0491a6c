package accreditation

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestCanonicalLearnerID(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"l000123", "L000123"},
		{"L000123", "L000123"},
		{"ab-cd-9", "AB-CD-9"},
		{"Z", "Z"},
		// Only ASCII is mapped: Unicode would make "ſ" an S and the
		// Kelvin sign a k, turning refused ids into accepted ones.
		{"l\u017f1", "L\u017f1"},
		{"\u212a1", "\u212a1"},
	} {
		if got := CanonicalLearnerID(tc.in); got != tc.want {
			t.Errorf("CanonicalLearnerID(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !SameLearner(tc.in, tc.want) {
			t.Errorf("SameLearner(%q, %q) = false", tc.in, tc.want)
		}
	}
	if SameLearner("L1", "L2") {
		t.Error("SameLearner(L1, L2) = true")
	}
	if n := testing.AllocsPerRun(100, func() { CanonicalLearnerID("L000123") }); n != 0 {
		t.Errorf("a canonical id allocates %v times", n)
	}
}

func TestLearnerIDPersonal(t *testing.T) {
	for _, tc := range []struct {
		id       string
		personal bool
	}{
		{"123456789", true},             // 9 digits: a social security number's size
		{"123-45-6789", false},          // two hyphens: not one number's form
		{"12345-6789", true},            // one hyphen
		{"900101-1234567", true},        // a resident registration number
		{"110101199003071234", true},    // 18 digits
		{"11010119900307123X", true},    // 17 digits and X
		{"11010119900307123x", true},    // the same, in lower case
		{"1101011990030712X", false},    // 16 digits and X
		{"11010119900307123XX", false},  // a letter too many
		{"12345678", false},             // 8 digits
		{"L000123", false},              // a pseudonym
		{"L110101199003071234", false},  // a letter makes it a pseudonym
		{"1234567890123456789", true},   // any long number
		{"X10101199003071234", false},   // X in front
		{"123456789-", true},            // a hyphen at the end is still one
		{"1-2-3-4-5-6-7-8-9", false},    // many hyphens
		{"110101199003071234X", false},  // 18 digits and X
		{"0000000000000000000", true},   // zeros are digits
		{"2026-fall-000000001", false},  // letters
		{"A", false},                    // short
		{"99999999-9", true},            // 9 digits, one hyphen
		{"9999999-9", false},            // 8 digits
		{"11010119900307123-", true},    // 17 digits and a hyphen
		{"11010119900307123-X", false},  // X after a hyphen
		{"1101011990030712-3X", false},  // X after a hyphen
		{"123456789012345678901", true}, // 21 digits
	} {
		err := checkLearnerID("learner", tc.id)
		if got := CodeOf(err) == CodeLearnerIDPersonal; got != tc.personal {
			t.Errorf("checkLearnerID(%q) = %v, personal %v", tc.id, err, tc.personal)
		}
		if !tc.personal && err != nil && ValidLearnerID(tc.id) {
			t.Errorf("checkLearnerID(%q) = %v", tc.id, err)
		}
	}
}

// TestLearnerIDFolding posts for l000123 and L000123 on a real bank and
// checks that every way in (outcomes, idempotency, duplicates, transcript,
// balance, has-posted, conversions and previews, a learner's own right)
// sees one learner, stored and shown as L000123.
func TestLearnerIDFolding(t *testing.T) {
	b, college, _ := rtSetup(t)
	ctx := context.Background()
	first := b.post(t, college, outcome("l000123", "k1"))
	b.post(t, college, outcome("L000123", "k2"))

	// The same key and content in the other case is the same post.
	res, err := b.PostOutcomes(ctx, college, []OutcomeInput{outcome("L000123", "k1")})
	if err != nil || res[0].Status != PostDuplicate || res[0].Seq != first {
		t.Fatalf("repost of k1 as L000123: %+v %v, want a duplicate of %d", res, err, first)
	}
	// The same unit and date under another key is a duplicate outcome.
	again := outcome("l000123", "k3")
	again.Unit.Code = unitCodeOf("k1")
	res, err = b.PostOutcomes(ctx, college, []OutcomeInput{again})
	if err != nil || CodeOf(res[0].Err) != CodeDuplicateOutcome {
		t.Fatalf("k1's unit again as l000123 under k3: %+v %v, want duplicate-outcome", res, err)
	}

	for _, id := range []string{"l000123", "L000123"} {
		tr, err := b.Transcript(id, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Learner != "L000123" || len(tr.Outcomes) != 2 {
			t.Errorf("transcript of %s: learner %q, %d outcomes; want L000123, 2", id, tr.Learner, len(tr.Outcomes))
		}
		for _, o := range tr.Outcomes {
			if o.Learner != "L000123" {
				t.Errorf("transcript of %s: outcome %d stored as %q", id, o.Seq, o.Learner)
			}
		}
		bal, err := b.Balance(id)
		if err != nil {
			t.Fatal(err)
		}
		if bal.Learner != "L000123" || bal.StandardCredits != 600 {
			t.Errorf("balance of %s: %q %s; want L000123 6", id, bal.Learner, bal.StandardCredits)
		}
		if ok, err := b.HasPosted(rtCollege, id); err != nil || !ok {
			t.Errorf("HasPosted(%s) = %v %v", id, ok, err)
		}
	}

	rtPublish(t, b, rtRule("fold", "prog"))
	pv, err := b.Preview(rtLearner("l000123"), ConversionRequest{Learner: "L000123", Rule: "fold"})
	if err != nil || pv.Learner != "L000123" || len(pv.Items) != 2 {
		t.Fatalf("preview by l000123 of L000123: %+v %v", pv, err)
	}
	conv := rtConvert(t, b, rtLearner("L000123"), ConversionRequest{Learner: "l000123", Rule: "fold"})
	if conv.Learner != "L000123" || conv.Granted != 600 {
		t.Errorf("conversion by L000123 for l000123: learner %q granted %s", conv.Learner, conv.Granted)
	}
	bal, err := b.Balance("l000123")
	if err != nil || bal.Granted[rtUniv+"/prog"] != 600 {
		t.Errorf("granted after the conversion: %+v %v", bal, err)
	}
	b.checkReplay(t)
}

// TestLearnerIDPersonalWritesNothing refuses ids that look like national
// identity numbers in outcome posts and conversions, writing nothing.
func TestLearnerIDPersonalWritesNothing(t *testing.T) {
	b, college, _ := rtSetup(t)
	rtPublish(t, b, rtRule("pers", "prog"))
	ctx := context.Background()
	before := b.Ledger().Size()
	for _, id := range []string{"110101199003071234", "11010119900307123x", "123-456789"} {
		res, err := b.PostOutcomes(ctx, college, []OutcomeInput{outcome(id, "p-"+id)})
		if err != nil || res[0].Status != PostRejected || CodeOf(res[0].Err) != CodeLearnerIDPersonal {
			t.Errorf("post for %s: %+v %v, want rejected learner-id-personal", id, res, err)
		}
		_, err = b.Convert(ctx, admin, ConversionRequest{Learner: id, Rule: "pers"})
		rtCode(t, err, CodeLearnerIDPersonal)
		_, err = b.Preview(admin, ConversionRequest{Learner: id, Rule: "pers"})
		rtCode(t, err, CodeLearnerIDPersonal)
	}
	if after := b.Ledger().Size(); after != before {
		t.Errorf("refused posts wrote %d entries", after-before)
	}
}

// nameCases are institution names and whether checkName accepts them;
// refused ones name the character (U+XXXX) or the word the detail must
// show.
var nameCases = []struct {
	name, in string
	ok       bool
	detail   string
}{
	{"latin", "Tsinghua University", true, ""},
	{"accents", "Université de Genève", true, ""},
	{"han", "清华大学", true, ""},
	{"japanese", "東京大学 Tokyo ひらがなカタカナ", true, ""},
	{"japanese in one word", "ABCひらがな漢字カタカナ", true, ""},
	{"korean", "서울대학교 SNU", true, ""},
	{"korean with han", "Seoul大學교", true, ""},
	{"bopomofo", "ㄅㄆㄇ漢字abc", true, ""},
	{"cyrillic words beside latin ones", "Московский государственный университет University", true, ""},
	{"cyrillic initial", "Университет имени М. В. Ломоносова", true, ""},
	{"greek", "Πανεπιστήμιο Αθηνών", true, ""},
	{"arabic", "جامعة القاهرة", true, ""},
	{"digits and punctuation", "St. Mary's College (No. 2), Hong Kong – 香港", true, ""},
	{"emoji", "Open University 🎓", true, ""},
	{"cyrillic letter in a latin word", "T\u0455inghua University", false, "U+0455 is Cyrillic"},
	{"greek letter in a latin word", "Univ\u0435rsity", false, "U+0435"},
	{"latin letter in a cyrillic word", "Мoсква", false, "mixes scripts"},
	{"han with hangul and kana", "漢字한글ひらがな", false, "mixes scripts"},
	{"bopomofo with kana", "ㄅㄆひらがな", false, "mixes scripts"},
	{"greek with han", "Α漢", false, "mixes scripts"},
	{"whole-script cyrillic lookalike", "АСМЕ University", false, "look like the Latin"},
	{"whole-script cyrillic lookalike lower case", "Tsinghua раура", false, "look like the Latin"},
	{"right-to-left override", "Tsinghua \u202eytisrevinU", false, "U+202E, a bidirectional control"},
	{"left-to-right isolate", "Tsinghua \u2066University\u2069", false, "U+2066"},
	{"right-to-left mark", "Tsinghua\u200f University", false, "U+200F"},
	{"arabic letter mark", "جامعة\u061c القاهرة", false, "U+061C"},
	{"zero width space", "Tsing\u200bhua University", false, "U+200B, an invisible format character"},
	{"zero width joiner", "Tsing\u200dhua University", false, "U+200D"},
	{"zero width non-joiner", "Tsing\u200chua University", false, "U+200C"},
	{"word joiner", "Tsinghua\u2060 University", false, "U+2060"},
	{"byte order mark", "\ufeffTsinghua University", false, "U+FEFF"},
	{"soft hyphen", "Tsing\u00adhua University", false, "U+00AD"},
	{"tag character", "Tsinghua University\U000E0041", false, "U+E0041"},
	{"hangul filler", "Tsinghua\u3164University", false, "U+3164, a character that is shown as nothing"},
	{"variation selector", "Tsinghua\ufe0f University", false, "U+FE0F"},
	{"replacement character", "Tsinghua \ufffd University", false, "U+FFFD, the replacement character"},
	{"no-break space", "Tsinghua\u00a0University", false, "U+00A0, a space other than U+0020"},
	{"ideographic space", "清华\u3000大学", false, "U+3000"},
	{"private use", "Tsinghua \ue000", false, "U+E000"},
	{"unassigned", "Tsinghua \U0003FFFD", false, "U+3FFFD"},
	{"line separator", "Tsinghua\u2028University", false, "U+2028"},
	{"decomposed", "Universite\u0301 de Gene\u0300ve", false, "not in Unicode normalization form NFC"},
	{"leading space", " Tsinghua University", false, "begin or end with a space"},
	{"two spaces", "Tsinghua  University", false, "two spaces"},
	{"control", "Tsinghua\tUniversity", false, "control character"},
	{"empty", "", false, "1 to 200 characters"},
	{"invalid utf-8", "Tsinghua \xed\xa0\x80", false, "UTF-8"},
}

func TestCheckName(t *testing.T) {
	for _, tc := range nameCases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkName("name", tc.in, 200)
			if tc.ok {
				if err != nil {
					t.Fatalf("checkName(%q) = %v, want accepted", tc.in, err)
				}
				return
			}
			if CodeOf(err) != CodeInvalid || !strings.Contains(err.Error(), tc.detail) {
				t.Fatalf("checkName(%q) = %v, want invalid naming %q", tc.in, err, tc.detail)
			}
		})
	}
}

// TestFreeTextVisible checks the lighter rule of free text (a unit title):
// bidi controls, invisible format characters and U+FFFD are refused, the
// joiners that Persian and emoji need are kept, scripts may mix.
func TestFreeTextVisible(t *testing.T) {
	for _, tc := range []struct {
		title string
		ok    bool
	}{
		{"Introduction to Programming", true},
		{"برنامه\u200cنویسی", true},           // Persian with a zero width non-joiner
		{"Teamwork 👩\u200d💻", true},           // an emoji sequence with a joiner
		{"Программирование and Python", true}, // scripts may mix in a title
		{"Programming \u202egnp.exe", false},  // right-to-left override
		{"Program\u200bming", false},          // zero width space
		{"Programming \ufffd", false},         // a lone surrogate, decoded
		{"Programming \u2067x\u2069", false},  // right-to-left isolate
		{"Programming\U000E0020tag", false},   // tag space
	} {
		o := outcome("L1", "t")
		o.Unit.Title = tc.title
		err := o.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("unit.title %q: %v, want accepted %v", tc.title, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "U+") {
			t.Errorf("unit.title %q: %v does not name the character", tc.title, err)
		}
	}
}

// TestRegisterRefusedName registers with refused names on a real bank:
// each is 422 invalid and writes nothing.
func TestRegisterRefusedName(t *testing.T) {
	b := newTestBank(t)
	for _, tc := range nameCases {
		if tc.ok {
			continue
		}
		_, err := b.RegisterInstitution(context.Background(), admin, Registration{ID: "spoof.example", Name: tc.in, Kind: "university", Keys: []PublicJWK{testKey(t, "k1")}})
		if CodeOf(err) != CodeInvalid {
			t.Errorf("%s: register: %v, want invalid", tc.name, err)
		}
	}
	if n := b.Ledger().Size(); n != 0 {
		t.Errorf("refused registrations wrote %d entries", n)
	}
}

// TestOldNamesReplay replays institutions registered before names were
// checked, under names refused today: the journal is immutable, and
// replay does not judge them again.
func TestOldNamesReplay(t *testing.T) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var entries []handEntry
	for i, tc := range nameCases {
		if tc.ok || !utf8.ValidString(tc.in) || strings.ContainsFunc(tc.in, unicode.IsControl) || tc.in == "" {
			continue
		}
		name, err := json.Marshal(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		id := "old" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".example"
		entries = append(entries, handEntry{TypeInstitutionRegistered, "admin:root",
			`{"id":"` + id + `","name":` + string(name) + `,"kind":"university","keys":[]}`})
	}
	rp := replayed(t, handJournal(at, entries))
	if f := rp.Findings(); len(f) > 0 {
		t.Fatalf("findings: %+v", f)
	}
}

// FuzzCheckName checks that the name check never panics, and that what it
// accepts is valid UTF-8 in NFC without a character nameRuneProblem names,
// whose words mix only the scripts allowed, and which survives a JSON
// round trip unchanged.
func FuzzCheckName(f *testing.F) {
	for _, tc := range nameCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if checkName("name", s, 200) != nil {
			return
		}
		if !utf8.ValidString(s) || !norm.NFC.IsNormalString(s) {
			t.Fatalf("accepted %q: not UTF-8 in NFC", s)
		}
		for _, r := range s {
			if why := nameRuneProblem(r); why != "" || isBidiControl(r) || r == utf8.RuneError {
				t.Fatalf("accepted %q with U+%04X", s, r)
			}
		}
		for word := range strings.SplitSeq(s, " ") {
			if word == "" {
				t.Fatalf("accepted %q with an empty word", s)
			}
			var scripts []*unicode.RangeTable
			for _, r := range word {
				if t, _ := scriptOf(r); t != nil {
					scripts = append(scripts, t)
				}
			}
			if !allowedScripts(compactTables(scripts)) {
				t.Fatalf("accepted %q mixing scripts in %q", s, word)
			}
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back string
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Fatalf("accepted %q comes back from JSON as %q (%v)", s, back, err)
		}
	})
}

// compactTables returns list without repeats.
func compactTables(list []*unicode.RangeTable) []*unicode.RangeTable {
	var out []*unicode.RangeTable
	for _, t := range list {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}
