package main_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

const e2eN = 100_000

// BenchmarkRunOnce100k is acceptance 7 of the core pipeline: `run --once`
// with an exec collector emitting 100,000 artifacts of 1 KiB (one control
// each) into the filesystem store — collect, commit, sign, push — compared
// with BenchmarkGitCommit100k on the same machine.
func BenchmarkRunOnce100k(b *testing.B) {
	bin := buildBinaryB(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		cfg := filepath.Join(dir, "tickmark.yaml")
		os.WriteFile(cfg, []byte(fmt.Sprintf(`agent: {id: bench, data_dir: %[1]s/data}
store: {type: filesystem, path: %[1]s/store}
collectors:
  - name: gen
    type: exec
    controls: {test.item: [CC7.2]}
    exec: {command: ["/bin/sh", %[2]q], env: [N, EVERY, SIZE], timeout: 30m}
`, dir, filepath.Join(repoRoot(), "testdata", "exec", "generate.sh"))), 0o600)
		cmd := exec.Command(bin, "run", "--once", "--config", cfg, "--log-level", "error")
		cmd.Env = append(os.Environ(), fmt.Sprintf("N=%d", e2eN), "EVERY=1000", "SIZE=1024")
		b.StartTimer()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
	}
	b.ReportMetric(float64(e2eN*b.N)/b.Elapsed().Seconds(), "artifacts/s")
}

// BenchmarkGitCommit100k commits 100,000 files of 1 KiB to a git
// repository with `git add -A && git commit` (the evidence-locker design of
// IBM's Auditree); writing the files is not timed.
func BenchmarkGitCommit100k(b *testing.B) {
	if _, err := exec.LookPath("git"); err != nil {
		b.Fatal("git is needed for this comparison")
	}
	body := make([]byte, 1024)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		sub := filepath.Join(dir, "controls", "CC7.2", "2026", "11", "30", "test.item")
		os.MkdirAll(sub, 0o700)
		for j := 0; j < e2eN; j++ {
			copy(body, fmt.Sprintf("artifact %d", j))
			os.WriteFile(filepath.Join(sub, fmt.Sprintf("bench-%012d.json", j)), body, 0o600)
		}
		git := func(args ...string) {
			c := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=b", "-c", "user.email=b@example.com"}, args...)...)
			if out, err := c.CombinedOutput(); err != nil {
				b.Fatalf("git %v: %v\n%s", args, err, out)
			}
		}
		git("init", "-q")
		b.StartTimer()
		git("add", "-A")
		git("commit", "-q", "-m", "evidence")
	}
	b.ReportMetric(float64(e2eN*b.N)/b.Elapsed().Seconds(), "artifacts/s")
}

func buildBinaryB(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "tickmark")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
