package runner

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/engine"
	"github.com/tickmark-dev/tickmark/internal/store"
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

// BenchmarkHostileCheckpointedRSS is the same attack by a collector that
// checkpoints every 1,000 artifacts, so every record is committed: 40,000
// records with 30 KB of source text, then pushed to a filesystem store.
// The push reads the outbox in batches bounded by bytes as well as count.
//
//	go test -run '^$' -bench '^BenchmarkHostileCheckpointedRSS$' -benchtime 1x ./internal/runner
func BenchmarkHostileCheckpointedRSS(b *testing.B) {
	stop := sampleAnon()
	big := strings.Repeat("q", 30<<10)
	for i := 0; i < b.N; i++ {
		r := testRunner(b)
		res := r.RunOne(context.Background(), instance("h", func(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
			for j := 0; j < 40_000; j++ {
				a := collectors.Artifact{Type: "test.item", Subject: fmt.Sprint(j), Body: []byte("x"), Source: collectors.Source{Query: big}}
				if err := emit.Emit(ctx, a); err != nil {
					return err
				}
				if (j+1)%1000 == 0 {
					if err := emit.Checkpoint(ctx, fmt.Sprint(j+1)); err != nil {
						return err
					}
				}
			}
			return nil
		}))
		if res.Err != nil || res.Stats.Artifacts != 40_000 {
			b.Fatalf("run: %v, %d artifacts", res.Err, res.Stats.Artifacts)
		}
		st, err := store.OpenFilesystem(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		pr, err := engine.Push(context.Background(), r.Ledger, store.NewBucket(st, ""), engine.PushOptions{})
		if err != nil || pr.Bodies != 40_000 {
			b.Fatalf("push: %+v %v", pr, err)
		}
	}
	b.ReportMetric(maxRSSMiB(), "peak-RSS-MiB")
	b.ReportMetric(stop(), "peak-anon-MiB")
}

// sampleAnon samples RssAnon (/proc/self/status: the process's own
// memory, without the file pages of bbolt's memory map, which the kernel
// can drop at will) every 20 ms; the returned func stops and returns the
// peak in MiB.
func sampleAnon() func() float64 {
	done := make(chan struct{})
	peak := make(chan float64)
	go func() {
		var max float64
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if b, err := os.ReadFile("/proc/self/status"); err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					if f := strings.Fields(line); len(f) >= 2 && f[0] == "RssAnon:" {
						kb, _ := strconv.ParseFloat(f[1], 64)
						max = math.Max(max, kb/1024)
					}
				}
			}
			select {
			case <-done:
				peak <- max
				return
			case <-t.C:
			}
		}
	}()
	return func() float64 { close(done); return <-peak }
}
