// Package s3test starts a real S3 server for tests: the Versity S3 Gateway
// (github.com/versity/versitygw) over a temporary directory, on a free
// 127.0.0.1 port.
//
//	srv := s3test.Start(t)
//	srv.CreateBucket(t, "evidence", true) // with Object Lock
//	// point an S3 client at srv.Endpoint with srv.AccessKey/SecretKey, path-style
//
// The versitygw binary is looked up in $VERSITYGW, then on PATH, then in
// $(go env GOPATH)/bin. If it is missing the test fails (it is never
// skipped): install it with .ci/run, or
// `go install github.com/versity/versitygw/cmd/versitygw@v1.8.0`.
package s3test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Server is a running S3 server.
type Server struct {
	// Endpoint is the base URL, e.g. http://127.0.0.1:41234 (use path-style addressing).
	Endpoint  string
	AccessKey string
	SecretKey string
	Region    string

	// set by Start, used by Stop and Restart
	bin, addr, data, vers string
	mu                    sync.Mutex
	stop                  func()
}

// Start starts versitygw for the test; it is stopped by t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatalf("s3test: %v\nhint: run .ci/run, or: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0", err)
	}
	root := t.TempDir()
	data := filepath.Join(root, "data")
	vers := filepath.Join(root, "versions")
	for _, d := range []string{data, vers} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("s3test: %v", err)
		}
	}
	s := &Server{AccessKey: "s3test-access", SecretKey: "s3test-secret-key-0123456789", Region: "us-east-1"}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("s3test: finding a free port: %v", err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if err := s.run(t, bin, addr, data, vers); err != nil {
			lastErr = err
			continue
		}
		return s
	}
	t.Fatalf("s3test: versitygw did not start: %v", lastErr)
	return nil
}

func (s *Server) run(t testing.TB, bin, addr, data, vers string) error {
	var out syncBuf
	cmd := exec.Command(bin, "--port", addr, "posix", "--versioning-dir", vers, data)
	cmd.Env = append(os.Environ(),
		"ROOT_ACCESS_KEY="+s.AccessKey,
		"ROOT_SECRET_KEY="+s.SecretKey,
		"VGW_REGION="+s.Region,
	)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	endpoint := "http://" + addr
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("versitygw exited: %s", strings.TrimSpace(out.String()))
		default:
		}
		resp, err := http.Get(endpoint + "/")
		if err == nil {
			resp.Body.Close()
			break // any HTTP answer (403 without credentials) means it is serving
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("not ready after 15s: %v; output: %s", err, strings.TrimSpace(out.String()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Endpoint = endpoint
	s.bin, s.addr, s.data, s.vers = bin, addr, data, vers
	s.mu.Lock()
	s.stop = stop
	s.mu.Unlock()
	t.Cleanup(s.halt)
	return nil
}

// Stop stops the server (its data stays); Restart brings it back on the
// same address. Tests use them to simulate a store outage.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.halt()
}

func (s *Server) halt() {
	s.mu.Lock()
	stop := s.stop
	s.stop = nil
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// Restart starts a stopped server again on the same address and data.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.halt()
	var err error
	for attempt := 0; attempt < 50; attempt++ { // the port may linger briefly
		if err = s.run(t, s.bin, s.addr, s.data, s.vers); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("s3test: restarting versitygw: %v", err)
}

// Client returns an S3 client for the server (path-style, checksums only when required).
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:                     s.Region,
		BaseEndpoint:               aws.String(s.Endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// CreateBucket creates a bucket, with Object Lock enabled (which also
// enables versioning) when objectLock is true.
func (s *Server) CreateBucket(t testing.TB, name string, objectLock bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if objectLock {
		in.ObjectLockEnabledForBucket = aws.Bool(true)
	}
	if _, err := s.Client().CreateBucket(ctx, in); err != nil {
		var owned *types.BucketAlreadyOwnedByYou
		if !errors.As(err, &owned) {
			t.Fatalf("s3test: creating bucket %s: %v", name, err)
		}
	}
}

func binary() (string, error) {
	if p := os.Getenv("VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("VERSITYGW=%s: %w", p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	var dirs []string
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.SplitList(gp)...)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		dirs = append(dirs, filepath.SplitList(strings.TrimSpace(string(out)))...)
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("versitygw binary not found ($VERSITYGW, PATH, $(go env GOPATH)/bin)")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 64<<10 {
		return len(p), nil
	}
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
