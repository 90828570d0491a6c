package api

import (
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// What anyone may ask without a token (the checkpoint, the verifier key,
// proofs, the metrics, the OpenAPI document and the token keys) is limited
// per client address, as institutions are per institution: /metrics alone
// costs 2 to 3.4 ms of CPU (against 0.7 ms for a checkpoint, measured with
// a new connection each), so one client asking in a loop could take a
// core. Health and readiness probes are not limited: orchestrators and load
// balancers ask them often from one address, and they cost nothing.

// unlimitedRoutes name the routes that need no token and are not limited
// per address.
var unlimitedRoutes = map[string]bool{"healthz": true, "readyz": true}

// clientKey is the bucket of the per-address limit a request falls in: its
// peer's IP address, or the /64 network of an IPv6 one, since a single host
// is commonly given a whole /64. Behind a reverse proxy every client has the
// proxy's address and shares one bucket.
func clientKey(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// admitAnonymous takes a token from the bucket of the request's address
// for a route that needs no token, and answers 429 when there is none.
func (h *Handler) admitAnonymous(w http.ResponseWriter, r *http.Request, rt Route) bool {
	if unlimitedRoutes[rt.Name] {
		return true
	}
	if ok, wait := h.anonymous.allow(clientKey(r)); !ok {
		tooManyRequests(w, wait, "this address is over its rate for requests without a token; retry after the Retry-After seconds")
		return false
	}
	return true
}

// tooManyRequests answers 429 with the whole seconds to wait in Retry-After.
func tooManyRequests(w http.ResponseWriter, wait time.Duration, detail string) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	writeProblem(w, http.StatusTooManyRequests, "rate-limited", "Too many requests", detail)
}
