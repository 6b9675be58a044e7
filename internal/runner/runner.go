// Package runner runs collector instances: each with its own timeout,
// bounded concurrency across instances, retries of retryable failures, a
// logger tagged with the collector and run ID, and an emitter that commits to
// the ledger. Collectors fail independently: one failure never stops another.
package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/httpx"
	"github.com/tickmark-dev/tickmark/collectors/redact"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/ledger"
)

// Runner runs collectors against one ledger.
type Runner struct {
	Ledger *ledger.Ledger
	Agent  string
	// Now is the engine clock (default time.Now), always used in UTC.
	Now    func() time.Time
	Logger *slog.Logger
	// Concurrency bounds collectors running at once (default 4).
	Concurrency int
	// Retries of a retryable failure within one run (default 1).
	Retries int
	// RetryDelay before a retry (default 5s, doubled each time).
	RetryDelay time.Duration
	// Version is recorded as the collector version when a collector gives none.
	Version string
	// Observe, if set, is called after each collector run (metrics).
	Observe func(Result)
	// Limits bound each collector run (zero fields: the defaults).
	Limits Limits
}

// Result is the outcome of one collector run.
type Result struct {
	Collector string
	Type      string
	RunID     string
	Started   time.Time
	Finished  time.Time
	Outcome   string // ledger.OutcomeSuccess, OutcomeFailed, OutcomePartial
	Err       error
	Attempts  int
	Stats     *Stats
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

// NewRunID returns a sortable, unique run ID.
func NewRunID(t time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Run runs the given collectors, at most Concurrency at once, and returns
// their results in the given order.
func (r *Runner) Run(ctx context.Context, ccs []*config.CollectorConfig) []Result {
	limit := r.Concurrency
	if limit <= 0 {
		limit = 4
	}
	results := make([]Result, len(ccs))
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i, cc := range ccs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = Result{Collector: cc.Name, Type: cc.Type, Outcome: ledger.OutcomeFailed, Err: ctx.Err(), Stats: newStats(), Started: r.now(), Finished: r.now()}
				return
			}
			defer func() { <-sem }()
			results[i] = r.RunOne(ctx, cc)
		}()
	}
	wg.Wait()
	return results
}

// RunOne runs one collector instance to completion (with retries).
func (r *Runner) RunOne(ctx context.Context, cc *config.CollectorConfig) Result {
	started := r.now()
	runID := NewRunID(started)
	logger := r.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// Nothing a collector logs or returns carries a configured secret.
	red := collectors.SecretRedactor()
	logger = slog.New(redact.Handler(logger.Handler(), red)).With("collector", cc.Name, "run_id", runID)
	res := Result{Collector: cc.Name, Type: cc.Type, RunID: runID, Started: started, Stats: newStats()}
	retries := r.Retries
	if retries < 0 {
		retries = 0
	}
	delay := r.RetryDelay
	if delay == 0 {
		delay = 5 * time.Second
	}
	logger.Info("collector run started", "type", cc.Type)
	var err error
	for attempt := 0; ; attempt++ {
		res.Attempts = attempt + 1
		err = r.attempt(ctx, cc, runID, logger, res.Stats, started)
		if err == nil || collectors.IsPartial(err) || attempt >= retries || !collectors.IsRetryable(err) || ctx.Err() != nil {
			break
		}
		logger.Warn("collector failed with a retryable error; retrying", "err", err, "attempt", attempt+1, "delay", delay.String())
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		delay *= 2
	}
	res.Finished = r.now()
	err = scrub(err)
	run := &ledger.Run{Collector: cc.Name, CollectorType: cc.Type, RunID: runID, Started: started, Finished: res.Finished}
	if err == nil {
		res.Outcome = ledger.OutcomeSuccess
	} else {
		res.Err = err
		res.Outcome = ledger.OutcomeFailed
		if res.Stats.Artifacts > 0 || collectors.IsPartial(err) {
			res.Outcome = ledger.OutcomePartial
		}
		run.Error = redact.Bound(err.Error(), maxRunError)
		run.Retryable = !collectors.IsPartial(err) && collectors.IsRetryable(err)
	}
	run.Outcome = res.Outcome
	run.Artifacts, run.Bytes, run.EvidenceTypes = res.Stats.Artifacts, res.Stats.Bytes, res.Stats.Types()
	if rerr := r.Ledger.RecordRun(run); rerr != nil {
		logger.Error("recording run outcome", "err", rerr)
	}
	if err != nil {
		logger.Error("collector run failed", "err", err, "artifacts", res.Stats.Artifacts, "discarded", res.Stats.Discarded, "retryable", run.Retryable)
	} else {
		logger.Info("collector run finished", "artifacts", res.Stats.Artifacts, "bytes", res.Stats.Bytes, "duration", res.Finished.Sub(started).Round(time.Millisecond).String())
	}
	if r.Observe != nil {
		r.Observe(res)
	}
	return res
}

func (r *Runner) attempt(ctx context.Context, cc *config.CollectorConfig, runID string, logger *slog.Logger, stats *Stats, started time.Time) (err error) {
	if cc.Collector == nil {
		return errNoCollector
	}
	cursor, err := r.Ledger.Cursor(cc.Name)
	if err != nil {
		return err
	}
	seg, err := r.Ledger.NewSegment()
	if err != nil {
		return collectors.Retryable(err)
	}
	defer seg.Close()
	em := &emitter{l: r.Ledger, seg: seg, cc: cc, agent: r.Agent, runID: runID, version: r.Version, now: r.now, stats: stats, limits: r.Limits,
		baseArtifacts: stats.Artifacts, baseBytes: stats.Bytes}
	timeout := cc.Timeout.D()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req := NewRequest(cc, runID, cursor, started, logger)
	err = SafeCollect(cctx, cc.Collector, req, em)
	if (err == nil || collectors.IsPartial(err)) && cctx.Err() != nil {
		err = cctx.Err()
	}
	if collectors.IsPartial(err) {
		// The collector finished what it could: commit as for a success
		// and report what it could not collect.
		if cerr := em.commit(ctx, nil, nil); cerr != nil {
			return cerr
		}
		return err
	}
	if err != nil {
		if errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			err = collectors.Retryable(fmt.Errorf("collector timed out after %s (collectors[].timeout): %w", timeout, err))
		}
		if n := em.discard(); n > 0 {
			logger.Warn("discarded artifacts emitted after the last checkpoint", "count", n)
		}
		return err
	}
	// Success: commit what is left (cursor unchanged unless checkpointed).
	return em.commit(ctx, nil, nil)
}

// NewRequest is what the engine hands a collector instance for one run
// started at now: its cursor, the backfill window, a logger and the
// rate-limit-aware HTTP client. The dry run (`tickmark collectors test`)
// builds its request here too.
func NewRequest(cc *config.CollectorConfig, runID, cursor string, now time.Time, logger *slog.Logger) collectors.Request {
	return collectors.Request{
		Instance: cc.Name, RunID: runID, Cursor: cursor,
		Since: now.Add(-cc.Backfill.D()), Now: now,
		Logger: logger, HTTPClient: httpx.New(nil, logger).Client(2 * time.Minute),
	}
}

// SafeCollect runs c, turning a panic into a permanent error of the run
// (with its stack) instead of a crash of the agent.
func SafeCollect(ctx context.Context, c collectors.Collector, req collectors.Request, em collectors.Emitter) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = collectors.Permanent(fmt.Errorf("collector panicked: %v\n%s", p, debug.Stack()))
		}
	}()
	return c.Collect(ctx, req, em)
}

// maxRunError bounds the error text kept with a run in the ledger;
// maxErrorText the text logged and printed.
const (
	maxRunError  = 2048
	maxErrorText = 8192
)

// scrub removes every registered secret value (in any encoding the
// redactor knows) from err's message and bounds its length; the
// classification is kept.
func scrub(err error) error {
	err = collectors.SecretRedactor().Error(err)
	if err != nil && len(err.Error()) > maxErrorText {
		return &boundedError{msg: redact.Bound(err.Error(), maxErrorText), err: err}
	}
	return err
}

type boundedError struct {
	msg string
	err error
}

func (b *boundedError) Error() string { return b.msg }
func (b *boundedError) Unwrap() error { return b.err }
