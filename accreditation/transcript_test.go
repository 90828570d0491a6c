package accreditation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"creditbank/ledger"
)

// tfOutcome is one outcome the transcript tests post, and what the filters
// look at.
type tfOutcome struct {
	inst, sector, completed string
	level                   int
	revoke                  bool
}

// tfSetup posts outcomes of learner L1 from two institutions, revokes some,
// and puts a conversion between them, so that a transcript holds entries
// that are not outcomes. It returns the bank and the seq of each outcome.
func tfSetup(t *testing.T) (*testBank, []uint64) {
	t.Helper()
	b, college, univ := rtSetup(t)
	list := []tfOutcome{
		{rtCollege, "non_degree", "2026-01-10", 6, false},
		{rtCollege, "community", "2026-02-10", 3, true},
		{rtUniv, "degree", "2026-03-10", 6, false},
		{rtCollege, "community", "2026-04-10", 4, false},
		{rtUniv, "community", "2026-05-10", 3, false},
		{rtCollege, "vocational", "2026-06-10", 5, true},
		{rtUniv, "degree", "2026-07-10", 7, false},
	}
	seqs := make([]uint64, len(list))
	for i, o := range list {
		in := outcome("L1", fmt.Sprintf("tf-%d", i))
		in.Unit.Code = fmt.Sprintf("TF%d", i)
		in.Sector, in.Level, in.CompletedOn = o.sector, o.level, o.completed
		actor := college
		if o.inst == rtUniv {
			actor = univ
		}
		seqs[i] = b.post(t, actor, in)
		if i == 2 {
			rtPublish(t, b, rtRule("tf-rule", "BSC"))
			rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "tf-rule", Outcomes: []uint64{seqs[0]}})
		}
	}
	for i, o := range list {
		if o.revoke {
			actor := college
			if o.inst == rtUniv {
				actor = univ
			}
			if _, err := b.Revoke(context.Background(), actor, seqs[i], fmt.Sprintf("entered in error (%d)", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return b, seqs
}

// tfPages reads every page of the filtered transcript and returns the
// outcome seqs in order and the pages read.
func tfPages(t *testing.T, b *testBank, f TranscriptFilter, limit int, repeatFilter bool) ([]uint64, int) {
	t.Helper()
	var got []uint64
	q := TranscriptQuery{Learner: "L1", Filter: f, Limit: limit, Reader: admin}
	for pages := 1; ; pages++ {
		if pages > 100 {
			t.Fatal("more than 100 pages")
		}
		tr, err := b.TranscriptPage(q)
		if err != nil {
			t.Fatalf("page %d of %+v: %v", pages, f, err)
		}
		if len(tr.Outcomes) > limit {
			t.Fatalf("page of %d outcomes with limit %d", len(tr.Outcomes), limit)
		}
		if f != (TranscriptFilter{}) && len(tr.Conversions) > 0 {
			t.Fatalf("a filtered page lists conversions %+v", tr.Conversions)
		}
		for _, o := range tr.Outcomes {
			got = append(got, o.Seq)
		}
		if tr.NextCursor == "" {
			return got, pages
		}
		q.Cursor = tr.NextCursor
		if !repeatFilter {
			q.Filter = TranscriptFilter{}
		}
	}
}

// TestTranscriptFilters: each filter, and filters together, select exactly
// the outcomes that match every one of them, over every page; a cursor
// carries its filter, whether the next request repeats it or not.
func TestTranscriptFilters(t *testing.T) {
	b, s := tfSetup(t)
	cases := []struct {
		name   string
		filter TranscriptFilter
		want   []uint64
	}{
		{"none", TranscriptFilter{}, s},
		{"sector", TranscriptFilter{Sector: "community"}, []uint64{s[1], s[3], s[4]}},
		{"level", TranscriptFilter{Level: 3}, []uint64{s[1], s[4]}},
		{"institution", TranscriptFilter{Institution: rtUniv}, []uint64{s[2], s[4], s[6]}},
		{"active", TranscriptFilter{Status: StatusActive}, []uint64{s[0], s[2], s[3], s[4], s[6]}},
		{"revoked", TranscriptFilter{Status: StatusRevoked}, []uint64{s[1], s[5]}},
		{"from", TranscriptFilter{From: "2026-05-10"}, []uint64{s[4], s[5], s[6]}},
		{"to", TranscriptFilter{To: "2026-02-10"}, []uint64{s[0], s[1]}},
		{"from and to inclusive", TranscriptFilter{From: "2026-03-10", To: "2026-05-10"}, []uint64{s[2], s[3], s[4]}},
		{"sector and institution", TranscriptFilter{Sector: "community", Institution: rtCollege}, []uint64{s[1], s[3]}},
		{"sector, status and level", TranscriptFilter{Sector: "community", Status: StatusActive, Level: 3}, []uint64{s[4]}},
		{"all six", TranscriptFilter{Sector: "degree", Level: 7, Institution: rtUniv, Status: StatusActive, From: "2026-07-10", To: "2026-07-10"}, []uint64{s[6]}},
		{"nothing matches", TranscriptFilter{Sector: "elderly"}, nil},
		{"from after to", TranscriptFilter{From: "2026-06-01", To: "2026-05-01"}, nil},
	}
	for _, tc := range cases {
		for _, limit := range []int{1, 2, 100} {
			for _, repeat := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s/limit %d/repeat %t", tc.name, limit, repeat), func(t *testing.T) {
					got, _ := tfPages(t, b, tc.filter, limit, repeat)
					if !slices.Equal(got, tc.want) {
						t.Fatalf("outcomes %v, want %v", got, tc.want)
					}
				})
			}
		}
	}
	b.checkReplay(t)
}

// TestTranscriptFilterTotals: totals are the whole transcript's, whatever
// the filter and the page.
func TestTranscriptFilterTotals(t *testing.T) {
	b, _ := tfSetup(t)
	whole, err := b.Balance("L1")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(whole)
	for _, f := range []TranscriptFilter{{}, {Sector: "community"}, {Status: StatusRevoked}, {Sector: "elderly"}} {
		tr, err := b.TranscriptPage(TranscriptQuery{Learner: "L1", Filter: f, Limit: 1, Reader: admin})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := json.Marshal(tr.Totals); string(got) != string(want) {
			t.Errorf("filter %+v: totals %s, want the whole balance %s", f, got, want)
		}
	}
}

// TestTranscriptCursors: a cursor continues only its own listing and
// filter; anything else is ledger.ErrBadCursor, and a bad filter value is
// CodeBadParameter naming the parameter.
func TestTranscriptCursors(t *testing.T) {
	b, _ := tfSetup(t)
	page := func(f TranscriptFilter, cursor string) (*Transcript, error) {
		return b.TranscriptPage(TranscriptQuery{Learner: "L1", Filter: f, Cursor: cursor, Limit: 1, Reader: admin})
	}
	community := TranscriptFilter{Sector: "community"}
	first, err := page(community, "")
	if err != nil || first.NextCursor == "" {
		t.Fatalf("first page %+v %v", first, err)
	}
	plain, err := page(TranscriptFilter{}, "")
	if err != nil || plain.NextCursor == "" {
		t.Fatalf("first unfiltered page %+v %v", plain, err)
	}
	if _, err := ledger.ParseCursor(plain.NextCursor); err != nil {
		t.Errorf("an unfiltered page's cursor %q is no longer the ledger's: %v", plain.NextCursor, err)
	}
	for _, tc := range []struct {
		name   string
		filter TranscriptFilter
		cursor string
	}{
		{"other filter", TranscriptFilter{Sector: "degree"}, first.NextCursor},
		{"more filters", TranscriptFilter{Sector: "community", Level: 3}, first.NextCursor},
		{"a filter on an unfiltered cursor", community, plain.NextCursor},
		{"garbage", TranscriptFilter{}, "not-a-cursor"},
		{"a list cursor of institutions", TranscriptFilter{}, formatListCursor('i', rtCollege, nil)},
		{"a forged filter", TranscriptFilter{}, formatListCursor('t', "3", map[string][]string{"sector": {"moon"}})},
		{"a forged seq", TranscriptFilter{}, formatListCursor('t', "03", community.values())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := page(tc.filter, tc.cursor)
			if !errors.Is(err, ledger.ErrBadCursor) {
				t.Fatalf("error %v, want a bad cursor", err)
			}
		})
	}
	for _, tc := range []struct {
		filter TranscriptFilter
		names  string
	}{
		{TranscriptFilter{Sector: "kindergarten"}, "sector"},
		{TranscriptFilter{Level: 11}, "level"},
		{TranscriptFilter{Institution: "Not An Id"}, "institution"},
		{TranscriptFilter{Status: "superseded"}, "status"},
		{TranscriptFilter{From: "2026-02-30"}, "from"},
		{TranscriptFilter{To: "yesterday"}, "to"},
	} {
		_, err := page(tc.filter, "")
		rtCode(t, err, CodeBadParameter)
		if !strings.HasPrefix(err.(*Error).Detail, tc.names+":") {
			t.Errorf("refusal %q does not name %s first", err, tc.names)
		}
	}
}

// TestTranscriptScanBound: a filtered page looks at no more than
// transcriptScanLimit entries; a page that finds nothing within them is
// empty but carries the cursor that goes on, and the pages together still
// list every match.
func TestTranscriptScanBound(t *testing.T) {
	b, s := tfSetup(t)
	old := transcriptScanLimit
	transcriptScanLimit = 2
	t.Cleanup(func() { transcriptScanLimit = old })
	f := TranscriptFilter{Institution: rtUniv, Level: 7} // only the last outcome
	tr, err := b.TranscriptPage(TranscriptQuery{Learner: "L1", Filter: f, Limit: 100, Reader: admin})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Outcomes) != 0 || tr.NextCursor == "" {
		t.Fatalf("first page %+v, want no outcome and a cursor", tr)
	}
	got, pages := tfPages(t, b, f, 100, true)
	if !slices.Equal(got, []uint64{s[6]}) || pages < 4 {
		t.Fatalf("outcomes %v in %d pages, want [%d] in at least 4", got, pages, s[6])
	}
}

// TestTranscriptReadable: each outcome names its institution, a revoked one
// says by which entry and why, and an idempotency key shows only to the
// institution that posted the outcome.
func TestTranscriptReadable(t *testing.T) {
	b, s := tfSetup(t)
	college := Actor{Role: RoleInstitution, ID: rtCollege}
	univ := Actor{Role: RoleInstitution, ID: rtUniv}
	// A correction: the superseded outcome names the one that replaced it.
	fix := outcome("L1", "tf-fix")
	fix.Unit.Code, fix.Supersedes = "TF3", &s[3]
	fixed := b.post(t, college, fix)
	keysSeen := map[Actor][]uint64{}
	for _, reader := range []Actor{admin, regulator, rtLearner("L1"), college, univ} {
		for _, decode := range []bool{false, true} {
			tr, err := b.TranscriptPage(TranscriptQuery{Learner: "L1", Limit: 100, Reader: reader, Decode: decode})
			if err != nil {
				t.Fatal(err)
			}
			page, err := tr.AppendJSON(nil)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Outcomes []map[string]any `json:"outcomes"`
			}
			if err := json.Unmarshal(page, &doc); err != nil {
				t.Fatalf("%s", page)
			}
			var seen []uint64
			for i, o := range doc.Outcomes {
				seq := uint64(o["seq"].(float64))
				inst := o["institution"].(string)
				if o["institution_name"] != "Institution "+inst {
					t.Errorf("outcome %d: institution_name %v, want the name of %s", seq, o["institution_name"], inst)
				}
				if _, ok := o["idempotency_key"]; ok {
					seen = append(seen, seq)
					if reader.Role != RoleInstitution || reader.ID != inst {
						t.Errorf("%v reads the idempotency key of outcome %d, posted by %s", reader, seq, inst)
					}
				} else if tr.Outcomes[i].IdempotencyKey != "" {
					t.Errorf("%v: outcome %d hides its key in JSON but not in Go", reader, seq)
				}
				rev, _ := o["revocation"].(map[string]any)
				switch {
				case o["status"] == StatusActive && rev != nil:
					t.Errorf("active outcome %d has revocation %v", seq, rev)
				case seq == s[3]:
					if rev["reason"] != "superseded" || rev["superseded_by"] != float64(fixed) || rev["seq"] != float64(fixed+1) {
						t.Errorf("superseded outcome %d: revocation %v, want superseded by %d in entry %d", seq, rev, fixed, fixed+1)
					}
				case o["status"] == StatusRevoked:
					i := slices.Index(s, seq)
					if rev["reason"] != fmt.Sprintf("entered in error (%d)", i) || rev["seq"] == nil {
						t.Errorf("revoked outcome %d: revocation %v", seq, rev)
					}
				}
			}
			if decode {
				keysSeen[reader] = seen
			} else if !slices.Equal(seen, keysSeen[reader]) && keysSeen[reader] != nil {
				t.Errorf("%v: keys shown differ decoded and not", reader)
			}
		}
	}
	if want := []uint64{s[0], s[1], s[3], s[5], fixed}; !slices.Equal(keysSeen[college], want) {
		t.Errorf("the college sees the keys of %v, want its own %v", keysSeen[college], want)
	}
	if want := []uint64{s[2], s[4], s[6]}; !slices.Equal(keysSeen[univ], want) {
		t.Errorf("the university sees the keys of %v, want its own %v", keysSeen[univ], want)
	}
	b.checkReplay(t)
}

// hideRevocations is a store without the revocations kept beside outcomes,
// as a store written before they were kept.
type hideRevocations struct{ store }

func (h hideRevocations) get(key string) ([]byte, error) {
	if strings.HasPrefix(key, "revocation/") {
		return nil, nil
	}
	return h.store.get(key)
}

// TestTranscriptRevocationOfOlderStore: where the state keeps no
// revocation of an outcome, the transcript finds the revocation entry.
func TestTranscriptRevocationOfOlderStore(t *testing.T) {
	b, s := tfSetup(t)
	for _, i := range []int{1, 5} {
		var kept, found *OutcomeRevocation
		err := b.read(func(r *ledger.Reader, st store) error {
			var err error
			if kept, err = findRevocation(r, st, s[i]); err != nil {
				return err
			}
			found, err = findRevocation(r, hideRevocations{st}, s[i])
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if kept == nil || found == nil || *kept != *found {
			t.Fatalf("outcome %d: kept revocation %+v, found in the entries %+v", s[i], kept, found)
		}
	}
}

// TestMembersWithoutKey: the idempotency key is cut from an outcome's JSON
// however the object is written, and nothing else is.
func TestMembersWithoutKey(t *testing.T) {
	stored, err := marshalJSON(Outcome{OutcomeInput: outcome("L1", "k-1"), Institution: rtCollege, StandardCredits: 300})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, body string }{
		{"as the bank stores it", string(stored)},
		{"the key alone", `{"idempotency_key":"k-1"}`},
		{"no key", `{"learner":"L1"}`},
		{"the key elsewhere", `{"learner":"L1","idempotency_key":"k-1","level":6}`},
		{"an escape in the key", `{"idempotency_key":"k\u002d1","learner":"L1"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := "{" + string(membersWithoutKey([]byte(tc.body)))
			var before, after map[string]any
			if err := json.Unmarshal([]byte(tc.body), &before); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(got), &after); err != nil {
				t.Fatalf("%s: %v", got, err)
			}
			delete(before, "idempotency_key")
			if _, ok := after["idempotency_key"]; ok || fmt.Sprint(before) != fmt.Sprint(after) {
				t.Fatalf("%s became %s", tc.body, got)
			}
		})
	}
}
