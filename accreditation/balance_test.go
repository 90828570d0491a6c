package accreditation

import (
	"reflect"
	"testing"
)

// TestBalanceChanges: a balance is the JSON one an older store holds plus
// every change appended since, and malformed changes are refused.
func TestBalanceChanges(t *testing.T) {
	target := Target{Institution: "univ.example", Programme: "BSC-CS"}
	tests := []struct {
		name   string
		legacy string
		apply  func(s store)
		want   *Balance
		bad    bool
	}{
		{name: "none", apply: func(store) {}, want: newBalance("L1")},
		{name: "credits and grants", apply: func(s store) {
			_ = addCreditsDelta(s, "L1", "degree", 6, 300)
			_ = addCreditsDelta(s, "L1", "vocational", 3, 150)
			_ = addGrantedDelta(s, "L1", target, 250)
		}, want: &Balance{Learner: "L1", StandardCredits: 450,
			BySector: map[string]map[string]Amount{"degree": {"5-6": 300}, "vocational": {"3-4": 150}},
			Granted:  map[string]Amount{"univ.example/BSC-CS": 250}}},
		{name: "taken back to nothing", apply: func(s store) {
			_ = addCreditsDelta(s, "L1", "degree", 6, 300)
			_ = addGrantedDelta(s, "L1", target, 250)
			_ = addGrantedDelta(s, "L1", target, -250)
			_ = addCreditsDelta(s, "L1", "degree", 5, -300)
		}, want: newBalance("L1")},
		{name: "legacy JSON then changes",
			legacy: `{"learner":"L1","standard_credits":"10","by_sector":{"degree":{"5-6":"10"}},"granted":{"univ.example/BSC-CS":"2"}}`,
			apply: func(s store) {
				_ = addCreditsDelta(s, "L1", "degree", 5, 150)
				_ = addGrantedDelta(s, "L1", target, 100)
			}, want: &Balance{Learner: "L1", StandardCredits: 1150,
				BySector: map[string]map[string]Amount{"degree": {"5-6": 1150}},
				Granted:  map[string]Amount{"univ.example/BSC-CS": 300}}},
		{name: "unknown kind", apply: func(s store) { s.appendValue(balanceDeltaKey("L1"), []byte("x")) }, bad: true},
		{name: "unknown sector", apply: func(s store) { s.appendValue(balanceDeltaKey("L1"), []byte{'c', 99, 5, 2}) }, bad: true},
		{name: "cut short", apply: func(s store) { s.appendValue(balanceDeltaKey("L1"), []byte{'g', 20, 'u'}) }, bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := memStore{}
			if tc.legacy != "" {
				s.put(balanceKey("L1"), []byte(tc.legacy))
			}
			tc.apply(s)
			got, err := loadBalance(s, "L1")
			if tc.bad {
				if err == nil {
					t.Fatalf("loadBalance = %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.Cost = Cost{} // what reading cost, TestCostGrowsWithWork's
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("loadBalance = %+v, want %+v", got, tc.want)
			}
		})
	}
	if err := addCreditsDelta(memStore{}, "L1", "nowhere", 5, 100); err == nil {
		t.Fatal("a change for an unknown sector was written")
	}
}
