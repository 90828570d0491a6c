package server

import (
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDataFolderMadePrivate: a data folder that others may read or enter
// is made 0700 at start, and the log says so with the mode it had.
func TestDataFolderMadePrivate(t *testing.T) {
	cfg := testConfig(t)
	if err := os.Mkdir(cfg.Data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfg.Data, 0o755); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	s, err := Start(cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(cfg.Data)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("data folder has mode %#o after start, want 0700", fi.Mode().Perm())
	}
	rec := logs.line("data folder was open to others: made it 0700")
	if rec == nil || rec["was"] != "0755" || rec["data"] != cfg.Data {
		t.Errorf("log line about the data folder's mode: %v\n%s", rec, logs.String())
	}
}

// TestLooseKeyFilesRefused: a private key file in the data folder that its
// group or others may read or write stops the server from starting, with one
// line naming the file; a key only its owner may read starts.
func TestLooseKeyFilesRefused(t *testing.T) {
	tests := []struct {
		file    string
		mode    fs.FileMode
		refused bool
	}{
		{"ledger.key", 0o644, true},
		{"ledger.key", 0o640, true},
		{"token.jwk", 0o604, true},
		{"token.jwk", 0o660, true},
		{"token.jwk", 0o600, false},
		{"ledger.key", 0o400, false},
	}
	for _, tt := range tests {
		t.Run(tt.file+" "+tt.mode.String(), func(t *testing.T) {
			cfg := testConfig(t)
			s, err := Start(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(cfg.Data, "keys", tt.file)
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			s, err = Start(cfg, nil)
			if !tt.refused {
				if err != nil {
					t.Fatalf("a key of mode %#o refused: %v", tt.mode, err)
				}
				s.Close()
				return
			}
			if err == nil {
				s.Close()
				t.Fatalf("started with %s of mode %#o", tt.file, tt.mode)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, path) || !strings.Contains(msg, "chmod 600") {
				t.Errorf("error %q, want one line naming %s and saying chmod 600", msg, path)
			}
		})
	}
}

// checkPrivate fails t unless every folder under dir is 0700 and every
// file 0600.
func checkPrivate(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %#o, want %#o", path, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNoPublicURLWarns starts without --public-url: a warning names the
// local address credentials will name; with one, no warning.
func TestNoPublicURLWarns(t *testing.T) {
	for _, public := range []string{"", "https://credits.example.gov"} {
		cfg := testConfig(t)
		cfg.PublicURL = public
		var logs syncBuffer
		s, err := Start(cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		rec := logs.line(noPublicURLWarning)
		s.Close()
		switch {
		case public == "" && (rec == nil || rec["level"] != "WARN" || !strings.HasPrefix(rec["issuer"].(string), "http://127.0.0.1:")):
			t.Errorf("without --public-url: %v\n%s", rec, logs.String())
		case public != "" && rec != nil:
			t.Errorf("with --public-url, warned: %v", rec)
		}
	}
}
