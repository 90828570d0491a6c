package accreditation

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"creditbank/ledger"
)

// Finding is a conversion the rules would not have granted exactly so.
type Finding struct {
	Seq     uint64 `json:"seq"`
	Problem string `json:"problem"`
}

// Replayer rebuilds the bank's state from a journal, one entry at a time in
// seq order, and audits each conversion against the state just before it:
// the rule version it names, the outcomes it used, what they had been used
// for, and what the rule had already granted.
type Replayer struct {
	state    memStore
	findings []Finding
	next     uint64
}

// NewReplayer starts from the empty state.
func NewReplayer() *Replayer { return &Replayer{state: memStore{}} }

// Apply audits (for conversions) and applies the next entry. An error means
// the journal cannot be applied at all (a gap, an unknown type, a reference
// to nothing); a conversion the rules would not grant is a Finding instead.
func (r *Replayer) Apply(e ledger.Entry) error {
	if e.Seq != r.next {
		return fmt.Errorf("entry %d follows entry %d", e.Seq, r.next-1)
	}
	r.next++
	if e.Type == TypeConversionGranted {
		var c Conversion
		if err := json.Unmarshal(e.Content, &c); err != nil {
			return fmt.Errorf("entry %d: %w", e.Seq, err)
		}
		if p := r.recheck(e, c); p != "" {
			r.findings = append(r.findings, Finding{Seq: e.Seq, Problem: p})
		}
	}
	if err := apply(r.state, e); err != nil {
		return fmt.Errorf("entry %d (%s): %w", e.Seq, e.Type, err)
	}
	return nil
}

// recheck re-runs a conversion and describes how it differs, or "".
func (r *Replayer) recheck(e ledger.Entry, c Conversion) string {
	if day := e.RecordedAt.UTC().Format(dateLayout); c.On != day {
		return fmt.Sprintf("dated %s but recorded on %s", c.On, day)
	}
	rule, err := getJSON[Rule](r.state, ruleVersionKey(c.Rule.ID, c.Rule.Version))
	if err != nil || rule == nil {
		return fmt.Sprintf("names rule %s version %d, which was not published before it", c.Rule.ID, c.Rule.Version)
	}
	head, _ := getJSON[ruleHead](r.state, ruleKey(c.Rule.ID))
	switch {
	case head.Latest != c.Rule.Version:
		return fmt.Sprintf("used rule %s version %d while version %d was in force", c.Rule.ID, c.Rule.Version, head.Latest)
	case head.Retired:
		return fmt.Sprintf("used rule %s after it was retired", c.Rule.ID)
	case rule.Target != c.Target:
		return fmt.Sprintf("target %s differs from the rule's %s", c.Target, rule.Target)
	}
	if err := rule.validOn(c.On); err != nil {
		return err.(*Error).Detail
	}
	seqs := make([]uint64, len(c.Items))
	for i, it := range c.Items {
		seqs[i] = it.Outcome
	}
	cands, err := candidates(r.state, c.Learner, rule.Target, seqs)
	if err != nil {
		return err.Error()
	}
	already, err := getAmount(r.state, grantedKey(c.Learner, rule.ID))
	if err != nil {
		return err.Error()
	}
	d := Evaluate(*rule, c.On, cands, already)
	if len(d.Ineligible) > 0 {
		return fmt.Sprintf("used outcome %d, which was not eligible (%s)", d.Ineligible[0].Outcome, d.Ineligible[0].Reason)
	}
	for i, it := range c.Items {
		if it != d.Items[i] {
			return fmt.Sprintf("item %d (outcome %d) records %s of %s standard credits granted; the rule gives %s of %s",
				i, it.Outcome, it.Granted, it.StandardCredits, d.Items[i].Granted, d.Items[i].StandardCredits)
		}
	}
	if c.Granted != d.Granted || c.Capped != d.Capped {
		return fmt.Sprintf("records %s granted (capped %t); the rule gives %s (capped %t)", c.Granted, c.Capped, d.Granted, d.Capped)
	}
	return ""
}

// Findings lists the conversions found wrong so far.
func (r *Replayer) Findings() []Finding { return slices.Clone(r.findings) }

// State returns the state rebuilt so far, key by key as the bank stores it.
func (r *Replayer) State() map[string][]byte { return maps.Clone(r.state) }

// Audit replays the bank's whole durable journal and returns what the
// replay found wrong. The error is for a journal that cannot be replayed.
func (b *Bank) Audit(ctx context.Context) ([]Finding, error) {
	rp, err := b.Replay(ctx)
	if err != nil {
		return nil, err
	}
	return rp.Findings(), nil
}

// Replay applies the bank's whole durable journal, as of one tree size, to a
// new Replayer and returns it.
func (b *Bank) Replay(ctx context.Context) (*Replayer, error) {
	rp := NewReplayer()
	err := b.l.Read(func(r *ledger.Reader) error {
		for seq := uint64(0); seq < r.Size(); seq++ {
			if seq%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			raw, err := r.Entry(seq)
			if err != nil {
				return err
			}
			e, err := ledger.ParseEntry(raw)
			if err != nil {
				return fmt.Errorf("entry %d: %w", seq, err)
			}
			if err := rp.Apply(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rp, nil
}

// State returns the bank's durable state key by key, to compare with a
// replay.
func (b *Bank) State() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := b.l.Read(func(r *ledger.Reader) error {
		return r.Scan(nil, nil, func(k, v []byte) bool {
			out[string(k)] = append([]byte(nil), v...)
			return true
		})
	})
	return out, err
}
