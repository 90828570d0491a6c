package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"creditbank/ledger"
)

// TestVerifyAwards audits a ledger with programmes and awards (docs/
// contract.md section 9), over the API and from the data folder: every
// award's audit is re-run at its place in the log, and the flag a
// revocation wrote is checked. Then the last entry, an award, is changed
// to claim a total its audit does not give, and the ledger re-hashed and
// its checkpoint re-signed as someone holding the signing key could: the
// tree is consistent in itself, and only the re-run audit finds the award
// wrong, over the data folder and over the API of a server started on it.
func TestVerifyAwards(t *testing.T) {
	bin := buildBinary(t)
	work := t.TempDir()
	data := filepath.Join(work, "data")
	srv := runServer(t, bin, data)
	b := newBank(t, bin, data, srv.url)
	b.post(b.reg, "/v1/programmes", `{"id":"DIP-ICT","institution":"college.example","title":"Diploma in ICT","total":"6",
		"requirements":[{"id":"ict","fields":["06"],"min":"6"}],"min_level":5,"max_converted_share":null,
		"max_per_institution":null,"period_caps":{"term":null,"year":"60"},"valid_from":"2020-01-01","valid_until":null}`)
	award := func(learner string) (first uint64) {
		for i := range 2 {
			seq, err := b.outcome(learner, fmt.Sprintf("%s-%d", learner, i))
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = seq
			}
		}
		b.post(b.college, "/v1/learners/"+learner+"/awards", `{"programme":"DIP-ICT"}`)
		return first
	}
	a1 := award("A1")
	b.post(b.college, fmt.Sprintf("/v1/outcomes/%d/revocation", a1), `{"reason":"entered in error"}`)
	award("A2") // the last entry
	b.waitCheckpoint()

	r := runCmd(t, bin, nil, "verify", "--url", srv.url, "--token", b.reg)
	if r.code != 0 || !strings.Contains(r.stdout, "award audits re-run:     2\n") || !strings.HasSuffix(r.stdout, "OK\n") {
		t.Fatalf("verify --url: %s", r)
	}
	srv.stop(t)
	r = runCmd(t, bin, nil, "verify", "--data", data)
	if r.code != 0 || !strings.Contains(r.stdout, "award audits re-run:     2\n") || !strings.HasSuffix(r.stdout, "OK\n") {
		t.Fatalf("verify --data: %s", r)
	}

	tampered := filepath.Join(work, "tampered")
	copyData(t, data, tampered)
	keys, err := ledger.LoadKeys(filepath.Join(tampered, "keys"), ledger.DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	withPebble(t, tampered, func(db *pebble.DB) {
		last = binary.BigEndian.Uint64(getValue(t, db, []byte("mhead"))[:8]) - 1
		v := getValue(t, db, entryKeyOf(last))
		if !bytes.Contains(v, []byte(`"type":"award.recorded"`)) || !bytes.Contains(v, []byte(`"total":"6"`)) {
			t.Fatalf("the last entry is not the award of 6 credits: %s", v)
		}
		rewriteLast(t, db, bytes.Replace(v, []byte(`"total":"6"`), []byte(`"total":"9"`), 1), keys.Signer)
	})
	finding := fmt.Sprintf("FAIL: entry %d: records total 9", last)
	r = runCmd(t, bin, nil, "verify", "--data", tampered)
	if r.code != 1 || !strings.Contains(r.stdout, finding) || strings.Contains(r.stdout, "leaf hash") {
		t.Errorf("verify --data of a forged award: %s", r)
	}
	srv = runServer(t, bin, tampered)
	defer srv.stop(t)
	r = runCmd(t, bin, nil, "verify", "--url", srv.url, "--token", b.reg)
	if r.code != 1 || !strings.Contains(r.stdout, finding) {
		t.Errorf("verify --url of a forged award: %s", r)
	}
}

// rewriteLast replaces the bytes of the last entry of the ledger in db
// with v as someone holding the signing key could: the hashes stored for
// its leaf computed again, and the tree head and a checkpoint over the
// same size written again (truncate).
func rewriteLast(t *testing.T, db *pebble.DB, v []byte, signer note.Signer) {
	t.Helper()
	size := binary.BigEndian.Uint64(getValue(t, db, []byte("mhead"))[:8])
	n := int64(size - 1)
	hashes, err := tlog.StoredHashes(n, v, pebbleHashes{t, db})
	if err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	if err := b.Set(entryKeyOf(size-1), v, nil); err != nil {
		t.Fatal(err)
	}
	for i, h := range hashes {
		if err := b.Set(u64Key('h', uint64(tlog.StoredHashCount(n)+int64(i))), h[:], nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	truncate(t, db, size, signer)
}
