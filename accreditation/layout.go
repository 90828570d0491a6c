package accreditation

// OutcomeStateKeys are the domain state keys that recording one posted
// outcome writes beside its entry: the outcome's own state, the mark that
// the institution posted for the learner, and the learner's balance change
// (appended, not overwritten). [UnitKeyOfOutcome] and
// [StatisticsKeyOfOutcome] name the other two, which depend on the
// outcome's unit and date. The load generator's raw-Pebble baseline writes
// all five through [ledger.AppendStateKey], as the ledger does, so that a
// change of layout changes the baseline with it.
type OutcomeStateKeys struct {
	Outcome, Posted, BalanceDelta string
}

// StateKeysOfOutcome returns the state keys of the outcome seq posted by
// institution for learner. An outcome's entry is listed under the indexes
// IndexLearner and IndexInstitution, and its idempotency record is scoped
// by the institution id.
func StateKeysOfOutcome(seq uint64, institution, learner string) OutcomeStateKeys {
	return OutcomeStateKeys{
		Outcome:      outKey(seq),
		Posted:       postedKey(institution, learner),
		BalanceDelta: balanceDeltaKey(learner),
	}
}

// StatisticsKeyOfOutcome returns the state key to which recording an
// outcome of institution completed on completedOn (YYYY-MM-DD) appends its
// change of the statistics (statistics.go).
func StatisticsKeyOfOutcome(institution, completedOn string) string {
	return statKey(institution, completedOn[:7])
}
