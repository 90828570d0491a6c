package conformance

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// What the helpers of every case share: HTTP, keys and tokens, fixtures.

// reply is a response, read in full.
type reply struct {
	req    string // "POST /v1/outcomes", for messages
	status int
	header http.Header
	body   []byte
}

func (r reply) String() string {
	b := string(r.body)
	if len(b) > 400 {
		b = b[:400] + "..."
	}
	return fmt.Sprintf("%s answered %d %s", r.req, r.status, strings.TrimSpace(b))
}

// rawBody is a request body sent as is, with its content type.
type rawBody struct {
	ctype string
	data  []byte
}

// do sends a request: body nil (none), rawBody, []byte (JSON as is) or any
// value (marshalled to JSON); token "" sends no Authorization header.
func (c *tc) do(method, path, token string, body any) reply {
	var (
		rd    io.Reader
		ctype string
	)
	switch b := body.(type) {
	case nil:
	case rawBody:
		rd, ctype = bytes.NewReader(b.data), b.ctype
	case []byte:
		rd, ctype = bytes.NewReader(b), "application/json"
	default:
		data, err := json.Marshal(b)
		c.check(err, "marshal request body")
		rd, ctype = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequestWithContext(c.ctx, method, c.s.base+path, rd)
	c.check(err, "request")
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.s.client.Do(req)
	if err != nil {
		c.fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return reply{req: method + " " + path, status: resp.StatusCode, header: resp.Header, body: data}
}

// want fails unless r has one of the statuses.
func (c *tc) want(r reply, statuses ...int) reply {
	if !slices.Contains(statuses, r.status) {
		c.fatalf("%s, want %s", r, statusList(statuses))
	}
	return r
}

func statusList(s []int) string {
	var out []string
	for _, n := range s {
		out = append(out, strconv.Itoa(n))
	}
	return strings.Join(out, " or ")
}

// decode decodes r's JSON body into v.
func (c *tc) decode(r reply, v any) {
	if err := json.Unmarshal(r.body, v); err != nil {
		c.fatalf("%s: the body is not the JSON expected: %v", r, err)
	}
}

// obj decodes r's body as a JSON object, numbers kept exact.
func (c *tc) obj(r reply) map[string]any {
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		c.fatalf("%s: the body is not a JSON object: %v", r, err)
	}
	return m
}

// wantProblem checks an error answer: one of the statuses, an RFC 9457
// application/problem+json body whose status member matches.
func (c *tc) wantProblem(r reply, statuses ...int) map[string]any {
	c.want(r, statuses...)
	mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
	if mt != "application/problem+json" {
		c.fatalf("%s: content type %q, want application/problem+json (RFC 9457)", r, r.header.Get("Content-Type"))
	}
	p := c.obj(r)
	if st, ok := p["status"].(json.Number); ok && st.String() != strconv.Itoa(r.status) {
		c.fatalf("%s: problem status %s differs from the HTTP status", r, st)
	}
	if _, ok := p["title"]; !ok {
		if _, ok := p["type"]; !ok {
			c.fatalf("%s: problem has neither type nor title", r)
		}
	}
	return p
}

// want401 checks a refused token: 401 with a Bearer challenge naming
// invalid_token (docs/contract.md section 2).
func (c *tc) want401(r reply) {
	c.wantProblem(r, http.StatusUnauthorized)
	h := r.header.Get("WWW-Authenticate")
	if !strings.HasPrefix(strings.ToLower(h), "bearer") || !strings.Contains(h, `error="invalid_token"`) {
		c.fatalf("%s: WWW-Authenticate %q, want a Bearer challenge with error=\"invalid_token\"", r, h)
	}
}

// num reads a JSON number member as an unsigned integer.
func (c *tc) num(m map[string]any, key string) uint64 {
	v, ok := m[key].(json.Number)
	if !ok {
		c.fatalf("member %q is %v (%T), want a number in %v", key, m[key], m[key], compact(m))
	}
	n, err := strconv.ParseUint(v.String(), 10, 64)
	if err != nil {
		c.fatalf("member %q is %s, want a non-negative integer", key, v)
	}
	return n
}

// str reads a string member.
func (c *tc) str(m map[string]any, key string) string {
	v, ok := m[key].(string)
	if !ok {
		c.fatalf("member %q is %v (%T), want a string in %v", key, m[key], m[key], compact(m))
	}
	return v
}

func compact(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 400 {
		b = append(b[:400], "..."...)
	}
	return string(b)
}

// --- amounts: decimal strings, compared as hundredths

// hundredths parses a contract amount ("3", "7.5", "0.62") into hundredths.
func hundredths(s string) (int64, error) {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || (dot && (len(frac) == 0 || len(frac) > 2)) {
		return 0, fmt.Errorf("amount %q is not a decimal with at most two decimals", s)
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("amount %q is not a non-negative decimal", s)
		}
	}
	for len(frac) < 2 {
		frac += "0"
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("amount %q: %v", s, err)
	}
	return n, nil
}

// amountOf reads an amount member: a JSON string, never a number.
func (c *tc) amountOf(m map[string]any, key string) int64 {
	v, ok := m[key].(string)
	if !ok {
		c.fatalf("member %q is %v (%T), want a decimal string (docs/contract.md section 3) in %v", key, m[key], m[key], compact(m))
	}
	n, err := hundredths(v)
	c.check(err, key)
	return n
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func fmtHundredths(n int64) string {
	return fmt.Sprintf("%d.%02d", n/100, n%100)
}

// wantAmount checks member key is the amount want (in hundredths).
func (c *tc) wantAmount(m map[string]any, key string, want int64, what string) {
	if got := c.amountOf(m, key); got != want {
		c.fatalf("%s: %s is %s, want %s", what, key, m[key], fmtHundredths(want))
	}
}

// roundHalfEven returns num/den rounded half to even (den > 0, num >= 0).
func roundHalfEven(num, den int64) int64 {
	q, r := num/den, num%den
	switch {
	case 2*r > den, 2*r == den && q%2 == 1:
		q++
	}
	return q
}

// --- keys and tokens

// ikey is an institution's key pair, made by the suite.
type ikey struct {
	kid  string
	alg  string // EdDSA or ES256
	priv crypto.Signer
}

func newKey(c *tc, alg string) *ikey {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	k := &ikey{kid: "conf-" + hex.EncodeToString(b), alg: alg}
	switch alg {
	case "EdDSA":
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		c.check(err, "generate Ed25519 key")
		k.priv = priv
	case "ES256":
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		c.check(err, "generate P-256 key")
		k.priv = priv
	default:
		c.fatalf("unknown algorithm %s", alg)
	}
	return k
}

var b64url = base64.RawURLEncoding

// jwk is the public key as a JWK with kid (RFC 7517, RFC 8037).
func (k *ikey) jwk() map[string]any {
	switch p := k.priv.(type) {
	case ed25519.PrivateKey:
		return map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64url.EncodeToString(p.Public().(ed25519.PublicKey)), "kid": k.kid}
	case *ecdsa.PrivateKey:
		pub, _ := p.PublicKey.ECDH()
		pt := pub.Bytes() // 0x04 ‖ X ‖ Y
		return map[string]any{"kty": "EC", "crv": "P-256", "x": b64url.EncodeToString(pt[1:33]), "y": b64url.EncodeToString(pt[33:]), "kid": k.kid}
	}
	return nil
}

// privateJWK is the JWK with its private part, which must never be accepted.
func (k *ikey) privateJWK() map[string]any {
	j := k.jwk()
	switch p := k.priv.(type) {
	case ed25519.PrivateKey:
		j["d"] = b64url.EncodeToString(p.Seed())
	case *ecdsa.PrivateKey:
		d, _ := p.ECDH()
		j["d"] = b64url.EncodeToString(d.Bytes())
	}
	return j
}

func (k *ikey) method() jwt.SigningMethod {
	if k.alg == "ES256" {
		return jwt.SigningMethodES256
	}
	return jwt.SigningMethodEdDSA
}

// sign signs claims with k, kid in the header.
func (c *tc) sign(k *ikey, claims jwt.MapClaims) string {
	t := jwt.NewWithClaims(k.method(), claims)
	t.Header["kid"] = k.kid
	s, err := t.SignedString(k.priv)
	c.check(err, "sign token")
	return s
}

// instClaims are the claims of a good institution token (docs/contract.md
// section 2): iss = sub = id, aud, iat, exp five minutes on.
func (c *tc) instClaims(id string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"iss": id, "sub": id, "aud": c.s.aud, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
}

// --- institutions

// inst is an institution the suite registered, with its keys.
type inst struct {
	id   string
	keys []*ikey
}

// tok is a fresh token of the institution, signed with its first key.
func (i *inst) tok(c *tc) string { return c.sign(i.keys[0], c.instClaims(i.id)) }

func (c *tc) instID(tag string) string {
	return fmt.Sprintf("conf-%s-%s-%d.example", c.s.runID, tag, c.s.next())
}

func (c *tc) learner() string {
	// Upper case, the form a learner id is shown in (docs/contract.md,
	// "Identifiers"): the run id is lower-case hex.
	id := strings.ToUpper(fmt.Sprintf("C%s-%d", c.s.runID, c.s.next()))
	c.s.mu.Lock()
	c.s.learners = append(c.s.learners, id)
	c.s.mu.Unlock()
	return id
}

// register registers a new institution of kind with the keys (a fresh
// Ed25519 key when none are given) and returns it.
func (c *tc) register(tag, kind string, keys ...*ikey) *inst {
	if len(keys) == 0 {
		keys = []*ikey{newKey(c, "EdDSA")}
	}
	in := &inst{id: c.instID(tag), keys: keys}
	c.want(c.do("POST", "/v1/institutions", c.admin(), in.body(kind)), http.StatusCreated)
	return in
}

func (i *inst) body(kind string) map[string]any {
	var jwks []any
	for _, k := range i.keys {
		jwks = append(jwks, k.jwk())
	}
	return map[string]any{"id": i.id, "name": "Conformance " + i.id, "kind": kind, "keys": jwks}
}

// contractSectors are the sectors docs/contract.md names.
var contractSectors = []string{"degree", "non_degree", "vocational"}

// accredit accredits id (201) with the given scope.
func (c *tc) accredit(id string, sectors []string, maxLevel int, from, until string) {
	c.want(c.do("POST", "/v1/institutions/"+id+"/accreditations", c.admin(), map[string]any{
		"sectors": sectors, "max_level": maxLevel, "valid_from": from, "valid_until": until}), http.StatusCreated)
}

// accredited registers an institution accredited for the contract's
// sectors at every level from 2000 to 2099: beyond the accreditation policy
// for most kinds, so with an override reason (docs/contract.md section 8).
func (c *tc) accredited(tag, kind string, keys ...*ikey) *inst {
	in := c.register(tag, kind, keys...)
	c.want(c.do("POST", "/v1/institutions/"+in.id+"/accreditations", c.admin(), map[string]any{
		"sectors": contractSectors, "max_level": 10, "valid_from": "2000-01-01", "valid_until": "2099-12-31",
		"override_reason": "conformance fixture: every level of the contract's sectors"}), http.StatusCreated)
	return in
}

// college posts most outcomes; univ is the target of the rules.
func (c *tc) college() *inst {
	return fixture(c, "college", func() *inst { return c.accredited("college", "open_university") })
}

func (c *tc) univ() *inst {
	return fixture(c, "univ", func() *inst { return c.accredited("univ", "university") })
}

// --- outcomes

func today() time.Time { return time.Now().UTC() }

func daysAgo(n int) string { return today().AddDate(0, 0, -n).Format("2006-01-02") }

// outcome is a valid outcome of learner (the contract's example, completed
// 30 days ago: 3 standard credits), changed by mod. Its unit code is its
// own, so that two outcomes of a learner are never duplicates (the same
// institution, learner, unit.code and completed_on) unless a case makes
// them so.
func (c *tc) outcome(learner string, mod func(o map[string]any)) map[string]any {
	n := c.s.next()
	o := map[string]any{
		"idempotency_key": fmt.Sprintf("conf-%s-%d", c.s.runID, n), "learner": learner,
		"unit":   map[string]any{"code": fmt.Sprintf("CS101-%d", n), "title": "Introduction to Programming"},
		"sector": "non_degree", "level": 6, "field": "0613",
		"credits": map[string]any{"amount": "3", "system": "cn-credit"}, "hours": 48,
		"result":       map[string]any{"passed": true, "score": "86"},
		"completed_on": daysAgo(30),
	}
	if mod != nil {
		mod(o)
	}
	return o
}

// post posts body as institution in.
func (c *tc) post(in *inst, body any) reply { return c.do("POST", "/v1/outcomes", in.tok(c), body) }

// postOK posts an outcome that must be created and returns the stored one.
func (c *tc) postOK(in *inst, o map[string]any) map[string]any {
	r := c.want(c.post(in, o), http.StatusCreated)
	return c.obj(r)
}

// posted posts n outcomes for learner (changed by mod) and returns their seqs.
func (c *tc) posted(in *inst, learner string, n int, mod func(o map[string]any)) []uint64 {
	var seqs []uint64
	for range n {
		seqs = append(seqs, c.num(c.postOK(in, c.outcome(learner, mod)), "seq"))
	}
	return seqs
}

// probe writes one outcome of the suite's probe learner and returns its
// seq. Seqs have no gaps (docs/contract.md section 4), so two probes around a
// refused request are one apart exactly when the request wrote nothing.
func (c *tc) probe() uint64 {
	p := fixture(c, "probe", func() *inst { return c.accredited("probe", "employer") })
	learner := fixture(c, "probe-learner", func() string { return fmt.Sprintf("P%s", c.s.runID) })
	return c.num(c.postOK(p, c.outcome(learner, nil)), "seq")
}

// refused runs f, a request that must write nothing, between two probes.
func (c *tc) refused(f func()) {
	before := c.probe()
	f()
	if after := c.probe(); after != before+1 {
		c.fatalf("the refused request wrote %d ledger entries (probe seqs %d then %d)", after-before-1, before, after)
	}
}

// transcript reads a learner's transcript (one page) with token.
func (c *tc) transcript(learner, token string) map[string]any {
	return c.obj(c.want(c.do("GET", "/v1/learners/"+learner+"/transcript", token, nil), http.StatusOK))
}

func (c *tc) balance(learner, token string) map[string]any {
	return c.obj(c.want(c.do("GET", "/v1/learners/"+learner+"/balance", token, nil), http.StatusOK))
}

// outcomeStatus finds outcome seq in a transcript and returns its status.
func (c *tc) outcomeStatus(tr map[string]any, seq uint64) string {
	list, _ := tr["outcomes"].([]any)
	for _, o := range list {
		m, _ := o.(map[string]any)
		if m != nil && c.num(m, "seq") == seq {
			return c.str(m, "status")
		}
	}
	c.fatalf("outcome %d is not on the transcript %s", seq, compact(tr))
	return ""
}

// --- rules and conversions

// rule publishes a new rule toward univ (the contract's example with the
// given changes) and returns its id and programme.
func (c *tc) rule(mod func(r map[string]any)) (id, programme string) {
	id = fmt.Sprintf("conf-%s-r%d", c.s.runID, c.s.next())
	programme = fmt.Sprintf("P-%s-%d", c.s.runID, c.s.next())
	r := c.ruleBody(id, programme)
	if mod != nil {
		mod(r)
	}
	c.want(c.do("POST", "/v1/rules", c.admin(), r), http.StatusCreated)
	return id, programme
}

func source(r map[string]any) map[string]any { return r["source"].(map[string]any) }

// convert asks for a conversion; seqs nil leaves outcomes out.
func (c *tc) convert(token, learner, rule string, seqs []uint64) reply {
	body := map[string]any{"learner": learner, "rule": rule}
	if seqs != nil {
		body["outcomes"] = seqs
	}
	return c.do("POST", "/v1/conversions", token, body)
}

// items returns a conversion's items as outcome → granted (hundredths),
// in order.
func (c *tc) items(conv map[string]any) (seqs []uint64, granted []int64) {
	list, ok := conv["items"].([]any)
	if !ok {
		c.fatalf("conversion has no items list: %s", compact(conv))
	}
	for _, it := range list {
		m, _ := it.(map[string]any)
		if m == nil {
			c.fatalf("conversion item %v is not an object", it)
		}
		seqs = append(seqs, c.num(m, "outcome"))
		granted = append(granted, c.amountOf(m, "granted"))
	}
	return seqs, granted
}
