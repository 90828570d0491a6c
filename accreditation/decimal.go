package accreditation

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Amount is a credit amount counted in hundredths of a credit: Amount(750)
// is "7.5". The contract allows at most two decimals, so every amount is a
// whole number of hundredths, and a + b, a - b and comparisons are plain,
// exact integer operations; nothing ever passes through float64.
//
// Amounts that come from outside are at most [MaxAmount] (see [ParseAmount]),
// which leaves room to add up about 92,000 of them before int64 overflows.
// The type is signed so that a difference such as cap − granted can be
// computed and compared directly, but the contract never shows a negative
// amount: [Amount.MarshalJSON] refuses one.
type Amount int64

// MaxAmount is the largest amount [ParseAmount] accepts: twelve integer
// digits and two decimals, 999999999999.99. No real credit total comes near
// it, and it keeps the products in [StandardCredits] and [Ratio.Apply] far
// from overflow.
const MaxAmount Amount = 1e14 - 1

// MaxStoredAmount bounds amounts as JSON: sixteen integer digits. Inputs are
// held to MaxAmount (or less) by validation, but totals the bank keeps
// (balances, what a rule granted a learner) add up many of them and must
// still be written and read back.
const MaxStoredAmount Amount = 1e18 - 1

// storedIntDigits is the number of integer digits of MaxStoredAmount.
const storedIntDigits = 16

// Ratio is a conversion ratio counted in ten-thousandths: Ratio(5000) is
// "0.5". Four decimals are enough to write ratios such as 1/3 as "0.3333"
// while keeping every product with an [Amount] exact in integers.
// A valid ratio is greater than 0 and at most [MaxRatio].
type Ratio int64

// MaxRatio is the largest ratio [ParseRatio] accepts, 10: a rule that
// multiplies credits tenfold is already implausible, and the bound keeps
// [Ratio.Apply] exact for every parsed amount.
const MaxRatio Ratio = 10 * ratioScale

const (
	amountDecimals  = 2
	amountScale     = 100 // hundredths per credit
	amountIntDigits = 12  // the reason for MaxAmount
	ratioDecimals   = 4
	ratioScale      = 10000 // ten-thousandths per unit
	ratioIntDigits  = 2     // "10" is the longest integer part below MaxRatio
)

// ParseAmount parses a credit amount written as the contract requires:
// ^(0|[1-9][0-9]*)(\.[0-9]{1,2})?$ with at most 12 integer digits. Signs,
// exponents, spaces, commas, leading zeros, a bare "." on either side and
// non-ASCII digits are all refused, so an amount has one spelling apart from
// optional trailing zeros after the point ("7.50" is accepted and means
// "7.5", which is what [Amount.String] gives back).
func ParseAmount(s string) (Amount, error) {
	v, err := parseDecimal(s, amountIntDigits, amountDecimals)
	if err == errTooManyIntDigits {
		err = fmt.Errorf("more than %d integer digits", amountIntDigits)
	}
	if err != nil {
		return 0, fmt.Errorf("invalid amount %s: %w", quoteInput(s), err)
	}
	return Amount(v), nil
}

// String formats a in its shortest canonical form ("3", "7.5", "0.25",
// "12.05"): no trailing zeros after the point and no trailing point, which is
// also the form stored in the ledger. [ParseAmount] reads it back to the same
// value. A negative amount (which only arithmetic can make) gets a leading
// "-" so that it is visible in logs and test failures.
func (a Amount) String() string {
	return formatDecimal(int64(a), amountDecimals)
}

// MarshalJSON writes a as a JSON string, because the contract never lets an
// amount be a JSON number (a number would invite float64 rounding in
// clients). It fails for negative amounts and for amounts above
// [MaxStoredAmount], so that everything written can be read back by
// [Amount.UnmarshalJSON].
func (a Amount) MarshalJSON() ([]byte, error) {
	if a < 0 || a > MaxStoredAmount {
		return nil, fmt.Errorf("amount %s is outside 0 to %s", a, MaxStoredAmount)
	}
	return appendQuotedAmount(nil, a), nil
}

// UnmarshalJSON reads a JSON string as [ParseAmount] does, but with up to
// sixteen integer digits (see [MaxStoredAmount]); fields that come from
// outside are held to their own bounds by validation. JSON numbers are
// refused rather than converted, since accepting 7.5 would mean accepting
// 7.499999999999999 as well. null is refused too: an amount field that may be
// absent should be a *Amount, which encoding/json sets to nil without calling
// this method.
func (a *Amount) UnmarshalJSON(data []byte) error {
	s, err := jsonDecimalString("amount", "amounts", `"7.5"`, data)
	if err != nil {
		return err
	}
	v, err := parseDecimal(s, storedIntDigits, amountDecimals)
	if err == errTooManyIntDigits {
		err = fmt.Errorf("more than %d integer digits", storedIntDigits)
	}
	if err != nil {
		return fmt.Errorf("invalid amount %s: %w", quoteInput(s), err)
	}
	*a = Amount(v)
	return nil
}

// MinAmount returns the smaller of a and b; a conversion grants
// min(ratio × standard credits, cap − granted so far).
func MinAmount(a, b Amount) Amount {
	return min(a, b)
}

// ParseRatio parses a conversion ratio: ^(0|[1-9][0-9]*)(\.[0-9]{1,4})?$,
// greater than 0 and at most 10. As with amounts, trailing zeros after the
// point are accepted and dropped by [Ratio.String].
func ParseRatio(s string) (Ratio, error) {
	v, err := parseDecimal(s, ratioIntDigits, ratioDecimals)
	switch {
	case err == errTooManyIntDigits || err == nil && v > uint64(MaxRatio):
		err = fmt.Errorf("must be at most %s", MaxRatio)
	case err == nil && v == 0:
		err = errors.New("must be greater than 0")
	}
	if err != nil {
		return 0, fmt.Errorf("invalid ratio %s: %w", quoteInput(s), err)
	}
	return Ratio(v), nil
}

// String formats r in its shortest canonical form ("0.5", "0.3333", "1").
func (r Ratio) String() string {
	return formatDecimal(int64(r), ratioDecimals)
}

// MarshalJSON writes r as a JSON string, for the same reason as
// [Amount.MarshalJSON]. It fails for a ratio [ParseRatio] would refuse
// (such as the zero value), so a rule is never stored with one.
func (r Ratio) MarshalJSON() ([]byte, error) {
	if r <= 0 || r > MaxRatio {
		return nil, fmt.Errorf("ratio %s is not above 0 and at most %s", r, MaxRatio)
	}
	return appendQuoted(nil, r.String()), nil
}

// UnmarshalJSON reads a JSON string with [ParseRatio]; JSON numbers and null
// are refused as for [Amount.UnmarshalJSON].
func (r *Ratio) UnmarshalJSON(data []byte) error {
	s, err := jsonDecimalString("ratio", "ratios", `"0.5"`, data)
	if err != nil {
		return err
	}
	v, err := ParseRatio(s)
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Apply returns r × a rounded half-even to hundredths, the credits a
// conversion rule grants for a standard-credit amount. The product of
// hundredths and ten-thousandths is exact in millionths and is divided by
// 10^4 once, so there is a single rounding and no float64.
//
// For a ratio from [ParseRatio] and any amount up to [MaxAmount] the result
// is at most 10 × MaxAmount and cannot overflow. Apply panics only if the
// result does not fit in an Amount, which needs an amount or ratio no parser
// here produces (like an integer division by zero, it is a programming
// error). A negative amount rounds symmetrically: Apply(-a) == -Apply(a).
func (r Ratio) Apply(a Amount) Amount {
	neg := (a < 0) != (r < 0)
	q, ok := mulDivRoundHalfEven(absUint(int64(a)), absUint(int64(r)), ratioScale)
	if !ok || q > 1<<63-1 {
		panic(fmt.Sprintf("accreditation: ratio %s × amount %s overflows an Amount", r, a))
	}
	if neg {
		return -Amount(q)
	}
	return Amount(q)
}

// ErrUnknownSystem is wrapped by [StandardCredits] and [ValidateSystem] when
// the credit system is not one of [CreditSystems], so that callers can answer
// with a validation error naming the field.
var ErrUnknownSystem = errors.New("unknown credit system")

// hoursPerCredit holds each credit system's learning hours per credit in
// tenths of an hour, because ECTS counts 27.5 hours (25 to 30 in practice;
// the contract fixes 27.5).
var hoursPerCredit = map[string]int64{
	"cn-credit":   160,
	"ects":        275,
	"kr-credit":   150,
	"hk-qf":       100,
	"us-semester": 450,
	"hours":       10,
}

// standardHours is the number of learning hours in one standard credit (one
// cn-credit).
const standardHours = 16

// CreditSystems returns the names of the known credit systems in sorted
// order, for error messages and the OpenAPI enum. The slice is new on every
// call, so the caller may keep or change it.
func CreditSystems() []string {
	names := make([]string, 0, len(hoursPerCredit))
	for name := range hoursPerCredit {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// HoursPerCredit returns how many learning hours one credit of system stands
// for, in tenths of an hour (ECTS is 275, cn-credit 160), and false when the
// system is unknown. Tenths keep ECTS's 27.5 exact in integers.
func HoursPerCredit(system string) (tenths int64, ok bool) {
	tenths, ok = hoursPerCredit[system]
	return tenths, ok
}

// ValidateSystem returns an error wrapping [ErrUnknownSystem] unless system is
// one of [CreditSystems].
func ValidateSystem(system string) error {
	if _, ok := hoursPerCredit[system]; !ok {
		return fmt.Errorf("%w %s; known systems are %s", ErrUnknownSystem, quoteInput(system), strings.Join(CreditSystems(), ", "))
	}
	return nil
}

// StandardCredits converts an outcome's credits into standard credits, the
// bank's common unit of 16 learning hours. When the institution gave the
// learning hours, they decide (hours / 16), since they measure the learning
// itself; otherwise amount × the system's hours per credit / 16. The result
// is rounded half-even to hundredths, once, from the exact quotient.
//
// The system is checked even when hours are given, because the outcome
// records it. A negative amount or negative hours, and a result above
// [MaxAmount] (which only absurd inputs reach), are errors, so the result can
// always be written as JSON and read back.
func StandardCredits(amount Amount, system string, hours *int64) (Amount, error) {
	tenths, ok := hoursPerCredit[system]
	if !ok {
		return 0, ValidateSystem(system)
	}
	if amount < 0 {
		return 0, fmt.Errorf("credit amount %s is negative", amount)
	}
	var q uint64
	if hours != nil {
		if *hours < 0 {
			return 0, fmt.Errorf("hours %d is negative", *hours)
		}
		// hours in hundredths of an hour / 16 hours per standard credit.
		q, ok = mulDivRoundHalfEven(uint64(*hours), amountScale, standardHours)
	} else {
		// hundredths of a credit × tenths of an hour per credit / tenths of
		// an hour per standard credit.
		q, ok = mulDivRoundHalfEven(uint64(amount), uint64(tenths), standardHours*10)
	}
	if !ok || q > uint64(MaxAmount) {
		return 0, fmt.Errorf("standard credits exceed the largest amount, %s", MaxAmount)
	}
	return Amount(q), nil
}

// mulDivRoundHalfEven returns x × y / den rounded half to even ("banker's
// rounding"), computed exactly in 128 bits with math/bits, and false if den is
// 0 or the rounded quotient does not fit in 64 bits. Every rounding in this
// package goes through it, so there is one rounding rule to get right and to
// test against math/big.
func mulDivRoundHalfEven(x, y, den uint64) (uint64, bool) {
	if den == 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(x, y)
	if hi >= den { // the quotient needs more than 64 bits; bits.Div64 would panic
		return 0, false
	}
	q, rem := bits.Div64(hi, lo, den)
	// Compare rem with den/2 without computing 2·rem, which can overflow.
	if half := den - rem; rem > half || rem == half && q&1 == 1 {
		if q == 1<<64-1 {
			return 0, false
		}
		q++
	}
	return q, true
}

// errTooManyIntDigits is returned by parseDecimal so that each caller can
// state the bound its users know: 12 integer digits for an amount, "at most
// 10" for a ratio.
var errTooManyIntDigits = errors.New("too many integer digits")

// parseDecimal reads ^(0|[1-9][0-9]*)(\.[0-9]{1,maxFrac})?$ with at most
// maxInt integer digits and returns the value in units of 10^-maxFrac. The
// error explains the first problem found, without the input (the caller adds
// it). maxInt + maxFrac must stay at or below 18 so the value fits in uint64
// without checks.
func parseDecimal(s string, maxInt, maxFrac int) (uint64, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	switch s[0] {
	case '-':
		return 0, errors.New("must not be negative")
	case '+':
		return 0, errors.New("must not have a sign")
	case '.':
		return 0, errors.New("no digit before the decimal point")
	}
	intPart, fracPart, hasPoint := strings.Cut(s, ".")
	if err := checkDigits(intPart); err != nil {
		return 0, err
	}
	if hasPoint {
		if fracPart == "" {
			return 0, errors.New("no digit after the decimal point")
		}
		if err := checkDigits(fracPart); err != nil {
			return 0, err
		}
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return 0, errors.New("leading zero")
	}
	if len(intPart) > maxInt {
		return 0, errTooManyIntDigits
	}
	if len(fracPart) > maxFrac {
		return 0, fmt.Errorf("more than %d decimals", maxFrac)
	}
	var v uint64
	for i := range intPart {
		v = v*10 + uint64(intPart[i]-'0')
	}
	for i := range maxFrac {
		v *= 10
		if i < len(fracPart) {
			v += uint64(fracPart[i] - '0')
		}
	}
	return v, nil
}

// checkDigits accepts a run of ASCII digits and names the first character
// that is not one; strconv and unicode.IsDigit would let other scripts'
// digits through.
func checkDigits(s string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' {
			continue
		}
		switch r, size := utf8.DecodeRuneInString(s[i:]); {
		case r == utf8.RuneError && size <= 1:
			return fmt.Errorf("invalid byte 0x%02x; want ASCII digits and at most one '.'", c)
		case c == '.':
			return errors.New("more than one decimal point")
		case c == 'e' || c == 'E':
			return errors.New("exponent notation is not allowed; write the digits out")
		default:
			return fmt.Errorf("invalid character %q; want ASCII digits and at most one '.'", r)
		}
	}
	return nil
}

// formatDecimal writes v, counted in units of 10^-decimals, in the shortest
// form: trailing zeros after the point are dropped, and so is the point.
func formatDecimal(v int64, decimals int) string {
	var b [48]byte
	return string(appendDecimal(b[:0], v, decimals))
}

// appendDecimal appends formatDecimal's form of v to b, without the
// intermediate strings: it runs for every amount of every outcome stored.
func appendDecimal(b []byte, v int64, decimals int) []byte {
	var db, fb [24]byte
	digits := strconv.AppendUint(db[:0], absUint(v), 10)
	if v < 0 {
		b = append(b, '-')
	}
	intLen := len(digits) - decimals
	frac := fb[:0]
	if intLen <= 0 {
		b = append(b, '0')
		for range -intLen {
			frac = append(frac, '0')
		}
		frac = append(frac, digits...)
	} else {
		b = append(b, digits[:intLen]...)
		frac = append(frac, digits[intLen:]...)
	}
	for len(frac) > 0 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	if len(frac) > 0 {
		b = append(append(b, '.'), frac...)
	}
	return b
}

// appendQuotedAmount appends a in double quotes, as MarshalJSON writes it.
func appendQuotedAmount(b []byte, a Amount) []byte {
	return append(appendDecimal(append(b, '"'), int64(a), amountDecimals), '"')
}

// absUint returns |v| without overflowing at math.MinInt64.
func absUint(v int64) uint64 {
	if v < 0 {
		return uint64(-v) // wraps to 1<<63 for math.MinInt64, which is right
	}
	return uint64(v)
}

// jsonDecimalString extracts the string that a JSON amount or ratio must be,
// with errors that say why a number or null is refused.
func jsonDecimalString(what, plural, example string, data []byte) (string, error) {
	if len(data) == 0 {
		return "", fmt.Errorf("%s is empty JSON", what)
	}
	switch c := data[0]; {
	case c == '"':
		if inner := data[1:]; len(inner) > 0 && inner[len(inner)-1] == '"' && plainText(inner[:len(inner)-1]) {
			return string(inner[:len(inner)-1]), nil // what json.Unmarshal gives, without its allocations
		}
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		return s, nil
	case c == '-' || c >= '0' && c <= '9':
		return "", fmt.Errorf("%s is a JSON number; %s are decimal strings such as %s", what, plural, example)
	case string(data) == "null":
		return "", fmt.Errorf("%s is null; want a decimal string such as %s", what, example)
	default:
		return "", fmt.Errorf("%s must be a decimal string such as %s", what, example)
	}
}

// plainText reports whether b is printable ASCII without quotes or
// backslashes: the bytes of a JSON string that is its own value.
func plainText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// appendQuoted appends s in double quotes as it stands: s is a formatted
// decimal, or text appendJSONText found needs no escaping.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// quoteInput quotes untrusted input for an error message, cut short so that
// a huge request body does not become a huge error.
func quoteInput(s string) string {
	const max = 40
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
