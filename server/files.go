package server

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// The data folder holds the private keys and every learner's record: only
// the account that runs the service may enter it, and only that account may
// read a private key. A folder or key that others can reach is a leak
// waiting to happen, so the folder is closed at every start and a key file
// others can read stops the start until the operator looks at it: a key
// that was readable may have been read.

// privateDir and privateFile are the modes of the data folder and of a
// private key file, and of every folder and file of a backup.
const (
	privateDir  fs.FileMode = 0o700
	privateFile fs.FileMode = 0o600
)

// closeDataFolder makes an existing data folder 0700 if its group or others
// had any right to it, and logs the mode it had. A folder that does not
// exist yet is left to OpenLedger, which creates it 0700.
func closeDataFolder(data string, log *slog.Logger) error {
	fi, err := os.Stat(data)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("data folder: %v", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data folder %s is not a folder", data)
	}
	if was := fi.Mode().Perm(); was&0o077 != 0 {
		if err := os.Chmod(data, privateDir); err != nil {
			return fmt.Errorf("data folder %s has mode %#o and cannot be made 0700: %v", data, was, err)
		}
		log.Warn("data folder was open to others: made it 0700", "data", data, "was", fmt.Sprintf("%#o", was))
	}
	return nil
}

// checkKeyFiles refuses a private key file in data/keys (every regular file
// there but the public *.pub) that its group or others may read or write.
// The keys are made 0600; a looser one was changed by hand or copied
// carelessly, and the operator must decide whether it leaked.
func checkKeyFiles(data string) error {
	dir := filepath.Join(data, "keys")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("key folder: %v", err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".pub") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		fi, err := os.Stat(path) // a key may be a link to a mounted secret: its target counts
		if err != nil {
			return fmt.Errorf("key file %s: %v", path, err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			return fmt.Errorf("key file %s has mode %#o: others than its owner may read or change it; if it may have leaked, rotate it (SECURITY.md), then chmod 600 it", path, perm)
		}
	}
	return nil
}

// makePrivate sets every folder under dir to 0700 and every file to 0600.
// The store's files in a backup are hard links to the live store's where
// the two share a file system, so those become 0600 as well: the server,
// which owns them, reads them as before.
func makePrivate(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := privateFile
		switch {
		case d.IsDir():
			mode = privateDir
		case !d.Type().IsRegular():
			return nil
		}
		return os.Chmod(path, mode)
	})
}
