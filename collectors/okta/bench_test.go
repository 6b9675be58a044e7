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

// BenchmarkUsersMemory collects okta.users (users and their factors) from
// fake orgs of 10,000 and 100,000 users. peak-heap-MB must stay flat as the
// org grows (target: 100k/10k < 2); see docs/benchmarks/okta.md.
func BenchmarkUsersMemory(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run("users="+strconv.Itoa(n), func(b *testing.B) {
			// rate limits high enough that the run measures the collector, not waits
			f := oktafake.New(oktafake.Options{Users: n, LogEvents: 100, RateLimits: map[string]oktafake.Limit{
				"users/{id}": {Limit: 1 << 30, Window: time.Minute}, "users": {Limit: 1 << 30, Window: time.Minute}}})
			u := f.Start()
			defer f.Close()
			b.Setenv("OKTA_TEST_TOKEN", f.Token())
			c := collectortest.Build(b, "okta", config(u, "evidence: [users]", "factor_concurrency: 8"))
			logger := slog.New(slog.NewTextHandler(io.Discard, nil))
			for b.Loop() {
				runtime.GC()
				em := &discard{}
				stop := peakHeap()
				start := time.Now()
				err := c.Collect(context.Background(), collectors.Request{
					Instance: "bench", RunID: "bench", Now: testNow, Since: testNow.Add(-90 * 24 * time.Hour),
					Logger: logger, HTTPClient: httpx.New(nil, logger).Client(time.Minute),
				}, em)
				el := time.Since(start)
				peak := stop()
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
				b.ReportMetric(float64(n)/el.Seconds(), "users/s")
				b.ReportMetric(float64(em.bytes.Load())/(1<<20), "body-MB")
			}
			b.ReportMetric(vmHWM(), "peak-rss-MB")
		})
	}
}
