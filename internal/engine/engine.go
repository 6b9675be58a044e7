package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/store"
	"github.com/tickmark-dev/tickmark/internal/tsa"
)

// Engine is one agent's pipeline: Collect (the collectors, then the
// control checks) → Seal (sign, RFC 3161) → Publish (CheckOwner, Push,
// PublishState). `run --once` calls Run; the daemon collects each
// scheduled collector itself and calls Finish after it. internal/app opens
// the ledger, the bucket and the key and builds the engine.
type Engine struct {
	Ledger *ledger.Ledger
	Key    *ledger.Key
	TSA    *tsa.Config // nil: no timestamps
	// Bucket is where the engine publishes; nil without a store. StoreErr
	// is why the store could not be opened (the run then collects and
	// seals, and reports a failed push with everything queued); StoreName
	// names it in the summary.
	Bucket    *store.Bucket
	StoreErr  error
	StoreName string
	Agent     string
	// Concurrency of uploads (store.concurrency; 0: the default).
	Concurrency int
	Now         func() time.Time
	Logger      *slog.Logger
	// Collectors runs the collectors, committing what they emit to the
	// ledger (internal/runner, wired by app).
	Collectors func(ctx context.Context, ccs []*config.CollectorConfig) []CollectorSummary
	// Checks, if set, runs the control tests due after ccs ran (nil: none).
	Checks func(ctx context.Context, ccs []*config.CollectorConfig) *CollectorSummary
}

// CollectorSummary is one collector's part of a run summary.
type CollectorSummary struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	RunID     string `json:"run_id"`
	Outcome   string `json:"outcome"`
	Error     string `json:"error,omitempty"`
	Retryable bool   `json:"retryable,omitempty"`
	// Partial: the collector finished and Error names what it could not
	// collect (collectors.Partial); otherwise Error stopped the run.
	Partial   bool           `json:"partial,omitempty"`
	Attempts  int            `json:"attempts"`
	Artifacts int            `json:"artifacts"`
	Bytes     int64          `json:"bytes"`
	ByControl map[string]int `json:"by_control"`
	ByType    map[string]int `json:"by_type"`
	Duration  float64        `json:"duration_seconds"`
}

// Summary is the result of a run (`run --once --json`).
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

// Run collects (ccs, then the checks), seals and publishes. It seals and
// publishes even when ctx is cancelled mid-collection: what is committed
// deserves a checkpoint (a fresh context, bounded to 10 minutes).
func (e *Engine) Run(ctx context.Context, ccs []*config.CollectorConfig) (*Summary, error) {
	sum := e.Collect(ctx, ccs)
	finCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
	defer cancel()
	err := e.Finish(finCtx, sum)
	sum.Finished = e.Now().UTC()
	sum.OK = err == nil && len(sum.Failed()) == 0
	return sum, err
}

// Collect runs ccs and then the checks, committing what they emit to the
// ledger, without sealing or publishing (Run does both).
func (e *Engine) Collect(ctx context.Context, ccs []*config.CollectorConfig) *Summary {
	sum := &Summary{Agent: e.Agent, Started: e.Now().UTC()}
	if e.Collectors != nil {
		sum.Collectors = e.Collectors(ctx, ccs)
	}
	if e.Checks != nil {
		if cs := e.Checks(ctx, ccs); cs != nil {
			sum.Collectors = append(sum.Collectors, *cs)
		}
	}
	return sum
}

// Finish seals (Seal: sign, timestamp) and publishes (CheckOwner, Push,
// PublishState), keeping the outcome in sum (which may be nil).
func (e *Engine) Finish(ctx context.Context, sum *Summary) error {
	cp, err := Seal(ctx, e.Ledger, e.Key, e.TSA, e.Now(), e.Logger)
	if err != nil {
		return err
	}
	if sum != nil {
		sum.Checkpoint = &CheckpointSummary{Size: cp.Size, Root: cp.Root.String(), Key: e.Key.ID}
	}
	if e.Bucket == nil {
		if e.StoreErr == nil {
			return nil
		}
		backlog, _ := e.Ledger.OutboxLen()
		if sum != nil {
			sum.Push = &PushSummary{Store: e.StoreName, Backlog: backlog, Error: e.StoreErr.Error()}
		}
		return fmt.Errorf("%w (artifacts are committed locally and queued; the next run retries)", e.StoreErr)
	}
	where := e.Bucket.Describe()
	if err := CheckOwner(ctx, e.Ledger, e.Bucket); err != nil {
		if sum != nil {
			backlog, _ := e.Ledger.OutboxLen()
			sum.Push = &PushSummary{Store: where, Backlog: backlog, Error: err.Error()}
		}
		var foreign *ErrForeignLog
		if errors.As(err, &foreign) {
			return err
		}
		return fmt.Errorf("pushing to %s: %w (artifacts are committed locally and queued; the next run retries)", where, err)
	}
	res, err := Push(ctx, e.Ledger, e.Bucket, PushOptions{Concurrency: e.Concurrency, Logger: e.Logger})
	if sum != nil {
		sum.Push = &PushSummary{Store: where, Bodies: res.Bodies, Objects: res.Objects, Tiles: res.Tiles, Backlog: res.Backlog}
		for _, u := range res.Unpushable {
			sum.Push.Unpushable = append(sum.Push.Unpushable, u.Reason)
		}
	}
	if err != nil {
		if sum != nil {
			sum.Push.Error = err.Error()
		}
		e.Logger.Error("push to store failed; artifacts stay queued in the outbox", "err", err, "backlog", res.Backlog)
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("pushing to %s: %w (artifacts are committed locally and queued; an object this agent writes already holds other bytes: is another agent using agent.id %q? run `tickmark verify --from-store`)", where, err, e.Agent)
		}
		return fmt.Errorf("pushing to %s: %w (artifacts are committed locally and queued; the next run retries)", where, err)
	}
	// Cursors and runs, for `tickmark ledger restore` on a new disk.
	if err := PublishState(ctx, e.Ledger, e.Bucket, e.Now()); err != nil {
		e.Logger.Warn("publishing the agent state (cursors, runs) failed; the next run publishes it again", "err", err)
	}
	e.Logger.Info("pushed to store", "bodies", res.Bodies, "objects", res.Objects, "tiles", res.Tiles, "backlog", res.Backlog)
	if n := len(res.Unpushable); n > 0 {
		return fmt.Errorf("pushing to %s: outbox entries the store cannot hold: %d, left queued and reported on every push (first: %s); everything else was pushed",
			where, n, res.Unpushable[0].Reason)
	}
	return nil
}
