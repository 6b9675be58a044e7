package okta_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/httpx"
	"github.com/tickmark-dev/tickmark/collectors/okta/oktafake"
)

// discard is an emitter that reads and drops every body, as the engine
// streams it to its spool: the benchmark measures the collector alone.
type discard struct{ bytes atomic.Int64 }

func (d *discard) Emit(_ context.Context, a collectors.Artifact) error {
	n := int64(len(a.Body))
	if a.BodyReader != nil {
		m, err := io.Copy(io.Discard, a.BodyReader)
		if c, ok := a.BodyReader.(io.Closer); ok {
			c.Close()
		}
		if err != nil {
			return err
		}
		n = m
	}
	d.bytes.Add(n)
	return nil
}

func (d *discard) Checkpoint(context.Context, string) error { return nil }

// peakHeap samples the live heap every millisecond until stop is called
// and returns the largest value seen.
func peakHeap() (stop func() uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return peak.Load() }
}

// vmHWM is the process's peak resident set size (Linux), or 0.
func vmHWM() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

// benchLimits are the fake's per-endpoint-family rate limits in the
// benchmark: Okta's shape (one budget per family), scaled to one-second
// windows so a run takes minutes, not hours. The transport must never draw
// a 429 from them.
var benchLimits = map[string]oktafake.Limit{
	"users": {Limit: 20, Window: time.Second}, "users/{id}": {Limit: 1500, Window: time.Second},
	"groups": {Limit: 20, Window: time.Second}, "groups/{id}": {Limit: 200, Window: time.Second},
	"apps": {Limit: 10, Window: time.Second}, "apps/{id}": {Limit: 300, Window: time.Second},
}

// BenchmarkOrgMemory collects okta.users (every user and its factors) and
// okta.app_assignments (300 apps; each user directly assigned to one in 30
// of them, plus group assignments: 233,000 assignments at 20,000 users)
// from fake orgs of 20,000 and 200,000 users. peak-rss-MB must stay flat as
// the org grows (target: 200k/20k < 1.5, each size in its own process);
// 429s must be 0. See docs/benchmarks/okta.md.
func BenchmarkOrgMemory(b *testing.B) {
	for _, n := range []int{20000, 200000} {
		b.Run("users="+strconv.Itoa(n), func(b *testing.B) {
			f := oktafake.New(oktafake.Options{Users: n, Apps: 300, LogEvents: 100, RateLimits: benchLimits})
			u := f.Start()
			defer f.Close()
			b.Setenv("OKTA_TEST_TOKEN", f.Token())
			c := collectortest.Build(b, "okta", config(u, "evidence: [users, app_assignments]", "factor_concurrency: 8"))
			logger := slog.New(slog.NewTextHandler(io.Discard, nil))
			for b.Loop() {
				runtime.GC()
				f.ResetStats()
				em := &discard{}
				tr := httpx.New(nil, logger)
				stop := peakHeap()
				start := time.Now()
				err := c.Collect(context.Background(), collectors.Request{
					Instance: "bench", RunID: "bench", Now: testNow, Since: testNow.Add(-90 * 24 * time.Hour),
					Logger: logger, HTTPClient: tr.Client(time.Minute),
				}, em)
				el := time.Since(start)
				peak := stop()
				if err != nil {
					b.Fatal(err)
				}
				st := f.Stats()
				if st.Throttled != 0 {
					b.Fatalf("%d requests drew a 429 from the per-family limits", st.Throttled)
				}
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
				b.ReportMetric(float64(n)/el.Seconds(), "users/s")
				b.ReportMetric(float64(em.bytes.Load())/(1<<20), "body-MB")
				b.ReportMetric(float64(st.Requests), "requests")
				b.ReportMetric(float64(st.Throttled), "429s")
				b.ReportMetric(float64(tr.Stats().Waits), "budget-waits")
			}
			b.ReportMetric(vmHWM(), "peak-rss-MB")
		})
	}
}
