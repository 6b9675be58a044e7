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

// CollectorSummary is one collector's part of a run summary.
type CollectorSummary struct {
	Name      string         `json:"name"`
	Type      string         `json:"type"`
	RunID     string         `json:"run_id"`
	Outcome   string         `json:"outcome"`
	Error     string         `json:"error,omitempty"`
	Retryable bool           `json:"retryable,omitempty"`
	Attempts  int            `json:"attempts"`
	Artifacts int            `json:"artifacts"`
	Bytes     int64          `json:"bytes"`
	ByControl map[string]int `json:"by_control"`
	ByType    map[string]int `json:"by_type"`
	Duration  float64        `json:"duration_seconds"`
}

// Summary is the result of `run --once`.
type Summary struct {
	Agent      string             `json:"agent"`
	Started    time.Time          `json:"started"`
	Finished   time.Time          `json:"finished"`
	Collectors []CollectorSummary `json:"collectors"`
	Checkpoint *CheckpointSummary `json:"checkpoint,omitempty"`
	Push       *PushSummary       `json:"push,omitempty"`
	OK         bool               `json:"ok"`
}

// CheckpointSummary describes the signed checkpoint.
type CheckpointSummary struct {
	Size int64  `json:"size"`
	Root string `json:"root"`
	Key  string `json:"key_id"`
}

// PushSummary describes the push to the store.
type PushSummary struct {
	Store   string `json:"store"`
	Bodies  int    `json:"bodies"`
	Objects int    `json:"objects"`
	Tiles   int    `json:"tiles"`
	Backlog int    `json:"backlog"`
	Error   string `json:"error,omitempty"`
	// Unpushable names outbox entries the store cannot hold; they stay
	// queued and block nothing (see docs/security.md).
	Unpushable []string `json:"unpushable,omitempty"`
}

// Failed lists the collectors that did not succeed.
func (s *Summary) Failed() []CollectorSummary {
	var out []CollectorSummary
	for _, c := range s.Collectors {
		if c.Outcome != ledger.OutcomeSuccess {
			out = append(out, c)
		}
	}
	return out
}

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

// RunOnce runs the collectors, signs a checkpoint and pushes the outbox.
func (a *App) RunOnce(ctx context.Context, ccs []*config.CollectorConfig, observe func(runner.Result)) (*Summary, error) {
	sum := a.Collect(ctx, ccs, observe)
	// Sign and publish even when the run was interrupted: what is committed
	// deserves a checkpoint. Use a fresh context so shutdown still commits.
	finCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
	defer cancel()
	err := a.Finish(finCtx, sum)
	sum.Finished = a.Now().UTC()
	sum.OK = err == nil && len(sum.Failed()) == 0
	return sum, err
}

// Collect runs the collectors and then the checks, committing what they
// emit to the ledger, without signing or publishing (RunOnce does both).
func (a *App) Collect(ctx context.Context, ccs []*config.CollectorConfig, observe func(runner.Result)) *Summary {
	sum := &Summary{Agent: a.Cfg.Agent.ID, Started: a.Now().UTC()}
	results := a.Runner(observe).Run(ctx, ccs)
	if cr := a.checksAfter(ctx, ccs, observe); cr != nil {
		results = append(results, *cr)
	}
	for _, r := range results {
		cs := CollectorSummary{Name: r.Collector, Type: r.Type, RunID: r.RunID, Outcome: r.Outcome, Attempts: r.Attempts,
			Artifacts: r.Stats.Artifacts, Bytes: r.Stats.Bytes, ByControl: nonZero(r.Stats.ByControl), ByType: nonZero(r.Stats.ByType),
			Duration: r.Finished.Sub(r.Started).Seconds()}
		if r.Err != nil {
			cs.Error = r.Err.Error()
			cs.Retryable = collectors.IsRetryable(r.Err)
		}
		sum.Collectors = append(sum.Collectors, cs)
	}
	return sum
}

// Finish seals (engine.Seal: sign, timestamp) and publishes
// (engine.CheckOwner, engine.Push, engine.PublishState), keeping the
// run's summary.
func (a *App) Finish(ctx context.Context, sum *Summary) error {
	cp, err := engine.Seal(ctx, a.Ledger, a.Key, a.Cfg.TimestampAuthority, a.Now(), a.Logger)
	if err != nil {
		return err
	}
	if sum != nil {
		sum.Checkpoint = &CheckpointSummary{Size: cp.Size, Root: cp.Root.String(), Key: a.Key.ID}
	}
	if a.Bucket == nil {
		if a.StoreErr == nil {
			return nil
		}
		backlog, _ := a.Ledger.OutboxLen()
		if sum != nil {
			sum.Push = &PushSummary{Store: a.Cfg.Store.Type + " store", Backlog: backlog, Error: a.StoreErr.Error()}
		}
		return fmt.Errorf("%w (artifacts are committed locally and queued; the next run retries)", a.StoreErr)
	}
	if err := engine.CheckOwner(ctx, a.Ledger, a.Bucket); err != nil {
		if sum != nil {
			backlog, _ := a.Ledger.OutboxLen()
			sum.Push = &PushSummary{Store: a.Bucket.Describe(), Backlog: backlog, Error: err.Error()}
		}
		var foreign *ErrForeignLog
		if errors.As(err, &foreign) {
			return err
		}
		return fmt.Errorf("pushing to %s: %w (artifacts are committed locally and queued; the next run retries)", a.Bucket.Describe(), err)
	}
	conc := a.Cfg.Store.Concurrency
	res, err := engine.Push(ctx, a.Ledger, a.Bucket, engine.PushOptions{Concurrency: conc, Logger: a.Logger})
	if sum != nil {
		sum.Push = &PushSummary{Store: a.Bucket.Describe(), Bodies: res.Bodies, Objects: res.Objects, Tiles: res.Tiles, Backlog: res.Backlog}
		for _, u := range res.Unpushable {
			sum.Push.Unpushable = append(sum.Push.Unpushable, u.Reason)
		}
	}
	if err != nil {
		if sum != nil {
			sum.Push.Error = err.Error()
		}
		a.Logger.Error("push to store failed; artifacts stay queued in the outbox", "err", err, "backlog", res.Backlog)
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("pushing to %s: %w (artifacts are committed locally and queued; an object this agent writes already holds other bytes: is another agent using agent.id %q? run `tickmark verify --from-store`)", a.Bucket.Describe(), err, a.Cfg.Agent.ID)
		}
		return fmt.Errorf("pushing to %s: %w (artifacts are committed locally and queued; the next run retries)", a.Bucket.Describe(), err)
	}
	// Cursors and runs, for `tickmark ledger restore` on a new disk.
	if err := engine.PublishState(ctx, a.Ledger, a.Bucket, a.Now()); err != nil {
		a.Logger.Warn("publishing the agent state (cursors, runs) failed; the next run publishes it again", "err", err)
	}
	a.Logger.Info("pushed to store", "bodies", res.Bodies, "objects", res.Objects, "tiles", res.Tiles, "backlog", res.Backlog)
	if n := len(res.Unpushable); n > 0 {
		return fmt.Errorf("pushing to %s: outbox entries the store cannot hold: %d, left queued and reported on every push (first: %s); everything else was pushed",
			a.Bucket.Describe(), n, res.Unpushable[0].Reason)
	}
	return nil
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
