package accreditation

// The eligibility rules of a conversion changed with version 2 of the
// contract (docs/contract.md section 8): an outcome of a suspended
// institution does not count (ReasonSuspended), conversions toward a
// suspended institution's programmes are refused, and outcomes of one group
// of equivalent units count once toward a programme. A conversion records
// the version it was decided under (Conversion.Contract), so that the
// Replayer re-runs one recorded before under the rules it was granted by.

// contractV2 is the contract version whose rules the bank decides by.
const contractV2 = 2

// suspensions answers whether institutions are suspended, reading each at
// most once: through the bank's institution cache while deciding, from the
// state otherwise.
type suspensions struct {
	s    store
	seen map[string]bool
}

// of reports whether institution id is suspended; an institution the state
// does not hold is not.
func (ss *suspensions) of(id string) (bool, error) {
	if v, ok := ss.seen[id]; ok {
		return v, nil
	}
	var in *Institution
	var err error
	if t, ok := ss.s.(*tx); ok {
		in, err = t.institution(id)
	} else {
		in, err = loadInstitution(ss.s, id)
	}
	if CodeOf(err) == CodeNotFound {
		in, err = &Institution{}, nil
	}
	if err != nil {
		return false, err
	}
	if ss.seen == nil {
		ss.seen = map[string]bool{}
	}
	ss.seen[id] = in.Suspension != nil
	return in.Suspension != nil, nil
}

// targetSuspended refuses a conversion toward the programmes of a
// suspended institution while the suspension lasts.
func targetSuspended(s store, target Target) error {
	ss := suspensions{s: s}
	if susp, err := ss.of(target.Institution); err != nil || !susp {
		return err
	}
	return errorf(CodeInstitutionSuspended, "institution %q is suspended: conversions toward its programmes are refused while it lasts", target.Institution)
}
