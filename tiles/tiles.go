// Package tiles reads the ledger in the C2SP tlog-tiles layout: the Merkle
// tree as tiles of 256 hashes at every eighth level, and the entries as
// bundles of 256 stored entries each, so that any tile client (such as
// filippo.io/torchwood's) reads and authenticates the whole log with a few
// requests per 256 entries. docs/contract.md section 12 says how the
// service serves them under /tlog/; docs/ledger.md says how entries are
// hashed.
//
// A tile's content depends on nothing but the entries below it, which never
// change: a full tile, or a partial one of a given width, is the same bytes
// for ever once the tree has grown over it.
package tiles

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// Height is the tiles' height: each covers 8 levels of the tree, and Width,
// 256, hashes or entries.
const (
	Height = 8
	Width  = 1 << Height
)

// MaxEntrySize is the largest entry an entry bundle can hold: each is
// prefixed by its length as a big-endian uint16.
const MaxEntrySize = 0xFFFF

// Errors a caller may branch on.
var (
	// ErrMalformed: ParsePath was given a path that is not a tile's.
	ErrMalformed = errors.New("tiles: malformed tile path")
	// ErrNotFound: the tree does not cover the tile (yet).
	ErrNotFound = errors.New("tiles: no such tile")
)

// Source is what tiles are read from: a consistent read of one tree, such
// as a *ledger.Reader. Every method sees the same tree of Size entries.
type Source interface {
	// Size is the number of entries in the tree.
	Size() uint64
	// ReadHashes returns the stored hashes with the given indexes
	// (tlog.StoredHashIndex).
	ReadHashes(indexes []int64) ([]tlog.Hash, error)
	// Entries calls fn with the bytes of entries from to to-1 in order;
	// the slice is valid only during the call.
	Entries(from, to uint64, fn func(seq uint64, b []byte) error) error
}

// TooLargeError is returned by [Read] for an entry bundle one of whose
// entries is longer than [MaxEntrySize]: the bundle cannot be written, and
// the entry is read alone (GET /v1/log/entries/{seq}).
type TooLargeError struct {
	Seq  uint64
	Size int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("entry %d is %d bytes, more than the %d an entry bundle can hold", e.Seq, e.Size, MaxEntrySize)
}

// ParsePath parses a tile path relative to the log's prefix:
// tile/<L>/<N>[.p/<W>] for a hash tile at level L, tile/entries/<N>[.p/<W>]
// for an entry bundle, which it returns with L -1 as x/mod's tlog does for
// data tiles. N is written in groups of three digits, all but the last
// prefixed with x; a full tile has W 256. Only the canonical spelling of a
// tile parses: no leading zeros in L or W, no extra group of zeros in N.
func ParsePath(p string) (tlog.Tile, error) {
	rest, ok := strings.CutPrefix(p, "tile/")
	if !ok {
		return tlog.Tile{}, ErrMalformed
	}
	t := tlog.Tile{H: Height, W: Width}
	if r, ok := strings.CutPrefix(rest, "entries/"); ok {
		t.L, rest = -1, r
	} else {
		l, r, ok := strings.Cut(rest, "/")
		n, err := strconv.Atoi(l)
		if !ok || err != nil || strconv.Itoa(n) != l || n < 0 || n > 63 {
			return tlog.Tile{}, ErrMalformed
		}
		t.L, rest = n, r
	}
	if idx, w, ok := strings.Cut(rest, ".p/"); ok {
		width, err := strconv.Atoi(w)
		if err != nil || strconv.Itoa(width) != w || width < 1 || width >= Width {
			return tlog.Tile{}, ErrMalformed
		}
		t.W, rest = width, idx
	}
	n, ok := parseIndex(rest)
	if !ok {
		return tlog.Tile{}, ErrMalformed
	}
	t.N = n
	return t, nil
}

// parseIndex reads N as x001/x234/067.
func parseIndex(s string) (int64, bool) {
	groups := strings.Split(s, "/")
	// 2^63 has 19 digits: seven groups hold every int64.
	if len(groups) > 7 {
		return 0, false
	}
	var n uint64
	for i, g := range groups {
		if i < len(groups)-1 {
			var ok bool
			if g, ok = strings.CutPrefix(g, "x"); !ok {
				return 0, false
			}
		}
		if len(g) != 3 || g[0] < '0' || g[0] > '9' || g[1] < '0' || g[1] > '9' || g[2] < '0' || g[2] > '9' {
			return 0, false
		}
		d, _ := strconv.Atoi(g)
		n = n*1000 + uint64(d)
	}
	// A leading group of zeros is a second spelling of a smaller N.
	if len(groups) > 1 && groups[0] == "x000" {
		return 0, false
	}
	if n > 1<<62 {
		return 0, false
	}
	return int64(n), true
}

// Path is the path of t relative to the log's prefix, the inverse of
// ParsePath.
func Path(t tlog.Tile) string {
	var b strings.Builder
	b.WriteString("tile/")
	if t.L < 0 {
		b.WriteString("entries/")
	} else {
		b.WriteString(strconv.Itoa(t.L))
		b.WriteByte('/')
	}
	s := strconv.FormatInt(t.N, 10)
	// Left-pad to a multiple of three digits.
	if pad := (3 - len(s)%3) % 3; pad > 0 {
		s = strings.Repeat("0", pad) + s
	}
	for i := 0; i < len(s); i += 3 {
		if i+3 < len(s) {
			b.WriteByte('x')
		}
		b.WriteString(s[i : i+3])
		if i+3 < len(s) {
			b.WriteByte('/')
		}
	}
	if t.W != Width {
		b.WriteString(".p/")
		b.WriteString(strconv.Itoa(t.W))
	}
	return b.String()
}

// Exists reports whether the tree of the given size covers tile t: a hash
// tile whose hashes are all of complete subtrees, or an entry bundle whose
// entries are all written.
func Exists(t tlog.Tile, size uint64) bool {
	if t.H != Height || t.W < 1 || t.W > Width || t.N < 0 || t.L < -1 || t.L > 63 {
		return false
	}
	level := max(t.L, 0)
	// Hashes at level 8L of the tree: size >> 8L of them are complete.
	complete := uint64(0)
	if Height*level < 64 {
		complete = size >> (Height * level)
	}
	end := uint64(t.N)*Width + uint64(t.W)
	return uint64(t.N) < 1<<56 && end <= complete
}

// Read returns the content of tile t from src: for a hash tile, its W
// hashes at level 8L of the tree; for an entry bundle, its W entries'
// bytes, each prefixed by its length as a big-endian uint16. A tile the
// tree does not cover is ErrNotFound; a bundle holding an entry longer than
// MaxEntrySize is a *TooLargeError.
func Read(src Source, t tlog.Tile) ([]byte, error) {
	if !Exists(t, src.Size()) {
		return nil, fmt.Errorf("%s of a tree of %d: %w", Path(t), src.Size(), ErrNotFound)
	}
	if t.L >= 0 {
		return tlog.ReadTileData(t, src)
	}
	first := uint64(t.N) * Width
	var out []byte
	err := src.Entries(first, first+uint64(t.W), func(seq uint64, b []byte) error {
		if len(b) > MaxEntrySize {
			return &TooLargeError{Seq: seq, Size: len(b)}
		}
		if out == nil {
			// Entries are some hundreds of bytes: one allocation mostly.
			out = make([]byte, 0, t.W*(len(b)+2)*5/4)
		}
		out = binary.BigEndian.AppendUint16(out, uint16(len(b)))
		out = append(out, b...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SplitBundle cuts an entry bundle into its entries, which alias b. It
// fails unless b is exactly a sequence of length-prefixed entries.
func SplitBundle(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, errors.New("entry bundle: truncated length")
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return nil, fmt.Errorf("entry bundle: entry %d is %d bytes but %d are left", len(out), n, len(b)-2)
		}
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	return out, nil
}
