package server

import (
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
	"time"

	"creditbank/accreditation"
	"creditbank/ledger"
)

// AdminSocket is the name of the admin socket in the data folder: a unix
// socket of mode 0600, so that only the operator who can read the data
// folder reaches it.
const AdminSocket = "admin.sock"

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
// {"out":"/abs/path"} and POST /rotate-kek (RotateKEK). A socket that
// cannot be made is logged and skipped: the service runs on, and backups
// and rotations wait for it to stop.
func startAdmin(data string, l *ledger.Ledger, bank *accreditation.Bank, log *slog.Logger) *adminServer {
	a := &adminServer{path: filepath.Join(data, AdminSocket), log: log}
	ln, err := listenPrivate(a.path)
	if err != nil {
		log.Error("admin socket: online backups are not available", "err", err)
		return a
	}
	// One backup or rotation at a time: a backup copies the store and then
	// the key file, and a rotation between the two would leave a copy whose
	// keys do not open its records.
	var mu sync.Mutex
	mux := http.NewServeMux()
	mux.HandleFunc("POST /rotate-kek", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		start := time.Now()
		rot, err := bank.RotateKEK(r.Context(), nil)
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			log.Error("rotate-kek", "err", err)
			w.WriteHeader(http.StatusInternalServerError)
			_ = json.NewEncoder(w).Encode(rotationResponse{Error: err.Error()})
			return
		}
		log.Info("rotate-kek", "from", rot.From, "to", rot.To, "rewrapped", rot.Rewrapped, "duration_ms", time.Since(start).Milliseconds())
		_ = json.NewEncoder(w).Encode(rotationResponse{KEKRotation: rot})
	})
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
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}
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
