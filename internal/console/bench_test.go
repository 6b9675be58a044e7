package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/console"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
)

// benchLedger writes (once per machine: it is kept in the temporary
// folder) a ledger of n records spread evenly over 2026 across every
// evidence type of the default control set (26 controls), filed under the
// controls' first criteria, by one collector per type, with a run per
// collector per day (every 50th failed).
func benchLedger(b *testing.B, n int) string {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("tickmark-console-bench-%d", n))
	if _, err := os.Stat(filepath.Join(dir, "done")); err == nil {
		return dir
	}
	os.RemoveAll(dir)
	set := defaultControls(b)
	types := set.Types()
	l, err := ledger.Open(dir, "bench", ledger.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	step := 365 * 24 * time.Hour / time.Duration(n)
	const batch = 10000
	sum := fmt.Sprintf("%064x", 1)
	ctx := context.Background()
	for i := 0; i < n; i += batch {
		c := &ledger.Commit{}
		for j := i; j < min(i+batch, n); j++ {
			t := types[j%len(types)]
			ctl := set.ForType(t)[0].Criteria[0]
			c.Records = append(c.Records, ledger.Pending{Record: evidence.Record{V: evidence.Version, Agent: "bench", Collector: "c-" + strings.ReplaceAll(t, ".", "-"),
				CollectorType: "x", RunID: "r", Type: t, Subject: "s" + strconv.Itoa(j%1000), Controls: []string{ctl}, CollectedAt: start.Add(time.Duration(j) * step),
				Source: collectors.Source{System: "x"}, ContentType: "application/json", Size: 10, SHA256: sum}})
		}
		if _, err := l.Commit(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	for d := 0; d < 365; d++ {
		for _, t := range types {
			outcome := ledger.OutcomeSuccess
			if d%50 == 7 {
				outcome = ledger.OutcomeFailed
			}
			s := start.AddDate(0, 0, d).Add(time.Hour)
			if err := l.RecordRun(&ledger.Run{Collector: "c-" + strings.ReplaceAll(t, ".", "-"), CollectorType: "x", RunID: fmt.Sprint(d), Started: s, Finished: s.Add(time.Minute),
				Outcome: outcome, EvidenceTypes: []string{t}}); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "done"), nil, 0o600); err != nil {
		b.Fatal(err)
	}
	return dir
}

// peakRSS returns the process's peak resident set (VmHWM), in bytes;
// resetPeakRSS starts it again from the current resident set.
func peakRSS(b *testing.B) float64 {
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(st), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb * 1024
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// cpuTime is the process's user and system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func resetPeakRSS(b *testing.B) {
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0o200); err != nil {
		b.Fatal(err)
	}
}

// benchConsole serves a loopback console over the benchmark ledger, read
// as `tickmark serve` reads a local ledger.
func benchConsole(b *testing.B, n int) http.Handler {
	dir := benchLedger(b, n)
	l, err := ledger.Open(dir, "bench", ledger.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	src := &readmodel.Ledger{L: l}
	srv, err := console.New(context.Background(), console.Config{
		Open: func(context.Context) (*console.Fleet, error) {
			return &console.Fleet{Where: "bench ledger", Agents: map[string]console.AgentSource{"bench": src}}, nil
		},
		Controls: defaultControls(b),
		Now:      func() time.Time { return time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		b.Fatal(err)
	}
	l.ReleaseMemory()
	return srv.Handler()
}

func benchPage(b *testing.B, path, want string) {
	h := benchConsole(b, 1_000_000)
	get := func() *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), want) {
			b.Fatalf("GET %s: %d\n%.2000s", path, w.Code, w.Body.String())
		}
		return w
	}
	// The first view after the evidence is read decodes every period's
	// latest record; later views find them in the fleet's record cache.
	t0 := time.Now()
	get()
	first := time.Since(t0)
	resetPeakRSS(b)
	cpu0 := cpuTime(b)
	b.ResetTimer()
	var size int
	for b.Loop() {
		size = get().Body.Len()
	}
	b.StopTimer()
	// CPU time is the server's own work, whatever else the machine runs
	// (ns/op is wall time, which a loaded machine stretches).
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
	b.ReportMetric(peakRSS(b)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(first)/1e6, "first-view-ms")
	b.ReportMetric(float64(size)/1024, "page-KiB")
}

// BenchmarkDashboard1M: the dashboard of the default control set (26
// controls) for 2026 over a ledger of 1,000,000 records. Target: under
// 500 ms server time, peak RSS under 256 MiB.
func BenchmarkDashboard1M(b *testing.B) {
	benchPage(b, "/dashboard?from=2026-01-01&to=2026-12-31", "AC-04")
}

// BenchmarkControl1M: one control's page (a daily control: 365 periods).
func BenchmarkControl1M(b *testing.B) {
	benchPage(b, "/controls/AC-04?from=2026-01-01&to=2026-12-31", "Periods")
}

// BenchmarkArtifacts1M: a page of the artifact list deep in the window.
func BenchmarkArtifacts1M(b *testing.B) {
	benchPage(b, "/artifacts?from=2026-11-01&to=2026-12-31&type=okta.users", "okta.users")
}
