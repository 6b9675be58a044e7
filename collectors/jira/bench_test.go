package jira_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/httpx"
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

// discard is an Emitter that keeps nothing and samples the live heap at
// each page, to show the collector's memory does not grow with the
// number of tickets.
type discard struct {
	peak  uint64
	items int
}

func (d *discard) Emit(_ context.Context, a collectors.Artifact) error {
	d.items += a.Source.Items
	runtime.GC() // live heap only: the page being emitted is still referenced
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	d.peak = max(d.peak, ms.HeapAlloc)
	return nil
}

func (d *discard) Checkpoint(context.Context, string) error { return nil }

// BenchmarkPeakHeap reports the peak live heap while collecting 1,000
// and 10,000 tickets with an emitter that keeps nothing: it should stay
// flat (one page in flight), apart from the fake's own ticket store.
func BenchmarkPeakHeap(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("tickets=%d", n), func(b *testing.B) {
			b.Setenv("JIRA_TEST_TOKEN", testToken)
			f := newFake(b, jirafake.Options{})
			f.Generate(jirafake.GenOptions{N: n, Start: now.Add(-90 * 24 * time.Hour), End: now.Add(-time.Hour), Seed: 1, LongHistoryEvery: 50})
			c := collectortest.Build(b, "jira", config(f.URL, "cloud", "remote_links: false\n"+allQueries))
			runtime.GC()
			var base runtime.MemStats
			runtime.ReadMemStats(&base)
			b.ResetTimer()
			var peak uint64
			for i := 0; i < b.N; i++ {
				d := &discard{}
				err := c.Collect(context.Background(), collectors.Request{
					Instance: "bench", Since: now.Add(-90 * 24 * time.Hour), Now: now,
					Logger: slog.New(slog.DiscardHandler), HTTPClient: httpx.New(nil, nil).Client(time.Minute),
				}, d)
				if err != nil {
					b.Fatal(err)
				}
				if d.items != n {
					b.Fatalf("collected %d tickets, want %d", d.items, n)
				}
				peak = max(peak, d.peak)
			}
			b.ReportMetric(float64(peak-min(peak, base.HeapAlloc))/(1<<20), "live-heap-MB-over-baseline")
		})
	}
}
