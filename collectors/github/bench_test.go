package github

import (
	"fmt"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/github/ghfake"
)

// appLimitPerHour is GitHub's published primary limit for a GitHub App
// installation on an organisation with 1,000 repositories: 5,000 requests
// an hour plus 50 per repository beyond 20, capped at 12,500 (15,000 on
// GitHub Enterprise Cloud). 304 answers to conditional requests do not
// count against it.
const appLimitPerHour = 12_500

// BenchmarkCollect measures one run against a fake organisation with 10
// pull requests merged per repository in the window and one direct push
// per five repositories: a first run (full 90-day backfill) and a run over
// unchanged data from the first run's cursor. Metrics: API calls per
// repository, the share answered 304, the calls that count against the
// primary limit, and the hours those take at the App installation limit
// (the limit binds long before latency does: 8 requests in flight at
// ~300 ms each would be ~96,000 an hour). ns/op is the run's wall time
// against the in-process fake.
//
//	go test -run '^$' -bench Collect -benchtime 1x ./collectors/github/
func BenchmarkCollect(b *testing.B) {
	for _, repos := range []int{200, 1000} {
		srv, _ := newFake(b, ghfake.Options{Repos: repos, MergedPerRepo: 10, DirectPushes: repos / 5})
		srv.SetLimits(100, 0, 10_000_000) // GitHub's documented concurrency cap; a budget no run exhausts
		cfg := cfgFor(srv, "")
		first := collectortest.Run(b, collectortest.Build(b, "github", cfg), collectortest.Options{Now: now, Timeout: 30 * time.Minute})
		if first.Err != nil {
			b.Fatal(first.Err)
		}
		for _, mode := range []struct {
			name   string
			cursor string
		}{{"first-run", ""}, {"unchanged-rerun", first.Cursor}} {
			b.Run(fmt.Sprintf("%s/repos=%d", mode.name, repos), func(b *testing.B) {
				var calls, notModified, arts int
				for i := 0; i < b.N; i++ {
					srv.ResetStats()
					res := collectortest.Run(b, collectortest.Build(b, "github", cfg), collectortest.Options{Now: now, Cursor: mode.cursor, Timeout: 30 * time.Minute})
					if res.Err != nil {
						b.Fatal(res.Err)
					}
					st := srv.Stats()
					calls += st.Requests
					notModified += st.NotModified
					arts += len(res.Committed)
				}
				n := float64(b.N)
				billable := float64(calls-notModified) / n
				b.ReportMetric(float64(calls)/n/float64(repos), "calls/repo")
				b.ReportMetric(100*float64(notModified)/float64(calls), "%304")
				b.ReportMetric(billable, "billable-calls/run")
				b.ReportMetric(billable/appLimitPerHour, "hours-at-app-limit")
				b.ReportMetric(float64(arts)/n, "artifacts/run")
				b.ReportMetric(float64(len(first.Cursor)), "cursor-bytes")
			})
		}
	}
}
