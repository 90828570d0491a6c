package accreditation

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"creditbank/ledger"
)

// The replay's checks of recognition cases (docs/contract.md section 13):
// every step of a case is re-checked against the case as the entries
// before it left it, in the order stepAllowed enforces (reviews before
// the decision, a decision after a review, one appeal within AppealDays
// days, one decision of it), by the actor who may take it, dated on its
// entry's day; every granted decision is decided again (decideGrants) on
// the state just before it, so a grant past the outcome's worth or the
// programme's limits is a finding; and every revocation must reverse, right
// after it, the items of the cases that granted credit for its outcome.

// recheckRecognition checks one step of a case and describes how it
// breaks the rules, or "".
func (r *Replayer) recheckRecognition(e ledger.Entry) (string, error) {
	day := e.RecordedAt.UTC().Format(dateLayout)
	if e.Type == TypeRecognitionApplied {
		var a RecognitionApplied
		if err := json.Unmarshal(e.Content, &a); err != nil {
			return "", err
		}
		return r.recheckApplication(a, day, e.Actor), nil
	}
	var st RecognitionStep
	if err := json.Unmarshal(e.Content, &st); err != nil {
		return "", err
	}
	cs, err := loadCase(r.state, st.Case)
	if err != nil {
		return "", err
	}
	if cs == nil {
		return "", fmt.Errorf("%s of unknown case %d", e.Type, st.Case)
	}
	if st.On != day {
		return fmt.Sprintf("dated %s but recorded on %s", st.On, day), nil
	}
	if err := stepAllowed(cs, e.Type, st.On); err != nil {
		return "out of order: " + err.(*Error).Detail, nil
	}
	want := ""
	switch e.Type {
	case TypeRecognitionReviewed, TypeRecognitionDecided:
		want = string(RoleInstitution) + ":" + cs.Target.Institution
	case TypeRecognitionAppealed:
		want = string(RoleLearner) + ":" + cs.Learner
	case TypeRecognitionAppealDecided:
		if !strings.HasPrefix(e.Actor, string(RoleRegulator)+":") {
			return fmt.Sprintf("the appeal of case %s was decided by %s, not a regulator", RecognitionID(cs.Seq), e.Actor), nil
		}
	}
	if want != "" && e.Actor != want {
		return fmt.Sprintf("%s by %s; only %s may take this step", e.Type, e.Actor, want), nil
	}
	if e.Type != TypeRecognitionDecided && e.Type != TypeRecognitionAppealDecided {
		return "", nil
	}
	return r.recheckDecision(cs, st), nil
}

// recheckApplication checks a case's application: the learner's own
// outcomes in force, toward the latest version of a programme valid on its
// day, applied for by the learner.
func (r *Replayer) recheckApplication(a RecognitionApplied, day, actor string) string {
	if a.On != day {
		return fmt.Sprintf("dated %s but recorded on %s", a.On, day)
	}
	if actor != string(RoleLearner)+":"+a.Learner {
		return fmt.Sprintf("applied for by %s, not the learner", actor)
	}
	p, err := programmeOf(r.state, a.Target)
	if err != nil || p == nil || p.Ref() != a.Programme || !p.validOn(a.On) {
		return fmt.Sprintf("names programme %s version %d, which was not the target's latest version valid on %s", a.Programme.ID, a.Programme.Version, a.On)
	}
	for _, seq := range a.Outcomes {
		st, err := getJSON[outcomeState](r.state, outKey(seq))
		if err != nil || st == nil || st.Learner != a.Learner || st.Revoked {
			return fmt.Sprintf("names outcome %d, which was not an outcome of the learner in force", seq)
		}
	}
	return ""
}

// recheckDecision decides a case's decision again and describes how the
// entry differs.
func (r *Replayer) recheckDecision(cs *caseState, st RecognitionStep) string {
	switch st.Decision {
	case DecisionRefused:
		if len(st.Items) > 0 || st.Granted != nil {
			return fmt.Sprintf("refuses case %s but grants items", RecognitionID(cs.Seq))
		}
		return ""
	case DecisionGranted:
	default:
		return fmt.Sprintf("decides case %s %q", RecognitionID(cs.Seq), st.Decision)
	}
	grants := make([]RecognitionGrant, len(st.Items))
	for i, it := range st.Items {
		grants[i] = RecognitionGrant{Outcome: it.Outcome, Amount: it.Requested}
	}
	if err := (RecognitionDecision{Decision: DecisionGranted, Items: grants, Reasons: "-"}).Validate(); err != nil {
		return fmt.Sprintf("grants case %s items that no decision may: %s", RecognitionID(cs.Seq), err.(*Error).Detail)
	}
	want, err := decideGrants(r.state, replayJournal{r}, cs, grants, st.On)
	if err != nil {
		var e *Error
		if de, ok := err.(*Error); ok {
			e = de
		}
		if e == nil {
			return err.Error()
		}
		return fmt.Sprintf("grants case %s what the rules refuse: %s", RecognitionID(cs.Seq), e.Detail)
	}
	var total Amount
	for i, it := range st.Items {
		if it != want[i] {
			return fmt.Sprintf("item %d (outcome %d) of case %s records %s of %s asked granted; the outcome's worth and the programme's limits give %s",
				i, it.Outcome, RecognitionID(cs.Seq), it.Granted, it.Requested, want[i].Granted)
		}
		total += it.Granted
	}
	if st.Granted == nil || *st.Granted != total {
		return fmt.Sprintf("records a total granted that is not the sum of its items, %s", total)
	}
	return ""
}

// matchRecognitionAdjustment checks a recognition.adjusted entry: it must
// reverse, once, the item of a case that granted credit for the outcome
// the revocation just before revoked, as the case held it.
func (r *Replayer) matchRecognitionAdjustment(e ledger.Entry) (string, error) {
	var a RecognitionAdjusted
	if err := json.Unmarshal(e.Content, &a); err != nil {
		return "", err
	}
	rv := r.revoking
	i := -1
	if rv != nil && a.Outcome == rv.outcome {
		i = slices.Index(rv.cases, a.Case)
	}
	if i < 0 {
		return fmt.Sprintf("reverses items of case %s for outcome %d, which the entry before did not revoke from under it", RecognitionID(a.Case), a.Outcome), nil
	}
	rv.cases = slices.Delete(rv.cases, i, i+1)
	cs, err := loadCase(r.state, a.Case)
	if err != nil || cs == nil {
		return "", err
	}
	for _, ch := range a.Items {
		j := slices.IndexFunc(cs.InForce, func(it RecognitionItem) bool { return it.Outcome == ch.Outcome })
		if ch.Outcome != a.Outcome || ch.Action != ActionReversed || j < 0 || cs.InForce[j].Granted != ch.Granted {
			return fmt.Sprintf("changes the items of case %s otherwise than by reversing its item of outcome %d as granted", RecognitionID(a.Case), a.Outcome), nil
		}
	}
	return "", nil
}
