package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"creditbank/ledger"
	"creditbank/progress"
)

// errNoServer: no server answers on the admin socket.
var errNoServer = errors.New("no server is listening on the admin socket")

// BackupResult is what Backup did and what it found in the copy.
type BackupResult struct {
	// Online is true when a running server took the copy through its admin
	// socket, false when Backup opened the stopped server's store itself.
	Online bool
	// Report is the verification of the copy; its Checkpoint is not nil.
	Report *ledger.Report
}

// Backup copies the data folder data into dest, an absolute path that must
// not exist yet: the ledger store (dest/ledger, a consistent copy through a
// Pebble checkpoint, see ledger.Ledger.Backup) and the keys (dest/keys).
// While a server runs it holds data locked, so Backup asks it over its admin
// socket data/admin.sock to take the copy; writes go on meanwhile. When no
// server answers there, Backup opens the store itself. Either way it then
// opens the copy read-only and verifies it (every entry against the tree, the
// checkpoint's signature and root, drawing a bar on prog, which may be nil)
// before it reports success. The copy holds every entry acknowledged before
// the backup began, and never an entry that was not yet synced to the
// server's disk.
//
// The copy holds the private keys (the ledger's checkpoint signing key and
// the token key): keep it as safe as the data folder itself. It is made
// private, every folder 0700 and every file 0600, whatever the modes of
// what it copied.
//
// To restore a backup:
//
//  1. Stop the server (SIGTERM; it drains requests and closes the store).
//  2. Move the old data folder aside, keeping it until the restored service
//     is known good: mv ./data ./data.old
//  3. Copy the backup in its place: cp -a /backups/2026-07-01 ./data
//  4. Check it: creditbank verify --data ./data (add --since FILE with a
//     checkpoint saved from the running service, if you have one, to be
//     told how many entries the backup lacks).
//  5. Repeat, by learner id, every erasure made since the backup was taken,
//     on a server only you reach (docs/operations.md shows how), before the
//     service is open to its users.
//  6. Start the server: creditbank serve --data ./data
//
// Entries acknowledged after the backup was taken are not in it. Anyone who
// saved a later checkpoint (creditbank verify --save) will find, with
// --since, that the restored ledger lost them: restore the newest backup, and
// tell the auditors the size the ledger was rolled back to. Erasures made
// after it are not in it either: the backup holds those learners' keys, and
// a ledger without their learner.erased entries, so until step 5 repeats
// them it would bring those learners back. The erasures the restored ledger
// does record are enforced each time the service opens it.
func Backup(ctx context.Context, data, dest, origin string, prog *progress.Display) (*BackupResult, error) {
	if !filepath.IsAbs(dest) {
		return nil, fmt.Errorf("backup folder %q is not an absolute path", dest)
	}
	if _, err := os.Stat(filepath.Join(data, "ledger")); err != nil {
		return nil, fmt.Errorf("no ledger in %s: %v", data, err)
	}
	res := &BackupResult{Online: true}
	err := backupViaSocket(ctx, data, dest)
	if errors.Is(err, errNoServer) {
		res.Online = false
		err = backupDirect(data, dest, origin)
	}
	if err != nil {
		return nil, err
	}
	res.Report, err = verifyBackup(ctx, dest, origin, prog)
	prog.Clear()
	if err != nil {
		return nil, fmt.Errorf("the backup in %s does not verify (it is left there for inspection): %v", dest, err)
	}
	// Opening the copy to verify it made Pebble's lock file, 0644.
	if err := makePrivate(dest); err != nil {
		return nil, fmt.Errorf("backup folder: %v", err)
	}
	return res, nil
}

// backupViaSocket asks a running server to take the backup. It returns
// errNoServer when none listens on the data folder's admin socket.
func backupViaSocket(ctx context.Context, data, dest string) error {
	var res backupResponse
	status, err := adminPost(ctx, data, "/backup", backupRequest{Out: dest}, &res)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("the server could not take the backup: %s", res.Error)
	}
	return nil
}

// adminPost posts body as JSON to path on the admin socket of the data
// folder data and decodes the answer into out, returning its status. It
// returns errNoServer when no server listens there.
func adminPost(ctx context.Context, data, path string, body, out any) (int, error) {
	sock := filepath.Join(data, AdminSocket)
	if _, err := os.Lstat(sock); errors.Is(err, fs.ErrNotExist) {
		return 0, errNoServer
	}
	c := &http.Client{
		Timeout: time.Hour,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
		},
	}
	raw, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "POST", "http://admin"+path, bytes.NewReader(raw))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, fs.ErrNotExist) {
			return 0, errNoServer
		}
		return 0, fmt.Errorf("admin socket %s: %v", sock, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
		return 0, fmt.Errorf("admin socket %s: %s: %v", sock, resp.Status, err)
	}
	return resp.StatusCode, nil
}

// backupDirect opens the store of a stopped server and copies it. It opens
// the store for writing, as Pebble checkpoints only such a store; the folder
// lock guarantees that no server has it meanwhile.
func backupDirect(data, dest, origin string) error {
	keys, err := ledger.LoadKeys(filepath.Join(data, "keys"), origin)
	if err != nil {
		return err
	}
	log := slog.New(slog.DiscardHandler)
	l, err := ledger.Open(ledger.Options{Dir: filepath.Join(data, "ledger"), Keys: keys, Logger: log})
	if err != nil {
		if lockedByOther(err) {
			return fmt.Errorf("data folder %s is in use by another process, which does not answer on %s: %v", data, filepath.Join(data, AdminSocket), err)
		}
		return err
	}
	if err := backupTo(l, data, dest); err != nil {
		l.Close()
		return err
	}
	return l.Close()
}

// backupTo writes the backup of l, whose data folder is data, to dest: the
// store in dest/ledger and a copy of data/keys in dest/keys. A failed backup
// leaves nothing at dest.
func backupTo(l *ledger.Ledger, data, dest string) (err error) {
	if !filepath.IsAbs(dest) {
		return fmt.Errorf("backup folder %q is not an absolute path", dest)
	}
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("backup folder %s already exists", dest)
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o700); err != nil {
		return fmt.Errorf("backup folder: %v", err)
	}
	if err := os.Mkdir(dest, 0o700); err != nil {
		return fmt.Errorf("backup folder: %v", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dest)
		}
	}()
	if err := l.Backup(filepath.Join(dest, "ledger")); err != nil {
		return err
	}
	if err := copyDir(filepath.Join(data, "keys"), filepath.Join(dest, "keys")); err != nil {
		return fmt.Errorf("copy the keys: %v", err)
	}
	// Pebble makes the store's folder 0755 and its files 0644; a backup
	// holds the private keys and every record, and may be moved out of the
	// data folder that kept them private, so it is private itself.
	if err := makePrivate(dest); err != nil {
		return fmt.Errorf("backup folder: %v", err)
	}
	return syncDir(dest)
}

// copyDir copies the regular files of src into a new folder dst, each
// 0600, and syncs them.
func copyDir(src, dst string) error {
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.Mkdir(dst, privateDir); err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()), privateFile); err != nil {
			return err
		}
	}
	return syncDir(dst)
}

// copyFile copies src to a new file dst of mode perm and syncs it, so that
// a backup reported done survives a power cut.
func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// syncDir syncs dir, which makes the names of the files made in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// verifyBackup opens the backup read-only and verifies it.
func verifyBackup(ctx context.Context, dest, origin string, prog *progress.Display) (*ledger.Report, error) {
	l, err := OpenLedger(dest, origin, true, slog.New(slog.DiscardHandler), nil, 0)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	if err := l.Integrity(); err != nil {
		return nil, err
	}
	rep, err := l.Verify(ctx, nil, prog.Bar("verifying"))
	if err != nil {
		return nil, err
	}
	if !rep.OK() {
		return nil, fmt.Errorf("%d problems, the first: %s", len(rep.Problems), rep.Problems[0])
	}
	if rep.Checkpoint == nil {
		return nil, errors.New("no signed checkpoint")
	}
	return rep, nil
}
