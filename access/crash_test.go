package access

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"creditbank/ledger"
)

// TestPowerCut cuts the power under a ledger and its access log while
// reads are recorded every millisecond and grants are appended to the
// ledger: a crash clone of the in-memory file system keeps what was synced
// and a random share of what was not. Reopened, the store holds every
// access record made more than FlushInterval (plus a margin for scheduling
// on a busy machine) before the cut, only records that were made, and
// every grant whose append returned before the cut.
//
// The grants here are plain ledger entries of the type the grant command
// writes; what makes them durable is the ledger's synced group commit,
// which the access log's batches share the WAL with but never wait for.
func TestPowerCut(t *testing.T) {
	if testing.Short() {
		t.Log("short: one cut")
	}
	cuts := []int{0, 50, 100} // percent of unsynced blocks kept
	if testing.Short() {
		cuts = cuts[:1]
	}
	for _, unsynced := range cuts {
		t.Run(fmt.Sprintf("unsynced=%d%%", unsynced), func(t *testing.T) { powerCut(t, unsynced) })
	}
}

// slack is how much later than FlushInterval a record may still be lost:
// the writer's tick and its sync need the CPU, which the 2-core machines
// the tests run on share with the rest of the suite.
const slack = 150 * time.Millisecond

func powerCut(t *testing.T, unsynced int) {
	keys, _, err := ledger.GenerateKeys(ledger.DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	open := func(fs vfs.FS) *ledger.Ledger {
		l, err := ledger.Open(ledger.Options{Dir: "db", FS: fs, Keys: keys, Logger: quiet, MinFreeBytes: -1})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	fs := vfs.NewCrashableMem()
	l := open(fs)
	a, err := Open(l.Store(), Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}

	type made struct {
		who  string
		when time.Time
	}
	var mu sync.Mutex
	var records []made
	var grants []uint64 // seqs of grants acknowledged
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			r := Record{Learner: "L000123", Who: fmt.Sprintf("institution:i%d.example", i), Role: "institution", What: "transcript"}
			r.When = time.Now()
			if a.Record(r) {
				mu.Lock()
				records = append(records, made{r.Who, r.When})
				mu.Unlock()
			}
			time.Sleep(time.Millisecond)
		}
	})
	// Grants stop a second into the run, so that the ledger's synced group
	// commits, which sync the WAL the access log shares, are not what
	// keeps the last records: the log's own syncs must.
	grantsUntil := time.Now().Add(time.Second)
	wg.Go(func() {
		for i := 0; ctx.Err() == nil && time.Now().Before(grantsUntil); i++ {
			content, _ := json.Marshal(map[string]any{"learner": "L000123", "institution": "univ.example", "purpose": "admission", "id": fmt.Sprintf("g%d", i)})
			rc, err := l.Append(ctx, ledger.Records{{Type: "grant.given", Actor: "learner:L000123", Content: content}})
			if err != nil {
				return
			}
			mu.Lock()
			grants = append(grants, rc.First)
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	})

	rng := rand.New(rand.NewPCG(uint64(unsynced), 7))
	time.Sleep(2*time.Second + time.Duration(rng.IntN(500))*time.Millisecond)
	mu.Lock()
	cutAt := time.Now()
	before := append([]made(nil), records...)
	grantsBefore := append([]uint64(nil), grants...)
	mu.Unlock()
	crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: unsynced, RNG: rng})
	cancel()
	wg.Wait()
	a.Close()
	l.Close()

	l = open(crashed)
	defer l.Close()
	a, err = Open(l.Store(), Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	got := all(t, a, "L000123", 1000)
	have := map[string]time.Time{}
	for _, r := range got {
		have[r.Who] = r.When
	}
	mu.Lock()
	madeAt := map[string]time.Time{}
	for _, r := range records {
		madeAt[r.who] = r.when
	}
	mu.Unlock()
	for who, when := range have {
		if w, ok := madeAt[who]; !ok || !w.Equal(when) {
			t.Fatalf("recovered a record never made: %s at %v", who, when)
		}
	}
	mustKeep := cutAt.Add(-DefaultFlushInterval - slack)
	lost, oldestLost := 0, time.Duration(0)
	for _, r := range before {
		if _, ok := have[r.who]; ok {
			continue
		}
		lost++
		oldestLost = max(oldestLost, cutAt.Sub(r.when))
		if r.when.Before(mustKeep) {
			t.Errorf("record %s made %v before the cut was lost", r.who, cutAt.Sub(r.when))
		}
	}
	for _, seq := range grantsBefore {
		b, err := l.Entry(seq)
		if err != nil {
			t.Fatalf("grant %d acknowledged before the cut: %v", seq, err)
		}
		if e, err := ledger.ParseEntry(b); err != nil || e.Type != "grant.given" {
			t.Fatalf("grant %d acknowledged before the cut: %v, %s", seq, err, b)
		}
	}
	if len(grantsBefore) == 0 || len(before) < 1000 {
		t.Fatalf("the workload did too little: %d records, %d grants before the cut", len(before), len(grantsBefore))
	}
	t.Logf("%d records and %d grants before the cut; %d records lost, the oldest made %v before it; every grant kept",
		len(before), len(grantsBefore), lost, oldestLost.Round(time.Millisecond))
}
