package accreditation

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/unicode/norm"
)

// Identifiers people can confuse (docs/contract.md, "Identifiers"): learner
// ids that differ only in case name one learner, learner ids that look like
// a national identity number are refused, and names shown to people refuse
// what would make two different names look alike or hide part of one.

// CanonicalLearnerID returns the one form in which the bank stores, indexes
// and shows a learner id: its ASCII letters in upper case. Only ASCII is
// mapped, and on purpose: Unicode case mapping would turn U+017F (ſ) into
// S and U+212A (the Kelvin sign) into k, letting an id that the pattern
// refuses become one it accepts. An id without lower-case letters is
// returned as it is, without allocating.
func CanonicalLearnerID(id string) string {
	i := strings.IndexFunc(id, func(r rune) bool { return 'a' <= r && r <= 'z' })
	if i < 0 {
		return id
	}
	b := []byte(id)
	for ; i < len(b); i++ {
		if 'a' <= b[i] && b[i] <= 'z' {
			b[i] -= 'a' - 'A'
		}
	}
	return string(b)
}

// SameLearner reports whether two learner ids name one learner.
func SameLearner(a, b string) bool { return CanonicalLearnerID(a) == CanonicalLearnerID(b) }

// looksLikeNationalID reports whether a learner id (in canonical form)
// looks like a national identity number, which a pseudonym must not:
// digits with at most one hyphen and at least 9 digits (social security,
// resident registration and similar numbers), or 17 digits followed by a
// digit or X (the Chinese resident identity card number, whose check
// character may be X).
func looksLikeNationalID(id string) bool {
	digits, hyphens := 0, 0
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case '0' <= c && c <= '9':
			digits++
		case c == '-':
			hyphens++
		case c == 'X' && i == 17 && len(id) == 18 && digits == 17:
			return true
		default:
			return false
		}
	}
	return hyphens <= 1 && digits >= 9
}

// checkLearnerID accepts a learner id of the contract's pattern that does
// not look like a national identity number. Case does not matter: the
// caller stores the id's canonical form.
func checkLearnerID(what, id string) error {
	if err := checkPattern(what, id, learnerIDPattern); err != nil {
		return err
	}
	if looksLikeNationalID(CanonicalLearnerID(id)) {
		return errorf(CodeLearnerIDPersonal, "%s %q looks like a national identity number; learner ids are pseudonyms", what, id)
	}
	return nil
}

// isBidiControl reports whether r is one of the characters that change the
// order in which text is shown (Unicode UAX #9): the embeddings, overrides
// and isolates, and the implicit marks. Around them, text is displayed in
// an order other than the one it is stored and compared in.
func isBidiControl(r rune) bool {
	return r == 0x061C || r == 0x200E || r == 0x200F || (0x202A <= r && r <= 0x202E) || (0x2066 <= r && r <= 0x2069)
}

// isJoiner reports whether r is U+200C ZERO WIDTH NON-JOINER or U+200D ZERO
// WIDTH JOINER, which Persian, the Indic scripts and emoji sequences need
// in running text.
func isJoiner(r rune) bool { return r == 0x200C || r == 0x200D }

// hiddenRune says why r, a rune of free text, hides or garbles what is
// shown, or returns "" when it does not. Free text (titles, reasons) keeps
// the joiners, which some scripts need.
func hiddenRune(r rune) string {
	switch {
	case r < 0x80:
		return ""
	case isBidiControl(r):
		return "a bidirectional control, which reorders how the text around it is shown"
	case r == utf8.RuneError:
		return "the replacement character, what a lone surrogate escape such as \\ud800 or invalid UTF-8 decodes to"
	case unicode.Is(unicode.Cf, r) && !isJoiner(r):
		return "an invisible format character"
	}
	return ""
}

// nameRuneProblem says why r may not stand in a name people read to tell
// institutions apart, or returns "". A name is stricter than free text: no
// format character at all (not even the joiners), nothing shown as
// nothing, and no space but U+0020.
func nameRuneProblem(r rune) string {
	if why := hiddenRune(r); why != "" {
		return why
	}
	switch {
	case r < 0x80:
		return ""
	case unicode.Is(unicode.Cf, r):
		return "an invisible format character"
	case unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector):
		return "a character that is shown as nothing"
	case unicode.Is(unicode.Zs, r):
		return "a space other than U+0020"
	case !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S):
		return "not a letter, mark, number, punctuation or symbol (private use, unassigned or a separator)"
	}
	return ""
}

// checkName accepts a name shown to people, such as an institution's: text
// as checkText accepts it, in Unicode normalization form NFC, with none of
// the characters nameRuneProblem names, no space at either end nor two in
// a row, and each space-separated word at Unicode TS #39's highly
// restrictive level (one script, or Latin with Han and Japanese kana,
// Bopomofo or Hangul) and not written in another script entirely with
// letters that look Latin. Each of these lets two different names look
// alike on a transcript.
func checkName(what, s string, max int) error {
	if err := checkText(what, s, max); err != nil {
		return err
	}
	for _, r := range s {
		if why := nameRuneProblem(r); why != "" {
			return errorf(CodeInvalid, "%s contains U+%04X, %s", what, r, why)
		}
	}
	if n := norm.NFC.QuickSpanString(s); n < len(s) && !norm.NFC.IsNormalString(s) {
		r, _ := utf8.DecodeRuneInString(s[n:])
		return errorf(CodeInvalid, "%s is not in Unicode normalization form NFC (from U+%04X on); send it composed", what, r)
	}
	if strings.HasPrefix(s, " ") || strings.HasSuffix(s, " ") || strings.Contains(s, "  ") {
		return errorf(CodeInvalid, "%s may not begin or end with a space, nor hold two spaces in a row", what)
	}
	for word := range strings.SplitSeq(s, " ") {
		if err := checkWordScripts(what, word); err != nil {
			return err
		}
	}
	return nil
}

// The scripts TS #39's highly restrictive level lets a word combine: Latin
// with the scripts written beside it in Japanese, Chinese and Korean.
var (
	japaneseScripts = []*unicode.RangeTable{unicode.Latin, unicode.Han, unicode.Hiragana, unicode.Katakana}
	chineseScripts  = []*unicode.RangeTable{unicode.Latin, unicode.Han, unicode.Bopomofo}
	koreanScripts   = []*unicode.RangeTable{unicode.Latin, unicode.Han, unicode.Hangul}
)

// scriptOf returns the script of r and its name, or nil for the Common and
// Inherited characters (digits, punctuation, combining marks) that go
// with any script.
func scriptOf(r rune) (*unicode.RangeTable, string) {
	if r < 0x80 {
		if unicode.Is(unicode.Latin, r) {
			return unicode.Latin, "Latin"
		}
		return nil, ""
	}
	if unicode.In(r, unicode.Common, unicode.Inherited) {
		return nil, ""
	}
	for _, name := range []string{"Latin", "Han", "Hiragana", "Katakana", "Hangul", "Bopomofo", "Cyrillic", "Greek"} {
		if t := unicode.Scripts[name]; unicode.Is(t, r) {
			return t, name
		}
	}
	for name, t := range unicode.Scripts {
		if unicode.Is(t, r) {
			return t, name
		}
	}
	return nil, "" // unassigned: nameRuneProblem refused it already
}

// checkWordScripts refuses a word that mixes scripts beyond what TS #39's
// highly restrictive level allows, naming the first character of the
// second script, and a word written entirely in a script other than Latin
// whose letters all look like Latin ones (its TS #39 confusable skeleton is
// ASCII: "АСМЕ" in Cyrillic is "ACME"). Words of one letter, such as an
// initial, are not judged by look.
func checkWordScripts(what, word string) error {
	var scripts []*unicode.RangeTable
	var names []string
	letters := 0
	for _, r := range word {
		t, name := scriptOf(r)
		if unicode.IsLetter(r) {
			letters++
		}
		if t == nil || slices.Contains(scripts, t) {
			continue
		}
		scripts, names = append(scripts, t), append(names, name)
		if !allowedScripts(scripts) {
			return errorf(CodeInvalid, "%s mixes scripts in the word %q: U+%04X is %s, after %s",
				what, word, r, name, strings.Join(names[:len(names)-1], " and "))
		}
	}
	if len(scripts) != 1 || scripts[0] == unicode.Latin || letters < 2 {
		return nil
	}
	skeleton := confusables.Skeleton(word)
	for i := 0; i < len(skeleton); i++ {
		if skeleton[i] >= utf8.RuneSelf {
			return nil
		}
	}
	return errorf(CodeInvalid, "%s: the word %q is written in %s with letters that look like the Latin %q (Unicode confusables)",
		what, word, names[0], skeleton)
}

// allowedScripts reports whether a word may combine these scripts.
func allowedScripts(scripts []*unicode.RangeTable) bool {
	if len(scripts) <= 1 {
		return true
	}
	for _, allowed := range [][]*unicode.RangeTable{japaneseScripts, chineseScripts, koreanScripts} {
		if subsetOf(scripts, allowed) {
			return true
		}
	}
	return false
}

// subsetOf reports whether every table of a is in b.
func subsetOf(a, b []*unicode.RangeTable) bool {
	for _, t := range a {
		if !slices.Contains(b, t) {
			return false
		}
	}
	return true
}

// withCanonicalLearners returns items with every learner id in canonical
// form: items itself when all are already, else a copy, so that the
// caller's slice is never changed.
func withCanonicalLearners(items []OutcomeInput) []OutcomeInput {
	var out []OutcomeInput
	for i := range items {
		c := CanonicalLearnerID(items[i].Learner)
		if c == items[i].Learner {
			continue
		}
		if out == nil {
			out = append([]OutcomeInput(nil), items...)
		}
		out[i].Learner = c
	}
	if out == nil {
		return items
	}
	return out
}
