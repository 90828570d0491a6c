//go:build !linux

package server

// physicalMemory is unknown here: the cache takes its floor.
func physicalMemory() uint64 { return 0 }

// cgroupMemoryLimit: no cgroups here.
func cgroupMemoryLimit() uint64 { return 0 }
