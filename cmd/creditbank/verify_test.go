package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"creditbank/ledger"
)

// liveServer is a `creditbank serve` process that a test can stop midway.
type liveServer struct {
	cmd  *exec.Cmd
	url  string
	logs *syncBuffer
	once sync.Once
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runServer starts a server on data, with extra flags if any; it is
// stopped by stop or when the test ends.
func runServer(t *testing.T, bin, data string, extra ...string) *liveServer {
	t.Helper()
	addr := freeAddr(t)
	s := &liveServer{url: "http://" + addr, logs: &syncBuffer{}}
	s.cmd = exec.Command(bin, append([]string{"serve", "--data", data, "--addr", addr}, extra...)...)
	s.cmd.Stderr = s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.stop(t) })
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(s.url + "/healthz"); err == nil {
			resp.Body.Close()
			return s
		}
	}
	t.Fatalf("server did not start\n%s", s.logs.String())
	return nil
}

// stop sends SIGINT and waits for a clean exit.
func (s *liveServer) stop(t *testing.T) {
	s.once.Do(func() {
		_ = s.cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- s.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server exit: %v\n%s", err, s.logs.String())
			}
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			t.Errorf("server did not stop on SIGINT\n%s", s.logs.String())
		}
	})
}

// cmdResult is what a command printed and how it exited.
type cmdResult struct {
	stdout, stderr string
	code           int
}

func (r cmdResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runCmd runs the binary with args and extra environment variables.
func runCmd(t *testing.T, bin string, env []string, args ...string) cmdResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), env...)
	err := cmd.Run()
	r := cmdResult{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	if strings.Contains(r.stderr, "goroutine ") {
		t.Fatalf("stack trace from %v:\n%s", args, r.stderr)
	}
	return r
}

// mustRun runs the binary and fails the test unless it exits 0.
func mustRun(t *testing.T, bin string, args ...string) string {
	t.Helper()
	r := runCmd(t, bin, nil, args...)
	if r.code != 0 {
		t.Fatalf("%v: %s", args, r)
	}
	return r.stdout
}

// httpBank drives a server over HTTP as its users would.
type httpBank struct {
	t       *testing.T
	url     string
	admin   string
	reg     string
	college string // the college's institution token
	today   time.Time
}

// newBank registers two institutions (keys made with `creditbank keygen`,
// tokens with `creditbank sign`), accredits one and publishes a rule.
func newBank(t *testing.T, bin, data, url string) *httpBank {
	t.Helper()
	b := &httpBank{t: t, url: url, today: time.Now().UTC()}
	b.admin = strings.TrimSpace(mustRun(t, bin, "token", "--data", data, "--role", "admin", "--sub", "root"))
	b.reg = strings.TrimSpace(mustRun(t, bin, "token", "--data", data, "--role", "regulator", "--sub", "moe"))
	dir := t.TempDir()
	collegeKey := mustRun(t, bin, "keygen", "--out", filepath.Join(dir, "college.jwk"))
	univKey := mustRun(t, bin, "keygen", "--out", filepath.Join(dir, "univ.jwk"))
	b.post(b.admin, "/v1/institutions", `{"id":"college.example","name":"City Open College","kind":"open_university","keys":[`+collegeKey+`]}`)
	b.post(b.admin, "/v1/institutions", `{"id":"univ.example","name":"City University","kind":"university","keys":[`+univKey+`]}`)
	b.post(b.reg, "/v1/institutions/college.example/accreditations",
		`{"sectors":["non_degree","vocational"],"max_level":7,"valid_from":"2020-01-01","valid_until":"2030-12-31"}`)
	b.college = strings.TrimSpace(mustRun(t, bin, "sign", "--key", filepath.Join(dir, "college.jwk"), "--iss", "college.example", "--ttl", "10m"))
	b.post(b.reg, "/v1/rules", `{"id":"nd-cs-to-bsc","target":{"institution":"univ.example","programme":"BSC-CS"},
		"source":{"sectors":["non_degree","vocational"],"min_level":5,"fields":["06"],"min_score":"60","max_age_days":1825,"institutions":[]},
		"ratio":"0.5","cap":"20","valid_from":"2020-01-01","valid_until":null}`)
	return b
}

// post sends a JSON body with a token and returns the seq the answer names;
// it fails the test unless the answer is 2xx.
func (b *httpBank) post(token, path, body string) uint64 {
	b.t.Helper()
	seq, err := b.tryPost(token, path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	return seq
}

func (b *httpBank) tryPost(token, path, body string) (uint64, error) {
	req, err := http.NewRequest("POST", b.url+path, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return 0, fmt.Errorf("POST %s: %s\n%s", path, resp.Status, out)
	}
	var res struct {
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return 0, fmt.Errorf("POST %s: %v\n%s", path, err, out)
	}
	return res.Seq, nil
}

// outcome posts one passed outcome for learner and returns its seq.
func (b *httpBank) outcome(learner, key string) (uint64, error) {
	done := b.today.AddDate(0, 0, -30).Format("2006-01-02")
	return b.tryPost(b.college, "/v1/outcomes", `{"idempotency_key":"`+key+`","learner":"`+learner+`",
		"unit":{"code":"CS101-`+key+`","title":"Introduction to Programming"},
		"sector":"non_degree","level":6,"field":"0613",
		"credits":{"amount":"3","system":"cn-credit"},"hours":48,
		"result":{"passed":true,"score":"86"},"completed_on":"`+done+`"}`)
}

// round posts two outcomes for each of n new learners and converts them.
func (b *httpBank) round(r, n int) {
	b.t.Helper()
	for i := range n {
		learner := fmt.Sprintf("R%dL%03d", r, i)
		for j := range 2 {
			if _, err := b.outcome(learner, fmt.Sprintf("%s-%d", learner, j)); err != nil {
				b.t.Fatal(err)
			}
		}
		b.post(b.admin, "/v1/conversions", `{"learner":"`+learner+`","rule":"nd-cs-to-bsc"}`)
	}
}

// get fetches path with the admin token and returns the status and body.
func (b *httpBank) get(path string) (int, []byte) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+b.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// checkpointSize is the size of the checkpoint the server serves.
func (b *httpBank) checkpointSize() uint64 {
	b.t.Helper()
	_, body := b.get("/v1/log/checkpoint")
	return checkpointSize(b.t, body)
}

func checkpointSize(t *testing.T, signed []byte) uint64 {
	t.Helper()
	lines := strings.Split(string(signed), "\n")
	if len(lines) < 3 {
		t.Fatalf("bad checkpoint %q", signed)
	}
	n, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatalf("bad checkpoint %q", signed)
	}
	return n
}

// durableSize finds the number of entries the server serves.
func (b *httpBank) durableSize() uint64 {
	b.t.Helper()
	n := b.checkpointSize()
	for {
		status, _ := b.get("/v1/log/entries/" + strconv.FormatUint(n, 10))
		if status == http.StatusNotFound {
			return n
		}
		if status != http.StatusOK {
			b.t.Fatalf("GET entry %d: %d", n, status)
		}
		n++
	}
}

// waitCheckpoint waits until the served checkpoint covers every entry (one
// is signed within a second or two of the ledger growing).
func (b *httpBank) waitCheckpoint() uint64 {
	b.t.Helper()
	want := b.durableSize()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if n := b.checkpointSize(); n >= want {
			return n
		}
	}
	b.t.Fatalf("no checkpoint over %d entries after 5s", want)
	return 0
}

// TestVerify audits a ledger built over HTTP: through the API (with a
// trusted-on-first-use key, a pinned key, a saved checkpoint, and a wrong
// key), then from the stopped server's data folder, from a copy with one
// entry changed, and from a copy whose last entries were cut off and whose
// checkpoint was re-signed.
func TestVerify(t *testing.T) {
	bin := buildBinary(t)
	work := t.TempDir()
	data := filepath.Join(work, "data")
	srv := runServer(t, bin, data)
	b := newBank(t, bin, data, srv.url)
	b.round(1, 3)
	size1 := b.waitCheckpoint()

	// Over the API, the key taken from the server, the checkpoint saved.
	ckpt1 := filepath.Join(work, "s1.ckpt")
	r := runCmd(t, bin, nil, "verify", "--url", srv.url, "--token", b.admin, "--save", ckpt1)
	if r.code != 0 {
		t.Fatalf("verify --url: %s", r)
	}
	for _, want := range []string{
		fmt.Sprintf("entries read and hashed: %d\n", size1),
		fmt.Sprintf("latest checkpoint:       signature good, size %d", size1),
		"conversions re-run:      3\n",
		"inclusion proofs:", "OK\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("verify --url output lacks %q:\n%s", want, r)
		}
	}
	if !strings.Contains(r.stderr, "taken from the server itself") {
		t.Errorf("no trust-on-first-use warning:\n%s", r)
	}
	saved, err := os.ReadFile(ckpt1)
	if err != nil || checkpointSize(t, saved) != size1 {
		t.Fatalf("--save wrote %q (%v)", saved, err)
	}
	t.Logf("verify --url:\n%s", r.stdout)

	// More traffic; then the pinned key, the token from the environment and
	// the saved checkpoint.
	b.round(2, 3)
	size2 := b.waitCheckpoint()
	vkey, err := os.ReadFile(filepath.Join(data, "keys", "ledger.pub"))
	if err != nil {
		t.Fatal(err)
	}
	r = runCmd(t, bin, []string{"CREDITBANK_TOKEN=" + b.admin, "CREDITBANK_KEY=" + strings.TrimSpace(string(vkey))},
		"verify", "--url", srv.url+"/", "--since", ckpt1)
	if r.code != 0 {
		t.Fatalf("verify --url --since: %s", r)
	}
	for _, want := range []string{
		fmt.Sprintf("earlier checkpoint:      signature good, size %d", size1),
		fmt.Sprintf("consistency proof:       good, from size %d to %d", size1, size2),
		"conversions re-run:      6\n", "given with --key",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("verify --url --since output lacks %q:\n%s", want, r)
		}
	}
	if strings.Contains(r.stderr, "warning") {
		t.Errorf("warning with a pinned key:\n%s", r)
	}

	// A key other than the ledger's fails.
	_, otherKey, err := note.GenerateKey(rand.Reader, ledger.DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	r = runCmd(t, bin, nil, "verify", "--url", srv.url, "--token", b.admin, "--key", otherKey)
	if r.code != 1 || !strings.Contains(r.stdout, "FAIL: latest checkpoint") || strings.Contains(r.stdout, "\nOK") {
		t.Errorf("verify --url with a wrong key: %s", r)
	}
	// A regulator's token reads entries too; a learner's does not.
	learner := strings.TrimSpace(mustRun(t, bin, "token", "--data", data, "--role", "learner", "--sub", "R1L000"))
	r = runCmd(t, bin, nil, "verify", "--url", srv.url, "--token", learner)
	if r.code != 1 || !strings.Contains(r.stderr, "needs an admin or regulator token") {
		t.Errorf("verify --url with a learner token: %s", r)
	}
	r = runCmd(t, bin, nil, "verify", "--url", srv.url, "--data", data)
	if r.code != 1 || !strings.Contains(r.stderr, "exactly one of --url URL and --data DIR") {
		t.Errorf("verify with --url and --data: %s", r)
	}

	srv.stop(t)

	// From the data folder.
	r = runCmd(t, bin, nil, "verify", "--data", data, "--since", ckpt1)
	if r.code != 0 || !strings.Contains(r.stdout, "conversions re-run:      6\n") || !strings.Contains(r.stdout, "consistency proof:") {
		t.Fatalf("verify --data: %s", r)
	}
	t.Logf("verify --data --since:\n%s", r.stdout)

	// One entry's bytes changed.
	const bad = 7
	tampered := filepath.Join(work, "tampered")
	copyData(t, data, tampered)
	withPebble(t, tampered, func(db *pebble.DB) {
		k := entryKeyOf(bad)
		v := getValue(t, db, k)
		i := bytes.Index(v, []byte("R1L"))
		if i < 0 {
			t.Fatalf("entry %d has no learner id: %s", bad, v)
		}
		v[i+1] ^= 0x01 // R1L... becomes R0L...: still an entry, another learner
		if err := db.Set(k, v, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	})
	r = runCmd(t, bin, nil, "verify", "--data", tampered)
	if r.code != 1 || !strings.Contains(r.stdout, fmt.Sprintf("FAIL: entry %d does not match its stored leaf hash", bad)) ||
		!strings.Contains(r.stderr, fmt.Sprintf("first bad entry %d", bad)) {
		t.Errorf("verify --data of a changed entry: %s", r)
	}

	// The last entries removed, the tree head rewritten and the checkpoint
	// re-signed with the ledger's own key: consistent in itself, so only a
	// checkpoint saved earlier shows the loss.
	cut := size1 - 2
	truncated := filepath.Join(work, "truncated")
	copyData(t, data, truncated)
	keys, err := ledger.LoadKeys(filepath.Join(truncated, "keys"), ledger.DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	withPebble(t, truncated, func(db *pebble.DB) {
		truncate(t, db, cut, keys.Signer)
	})
	r = runCmd(t, bin, nil, "verify", "--data", truncated)
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("entries read and hashed: %d\n", cut)) {
		t.Errorf("verify --data of a truncated ledger without --since: %s", r)
	}
	r = runCmd(t, bin, nil, "verify", "--data", truncated, "--since", ckpt1)
	if r.code != 1 || !strings.Contains(r.stdout, "the ledger lost entries") {
		t.Errorf("verify --data --since of a truncated ledger: %s", r)
	}
	t.Logf("verify --data --since of a truncated ledger:\n%s", r)
}

// copyData copies a stopped server's data folder.
func copyData(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	// CopyFS writes every file 0644; the server refuses private keys that
	// others may read, as an operator's copy with cp -a would not be.
	keys, err := os.ReadDir(filepath.Join(dst, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.HasSuffix(k.Name(), ".pub") {
			continue
		}
		if err := os.Chmod(filepath.Join(dst, "keys", k.Name()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// withPebble opens the ledger store of a data folder with Pebble directly.
func withPebble(t *testing.T, data string, fn func(db *pebble.DB)) {
	t.Helper()
	db, err := pebble.Open(filepath.Join(data, "ledger"), &pebble.Options{Logger: quietLogger{t}})
	if err != nil {
		t.Fatal(err)
	}
	fn(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// quietLogger drops Pebble's info lines and keeps its errors.
type quietLogger struct{ t *testing.T }

func (quietLogger) Infof(string, ...any)                {}
func (l quietLogger) Errorf(format string, args ...any) { l.t.Logf("pebble: "+format, args...) }
func (l quietLogger) Fatalf(format string, args ...any) { l.t.Fatalf("pebble: "+format, args...) }

// The ledger's key layout (ledger/keys.go).
func u64Key(tag byte, n uint64) []byte { return binary.BigEndian.AppendUint64([]byte{tag}, n) }
func entryKeyOf(seq uint64) []byte     { return u64Key('e', seq) }

func getValue(t *testing.T, db *pebble.DB, key []byte) []byte {
	t.Helper()
	v, closer, err := db.Get(key)
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	defer closer.Close()
	return append([]byte(nil), v...)
}

type pebbleHashes struct {
	t  *testing.T
	db *pebble.DB
}

func (h pebbleHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		copy(out[i][:], getValue(h.t, h.db, u64Key('h', uint64(idx))))
	}
	return out, nil
}

// truncate cuts the ledger in db back to size entries as someone holding
// the signing key could: entries and hashes past it deleted, the tree head
// rewritten, later checkpoints deleted and one over the new size signed.
func truncate(t *testing.T, db *pebble.DB, size uint64, signer note.Signer) {
	t.Helper()
	b := db.NewBatch()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(b.DeleteRange(entryKeyOf(size), []byte{'e' + 1}, nil))
	must(b.DeleteRange(u64Key('h', uint64(tlog.StoredHashCount(int64(size)))), []byte{'h' + 1}, nil))
	must(b.DeleteRange(u64Key('c', size+1), []byte{'c' + 1}, nil))
	root, err := tlog.TreeHash(int64(size), pebbleHashes{t, db})
	must(err)
	last, err := ledger.ParseEntry(getValue(t, db, entryKeyOf(size-1)))
	must(err)
	head := binary.BigEndian.AppendUint64(nil, size)
	head = binary.BigEndian.AppendUint64(head, uint64(last.RecordedAt.UnixMicro()))
	head = append(head, root[:]...)
	must(b.Set([]byte("mhead"), head, nil))
	signed, err := ledger.SignCheckpoint(ledger.Checkpoint{Origin: signer.Name(), Size: size, Root: root}, signer)
	must(err)
	must(b.Set(u64Key('c', size), signed, nil))
	must(b.Commit(pebble.Sync))
}
