package tiles

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

func TestParsePath(t *testing.T) {
	for _, c := range []struct {
		path string
		want tlog.Tile
	}{
		{"tile/0/000", tlog.Tile{H: 8, L: 0, N: 0, W: 256}},
		{"tile/0/001.p/7", tlog.Tile{H: 8, L: 0, N: 1, W: 7}},
		{"tile/1/x001/x234/067", tlog.Tile{H: 8, L: 1, N: 1234067, W: 256}},
		{"tile/2/x001/000.p/255", tlog.Tile{H: 8, L: 2, N: 1000, W: 255}},
		{"tile/63/000", tlog.Tile{H: 8, L: 63, N: 0, W: 256}},
		{"tile/entries/000", tlog.Tile{H: 8, L: -1, N: 0, W: 256}},
		{"tile/entries/x003/905.p/1", tlog.Tile{H: 8, L: -1, N: 3905, W: 1}},
	} {
		got, err := ParsePath(c.path)
		if err != nil || got != c.want {
			t.Errorf("ParsePath(%q) = %+v, %v; want %+v", c.path, got, err, c.want)
			continue
		}
		if p := Path(got); p != c.path {
			t.Errorf("Path(%+v) = %q, want %q", got, p, c.path)
		}
	}
	for _, bad := range []string{
		"", "tile/", "tile/0", "tile/0/", "tile/00/000", "tile/01/000", "tile/64/000", "tile/-1/000",
		"tile/0/0", "tile/0/0000", "tile/0/x000/001", "tile/0/001/002", "tile/0/x1/002", "tile/0/xx01/002",
		"tile/0/001.p/0", "tile/0/001.p/256", "tile/0/001.p/07", "tile/0/001.p/", "tile/0/001.p/1/",
		"tile/0/00a", "tile/data/000", "tile/entries/", "tile/entries/1", "tile/entries/000.p/300",
		"tiles/0/000", "/tile/0/000", "tile/0/000/", "tile/+1/000", "tile/0/x001/x002/x003/x004/x005/x006/x007/008",
	} {
		if got, err := ParsePath(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParsePath(%q) = %+v, %v; want ErrMalformed", bad, got, err)
		}
	}
}

// FuzzParsePath: a tile path parses only in its one canonical spelling,
// which Path writes back byte for byte.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"tile/0/000", "tile/1/x001/x234/067.p/5", "tile/entries/x999/999", "tile/00/000", "tile/0/x000/001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		tile, err := ParsePath(p)
		if err != nil {
			return
		}
		if again := Path(tile); again != p {
			t.Fatalf("ParsePath(%q) = %+v, written back as %q", p, tile, again)
		}
	})
}

// memSource is a tree in memory, hashed by x/mod's tlog: the model the
// tiles are checked against.
type memSource struct {
	entries [][]byte
	hashes  []tlog.Hash
}

func newMemSource(t testing.TB, n int, size func(i int) int) *memSource {
	m := &memSource{}
	for i := range n {
		e := bytes.Repeat([]byte{byte(i)}, size(i))
		hs, err := tlog.StoredHashes(int64(i), e, m)
		if err != nil {
			t.Fatal(err)
		}
		m.entries = append(m.entries, e)
		m.hashes = append(m.hashes, hs...)
	}
	return m
}

func (m *memSource) Size() uint64 { return uint64(len(m.entries)) }

func (m *memSource) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("hash %d not stored", x)
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

func (m *memSource) Entries(from, to uint64, fn func(uint64, []byte) error) error {
	for s := from; s < to; s++ {
		if err := fn(s, m.entries[s]); err != nil {
			return err
		}
	}
	return nil
}

// TestReadAgainstTileHashReader reads every tile a tree of 70,000 entries
// has, as a tile client would, and checks that x/mod's tile hash reader,
// fed only those tiles, proves every stored hash it is asked for.
func TestReadAgainstTileHashReader(t *testing.T) {
	const n = 70_000
	m := newMemSource(t, n, func(i int) int { return 1 + i%5 })
	tree := tlog.Tree{N: n}
	var err error
	if tree.Hash, err = tlog.TreeHash(n, m); err != nil {
		t.Fatal(err)
	}
	served := 0
	reader := tileReaderFunc(func(ts []tlog.Tile) ([][]byte, error) {
		out := make([][]byte, len(ts))
		for i, tile := range ts {
			b, err := Read(m, tile)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", Path(tile), err)
			}
			served++
			out[i] = b
		}
		return out, nil
	})
	hr := tlog.TileHashReader(tree, reader)
	for _, i := range []int64{0, 255, 256, 65535, 65536, 69_887, 69_999} {
		proof, err := tlog.ProveRecord(n, i, hr)
		if err != nil {
			t.Fatalf("prove %d from tiles: %v", i, err)
		}
		if err := tlog.CheckRecord(proof, n, tree.Hash, i, tlog.RecordHash(m.entries[i])); err != nil {
			t.Fatalf("check %d: %v", i, err)
		}
	}
	if served == 0 {
		t.Fatal("no tile read")
	}
	// The example of the spec: 273 full level 0 tiles, a partial one of
	// width 112, one full level 1 tile, a partial one of width 17 and a
	// partial level 2 tile of width 1.
	for _, c := range []struct {
		tile   tlog.Tile
		exists bool
	}{
		{tlog.Tile{H: 8, L: 0, N: 272, W: 256}, true},
		{tlog.Tile{H: 8, L: 0, N: 273, W: 256}, false},
		{tlog.Tile{H: 8, L: 0, N: 273, W: 112}, true},
		{tlog.Tile{H: 8, L: 0, N: 273, W: 113}, false},
		{tlog.Tile{H: 8, L: 1, N: 0, W: 256}, true},
		{tlog.Tile{H: 8, L: 1, N: 1, W: 17}, true},
		{tlog.Tile{H: 8, L: 1, N: 1, W: 18}, false},
		{tlog.Tile{H: 8, L: 2, N: 0, W: 1}, true},
		{tlog.Tile{H: 8, L: 2, N: 0, W: 2}, false},
		{tlog.Tile{H: 8, L: 3, N: 0, W: 1}, false},
		{tlog.Tile{H: 8, L: -1, N: 273, W: 112}, true},
		{tlog.Tile{H: 8, L: -1, N: 273, W: 113}, false},
	} {
		if got := Exists(c.tile, n); got != c.exists {
			t.Errorf("Exists(%s, %d) = %v, want %v", Path(c.tile), n, got, c.exists)
		}
		_, err := Read(m, c.tile)
		if c.exists != (err == nil) || !c.exists && !errors.Is(err, ErrNotFound) {
			t.Errorf("Read(%s) = %v", Path(c.tile), err)
		}
	}
}

type tileReaderFunc func([]tlog.Tile) ([][]byte, error)

func (f tileReaderFunc) Height() int                               { return Height }
func (f tileReaderFunc) ReadTiles(t []tlog.Tile) ([][]byte, error) { return f(t) }
func (f tileReaderFunc) SaveTiles([]tlog.Tile, [][]byte)           {}

func TestEntryBundles(t *testing.T) {
	m := newMemSource(t, 600, func(i int) int {
		if i == 530 {
			return MaxEntrySize + 1
		}
		if i == 520 {
			return MaxEntrySize
		}
		return i % 300 // entry 0 and 300 are empty
	})
	for _, tile := range []tlog.Tile{{H: 8, L: -1, N: 0, W: 256}, {H: 8, L: -1, N: 1, W: 256}, {H: 8, L: -1, N: 2, W: 15}} {
		b, err := Read(m, tile)
		if err != nil {
			t.Fatalf("%s: %v", Path(tile), err)
		}
		got, err := SplitBundle(b)
		if err != nil {
			t.Fatalf("%s: %v", Path(tile), err)
		}
		if len(got) != tile.W {
			t.Fatalf("%s holds %d entries", Path(tile), len(got))
		}
		for i, e := range got {
			if seq := tile.N*Width + int64(i); !bytes.Equal(e, m.entries[seq]) {
				t.Fatalf("%s: entry %d differs", Path(tile), seq)
			}
		}
	}
	_, err := Read(m, tlog.Tile{H: 8, L: -1, N: 2, W: 88})
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Seq != 530 || tl.Size != MaxEntrySize+1 {
		t.Fatalf("bundle with an entry of %d bytes: %v, want TooLargeError for 530", MaxEntrySize+1, err)
	}
}

// FuzzSplitBundle: what splits is exactly the bundle its entries make.
func FuzzSplitBundle(f *testing.F) {
	f.Add([]byte{0, 1, 'a', 0, 0})
	f.Add([]byte{0, 5, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := SplitBundle(b)
		if err != nil {
			return
		}
		var again []byte
		for _, e := range es {
			again = binary.BigEndian.AppendUint16(again, uint16(len(e)))
			again = append(again, e...)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("SplitBundle(%x) re-encodes as %x", b, again)
		}
	})
}
