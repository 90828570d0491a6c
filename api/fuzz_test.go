package api

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"creditbank/accreditation"
)

// Fuzz targets for every decoder of outside input in this package: the
// bodies of POST /v1/outcomes (single and batch), /v1/rules,
// /v1/conversions and an institution's keys (JWK), each through the real
// handler over a temporary ledger, the outcome decoder's fast path, bearer
// tokens, and the outcomes parameter of GET /v1/audit/scores. Seeds are in testdata/fuzz/<Name>/. The decoders of other
// packages have their own: internal/jsonscan (the JSON form check and the
// scanner the outcome decoder reads with), accreditation (amounts, ratios,
// fields, outcomes, JWKs) and ledger (entries, checkpoints, cursors).

// fuzzAPI is the handler over a fresh ledger with an accredited
// institution ("fuzz.example"), an outcome of it and a rule toward it.
type fuzzAPI struct {
	s        *testServer
	admin    string
	reg      string
	inst     string
	instKey  PrivateKey
	esKey    PrivateKey
	outcome  []byte
	rule     []byte
	baseSeq  uint64
	conv     []byte
	keyBody  []byte
	services PrivateKey
}

func fuzzOutcome(key string) []byte {
	return fmt.Appendf(nil, `{"idempotency_key":%q,"learner":"L000123","unit":{"code":"CS101","title":"Introduction to Programming"},"sector":"non_degree","level":6,"field":"0613","credits":{"amount":"3","system":"cn-credit"},"hours":48,"result":{"passed":true,"score":"86"},"completed_on":"2026-07-01"}`, key)
}

func newFuzzAPI(f *testing.F) *fuzzAPI {
	s := newTestServer(f)
	a := &fuzzAPI{s: s, admin: s.token(f, "admin", "root"), reg: s.token(f, "regulator", "moe"), services: s.tokenKey}
	a.instKey = s.institution(f, "fuzz.example")
	a.inst = instToken(f, a.instKey, "fuzz.example")
	es, err := GenerateKey("ES256")
	if err != nil {
		f.Fatal(err)
	}
	a.esKey = es
	esPub, _ := es.Public()
	a.keyBody, _ = json.Marshal(esPub)
	a.outcome = fuzzOutcome("fuzz-base-1")
	code, out := a.post(f, "/v1/outcomes", a.inst, a.outcome)
	if code != http.StatusCreated {
		f.Fatalf("set-up outcome: %d %s", code, out)
	}
	var o struct{ Seq uint64 }
	_ = json.Unmarshal(out, &o)
	a.baseSeq = o.Seq
	a.rule = []byte(`{"id":"fuzz-rule","target":{"institution":"fuzz.example","programme":"BSC-CS"},"source":{"sectors":["non_degree","vocational"],"min_level":5,"fields":["06"],"min_score":"60","max_age_days":1825,"institutions":[]},"ratio":"0.5","cap":"20","valid_from":"2026-01-01","valid_until":null}`)
	if code, out := a.post(f, "/v1/rules", a.reg, a.rule); code != http.StatusCreated {
		f.Fatalf("set-up rule: %d %s", code, out)
	}
	a.conv = fmt.Appendf(nil, `{"learner":"L000123","rule":"fuzz-rule","outcomes":[%d]}`, a.baseSeq)
	return a
}

// post calls the handler directly (no network) and returns the answer.
func (a *fuzzAPI) post(t testing.TB, path, token string, body []byte) (int, []byte) {
	req := httptest.NewRequest("POST", path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	a.s.Config.Handler.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// check posts body and insists on an answer below 500 (a panic in a
// handler is answered 500 by the recovery in ServeHTTP) and on a 2xx only
// for a body the route can decode.
func (a *fuzzAPI) check(t *testing.T, path, token string, body []byte, valid func([]byte) bool) {
	size := a.s.ledger.Size()
	code, out := a.post(t, path, token, body)
	switch {
	case code >= 500:
		t.Fatalf("POST %s %q: %d %s", path, body, code, out)
	case code/100 == 2 && !valid(body):
		t.Fatalf("POST %s %q: %d for a body the route cannot decode: %s", path, body, code, out)
	case code/100 != 2 && a.s.ledger.Size() != size:
		t.Fatalf("POST %s %q: %d, yet the ledger grew from %d to %d", path, body, code, size, a.s.ledger.Size())
	}
}

func addSeeds(f *testing.F, valid []byte) {
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add([]byte(`{}`))
	f.Add([]byte(strings.Repeat(`[`, 40)))
	f.Add(bytes.Replace(valid, []byte(`":`), []byte("\":\"\xff\","), 1))
}

// FuzzOutcomeBody posts single outcomes and batches.
func FuzzOutcomeBody(f *testing.F) {
	a := newFuzzAPI(f)
	addSeeds(f, a.outcome)
	f.Add(fmt.Appendf(nil, `{"outcomes":[%s,%s]}`, fuzzOutcome("fuzz-b-1"), fuzzOutcome("fuzz-b-2")))
	f.Add([]byte(`{"outcomes":[]}`))
	f.Add([]byte(`{"outcomes":[1,"a",null,{}]}`))
	f.Add([]byte(`{"outcomes":null,"idempotency_key":"x"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		a.check(t, "/v1/outcomes", a.inst, body, validOutcomesBody)
	})
}

// FuzzRuleBody publishes rules.
func FuzzRuleBody(f *testing.F) {
	a := newFuzzAPI(f)
	addSeeds(f, a.rule)
	f.Add([]byte(`{"id":"fuzz-rule","target":{"institution":"fuzz.example","programme":"P"},"source":{"sectors":[],"min_level":0,"fields":[],"min_score":null,"max_age_days":null,"institutions":["fuzz.example"]},"ratio":"1","cap":null,"valid_from":"2026-01-01","valid_until":"2025-01-01"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		a.check(t, "/v1/rules", a.reg, body, strictInto[accreditation.RuleInput]())
	})
}

// FuzzConversionBody requests conversions.
func FuzzConversionBody(f *testing.F) {
	a := newFuzzAPI(f)
	addSeeds(f, a.conv)
	f.Add([]byte(`{"learner":"L000123","rule":"fuzz-rule"}`))
	f.Add([]byte(`{"learner":"L000123","rule":"fuzz-rule","outcomes":[18446744073709551615,0,1,1]}`))
	f.Add([]byte(`{"learner":"L000123","rule":"fuzz-rule","outcomes":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		a.check(t, "/v1/conversions", a.admin, body, strictInto[accreditation.ConversionRequest]())
	})
}

// FuzzKeyBody adds institution keys: a JWK from outside.
func FuzzKeyBody(f *testing.F) {
	a := newFuzzAPI(f)
	addSeeds(f, a.keyBody)
	edPub, _ := a.instKey.Public()
	ed, _ := json.Marshal(edPub)
	f.Add(ed)
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","kid":"k1","alg":"EdDSA"}`))
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"AA","y":"AA","kid":"k2","alg":"ES256"}`))
	f.Add([]byte(`{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"k3","alg":"RS256"}`))
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","kid":"identity"}`))
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"` + smallOrderX + `","kid":"order8"}`))
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"8P_______________________________________38","kid":"unreduced"}`))
	f.Add(bytes.Replace(ed, []byte(`"alg":"EdDSA"`), []byte(`"alg":"Ed25519"`), 1))
	f.Add(bytes.Replace(ed, []byte(`"kid":"`+edPub.Kid+`",`), nil, 1))
	f.Fuzz(func(t *testing.T, body []byte) {
		a.check(t, "/v1/institutions/fuzz.example/keys", a.admin, body, strictInto[accreditation.PublicJWK]())
	})
}

// FuzzToken: Authenticate never panics, and accepts a token only when its
// signature verifies under one of the known keys (the service key or an
// institution's registered one) and the actor is the token's subject.
func FuzzToken(f *testing.F) {
	a := newFuzzAPI(f)
	esPub, _ := a.esKey.Public()
	if code, out := a.post(f, "/v1/institutions/fuzz.example/keys", a.admin, a.keyBody); code != http.StatusCreated {
		f.Fatalf("add ES256 key: %d %s", code, out)
	}
	svcPub, _ := a.services.Public()
	edPub, _ := a.instKey.Public()
	known := []accreditation.PublicJWK{svcPub, edPub, esPub}
	esTok := instToken(f, a.esKey, "fuzz.example")
	for _, tok := range []string{a.admin, a.reg, a.inst, esTok, a.s.token(f, "learner", "L000123")} {
		f.Add("Bearer " + tok)
		f.Add("bearer  " + tok)
		f.Add("Bearer " + tok[:len(tok)-2])
		parts := strings.Split(tok, ".")
		f.Add("Bearer " + parts[0] + "." + parts[1] + ".")
		f.Add("Bearer " + base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".")
		f.Add("Bearer " + base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT","kid":"x"}`)) + "." + parts[1] + "." + parts[2])
	}
	// Signed tokens the form check refuses, and two forms it accepts.
	now := time.Now().Unix()
	edHdr := fmt.Sprintf(`{"alg":"EdDSA","kid":%q}`, a.instKey.Kid)
	instPayload := fmt.Sprintf(`{"iss":"fuzz.example","sub":"fuzz.example","aud":"creditbank","iat":%d,"exp":%d`, now, now+600)
	for _, hp := range [][2]string{
		{fmt.Sprintf(`{"alg":"EdDSA","kid":%q,"crit":["exp"]}`, a.instKey.Kid), instPayload + `}`},
		{fmt.Sprintf(`{"alg":"EdDSA","kid":"x","kid":%q}`, a.instKey.Kid), instPayload + `}`},
		{edHdr, instPayload + `,"sub":"fuzz.example"}`},
		{edHdr, `{"iss":"fuzz.example","sub":"fuzz.example","aud":"creditbank","iat":"1","exp":"99999999999"}`},
		{edHdr, instPayload + `,"EXP":1}`},
		{fmt.Sprintf(`{"alg":"Ed25519","kid":%q}`, a.instKey.Kid), instPayload + `}`},
	} {
		f.Add("Bearer " + signRaw(f, a.instKey, hp[0], hp[1]))
	}
	if parts := strings.Split(esTok, "."); len(parts) == 3 {
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		s := new(big.Int).Sub(elliptic.P256().Params().N, new(big.Int).SetBytes(sig[32:]))
		f.Add("Bearer " + parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(append(sig[:32:32], s.FillBytes(make([]byte, 32))...)))
	}
	f.Add("")
	f.Add("Basic dXNlcjpwYXNz")
	f.Add("Bearer ")
	f.Add("Bearer a.b.c")
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest("GET", "/v1/institutions/fuzz.example", nil)
		req.Header.Set("Authorization", header)
		actor, err := a.s.auth.Authenticate(req)
		if err != nil {
			if _, ok := err.(*tokenError); !ok {
				t.Fatalf("Authenticate(%q): %v is not a refusal", header, err)
			}
			return
		}
		_, tok, _ := strings.Cut(header, " ")
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			t.Fatalf("Authenticate(%q) accepted a token of %d parts", header, len(parts))
		}
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil {
			t.Fatalf("Authenticate(%q) accepted a signature that is not base64url: %v", header, err)
		}
		signed := []byte(parts[0] + "." + parts[1])
		ok := false
		for _, k := range known {
			switch pk := k.Key.(type) {
			case ed25519.PublicKey:
				ok = ok || ed25519.Verify(pk, signed, sig)
			case *ecdsa.PublicKey:
				if len(sig) == 64 {
					h := sha256.Sum256(signed)
					r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
					ok = ok || ecdsa.Verify(pk, h[:], r, s)
				}
			}
		}
		if !ok {
			t.Fatalf("Authenticate(%q) accepted a token no known key signed", header)
		}
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Sub string `json:"sub"`
		}
		if err := json.Unmarshal(payload, &c); err != nil || c.Sub != actor.ID {
			t.Fatalf("Authenticate(%q) = %+v, but the token's sub is %q (%v)", header, actor, c.Sub, err)
		}
		checkAcceptedForm(t, parts[0], payload)
	})
}

// checkAcceptedForm fails t unless an accepted token's header and claims
// have the form docs/contract.md section 2 requires, checked here by a
// walk of encoding/json's tokens rather than by the code under test.
func checkAcceptedForm(t *testing.T, headerSegment string, payload []byte) {
	h, err := base64.RawURLEncoding.DecodeString(headerSegment)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range [][]byte{h, payload} {
		if !utf8.Valid(part) || !uniqueNames(json.NewDecoder(bytes.NewReader(part))) {
			t.Fatalf("accepted a token part %q that repeats a name or is not UTF-8", part)
		}
	}
	var hdr map[string]any
	if err := json.Unmarshal(h, &hdr); err != nil {
		t.Fatal(err)
	}
	if _, crit := hdr["crit"]; crit {
		t.Fatalf("accepted a header with crit: %s", h)
	}
	if alg := hdr["alg"]; alg != "EdDSA" && alg != "Ed25519" && alg != "ES256" {
		t.Fatalf("accepted alg %v", alg)
	}
	var claims map[string]any
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"exp", "iat", "nbf"} {
		if v, ok := claims[name]; ok {
			if _, number := v.(json.Number); !number {
				t.Fatalf("accepted %s = %v", name, v)
			}
		}
	}
}

// uniqueNames reports whether the JSON value dec reads next uses each
// member name once in every object.
func uniqueNames(dec *json.Decoder) bool {
	tok, err := dec.Token()
	if err != nil {
		return false
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return true
	}
	seen := map[string]bool{}
	for dec.More() {
		if delim == '{' {
			t, err := dec.Token()
			name, _ := t.(string)
			if err != nil || seen[name] {
				return false
			}
			seen[name] = true
		}
		if !uniqueNames(dec) {
			return false
		}
	}
	_, err = dec.Token()
	return err == nil
}

// outcomeSeeds are outcome bodies in the shapes the fast decoder reads and
// in shapes it must leave to decodeStrict.
var outcomeSeeds = []string{
	`{"idempotency_key":"k1","learner":"L1","unit":{"code":"CS101","title":"Intro"},"sector":"degree","level":6,"field":"0613",` +
		`"credits":{"amount":"3","system":"cn-credit"},"hours":48,"result":{"passed":true,"score":"86"},"completed_on":"2026-07-01"}`,
	` { "learner" : "L1" , "unit" : { "title" : "程序设计基础" } , "recorded_at" : {"a":[1,null]}, "supersedes": 7 } `,
	`{"evidence_sha256":"00ff","result":{"passed":false},"hours":-0,"level":-3}`,
	`{"hours":null}`, `{"result":{"score":null}}`, `{"credits":{"amount":null}}`, `{"level":6.0}`, `{"level":1e2}`,
	`{"level":"6"}`, `{"learner":"L\u0031"}`, `{"learner":1}`, `{"unit":[]}`, `{"extra":1}`, `{"ſector":"degree"}`,
	`{"supersedes":-1}`, `{"supersedes":18446744073709551616}`, `{"level":9223372036854775808}`, `{"credits":{"amount":"7.555"}}`,
	`{"credits":{"amount":7.5}}`, `{}`, `[]`, `null`, `{"recorded_at":"x"} `,
}

// FuzzDecodeOutcome: whenever the fast decoders of outcome bodies answer,
// decodeStrict, the reference, gives the same value; where they do not,
// the handler falls back to it, so the two never disagree.
func FuzzDecodeOutcome(f *testing.F) {
	for _, s := range outcomeSeeds {
		f.Add([]byte(s))
		f.Add([]byte(`{"outcomes":[` + s + `,` + s + `]}`))
	}
	f.Add([]byte(`{"outcomes":[]}`))
	f.Add([]byte(`{"outcomes":[1,"x",[]],"more":1}`))
	f.Add([]byte(`{"outcomes":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !utf8.Valid(data) || checkJSON(data) != nil {
			return // readBody refuses it before any decoding
		}
		if in, ok := decodeOutcome(data); ok {
			var want outcomeBody
			if err := decodeStrict(data, &want); err != nil {
				t.Fatalf("decodeOutcome(%q) answered, decodeStrict: %v", data, err)
			}
			if !reflect.DeepEqual(in, want.OutcomeInput) {
				t.Fatalf("decodeOutcome(%q) = %+v, decodeStrict %+v", data, in, want.OutcomeInput)
			}
		}
		if items, ok := outcomeItems(data); ok {
			var want struct {
				Outcomes []json.RawMessage `json:"outcomes"`
			}
			if err := decodeStrict(data, &want); err != nil {
				t.Fatalf("outcomeItems(%q) answered, decodeStrict: %v", data, err)
			}
			if len(items) != len(want.Outcomes) || want.Outcomes == nil {
				t.Fatalf("outcomeItems(%q) = %d items, decodeStrict %d", data, len(items), len(want.Outcomes))
			}
			for i := range items {
				if !bytes.Equal(items[i], want.Outcomes[i]) {
					t.Fatalf("outcomeItems(%q) item %d = %q, decodeStrict %q", data, i, items[i], want.Outcomes[i])
				}
			}
		}
	})
}

// TestDecodeOutcomeFastPath: the shapes institutions send are read by the
// fast path; the rest go to decodeStrict (checked by FuzzDecodeOutcome).
func TestDecodeOutcomeFastPath(t *testing.T) {
	tests := []struct {
		body string
		fast bool
	}{
		{outcomeSeeds[0], true},
		{outcomeSeeds[1], true},
		{outcomeSeeds[2], true},
		{`{"hours":null}`, false},
		{`{"learner":"L\u0031"}`, false},
		{`{"level":6.0}`, false},
		{`{"extra":1}`, false},
		{`{"ſector":"degree"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			if _, ok := decodeOutcome([]byte(tt.body)); ok != tt.fast {
				t.Fatalf("decodeOutcome answered %v, want %v", ok, tt.fast)
			}
		})
	}
	items, ok := outcomeItems([]byte(` {"outcomes": [ ` + outcomeSeeds[0] + ` , {"a":1} ] } `))
	if !ok || len(items) != 2 || string(items[1]) != `{"a":1}` {
		t.Fatalf("outcomeItems = %q, %v", items, ok)
	}
}

// TestReadAll: the body read with a buffer sized from Content-Length is the
// body, whatever the length says about it within the limit.
func TestReadAll(t *testing.T) {
	for _, n := range []int{0, 1, 511, 512, 4096, 1<<20 + 3} {
		body := bytes.Repeat([]byte("x"), n)
		for _, cl := range []int64{-1, 0, int64(n), 1 << 30} {
			got, err := readAll(bytes.NewReader(body), cl, 1<<21)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("readAll(%d bytes, Content-Length %d) = %d bytes, %v", n, cl, len(got), err)
			}
		}
	}
}

// FuzzScoreSeqs: the outcomes parameter of GET /v1/audit/scores never
// panics; what parses is 1 to accreditation.MaxScoreReads seqs that spell
// the input again, and what does not is bad-parameter.
func FuzzScoreSeqs(f *testing.F) {
	for _, s := range []string{"0", "12,15,20", "12,12", "9223372036854775807", "9223372036854775808", "", ",", "1,", "01",
		"+1", "-1", " 1", "1;2", "\u0661", strings.Repeat("1,", accreditation.MaxScoreReads)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		seqs, err := scoreSeqs(v)
		if err != nil {
			if accreditation.CodeOf(err) != accreditation.CodeBadParameter {
				t.Fatalf("scoreSeqs(%q): %v, want bad-parameter", v, err)
			}
			return
		}
		if len(seqs) == 0 || len(seqs) > accreditation.MaxScoreReads {
			t.Fatalf("scoreSeqs(%q) = %d seqs", v, len(seqs))
		}
		again := make([]string, len(seqs))
		for i, n := range seqs {
			again[i] = fmt.Sprint(n)
		}
		if strings.Join(again, ",") != v {
			t.Fatalf("scoreSeqs(%q) = %v, which spells %q", v, seqs, strings.Join(again, ","))
		}
	})
}
