package runner

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tickmark-dev/tickmark/collectors"
)

// BenchmarkHostilePendingRSS is the memory attack of issue 22: 40,000
// artifacts with 30 KB of text each (in the source query: subjects are now
// capped at 1 KiB), never checkpointed. Before byte limits this held every
// record in memory (8.5 GB RSS with 30 KB subjects); now the run ends at
// runner.max_pending_bytes. Run it alone so peak-RSS-MiB is this attack's:
//
//	go test -run '^$' -bench '^BenchmarkHostilePendingRSS$' -benchtime 1x ./internal/runner
func BenchmarkHostilePendingRSS(b *testing.B) {
	big := strings.Repeat("q", 30<<10)
	for i := 0; i < b.N; i++ {
		r := testRunner(b)
		emitted := 0
		res := r.RunOne(context.Background(), instance("h", func(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
			for j := 0; j < 40_000; j++ {
				a := collectors.Artifact{Type: "test.item", Subject: fmt.Sprint(j), Body: []byte("x"), Source: collectors.Source{Query: big}}
				if err := emit.Emit(ctx, a); err != nil {
					return err
				}
				emitted++
			}
			return nil
		}))
		if res.Err == nil || !strings.Contains(res.Err.Error(), "runner.max_pending_bytes") {
			b.Fatalf("the attack was not stopped: %v", res.Err)
		}
		b.ReportMetric(float64(emitted), "accepted")
	}
	b.ReportMetric(maxRSSMiB(), "peak-RSS-MiB")
}

// BenchmarkHostileSubjectsRSS is the attack as the review ran it: 40,000
// artifacts with 30 KB subjects. The first is refused by the name rule.
func BenchmarkHostileSubjectsRSS(b *testing.B) {
	big := strings.Repeat("s", 30<<10)
	for i := 0; i < b.N; i++ {
		r := testRunner(b)
		res := r.RunOne(context.Background(), instance("h", func(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
			for j := 0; j < 40_000; j++ {
				if err := emit.Emit(ctx, collectors.Artifact{Type: "test.item", Subject: big + fmt.Sprint(j), Body: []byte("x")}); err != nil {
					return err
				}
			}
			return nil
		}))
		if res.Err == nil {
			b.Fatal("the attack was not stopped")
		}
	}
	b.ReportMetric(maxRSSMiB(), "peak-RSS-MiB")
}
