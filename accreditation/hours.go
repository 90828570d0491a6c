package accreditation

import (
	"strconv"
	"strings"
)

// An outcome may give its learning hours beside its credits, and the hours
// then decide its standard credits (docs/contract.md section 3). Hours that
// disagree with the credits by far are a mistake in one of the two: 5 ECTS
// with 48 hours would be stored as 3 standard credits where the credits say
// 8.59. Within a factor of two either way of what the credits stand for,
// the institution's own count of hours is taken; beyond it, the outcome is
// refused (section 8).

// hoursMismatchFactor is how far hours may lie from what the credits stand
// for, either way.
const hoursMismatchFactor = 2

// checkHoursAgree refuses hours that lie more than hoursMismatchFactor from
// the hours the credits stand for (amount × the system's hours per credit),
// naming both figures. The system is known and the amount in range.
func (o OutcomeInput) checkHoursAgree() error {
	if o.Hours == nil {
		return nil
	}
	tenths, ok := hoursPerCredit[o.Credits.System]
	if !ok {
		return nil
	}
	// Both in thousandths of an hour: amount is in hundredths of a credit
	// and the hours per credit in tenths, so neither side is rounded.
	given := *o.Hours * 1000
	standsFor := int64(o.Credits.Amount) * tenths
	if given <= hoursMismatchFactor*standsFor && hoursMismatchFactor*given >= standsFor {
		return nil
	}
	return errorf(CodeCreditsHoursMismatch,
		"hours %d and credits %s %s disagree: %s %s stand for %s hours, and hours must lie within a factor of %d of that (%s to %s)",
		*o.Hours, o.Credits.Amount, o.Credits.System, o.Credits.Amount, o.Credits.System, thousandths(standsFor),
		hoursMismatchFactor, thousandths((standsFor+hoursMismatchFactor-1)/hoursMismatchFactor), thousandths(hoursMismatchFactor*standsFor))
}

// thousandths writes n thousandths in its shortest decimal form.
func thousandths(n int64) string {
	s := strconv.FormatInt(n/1000, 10)
	if frac := n % 1000; frac != 0 {
		s += "." + strings.TrimRight(strconv.FormatInt(1000+frac, 10)[1:], "0")
	}
	return s
}
