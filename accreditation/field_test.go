package accreditation

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestValidFieldAccepts(t *testing.T) {
	good := []struct{ code, name string }{
		// Broad fields, every one of them.
		{"00", "Generic programmes and qualifications"},
		{"01", "Education"},
		{"02", "Arts and humanities"},
		{"03", "Social sciences, journalism and information"},
		{"04", "Business, administration and law"},
		{"05", "Natural sciences, mathematics and statistics"},
		{"06", "Information and Communication Technologies (ICTs)"},
		{"07", "Engineering, manufacturing and construction"},
		{"08", "Agriculture, forestry, fisheries and veterinary"},
		{"09", "Health and welfare"},
		{"10", "Services"},
		{"99", "Field unknown"},
		// Narrow and detailed fields with a subject.
		{"061", "Information and Communication Technologies (ICTs)"},
		{"0611", "Computer use"},
		{"0612", "Database and network design and administration"},
		{"0613", "Software and applications development and analysis"},
		{"0011", "Basic programmes and qualifications"},
		{"0417", "Work skills"},
		{"0421", "Law"},
		{"0722", "Materials (glass, paper, plastic and wood)"},
		{"0917", "Traditional and complementary medicine and therapy"},
		{"104", "Transport services"},
		{"1041", "Transport services"},
		// Conventions: not further defined.
		{"020", "Arts and humanities not further defined"},
		{"0200", "Arts and humanities not further defined"},
		{"0610", "Information and Communication Technologies (ICTs) not further defined"},
		{"1030", "Security services not further defined"},
		// Not elsewhere classified.
		{"0219", "Arts not elsewhere classified"},
		{"029", "Arts and humanities not elsewhere classified"},
		{"0299", "Arts and humanities not elsewhere classified"},
		// Inter-disciplinary.
		{"068", "Inter-disciplinary programmes and qualifications involving Information and Communication Technologies (ICTs)"},
		{"0688", "Inter-disciplinary programmes and qualifications involving Information and Communication Technologies (ICTs)"},
		{"0188", "Inter-disciplinary programmes and qualifications involving education"},
		{"1088", "Inter-disciplinary programmes and qualifications involving services"},
		// Field unknown.
		{"999", "Field unknown"},
		{"9999", "Field unknown"},
	}
	for _, tc := range good {
		if err := ValidField(tc.code); err != nil {
			t.Errorf("ValidField(%q) = %v, want nil", tc.code, err)
		}
		name, ok := FieldName(tc.code)
		if !ok || name != tc.name {
			t.Errorf("FieldName(%q) = %q, %v; want %q, true", tc.code, name, ok, tc.name)
		}
	}
}

func TestValidFieldRejects(t *testing.T) {
	bad := []struct{ code, want string }{
		{"", "empty"},
		{"0", "2, 3 or 4 digits"},
		{"06130", "2, 3 or 4 digits"},
		{strings.Repeat("1", 1000), "2, 3 or 4 digits"},
		{"6a", "only digits"},
		{"06 3", "only digits"},
		{" 061", "only digits"},
		{"-06", "only digits"},
		{"+061", "only digits"},
		{"٠٦", "only digits"},       // Arabic-Indic digits: 4 bytes, none ASCII
		{"٠٦١", "2, 3 or 4 digits"}, // 6 bytes
		{"٠6", "only digits"},       // 3 bytes, the first not a digit
		{"11", "unknown ISCED-F 2013 broad field \"11\""},
		{"98", "broad field"},
		{"6", "2, 3 or 4 digits"},
		{"613", "broad field \"61\""}, // the leading zero matters
		{"0614", "detailed field \"0614\""},
		{"065", "narrow field \"065\""},
		{"0655", "narrow field \"065\""}, // the first missing level is named
		{"067", "narrow field"},
		{"0618", "detailed field"}, // 88 is inter-disciplinary only under xx8
		{"0680", "detailed field"}, // xx8 has only xx88
		{"0681", "detailed field"},
		{"0689", "detailed field"},
		{"0201", "detailed field"}, // xx0 has only xx00
		{"0209", "detailed field"},
		{"0291", "detailed field"}, // xx9 has only xx99
		{"0298", "detailed field"},
		{"990", "narrow field"}, // no conventions under field unknown
		{"998", "narrow field"},
		{"9990", "detailed field"},
		{"9988", "narrow field"},
		{"0216", "detailed field"},
		{"105", "narrow field"},
	}
	for _, tc := range bad {
		err := ValidField(tc.code)
		if err == nil {
			t.Errorf("ValidField(%q) = nil, want error containing %q", tc.code, tc.want)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.want) {
			t.Errorf("ValidField(%q) = %q, want it to contain %q", tc.code, msg, tc.want)
		}
		if msg[0] < 'a' || msg[0] > 'z' {
			t.Errorf("ValidField(%q) error %q does not start in lower case", tc.code, msg)
		}
		if len(msg) > 200 {
			t.Errorf("ValidField(%q) error is %d bytes long; the input should be truncated", tc.code, len(msg))
		}
		if _, ok := FieldName(tc.code); ok {
			t.Errorf("FieldName(%q) ok for a rejected code", tc.code)
		}
	}
}

// TestFieldTableShape checks the table against the classification's
// structure, so that a typo in a code cannot slip in unnoticed.
func TestFieldTableShape(t *testing.T) {
	broad, narrow, detailed := 0, 0, 0
	for code, name := range fieldNames {
		if name == "" || strings.TrimSpace(name) != name {
			t.Errorf("code %s has name %q", code, name)
		}
		if err := ValidField(code); err != nil {
			t.Errorf("table code %s rejected: %v", code, err)
		}
		switch len(code) {
		case 2:
			broad++
		case 3:
			narrow++
		case 4:
			detailed++
		default:
			t.Errorf("code %q has %d digits", code, len(code))
		}
	}
	// 12 broad fields; 29 narrow subject fields plus 0, 8 and 9 for each of
	// the 11 subject broad fields plus 999; 80 detailed subject fields plus
	// nfd and nec for each of the 29 narrow ones, 00, 88 and 99 for each of
	// the 11 broad ones, plus 9999.
	if broad != 12 || narrow != 29+3*11+1 || detailed != 80+2*29+3*11+1 {
		t.Errorf("table has %d broad, %d narrow, %d detailed codes", broad, narrow, detailed)
	}
	// Every subject narrow field of ISCED-F 2013 has at least one subject
	// detailed field, and every detailed field sits under a subject narrow
	// field.
	for _, e := range iscedFields {
		if len(e.code) == 3 && e.code != "999" {
			found := false
			for _, d := range iscedFields {
				if len(d.code) == 4 && strings.HasPrefix(d.code, e.code) {
					found = true
				}
			}
			if !found {
				t.Errorf("narrow field %s has no detailed field", e.code)
			}
		}
		if len(e.code) == 2 && e.code != "99" && e.involving == "" {
			t.Errorf("broad field %s has no inter-disciplinary wording", e.code)
		}
	}
}

func TestFieldMatches(t *testing.T) {
	tests := []struct {
		field    string
		prefixes []string
		want     bool
	}{
		{"0613", nil, true},
		{"0613", []string{}, true},
		{"", nil, true},
		{"0613", []string{"06"}, true},
		{"0613", []string{"061"}, true},
		{"0613", []string{"0613"}, true},
		{"0613", []string{"0612"}, false},
		{"0613", []string{"0612", "0613"}, true},
		{"0613", []string{"05", "06"}, true},
		{"0613", []string{"05", "07"}, false},
		{"061", []string{"0613"}, false}, // a broader field is not covered by a finer rule
		{"0613", []string{"6"}, false},   // prefix, not substring
		{"0613", []string{"13"}, false},
		{"0613", []string{""}, true}, // an empty prefix is a prefix of everything
		{"", []string{"06"}, false},
	}
	for _, tc := range tests {
		if got := FieldMatches(tc.field, tc.prefixes); got != tc.want {
			t.Errorf("FieldMatches(%q, %q) = %v, want %v", tc.field, tc.prefixes, got, tc.want)
		}
	}
}

func FuzzValidField(f *testing.F) {
	for _, s := range []string{"06", "0613", "0688", "999", "9999", "0699", "x1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		err := ValidField(code)
		name, ok := FieldName(code)
		if ok != (err == nil) {
			t.Fatalf("ValidField(%q) = %v but FieldName ok = %v", code, err, ok)
		}
		if err != nil {
			if msg := err.Error(); msg == "" || msg[0] < 'a' || msg[0] > 'z' {
				t.Fatalf("ValidField(%q) error %q does not start in lower case", code, msg)
			}
			return
		}
		if name == "" {
			t.Fatalf("FieldName(%q) is empty", code)
		}
		if len(code) < 2 || len(code) > 4 {
			t.Fatalf("ValidField accepted %q of length %d", code, len(code))
		}
		for i := 0; i < len(code); i++ {
			if code[i] < '0' || code[i] > '9' {
				t.Fatalf("ValidField accepted non-digit %q", code)
			}
		}
		for n := 2; n < len(code); n++ {
			if err := ValidField(code[:n]); err != nil {
				t.Fatalf("ValidField accepted %q but not its prefix %q: %v", code, code[:n], err)
			}
		}
		if !FieldMatches(code, []string{code[:2]}) {
			t.Fatalf("FieldMatches(%q, [%q]) = false", code, code[:2])
		}
	})
}

// readFuzzSeedValues reads a seed corpus directory written in the "go test fuzz
// v1" format with one string or []byte value per file, keyed by file name.
func readFuzzSeedValues(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	seeds := make(map[string]string, len(entries))
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		header, value, ok := strings.Cut(strings.TrimSpace(string(data)), "\n")
		if !ok || header != "go test fuzz v1" {
			t.Fatalf("%s: not a go test fuzz v1 file", e.Name())
		}
		_, quoted, ok := strings.Cut(value, "(")
		if !ok || !strings.HasSuffix(quoted, ")") {
			t.Fatalf("%s: cannot read value %q", e.Name(), value)
		}
		s, err := strconv.Unquote(strings.TrimSuffix(quoted, ")"))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		seeds[e.Name()] = s
	}
	return seeds
}

// TestFieldFuzzSeeds keeps the seed corpus honest: a seed named good_ is
// accepted and one named bad_ rejected.
func TestFieldFuzzSeeds(t *testing.T) {
	for name, code := range readFuzzSeedValues(t, filepath.Join("testdata", "fuzz", "FuzzValidField")) {
		if err := ValidField(code); (err == nil) != strings.HasPrefix(name, "good_") {
			t.Errorf("seed %s (%q): ValidField = %v", name, code, err)
		}
	}
}
