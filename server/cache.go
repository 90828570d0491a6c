package server

// DefaultCacheMiB sizes the store's block cache from the memory the
// process may use: an eighth of it, at least 256 MiB and at most 4 GiB.
// Transcripts read a learner's entries from all over the ledger; once the
// store outgrows the cache every read is a disk read, and at ten million
// entries (5.4 GiB) a fixed 256 MiB cache made them 2.3 times slower than at
// one million. Pebble allocates the cache as it fills, so an idle or small
// store costs nothing.
func DefaultCacheMiB() int { return CacheMiBFor(physicalMemory(), cgroupMemoryLimit()) }

// CacheMiBFor is DefaultCacheMiB given the machine's memory and the
// process's cgroup limit in bytes (0: unknown, none).
func CacheMiBFor(mem, limit uint64) int {
	const floor, ceiling = 256, 4 << 10
	if limit > 0 && (mem == 0 || limit < mem) {
		mem = limit
	}
	return int(min(max(mem>>20/8, floor), ceiling))
}
