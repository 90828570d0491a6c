package accreditation

import "time"

// earliestZone is UTC+14 (Kiribati's Line Islands), the first time zone to
// begin each day.
var earliestZone = time.FixedZone("UTC+14", 14*60*60)

// latestCompletion is the last completed_on an outcome may carry: today in
// the earliest time zone, at the group's time (docs/contract.md section 8).
// An institution anywhere may then post the results of its own today, which
// is never later than that; a date after it has not happened anywhere yet.
// Like every check, it reads the time the ledger assigned before deciding,
// so a replayed decision gives the same answer.
func (t *tx) latestCompletion() string {
	return t.view.Now().In(earliestZone).Format(dateLayout)
}
