package storeview_test

import (
	"context"
	"crypto/sha256"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/tickmark-dev/tickmark/internal/engine"
	"github.com/tickmark-dev/tickmark/internal/s3test"
	"github.com/tickmark-dev/tickmark/internal/store"
	"github.com/tickmark-dev/tickmark/internal/storeview"
	"github.com/tickmark-dev/tickmark/internal/verify"
)

// BenchmarkS3VerifyFromStore20k measures `verify --from-store` over the
// real test S3 server: 20,000 evidence bodies (one control each) re-hashed
// with concurrency 8 after the log is read and authenticated, against a
// plain aws-sdk-go-v2 loop of GetObject + SHA-256 over the same keys at
// the same concurrency, side by side in each iteration.
//
// Metrics: plain-bodies/s, tickmark-bodies/s and tickmark-vs-plain-% (the
// acceptance target is >= 80). See docs/benchmarks/s3.md.
func BenchmarkS3VerifyFromStore20k(b *testing.B) {
	const n = 20000
	srv := s3test.Start(b)
	bucket := "verify20k"
	srv.CreateBucket(b, bucket, true)
	a := newAgent(b, "bench")
	a.controls = []string{"CC7.2"}
	a.commit(b, n, benchBodySize)
	ctx := context.Background()
	st, err := store.OpenS3(ctx, benchS3Config(b, srv, bucket), store.S3Options{})
	if err != nil {
		b.Fatal(err)
	}
	layout := store.NewBucket(st, "soc2/")
	if res, err := engine.Push(ctx, a.l, layout, engine.PushOptions{Concurrency: benchConcurrency}); err != nil || res.Bodies != n {
		b.Fatal(err, res)
	}
	var keys []string
	if err := layout.ListEvidence(ctx, func(k string, _ store.EvidenceName, _ bool) error { keys = append(keys, k); return nil }); err != nil || len(keys) != n {
		b.Fatal(err, len(keys))
	}
	c := srv.Client()
	v := &storeview.View{Bucket: layout, Concurrency: benchConcurrency}
	b.ResetTimer()
	var plain, tm float64
	for i := 0; i < b.N; i++ {
		start := time.Now()
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(benchConcurrency)
		for _, k := range keys {
			g.Go(func() error {
				out, err := c.GetObject(gctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
				if err != nil {
					return err
				}
				defer out.Body.Close()
				h := sha256.New()
				_, err = io.Copy(h, out.Body)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		plain += n / time.Since(start).Seconds()

		start = time.Now()
		rep, err := v.VerifyAgent(ctx, "bench", verify.Options{})
		if err != nil || !rep.OK || rep.BodiesChecked != n {
			b.Fatalf("verify: %v, %d bodies, %s", err, rep.BodiesChecked, problems(rep))
		}
		tm += n / time.Since(start).Seconds()
	}
	b.ReportMetric(plain/float64(b.N), "plain-bodies/s")
	b.ReportMetric(tm/float64(b.N), "tickmark-bodies/s")
	b.ReportMetric(100*tm/plain, "tickmark-vs-plain-%")
	b.ReportMetric(0, "ns/op")
}
