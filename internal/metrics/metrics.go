// Package metrics is tickmark's Prometheus instrumentation: per-collector
// run outcomes, durations, artifacts and bytes (fed by runner.Observe), the
// ledger's state read at scrape time (records, size on disk, outbox backlog,
// age of the latest checkpoint), the /healthz, /readyz and /metrics
// endpoints of the daemon, and a push to a Pushgateway for CronJobs.
//
// Every metric lives in the Metrics' own registry, never the global one.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/prometheus/common/expfmt"

	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/runner"
)

// Namespace prefixes every metric.
const Namespace = "tickmark"

// Outcomes a run is counted under (the ledger's run outcomes).
var Outcomes = []string{ledger.OutcomeSuccess, ledger.OutcomePartial, ledger.OutcomeFailed}

// DurationBuckets are the run duration histogram's upper bounds in seconds:
// from a quick API listing to a long backfill.
var DurationBuckets = []float64{0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600}

// Ledger is what the scrape reads from the ledger (*ledger.Ledger has it).
type Ledger interface {
	Size() int64
	Dir() string
	OutboxLen() (int, error)
	LastCheckpoint() (size int64, signedAt time.Time, ok bool, err error)
}

// Options for New.
type Options struct {
	// Ledger, if set, is read at each scrape.
	Ledger Ledger
	// Now is the clock for the checkpoint age (default time.Now).
	Now func() time.Time
	// Version is exported in tickmark_build_info.
	Version string
	// Runtime adds the Go runtime and process collectors (the daemon's
	// /metrics; not a Pushgateway push, where they mean nothing).
	Runtime bool
}

// Metrics holds tickmark's metrics and their registry.
type Metrics struct {
	reg *prometheus.Registry

	runs        *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	artifacts   *prometheus.CounterVec
	bytes       *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
	lastRun     *prometheus.GaugeVec
	skipped     *prometheus.CounterVec
	panics      *prometheus.CounterVec
	pushes      *prometheus.CounterVec
	pushSecs    prometheus.Histogram
	scheduled   *prometheus.GaugeVec
	checkFails  *prometheus.GaugeVec
	checkFailed *prometheus.GaugeVec
}

// New creates the metrics in a new registry.
func New(o Options) *Metrics {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "collector_runs_total",
			Help: "Collector runs by collector instance, type and outcome (success, partial, failed)."}, []string{"collector", "type", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "collector_run_duration_seconds",
			Help: "Duration of collector runs, retries included.", Buckets: DurationBuckets}, []string{"collector"}),
		artifacts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "artifacts_total",
			Help: "Artifacts committed to the ledger by collector instance and evidence type."}, []string{"collector", "evidence_type"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "artifact_bytes_total",
			Help: "Bytes of artifact bodies committed by collector instance and evidence type."}, []string{"collector", "evidence_type"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "collector_last_success_timestamp_seconds",
			Help: "When the collector's latest successful run finished (Unix time; 0 if it never succeeded)."}, []string{"collector"}),
		lastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "collector_last_run_timestamp_seconds",
			Help: "When the collector's latest run finished, whatever its outcome (Unix time)."}, []string{"collector"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "collector_runs_skipped_total",
			Help: "Scheduled runs not started because the previous run of the same collector was still going."}, []string{"collector"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "scheduler_panics_total",
			Help: "Panics recovered in a scheduled job (the daemon keeps running)."}, []string{"collector"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "store_pushes_total",
			Help: "Checkpoint signings and pushes of the outbox to the store, by outcome."}, []string{"outcome"}),
		pushSecs: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "store_push_duration_seconds",
			Help: "Duration of checkpoint signing and push to the store.", Buckets: DurationBuckets}),
		scheduled: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "collector_next_run_timestamp_seconds",
			Help: "When the daemon will next start the collector (Unix time)."}, []string{"collector"}),
		checkFails: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "check_failures",
			Help: "Exceptions in the latest result of each control test (0: passing)."}, []string{"check"}),
		checkFailed: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "check_failing",
			Help: "1 when the latest result of the control test failed, 0 when it passed; absent when it could not be evaluated."}, []string{"check"}),
	}
	reg.MustRegister(m.runs, m.duration, m.artifacts, m.bytes, m.lastSuccess, m.lastRun, m.skipped, m.panics, m.pushes, m.pushSecs, m.scheduled,
		m.checkFails, m.checkFailed)
	bi := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "build_info", Help: "The running tickmark's version (always 1)."}, []string{"version"})
	bi.WithLabelValues(o.Version).Set(1)
	reg.MustRegister(bi)
	if o.Ledger != nil {
		reg.MustRegister(&ledgerCollector{l: o.Ledger, now: o.Now})
	}
	if o.Runtime {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

// CheckResult records a control test's latest result.
func (m *Metrics) CheckResult(check, status string, exceptions int) {
	switch status {
	case "pass", "fail":
		m.checkFails.WithLabelValues(check).Set(float64(exceptions))
		v := 0.0
		if status == "fail" {
			v = 1
		}
		m.checkFailed.WithLabelValues(check).Set(v)
	default: // no data or an error: nothing is claimed
		m.checkFails.DeleteLabelValues(check)
		m.checkFailed.DeleteLabelValues(check)
	}
}

// Registry returns the registry (for tests and custom handlers).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Init exports a collector's series before its first run: zero counts for
// each outcome, and its last success as recorded in the ledger (zero time:
// never), so alerts see a collector that has not run yet.
func (m *Metrics) Init(collector, typ string, lastSuccess, lastRun time.Time) {
	for _, o := range Outcomes {
		m.runs.WithLabelValues(collector, typ, o)
	}
	m.lastSuccess.WithLabelValues(collector).Set(unix(lastSuccess))
	if !lastRun.IsZero() {
		m.lastRun.WithLabelValues(collector).Set(unix(lastRun))
	}
	m.skipped.WithLabelValues(collector)
}

// Observe records one collector run; pass it as runner.Runner.Observe.
func (m *Metrics) Observe(r runner.Result) {
	m.runs.WithLabelValues(r.Collector, r.Type, r.Outcome).Inc()
	if !r.Started.IsZero() && !r.Finished.IsZero() {
		m.duration.WithLabelValues(r.Collector).Observe(r.Finished.Sub(r.Started).Seconds())
	}
	if r.Stats != nil {
		for t, n := range r.Stats.ByType {
			if n > 0 {
				m.artifacts.WithLabelValues(r.Collector, t).Add(float64(n))
			}
		}
		for t, n := range r.Stats.BytesType {
			if n > 0 {
				m.bytes.WithLabelValues(r.Collector, t).Add(float64(n))
			}
		}
	}
	if !r.Finished.IsZero() {
		m.lastRun.WithLabelValues(r.Collector).Set(unix(r.Finished))
		if r.Outcome == ledger.OutcomeSuccess {
			m.lastSuccess.WithLabelValues(r.Collector).Set(unix(r.Finished))
		}
	}
}

// Skipped counts a scheduled run skipped because the previous one was still going.
func (m *Metrics) Skipped(collector string) { m.skipped.WithLabelValues(collector).Inc() }

// Panicked counts a panic recovered in a scheduled job.
func (m *Metrics) Panicked(collector string) { m.panics.WithLabelValues(collector).Inc() }

// Pushed records a checkpoint signing and push that took d.
func (m *Metrics) Pushed(d time.Duration, err error) {
	outcome := "success"
	if err != nil {
		outcome = "failed"
	}
	m.pushes.WithLabelValues(outcome).Inc()
	m.pushSecs.Observe(d.Seconds())
}

// Scheduled records when the daemon next starts a collector.
func (m *Metrics) Scheduled(collector string, next time.Time) {
	m.scheduled.WithLabelValues(collector).Set(unix(next))
}

func unix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// ledgerCollector reads the ledger at scrape time.
type ledgerCollector struct {
	l   Ledger
	now func() time.Time
}

var (
	descRecords   = prometheus.NewDesc(Namespace+"_ledger_records", "Records in the ledger (the Merkle tree's size).", nil, nil)
	descDBBytes   = prometheus.NewDesc(Namespace+"_ledger_db_bytes", "Size of the ledger database file on disk.", nil, nil)
	descBacklog   = prometheus.NewDesc(Namespace+"_outbox_backlog", "Artifacts committed locally whose bodies are not yet in the store.", nil, nil)
	descCPSize    = prometheus.NewDesc(Namespace+"_checkpoint_tree_size", "Tree size of the latest signed checkpoint.", nil, nil)
	descCPSigned  = prometheus.NewDesc(Namespace+"_checkpoint_signed_timestamp_seconds", "When the latest checkpoint was signed (Unix time).", nil, nil)
	descCPAge     = prometheus.NewDesc(Namespace+"_checkpoint_age_seconds", "Seconds since the latest checkpoint was signed.", nil, nil)
	descLedgerErr = prometheus.NewDesc(Namespace+"_ledger_up", "1 if the ledger could be read at this scrape, else 0.", nil, nil)
)

func (c *ledgerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRecords, descDBBytes, descBacklog, descCPSize, descCPSigned, descCPAge, descLedgerErr} {
		ch <- d
	}
}

func (c *ledgerCollector) Collect(ch chan<- prometheus.Metric) {
	up := 1.0
	ch <- prometheus.MustNewConstMetric(descRecords, prometheus.GaugeValue, float64(c.l.Size()))
	if st, err := os.Stat(filepath.Join(c.l.Dir(), ledger.DBFile)); err == nil {
		ch <- prometheus.MustNewConstMetric(descDBBytes, prometheus.GaugeValue, float64(st.Size()))
	}
	if n, err := c.l.OutboxLen(); err == nil {
		ch <- prometheus.MustNewConstMetric(descBacklog, prometheus.GaugeValue, float64(n))
	} else {
		up = 0
	}
	size, signed, ok, err := c.l.LastCheckpoint()
	switch {
	case err != nil:
		up = 0
	case ok:
		ch <- prometheus.MustNewConstMetric(descCPSize, prometheus.GaugeValue, float64(size))
		if !signed.IsZero() {
			ch <- prometheus.MustNewConstMetric(descCPSigned, prometheus.GaugeValue, unix(signed))
			ch <- prometheus.MustNewConstMetric(descCPAge, prometheus.GaugeValue, c.now().Sub(signed).Seconds())
		}
	}
	ch <- prometheus.MustNewConstMetric(descLedgerErr, prometheus.GaugeValue, up)
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Health is the daemon's liveness and readiness.
type Health struct {
	mu       sync.Mutex
	ready    bool
	notReady string
}

// NewHealth starts not ready, with reason.
func NewHealth(reason string) *Health { return &Health{notReady: reason} }

// SetReady marks the process ready.
func (h *Health) SetReady() {
	h.mu.Lock()
	h.ready, h.notReady = true, ""
	h.mu.Unlock()
}

// SetNotReady marks the process not ready, with a reason (e.g. shutting down).
func (h *Health) SetNotReady(reason string) {
	h.mu.Lock()
	h.ready, h.notReady = false, reason
	h.mu.Unlock()
}

// Ready reports readiness and, if not ready, why.
func (h *Health) Ready() (bool, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ready, h.notReady
}

// Mux serves /healthz (the process is alive), /readyz (200 once h is
// ready, 503 with the reason otherwise) and /metrics.
func (m *Metrics) Mux(h *Health) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if ok, why := h.Ready(); !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %s\n", why)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// Push sends the metrics to a Prometheus Pushgateway at url, replacing the
// group job="tickmark", agent=<agent> (a CronJob's run is over before any
// scrape could see it).
func (m *Metrics) Push(ctx context.Context, url, agent string) error {
	if url == "" {
		return errors.New("no Pushgateway URL")
	}
	// The text format: what a person debugging the gateway can read.
	p := push.New(url, "tickmark").Gatherer(m.reg).Grouping("agent", agent).
		Format(expfmt.NewFormat(expfmt.TypeTextPlain)).Client(&http.Client{Timeout: 30 * time.Second})
	if err := p.PushContext(ctx); err != nil {
		// The client's error repeats the URL; keep only ours, without credentials.
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("pushing metrics to the Pushgateway at %s: %w", redact(url), err)
	}
	return nil
}

// redact drops credentials from a URL before it is logged.
func redact(s string) string {
	u, err := neturl.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.User != nil {
		u.User = neturl.User("REDACTED")
	}
	return u.String()
}
