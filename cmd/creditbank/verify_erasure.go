package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"creditbank/accreditation"
	"creditbank/client"
	"creditbank/ledger"
)

// What verify reports of erasure (docs/contract.md section 11), and how
// --url reads the scores of sealed outcomes.

// maxListed is how many not re-runnable entries the report names.
const maxListed = 20

// printErasure prints what the replay saw of erasure. A conversion that
// needed the score of an outcome no key opens is neither confirmed nor
// found wrong: it is named, and fails nothing.
func printErasure(line func(label, format string, args ...any), rep accreditation.ErasureReport) {
	line("learners erased", "%d", rep.Erased)
	if rep.SealedUnread > 0 {
		line("sealed outcomes", "%d, of which %d needed by a re-run and unreadable: no key opens them (their learner was erased, or no keys were given)",
			rep.SealedOutcomes, rep.SealedUnread)
	} else {
		line("sealed outcomes", "%d", rep.SealedOutcomes)
	}
	if rep.PlaintextOutcomes > 0 {
		line("plaintext outcomes", "%d: written before sealing, they hold the learner id, unit title and score in clear and cannot be erased by key",
			rep.PlaintextOutcomes)
	} else {
		line("plaintext outcomes", "0")
	}
	if n := len(rep.NotRerunnable); n > 0 {
		line("not re-runnable", "%d, each needing the score of an outcome no key opens (neither confirmed nor found wrong): %s",
			n, seqList(rep.NotRerunnable, maxListed))
	} else {
		line("not re-runnable", "0")
	}
}

// seqList names seqs, at most max of them and then how many more.
func seqList(seqs []uint64, max int) string {
	var b strings.Builder
	for i, s := range seqs {
		if i == max {
			fmt.Fprintf(&b, " and %d more", len(seqs)-max)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatUint(s, 10))
	}
	return b.String()
}

// apiScores reads the scores of sealed outcomes from a server, with the
// audit's token (GET /v1/audit/scores), for the replay of verify --url.
// It keeps every score read, and asks for the outcomes of the conversion
// being replayed together, on the first that the re-run needs: one request
// per conversion rather than one per outcome.
type apiScores struct {
	ctx context.Context
	// stop ends the audit once the scores cannot be read.
	stop  context.CancelFunc
	c     *client.Client
	known map[uint64]client.Score
	// items are the outcomes of the conversion being replayed.
	items    []uint64
	requests int
	// err is why the scores could not be read; the audit fails with it.
	err error
}

// replaying notes the outcomes of entry e, the next the replay applies,
// when it is a conversion.
func (s *apiScores) replaying(e ledger.Entry) {
	s.items = s.items[:0]
	if e.Type != accreditation.TypeConversionGranted {
		return
	}
	var c struct {
		Items []struct {
			Outcome uint64 `json:"outcome"`
		} `json:"items"`
	}
	if json.Unmarshal(e.Content, &c) != nil {
		return // the replay reports it
	}
	for _, it := range c.Items {
		s.items = append(s.items, it.Outcome)
	}
}

// read is the replay's accreditation.ScoreSource.
func (s *apiScores) read(seq uint64) (*accreditation.Amount, bool, error) {
	if s.err != nil {
		return nil, false, s.err
	}
	sc, ok := s.known[seq]
	if !ok {
		if err := s.fetch(seq); err != nil {
			s.err = scoresError(seq, err)
			s.stop()
			return nil, false, s.err
		}
		sc = s.known[seq]
	}
	switch {
	case sc.Erased:
		return nil, false, nil
	case sc.Score == "":
		return nil, true, nil
	}
	a, err := accreditation.ParseAmount(sc.Score)
	if err != nil {
		return nil, false, fmt.Errorf("score of outcome %d: %v", seq, err)
	}
	return &a, true, nil
}

// fetch reads the score of seq, with those of the conversion's other
// outcomes not read yet.
func (s *apiScores) fetch(seq uint64) error {
	ask := []uint64{seq}
	for _, o := range s.items {
		if _, ok := s.known[o]; !ok && o != seq {
			ask = append(ask, o)
		}
	}
	got, err := s.c.AuditScores(s.ctx, ask)
	s.requests++
	var se *client.StatusError
	if len(ask) > 1 && errors.As(err, &se) && se.StatusCode == http.StatusNotFound {
		// Another of the conversion's items may be no outcome, which the
		// replay finds for itself: ask for the one needed alone.
		ask = ask[:1]
		got, err = s.c.AuditScores(s.ctx, ask)
		s.requests++
	}
	if err != nil {
		return err
	}
	for _, g := range got {
		s.known[g.Outcome] = g
	}
	return nil
}

// scoresError says why the score of outcome seq could not be read, and
// what to do about it.
func scoresError(seq uint64, err error) error {
	var se *client.StatusError
	if errors.As(err, &se) {
		switch se.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("reading the scores of sealed outcomes (GET /v1/audit/scores) needs an admin or regulator token (--token or CREDITBANK_TOKEN): %v", err)
		case http.StatusNotFound:
			return fmt.Errorf("the server would not give the score of outcome %d, which re-running a conversion needs: it serves no GET /v1/audit/scores (docs/contract.md section 11), or entry %d is no outcome: %v", seq, seq, err)
		}
	}
	return fmt.Errorf("read the score of outcome %d: %v", seq, err)
}
