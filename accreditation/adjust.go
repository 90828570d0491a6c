package accreditation

import (
	"fmt"
	"slices"

	"creditbank/ledger"
)

// Revoking an outcome changes only the conversion items that used it
// (docs/contract.md section 8): each conversion in force that used the
// outcome gets one conversion.adjusted entry naming the item and its
// amounts, and the conversion's other items stand. When the revocation is a
// supersession and the superseding outcome is still eligible under the rule
// version that granted the item, on the conversion's date, the item moves to
// it, its grant recomputed and capped against what the rule granted the
// learner otherwise; else the item is reversed.
//
// Ledgers written before hold conversion.reversed entries instead, which
// reverse a whole conversion; apply still reads them (applyReversal).

// Actions on a conversion item.
const (
	ActionReversed = "reversed"
	ActionMoved    = "moved"
)

type (
	// ItemChange is what became of one conversion item: reversed, taking
	// back Granted, or moved to To.
	ItemChange struct {
		// Outcome, StandardCredits and Granted are the item as it stood.
		Outcome         uint64 `json:"outcome"`
		Action          string `json:"action"`
		StandardCredits Amount `json:"standard_credits"`
		Granted         Amount `json:"granted"`
		// To is the item now, for a move: the superseding outcome, its
		// standard credits and what it grants.
		To *ConversionItem `json:"to,omitempty"`
		// NotEligible is why a superseding outcome could not take the
		// item's place (an Ineligible reason), for a reversal it caused.
		NotEligible string `json:"not_eligible,omitempty"`
	}
	// Adjustment is the content of conversion.adjusted.
	Adjustment struct {
		Conversion uint64  `json:"conversion"`
		Learner    string  `json:"learner"`
		Rule       RuleRef `json:"rule"`
		Target     Target  `json:"target"`
		// Outcome is the revoked outcome that caused the adjustment.
		Outcome uint64       `json:"outcome"`
		Reason  string       `json:"reason"`
		Items   []ItemChange `json:"items"`
	}
)

// ItemEffect is one conversion item a revocation or a supersession changed,
// as the answer lists it: the entry that recorded the change, the
// conversion, and the change.
type ItemEffect struct {
	Seq        uint64 `json:"seq"`
	Conversion uint64 `json:"conversion"`
	ItemChange
}

// inForce returns the conversion's items in force: as granted, or as the
// adjustments since left them (none once it is reversed).
func (cs *conversionState) inForce() []ConversionItem {
	switch {
	case cs.Reversed != nil:
		return nil
	case len(cs.Adjusted) > 0:
		return cs.InForce
	}
	return cs.Items
}

// grantedInForce sums what the conversion's items in force grant.
func (cs *conversionState) grantedInForce() Amount {
	var g Amount
	for _, it := range cs.inForce() {
		g += it.Granted
	}
	return g
}

// decideItemChange decides what becomes of the item of conversion cs that
// used outcome revoked, given the state after the revocation and every
// earlier change of the same revocation; to is the superseding outcome, if
// any. It is a function of the state, so the Replayer re-runs it.
func decideItemChange(s store, j journal, cs *conversionState, revoked uint64, to *uint64) (ItemChange, error) {
	i := slices.IndexFunc(cs.inForce(), func(it ConversionItem) bool { return it.Outcome == revoked })
	if i < 0 {
		return ItemChange{}, fmt.Errorf("conversion %d holds no item of outcome %d in force", cs.Seq, revoked)
	}
	item := cs.inForce()[i]
	ch := ItemChange{Outcome: revoked, Action: ActionReversed, StandardCredits: item.StandardCredits, Granted: item.Granted}
	if to == nil {
		return ch, nil
	}
	rule, err := getJSON[Rule](s, ruleVersionKey(cs.Rule.ID, cs.Rule.Version))
	if err != nil {
		return ItemChange{}, err
	}
	if rule == nil {
		return ItemChange{}, fmt.Errorf("conversion %d names rule %s version %d, which is not published", cs.Seq, cs.Rule.ID, cs.Rule.Version)
	}
	cands, err := candidates(s, j, cs.Learner, cs.Target, cs.On, []uint64{*to}, contractV2, rule.Source.MinScore != nil)
	if err != nil {
		return ItemChange{}, err
	}
	granted, err := getAmount(s, grantedKey(cs.Learner, cs.Rule.ID))
	if err != nil {
		return ItemChange{}, err
	}
	// What the rule granted the learner otherwise: without this item.
	d := Evaluate(*rule, cs.On, cands, granted-item.Granted)
	if len(d.Items) == 0 {
		ch.NotEligible = d.Ineligible[0].Reason
		return ch, nil
	}
	ch.Action, ch.To = ActionMoved, &d.Items[0]
	return ch, nil
}

// adjustConversions emits, after the revocation of st, one
// conversion.adjusted entry for each conversion in force that used it, in
// the order they used it, and returns what each changed.
func adjustConversions(t *tx, actor Actor, st *outcomeState, reason string, supersededBy *uint64) ([]ItemEffect, error) {
	var effects []ItemEffect
	for _, u := range st.UsedBy {
		if u.Recognition {
			continue // adjustRecognitions
		}
		cs, err := getJSON[conversionState](t, convKey(u.Conversion))
		if err != nil {
			return nil, err
		}
		if cs == nil || cs.Reversed != nil {
			return nil, fmt.Errorf("outcome %d lists conversion %d, which is not in force", st.Seq, u.Conversion)
		}
		ch, err := decideItemChange(t, txJournal{t}, cs, st.Seq, supersededBy)
		if err != nil {
			return nil, err
		}
		a := Adjustment{
			Conversion: u.Conversion, Learner: cs.Learner, Rule: cs.Rule, Target: cs.Target,
			Outcome: st.Seq, Reason: fmt.Sprintf("outcome %d revoked: %s", st.Seq, reason), Items: []ItemChange{ch},
		}
		idx := []ledger.IndexKey{learnerIndex(cs.Learner), ruleIndex(cs.Rule.ID), institutionIndex(cs.Target.Institution)}
		seq, err := t.emit(TypeConversionAdjusted, actor, a, idx, nil)
		if err != nil {
			return nil, err
		}
		effects = append(effects, ItemEffect{Seq: seq, Conversion: u.Conversion, ItemChange: ch})
	}
	return effects, nil
}

// applyAdjustment applies a conversion.adjusted entry: each reversed item
// leaves the conversion, each moved one takes its new outcome, the outcomes
// say which conversions use them, and what the rule granted the learner and
// the balance change by the difference.
func applyAdjustment(s store, seq uint64, a Adjustment) error {
	cs, err := getJSON[conversionState](s, convKey(a.Conversion))
	if err != nil {
		return err
	}
	if cs == nil || cs.Reversed != nil {
		return fmt.Errorf("adjustment of conversion %d, which is not in force", a.Conversion)
	}
	items := slices.Clone(cs.inForce())
	var delta Amount
	for _, ch := range a.Items {
		i := slices.IndexFunc(items, func(it ConversionItem) bool { return it.Outcome == ch.Outcome })
		if i < 0 {
			return fmt.Errorf("conversion %d holds no item of outcome %d in force", a.Conversion, ch.Outcome)
		}
		if err := setUse(s, ch.Outcome, a.Conversion, cs.Target, false); err != nil {
			return err
		}
		if err := addConversionStatOf(s, ch.Outcome, cs.On, -1, -ch.Granted); err != nil {
			return err
		}
		delta -= ch.Granted
		if ch.Action == ActionMoved && ch.To != nil {
			if err := setUse(s, ch.To.Outcome, a.Conversion, cs.Target, true); err != nil {
				return err
			}
			if err := addConversionStatOf(s, ch.To.Outcome, cs.On, 1, ch.To.Granted); err != nil {
				return err
			}
			items[i] = *ch.To
			delta += ch.To.Granted
			continue
		}
		items = slices.Delete(items, i, i+1)
	}
	cs.InForce, cs.Adjusted = items, append(cs.Adjusted, seq)
	if len(items) == 0 {
		cs.InForce, cs.Reversed = nil, &seq
	}
	if err := putJSON(s, convKey(a.Conversion), cs); err != nil {
		return err
	}
	return recordGranted(s, cs.Learner, cs.Rule.ID, cs.Target, delta)
}

// setUse records (use) or removes that conversion conv uses outcome seq
// toward target.
func setUse(s store, seq, conv uint64, target Target, use bool) error {
	st, err := getJSON[outcomeState](s, outKey(seq))
	if err != nil {
		return err
	}
	if st == nil {
		return fmt.Errorf("conversion %d uses unknown outcome %d", conv, seq)
	}
	if use {
		st.UsedBy = append(st.UsedBy, conversionUse{Conversion: conv, Target: target})
	} else {
		st.UsedBy = slices.DeleteFunc(st.UsedBy, func(u conversionUse) bool { return u.Conversion == conv })
	}
	return putJSON(s, outKey(seq), st)
}

// recordedEffects reads back what the superseding outcome seq changed when
// it was recorded: the entries that follow it in the same write, the
// revocation of the outcome it superseded and the adjustments that
// revocation caused. A repeat of the post answers with them.
func recordedEffects(t *tx, seq uint64) ([]ItemEffect, error) {
	effects := []ItemEffect{}
	var revoked uint64
	for s := seq + 1; s < t.nextSeq(); s++ {
		raw, err := t.entry(s)
		if err != nil {
			return nil, err
		}
		e, err := ledger.DecodeEntry(raw)
		if err != nil {
			return nil, err
		}
		switch {
		case s == seq+1 && e.Type == TypeOutcomeRevoked:
			var r Revocation
			if err := unmarshalContent(e.Content, &r); err != nil {
				return nil, err
			}
			if r.SupersededBy == nil || *r.SupersededBy != seq {
				return effects, nil
			}
			revoked = r.Outcome
		case s > seq+1 && e.Type == TypeConversionAdjusted:
			var a Adjustment
			if err := unmarshalContent(e.Content, &a); err != nil {
				return nil, err
			}
			if a.Outcome != revoked {
				return effects, nil
			}
			for _, ch := range a.Items {
				effects = append(effects, ItemEffect{Seq: s, Conversion: a.Conversion, ItemChange: ch})
			}
		default:
			return effects, nil
		}
	}
	return effects, nil
}

// ConversionChanges is what revocations changed of a conversion since it
// was granted, as transcripts and the audit listing show it.
type ConversionChanges struct {
	// AdjustedBy lists the conversion.adjusted entries that changed its
	// items; empty when none did.
	AdjustedBy []uint64 `json:"adjusted_by,omitempty"`
	// InForce is the items still in force and GrantedInForce what they
	// grant, when some were changed and some are left.
	InForce        []ConversionItem `json:"items_in_force,omitempty"`
	GrantedInForce *Amount          `json:"granted_in_force,omitempty"`
}

// changes returns what the conversion's adjustments changed.
func (cs *conversionState) changes() ConversionChanges {
	if len(cs.Adjusted) == 0 {
		return ConversionChanges{}
	}
	c := ConversionChanges{AdjustedBy: cs.Adjusted}
	if cs.Reversed == nil {
		g := cs.grantedInForce()
		c.InForce, c.GrantedInForce = cs.inForce(), &g
	}
	return c
}
