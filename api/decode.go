package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"runtime"
	"strconv"
	"unicode/utf8"

	"creditbank/internal/jsonscan"
)

// Body limits. A batch of 10,000 outcomes is about 6 MiB.
const (
	maxBody      = 64 << 10
	maxBatchBody = 16 << 20
	maxJSONDepth = 32
)

// readJSON reads a JSON request body into v: the content type must be
// application/json, the body at most limit bytes, with no duplicate member
// names, no members v does not know, and nothing after the value. It
// answers the request itself and returns false when the body is refused.
func readJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	data, ok := readBody(w, r, limit)
	if !ok {
		return false
	}
	if err := decodeStrict(data, v); err != nil {
		writeProblem(w, http.StatusBadRequest, "bad-json", "Bad JSON body", err.Error())
		return false
	}
	return true
}

// readLimited reads a request body of at most limit bytes, whatever its
// type, answering the request itself when it is refused: over the
// caller's body budget, over limit (413), or cut short (400 with the
// problem kind and title given).
func readLimited(w http.ResponseWriter, r *http.Request, limit int64, kind, title string) ([]byte, bool) {
	data, err := readAll(http.MaxBytesReader(w, r.Body, limit), r.ContentLength, limit)
	if err != nil {
		// The caller's body budget (budget.go) ran out as the body came
		// in: it is refused before any of it is checked.
		var over *overBudgetError
		if errors.As(err, &over) {
			over.write(w)
			return nil, false
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeProblem(w, http.StatusRequestEntityTooLarge, "too-large", "Body too large",
				"the body may be at most "+strconv.FormatInt(limit, 10)+" bytes")
			return nil, false
		}
		writeProblem(w, http.StatusBadRequest, kind, title, "reading the body failed")
		return nil, false
	}
	return data, true
}

// readBody reads a JSON request body and checks its form, without decoding.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeProblem(w, http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
			"send the body as application/json")
		return nil, false
	}
	data, ok := readLimited(w, r, limit, "bad-json", "Bad JSON body")
	if !ok {
		return nil, false
	}
	if len(data) > largeBody {
		// Checking a large body is long work, done as many at a time as
		// long reads are, for the same reason.
		select {
		case largeBodyChecks <- struct{}{}:
			defer func() { <-largeBodyChecks }()
		case <-r.Context().Done():
			return nil, false
		}
	}
	// encoding/json would turn invalid UTF-8 into U+FFFD and store text the
	// client never sent.
	if !utf8.Valid(data) {
		writeProblem(w, http.StatusBadRequest, "bad-json", "Bad JSON body", "the body is not valid UTF-8")
		return nil, false
	}
	if err := checkJSON(data); err != nil {
		writeProblem(w, http.StatusBadRequest, "bad-json", "Bad JSON body", err.Error())
		return nil, false
	}
	return data, true
}

// largeBody is the size past which a body's check waits for one of
// largeBodyChecks: one fewer than the cores, so that a client sending 16
// MiB bodies from many connections (each some 100 ms of checking) leaves a
// core to the sequencer and the short requests.
const largeBody = 1 << 20

var largeBodyChecks = make(chan struct{}, longReadSlots(runtime.GOMAXPROCS(0)))

// readAll is io.ReadAll with the buffer sized from the Content-Length, when
// the client sent one within the limit: a batch body grown from
// io.ReadAll's 512 bytes was copied a dozen times over. At most
// maxPresize is reserved before the bytes arrive, so that a client
// announcing a large body it does not send holds little memory.
func readAll(r io.Reader, contentLength, limit int64) ([]byte, error) {
	const maxPresize = 1 << 20
	if contentLength <= 0 || contentLength > limit {
		return io.ReadAll(r)
	}
	buf := bytes.NewBuffer(make([]byte, 0, min(contentLength+1, maxPresize))) // +1: EOF is seen without growing
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// checkJSON checks the form of a request body (see jsonscan.Check): one
// JSON value, at most maxJSONDepth deep, with member names in lower case,
// each once per object.
func checkJSON(data []byte) error {
	return jsonscan.Check(data, maxJSONDepth)
}

// objectHasMember reports whether data, which checkJSON accepted, is an
// object, and whether it has a member called name at its top level.
func objectHasMember(data []byte, name string) (isObject, has bool) {
	return jsonscan.ObjectHasMember(data, name, maxJSONDepth)
}

// decodeStrict decodes data into v refusing unknown members.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body: %v", err)
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}
