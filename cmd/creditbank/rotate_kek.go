package main

import (
	"context"
	"fmt"
	"io"

	"creditbank/server"
)

// rotateKEK is `creditbank rotate-kek --data DIR`: a new key-encryption key
// for the learners' data keys of data folder DIR, every data key wrapped
// again under it and the old one dropped, through the running server's
// admin socket (writes go on meanwhile) or, with the server stopped, on the
// store directly. server.RotateKEK says more.
func rotateKEK(args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("rotate-kek", stderr)
	data := flags.String("data", "./data", "data folder (of a running or a stopped server)")
	origin := flags.String("origin", "", "checkpoint origin (default: the name of the data folder's ledger key)")
	if err := parse(flags, args); err != nil {
		return err
	}
	res, err := server.RotateKEK(context.Background(), *data, *origin)
	if err != nil {
		return err
	}
	how := "directly (no server running)"
	if res.Online {
		how = "through the running server"
	}
	fmt.Fprintf(stdout, "rotated the key-encryption key of %s %s: KEK %d now, %v retired; %d data keys wrapped again\n",
		*data, how, res.To, res.From, res.Rewrapped)
	return nil
}

// rotateIndexKey is `creditbank rotate-index-key --data DIR`, with the
// server stopped: a new key for the keyed hash by which learner ids find
// their learners, and the directory rebuilt under it.
// server.RotateIndexKey says more.
func rotateIndexKey(args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("rotate-index-key", stderr)
	data := flags.String("data", "./data", "data folder of a stopped server")
	origin := flags.String("origin", "", "checkpoint origin (default: the name of the data folder's ledger key)")
	if err := parse(flags, args); err != nil {
		return err
	}
	rot, err := server.RotateIndexKey(context.Background(), *data, *origin)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rotated the index key of %s: %d learners hashed again; %d marks of erased ids dropped (those ids are accepted again as new learners)\n",
		*data, rot.Learners, rot.TombstonesDropped)
	return nil
}
