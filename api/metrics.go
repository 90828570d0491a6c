package api

import (
	"net/http"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"creditbank/ledger"
)

// Metrics are the service's Prometheus metrics, on a private registry. Label
// values come from small fixed sets: route templates, methods, status codes,
// sectors, problem codes and token-failure reasons; never from input.
type Metrics struct {
	Registry *prometheus.Registry

	// Each field is named after the metric it holds.
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	authFailures  *prometheus.CounterVec
	outcomes      *prometheus.CounterVec
	conversions   *prometheus.CounterVec
	groups        prometheus.Counter
	appends       *prometheus.CounterVec
	entries       prometheus.Counter
	groupEntries  prometheus.Histogram
	groupBytes    prometheus.Histogram
	decideSeconds prometheus.Histogram
	commitSeconds prometheus.Histogram
	syncSeconds   prometheus.Histogram
}

// latencyBuckets cover what we care about: group-committed writes take a
// few milliseconds, a slow disk tens, anything past a second is an outage.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// NewMetrics makes the registry with the Go and process collectors and
// creditbank_build_info.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	version, goVersion := "devel", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "creditbank_build_info", Help: "Always 1; the labels say what is running.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": goVersion},
	})
	buildInfo.Set(1)
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "creditbank_http_requests_total", Help: "HTTP requests answered, by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "creditbank_http_request_duration_seconds", Help: "Time to answer HTTP requests, by route template and method.",
			Buckets: latencyBuckets,
		}, []string{"route", "method"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "creditbank_auth_failures_total", Help: "Tokens refused, by reason.",
		}, []string{"reason"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "creditbank_outcomes_posted_total", Help: "Outcomes posted, by sector and result (created, duplicate, rejected).",
		}, []string{"sector", "result"}),
		conversions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "creditbank_conversions_total", Help: "Conversions asked for, by result: granted, or the problem code of the refusal.",
		}, []string{"result"}),
		groups: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "creditbank_ledger_groups_total", Help: "Groups committed: one synced Pebble batch each.",
		}),
		appends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "creditbank_ledger_appends_total", Help: "Appends decided by the sequencer, by result (accepted, rejected).",
		}, []string{"result"}),
		entries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "creditbank_ledger_entries_total", Help: "Entries appended to the ledger since start.",
		}),
		groupEntries: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "creditbank_ledger_group_entries", Help: "Entries per committed group (group commit at work).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		groupBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "creditbank_ledger_group_bytes", Help: "Size of each committed Pebble batch.",
			Buckets: prometheus.ExponentialBuckets(256, 4, 10),
		}),
		decideSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "creditbank_ledger_decide_seconds", Help: "Time the sequencer spent deciding a group and building its batch.",
			Buckets: latencyBuckets,
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "creditbank_ledger_commit_seconds", Help: "Time from a group being decided until Pebble had taken its batch (the group ahead applied, WAL write, memtable).",
			Buckets: latencyBuckets,
		}),
		syncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "creditbank_ledger_sync_seconds", Help: "Time from a group's commit to the end of its WAL sync.",
			Buckets: latencyBuckets,
		}),
	}
	reg.MustRegister(buildInfo, m.requests, m.duration, m.authFailures, m.outcomes, m.conversions,
		m.groups, m.appends, m.entries, m.groupEntries, m.groupBytes, m.decideSeconds, m.commitSeconds, m.syncSeconds)
	return m
}

// ObserveGroup records one committed group; pass it as ledger.Options.OnGroup.
func (m *Metrics) ObserveGroup(g ledger.GroupStats) {
	m.groups.Inc()
	m.appends.WithLabelValues("accepted").Add(float64(g.Proposals - g.Rejected))
	m.appends.WithLabelValues("rejected").Add(float64(g.Rejected))
	m.entries.Add(float64(g.Entries))
	m.groupEntries.Observe(float64(g.Entries))
	m.groupBytes.Observe(float64(g.Bytes))
	m.decideSeconds.Observe(g.Decide.Seconds())
	m.commitSeconds.Observe(g.Apply.Seconds())
	m.syncSeconds.Observe(g.Sync.Seconds())
}

// RegisterLedger adds the gauges read from the ledger and its store.
func (m *Metrics) RegisterLedger(l *ledger.Ledger) {
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "creditbank_ledger_tree_size", Help: "Entries in the durable ledger.",
		}, func() float64 { return float64(l.Size()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "creditbank_ledger_checkpoint_age_seconds", Help: "Seconds since the latest checkpoint was signed.",
		}, func() float64 { return time.Since(l.CheckpointTime()).Seconds() }),
		// Beside the age: an old checkpoint over the whole tree is a log
		// that stopped growing, one behind the tree a checkpointer that
		// stopped (docs/alerts.yml tells them apart).
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "creditbank_ledger_checkpoint_tree_size", Help: "Entries the latest checkpoint is over.",
		}, func() float64 { return float64(l.CheckpointSize()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "creditbank_ledger_writable", Help: "1 while the ledger accepts writes, 0 while it refuses them.",
		}, func() float64 {
			if l.Writable() != nil {
				return 0
			}
			return 1
		}),
		&storeCollector{l: l},
	)
}

// ConnectionLimit is what a listener that admits a limited number of
// connections reports: how many are open, the most it admits, and how many
// idle ones it closed to admit new ones.
type ConnectionLimit interface {
	Open() int
	Max() int
	ClosedIdle() uint64
}

// RegisterConnections adds the gauges and the counter of the API
// listener's connection limit c.
func (m *Metrics) RegisterConnections(c ConnectionLimit) {
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "creditbank_http_connections", Help: "HTTP connections open on the API's listener.",
		}, func() float64 { return float64(c.Open()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "creditbank_http_connections_limit", Help: "The most HTTP connections the API's listener admits at once.",
		}, func() float64 { return float64(c.Max()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "creditbank_http_idle_connections_closed_total", Help: "Idle HTTP connections closed to admit new ones at the connection limit.",
		}, func() float64 { return float64(c.ClosedIdle()) }),
	)
}

// storeCollector reports Pebble's own health from DB.Metrics at scrape time.
type storeCollector struct{ l *ledger.Ledger }

var (
	descWALBytes = prometheus.NewDesc("creditbank_store_wal_bytes", "Size of the live write-ahead log files.", nil, nil)
	descL0Files  = prometheus.NewDesc("creditbank_store_l0_files", "Files in level 0 of the LSM tree.", nil, nil)
	descL0Sub    = prometheus.NewDesc("creditbank_store_l0_sublevels", "Sublevels in level 0; many means compactions lag.", nil, nil)
	descDebt     = prometheus.NewDesc("creditbank_store_compaction_debt_bytes", "Estimated bytes compactions must still write.", nil, nil)
	descReadAmp  = prometheus.NewDesc("creditbank_store_read_amplification", "Sorted runs a read may have to visit.", nil, nil)
	descDisk     = prometheus.NewDesc("creditbank_store_disk_bytes", "Disk space the store uses.", nil, nil)
)

// Describe sends the descriptions of the store's gauges.
func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWALBytes, descL0Files, descL0Sub, descDebt, descReadAmp, descDisk} {
		ch <- d
	}
}

// Collect reads the store's metrics once and sends each gauge.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.l.StoreMetrics()
	ch <- prometheus.MustNewConstMetric(descWALBytes, prometheus.GaugeValue, float64(m.WAL.PhysicalSize))
	ch <- prometheus.MustNewConstMetric(descL0Files, prometheus.GaugeValue, float64(m.Levels[0].TablesCount))
	ch <- prometheus.MustNewConstMetric(descL0Sub, prometheus.GaugeValue, float64(m.Levels[0].Sublevels))
	ch <- prometheus.MustNewConstMetric(descDebt, prometheus.GaugeValue, float64(m.Compact.EstimatedDebt))
	ch <- prometheus.MustNewConstMetric(descReadAmp, prometheus.GaugeValue, float64(m.ReadAmp()))
	ch <- prometheus.MustNewConstMetric(descDisk, prometheus.GaugeValue, float64(m.DiskSpaceUsage()))
}

// Handler serves the registry in the Prometheus text format, or in
// OpenMetrics 1.0 to a scraper whose Accept header asks for it.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry, EnableOpenMetrics: true})
}
