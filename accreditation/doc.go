// Package accreditation is the credit bank's domain: institutions and their
// accreditation scopes, learning outcomes and the standard credits they carry,
// versioned conversion rules, the conversion engine, balances, and the audit
// that re-runs every conversion (CONTRACT.md section 3).
//
// The package is event-sourced over the ledger. Every command is decided
// against the current state and yields events; each event is one ledger entry
// whose content says exactly what happened, and applying the events in seq
// order to an empty state rebuilds the state the bank keeps. Deciding runs
// inside the ledger's sequencer (see [Bank]), so a check and the write it
// guards are one atomic step; applying is a pure function of (state, entry),
// which [Replay] and [Audit] use to recompute everything from seq 0.
//
// Amounts are exact decimals ([Amount], [Ratio]); nothing passes through
// float64. Time enters only as the ledger group's time, taken before deciding.
package accreditation
