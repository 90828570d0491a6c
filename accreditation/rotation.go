package accreditation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"creditbank/ledger"
	"creditbank/vault"
)

// Rotation of the key-encryption key (docs/contract.md section 11), with
// the service running: a new KEK becomes current, every learner's data key
// is wrapped again under it, a batch at a time through the sequencer, then
// the old KEKs are dropped from the key file and the vault's old values
// purged from the store's files. Rotating after an erasure also makes
// useless whatever copy of the erased key the file system may still hold
// (a recycled write-ahead log, a freed block): it is wrapped under a KEK
// that no longer exists.

// doPrepared has the sequencer decide the command prepare returns, made
// again when a rotation of the KEK began between preparing it and deciding
// it (errStaleKEK); rotations are an operator's rare acts, so a second
// attempt all but always does.
func (b *Bank) doPrepared(ctx context.Context, prepare func() (command, error)) (any, error) {
	for attempt := 0; ; attempt++ {
		c, err := prepare()
		if err != nil {
			return nil, err
		}
		res, err := b.do(ctx, c)
		if !errors.Is(err, errStaleKEK) || attempt == 3 {
			return res, err
		}
	}
}

// rewrapBatch is how many data keys one rewrap command carries.
const rewrapBatch = 512

// errStaleKEK refuses, inside the sequencer, a learner's first record
// wrapped before a rotation began: its KEK is on its way out. The command
// is prepared again (Bank.retryStale).
var errStaleKEK = errors.New("the learner's key was wrapped under a retiring key-encryption key")

// KEKRotation is what a rotation did.
type KEKRotation struct {
	// From are the KEKs retired, To the one now current.
	From []uint32 `json:"from"`
	To   uint32   `json:"to"`
	// Rewrapped counts the data keys wrapped again; Skipped those erased
	// or rewrapped by another command while the rotation ran.
	Rewrapped int `json:"rewrapped"`
	Skipped   int `json:"skipped"`
}

// RotateKEK makes a new key-encryption key current, wraps every learner's
// data key under it, retires the old ones and purges the store's files of
// the old wrapped keys. progress, when not nil, is told how many keys were
// rewrapped so far. Writes go on meanwhile. A rotation cut short (the
// process stopped) leaves every key readable: the key file keeps the old
// KEKs until every data key was rewrapped, and the next rotation finishes
// the work.
func (b *Bank) RotateKEK(ctx context.Context, progress func(done int)) (KEKRotation, error) {
	old := b.keys.KEKs()
	to, err := b.keys.BeginRotation()
	if err != nil {
		return KEKRotation{}, err
	}
	rot := KEKRotation{To: to}
	for _, id := range old {
		if id != to {
			rot.From = append(rot.From, id)
		}
	}
	// A learner's first record decided before the new KEK became current
	// is wrapped under an old one and may not be durable yet, so not in the
	// reads below: a command through the sequencer, durable only after
	// every group decided before it, makes it so. Records decided after are
	// under the new KEK, or refused (errStaleKEK).
	if _, err := b.do(ctx, rewrapCmd{}); err != nil {
		return rot, err
	}
	after := ""
	for {
		batch, next, err := b.staleWraps(after, to)
		if err != nil {
			return rot, err
		}
		if len(batch) > 0 {
			res, err := b.do(ctx, rewrapCmd{Items: batch})
			if err != nil {
				return rot, err
			}
			n := res.(int)
			rot.Rewrapped += n
			rot.Skipped += len(batch) - n
			if progress != nil {
				progress(rot.Rewrapped)
			}
		}
		if next == "" {
			break
		}
		after = next
	}
	// Every record is under the new KEK now, and no first record of a
	// learner wrapped under an old one can be written any more (errStaleKEK).
	if err := b.keys.FinishRotation(); err != nil {
		return rot, err
	}
	if err := b.l.PurgeState(ctx, vaultPrefix); err != nil {
		return rot, fmt.Errorf("rotated, but the store's files may still hold keys wrapped under the old KEK: %w", err)
	}
	return rot, nil
}

// rewrapItem is one data key wrapped again: the vault record as read, and
// the one to write instead.
type rewrapItem struct {
	Ref      string
	Old, New []byte
}

// staleWraps reads up to rewrapBatch vault records after the key after
// whose data key is wrapped under another KEK than to, and wraps each again
// (outside the sequencer: wrapping draws a random nonce). next is the key
// to go on from, "" at the end.
func (b *Bank) staleWraps(after string, to uint32) (items []rewrapItem, next string, err error) {
	err = b.read(func(r *ledger.Reader, s store) error {
		var keys []string
		from := vaultKeyPrefix
		if after != "" {
			from = after + "\x00"
		}
		err := r.Scan([]byte(vaultKeyPrefix), []byte(from), func(k, _ []byte) bool {
			if len(keys) == rewrapBatch {
				next = keys[len(keys)-1]
				return false
			}
			keys = append(keys, string(k))
			return true
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			raw, err := s.get(k)
			if err != nil || raw == nil {
				return err
			}
			var rec learnerRecord
			if err := json.Unmarshal(raw, &rec); err != nil {
				return fmt.Errorf("state %s: %w", k, err)
			}
			if id, ok := vault.WrappedUnder(rec.Wrapped); ok && id == to {
				continue
			}
			ref := k[len(vaultKeyPrefix):]
			dk, err := b.keys.Unwrap(ref, rec.Wrapped)
			if err != nil {
				return fmt.Errorf("learner reference %s: %w", ref, err)
			}
			if rec.Wrapped, err = b.keys.Wrap(ref, dk); err != nil {
				return err
			}
			fresh, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			items = append(items, rewrapItem{Ref: ref, Old: raw, New: fresh})
		}
		return nil
	})
	return items, next, err
}

// rewrapCmd writes data keys wrapped again, each only if its record is
// still the one read: an erasure or another rewrap meanwhile wins.
type rewrapCmd struct {
	Items []rewrapItem
}

func (c rewrapCmd) decide(t *tx) (any, error) {
	n := 0
	for _, it := range c.Items {
		cur, err := t.get(vaultKey(it.Ref))
		if err != nil {
			return nil, err
		}
		if cur == nil || string(cur) != string(it.Old) {
			continue
		}
		t.put(vaultKey(it.Ref), it.New)
		n++
	}
	return n, nil
}

// IndexRotation is what a rotation of the index key did.
type IndexRotation struct {
	// Learners counts the learners found again under the new key.
	Learners int `json:"learners"`
	// TombstonesDropped counts the marks of erased ids let go: they were
	// kept under the old key, and no one can hash an erased id again.
	TombstonesDropped int `json:"tombstones_dropped"`
}

// RotateIndexKey replaces the index key, the key of the keyed hash by which
// a learner id finds its reference (vault/dir/), and rebuilds that
// directory: each learner's id, sealed in their vault record, is hashed
// under the new key. It is for a stopped service (creditbank
// rotate-index-key opens the store itself): lookups under the old key
// would miss the learners already moved. Cut short, it is run again and
// picks up where it was: the new key waits in the key file as pending
// until the directory is whole. The marks of erased ids cannot be hashed
// again, their ids being gone: they are dropped, so that an erased id is
// accepted again afterwards as a new learner, with nothing of the old one.
func (b *Bank) RotateIndexKey(ctx context.Context) (IndexRotation, error) {
	var rot IndexRotation
	if _, pending := b.keys.IndexHashNext(""); !pending {
		if err := b.keys.NextIndexKey(); err != nil {
			return rot, err
		}
	}
	after := ""
	for {
		batch, next, err := b.rehashBatch(after)
		if err != nil {
			return rot, err
		}
		if len(batch) > 0 {
			if _, err := b.do(ctx, rehashCmd{Items: batch}); err != nil {
				return rot, err
			}
			rot.Learners += len(batch)
		}
		if next == "" {
			break
		}
		after = next
	}
	var tombstones []string
	err := b.read(func(r *ledger.Reader, _ store) error {
		return r.Scan([]byte(vaultDirPrefix), nil, func(k, v []byte) bool {
			if string(v) == erasedMark {
				tombstones = append(tombstones, string(k))
			}
			return true
		})
	})
	if err != nil {
		return rot, err
	}
	for len(tombstones) > 0 {
		n := min(len(tombstones), rewrapBatch)
		if _, err := b.do(ctx, deleteKeysCmd{Keys: tombstones[:n]}); err != nil {
			return rot, err
		}
		rot.TombstonesDropped += n
		tombstones = tombstones[n:]
	}
	if err := b.keys.CommitIndexKey(); err != nil {
		return rot, err
	}
	return rot, b.l.PurgeState(ctx, vaultPrefix)
}

// rehashItem moves one learner's directory entry from the old hash of
// their id to the new one.
type rehashItem struct {
	Ref      string
	Old, New string
}

// rehashBatch reads up to rewrapBatch vault records after key after and
// hashes each learner's id under the old and the pending index key.
func (b *Bank) rehashBatch(after string) (items []rehashItem, next string, err error) {
	err = b.read(func(r *ledger.Reader, s store) error {
		from := vaultKeyPrefix
		if after != "" {
			from = after + "\x00"
		}
		var refs []string
		err := r.Scan([]byte(vaultKeyPrefix), []byte(from), func(k, _ []byte) bool {
			if len(refs) == rewrapBatch {
				next = vaultKeyPrefix + refs[len(refs)-1]
				return false
			}
			refs = append(refs, string(k[len(vaultKeyPrefix):]))
			return true
		})
		if err != nil {
			return err
		}
		for _, ref := range refs {
			id, erased, err := b.learnerOf(s, ref)
			if err != nil {
				return err
			}
			if erased {
				continue
			}
			h, _ := b.keys.IndexHashNext(id)
			items = append(items, rehashItem{Ref: ref, Old: b.keys.IndexHash(id), New: h})
		}
		return nil
	})
	return items, next, err
}

// rehashCmd moves directory entries to their new hashes; an entry already
// moved (a rotation run again) is left as it is.
type rehashCmd struct {
	Items []rehashItem
}

func (c rehashCmd) decide(t *tx) (any, error) {
	t.vault.raise(0)
	for _, it := range c.Items {
		if it.Old != it.New {
			t.put(dirKey(it.Old), nil)
		}
		t.put(dirKey(it.New), []byte(it.Ref))
	}
	return nil, nil
}

// deleteKeysCmd deletes vault keys, and makes directory entries Erase
// erased marks.
type deleteKeysCmd struct {
	Keys  []string
	Erase []string
}

func (c deleteKeysCmd) decide(t *tx) (any, error) {
	t.vault.raise(0)
	for _, k := range c.Keys {
		if !isVaultKey(k) {
			return nil, fmt.Errorf("%s is not a vault key", k)
		}
		t.put(k, nil)
	}
	for _, k := range c.Erase {
		if !strings.HasPrefix(k, vaultDirPrefix) {
			return nil, fmt.Errorf("%s is not a directory key", k)
		}
		t.put(k, []byte(erasedMark))
	}
	return nil, nil
}
