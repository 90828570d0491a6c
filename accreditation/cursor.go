package accreditation

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"

	"creditbank/ledger"
)

// Listings that filter, or that run over the state's keys rather than a
// ledger index, page with cursors of their own: a letter naming the
// listing, the position of the first item of the next page, and the filter
// the listing was read with, so that a cursor continues the listing it came
// from (docs/contract.md section 8). The cursor is opaque to clients and
// carries nothing they could not send themselves: it is parsed as strictly
// as their query.

// formatListCursor encodes a position in listing kind and its filter.
func formatListCursor(kind byte, pos string, filter url.Values) string {
	b := make([]byte, 0, 2+len(pos)+32)
	b = append(append(append(b, kind), pos...), '\n')
	b = append(b, filter.Encode()...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// parseListCursor decodes a cursor formatListCursor made for listing kind.
func parseListCursor(kind byte, cursor string) (pos string, filter url.Values, err error) {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(cursor)
	// Decoding skips CR and LF; the re-encoding check refuses them.
	if err != nil || len(raw) < 2 || raw[0] != kind || base64.RawURLEncoding.EncodeToString(raw) != cursor {
		return "", nil, badCursor("the cursor was not issued by this listing")
	}
	pos, query, ok := strings.Cut(string(raw[1:]), "\n")
	if !ok || pos == "" {
		return "", nil, badCursor("the cursor was not issued by this listing")
	}
	filter, err = url.ParseQuery(query)
	if err != nil || filter.Encode() != query {
		return "", nil, badCursor("the cursor was not issued by this listing")
	}
	return pos, filter, nil
}

// continueFilter is the filter a page is read with when the request carries
// a cursor: the cursor's own, which the request may repeat or leave out but
// not change, since the position means nothing under another filter.
func continueFilter(asked, carried url.Values) (url.Values, error) {
	if len(asked) == 0 || asked.Encode() == carried.Encode() {
		return carried, nil
	}
	was := carried.Encode()
	if was == "" {
		was = "no filter"
	}
	return nil, badCursor("the cursor continues a listing read with %s, not %s: repeat those parameters or leave them out", was, asked.Encode())
}

// badCursor is a refused cursor, answered as ledger.ErrBadCursor is.
func badCursor(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ledger.ErrBadCursor, fmt.Sprintf(format, args...))
}
