package jsonscan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
)

// Fuzz targets for everything in this package, each against encoding/json.
// Seeds are in testdata/fuzz/<Name>/.

// testDepth is the depth limit the API passes, which the seeds of
// testdata/fuzz/FuzzCheckJSON are built around.
const testDepth = 32

// FuzzCheckJSON: Check never panics and accepts exactly one JSON value (as
// json.Valid says) that nests at most testDepth deep and whose member names
// are in lower case and appear once per object.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `1`, `"s"`, `null`, `{"a":1,"a":2}`, `{"a":{"b":[1,{"c":null}]}}`,
		`{"a":1}{}`, ` {"a" : [ true , false ] } `, `[` + strings.Repeat(`[`, 32) + strings.Repeat(`]`, 32) + `]`,
		strings.Repeat(`[`, 32) + strings.Repeat(`]`, 32), `{"a":1,"A":2}`, "{\"\xff\":1,\"\xfe\":2}", `{"\u0061":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := Check(data, testDepth)
		want := json.Valid(data)
		why := "json.Valid"
		if want {
			tr, perr := parseTree(data)
			if perr != nil {
				t.Fatalf("json.Valid but the decoder fails: %v", perr)
			}
			if d := tr.depth(); d > testDepth {
				want, why = false, fmt.Sprintf("depth %d", d)
			} else if name, bad := tr.badName(); bad {
				want, why = false, "member "+name
			}
		}
		if (err == nil) != want {
			t.Fatalf("Check(%q) = %v; want accepted=%v (%s)", data, err, want, why)
		}
	})
}

// tree is a JSON value as encoding/json's tokens give it, keeping what
// Check looks at: the nesting and each object's member names.
type tree struct {
	container bool
	names     []string // an object's member names, decoded
	elems     []*tree  // an object's member values or an array's elements
}

func parseTree(data []byte) (*tree, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tr, err := parseTreeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the value")
	}
	return tr, nil
}

func parseTreeValue(dec *json.Decoder) (*tree, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return &tree{}, nil
	}
	tr := &tree{container: true}
	for dec.More() {
		if delim == '{' {
			name, err := dec.Token()
			if err != nil {
				return nil, err
			}
			tr.names = append(tr.names, name.(string))
		}
		e, err := parseTreeValue(dec)
		if err != nil {
			return nil, err
		}
		tr.elems = append(tr.elems, e)
	}
	_, err = dec.Token()
	return tr, err
}

// depth is how many objects and arrays nest at the deepest point.
func (tr *tree) depth() int {
	if !tr.container {
		return 0
	}
	d := 0
	for _, e := range tr.elems {
		d = max(d, e.depth())
	}
	return d + 1
}

// badName finds a member name used twice in one object or not in lower
// case, and says which.
func (tr *tree) badName() (string, bool) {
	seen := map[string]bool{}
	for _, name := range tr.names {
		if seen[name] {
			return name + " twice", true
		}
		if strings.ToLower(name) != name {
			return name + " not lower case", true
		}
		seen[name] = true
	}
	for _, e := range tr.elems {
		if why, bad := e.badName(); bad {
			return why, true
		}
	}
	return "", false
}

// FuzzJSONScan: the one-pass scan accepts exactly what the token walk
// accepts, so that Check's errors come from the walk and its verdicts from
// the scan agree.
func FuzzJSONScan(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `1`, `-0.5e+7`, `01`, `1.`, `"s"`, `"\u00e9\n"`, `"\x"`, `null`, `nul`, `{"a":1,"a":2}`,
		`{"a":{"b":[1,{"c":null}]}}`, `{"a":1}{}`, ` {"a" : [ true , false ] } `, `[1,]`, `{"a":1,}`, `{"A":1}`, `{"\u0041":1}`,
		`{"é":1,"É":2}`, "{\"\xff\":1,\"\xfe\":2}", `{"\u0061":1,"a":2}`, strings.Repeat(`[`, 33) + strings.Repeat(`]`, 33),
		`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"r":18,"s":19,"t":20,"u":21,"v":22,"w":23,"x":24,"y":25,"z":26,"aa":27,"ab":28,"ac":29,"ad":30,"ae":31,"af":32,"ag":33,"a":34}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		scan, walk := acceptable(data, testDepth), checkTokens(data, testDepth)
		if scan != (walk == nil) {
			t.Fatalf("acceptable(%q) = %v, checkTokens = %v", data, scan, walk)
		}
	})
}

// FuzzObjectHasMember: on what Check accepts, ObjectHasMember says what
// decoding into a map says.
func FuzzObjectHasMember(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `1`, `{"outcomes":[]}`, `{"a":{"outcomes":1},"b":2}`, `{"a":[1,{"x":2}],"outcomes":null}`,
		`{"\u006futcomes":1}`, ` { "learner" : "L1" , "outcomes" : 3 } `, `"outcomes"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if Check(data, testDepth) != nil {
			return
		}
		var probe map[string]json.RawMessage
		wantObject := json.Unmarshal(data, &probe) == nil && probe != nil
		_, wantHas := probe["outcomes"]
		isObject, has := ObjectHasMember(data, "outcomes", testDepth)
		if isObject != wantObject || has != wantHas {
			t.Fatalf("ObjectHasMember(%q) = %v, %v; want %v, %v", data, isObject, has, wantObject, wantHas)
		}
	})
}

// FuzzCompactObject: CompactObject accepts exactly the JSON objects that
// json.Compact leaves unchanged.
func FuzzCompactObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":[1,2.5e-3,{"b":null}],"c":true,"d":"x\"\\\/\b\f\n\r\tq\u00e9"}`,
		`{ "a":1}`, `{"a":01}`, `{"a":-0.1E+2}`, `{"a":1.}`, `{"a":"\x01"}`, `[1]`, `{"a":1}x`, `{"a":tru}`,
		`{"a":"\u12g4"}`, `{"a":1,}`, `{,}`, `{"a"}`, `{"a":1 }`, `{"A":1,"A":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := CompactObject(b)
		want := false
		if len(b) > 0 && b[0] == '{' && json.Valid(b) {
			var buf bytes.Buffer
			want = json.Compact(&buf, b) == nil && bytes.Equal(buf.Bytes(), b)
		}
		if got != want {
			t.Fatalf("CompactObject(%q) = %t, encoding/json says %t", b, got, want)
		}
	})
}

// FuzzScanner: on what Check accepts, reading the value back with the
// Scanner's methods and writing it out again gives what json.Compact
// gives, and each reader that answers agrees with json.Unmarshal.
func FuzzScanner(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `null`, ` {"a" : [ true , false, null ] , "b":{}} `, `"x"`, `"\u00e9"`, `"é"`,
		`{"n":[0,-0,12,-7,1.5,1e3,9223372036854775807,9223372036854775808,-9223372036854775809,18446744073709551616]}`,
		`{"s":["","a\"b","\/","日本"]}`, `{"\u0061":1}`, `{"é":1}`, `[[[[1]]]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if Check(data, testDepth) != nil {
			return
		}
		s := NewScanner(data, testDepth)
		got, ok := rebuild(t, s, nil)
		if !ok {
			// Only a name with an escape or a byte beyond ASCII is refused.
			if !bytes.ContainsFunc(data, func(r rune) bool { return r == '\\' || r >= 0x80 }) {
				t.Fatalf("reading %q back failed", data)
			}
			return
		}
		if !s.End() {
			t.Fatalf("reading %q back stopped at %d", data, s.i)
		}
		var want bytes.Buffer
		if err := json.Compact(&want, data); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("read back %q as %q; json.Compact gives %q", data, got, want.Bytes())
		}
	})
}

// rebuild reads the value at s with the Scanner's methods, appending it to
// out in compact form, and checks each leaf's readers against
// json.Unmarshal.
func rebuild(t *testing.T, s *Scanner, out []byte) ([]byte, bool) {
	s.space()
	open := s.b[s.i]
	if open != '{' && open != '[' {
		checkLeaf(t, *s)
		raw, ok := s.Value()
		if !ok {
			t.Fatalf("Value refused %q at %d", s.b, s.i)
		}
		return append(out, raw...), true
	}
	out = append(out, open)
	first := true
	sep := func() {
		if !first {
			out = append(out, ',')
		}
		first = false
	}
	if open == '{' {
		ok := s.Members(func(name []byte) bool {
			sep()
			out = append(append(append(out, '"'), name...), '"', ':')
			var ok bool
			out, ok = rebuild(t, s, out)
			return ok
		})
		return append(out, '}'), ok
	}
	items, ok := s.Items()
	for _, item := range items {
		sep()
		is := NewScanner(item, testDepth)
		if out, ok = rebuild(t, is, out); !ok {
			return out, false
		}
		if !is.End() {
			t.Fatalf("item %q read back only up to %d", item, is.i)
		}
	}
	return append(out, ']'), ok
}

// checkLeaf tries each reader on a copy of the scanner at a string, number
// or literal: a reader answers only for a value of its kind, and then with
// what json.Unmarshal gives; Int and Uint answer for every number that
// json.Unmarshal can put in their type.
func checkLeaf(t *testing.T, at Scanner) {
	end := at
	raw, _ := end.Value()
	isString := raw[0] == '"'
	isNumber := raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9'
	{
		s := at
		var v, want string
		if ok := s.Text(&v); ok && (!isString || json.Unmarshal(raw, &want) != nil || v != want) {
			t.Fatalf("Text read %q as %q; json.Unmarshal gives %q", raw, v, want)
		}
	}
	{
		s := at
		if q, ok := s.PlainString(); ok && (!isString || !bytes.Equal(q, raw) ||
			bytes.ContainsFunc(q, func(r rune) bool { return r == '\\' || r < 0x20 || r >= 0x80 })) {
			t.Fatalf("PlainString read %q as %q", raw, q)
		}
	}
	{
		s := at
		var v, want bool
		if ok := s.Bool(&v); ok && (json.Unmarshal(raw, &want) != nil || v != want) {
			t.Fatalf("Bool read %q as %v; json.Unmarshal gives %v", raw, v, want)
		}
	}
	{
		s := at
		var v, want int64
		ok := s.Int(&v)
		err := json.Unmarshal(raw, &want)
		if ok != (isNumber && err == nil) || ok && v != want {
			t.Fatalf("Int read %q as %d, %v; json.Unmarshal gives %d, %v", raw, v, ok, want, err)
		}
	}
	{
		s := at
		var v, want uint64
		ok := s.Uint(&v)
		err := json.Unmarshal(raw, &want)
		if ok != (isNumber && err == nil) || ok && v != want {
			t.Fatalf("Uint read %q as %d, %v; json.Unmarshal gives %d, %v", raw, v, ok, want, err)
		}
	}
}
