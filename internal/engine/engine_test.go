package engine_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/engine"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/publog"
	"github.com/tickmark-dev/tickmark/internal/store"
)

// TestEngineRunSequence: Run collects (the collectors, then the checks),
// seals a checkpoint over what they committed and publishes it: the
// bodies, the checkpoint and the agent's state land in the bucket, and the
// summary reports each step; a failed collector makes the run not OK but
// still sealed and published.
func TestEngineRunSequence(t *testing.T) {
	l, dir := openTest(t)
	key, _, err := ledger.LoadOrCreateKey(filepath.Join(dir, ledger.KeyFile), ledger.Origin("agent-1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.AddKey(key.ID, key.Verifier); err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenFilesystem(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := store.NewBucket(st, "")
	var steps []string
	e := &engine.Engine{Ledger: l, Key: key, Bucket: b, Agent: "agent-1", Now: time.Now, Logger: discard(),
		Collectors: func(ctx context.Context, ccs []*config.CollectorConfig) []engine.CollectorSummary {
			steps = append(steps, "collect "+ccs[0].Name)
			appendN(t, l, 3, 3, nil)
			return []engine.CollectorSummary{{Name: ccs[0].Name, Outcome: ledger.OutcomeSuccess, Artifacts: 3}, {Name: "broken", Outcome: "failure", Error: "boom"}}
		},
		Checks: func(ctx context.Context, ccs []*config.CollectorConfig) *engine.CollectorSummary {
			steps = append(steps, "checks")
			return &engine.CollectorSummary{Name: "checks", Outcome: ledger.OutcomeSuccess}
		},
	}
	sum, err := e.Run(context.Background(), []*config.CollectorConfig{{Name: "c1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(steps, ", "); got != "collect c1, checks" {
		t.Errorf("steps %q, want the collectors then the checks", got)
	}
	if len(sum.Collectors) != 3 || sum.OK || len(sum.Failed()) != 1 || sum.Failed()[0].Name != "broken" {
		t.Errorf("summary collectors %+v, OK %v; want 3 entries, not OK, broken failed", sum.Collectors, sum.OK)
	}
	if sum.Checkpoint == nil || sum.Checkpoint.Size != 3 || sum.Checkpoint.Key != key.ID {
		t.Fatalf("checkpoint %+v, want size 3 signed by %s", sum.Checkpoint, key.ID)
	}
	if sum.Push == nil || sum.Push.Bodies != 3 || sum.Push.Backlog != 0 || sum.Push.Error != "" {
		t.Errorf("push %+v, want 3 bodies and nothing queued", sum.Push)
	}
	log := b.Log("agent-1")
	if _, err := log.Read(context.Background(), publog.CheckpointPath(3)); err != nil {
		t.Errorf("checkpoint 3 not published: %v", err)
	}
	states := 0
	if err := log.List(context.Background(), publog.StateDir, func(string) error { states++; return nil }); err != nil || states != 1 {
		t.Errorf("%d state objects (%v), want 1", states, err)
	}
}

// TestEngineFinishStoreDown: without a store (it could not be opened),
// Finish still seals, reports the push as failed with everything queued,
// and returns the store's error.
func TestEngineFinishStoreDown(t *testing.T) {
	l, dir := openTest(t)
	key, _, err := ledger.LoadOrCreateKey(filepath.Join(dir, ledger.KeyFile), ledger.Origin("agent-1"))
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 2, 2, nil)
	down := errors.New("opening s3 store: connection refused")
	e := &engine.Engine{Ledger: l, Key: key, StoreErr: down, StoreName: "s3 store", Agent: "agent-1", Now: time.Now, Logger: discard()}
	sum := &engine.Summary{}
	err = e.Finish(context.Background(), sum)
	if !errors.Is(err, down) || !strings.Contains(err.Error(), "queued") {
		t.Errorf("Finish = %v, want the store's error and that artifacts stay queued", err)
	}
	if sum.Checkpoint == nil || sum.Checkpoint.Size != 2 {
		t.Errorf("checkpoint %+v, want size 2 signed despite the outage", sum.Checkpoint)
	}
	if sum.Push == nil || sum.Push.Store != "s3 store" || sum.Push.Backlog != 2 || sum.Push.Error == "" {
		t.Errorf("push %+v, want s3 store failed with 2 queued", sum.Push)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
