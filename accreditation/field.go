package accreditation

import (
	"errors"
	"fmt"
	"strings"
)

// iscedEntry is one line of the ISCED-F 2013 classification as UNESCO
// publishes it. The code's length gives the level: 2 digits for a broad
// field, 3 for a narrow field, 4 for a detailed field. involving is set only
// on broad fields: it is the wording the classification uses in the name of
// that field's inter-disciplinary codes, which keeps "ICTs" capitalised and
// so cannot be derived from name by lower-casing.
type iscedEntry struct {
	code, name, involving string
}

// iscedFields lists every broad, narrow and detailed field of ISCED-F 2013
// that carries its own subject matter. The codes that follow a convention
// of the classification rather than a subject (not further defined, not
// elsewhere classified, inter-disciplinary) are derived from it by
// buildFieldNames, so that no broad or narrow field can be forgotten.
var iscedFields = []iscedEntry{
	{"00", "Generic programmes and qualifications", "generic programmes and qualifications"},
	{"001", "Basic programmes and qualifications", ""},
	{"0011", "Basic programmes and qualifications", ""},
	{"002", "Literacy and numeracy", ""},
	{"0021", "Literacy and numeracy", ""},
	{"003", "Personal skills and development", ""},
	{"0031", "Personal skills and development", ""},

	{"01", "Education", "education"},
	{"011", "Education", ""},
	{"0111", "Education science", ""},
	{"0112", "Training for pre-school teachers", ""},
	{"0113", "Teacher training without subject specialisation", ""},
	{"0114", "Teacher training with subject specialisation", ""},

	{"02", "Arts and humanities", "arts and humanities"},
	{"021", "Arts", ""},
	{"0211", "Audio-visual techniques and media production", ""},
	{"0212", "Fashion, interior and industrial design", ""},
	{"0213", "Fine arts", ""},
	{"0214", "Handicrafts", ""},
	{"0215", "Music and performing arts", ""},
	{"022", "Humanities (except languages)", ""},
	{"0221", "Religion and theology", ""},
	{"0222", "History and archaeology", ""},
	{"0223", "Philosophy and ethics", ""},
	{"023", "Languages", ""},
	{"0231", "Language acquisition", ""},
	{"0232", "Literature and linguistics", ""},

	{"03", "Social sciences, journalism and information", "social sciences, journalism and information"},
	{"031", "Social and behavioural sciences", ""},
	{"0311", "Economics", ""},
	{"0312", "Political sciences and civics", ""},
	{"0313", "Psychology", ""},
	{"0314", "Sociology and cultural studies", ""},
	{"032", "Journalism and information", ""},
	{"0321", "Journalism and reporting", ""},
	{"0322", "Library, information and archival studies", ""},

	{"04", "Business, administration and law", "business, administration and law"},
	{"041", "Business and administration", ""},
	{"0411", "Accounting and taxation", ""},
	{"0412", "Finance, banking and insurance", ""},
	{"0413", "Management and administration", ""},
	{"0414", "Marketing and advertising", ""},
	{"0415", "Secretarial and office work", ""},
	{"0416", "Wholesale and retail sales", ""},
	{"0417", "Work skills", ""},
	{"042", "Law", ""},
	{"0421", "Law", ""},

	{"05", "Natural sciences, mathematics and statistics", "natural sciences, mathematics and statistics"},
	{"051", "Biological and related sciences", ""},
	{"0511", "Biology", ""},
	{"0512", "Biochemistry", ""},
	{"052", "Environment", ""},
	{"0521", "Environmental sciences", ""},
	{"0522", "Natural environments and wildlife", ""},
	{"053", "Physical sciences", ""},
	{"0531", "Chemistry", ""},
	{"0532", "Earth sciences", ""},
	{"0533", "Physics", ""},
	{"054", "Mathematics and statistics", ""},
	{"0541", "Mathematics", ""},
	{"0542", "Statistics", ""},

	{"06", "Information and Communication Technologies (ICTs)", "Information and Communication Technologies (ICTs)"},
	{"061", "Information and Communication Technologies (ICTs)", ""},
	{"0611", "Computer use", ""},
	{"0612", "Database and network design and administration", ""},
	{"0613", "Software and applications development and analysis", ""},

	{"07", "Engineering, manufacturing and construction", "engineering, manufacturing and construction"},
	{"071", "Engineering and engineering trades", ""},
	{"0711", "Chemical engineering and processes", ""},
	{"0712", "Environmental protection technology", ""},
	{"0713", "Electricity and energy", ""},
	{"0714", "Electronics and automation", ""},
	{"0715", "Mechanics and metal trades", ""},
	{"0716", "Motor vehicles, ships and aircraft", ""},
	{"072", "Manufacturing and processing", ""},
	{"0721", "Food processing", ""},
	{"0722", "Materials (glass, paper, plastic and wood)", ""},
	{"0723", "Textiles (clothes, footwear and leather)", ""},
	{"0724", "Mining and extraction", ""},
	{"073", "Architecture and construction", ""},
	{"0731", "Architecture and town planning", ""},
	{"0732", "Building and civil engineering", ""},

	{"08", "Agriculture, forestry, fisheries and veterinary", "agriculture, forestry, fisheries and veterinary"},
	{"081", "Agriculture", ""},
	{"0811", "Crop and livestock production", ""},
	{"0812", "Horticulture", ""},
	{"082", "Forestry", ""},
	{"0821", "Forestry", ""},
	{"083", "Fisheries", ""},
	{"0831", "Fisheries", ""},
	{"084", "Veterinary", ""},
	{"0841", "Veterinary", ""},

	{"09", "Health and welfare", "health and welfare"},
	{"091", "Health", ""},
	{"0911", "Dental studies", ""},
	{"0912", "Medicine", ""},
	{"0913", "Nursing and midwifery", ""},
	{"0914", "Medical diagnostic and treatment technology", ""},
	{"0915", "Therapy and rehabilitation", ""},
	{"0916", "Pharmacy", ""},
	{"0917", "Traditional and complementary medicine and therapy", ""},
	{"092", "Welfare", ""},
	{"0921", "Care of the elderly and of disabled adults", ""},
	{"0922", "Child care and youth services", ""},
	{"0923", "Social work and counselling", ""},

	{"10", "Services", "services"},
	{"101", "Personal services", ""},
	{"1011", "Domestic services", ""},
	{"1012", "Hair and beauty services", ""},
	{"1013", "Hotel, restaurants and catering", ""},
	{"1014", "Sports", ""},
	{"1015", "Travel, tourism and leisure", ""},
	{"102", "Hygiene and occupational health services", ""},
	{"1021", "Community sanitation", ""},
	{"1022", "Occupational health and safety", ""},
	{"103", "Security services", ""},
	{"1031", "Military and defence", ""},
	{"1032", "Protection of persons and property", ""},
	{"104", "Transport services", ""},
	{"1041", "Transport services", ""},

	// 99 is not a subject, so none of the conventions below apply to it:
	// its only narrow and detailed codes are these two.
	{"99", "Field unknown", ""},
	{"999", "Field unknown", ""},
	{"9999", "Field unknown", ""},
}

// fieldUnknownBroad is the broad code that takes no derived codes.
const fieldUnknownBroad = "99"

// fieldNames maps every accepted code to its English name. ValidField and
// FieldName both read it, so a code is valid exactly when it has a name.
var fieldNames = buildFieldNames(iscedFields)

// buildFieldNames expands the table with the classification's coding
// conventions, applied uniformly to every broad and narrow field:
//
//   - broad bb: narrow bb0 and detailed bb00 "not further defined", for
//     programmes known only at the broad level; narrow bb8 and detailed bb88
//     for inter-disciplinary programmes; narrow bb9 and detailed bb99 "not
//     elsewhere classified".
//   - narrow bbn: detailed bbn0 "not further defined" and bbn9 "not
//     elsewhere classified".
//
// UNESCO's own list omits some of these where a broad field has a single
// narrow field (there is no 060) or a narrow field a single detailed field
// (there is no 0420); accepting them anyway costs nothing, since they still
// name the right subject area, and spares an institution whose national
// coding uses them a rejection it could not explain.
func buildFieldNames(table []iscedEntry) map[string]string {
	names := make(map[string]string, 3*len(table))
	add := func(code, name string) {
		if _, dup := names[code]; dup {
			panic("accreditation: duplicate ISCED-F code " + code)
		}
		names[code] = name
	}
	for _, e := range table {
		add(e.code, e.name)
	}
	for _, e := range table {
		switch {
		case len(e.code) == 2 && e.code != fieldUnknownBroad:
			nfd := e.name + " not further defined"
			nec := e.name + " not elsewhere classified"
			inter := "Inter-disciplinary programmes and qualifications involving " + e.involving
			add(e.code+"0", nfd)
			add(e.code+"00", nfd)
			add(e.code+"8", inter)
			add(e.code+"88", inter)
			add(e.code+"9", nec)
			add(e.code+"99", nec)
		case len(e.code) == 3 && e.code[:2] != fieldUnknownBroad:
			add(e.code+"0", e.name+" not further defined")
			add(e.code+"9", e.name+" not elsewhere classified")
		}
	}
	return names
}

// errFieldEmpty is returned for an empty code; the ledger never stores a
// record without a field, so an empty one is a caller's mistake.
var errFieldEmpty = errors.New("field code is empty")

// ValidField reports whether code is an ISCED-F 2013 field of education:
// a 2-digit broad, 3-digit narrow or 4-digit detailed field, including the
// classification's conventional codes (see [FieldName]). It checks each
// level in turn, so that the error names the first level that does not
// exist: "0655" is reported as an unknown narrow field 065 even though 06 is
// a real broad field. Codes are compared as strings because the leading
// zero is significant: "0613" and "613" are different codes.
func ValidField(code string) error {
	if code == "" {
		return errFieldEmpty
	}
	if len(code) < 2 || len(code) > 4 {
		return fmt.Errorf("field code %s must have 2, 3 or 4 digits", quoteInput(code))
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return fmt.Errorf("field code %s must contain only digits 0-9", quoteInput(code))
		}
	}
	levels := [...]string{2: "broad", 3: "narrow", 4: "detailed"}
	for n := 2; n <= len(code); n++ {
		if _, ok := fieldNames[code[:n]]; !ok {
			return fmt.Errorf("field code %q: unknown ISCED-F 2013 %s field %q", code, levels[n], code[:n])
		}
	}
	return nil
}

// FieldName returns the English name of an ISCED-F 2013 code, as UNESCO
// words it, so that records and reports can show "Software and applications
// development and analysis" rather than "0613". ok is false exactly when
// [ValidField] rejects the code. Conventional codes get their conventional
// names: "0610" is "Information and Communication Technologies (ICTs) not
// further defined", "0688" is "Inter-disciplinary programmes and
// qualifications involving Information and Communication Technologies
// (ICTs)".
func FieldName(code string) (name string, ok bool) {
	name, ok = fieldNames[code]
	return name, ok
}

// FieldMatches reports whether field is covered by a conversion rule whose
// fields are prefixes: a rule for "06" covers every ICT code, one for "0613"
// only software and applications development. An empty (or nil) prefix
// list means the rule names no field and so applies to every field. The
// match is a plain string prefix, which is exact for ISCED-F because every
// code begins with the codes of its broader levels; an empty string inside
// a non-empty list therefore matches everything too, which validation of
// rules should forbid rather than this function silently ignore.
func FieldMatches(field string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(field, p) {
			return true
		}
	}
	return false
}
