package conformance

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
)

// The suite's own RFC 6962 section 2.1 Merkle tree code, written from the
// RFC and sharing nothing with the server, so that it checks independently.
// Verification of proofs against roots alone follows RFC 9162 section
// 2.1.3.2 and 2.1.4.2, which state as algorithms what RFC 6962 defines.

// hash is a SHA-256 hash.
type hash = [sha256.Size]byte

// leafHash is MTH of one entry: SHA-256(0x00 ‖ entry).
func leafHash(entry []byte) hash {
	return sha256.Sum256(append([]byte{0x00}, entry...))
}

// nodeHash is SHA-256(0x01 ‖ left ‖ right).
func nodeHash(left, right hash) hash {
	b := make([]byte, 0, 1+2*sha256.Size)
	b = append(b, 0x01)
	b = append(b, left[:]...)
	b = append(b, right[:]...)
	return sha256.Sum256(b)
}

// splitPoint is k, the largest power of two smaller than n (n > 1).
func splitPoint(n int) int {
	k := 1
	for k<<1 < n {
		k <<= 1
	}
	return k
}

// treeHash is MTH(D[n]) over leaf hashes: SHA-256() of nothing for the
// empty tree, the leaf hash for one, else the node hash of the two
// subtrees split at k.
func treeHash(leaves []hash) hash {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	k := splitPoint(len(leaves))
	return nodeHash(treeHash(leaves[:k]), treeHash(leaves[k:]))
}

// inclusionPath is PATH(m, D[n]) of RFC 6962 section 2.1.1.
func inclusionPath(m int, leaves []hash) []hash {
	n := len(leaves)
	if n <= 1 {
		return nil
	}
	k := splitPoint(n)
	if m < k {
		return append(inclusionPath(m, leaves[:k]), treeHash(leaves[k:]))
	}
	return append(inclusionPath(m-k, leaves[k:]), treeHash(leaves[:k]))
}

// consistencyProof is PROOF(m, D[n]) of RFC 6962 section 2.1.2.
func consistencyProof(m int, leaves []hash) []hash {
	if m <= 0 || m >= len(leaves) {
		return nil
	}
	return subproof(m, leaves, true)
}

func subproof(m int, leaves []hash, b bool) []hash {
	n := len(leaves)
	if m == n {
		if b {
			return nil
		}
		return []hash{treeHash(leaves)}
	}
	k := splitPoint(n)
	if m <= k {
		return append(subproof(m, leaves[:k], b), treeHash(leaves[k:]))
	}
	return append(subproof(m-k, leaves[k:], false), treeHash(leaves[:k]))
}

// verifyInclusion checks that leaf is entry index of the tree of size with
// root, given the audit path (RFC 9162 section 2.1.3.2).
func verifyInclusion(index, size uint64, leaf hash, proof []hash, root hash) error {
	if index >= size {
		return fmt.Errorf("index %d is not below size %d", index, size)
	}
	fn, sn := index, size-1
	r := leaf
	for _, p := range proof {
		if sn == 0 {
			return errors.New("inclusion proof is longer than the tree is deep")
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			r = nodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return errors.New("inclusion proof is shorter than the tree is deep")
	}
	if r != root {
		return fmt.Errorf("inclusion proof gives root %x, want %x", r, root)
	}
	return nil
}

// verifyConsistency checks that the tree of size first with root1 is a
// prefix of the tree of size second with root2 (RFC 9162 section 2.1.4.2).
func verifyConsistency(first, second uint64, root1, root2 hash, proof []hash) error {
	switch {
	case first > second:
		return fmt.Errorf("first size %d is after second size %d", first, second)
	case first == second:
		if len(proof) != 0 {
			return errors.New("consistency proof between equal sizes is not empty")
		}
		if root1 != root2 {
			return errors.New("equal sizes with different roots")
		}
		return nil
	case first == 0:
		if len(proof) != 0 {
			return errors.New("consistency proof from the empty tree is not empty")
		}
		return nil
	}
	if len(proof) == 0 {
		return errors.New("consistency proof is empty")
	}
	if first&(first-1) == 0 { // an exact power of two
		proof = append([]hash{root1}, proof...)
	}
	fn, sn := first-1, second-1
	for fn&1 == 1 {
		fn >>= 1
		sn >>= 1
	}
	fr, sr := proof[0], proof[0]
	for _, c := range proof[1:] {
		if sn == 0 {
			return errors.New("consistency proof is too long")
		}
		if fn&1 == 1 || fn == sn {
			fr = nodeHash(c, fr)
			sr = nodeHash(c, sr)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			sr = nodeHash(sr, c)
		}
		fn >>= 1
		sn >>= 1
	}
	switch {
	case sn != 0:
		return errors.New("consistency proof is too short")
	case fr != root1:
		return fmt.Errorf("consistency proof gives first root %x, want %x", fr, root1)
	case sr != root2:
		return fmt.Errorf("consistency proof gives second root %x, want %x", sr, root2)
	}
	return nil
}

// sameHashes reports whether two proofs are the same list of hashes.
func sameHashes(a, b []hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i][:], b[i][:]) {
			return false
		}
	}
	return true
}
