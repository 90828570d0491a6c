package main

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
	"sync"
	"syscall"
	"time"

	"creditbank/ledger"
	"creditbank/progress"
	"creditbank/server"
)

// adminSocket is the name of the admin socket in the data folder.
const adminSocket = "admin.sock"

// errNoServer: no server answers on the admin socket.
var errNoServer = errors.New("no server is listening on the admin socket")

// backup is `creditbank backup --data DIR --out NEWDIR`. It copies the data
// folder DIR into NEWDIR, which must not exist yet: the ledger store
// (NEWDIR/ledger, a consistent online copy through a Pebble checkpoint, see
// ledger.Ledger.Backup) and the keys (NEWDIR/keys). While a server runs, it holds DIR locked, so the command asks
// it over its admin socket DIR/admin.sock (a unix socket of mode 0600 that
// only the operator who can read the data folder reaches) to take the copy;
// writes go on meanwhile. When no server is running, the command opens the
// store itself and copies it. Either way it then opens the copy read-only and
// verifies it (every entry against the tree, the checkpoint's signature and
// root) before it reports success. The copy holds every entry acknowledged
// before the backup began, and never an entry that was not yet synced to
// the server's disk.
//
// The copy holds the private keys (the ledger's checkpoint signing key and
// the token key): keep it as safe as the data folder itself.
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
//  5. Start the server: creditbank serve --data ./data
//
// Entries acknowledged after the backup was taken are not in it. Anyone who
// saved a later checkpoint (creditbank verify --save) will find, with
// --since, that the restored ledger lost them: restore the newest backup, and
// tell the auditors the size the ledger was rolled back to.
func backup(args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("backup", stderr)
	data := flags.String("data", "./data", "data folder to back up (of a running or a stopped server)")
	out := flags.String("out", "", "folder to write the backup to; must not exist yet")
	origin := flags.String("origin", ledger.DefaultOrigin, "checkpoint origin")
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
	if _, err := os.Stat(filepath.Join(*data, "ledger")); err != nil {
		return fmt.Errorf("no ledger in %s: %v", *data, err)
	}
	how := "through the running server"
	err = backupViaSocket(*data, dest)
	if errors.Is(err, errNoServer) {
		how = "directly (no server running)"
		err = backupDirect(*data, dest, *origin)
	}
	if err != nil {
		return err
	}
	prog := progress.New(stderr)
	rep, err := verifyBackup(dest, *origin, prog)
	prog.Clear()
	if err != nil {
		return fmt.Errorf("the backup in %s does not verify (it is left there for inspection): %v", dest, err)
	}
	fmt.Fprintf(stdout, "backed up %s to %s %s\n", *data, dest, how)
	fmt.Fprintf(stdout, "verified: %d entries, root %s; signed checkpoint over %d entries\n", rep.Entries, rep.Root, rep.Checkpoint.Size)
	return nil
}

// backupViaSocket asks a running server to take the backup. It returns
// errNoServer when none listens on the data folder's admin socket.
func backupViaSocket(data, dest string) error {
	sock := filepath.Join(data, adminSocket)
	if _, err := os.Lstat(sock); errors.Is(err, fs.ErrNotExist) {
		return errNoServer
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
	body, _ := json.Marshal(backupRequest{Out: dest})
	resp, err := c.Post("http://admin/backup", "application/json", bytes.NewReader(body))
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, fs.ErrNotExist) {
			return errNoServer
		}
		return fmt.Errorf("admin socket %s: %v", sock, err)
	}
	defer resp.Body.Close()
	var res backupResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&res); err != nil {
		return fmt.Errorf("admin socket %s: %s: %v", sock, resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the server could not take the backup: %s", res.Error)
	}
	return nil
}

// backupDirect opens the store of a stopped server and copies it. It opens
// the store for writing, as Pebble checkpoints only such a store; the folder
// lock guarantees that no server has it meanwhile.
func backupDirect(data, dest, origin string) error {
	keys, err := ledger.LoadKeys(filepath.Join(data, "keys"), origin)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	l, err := ledger.Open(ledger.Options{Dir: filepath.Join(data, "ledger"), Keys: keys, Logger: log})
	if err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EAGAIN) {
			return fmt.Errorf("data folder %s is in use by another process, which does not answer on %s: %v", data, filepath.Join(data, adminSocket), err)
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
// store in dest/ledger and a copy of data/keys in dest/keys.
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
	return syncDir(dest)
}

// copyDir copies the regular files of src into a new folder dst, keeping
// their permissions, and syncs them.
func copyDir(src, dst string) error {
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.Mkdir(dst, 0o700); err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()), info.Mode().Perm()); err != nil {
			return err
		}
	}
	return syncDir(dst)
}

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

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// verifyBackup opens the backup read-only and verifies it.
func verifyBackup(dest, origin string, prog *progress.Display) (*ledger.Report, error) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	l, err := server.OpenLedger(dest, origin, true, log, nil, 0)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	if err := l.Integrity(); err != nil {
		return nil, err
	}
	rep, err := l.Verify(context.Background(), nil, prog.Bar("verifying"))
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

// --- the admin socket

type backupRequest struct {
	Out string `json:"out"`
}

type backupResponse struct {
	Out   string `json:"out,omitempty"`
	Size  uint64 `json:"size,omitempty"`
	Error string `json:"error,omitempty"`
}

// adminServer serves operator requests on the data folder's unix socket.
type adminServer struct {
	srv  *http.Server
	path string
	log  *slog.Logger
}

// startAdmin listens on DIR/admin.sock (mode 0600) for POST /backup with
// {"out":"/abs/path"}. A socket that cannot be made is logged and skipped:
// the service runs on, and backups wait for it to stop.
func startAdmin(data string, l *ledger.Ledger, log *slog.Logger) *adminServer {
	a := &adminServer{path: filepath.Join(data, adminSocket), log: log}
	ln, err := listenPrivate(a.path)
	if err != nil {
		log.Error("admin socket: online backups are not available", "err", err)
		return a
	}
	var mu sync.Mutex // one backup at a time
	mux := http.NewServeMux()
	mux.HandleFunc("POST /backup", func(w http.ResponseWriter, r *http.Request) {
		var req backupRequest
		reply := func(status int, res backupResponse) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(res)
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil || !filepath.IsAbs(req.Out) {
			reply(http.StatusBadRequest, backupResponse{Error: `want {"out":"/absolute/path"}`})
			return
		}
		mu.Lock()
		defer mu.Unlock()
		start := time.Now()
		if err := backupTo(l, data, req.Out); err != nil {
			log.Error("backup", "out", req.Out, "err", err)
			reply(http.StatusInternalServerError, backupResponse{Error: err.Error()})
			return
		}
		log.Info("backup", "out", req.Out, "size", l.Size(), "duration_ms", time.Since(start).Milliseconds())
		reply(http.StatusOK, backupResponse{Out: req.Out, Size: l.Size()})
	})
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin socket", "err", err)
		}
	}()
	return a
}

// listenPrivate listens on a unix socket at path that only the owner can
// reach: it is made in a fresh 0700 folder, set to 0600, then moved into
// place, so that it is never reachable with looser permissions. A socket
// left at path by a server that died is removed: the caller holds the data
// folder's lock, so no live server owns it.
func listenPrivate(path string) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	tmp, err := os.MkdirTemp(filepath.Dir(path), ".admin-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	tmpSock := filepath.Join(tmp, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmpSock, Net: "unix"})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false) // Close removes the socket by its final name
	if err := os.Chmod(tmpSock, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	if err := os.Rename(tmpSock, path); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// Close stops the admin socket, waiting for a backup in progress, and
// removes the socket file.
func (a *adminServer) Close() {
	if a == nil || a.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		a.log.Error("admin socket shutdown", "err", err)
	}
	if err := os.Remove(a.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		a.log.Error("remove admin socket", "err", err)
	}
}
