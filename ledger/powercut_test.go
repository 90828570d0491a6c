package ledger

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestPowerCut cuts the power under a running ledger: it appends from several
// goroutines on a crashable in-memory file system and, at a random moment,
// takes a crash clone of it (everything synced, plus a random share of what
// was written but not synced, block by block), opens a ledger on the clone
// and checks that every append acknowledged before the cut is there with
// its bytes, the store is whole (checkRecovered), and every checkpoint
// signed before the cut still holds: its root is the root of the recovered
// tree at its size. The recovered ledger then runs the next round, so later
// rounds also cut the power under a ledger that was itself recovered.
func TestPowerCut(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5, 6}
	rounds := 5
	if testing.Short() {
		seeds, rounds = seeds[:3], 3
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("seed %d", seed)
				}
			})
			powerCutRun(t, seed, rounds)
		})
	}
}

func powerCutRun(t *testing.T, seed uint64, rounds int) {
	rng := rand.New(rand.NewPCG(seed, 0x1ed9e))
	// Odd seeds use a small memtable, so that flushes, WAL rotation and
	// compactions are under way when the power goes.
	smallMemtable := seed%2 == 1
	open := func(fs vfs.FS) *Ledger {
		t.Helper()
		opts := testOptions(t, fs, "db")
		opts.CheckpointInterval = 3 * time.Millisecond
		if smallMemtable {
			opts.Tune = func(o *pebble.Options) { o.MemTableSize = 256 << 10 }
		}
		l, err := Open(opts)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return l
	}

	fs := vfs.NewCrashableMem()
	l := open(fs)
	var checked uint64 // entries checked after earlier cuts
	var since []byte   // checkpoint over those entries
	var totalAcks, totalEntries, totalUnacked, totalCkpts int
	for round := range rounds {
		var mu sync.Mutex
		var acks []workAck
		var ckpts [][]byte
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var werr error
		wg.Go(func() {
			werr = runWorkload(ctx, l, round, 6, func(a workAck) {
				mu.Lock()
				acks = append(acks, a)
				mu.Unlock()
			})
		})
		wg.Go(func() {
			// Checkpoints, both asked for and signed by the ticker.
			crng := rng2(seed, round)
			for ctx.Err() == nil {
				signed, err := l.SignCheckpoint(ctx)
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("round %d: sign checkpoint: %v", round, err)
					}
					return
				}
				mu.Lock()
				ckpts = append(ckpts, signed, l.Checkpoint())
				mu.Unlock()
				time.Sleep(time.Duration(crng.IntN(2000)) * time.Microsecond)
			}
		})

		// Cut at a random moment; now and then almost at once.
		delay := time.Duration(rng.IntN(40_000)) * time.Microsecond
		if rng.IntN(6) == 0 {
			delay = time.Duration(rng.IntN(500)) * time.Microsecond
		}
		time.Sleep(delay)
		// Everything acknowledged so far was acknowledged before the cut.
		mu.Lock()
		ackedBefore := append([]workAck(nil), acks...)
		ckptsBefore := append([][]byte(nil), ckpts...)
		mu.Unlock()
		unsynced := rng.IntN(101)
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: unsynced, RNG: rng})

		cancel()
		wg.Wait()
		if werr != nil {
			t.Fatalf("round %d: workload: %v", round, werr)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("round %d: close the original: %v", round, err)
		}

		fs = crashed
		l = open(fs)
		st := checkRecovered(t, l, checked, ackedBefore, since)
		for _, signed := range ckptsBefore {
			c, err := OpenCheckpoint(signed, l.opts.Keys.Verifier)
			if err != nil {
				t.Fatalf("round %d: checkpoint signed before the cut: %v", round, err)
			}
			if c.Size > st.size {
				t.Fatalf("round %d: checkpoint signed before the cut covers %d entries, %d recovered", round, c.Size, st.size)
			}
			root, err := l.RootAt(c.Size)
			if err != nil {
				t.Fatalf("round %d: root at %d: %v", round, c.Size, err)
			}
			if root != c.Root {
				t.Fatalf("round %d: checkpoint signed before the cut at size %d has a root the recovered tree does not", round, c.Size)
			}
		}
		if n := len(ckptsBefore); n > 0 {
			mustVerify(t, l, ckptsBefore[n-1]) // and the tree grew from the last one
		}
		entries := 0
		for _, a := range ackedBefore {
			entries += a.count
		}
		if testing.Verbose() {
			t.Logf("round %d: cut after %v keeping %d%% of unsynced blocks: %d acks (%d entries) before the cut, %d after it; %d checkpoints; tree %d entries; %d proposals stored unacknowledged",
				round, delay.Round(time.Millisecond), unsynced, len(ackedBefore), entries, len(acks)-len(ackedBefore), len(ckptsBefore), st.size, st.unacked)
		}
		totalAcks += len(ackedBefore)
		totalEntries += entries
		totalUnacked += st.unacked
		totalCkpts += len(ckptsBefore)
		checked = st.size
		var err error
		if since, err = l.SignCheckpoint(context.Background()); err != nil {
			t.Fatalf("round %d: sign checkpoint after recovery: %v", round, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	t.Logf("seed %d: %d power cuts: %d appends (%d entries) acknowledged before the cuts, all recovered; %d checkpoints signed before the cuts, all hold; %d proposals stored unacknowledged (allowed)",
		seed, rounds, totalAcks, totalEntries, totalCkpts, totalUnacked)
}

// rng2 is a second generator for the checkpoint goroutine, so that the main
// one (which picks the cut) is not shared between goroutines.
func rng2(seed uint64, round int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(round)))
}
