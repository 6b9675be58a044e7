package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
)

func testRunner(t testing.TB) *Runner {
	t.Helper()
	l, err := ledger.Open(t.TempDir(), "agent", ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &Runner{Ledger: l, Agent: "agent", Retries: 0}
}

func instance(name string, c collectors.CollectorFunc) *config.CollectorConfig {
	return &config.CollectorConfig{Name: name, Type: "test", Collector: c, Timeout: collectors.Duration(time.Minute),
		Controls: map[string][]string{"test.item": {"CC7.2"}}}
}

// pages emits n pages of size artifacts, checkpointing after each, then
// optionally emits extra artifacts and fails.
func pages(n, size, extra int, fail error) collectors.CollectorFunc {
	return func(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
		start := 0
		fmt.Sscan(req.Cursor, &start)
		for p := start; p < n; p++ {
			for i := 0; i < size; i++ {
				if err := emit.Emit(ctx, collectors.Artifact{Type: "test.item", Subject: fmt.Sprintf("p%03d-i%03d", p, i), ContentType: "text/plain", Body: []byte(fmt.Sprint(p, i))}); err != nil {
					return err
				}
			}
			if err := emit.Checkpoint(ctx, fmt.Sprint(p+1)); err != nil {
				return err
			}
		}
		for i := 0; i < extra; i++ {
			emit.Emit(ctx, collectors.Artifact{Type: "test.item", Subject: fmt.Sprintf("extra-%d", i), Body: []byte("x")})
		}
		return fail
	}
}

func subjects(t *testing.T, l *ledger.Ledger) []string {
	var out []string
	err := l.View(func(v *ledger.Viewer) error {
		return v.Records(0, func(seq uint64, data []byte) error {
			r, err := evidence.Decode(data)
			if err != nil {
				return err
			}
			out = append(out, r.Subject)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPipelinedCheckpointsCommitEverythingInOrder(t *testing.T) {
	r := testRunner(t)
	res := r.RunOne(context.Background(), instance("c", pages(20, 50, 0, nil)))
	if res.Err != nil || res.Outcome != ledger.OutcomeSuccess || res.Stats.Artifacts != 1000 {
		t.Fatalf("result %+v", res)
	}
	got := subjects(t, r.Ledger)
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("records out of order at %d: %s after %s", i, got[i], got[i-1])
		}
	}
	if cur, _ := r.Ledger.Cursor("c"); cur != "20" {
		t.Fatalf("cursor %q", cur)
	}
}

func TestFailureKeepsCheckpointedAndDropsTheRest(t *testing.T) {
	r := testRunner(t)
	res := r.RunOne(context.Background(), instance("c", pages(3, 100, 40, collectors.Permanent(errors.New("vendor said no")))))
	if res.Outcome != ledger.OutcomePartial || res.Stats.Artifacts != 300 || res.Stats.Discarded != 40 {
		t.Fatalf("result outcome %s artifacts %d discarded %d err %v", res.Outcome, res.Stats.Artifacts, res.Stats.Discarded, res.Err)
	}
	if n := len(subjects(t, r.Ledger)); n != 300 {
		t.Fatalf("%d records committed, want 300", n)
	}
	last, _, _ := r.Ledger.LastRun("c")
	if last == nil || last.Outcome != ledger.OutcomePartial || !strings.Contains(last.Error, "vendor said no") {
		t.Fatalf("run record %+v", last)
	}
	// The next run resumes from the cursor: no duplicate, no gap.
	res = r.RunOne(context.Background(), instance("c", pages(5, 100, 0, nil)))
	if res.Err != nil || res.Stats.Artifacts != 200 {
		t.Fatalf("resume: %+v", res)
	}
	seen := map[string]bool{}
	for _, s := range subjects(t, r.Ledger) {
		if seen[s] {
			t.Fatalf("duplicate %s", s)
		}
		seen[s] = true
	}
	if len(seen) != 500 {
		t.Fatalf("%d distinct records, want 500", len(seen))
	}
}

func TestPanicIsRecoveredAndReported(t *testing.T) {
	r := testRunner(t)
	res := r.RunOne(context.Background(), instance("c", func(context.Context, collectors.Request, collectors.Emitter) error { panic("boom") }))
	if res.Outcome != ledger.OutcomeFailed || res.Err == nil || !strings.Contains(res.Err.Error(), "collector panicked: boom") {
		t.Fatalf("result %+v", res)
	}
}

func TestTimeoutIsRetryableAndNamed(t *testing.T) {
	r := testRunner(t)
	cc := instance("slow", func(ctx context.Context, _ collectors.Request, _ collectors.Emitter) error {
		<-ctx.Done()
		return ctx.Err()
	})
	cc.Timeout = collectors.Duration(200 * time.Millisecond)
	start := time.Now()
	res := r.RunOne(context.Background(), cc)
	if time.Since(start) > 5*time.Second || res.Err == nil || !collectors.IsRetryable(res.Err) || !strings.Contains(res.Err.Error(), "timed out after 200ms") {
		t.Fatalf("result %+v after %s", res, time.Since(start))
	}
}

func TestCollectorsFailIndependently(t *testing.T) {
	r := testRunner(t)
	bad := instance("bad", pages(1, 1, 0, collectors.Permanent(errors.New("401"))))
	good := instance("good", pages(2, 10, 0, nil))
	results := r.Run(context.Background(), []*config.CollectorConfig{bad, good})
	if results[0].Outcome == ledger.OutcomeSuccess || results[1].Outcome != ledger.OutcomeSuccess || results[1].Stats.Artifacts != 20 {
		t.Fatalf("results %+v / %+v", results[0], results[1])
	}
}

func TestPartialIsCommittedLikeSuccessAndNotRetried(t *testing.T) {
	r := testRunner(t)
	r.Retries, r.RetryDelay = 2, time.Millisecond
	// Retryable inside Partial: the collector finished, so no retry.
	fail := collectors.Partial(collectors.Retryable(errors.New("repository acme/secret: 403")))
	res := r.RunOne(context.Background(), instance("c", pages(3, 10, 5, fail)))
	if res.Outcome != ledger.OutcomePartial || res.Attempts != 1 || res.Stats.Artifacts != 35 || res.Stats.Discarded != 0 {
		t.Fatalf("result outcome %s attempts %d artifacts %d discarded %d err %v", res.Outcome, res.Attempts, res.Stats.Artifacts, res.Stats.Discarded, res.Err)
	}
	if n := len(subjects(t, r.Ledger)); n != 35 {
		t.Fatalf("%d records committed, want 35 (the artifacts after the last checkpoint too)", n)
	}
	if cur, _ := r.Ledger.Cursor("c"); cur != "3" {
		t.Fatalf("cursor %q, want 3", cur)
	}
	last, _, _ := r.Ledger.LastRun("c")
	if last == nil || last.Outcome != ledger.OutcomePartial || last.Retryable || !strings.Contains(last.Error, "acme/secret: 403") {
		t.Fatalf("run record %+v", last)
	}
}

func TestPartialWithoutArtifactsIsPartial(t *testing.T) {
	r := testRunner(t)
	res := r.RunOne(context.Background(), instance("c", pages(0, 0, 0, collectors.Partial(errors.New("every repository is empty but one: 404")))))
	if res.Outcome != ledger.OutcomePartial || res.Stats.Artifacts != 0 {
		t.Fatalf("result outcome %s artifacts %d err %v", res.Outcome, res.Stats.Artifacts, res.Err)
	}
	if last, _, _ := r.Ledger.LastRun("c"); last == nil || last.Outcome != ledger.OutcomePartial || !strings.Contains(last.Error, "404") {
		t.Fatalf("run record %+v", last)
	}
}
