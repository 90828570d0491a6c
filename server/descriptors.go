package server

import (
	"fmt"
	"syscall"

	"creditbank/ledger"
)

// Every connection takes a file descriptor, and so does every table file
// Pebble reads. Once the process runs out, Pebble fails to open a table or
// start a compaction and HTTP fails to accept: with 1,100 idle keep-alive
// connections under `ulimit -n 1024`, writes stalled for 64 s and Pebble
// logged "too many open files" 789,557 times. So the server takes every
// descriptor the hard limit allows and admits at most MaxConnections
// connections at once, well under that limit.

// otherFiles are the descriptors kept for what is neither an HTTP
// connection nor a table of the store: the WAL, manifest, lock and options
// files, the admin socket and a backup through it, the metrics listener
// and its connections, the runtime's poller, and the standard streams.
const otherFiles = 128

// connectionsCeiling bounds the default: an idle connection costs a
// goroutine and its buffers (some 20 KiB), and a few thousand clients at
// once is far more than institutions posting in batches need.
const connectionsCeiling = 4096

// raiseFileLimit raises the soft limit on open files (RLIMIT_NOFILE) to the
// hard limit, and returns both as they are afterwards. The Go runtime
// raises it too on most systems, to one less than the hard limit; doing it
// here says what the limit is in the log and makes it so everywhere. Where
// the hard limit cannot be taken (macOS reports an unlimited one) the soft
// limit stays and err says why.
func raiseFileLimit() (soft, hard uint64, err error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, fmt.Errorf("getrlimit: %v", err)
	}
	if rl.Cur < rl.Max {
		raised := rl
		raised.Cur = rl.Max
		if err = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			rl = raised
		}
	}
	return uint64(rl.Cur), uint64(rl.Max), err
}

// storeFiles is how many table files the ledger lets Pebble keep open,
// which the ledger derives from the soft limit on open files: call it
// after raiseFileLimit.
func storeFiles() int {
	po := ledger.StoreOptions(1 << 20)
	defer po.Cache.Unref()
	return po.MaxOpenFiles
}

// DefaultMaxConnections is the connection limit of a process that may open
// files descriptors, store of which the ledger lets Pebble keep open for its
// tables: what is left once the store and otherFiles have theirs, at most
// 4096. Where that leaves little or nothing (below 2,000 files the ledger
// lets Pebble keep 1,000 open), connections get a quarter of the limit, up
// to 256: a store that really keeps that many tables open needs a larger
// limit anyway (docs/operations.md, "Sizing"). At the common limit of
// 1,024 that is 256 connections; at 20,000, where Pebble may keep 19,000
// open, 872.
func DefaultMaxConnections(files uint64, store int) int {
	f := int64(min(files, 1<<31))
	n := max(f-int64(store)-otherFiles, min(f/4, 256), 1)
	return int(min(n, connectionsCeiling))
}

// connectionLimit is the connection limit maxConns (--max-connections),
// or the default when it is 0, given the open files limit and the store's
// share of it. It refuses a limit that leaves fewer than otherFiles
// descriptors for the rest of the process; crowded says whether the
// connections and the store's tables together may pass the open files
// limit, which the default does below 2,000 files.
func connectionLimit(maxConns int, files uint64, store int) (n int, crowded bool, err error) {
	f := int64(min(files, 1<<31))
	n = maxConns
	if n == 0 {
		n = DefaultMaxConnections(files, store)
	} else if int64(n) > f-otherFiles {
		return 0, false, fmt.Errorf("--max-connections %d: the process may open %d files (ulimit -n) and keeps %d for the store's logs, the admin socket and the rest: at most %d",
			n, files, otherFiles, f-otherFiles)
	}
	return n, int64(n)+int64(store)+otherFiles > f, nil
}
