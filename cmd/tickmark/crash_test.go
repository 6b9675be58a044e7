package main_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/internal/ledger"
)

// buildBinary builds the tickmark binary once for process-level tests.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tickmark")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// snapshot returns the SHA-256 of every committed record, by sequence number.
func snapshot(t *testing.T, dataDir string) map[uint64][32]byte {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dataDir, ledger.DBFile)); errors.Is(err, fs.ErrNotExist) {
		// Killed before the ledger was created (a slow start on a loaded
		// machine): nothing was committed. The caller still checks that
		// nothing committed earlier is missing.
		return map[uint64][32]byte{}
	}
	l, err := ledger.Open(dataDir, "crash", ledger.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("opening ledger after kill: %v", err)
	}
	defer l.Close()
	out := map[uint64][32]byte{}
	err = l.View(func(v *ledger.Viewer) error {
		return v.Records(0, func(seq uint64, data []byte) error {
			out[seq] = sha256.Sum256(data)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestKill9AtRandomInstants kills `run --once` of 100,000 artifacts at random
// moments, then lets a run finish: verify must pass, every record committed
// before each kill must still be there unchanged, and the final ledger holds
// each artifact exactly once.
func TestKill9AtRandomInstants(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tickmark.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`agent: {id: crash, data_dir: %[1]s/data}
store: {type: filesystem, path: %[1]s/store}
runner: {retries: 0}
collectors:
  - name: gen
    type: exec
    controls: {test.item: [CC7.2]}
    exec:
      command: ["/bin/sh", %[2]q]
      env: [N, EVERY, SIZE]
      timeout: 10m
`, dir, filepath.Join(repoRoot(), "testdata", "exec", "generate.sh"))), 0o600)
	env := append(os.Environ(), "N=100000", "EVERY=500", "SIZE=1024")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	committed := map[uint64][32]byte{}
	kills := 0
	for i := 0; i < 4; i++ {
		cmd := exec.Command(bin, "run", "--once", "--config", cfg, "--log-level", "error")
		cmd.Env = env
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(200+rng.IntN(2500)) * time.Millisecond
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
			// finished before the kill: nothing to kill this round
		case <-time.After(delay):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			kills++
		}
		snap := snapshot(t, filepath.Join(dir, "data"))
		for seq, h := range committed {
			if snap[seq] != h {
				t.Fatalf("after kill %d (at %s): record %d committed earlier is gone or changed", i+1, delay, seq)
			}
		}
		committed = snap
		t.Logf("round %d: killed after %s, %d records committed", i+1, delay, len(snap))
	}
	// Let a run finish.
	cmd := exec.Command(bin, "run", "--once", "--config", cfg, "--log-level", "error")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "verify", "--config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("verify after %d kills: %v\n%s", kills, err, out)
	}
	final := snapshot(t, filepath.Join(dir, "data"))
	for seq, h := range committed {
		if final[seq] != h {
			t.Fatalf("record %d committed before a kill changed after recovery", seq)
		}
	}
	if len(final) != 100000 {
		t.Fatalf("final ledger has %d records, want 100000 (each artifact exactly once)", len(final))
	}
	// Subjects are unique: no duplicate from a replay after a kill.
	l, _ := ledger.Open(filepath.Join(dir, "data"), "crash", ledger.Options{ReadOnly: true})
	defer l.Close()
	seen := make(map[string]bool, 100000)
	l.View(func(v *ledger.Viewer) error {
		return v.Records(0, func(seq uint64, data []byte) error {
			i := bytes.Index(data, []byte(`"subject":"`))
			s := string(data[i+11 : i+11+bytes.IndexByte(data[i+11:], '"')])
			if seen[s] {
				t.Fatalf("duplicate %s at %d", s, seq)
			}
			seen[s] = true
			return nil
		})
	})
	if !strings.Contains(string(out), "OK") {
		t.Fatalf("verify output: %s", out)
	}
}
