package conformance

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"strings"
)

// Statistics (docs/contract.md section 8): counts by institution, sector,
// level and month, kept by the server as state derived from the ledger, so
// that they survive a restart.

// statsSnapshot is an institution with outcomes of its own and what the
// statistics said of it.
type statsSnapshot struct {
	inst *inst
	body []byte // canonical JSON of GET /v1/statistics?institution=
}

// statsInstitution posts three outcomes of a new institution (two
// non_degree of level 6, one vocational of level 5, all in the same month),
// revokes one of the first two, and takes the statistics of it.
func (c *tc) statsInstitution() statsSnapshot {
	return fixture(c, "stats", func() statsSnapshot {
		in := c.accredited("stats", "university")
		l := c.learner()
		seqs := c.posted(in, l, 2, nil)
		c.postOK(in, c.outcome(l, func(o map[string]any) { o["sector"], o["level"] = "vocational", 5 }))
		c.want(c.do("POST", "/v1/outcomes/"+itoa(seqs[0])+"/revocation", c.regulator(), map[string]any{"reason": "error"}), http.StatusCreated)
		r := c.want(c.do("GET", "/v1/statistics?institution="+in.id, c.admin(), nil), http.StatusOK)
		return statsSnapshot{inst: in, body: canonical(c, r.body)}
	})
}

func statisticsCases() []caseDef {
	return []caseDef{
		{"statistics/counts", func(c *tc) {
			snap := c.statsInstitution()
			rows, _ := c.obj(reply{req: "GET /v1/statistics", body: snap.body})["rows"].([]any)
			if len(rows) != 2 {
				c.fatalf("statistics of %s: %s, want a row for non_degree level 6 and one for vocational level 5", snap.inst.id, snap.body)
			}
			nd, _ := rows[0].(map[string]any)
			voc, _ := rows[1].(map[string]any)
			month := daysAgo(30)[:7]
			if nd["sector"] != "non_degree" || nd["month"] != month || c.num(nd, "outcomes_active") != 1 || c.num(nd, "outcomes_revoked") != 1 {
				c.fatalf("non_degree row %s, want 1 active and 1 revoked in %s", compact(nd), month)
			}
			c.wantAmount(nd, "standard_credits", 300, "the non_degree row")
			if voc["sector"] != "vocational" || c.num(voc, "level") != 5 || c.num(voc, "outcomes_active") != 1 {
				c.fatalf("vocational row %s", compact(voc))
			}
		}},
		{"statistics/filters", func(c *tc) {
			snap := c.statsInstitution()
			month := daysAgo(30)[:7]
			for query, rows := range map[string]int{
				"&sector=vocational":              1,
				"&from=" + month + "&to=" + month: 2,
				"&to=1999-12":                     0,
			} {
				var st struct {
					Rows []any `json:"rows"`
				}
				c.decode(c.want(c.do("GET", "/v1/statistics?institution="+snap.inst.id+query, c.regulator(), nil), http.StatusOK), &st)
				if len(st.Rows) != rows {
					c.fatalf("statistics%s: %d rows, want %d", query, len(st.Rows), rows)
				}
			}
		}},
		{"statistics/csv", func(c *tc) {
			snap := c.statsInstitution()
			r := c.want(c.do("GET", "/v1/statistics?format=csv&institution="+snap.inst.id, c.admin(), nil), http.StatusOK)
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
				c.fatalf("%s: content type %q, want text/csv", r, ct)
			}
			records, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
			if err != nil || len(records) != 3 || records[0][0] != "institution" || records[1][0] != snap.inst.id {
				c.fatalf("%s: not the CSV of two rows under a header (%v)", r, err)
			}
		}},
		{"statistics/refused", func(c *tc) {
			for _, q := range []string{"?from=2026-13", "?sector=magic", "?from=2026-08&to=2026-07", "?format=xml"} {
				c.wantProblem(c.do("GET", "/v1/statistics"+q, c.admin(), nil), http.StatusBadRequest)
			}
			c.wantProblem(c.do("GET", "/v1/statistics", c.college().tok(c), nil), http.StatusForbidden)
			c.wantProblem(c.do("GET", "/v1/statistics", c.learnerToken(c.learner()), nil), http.StatusForbidden)
		}},
	}
}

func statisticsAfterRestartCases() []caseDef {
	return []caseDef{
		{"restart/statistics-survive", func(c *tc) {
			c.restarted()
			snap := c.statsInstitution()
			r := c.want(c.do("GET", "/v1/statistics?institution="+snap.inst.id, c.admin(), nil), http.StatusOK)
			if now := canonical(c, r.body); !bytes.Equal(now, snap.body) {
				c.fatalf("statistics changed across the restart:\nbefore %s\nafter  %s", snap.body, now)
			}
		}},
	}
}
