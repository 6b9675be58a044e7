package metrics

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/runner"
)

// backlogLedger commits n records whose bodies all wait in the outbox, and
// signs a checkpoint: the worst case for a scrape (a store down for days).
func backlogLedger(b *testing.B, n int) *ledger.Ledger {
	b.Helper()
	dir := b.TempDir()
	l, err := ledger.Open(dir, "bench", ledger.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	seg, err := l.NewSegment()
	if err != nil {
		b.Fatal(err)
	}
	defer seg.Close()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var pend []ledger.Pending
	for i := 0; i < n; i++ {
		body := []byte(fmt.Sprintf(`{"item":%d}`, i))
		loc, sum, err := seg.WriteBytes(body)
		if err != nil {
			b.Fatal(err)
		}
		pend = append(pend, ledger.Pending{Loc: loc, Record: evidence.Record{V: 1, Agent: "bench", Collector: "gen", CollectorType: "exec", RunID: "r",
			Type: "test.item", Subject: fmt.Sprintf("item-%d", i), Controls: []string{"CC7.2"}, CollectedAt: base.Add(time.Duration(i) * time.Second),
			ContentType: "application/json", Size: int64(len(body)), SHA256: fmt.Sprintf("%x", sum)}})
		if len(pend) == 10000 || i == n-1 {
			if _, err := l.Commit(context.Background(), &ledger.Commit{Records: pend, Segment: seg}); err != nil {
				b.Fatal(err)
			}
			pend = nil
		}
	}
	k, err := ledger.GenerateKey(filepath.Join(dir, "key"), l.OriginLine())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := l.Sign(k); err != nil {
		b.Fatal(err)
	}
	return l
}

// BenchmarkScrape is one /metrics scrape of an agent with 50 collectors and
// a ledger of n records, all in the outbox.
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("backlog=%d", n), func(b *testing.B) {
			l := backlogLedger(b, n)
			m := New(Options{Ledger: l})
			st := &runner.Stats{ByType: map[string]int{"a.b": 10, "a.c": 5}, BytesType: map[string]int64{"a.b": 1e4, "a.c": 5e3}}
			for i := 0; i < 50; i++ {
				name := fmt.Sprintf("collector-%02d", i)
				m.Init(name, "exec", time.Time{}, time.Time{})
				m.Observe(runner.Result{Collector: name, Type: "exec", Outcome: ledger.OutcomeSuccess, Started: time.Now(), Finished: time.Now(), Stats: st})
			}
			h := m.Handler()
			b.ResetTimer()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
				if rec.Code != 200 {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}

// BenchmarkObserve is the per-run cost runner.Observe adds.
func BenchmarkObserve(b *testing.B) {
	m := New(Options{})
	st := &runner.Stats{ByType: map[string]int{"okta.users": 10, "okta.groups": 5}, BytesType: map[string]int64{"okta.users": 1e6, "okta.groups": 5e4}}
	t0 := time.Now()
	r := runner.Result{Collector: "okta-prod", Type: "okta", Outcome: ledger.OutcomeSuccess, Started: t0, Finished: t0.Add(time.Minute), Stats: st}
	for b.Loop() {
		m.Observe(r)
	}
}
