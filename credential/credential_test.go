package credential

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"creditbank/accreditation"
)

const base = "https://credits.example.test"

// fixture is an issuer, a status list with one revoked index, and a
// verifier over them whose log proves every entry.
type fixture struct {
	issuer *Issuer
	bits   Bitstring
	// list is the signed list the verifier fetches; tests replace it.
	list string
	now  time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{issuer: &Issuer{Key: k, Base: base, Name: "Test bank", Origin: "credits.example.test/tlog"}, bits: NewBitstring(ListBits),
		now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	f.bits.Set(7)
	f.list = SignStatusList(k, base, "1", f.bits, f.now)
	return f
}

func (f *fixture) verifier() *Verifier {
	pub := f.issuer.Key.Private.Public().(ed25519.PublicKey)
	return &Verifier{Issuer: base,
		Key:        func(kid string) (ed25519.PublicKey, bool) { return pub, kid == f.issuer.Key.Kid },
		StatusList: func(context.Context, string) (string, error) { return f.list, nil },
		Prove: func(_ context.Context, es []Entry) (string, error) {
			for _, e := range es {
				if e.LeafHash != leaf(e.Seq).LeafHash {
					return "", errors.New("not in the log")
				}
			}
			return "proved", nil
		},
		Now: func() time.Time { return f.now.Add(time.Hour) },
	}
}

func leaf(seq uint64) Entry {
	var h [32]byte
	h[0] = byte(seq)
	return NewEntry(seq, "outcome.recorded", h)
}

func (f *fixture) issue(t *testing.T, index uint64) string {
	t.Helper()
	o := Outcome{Entry: leaf(3), Institution: Institution{ID: "college.example", Name: "A College"}, UnitCode: "CS101", UnitTitle: "Programming",
		Sector: "degree", Level: 6, Field: "0613", FieldName: "Software", Credits: "4", CreditSystem: "cn-credit", StandardCredits: "4",
		Passed: true, Score: "88", CompletedOn: "2026-01-15"}
	jwt, _, err := f.issuer.Issue(Request{Kind: KindOutcome, ID: "urn:uuid:00000000-0000-4000-8000-000000000001", Learner: "L1",
		Outcomes: []Outcome{o}, List: "1", Index: index, Issued: leaf(9), IssuedAt: f.now})
	if err != nil {
		t.Fatal(err)
	}
	return jwt
}

func failed(r Result) []string {
	var out []string
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c.Check)
		}
	}
	return out
}

func TestVerifyValid(t *testing.T) {
	f := newFixture(t)
	r := f.verifier().Verify(context.Background(), f.issue(t, 3))
	if !r.Valid || r.Revoked || len(r.Checks) != 5 {
		t.Fatalf("%+v", r)
	}
	r = f.verifier().Verify(context.Background(), f.issue(t, 7))
	if r.Valid || !r.Revoked || strings.Join(failed(r), ",") != CheckStatus {
		t.Fatalf("revoked index: %+v", r)
	}
}

// resign replaces the payload's member at path (dotted) by v and joins it
// to the original header and signature.
func tamper(t *testing.T, jwt string, change func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	p, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err := json.Unmarshal(p, &claims); err != nil {
		t.Fatal(err)
	}
	change(claims)
	b, _ := json.Marshal(claims)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
}

func subject(c map[string]any) map[string]any { return c["credentialSubject"].(map[string]any) }
func achievement(c map[string]any) map[string]any {
	return subject(c)["achievement"].(map[string]any)
}

// TestTamperEachClaim changes one claim of a signed credential at a time,
// keeping the signature: each is caught by the signature check, and
// nothing of the changed credential is read as stated.
func TestTamperEachClaim(t *testing.T) {
	f := newFixture(t)
	jwt := f.issue(t, 3)
	for name, change := range map[string]func(map[string]any){
		"issuer":       func(c map[string]any) { c["issuer"].(map[string]any)["name"] = "Another bank" },
		"iss":          func(c map[string]any) { c["iss"] = "https://evil.example" },
		"validFrom":    func(c map[string]any) { c["validFrom"] = "2020-01-01T00:00:00Z" },
		"learner":      func(c map[string]any) { subject(c)["id"] = base + "/v1/learners/L2" },
		"unit title":   func(c map[string]any) { achievement(c)["name"] = "Advanced Programming" },
		"credits":      func(c map[string]any) { achievement(c)["creditsAvailable"] = 40 },
		"level":        func(c map[string]any) { achievement(c)["tag"] = []string{"level:9"} },
		"creator":      func(c map[string]any) { achievement(c)["creator"].(map[string]any)["name"] = "A University" },
		"score":        func(c map[string]any) { subject(c)["result"].([]any)[1].(map[string]any)["value"] = "100" },
		"status index": func(c map[string]any) { c["credentialStatus"].(map[string]any)["statusListIndex"] = "8" },
		"ledger leaf hash": func(c map[string]any) {
			c["ledgerRecord"].(map[string]any)["entries"].([]any)[0].(map[string]any)["seq"] = 4
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := f.verifier().Verify(context.Background(), tamper(t, jwt, change))
			if r.Valid || r.Claims != nil || !strings.Contains(strings.Join(failed(r), ","), CheckSignature) {
				t.Fatalf("changed %s: %+v", name, r)
			}
		})
	}
}

// TestTamperSignature flips a bit of the signature, and signs the same
// claims with another key under the issuer's kid: both are refused.
func TestTamperSignature(t *testing.T) {
	f := newFixture(t)
	jwt := f.issue(t, 3)
	sig := []byte(jwt[strings.LastIndexByte(jwt, '.')+1:])
	sig[3] ^= 1
	if sig[3] == '.' || strings.ContainsRune(string(sig), '=') {
		t.Fatal("bad flip")
	}
	flipped := jwt[:strings.LastIndexByte(jwt, '.')+1] + string(sig)
	other, _ := NewKey()
	other.Kid = f.issuer.Key.Kid
	tok, _ := Parse(jwt)
	forged := Sign(other, tok.Payload)
	for name, c := range map[string]string{"flipped bit": flipped, "another key": forged} {
		r := f.verifier().Verify(context.Background(), c)
		if r.Valid || strings.Join(failed(r), ",") != "signature,validity,status,inclusion" {
			t.Errorf("%s: %+v", name, r)
		}
	}
}

// TestTamperStatusList serves a list with a bit flipped but the signature
// kept, and one signed with another key under the issuer's kid: the
// status check fails on each, and a list signed by the issuer is read.
func TestTamperStatusList(t *testing.T) {
	f := newFixture(t)
	jwt := f.issue(t, 3)
	signed := f.list
	flipped := NewBitstring(ListBits)
	copy(flipped, f.bits)
	flipped.Set(3)
	resigned := SignStatusList(f.issuer.Key, base, "1", flipped, f.now)
	// The flipped list's claims under the original list's signature.
	forgedBits := resigned[:strings.LastIndexByte(resigned, '.')] + signed[strings.LastIndexByte(signed, '.'):]
	other, _ := NewKey()
	other.Kid = f.issuer.Key.Kid
	for name, c := range map[string]struct {
		list    string
		revoked bool
		detail  string
	}{
		"flipped bit, signature kept": {forgedBits, false, "signature does not verify"},
		"signed with another key":     {SignStatusList(other, base, "1", f.bits, f.now), false, "signature does not verify"},
		"bit set by the issuer":       {resigned, true, "revoked"},
	} {
		f.list = c.list
		r := f.verifier().Verify(context.Background(), jwt)
		st := r.Checks[3]
		if r.Valid || st.Check != CheckStatus || st.OK || r.Revoked != c.revoked || !strings.Contains(st.Detail, c.detail) {
			t.Errorf("%s: %+v", name, r)
		}
	}
}

func TestParseStrict(t *testing.T) {
	f := newFixture(t)
	jwt := f.issue(t, 3)
	enc := base64.RawURLEncoding.EncodeToString
	parts := strings.Split(jwt, ".")
	for name, tok := range map[string]string{
		"two parts":        parts[0] + "." + parts[1],
		"alg none":         enc([]byte(`{"alg":"none","kid":"k","typ":"vc+jwt"}`)) + "." + parts[1] + ".",
		"HS256":            enc([]byte(`{"alg":"HS256","kid":"k","typ":"vc+jwt"}`)) + "." + parts[1] + "." + parts[2],
		"crit":             enc([]byte(`{"alg":"EdDSA","kid":"k","typ":"vc+jwt","crit":["x"]}`)) + "." + parts[1] + "." + parts[2],
		"typ JWT":          enc([]byte(`{"alg":"EdDSA","kid":"k","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2],
		"padded":           parts[0] + "=." + parts[1] + "." + parts[2],
		"duplicate member": parts[0] + "." + enc([]byte(`{"iss":"a","iss":"b"}`)) + "." + parts[2],
		"nested duplicate": parts[0] + "." + enc([]byte(`{"a":{"b":1,"b":2}}`)) + "." + parts[2],
		"array payload":    parts[0] + "." + enc([]byte(`[1]`)) + "." + parts[2],
		"trailing text":    parts[0] + "." + enc([]byte(`{} {}`)) + "." + parts[2],
		"not UTF-8":        parts[0] + "." + enc([]byte("{\"a\":\"\xff\"}")) + "." + parts[2],
	} {
		if _, err := Parse(tok); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	if _, err := Parse(jwt); err != nil {
		t.Fatal(err)
	}
}

func TestBitstringEncoding(t *testing.T) {
	b := NewBitstring(ListBits)
	for _, i := range []uint64{0, 1, 7, 8, 65535, ListBits - 1} {
		b.Set(i)
	}
	if b[0] != 0xC1 || b[1] != 0x80 {
		t.Fatalf("index 0 must be the first byte's most significant bit: %08b %08b", b[0], b[1])
	}
	got, err := DecodeBitstring(b.Encode())
	if err != nil || string(got) != string(b) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := DecodeBitstring("u" + NewBitstring(8).Encode()[1:]); err == nil {
		t.Fatal("a list shorter than the spec's minimum decoded")
	}
}

// TestListSizesAgree: the bank draws indexes below the length of the
// lists this package signs.
func TestListSizesAgree(t *testing.T) {
	if accreditation.StatusListBits != ListBits {
		t.Fatalf("accreditation.StatusListBits %d, credential.ListBits %d", accreditation.StatusListBits, ListBits)
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	k, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi.Mode(), err)
	}
	again, err := LoadOrCreateKey(dir)
	if err != nil || again.Kid != k.Kid || !again.Private.Equal(k.Private) {
		t.Fatalf("reloaded key differs: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	if _, err := ParseKey([]byte(strings.Replace(string(b), k.Kid, "other", 1))); err == nil {
		t.Fatal("a key file whose kid is not its thumbprint was read")
	}
}
