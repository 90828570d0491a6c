package ledger

import "testing"

func TestCheckOrigin(t *testing.T) {
	for _, c := range []struct {
		origin string
		ok     bool
	}{
		{DefaultOrigin, true},
		{"credits.example.gov/tlog", true},
		{"credits.example.gov:8443/bank/tlog", true},
		{"sigsum.org/v1/tree/4d6d8825", true},
		{"a-b.example/x_y~z.w", true},
		{"credits.example.gov", false},
		{"credits.example.gov/", false},
		{"credits.example.gov/tlog/", false},
		{"credits.example.gov//tlog", false},
		{"credits.example.gov/../tlog", false},
		{"https://credits.example.gov/tlog", false},
		{"Credits.example.gov/tlog", false},
		{"localhost/tlog", false},
		{"127.0.0.1/tlog", false},
		{"-a.example/tlog", false},
		{"a..example/tlog", false},
		{"credits.example.gov:0/tlog", false},
		{"credits.example.gov:080/tlog", false},
		{"credits.example.gov:70000/tlog", false},
		{"credits.example.gov/a+b", false},
		{"credits.example.gov/a b", false},
		{"credits.example.gov/caf\u00e9", false},
		{"", false},
	} {
		if err := CheckOrigin(c.origin); (err == nil) != c.ok {
			t.Errorf("CheckOrigin(%q) = %v, want ok %v", c.origin, err, c.ok)
		}
	}
}
