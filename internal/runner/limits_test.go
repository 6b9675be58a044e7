package runner

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/ledger"
)

// Hostile collectors, each going past one limit after a checkpointed page.
// The run ends with a permanent error naming the limit; the page is kept.

// hostile emits one good checkpointed page of 3, then calls attack.
func hostile(attack func(ctx context.Context, emit collectors.Emitter) error) collectors.CollectorFunc {
	return func(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
		for i := 0; i < 3; i++ {
			if err := emit.Emit(ctx, collectors.Artifact{Type: "test.item", Subject: fmt.Sprint("good-", i), Body: []byte("ok")}); err != nil {
				return err
			}
		}
		if err := emit.Checkpoint(ctx, "page-1"); err != nil {
			return err
		}
		return attack(ctx, emit)
	}
}

// endless is a body that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func TestLimitsEndTheRunWithAClearError(t *testing.T) {
	big := strings.Repeat("q", 30<<10) // under the 32 KiB subject+source cap
	for _, tc := range []struct {
		name   string
		limits Limits
		attack func(ctx context.Context, emit collectors.Emitter) error
		want   string
	}{
		{"artifacts past the run quota", Limits{MaxArtifacts: 10}, func(ctx context.Context, emit collectors.Emitter) error {
			for i := 0; ; i++ {
				if err := emit.Emit(ctx, collectors.Artifact{Type: "test.item", Subject: fmt.Sprint(i), Body: []byte("x")}); err != nil {
					return err
				}
				if err := emit.Checkpoint(ctx, fmt.Sprint(i)); err != nil {
					return err
				}
			}
		}, "more than 10 artifacts (runner.max_artifacts_per_run)"},
		{"bytes past the run quota", Limits{MaxBytes: 1 << 20}, func(ctx context.Context, emit collectors.Emitter) error {
			for i := 0; ; i++ {
				if err := emit.Emit(ctx, collectors.Artifact{Type: "test.item", Body: make([]byte, 100<<10)}); err != nil {
					return err
				}
			}
		}, "more than 1048576 bytes of bodies (runner.max_bytes_per_run)"},
		{"an endless streamed body", Limits{MaxBytes: 8 << 20}, func(ctx context.Context, emit collectors.Emitter) error {
			return emit.Emit(ctx, collectors.Artifact{Type: "test.item", BodyReader: endless{}})
		}, "more than 8388608 bytes of bodies (runner.max_bytes_per_run)"},
		{"hundreds of controls", Limits{}, func(ctx context.Context, emit collectors.Emitter) error {
			var ctl []string
			for i := 0; i < 300; i++ {
				ctl = append(ctl, fmt.Sprintf("X%d", i))
			}
			return emit.Emit(ctx, collectors.Artifact{Type: "test.many", Controls: ctl, Body: []byte("x")})
		}, "filed under 300 controls, more than 32 (runner.max_controls_per_artifact)"},
		{"large records never checkpointed", Limits{}, func(ctx context.Context, emit collectors.Emitter) error {
			for i := 0; i < 40_000; i++ {
				a := collectors.Artifact{Type: "test.item", Subject: fmt.Sprint(i), Body: []byte("x"), Source: collectors.Source{Query: big}}
				if err := emit.Emit(ctx, a); err != nil {
					return err
				}
			}
			return nil
		}, "over runner.max_pending_bytes (67108864)"},
		{"30 KB subjects", Limits{}, func(ctx context.Context, emit collectors.Emitter) error {
			return emit.Emit(ctx, collectors.Artifact{Type: "test.item", Subject: big, Body: []byte("x")})
		}, "longer than 1024"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testRunner(t)
			r.Limits = tc.limits
			res := r.RunOne(context.Background(), instance("h", hostile(tc.attack)))
			if res.Err == nil || !strings.Contains(res.Err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to name %q", res.Err, tc.want)
			}
			if collectors.IsRetryable(res.Err) {
				t.Errorf("a limit is permanent: retrying would hit it again")
			}
			got := subjects(t, r.Ledger)
			if len(got) < 3 || got[0] != "good-0" || res.Outcome != ledger.OutcomePartial {
				t.Errorf("outcome %s with %d records; want the checkpointed page kept (partial)", res.Outcome, len(got))
			}
			if tc.limits.MaxArtifacts > 0 && len(got) > tc.limits.MaxArtifacts {
				t.Errorf("%d records committed past the quota of %d", len(got), tc.limits.MaxArtifacts)
			}
		})
	}
}
