package server

import (
	"bytes"
	"cmp"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackup backs up a data folder with a running server (through its
// admin socket), with a stopped one, and with a stopped one that left its
// socket behind; each copy verifies, is private (folders 0700, files 0600,
// whatever the modes of what it copied), and serves the ledger it copied.
func TestBackup(t *testing.T) {
	const entries = 5
	tests := []struct {
		name   string
		online bool
		// stop, when set, stops the server before the backup.
		stop func(t *testing.T, s *Server, data string)
	}{
		{"running server", true, nil},
		{"stopped server", false, func(t *testing.T, s *Server, _ string) {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}},
		{"socket left by a dead server", false, func(t *testing.T, s *Server, data string) {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			// A listener closed without unlinking leaves a socket file
			// that refuses connections, as after a crash.
			ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(data, AdminSocket), Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			ln.SetUnlinkOnClose(false)
			ln.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			s, err := Start(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			register(t, s, entries)
			if tt.stop != nil {
				tt.stop(t, s, cfg.Data)
			} else {
				defer s.Close()
			}
			dest := filepath.Join(t.TempDir(), "backups", "b1")
			res, err := Backup(context.Background(), cfg.Data, dest, cfg.Origin, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Online != tt.online {
				t.Errorf("Online = %v, want %v", res.Online, tt.online)
			}
			if res.Report.Entries != entries || res.Report.Checkpoint == nil {
				t.Errorf("report: %d entries, checkpoint %v; want %d and a checkpoint", res.Report.Entries, res.Report.Checkpoint, entries)
			}
			checkPrivate(t, dest)
			restored := testConfig(t)
			restored.Data = dest
			r := startServer(t, restored)
			if size := r.Ledger().Size(); size != entries {
				t.Errorf("a server on the backup has %d entries, want %d", size, entries)
			}
		})
	}
}

// TestBackupErrors: a backup that cannot be taken says why in one line
// and leaves no folder behind.
func TestBackupErrors(t *testing.T) {
	running := testConfig(t)
	startServer(t, running)
	stopped := testConfig(t)
	s, err := Start(stopped, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	existing := t.TempDir()
	const elsewhere = "elsewhere.example/ledger"
	tests := []struct {
		name               string
		data, dest, origin string
		want               string
	}{
		{"no ledger", t.TempDir(), filepath.Join(t.TempDir(), "b"), "", "no ledger in "},
		{"relative folder", stopped.Data, "b", "", `backup folder "b" is not an absolute path`},
		{"existing folder, running server", running.Data, existing, "", "the server could not take the backup: backup folder " + existing + " already exists"},
		{"existing folder, stopped server", stopped.Data, existing, "", "backup folder " + existing + " already exists"},
		{"other origin", stopped.Data, filepath.Join(t.TempDir(), "b"), elsewhere, `but the origin is "` + elsewhere + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			origin := cmp.Or(tt.origin, running.Origin)
			_, err := Backup(context.Background(), tt.data, tt.dest, origin, nil)
			if err == nil {
				t.Fatal("backed up")
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, tt.want) {
				t.Fatalf("error %q, want one line with %q", msg, tt.want)
			}
			if tt.dest != existing && filepath.IsAbs(tt.dest) {
				if _, err := os.Lstat(tt.dest); !os.IsNotExist(err) {
					t.Errorf("a failed backup left %s: %v", tt.dest, err)
				}
			}
		})
	}
}

// TestAdminSocketRefusesBadRequests: the admin socket takes a backup only
// into an absolute path given as JSON.
func TestAdminSocketRefusesBadRequests(t *testing.T) {
	cfg := testConfig(t)
	startServer(t, cfg)
	sock := filepath.Join(cfg.Data, AdminSocket)
	c := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	for _, body := range []string{`{"out":"relative"}`, `{"out":`, `[]`, ``} {
		resp, err := c.Post("http://admin/backup", "application/json", bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(out), `want {\"out\":\"/absolute/path\"}`) {
			t.Errorf("POST /backup %s: %s %s", body, resp.Status, out)
		}
	}
}

// TestListenPrivate: the admin socket is made with mode 0600, replaces a
// socket a dead server left, and never replaces anything else.
func TestListenPrivate(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		wantErr string
	}{
		{"fresh", func(*testing.T, string) {}, ""},
		{"stale socket", func(t *testing.T, path string) {
			ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			ln.SetUnlinkOnClose(false)
			ln.Close()
		}, ""},
		{"regular file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "exists and is not a socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, AdminSocket)
			tt.prepare(t, path)
			ln, err := listenPrivate(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				if b, _ := os.ReadFile(path); string(b) != "keep me" {
					t.Errorf("the file at the socket's path was changed: %q", b)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			fi, err := os.Lstat(path)
			if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
				t.Fatalf("socket: %v (%v)", fi, err)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("listenPrivate left %d entries in the folder, want only the socket", len(ents))
			}
		})
	}
}
