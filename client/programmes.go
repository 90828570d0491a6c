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

// Programmes and awards (docs/contract.md section 9): the client publishes
// and reads programmes, reads a learner's award audit, records awards and
// lists them. Amounts are the contract's decimal strings, kept as they are
// answered.

// Requirement is one field requirement of a programme.
type Requirement struct {
	ID     string   `json:"id"`
	Fields []string `json:"fields"`
	Min    string   `json:"min"`
}

// PeriodCaps bound what one term or one calendar year counts; nil: no cap.
type PeriodCaps struct {
	Term *string `json:"term"`
	Year *string `json:"year"`
}

// ProgrammeInput is the body of POST /v1/programmes; every member is sent,
// nil ones as null.
type ProgrammeInput struct {
	ID                string        `json:"id"`
	Institution       string        `json:"institution"`
	Title             string        `json:"title"`
	Total             string        `json:"total"`
	Requirements      []Requirement `json:"requirements"`
	MinLevel          int           `json:"min_level"`
	MaxConvertedShare *string       `json:"max_converted_share"`
	MaxPerInstitution *string       `json:"max_per_institution"`
	PeriodCaps        PeriodCaps    `json:"period_caps"`
	ValidFrom         string        `json:"valid_from"`
	ValidUntil        *string       `json:"valid_until"`
}

// Programme is one published version of a programme.
type Programme struct {
	ProgrammeInput
	Version int    `json:"version"`
	Seq     uint64 `json:"seq"`
}

// ProgrammeRef names one version of a programme.
type ProgrammeRef struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
}

// AuditItem is an outcome, a conversion item or a recognition case's item
// an award audit looked at.
type AuditItem struct {
	Source     string `json:"source"`
	Outcome    uint64 `json:"outcome"`
	Conversion uint64 `json:"conversion,omitempty"`
	// Recognition is the case that granted an item of source
	// "recognition" (recognition.go).
	Recognition string  `json:"recognition,omitempty"`
	Institution string  `json:"institution"`
	Unit        string  `json:"unit"`
	Field       string  `json:"field"`
	Level       int     `json:"level"`
	CompletedOn string  `json:"completed_on"`
	Amount      string  `json:"amount"`
	Counted     *string `json:"counted,omitempty"`
	Reason      string  `json:"reason,omitempty"`
	Of          uint64  `json:"of,omitempty"`
}

// Shortfall is one thing missing for an award.
type Shortfall struct {
	Kind         string   `json:"kind"`
	Requirements []string `json:"requirements,omitempty"`
	Required     string   `json:"required"`
	Earned       string   `json:"earned"`
	Short        string   `json:"short"`
	Detail       string   `json:"detail"`
}

// ProgrammeAudit is GET /v1/learners/{id}/programmes/{programme}/audit.
type ProgrammeAudit struct {
	Learner     string       `json:"learner"`
	Programme   ProgrammeRef `json:"programme"`
	Institution string       `json:"institution"`
	Title       string       `json:"title"`
	On          string       `json:"on"`
	Size        uint64       `json:"size"`
	Total       struct {
		Earned   string `json:"earned"`
		Required string `json:"required"`
		Met      bool   `json:"met"`
	} `json:"total"`
	Converted    string `json:"converted"`
	Recognised   string `json:"recognised"`
	Requirements []struct {
		ID       string      `json:"id"`
		Fields   []string    `json:"fields"`
		Earned   string      `json:"earned"`
		Required string      `json:"required"`
		Met      bool        `json:"met"`
		Items    []AuditItem `json:"items"`
	} `json:"requirements"`
	Other      []AuditItem `json:"other"`
	NotCounted []AuditItem `json:"not_counted"`
	Limits     []struct {
		Cap     string `json:"cap"`
		Period  string `json:"period"`
		Limit   string `json:"limit"`
		Offered string `json:"offered"`
		Counted string `json:"counted"`
	} `json:"limits"`
	Eligible bool        `json:"eligible"`
	Missing  []Shortfall `json:"missing"`
	Summary  string      `json:"summary"`
}

// AwardFlag is a flag on an award: a revocation or supersession of an
// outcome it rested on.
type AwardFlag struct {
	Seq     uint64 `json:"seq"`
	Outcome uint64 `json:"outcome"`
	Reason  string `json:"reason"`
}

// Award is an award as recorded, with its flags.
type Award struct {
	Seq          uint64       `json:"seq"`
	RecordedAt   string       `json:"recorded_at"`
	Learner      string       `json:"learner"`
	Programme    ProgrammeRef `json:"programme"`
	Institution  string       `json:"institution"`
	On           string       `json:"on"`
	Size         uint64       `json:"size"`
	Total        string       `json:"total"`
	Requirements []struct {
		ID     string `json:"id"`
		Earned string `json:"earned"`
	} `json:"requirements"`
	Outcomes    []uint64 `json:"outcomes"`
	Conversions []struct {
		Conversion uint64 `json:"conversion"`
		Outcome    uint64 `json:"outcome"`
	} `json:"conversions"`
	Flags []AwardFlag `json:"flags"`
}

// PublishProgramme publishes p, or its next version, with an admin or
// regulator token. A refusal is a *StatusError (400, 403, 409, 422).
func (c *Client) PublishProgramme(ctx context.Context, p ProgrammeInput) (Programme, error) {
	var out Programme
	return out, c.sendJSON(ctx, http.MethodPost, "/v1/programmes", p, &out)
}

// Programme reads a programme's latest version (version 0) or the given
// one, with any valid token.
func (c *Client) Programme(ctx context.Context, id string, version int) (Programme, error) {
	path := "/v1/programmes/" + url.PathEscape(id)
	if version > 0 {
		path += "?version=" + strconv.Itoa(version)
	}
	var out Programme
	return out, c.getJSON(ctx, path, &out)
}

// Programmes lists every programme at its latest version, of institution
// when it is not "", in id order, fetching pages as the loop goes; it
// stops at the first error, which it yields.
func (c *Client) Programmes(ctx context.Context, institution string) iter.Seq2[Programme, error] {
	return pages(func(cursor string) (string, []Programme, string, error) {
		q := url.Values{}
		if institution != "" {
			q.Set("institution", institution)
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		path := "/v1/programmes"
		if len(q) > 0 {
			path += "?" + q.Encode()
		}
		var page struct {
			Programmes []Programme `json:"programmes"`
			NextCursor string      `json:"next_cursor"`
		}
		err := c.getJSON(ctx, path, &page)
		return path, page.Programmes, page.NextCursor, err
	})
}

// pages yields the items of the pages fetch reads, one cursor after the
// other from "", until a page has no next cursor; it stops at the first
// error, which it yields, and refuses a next cursor equal to the one
// asked with, which would loop for ever. fetch returns the path it read,
// for the error.
func pages[T any](fetch func(cursor string) (path string, items []T, next string, err error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		cursor := ""
		for {
			path, items, next, err := fetch(cursor)
			if err != nil {
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			if next == cursor {
				yield(zero, fmt.Errorf("GET %s: the next cursor is the one asked with", path))
				return
			}
			cursor = next
		}
	}
}

// ProgrammeAudit reads learner's award audit toward programme's latest
// version: with the learner's own token, an admin's or a regulator's, or
// the programme's institution's under the learner's grant.
func (c *Client) ProgrammeAudit(ctx context.Context, learner, programme string) (ProgrammeAudit, error) {
	var out ProgrammeAudit
	path := "/v1/learners/" + url.PathEscape(learner) + "/programmes/" + url.PathEscape(programme) + "/audit"
	return out, c.getJSON(ctx, path, &out)
}

// RecordAward records learner's award of programme's latest version, with
// the programme's institution's token or an admin's. It is never tried
// again on its own. A learner not eligible is a *StatusError of status 422
// whose Missing says what is missing; a repeat is 409.
func (c *Client) RecordAward(ctx context.Context, learner, programme string) (Award, error) {
	var out Award
	path := "/v1/learners/" + url.PathEscape(learner) + "/awards"
	return out, c.sendJSON(ctx, http.MethodPost, path, map[string]string{"programme": programme}, &out)
}

// Awards lists learner's awards with their flags.
func (c *Client) Awards(ctx context.Context, learner string) ([]Award, error) {
	var out struct {
		Awards []Award `json:"awards"`
	}
	err := c.getJSON(ctx, "/v1/learners/"+url.PathEscape(learner)+"/awards", &out)
	return out.Awards, err
}

// getJSON reads path with the token and decodes the answer into v.
func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	b, err := c.get(ctx, path, true)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: %v", path, err)
	}
	return nil
}

// sendJSON sends body as JSON with the token, once, and decodes the answer
// into v.
func (c *Client) sendJSON(ctx context.Context, method, path string, body, v any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	b, err := c.send(ctx, method, path, data, true)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s %s: %v", method, path, err)
	}
	return nil
}
