package http_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/http/httpfake"
)

type countBytes struct{ pages, bytes int }

func (c *countBytes) Emit(_ context.Context, a collectors.Artifact) error {
	c.pages++
	c.bytes += len(a.Body)
	return nil
}
func (c *countBytes) Checkpoint(context.Context, string) error { return nil }

// BenchmarkCollectLinkPages collects 2,000 jobs from the fake API, 100 to a
// page (20 pages of ~25 KiB), through the rate-limit-aware transport.
func BenchmarkCollectLinkPages(b *testing.B) {
	b.Setenv("HTTP_TEST_TOKEN", creds.Token)
	srv := httpfake.New(creds, 2000)
	defer srv.Close()
	c := collectortest.Build(b, "http", "requests:\n  - evidence_type: custom.backup_jobs\n    url: "+srv.URL+"/api/v1/jobs?per_page=100\n    auth: {bearer: env:HTTP_TEST_TOKEN}\n    pagination: {style: link}\n    select: data\n")
	sl := &sleeps{}
	req := collectors.Request{Now: time.Now(), HTTPClient: sl.client(), Logger: discardLogger}
	var last countBytes
	b.ReportAllocs()
	for b.Loop() {
		last = countBytes{}
		if err := c.Collect(context.Background(), req, &last); err != nil {
			b.Fatal(err)
		}
	}
	if last.pages != 20 {
		b.Fatalf("%d pages", last.pages)
	}
	b.SetBytes(int64(last.bytes))
	b.ReportMetric(float64(last.pages)*float64(b.N)/b.Elapsed().Seconds(), "pages/s")
}

var discardLogger = slog.New(slog.DiscardHandler)
