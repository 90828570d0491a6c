package api

import (
	"bytes"
	"encoding/json"
	"net/http"

	"creditbank/accreditation"
)

// appendEffects adds "effects" and "flagged" to the JSON object b, the
// answer to a post: the conversion items a superseding outcome changed
// (docs/contract.md section 8) and the award.flagged entries of the awards
// that rested on the outcome it replaced (section 9). A post that
// supersedes nothing (nil effects) answers b as it is.
func appendEffects(b []byte, effects []accreditation.ItemEffect, flagged []uint64) ([]byte, error) {
	if effects == nil {
		return b, nil
	}
	b = bytes.TrimRight(b, "\n")
	if len(b) < 2 || b[len(b)-1] != '}' {
		return b, nil
	}
	list, err := json.Marshal(effects)
	if err != nil {
		return nil, err
	}
	flags, err := json.Marshal(orEmpty(flagged))
	if err != nil {
		return nil, err
	}
	b = append(b[:len(b)-1], `,"effects":`...)
	b = append(append(b, list...), `,"flagged":`...)
	return append(append(b, flags...), '}'), nil
}

// previewView is what a conversion would grant now, as the API answers
// with it, with the outcomes asked for that it would not use and why (the
// first accreditation.MaxReasons, and how many more when some were left
// out); a granted conversion answers the same after its seq
// (conversionView).
type previewView struct {
	Rule       accreditation.RuleRef          `json:"rule"`
	Learner    string                         `json:"learner"`
	Target     accreditation.Target           `json:"target"`
	On         string                         `json:"on"`
	Granted    accreditation.Amount           `json:"granted"`
	Capped     bool                           `json:"capped"`
	Items      []accreditation.ConversionItem `json:"items"`
	Ineligible []accreditation.Ineligible     `json:"not_converted"`
	Omitted    int                            `json:"not_converted_omitted,omitempty"`
}

// previewConversion answers what POST /v1/conversions would grant now for
// the same body, item by item with the reason for each outcome that would
// not count, and writes nothing (docs/contract.md section 8). Whoever may
// ask for the conversion may ask for its preview.
func (h *Handler) previewConversion(w http.ResponseWriter, r *http.Request, a actor) {
	var req accreditation.ConversionRequest
	if !readJSON(w, r, maxBody, &req) {
		return
	}
	pv, err := h.bank.Preview(a, req)
	// A refused preview read its candidates too: its cost comes with the
	// error.
	chargeRows(r, pv.Cost.Rows)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, previewView{
		Rule: pv.Rule, Learner: pv.Learner, Target: pv.Target, On: pv.On, Granted: pv.Granted, Capped: pv.Capped,
		Items: pv.Items, Ineligible: orEmpty(pv.Ineligible), Omitted: pv.IneligibleOmitted,
	})
}
