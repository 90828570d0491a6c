package client

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// Certified units and recognition cases (docs/contract.md section 13): the
// client certifies units, reads the public catalogue (without the token,
// which it does not need), opens recognition cases and takes their steps.
// Every step answers the case as it stands after it.

// UnitCredits are a unit's credits in its institution's system.
type UnitCredits struct {
	Amount string `json:"amount"`
	System string `json:"system"`
}

// UnitInput is the body of POST /v1/units; every member is sent, nil ones
// as null.
type UnitInput struct {
	Institution string      `json:"institution"`
	Code        string      `json:"code"`
	Title       string      `json:"title"`
	Sector      string      `json:"sector"`
	Level       int         `json:"level"`
	Field       string      `json:"field"`
	Credits     UnitCredits `json:"credits"`
	Hours       *int64      `json:"hours"`
	ValidFrom   string      `json:"valid_from"`
	ValidUntil  *string     `json:"valid_until"`
}

// Unit is one certified version of a unit, with the standard credits its
// outcomes count for.
type Unit struct {
	UnitInput
	StandardCredits string `json:"standard_credits"`
	Version         int    `json:"version"`
	Seq             uint64 `json:"seq"`
}

// UnitFilter narrows the catalogue; "" and 0 leave a member out. Field
// matches by ISCED-F prefix.
type UnitFilter struct {
	Institution string
	Field       string
	Level       int
}

// CertifyUnit certifies u, or publishes its next version when its
// institution already has a unit of that code, with an admin or regulator
// token. A refusal is a *StatusError (400, 403, 422).
func (c *Client) CertifyUnit(ctx context.Context, u UnitInput) (Unit, error) {
	var out Unit
	return out, c.sendJSON(ctx, http.MethodPost, "/v1/units", u, &out)
}

// Unit reads a certified unit's latest version (version 0) or the given
// one from the public catalogue; none is a *StatusError of status 404.
func (c *Client) Unit(ctx context.Context, institution, code string, version int) (Unit, error) {
	path := "/v1/units/" + url.PathEscape(institution) + "/" + url.PathEscape(code)
	if version > 0 {
		path += "?version=" + strconv.Itoa(version)
	}
	var out Unit
	return out, c.getPublicJSON(ctx, path, &out)
}

// Units lists the catalogue's units that f matches, each at its latest
// version, in (institution, code) order, pageSize a page (0: the server's
// default), fetching pages as the loop goes; it stops at the first error,
// which it yields.
func (c *Client) Units(ctx context.Context, f UnitFilter, pageSize int) iter.Seq2[Unit, error] {
	return pages(func(cursor string) (string, []Unit, string, error) {
		path := "/v1/units"
		if q := f.query(cursor, pageSize); len(q) > 0 {
			path += "?" + q.Encode()
		}
		var page struct {
			Units      []Unit `json:"units"`
			NextCursor string `json:"next_cursor"`
		}
		err := c.getPublicJSON(ctx, path, &page)
		return path, page.Units, page.NextCursor, err
	})
}

func (f UnitFilter) query(cursor string, limit int) url.Values {
	q := url.Values{}
	if f.Institution != "" {
		q.Set("institution", f.Institution)
	}
	if f.Field != "" {
		q.Set("field", f.Field)
	}
	if f.Level > 0 {
		q.Set("level", strconv.Itoa(f.Level))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	return q
}

// Target names a programme of an institution.
type Target struct {
	Institution string `json:"institution"`
	Programme   string `json:"programme"`
}

// RecognitionApplication is the body of POST /v1/recognitions.
type RecognitionApplication struct {
	Target    Target   `json:"target"`
	Outcomes  []uint64 `json:"outcomes"`
	Evidence  []string `json:"evidence_sha256"`
	Statement string   `json:"statement"`
}

// RecognitionGrant asks for an amount of standard credits for one of a
// case's outcomes.
type RecognitionGrant struct {
	Outcome uint64 `json:"outcome"`
	Amount  string `json:"amount"`
}

// RecognitionDecision is the body of a decision and of an appeal's
// decision: Decision "granted" with Items, or "refused" with none; Reasons
// either way. Items is sent as [] when nil.
type RecognitionDecision struct {
	Decision string             `json:"decision"`
	Items    []RecognitionGrant `json:"items"`
	Reasons  string             `json:"reasons"`
}

// RecognitionItem is an outcome a decision granted credit for: what was
// asked, what the programme's limits let it grant, and the limit that cut
// it.
type RecognitionItem struct {
	Outcome         uint64 `json:"outcome"`
	StandardCredits string `json:"standard_credits"`
	Requested       string `json:"requested"`
	Granted         string `json:"granted"`
	Limit           string `json:"limit,omitempty"`
}

// RecognitionStep is one step of a case: applied, reviewed, decided,
// appealed, appeal_decided, or adjusted (an item reversed by a revocation).
// The words are the learner's personal data, shown to who may read the
// case.
type RecognitionStep struct {
	Seq             uint64            `json:"seq"`
	Step            string            `json:"step"`
	On              string            `json:"on"`
	RecordedAt      string            `json:"recorded_at"`
	Actor           string            `json:"actor"`
	Statement       string            `json:"statement,omitempty"`
	Evidence        []string          `json:"evidence_sha256,omitempty"`
	Comment         string            `json:"comment,omitempty"`
	Reasons         string            `json:"reasons,omitempty"`
	Decision        string            `json:"decision,omitempty"`
	Items           []RecognitionItem `json:"items,omitempty"`
	Granted         *string           `json:"granted,omitempty"`
	ReversedOutcome *uint64           `json:"reversed_outcome,omitempty"`
}

// RecognitionCase is a case as GET /v1/recognitions/{id} and every step
// answer it.
type RecognitionCase struct {
	ID        string       `json:"id"`
	Seq       uint64       `json:"seq"`
	Learner   string       `json:"learner"`
	Target    Target       `json:"target"`
	Programme ProgrammeRef `json:"programme"`
	Outcomes  []uint64     `json:"outcomes"`
	// Status is applied, under_review, granted, refused, appealed,
	// granted_on_appeal or refused_on_appeal.
	Status string `json:"status"`
	// AppealBy is the last day of an appeal, while one may be made.
	AppealBy       string            `json:"appeal_by,omitempty"`
	ItemsInForce   []RecognitionItem `json:"items_in_force"`
	GrantedInForce string            `json:"granted_in_force"`
	Steps          []RecognitionStep `json:"steps"`
}

// ApplyForRecognition opens a case for the learner of the token. It is
// never tried again on its own: a second application is a second case.
// Evidence is sent as [] when nil.
func (c *Client) ApplyForRecognition(ctx context.Context, app RecognitionApplication) (RecognitionCase, error) {
	if app.Evidence == nil {
		app.Evidence = []string{}
	}
	var out RecognitionCase
	return out, c.sendJSON(ctx, http.MethodPost, "/v1/recognitions", app, &out)
}

// Recognition reads case id: with the learner's token, the target
// institution's, a regulator's or an admin's.
func (c *Client) Recognition(ctx context.Context, id string) (RecognitionCase, error) {
	var out RecognitionCase
	return out, c.getJSON(ctx, "/v1/recognitions/"+url.PathEscape(id), &out)
}

// ReviewRecognition records a review of case id, with the target
// institution's token. A step out of order is a *StatusError of status
// 409, and writes nothing.
func (c *Client) ReviewRecognition(ctx context.Context, id, comment string) (RecognitionCase, error) {
	return c.caseStep(ctx, id, "/reviews", map[string]string{"comment": comment})
}

// DecideRecognition decides case id, with the target institution's token,
// after at least one review. A grant the programme's limits cut to nothing
// is a *StatusError of status 422 (not-eligible).
func (c *Client) DecideRecognition(ctx context.Context, id string, d RecognitionDecision) (RecognitionCase, error) {
	return c.caseStep(ctx, id, "/decision", d.withItems())
}

// AppealRecognition appeals the decision of case id, with the learner's
// token, once and within 30 days of the decision.
func (c *Client) AppealRecognition(ctx context.Context, id, statement string) (RecognitionCase, error) {
	return c.caseStep(ctx, id, "/appeal", map[string]string{"statement": statement})
}

// DecideRecognitionAppeal decides the appeal of case id, with a
// regulator's token; granted, it replaces what the decision granted.
func (c *Client) DecideRecognitionAppeal(ctx context.Context, id string, d RecognitionDecision) (RecognitionCase, error) {
	return c.caseStep(ctx, id, "/appeal/decision", d.withItems())
}

// withItems sends a refusal's items as [], the member being required.
func (d RecognitionDecision) withItems() RecognitionDecision {
	if d.Items == nil {
		d.Items = []RecognitionGrant{}
	}
	return d
}

func (c *Client) caseStep(ctx context.Context, id, step string, body any) (RecognitionCase, error) {
	var out RecognitionCase
	return out, c.sendJSON(ctx, http.MethodPost, "/v1/recognitions/"+url.PathEscape(id)+step, body, &out)
}

// getPublicJSON reads a public path without the token and decodes the
// answer into v.
func (c *Client) getPublicJSON(ctx context.Context, path string, v any) error {
	b, err := c.get(ctx, path, false)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: %v", path, err)
	}
	return nil
}
