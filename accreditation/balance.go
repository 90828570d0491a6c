package accreditation

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// A learner's balance changes with every outcome, revocation, conversion and
// reversal. Reading the balance, adding to it and writing it back took a
// quarter of the sequencer's time per outcome, so each change is appended to
// bald/<learner> instead (ledger.StateWrite.Append: no read) and the balance
// is their sum, computed when it is read. A change is one of
//
//	'c' sector-index level varint(standard credits)   credits of an outcome
//	'g' uvarint(len) target varint(credits)          credit granted to a target
//
// with sector-index the sector's place in the contract's list, and amounts
// in hundredths, negative for what is taken back. Changes that add nothing
// are not written.

func addCreditsDelta(s store, learner, sector string, level int, sc Amount) error {
	i := slices.Index(sectors, sector)
	if i < 0 || level < 1 || level > 255 {
		return fmt.Errorf("balance of %s: sector %q level %d", learner, sector, level)
	}
	if sc == 0 {
		return nil
	}
	d := binary.AppendVarint([]byte{'c', byte(i), byte(level)}, int64(sc))
	s.appendValue(balanceDeltaKey(learner), d)
	return nil
}

func addGrantedDelta(s store, learner string, t Target, g Amount) error {
	if g == 0 {
		return nil
	}
	k := t.String()
	d := binary.AppendUvarint([]byte{'g'}, uint64(len(k)))
	d = binary.AppendVarint(append(d, k...), int64(g))
	s.appendValue(balanceDeltaKey(learner), d)
	return nil
}

// loadBalance sums a learner's balance: the JSON one an older store holds,
// if any, and every change appended since.
func loadBalance(s store, learner string) (*Balance, error) {
	b := newBalance(learner)
	legacy, err := s.get(balanceKey(learner))
	if err != nil {
		return nil, err
	}
	if legacy != nil {
		if err := json.Unmarshal(legacy, b); err != nil {
			return nil, fmt.Errorf("state %s: %w", balanceKey(learner), err)
		}
	}
	deltas, err := s.get(balanceDeltaKey(learner))
	if err != nil {
		return nil, err
	}
	if err := b.addDeltas(deltas); err != nil {
		return nil, fmt.Errorf("state %s: %w", balanceDeltaKey(learner), err)
	}
	return b, nil
}

var errBadDelta = errors.New("malformed balance change")

// addDeltas adds the appended changes d to the balance, and counts each
// in its Cost: one stored key holds every change since the balance was
// last compacted (a learner's hundred thousand outcomes are a hundred
// thousand changes to merge and sum), so the key alone would understate
// what a read of it costs.
func (b *Balance) addDeltas(d []byte) error {
	for ; len(d) > 0; b.Cost.Rows++ {
		switch d[0] {
		case 'c':
			if len(d) < 3 || int(d[1]) >= len(sectors) {
				return errBadDelta
			}
			sector, level := sectors[d[1]], int(d[2])
			v, n := binary.Varint(d[3:])
			if n <= 0 {
				return errBadDelta
			}
			b.addCredits(sector, level, Amount(v))
			d = d[3+n:]
		case 'g':
			l, n := binary.Uvarint(d[1:])
			if n <= 0 || l > uint64(len(d)-1-n) {
				return errBadDelta
			}
			k := string(d[1+n : 1+n+int(l)])
			d = d[1+n+int(l):]
			v, m := binary.Varint(d)
			if m <= 0 {
				return errBadDelta
			}
			b.addGranted(k, Amount(v))
			d = d[m:]
		default:
			return errBadDelta
		}
	}
	return nil
}
