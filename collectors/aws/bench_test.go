package aws_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors/aws/awsfake"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/internal/s3test"
)

func benchCredentials(b *testing.B, akid, secret string) {
	b.Setenv("AWS_ACCESS_KEY_ID", akid)
	b.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	b.Setenv("AWS_CONFIG_FILE", b.TempDir()+"/config")
	b.Setenv("AWS_SHARED_CREDENTIALS_FILE", b.TempDir()+"/credentials")
	b.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// BenchmarkCollectEventsPaced collects 500 events of one name in one region
// (10 LookupEvents pages): the run is bound by the documented 2 calls/s.
func BenchmarkCollectEventsPaced(b *testing.B) {
	f := awsfake.New("111122223333", func() time.Time { return now })
	var evs []awsfake.Event
	for i := 0; i < 500; i++ {
		evs = append(evs, awsfake.Event{EventName: "ConsoleLogin", EventSource: "signin.amazonaws.com", Username: fmt.Sprintf("u%d", i%40), Time: now.Add(-time.Hour - time.Duration(i)*time.Minute)})
	}
	f.AddEvents("us-east-1", evs...)
	url := f.Start()
	defer f.Close()
	benchCredentials(b, "AKIDBENCH", "bench-secret")
	cfg := "regions: [us-east-1]\nendpoint: " + url + "\nevidence: [cloudtrail_events]\nevent_names: [ConsoleLogin]\n"
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		res := collectortest.Run(b, collectortest.Build(b, "aws", cfg), collectortest.Options{Now: now})
		if res.Err != nil || len(res.Committed) != 11 {
			b.Fatalf("err %v, %d artifacts", res.Err, len(res.Committed))
		}
	}
	b.ReportMetric(float64(500*b.N)/time.Since(start).Seconds(), "events/s")
	if v := f.RateViolations(); v != 0 {
		b.Fatalf("%d rate violations", v)
	}
}

// BenchmarkCollectDigestsDay reads and verifies a day of digest files (24)
// of one region from the real S3 server.
func BenchmarkCollectDigestsDay(b *testing.B) {
	srv := s3test.Start(b)
	srv.CreateBucket(b, "trail-bucket", false)
	f := awsfake.NewSample(now)
	u := mustURL(srv.Endpoint)
	f.S3Backend = u
	url := f.Start()
	defer f.Close()
	key := f.AddKey("us-east-1", now.Add(-48*time.Hour), now.Add(time.Hour))
	// end times 2026-11-29T00:00Z .. 23:00Z: one UTC day, one artifact
	dayStart := time.Date(2026, 11, 28, 23, 0, 0, 0, time.UTC)
	chain := f.DigestChain(mainTrail(), "us-east-1", key, dayStart, 24, nil)
	if err := awsfake.Upload(b.Context(), srv.Client(), chain); err != nil {
		b.Fatal(err)
	}
	benchCredentials(b, srv.AccessKey, srv.SecretKey)
	cfg := "regions: [us-east-1]\nendpoint: " + url + "\nevidence: [cloudtrail_digests]\n"
	b.ReportAllocs()
	for b.Loop() {
		res := collectortest.Run(b, collectortest.Build(b, "aws", cfg), collectortest.Options{Now: now, Since: dayStart.Add(-time.Hour)})
		if res.Err != nil || len(res.Committed) != 1 {
			b.Fatalf("err %v, %d artifacts", res.Err, len(res.Committed))
		}
	}
	b.ReportMetric(24, "digests/op")
}

// BenchmarkOrganization collects a whole organisation (every evidence type,
// organisation-trail digests from the log archive, log files all read) at
// growing accounts x regions, one event name so the run measures the
// collector, not the LookupEvents pacing (see docs/benchmarks/aws.md for
// what the pacing adds). peak-heap-MB is sampled every 5 ms and includes
// the in-process fakes.
func BenchmarkOrganization(b *testing.B) {
	for _, sz := range []struct{ accounts, regions int }{{5, 2}, {10, 4}, {25, 4}, {50, 4}} {
		regions := []string{"us-east-1", "eu-west-1", "ap-southeast-2", "af-south-1"}[:sz.regions]
		b.Run(fmt.Sprintf("%dx%d", sz.accounts, sz.regions), func(b *testing.B) {
			e := newOrgEnv(b, sz.accounts, regions, true)
			cfg := e.config("event_names: [ConsoleLogin]\n" + e.archiveConfig())
			b.ReportAllocs()
			var peak uint64
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				var ms runtime.MemStats
				t := time.NewTicker(5 * time.Millisecond)
				defer t.Stop()
				for {
					select {
					case <-stop:
						return
					case <-t.C:
						runtime.ReadMemStats(&ms)
						peak = max(peak, ms.HeapInuse)
					}
				}
			}()
			for b.Loop() {
				res := collectortest.Run(b, collectortest.Build(b, "aws", cfg), collectortest.Options{Now: now, Since: now.Add(-6 * time.Hour), Timeout: 10 * time.Minute})
				if res.Err != nil {
					b.Fatal(res.Err)
				}
				if n := len(statuses(b, res)); n != sz.accounts {
					b.Fatalf("%d accounts collected, want %d", n, sz.accounts)
				}
			}
			close(stop)
			<-done
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/float64(sz.accounts*sz.regions), "ms/account-region")
		})
	}
}
