package server

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"

	"creditbank/ledger"
)

// OpenLedger opens the ledger in the data folder data (the store in
// data/ledger, its keys in data/keys), creating the folder and its keys on
// first use unless readOnly, with a block cache of cacheBytes (the ledger's
// default when 0). onGroup, if not nil, sees every group commit. The caller
// must close the ledger.
func OpenLedger(data, origin string, readOnly bool, log *slog.Logger, onGroup func(ledger.GroupStats), cacheBytes int64) (*ledger.Ledger, error) {
	store := filepath.Join(data, "ledger")
	if readOnly {
		if _, err := os.Stat(store); err != nil {
			return nil, fmt.Errorf("no ledger in %s: %v", data, err)
		}
	} else if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %v", err)
	}
	load := ledger.LoadOrCreateKeys
	if readOnly {
		load = ledger.LoadKeys
	}
	keys, err := load(filepath.Join(data, "keys"), origin)
	if err != nil {
		return nil, err
	}
	l, err := ledger.Open(ledger.Options{Dir: store, Keys: keys, ReadOnly: readOnly, Logger: log, OnGroup: onGroup, CacheBytes: cacheBytes})
	if err != nil {
		if lockedByOther(err) {
			return nil, fmt.Errorf("data folder %s is in use by another process: %v", data, err)
		}
		return nil, err
	}
	return l, nil
}

// lockedByOther reports whether err is Pebble failing to take the store's
// lock file because another process holds it (fcntl answers EAGAIN or
// EWOULDBLOCK, depending on the system).
func lockedByOther(err error) bool {
	return errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EAGAIN)
}
