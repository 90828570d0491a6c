package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"

	"creditbank/accreditation"
	"creditbank/ledger"
	"creditbank/vault"
)

// rotationResponse is the admin socket's answer to POST /rotate-kek.
type rotationResponse struct {
	accreditation.KEKRotation
	Error string `json:"error,omitempty"`
}

// RotationResult is what RotateKEK did.
type RotationResult struct {
	// Online is true when a running server rotated through its admin
	// socket, false when RotateKEK opened the stopped server's store.
	Online bool
	accreditation.KEKRotation
}

// RotateKEK rotates the key-encryption key of the data folder data
// (data/keys/keys.json) and wraps every learner's data key again under the
// new one (accreditation.Bank.RotateKEK). While a server runs it holds data
// locked, so RotateKEK asks it over its admin socket, and writes go on
// meanwhile; when no server answers there, RotateKEK opens the store
// itself. A backup taken before the rotation holds the old key file with
// the records it opens.
func RotateKEK(ctx context.Context, data, origin string) (*RotationResult, error) {
	var res rotationResponse
	status, err := adminPost(ctx, data, "/rotate-kek", struct{}{}, &res)
	if err == nil {
		if status != http.StatusOK {
			return nil, fmt.Errorf("the server could not rotate the key-encryption key: %s", res.Error)
		}
		return &RotationResult{Online: true, KEKRotation: res.KEKRotation}, nil
	}
	if !errors.Is(err, errNoServer) {
		return nil, err
	}
	rot, err := rotateDirect(ctx, data, origin)
	if err != nil {
		return nil, err
	}
	return &RotationResult{KEKRotation: rot}, nil
}

// rotateDirect opens the store of a stopped server and rotates its KEK.
func rotateDirect(ctx context.Context, data, origin string) (rot accreditation.KEKRotation, err error) {
	err = withStoppedBank(data, origin, func(bank *accreditation.Bank) error {
		rot, err = bank.RotateKEK(ctx, nil)
		return err
	})
	return rot, err
}

// RotateIndexKey replaces the index key of the data folder data, the key
// of the keyed hash by which a learner id finds the learner's reference,
// and rebuilds the directory under it (accreditation.Bank.RotateIndexKey).
// The server must be stopped: lookups during the rebuild would miss the
// learners already moved. Cut short, it is run again.
func RotateIndexKey(ctx context.Context, data, origin string) (rot accreditation.IndexRotation, err error) {
	sock := filepath.Join(data, AdminSocket)
	if c, err := net.Dial("unix", sock); err == nil {
		c.Close()
		return rot, fmt.Errorf("data folder %s is in use by a running server, which answers on %s: stop it first", data, sock)
	}
	err = withStoppedBank(data, origin, func(bank *accreditation.Bank) error {
		rot, err = bank.RotateIndexKey(ctx)
		return err
	})
	return rot, err
}

// withStoppedBank opens the store and keys of a stopped server's data
// folder, runs fn on a bank over them and closes the store.
func withStoppedBank(data, origin string, fn func(*accreditation.Bank) error) error {
	keyDir := filepath.Join(data, "keys")
	keys, err := ledger.LoadKeys(keyDir, origin)
	if err != nil {
		return err
	}
	vk, err := vault.Load(keyDir)
	if err != nil {
		return fmt.Errorf("learner data keys: %v", err)
	}
	l, err := ledger.Open(ledger.Options{Dir: filepath.Join(data, "ledger"), Keys: keys, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		if lockedByOther(err) {
			return fmt.Errorf("data folder %s is in use by a running server: stop it first (%v)", data, err)
		}
		return err
	}
	bank, err := accreditation.New(l, vk)
	if err == nil {
		err = fn(bank)
	}
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	return err
}
