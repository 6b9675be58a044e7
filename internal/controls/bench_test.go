package controls_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/controls"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
)

// bigLedger commits n records spread evenly over a year across ten
// evidence types, with a run per collector per day, through ledger.Commit
// in batches (as the runner's group commit does).
func bigLedger(tb testing.TB, n int) *ledger.Ledger {
	tb.Helper()
	l, err := ledger.Open(tb.TempDir(), "bench", ledger.Options{NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	types := []string{"okta.users", "okta.groups", "okta.system_log", "github.pull_requests", "github.org_members",
		"jira.change_tickets", "jira.incidents", "aws.cloudtrail.events", "aws.cloudtrail.trails", "custom.backup_jobs"}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	step := 365 * 24 * time.Hour / time.Duration(n)
	const batch = 10000
	sum := fmt.Sprintf("%064x", 1)
	ctx := context.Background()
	for i := 0; i < n; i += batch {
		c := &ledger.Commit{}
		for j := i; j < min(i+batch, n); j++ {
			t := types[j%len(types)]
			c.Records = append(c.Records, ledger.Pending{Record: evidence.Record{V: evidence.Version, Agent: "bench", Collector: "c-" + t, CollectorType: "x", RunID: "r",
				Type: t, Subject: "s", Controls: []string{"CC6.1"}, CollectedAt: start.Add(time.Duration(j) * step),
				Source: collectors.Source{System: "x"}, ContentType: "application/json", Size: 10, SHA256: sum}})
		}
		if _, err := l.Commit(ctx, c); err != nil {
			tb.Fatal(err)
		}
	}
	for d := 0; d < 365; d++ {
		for _, t := range types {
			outcome := ledger.OutcomeSuccess
			if d%50 == 7 {
				outcome = ledger.OutcomeFailed
			}
			s := start.AddDate(0, 0, d).Add(time.Hour)
			if err := l.RecordRun(&ledger.Run{Collector: "c-" + t, CollectorType: "x", RunID: fmt.Sprint(d), Started: s, Finished: s.Add(time.Minute),
				Outcome: outcome, EvidenceTypes: []string{t}}); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return l
}

// BenchmarkCoverage1M: the default control set (26 controls) over twelve
// months of a ledger holding 1,000,000 records. Target: under 2 s.
func BenchmarkCoverage1M(b *testing.B) {
	l := bigLedger(b, 1_000_000)
	set, err := controls.Load("")
	if err != nil {
		b.Fatal(err)
	}
	src := &readmodel.Ledger{L: l}
	o := controls.Options{From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), Now: time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)}
	b.ResetTimer()
	for b.Loop() {
		rep, err := controls.Coverage(src, set, o)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Controls[0].Counts == nil {
			b.Fatal("empty report")
		}
	}
}
