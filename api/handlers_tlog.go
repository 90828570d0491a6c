package api

import (
	"net/http"

	"github.com/gorilla/mux"

	"creditbank/ledger"
	"creditbank/tiles"
)

// The log in the C2SP tlog-tiles layout under /tlog/ (docs/contract.md
// section 12), beside the /v1/log endpoints: the checkpoint and the hash
// tiles are public, as the proofs are, and charged to the caller's address;
// entry bundles hold what GET /v1/log/entries/{seq} serves, and need the
// same audit rights.

var _ tiles.Source = (*ledger.Reader)(nil)

// tileIndex is the mux pattern of a tile's <N>[.p/<W>]: groups of three
// digits, all but the last prefixed with x, and the width of a partial
// tile. tiles.ParsePath checks the rest (no leading zeros, bounds).
const tileIndex = `{index:(?:x[0-9]{3}/)*[0-9]{3}(?:\.p/[0-9]{1,3})?}`

// muxPatterns are the mux patterns of the routes whose variables span
// several path segments, which a plain {name} does not match; Route.Path
// keeps the template the OpenAPI document and the metrics name.
var muxPatterns = map[string]string{
	"tlogTile":    "/tlog/tile/{level:[0-9]{1,2}}/" + tileIndex,
	"tlogEntries": "/tlog/tile/entries/" + tileIndex,
}

// tileCacheControl: a tile, full or partial, is the same bytes for ever.
const tileCacheControl = "public, max-age=31536000, immutable"

func (h *Handler) tlogCheckpoint(w http.ResponseWriter, _ *http.Request, _ actor) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(h.servedCheckpoint())
}

func (h *Handler) tlogTile(w http.ResponseWriter, r *http.Request, _ actor) {
	v := mux.Vars(r)
	h.serveTile(w, r, "tile/"+v["level"]+"/"+v["index"])
}

func (h *Handler) tlogEntries(w http.ResponseWriter, r *http.Request, _ actor) {
	h.serveTile(w, r, "tile/entries/"+mux.Vars(r)["index"])
}

// serveTile answers a tile or entry bundle read from the durable tree,
// charging a row per hash or entry read.
func (h *Handler) serveTile(w http.ResponseWriter, r *http.Request, path string) {
	t, err := tiles.ParsePath(path)
	if err != nil {
		writeError(w, err)
		return
	}
	var data []byte
	err = h.ledger.Read(func(lr *ledger.Reader) error {
		var err error
		data, err = tiles.Read(lr, t)
		chargeRows(r, lr.Rows())
		return err
	})
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", tileCacheControl)
	_, _ = w.Write(data)
}
