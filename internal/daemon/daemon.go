// Package daemon is `tickmark run` without --once: it schedules every
// collector instance on its cron spec (robfig/cron, UTC), starts at once
// those already due given their last run in the ledger (so a restart never
// postpones a collection by a whole interval), never runs one
// instance twice at once, recovers and reports panics, optionally jitters
// each start, and after each run signs a checkpoint and pushes to the store,
// one push at a time. It serves /healthz, /readyz and /metrics.
//
// On shutdown (the context is cancelled: SIGTERM or SIGINT) it stops
// scheduling, lets running collectors finish within a grace period, then
// cancels them (each commits what it checkpointed), signs a final
// checkpoint, pushes, and returns.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/tickmark-dev/tickmark/internal/app"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/engine"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/metrics"
	"github.com/tickmark-dev/tickmark/internal/runner"
	"github.com/tickmark-dev/tickmark/internal/schedule"
)

// Defaults.
const (
	DefaultGrace = 30 * time.Second
	// DefaultFinalTimeout bounds the final checkpoint and push at shutdown.
	DefaultFinalTimeout = time.Minute
	// DefaultCancelWait bounds the wait for cancelled collectors to return.
	DefaultCancelWait = 10 * time.Second
	// DefaultListen is the address of /healthz, /readyz and /metrics.
	DefaultListen = ":9090"
)

// Options configure Run.
type Options struct {
	// App is the opened agent (ledger, store, key, configuration).
	App *app.App
	// Collectors are the instances to schedule.
	Collectors []*config.CollectorConfig
	// Metrics receives run, push, skip and panic counts (optional).
	Metrics *metrics.Metrics
	// Health is marked ready once every collector is scheduled and not
	// ready when shutdown begins (optional).
	Health *metrics.Health
	// Listen, if set, serves /healthz, /readyz and /metrics there.
	Listen string
	// OnListen is called with the bound address (tests listen on :0).
	OnListen func(net.Addr)
	// Grace is how long running collectors may go on after shutdown
	// begins before they are cancelled (default 30s).
	Grace time.Duration
	// FinalTimeout bounds the final checkpoint and push (default 1m).
	FinalTimeout time.Duration
	// CancelWait bounds the wait for cancelled collectors (default 10s).
	CancelWait time.Duration
	// Jitter returns the largest random delay before a run of cc
	// (default: the configuration's collectors[].jitter or runner.jitter).
	Jitter func(cc *config.CollectorConfig) time.Duration
	// Observe, if set, is called after each run, after the metrics.
	Observe func(runner.Result)
	// Logger (default: the App's).
	Logger *slog.Logger
}

type daemon struct {
	o        Options
	log      *slog.Logger
	runner   *runner.Runner
	observe  func(runner.Result)
	engine   *engine.Engine // seals and publishes after each run
	sem      chan struct{}
	runCtx   context.Context // cancelled once the grace period is over
	stopping chan struct{}   // closed when shutdown begins
	pushMu   sync.Mutex      // one checkpoint and push at a time
}

// Run schedules the collectors and blocks until ctx is cancelled, then shuts
// down gracefully. It returns an error when it cannot start (no collector,
// a bad schedule, the listen address taken) or the final checkpoint cannot
// be signed; a failed final push is logged (the outbox keeps the artifacts
// for the next start) and is not an error.
func Run(ctx context.Context, o Options) error {
	if o.App == nil {
		return errors.New("daemon: no app")
	}
	if len(o.Collectors) == 0 {
		return errors.New("no enabled collector to schedule")
	}
	if o.Logger == nil {
		o.Logger = o.App.Logger
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.FinalTimeout <= 0 {
		o.FinalTimeout = DefaultFinalTimeout
	}
	if o.CancelWait <= 0 {
		o.CancelWait = DefaultCancelWait
	}
	if o.Jitter == nil {
		o.Jitter = o.App.Cfg.JitterBound
	}
	d := &daemon{o: o, log: o.Logger, stopping: make(chan struct{})}
	observe := func(r runner.Result) {
		if o.Metrics != nil {
			o.Metrics.Observe(r)
		}
		if o.Observe != nil {
			o.Observe(r)
		}
	}
	d.runner = o.App.Runner(observe)
	d.engine = o.App.Engine(observe)
	d.observe = observe
	if o.Metrics != nil && o.App.CheckMetrics == nil {
		o.App.CheckMetrics = o.Metrics
	}
	limit := o.App.Cfg.Runner.Concurrency
	if limit <= 0 {
		limit = 4
	}
	d.sem = make(chan struct{}, limit)
	// Read commands (status, evidence list, verify, …) read the snapshot
	// while the daemon holds the ledger; once it stops, the ledger itself.
	d.snapshot()
	defer os.Remove(filepath.Join(o.App.Cfg.Agent.DataDir, ledger.SnapshotFile))
	runCtx, cancelRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRuns()
	d.runCtx = runCtx

	// Parse every schedule before anything starts.
	scheds := make([]cron.Schedule, len(o.Collectors))
	for i, cc := range o.Collectors {
		s, err := schedule.Parse(cc.Schedule)
		if err != nil {
			return fmt.Errorf("collector %s: %w", cc.Name, err)
		}
		scheds[i] = s
		if o.Metrics != nil {
			last, lastOK, err := o.App.Ledger.LastRun(cc.Name)
			if err != nil {
				return fmt.Errorf("reading the last run of %s: %w", cc.Name, err)
			}
			var lastT, okT time.Time
			if last != nil {
				lastT = last.Finished
			}
			if lastOK != nil {
				okT = lastOK.Finished
			}
			o.Metrics.Init(cc.Name, cc.Type, okT, lastT)
		}
	}

	stopHTTP, err := d.serve()
	if err != nil {
		return err
	}
	defer stopHTTP()

	c := cron.New(cron.WithLocation(time.UTC), cron.WithParser(config.CronParser), cron.WithLogger(cronLogger{log: d.log}))
	now := time.Now().UTC()
	var catchUp []cron.Job
	for i, cc := range o.Collectors {
		cl := cronLogger{log: d.log.With("collector", cc.Name), collector: cc.Name, m: o.Metrics}
		// Skip outside Recover: a recovered panic still releases the
		// instance's slot, so it is scheduled again.
		job := cron.NewChain(cron.SkipIfStillRunning(cl), cron.Recover(cl)).Then(d.job(cc, scheds[i]))
		c.Schedule(scheds[i], job)
		last, err := schedule.LedgerRuns{Ledger: o.App.Ledger}.LastStart(cc.Name)
		if err != nil {
			return fmt.Errorf("reading the last run of %s: %w", cc.Name, err)
		}
		if dec := schedule.Due(scheds[i], last, now); dec.Due {
			d.log.Info("collector is due now", "collector", cc.Name, "reason", dec.Reason)
			catchUp = append(catchUp, job)
		}
		next := scheds[i].Next(now)
		if o.Metrics != nil {
			o.Metrics.Scheduled(cc.Name, next)
		}
		d.log.Info("collector scheduled", "collector", cc.Name, "type", cc.Type, "schedule", cc.Schedule, "next", next.Format(time.RFC3339), "jitter", o.Jitter(cc).String())
	}
	c.Start()
	// Due runs start now, through the same job (and so the same
	// skip-if-running slot) as their scheduled runs.
	var catchUpWG sync.WaitGroup
	for _, job := range catchUp {
		catchUpWG.Add(1)
		go func() {
			defer catchUpWG.Done()
			job.Run()
		}()
	}
	if h := d.o.Health; h != nil {
		h.SetReady()
	}
	d.log.Info("daemon started", "collectors", len(o.Collectors), "grace", o.Grace.String())

	<-ctx.Done()
	close(d.stopping)
	if h := d.o.Health; h != nil {
		h.SetNotReady("shutting down")
	}
	d.log.Info("shutting down: no new runs; waiting for running collectors", "grace", o.Grace.String())
	stopped := c.Stop()
	done := make(chan struct{})
	go func() {
		<-stopped.Done()
		catchUpWG.Wait()
		close(done)
	}()
	t := time.NewTimer(o.Grace)
	select {
	case <-done:
		t.Stop()
	case <-t.C:
		d.log.Warn("grace period over: cancelling running collectors (they keep what they checkpointed)", "grace", o.Grace.String())
		cancelRuns()
		select {
		case <-done:
		case <-time.After(o.CancelWait):
			d.log.Error("collectors did not return after cancellation; signing the final checkpoint anyway", "waited", o.CancelWait.String())
		}
	}
	// The final checkpoint covers everything committed, including the
	// cancelled runs' checkpointed artifacts.
	finCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.FinalTimeout)
	defer cancel()
	sum := &app.Summary{}
	err = d.finish(finCtx, sum)
	if sum.Checkpoint == nil {
		return fmt.Errorf("final checkpoint: %w", err)
	}
	d.log.Info("daemon stopped", "tree_size", sum.Checkpoint.Size)
	return nil
}

// job is one scheduled run of cc.
func (d *daemon) job(cc *config.CollectorConfig, s cron.Schedule) cron.Job {
	return cron.FuncJob(func() {
		if d.isStopping() {
			return
		}
		if j := d.o.Jitter(cc); j > 0 {
			delay := rand.N(j)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-d.stopping:
				t.Stop()
				return
			}
		}
		select {
		case d.sem <- struct{}{}:
		case <-d.stopping:
			return
		}
		defer func() { <-d.sem }()
		if d.isStopping() {
			return
		}
		d.runner.RunOne(d.runCtx, cc)
		if !d.isStopping() {
			d.o.App.RunChecksAfter(d.runCtx, cc, d.observe)
		}
		if d.o.Metrics != nil {
			d.o.Metrics.Scheduled(cc.Name, s.Next(time.Now().UTC()))
		}
		if d.isStopping() {
			return // the final checkpoint covers this run
		}
		_ = d.finish(d.runCtx, nil)
	})
}

func (d *daemon) isStopping() bool {
	select {
	case <-d.stopping:
		return true
	default:
		return false
	}
}

// finish signs a checkpoint and pushes, one at a time.
func (d *daemon) finish(ctx context.Context, sum *app.Summary) error {
	d.pushMu.Lock()
	defer d.pushMu.Unlock()
	t0 := time.Now()
	err := d.engine.Finish(ctx, sum)
	if d.o.Metrics != nil {
		d.o.Metrics.Pushed(time.Since(t0), err)
	}
	d.snapshot()
	return err
}

// snapshot writes the ledger's snapshot for read commands (the daemon
// holds the ledger's lock): at start and after every run.
func (d *daemon) snapshot() {
	if err := d.o.App.Ledger.WriteSnapshot(); err != nil {
		d.log.Warn("writing the ledger snapshot for read commands failed; they wait for the ledger's lock until the next run writes one", "err", err)
	}
}

// serve starts the HTTP endpoints; the returned func stops them.
func (d *daemon) serve() (func(), error) {
	if d.o.Listen == "" {
		return func() {}, nil
	}
	m := d.o.Metrics
	if m == nil {
		m = metrics.New(metrics.Options{})
	}
	h := d.o.Health
	if h == nil {
		h = metrics.NewHealth("starting")
		d.o.Health = h
	}
	ln, err := net.Listen("tcp", d.o.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening for /metrics on %s: %w", d.o.Listen, err)
	}
	if d.o.OnListen != nil {
		d.o.OnListen(ln.Addr())
	}
	srv := &http.Server{Handler: m.Mux(h), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("metrics server stopped", "err", err)
		}
	}()
	d.log.Info("serving /healthz, /readyz and /metrics", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// cronLogger adapts robfig/cron's logger to slog and counts what its job
// wrappers report: a skipped run (SkipIfStillRunning) and a panic (Recover).
type cronLogger struct {
	log       *slog.Logger
	collector string
	m         *metrics.Metrics
}

func (l cronLogger) Info(msg string, kv ...any) {
	if msg == "skip" && l.collector != "" {
		l.log.Warn("previous run still going: skipping this scheduled run")
		if l.m != nil {
			l.m.Skipped(l.collector)
		}
		return
	}
	l.log.Debug("cron: "+msg, kv...)
}

func (l cronLogger) Error(err error, msg string, kv ...any) {
	if msg == "panic" && l.collector != "" {
		l.log.Error("scheduled run panicked; the daemon goes on", append([]any{"err", err}, kv...)...)
		if l.m != nil {
			l.m.Panicked(l.collector)
		}
		return
	}
	l.log.Error("cron: "+msg, append([]any{"err", err}, kv...)...)
}
