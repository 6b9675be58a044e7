package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/cmd/tickmark/cli"
)

// Read commands work against a live daemon: it holds the ledger's lock for
// its whole life, and between runs they read the snapshot it writes after
// each run (the ledger as it is). Once it stops they read the ledger again.
func TestReadCommandsWhileTheDaemonRuns(t *testing.T) {
	dir, cfg := workspace(t, "")
	t.Setenv("N", "7")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var dout, derr strings.Builder
	go func() {
		done <- cli.MainContext(ctx, []string{"run", "--config", cfg, "--listen", "127.0.0.1:0", "--grace", "1s"}, &dout, &derr)
	}()
	// The collector is due at start: wait for its run to be signed and
	// pushed (a condition, bounded by the test's deadline).
	var st cli.Status
	var last string
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if time.Now().After(deadline) {
			t.Fatalf("status never showed the daemon's first run (7 records, signed and pushed); last:\n%s", last)
		}
		select {
		case code := <-done:
			t.Fatalf("the daemon exited %d before its first run was read:\n%s", code, derr.String())
		default:
		}
		r := tickmark(t, "status", "--json", "--config", cfg)
		last = r.stdout + r.stderr
		if r.code == 0 {
			if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
				t.Fatalf("status --json: %v\n%s", err, r.stdout)
			}
			if st.Records == 7 && st.Backlog == 0 && st.Checkpoint != nil && st.Checkpoint.Size == 7 {
				break
			}
		} else if !strings.Contains(r.stderr, "locked") && !strings.Contains(r.stderr, "no ledger") {
			t.Fatalf("status against the live daemon: exit %d\n%s", r.code, r.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "ledger.snapshot.db")); err != nil {
		t.Errorf("no snapshot next to the ledger: %v", err)
	}
	if r := tickmark(t, "status", "--config", cfg); r.code != 0 || strings.Contains(r.stderr, "has this agent run yet") {
		t.Errorf("status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := listRecords(t, cfg); len(got) != 7 {
		t.Errorf("evidence list against the live daemon: %d records, want 7", len(got))
	}
	if r := tickmark(t, "verify", "--config", cfg); r.code != 0 || !strings.Contains(r.stdout, "7 records") {
		t.Errorf("verify against the live daemon: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("daemon: exit %d\n%s", code, derr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "ledger.snapshot.db")); !os.IsNotExist(err) {
		t.Errorf("the snapshot outlives the daemon: %v", err)
	}
	if r := tickmark(t, "verify", "--config", cfg); r.code != 0 {
		t.Errorf("verify after the daemon stopped: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
