package main_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logWatcher collects a process's JSON log lines.
type logWatcher struct {
	mu    sync.Mutex
	lines []map[string]any
	raw   []string
	more  chan struct{}
}

func watch(r io.Reader) *logWatcher {
	w := &logWatcher{more: make(chan struct{}, 1)}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			_ = json.Unmarshal(sc.Bytes(), &m)
			w.mu.Lock()
			w.lines = append(w.lines, m)
			w.raw = append(w.raw, sc.Text())
			w.mu.Unlock()
			select {
			case w.more <- struct{}{}:
			default:
			}
		}
	}()
	return w
}

// waitFor returns the first log line whose msg is msg.
func (w *logWatcher) waitFor(t *testing.T, msg string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		for _, l := range w.lines {
			if l != nil && l["msg"] == msg {
				w.mu.Unlock()
				return l
			}
		}
		w.mu.Unlock()
		select {
		case <-w.more:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no log line %q within %s; log:\n%s", msg, timeout, w.String())
		}
	}
}

func (w *logWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.raw, "\n")
}

// SIGTERM to the daemon while a collector runs: it stops scheduling, lets
// the run go on for the grace period, cancels it if needed, signs a final
// checkpoint, pushes and exits 0; the ledger and the store then verify.
func TestDaemonSIGTERM(t *testing.T) {
	bin := buildBinary(t)
	cases := []struct {
		name string
		// the collector: one artifact and a cursor, a pause, another artifact
		pause     string
		grace     time.Duration
		records   string // what verify must report
		cancelled bool
	}{
		{name: "run outlasts the grace period", pause: "60", grace: 2 * time.Second, records: "1 records", cancelled: true},
		{name: "run ends within the grace period", pause: "2", grace: 20 * time.Second, records: "2 records"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			script := filepath.Join(dir, "collect.sh")
			os.WriteFile(script, []byte(fmt.Sprintf(`#!/bin/sh
printf '{"type":"custom.thing","subject":"first","content_type":"text/plain","body_base64":"b25l"}\n'
printf '{"cursor":"after-first"}\n'
sleep %s
printf '{"type":"custom.thing","subject":"second","content_type":"text/plain","body_base64":"dHdv"}\n'
`, c.pause)), 0o700)
			cfg := filepath.Join(dir, "tickmark.yaml")
			os.WriteFile(cfg, []byte(fmt.Sprintf(`agent: {id: sigterm, data_dir: %[1]s/data, log_format: json}
store: {type: filesystem, path: %[1]s/store}
runner: {retries: 0}
collectors:
  - name: thing
    type: exec
    schedule: "@every 1s"
    controls: {custom.thing: [CC7.2]}
    exec:
      command: ["/bin/sh", %[2]q]
`, dir, script)), 0o600)
			cmd := exec.Command(bin, "run", "--config", cfg, "--listen", "127.0.0.1:0", "--grace", c.grace.String())
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			logs := watch(stderr)
			addr, _ := logs.waitFor(t, "serving /healthz, /readyz and /metrics", 10*time.Second)["addr"].(string)
			logs.waitFor(t, "daemon started", 10*time.Second)
			resp, err := http.Get("http://" + addr + "/readyz")
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("/readyz: %v %v", resp, err)
			}
			resp.Body.Close()
			logs.waitFor(t, "collector run started", 10*time.Second)
			time.Sleep(300 * time.Millisecond) // the first artifact is checkpointed
			t0 := time.Now()
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			waitErr := make(chan error, 1)
			go func() { waitErr <- cmd.Wait() }()
			select {
			case err := <-waitErr:
				if err != nil {
					t.Fatalf("daemon exited with %v after SIGTERM, want 0; log:\n%s", err, logs)
				}
			case <-time.After(c.grace + 10*time.Second):
				t.Fatalf("daemon still running %s after SIGTERM (grace %s); log:\n%s", time.Since(t0), c.grace, logs)
			}
			took := time.Since(t0)
			if took > c.grace+5*time.Second {
				t.Errorf("shutdown took %s, grace %s", took, c.grace)
			}
			if c.cancelled && took < c.grace {
				t.Errorf("shutdown took %s: the run was cancelled before the %s grace period", took, c.grace)
			}
			if c.cancelled {
				fin := logs.waitFor(t, "collector run failed", time.Second)
				if !strings.Contains(fmt.Sprint(fin["err"]), "context canceled") || fin["artifacts"] != 1.0 {
					t.Errorf("cancelled run logged %v, want context canceled with the 1 checkpointed artifact", fin)
				}
				logs.waitFor(t, "grace period over: cancelling running collectors (they keep what they checkpointed)", time.Second)
			} else if fin := logs.waitFor(t, "collector run finished", time.Second); fin["artifacts"] != 2.0 {
				t.Errorf("finished run logged %v, want 2 artifacts", fin)
			}
			logs.waitFor(t, "daemon stopped", time.Second)

			out, err := exec.Command(bin, "verify", "--config", cfg).CombinedOutput()
			if err != nil || !strings.Contains(string(out), c.records) || !strings.Contains(string(out), "OK") {
				t.Fatalf("verify after shutdown: %v\n%s", err, out)
			}
		})
	}
}
