package accreditation

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"creditbank/ledger"
)

// fzExample is the contract's example outcome (section 3), with a real
// evidence hash.
const fzExample = `{"idempotency_key":"2026-fall-CS101-L000123","learner":"L000123",
 "unit":{"code":"CS101","title":"Introduction to Programming"},
 "sector":"degree","level":6,"field":"0613",
 "credits":{"amount":"3","system":"cn-credit"},"hours":48,
 "result":{"passed":true,"score":"86"},"completed_on":"2026-07-01",
 "evidence_sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}`

// fzDecode reads an outcome as the API does: one JSON value, no unknown
// fields.
func fzDecode(b []byte) (OutcomeInput, error) {
	var o OutcomeInput
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err := dec.Decode(&o)
	return o, err
}

// fzWith returns the example with top-level or nested members replaced
// (pairs of path "a.b" and value), or removed where the value is nil.
func fzWith(pairs ...any) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(fzExample), &m); err != nil {
		panic(err)
	}
	for i := 0; i < len(pairs); i += 2 {
		path, v := pairs[i].(string), pairs[i+1]
		keys := strings.Split(path, ".")
		inner := m
		for _, k := range keys[:len(keys)-1] {
			inner = inner[k].(map[string]any)
		}
		if v == nil {
			delete(inner, keys[len(keys)-1])
		} else {
			inner[keys[len(keys)-1]] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// fzRaw marks a JSON fragment to splice in as is (a number where a string
// belongs, say).
type fzRaw string

func (r fzRaw) MarshalJSON() ([]byte, error) { return []byte(r), nil }

// FuzzOutcomeInput decodes arbitrary bytes as a posted outcome. It must never
// panic; an outcome that passes Validate must hash, carry standard credits
// between 0 and MaxAmount, and survive a round trip through its canonical
// encoding unchanged (same value, same bytes, same hash).
func FuzzOutcomeInput(f *testing.F) {
	for _, tc := range fzValidateCases() {
		f.Add([]byte(tc.json))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := fzDecode(data)
		if err != nil {
			return
		}
		if err := o.Validate(); err != nil {
			if c := CodeOf(err); c != CodeInvalid && c != CodeCreditsHoursMismatch {
				t.Fatalf("Validate error %v has code %q, want %q or %q", err, c, CodeInvalid, CodeCreditsHoursMismatch)
			}
			return
		}
		h, err := OutcomeHash(o)
		if err != nil {
			t.Fatalf("valid outcome does not hash: %v", err)
		}
		sc, err := o.standardCredits()
		if err != nil {
			t.Fatalf("valid outcome has no standard credits: %v", err)
		}
		if sc < 0 || sc > MaxAmount {
			t.Fatalf("standard credits %s out of range", sc)
		}
		if !*o.Result.Passed && sc != 0 {
			t.Fatalf("failed outcome carries %s standard credits", sc)
		}
		enc, err := ledger.MarshalContent(o)
		if err != nil {
			t.Fatalf("valid outcome does not encode: %v", err)
		}
		again, err := fzDecode(enc)
		if err != nil {
			t.Fatalf("canonical form %s does not decode: %v", enc, err)
		}
		if !reflect.DeepEqual(again, o) {
			t.Fatalf("round trip changed the outcome:\n%+v\n%+v", o, again)
		}
		if err := again.Validate(); err != nil {
			t.Fatalf("round trip made the outcome invalid: %v", err)
		}
		enc2, err := ledger.MarshalContent(again)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("canonical form is not stable: %s vs %s (%v)", enc, enc2, err)
		}
		if h2, err := OutcomeHash(again); err != nil || h2 != h {
			t.Fatalf("hash changed on round trip (%v)", err)
		}
		// The stored outcome carries the same input.
		stored, err := ledger.MarshalContent(Outcome{OutcomeInput: o, Institution: "college.example", StandardCredits: sc})
		if err != nil {
			t.Fatalf("stored outcome does not encode: %v", err)
		}
		var back Outcome
		if err := json.Unmarshal(stored, &back); err != nil || !reflect.DeepEqual(back.OutcomeInput, o) || back.StandardCredits != sc {
			t.Fatalf("stored outcome %s does not read back (%v)", stored, err)
		}
		// PostOutcomes encodes the input by hand.
		if input, err := marshalOutcomeInput(o); err != nil || !bytes.Equal(input, enc) {
			t.Fatalf("marshalOutcomeInput = %s, %v; MarshalContent %s", input, err, enc)
		}
		// What PostOutcomes stores, built from the input's encoding.
		p, err := prepareOutcome("college.example", o, enc)
		if err != nil || !bytes.Equal(p.content, stored) {
			t.Fatalf("prepared content %s, want %s (%v)", p.content, stored, err)
		}
	})
}

type fzCase struct {
	name string
	json string
	// want is "" for a valid outcome, else a fragment of the decoding or
	// validation error.
	want string
}

func fzValidateCases() []fzCase {
	long := strings.Repeat("x", 201)
	return []fzCase{
		{"contract example", fzExample, ""},
		{"no hours", fzWith("hours", nil), ""},
		{"no evidence", fzWith("evidence_sha256", nil), ""},
		{"no score", fzWith("result.score", nil), ""},
		{"failed", fzWith("result.passed", false), ""},
		{"amount 7.5", fzWith("credits.amount", "7.5", "hours", nil), ""},
		{"amount 7.50", fzWith("credits.amount", "7.50", "hours", nil), ""},
		{"amount 0", fzWith("credits.amount", "0", "hours", nil), ""},
		{"ects", fzWith("credits.system", "ects"), ""},
		{"leap day 2028-02-29", fzWith("completed_on", "2028-02-29"), ""},
		{"leap day 2000-02-29", fzWith("completed_on", "2000-02-29"), ""},
		{"level 1", fzWith("level", 1), ""},
		{"level 10", fzWith("level", 10), ""},
		{"broad field", fzWith("field", "06"), ""},
		{"narrow field", fzWith("field", "061"), ""},
		{"hours half what the credits stand for", fzWith("hours", 24), ""},
		{"hours twice what the credits stand for", fzWith("hours", 96), ""},
		{"hours 100000", fzWith("credits.amount", "6250", "hours", 100000), ""},
		{"supersedes", fzWith("supersedes", 12), ""},
		{"largest amount in hours", fzWith("credits", map[string]any{"amount": "10000", "system": "hours"}, "hours", nil), ""},
		{"largest cn-credit amount", fzWith("credits", map[string]any{"amount": "10000", "system": "cn-credit"}, "hours", nil), ""},
		{"huge amount in hours", fzWith("credits", map[string]any{"amount": "999999999999.99", "system": "hours"}, "hours", nil), "credits.amount must be 0 to 10000"},
		{"ects without hours", fzWith("credits", map[string]any{"amount": "2", "system": "ects"}, "hours", nil), ""},
		{"unicode title", fzWith("unit.title", "Введение в программирование 编程导论"), ""},

		{"not a leap year", fzWith("completed_on", "2026-02-29"), "not a date"},
		{"1900 not a leap year", fzWith("completed_on", "1900-02-29"), "not a date"},
		{"before 1900", fzWith("completed_on", "1899-12-31"), "before 1900"},
		{"date with time", fzWith("completed_on", "2026-07-01T00:00:00Z"), "not a date"},
		{"short date", fzWith("completed_on", "2026-7-1"), "not a date"},
		{"level 0", fzWith("level", 0), "level 0 is not a framework level"},
		{"level 11", fzWith("level", 11), "level 11 is not a framework level"},
		{"level as string", fzWith("level", "6"), "cannot unmarshal"},
		{"unknown narrow field", fzWith("field", "0655"), "unknown ISCED-F 2013 narrow field"},
		{"one-digit field", fzWith("field", "6"), "2, 3 or 4 digits"},
		{"five-digit field", fzWith("field", "06131"), "2, 3 or 4 digits"},
		{"field with letters", fzWith("field", "06a"), "only digits"},
		{"empty field", fzWith("field", ""), "field"},
		{"three decimals", fzWith("credits.amount", "7.555"), "more than 2 decimals"},
		{"negative amount", fzWith("credits.amount", "-1"), "must not be negative"},
		{"amount as number", fzWith("credits.amount", fzRaw("7.5")), "JSON number"},
		{"amount as integer", fzWith("credits.amount", fzRaw("3")), "JSON number"},
		{"amount null", fzWith("credits.amount", fzRaw("null")), "null"},
		{"amount exponent", fzWith("credits.amount", "1e3"), "exponent"},
		{"amount 13 digits", fzWith("credits.amount", "1000000000000"), "credits.amount must be 0 to 10000"},
		{"amount 17 digits", fzWith("credits.amount", "10000000000000000"), "more than 16 integer digits"},
		{"score as number", fzWith("result.score", fzRaw("86")), "JSON number"},
		{"unknown system", fzWith("credits.system", "quarter"), "credits.system"},
		{"huge amount in us-semester", fzWith("credits", map[string]any{"amount": "999999999999.99", "system": "us-semester"}, "hours", nil), "credits.amount must be 0 to 10000"},
		{"negative hours", fzWith("hours", -1), "hours -1"},
		{"hours 0", fzWith("hours", 0), "hours 0 is not between 1"},
		{"hours below half what the credits stand for", fzWith("hours", 23), "hours 23 and credits 3 cn-credit disagree: 3 cn-credit stand for 48 hours"},
		{"hours above twice what the credits stand for", fzWith("hours", 97), "hours 97 and credits 3 cn-credit disagree"},
		{"hours far above the credits", fzWith("hours", 100000), "hours 100000 and credits 3 cn-credit disagree"},
		{"hours with no credits", fzWith("credits.amount", "0"), "0 cn-credit stand for 0 hours"},
		{"ects hours too few", fzWith("credits", map[string]any{"amount": "5", "system": "ects"}, "hours", 48), "5 ects stand for 137.5 hours"},
		{"huge hours", fzWith("hours", 100001), "hours 100001"},
		{"hours beyond int64", fzWith("hours", fzRaw("99999999999999999999")), "cannot unmarshal"},
		{"fractional hours", fzWith("hours", fzRaw("1.5")), "cannot unmarshal"},
		{"no passed", fzWith("result.passed", nil), "result.passed is required"},
		{"no learner", fzWith("learner", nil), "learner"},
		{"bad learner", fzWith("learner", "L_1"), "learner"},
		{"no idempotency key", fzWith("idempotency_key", nil), "idempotency_key"},
		{"idempotency key with space", fzWith("idempotency_key", "a b"), "idempotency_key"},
		{"bad unit code", fzWith("unit.code", "CS 101"), "unit.code"},
		{"empty title", fzWith("unit.title", ""), "unit.title"},
		{"long title", fzWith("unit.title", long), "unit.title"},
		{"control character in title", fzWith("unit.title", "a\u0007b"), "control character"},
		{"unknown sector", fzWith("sector", "kindergarten"), "unknown sector"},
		{"upper-case evidence", fzWith("evidence_sha256", strings.Repeat("AB", 32)), "evidence_sha256"},
		{"short evidence", fzWith("evidence_sha256", "abcd"), "evidence_sha256"},
		{"unknown member", fzWith("name", "Jane Doe"), "unknown field"},
		{"national id", fzWith("national_id", "110101199003071234"), "unknown field"},
		{"recorded_at from the client", fzWith("recorded_at", "2026-07-01T00:00:00Z"), "unknown field"},
		{"not an object", `["L000123"]`, "cannot unmarshal"},
		{"truncated", fzExample[:40], "unexpected EOF"},
	}
}

// TestOutcomeValidate decodes outcomes as the API does and validates them:
// good ones pass, each bad one fails with an error naming its problem.
func TestOutcomeValidate(t *testing.T) {
	for _, tc := range fzValidateCases() {
		t.Run(tc.name, func(t *testing.T) {
			o, err := fzDecode([]byte(tc.json))
			if err == nil {
				err = o.Validate()
				want := CodeInvalid
				if strings.Contains(tc.want, "disagree") || strings.Contains(tc.want, "stand for") {
					want = CodeCreditsHoursMismatch
				}
				if err != nil && CodeOf(err) != want {
					t.Errorf("error %v has code %q, want %q", err, CodeOf(err), want)
				}
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("%s: %v", tc.json, err)
			case tc.want != "" && err == nil:
				t.Fatalf("%s: accepted, want an error with %q", tc.json, tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

// TestOutcomeValidateStandardCredits checks the standard credits of the
// good cases against the contract's table.
func TestOutcomeValidateStandardCredits(t *testing.T) {
	for _, tc := range []struct {
		json string
		want Amount
	}{
		{fzExample, 300}, // 48 hours / 16
		{fzWith("hours", nil), 300},
		{fzWith("result.passed", false), 0},
		{fzWith("credits", map[string]any{"amount": "2", "system": "ects"}, "hours", nil), 344}, // 55 / 16 = 3.4375
		{fzWith("credits", map[string]any{"amount": "10000", "system": "cn-credit"}, "hours", nil), MaxOutcomeCredits},
		{fzWith("credits", map[string]any{"amount": "10000", "system": "us-semester"}, "hours", nil), 2812500},
		{fzWith("credits.amount", "6250", "hours", 100000), 625000},
		{fzWith("credits", map[string]any{"amount": "5", "system": "ects"}, "hours", 120), 750}, // 120 / 16, within a factor of two of 137.5
	} {
		o, err := fzDecode([]byte(tc.json))
		if err == nil {
			err = o.Validate()
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.json, err)
		}
		sc, err := o.standardCredits()
		if err != nil || sc != tc.want {
			t.Errorf("%s: standard credits %s (%v), want %s", tc.json, sc, err, tc.want)
		}
	}
}

// FuzzJSONDecimalString: the string read from a JSON amount or ratio is what
// encoding/json reads from it, by the plain-text shortcut or otherwise.
func FuzzJSONDecimalString(f *testing.F) {
	for _, s := range []string{`"7.5"`, `"0"`, `"7\u002e5"`, `"7.5`, `"7.5"x`, `"a"b"`, `""`, `"`, `7.5`, `null`, "\"\x7f\"", `"é"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := jsonDecimalString("amount", "amounts", `"7.5"`, data)
		if len(data) == 0 || data[0] != '"' {
			if err == nil {
				t.Fatalf("%q read as %q, want an error", data, got)
			}
			return
		}
		var want string
		werr := json.Unmarshal(data, &want)
		if (err == nil) != (werr == nil) || err == nil && got != want {
			t.Fatalf("%q read as %q (%v), encoding/json reads %q (%v)", data, got, err, want, werr)
		}
	})
}
