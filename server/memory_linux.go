package server

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// physicalMemory is the machine's RAM in bytes, or 0 if unknown.
func physicalMemory() uint64 {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 0
	}
	return uint64(si.Totalram) * uint64(si.Unit)
}

// cgroupMemoryLimit is the cgroup v2 memory limit of the process in bytes,
// or 0 when there is none: in a container it, not the machine, bounds us.
func cgroupMemoryLimit() uint64 {
	b, err := os.ReadFile("/sys/fs/cgroup/memory.max")
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil { // "max"
		return 0
	}
	return n
}
