package github

import (
	"fmt"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/github/ghfake"
)

// BenchmarkCollect200Repos measures one run against a 200-repository fake
// organisation with 2,000 pull requests merged in the window: a first run
// (full backfill) and a run over unchanged data from the first run's
// cursor. Metrics: API calls per run, 304 answers per run, artifacts per
// run and the cursor's size; ns/op is the wall time of a run.
//
//	go test -run '^$' -bench Collect200Repos -benchtime 3x ./collectors/github/
func BenchmarkCollect200Repos(b *testing.B) {
	for _, latency := range []time.Duration{0, 5 * time.Millisecond} {
		srv, _ := newFake(b, ghfake.Options{Repos: 200, MergedPerRepo: 10})
		srv.SetLimits(100, 0, 1_000_000) // GitHub's documented concurrency cap; a budget no run exhausts
		srv.SetLatency(latency)
		cfg := cfgFor(srv, "")
		first := collectortest.Run(b, collectortest.Build(b, "github", cfg), collectortest.Options{Now: now})
		if first.Err != nil {
			b.Fatal(first.Err)
		}
		for _, mode := range []struct {
			name   string
			cursor string
		}{{"first-run", ""}, {"unchanged-rerun", first.Cursor}} {
			b.Run(fmt.Sprintf("%s/latency=%s", mode.name, latency), func(b *testing.B) {
				var calls, notModified, arts int
				for i := 0; i < b.N; i++ {
					srv.ResetStats()
					res := collectortest.Run(b, collectortest.Build(b, "github", cfg), collectortest.Options{Now: now, Cursor: mode.cursor})
					if res.Err != nil {
						b.Fatal(res.Err)
					}
					st := srv.Stats()
					calls += st.Requests
					notModified += st.NotModified
					arts += len(res.Committed)
				}
				b.ReportMetric(float64(calls)/float64(b.N), "calls/run")
				b.ReportMetric(float64(notModified)/float64(b.N), "304s/run")
				b.ReportMetric(float64(arts)/float64(b.N), "artifacts/run")
				b.ReportMetric(float64(len(first.Cursor)), "cursor-bytes")
			})
		}
	}
}
