package accreditation

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"creditbank/ledger"
)

var idPatterns = map[string]*idPattern{
	"institution": institutionIDPattern, "learner": learnerIDPattern, "programme": programmePattern,
	"sha256": sha256Pattern, "idempotency": idemKeyPattern,
}

// TestIDPatterns: each identifier pattern's byte-class match says what its
// regular expression says, on the edges of its lengths and classes and on
// random strings.
func TestIDPatterns(t *testing.T) {
	const alphabet = "aZ09.-_:/ \n\x00é"
	rng := rand.New(rand.NewPCG(1, 2))
	for name, p := range idPatterns {
		t.Run(name, func(t *testing.T) {
			cases := []string{"", "a", "0", "-", ".a", "a-", strings.Repeat("a", 64), strings.Repeat("a", 65),
				strings.Repeat("0", 128), strings.Repeat("0", 129), strings.Repeat("f", 63), "abc\n", "A1-b", "x/y:z"}
			for range 20000 {
				var b strings.Builder
				n := rng.IntN(132)
				for range n {
					if rng.IntN(50) == 0 {
						b.WriteByte(alphabet[rng.IntN(len(alphabet))])
					} else {
						b.WriteByte(alnum[rng.IntN(len(alnum))])
					}
				}
				cases = append(cases, b.String())
			}
			for _, s := range cases {
				if got, want := p.MatchString(s), p.re.MatchString(s); got != want {
					t.Fatalf("%s.MatchString(%q) = %v, regexp %v", name, s, got, want)
				}
			}
		})
	}
}

// FuzzIDPatterns: the same on whatever the fuzzer finds.
func FuzzIDPatterns(f *testing.F) {
	for _, s := range []string{"", "L000123", "univ.example", strings.Repeat("ab", 32), "2026-fall-CS101:x/y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, p := range idPatterns {
			if got, want := p.MatchString(s), p.re.MatchString(s); got != want {
				t.Fatalf("%s.MatchString(%q) = %v, regexp %v", name, s, got, want)
			}
		}
	})
}

// TestOutcomeContent: the input encoded by hand, and the stored outcome
// built by appending to it, are byte for byte MarshalContent of each,
// including where they fall back to it.
func TestOutcomeContent(t *testing.T) {
	hours, supersedes, score, passed := int64(48), uint64(7), Amount(8650), true
	full := OutcomeInput{IdempotencyKey: "k", Learner: "L1", Unit: Unit{Code: "CS101", Title: `程序 "<&>" \ design`},
		Sector: "degree", Level: 6, Field: "0613", Credits: Credits{Amount: 350, System: "cn-credit"}, Hours: &hours,
		Result: Result{Passed: &passed, Score: &score}, CompletedOn: "2026-07-01", EvidenceSHA256: strings.Repeat("ab", 32),
		Supersedes: &supersedes}
	tests := []struct {
		name string
		out  Outcome
	}{
		{"full", Outcome{OutcomeInput: full, Institution: "univ.example", StandardCredits: 300}},
		{"zero", Outcome{Institution: "univ.example"}},
		{"odd institution", Outcome{OutcomeInput: full, Institution: `"odd"<id>`, StandardCredits: 1}},
	}
	for _, title := range []string{"a\"b\\c", "\u2028\u2029", "tab\there", "bad \xff utf-8", "\ufffd", "<&>", "程序设计"} {
		o := full
		o.Unit.Title = title
		tests = append(tests, struct {
			name string
			out  Outcome
		}{"title " + title, Outcome{OutcomeInput: o, Institution: "u.example"}})
	}
	noHours := full
	noHours.Hours, noHours.Result.Score, noHours.EvidenceSHA256, noHours.Supersedes = nil, nil, "", nil
	tests = append(tests, struct {
		name string
		out  Outcome
	}{"optional members left out", Outcome{OutcomeInput: noHours, Institution: "u.example"}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input, err := ledger.MarshalContent(tt.out.OutcomeInput)
			if err != nil {
				t.Fatal(err)
			}
			if tt.out.Result.Passed != nil {
				if got, err := marshalOutcomeInput(tt.out.OutcomeInput); err != nil || string(got) != string(input) {
					t.Fatalf("marshalOutcomeInput = %s, %v; want %s", got, err, input)
				}
			}
			want, err := ledger.MarshalContent(tt.out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := outcomeContent(tt.out, input)
			if err != nil || string(got) != string(want) {
				t.Fatalf("outcomeContent = %s, %v; want %s", got, err, want)
			}
		})
	}
}

// TestOutcomeStateJSON: the hand-written encoding of an outcome's state is
// byte for byte what putJSON stored, for the usual states and for those
// that fall back to it.
func TestOutcomeStateJSON(t *testing.T) {
	score := Amount(8650)
	tests := []struct {
		name string
		st   outcomeState
	}{
		{"usual", outcomeState{Seq: 7, Institution: "univ.example", Learner: "L1", Sector: "degree", Level: 6, Field: "0613",
			StandardCredits: 300, Passed: true, Score: &score, CompletedOn: "2026-07-01"}},
		{"zero", outcomeState{}},
		{"failed, revoked, no score", outcomeState{Seq: 1 << 40, Learner: "L-9", StandardCredits: 0, Revoked: true, Level: -1}},
		{"escapes", outcomeState{Institution: `a"b\c`, Learner: "<&>", Field: "\u00e9\n"}},
		{"used", outcomeState{Seq: 3, UsedBy: []conversionUse{{Conversion: 9, Target: Target{Institution: "u.example", Programme: "P"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := ledger.MarshalContent(tt.st)
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.st.appendJSON(nil); string(got) != string(want) {
				t.Fatalf("appendJSON = %s\nwant         %s", got, want)
			}
		})
	}
}

// TestPostResultStored: the stored outcome a post answers with, written from
// the stored content, is what encoding the decoded outcome gives.
func TestPostResultStored(t *testing.T) {
	passed, score := true, Amount(9000)
	out := Outcome{OutcomeInput: OutcomeInput{IdempotencyKey: "k", Learner: "L1", Unit: Unit{Code: "C1", Title: "程序 <&>"},
		Sector: "degree", Level: 6, Field: "0613", Credits: Credits{Amount: 300, System: "cn-credit"},
		Result: Result{Passed: &passed, Score: &score}, CompletedOn: "2026-07-01"}, Institution: "u.example", StandardCredits: 300}
	content, err := ledger.MarshalContent(out)
	if err != nil {
		t.Fatal(err)
	}
	type plain TranscriptOutcome
	want, err := marshalJSON(plain{Seq: 12, RecordedAt: "2026-07-01T08:00:00.000001Z", Status: "active", Outcome: out})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []PostResult{
		{Status: PostCreated, Seq: 12, RecordedAt: "2026-07-01T08:00:00.000001Z", Outcome: &out, content: content},
		{Status: PostDuplicate, Seq: 12, RecordedAt: "2026-07-01T08:00:00.000001Z", Outcome: &out}, // no content: encoded
	} {
		got, err := r.TranscriptOutcome().MarshalJSON()
		if err != nil || string(got) != string(want) {
			t.Fatalf("%s: TranscriptOutcome() = %s, %v\nwant %s", r.Status, got, err, want)
		}
	}
}

// TestStateKeys pins the form of the state keys stores already hold: a
// seq in 16 lower-case hex digits, as "%016x" writes it.
func TestStateKeys(t *testing.T) {
	for _, seq := range []uint64{0, 1, 255, 1<<40 + 7, ^uint64(0)} {
		if got, want := outKey(seq), fmt.Sprintf("out/%016x", seq); got != want {
			t.Errorf("outKey(%d) = %q, want %q", seq, got, want)
		}
		if got, want := convKey(seq), fmt.Sprintf("conv/%016x", seq); got != want {
			t.Errorf("convKey(%d) = %q, want %q", seq, got, want)
		}
	}
}
