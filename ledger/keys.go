package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// The key space of the Pebble store. Every key starts with a one-byte table
// tag; numbers are 8-byte big-endian so that keys sort in numeric order.
//
//	'e' seq                          -> entry bytes
//	'h' stored hash index            -> 32-byte hash (tlog.StoredHashIndex)
//	'm' "head"                       -> head: size, last recorded_at, root
//	'c' size                         -> signed checkpoint note over that size
//	'i' name 0x00 value 0x00 seq     -> empty (secondary index)
//	'k' scope 0x00 key               -> seq, SHA-256 of the request (idempotency)
//	's' domain key                   -> domain state
//	'a' ...                          -> the access log (package access),
//	                                    written through [Ledger.Store]
//	                                    beside the tree, never in it
const (
	tagEntry      = 'e'
	tagHash       = 'h'
	tagMeta       = 'm'
	tagCheckpoint = 'c'
	tagIndex      = 'i'
	tagIdem       = 'k'
	tagState      = 's'
)

var headKey = []byte("mhead")

func u64key(tag byte, n uint64) []byte { return appendU64Key(make([]byte, 0, 9), tag, n) }

func entryKey(seq uint64) []byte       { return u64key(tagEntry, seq) }
func hashKey(index int64) []byte       { return u64key(tagHash, uint64(index)) }
func checkpointKey(size uint64) []byte { return u64key(tagCheckpoint, size) }
func stateKey(domainKey []byte) []byte { return appendStateKey(nil, domainKey) }
func idemKey(scope, key string) []byte {
	return appendIdemKey(make([]byte, 0, len(scope)+len(key)+2), scope, key)
}
func indexPrefix(name, value string) []byte {
	return appendIndexPrefix(make([]byte, 0, len(name)+len(value)+11), name, value)
}

func indexKey(name, value string, seq uint64) []byte { return appendIndexKey(nil, name, value, seq) }

// The append forms build keys in a buffer the sequencer reuses for every
// write of a group: Pebble's batch copies what it is given.
func appendU64Key(b []byte, tag byte, n uint64) []byte {
	return binary.BigEndian.AppendUint64(append(b, tag), n)
}
func appendStateKey(b, domainKey []byte) []byte { return append(append(b, tagState), domainKey...) }
func appendIdemKey(b []byte, scope, key string) []byte {
	return append(append(append(append(b, tagIdem), scope...), 0), key...)
}
func appendIndexPrefix(b []byte, name, value string) []byte {
	return append(append(append(append(append(b, tagIndex), name...), 0), value...), 0)
}
func appendIndexKey(b []byte, name, value string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(appendIndexPrefix(b, name, value), seq)
}

// PrefixEnd returns the first key after every key that starts with p: the
// upper bound of an iterator over the prefix (nil when there is none).
func PrefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// IndexKey names one secondary index an entry is listed under, such as
// {"learner", "L000123"}. Entries under the same name and value are read back
// in seq order with [Ledger.Index].
type IndexKey struct {
	Name  string
	Value string
}

// Index names the ledger maintains for every entry, in addition to those a
// Record lists.
const (
	IndexType = "type"
)

func (k IndexKey) check() error {
	if k.Name == "" || len(k.Name) > maxTypeLen || strings.ContainsRune(k.Name, 0) {
		return fmt.Errorf("index name %q is empty, too long or holds NUL", k.Name)
	}
	if k.Value == "" || len(k.Value) > maxIndexLen || strings.ContainsRune(k.Value, 0) {
		return fmt.Errorf("index %s value is empty, longer than %d bytes or holds NUL", k.Name, maxIndexLen)
	}
	return nil
}

// head is the ledger's tree head as stored with every group.
type head struct {
	size     uint64
	lastTime int64 // recorded_at of the last entry, Unix microseconds
	root     [32]byte
}

func (h head) encode() []byte {
	b := make([]byte, 0, HeadValueLen)
	b = binary.BigEndian.AppendUint64(b, h.size)
	b = binary.BigEndian.AppendUint64(b, uint64(h.lastTime))
	return append(b, h.root[:]...)
}

func decodeHead(b []byte) (head, error) {
	if len(b) != HeadValueLen {
		return head{}, errors.New("tree head record has the wrong length")
	}
	var h head
	h.size = binary.BigEndian.Uint64(b)
	h.lastTime = int64(binary.BigEndian.Uint64(b[8:]))
	copy(h.root[:], b[16:])
	return h, nil
}
