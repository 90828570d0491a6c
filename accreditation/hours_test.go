package accreditation

import (
	"fmt"
	"strings"
	"testing"
)

// TestCreditsHoursAgree: hours within a factor of two of what the credits
// stand for decide the standard credits; beyond it either way the outcome is
// refused with CodeCreditsHoursMismatch naming both figures, and hours of 0
// with CodeInvalid; nothing refused is written.
func TestCreditsHoursAgree(t *testing.T) {
	b, college, _ := rtSetup(t)
	cases := []struct {
		amount Amount
		system string
		hours  int64
		code   Code
		// want is the standard credits when accepted, or what the refusal
		// says when refused.
		want string
	}{
		{500, "ects", 48, CodeCreditsHoursMismatch, "5 ects stand for 137.5 hours"},
		{500, "ects", 68, CodeCreditsHoursMismatch, "(68.75 to 275)"},
		{500, "ects", 69, "", "4.31"},
		{500, "ects", 275, "", "17.19"},
		{500, "ects", 276, CodeCreditsHoursMismatch, "hours 276 and credits 5 ects disagree"},
		{300, "cn-credit", 24, "", "1.5"},
		{300, "cn-credit", 23, CodeCreditsHoursMismatch, "3 cn-credit stand for 48 hours"},
		{300, "cn-credit", 96, "", "6"},
		{300, "cn-credit", 97, CodeCreditsHoursMismatch, "(24 to 96)"},
		{300, "cn-credit", 0, CodeInvalid, "hours 0 is not between 1"},
		{300, "kr-credit", 45, "", "2.81"},
		{100, "us-semester", 7, CodeCreditsHoursMismatch, "1 us-semester stand for 45 hours"},
		{100, "hk-qf", 5, "", "0.31"},
		{1000, "hours", 20, "", "1.25"},
		{1000, "hours", 21, CodeCreditsHoursMismatch, "10 hours stand for 10 hours"},
		{0, "cn-credit", 1, CodeCreditsHoursMismatch, "0 cn-credit stand for 0 hours"},
		{5, "cn-credit", 1, "", "0.06"},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%s %s hours %d", tc.amount, tc.system, tc.hours), func(t *testing.T) {
			o := outcome("L1", fmt.Sprintf("hours-%d", i))
			o.Unit.Code = fmt.Sprintf("H%d", i)
			o.Credits = Credits{Amount: tc.amount, System: tc.system}
			o.Hours = rtHours(tc.hours)
			if tc.code != "" {
				rtPostRejected(t, b, college, o, tc.code)
				if err := o.Validate(); !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("refusal %q does not say %q", err, tc.want)
				}
				return
			}
			r := rtPostOne(t, b, college, o)
			if r.Status != PostCreated || r.Outcome.StandardCredits.String() != tc.want {
				t.Fatalf("post %s %v: standard credits %v, want %s", r.Status, r.Err, r.Outcome, tc.want)
			}
		})
	}
	b.checkReplay(t)
}
