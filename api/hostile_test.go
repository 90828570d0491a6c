package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"creditbank/accreditation"
)

// TestMalformedRequests sends thousands of hostile bodies, made from a valid
// sample of every POST route, to a real server with valid tokens: random
// byte mutations, every truncation, deep nesting, invalid UTF-8 in strings
// and keys, a wrong type at every position, huge strings, numbers out of
// range, repeated members, and assorted non-JSON. Every answer must come
// within the client's deadline and be 4xx, except a 2xx for a body that is
// one strict JSON value of the route's type (a mutation can be valid); and
// the ledger may grow by exactly the entries those 2xx answers report.

var (
	hostileSeed = flag.Int64("hostile.seed", 0, "seed of TestMalformedRequests (0: from the clock)")
	// Two known gaps are reported, not failed, unless this flag is given:
	// a body with invalid UTF-8 in a free-text member (a name, a title, a
	// reason) is stored with U+FFFD in place of each bad byte, because
	// encoding/json replaces them silently; and a member repeated with a
	// name that differs only in case ("level" and "LEVEL") passes the
	// duplicate check, which compares names exactly, while encoding/json
	// matches names case-insensitively and keeps the last.
)

// hostileRoute is one POST route and a valid body for it.
type hostileRoute struct {
	name   string
	path   string
	token  string
	sample []byte
	// valid reports whether the handler would decode body (the checks of
	// readBody and the route's strict decoding); a 2xx needs it.
	valid func(body []byte) bool
}

// hostileReq is one request of the test.
type hostileReq struct {
	kind        string
	route       *hostileRoute
	body        []byte
	contentType string
}

func strictInto[T any]() func([]byte) bool {
	return func(b []byte) bool {
		var v T
		return checkJSON(b) == nil && decodeStrict(b, &v) == nil
	}
}

// validOutcomesBody decodes as postOutcomes does: a batch when the object
// has an "outcomes" member (its items are decoded one by one later, each
// refused on its own), a single outcome otherwise.
func validOutcomesBody(b []byte) bool {
	if checkJSON(b) != nil {
		return false
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal(b, &probe) != nil {
		return false
	}
	if _, batch := probe["outcomes"]; batch {
		var body struct {
			Outcomes []json.RawMessage `json:"outcomes"`
		}
		return decodeStrict(b, &body) == nil
	}
	var o outcomeBody
	return decodeStrict(b, &o) == nil
}

func TestMalformedRequests(t *testing.T) {
	seed := *hostileSeed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("seed %d (rerun with -hostile.seed=%d)", seed, seed)
	rng := rand.New(rand.NewSource(seed))
	s := newTestServer(t)
	adm := s.token(t, "admin", "root")
	reg := s.token(t, "regulator", "moe")
	instKey := s.institution(t, "hostile.example")
	s.institution(t, "victim.example")
	s.institution(t, "utf8.example")
	inst := instToken(t, instKey, "hostile.example")

	outcome := func(key string) []byte {
		return fmt.Appendf(nil, `{"idempotency_key":%q,"learner":"L000123",
 "unit":{"code":"CS101-%s","title":"Introduction to Programming"},
 "sector":"non_degree","level":6,"field":"0613",
 "credits":{"amount":"3","system":"cn-credit"},"hours":48,
 "result":{"passed":true,"score":"86"},"completed_on":"2026-07-01",
 "evidence_sha256":"%s","supersedes":null,"recorded_at":"2026-07-01T00:00:00Z"}`, key, key, strings.Repeat("ab", 32))
	}
	post := func(path, tok string, body []byte) []byte {
		resp, out := s.do(t, "POST", path, tok, body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("set-up POST %s: %d %s", path, resp.StatusCode, out)
		}
		return out
	}
	seqOf := func(b []byte) uint64 {
		var v struct{ Seq uint64 }
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		return v.Seq
	}
	baseSeq := seqOf(post("/v1/outcomes", inst, outcome("hostile-base-1")))
	revSeq := seqOf(post("/v1/outcomes", inst, outcome("hostile-revoke-me")))
	rule := []byte(`{"id":"hostile-rule","target":{"institution":"hostile.example","programme":"BSC-CS"},
 "source":{"sectors":["non_degree","vocational"],"min_level":5,"fields":["06"],
           "min_score":"60","max_age_days":1825,"institutions":[]},
 "ratio":"0.5","cap":"20","valid_from":"2026-01-01","valid_until":null}`)
	post("/v1/rules", reg, rule)
	newKey, err := GenerateKey("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	newPub, _ := newKey.Public()
	jwk, err := json.Marshal(newPub)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := GenerateKey("ES256")
	otherPub, _ := otherKey.Public()
	jwk2, _ := json.Marshal(otherPub)

	routes := []*hostileRoute{
		{name: "registerInstitution", path: "/v1/institutions", token: adm,
			sample: fmt.Appendf(nil, `{"id":"new.example","name":"New College","kind":"university","keys":[%s]}`, jwk2),
			valid:  strictInto[accreditation.Registration]()},
		{name: "addKey", path: "/v1/institutions/victim.example/keys", token: adm, sample: jwk,
			valid: strictInto[accreditation.PublicJWK]()},
		{name: "accredit", path: "/v1/institutions/victim.example/accreditations", token: reg,
			sample: []byte(`{"sectors":["non_degree","vocational"],"max_level":7,"valid_from":"2020-01-01","valid_until":"2030-12-31"}`),
			valid:  strictInto[accreditation.AccreditationInput]()},
		{name: "suspend", path: "/v1/institutions/victim.example/suspension", token: reg,
			sample: []byte(`{"reason":"audit found forged transcripts"}`), valid: strictInto[reasonBody]()},
		{name: "postOutcome", path: "/v1/outcomes", token: inst, sample: outcome("hostile-base-1"), valid: validOutcomesBody},
		{name: "postBatch", path: "/v1/outcomes", token: inst,
			sample: append(append(append([]byte(`{"outcomes":[`), outcome("hostile-batch-1")...), ',', '\n'), append(outcome("hostile-batch-2"), "]}"...)...),
			valid:  validOutcomesBody},
		{name: "revokeOutcome", path: fmt.Sprintf("/v1/outcomes/%d/revocation", revSeq), token: reg,
			sample: []byte(`{"reason":"posted in error"}`), valid: strictInto[reasonBody]()},
		{name: "publishRule", path: "/v1/rules", token: reg, sample: rule, valid: strictInto[accreditation.RuleInput]()},
		{name: "convert", path: "/v1/conversions", token: adm,
			sample: fmt.Appendf(nil, `{"learner":"L000123","rule":"hostile-rule","outcomes":[%d]}`, baseSeq),
			valid:  strictInto[accreditation.ConversionRequest]()},
		// The rule does not exist: a body that decodes is answered 404.
		{name: "retireRule", path: "/v1/rules/no-such-rule/retirement", token: reg, sample: []byte(`{"reason":"old"}`),
			valid: strictInto[reasonBody]()},
	}
	// Fresh targets for invalid UTF-8 in free text: there the answer is not
	// masked by an idempotency conflict with an earlier request.
	utf8Seq := seqOf(post("/v1/outcomes", inst, outcome("hostile-utf8-revoke")))
	utf8Routes := map[string]*hostileRoute{
		"registerInstitution": {name: "registerInstitution", path: "/v1/institutions", token: adm, valid: strictInto[accreditation.Registration]()},
		"suspend":             {name: "suspend", path: "/v1/institutions/utf8.example/suspension", token: reg, valid: strictInto[reasonBody]()},
		"postOutcome":         {name: "postOutcome", path: "/v1/outcomes", token: inst, valid: validOutcomesBody},
		"revokeOutcome":       {name: "revokeOutcome", path: fmt.Sprintf("/v1/outcomes/%d/revocation", utf8Seq), token: reg, valid: strictInto[reasonBody]()},
	}
	for _, rt := range routes {
		if checkJSON(rt.sample) != nil || !rt.valid(rt.sample) {
			t.Fatalf("sample of %s is not valid: %s", rt.name, rt.sample)
		}
	}

	var reqs []hostileReq
	add := func(kind string, rt *hostileRoute, body []byte) {
		reqs = append(reqs, hostileReq{kind: kind, route: rt, body: body, contentType: "application/json"})
	}
	for _, rt := range routes {
		tree, err := parseHJ(rt.sample)
		if err != nil {
			t.Fatalf("%s: %v", rt.name, err)
		}
		paths := tree.paths(nil)
		// Random byte-level mutations of the valid body.
		for range 150 {
			add("mutated", rt, mutateBytes(rng, rt.sample))
		}
		// Every truncation.
		for n := range len(rt.sample) {
			add("truncated", rt, rt.sample[:n])
		}
		// Deep nesting, as the whole body and as the value of each member.
		for _, depth := range []int{10, 31, 32, 33, 64, 100, 1000, 10000} {
			for _, open := range []string{"[", `{"a":`} {
				deep := nest(open, depth)
				add("deep", rt, deep)
				for _, p := range paths {
					if len(p) == 1 {
						add("deep", rt, tree.replace(p, deep))
					}
				}
			}
		}
		// Invalid UTF-8 in every string and every key.
		bad := []string{"\xff", "\xc3\x28", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\xc0\xaf", "\x80"}
		for _, p := range paths {
			n := tree.at(p)
			for i, b := range bad {
				if n.kind == 's' {
					raw := n.raw
					add("utf8", rt, tree.replace(p, append(append(append([]byte{}, raw[:len(raw)-1]...), b...), '"')))
					if i == 0 {
						add("utf8", rt, tree.replace(p, []byte(`"`+b+`"`)))
					}
				}
				if n.kind == 'o' {
					for m := range n.keys {
						add("utf8", rt, tree.renameKey(p, m, []byte(`"`+strings.Trim(string(n.keys[m]), `"`)+b+`"`)))
					}
				}
			}
		}
		if fresh := utf8Routes[rt.name]; fresh != nil {
			for i, b := range bad {
				var body []byte
				switch rt.name {
				case "registerInstitution":
					body = fmt.Appendf(nil, `{"id":"utf8-%d.example","name":"N%sw College","kind":"university","keys":[%s]}`, i, b, jwk2)
				case "postOutcome":
					body = bytes.Replace(outcome(fmt.Sprintf("hostile-utf8-%d", i)), []byte("Introduction"), []byte("Intro"+b+"duction"), 1)
				default:
					body = []byte(`{"reason":"bad` + b + `byte"}`)
				}
				reqs = append(reqs, hostileReq{kind: "utf8-fresh", route: fresh, body: body, contentType: "application/json"})
			}
		}
		add("utf8", rt, append([]byte("\xff"), rt.sample...))
		add("utf8", rt, append(append([]byte{}, rt.sample...), 0xff))
		// A wrong type at every position.
		wrong := []string{`42`, `-1`, `1.5`, `"text"`, `""`, `[]`, `[1,"a"]`, `null`, `{}`, `{"x":1}`, `true`, `false`}
		for _, p := range paths {
			for _, w := range wrong {
				add("types", rt, tree.replace(p, []byte(w)))
			}
		}
		// Huge strings (1 MiB): at every string, as a key, and a 17 MiB body.
		huge := `"` + strings.Repeat("a", 1<<20) + `"`
		for _, p := range paths {
			if tree.at(p).kind == 's' {
				add("huge", rt, tree.replace(p, []byte(huge)))
			}
		}
		add("huge", rt, tree.dup(nil, -1, []byte(huge), []byte(`1`)))
		if rt.name == "postOutcome" {
			add("huge", rt, []byte(`[`+strings.Repeat(`"aaaaaaaaaaaaaaa",`, 17<<16)+`1]`))
		}
		// Numbers out of range, at every position.
		nums := []string{`1e400`, `-1e400`, `9223372036854775808`, `-9223372036854775809`, `18446744073709551616`,
			`123456789012345678901234567890`, `-0`, `1e-400`, `0.0000001`, `4294967296`, `1E2`, `2147483648`}
		for _, p := range paths {
			if k := tree.at(p).kind; k != 's' && k != 'v' && len(p) > 1 {
				continue // numbers at every leaf and every member
			}
			for _, num := range nums {
				add("range", rt, tree.replace(p, []byte(num)))
			}
		}
		// Repeated members: each member again with its own value and with another.
		for _, p := range paths {
			n := tree.at(p)
			if n.kind != 'o' {
				continue
			}
			for m := range n.keys {
				add("duplicate", rt, tree.dup(p, m, nil, nil))
				add("duplicate", rt, tree.dup(p, m, nil, []byte(`"other"`)))
				// The same name in other letter case, with the same value.
				upper := bytes.ToUpper(n.keys[m])
				if !bytes.Equal(upper, n.keys[m]) {
					add("case-dup", rt, tree.edit(p, func(o *hj) *hj {
						o.keys = append(o.keys, upper)
						o.elems = append(o.elems, o.elems[m])
						return o
					}))
				}
			}
		}
		// Not JSON, several values, or no body at all.
		for _, b := range []string{``, ` `, `null`, `[]`, `0`, `""`, `true`, `{}`, `{}{}`, `{} x`, `{},`, "\ufeff{}",
			`{"a":1,}`, `{'a':1}`, `{a:1}`, `[1,]`, `NaN`, `Infinity`, `{"a":NaN}`, `/* c */{}`, `{"a":1}//`,
			`{"a":"\u00"}`, `{"a":"\ud800"}`, `{"a":"\x41"}`, "{\"a\":\"tab\there\"}", `{"":1}`, `{"__proto__":{}}`,
			string(rt.sample) + string(rt.sample), string(rt.sample) + `]`, `[` + string(rt.sample) + `]`,
			`"` + strings.ReplaceAll(string(rt.sample), `"`, `\"`) + `"`} {
			add("other", rt, []byte(b))
		}
		for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/json;;", "application/jsonx", "multipart/form-data; boundary=x"} {
			reqs = append(reqs, hostileReq{kind: "content-type", route: rt, body: rt.sample, contentType: ct})
		}
	}

	sizeBefore := s.ledger.Size()
	client := &http.Client{Timeout: 5 * time.Second}
	type key struct {
		kind   string
		status int
	}
	var (
		mu        sync.Mutex
		counts    = map[key]int{}
		kindTime  = map[string]time.Duration{}
		kindWrote = map[string]uint64{}
		byRoute   = map[string]int{}
		written   uint64
		utf8Taken []string
		caseTaken []string
		failures  []string
	)
	failf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf(format, args...))
		} else {
			failures = append(failures, "")
		}
	}
	jobs := make(chan hostileReq)
	var wg sync.WaitGroup
	start := time.Now()
	for range 4 {
		wg.Go(func() {
			for rq := range jobs {
				status, out, took, err := sendHostile(client, s.URL, rq)
				mu.Lock()
				kindTime[rq.kind] += took
				mu.Unlock()
				show := rq.body
				if len(show) > 300 {
					show = append(append([]byte{}, show[:300]...), "..."...)
				}
				if err != nil {
					failf("%s %s (%s, %d bytes, after %v): %v: %q", rq.route.name, rq.kind, rq.contentType, len(rq.body), took, err, show)
					continue
				}
				var entries uint64
				switch {
				case status >= 500:
					failf("%s %s: %d %s for %q", rq.route.name, rq.kind, status, out, show)
				case status/100 == 2:
					if rq.contentType != "application/json" || !rq.route.valid(rq.body) {
						failf("%s %s: %d for a body the route cannot decode: %q -> %s", rq.route.name, rq.kind, status, show, out)
					}
					n, err := entriesWritten(rq, status, out)
					if err != nil {
						failf("%s %s: %d: %v", rq.route.name, rq.kind, status, err)
					}
					entries = n
				case status < 400:
					failf("%s %s: %d %s", rq.route.name, rq.kind, status, out)
				}
				mu.Lock()
				counts[key{rq.kind, status}]++
				byRoute[rq.route.name]++
				written += entries
				kindWrote[rq.kind] += entries
				if entries > 0 && rq.kind == "case-dup" {
					caseTaken = append(caseTaken, fmt.Sprintf("%s %d %.300q -> %.200s", rq.route.name, status, rq.body, out))
				}
				if entries > 0 && !utf8.Valid(rq.body) {
					utf8Taken = append(utf8Taken, fmt.Sprintf("%s %d %.300q -> %.200s", rq.route.name, status, rq.body, out))
				}
				mu.Unlock()
			}
		})
	}
	for _, rq := range reqs {
		jobs <- rq
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)

	// The table of answers by kind of input and status.
	var kinds []string
	perKind := map[string]map[int]int{}
	total := 0
	for k, n := range counts {
		if perKind[k.kind] == nil {
			perKind[k.kind] = map[int]int{}
			kinds = append(kinds, k.kind)
		}
		perKind[k.kind][k.status] += n
		total += n
	}
	sort.Strings(kinds)
	var table strings.Builder
	for _, k := range kinds {
		var sts []int
		sum := 0
		for st, n := range perKind[k] {
			sts = append(sts, st)
			sum += n
		}
		sort.Ints(sts)
		fmt.Fprintf(&table, "\n  %-12s %5d (%d entries written, %v):", k, sum, kindWrote[k], kindTime[k].Round(time.Millisecond))
		for _, st := range sts {
			fmt.Fprintf(&table, " %d×%d", st, perKind[k][st])
		}
	}
	t.Logf("%d malformed requests to %d routes in %v (seed %d), answers by kind:%s", total, len(byRoute), elapsed.Round(time.Millisecond), seed, table.String())
	if len(utf8Taken) > 0 {
		t.Errorf("%d bodies with invalid UTF-8 were stored (encoding/json turns each bad byte into U+FFFD), first %d:\n  %s",
			len(utf8Taken), min(3, len(utf8Taken)), strings.Join(utf8Taken[:min(3, len(utf8Taken))], "\n  "))
	}
	if len(caseTaken) > 0 {
		t.Errorf("%d bodies repeating a member in other letter case were stored, first %d:\n  %s",
			len(caseTaken), min(3, len(caseTaken)), strings.Join(caseTaken[:min(3, len(caseTaken))], "\n  "))
	}
	for _, f := range failures {
		if f != "" {
			t.Error(f)
		}
	}
	if len(failures) > 20 {
		t.Errorf("... and %d more failures", len(failures)-20)
	}
	if total < 3000 {
		t.Errorf("only %d requests sent; want at least 3000", total)
	}
	if got := s.ledger.Size() - sizeBefore; got != written {
		t.Errorf("the ledger grew by %d entries; the 2xx answers report %d", got, written)
	}
}

func sendHostile(c *http.Client, base string, rq hostileReq) (int, []byte, time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", base+rq.route.path, bytes.NewReader(rq.body))
	if err != nil {
		return 0, nil, 0, err
	}
	if rq.contentType != "" {
		req.Header.Set("Content-Type", rq.contentType)
	}
	req.Header.Set("Authorization", "Bearer "+rq.route.token)
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, time.Since(start), err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, out, time.Since(start), err
}

// entriesWritten is how many ledger entries a 2xx answer says were written.
func entriesWritten(rq hostileReq, status int, out []byte) (uint64, error) {
	switch rq.route.name {
	case "postOutcome", "postBatch":
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(out, &probe); err != nil {
			return 0, err
		}
		if res, ok := probe["results"]; ok {
			var results []batchResult
			if err := json.Unmarshal(res, &results); err != nil {
				return 0, err
			}
			var body struct{ Outcomes []json.RawMessage }
			_ = json.Unmarshal(rq.body, &body)
			n := uint64(0)
			for i, r := range results {
				if r.Status == accreditation.PostCreated {
					n++
					var item outcomeBody
					if i >= len(body.Outcomes) || decodeStrict(body.Outcomes[i], &item) != nil {
						return n, fmt.Errorf("batch item %d created from an item that does not decode", i)
					}
				}
			}
			return n, nil
		}
		if status == http.StatusCreated {
			return 1, nil
		}
		return 0, nil // 200: an idempotent replay
	case "revokeOutcome":
		var v struct{ Reversals []json.RawMessage }
		if err := json.Unmarshal(out, &v); err != nil {
			return 0, err
		}
		return 1 + uint64(len(v.Reversals)), nil
	}
	if status == http.StatusCreated {
		return 1, nil
	}
	return 0, errors.New("unexpected 2xx status " + strconv.Itoa(status))
}

// mutateBytes applies 1 to 4 random byte edits: flips, insertions (often of
// JSON punctuation), deletions and repeated ranges.
func mutateBytes(rng *rand.Rand, in []byte) []byte {
	b := append([]byte{}, in...)
	const punct = "{}[]:,\"\\0123456789-+.eEtrufalsn \t\n\x00\xff\xc3"
	for range 1 + rng.Intn(4) {
		if len(b) == 0 {
			b = append(b, punct[rng.Intn(len(punct))])
			continue
		}
		i := rng.Intn(len(b))
		switch rng.Intn(5) {
		case 0:
			b[i] ^= 1 << rng.Intn(8)
		case 1:
			b[i] = punct[rng.Intn(len(punct))]
		case 2:
			c := punct[rng.Intn(len(punct))]
			if rng.Intn(3) == 0 {
				c = byte(rng.Intn(256))
			}
			b = append(b[:i], append([]byte{c}, b[i:]...)...)
		case 3:
			j := min(len(b), i+1+rng.Intn(8))
			b = append(b[:i], b[j:]...)
		case 4:
			j := min(len(b), i+1+rng.Intn(16))
			b = append(b[:j], append(append([]byte{}, b[i:j]...), b[j:]...)...)
		}
	}
	return b
}

// nest is depth levels of open around 1, closed again.
func nest(open string, depth int) []byte {
	var b bytes.Buffer
	for range depth {
		b.WriteString(open)
	}
	b.WriteString("1")
	closer := "]"
	if open != "[" {
		closer = "}"
	}
	for range depth {
		b.WriteString(closer)
	}
	return b.Bytes()
}

// hj is a parsed JSON value that keeps member order and the raw text of
// strings and numbers, so that one position can be changed and the rest
// written back as it was.
type hj struct {
	kind  byte     // 'o' object, 'a' array, 's' string, 'v' number, true, false or null
	raw   []byte   // 's' and 'v': the text as written
	keys  [][]byte // 'o': member names, encoded
	elems []*hj    // 'o': member values; 'a': elements
}

func parseHJ(data []byte) (*hj, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := parseHJValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the value")
	}
	return v, nil
}

func parseHJValue(dec *json.Decoder) (*hj, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case json.Delim:
		n := &hj{kind: 'a'}
		if v == '{' {
			n.kind = 'o'
		}
		for dec.More() {
			if n.kind == 'o' {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				kb, _ := json.Marshal(k)
				n.keys = append(n.keys, kb)
			}
			e, err := parseHJValue(dec)
			if err != nil {
				return nil, err
			}
			n.elems = append(n.elems, e)
		}
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		return n, nil
	case string:
		b, _ := json.Marshal(v)
		return &hj{kind: 's', raw: b}, nil
	default:
		b, _ := json.Marshal(v)
		return &hj{kind: 'v', raw: b}, nil
	}
}

// paths lists the position of every value under n (n's own first).
func (n *hj) paths(prefix []int) [][]int {
	out := [][]int{append([]int{}, prefix...)}
	for i, e := range n.elems {
		out = append(out, e.paths(append(append([]int{}, prefix...), i))...)
	}
	return out
}

func (n *hj) at(p []int) *hj {
	for _, i := range p {
		n = n.elems[i]
	}
	return n
}

func (n *hj) encode(b *bytes.Buffer) {
	switch n.kind {
	case 'o', 'a':
		open, closer := byte('['), byte(']')
		if n.kind == 'o' {
			open, closer = '{', '}'
		}
		b.WriteByte(open)
		for i, e := range n.elems {
			if i > 0 {
				b.WriteByte(',')
			}
			if n.kind == 'o' {
				b.Write(n.keys[i])
				b.WriteByte(':')
			}
			e.encode(b)
		}
		b.WriteByte(closer)
	default:
		b.Write(n.raw)
	}
}

// edit writes n with f applied to a copy of the node at p.
func (n *hj) edit(p []int, f func(*hj) *hj) []byte {
	var b bytes.Buffer
	n.copyEdit(p, f).encode(&b)
	return b.Bytes()
}

func (n *hj) copyEdit(p []int, f func(*hj) *hj) *hj {
	c := *n
	if len(p) == 0 {
		c.keys = append([][]byte{}, n.keys...)
		c.elems = append([]*hj{}, n.elems...)
		return f(&c)
	}
	c.elems = append([]*hj{}, n.elems...)
	c.elems[p[0]] = n.elems[p[0]].copyEdit(p[1:], f)
	return &c
}

// replace writes n with raw text in place of the value at p.
func (n *hj) replace(p []int, raw []byte) []byte {
	return n.edit(p, func(*hj) *hj { return &hj{kind: 'v', raw: raw} })
}

// renameKey writes n with member m of the object at p renamed to key.
func (n *hj) renameKey(p []int, m int, key []byte) []byte {
	return n.edit(p, func(o *hj) *hj { o.keys[m] = key; return o })
}

// dup writes n with member m of the object at p repeated at its end, with
// val as its value (nil: the same value); m < 0 adds a member named key.
func (n *hj) dup(p []int, m int, key, val []byte) []byte {
	return n.edit(p, func(o *hj) *hj {
		v := &hj{kind: 'v', raw: val}
		if m >= 0 {
			key = o.keys[m]
			if val == nil {
				v = o.elems[m]
			}
		}
		o.keys = append(o.keys, key)
		o.elems = append(o.elems, v)
		return o
	})
}
