// Package vault holds the keys that make a learner's personal data erasable
// (crypto-shredding, section 11 of docs/contract.md): each learner's personal
// data is sealed under a data key of its own, the data key is stored only
// wrapped under a key-encryption key (KEK), and destroying the wrapped data
// key leaves the sealed bytes, and every hash over them, in place but
// unreadable for ever. Learners are found by a keyed hash of their id
// ([Keys.IndexHash]), so no stored key names a learner.
//
// The package keeps keys and seals bytes; it stores nothing but its own key
// file. Where the wrapped data keys live, and how they are destroyed, is the
// ledger's business.
//
// # Algorithms
//
//   - Sealing ([Seal], [AppendSeal], [OpenSealed]) is XChaCha20-Poly1305
//     (draft-irtf-cfrg-xchacha, golang.org/x/crypto/chacha20poly1305.NewX)
//     under the learner's 32-byte [DataKey], with a random 24-byte nonce and,
//     as associated data, the entry's seq as 8 bytes big-endian followed by
//     the field's name, so sealed bytes cannot be moved to another entry or
//     field. The output is nonce || ciphertext || 16-byte tag.
//   - Wrapping ([Keys.Wrap], [Keys.Unwrap]) is XChaCha20-Poly1305 under the
//     current KEK with a random nonce and associated data
//     "creditbank data key\x00" followed by the learner's ref. The output is
//     the KEK's id as 4 bytes big-endian || nonce (24 bytes) || ciphertext
//     and tag (48 bytes): 76 bytes in all.
//   - The index hash is hex(HMAC-SHA-256(index key, "creditbank learner\x00"
//     || id)) (RFC 2104), 64 lower-case hex digits.
//   - A ref ([NewRef]) is "_" followed by the 26 characters of 16 random
//     bytes in RFC 4648 base32 (standard alphabet, upper case, no padding).
//     Learner ids never hold "_", so a ref never equals an id.
//
// All randomness comes from crypto/rand. Random 24-byte nonces may be chosen
// freely (before the sequencer, in a command) because their collision
// probability is negligible, which is why XChaCha20 rather than ChaCha20.
//
// # The key file
//
// A data folder's KEKs and index key are in [FileName] (keys.json), mode
// 0600, one JSON object written canonically (encoding/json's compact form,
// members in this order, KEKs by ascending id, then a newline):
//
//	{"version":1,"current_kek":2,"keks":[{"id":1,"key":"<base64>"},{"id":2,"key":"<base64>"}],"index_key":"<base64>","next_index_key":"<base64>"}
//
// version is 1. current_kek is the id new wraps use and must be one of keks.
// Each key is 32 bytes in RFC 4648 standard base64 with padding. KEK ids
// are 1 or more and unique. next_index_key is present only while an index
// key rotation is under way. Reading is strict: a file that another user
// may read or write (any group or other permission bit), a member that is
// unknown, repeated or not in lower case, a key of another length, bad
// base64, or anything after the object is refused with an error that names
// the file and never any key's bytes.
//
// The file is replaced atomically: the new content is written to
// keys.json.tmp (created 0600), synced, renamed over keys.json, and the
// folder is synced. A crash leaves either the old file or the new one; a
// keys.json.tmp left behind was never renamed, so no key only it holds was
// ever used, and [Open] removes it.
//
// # Rotation
//
// The KEK rotates without downtime: [Keys.BeginRotation] adds a KEK and makes
// it current while the old ones stay, so every wrapped key still opens; the
// bank then rewraps each data key under the new KEK; [Keys.FinishRotation]
// drops the old KEKs. The index key rotates offline: [Keys.NextIndexKey] adds
// a pending key, the bank rebuilds its directory with [Keys.IndexHashNext],
// and [Keys.CommitIndexKey] replaces the index key by the pending one. Each
// step is persisted before it takes effect in memory, so no key is used
// before it is on disk.
package vault
