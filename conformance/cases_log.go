package conformance

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// The ledger (docs/contract.md section 4), read with package client and checked
// with the suite's own RFC 6962 code: checkpoints (C2SP tlog-checkpoint in
// a C2SP signed-note, verified with golang.org/x/mod/sumdb/note), every
// entry against the root, and the server's inclusion and consistency
// proofs.

// checkpoint is a verified checkpoint.
type checkpoint struct {
	origin string
	size   uint64
	root   hash
	text   string
}

// verifierKey is the server's /v1/log/key, read once per run.
func (c *tc) verifierKey() string {
	return fixture(c, "log-key", func() string {
		key, err := c.s.log.VerifierKey(c.ctx)
		c.check(err, "read the verifier key")
		return key
	})
}

var keyPattern = regexp.MustCompile(`^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+=*)$`)

// readCheckpoint fetches the latest checkpoint and verifies its signature
// with the server's verifier key, and its form.
func (c *tc) readCheckpoint() checkpoint {
	return c.parseCheckpoint(c.signedCheckpoint())
}

// signedCheckpoint fetches the latest checkpoint as served.
func (c *tc) signedCheckpoint() []byte {
	b, err := c.s.log.Checkpoint(c.ctx)
	c.check(err, "read the checkpoint")
	return b
}

func (c *tc) parseCheckpoint(msg []byte) checkpoint {
	key := c.verifierKey()
	v, err := note.NewVerifier(key)
	if err != nil {
		c.fatalf("/v1/log/key %q is not a note verifier key: %v", key, err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		c.fatalf("the checkpoint does not verify with /v1/log/key: %v\n%s", err, msg)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		c.fatalf("the checkpoint body %q is not origin, size and root lines", n.Text)
	}
	cp := checkpoint{origin: lines[0], text: n.Text}
	if cp.origin != v.Name() {
		c.fatalf("the checkpoint origin %q is not the key's name %q", cp.origin, v.Name())
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		c.fatalf("the checkpoint size line %q is not a decimal number", lines[1])
	}
	cp.size = size
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != len(cp.root) {
		c.fatalf("the checkpoint root line %q is not a base64 SHA-256 hash", lines[2])
	}
	copy(cp.root[:], root)
	return cp
}

// checkpointCovering polls the checkpoint until its size is at least size
// (a new one is signed about once a second while the tree grows).
func (c *tc) checkpointCovering(size uint64) checkpoint {
	deadline := time.Now().Add(10 * time.Second)
	for {
		cp := c.readCheckpoint()
		if cp.size >= size {
			return cp
		}
		if time.Now().After(deadline) {
			c.fatalf("after 10 s the checkpoint's size is %d, want at least %d (writes acknowledged but not in any checkpoint)", cp.size, size)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// early is a checkpoint saved on first use, for consistency proofs later.
func (c *tc) early() checkpoint {
	return fixture(c, "early-checkpoint", func() checkpoint {
		return c.checkpointCovering(c.probe() + 1)
	})
}

// entry fetches one entry's bytes with the admin token.
func (c *tc) entry(seq uint64) []byte {
	c.admin()
	b, err := c.s.log.Entry(c.ctx, seq)
	c.check(err, "read an entry")
	return b
}

// leaves fetches the entries 0 to size-1 (a few at a time, in order) and
// checks the form of each; it returns their leaf hashes.
func (c *tc) leaves(size uint64) []hash {
	c.admin()
	out := make([]hash, 0, size)
	for e, err := range c.s.log.Entries(c.ctx, 0, size) {
		c.check(err, "read the entries")
		if msg := entryForm(e.Seq, e.Data); msg != "" {
			c.fatalf("%s", msg)
		}
		out = append(out, leafHash(e.Data))
	}
	return out
}

// entryForm says what is wrong with the form of entry seq, or "": JSON
// naming its own seq, with a type, an actor and an RFC 3339 UTC
// recorded_at.
func entryForm(seq uint64, b []byte) string {
	var e struct {
		Seq        *uint64         `json:"seq"`
		Type       string          `json:"type"`
		RecordedAt string          `json:"recorded_at"`
		Actor      json.RawMessage `json:"actor"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return fmt.Sprintf("entry %d is not JSON: %v", seq, err)
	}
	if e.Seq == nil || *e.Seq != seq {
		return fmt.Sprintf("entry %d names seq %v", seq, e.Seq)
	}
	if e.Type == "" || len(e.Actor) == 0 {
		return fmt.Sprintf("entry %d lacks type or actor: %s", seq, b)
	}
	if _, err := time.Parse(time.RFC3339Nano, e.RecordedAt); err != nil || !strings.HasSuffix(e.RecordedAt, "Z") {
		return fmt.Sprintf("entry %d recorded_at %q is not RFC 3339 UTC", seq, e.RecordedAt)
	}
	return ""
}

// allLeaves is the leaves of a checkpoint covering everything written so
// far, fetched once per run.
type leafSet struct {
	cp     checkpoint
	leaves []hash
}

func (c *tc) allLeaves() leafSet {
	return fixture(c, "all-leaves", func() leafSet {
		c.early()
		cp := c.checkpointCovering(c.probe() + 1)
		ls := leafSet{cp: cp, leaves: c.leaves(cp.size)}
		if got := treeHash(ls.leaves); got != cp.root {
			c.fatalf("the root of entries 0 to %d is %x, the checkpoint says %x", cp.size-1, got, cp.root)
		}
		return ls
	})
}

// hashes is a proof as the suite's own RFC 6962 code takes it.
func hashes(proof []tlog.Hash) []hash {
	out := make([]hash, len(proof))
	for i, h := range proof {
		out[i] = hash(h)
	}
	return out
}

// inclusion fetches and checks the inclusion proof of index in cp's tree.
func (c *tc) inclusion(index uint64, leaf hash, cp checkpoint) []hash {
	proof, err := c.s.log.InclusionProof(c.ctx, index, cp.size)
	c.check(err, "read an inclusion proof")
	hs := hashes(proof)
	if err := verifyInclusion(index, cp.size, leaf, hs, cp.root); err != nil {
		c.fatalf("inclusion proof of entry %d in the tree of size %d: %v", index, cp.size, err)
	}
	return hs
}

// checkConsistency fetches and checks the proof that a is a prefix of b.
func (c *tc) checkConsistency(a, b checkpoint) []hash {
	proof, err := c.s.log.ConsistencyProof(c.ctx, a.size, b.size)
	c.check(err, "read a consistency proof")
	hs := hashes(proof)
	if err := verifyConsistency(a.size, b.size, a.root, b.root, hs); err != nil {
		c.fatalf("consistency proof from size %d to %d: %v", a.size, b.size, err)
	}
	return hs
}

func logCases() []caseDef {
	return []caseDef{
		{"log/key-format", func(c *tc) {
			key := c.verifierKey()
			m := keyPattern.FindStringSubmatch(key)
			if m == nil {
				c.fatalf("/v1/log/key %q is not <origin>+<key hash hex>+<base64 key>", key)
			}
			raw, err := base64.StdEncoding.DecodeString(m[3])
			if err != nil || len(raw) != 33 || raw[0] != 0x01 {
				c.fatalf("/v1/log/key's key is not base64(0x01 ‖ 32-byte Ed25519 key)")
			}
			if _, err := note.NewVerifier(key); err != nil {
				c.fatalf("/v1/log/key %q: %v", key, err)
			}
		}},
		{"log/checkpoint-signature", func(c *tc) {
			cp := c.readCheckpoint()
			if cp.origin == "" {
				c.fatalf("the checkpoint has no origin")
			}
		}},
		{"log/checkpoint-form", func(c *tc) {
			body := string(c.signedCheckpoint())
			text, sigs, ok := strings.Cut(body, "\n\n")
			if !ok || !strings.HasPrefix(sigs, "— ") || !strings.HasSuffix(sigs, "\n") {
				c.fatalf("the checkpoint %q is not a signed note: text, a blank line, \"— \" signature lines", body)
			}
			if n := strings.Count(text, "\n"); n < 2 {
				c.fatalf("the checkpoint text %q has fewer than three lines", text)
			}
		}},
		{"log/checkpoint-covers-writes", func(c *tc) {
			seq := c.probe()
			c.checkpointCovering(seq + 1)
		}},
		{"log/entry-form", func(c *tc) {
			o := c.outcome(c.learner(), nil)
			code := o["unit"].(map[string]any)["code"].(string)
			seq := c.num(c.postOK(c.college(), o), "seq")
			var e map[string]any
			if err := json.Unmarshal(c.entry(seq), &e); err != nil {
				c.fatalf("entry %d is not a JSON object: %v", seq, err)
			}
			for _, k := range []string{"seq", "type", "recorded_at", "actor"} {
				if _, ok := e[k]; !ok {
					c.fatalf("entry %d lacks %q: %s", seq, k, compact(e))
				}
			}
			// The unit code is in clear; the learner id is not (section 11,
			// erasure/outcome-entries-sealed).
			if content, _ := e["content"].(map[string]any); content == nil || !strings.Contains(compact(content["unit"]), code) {
				c.fatalf("entry %d does not hold the outcome's content (unit %s): %s", seq, code, compact(e))
			}
		}},
		{"log/entry-needs-audit-rights", func(c *tc) {
			seq := c.probe()
			path := fmt.Sprintf("/v1/log/entries/%d", seq)
			c.wantProblem(c.do("GET", path, "", nil), http.StatusUnauthorized)
			c.wantProblem(c.do("GET", path, c.college().tok(c), nil), http.StatusForbidden)
		}},
		{"log/entry-unknown", func(c *tc) {
			c.wantProblem(c.do("GET", "/v1/log/entries/999999999999", c.admin(), nil), http.StatusNotFound)
		}},
		{"log/root-from-entries", func(c *tc) { c.allLeaves() }},
		{"log/inclusion-proofs", func(c *tc) {
			ls := c.allLeaves()
			n := uint64(len(ls.leaves))
			for _, i := range []uint64{0, 1, n / 3, n / 2, n - 2, n - 1} {
				if i >= n {
					continue
				}
				got := c.inclusion(i, ls.leaves[i], ls.cp)
				if want := inclusionPath(int(i), ls.leaves); !sameHashes(got, want) {
					c.fatalf("inclusion proof of %d in %d is not PATH(m, D[n]) of RFC 6962 section 2.1.1", i, n)
				}
			}
		}},
		{"log/inclusion-in-earlier-tree", func(c *tc) {
			ls := c.allLeaves()
			e := c.early()
			if e.size < 2 {
				c.skipf("the early checkpoint has size %d", e.size)
			}
			c.inclusion(e.size/2, ls.leaves[e.size/2], e)
		}},
		{"log/consistency-proof", func(c *tc) {
			ls := c.allLeaves()
			e := c.early()
			got := c.checkConsistency(e, ls.cp)
			if e.size > 0 && e.size < ls.cp.size {
				if want := consistencyProof(int(e.size), ls.leaves); !sameHashes(got, want) {
					c.fatalf("consistency proof %d to %d is not PROOF(m, D[n]) of RFC 6962 section 2.1.2", e.size, ls.cp.size)
				}
			}
		}},
		{"log/consistency-from-every-small-size", func(c *tc) {
			ls := c.allLeaves()
			for m := uint64(1); m <= 9 && m < ls.cp.size; m++ {
				a := checkpoint{size: m, root: treeHash(ls.leaves[:m])}
				c.checkConsistency(a, ls.cp)
			}
		}},
		{"log/consistency-now", func(c *tc) {
			e := c.early()
			now := c.checkpointCovering(c.probe() + 1)
			c.checkConsistency(e, now)
		}},
	}
}
