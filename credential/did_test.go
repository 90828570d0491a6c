package credential

import "testing"

// TestDIDWeb names the did:web of https URLs of a host alone, and of no
// other URL.
func TestDIDWeb(t *testing.T) {
	for base, want := range map[string]string{
		"https://credits.example.gov":      "did:web:credits.example.gov",
		"https://credits.example.gov/":     "did:web:credits.example.gov",
		"https://localhost:8443":           "did:web:localhost%3A8443",
		"http://credits.example.gov":       "",
		"https://credits.example.gov/bank": "",
		"https://user@credits.example.gov": "",
		"https://credits.example.gov/?a=b": "",
		"https://":                         "",
		"localhost:8080":                   "",
		"https://credits.example.gov#frag": "",
	} {
		got, ok := DIDWeb(base)
		if got != want || ok != (want != "") {
			t.Errorf("DIDWeb(%q) = %q, %v; want %q", base, got, ok, want)
		}
	}
}
