package accreditation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"

	"creditbank/ledger"
	"creditbank/vault"
)

// TranscriptFilter selects the outcomes of a transcript (docs/contract.md
// section 8): each field that is set must match, and a zero field matches
// everything. From and To bound completed_on, both inclusive.
type TranscriptFilter struct {
	Sector      string
	Level       int
	Institution string
	// Status is "active", "revoked" or "" for both.
	Status   string
	From, To string
}

// Statuses of an outcome on a transcript.
const (
	StatusActive  = "active"
	StatusRevoked = "revoked"
)

func (f TranscriptFilter) empty() bool { return f == TranscriptFilter{} }

// Validate checks each field's form, naming the query parameter of the same
// name in a CodeBadParameter refusal.
func (f TranscriptFilter) Validate() error {
	if f.Sector != "" && !ValidSector(f.Sector) {
		return errorf(CodeBadParameter, "sector: unknown sector %q (one of %v)", f.Sector, sectors)
	}
	if f.Level != 0 && (f.Level < 1 || f.Level > 10) {
		return errorf(CodeBadParameter, "level: %d is not a framework level from 1 to 10", f.Level)
	}
	if f.Institution != "" && !institutionIDPattern.MatchString(f.Institution) {
		return errorf(CodeBadParameter, "institution: %q does not match %s", f.Institution, institutionIDPattern)
	}
	if f.Status != "" && f.Status != StatusActive && f.Status != StatusRevoked {
		return errorf(CodeBadParameter, "status: %q is neither %s nor %s", f.Status, StatusActive, StatusRevoked)
	}
	return checkFilterDates(f.From, f.To)
}

// checkFilterDates checks the from and to of a listing's filter.
func checkFilterDates(from, to string) error {
	for _, d := range []struct{ name, v string }{{"from", from}, {"to", to}} {
		if d.v == "" {
			continue
		}
		if _, err := parseDate(d.name, d.v); err != nil {
			return &Error{Code: CodeBadParameter, Detail: d.name + ": " + err.(*Error).Detail}
		}
	}
	return nil
}

// matches reports whether the outcome st passes the filter.
func (f TranscriptFilter) matches(st *outcomeState) bool {
	return (f.Sector == "" || st.Sector == f.Sector) && (f.Level == 0 || st.Level == f.Level) &&
		(f.Institution == "" || st.Institution == f.Institution) &&
		(f.Status == "" || (f.Status == StatusRevoked) == st.Revoked) &&
		(f.From == "" || st.CompletedOn >= f.From) && (f.To == "" || st.CompletedOn <= f.To)
}

// values is the filter as the query parameters that ask for it.
func (f TranscriptFilter) values() url.Values {
	v := url.Values{}
	for _, p := range []struct{ name, v string }{
		{"sector", f.Sector}, {"institution", f.Institution}, {"status", f.Status}, {"from", f.From}, {"to", f.To},
	} {
		if p.v != "" {
			v.Set(p.name, p.v)
		}
	}
	if f.Level != 0 {
		v.Set("level", strconv.Itoa(f.Level))
	}
	return v
}

// transcriptFilterOf reads back what values wrote, for a cursor.
func transcriptFilterOf(v url.Values) (TranscriptFilter, error) {
	f := TranscriptFilter{Sector: v.Get("sector"), Institution: v.Get("institution"), Status: v.Get("status"),
		From: v.Get("from"), To: v.Get("to")}
	if l := v.Get("level"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			return TranscriptFilter{}, err
		}
		f.Level = n
	}
	if err := f.Validate(); err != nil {
		return TranscriptFilter{}, err
	}
	if f.values().Encode() != v.Encode() {
		return TranscriptFilter{}, errors.New("not a filter this bank writes")
	}
	return f, nil
}

// TranscriptQuery asks for one page of a learner's transcript.
type TranscriptQuery struct {
	Learner string
	Filter  TranscriptFilter
	// Cursor is "" for the first page, or a next_cursor of an earlier
	// page: it continues that page's filter, which Filter may repeat or
	// leave zero but not change.
	Cursor string
	Limit  int
	// Reader is who reads. An outcome's idempotency key is the posting
	// institution's own bookkeeping: only that institution sees it.
	Reader Actor
	// Decode fills each outcome's Outcome; otherwise outcomes keep their
	// stored bytes and only their JSON shows them (a page is written out
	// faster so).
	Decode bool

	// everyKey shows every idempotency key, for the bank's own reads.
	everyKey bool
}

// transcriptScanLimit bounds how many of a learner's entries one filtered
// page looks at, so that a filter that matches little cannot make one
// request read a whole lifetime's record: such a page may come back short,
// even empty, with a next_cursor. A variable only so that tests can lower it.
var transcriptScanLimit = 10000

// TranscriptPage reads one page of a learner's transcript as q.Reader may
// see it: the outcomes q.Filter selects (every entry of the learner when it
// is zero), and the totals of the whole transcript, all as of one durable
// tree size.
func (b *Bank) TranscriptPage(q TranscriptQuery) (*Transcript, error) {
	return b.transcript(q)
}

// transcriptPosition reads a transcript cursor: the seq to start from and
// the filter to read with. A listing without a filter pages with the
// ledger's own cursors, as it always has.
func transcriptPosition(cursor string, asked TranscriptFilter) (uint64, TranscriptFilter, error) {
	if cursor == "" {
		return 0, asked, nil
	}
	if seq, err := ledger.ParseCursor(cursor); err == nil {
		if _, err := continueFilter(asked.values(), url.Values{}); err != nil {
			return 0, TranscriptFilter{}, err
		}
		return seq, TranscriptFilter{}, nil
	}
	pos, carried, err := parseListCursor('t', cursor)
	if err != nil {
		return 0, TranscriptFilter{}, err
	}
	seq, err := strconv.ParseUint(pos, 10, 64)
	if err != nil || strconv.FormatUint(seq, 10) != pos || len(carried) == 0 {
		return 0, TranscriptFilter{}, badCursor("the cursor was not issued by this listing")
	}
	f, err := transcriptFilterOf(carried)
	if err != nil {
		return 0, TranscriptFilter{}, badCursor("the cursor was not issued by this listing")
	}
	if _, err := continueFilter(asked.values(), carried); err != nil {
		return 0, TranscriptFilter{}, err
	}
	return seq, f, nil
}

// transcriptCursor is the cursor of the page starting at seq.
func transcriptCursor(seq uint64, f TranscriptFilter) string {
	if f.empty() {
		return ledger.FormatCursor(seq)
	}
	return formatListCursor('t', strconv.FormatUint(seq, 10), f.values())
}

// selectTranscript lists the entries of learner a page shows, from start:
// without a filter, the next limit entries of any kind; with one, the next
// limit outcomes that match it, looking at no more than
// transcriptScanLimit entries. next is where the following page starts, or
// nil after the last.
func selectTranscript(r *ledger.Reader, s store, learner string, start uint64, f TranscriptFilter, limit int) (seqs []uint64, next *uint64, err error) {
	if f.empty() {
		return selectLearnerEntries(r, learner, start, limit, nil)
	}
	return selectLearnerEntries(r, learner, start, limit, func(seq uint64) (bool, error) {
		// Only outcomes have an outcome state; the filter reads it
		// rather than the entry.
		st, err := getJSON[outcomeState](s, outKey(seq))
		return err == nil && st != nil && f.matches(st), err
	})
}

// selectLearnerEntries lists up to limit of the learner's entries from
// start, in seq order, that keep takes (every one when keep is nil), and
// the seq to go on from when there are more. A page that keeps only some
// looks at no more than transcriptScanLimit entries, so that a selection
// matching little cannot make one read scan a lifetime; it may then come
// back short, with next set.
func selectLearnerEntries(r *ledger.Reader, learner string, start uint64, limit int, keep func(seq uint64) (bool, error)) (seqs []uint64, next *uint64, err error) {
	scanned := 0
	var ierr error
	err = r.Index(IndexLearner, learner, start, func(seq uint64) bool {
		if len(seqs) == limit || (keep != nil && scanned == transcriptScanLimit) {
			next = &seq
			return false
		}
		scanned++
		if keep == nil {
			seqs = append(seqs, seq)
			return true
		}
		ok, err := keep(seq)
		if err != nil {
			ierr = err
			return false
		}
		if ok {
			seqs = append(seqs, seq)
		}
		return true
	})
	return seqs, next, errors.Join(err, ierr)
}

// OutcomeRevocation says which entry revoked an outcome and why, as a
// transcript shows it beside the outcome.
type OutcomeRevocation struct {
	Seq    uint64 `json:"seq"`
	Reason string `json:"reason"`
	// SupersededBy is the outcome that corrected this one, when the reason
	// is "superseded".
	SupersededBy *uint64 `json:"superseded_by,omitempty"`
}

// revocationKey is where the state keeps the revocation of outcome seq.
func revocationKey(seq uint64) string { return hexKey("revocation/", seq) }

// putRevocation keeps the revocation e of an outcome beside its state, so
// that a transcript shows the reason without looking for the entry.
func putRevocation(s store, e ledger.Entry, r Revocation) error {
	return putJSON(s, revocationKey(r.Outcome), OutcomeRevocation{Seq: e.Seq, Reason: r.Reason, SupersededBy: r.SupersededBy})
}

// transcriptRead is what one transcript page keeps while it writes its
// outcomes: who reads and the names of the institutions met so far.
type transcriptRead struct {
	bank     *Bank
	reader   Actor
	decode   bool
	everyKey bool
	names    map[string]string
	// learner is the id read, and key its data key, which opens its
	// sealed outcomes (erasure.go).
	learner string
	key     vault.DataKey
}

// outcome is outcome seq, recorded at at with entry content content, as
// the page shows it.
func (rd *transcriptRead) outcome(r *ledger.Reader, s store, seq uint64, at string, content json.RawMessage) (TranscriptOutcome, error) {
	to := TranscriptOutcome{Seq: seq, RecordedAt: at, Status: StatusActive}
	if isSealed(content) && rd.decode {
		o, plain, err := openOutcome(content, seq, rd.key)
		if err != nil {
			return TranscriptOutcome{}, err
		}
		content, to.Outcome = plain, *o
	} else if isSealed(content) {
		plain, err := openContent(content, seq, rd.key)
		if err != nil {
			return TranscriptOutcome{}, err
		}
		content = plain
	}
	var inst string
	if to.Outcome.Institution != "" {
		inst = to.Institution
	} else if rd.decode {
		if err := unmarshalContent(content, &to.Outcome); err != nil {
			return TranscriptOutcome{}, err
		}
		inst = to.Institution
	} else {
		to.content = content
		inst = contentInstitution(content)
	}
	st, err := s.get(outKey(seq))
	if err != nil {
		return TranscriptOutcome{}, err
	}
	if stateRevoked(st) {
		to.Status = StatusRevoked
		if to.Revocation, err = findRevocation(r, s, seq); err != nil {
			return TranscriptOutcome{}, err
		}
	}
	if to.InstitutionName, err = rd.institutionName(r, s, inst); err != nil {
		return TranscriptOutcome{}, err
	}
	if !rd.everyKey && (rd.reader.Role != RoleInstitution || rd.reader.ID != inst) {
		to.hideKey = true
		to.IdempotencyKey = ""
	}
	return to, nil
}

// contentInstitution reads the institution of an outcome's stored content
// without decoding it: the member is one the bank appends, and in the
// compact JSON it stores `,"institution":"` cannot occur inside a string,
// where every quote is escaped. Institution ids hold no escapes.
func contentInstitution(content []byte) string {
	const member = `,"institution":"`
	i := bytes.LastIndex(content, []byte(member))
	if i < 0 {
		return ""
	}
	rest := content[i+len(member):]
	if end := bytes.IndexByte(rest, '"'); end >= 0 {
		return string(rest[:end])
	}
	return ""
}

// institutionName is the name of institution id; institutions keep their
// names, so one read per page is enough.
func (rd *transcriptRead) institutionName(r *ledger.Reader, s store, id string) (string, error) {
	if name, ok := rd.names[id]; ok {
		return name, nil
	}
	in, ok := rd.bank.insts.get(id)
	if !ok {
		var err error
		if in, err = loadInstitution(s, id); err != nil {
			return "", fmt.Errorf("outcome of institution %q: %w", id, err)
		}
		rd.bank.insts.put(id, in, r.Size())
	}
	rd.names[id] = in.Name
	return in.Name, nil
}

// findRevocation returns the revocation of outcome seq. A store written
// before revocations were kept beside the outcome has none for the ones it
// holds; their entry is then found among the learner's entries after the
// outcome, where every revocation is listed.
func findRevocation(r *ledger.Reader, s store, seq uint64) (*OutcomeRevocation, error) {
	rev, err := getJSON[OutcomeRevocation](s, revocationKey(seq))
	if err != nil || rev != nil {
		return rev, err
	}
	st, err := getJSON[outcomeState](s, outKey(seq))
	if err != nil || st == nil {
		return nil, err
	}
	var ierr error
	err = r.Index(IndexLearner, st.Learner, seq+1, func(at uint64) bool {
		b, err := r.Entry(at)
		if err != nil {
			ierr = err
			return false
		}
		e, err := ledger.DecodeEntry(b)
		if err != nil || e.Type != TypeOutcomeRevoked {
			ierr = err
			return err == nil
		}
		var rv Revocation
		if err := unmarshalContent(e.Content, &rv); err != nil {
			ierr = err
			return false
		}
		if rv.Outcome == seq {
			rev = &OutcomeRevocation{Seq: at, Reason: rv.Reason, SupersededBy: rv.SupersededBy}
			return false
		}
		return true
	})
	return rev, errors.Join(err, ierr)
}

// membersWithoutKey is the members of an outcome's JSON object body after
// its opening brace, down to the closing one, less the idempotency_key
// member. The member comes first in every outcome the bank writes (the
// canonical form and encoding/json alike) and the key holds no quote or
// escape, so it is cut off the front without a copy; any other shape is
// read member by member and written again without it.
func membersWithoutKey(body []byte) []byte {
	const member = `{"idempotency_key":"`
	if bytes.HasPrefix(body, []byte(member)) {
		rest := body[len(member):]
		if end := bytes.IndexByte(rest, '"'); end >= 0 && !slices.Contains(rest[:end], '\\') {
			rest = rest[end+1:]
			if len(rest) > 0 && rest[0] == ',' {
				rest = rest[1:]
			}
			return rest
		}
	}
	out, err := dropMember(body, "idempotency_key")
	if err != nil {
		return body[1:] // not an object: there is no key to hide
	}
	return out[1:]
}

// dropMember writes the JSON object body again without its member name,
// keeping the other members in order and their values as they stand.
func dropMember(body []byte, name string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	out := []byte{'{'}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		if key == name {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(appendJSONText(out, key), ':')
		out = append(out, value...)
	}
	return append(out, '}'), nil
}
