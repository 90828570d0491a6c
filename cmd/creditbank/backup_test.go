package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"creditbank/server"
)

// TestBackup backs up a running server through its admin socket while it
// takes writes, then the stopped server directly; both copies verify, and a
// server started on a restored copy serves the checkpoint the copy holds.
func TestBackup(t *testing.T) {
	bin := buildBinary(t)
	work := t.TempDir()
	data := filepath.Join(work, "data")
	srv := runServer(t, bin, data)
	if fi, err := os.Stat(filepath.Join(data, server.AdminSocket)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket: %v (%v)", fi, err)
	}
	b := newBank(t, bin, data, srv.url)
	b.round(1, 2)

	// Writers post outcomes while the backup is taken.
	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		mu      sync.Mutex
		maxSeq  uint64
		written atomic.Int64
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				learner := fmt.Sprintf("W%dL%04d", w, i)
				seq, err := b.outcome(learner, learner)
				if err != nil {
					t.Errorf("outcome: %v", err)
					return
				}
				written.Add(1)
				mu.Lock()
				maxSeq = max(maxSeq, seq)
				mu.Unlock()
			}
		}()
	}
	// Wait for some writes (not by walking the growing log: a slow reader
	// would chase the writers for ever).
	for deadline := time.Now().Add(time.Minute); written.Load() < 20 && !t.Failed(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d outcomes written in a minute", written.Load())
		}
	}
	mu.Lock()
	acked := maxSeq + 1 // every entry below was acknowledged before the backup
	mu.Unlock()
	online := filepath.Join(work, "backups", "online")
	before := written.Load()
	r := runCmd(t, bin, nil, "backup", "--data", data, "--out", online)
	t.Logf("outcomes acknowledged while the online backup ran: %d", written.Load()-before)
	if r.code != 0 || !strings.Contains(r.stdout, "through the running server") || !strings.Contains(r.stdout, "verified: ") {
		t.Fatalf("online backup: %s", r)
	}
	t.Logf("online backup:\n%s", r.stdout)
	r = runCmd(t, bin, nil, "backup", "--data", data, "--out", online)
	if r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("backup over an existing folder: %s", r)
	}
	stop.Store(true)
	wg.Wait()
	if fi, err := os.Stat(filepath.Join(online, "keys", "ledger.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup's ledger.key: %v (%v)", fi, err)
	}
	r = runCmd(t, bin, nil, "verify", "--data", online)
	if r.code != 0 {
		t.Fatalf("verify --data of the online backup: %s", r)
	}

	final := b.waitCheckpoint()
	srv.stop(t)
	if _, err := os.Stat(filepath.Join(data, server.AdminSocket)); !os.IsNotExist(err) {
		t.Errorf("admin socket left after shutdown: %v", err)
	}

	// The stopped server, directly.
	offline := filepath.Join(work, "backups", "offline")
	r = runCmd(t, bin, nil, "backup", "--data", data, "--out", offline)
	if r.code != 0 || !strings.Contains(r.stdout, "directly (no server running)") {
		t.Fatalf("offline backup: %s", r)
	}
	finalCkpt := filepath.Join(work, "final.ckpt")
	mustRun(t, bin, "verify", "--data", data, "--save", finalCkpt)
	saved, err := os.ReadFile(finalCkpt)
	if err != nil {
		t.Fatal(err)
	}
	final = max(final, checkpointSize(t, saved))
	r = runCmd(t, bin, nil, "verify", "--data", offline, "--since", finalCkpt)
	if r.code != 0 {
		t.Fatalf("verify --data of the offline backup: %s", r)
	}

	// Restore each: the offline copy holds the whole ledger, the online one
	// at least every entry acknowledged before it was taken.
	for _, tc := range []struct {
		name string
		from string
		min  uint64
		max  uint64
	}{
		{"offline", offline, final, final},
		{"online", online, acked, final},
	} {
		restored := filepath.Join(work, "restored-"+tc.name)
		copyData(t, tc.from, restored)
		srv := runServer(t, bin, restored)
		rb := &httpBank{t: t, url: srv.url, admin: strings.TrimSpace(mustRun(t, bin, "token", "--data", restored, "--role", "admin", "--sub", "root"))}
		size := rb.waitCheckpoint()
		if size < tc.min || size > tc.max {
			t.Errorf("restored %s backup serves a checkpoint of size %d, want %d to %d", tc.name, size, tc.min, tc.max)
		}
		t.Logf("restored %s backup serves size %d (acknowledged before the online backup: %d, final: %d)", tc.name, size, acked, final)
		if tc.name == "offline" {
			r = runCmd(t, bin, nil, "verify", "--url", srv.url, "--token", rb.admin, "--since", finalCkpt)
			if r.code != 0 {
				t.Errorf("verify --url of the restored server: %s", r)
			}
		}
		srv.stop(t)
	}
}

// TestBackupRestoreErasures follows the restore procedure of
// docs/operations.md for erasures: a backup taken before an erasure brings
// the learner back when restored, until the erasure is repeated by learner
// id; a backup taken after it keeps the learner erased.
func TestBackupRestoreErasures(t *testing.T) {
	bin := buildBinary(t)
	work := t.TempDir()
	data := filepath.Join(work, "data")
	srv := runServer(t, bin, data)
	b := newBank(t, bin, data, srv.url)
	for _, l := range []string{"ERASEME2", "KEEPME3"} {
		if _, err := b.outcome(l, l); err != nil {
			t.Fatal(err)
		}
	}
	before := filepath.Join(work, "backups", "before")
	mustRun(t, bin, "backup", "--data", data, "--out", before)
	b.post(b.admin, "/v1/learners/ERASEME2/erasure", `{"reason":"the learner asked"}`)
	transcript := func(b *httpBank, learner string, want int) {
		t.Helper()
		if status, body := b.get("/v1/learners/" + learner + "/transcript"); status != want {
			t.Errorf("%s's transcript: %d %s, want %d", learner, status, body, want)
		}
	}
	transcript(b, "ERASEME2", 410)
	srv.stop(t)
	after := filepath.Join(work, "backups", "after")
	mustRun(t, bin, "backup", "--data", data, "--out", after)

	for _, tc := range []struct {
		name          string
		from          string
		restoredState int // ERASEME2's transcript once restored
		again         int // the erasure repeated
	}{
		{"before the erasure", before, 200, 200},
		{"after the erasure", after, 410, 410},
	} {
		t.Run(tc.name, func(t *testing.T) {
			restored := filepath.Join(work, "restored", filepath.Base(tc.from))
			copyData(t, tc.from, restored)
			srv := runServer(t, bin, restored)
			defer srv.stop(t)
			rb := &httpBank{t: t, url: srv.url, admin: strings.TrimSpace(mustRun(t, bin, "token", "--data", restored, "--role", "admin", "--sub", "root"))}
			transcript(rb, "ERASEME2", tc.restoredState)
			_, err := rb.tryPost(rb.admin, "/v1/learners/ERASEME2/erasure", `{"reason":"repeated after the restore"}`)
			switch {
			case tc.again == 200 && err != nil:
				t.Errorf("repeating the erasure: %v", err)
			case tc.again == 410 && (err == nil || !strings.Contains(err.Error(), "410")):
				t.Errorf("repeating the erasure: %v, want 410", err)
			}
			transcript(rb, "ERASEME2", 410)
			transcript(rb, "KEEPME3", 200)
		})
	}
}
