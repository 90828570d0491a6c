package accreditation

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParseAmount(t *testing.T) {
	good := []struct {
		in   string
		want Amount
	}{
		{"0", 0},
		{"3", 300},
		{"7.5", 750},
		{"0.25", 25},
		{"0.01", 1},
		{"12.05", 1205},
		{"7.50", 750}, // trailing zeros are accepted and dropped by String
		{"3.0", 300},
		{"3.00", 300},
		{"0.0", 0},
		{"100", 10000},
		{"999999999999.99", MaxAmount},
		{"999999999999", 99999999999900},
		{"100000000000", 10000000000000},
	}
	for _, tc := range good {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseAmount(tc.in)
			if err != nil {
				t.Fatalf("ParseAmount(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("ParseAmount(%q) = %d hundredths, want %d", tc.in, got, tc.want)
			}
		})
	}

	bad := []struct {
		in      string
		wantErr string // a piece of the message that tells the user what is wrong
	}{
		{"", "empty"},
		{"-1", "negative"},
		{"-0", "negative"},
		{"+1", "sign"},
		{"01", "leading zero"},
		{"00", "leading zero"},
		{"00.5", "leading zero"},
		{"1.", "no digit after the decimal point"},
		{".5", "no digit before the decimal point"},
		{".", "no digit before the decimal point"},
		{"1.234", "more than 2 decimals"},
		{"0.001", "more than 2 decimals"},
		{"1e2", "exponent"},
		{"1E2", "exponent"},
		{" 1", `invalid character ' '`},
		{"1 ", `invalid character ' '`},
		{"1,5", `invalid character ','`},
		{"1.2.3", "more than one decimal point"},
		{"1..2", "more than one decimal point"},
		{"٣", `invalid character '٣'`},   // ARABIC-INDIC DIGIT THREE
		{"３", `invalid character '３'`},   // FULLWIDTH DIGIT THREE
		{"1.٥", `invalid character '٥'`}, // non-ASCII decimal digit
		{"\xff", "invalid byte 0xff"},
		{"0x10", `invalid character 'x'`},
		{"NaN", `invalid character 'N'`},
		{"Inf", `invalid character 'I'`},
		{"1_000", `invalid character '_'`},
		{"1000000000000", "more than 12 integer digits"},
		{"1000000000000.5", "more than 12 integer digits"},
		{"99999999999999999999999999", "more than 12 integer digits"},
	}
	for _, tc := range bad {
		t.Run("bad "+tc.in, func(t *testing.T) {
			got, err := ParseAmount(tc.in)
			if err == nil {
				t.Fatalf("ParseAmount(%q) = %s, want an error", tc.in, got)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "invalid amount ") || !strings.Contains(msg, tc.wantErr) {
				t.Fatalf("ParseAmount(%q) error %q, want it to start with %q and contain %q", tc.in, msg, "invalid amount ", tc.wantErr)
			}
			if msg != strings.ToLower(msg[:1])+msg[1:] {
				t.Fatalf("error %q does not start in lower case", msg)
			}
		})
	}
}

func TestParseAmountLongInputErrorIsShort(t *testing.T) {
	_, err := ParseAmount(strings.Repeat("9", 1<<20))
	if err == nil || len(err.Error()) > 200 {
		t.Fatalf("error for a 1 MiB amount: %v (want a short error)", err)
	}
}

func TestAmountString(t *testing.T) {
	cases := []struct {
		in   Amount
		want string
	}{
		{0, "0"},
		{1, "0.01"},
		{10, "0.1"},
		{25, "0.25"},
		{99, "0.99"},
		{100, "1"},
		{300, "3"},
		{750, "7.5"},
		{1205, "12.05"},
		{1250, "12.5"},
		{100000, "1000"},
		{MaxAmount, "999999999999.99"},
		{MaxAmount + 1, "1000000000000"}, // beyond what parses, still formatted exactly
		{-1, "-0.01"},
		{-750, "-7.5"},
		{math.MaxInt64, "92233720368547758.07"},
		{math.MinInt64, "-92233720368547758.08"},
	}
	for _, tc := range cases {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("Amount(%d).String() = %q, want %q", int64(tc.in), got, tc.want)
		}
	}

	// Every amount in range survives String then Parse; the canonical form
	// has no trailing zero after the point.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		a := Amount(rng.Int64N(int64(MaxAmount) + 1))
		if rng.IntN(4) == 0 {
			a = Amount(rng.Int64N(1000)) // small values hit every fraction shape
		}
		s := a.String()
		back, err := ParseAmount(s)
		if err != nil || back != a {
			t.Fatalf("ParseAmount(Amount(%d).String() = %q) = %d, %v", int64(a), s, back, err)
		}
		if strings.Contains(s, ".") && strings.HasSuffix(s, "0") {
			t.Fatalf("Amount(%d).String() = %q has a trailing zero", int64(a), s)
		}
	}
}

func TestAmountJSON(t *testing.T) {
	type doc struct {
		A Amount  `json:"a"`
		P *Amount `json:"p"`
	}
	seven := Amount(750)
	b, err := json.Marshal(doc{A: 1205, P: &seven})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"a":"12.05","p":"7.5"}`; got != want {
		t.Fatalf("Marshal = %s, want %s", got, want)
	}

	var d doc
	if err := json.Unmarshal([]byte(`{"a":"3","p":null}`), &d); err != nil {
		t.Fatal(err)
	}
	if d.A != 300 || d.P != nil {
		t.Fatalf("Unmarshal = %+v, want A=300 and P=nil", d)
	}
	// A JSON escape still spells a decimal string.
	if err := json.Unmarshal([]byte(`{"a":"\u0037.5"}`), &d); err != nil || d.A != 750 {
		t.Fatalf("Unmarshal escaped string: %v, %v", d.A, err)
	}

	bad := []struct {
		in, wantErr string
	}{
		{`{"a":3}`, "decimal strings"},
		{`{"a":7.5}`, "decimal strings"},
		{`{"a":-1}`, "decimal strings"},
		{`{"a":null}`, "null"},
		{`{"a":true}`, "decimal string"},
		{`{"a":["3"]}`, "decimal string"},
		{`{"a":"-1"}`, "negative"},
		{`{"a":"1.234"}`, "more than 2 decimals"},
		{`{"a":""}`, "empty"},
		{`{"p":7.5}`, "decimal strings"},
	}
	for _, tc := range bad {
		var d doc
		err := json.Unmarshal([]byte(tc.in), &d)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("Unmarshal(%s) error %v, want one containing %q", tc.in, err, tc.wantErr)
		}
	}

	for _, a := range []Amount{-1, MaxStoredAmount + 1, math.MinInt64} {
		if b, err := json.Marshal(a); err == nil {
			t.Errorf("Marshal(Amount(%d)) = %s, want an error", int64(a), b)
		}
	}
	if b, err := json.Marshal(MaxAmount); err != nil || string(b) != `"999999999999.99"` {
		t.Errorf("Marshal(MaxAmount) = %s, %v", b, err)
	}
}

func TestMinAmount(t *testing.T) {
	for _, tc := range []struct{ a, b, want Amount }{
		{0, 0, 0}, {1, 2, 1}, {2, 1, 1}, {MaxAmount, 5, 5}, {-1, 0, -1},
	} {
		if got := MinAmount(tc.a, tc.b); got != tc.want {
			t.Errorf("MinAmount(%s, %s) = %s, want %s", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestParseRatio(t *testing.T) {
	good := []struct {
		in        string
		want      Ratio
		canonical string
	}{
		{"0.5", 5000, "0.5"},
		{"0.3333", 3333, "0.3333"},
		{"1", 10000, "1"},
		{"0.0001", 1, "0.0001"},
		{"0.25", 2500, "0.25"},
		{"2.125", 21250, "2.125"},
		{"9.9999", 99999, "9.9999"},
		{"10", MaxRatio, "10"},
		{"10.0000", MaxRatio, "10"},
		{"0.50", 5000, "0.5"},
		{"1.0", 10000, "1"},
	}
	for _, tc := range good {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRatio(tc.in)
			if err != nil {
				t.Fatalf("ParseRatio(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("ParseRatio(%q) = %d, want %d", tc.in, got, tc.want)
			}
			if s := got.String(); s != tc.canonical {
				t.Fatalf("ParseRatio(%q).String() = %q, want %q", tc.in, s, tc.canonical)
			}
		})
	}

	bad := []struct{ in, wantErr string }{
		{"0", "greater than 0"},
		{"0.0", "greater than 0"},
		{"0.0000", "greater than 0"},
		{"10.0001", "at most 10"},
		{"11", "at most 10"},
		{"100", "at most 10"},
		{"99999999999999999999999", "at most 10"},
		{"0.33333", "more than 4 decimals"},
		{"-0.5", "negative"},
		{"+0.5", "sign"},
		{"", "empty"},
		{".5", "no digit before"},
		{"1.", "no digit after"},
		{"01", "leading zero"},
		{"00.5", "leading zero"},
		{"5e-1", "exponent"},
		{" 0.5", "invalid character"},
		{"½", "invalid character '½'"},
		{"1/3", "invalid character '/'"},
	}
	for _, tc := range bad {
		t.Run("bad "+tc.in, func(t *testing.T) {
			got, err := ParseRatio(tc.in)
			if err == nil {
				t.Fatalf("ParseRatio(%q) = %s, want an error", tc.in, got)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "invalid ratio ") || !strings.Contains(msg, tc.wantErr) {
				t.Fatalf("ParseRatio(%q) error %q, want it to start with %q and contain %q", tc.in, msg, "invalid ratio ", tc.wantErr)
			}
		})
	}
}

func TestRatioJSON(t *testing.T) {
	var r Ratio
	if err := json.Unmarshal([]byte(`"0.3333"`), &r); err != nil || r != 3333 {
		t.Fatalf("Unmarshal = %d, %v", r, err)
	}
	if b, err := json.Marshal(r); err != nil || string(b) != `"0.3333"` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	for _, in := range []string{`0.5`, `1`, `null`, `"0"`, `"11"`} {
		if err := json.Unmarshal([]byte(in), &r); err == nil {
			t.Errorf("Unmarshal(%s) accepted", in)
		}
	}
	if err := json.Unmarshal([]byte(`0.5`), &r); err == nil || !strings.Contains(err.Error(), "decimal strings") {
		t.Errorf("Unmarshal(0.5) error %v, want one saying ratios are decimal strings", err)
	}
	for _, bad := range []Ratio{0, -1, MaxRatio + 1} {
		if b, err := json.Marshal(bad); err == nil {
			t.Errorf("Marshal(Ratio(%d)) = %s, want an error", int64(bad), b)
		}
	}
}

func TestCreditSystems(t *testing.T) {
	want := []string{"cn-credit", "ects", "hk-qf", "hours", "kr-credit", "us-semester"}
	got := CreditSystems()
	if !slices.Equal(got, want) {
		t.Fatalf("CreditSystems() = %q, want %q", got, want)
	}
	got[0] = "changed"
	if CreditSystems()[0] != "cn-credit" {
		t.Fatal("CreditSystems returns a slice its caller can change under the package")
	}
	hours := map[string]int64{"cn-credit": 160, "ects": 275, "kr-credit": 150, "hk-qf": 100, "us-semester": 450, "hours": 10}
	for _, s := range want {
		tenths, ok := HoursPerCredit(s)
		if !ok || tenths != hours[s] {
			t.Errorf("HoursPerCredit(%q) = %d, %v, want %d tenths", s, tenths, ok, hours[s])
		}
		if err := ValidateSystem(s); err != nil {
			t.Errorf("ValidateSystem(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "ECTS", "cn_credit", "ects "} {
		if _, ok := HoursPerCredit(s); ok {
			t.Errorf("HoursPerCredit(%q) is ok", s)
		}
		if err := ValidateSystem(s); !errors.Is(err, ErrUnknownSystem) {
			t.Errorf("ValidateSystem(%q) = %v, want ErrUnknownSystem", s, err)
		}
	}
}

func TestStandardCredits(t *testing.T) {
	h := func(n int64) *int64 { return &n }
	cases := []struct {
		name   string
		amount string
		system string
		hours  *int64
		want   string
	}{
		// cn-credit: 16 hours, so one credit is one standard credit.
		{"cn 3", "3", "cn-credit", nil, "3"},
		{"cn 2.5", "2.5", "cn-credit", nil, "2.5"},
		{"cn 0.01", "0.01", "cn-credit", nil, "0.01"},
		{"cn 0", "0", "cn-credit", nil, "0"},
		// ects: 27.5 hours.
		{"ects 5", "5", "ects", nil, "8.59"},       // 8.59375: above half, down since 3 < 5
		{"ects 1", "1", "ects", nil, "1.72"},       // 1.71875: above half, up
		{"ects 2", "2", "ects", nil, "3.44"},       // 3.4375
		{"ects 4", "4", "ects", nil, "6.88"},       // 6.875: tie, 7 is odd, up
		{"ects 10", "10", "ects", nil, "17.19"},    // 17.1875
		{"ects 0.01", "0.01", "ects", nil, "0.02"}, // 0.0171875
		{"ects 30", "30", "ects", nil, "51.56"},    // 51.5625
		// kr-credit: 15 hours.
		{"kr 1", "1", "kr-credit", nil, "0.94"}, // 0.9375
		{"kr 2", "2", "kr-credit", nil, "1.88"}, // 1.875: tie, 7 odd, up
		{"kr 3", "3", "kr-credit", nil, "2.81"}, // 2.8125
		{"kr 6", "6", "kr-credit", nil, "5.62"}, // 5.625: tie, 2 even, down
		{"kr 16", "16", "kr-credit", nil, "15"},
		// hk-qf: 10 hours.
		{"hk 1", "1", "hk-qf", nil, "0.62"}, // 0.625: tie, 2 even, down
		{"hk 3", "3", "hk-qf", nil, "1.88"}, // 1.875: tie, up
		{"hk 5", "5", "hk-qf", nil, "3.12"}, // 3.125: tie, down
		{"hk 8", "8", "hk-qf", nil, "5"},
		// us-semester: 45 hours.
		{"us 1", "1", "us-semester", nil, "2.81"}, // 2.8125
		{"us 2", "2", "us-semester", nil, "5.62"}, // 5.625: tie, 2 even, down
		{"us 3", "3", "us-semester", nil, "8.44"}, // 8.4375
		{"us 0.5", "0.5", "us-semester", nil, "1.41"},
		// hours: 1 hour per credit.
		{"hours 48", "48", "hours", nil, "3"},
		{"hours 1", "1", "hours", nil, "0.06"},       // 0.0625: below half
		{"hours 2", "2", "hours", nil, "0.12"},       // 0.125: tie, 2 even, down
		{"hours 6", "6", "hours", nil, "0.38"},       // 0.375: tie, 7 odd, up
		{"hours 10", "10", "hours", nil, "0.62"},     // 0.625: tie, down
		{"hours 14", "14", "hours", nil, "0.88"},     // 0.875: tie, up
		{"hours 0.5", "0.5", "hours", nil, "0.03"},   // 0.03125
		{"hours 0.08", "0.08", "hours", nil, "0"},    // 0.005: tie, 0 even, down
		{"hours 0.24", "0.24", "hours", nil, "0.02"}, // 0.015: tie, 1 odd, up
		// Given hours decide, whatever the amount and system say.
		{"given 48", "3", "cn-credit", h(48), "3"},
		{"given 1", "0", "hours", h(1), "0.06"},
		{"given 2", "7", "ects", h(2), "0.12"},
		{"given 6", "1", "kr-credit", h(6), "0.38"},
		{"given overrides cn", "3", "cn-credit", h(32), "2"},
		{"given overrides ects", "5", "ects", h(135), "8.44"}, // 8.4375, not the 8.59 of 5 ECTS
		{"given 0", "3", "cn-credit", h(0), "0"},
		{"given largest", "1", "hours", h(15999999999999), "999999999999.94"}, // ...993.75
		// The largest inputs that still give an amount that parses.
		{"max cn", "999999999999.99", "cn-credit", nil, "999999999999.99"},
		{"max hours", "999999999999.99", "hours", nil, "62500000000"},   // 62499999999.999375
		{"max ects", "581818181818.17", "ects", nil, "999999999999.98"}, // ...99.9796875
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			amount, err := ParseAmount(tc.amount)
			if err != nil {
				t.Fatal(err)
			}
			got, err := StandardCredits(amount, tc.system, tc.hours)
			if err != nil {
				t.Fatalf("StandardCredits(%s, %s, %v): %v", tc.amount, tc.system, tc.hours, err)
			}
			if got.String() != tc.want {
				t.Fatalf("StandardCredits(%s, %s, %v) = %s, want %s", tc.amount, tc.system, tc.hours, got, tc.want)
			}
			if tc.hours == nil {
				// The same result from exact rationals rounded half-even.
				tenths, _ := HoursPerCredit(tc.system)
				want := refRoundHalfEven(new(big.Rat).SetFrac(
					new(big.Int).Mul(big.NewInt(int64(amount)), big.NewInt(tenths)), big.NewInt(160)))
				if want.Cmp(big.NewInt(int64(got))) != 0 {
					t.Fatalf("math/big says %s hundredths, got %d", want, got)
				}
			}
		})
	}

	bad := []struct {
		name    string
		amount  Amount
		system  string
		hours   *int64
		wantErr string
		unknown bool
	}{
		{"unknown", 300, "ECTS", nil, `unknown credit system "ECTS"; known systems are cn-credit, ects, hk-qf, hours, kr-credit, us-semester`, true},
		{"empty system", 300, "", nil, "unknown credit system", true},
		{"unknown with hours", 300, "quarter", h(48), "unknown credit system", true},
		{"negative hours", 300, "cn-credit", h(-1), "hours -1 is negative", false},
		{"negative amount", -1, "cn-credit", nil, "negative", false},
		{"too large ects", MaxAmount, "ects", nil, "exceed the largest amount", false},
		{"just too large ects", 58181818181818, "ects", nil, "exceed the largest amount", false},
		{"too many hours", 0, "hours", h(16000000000000), "exceed the largest amount", false},
		{"max int64 hours", 0, "hours", h(math.MaxInt64), "exceed the largest amount", false},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			got, err := StandardCredits(tc.amount, tc.system, tc.hours)
			if err == nil {
				t.Fatalf("StandardCredits = %s, want an error", got)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q, want it to contain %q", err, tc.wantErr)
			}
			if errors.Is(err, ErrUnknownSystem) != tc.unknown {
				t.Fatalf("errors.Is(%v, ErrUnknownSystem) = %v, want %v", err, !tc.unknown, tc.unknown)
			}
		})
	}
}

func TestRatioApply(t *testing.T) {
	cases := []struct {
		ratio, amount, want string
	}{
		{"0.5", "0.01", "0"},    // 0.005: tie, 0 even, down
		{"0.5", "0.03", "0.02"}, // 0.015: tie, 1 odd, up
		{"0.5", "5.35", "2.68"}, // 2.675: tie, 7 odd, up
		{"0.5", "5.37", "2.68"}, // 2.685: tie, 8 even, down
		{"1", "0", "0"},
		{"1", "0.01", "0.01"},
		{"1", "12.05", "12.05"},
		{"1", "999999999999.99", "999999999999.99"},
		{"0.3333", "3", "1"},      // 0.9999
		{"0.25", "0.1", "0.02"},   // 0.025: tie, 2 even, down
		{"0.25", "0.3", "0.08"},   // 0.075: tie, 7 odd, up
		{"0.3333", "0.01", "0"},   // 0.003333
		{"0.0001", "0.01", "0"},   // 0.000001
		{"0.0001", "50", "0"},     // 0.005: tie, down
		{"0.0001", "150", "0.02"}, // 0.015: tie, up
		{"0.0001", "150.01", "0.02"},
		{"2", "7.5", "15"},
		{"1.5", "0.01", "0.02"}, // 0.015: tie, up
		{"10", "0.01", "0.1"},
		// The largest values: 10 × MaxAmount is exact and far inside int64.
		{"10", "999999999999.99", "9999999999999.9"},
		{"9.9999", "999999999999.99", "9999899999999.9"},  // 9999899999999.900001
		{"0.0001", "999999999999.99", "100000000"},        // 99999999.999999
		{"0.3333", "999999999999.99", "333300000000"},     // 333299999999.996667 rounds up
		{"0.5", "999999999999.99", "500000000000"},        // 499999999999.995: tie, 9 odd, up
		{"0.5", "999999999999.97", "499999999999.98"},     // ...985: tie, 8 even, down
		{"7.7777", "999999999999.99", "7777699999999.92"}, // ...92.2223
		{"9.9999", "999999999999.98", "9999899999999.8"},  // ...799.800002
		{"0.0003", "999999999999.99", "300000000"},        // 299999999.999997
		{"10", "1000000000", "10000000000"},
	}
	for _, tc := range cases {
		t.Run(tc.ratio+"×"+tc.amount, func(t *testing.T) {
			r, err := ParseRatio(tc.ratio)
			if err != nil {
				t.Fatal(err)
			}
			a, err := ParseAmount(tc.amount)
			if err != nil {
				t.Fatal(err)
			}
			got := r.Apply(a)
			if got.String() != tc.want {
				t.Fatalf("%s × %s = %s, want %s", tc.ratio, tc.amount, got, tc.want)
			}
			if want := refApply(r, a); want.Cmp(big.NewInt(int64(got))) != 0 {
				t.Fatalf("math/big says %s hundredths, got %d", want, got)
			}
			if neg := r.Apply(-a); neg != -got {
				t.Fatalf("Apply(-%s) = %s, want %s", a, neg, -got)
			}
		})
	}

	// Every parsed ratio times every amount up to MaxAmount agrees with
	// math/big; the corners are included on purpose.
	rng := rand.New(rand.NewPCG(3, 4))
	corners := []int64{0, 1, 2, 5, 50, 99, 100, int64(MaxAmount) - 1, int64(MaxAmount)}
	ratios := []int64{1, 2, 3333, 5000, 9999, 10000, 15000, 99999, int64(MaxRatio)}
	for i := range 200000 {
		a := Amount(rng.Int64N(int64(MaxAmount) + 1))
		r := Ratio(1 + rng.Int64N(int64(MaxRatio)))
		if i < len(corners)*len(ratios) {
			a, r = Amount(corners[i%len(corners)]), Ratio(ratios[i/len(corners)])
		}
		got := r.Apply(a)
		if want := refApply(r, a); want.Cmp(big.NewInt(int64(got))) != 0 {
			t.Fatalf("Ratio(%d).Apply(%d) = %d, math/big says %s", r, a, got, want)
		}
		if got > 10*MaxAmount {
			t.Fatalf("Ratio(%d).Apply(%d) = %d is above 10 × MaxAmount", r, a, got)
		}
	}

	// Outside what the parsers produce, Apply works while the result fits
	// and panics rather than wrapping around when it does not.
	if got := Ratio(1).Apply(math.MaxInt64); got != 922337203685478 { // 922337203685477.5807
		t.Fatalf("Ratio(1).Apply(MaxInt64) = %d", got)
	}
	if got := MaxRatio.Apply(math.MaxInt64 / 10); got != math.MaxInt64/10*10 {
		t.Fatalf("MaxRatio.Apply(MaxInt64/10) = %d", got)
	}
	for _, tc := range []struct {
		r Ratio
		a Amount
	}{{MaxRatio, math.MaxInt64}, {math.MaxInt64, math.MaxInt64}, {MaxRatio, math.MinInt64}, {math.MinInt64, math.MinInt64}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Ratio(%d).Apply(%d) did not panic", tc.r, tc.a)
				}
			}()
			got := tc.r.Apply(tc.a)
			t.Errorf("Ratio(%d).Apply(%d) = %d", tc.r, tc.a, got)
		}()
	}
}

// refApply is Ratio.Apply computed with math/big, in hundredths.
func refApply(r Ratio, a Amount) *big.Int {
	return refRoundHalfEven(new(big.Rat).SetFrac(
		new(big.Int).Mul(big.NewInt(int64(r)), big.NewInt(int64(a))), big.NewInt(ratioScale)))
}

// refRoundHalfEven rounds a non-negative rational half to even, the slow
// obvious way: floor, then compare the remainder with one half.
func refRoundHalfEven(x *big.Rat) *big.Int {
	q, m := new(big.Int).QuoRem(x.Num(), x.Denom(), new(big.Int))
	frac := new(big.Rat).SetFrac(m, x.Denom())
	switch frac.Cmp(big.NewRat(1, 2)) {
	case 1:
		q.Add(q, big.NewInt(1))
	case 0:
		if q.Bit(0) == 1 {
			q.Add(q, big.NewInt(1))
		}
	}
	return q
}

func TestMulDivRoundHalfEven(t *testing.T) {
	check := func(x, y, den uint64) {
		t.Helper()
		got, ok := mulDivRoundHalfEven(x, y, den)
		if den == 0 {
			if ok {
				t.Fatalf("mulDivRoundHalfEven(%d, %d, 0) = %d, ok", x, y, got)
			}
			return
		}
		num := new(big.Int).Mul(new(big.Int).SetUint64(x), new(big.Int).SetUint64(y))
		want := refRoundHalfEven(new(big.Rat).SetFrac(num, new(big.Int).SetUint64(den)))
		fits := want.IsUint64()
		if ok != fits || ok && got != want.Uint64() {
			t.Fatalf("mulDivRoundHalfEven(%d, %d, %d) = %d, %v; math/big says %s (fits: %v)", x, y, den, got, ok, want, fits)
		}
	}

	// Hand-picked: ties both ways, the 64-bit edges, division by zero.
	const max = math.MaxUint64
	for _, c := range [][3]uint64{
		{0, 0, 1}, {1, 1, 1}, {1, 1, 2}, {3, 1, 2}, {5, 1, 2}, {7, 1, 2},
		{5, 1, 10}, {15, 1, 10}, {25, 1, 10}, {35, 1, 10}, {26, 1, 10}, {24, 1, 10},
		{1, 1, 3}, {2, 1, 3}, {max, 1, 1}, {max, 1, 2}, {max, 1, max}, {max, max, max},
		{max, max, 1}, {max, 2, 2}, {max, 2, 3}, {1 << 63, 2, 2}, {1 << 63, 1, 1<<63 + 1},
		{max, max - 1, max}, {max - 1, 1, max}, {1<<32 + 1, 1<<32 - 1, 2}, {1, 1, 0}, {0, 0, 0},
		{max, 1, 2}, {max - 2, 1, 2}, {max - 1, 1, 2},
		{max / 2, 2, 1}, {max, 3, 3}, {max, 3, 2}, // quotient just fits, and just does not
	} {
		check(c[0], c[1], c[2])
	}

	// Random values of random bit lengths, so that small dividends, ties
	// (even denominators) and quotients near 2^64 all come up often.
	rng := rand.New(rand.NewPCG(5, 6))
	randBits := func() uint64 {
		n := rng.UintN(65)
		if n == 0 {
			return 0
		}
		return rng.Uint64() >> (64 - n)
	}
	for range 300000 {
		x, y, den := randBits(), randBits(), randBits()
		if rng.IntN(3) == 0 {
			// Make an exact tie: den even and x·y ≡ den/2 (mod den).
			den = 2 * (1 + rng.Uint64N(1<<31))
			x, y = den/2+den*rng.Uint64N(1<<31), 1
		}
		check(x, y, den)
	}
}

// amountPattern is the contract's grammar, used as an independent oracle.
var amountPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$`)

// ratioPattern is the ratio grammar before the range check.
var ratioPattern = regexp.MustCompile(`^(0|[1-9][0-9]*)(\.[0-9]{1,4})?$`)

// canonical is what String must give back for an accepted input: the same
// text without trailing zeros after the point, nor a bare point.
func canonical(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// FuzzParseAmount: ParseAmount never panics; it accepts exactly the
// contract's grammar; what it accepts is the value math/big reads, and
// formats back to the same text (minus trailing zeros after the point), which
// parses to the same value, also through JSON.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"3", "7.5", "0.25", "7.50", "0", "999999999999.99", "1000000000000", "-1", "01", "1.", ".5", "1e2", "٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAmount(s)
		if matches := amountPattern.MatchString(s); matches != (err == nil) {
			t.Fatalf("ParseAmount(%q) error %v, but the grammar match is %v", s, err, matches)
		}
		if err != nil {
			return
		}
		if a < 0 || a > MaxAmount {
			t.Fatalf("ParseAmount(%q) = %d, outside 0 to MaxAmount", s, a)
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok || r.Mul(r, big.NewRat(amountScale, 1)).Cmp(big.NewRat(int64(a), 1)) != 0 {
			t.Fatalf("ParseAmount(%q) = %d hundredths, math/big disagrees", s, a)
		}
		out := a.String()
		if out != canonical(s) {
			t.Fatalf("ParseAmount(%q).String() = %q, want %q", s, out, canonical(s))
		}
		back, err := ParseAmount(out)
		if err != nil || back != a {
			t.Fatalf("ParseAmount(%q) = %d, %v; want %d", out, back, err, a)
		}
		j, err := json.Marshal(a)
		if err != nil || string(j) != `"`+out+`"` {
			t.Fatalf("Marshal(%d) = %s, %v", a, j, err)
		}
		var viaJSON Amount
		if err := json.Unmarshal(j, &viaJSON); err != nil || viaJSON != a {
			t.Fatalf("Unmarshal(%s) = %d, %v; want %d", j, viaJSON, err, a)
		}
	})
}

// FuzzParseRatio: the same properties for ratios, with the range 0 < r ≤ 10.
func FuzzParseRatio(f *testing.F) {
	for _, s := range []string{"0.5", "0.3333", "1", "10", "10.0001", "0", "0.0001", "0.50", "0.33333", "-0.5", "1/3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRatio(s)
		if err != nil {
			if !ratioPattern.MatchString(s) {
				return
			}
			// The grammar holds, so the range must be what failed.
			v, ok := new(big.Rat).SetString(s)
			if !ok || v.Sign() > 0 && v.Cmp(big.NewRat(10, 1)) <= 0 {
				t.Fatalf("ParseRatio(%q) refused a ratio in range: %v", s, err)
			}
			return
		}
		if !ratioPattern.MatchString(s) {
			t.Fatalf("ParseRatio(%q) accepted text outside the grammar", s)
		}
		if r <= 0 || r > MaxRatio {
			t.Fatalf("ParseRatio(%q) = %d, outside (0, MaxRatio]", s, r)
		}
		v, ok := new(big.Rat).SetString(s)
		if !ok || v.Mul(v, big.NewRat(ratioScale, 1)).Cmp(big.NewRat(int64(r), 1)) != 0 {
			t.Fatalf("ParseRatio(%q) = %d ten-thousandths, math/big disagrees", s, r)
		}
		out := r.String()
		if out != canonical(s) {
			t.Fatalf("ParseRatio(%q).String() = %q, want %q", s, out, canonical(s))
		}
		back, err := ParseRatio(out)
		if err != nil || back != r {
			t.Fatalf("ParseRatio(%q) = %d, %v; want %d", out, back, err, r)
		}
		j, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var viaJSON Ratio
		if err := json.Unmarshal(j, &viaJSON); err != nil || viaJSON != r {
			t.Fatalf("Unmarshal(%s) = %d, %v; want %d", j, viaJSON, err, r)
		}
	})
}

// formatDecimalByStrings is how decimals were written before appendDecimal:
// the reference the stored form of every amount must keep matching.
func formatDecimalByStrings(v int64, decimals int) string {
	digits := strconv.FormatUint(absUint(v), 10)
	if len(digits) <= decimals {
		digits = strings.Repeat("0", decimals-len(digits)+1) + digits
	}
	intPart, frac := digits[:len(digits)-decimals], strings.TrimRight(digits[len(digits)-decimals:], "0")
	out := intPart
	if frac != "" {
		out += "." + frac
	}
	if v < 0 {
		out = "-" + out
	}
	return out
}

// FuzzAppendDecimal: appendDecimal writes what the string-built form did,
// for amounts and ratios, after whatever the buffer held.
func FuzzAppendDecimal(f *testing.F) {
	for _, v := range []int64{0, 1, -1, 5, 50, 350, -5, 100, 12345, math.MaxInt64, math.MinInt64} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v int64) {
		for _, d := range []int{amountDecimals, ratioDecimals} {
			want := formatDecimalByStrings(v, d)
			if got := string(appendDecimal([]byte("x"), v, d)); got != "x"+want {
				t.Fatalf("appendDecimal(%d, %d) = %q, want %q", v, d, got[1:], want)
			}
			if got := formatDecimal(v, d); got != want {
				t.Fatalf("formatDecimal(%d, %d) = %q, want %q", v, d, got, want)
			}
		}
		if got, want := string(appendQuotedAmount(nil, Amount(v))), `"`+Amount(v).String()+`"`; got != want {
			t.Fatalf("appendQuotedAmount(%d) = %s, want %s", v, got, want)
		}
	})
}
