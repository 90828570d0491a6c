package ledger

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBackupDuringWrites takes backups while several goroutines append. Each
// backup must open cleanly, verify, hold every entry acknowledged before the
// backup began, hold nothing but a prefix of the ledger's history, and carry
// a checkpoint that verifies and agrees with the ledger.
func TestBackupDuringWrites(t *testing.T) {
	opts := testOptions(t, nil, "")
	opts.CheckpointInterval = 20 * time.Millisecond
	l := openTest(t, opts)
	appendN(t, l, 50)

	var (
		mu    sync.Mutex
		acked []uint64 // the last seq of every acknowledged append
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	const writers = 6
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				recs := Records{record("test.entry", fmt.Sprintf("W%d", w), i)}
				if i%5 == 0 {
					recs = append(recs, record("test.entry", fmt.Sprintf("W%d", w), -i))
				}
				r, err := l.Append(context.Background(), recs)
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
				mu.Lock()
				acked = append(acked, r.First+uint64(r.Count)-1)
				mu.Unlock()
			}
		}()
	}

	type backup struct {
		dir       string
		mustHave  uint64 // entries acknowledged before it began: seqs < mustHave
		ackedSeen int
	}
	var backups []backup
	root := t.TempDir()
	for i := range 5 {
		time.Sleep(30 * time.Millisecond)
		mu.Lock()
		var have uint64
		for _, s := range acked {
			have = max(have, s+1)
		}
		n := len(acked)
		mu.Unlock()
		dir := filepath.Join(root, fmt.Sprintf("backup%d", i))
		if err := l.Backup(dir); err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
		backups = append(backups, backup{dir: dir, mustHave: have, ackedSeen: n})
	}
	if err := l.Backup(backups[0].dir); err == nil {
		t.Errorf("backup into an existing folder succeeded")
	}
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}
	live := l.Size()
	for i, b := range backups {
		if b.ackedSeen == 0 {
			t.Errorf("backup %d: no append was acknowledged before it; writers too slow", i)
		}
		bo := testOptions(t, nil, b.dir)
		bo.ReadOnly = true
		bl := openTest(t, bo)
		rep := mustVerify(t, bl, nil)
		size := bl.Size()
		if rep.Entries != size {
			t.Errorf("backup %d: verified %d entries, size %d", i, rep.Entries, size)
		}
		if size < b.mustHave {
			t.Errorf("backup %d holds %d entries but %d were acknowledged before it began", i, size, b.mustHave)
		}
		if size > live {
			t.Errorf("backup %d holds %d entries, more than the ledger's %d", i, size, live)
		}
		for seq := range size {
			got, err := bl.Entry(seq)
			if err != nil {
				t.Fatalf("backup %d: entry %d: %v", i, seq, err)
			}
			want, err := l.Entry(seq)
			if err != nil {
				t.Fatalf("entry %d: %v", seq, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("backup %d: entry %d differs from the ledger's", i, seq)
			}
		}
		c, err := OpenCheckpoint(bl.Checkpoint(), testKeys().Verifier)
		if err != nil {
			t.Fatalf("backup %d: checkpoint: %v", i, err)
		}
		if c.Size > size || c.Size < b.mustHave {
			t.Errorf("backup %d: checkpoint over %d entries, store holds %d, %d acknowledged before it", i, c.Size, size, b.mustHave)
		}
		if root, err := l.RootAt(c.Size); err != nil || root != c.Root {
			t.Errorf("backup %d: checkpoint root at %d disagrees with the ledger (%v)", i, c.Size, err)
		}
		t.Logf("backup %d: %d entries (%d acknowledged before it), checkpoint at %d", i, size, b.mustHave, c.Size)
		bl.Close()
	}
	// A backup of a closed ledger, and of a read-only one, is refused.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Backup(filepath.Join(root, "closed")); err != ErrClosed {
		t.Errorf("backup of a closed ledger: %v, want ErrClosed", err)
	}
	ro := opts
	ro.ReadOnly = true
	rl := openTest(t, ro)
	if err := rl.Backup(filepath.Join(root, "read-only")); err != ErrReadOnly {
		t.Errorf("backup of a read-only ledger: %v, want ErrReadOnly", err)
	}
}
