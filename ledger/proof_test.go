package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// prModel is an independent model of the ledger's Merkle tree, built with
// github.com/transparency-dev/merkle from the entry bytes the ledger serves:
// leaves[i] is the RFC 6962 leaf hash of entry i and roots[n] the root of the
// tree of the first n entries.
type prModel struct {
	leaves [][]byte
	roots  [][]byte
}

var prHasher = rfc6962.DefaultHasher

// prBuildModel reads every durable entry of l and computes the leaf hashes
// and the root of every prefix with a compact range.
func prBuildModel(t testing.TB, l *Ledger) *prModel {
	t.Helper()
	n := l.Size()
	m := &prModel{roots: [][]byte{prHasher.EmptyRoot()}}
	rf := compact.RangeFactory{Hash: prHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for seq := uint64(0); seq < n; seq++ {
		b, err := l.Entry(seq)
		if err != nil {
			t.Fatalf("entry %d: %v", seq, err)
		}
		leaf := prHasher.HashLeaf(b)
		m.leaves = append(m.leaves, leaf)
		if err := r.Append(leaf, nil); err != nil {
			t.Fatalf("compact append %d: %v", seq, err)
		}
		root, err := r.GetRootHash(nil)
		if err != nil {
			t.Fatalf("compact root %d: %v", seq+1, err)
		}
		m.roots = append(m.roots, root)
	}
	return m
}

// prProof converts a tlog proof to the [][]byte the merkle verifier takes.
func prProof(p []tlog.Hash) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = append([]byte(nil), p[i][:]...)
	}
	return out
}

// prAppendBatches appends one Records proposal per element of sizes, with
// that many records, and returns the receipts.
func prAppendBatches(t testing.TB, l *Ledger, sizes []int) []Receipt {
	t.Helper()
	var out []Receipt
	seq := int(l.Size())
	for _, k := range sizes {
		rs := make(Records, k)
		for i := range rs {
			rs[i] = record("proof.entry", fmt.Sprintf("L%d", seq%11), seq)
			seq++
		}
		rc, err := l.Append(context.Background(), rs)
		if err != nil {
			t.Fatalf("append batch of %d: %v", k, err)
		}
		out = append(out, rc)
	}
	return out
}

func prCheckInclusion(t testing.TB, l *Ledger, m *prModel, index, size uint64) {
	t.Helper()
	p, err := l.InclusionProof(index, size)
	if err != nil {
		t.Fatalf("InclusionProof(%d, %d): %v", index, size, err)
	}
	if err := proof.VerifyInclusion(prHasher, index, size, m.leaves[index], prProof(p), m.roots[size]); err != nil {
		t.Fatalf("inclusion of %d in %d does not verify: %v", index, size, err)
	}
}

func prCheckConsistency(t testing.TB, l *Ledger, m *prModel, from, to uint64) {
	t.Helper()
	p, err := l.ConsistencyProof(from, to)
	if err != nil {
		t.Fatalf("ConsistencyProof(%d, %d): %v", from, to, err)
	}
	if err := proof.VerifyConsistency(prHasher, from, to, prProof(p), m.roots[from], m.roots[to]); err != nil {
		t.Fatalf("consistency %d -> %d does not verify: %v", from, to, err)
	}
}

func prCheckRoots(t testing.TB, l *Ledger, m *prModel) {
	t.Helper()
	for n := range m.roots {
		got, err := l.RootAt(uint64(n))
		if err != nil {
			t.Fatalf("RootAt(%d): %v", n, err)
		}
		if !bytes.Equal(got[:], m.roots[n]) {
			t.Fatalf("RootAt(%d) = %x, independent root %x", n, got, m.roots[n])
		}
	}
}

// TestProofsSmallTrees checks every tree size 1..300: the root of each, the
// inclusion proof of every entry in each, and consistency proofs between all
// pairs of sizes up to 64 and a sample of pairs beyond, all against the
// transparency-dev verifier. The entries are appended in groups of growing
// size (1, 2, ..., 24 records) so that group boundaries fall at many
// different positions of the tree, and the head root of every group is
// checked as it is published.
func TestProofsSmallTrees(t *testing.T) {
	const maxSize = 300
	l := openTest(t, testOptions(t, nil, ""))
	var sizes []int
	for k, total := 1, 0; total < maxSize; k++ {
		k = min(k, maxSize-total)
		sizes = append(sizes, k)
		total += k
	}
	rf := compact.RangeFactory{Hash: prHasher.HashChildren}
	cr := rf.NewEmptyRange(0)
	for _, k := range sizes {
		rc := prAppendBatches(t, l, []int{k})[0]
		for seq := rc.First; seq < rc.First+uint64(rc.Count); seq++ {
			b, err := l.Entry(seq)
			if err != nil {
				t.Fatal(err)
			}
			if err := cr.Append(prHasher.HashLeaf(b), nil); err != nil {
				t.Fatal(err)
			}
		}
		want, err := cr.GetRootHash(nil)
		if err != nil {
			t.Fatal(err)
		}
		size, root := l.Head()
		if size != rc.Size || size != cr.End() {
			t.Fatalf("head size %d, receipt size %d, model size %d", size, rc.Size, cr.End())
		}
		if !bytes.Equal(root[:], want) {
			t.Fatalf("head root at %d = %x, independent %x", size, root, want)
		}
	}
	if got := l.Size(); got != maxSize {
		t.Fatalf("size %d, want %d", got, maxSize)
	}

	m := prBuildModel(t, l)
	prCheckRoots(t, l, m)

	t.Run("inclusion", func(t *testing.T) {
		for size := uint64(1); size <= maxSize; size++ {
			for index := uint64(0); index < size; index++ {
				prCheckInclusion(t, l, m, index, size)
			}
		}
	})

	t.Run("inclusion-wrong-leaf", func(t *testing.T) {
		// The verifier must not accept a proof for another leaf, so that the
		// checks above mean something.
		for _, c := range [][2]uint64{{0, 1}, {3, 7}, {100, 300}, {299, 300}} {
			index, size := c[0], c[1]
			p, err := l.InclusionProof(index, size)
			if err != nil {
				t.Fatal(err)
			}
			other := prHasher.HashLeaf([]byte("not an entry"))
			if err := proof.VerifyInclusion(prHasher, index, size, other, prProof(p), m.roots[size]); err == nil {
				t.Fatalf("inclusion of a foreign leaf at %d in %d verified", index, size)
			}
		}
	})

	t.Run("consistency", func(t *testing.T) {
		for to := uint64(1); to <= 64; to++ {
			for from := uint64(1); from <= to; from++ {
				prCheckConsistency(t, l, m, from, to)
			}
		}
		rng := rand.New(rand.NewPCG(1, 2))
		for to := uint64(65); to <= maxSize; to++ {
			froms := []uint64{1, 2, to - 1, to, to / 2, rng.Uint64N(to) + 1, rng.Uint64N(to) + 1}
			for b := uint64(1); b < to; b <<= 1 {
				froms = append(froms, b)
			}
			for _, from := range froms {
				prCheckConsistency(t, l, m, from, to)
			}
		}
	})

	t.Run("range", func(t *testing.T) {
		prCheckRangeErrors(t, l, maxSize)
	})
}

func prCheckRangeErrors(t *testing.T, l *Ledger, n uint64) {
	t.Helper()
	incl := [][2]uint64{{0, 0}, {n, n}, {0, n + 1}, {n, n + 1}, {n + 5, n + 1}, {^uint64(0), ^uint64(0)}}
	for _, c := range incl {
		if _, err := l.InclusionProof(c[0], c[1]); !errors.Is(err, ErrRange) {
			t.Errorf("InclusionProof(%d, %d) = %v, want ErrRange", c[0], c[1], err)
		}
	}
	cons := [][2]uint64{{0, n + 1}, {2, 1}, {n, n - 1}, {1, n + 1}, {n + 1, n + 1}, {n + 1, n}}
	for _, c := range cons {
		if _, err := l.ConsistencyProof(c[0], c[1]); !errors.Is(err, ErrRange) {
			t.Errorf("ConsistencyProof(%d, %d) = %v, want ErrRange", c[0], c[1], err)
		}
	}
	// The empty tree is a prefix of every tree: its proof is empty.
	for _, to := range []uint64{0, 1, n} {
		if p, err := l.ConsistencyProof(0, to); err != nil || p == nil || len(p) != 0 {
			t.Errorf("ConsistencyProof(0, %d) = %v, %v, want an empty proof", to, p, err)
		}
	}
	for _, size := range []uint64{n + 1, n + 1000, ^uint64(0)} {
		if _, err := l.RootAt(size); !errors.Is(err, ErrRange) {
			t.Errorf("RootAt(%d) = %v, want ErrRange", size, err)
		}
	}
}

// TestProofsEmptyLedger: an empty ledger has the RFC 6962 empty root and no
// proofs at all.
func TestProofsEmptyLedger(t *testing.T) {
	l := openTest(t, testOptions(t, nil, ""))
	root, err := l.RootAt(0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(root[:], prHasher.EmptyRoot()) {
		t.Fatalf("empty root %x, want %x", root, prHasher.EmptyRoot())
	}
	for _, c := range [][2]uint64{{0, 0}, {0, 1}, {1, 1}} {
		if _, err := l.InclusionProof(c[0], c[1]); !errors.Is(err, ErrRange) {
			t.Errorf("InclusionProof(%d, %d) = %v, want ErrRange", c[0], c[1], err)
		}
	}
	for _, c := range [][2]uint64{{0, 1}, {1, 1}} {
		if _, err := l.ConsistencyProof(c[0], c[1]); !errors.Is(err, ErrRange) {
			t.Errorf("ConsistencyProof(%d, %d) = %v, want ErrRange", c[0], c[1], err)
		}
	}
	if p, err := l.ConsistencyProof(0, 0); err != nil || len(p) != 0 {
		t.Errorf("ConsistencyProof(0, 0) = %v, %v, want an empty proof", p, err)
	}
	if _, err := l.RootAt(1); !errors.Is(err, ErrRange) {
		t.Errorf("RootAt(1) = %v, want ErrRange", err)
	}
	// The checkpoint Open signs over the empty tree.
	c, err := OpenCheckpoint(l.Checkpoint(), testKeys().Verifier)
	if err != nil {
		t.Fatal(err)
	}
	if c.Size != 0 || !bytes.Equal(c.Root[:], prHasher.EmptyRoot()) {
		t.Fatalf("empty checkpoint %+v", c)
	}
}

// TestProofsLargeTree appends a few thousand entries in large proposals and
// checks roots, inclusion and consistency proofs at random sizes, including
// across a reopen (proofs then come from stored hashes only), and the signed
// checkpoints taken along the way.
func TestProofsLargeTree(t *testing.T) {
	total := 4000
	if testing.Short() {
		total = 1200
	}
	opts := testOptions(t, nil, "")
	l := openTest(t, opts)
	rng := rand.New(rand.NewPCG(7, 11))

	// Batches of 50..250 records; a signed checkpoint after some of them.
	var signed [][]byte
	for int(l.Size()) < total {
		k := min(50+rng.IntN(200), total-int(l.Size()))
		prAppendBatches(t, l, []int{k})
		if rng.IntN(4) == 0 {
			s, err := l.SignCheckpoint(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			signed = append(signed, s)
		}
	}
	s, err := l.SignCheckpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	signed = append(signed, s)

	check := func(t *testing.T, l *Ledger) {
		m := prBuildModel(t, l)
		n := uint64(len(m.leaves))
		if n != uint64(total) {
			t.Fatalf("model has %d leaves, want %d", n, total)
		}
		prCheckRoots(t, l, m)
		sizes := []uint64{1, 2, 255, 256, 257, 1023, 1024, 1025, n - 1, n}
		for range 20 {
			sizes = append(sizes, rng.Uint64N(n)+1)
		}
		for _, size := range sizes {
			if size > n {
				continue
			}
			for _, index := range []uint64{0, size - 1, size / 2, rng.Uint64N(size), rng.Uint64N(size)} {
				prCheckInclusion(t, l, m, index, size)
			}
			for _, from := range []uint64{1, size, size/2 + 1, rng.Uint64N(size) + 1, rng.Uint64N(size) + 1} {
				prCheckConsistency(t, l, m, from, size)
			}
		}
		// Consistency between every pair of signed checkpoints, as a
		// monitor that saved them would check it.
		var prev *Checkpoint
		for i, s := range signed {
			c, err := OpenCheckpoint(s, testKeys().Verifier)
			if err != nil {
				t.Fatalf("checkpoint %d: %v", i, err)
			}
			if !bytes.Equal(c.Root[:], m.roots[c.Size]) {
				t.Fatalf("checkpoint %d over %d: root %x, independent %x", i, c.Size, c.Root, m.roots[c.Size])
			}
			if prev != nil && prev.Size > 0 {
				p, err := l.ConsistencyProof(prev.Size, c.Size)
				if err != nil {
					t.Fatal(err)
				}
				if err := proof.VerifyConsistency(prHasher, prev.Size, c.Size, prProof(p), prev.Root[:], c.Root[:]); err != nil {
					t.Fatalf("checkpoints %d -> %d: %v", prev.Size, c.Size, err)
				}
			}
			prev = &c
		}
		prCheckRangeErrors(t, l, n)
	}
	t.Run("live", func(t *testing.T) { check(t, l) })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, opts)
	t.Run("reopened", func(t *testing.T) { check(t, l) })
}

// TestSignedCheckpointRoot: the signed checkpoint opens with the ledger's
// verifier (also when rebuilt from the published verifier key), covers the
// durable size, and its root equals RootAt of that size and the independent
// root. Checkpoint() returns what SignCheckpoint signed, and signing again
// without growth gives the same note.
func TestSignedCheckpointRoot(t *testing.T) {
	l := openTest(t, testOptions(t, nil, ""))
	v, err := note.NewVerifier(l.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	for _, grow := range []int{1, 1, 2, 5, 13, 64, 100} {
		prAppendBatches(t, l, []int{grow})
		signed, err := l.SignCheckpoint(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(signed, l.Checkpoint()) {
			t.Fatalf("Checkpoint() differs from what SignCheckpoint returned")
		}
		c, err := OpenCheckpoint(signed, v)
		if err != nil {
			t.Fatalf("open checkpoint: %v", err)
		}
		if c.Origin != l.Origin() || c.Size != l.Size() {
			t.Fatalf("checkpoint %+v, ledger origin %q size %d", c, l.Origin(), l.Size())
		}
		root, err := l.RootAt(c.Size)
		if err != nil {
			t.Fatal(err)
		}
		if root != c.Root {
			t.Fatalf("checkpoint root %x, RootAt(%d) %x", c.Root, c.Size, root)
		}
		m := prBuildModel(t, l)
		if !bytes.Equal(c.Root[:], m.roots[c.Size]) {
			t.Fatalf("checkpoint root %x, independent %x", c.Root, m.roots[c.Size])
		}
		again, err := l.SignCheckpoint(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, signed) {
			t.Fatalf("second SignCheckpoint without growth signed anew")
		}
	}
	// A checkpoint does not open with another key of the same name.
	other, _, err := GenerateKeys(l.Origin())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenCheckpoint(l.Checkpoint(), other.Verifier); err == nil {
		t.Fatal("checkpoint opened with a foreign key")
	}
}
