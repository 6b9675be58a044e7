package exec_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
)

// Scripts written as a careless or hostile collector would: each commits
// one artifact, then leaves a process behind that holds the command's
// output, or refuses to die.

// alive reports whether pid is still running (a zombie waiting for its
// reaper counts as ended).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	for i := 0; i < 50; i++ { // the grandchild may write it a moment after the script exits
		if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatalf("pid file %q: %v", b, err)
			}
			return pid
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the script did not start its background process (%s)", path)
	return 0
}

func TestHostileChildrenCannotOutliveTheTimeout(t *testing.T) {
	const timeout = 2 * time.Second
	const prologue = `echo '{"type":"t.a","body":1}'
echo '{"cursor":"c1"}'
`
	// setsid puts the grandchild in its own session and process group, out
	// of reach of a kill of the command's group.
	escape := func(redirect string) string {
		return prologue + `setsid sh -c 'echo $$ > "$PIDFILE"; exec sleep 100000' ` + redirect + " &\nexit 0\n"
	}
	for _, tc := range []struct {
		name, script string
		wantTimeout  bool
	}{
		{"grandchild holds stdout only", escape("2>/dev/null </dev/null"), true},
		{"grandchild holds stderr only", escape(">/dev/null </dev/null"), false},
		{"grandchild holds both", escape("</dev/null"), true},
		{"grandchild holds stdout on its stderr (2>&1 >/dev/null)", escape("2>&1 >/dev/null </dev/null"), true},
		{"script ignores SIGTERM and keeps its output open", prologue + `trap '' TERM
echo $$ > "$PIDFILE"
while :; do sleep 1; done
`, true},
		{"killed in the middle of a line", prologue + `echo $$ > "$PIDFILE"
printf '{"type":"t.a","bo'
exec sleep 100000
`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pidfile := filepath.Join(t.TempDir(), "pid")
			t.Setenv("PIDFILE", pidfile)
			start := time.Now()
			res := run(t, tc.script, fmt.Sprintf("timeout: %s\nenv: [PIDFILE]\n", timeout), collectortest.Options{})
			elapsed := time.Since(start)
			pid := readPID(t, pidfile)
			defer func() {
				// SIGKILL is delivered asynchronously: allow it a moment
				for i := 0; i < 100 && alive(pid); i++ {
					time.Sleep(20 * time.Millisecond)
				}
				if alive(pid) {
					b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
					t.Errorf("process %d outlived the run: %s", pid, b)
				}
			}()
			// The escaped process sleeps 100000s: "ended" means the agent ended it.
			if elapsed > timeout+15*time.Second {
				t.Fatalf("the run took %s with exec.timeout %s", elapsed, timeout)
			}
			if res.Cursor != "c1" || len(res.Committed) != 1 {
				t.Errorf("cursor %q with %d committed; want what was checkpointed before the escape kept", res.Cursor, len(res.Committed))
			}
			if !tc.wantTimeout {
				// the command itself finished: its output is complete
				if res.Err != nil {
					t.Fatalf("err = %v; the command exited 0 and closed its stdout", res.Err)
				}
				return
			}
			if elapsed < timeout {
				t.Errorf("the run ended after %s, before exec.timeout %s, while its output was still open", elapsed, timeout)
			}
			if res.Err == nil || !strings.Contains(res.Err.Error(), "did not finish within 2s (exec.timeout)") {
				t.Fatalf("err = %v, want the timeout naming exec.timeout", res.Err)
			}
			if !collectors.IsRetryable(res.Err) {
				t.Errorf("a timeout must be retryable: %v", res.Err)
			}
		})
	}
}
