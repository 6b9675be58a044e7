package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/tickmark-dev/tickmark/collectors/exec"
)

// runCLI runs one command in-process with a fake clock.
func runCLI(t *testing.T, now time.Time, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdout: &out, stderr: &errb, ctx: context.Background(), now: func() time.Time { return now }}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	if err := root.Execute(); err != nil {
		code = report(&errb, err)
	}
	return code, out.String(), errb.String()
}

// A CronJob runs `run --once --due` every 15 minutes for a simulated day
// (the fake clock): each collector runs exactly in the slots of its own
// schedule, and the ledger verifies at the end.
func TestRunOnceDueSimulatedDay(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "evidence.sh")
	if err := os.WriteFile(script, []byte(`#!/bin/sh
printf '{"type":"custom.check","subject":"%s","content_type":"text/plain","body_base64":"b2s="}\n' "$1"
`), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "tickmark.yaml")
	entry := func(name, spec string) string {
		return fmt.Sprintf(`  - name: %s
    type: exec
    schedule: %q
    controls:
      custom.check: [CC7.2]
    exec:
      command: ["/bin/sh", %q, %q]
`, name, spec, script, name)
	}
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`agent:
  id: due-test
  data_dir: %s
  log_format: json
store:
  type: filesystem
  path: %s
collectors:
%s%s%s`, filepath.Join(dir, "data"), filepath.Join(dir, "store"),
		entry("six-hourly", "0 */6 * * *"), entry("hourly", "@hourly"), entry("daily", "@daily"))), 0o600); err != nil {
		t.Fatal(err)
	}
	ran := map[string][]string{}
	total := 0
	start := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for tick := start; tick.Before(start.Add(24 * time.Hour)); tick = tick.Add(15 * time.Minute) {
		now := tick.Add(4 * time.Second)
		code, out, errOut := runCLI(t, now, "run", "--once", "--due", "--json", "--config", cfg)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s", now, code, errOut)
		}
		var sum struct {
			Collectors []struct{ Name, Outcome string }
			NotDue     []struct{ Name string } `json:"not_due"`
		}
		if err := json.Unmarshal([]byte(out), &sum); err != nil {
			t.Fatalf("%s: %v\n%s", now, err, out)
		}
		if len(sum.Collectors)+len(sum.NotDue) != 3 {
			t.Fatalf("%s: %d ran and %d not due, want 3 in all:\n%s", now, len(sum.Collectors), len(sum.NotDue), out)
		}
		for _, c := range sum.Collectors {
			if c.Outcome != "success" {
				t.Fatalf("%s: %s %s", now, c.Name, c.Outcome)
			}
			ran[c.Name] = append(ran[c.Name], now.Format("15:04"))
			total++
		}
	}
	var hourly []string
	for h := 0; h < 24; h++ {
		hourly = append(hourly, fmt.Sprintf("%02d:00", h))
	}
	for name, want := range map[string]string{
		"six-hourly": "00:00 06:00 12:00 18:00",
		"hourly":     strings.Join(hourly, " "),
		"daily":      "00:00",
	} {
		if got := strings.Join(ran[name], " "); got != want {
			t.Errorf("%s ran at %s, want %s", name, got, want)
		}
	}
	code, out, errOut := runCLI(t, start.Add(24*time.Hour), "verify", "--config", cfg)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d records", total)) {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}
}

func TestRunFlagsNeedTheirMode(t *testing.T) {
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"run", "--due"}, "--due needs --once"},
		{[]string{"run", "--pushgateway", "http://x"}, "--pushgateway needs --once"},
		{[]string{"run", "--once", "--listen", ":9090"}, "--listen is for the daemon"},
		{[]string{"run", "--once", "--grace", "5s"}, "--grace is for the daemon"},
	} {
		code, _, errOut := runCLI(t, time.Now(), c.args...)
		if code != ExitUsage || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d %q, want 2 and %q", c.args, code, errOut, c.msg)
		}
	}
}

// `run --once --due --pushgateway URL` pushes the run's metrics (PUT, job
// tickmark, agent <id>); a Pushgateway that is down is logged and does not
// change the exit code.
func TestRunOncePushgateway(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tickmark.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`agent: {id: push-test, data_dir: %[1]s/data, log_format: json}
store: {type: filesystem, path: %[1]s/store}
collectors:
  - name: hello
    type: exec
    schedule: "@hourly"
    controls: {custom.check: [CC7.2]}
    exec:
      command: ["/bin/sh", "-c", "printf '{\"type\":\"custom.check\",\"subject\":\"x\",\"content_type\":\"text/plain\",\"body_base64\":\"b2s=\"}\\n'"]
`, dir)), 0o600)
	var (
		mu     sync.Mutex
		method string
		path   string
		body   string
	)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		method, path, body = r.Method, r.URL.Path, string(b)
		mu.Unlock()
	}))
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	code, _, errOut := runCLI(t, now, "run", "--once", "--due", "--pushgateway", gw.URL, "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	mu.Lock()
	if method != http.MethodPut || path != "/metrics/job/tickmark/agent/push-test" {
		t.Errorf("push: %s %s", method, path)
	}
	for _, want := range []string{
		`tickmark_collector_runs_total{collector="hello",outcome="success",type="exec"} 1`,
		`tickmark_artifacts_total{collector="hello",evidence_type="custom.check"} 1`,
		fmt.Sprintf(`tickmark_collector_last_success_timestamp_seconds{collector="hello"} %g`, float64(now.Unix())),
		`tickmark_outbox_backlog 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("pushed metrics lack %s", want)
		}
	}
	mu.Unlock()
	gw.Close()
	// An hour later, with the Pushgateway gone: the run succeeds (exit 0) and says why no metrics went out.
	code, _, errOut = runCLI(t, now.Add(time.Hour), "run", "--once", "--due", "--pushgateway", gw.URL, "--config", cfg)
	if code != 0 || !strings.Contains(errOut, "metrics push failed") {
		t.Fatalf("exit %d, want 0 with the push failure logged:\n%s", code, errOut)
	}
}
