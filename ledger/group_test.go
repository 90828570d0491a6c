package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// TestGroupLayers: what a group reads through its layers (its own writes,
// those of the group ahead, a snapshot of the store without that group) is
// what the store holds once both groups are applied in order, for random
// sets, merges and deletes of state and idempotency keys, whether or not
// the group ahead has reached the store when the reads happen.
func TestGroupLayers(t *testing.T) {
	for seed := range uint64(30) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			db := openTestStore(t)
			keys := make([][]byte, 12)
			for i := range keys {
				keys[i] = stateKey(fmt.Appendf(nil, "k%d", i))
				if i%3 == 0 {
					keys[i] = idemKey("scope", fmt.Sprint(i))
				}
			}
			write := func(g *groupBatch, n int) {
				for range n {
					k := keys[rng.IntN(len(keys))]
					v := fmt.Appendf(nil, "<%d>", rng.IntN(100))
					var err error
					switch rng.IntN(3) {
					case 0:
						err = g.set(k, v)
					case 1:
						err = g.merge(k, v)
					default:
						err = g.del(k)
					}
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			// The store as earlier groups left it.
			g0 := newGroupBatch(db, 0, nil, db, nil, groupSize{})
			write(g0, 20)
			if err := db.Apply(g0.Batch, pebble.NoSync); err != nil {
				t.Fatal(err)
			}
			base := db.NewSnapshot()
			defer base.Close()
			prev := newGroupBatch(db, 0, nil, db, nil, groupSize{})
			write(prev, 15)
			drained := false
			cur := newGroupBatch(db, 0, prev, base, func() error { drained = true; return nil }, groupSize{})
			write(cur, 15)
			prevApplied := rng.IntN(2) == 0
			if prevApplied {
				if err := db.Apply(prev.Batch, pebble.NoSync); err != nil {
					t.Fatal(err)
				}
			}
			got := make(map[string][]byte)
			for _, k := range keys {
				v, closer, err := cur.Get(k)
				switch {
				case errors.Is(err, pebble.ErrNotFound):
				case err != nil:
					t.Fatal(err)
				default:
					got[string(k)] = bytes.Clone(v)
					closer.Close()
				}
			}
			if drained {
				t.Fatal("a state or idempotency Get waited for the group ahead")
			}
			if err := cur.closeReads(); err != nil {
				t.Fatal(err)
			}
			if !prevApplied {
				if err := db.Apply(prev.Batch, pebble.NoSync); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Apply(cur.Batch, pebble.NoSync); err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				want, closer, err := db.Get(k)
				if errors.Is(err, pebble.ErrNotFound) {
					if v, ok := got[string(k)]; ok {
						t.Errorf("key %q: read %q through the layers, the store has none", k, v)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if v, ok := got[string(k)]; !ok || !bytes.Equal(v, want) {
					t.Errorf("key %q: read %q (found %v) through the layers, the store has %q", k, v, ok, want)
				}
				closer.Close()
			}
		})
	}
}

// TestGroupEntries: a group reads its own entries and those of the group
// ahead without waiting for it, and falls back to the store for older ones;
// an iterator waits for the group ahead first.
func TestGroupEntries(t *testing.T) {
	db := openTestStore(t)
	if err := db.Set(entryKey(0), []byte("e0"), pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	base := db.NewSnapshot()
	defer base.Close()
	prev := newGroupBatch(db, 1, nil, db, nil, groupSize{})
	if err := prev.addEntry(1, []byte("e1")); err != nil {
		t.Fatal(err)
	}
	idem := idemKey("scope", "k")
	if err := prev.set(idem, []byte("v")); err != nil {
		t.Fatal(err)
	}
	drained := 0
	cur := newGroupBatch(db, 2, prev, base, func() error {
		drained++
		return db.Apply(prev.Batch, pebble.NoSync)
	}, groupSize{bytes: 1 << 10, writes: 4})
	if err := cur.addEntry(2, []byte("e2")); err != nil {
		t.Fatal(err)
	}
	if err := cur.addEntry(4, nil); err == nil {
		t.Fatal("an entry out of order was taken")
	}
	for seq := range uint64(3) {
		v, err := getCopy(cur, entryKey(seq))
		if err != nil || string(v) != fmt.Sprintf("e%d", seq) {
			t.Fatalf("entry %d = %q, %v", seq, v, err)
		}
	}
	if _, err := getCopy(cur, idemKey("scope", "other")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("idempotency record nobody wrote: %v", err)
	}
	if drained != 0 {
		t.Fatal("an entry or idempotency Get waited for the group ahead")
	}
	it, err := cur.NewIter(&pebble.IterOptions{LowerBound: entryKey(0), UpperBound: entryKey(3)})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	it.Close()
	if drained != 1 || n != 3 {
		t.Fatalf("iterator: waited %d times for the group ahead, saw %d entries; want 1 and 3", drained, n)
	}
	// Once the group ahead is in the store, reads go there.
	if v, err := getCopy(cur, idem); err != nil || string(v) != "v" {
		t.Fatalf("idempotency record of the group ahead after the wait = %q, %v", v, err)
	}
	if err := cur.closeReads(); err != nil {
		t.Fatal(err)
	}
}

// openTestStore opens a Pebble store with the ledger's options in a
// temporary folder, closed when the test ends.
func openTestStore(t *testing.T) *pebble.DB {
	t.Helper()
	po := storeOptions(nil, 8<<20)
	db, err := pebble.Open(t.TempDir(), po)
	po.Cache.Unref()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
