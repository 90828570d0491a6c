package accreditation

// Cost is what a read or a decision took from the store, in the currency
// the API charges each caller's budget in (docs/contract.md section 5): a
// learner converting over a hundred thousand outcomes costs what those
// reads cost, not one request. It is set on an answer also when the call
// failed after reading (a conversion refused as not eligible read every
// candidate first).
type Cost struct {
	// Rows is how many stored rows (index entries, entries, state keys)
	// were read.
	Rows int64
}
