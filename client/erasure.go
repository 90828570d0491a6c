package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Erasure is the answer to erasing a learner's personal data
// (POST /v1/learners/{id}/erasure, docs/contract.md section 11).
type Erasure struct {
	// Seq is the learner.erased entry; RecordedAt its time (RFC 3339 UTC).
	Seq        uint64 `json:"seq"`
	RecordedAt string `json:"recorded_at"`
	// Learner is the erased learner's id, as the caller named it.
	Learner string `json:"learner"`
	Reason  string `json:"reason"`
	// PlaintextEntries is true when the learner has entries written
	// before the service sealed personal data: those hold the learner's
	// outcomes in clear, and no erasure makes them unreadable.
	PlaintextEntries bool `json:"plaintext_entries"`
	// AccessRecordsDeleted counts the records of who read the learner's
	// data that the erasure deleted with the key.
	AccessRecordsDeleted int `json:"access_records_deleted"`
}

// EraseLearner erases learner's personal data, for reason, with an admin
// token. It is never tried again on its own: an erasure that did happen
// before a network error would answer 410 the second time. A refusal is a
// *StatusError: 403 (not an admin), 404 (no such learner), 410 with Type
// ending in "learner-erased" (erased before).
func (c *Client) EraseLearner(ctx context.Context, learner, reason string) (Erasure, error) {
	body, err := json.Marshal(struct {
		Reason string `json:"reason"`
	}{reason})
	if err != nil {
		return Erasure{}, err
	}
	path := "/v1/learners/" + url.PathEscape(learner) + "/erasure"
	answer, err := c.send(ctx, http.MethodPost, path, body, true)
	if err != nil {
		return Erasure{}, err
	}
	var e Erasure
	if err := json.Unmarshal(answer, &e); err != nil {
		return Erasure{}, fmt.Errorf("POST %s: %v", path, err)
	}
	if e.Seq == 0 && e.RecordedAt == "" {
		return Erasure{}, fmt.Errorf("POST %s: the answer names no learner.erased entry", path)
	}
	return e, nil
}

// MaxScoreReads is the most outcomes one GET /v1/audit/scores names
// (docs/contract.md section 11); AuditScores splits longer lists.
const MaxScoreReads = 1000

// Score is the score of one outcome as GET /v1/audit/scores answers it.
type Score struct {
	Outcome uint64
	// Score is the outcome's score as a decimal string (docs/contract.md
	// section 3), or "" when the outcome records none.
	Score string
	// Erased is set when the outcome's learner was erased: no key opens
	// the score any more.
	Erased bool
}

// AuditScores reads the scores of the outcomes seqs with an admin or
// regulator token: the public entries keep an outcome's score sealed under
// its learner's key, and an audit re-running a conversion whose rule asks
// for a minimum score needs it. The scores come back in the order of seqs,
// each outcome asked for once and checked to be answered once. A refusal
// is a *StatusError: 400 (a bad list), 403 (no audit rights), 404 (a seq
// that is no outcome, or a server without the route).
func (c *Client) AuditScores(ctx context.Context, seqs []uint64) ([]Score, error) {
	var distinct []uint64
	byOutcome := make(map[uint64]Score, len(seqs))
	for _, s := range seqs {
		if _, ok := byOutcome[s]; !ok {
			byOutcome[s] = Score{}
			distinct = append(distinct, s)
		}
	}
	for len(distinct) > 0 {
		n := min(len(distinct), MaxScoreReads)
		part, err := c.auditScores(ctx, distinct[:n])
		if err != nil {
			return nil, err
		}
		for _, sc := range part {
			byOutcome[sc.Outcome] = sc
		}
		distinct = distinct[n:]
	}
	out := make([]Score, len(seqs))
	for i, s := range seqs {
		out[i] = byOutcome[s]
	}
	return out, nil
}

// auditScores reads the scores of seqs, distinct and at most
// MaxScoreReads, in one request.
func (c *Client) auditScores(ctx context.Context, seqs []uint64) ([]Score, error) {
	list := make([]string, len(seqs))
	for i, s := range seqs {
		list[i] = strconv.FormatUint(s, 10)
	}
	path := "/v1/audit/scores?outcomes=" + strings.Join(list, ",")
	body, err := c.get(ctx, path, true)
	if err != nil {
		return nil, err
	}
	out, err := parseScores(body, seqs)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %v", path, err)
	}
	return out, nil
}

// parseScores reads the answer of GET /v1/audit/scores for the distinct
// outcomes seqs: every one answered once, nothing else, each score a
// decimal or null.
func parseScores(body []byte, seqs []uint64) ([]Score, error) {
	var ans struct {
		Scores []struct {
			Outcome *uint64 `json:"outcome"`
			Score   *string `json:"score"`
			Erased  bool    `json:"erased"`
		} `json:"scores"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, err
	}
	byOutcome := make(map[uint64]Score, len(ans.Scores))
	for _, s := range ans.Scores {
		if s.Outcome == nil {
			return nil, errors.New("a score names no outcome")
		}
		if _, dup := byOutcome[*s.Outcome]; dup {
			return nil, fmt.Errorf("outcome %d is answered twice", *s.Outcome)
		}
		sc := Score{Outcome: *s.Outcome, Erased: s.Erased}
		switch {
		case s.Score != nil && s.Erased:
			return nil, fmt.Errorf("outcome %d is erased and has a score", *s.Outcome)
		case s.Score != nil:
			if !isDecimal(*s.Score) {
				return nil, fmt.Errorf("outcome %d has score %q, which is no decimal", *s.Outcome, *s.Score)
			}
			sc.Score = *s.Score
		}
		byOutcome[*s.Outcome] = sc
	}
	out := make([]Score, len(seqs))
	for i, seq := range seqs {
		sc, ok := byOutcome[seq]
		if !ok {
			return nil, fmt.Errorf("outcome %d is not answered", seq)
		}
		out[i] = sc
	}
	if len(byOutcome) != len(seqs) {
		return nil, fmt.Errorf("%d scores answered for %d outcomes asked", len(byOutcome), len(seqs))
	}
	return out, nil
}

// isDecimal reports whether s is a non-negative decimal of the contract's
// form: digits, and at most two after a point.
func isDecimal(s string) bool {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || (dot && (frac == "" || len(frac) > 2)) {
		return false
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
