package api

import (
	"bytes"
	"encoding/csv"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"creditbank/accreditation"
)

// GET /v1/statistics (docs/contract.md section 8): the counts the bank keeps
// by institution, sector, level and month, as JSON or as CSV.

// statisticsColumns is the CSV header, the members of a JSON row in order.
var statisticsColumns = []string{"institution", "sector", "level", "month", "outcomes_active", "outcomes_revoked",
	"standard_credits", "conversions", "granted"}

func (h *Handler) statistics(w http.ResponseWriter, r *http.Request, _ actor) {
	asCSV, err := wantsCSV(r)
	if err != nil {
		writeError(w, err)
		return
	}
	f := accreditation.StatisticsFilter{Institution: queryValue(r, "institution"), Sector: queryValue(r, "sector"),
		From: queryValue(r, "from"), To: queryValue(r, "to")}
	done, ok := h.admitLongRead(r)
	if !ok {
		return
	}
	defer done()
	st, err := h.bank.Statistics(f)
	if st != nil {
		chargeRows(r, int64(len(st.Rows)))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if !asCSV {
		writeJSON(w, http.StatusOK, st)
		return
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write(statisticsColumns)
	for _, row := range st.Rows {
		_ = cw.Write([]string{row.Institution, row.Sector, strconv.Itoa(row.Level), row.Month,
			strconv.FormatInt(row.OutcomesActive, 10), strconv.FormatInt(row.OutcomesRevoked, 10), row.StandardCredits.String(),
			strconv.FormatInt(row.Conversions, 10), row.Granted.String()})
	}
	cw.Flush()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// wantsCSV reads the format asked for: the format parameter, json or csv,
// or else an Accept header naming text/csv.
func wantsCSV(r *http.Request) (bool, error) {
	switch v := queryValue(r, "format"); v {
	case "csv":
		return true, nil
	case "json":
		return false, nil
	case "":
	default:
		return false, badParameter("format", "must be json or csv, not "+strconv.Quote(v))
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, params, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/csv" && params["q"] != "0" {
			return true, nil
		}
	}
	return false, nil
}
