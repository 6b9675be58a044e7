package cli_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/cmd/tickmark/cli"
)

func TestServeRefusesNonLoopbackWithoutOIDC(t *testing.T) {
	for _, addr := range []string{":8080", "0.0.0.0:8080", "10.1.2.3:8080"} {
		r := tickmark(t, "serve", "--listen", addr)
		if r.code != 2 || !strings.Contains(r.stderr, "not loopback") || !strings.Contains(r.stderr, "hint: configure OIDC") {
			t.Errorf("serve --listen %s without OIDC: exit %d\n%s", addr, r.code, r.stderr)
		}
	}
}

func TestServeRejectsIncompleteSignIn(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", ":8080", "--oidc-issuer", "https://idp.example", "--oidc-client-id", "x", "--oidc-redirect-url", "https://c.example/auth/callback"}, "no group or email has a role"},
		{[]string{"--oidc-issuer", "https://idp.example", "--compliance-group", "grc"}, "needs --oidc-client-id"},
		{[]string{"--oidc-issuer", "https://idp.example", "--oidc-client-id", "x", "--oidc-redirect-url", "https://c.example/auth/callback", "--auditor-group", "audit"}, "no --auditor-window"},
		{[]string{"--compliance-group", "grc"}, "no --oidc-issuer"},
		{[]string{"--auditor-window", "2026-06-30..2026-01-01"}, "--auditor-window"},
		{[]string{"--oidc-issuer", "https://idp.example", "--oidc-client-id", "x", "--oidc-client-secret", "literal-secret", "--oidc-redirect-url", "https://c.example/auth/callback", "--compliance-group", "grc"}, "--oidc-client-secret"},
	} {
		r := tickmark(t, append([]string{"serve"}, tc.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("serve %v: exit %d, want 2 and %q\n%s", tc.args, r.code, tc.want, r.stderr)
		}
		if strings.Contains(r.stderr, "literal-secret") {
			t.Errorf("serve %v: the secret is echoed: %s", tc.args, r.stderr)
		}
	}
}

// syncBuf is a goroutine-safe output buffer for a command still running.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// `tickmark serve --from-store --access-evidence` end to end: it serves the
// bucket an agent published to, logs every access, and at shutdown commits,
// signs and pushes its access log as evidence of its own agent.
func TestServeFromStoreRecordsAccessAsEvidence(t *testing.T) {
	f := newFleet(t)
	mustRun(t, "run", "--once", "--config", f.config("a", "agent-a", 3))
	consoleCfg := f.config("console", "console", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	maddr := mln.Addr().String()
	mln.Close()
	accessLog := filepath.Join(t.TempDir(), "access.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuf
	done := make(chan int, 1)
	go func() {
		done <- cli.MainContext(ctx, []string{"serve", "--from-store", "--config", consoleCfg, "--listen", addr, "--metrics-listen", maddr,
			"--access-evidence", "--access-log", accessLog}, &out, &errb)
	}()
	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d before serving:\n%s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not come up: %v\n%s", err, errb.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	get := func(path string) string {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	if page := get("/dashboard"); !strings.Contains(page, "agent-a") || !strings.Contains(page, "counter.item") {
		t.Errorf("the dashboard does not show agent-a's evidence")
	}
	if page := get("/artifacts/agent-a/1"); !strings.Contains(page, "item-2") {
		t.Errorf("artifact page lacks the record's subject")
	}
	get("/artifacts/agent-a/1/body")
	resp, err := http.Get("http://" + maddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`tickmark_console_access_events_total{action="view_artifact"} 1`, `tickmark_console_requests_total{code="200",route="dashboard"} 1`,
		"tickmark_console_request_duration_seconds_bucket", "tickmark_console_evidence_read_timestamp_seconds"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exit %d\n%s", code, errb.String())
	}
	al, err := os.ReadFile(accessLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{`"action":"view_artifact"`, `"action":"download_body"`} {
		if !strings.Contains(string(al), action) || !strings.Contains(string(al), `"agent":"agent-a"`) {
			t.Errorf("access log lacks %s:\n%s", action, al)
		}
	}
	if st, _ := os.Stat(accessLog); st.Mode().Perm() != 0o600 {
		t.Errorf("access log mode %v, want 0600", st.Mode().Perm())
	}
	// The console's own log, in the bucket: its access evidence verifies.
	r := mustRun(t, "evidence", "list", "--from-store", "--agent", "console", "--config", consoleCfg, "--json")
	if !strings.Contains(r.stdout, `"type":"console.access_log"`) || !strings.Contains(r.stdout, `"C1.1"`) {
		t.Errorf("no console.access_log evidence in the bucket:\n%s", r.stdout)
	}
	mustRun(t, "verify", "--from-store", "--agent", "console", "--config", consoleCfg)
}
