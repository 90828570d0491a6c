package access

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"creditbank/ledger"
)

// The access log's keys in the ledger's store, all under ledger.AccessTag
// so that none can be one of the ledger's. Times are Unix nanoseconds and
// seq a counter that never repeats in a store; numbers are 8-byte
// big-endian so that keys sort in numeric order.
//
//	'a' 'l' learner 0x00 ^when ^seq  -> record (who, role, what, grant)
//	'a' 't' when seq                 -> learner (the index pruning reads)
//	'a' 'm' "seq"                    -> the next seq
//
// A learner's records are listed from the first key up, so inverting the
// time and seq lists them newest first. The time index lists every record
// oldest first, which is what pruning deletes from. A learner id holds no
// 0x00 (accreditation.ValidLearnerID), so one learner's keys never run
// into another's.
const (
	tableLearner = 'l'
	tableTime    = 't'
	tableMeta    = 'm'
)

var seqKey = []byte{ledger.AccessTag, tableMeta, 's', 'e', 'q'}

// learnerPrefix is the prefix of every record key of learner.
func learnerPrefix(learner string) []byte {
	b := make([]byte, 0, 3+len(learner)+16)
	return append(append(append(b, ledger.AccessTag, tableLearner), learner...), 0)
}

// position is where a record sorts among its learner's: inverted time and
// inverted seq, 16 bytes.
func appendPosition(b []byte, when int64, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(b, ^uint64(when)), ^seq)
}

const positionLen = 16

func recordKey(learner string, when int64, seq uint64) []byte {
	return appendPosition(learnerPrefix(learner), when, seq)
}

func timeKey(when int64, seq uint64) []byte {
	b := make([]byte, 0, 18)
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(append(b, ledger.AccessTag, tableTime), uint64(when)), seq)
}

// timePrefix is the prefix of the whole time index.
var timePrefix = []byte{ledger.AccessTag, tableTime}

// parseTimeKey returns the time and seq of a time index key.
func parseTimeKey(k []byte) (int64, uint64, error) {
	if len(k) != 18 || k[0] != ledger.AccessTag || k[1] != tableTime {
		return 0, 0, fmt.Errorf("access: malformed time index key %x", k)
	}
	return int64(binary.BigEndian.Uint64(k[2:10])), binary.BigEndian.Uint64(k[10:]), nil
}

// prefixEnd returns the first key after every key that starts with p.
var prefixEnd = ledger.PrefixEnd

// A record's value: a version byte, then who, role, what and grant, each
// as a uvarint length and its bytes. The learner and the time are in the
// key.
const valueVersion = 1

func encodeValue(r Record) []byte {
	b := make([]byte, 0, 1+4+len(r.Who)+len(r.Role)+len(r.What)+len(r.Grant))
	b = append(b, valueVersion)
	for _, s := range []string{r.Who, r.Role, r.What, r.Grant} {
		b = append(binary.AppendUvarint(b, uint64(len(s))), s...)
	}
	return b
}

var errBadValue = errors.New("access: malformed record")

func decodeValue(v []byte, r *Record) error {
	if len(v) == 0 || v[0] != valueVersion {
		return errBadValue
	}
	v = v[1:]
	for _, s := range []*string{&r.Who, &r.Role, &r.What, &r.Grant} {
		n, k := binary.Uvarint(v)
		if k <= 0 || n > uint64(len(v)-k) {
			return errBadValue
		}
		*s = string(v[k : k+int(n)])
		v = v[k+int(n):]
	}
	if len(v) != 0 {
		return errBadValue
	}
	return nil
}

// The cursor of a page is the position of the last record it listed, after
// a letter naming this listing, in unpadded base64url: opaque to clients,
// and parsed as strictly as it is made, so that only a cursor this service
// issued continues a listing.
const cursorKind = 'A'

func formatCursor(pos []byte) string {
	return base64.RawURLEncoding.EncodeToString(append([]byte{cursorKind}, pos...))
}

// ErrBadCursor is returned for a cursor this listing did not issue; it
// wraps ledger.ErrBadCursor, so that the API answers it as it answers every
// bad cursor.
var ErrBadCursor = fmt.Errorf("%w: the cursor was not issued by the access log", ledger.ErrBadCursor)

func parseCursor(c string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(c)
	// Decoding skips CR and LF; the re-encoding check refuses them.
	if err != nil || len(raw) != 1+positionLen || raw[0] != cursorKind || base64.RawURLEncoding.EncodeToString(raw) != c {
		return nil, ErrBadCursor
	}
	return raw[1:], nil
}
