package storeview_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/engine"
	"github.com/tickmark-dev/tickmark/internal/s3test"
	"github.com/tickmark-dev/tickmark/internal/store"
)

// Benchmarks against the real test S3 server (versitygw on 127.0.0.1).
// See docs/benchmarks/s3.md for how to run them and the numbers measured.

const (
	benchArtifacts   = 10000
	benchConcurrency = 8
	benchBodySize    = 512
)

func benchS3Config(b testing.TB, srv *s3test.Server, bucket string) store.Config {
	b.Setenv("BENCH_S3_ACCESS", srv.AccessKey)
	b.Setenv("BENCH_S3_SECRET", srv.SecretKey)
	id, _ := collectors.NewSecret("env:BENCH_S3_ACCESS")
	sec, _ := collectors.NewSecret("env:BENCH_S3_SECRET")
	return store.Config{Type: "s3", Bucket: bucket, Prefix: "soc2/", Region: srv.Region, Endpoint: srv.Endpoint, PathStyle: true,
		AccessKeyID: &id, SecretAccessKey: &sec, ObjectLock: &store.ObjectLock{Mode: "COMPLIANCE", RetainDays: 1}}
}

// BenchmarkS3Push10k pushes 10,000 small artifacts (one control each) from
// the ledger's outbox to the S3 store with concurrency 8 (write-once with
// If-None-Match, SHA-256 checksum, COMPLIANCE retention, then the log tiles
// and the checkpoint), and in the same iteration runs a plain aws-sdk-go-v2
// PutObject loop over the same bodies with the same concurrency, and the
// same loop sending tickmark's headers. Running them side by side in each
// iteration keeps a busy machine's drift out of the ratio.
//
// Metrics: plain-artifacts/s, headers-artifacts/s, tickmark-artifacts/s and
// tickmark-vs-plain-% (the acceptance target is >= 80).
func BenchmarkS3Push10k(b *testing.B) {
	srv := s3test.Start(b)
	bodies := make([][]byte, benchArtifacts)
	for i := range bodies {
		bodies[i] = []byte(fmt.Sprintf(`{"item":%d,"pad":%q}`, i, strings.Repeat("x", benchBodySize-24)))
	}
	until := time.Now().Add(24 * time.Hour)
	var plain, headers, tm float64
	for i := 0; i < b.N; i++ {
		plain += plainLoop(b, srv, bodies, fmt.Sprintf("plain-%d", i), func(bucket, key string, body []byte) *s3.PutObjectInput {
			return &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}
		})
		headers += plainLoop(b, srv, bodies, fmt.Sprintf("headers-%d", i), func(bucket, key string, body []byte) *s3.PutObjectInput {
			sum := sha256.Sum256(body)
			return &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
				ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:])), IfNoneMatch: aws.String("*"),
				ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: &until}
		})
		tm += tickmarkPush(b, srv, fmt.Sprintf("push-%d", i))
	}
	n := float64(b.N)
	b.ReportMetric(plain/n, "plain-artifacts/s")
	b.ReportMetric(headers/n, "headers-artifacts/s")
	b.ReportMetric(tm/n, "tickmark-artifacts/s")
	b.ReportMetric(100*tm/plain, "tickmark-vs-plain-%")
	b.ReportMetric(0, "ns/op")
}

// plainLoop PUTs every body into a new bucket with an errgroup of
// benchConcurrency and returns the rate.
func plainLoop(b testing.TB, srv *s3test.Server, bodies [][]byte, bucket string, in func(bucket, key string, body []byte) *s3.PutObjectInput) float64 {
	srv.CreateBucket(b, bucket, true)
	c := srv.Client()
	start := time.Now()
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(benchConcurrency)
	for j, body := range bodies {
		g.Go(func() error {
			_, err := c.PutObject(ctx, in(bucket, fmt.Sprintf("soc2/plain/%06d.json", j), body))
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	return float64(len(bodies)) / time.Since(start).Seconds()
}

// tickmarkPush commits benchArtifacts records to a new ledger and times
// the push into a new bucket.
func tickmarkPush(b *testing.B, srv *s3test.Server, bucket string) float64 {
	srv.CreateBucket(b, bucket, true)
	a := newAgent(b, "bench")
	a.controls = []string{"CC7.2"}
	a.commit(b, benchArtifacts, benchBodySize)
	st, err := store.OpenS3(context.Background(), benchS3Config(b, srv, bucket), store.S3Options{})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	res, err := engine.Push(context.Background(), a.l, store.NewBucket(st, "soc2/"), engine.PushOptions{Concurrency: benchConcurrency})
	if err != nil || res.Bodies != benchArtifacts {
		b.Fatal(err, res)
	}
	return float64(benchArtifacts) / time.Since(start).Seconds()
}

// BenchmarkS3Upload1GiB uploads a 1 GiB artifact (multipart, per-part
// SHA-256) from a file, as the spool holds it, in a child process, and
// reports the child's peak RSS.
func BenchmarkS3Upload1GiB(b *testing.B) {
	const size = 1 << 30
	dir := b.TempDir()
	path := filepath.Join(dir, "body")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	h := sha256.New()
	chunk := make([]byte, 1<<20)
	for i := 0; i < size/len(chunk); i++ {
		for j := range chunk {
			chunk[j] = byte(i + j*31)
		}
		f.Write(chunk)
		h.Write(chunk)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	srv := s3test.Start(b)
	srv.CreateBucket(b, "big", true)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestS3UploadChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "TICKMARK_UPLOAD_CHILD=1", "UP_ENDPOINT="+srv.Endpoint, "UP_ACCESS="+srv.AccessKey, "UP_SECRET="+srv.SecretKey,
			"UP_FILE="+path, "UP_SUM="+sum, fmt.Sprintf("UP_KEY=soc2/big/%d.bin", i))
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("child: %v\n%s", err, out)
		}
		var rssKiB, secs float64
		for _, line := range strings.Split(string(out), "\n") {
			if rest, ok := strings.CutPrefix(line, "maxrss_kib="); ok {
				fields := strings.Fields(rest)
				rssKiB, _ = strconv.ParseFloat(fields[0], 64)
				secs, _ = strconv.ParseFloat(strings.TrimPrefix(fields[1], "seconds="), 64)
			}
		}
		if rssKiB == 0 {
			b.Fatalf("child reported no RSS:\n%s", out)
		}
		b.ReportMetric(rssKiB/1024, "peak-RSS-MiB")
		b.ReportMetric(float64(size)/(1<<20)/secs, "MiB/s")
	}
}

// TestS3UploadChild is the child process of BenchmarkS3Upload1GiB; run on
// its own it has nothing to do and passes.
func TestS3UploadChild(t *testing.T) {
	if os.Getenv("TICKMARK_UPLOAD_CHILD") != "1" {
		return
	}
	os.Setenv("UP_A", os.Getenv("UP_ACCESS"))
	os.Setenv("UP_S", os.Getenv("UP_SECRET"))
	id, _ := collectors.NewSecret("env:UP_A")
	sec, _ := collectors.NewSecret("env:UP_S")
	cfg := store.Config{Type: "s3", Bucket: "big", Prefix: "soc2/", Region: "us-east-1", Endpoint: os.Getenv("UP_ENDPOINT"), PathStyle: true,
		AccessKeyID: &id, SecretAccessKey: &sec, ObjectLock: &store.ObjectLock{Mode: "COMPLIANCE", RetainDays: 1}}
	st, err := store.OpenS3(context.Background(), cfg, store.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(os.Getenv("UP_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	var sum [32]byte
	raw, _ := hex.DecodeString(os.Getenv("UP_SUM"))
	copy(sum[:], raw)
	start := time.Now()
	var body io.Reader = io.NewSectionReader(f, 0, fi.Size())
	if err := st.Put(context.Background(), os.Getenv("UP_KEY"), body, fi.Size(), sum); err != nil {
		t.Fatal(err)
	}
	secs := time.Since(start).Seconds()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("maxrss_kib=%d seconds=%f\n", ru.Maxrss, secs)
}
