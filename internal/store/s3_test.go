package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/s3test"
	"github.com/tickmark-dev/tickmark/internal/store"
)

// s3Config points a store config at the test server.
func s3Config(t testing.TB, srv *s3test.Server, bucket string, lock bool) store.Config {
	t.Helper()
	t.Setenv("TEST_S3_ACCESS", srv.AccessKey)
	t.Setenv("TEST_S3_SECRET", srv.SecretKey)
	id, err := collectors.NewSecret("env:TEST_S3_ACCESS")
	if err != nil {
		t.Fatal(err)
	}
	sec, err := collectors.NewSecret("env:TEST_S3_SECRET")
	if err != nil {
		t.Fatal(err)
	}
	cfg := store.Config{Type: "s3", Bucket: bucket, Prefix: "soc2/", Region: srv.Region, Endpoint: srv.Endpoint, PathStyle: true,
		AccessKeyID: &id, SecretAccessKey: &sec}
	if lock {
		cfg.ObjectLock = &store.ObjectLock{Mode: "COMPLIANCE", RetainDays: 400}
	}
	return cfg
}

func openS3(t testing.TB, cfg store.Config, o store.S3Options) *store.S3 {
	t.Helper()
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 200 * time.Millisecond
	}
	st, err := store.OpenS3(context.Background(), cfg, o)
	if err != nil {
		t.Fatalf("OpenS3: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func put(t testing.TB, st store.Store, key string, body []byte) error {
	t.Helper()
	return st.Put(context.Background(), key, bytes.NewReader(body), int64(len(body)), sha256.Sum256(body))
}

func versions(t testing.TB, c *s3.Client, bucket, key string) []types.ObjectVersion {
	t.Helper()
	out, err := c.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	if err != nil {
		t.Fatalf("ListObjectVersions: %v", err)
	}
	var vs []types.ObjectVersion
	for _, v := range out.Versions {
		if aws.ToString(v.Key) == key {
			vs = append(vs, v)
		}
	}
	return vs
}

func TestS3PutWritesOnceWithChecksumAndRetention(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "evidence", true)
	var logs bytes.Buffer
	st := openS3(t, s3Config(t, srv, "evidence", true), store.S3Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := context.Background()
	body := []byte(`{"users":[{"id":"00u1","status":"ACTIVE"}]}`)
	key := "soc2/controls/CC6.1/2026/11/30/okta.users/prod-1-000000000000-0123abcd.json"
	if err := put(t, st, key, body); err != nil {
		t.Fatalf("first Put: %v", err)
	}
	if !strings.Contains(logs.String(), "honours If-None-Match") {
		t.Errorf("the conditional-write probe was not logged as honoured: %s", logs.String())
	}

	// The server verified and kept the SHA-256 the ledger computed.
	c := srv.Client()
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("evidence"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if got, want := aws.ToString(h.ChecksumSHA256), base64.StdEncoding.EncodeToString(sum[:]); got != want {
		t.Errorf("checksum = %q, want %q", got, want)
	}
	if h.ObjectLockMode != types.ObjectLockModeCompliance {
		t.Errorf("lock mode = %q, want COMPLIANCE", h.ObjectLockMode)
	}
	if h.ObjectLockRetainUntilDate == nil || time.Until(*h.ObjectLockRetainUntilDate) < 399*24*time.Hour {
		t.Errorf("retain until = %v, want about 400 days from now", h.ObjectLockRetainUntilDate)
	}

	// Same bytes again: success, nothing written.
	if err := put(t, st, key, body); err != nil {
		t.Fatalf("second Put of the same bytes: %v", err)
	}
	// Other bytes: refused.
	err = put(t, st, key, []byte(`{"users":[]}`))
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Put of other bytes = %v, want ErrConflict", err)
	}
	if vs := versions(t, c, "evidence", key); len(vs) != 1 {
		t.Errorf("%d versions of %s, want exactly 1", len(vs), key)
	}
	got, err := store.ReadAll(ctx, st, key)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("Get = %q, %v; want the first body", got, err)
	}

	// Deleting the locked version fails; so does a raw overwrite attempt
	// leaving the original version gone.
	vs := versions(t, c, "evidence", key)
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("evidence"), Key: aws.String(key), VersionId: vs[0].VersionId})
	if err == nil {
		t.Fatal("deleting a COMPLIANCE-locked object version succeeded")
	}
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("evidence"), Key: aws.String(key), VersionId: vs[0].VersionId, BypassGovernanceRetention: aws.Bool(true)})
	if err == nil {
		t.Fatal("deleting a COMPLIANCE-locked object version with BypassGovernanceRetention succeeded")
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("evidence"), Key: aws.String(key), Body: strings.NewReader("tampered"), IfNoneMatch: aws.String("*")})
	if err == nil {
		t.Fatal("a conditional overwrite of an existing object succeeded")
	}
	old, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("evidence"), Key: aws.String(key), VersionId: vs[0].VersionId})
	if err != nil {
		t.Fatalf("the locked version is gone: %v", err)
	}
	b, _ := io.ReadAll(old.Body)
	old.Body.Close()
	if !bytes.Equal(b, body) {
		t.Fatalf("locked version now holds %q", b)
	}
}

func TestS3MultipartStreamsLargeBodies(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "evidence", true)
	st := openS3(t, s3Config(t, srv, "evidence", true), store.S3Options{PartSize: 5 << 20, MultipartThreshold: 5 << 20, PartConcurrency: 2})
	ctx := context.Background()
	body := make([]byte, 12<<20+12345)
	for i := range body {
		body[i] = byte(i*7 + i/4096)
	}
	sum := sha256.Sum256(body)
	path := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	// From a file section (re-readable, like the spool) ...
	if err := st.Put(ctx, "soc2/big/a.bin", io.NewSectionReader(f, 0, int64(len(body))), int64(len(body)), sum); err != nil {
		t.Fatalf("multipart Put from a file: %v", err)
	}
	// ... and from a plain stream.
	if err := st.Put(ctx, "soc2/big/b.bin", io.MultiReader(bytes.NewReader(body)), int64(len(body)), sum); err != nil {
		t.Fatalf("multipart Put from a stream: %v", err)
	}
	for _, k := range []string{"soc2/big/a.bin", "soc2/big/b.bin"} {
		got, err := store.ReadAll(ctx, st, k)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("%s: read back %d bytes (%v), want the %d-byte body", k, len(got), err, len(body))
		}
		h, err := srv.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("evidence"), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		if h.ObjectLockMode != types.ObjectLockModeCompliance {
			t.Errorf("%s: lock mode %q, want COMPLIANCE", k, h.ObjectLockMode)
		}
	}
	// A re-push of the same large body succeeds without a second version;
	// other content under the key is a conflict.
	if err := st.Put(ctx, "soc2/big/a.bin", bytes.NewReader(body), int64(len(body)), sum); err != nil {
		t.Fatalf("re-push: %v", err)
	}
	if vs := versions(t, srv.Client(), "evidence", "soc2/big/a.bin"); len(vs) != 1 {
		t.Errorf("%d versions after a re-push, want 1", len(vs))
	}
	other := bytes.Clone(body)
	other[len(other)-1] ^= 1
	if err := st.Put(ctx, "soc2/big/a.bin", bytes.NewReader(other), int64(len(other)), sha256.Sum256(other)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("multipart Put of other bytes = %v, want ErrConflict", err)
	}
	// A body that does not match its sum is never completed.
	if err := st.Put(ctx, "soc2/big/c.bin", bytes.NewReader(other), int64(len(other)), sum); err == nil {
		t.Fatal("multipart Put with a wrong SHA-256 succeeded")
	}
	if _, err := st.Get(ctx, "soc2/big/c.bin"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after a rejected multipart Put, Get = %v, want ErrNotFound", err)
	}
}

func TestS3HeadBeforePutFallback(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "evidence", true)
	st := openS3(t, s3Config(t, srv, "evidence", true), store.S3Options{ConditionalWrites: "head"})
	key := "soc2/controls/CC7.2/k.json"
	if err := put(t, st, key, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := put(t, st, key, []byte("one")); err != nil {
		t.Fatalf("same bytes again: %v", err)
	}
	if err := put(t, st, key, []byte("two")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("other bytes = %v, want ErrConflict", err)
	}
	if vs := versions(t, srv.Client(), "evidence", key); len(vs) != 1 {
		t.Errorf("%d versions, want 1", len(vs))
	}
}

func TestS3ObjectLockRequiredButOff(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "plain", false)
	_, err := store.OpenS3(context.Background(), s3Config(t, srv, "plain", true), store.S3Options{})
	var ce *store.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("OpenS3 on a bucket without Object Lock = %v, want a ConfigError", err)
	}
	if !strings.Contains(err.Error(), "does not have Object Lock enabled") || !strings.Contains(err.Error(), "plain") {
		t.Errorf("message does not name the bucket and the problem: %v", err)
	}
	// Without object_lock configured the same bucket opens.
	openS3(t, s3Config(t, srv, "plain", false), store.S3Options{})
}

func TestS3RegisteredType(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "evidence", false)
	st, err := store.Open(context.Background(), s3Config(t, srv, "evidence", false))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if d := st.Describe(); !strings.Contains(d, "s3 store bucket evidence") {
		t.Errorf("Describe = %q", d)
	}
	if err := st.Sync(context.Background()); err != nil {
		t.Errorf("Sync: %v", err)
	}
}

// headerRecorder records the headers of the PUT requests the store sends
// to the real server.
type headerRecorder struct {
	mu   sync.Mutex
	puts []http.Header
}

func (h *headerRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut {
		h.mu.Lock()
		h.puts = append(h.puts, r.Header.Clone())
		h.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestS3SendsServerSideEncryptionAndRetentionHeaders(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "evidence", true)
	cfg := s3Config(t, srv, "evidence", true)
	cfg.SSE = &store.SSE{Type: "aws:kms", KMSKeyID: "alias/evidence"}
	rec := &headerRecorder{}
	st := openS3(t, cfg, store.S3Options{HTTPClient: &http.Client{Transport: rec}})
	body := []byte(`{"ok":true}`)
	if err := put(t, st, "soc2/controls/CC6.1/x.json", body); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	last := rec.puts[len(rec.puts)-1] // after the probe's two writes
	sum := sha256.Sum256(body)
	for k, want := range map[string]string{
		"X-Amz-Server-Side-Encryption":                "aws:kms",
		"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": "alias/evidence",
		"X-Amz-Object-Lock-Mode":                      "COMPLIANCE",
		"If-None-Match":                               "*",
		"X-Amz-Checksum-Sha256":                       base64.StdEncoding.EncodeToString(sum[:]),
		"X-Amz-Content-Sha256":                        fmt.Sprintf("%x", sum),
	} {
		if got := last.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if last.Get("X-Amz-Object-Lock-Retain-Until-Date") == "" {
		t.Error("no retain-until date")
	}
	if tr := last.Get("X-Amz-Trailer"); tr != "" {
		t.Errorf("a checksum trailer was sent (%q); S3-compatible servers reject it", tr)
	}
}
