package ledger

// The exported forms of the key layout in keys.go, for code that must write
// the ledger's keys without the ledger: the load generator's raw-Pebble
// baseline writes every key an outcome costs through these, so that a change
// of layout changes the baseline with it and a published ratio stays a
// comparison of the same bytes.

// AppendEntryKey appends the key of the entry seq to b.
func AppendEntryKey(b []byte, seq uint64) []byte { return appendU64Key(b, tagEntry, seq) }

// AppendHashKey appends the key of the stored hash with the given index
// (tlog.StoredHashIndex) to b.
func AppendHashKey(b []byte, index int64) []byte { return appendU64Key(b, tagHash, uint64(index)) }

// AppendIndexKey appends the key listing seq under the secondary index
// name=value to b.
func AppendIndexKey(b []byte, name, value string, seq uint64) []byte {
	return appendIndexKey(b, name, value, seq)
}

// AppendIdempotencyKey appends the key of the idempotency record of
// (scope, key) to b; its value is [IdempotencyValueLen] bytes.
func AppendIdempotencyKey(b []byte, scope, key string) []byte { return appendIdemKey(b, scope, key) }

// AppendStateKey appends the key under which domain state domainKey is
// stored to b.
func AppendStateKey(b []byte, domainKey string) []byte {
	return append(append(b, tagState), domainKey...)
}

// HeadKey is the key of the tree head, written with every group commit; its
// value is [HeadValueLen] bytes.
func HeadKey() []byte { return append([]byte(nil), headKey...) }

// IdempotencyValueLen and HeadValueLen are the lengths of the values stored
// under an idempotency key (seq and SHA-256 of the request) and the head key
// (size, last recorded_at, root).
const (
	IdempotencyValueLen = 8 + 32
	HeadValueLen        = 48
)

// AccessTag is the first byte of every key of the access log (package
// access), which is kept in the ledger's store through [Ledger.Store] but is
// no part of the ledger: no entry, hash, index or state key starts with it,
// and the ledger never reads, verifies or signs what is under it.
const AccessTag byte = 'a'
