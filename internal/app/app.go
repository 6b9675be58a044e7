// Package app wires configuration, ledger, store, signing key and runner
// together for the CLI and the daemon.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/engine"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/runner"
	"github.com/tickmark-dev/tickmark/internal/store"
)

// Version is the tickmark version, set at build time with
// -ldflags "-X github.com/tickmark-dev/tickmark/internal/app.Version=v1.2.3".
var Version = "dev"

// App is an opened agent: configuration, ledger, store and key.
type App struct {
	Cfg    *config.Config
	Ledger *ledger.Ledger
	Bucket *store.Bucket // nil without a store
	Key    *ledger.Key
	Logger *slog.Logger
	Now    func() time.Time
	// StoreErr is why the store could not be opened, when Open was asked
	// to defer that error (Options.DeferStoreError); Bucket is nil then.
	StoreErr error
	// CheckMetrics, if set, receives every check result (metrics).
	CheckMetrics CheckMetrics
}

// Options for Open.
type Options struct {
	Logger   *slog.Logger
	Now      func() time.Time
	ReadOnly bool // open the ledger read-only (verify, list)
	NoStore  bool // do not open the store
	// DeferStoreError opens the app even when the store cannot be opened
	// (unreachable, its folder not creatable): collection goes on, the
	// error is kept in App.StoreErr and Finish reports it as a failed push
	// with everything queued. `run --once` uses it: a store outage must not
	// stop evidence from being collected. A store.ConfigError (the bucket
	// contradicts the configuration) is still returned.
	DeferStoreError bool
}

// Open opens the agent's ledger (taking its lock), its store and its key.
func Open(ctx context.Context, cfg *config.Config, o Options) (*App, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &App{Cfg: cfg, Logger: o.Logger, Now: o.Now}
	l, err := ledger.Open(cfg.Agent.DataDir, cfg.Agent.ID, ledger.Options{ReadOnly: o.ReadOnly, Now: o.Now})
	if err != nil {
		return nil, err
	}
	a.Ledger = l
	if at, ok := l.SnapshotAt(); ok && a.Logger != nil {
		a.Logger.Info("the ledger is in use by the running agent: reading the snapshot it wrote after its last run", "snapshot_written", at.UTC().Format(time.RFC3339))
	}
	if !o.ReadOnly {
		k, created, err := ledger.LoadOrCreateKey(KeyPath(cfg), ledger.Origin(cfg.Agent.ID))
		if err != nil {
			l.Close()
			return nil, err
		}
		if created {
			o.Logger.Info("generated a new signing key", "key_id", k.ID, "path", KeyPath(cfg))
		}
		if err := l.AddKey(k.ID, k.Verifier); err != nil {
			l.Close()
			return nil, err
		}
		a.Key = k
	}
	if !o.NoStore {
		scfg := cfg.Store
		scfg.Logger = o.Logger
		st, err := store.Open(ctx, scfg)
		var sce *store.ConfigError // a misconfigured store is not an outage: stop (exit 2)
		switch {
		case err == nil:
			a.Bucket = store.NewBucket(st, cfg.Store.Prefix)
		case o.DeferStoreError && !errors.As(err, &sce):
			a.StoreErr = fmt.Errorf("opening %s store: %w", cfg.Store.Type, err)
			o.Logger.Error("store unavailable; collecting anyway, artifacts stay queued for the next run", "err", a.StoreErr)
		default:
			l.Close()
			return nil, fmt.Errorf("opening %s store: %w", cfg.Store.Type, err)
		}
	}
	return a, nil
}

// KeyPath is the signing key's path.
func KeyPath(cfg *config.Config) string { return filepath.Join(cfg.Agent.DataDir, ledger.KeyFile) }

// Close closes the store and the ledger.
func (a *App) Close() error {
	var errs []error
	if a.Bucket != nil {
		errs = append(errs, a.Bucket.Close())
	}
	if a.Ledger != nil {
		errs = append(errs, a.Ledger.Close())
	}
	return errors.Join(errs...)
}

// The run summary is the engine's (engine.Summary and its parts).
type (
	Summary           = engine.Summary
	CollectorSummary  = engine.CollectorSummary
	CheckpointSummary = engine.CheckpointSummary
	PushSummary       = engine.PushSummary
)

// Select returns the configured collectors to run: the named ones, or every
// enabled one.
func (a *App) Select(names []string) ([]*config.CollectorConfig, error) {
	var out []*config.CollectorConfig
	if len(names) == 0 {
		for i := range a.Cfg.Collectors {
			if !a.Cfg.Collectors[i].Disabled {
				out = append(out, &a.Cfg.Collectors[i])
			}
		}
		return out, nil
	}
	for _, n := range names {
		cc, ok := a.Cfg.Find(n)
		if !ok {
			return nil, fmt.Errorf("no collector named %q in %s", n, a.Cfg.Path)
		}
		out = append(out, cc)
	}
	return out, nil
}

// Runner returns a runner over the app's ledger.
func (a *App) Runner(observe func(runner.Result)) *runner.Runner {
	retries := 1
	if a.Cfg.Runner.Retries != nil {
		retries = *a.Cfg.Runner.Retries
	}
	return &runner.Runner{
		Ledger: a.Ledger, Agent: a.Cfg.Agent.ID, Now: a.Now, Logger: a.Logger,
		Concurrency: a.Cfg.Runner.Concurrency, Retries: retries, Version: Version, Observe: observe,
		Limits: runner.Limits{
			MaxArtifacts: a.Cfg.Runner.MaxArtifactsPerRun, MaxBytes: int64(a.Cfg.Runner.MaxBytesPerRun),
			MaxControls: a.Cfg.Runner.MaxControlsPerArtifact, MaxPendingBytes: int64(a.Cfg.Runner.MaxPendingBytes),
		},
	}
}

// Engine is the app's engine: its ledger, bucket and key, the runner as
// Collect and the checks due after a run as Checks; observe (may be nil)
// sees every result.
func (a *App) Engine(observe func(runner.Result)) *engine.Engine {
	name := ""
	if a.StoreErr != nil {
		name = a.Cfg.Store.Type + " store"
	}
	return &engine.Engine{
		Ledger: a.Ledger, Key: a.Key, TSA: a.Cfg.TimestampAuthority,
		Bucket: a.Bucket, StoreErr: a.StoreErr, StoreName: name,
		Agent: a.Cfg.Agent.ID, Concurrency: a.Cfg.Store.Concurrency, Now: a.Now, Logger: a.Logger,
		Collectors: func(ctx context.Context, ccs []*config.CollectorConfig) []CollectorSummary {
			return summarize(a.Runner(observe).Run(ctx, ccs)...)
		},
		Checks: func(ctx context.Context, ccs []*config.CollectorConfig) *CollectorSummary {
			if cr := a.checksAfter(ctx, ccs, observe); cr != nil {
				return &summarize(*cr)[0]
			}
			return nil
		},
	}
}

// RunOnce is a.Engine(observe).Run: collect, seal, publish.
func (a *App) RunOnce(ctx context.Context, ccs []*config.CollectorConfig, observe func(runner.Result)) (*Summary, error) {
	return a.Engine(observe).Run(ctx, ccs)
}

// Finish seals and publishes what is committed (engine.Engine.Finish).
func (a *App) Finish(ctx context.Context, sum *Summary) error { return a.Engine(nil).Finish(ctx, sum) }

// summarize turns runner results into the summary's collector entries.
func summarize(results ...runner.Result) []CollectorSummary {
	var out []CollectorSummary
	for _, r := range results {
		cs := CollectorSummary{Name: r.Collector, Type: r.Type, RunID: r.RunID, Outcome: r.Outcome, Attempts: r.Attempts,
			Artifacts: r.Stats.Artifacts, Bytes: r.Stats.Bytes, ByControl: nonZero(r.Stats.ByControl), ByType: nonZero(r.Stats.ByType),
			Duration: r.Finished.Sub(r.Started).Seconds()}
		if r.Err != nil {
			cs.Error = r.Err.Error()
			cs.Partial = collectors.IsPartial(r.Err)
			cs.Retryable = !cs.Partial && collectors.IsRetryable(r.Err)
		}
		out = append(out, cs)
	}
	return out
}

func nonZero(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// SortedKeys returns a map's keys sorted.
func SortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
