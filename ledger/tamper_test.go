package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/tlog"
)

// tmQuietLogger keeps Pebble's log lines out of the test output.
type tmQuietLogger struct{ t testing.TB }

func (tmQuietLogger) Infof(string, ...any)  {}
func (tmQuietLogger) Errorf(string, ...any) {}
func (q tmQuietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble fatal: "+format, args...))
}

// tmStore opens the closed ledger's Pebble store in dir directly, as an
// attacker with access to the disk would, runs fn on it and closes it.
func tmStore(t *testing.T, dir string, fn func(db *pebble.DB)) {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{Logger: tmQuietLogger{t}})
	if err != nil {
		t.Fatalf("pebble open: %v", err)
	}
	fn(db)
	if err := db.Flush(); err != nil {
		t.Fatalf("pebble flush: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("pebble close: %v", err)
	}
}

func tmGet(t *testing.T, db *pebble.DB, key []byte) []byte {
	t.Helper()
	v, err := getCopy(db, key)
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	return v
}

func tmSet(t *testing.T, db *pebble.DB, key, value []byte) {
	t.Helper()
	if err := db.Set(key, value, pebble.Sync); err != nil {
		t.Fatalf("set %q: %v", key, err)
	}
}

func tmDeleteRange(t *testing.T, db *pebble.DB, start, end []byte) {
	t.Helper()
	if err := db.DeleteRange(start, end, pebble.Sync); err != nil {
		t.Fatalf("delete range: %v", err)
	}
}

// tmProblem reports whether one of the report's problems contains all of subs.
func tmProblem(rep *Report, subs ...string) bool {
	for _, p := range rep.Problems {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(p, s)
		}
		if all {
			return true
		}
	}
	return false
}

// tmFlip returns which byte of an entry to flip (XOR 1, which keeps a digit
// a digit) for each kind of damage: a content digit (the entry still parses, only its hash changes),
// the last digit of its seq (it parses as another seq), its first byte (it no
// longer parses).
func tmFlip(t *testing.T, data []byte, where string) int {
	t.Helper()
	switch where {
	case "content":
		// The last digit of the content's number: ...,"n":17}}
		if !bytes.HasSuffix(data, []byte("}}")) || !bytes.Contains(data, []byte(`"n":`)) {
			t.Fatalf("unexpected entry %s", data)
		}
		return len(data) - 3
	case "seq":
		i := bytes.Index(data, []byte(`,"type"`))
		return i - 1
	case "structure":
		return 0
	}
	t.Fatalf("unknown flip %q", where)
	return -1
}

// TestTamperFlippedByte changes one byte of one stored entry behind the
// ledger's back. An entry in the middle passes the integrity check on open
// (which looks at the last entry only) and must be found by Verify, naming
// it as the first bad entry; the last entry is caught already on open, which
// then refuses writes with ErrCorrupt, and Verify also names it.
func TestTamperFlippedByte(t *testing.T) {
	const n = 40
	tests := []struct {
		name  string
		seq   uint64
		where string
	}{
		{"middle/content", 17, "content"},
		{"middle/seq", 20, "seq"},
		{"middle/structure", 23, "structure"},
		{"first/content", 0, "content"},
		{"last/content", n - 1, "content"},
		{"last/seq", n - 1, "seq"},
		{"last/structure", n - 1, "structure"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions(t, nil, "")
			l := openTest(t, opts)
			appendN(t, l, n)
			if _, err := l.SignCheckpoint(context.Background()); err != nil {
				t.Fatal(err)
			}
			mustVerify(t, l, nil)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}

			tmStore(t, opts.Dir, func(db *pebble.DB) {
				v := tmGet(t, db, entryKey(tc.seq))
				v[tmFlip(t, v, tc.where)] ^= 1
				tmSet(t, db, entryKey(tc.seq), v)
			})

			l, err := Open(opts)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer l.Close()
			last := tc.seq == n-1
			if last {
				if l.Integrity() == nil {
					t.Fatal("a changed last entry passed the integrity check on open")
				}
				_, err := l.Append(context.Background(), Records{record("test.entry", "x", 0)})
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("append to a corrupt ledger: %v, want ErrCorrupt", err)
				}
				if err := l.Writable(); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Writable: %v, want ErrCorrupt", err)
				}
			} else if err := l.Integrity(); err != nil {
				t.Fatalf("integrity check on open looks at the last entry only, but failed: %v", err)
			}
			rep, err := l.Verify(context.Background(), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatal("Verify found nothing wrong")
			}
			t.Logf("problems: %q", rep.Problems)
			if rep.FirstBad != int64(tc.seq) {
				t.Fatalf("FirstBad = %d, want %d; problems: %q", rep.FirstBad, tc.seq, rep.Problems)
			}
			if !tmProblem(rep, fmt.Sprintf("entry %d", tc.seq)) {
				t.Fatalf("no problem names entry %d: %q", tc.seq, rep.Problems)
			}
			if rep.Entries != n {
				t.Fatalf("Verify read %d entries, want %d", rep.Entries, n)
			}
		})
	}
}

// tmTruncate drops the entries from keep on the way a careful attacker
// would: entries, their stored hashes and index keys go, the tree head is
// rewritten over what is left with the root recomputed from the remaining
// stored hashes, and every checkpoint over more than keep entries is
// deleted. The store is then internally consistent.
func tmTruncate(t *testing.T, db *pebble.DB, keep uint64) {
	t.Helper()
	tmDeleteRange(t, db, entryKey(keep), []byte{tagEntry + 1})
	tmDeleteRange(t, db, hashKey(tlog.StoredHashIndex(0, int64(keep))), []byte{tagHash + 1})
	tmDeleteRange(t, db, checkpointKey(keep+1), []byte{tagCheckpoint + 1})
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{tagIndex}, UpperBound: []byte{tagIndex + 1}})
	if err != nil {
		t.Fatal(err)
	}
	var drop [][]byte
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if binary.BigEndian.Uint64(k[len(k)-8:]) >= keep {
			drop = append(drop, append([]byte(nil), k...))
		}
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	for _, k := range drop {
		if err := db.Delete(k, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	h := head{size: keep}
	if keep > 0 {
		e, err := ParseEntry(tmGet(t, db, entryKey(keep-1)))
		if err != nil {
			t.Fatal(err)
		}
		h.lastTime = e.RecordedAt.UnixMicro()
	}
	h.root, err = treeHash(keep, readerHashes{db})
	if err != nil {
		t.Fatalf("tree hash over what is left: %v", err)
	}
	tmSet(t, db, headKey, h.encode())
}

// TestTamperTruncatedTail drops the last k entries and leaves a store that
// passes every check of its own: it opens clean and Verify without an
// earlier checkpoint passes. Only a checkpoint saved before the truncation
// shows the loss, and Verify with it names the first missing entry.
func TestTamperTruncatedTail(t *testing.T) {
	const n = 60
	tests := []struct {
		name string
		keep uint64
	}{
		{"last one", n - 1},
		{"last seven", n - 7},
		{"down to the older checkpoint", 20},
		{"below every checkpoint", 13},
		{"all", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions(t, nil, "")
			l := openTest(t, opts)
			appendN(t, l, 20)
			if _, err := l.SignCheckpoint(context.Background()); err != nil {
				t.Fatal(err)
			}
			appendN(t, l, n-20)
			saved, err := l.SignCheckpoint(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			mustVerify(t, l, saved)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}

			tmStore(t, opts.Dir, func(db *pebble.DB) { tmTruncate(t, db, tc.keep) })

			l = openTest(t, opts) // fails the test if the integrity check complains
			if got := l.Size(); got != tc.keep {
				t.Fatalf("size after truncation %d, want %d", got, tc.keep)
			}
			rep := mustVerify(t, l, nil)
			if rep.Entries != tc.keep {
				t.Fatalf("Verify read %d entries, want %d", rep.Entries, tc.keep)
			}

			rep, err = l.Verify(context.Background(), saved, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatal("Verify against the earlier checkpoint missed the lost entries")
			}
			t.Logf("problems: %q", rep.Problems)
			if rep.FirstBad != int64(tc.keep) {
				t.Fatalf("FirstBad = %d, want %d (the first missing entry); problems %q", rep.FirstBad, tc.keep, rep.Problems)
			}
			if !tmProblem(rep, fmt.Sprint(n), fmt.Sprint(tc.keep), "lost entries") {
				t.Fatalf("no problem names the %d missing entries: %q", n-tc.keep, rep.Problems)
			}
			if rep.Since == nil || rep.Since.Size != n {
				t.Fatalf("report's earlier checkpoint %+v", rep.Since)
			}
		})
	}
}

// tmRehash rebuilds every stored hash and the tree head from the entries as
// they are now, as an attacker who changed an entry would to make the store
// consistent again. Checkpoints are left alone: the attacker cannot sign.
func tmRehash(t *testing.T, db *pebble.DB) {
	t.Helper()
	v := tmGet(t, db, headKey)
	h, err := decodeHead(v)
	if err != nil {
		t.Fatal(err)
	}
	tmDeleteRange(t, db, []byte{tagHash}, []byte{tagHash + 1})
	hashes := tmHashMap{}
	for seq := uint64(0); seq < h.size; seq++ {
		data := tmGet(t, db, entryKey(seq))
		hs, err := tlog.StoredHashes(int64(seq), data, hashes)
		if err != nil {
			t.Fatal(err)
		}
		base := tlog.StoredHashIndex(0, int64(seq))
		for i, hh := range hs {
			hashes[base+int64(i)] = hh
			tmSet(t, db, hashKey(base+int64(i)), hh[:])
		}
	}
	h.root, err = treeHash(h.size, hashes)
	if err != nil {
		t.Fatal(err)
	}
	tmSet(t, db, headKey, h.encode())
}

type tmHashMap map[int64]tlog.Hash

func (m tmHashMap) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		h, ok := m[idx]
		if !ok {
			return nil, fmt.Errorf("hash %d not computed", idx)
		}
		out[i] = h
	}
	return out, nil
}

// tmRewriteEntry replaces entry seq by a canonical entry with other content.
func tmRewriteEntry(t *testing.T, db *pebble.DB, seq uint64) {
	t.Helper()
	e, err := ParseEntry(tmGet(t, db, entryKey(seq)))
	if err != nil {
		t.Fatal(err)
	}
	e.Content, err = MarshalContent(map[string]any{"learner": "EVIL", "n": 1000000})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	tmSet(t, db, entryKey(seq), b)
}

// TestTamperRehashed changes an entry and rewrites the stored hashes and the
// tree head to match, so that every leaf hash and the head agree with the
// entries. What still betrays the change is a signed checkpoint over a tree
// that contained the original entry: the latest one kept in the store (the
// integrity check on open and so Verify report that its root differs), or,
// when the attacker also deleted the stored checkpoints and the ledger signed
// a fresh one over the forged tree, an earlier checkpoint a monitor saved.
func TestTamperRehashed(t *testing.T) {
	const n = 50
	tests := []struct {
		name            string
		seq             uint64
		dropCheckpoints bool
	}{
		{"middle", 25, false},
		{"first", 0, false},
		{"last", n - 1, false},
		{"middle, checkpoints deleted", 25, true},
		{"last, checkpoints deleted", n - 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions(t, nil, "")
			l := openTest(t, opts)
			appendN(t, l, n)
			saved, err := l.SignCheckpoint(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}

			tmStore(t, opts.Dir, func(db *pebble.DB) {
				tmRewriteEntry(t, db, tc.seq)
				tmRehash(t, db)
				if tc.dropCheckpoints {
					tmDeleteRange(t, db, []byte{tagCheckpoint}, []byte{tagCheckpoint + 1})
				}
			})

			l, err = Open(opts)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer l.Close()

			if tc.dropCheckpoints {
				// Nothing in the store can tell: the ledger signs the forged
				// tree on open.
				if err := l.Integrity(); err != nil {
					t.Fatalf("integrity: %v", err)
				}
				mustVerify(t, l, nil)
				rep, err := l.Verify(context.Background(), saved, nil)
				if err != nil {
					t.Fatal(err)
				}
				if rep.OK() {
					t.Fatal("Verify against the saved checkpoint missed the forged entry")
				}
				if !tmProblem(rep, "earlier checkpoint's root", fmt.Sprint(n)) {
					t.Fatalf("no problem about the earlier checkpoint's root: %q", rep.Problems)
				}
				return
			}

			if l.Integrity() == nil {
				t.Fatal("the integrity check on open missed the latest checkpoint's root")
			}
			if !strings.Contains(l.Integrity().Error(), "checkpoint's root differs") {
				t.Fatalf("integrity: %v", l.Integrity())
			}
			if _, err := l.Append(context.Background(), Records{record("test.entry", "x", 0)}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("append: %v, want ErrCorrupt", err)
			}
			for _, since := range [][]byte{nil, saved} {
				rep, err := l.Verify(context.Background(), since, nil)
				if err != nil {
					t.Fatal(err)
				}
				if rep.OK() {
					t.Fatal("Verify found nothing wrong")
				}
				t.Logf("problems: %q", rep.Problems)
				if !tmProblem(rep, "checkpoint's root differs") {
					t.Fatalf("no problem about the checkpoint's root: %q", rep.Problems)
				}
				// The leaf hashes were rewritten to match: no entry is bad
				// on its own.
				if tmProblem(rep, "does not match its stored leaf hash") {
					t.Fatalf("leaf hash problem although the hashes were rewritten: %q", rep.Problems)
				}
			}
		})
	}
}
