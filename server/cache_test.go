package server

import "testing"

// TestCacheMiBFor: the default block cache is an eighth of the memory the
// process may use, within its floor and ceiling.
func TestCacheMiBFor(t *testing.T) {
	const gib = 1 << 30
	tests := []struct {
		mem, limit uint64
		want       int
	}{
		{0, 0, 256},
		{1 * gib, 0, 256},
		{24 * gib, 0, 3072},
		{24 * gib, 4 * gib, 512},
		{0, 16 * gib, 2048},
		{256 * gib, 0, 4096},
		{8 * gib, 64 * gib, 1024},
	}
	for _, tt := range tests {
		if got := CacheMiBFor(tt.mem, tt.limit); got != tt.want {
			t.Errorf("CacheMiBFor(%d GiB, %d GiB) = %d, want %d", tt.mem/gib, tt.limit/gib, got, tt.want)
		}
	}
}
