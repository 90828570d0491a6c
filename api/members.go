package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// Some bodies must spell out every member (docs/contract.md section 8): a
// rule republished without its cap once silently lost the cap, because a
// member left out decoded as null. Those bodies are decoded strictly as any
// other and then checked with requireMembers against their list below.

// member is one member a body must carry: a dotted path into nested
// objects, and whether null may stand for "none".
type member struct {
	path     string
	nullable bool
}

// ruleMembers are the members of a rule body, all required; reinstate is
// an option of the request and may be left out.
var ruleMembers = []member{
	{"id", false},
	{"target", false},
	{"target.institution", false},
	{"target.programme", false},
	{"source", false},
	{"source.sectors", false},
	{"source.min_level", false},
	{"source.fields", false},
	{"source.min_score", true},
	{"source.max_age_days", true},
	{"source.institutions", false},
	{"ratio", false},
	{"cap", true},
	{"valid_from", false},
	{"valid_until", true},
}

// reasonMembers are the members of a body that gives only a reason.
var reasonMembers = []member{{"reason", false}}

// requireMembers checks that data, a JSON object that decoded strictly,
// carries every member of the list, and null only where the list allows
// it. The error names the first member wanting, in list order.
func requireMembers(data []byte, members []member) error {
	objects := map[string]map[string]json.RawMessage{}
	var object func(path string) map[string]json.RawMessage
	object = func(path string) map[string]json.RawMessage {
		if o, ok := objects[path]; ok {
			return o
		}
		var o map[string]json.RawMessage
		if path == "" {
			_ = json.Unmarshal(data, &o)
		} else {
			parent, name := splitPath(path)
			if raw, ok := object(parent)[name]; ok {
				_ = json.Unmarshal(raw, &o) // null or not an object: nil
			}
		}
		objects[path] = o
		return o
	}
	for _, m := range members {
		parent, name := splitPath(m.path)
		raw, ok := object(parent)[name]
		switch {
		case !ok:
			how := "give it a value"
			if m.nullable {
				how = "give it a value, or null for none"
			}
			return errors.New("body: member " + m.path + " is required: " + how)
		case !m.nullable && string(raw) == "null":
			return errors.New("body: member " + m.path + " may not be null")
		}
	}
	return nil
}

// splitPath splits a dotted member path into its parent and its last name.
func splitPath(path string) (parent, name string) {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i], path[i+1:]
	}
	return "", path
}

// readMembers reads a JSON body into v as readJSON does and then requires
// the members of the list, answering 400 bad-json naming the first one
// wanting.
func readMembers(w http.ResponseWriter, r *http.Request, v any, members []member) bool {
	return readMembersLimit(w, r, v, members, maxBody)
}

// readMembersLimit is readMembers of a body of at most limit bytes.
func readMembersLimit(w http.ResponseWriter, r *http.Request, v any, members []member, limit int64) bool {
	data, ok := readBody(w, r, limit)
	if !ok {
		return false
	}
	err := decodeStrict(data, v)
	if err == nil {
		err = requireMembers(data, members)
	}
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "bad-json", "Bad JSON body", err.Error())
		return false
	}
	return true
}
