package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/sync/errgroup"
)

func init() {
	RegisterType("s3", func(ctx context.Context, cfg Config) (Store, error) {
		return OpenS3(ctx, cfg, S3Options{})
	})
}

// S3 defaults.
const (
	// DefaultPartSize is the multipart part size; bodies larger than
	// DefaultMultipartThreshold are uploaded in parts.
	DefaultPartSize           = 16 << 20
	DefaultMultipartThreshold = 64 << 20
	// DefaultMaxAttempts bounds the SDK's attempts per request.
	DefaultMaxAttempts = 4
)

// S3Options tune an S3 store beyond the YAML configuration (tests, benchmarks).
type S3Options struct {
	PartSize           int64         // default DefaultPartSize (min 5 MiB on AWS)
	MultipartThreshold int64         // default DefaultMultipartThreshold
	PartConcurrency    int           // parts of one upload in flight (default 4)
	MaxAttempts        int           // per request, default DefaultMaxAttempts
	MaxBackoff         time.Duration // between attempts, default 5s
	// ConditionalWrites forces the write-once mode: "" probes the server
	// once, "if-none-match" trusts it, "head" checks before each write.
	ConditionalWrites string
	Logger            *slog.Logger
	HTTPClient        *http.Client
}

// S3 is object storage in an S3 bucket (AWS or an S3-compatible server).
// Objects are written once: with If-None-Match: * where the server honours
// it (probed once per process), else after a HEAD. Every object carries
// the S3 SHA-256 checksum computed by the ledger (the server verifies the
// body against it) and, when configured, Object Lock retention and
// server-side encryption.
type S3 struct {
	client *s3.Client
	bucket string
	cfg    Config
	o      S3Options
	log    *slog.Logger

	probeMu  sync.Mutex
	condMode atomic.Int32 // condUnknown, condIfNoneMatch, condHead
}

const (
	condUnknown int32 = iota
	condIfNoneMatch
	condHead
)

// OpenS3 opens an S3 store. With object_lock configured it checks that the
// bucket has Object Lock enabled and fails with a configuration error if not.
func OpenS3(ctx context.Context, cfg Config, o S3Options) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3 store: bucket is required")
	}
	if o.PartSize <= 0 {
		o.PartSize = DefaultPartSize
	}
	if o.MultipartThreshold <= 0 {
		o.MultipartThreshold = DefaultMultipartThreshold
	}
	if o.MultipartThreshold < o.PartSize {
		o.MultipartThreshold = o.PartSize
	}
	if o.PartConcurrency <= 0 {
		o.PartConcurrency = 4
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = cfg.Logger
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	loadOpts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = o.MaxAttempts
				so.MaxBackoff = o.MaxBackoff
			})
		}),
	}
	if cfg.Region != "" {
		loadOpts = append(loadOpts, awsconfig.WithRegion(cfg.Region))
	}
	if o.HTTPClient == nil {
		// A server that accepts a connection and then hangs must not hold a
		// run forever: bound the wait for response headers (bodies stream).
		loadOpts = append(loadOpts, awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.ResponseHeaderTimeout = 2 * time.Minute
			tr.MaxIdleConnsPerHost = 64
		})))
	}
	if cfg.AccessKeyID != nil || cfg.SecretAccessKey != nil {
		if cfg.AccessKeyID == nil || cfg.SecretAccessKey == nil {
			return nil, errors.New("s3 store: set both access_key_id and secret_access_key, or neither (default credential chain)")
		}
		id, secret := cfg.AccessKeyID.Value(), cfg.SecretAccessKey.Value()
		loadOpts = append(loadOpts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, secret, "")))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("s3 store: loading AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(awsCfg, func(so *s3.Options) {
		if cfg.Endpoint != "" {
			so.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		so.UsePathStyle = cfg.PathStyle
		if o.HTTPClient != nil {
			so.HTTPClient = o.HTTPClient
		}
		// The default CRC32 trailer breaks many S3-compatible servers; the
		// SHA-256 checksum is set explicitly on every write instead.
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	s := &S3{client: client, bucket: cfg.Bucket, cfg: cfg, o: o, log: o.Logger}
	switch o.ConditionalWrites {
	case "":
	case "if-none-match":
		s.condMode.Store(condIfNoneMatch)
	case "head":
		s.condMode.Store(condHead)
	default:
		return nil, fmt.Errorf("s3 store: unknown conditional write mode %q", o.ConditionalWrites)
	}
	if cfg.ObjectLock != nil {
		if err := s.checkObjectLock(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Client exposes the SDK client (tests, benchmarks).
func (s *S3) Client() *s3.Client { return s.client }

// Describe names the store.
func (s *S3) Describe() string {
	d := "s3 store bucket " + s.bucket
	if p := cleanPrefix(s.cfg.Prefix); p != "" {
		d += " prefix " + p
	}
	if s.cfg.Endpoint != "" {
		ep := s.cfg.Endpoint
		if u, err := url.Parse(ep); err == nil && u.User != nil {
			u.User = nil // never print credentials embedded in a URL
			ep = u.String()
		}
		d += " at " + ep
	}
	return d
}

// ConfigError is a store configuration problem found against the bucket
// (Object Lock off where it is required).
type ConfigError struct{ Msg, Hint string }

func (e *ConfigError) Error() string {
	if e.Hint == "" {
		return e.Msg
	}
	return e.Msg + " (" + e.Hint + ")"
}

func (s *S3) checkObjectLock(ctx context.Context) error {
	out, err := s.client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(s.bucket)})
	if err != nil {
		code := errorCode(err)
		if code == "ObjectLockConfigurationNotFoundError" || code == "ObjectLockConfigurationNotFound" || code == "InvalidRequest" {
			return s.lockOff()
		}
		return fmt.Errorf("s3 store: reading the Object Lock configuration of bucket %s (needs s3:GetBucketObjectLockConfiguration): %w", s.bucket, err)
	}
	if out.ObjectLockConfiguration == nil || out.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled {
		return s.lockOff()
	}
	return nil
}

func (s *S3) lockOff() error {
	return &ConfigError{
		Msg:  fmt.Sprintf("store.object_lock is configured but bucket %s does not have Object Lock enabled; evidence would not be protected from deletion", s.bucket),
		Hint: "create the bucket with Object Lock enabled (aws s3api create-bucket --object-lock-enabled-for-bucket), or remove store.object_lock; see docs/storage-s3.md",
	}
}

func (s *S3) sumB64(sum [32]byte) string { return base64.StdEncoding.EncodeToString(sum[:]) }

// putCommon fills the fields every write carries.
func (s *S3) lockAndSSE() (types.ObjectLockMode, *time.Time, types.ServerSideEncryption, *string) {
	var mode types.ObjectLockMode
	var until *time.Time
	if ol := s.cfg.ObjectLock; ol != nil {
		mode = types.ObjectLockMode(ol.Mode)
		u := time.Now().UTC().Add(time.Duration(ol.RetainDays) * 24 * time.Hour).Truncate(time.Second)
		until = &u
	}
	var sse types.ServerSideEncryption
	var kms *string
	if e := s.cfg.SSE; e != nil {
		sse = types.ServerSideEncryption(e.Type)
		if e.KMSKeyID != "" {
			kms = aws.String(e.KMSKeyID)
		}
	}
	return mode, until, sse, kms
}

// Put writes once; see Store.
func (s *S3) Put(ctx context.Context, key string, body io.Reader, size int64, sum [32]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	mode, err := s.condWrites(ctx)
	if err != nil {
		return err
	}
	if mode == condHead {
		// The server ignores If-None-Match: check first. Two writers racing
		// between HEAD and PUT could both write; the log's write-once
		// guarantee is then only as strong as the bucket's versioning.
		if done, err := s.existing(ctx, key, sum); done || err != nil {
			return err
		}
	}
	if size > s.o.MultipartThreshold {
		return s.putMultipart(ctx, key, body, size, sum, mode)
	}
	return s.putSingle(ctx, key, body, size, sum, mode)
}

func (s *S3) putSingle(ctx context.Context, key string, body io.Reader, size int64, sum [32]byte, mode int32) error {
	rs, ok := body.(io.ReadSeeker)
	if !ok {
		b, err := io.ReadAll(io.LimitReader(body, size+1))
		if err != nil {
			return fmt.Errorf("put %s: reading body: %w", key, err)
		}
		rs = bytes.NewReader(b)
	}
	lockMode, until, sse, kms := s.lockAndSSE()
	in := &s3.PutObjectInput{
		Bucket:                    aws.String(s.bucket),
		Key:                       aws.String(key),
		Body:                      rs,
		ContentLength:             aws.Int64(size),
		ChecksumSHA256:            aws.String(s.sumB64(sum)),
		ObjectLockMode:            lockMode,
		ObjectLockRetainUntilDate: until,
		ServerSideEncryption:      sse,
		SSEKMSKeyId:               kms,
	}
	if mode == condIfNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	_, err := s.client.PutObject(ctx, in, withPayloadHash(sum))
	if err == nil {
		return nil
	}
	if isPreconditionFailed(err) {
		return s.resolveExisting(ctx, key, sum)
	}
	if code := errorCode(err); code == "BadDigest" || code == "XAmzContentSHA256Mismatch" || code == "InvalidDigest" {
		return fmt.Errorf("put %s: body does not match its record (sha256 %x, %d bytes): the server rejected the checksum: %w", key, sum, size, err)
	}
	return fmt.Errorf("put %s: %w", key, err)
}

// resolveExisting decides a write that found the key taken.
func (s *S3) resolveExisting(ctx context.Context, key string, sum [32]byte) error {
	done, err := s.existing(ctx, key, sum)
	if err != nil {
		return err
	}
	if !done {
		return fmt.Errorf("put %s: the server refused the write-once condition but has no such object", key)
	}
	return nil
}

// existing reports whether key exists with sum (true, nil), with other
// content (true, ErrConflict), or not at all (false, nil).
func (s *S3) existing(ctx context.Context, key string, sum [32]byte) (bool, error) {
	h, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		if isNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("put %s: checking the existing object: %w", key, err)
	}
	if c := aws.ToString(h.ChecksumSHA256); c != "" && !strings.Contains(c, "-") && h.ChecksumType != types.ChecksumTypeComposite {
		if c == s.sumB64(sum) {
			return true, nil
		}
		return true, fmt.Errorf("put %s: %w", key, ErrConflict)
	}
	// No whole-object checksum (multipart, or a server that keeps none):
	// compare the content itself.
	rc, err := s.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("put %s: reading the existing object: %w", key, err)
	}
	defer rc.Close()
	hh := sha256.New()
	if _, err := io.Copy(hh, rc); err != nil {
		return false, fmt.Errorf("put %s: reading the existing object: %w", key, err)
	}
	if bytes.Equal(hh.Sum(nil), sum[:]) {
		return true, nil
	}
	return true, fmt.Errorf("put %s: %w", key, ErrConflict)
}

// condWrites probes once whether the server honours If-None-Match: * on
// PutObject: it writes a small fixed probe object twice; a server that
// honours the header refuses the second write with 412.
func (s *S3) condWrites(ctx context.Context) (int32, error) {
	if m := s.condMode.Load(); m != condUnknown {
		return m, nil
	}
	s.probeMu.Lock()
	defer s.probeMu.Unlock()
	if m := s.condMode.Load(); m != condUnknown {
		return m, nil
	}
	key := layout{prefix: cleanPrefix(s.cfg.Prefix)}.writeProbe()
	body := []byte("tickmark conditional-write probe\n")
	sum := sha256.Sum256(body)
	put := func() error {
		lockMode, until, sse, kms := s.lockAndSSE()
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(s.bucket), Key: aws.String(key), Body: bytes.NewReader(body),
			ContentLength: aws.Int64(int64(len(body))), ChecksumSHA256: aws.String(s.sumB64(sum)),
			IfNoneMatch: aws.String("*"), ObjectLockMode: lockMode, ObjectLockRetainUntilDate: until,
			ServerSideEncryption: sse, SSEKMSKeyId: kms,
		}, withPayloadHash(sum))
		return err
	}
	err := put()
	if err == nil || isPreconditionFailed(err) {
		err = put() // the object exists now: a second write must be refused
	}
	switch {
	case isPreconditionFailed(err):
		s.condMode.Store(condIfNoneMatch)
		s.log.Info("s3 store: server honours If-None-Match; objects are written once with conditional writes", "bucket", s.bucket)
	case err == nil || errorCode(err) == "NotImplemented" || httpStatus(err) == http.StatusNotImplemented:
		s.condMode.Store(condHead)
		s.log.Warn("s3 store: server does not honour If-None-Match: * on writes; falling back to HEAD before each PUT (write-once is not atomic against a concurrent writer)", "bucket", s.bucket)
	default:
		// An outage: the next Put probes again.
		return condUnknown, fmt.Errorf("s3 store: probing conditional writes on bucket %s: %w", s.bucket, err)
	}
	return s.condMode.Load(), nil
}

// withPayloadHash signs the request with the body's known SHA-256, so the
// SDK does not read the body a second time to compute it.
func withPayloadHash(sum [32]byte) func(*s3.Options) {
	hexSum := hex.EncodeToString(sum[:])
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Finalize.Insert(middleware.FinalizeMiddlewareFunc("TickmarkPayloadHash",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					return next.HandleFinalize(v4.SetPayloadHash(ctx, hexSum), in)
				}), "ComputePayloadHash", middleware.Before)
		})
	}
}

// putMultipart streams a large body in parts. Each part's SHA-256 is
// computed first (from the spool file when the body can be re-read at an
// offset, else from a part buffer), sent as the part checksum and used to
// sign the request; at most PartConcurrency parts are in flight, so memory
// stays bounded whatever the body size. The whole body's SHA-256 is checked
// against sum before the upload is completed.
func (s *S3) putMultipart(ctx context.Context, key string, body io.Reader, size int64, sum [32]byte, mode int32) error {
	if mode == condIfNoneMatch {
		// Skip the upload when the object is already there (a re-push).
		if done, err := s.existing(ctx, key, sum); done || err != nil {
			return err
		}
	}
	lockMode, until, sse, kms := s.lockAndSSE()
	cr, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
		ObjectLockMode: lockMode, ObjectLockRetainUntilDate: until, ServerSideEncryption: sse, SSEKMSKeyId: kms,
	})
	if err != nil {
		return fmt.Errorf("put %s: starting multipart upload: %w", key, err)
	}
	uploadID := cr.UploadId
	abort := func() {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: uploadID}); err != nil {
			s.log.Warn("s3 store: aborting multipart upload failed; a lifecycle rule should remove incomplete uploads", "key", key, "err", err)
		}
	}
	parts, err := s.uploadParts(ctx, key, uploadID, body, size, sum)
	if err != nil {
		abort()
		return err
	}
	in := &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}
	if mode == condIfNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	if _, err := s.client.CompleteMultipartUpload(ctx, in); err != nil {
		abort()
		if isPreconditionFailed(err) {
			return s.resolveExisting(ctx, key, sum)
		}
		return fmt.Errorf("put %s: completing multipart upload: %w", key, err)
	}
	return nil
}

func (s *S3) uploadParts(ctx context.Context, key string, uploadID *string, body io.Reader, size int64, sum [32]byte) ([]types.CompletedPart, error) {
	nparts := int((size + s.o.PartSize - 1) / s.o.PartSize)
	parts := make([]types.CompletedPart, nparts)
	ra, canReread := body.(io.ReaderAt)
	whole := sha256.New()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.o.PartConcurrency)
	var bufs sync.Pool
	for i := 0; i < nparts; i++ {
		off := int64(i) * s.o.PartSize
		n := min(s.o.PartSize, size-off)
		var partBody io.ReadSeeker
		var psum [32]byte
		var release func()
		if canReread {
			// Hash the part from the file (feeding the whole-body hash in
			// order), then let the upload read it again at its offset.
			ph := sha256.New()
			if _, err := io.Copy(io.MultiWriter(ph, whole), io.NewSectionReader(ra, off, n)); err != nil {
				_ = g.Wait()
				return nil, fmt.Errorf("put %s: reading part %d: %w", key, i+1, err)
			}
			copy(psum[:], ph.Sum(nil))
			partBody = io.NewSectionReader(ra, off, n)
			release = func() {}
		} else {
			b, _ := bufs.Get().(*[]byte)
			if b == nil || int64(cap(*b)) < n {
				nb := make([]byte, s.o.PartSize)
				b = &nb
			}
			buf := (*b)[:n]
			if _, err := io.ReadFull(body, buf); err != nil {
				_ = g.Wait()
				return nil, fmt.Errorf("put %s: reading part %d: %w", key, i+1, err)
			}
			whole.Write(buf)
			psum = sha256.Sum256(buf)
			partBody = bytes.NewReader(buf)
			release = func() { bufs.Put(b) }
		}
		if err := gctx.Err(); err != nil {
			release()
			break
		}
		pn := int32(i + 1)
		g.Go(func() error {
			defer release()
			out, err := s.client.UploadPart(gctx, &s3.UploadPartInput{
				Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: uploadID, PartNumber: aws.Int32(pn),
				Body: partBody, ContentLength: aws.Int64(n), ChecksumSHA256: aws.String(s.sumB64(psum)),
			}, withPayloadHash(psum))
			if err != nil {
				return fmt.Errorf("put %s: uploading part %d of %d: %w", key, pn, nparts, err)
			}
			parts[pn-1] = types.CompletedPart{PartNumber: aws.Int32(pn), ETag: out.ETag, ChecksumSHA256: aws.String(s.sumB64(psum))}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if got := whole.Sum(nil); !bytes.Equal(got, sum[:]) {
		return nil, fmt.Errorf("put %s: body does not match its record (sha256 %x; expected %x)", key, got, sum)
	}
	return parts, nil
}

// Get opens an object.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
		}
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	return out.Body, nil
}

// Retention reads an object's Object Lock retention as the bucket reports
// it now (HeadObject; on a bucket with Object Lock the caller needs
// s3:GetObjectRetention). An object without retention gives "" and a zero
// time. The console shows it on each artifact's proof page.
func (s *S3) Retention(ctx context.Context, key string) (mode string, until time.Time, err error) {
	h, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		if isNotFound(err) {
			return "", time.Time{}, fmt.Errorf("%s: %w", key, ErrNotFound)
		}
		return "", time.Time{}, fmt.Errorf("head %s: %w", key, err)
	}
	return string(h.ObjectLockMode), aws.ToTime(h.ObjectLockRetainUntilDate), nil
}

// List calls fn for every key under prefix, in lexical order (S3 lists
// keys in UTF-8 binary order).
func (s *S3) List(ctx context.Context, prefix string, fn func(key string) error) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("listing %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			if err := fn(aws.ToString(o.Key)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Sync is a no-op: a completed PutObject is durable.
func (s *S3) Sync(context.Context) error { return nil }

// Close releases the store.
func (s *S3) Close() error { return nil }

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func isPreconditionFailed(err error) bool {
	return httpStatus(err) == http.StatusPreconditionFailed || errorCode(err) == "PreconditionFailed"
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	return errors.As(err, &nsk) || errors.As(err, &nf) || httpStatus(err) == http.StatusNotFound
}
