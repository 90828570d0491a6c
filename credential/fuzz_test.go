package credential

import (
	"context"
	"strings"
	"testing"
)

// FuzzVerify feeds POST /v1/verify's parser and checks outside input:
// Parse never panics, what it accepts re-encodes to the same signing
// input, and Verify gives five checks, all failed past the format when
// the signature does not hold.
func FuzzVerify(f *testing.F) {
	fx := newFixture(&testing.T{})
	good := fx.issue(&testing.T{}, 3)
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJFZERTQSIsImtpZCI6ImsiLCJ0eXAiOiJ2Yytqd3QifQ.e30.")
	v := fx.verifier()
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := Parse(s)
		if err == nil {
			parts := strings.Split(s, ".")
			if b64.EncodeToString(tok.Payload) != parts[1] || tok.signingInput != parts[0]+"."+parts[1] {
				t.Fatalf("parsed %q does not re-encode", s)
			}
		}
		r := v.Verify(context.Background(), s)
		if len(r.Checks) != 5 {
			t.Fatalf("%d checks", len(r.Checks))
		}
		if r.Valid && strings.TrimSpace(s) != good {
			t.Fatalf("a credential other than the one signed verified: %q", s)
		}
	})
}

// FuzzParseLink feeds GET /v1/credentials/{ref} and /verify?id= their
// outside input: ParseLink never panics, and what it accepts is exactly
// the link of the seq it names.
func FuzzParseLink(f *testing.F) {
	k, err := NewKey()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(k.Link(7))
	f.Add(k.Link(18446744073709551615))
	f.Add("7-")
	f.Add("-AAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, ref string) {
		if seq, ok := k.ParseLink(ref); ok && k.Link(seq) != ref {
			t.Fatalf("ParseLink(%q) = %d, whose link is %q", ref, seq, k.Link(seq))
		}
	})
}
