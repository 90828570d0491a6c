package bench

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/tlog"

	"creditbank/accreditation"
	"creditbank/ledger"
	"creditbank/server"
)

// TestRawLayout: the keys raw Pebble writes for an outcome are the keys a
// real server writes for it, byte for byte, with values of the same
// lengths where the ledger fixes them; so the baseline's bytes per outcome
// are the ledger's, and a change of layout cannot skew a published ratio.
func TestRawLayout(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	srv := startTestServer(t, data)
	admin, err := srv.IssueToken(accreditation.RoleAdmin, "bench", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := newAPIClient(srv.URL(), 4)
	defer c.hc.CloseIdleConnections()
	defer c.closeLean()
	w, err := newWorkload(ctx, c, admin, "creditbank", 1, "")
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	before := storeKeys(t, data)

	// One outcome, posted as the load posts them, for a learner new to the
	// ledger, so that every key it costs is new.
	srv = startTestServer(t, data)
	c = newAPIClient(srv.URL(), 4)
	defer c.hc.CloseIdleConnections()
	defer c.closeLean()
	const learner = "L0012345"
	inst := w.insts[0]
	tok, err := inst.token()
	if err != nil {
		t.Fatal(err)
	}
	seq := srv.Ledger().Size()
	if err := c.post(ctx, "POST", "/v1/outcomes", tok, w.appendOutcome(nil, 1, learner), http.StatusCreated); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	wrote := map[string][]byte{} // what the post added or changed
	for k, v := range storeKeys(t, data) {
		if old, ok := before[k]; (!ok || !bytes.Equal(old, v)) && !isCheckpoint(k) {
			wrote[k] = v
		}
	}
	// The learner's first outcome adds the learner's two vault keys, whose
	// bytes raw Pebble spreads over its entries (rawStore.add); the
	// ledger names the learner by the reference the directory holds.
	var ref string
	vaultKeys := 0
	for k, v := range wrote {
		switch {
		case strings.HasPrefix(k, string(ledger.AppendStateKey(nil, "vault/dir/"))):
			ref = string(v)
			fallthrough
		case strings.HasPrefix(k, string(ledger.AppendStateKey(nil, "vault/key/"))):
			vaultKeys++
			delete(wrote, k)
		}
	}
	if vaultKeys != 2 || !strings.HasPrefix(ref, "_") || len(ref) != len(poolRef(0)) {
		t.Fatalf("the first outcome of a learner added %d vault keys, naming the learner %q", vaultKeys, ref)
	}

	r, err := openRaw(t.TempDir(), w, Shape{BytesPerOutcome: 1450})
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	b := r.db.NewBatch()
	defer b.Close()
	r.add(b, nil, seq, 1, ref, inst.id, "bench-"+w.run+"-1")
	st := accreditation.StateKeysOfOutcome(seq, inst.id, ref)
	free := map[string]bool{ // values whose bytes raw Pebble sizes as a whole
		string(ledger.AppendEntryKey(nil, seq)):             true,
		string(ledger.AppendStateKey(nil, st.Outcome)):      true,
		string(ledger.AppendStateKey(nil, st.Posted)):       true,
		string(ledger.AppendStateKey(nil, st.BalanceDelta)): true,
	}
	baseline := batchKeys(t, b)
	baseline[string(headKey)] = rawKey{value: make([]byte, ledger.HeadValueLen)}
	for k, rk := range baseline {
		v, ok := wrote[k]
		switch {
		case !ok:
			t.Errorf("raw Pebble writes key %q, which the ledger did not write for the outcome", k)
		case !free[k] && len(v) != len(rk.value):
			t.Errorf("key %q: raw Pebble writes %d bytes, the ledger wrote %d", k, len(rk.value), len(v))
		}
	}
	t.Logf("the ledger wrote %d keys for outcome %d, raw Pebble %d", len(wrote), seq, len(baseline))
	for k := range wrote {
		if _, ok := baseline[k]; !ok {
			t.Errorf("the ledger wrote key %q for the outcome, which raw Pebble does not write", k)
		}
	}
	if bal := baseline[string(ledger.AppendStateKey(nil, st.BalanceDelta))]; bal.kind != pebble.InternalKeyKindMerge {
		t.Errorf("the balance change is written with kind %v, not merged as the ledger appends it", bal.kind)
	}

	// An outcome with two stored hashes, the mean, costs keysPerOutcome
	// keys; a commit adds the tree head.
	b2 := r.db.NewBatch()
	defer b2.Close()
	r.add(b2, nil, 1<<20+1, 1, ref, inst.id, "k")
	if n := len(batchKeys(t, b2)); n != keysPerOutcome || tlog.StoredHashCount(1<<20+2)-tlog.StoredHashIndex(0, 1<<20+1) != 2 {
		t.Errorf("an outcome costs %d keys, want %d", n, keysPerOutcome)
	}
	if err := r.commit(0, 3, rand.New(rand.NewPCG(1, 2))); err != nil {
		t.Fatal(err)
	}
	h, closer, err := r.db.Get(headKey)
	if err != nil {
		t.Fatalf("no tree head after a commit: %v", err)
	}
	if len(h) != ledger.HeadValueLen {
		t.Errorf("the tree head holds %d bytes, want %d", len(h), ledger.HeadValueLen)
	}
	closer.Close()
}

// startTestServer starts the in-process server on data; the test stops it
// (a second Close is harmless).
func startTestServer(t *testing.T, data string) *server.Server {
	t.Helper()
	srv, err := startServer(data, "creditbank", 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// isCheckpoint reports whether k is a signed checkpoint's key, which the
// ledger writes on its own time rather than per outcome: the tag 'c' and a
// tree size, as ledger/keys.go lays it out.
func isCheckpoint(k string) bool { return len(k) == 9 && k[0] == 'c' }

// storeKeys reads every key and value of the server's store in data.
func storeKeys(t *testing.T, data string) map[string][]byte {
	t.Helper()
	po := ledger.StoreOptions(8 << 20)
	po.Logger, po.ReadOnly = quietLogger{}, true
	db, err := pebble.Open(filepath.Join(data, "ledger"), po)
	po.Cache.Unref()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	it, err := db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	kv := map[string][]byte{}
	for it.First(); it.Valid(); it.Next() {
		kv[string(it.Key())] = bytes.Clone(it.Value())
	}
	return kv
}

// rawKey is one write of a batch.
type rawKey struct {
	kind  pebble.InternalKeyKind
	value []byte
}

// batchKeys lists the writes of b by key.
func batchKeys(t *testing.T, b *pebble.Batch) map[string]rawKey {
	t.Helper()
	out := map[string]rawKey{}
	rd := b.Reader()
	for {
		kind, k, v, ok, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out[string(k)] = rawKey{kind: kind, value: bytes.Clone(v)}
	}
}
