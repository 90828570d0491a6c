package ledger

import (
	"bytes"
	"context"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/tlog"
)

// effect is a Proposal that applies a fixed Effect.
type effect Effect

func (e effect) Decide(*View) (Effect, error) { return Effect(e), nil }

// TestLayoutKeys: the exported key forms name the keys the ledger really
// writes for an entry, so that a baseline writing through them writes the
// same keys, and nothing else is written besides them, the checkpoints and
// the index by type.
func TestLayoutKeys(t *testing.T) {
	l := openTest(t, testOptions(t, nil, ""))
	rec := record("test.entry", "L1", 1)
	rec.Index = []IndexKey{{"learner", "L1"}}
	rec.Unlisted = true
	rec.Idempotency = &IdempotencyKey{Scope: "inst.example", Key: "k-1"}
	if _, err := l.Append(context.Background(), effect{Records: []Record{rec}, State: []StateWrite{{Key: []byte("out/1"), Value: []byte("v")}}}); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{ // key -> value length, -1 for any
		string(AppendEntryKey(nil, 0)):                           -1,
		string(AppendIndexKey(nil, "learner", "L1", 0)):          0,
		string(AppendIdempotencyKey(nil, "inst.example", "k-1")): IdempotencyValueLen,
		string(AppendStateKey(nil, "out/1")):                     1,
		string(HeadKey()):                                        HeadValueLen,
		string(AppendHashKey(nil, tlog.StoredHashIndex(0, 0))):   32,
	}
	it, err := l.db.NewIter(&pebble.IterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if k[0] == tagCheckpoint {
			continue
		}
		n, ok := want[string(k)]
		if !ok {
			t.Errorf("the ledger wrote key %q, which no exported form names", k)
			continue
		}
		if v := it.Value(); n >= 0 && len(v) != n {
			t.Errorf("key %q holds %d bytes, want %d", k, len(v), n)
		}
		delete(want, string(k))
	}
	for k := range want {
		t.Errorf("the ledger did not write key %q", []byte(k))
	}
	if !bytes.Equal(HeadKey(), headKey) {
		t.Errorf("HeadKey() = %q", HeadKey())
	}
}
