package conformance

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
)

// Transcripts and balances (docs/contract.md section 3).

func learnerCases() []caseDef {
	return []caseDef{
		{"learner/transcript", func(c *tc) {
			l := c.learner()
			seqs := c.posted(c.college(), l, 2, nil)
			tr := c.transcript(l, c.admin())
			if tr["learner"] != l {
				c.fatalf("transcript of %s names learner %v", l, tr["learner"])
			}
			list, _ := tr["outcomes"].([]any)
			if len(list) != 2 {
				c.fatalf("transcript has outcomes %s, want 2", compact(tr["outcomes"]))
			}
			for _, s := range seqs {
				if st := c.outcomeStatus(tr, s); st != "active" {
					c.fatalf("outcome %d has status %q, want active", s, st)
				}
			}
			if _, ok := tr["conversions"].([]any); !ok {
				c.fatalf("transcript has no conversions list: %s", compact(tr))
			}
			if _, ok := tr["totals"].(map[string]any); !ok {
				c.fatalf("transcript has no totals: %s", compact(tr))
			}
		}},
		{"learner/balance", func(c *tc) {
			l := c.learner()
			c.posted(c.college(), l, 1, nil)                                                              // non_degree level 6: 3
			c.posted(c.college(), l, 1, func(o map[string]any) { o["sector"], o["level"] = "degree", 3 }) // degree level 3: 3
			c.posted(c.college(), l, 1, func(o map[string]any) {
				o["sector"], o["level"], o["hours"] = "degree", 4, 24 // degree level 4: 1.5
			})
			c.posted(c.college(), l, 1, func(o map[string]any) { o["result"] = map[string]any{"passed": false} })
			b := c.balance(l, c.admin())
			c.wantAmount(b, "standard_credits", 750, "the balance over 3 + 3 + 1.5 and a failed outcome")
			by, _ := b["by_sector"].(map[string]any)
			want := map[string]int64{"non_degree": 300, "degree": 450}
			for sector, total := range want {
				bands, _ := by[sector].(map[string]any)
				if bands == nil {
					c.fatalf("by_sector has no %s: %s", sector, compact(b))
				}
				var sum int64
				for band := range bands {
					sum += c.amountOf(bands, band)
				}
				if sum != total {
					c.fatalf("by_sector %s sums to %s, want %s: %s", sector, fmtHundredths(sum), fmtHundredths(total), compact(b))
				}
			}
			if len(by) != len(want) {
				c.fatalf("by_sector %s, want only %v", compact(by), want)
			}
			// Levels 3 and 4 fall in one band, 6 in another.
			if n := len(by["degree"].(map[string]any)); n != 1 {
				c.fatalf("degree levels 3 and 4 fall into %d bands, want one (a level band)", n)
			}
		}},
		{"learner/transcript-pagination", func(c *tc) {
			l := c.learner()
			seqs := c.posted(c.college(), l, 5, nil)
			var got []uint64
			cursor := ""
			for page := 0; ; page++ {
				if page > 5 {
					c.fatalf("more than 5 pages of 2 for 5 outcomes")
				}
				path := "/v1/learners/" + l + "/transcript?limit=2"
				if cursor != "" {
					path += "&cursor=" + url.QueryEscape(cursor)
				}
				tr := c.obj(c.want(c.do("GET", path, c.admin(), nil), http.StatusOK))
				list, _ := tr["outcomes"].([]any)
				conv, _ := tr["conversions"].([]any)
				if len(list)+len(conv) > 2 {
					c.fatalf("page %d with limit 2 holds %d outcomes and %d conversions", page, len(list), len(conv))
				}
				for _, o := range list {
					got = append(got, c.num(o.(map[string]any), "seq"))
				}
				cursor, _ = tr["next_cursor"].(string)
				if cursor == "" {
					break
				}
			}
			if !slices.Equal(got, seqs) {
				c.fatalf("the pages hold outcomes %v, want %v in ledger order", got, seqs)
			}
		}},
		{"learner/balance-pagination", func(c *tc) {
			l := c.learner()
			c.posted(c.college(), l, 2, nil)
			b := c.obj(c.want(c.do("GET", "/v1/learners/"+l+"/balance?limit=1", c.admin(), nil), http.StatusOK))
			c.wantAmount(b, "standard_credits", 600, "the balance")
			if _, ok := b["next_cursor"]; !ok {
				c.fatalf("the balance answers no next_cursor: %s", compact(b))
			}
		}},
		{"learner/unknown-learner-empty", func(c *tc) {
			r := c.do("GET", "/v1/learners/"+c.learner()+"/balance", c.admin(), nil)
			if r.status == http.StatusOK {
				c.wantAmount(c.obj(r), "standard_credits", 0, "a learner with nothing")
			} else {
				c.wantProblem(r, http.StatusNotFound)
			}
		}},
	}
}

// --- the restart

// restartState is what the suite saw just before the restart.
type restartState struct {
	transcripts map[string][]byte // learner → canonical transcript JSON
	checkpoint  checkpoint
	replay      map[string]any // an outcome posted before, to replay after
	replayInst  *inst
	replaySeq   uint64
	suspended   string // a token of a suspended institution
}

// canonical re-encodes JSON so that member order and spacing do not count.
func canonical(c *tc, b []byte) []byte {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	c.check(dec.Decode(&v), "decode")
	out, err := json.Marshal(v)
	c.check(err, "encode")
	return out
}

func restartCases() []caseDef {
	return []caseDef{
		{"restart/server-restarts", func(c *tc) {
			if c.s.cfg.Restart == nil {
				c.skipf("Config.Restart is not set")
			}
			st := &restartState{transcripts: map[string][]byte{}}
			st.replayInst = c.college()
			st.replay = c.outcome(c.learner(), nil)
			st.replaySeq = c.num(c.postOK(st.replayInst, st.replay), "seq")
			sus := c.accredited("restartsusp", "employer")
			st.suspended = sus.tok(c)
			c.want(c.do("POST", "/v1/institutions/"+sus.id+"/suspension", c.admin(), map[string]any{"reason": "conformance"}), http.StatusOK, http.StatusCreated)
			c.s.mu.Lock()
			learners := slices.Clone(c.s.learners)
			c.s.mu.Unlock()
			for _, l := range learners {
				r := c.do("GET", "/v1/learners/"+l+"/transcript?limit=1000", c.admin(), nil)
				if r.status == http.StatusOK {
					st.transcripts[l] = canonical(c, r.body)
				}
			}
			last := c.probe()
			st.checkpoint = c.checkpointCovering(last + 1)
			if err := c.s.cfg.Restart(); err != nil {
				c.fatalf("restart: %v", err)
			}
			c.s.client.CloseIdleConnections()
			c.s.restart = st
		}},
	}
}

func (c *tc) restarted() *restartState {
	if c.s.restart == nil {
		c.skipf("the server was not restarted (restart/server-restarts did not run or pass)")
	}
	return c.s.restart
}

func afterRestartCases() []caseDef {
	return []caseDef{
		{"restart/transcripts-survive", func(c *tc) {
			st := c.restarted()
			if len(st.transcripts) == 0 {
				c.fatalf("no transcripts were saved before the restart")
			}
			for l, before := range st.transcripts {
				r := c.want(c.do("GET", "/v1/learners/"+l+"/transcript?limit=1000", c.admin(), nil), http.StatusOK)
				now := canonical(c, r.body)
				// Later cases may have revoked or added for some learners;
				// those before the restart that nothing touched since must
				// read the same. Compare the outcomes posted before.
				if !bytes.Equal(now, before) && !c.prefixOutcomes(before, now) {
					c.fatalf("learner %s's transcript changed across the restart:\nbefore %s\nafter  %s", l, before, now)
				}
			}
		}},
		{"restart/idempotency-survives", func(c *tc) {
			st := c.restarted()
			got := c.obj(c.want(c.post(st.replayInst, st.replay), http.StatusOK))
			if c.num(got, "seq") != st.replaySeq {
				c.fatalf("the replay after the restart answered seq %v, want %d", got["seq"], st.replaySeq)
			}
		}},
		{"restart/suspension-survives", func(c *tc) {
			st := c.restarted()
			c.want401(c.do("GET", "/v1/institutions/"+c.college().id, st.suspended, nil))
		}},
		{"restart/ledger-only-grew", func(c *tc) {
			st := c.restarted()
			now := c.checkpointCovering(st.checkpoint.size + 1)
			c.checkConsistency(st.checkpoint, now)
		}},
	}
}

// prefixOutcomes reports whether every outcome of before is in after with
// the same seq, content and recorded_at (only a status, and the revocation
// that goes with it, may have changed).
func (c *tc) prefixOutcomes(before, after []byte) bool {
	var b, a struct {
		Outcomes []map[string]any `json:"outcomes"`
	}
	if json.Unmarshal(before, &b) != nil || json.Unmarshal(after, &a) != nil || len(a.Outcomes) < len(b.Outcomes) {
		return false
	}
	for i, o := range b.Outcomes {
		x := a.Outcomes[i]
		for _, k := range []string{"status", "revocation"} {
			delete(o, k)
			delete(x, k)
		}
		ob, _ := json.Marshal(o)
		xb, _ := json.Marshal(x)
		if !bytes.Equal(ob, xb) {
			return false
		}
	}
	return true
}
