// Package ledger is creditbank's append-only, tamper-evident journal, stored in
// Pebble (github.com/cockroachdb/pebble/v2).
//
// Every change to the bank is one [Entry]: canonical JSON bytes with a seq
// number that starts at 0 and has no gaps. The entries are the leaves of an
// RFC 6962 Merkle tree over SHA-256 (hashing and proofs by
// golang.org/x/mod/sumdb/tlog), whose stored hashes, the indexes (by learner,
// by institution, by type, and the idempotency index) and the domain's derived
// state are written in the same Pebble batch as the entries themselves.
//
// One sequencer goroutine decides and writes everything. Concurrent calls to
// [Ledger.Append] are grouped into one batch committed with pebble.Sync (group
// commit); each [Proposal] is decided against the state including the earlier
// proposals of the same group, so a check and the write it guards are one
// atomic step. Deciding is a deterministic function of (state, proposal, group
// time): the time is taken once per group before any proposal is decided, which
// is what lets the log be replicated later by a consensus engine.
//
// Pebble makes a batch readable before its WAL sync returns. The ledger
// therefore serves nothing (entries, indexes, state, proofs) beyond the last
// synced group: readers go through a Pebble snapshot taken after the sync, and
// checkpoints are signed only over that durable size.
//
// The same store also holds the access log (package access) under keys of
// its own ([AccessTag]), written through [Ledger.Store] in batches of its
// own: those keys are no part of the tree, the checkpoints or Verify.
//
// Checkpoints are C2SP tlog-checkpoint bodies (origin, tree size, base64 root
// hash) signed as C2SP signed notes with Ed25519 (golang.org/x/mod/sumdb/note).
package ledger
