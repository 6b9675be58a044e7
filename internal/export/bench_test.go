package export_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/export"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
)

// TestExportHelperProcess is not a test: BenchmarkExportPeakRSS runs the
// test binary again with TICKMARK_EXPORT_LEDGER set, so that the export's
// peak RSS is measured in a process that did nothing else.
func TestExportHelperProcess(t *testing.T) {
	dir := os.Getenv("TICKMARK_EXPORT_LEDGER")
	if dir == "" {
		return
	}
	debug.SetMemoryLimit(export.MemoryLimit) // as the export command does
	l, err := ledger.Open(dir, "bench", ledger.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	out, err := os.Create(filepath.Join(dir, "out.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	_, err = export.Write(context.Background(), out, &readmodel.Ledger{L: l},
		export.Options{From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("TICKMARK_EXPORT_DEBUG") != "" {
		b, _ := os.ReadFile("/proc/self/status")
		fmt.Fprintf(os.Stderr, "%s\n", b)
	}
}

// exportLedger commits records with random (incompressible) bodies of
// bodySize bytes in the spool, each filed under two controls, and signs.
func exportLedger(tb testing.TB, records, bodySize int) string {
	dir := tb.TempDir()
	l, err := ledger.Open(dir, "bench", ledger.Options{NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	key, _, err := ledger.LoadOrCreateKey(filepath.Join(dir, ledger.KeyFile), ledger.Origin("bench"))
	if err != nil {
		tb.Fatal(err)
	}
	l.AddKey(key.ID, key.Verifier)
	seg, err := l.NewSegment()
	if err != nil {
		tb.Fatal(err)
	}
	defer seg.Close()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	step := 365 * 24 * time.Hour / time.Duration(records)
	c := &ledger.Commit{Segment: seg}
	for i := range records {
		loc, sum, err := seg.Write(io.LimitReader(rand.Reader, int64(bodySize)))
		if err != nil {
			tb.Fatal(err)
		}
		c.Records = append(c.Records, ledger.Pending{Loc: loc, Record: evidence.Record{V: evidence.Version, Agent: "bench", Collector: "c", CollectorType: "x", RunID: "r",
			Type: "custom.bench", Subject: "s", Controls: []string{"CC6.1", "CC7.2"}, CollectedAt: start.Add(time.Duration(i) * step),
			Source: collectors.Source{System: "x"}, ContentType: "application/octet-stream", Size: loc.Size, SHA256: fmt.Sprintf("%x", sum)}})
		if len(c.Records) == 5000 || i == records-1 {
			if _, err := l.Commit(context.Background(), c); err != nil {
				tb.Fatal(err)
			}
			c = &ledger.Commit{Segment: seg}
		}
	}
	if _, err := l.Sign(key); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// BenchmarkExportPeakRSS exports packages of growing size in a child
// process and reports its peak RSS (target: under 150 MiB whatever the
// size), the package size and the child's CPU time (wall time depends on
// the machine's load).
func BenchmarkExportPeakRSS(b *testing.B) {
	for _, c := range []struct{ records, body int }{{1000, 64 << 10}, {2000, 512 << 10}, {100000, 256}} {
		b.Run(fmt.Sprintf("records=%d/body=%dKiB", c.records, c.body>>10), func(b *testing.B) {
			dir := exportLedger(b, c.records, c.body)
			b.ResetTimer()
			var rss int64
			var cpu time.Duration
			for b.Loop() {
				cmd := exec.Command(os.Args[0], "-test.run=^TestExportHelperProcess$")
				cmd.Env = append(os.Environ(), "TICKMARK_EXPORT_LEDGER="+dir)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("helper: %v\n%s", err, out)
				}
				rss = max(rss, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
				cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			}
			st, err := os.Stat(filepath.Join(dir, "out.zip"))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(rss)/1024, "peak-RSS-MiB")
			b.ReportMetric(float64(st.Size())/(1<<20), "package-MiB")
			b.ReportMetric(cpu.Seconds(), "cpu-s")
			b.Logf("%d records x %d bytes: package %s MiB, peak RSS %d MiB", c.records, c.body, strconv.FormatInt(st.Size()>>20, 10), rss/1024)
		})
	}
}
