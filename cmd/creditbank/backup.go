package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"creditbank/progress"
	"creditbank/server"
)

// backup is `creditbank backup --data DIR --out NEWDIR`: a verified copy of
// the data folder DIR, taken through the running server's admin socket or,
// with the server stopped, from the store directly. server.Backup says what
// the copy holds and how to restore it.
func backup(args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("backup", stderr)
	data := flags.String("data", "./data", "data folder to back up (of a running or a stopped server)")
	out := flags.String("out", "", "folder to write the backup to; must not exist yet")
	origin := flags.String("origin", "", "checkpoint origin (default: the name of the data folder's ledger key)")
	if err := parse(flags, args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("backup needs --out DIR, a folder that does not exist yet")
	}
	dest, err := filepath.Abs(*out)
	if err != nil {
		return fmt.Errorf("--out: %v", err)
	}
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("--out %s already exists; give a new folder", dest)
	}
	res, err := server.Backup(context.Background(), *data, dest, *origin, progress.New(stderr))
	if err != nil {
		return err
	}
	how := "directly (no server running)"
	if res.Online {
		how = "through the running server"
	}
	rep := res.Report
	fmt.Fprintf(stdout, "backed up %s to %s %s\n", *data, dest, how)
	fmt.Fprintf(stdout, "verified: %d entries, root %s; signed checkpoint over %d entries\n", rep.Entries, rep.Root, rep.Checkpoint.Size)
	return nil
}
