package accreditation

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"creditbank/ledger"
)

// Statistics (docs/contract.md section 8): outcomes, standard credits and
// conversions counted by institution, sector, level and month, kept as
// state derived from the ledger by apply, so that a replay rebuilds them
// and they survive a restart.
//
// Every outcome recorded changes them, so they are written as balances are
// (balance.go): each change is appended to stat/<institution>/<YYYY-MM>
// (ledger.StateWrite.Append, no read of a hot key) and a read sums the
// changes. A change is
//
//	'd' sector-index level varint(active) varint(revoked) varint(standard credits)
//	    varint(conversion items) varint(granted)
//
// with sector-index the sector's place in the contract's list and amounts
// in hundredths, negative for what is taken back. An outcome counts in the
// cell of its institution, sector, level and the month of its completed_on;
// a conversion item counts in the cell of the outcome it used and the
// month of the conversion's date, so that a conversion using outcomes of
// two cells counts in each.

// statKey is the key of an institution's changes for one month.
func statKey(institution, month string) string { return "stat/" + institution + "/" + month }

// statPrefix starts every key of the statistics.
const statPrefix = "stat/"

// statDelta is one change of a cell's counters.
type statDelta struct {
	active, revoked     int64
	credits             Amount
	conversions         int64
	granted             Amount
	institution, sector string
	level               int
	month               string // YYYY-MM
}

// addStat appends d to its institution's changes for its month.
func addStat(s store, d statDelta) error {
	i := slices.Index(sectors, d.sector)
	if i < 0 || d.level < 1 || d.level > 255 || len(d.month) != 7 {
		return fmt.Errorf("statistics of %s: sector %q level %d month %q", d.institution, d.sector, d.level, d.month)
	}
	b := make([]byte, 0, 16)
	b = append(b, 'd', byte(i), byte(d.level))
	for _, v := range []int64{d.active, d.revoked, int64(d.credits), d.conversions, int64(d.granted)} {
		b = binary.AppendVarint(b, v)
	}
	s.appendValue(statKey(d.institution, d.month), b)
	return nil
}

// addOutcomeStat counts a recorded outcome (sign 1) or takes back a revoked
// one (sign -1, which also counts it revoked).
func addOutcomeStat(s store, st *outcomeState, sign int64) error {
	d := statDelta{institution: st.Institution, sector: st.Sector, level: st.Level, month: st.CompletedOn[:7],
		active: sign, credits: Amount(sign) * st.StandardCredits}
	if sign < 0 {
		d.revoked = 1
	}
	return addStat(s, d)
}

// addConversionStat counts conversion items (n of them, granting g, both
// negative to take them back) that used outcome st, in the month of the
// conversion's date on.
func addConversionStat(s store, st *outcomeState, on string, n int64, g Amount) error {
	return addStat(s, statDelta{institution: st.Institution, sector: st.Sector, level: st.Level, month: on[:7],
		conversions: n, granted: g})
}

// addConversionStatOf is addConversionStat for outcome seq, read from the
// state.
func addConversionStatOf(s store, seq uint64, on string, n int64, g Amount) error {
	st, err := getJSON[outcomeState](s, outKey(seq))
	if err != nil {
		return err
	}
	if st == nil {
		return fmt.Errorf("statistics: conversion item of unknown outcome %d", seq)
	}
	return addConversionStat(s, st, on, n, g)
}

// StatisticsRow is one cell of the statistics: the counters of one
// institution's outcomes of one sector and level, in one month.
type StatisticsRow struct {
	Institution string `json:"institution"`
	Sector      string `json:"sector"`
	Level       int    `json:"level"`
	Month       string `json:"month"`
	StatisticsCounts
}

// StatisticsCounts are the counters of a cell, or of a total.
type StatisticsCounts struct {
	// OutcomesActive and OutcomesRevoked count the outcomes completed in
	// the month, in force and revoked (superseded included).
	OutcomesActive  int64 `json:"outcomes_active"`
	OutcomesRevoked int64 `json:"outcomes_revoked"`
	// StandardCredits is what the active outcomes carry.
	StandardCredits Amount `json:"standard_credits"`
	// Conversions counts the conversion items in force dated in the month
	// that used the cell's outcomes, and Granted what they grant.
	Conversions int64  `json:"conversions"`
	Granted     Amount `json:"granted"`
}

func (c *StatisticsCounts) add(o StatisticsCounts) {
	c.OutcomesActive += o.OutcomesActive
	c.OutcomesRevoked += o.OutcomesRevoked
	c.StandardCredits += o.StandardCredits
	c.Conversions += o.Conversions
	c.Granted += o.Granted
}

// Statistics is the answer of a statistics read: the cells that count
// anything, by institution, month, sector and level, and their total.
type Statistics struct {
	Rows   []StatisticsRow  `json:"rows"`
	Totals StatisticsCounts `json:"totals"`
}

// StatisticsFilter selects cells; each field that is set must match. From
// and To are months (YYYY-MM), inclusive.
type StatisticsFilter struct {
	Institution, Sector string
	From, To            string
}

// Validate checks each field's form, naming the query parameter of the
// same name in a CodeBadParameter refusal.
func (f StatisticsFilter) Validate() error {
	if f.Institution != "" && !institutionIDPattern.MatchString(f.Institution) {
		return errorf(CodeBadParameter, "institution: %q does not match %s", f.Institution, institutionIDPattern)
	}
	if f.Sector != "" && !ValidSector(f.Sector) {
		return errorf(CodeBadParameter, "sector: unknown sector %q (one of %v)", f.Sector, sectors)
	}
	for _, m := range []struct{ name, v string }{{"from", f.From}, {"to", f.To}} {
		if m.v == "" {
			continue
		}
		if t, err := time.Parse("2006-01", m.v); err != nil || t.Format("2006-01") != m.v || t.Year() < 1900 {
			return errorf(CodeBadParameter, "%s: %q is not a month in YYYY-MM from 1900 on", m.name, m.v)
		}
	}
	if f.From != "" && f.To != "" && f.To < f.From {
		return errorf(CodeBadParameter, "to: %s is before from, %s", f.To, f.From)
	}
	return nil
}

// Statistics sums the statistics the filter selects, as of one durable
// tree size.
func (b *Bank) Statistics(f StatisticsFilter) (*Statistics, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	type cellKey struct {
		institution, month, sector string
		level                      int
	}
	cells := map[cellKey]*StatisticsCounts{}
	err := b.read(func(r *ledger.Reader, _ store) error {
		prefix := statPrefix
		if f.Institution != "" {
			prefix += f.Institution + "/"
		}
		var ierr error
		err := r.Scan([]byte(prefix), nil, func(k, v []byte) bool {
			inst, month, ok := strings.Cut(strings.TrimPrefix(string(k), statPrefix), "/")
			if !ok || (f.From != "" && month < f.From) || (f.To != "" && month > f.To) {
				return true
			}
			ierr = eachStatDelta(v, func(sector string, level int, c StatisticsCounts) {
				if f.Sector != "" && sector != f.Sector {
					return
				}
				ck := cellKey{inst, month, sector, level}
				if cells[ck] == nil {
					cells[ck] = &StatisticsCounts{}
				}
				cells[ck].add(c)
			})
			if ierr != nil {
				ierr = fmt.Errorf("state %s: %w", k, ierr)
			}
			return ierr == nil
		})
		return errors.Join(err, ierr)
	})
	if err != nil {
		return nil, err
	}
	st := &Statistics{Rows: []StatisticsRow{}}
	for k, c := range cells {
		if *c == (StatisticsCounts{}) {
			continue
		}
		st.Rows = append(st.Rows, StatisticsRow{Institution: k.institution, Sector: k.sector, Level: k.level, Month: k.month, StatisticsCounts: *c})
		st.Totals.add(*c)
	}
	slices.SortFunc(st.Rows, func(a, b StatisticsRow) int {
		return cmp.Or(cmp.Compare(a.Institution, b.Institution), cmp.Compare(a.Month, b.Month),
			cmp.Compare(slices.Index(sectors, a.Sector), slices.Index(sectors, b.Sector)), cmp.Compare(a.Level, b.Level))
	})
	return st, nil
}

var errBadStatDelta = errors.New("malformed statistics change")

// eachStatDelta calls fn with each change in v.
func eachStatDelta(v []byte, fn func(sector string, level int, c StatisticsCounts)) error {
	for len(v) > 0 {
		if len(v) < 3 || v[0] != 'd' || int(v[1]) >= len(sectors) {
			return errBadStatDelta
		}
		sector, level := sectors[v[1]], int(v[2])
		v = v[3:]
		var n [5]int64
		for i := range n {
			x, m := binary.Varint(v)
			if m <= 0 {
				return errBadStatDelta
			}
			n[i], v = x, v[m:]
		}
		fn(sector, level, StatisticsCounts{OutcomesActive: n[0], OutcomesRevoked: n[1], StandardCredits: Amount(n[2]),
			Conversions: n[3], Granted: Amount(n[4])})
	}
	return nil
}
