package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"creditbank/accreditation"
	"creditbank/api"
	"creditbank/progress"
)

// institution is one of the run's institutions: its key and the token it
// signs with it.
type institution struct {
	id, aud string
	key     api.PrivateKey
	mu      sync.Mutex
	tok     string
	signed  time.Time
}

// token returns the institution's token, signing a new one every few
// minutes as a real client would; tokens are reused until then.
func (in *institution) token() (string, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.tok == "" || time.Since(in.signed) > tokenRenew {
		t, err := api.SignInstitutionToken(in.key, in.id, in.aud, tokenTTL)
		if err != nil {
			return "", err
		}
		in.tok, in.signed = t, time.Now()
	}
	return in.tok, nil
}

// workload is what a run posts and reads: its institutions, the outcomes
// they post and the learners whose transcripts are read.
type workload struct {
	run     string // random, so idempotency keys and learners are new each run
	insts   []*institution
	readers []string // the transcript learners
	// readersOf is the earlier run whose learners are read, or "".
	readersOf string
	n         atomic.Uint64
}

// runID is the form of a run id: random, so that each run's
// idempotency keys, institutions and learners are new.
var runID = regexp.MustCompile(`^[0-9a-f]{8}$`)

// newWorkload registers this run's institutions. Its transcript learners
// are new ones (seeded by fill) unless readersOf names an earlier run, whose
// seeded learners are read instead.
func newWorkload(ctx context.Context, c *apiClient, admin, aud string, learners int, readersOf string) (*workload, error) {
	var rb [4]byte
	binary.LittleEndian.PutUint32(rb[:], rand.Uint32())
	w := &workload{run: hex.EncodeToString(rb[:]), readersOf: readersOf}
	if readersOf == "" {
		readersOf = w.run
	}
	for i := range learners {
		w.readers = append(w.readers, fmt.Sprintf("T%s-%05d", readersOf, i))
	}
	for i := range runInstitutions {
		k, err := api.GenerateKey("EdDSA")
		if err != nil {
			return nil, err
		}
		pub, _ := k.Public()
		in := &institution{id: fmt.Sprintf("bench-%s-%02d.example", w.run, i), aud: aud, key: k}
		reg, _ := json.Marshal(map[string]any{"id": in.id, "name": "Bench College " + strconv.Itoa(i), "kind": "university", "keys": []any{pub}})
		if _, err := c.do(ctx, "POST", "/v1/institutions", admin, reg, http.StatusCreated, false); err != nil {
			return nil, fmt.Errorf("register institution: %v", err)
		}
		acc, _ := json.Marshal(map[string]any{"sectors": accreditation.Sectors(), "max_level": 10, "valid_from": "2000-01-01", "valid_until": "2099-12-31"})
		if _, err := c.do(ctx, "POST", "/v1/institutions/"+in.id+"/accreditations", admin, acc, http.StatusCreated, false); err != nil {
			return nil, fmt.Errorf("accredit institution: %v", err)
		}
		w.insts = append(w.insts, in)
	}
	return w, nil
}

// units and systems vary the outcomes the way real ones vary, so that
// entries, indexes and balances are not all alike.
var units = []struct{ code, title, field string }{
	{"CS101", "Introduction to Programming: problem solving, data structures and unit testing in a modern language", "0613"},
	{"DB210", "Design, implement and test a relational database schema with transactions, indexes and constraints", "0612"},
	{"NUR305", "Apply safe working practice in a clinical setting under supervision, with a reflective portfolio", "0913"},
	{"MGT120", "Plan and manage a small project to an agreed budget, schedule and quality standard", "0413"},
	{"LAN150", "Communicate technical findings in writing and in speech to non-specialist audiences", "0231"},
	{"ARC220", "Survey an existing building and prepare measured drawings for a change of use", "0731"},
}

var systems = []string{"cn-credit", "ects", "kr-credit", "hk-qf", "us-semester"}

// appendOutcome appends outcome number i of this run, for learner: a valid
// outcome of about 500 bytes with a unique idempotency key.
func (w *workload) appendOutcome(b []byte, i uint64, learner string) []byte {
	u := units[i%uint64(len(units))]
	passed := i%20 != 7
	b = append(b, `{"idempotency_key":"bench-`...)
	b = append(b, w.run...)
	b = append(b, '-')
	b = strconv.AppendUint(b, i, 10)
	b = append(b, `","learner":"`...)
	b = append(b, learner...)
	b = append(b, `","unit":{"code":"`...)
	b = appendUnitCode(b, i)
	b = append(b, `","title":"`...)
	b = append(b, u.title...)
	b = append(b, `"},"sector":"`...)
	b = append(b, accreditation.Sectors()[i%7]...)
	b = append(b, `","level":`...)
	b = strconv.AppendUint(b, 3+i%6, 10)
	b = append(b, `,"field":"`...)
	b = append(b, u.field...)
	b = append(b, `","credits":{"amount":"`...)
	b = strconv.AppendUint(b, 1+i%9, 10)
	if i%2 == 1 {
		b = append(b, ".5"...)
	}
	system := systems[i%uint64(len(systems))]
	b = append(b, `","system":"`...)
	b = append(b, system...)
	b = append(b, `"},"hours":`...)
	b = strconv.AppendUint(b, agreeingHours(i, system), 10)
	b = append(b, `,"result":{"passed":`...)
	b = strconv.AppendBool(b, passed)
	b = append(b, `,"score":"`...)
	if passed {
		b = strconv.AppendUint(b, 60+i%40, 10)
	} else {
		b = strconv.AppendUint(b, 20+i%40, 10)
	}
	b = append(b, `"},"completed_on":"`...)
	b = append(b, completedOn(i)...)
	b = append(b, `","evidence_sha256":"`...)
	h := sha256.Sum256(binary.BigEndian.AppendUint64([]byte(w.run), i))
	b = hex.AppendEncode(b, h[:])
	return append(b, `"}`...)
}

// agreeingHours are learning hours for outcome number i of credits
// 1+i%9 (and a half when i is odd) in system: what the credits stand for,
// varied by up to a quarter either way, as a bank takes only hours within a
// factor of two of them (docs/contract.md section 3).
func agreeingHours(i uint64, system string) uint64 {
	tenths, _ := accreditation.HoursPerCredit(system)
	amount := (1+i%9)*100 + 50*(i%2) // hundredths of a credit
	// hundredths × tenths of an hour is thousandths of an hour; the factor
	// is in hundredths.
	h := amount * uint64(tenths) * (75 + i%51) / 100 / 1000
	return max(h, 1)
}

// appendUnitCode appends the unit code of outcome number i: a code of its
// own, so that no two outcomes of a run are duplicates of one another
// (the same institution, learner, unit and date), whichever learners they
// go to.
func appendUnitCode(b []byte, i uint64) []byte {
	b = append(append(b, units[i%uint64(len(units))].code...), '-')
	return strconv.AppendUint(b, i, 10)
}

// completedOn is the completion date of outcome number i.
func completedOn(i uint64) string {
	return time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(i%2000)).Format("2006-01-02")
}

// poolLearner is learner n of the pool every other outcome is spread over.
func poolLearner(n int) string { return fmt.Sprintf("L%07d", n%pool) }

// post posts one outcome (per 1) or a batch of per, as worker wk.
func (w *workload) post(ctx context.Context, c *apiClient, wk, per int) error {
	if per == 1 {
		return w.postSingle(ctx, c, wk)
	}
	return w.postBatch(ctx, c, wk, per, nil)
}

// postSingle posts one outcome by the worker's institution for a random
// learner of the pool.
func (w *workload) postSingle(ctx context.Context, c *apiClient, wk int) error {
	in := w.insts[wk%len(w.insts)]
	tok, err := in.token()
	if err != nil {
		return err
	}
	body := w.appendOutcome(make([]byte, 0, 600), w.n.Add(1), poolLearner(rand.IntN(pool)))
	return c.post(ctx, "POST", "/v1/outcomes", tok, body, http.StatusCreated)
}

// postBatch posts n outcomes in one batch by the worker's institution, for
// learner(j) of the j-th item, or random learners of the pool.
func (w *workload) postBatch(ctx context.Context, c *apiClient, wk, n int, learner func(j int) string) error {
	in := w.insts[wk%len(w.insts)]
	tok, err := in.token()
	if err != nil {
		return err
	}
	res, err := c.do(ctx, "POST", "/v1/outcomes", tok, w.batchBody(n, learner), http.StatusOK, true)
	if err != nil {
		return err
	}
	if got := bytes.Count(res, []byte(`"status":"created"`)); got != n {
		return fmt.Errorf("batch of %d: %d created: %.300s", n, got, res)
	}
	return nil
}

// answer posts one outcome (per 1) or a batch of per and returns the
// status and body of the answer.
func (w *workload) answer(ctx context.Context, c *apiClient, per int) (int, []byte, error) {
	tok, err := w.insts[0].token()
	if err != nil {
		return 0, nil, err
	}
	status, body := http.StatusCreated, w.appendOutcome(nil, w.n.Add(1), poolLearner(rand.IntN(pool)))
	if per > 1 {
		status, body = http.StatusOK, w.batchBody(per, nil)
	}
	res, err := c.do(ctx, "POST", "/v1/outcomes", tok, body, status, true)
	return status, res, err
}

// batchBody is a batch of n new outcomes, for learner(j) of the j-th item,
// or random learners of the pool.
func (w *workload) batchBody(n int, learner func(j int) string) []byte {
	first := w.n.Add(uint64(n)) - uint64(n) + 1
	body := make([]byte, 0, 16+n*560)
	body = append(body, `{"outcomes":[`...)
	for j := range n {
		if j > 0 {
			body = append(body, ',')
		}
		l := ""
		if learner != nil {
			l = learner(j)
		} else {
			l = poolLearner(rand.IntN(pool))
		}
		body = w.appendOutcome(body, first+uint64(j), l)
	}
	return append(body, "]}"...)
}

// fill posts max(preload, learners×200) outcomes in batches: the transcript
// learners' outcomes are spread evenly over the whole fill, so that on a
// preloaded ledger their entries lie across all of it, as a lifelong
// learner's would.
func (w *workload) fill(ctx context.Context, c *apiClient, prog *progress.Display, preload, size, clients int) (Fill, error) {
	seeds := len(w.readers) * perLearner
	if w.readersOf != "" {
		seeds = 0 // seeded by that run
	}
	total := max(preload, seeds)
	if total == 0 {
		return Fill{}, nil
	}
	batches := (total + size - 1) / size
	learnerOf := func(i int) string {
		// Item i is the j-th seed when ⌊(i+1)·S/T⌋ steps past ⌊i·S/T⌋.
		lo, hi := i*seeds/total, (i+1)*seeds/total
		if hi > lo {
			return w.readers[lo%len(w.readers)]
		}
		return poolLearner(i)
	}
	var next atomic.Int64
	r, err := load(ctx, prog, "fill", clients, batches, 0, func(wk int, _ *rand.Rand) (int, error) {
		b := int(next.Add(1) - 1)
		lo, hi := b*size, min(total, (b+1)*size)
		return hi - lo, w.postBatch(ctx, c, b, hi-lo, func(j int) string { return learnerOf(lo + j) })
	})
	if err != nil {
		return Fill{}, fmt.Errorf("fill: %v", err)
	}
	return Fill{Outcomes: r.Items, Seconds: r.Seconds, PerSec: r.PerSec}, nil
}

// checkTranscript reads one transcript learner's whole transcript and
// returns how many outcomes it holds.
func (w *workload) checkTranscript(ctx context.Context, c *apiClient, admin string) (int, error) {
	b, err := c.do(ctx, "GET", "/v1/learners/"+w.readers[0]+"/transcript?limit=1000", admin, nil, http.StatusOK, true)
	if err != nil {
		return 0, fmt.Errorf("transcript: %v", err)
	}
	var tr struct {
		Outcomes []json.RawMessage `json:"outcomes"`
	}
	if err := json.Unmarshal(b, &tr); err != nil {
		return 0, fmt.Errorf("transcript: %v", err)
	}
	return len(tr.Outcomes), nil
}
