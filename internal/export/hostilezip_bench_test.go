package export_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/internal/export"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
)

// TestVerifyPackageHelperProcess is not a test: BenchmarkHostilePackageRSS
// runs the test binary again with TICKMARK_VERIFY_PACKAGE set, so that
// verify-package's peak RSS is measured in a process that did nothing else.
func TestVerifyPackageHelperProcess(t *testing.T) {
	path := os.Getenv("TICKMARK_VERIFY_PACKAGE")
	if path == "" {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	rep, err := export.VerifyPackage(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK {
		t.Fatal("the crafted package verified")
	}
	fmt.Fprintln(os.Stderr, rep.Problems[0])
}

// BenchmarkHostilePackageRSS is the review's attack: a genuine package
// whose SHA256SUMS (or index.csv) is replaced by an entry of about 1 MB
// that inflates to 1 GiB (2.7 GB RSS before; target under 256 MiB).
// verify-package runs in a child process; its peak RSS is reported.
//
//	go test -run '^$' -bench '^BenchmarkHostilePackageRSS$' -benchtime 1x ./internal/export
func BenchmarkHostilePackageRSS(b *testing.B) {
	dir := exportLedger(b, 50, 1024)
	l, err := ledger.Open(dir, "bench", ledger.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	var genuine bytes.Buffer
	_, err = export.Write(context.Background(), &genuine, &readmodel.Ledger{L: l},
		export.Options{From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), TempDir: dir})
	l.Close()
	if err != nil {
		b.Fatal(err)
	}
	for _, file := range []string{"SHA256SUMS", "index.csv"} {
		b.Run(file, func(b *testing.B) {
			path := filepath.Join(dir, file+".zip")
			if err := os.WriteFile(path, craft(b, genuine.Bytes(), file, zeros(1<<30)), 0o600); err != nil {
				b.Fatal(err)
			}
			st, _ := os.Stat(path)
			b.ResetTimer()
			var rss int64
			var out []byte
			for b.Loop() {
				cmd := exec.Command(os.Args[0], "-test.run=^TestVerifyPackageHelperProcess$", "-test.v")
				cmd.Env = append(os.Environ(), "TICKMARK_VERIFY_PACKAGE="+path)
				if out, err = cmd.CombinedOutput(); err != nil {
					b.Fatalf("helper: %v\n%s", err, out)
				}
				rss = max(rss, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
			}
			b.ReportMetric(float64(rss)/1024, "peak-RSS-MiB")
			b.ReportMetric(float64(st.Size())/(1<<20), "zip-MiB")
			b.Logf("%s: zip %.1f MiB inflating 1 GiB; peak RSS %d MiB; %s", file, float64(st.Size())/(1<<20), rss/1024, bytes.TrimSpace(lastLine(out)))
		})
	}
}

func lastLine(b []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		if bytes.Contains(lines[i], []byte("zip bomb")) || bytes.Contains(lines[i], []byte("refused")) {
			return lines[i]
		}
	}
	return nil
}
