package api

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"creditbank/accreditation"
)

// Query parameters are strict (docs/contract.md section 8): each route lists
// the parameters it defines in its Route.Query, the endpoint refuses any
// other and any given twice with checkQuery before the handler runs, and
// the handler reads the values with the functions below, which refuse a
// malformed one naming it. Every refusal is 400 bad-parameter. An empty
// value is the same as leaving the parameter out, as an empty cursor has
// always meant the first page.

// badParameter is the refusal of query parameter name, with why.
func badParameter(name, why string) error {
	return &accreditation.Error{Code: accreditation.CodeBadParameter, Detail: "query parameter " + strconv.Quote(name) + " " + why}
}

// checkQuery refuses a query that does not parse, names a parameter the
// route does not define, or gives one more than once. Names are looked at
// in sorted order, so the same query is always refused for the same one.
func checkQuery(r *http.Request, defined []string) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return &accreditation.Error{Code: accreditation.CodeBadParameter, Detail: "the query string does not parse: " + err.Error()}
	}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !slices.Contains(defined, name) {
			takes := "none"
			if len(defined) > 0 {
				takes = strings.Join(defined, ", ")
			}
			return badParameter(name, "is not defined here; this route takes "+takes)
		}
		if n := len(values[name]); n > 1 {
			return badParameter(name, "is given "+strconv.Itoa(n)+" times; it takes one value")
		}
	}
	return nil
}

// queryValue is the value of parameter name, "" when it is left out. The
// endpoint has checked the query, so it parses and names name at most once.
func queryValue(r *http.Request, name string) string { return r.URL.Query().Get(name) }

// intParam reads parameter name as a decimal integer from min to max: ok
// false when it is left out.
func intParam(r *http.Request, name string, min, max int) (n int, ok bool, err error) {
	v := queryValue(r, name)
	if v == "" {
		return 0, false, nil
	}
	n, err = strconv.Atoi(v)
	if err != nil || strconv.Itoa(n) != v || n < min || n > max {
		return 0, false, badParameter(name, "must be a whole number from "+strconv.Itoa(min)+" to "+strconv.Itoa(max)+" in decimal, not "+strconv.Quote(v))
	}
	return n, true, nil
}

// boolParam reads parameter name as true or false: nil when it is left out.
func boolParam(r *http.Request, name string) (*bool, error) {
	switch v := queryValue(r, name); v {
	case "":
		return nil, nil
	case "true", "false":
		b := v == "true"
		return &b, nil
	default:
		return nil, badParameter(name, "must be true or false, not "+strconv.Quote(v))
	}
}

// limitParam reads a listing's limit: 1 to maxLimit, default 100.
func limitParam(r *http.Request) (int, error) {
	n, ok, err := intParam(r, "limit", 1, maxLimit)
	if err != nil || !ok {
		return defaultLimit, err
	}
	return n, nil
}

// The page size of listings when the query gives none, and the largest a
// query may ask for.
const (
	defaultLimit = 100
	maxLimit     = 1000
)
