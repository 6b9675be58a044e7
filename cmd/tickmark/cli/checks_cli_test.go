package cli_test

import (
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
)

// A check over a custom collector's evidence, end to end: run --once
// evaluates it after collecting, a pass→fail transition posts the Slack
// webhook once, a check still failing does not post again, and `checks
// show` lists the exception; `checks run` exits 1 while it fails.
func TestChecksAfterRunAlertOncePerTransition(t *testing.T) {
	var mu sync.Mutex
	var posts []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		posts = append(posts, string(b))
		mu.Unlock()
	}))
	defer hook.Close()
	t.Setenv("TEST_HOOK", hook.URL)
	dir := t.TempDir()
	body := filepath.Join(dir, "widgets.json")
	write := func(s string) {
		if err := os.WriteFile(body, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	script := filepath.Join(dir, "widgets.sh")
	if err := os.WriteFile(script, []byte(`printf '{"type":"custom.widgets","subject":"inventory","body":%s}\n' "$(cat `+body+`)"`+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	checksFile := filepath.Join(dir, "checks.yaml")
	if err := os.WriteFile(checksFile, []byte(`version: 1
checks:
  - id: custom.widgets_locked
    title: Every widget is locked
    controls: [CM-01]
    input: custom.widgets
    rule: item.locked == true
    message: "'widget ' + item.id + ' is unlocked'"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "tickmark.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`agent:
  id: test-agent
  data_dir: %s/data
store:
  type: filesystem
  path: %s/store
runner:
  retries: 0
collectors:
  - name: widgets
    type: exec
    schedule: "@every 1h"
    controls:
      custom.widgets: [CC8.1]
    exec:
      command: ["/bin/sh", %q]
checks:
  file: checks.yaml
  webhook:
    url: env:TEST_HOOK
    format: slack
`, dir, dir, script)), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func() result {
		t.Helper()
		r := tickmark(t, "run", "--once", "--config", cfg, "--log-level", "error")
		if r.code != 0 {
			t.Fatalf("run --once: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		return r
	}
	nposts := func() int { mu.Lock(); defer mu.Unlock(); return len(posts) }

	write(`{"widgets":[{"id":"w1","locked":true},{"id":"w2","locked":true}]}`)
	if r := run(); !strings.Contains(r.stdout, "checks") {
		t.Fatalf("run --once did not evaluate the checks:\n%s", r.stdout)
	}
	if n := nposts(); n != 0 {
		t.Fatalf("%d webhook posts while passing", n)
	}
	write(`{"widgets":[{"id":"w1","locked":true},{"id":"w2","locked":false}]}`)
	run()
	if n := nposts(); n != 1 {
		t.Fatalf("%d webhook posts after the check started failing, want 1", n)
	}
	var slack struct{ Text string }
	if err := json.Unmarshal([]byte(posts[0]), &slack); err != nil ||
		!strings.Contains(slack.Text, "check custom.widgets_locked (Every widget is locked) is failing: 1 exception in 2 items") ||
		!strings.Contains(slack.Text, "w2: widget w2 is unlocked") {
		t.Fatalf("slack payload %s (%v)", posts[0], err)
	}
	run()
	if n := nposts(); n != 1 {
		t.Fatalf("%d webhook posts while the check keeps failing, want still 1", n)
	}
	r := tickmark(t, "checks", "run", "--config", cfg, "--log-level", "error")
	if r.code != 1 || !strings.Contains(r.stdout, "custom.widgets_locked  fail") || !strings.Contains(r.stderr, "1 check failed: custom.widgets_locked") {
		t.Fatalf("checks run while failing: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	write(`{"widgets":[{"id":"w1","locked":true},{"id":"w2","locked":true}]}`)
	run()
	write(`{"widgets":[{"id":"w3","locked":false}]}`)
	run()
	if n := nposts(); n != 2 {
		t.Fatalf("%d webhook posts after failing again, want 2", n)
	}
	r = tickmark(t, "checks", "show", "custom.widgets_locked", "--config", cfg, "--from", "2000-01-01", "--to", "2100-01-01", "--csv")
	if r.code != 0 || !strings.Contains(r.stdout, "w2,widget w2 is unlocked,") || !strings.Contains(r.stdout, "w3,widget w3 is unlocked,") {
		t.Fatalf("checks show: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "w2,") && !strings.Contains(l, ",false,") || strings.HasPrefix(l, "w3,") && !strings.Contains(l, ",true,") {
			t.Errorf("open flag wrong: %s", l)
		}
	}
	if r := tickmark(t, "checks", "list", "--config", cfg); r.code != 0 || !strings.Contains(r.stdout, "custom.widgets_locked") {
		t.Fatalf("checks list: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// A rule naming a field its evidence type does not have is a
// configuration error naming the checks file and line (exit 2).
func TestChecksConfigErrorNamesLine(t *testing.T) {
	dir, cfg := workspace(t, "checks:\n  file: checks.yaml\n")
	if err := os.WriteFile(filepath.Join(dir, "checks.yaml"), []byte("version: 1\nchecks:\n  - id: prs.approved\n    title: T\n    controls: [CM-01]\n    input: github.pull_requests\n    rule: item.aproved_by.size() > 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := tickmark(t, "config", "validate", "--config", cfg)
	if r.code != 2 || !strings.Contains(r.stderr, `checks.yaml:7: rule: item has no field "aproved_by"`) {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
