package witness

import (
	"crypto/ed25519"
	"crypto/rand"
	"strconv"
	"strings"
	"testing"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
)

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0\n", 0, true}, {"20852014\n", 20852014, true}, {"9223372036854775807\n", 1<<63 - 1, true},
		{"", 0, false}, {"\n", 0, false}, {"12", 0, false}, {"012\n", 0, false}, {"+1\n", 0, false}, {"-1\n", 0, false},
		{"1 \n", 0, false}, {"1\n\n", 0, false}, {"9223372036854775808\n", 0, false}, {"1\r\n", 0, false},
	} {
		got, err := ParseSize([]byte(c.in))
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseSize(%q) = %d, %v", c.in, got, err)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	f.Add([]byte("20\n"))
	f.Add([]byte("0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseSize(b)
		if err == nil && strconv.FormatUint(n, 10)+"\n" != string(b) {
			t.Fatalf("ParseSize(%q) = %d, written back otherwise", b, n)
		}
	})
}

func TestParseSignatureLines(t *testing.T) {
	good := "— witness.example/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
	if lines, err := ParseSignatureLines([]byte(good + good)); err != nil || len(lines) != 2 {
		t.Errorf("two lines: %v, %v", lines, err)
	}
	for _, bad := range []string{"", "\n", strings.TrimSuffix(good, "\n"), good + "\n", "- w AAAAAAA=\n",
		"— w\n", "— w  AAAAAAA=\n", "— w !!!!\n", "— w AAA=\n", "— w+x AAAAAAA=\n", good + "junk\n"} {
		if lines, err := ParseSignatureLines([]byte(bad)); err == nil {
			t.Errorf("ParseSignatureLines(%q) = %q, want an error", bad, lines)
		}
	}
}

func FuzzParseSignatureLines(f *testing.F) {
	f.Add([]byte("— witness.example/w1 jWbPPwAAAABkGFDL\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		lines, err := ParseSignatureLines(b)
		if err == nil && strings.Join(lines, "\n")+"\n" != string(b) {
			t.Fatalf("ParseSignatureLines(%q) = %q, which do not make the answer", b, lines)
		}
	})
}

// TestVerifierAgainstTorchwood: our cosignature verifier checks what
// torchwood's cosigner signs (the signer litewitness uses), with the key
// torchwood writes, and nothing else.
func TestVerifierAgainstTorchwood(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := torchwood.NewCosignatureSigner("witness.example/w1", priv)
	if err != nil {
		t.Fatal(err)
	}
	vkey := VerifierKey("witness.example/w1", pub)
	if vkey != s.Verifier().String() {
		t.Fatalf("VerifierKey %s, torchwood %s", vkey, s.Verifier())
	}
	v, err := NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	text := "credits.example.gov/tlog\n5\nKgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
	signed, err := note.Sign(&note.Note{Text: text}, s)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := note.Open(signed, note.VerifierList(v)); err != nil || len(n.Sigs) != 1 {
		t.Fatalf("open a torchwood cosignature: %v", err)
	}
	other := strings.Replace(string(signed), "\n5\n", "\n6\n", 1)
	if _, err := note.Open([]byte(other), note.VerifierList(v)); err == nil {
		t.Fatal("a cosignature of size 5 verified for size 6")
	}
	// An Ed25519 note key (type 0x01) is no cosigner key.
	_, logKey, _ := note.GenerateKey(rand.Reader, "credits.example.gov/tlog")
	for _, bad := range []string{logKey, "", "w+0000000+AA==", strings.Replace(vkey, "w1", "w2", 1), vkey + "x", strings.ToUpper(vkey[:20]) + vkey[20:]} {
		if _, err := NewVerifier(bad); err == nil {
			t.Errorf("NewVerifier(%q) accepted", bad)
		}
	}
}

// FuzzNewVerifier: a verifier key parses only as VerifierKey writes it.
func FuzzNewVerifier(f *testing.F) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	f.Add(VerifierKey("witness.example/w1", pub))
	f.Fuzz(func(t *testing.T, s string) {
		v, err := NewVerifier(s)
		if err != nil {
			return
		}
		if again := VerifierKey(v.Name(), v.key); again != s {
			t.Fatalf("NewVerifier(%q) written back as %q", s, again)
		}
	})
}
