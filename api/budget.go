package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"creditbank/accreditation"
)

// Every caller has two budgets (docs/contract.md section 5), each a token
// bucket that may go below zero:
//
//   - rows read, the currency of the work: a request is let in while its
//     caller's balance holds a row and charged after it ran, one row for
//     the request and what the bank reports it read (accreditation.Cost),
//     or one per outcome posted. A conversion over a learner with 100,000
//     outcomes took 1.2 to 1.8 CPU-s: counted as one request it was as
//     cheap as a checkpoint, counted in rows it costs its caller what it
//     costs the server, and one such request sends the balance so far below
//     zero that the caller waits it out (Retry-After says how long).
//   - body bytes, charged as the body is read, before it is checked: a
//     16 MiB batch refused for a duplicate member at its end cost as much
//     to receive and scan as a valid one, and a caller sending such bodies
//     in a loop was held by nothing but the per-request limit.
//
// A caller is a token's role and subject, or, on a route that needs no
// token, the client address (clientKey). Over a budget, the answer is 429
// rate-limited with Retry-After and a detail naming the budget, and nothing
// is written. The per-institution and per-address request rates
// (ratelimit.go, anonymous.go) stay as they were, in front of these: they
// refuse a flood of cheap requests before any work, these bound the work.

// BudgetRoles are the kinds of caller a budget is kept for: the token
// roles, and "anonymous" for a client address on the routes that need no
// token.
var BudgetRoles = []string{"admin", "regulator", "institution", "learner", "anonymous"}

// Budgets are one currency's budget for each kind of caller: a bucket per
// caller, refilled at Rate units a second up to Burst. A zero Rate turns a
// role's budget off.
type Budgets struct {
	Admin, Regulator, Institution, Learner, Anonymous RateLimit
}

// For returns the budget of role, one of BudgetRoles, or nil for any other.
func (b *Budgets) For(role string) *RateLimit {
	switch role {
	case "admin":
		return &b.Admin
	case "regulator":
		return &b.Regulator
	case "institution":
		return &b.Institution
	case "learner":
		return &b.Learner
	case "anonymous":
		return &b.Anonymous
	}
	return nil
}

// DefaultRowBudgets are the budgets in rows read that `creditbank serve`
// starts with. A row costs some 15 µs of CPU (a conversion over 100,000
// outcomes took 1.2 to 1.8 s), so a learner at its rate takes under 1% of
// a core, and its burst covers a lifetime's transcript read page by page
// and a few dozen previews. An admin may read 100 audit pages of 10,000
// rows at once, a regulator 10 and then one every two seconds (a
// regulator's transcript reads at a million rows at once took more than a
// core for 40 s, creditbank abuse); an institution's rate is the server's whole
// throughput of batch posts (about 25,000 outcomes a second), so posting
// never meets it; an address without a token asks for checkpoints and
// proofs of a few dozen hashes each.
func DefaultRowBudgets() Budgets {
	return Budgets{
		Admin:       RateLimit{Rate: 10_000, Burst: 1_000_000},
		Regulator:   RateLimit{Rate: 5_000, Burst: 100_000},
		Institution: RateLimit{Rate: 25_000, Burst: 1_000_000},
		Learner:     RateLimit{Rate: 500, Burst: 50_000},
		Anonymous:   RateLimit{Rate: 2_000, Burst: 20_000},
	}
}

// DefaultBodyBudgets are the budgets in body bytes that `creditbank serve`
// starts with: an institution may send the largest batch (16 MiB, some
// 25,000 outcomes) at once and 1 MiB a second after it, some 1,500
// outcomes a second, 5 million an hour; other roles send bodies of at
// most 64 KiB, and no route without a token reads one. Every 16 MiB body
// read costs the server about 100 ms of a core and the well-behaved
// callers a slow answer or two: at 32 MiB a second with 64 MiB at once, an
// institution sending invalid ones held another's p99 at ten times its
// quiet value, and at 2 MiB a second still at 2.4 times under a busy
// victim (creditbank abuse).
func DefaultBodyBudgets() Budgets {
	return Budgets{
		Admin:       RateLimit{Rate: 1 << 20, Burst: 4 << 20},
		Regulator:   RateLimit{Rate: 1 << 20, Burst: 4 << 20},
		Institution: RateLimit{Rate: 1 << 20, Burst: 16 << 20},
		Learner:     RateLimit{Rate: 256 << 10, Burst: 1 << 20},
		Anonymous:   RateLimit{Rate: 64 << 10, Burst: 256 << 10},
	}
}

// MaxBodyBytes is the largest body role may send: a batch of outcomes for
// an institution, maxBody for the others. A body budget's burst must be at
// least this, or the body could never be read whole.
func MaxBodyBytes(role string) int64 {
	if role == string(accreditation.RoleInstitution) {
		return maxBatchBody
	}
	return maxBody
}

// String writes the limit as a flag's value: RATE,BURST, or 0 when off.
func (l *RateLimit) String() string {
	if l == nil || l.Rate == 0 && l.Burst == 0 {
		return "0"
	}
	return strconv.FormatFloat(l.Rate, 'f', -1, 64) + "," + strconv.Itoa(l.Burst)
}

// Set reads a flag's value: RATE,BURST (500,50000), or 0 to turn it off.
func (l *RateLimit) Set(s string) error {
	if s == "0" {
		*l = RateLimit{}
		return nil
	}
	rate, burst, ok := strings.Cut(s, ",")
	r, err1 := strconv.ParseFloat(rate, 64)
	b, err2 := strconv.Atoi(burst)
	if !ok || err1 != nil || err2 != nil {
		return fmt.Errorf("%q: want RATE,BURST (a rate a second and a burst, as 500,50000) or 0", s)
	}
	*l = RateLimit{Rate: r, Burst: b}
	return nil
}

// caller is who a budget is kept for: a token's role and subject, or
// "anonymous" and the client address.
type caller struct {
	role string
	id   string
}

// callerOf is the caller of a request: actor when the route takes a token,
// else the request's client address.
func callerOf(r *http.Request, tokenRoute bool, a accreditation.Actor) caller {
	if !tokenRoute {
		return caller{role: "anonymous", id: clientKey(r)}
	}
	return caller{role: string(a.Role), id: a.ID}
}

// budget is one currency's buckets, a limiter per role keyed by caller id.
type budget struct {
	// name labels the refusals metric; unit names the budget in answers.
	name, unit string
	cfg        Budgets
	byRole     map[string]*limiter
	refusals   *prometheus.CounterVec
}

// newBudget returns the budget cfg sets, counting its refusals in
// refusals; now is the clock, time.Now when nil.
func newBudget(name, unit string, cfg Budgets, refusals *prometheus.CounterVec, now func() time.Time) *budget {
	b := &budget{name: name, unit: unit, cfg: cfg, byRole: map[string]*limiter{}, refusals: refusals}
	for _, role := range BudgetRoles {
		b.byRole[role] = newLimiter(*cfg.For(role), now)
	}
	return b
}

// admit reports whether c's balance holds at least one unit; when it does
// not, it counts the refusal and returns the problem to answer with.
func (b *budget) admit(c caller) *overBudgetError {
	ok, wait := b.byRole[c.role].admit(c.id)
	if ok {
		return nil
	}
	return b.refuse(c, wait)
}

// admitN admits c for a request known to cost n, such as a body whose
// length its header gives: it must hold n, not only one.
func (b *budget) admitN(c caller, n float64) *overBudgetError {
	if n > float64(b.cfg.For(c.role).Burst) {
		// It could never be admitted: the body limit answers it (413).
		return nil
	}
	ok, wait := b.byRole[c.role].admitN(c.id, n)
	if ok {
		return nil
	}
	return b.refuse(c, wait)
}

// charge takes n units from c's balance and reports whether it still holds
// one; when it does not, it returns the problem the caller's next
// request would be refused with, without counting a refusal.
func (b *budget) charge(c caller, n float64) *overBudgetError {
	ok, wait := b.byRole[c.role].charge(c.id, n)
	if ok {
		return nil
	}
	return &overBudgetError{wait: wait, detail: b.detail(c)}
}

// refuse counts a refusal of c and returns its problem.
func (b *budget) refuse(c caller, wait time.Duration) *overBudgetError {
	b.refusals.WithLabelValues(b.name, c.role).Inc()
	return &overBudgetError{wait: wait, detail: b.detail(c)}
}

// detail names the budget c is over, with its rate and burst.
func (b *budget) detail(c caller) string {
	l := b.cfg.For(c.role)
	who := "this " + c.role
	if c.role == "anonymous" {
		who = "this address"
	}
	return fmt.Sprintf("%s is over its budget of %s (%s a second, %d at once); retry after the Retry-After seconds",
		who, b.unit, strconv.FormatFloat(l.Rate, 'f', -1, 64), l.Burst)
}

// overBudgetError is a caller over one of its budgets: the answer is 429
// with Retry-After.
type overBudgetError struct {
	wait   time.Duration
	detail string
}

func (e *overBudgetError) Error() string { return e.detail }

// write answers the refusal.
func (e *overBudgetError) write(w http.ResponseWriter) {
	tooManyRequests(w, e.wait, e.detail)
}

// newBudgetRefusals registers, or finds when a handler was already built on
// the same registry, the counter of requests refused by a budget, with
// every label pair at zero so that a dashboard sees the series before the
// first refusal.
func newBudgetRefusals(reg *prometheus.Registry) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "creditbank_budget_refusals_total",
		Help: "Requests refused with 429 because their caller was over a budget, by budget (rows, body_bytes) and role (admin, regulator, institution, learner, anonymous).",
	}, []string{"budget", "role"})
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			panic(err) // a programming error: another metric of the same name
		}
		c = are.ExistingCollector.(*prometheus.CounterVec)
	}
	for _, name := range []string{"rows", "body_bytes"} {
		for _, role := range BudgetRoles {
			c.WithLabelValues(name, role)
		}
	}
	return c
}

// baseRows is what every request is charged on top of what it read: the
// routing, the token and the answer cost about as much as reading a row.
const baseRows = 1

// meter adds up the rows a request read beyond its base cost; endpoint
// puts one in the request's context and charges the total once the
// handler returns.
type meter struct{ rows int64 }

type meterKey struct{}

// withMeter returns r carrying a fresh meter, and the meter.
func withMeter(r *http.Request) (*http.Request, *meter) {
	m := &meter{}
	return r.WithContext(context.WithValue(r.Context(), meterKey{}, m)), m
}

// chargeRows adds rows to the cost of r: what the bank reported reading
// (accreditation.Cost.Rows), or the outcomes of a post.
func chargeRows(r *http.Request, rows int64) {
	if m, ok := r.Context().Value(meterKey{}).(*meter); ok && rows > 0 {
		m.rows += rows
	}
}

// maxBudgetedRead bounds each read of a budgeted body, so that a caller's
// balance, checked before each read, goes at most this far below zero per
// body in flight.
const maxBudgetedRead = 16 << 10

// budgetedBody is a request body whose bytes are charged to its caller's
// body budget as they are read: a read is refused with *overBudgetError
// once the balance holds not a byte, and the body is answered 429 (readBody).
type budgetedBody struct {
	io.ReadCloser
	budget *budget
	caller caller
}

func (b *budgetedBody) Read(p []byte) (int, error) {
	if err := b.budget.admit(b.caller); err != nil {
		return 0, err
	}
	if len(p) > maxBudgetedRead {
		p = p[:maxBudgetedRead]
	}
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.budget.charge(b.caller, float64(n))
	}
	return n, err
}

// budgetBody makes r's body, if it has one, charge c's body budget. A body
// whose length is declared must fit the balance before a byte of it is
// read: else a client could send body after body the budget refuses only
// once read, each costing the reading and the check of up to 16 MiB.
func (h *Handler) budgetBody(r *http.Request, c caller) *overBudgetError {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	if r.ContentLength > 0 {
		if err := h.bodyBytes.admitN(c, float64(r.ContentLength)); err != nil {
			return err
		}
	}
	r.Body = &budgetedBody{ReadCloser: r.Body, budget: h.bodyBytes, caller: c}
	return nil
}
