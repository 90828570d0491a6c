package bench

import (
	"fmt"
	"io"
)

// Side is one side of a comparison: the requests (or raw Pebble commits)
// that concurrent workers made, the items they carried and their latencies,
// nearest-rank percentiles in milliseconds.
type Side struct {
	Requests int     `json:"requests"`
	Items    int     `json:"items"`
	Seconds  float64 `json:"seconds"`
	PerSec   float64 `json:"items_per_s"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	P999ms   float64 `json:"p999_ms"`
}

// Shape is what the ledger wrote per outcome in a phase, read from
// /metrics: what raw Pebble then writes per outcome.
type Shape struct {
	BytesPerOutcome float64 `json:"bytes_per_outcome"`
	KeysPerOutcome  int     `json:"keys_per_outcome"`
	EntriesPerGroup float64 `json:"ledger_entries_per_group"`
	// Measured is false when /metrics could not be read and the bytes are
	// an estimate.
	Measured bool `json:"measured"`
}

// Fill is the fill before the phases: outcomes posted in batches.
type Fill struct {
	Outcomes int     `json:"outcomes"`
	Seconds  float64 `json:"seconds"`
	PerSec   float64 `json:"outcomes_per_s"`
}

// Phase is one phase's figures: the load's side and, for the write phases,
// raw Pebble's and the ratio of the two with the target it is held to.
type Phase struct {
	// Phase is the phase's name (single, batch, transcript, inclusion,
	// checkpoint) and Unit what its items are (outcomes, reads, proofs,
	// checkpoints).
	Phase string `json:"phase"`
	Unit  string `json:"unit"`
	Side
	// Raw is raw Pebble's side of a write phase, committing per outcome
	// the Shape the ledger wrote.
	Raw   *Side  `json:"raw_pebble,omitempty"`
	Shape *Shape `json:"shape,omitempty"`
	// Floor is the phase's HTTP floor (--floor) and FloorRatio its ratio
	// to raw Pebble: what the ratio would be were the ledger free.
	Floor      *Side   `json:"http_floor,omitempty"`
	FloorRatio float64 `json:"http_floor_ratio,omitempty"`
	// Ratio is the phase's items per second over raw Pebble's (on the last
	// row of the access-log phase, the mean transcript reads per second of
	// its two runs with the access log over the mean of its two without);
	// Target is what it is held to, and Meets whether it met it.
	Ratio  float64 `json:"ratio,omitempty"`
	Target string  `json:"target,omitempty"`
	Meets  *bool   `json:"meets_target,omitempty"`
	// Writes are the posts that went on during the transcript reads.
	// TranscriptEntries is how many outcomes each transcript held.
	Writes            *Side `json:"concurrent_writes,omitempty"`
	TranscriptEntries int   `json:"transcript_outcomes,omitempty"`
	// AccessRecords, on the last row of the access-log phase, is how many
	// access records its runs with the log wrote.
	AccessRecords *uint64 `json:"access_records,omitempty"`
	// AuditItems, on the audit row, is how many items each audit listed.
	AuditItems int `json:"audit_items,omitempty"`
}

// phaseOf is the phase name measured in unit, with s its load's side.
func phaseOf(name, unit string, s Side) Phase {
	return Phase{Phase: name, Unit: unit, Side: s}
}

// compare sets the ratio to raw Pebble and checks it against min, and the
// p99 against maxP99 ms when that is positive.
func (p *Phase) compare(min, maxP99 float64) {
	if p.Raw.PerSec > 0 {
		p.Ratio = p.PerSec / p.Raw.PerSec
	}
	meets := p.Ratio >= min
	p.Target = fmt.Sprintf("≥%.1f×raw", min)
	if maxP99 > 0 {
		meets = meets && p.P99ms <= maxP99
		p.Target += fmt.Sprintf(", p99≤%gms", maxP99)
	}
	p.Meets = &meets
}

// Report is what a run measured. Its JSON form is what --json writes, and
// what docs and scripts quote by field name: the names do not change.
type Report struct {
	// Mode is "in-process" or "url", with the URL measured.
	Mode string `json:"mode"`
	URL  string `json:"url,omitempty"`
	// GoVersion, GOMAXPROCS and Time (RFC 3339, UTC) say where and when
	// the run was made; the configuration's figures follow.
	GoVersion    string  `json:"go"`
	GOMAXPROCS   int     `json:"gomaxprocs"`
	Time         string  `json:"time"`
	Clients      int     `json:"clients"`
	BatchClients int     `json:"batch_clients"`
	BatchSize    int     `json:"batch_size"`
	PhaseSeconds float64 `json:"phase_seconds"`
	Learners     int     `json:"transcript_learners"`
	// Run is this run's id; ReadersOf is the run whose learners'
	// transcripts were read (Config.Readers, or this run).
	Run       string `json:"run"`
	ReadersOf string `json:"readers_of_run"`
	// SizeBefore and SizeAfter are the ledger's entries before the fill
	// and after the phases.
	SizeBefore uint64 `json:"ledger_size_before"`
	SizeAfter  uint64 `json:"ledger_size_after"`
	Fill       Fill   `json:"fill"`
	// Phases are in the order they ran.
	Phases []Phase `json:"phases"`
}

// print writes the report as a table, with a line per write phase on what
// the ledger wrote and one on the writes under the transcript reads.
func (r *Report) print(w io.Writer) {
	fmt.Fprintf(w, "creditbank bench: %s server", r.Mode)
	if r.URL != "" {
		fmt.Fprintf(w, " %s", r.URL)
	}
	fmt.Fprintf(w, ", GOMAXPROCS=%d, %d clients (%d for batches of %d)\n", r.GOMAXPROCS, r.Clients, r.BatchClients, r.BatchSize)
	fmt.Fprintf(w, "run %s, transcripts of the learners run %s seeded (--readers %[2]s reads them again on a kept --dir)\n", r.Run, r.ReadersOf)
	fmt.Fprintf(w, "ledger: %d entries before, %d after; fill: %d outcomes in %.1fs (%.0f/s)\n",
		r.SizeBefore, r.SizeAfter, r.Fill.Outcomes, r.Fill.Seconds, r.Fill.PerSec)
	fmt.Fprintf(w, "%-11s %9s %11s %12s %8s %8s %9s %12s %7s  %s\n",
		"phase", "requests", "items", "items/s", "p50 ms", "p99 ms", "p99.9 ms", "raw items/s", "ratio", "target")
	for _, p := range r.Phases {
		raw, ratio, target := "", "", ""
		if p.Raw != nil {
			raw = fmt.Sprintf("%.0f", p.Raw.PerSec)
		}
		if p.Ratio > 0 {
			ratio = fmt.Sprintf("%.3f", p.Ratio)
		}
		if p.Meets != nil {
			verdict := "ok"
			if !*p.Meets {
				verdict = "LOW"
			}
			target = p.Target + " " + verdict
		}
		fmt.Fprintf(w, "%-11s %9d %11d %12.0f %8.2f %8.2f %9.2f %12s %7s  %s\n",
			p.Phase, p.Requests, p.Items, p.PerSec, p.P50ms, p.P99ms, p.P999ms, raw, ratio, target)
		if f := p.Floor; f != nil {
			fmt.Fprintf(w, "%-11s %9d %11d %12.0f %8.2f %8.2f %9.2f %12.0f %7.3f  %s\n",
				" floor", f.Requests, f.Items, f.PerSec, f.P50ms, f.P99ms, f.P999ms, p.Raw.PerSec, p.FloorRatio, "net/http + raw Pebble, no ledger")
		}
	}
	for _, p := range r.Phases {
		if p.Shape != nil {
			how := "measured"
			if !p.Shape.Measured {
				how = "estimated"
			}
			fmt.Fprintf(w, "%s: %.0f bytes and %d keys per outcome (%s), ledger %.1f entries per synced group; raw p50/p99 %.2f/%.2f ms\n",
				p.Phase, p.Shape.BytesPerOutcome, p.Shape.KeysPerOutcome, how, p.Shape.EntriesPerGroup, p.Raw.P50ms, p.Raw.P99ms)
		}
		if p.Writes != nil {
			fmt.Fprintf(w, "%s: %d outcomes per transcript; %.0f posts/s went on meanwhile (p99 %.2f ms)\n",
				p.Phase, p.TranscriptEntries, p.Writes.PerSec, p.Writes.P99ms)
		}
		if p.AuditItems > 0 {
			fmt.Fprintf(w, "audit: %d items per award audit of one learner's %d outcomes, read in turn with the learner's transcript (audit-tr); ratio = audit p99 over transcript p99\n",
				p.AuditItems, auditOutcomes)
		}
		if p.AccessRecords != nil {
			fmt.Fprintf(w, "access log: transcript reads off, on, on, off (each on the restarted server, cache warmed); %d access records written; ratio = mean reads/s on over mean off\n",
				*p.AccessRecords)
		}
	}
}
