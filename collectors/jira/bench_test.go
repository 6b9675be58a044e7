package jira_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/jira/jirafake"
)

// BenchmarkCollect measures a full first run (backfill) against the fake:
// search pages, per-ticket remote links, changelog pages for the long
// histories (every 50th ticket has 50+ transitions).
func BenchmarkCollect(b *testing.B) {
	for _, tc := range []struct {
		deployment string
		n          int
	}{{jirafake.Cloud, 1000}, {jirafake.Cloud, 5000}, {jirafake.DataCenter, 5000}} {
		b.Run(fmt.Sprintf("%s/tickets=%d", tc.deployment, tc.n), func(b *testing.B) {
			b.Setenv("JIRA_TEST_TOKEN", testToken)
			f := newFake(b, jirafake.Options{Deployment: tc.deployment})
			f.Generate(jirafake.GenOptions{N: tc.n, Start: now.Add(-90 * 24 * time.Hour), End: now.Add(-time.Hour), Seed: 1, LongHistoryEvery: 50})
			c := collectortest.Build(b, "jira", config(f.URL, "auto", allQueries))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				res := collectortest.Run(b, c, collectortest.Options{Now: now})
				if res.Err != nil {
					b.Fatal(res.Err)
				}
				if got := len(tickets(b, res.Committed)); got != tc.n {
					b.Fatalf("collected %d tickets, want %d", got, tc.n)
				}
			}
			b.ReportMetric(float64(tc.n*b.N)/b.Elapsed().Seconds(), "tickets/s")
		})
	}
}

// BenchmarkIncremental measures a run from a cursor after 1% of 5,000
// tickets changed: the cost of the every-6h schedule.
func BenchmarkIncremental(b *testing.B) {
	b.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(b, jirafake.Options{})
	keys := f.Generate(jirafake.GenOptions{N: 5000, Start: now.Add(-90 * 24 * time.Hour), End: now.Add(-time.Hour), Seed: 1, LongHistoryEvery: 50})
	c := collectortest.Build(b, "jira", config(f.URL, "cloud", allQueries))
	first := collectortest.Run(b, c, collectortest.Options{Now: now})
	if first.Err != nil {
		b.Fatal(first.Err)
	}
	for i := 0; i < 50; i++ {
		if err := f.Transition(keys[i*100], "Done", jirafake.People[0], now.Add(time.Duration(i)*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res := collectortest.Run(b, c, collectortest.Options{Now: now.Add(time.Hour), Cursor: first.Cursor})
		if res.Err != nil {
			b.Fatal(res.Err)
		}
		if got := len(tickets(b, res.Committed)); got != 50 {
			b.Fatalf("collected %d tickets, want 50", got)
		}
	}
}
