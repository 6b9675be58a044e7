package schedule

import (
	"fmt"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/ledger"
)

// BenchmarkPlan is the due-ness check of `run --once --due` for 200
// collectors, each with 200 recorded runs, read from a real ledger.
func BenchmarkPlan(b *testing.B) {
	l, err := ledger.Open(b.TempDir(), "bench", ledger.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	specs := []string{"@every 6h", "0 */6 * * *", "@hourly", "@daily", "*/15 * * * *"}
	var ccs []*config.CollectorConfig
	for i := 0; i < 200; i++ {
		name := fmt.Sprintf("c%03d", i)
		ccs = append(ccs, &config.CollectorConfig{Name: name, Schedule: specs[i%len(specs)]})
		for j := 0; j < 200; j++ {
			if err := l.RecordRun(&ledger.Run{Collector: name, Started: now.Add(-time.Duration(j) * time.Hour), Outcome: ledger.OutcomeSuccess}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for b.Loop() {
		due, notDue, err := Plan(ccs, LedgerRuns{l}, now)
		if err != nil || len(due)+len(notDue) != 200 {
			b.Fatal(err)
		}
	}
}

// BenchmarkDue is the pure decision.
func BenchmarkDue(b *testing.B) {
	s, _ := Parse("0 */6 * * *")
	last := time.Date(2026, 11, 30, 6, 0, 3, 0, time.UTC)
	now := last.Add(5 * time.Hour)
	for b.Loop() {
		Due(s, last, now)
	}
}
