package daemon

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/app"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/metrics"
	"github.com/tickmark-dev/tickmark/internal/runner"
	"github.com/tickmark-dev/tickmark/internal/verify"
)

// tracker counts one instance's runs and how many overlap.
type tracker struct {
	started, running, maxRunning atomic.Int32
	firstStart                   chan struct{}
	once                         sync.Once
}

var trackers sync.Map // instance name -> *tracker

func track(name string) *tracker {
	t, _ := trackers.LoadOrStore(name, &tracker{firstStart: make(chan struct{})})
	return t.(*tracker)
}

// resetTrackers starts the named instances' counts afresh (go test -count=N
// runs a test again in the same process).
func resetTrackers(names ...string) {
	for _, n := range names {
		trackers.Store(n, &tracker{firstStart: make(chan struct{})})
	}
}

type testConfig struct {
	// Sleep is how long each run takes (cancellable); artifacts are
	// checkpointed before it and emitted uncommitted after it.
	Sleep collectors.Duration `yaml:"sleep"`
	Items int                 `yaml:"items"`
}

func init() {
	collectors.Register(collectors.Definition{
		Type:          "daemontest",
		Summary:       "test collector for the daemon",
		EvidenceTypes: []collectors.EvidenceType{{Name: "test.items", Controls: []string{"CC7.2"}}},
		NewConfig:     func() any { return &testConfig{} },
		New: func(cfg any) (collectors.Collector, error) {
			c := *cfg.(*testConfig)
			return collectors.CollectorFunc(func(ctx context.Context, req collectors.Request, em collectors.Emitter) error {
				tr := track(req.Instance)
				tr.started.Add(1)
				n := tr.running.Add(1)
				defer tr.running.Add(-1)
				for {
					m := tr.maxRunning.Load()
					if n <= m || tr.maxRunning.CompareAndSwap(m, n) {
						break
					}
				}
				tr.once.Do(func() { close(tr.firstStart) })
				for i := 0; i < c.Items; i++ {
					if err := em.Emit(ctx, collectors.Artifact{Type: "test.items", Subject: fmt.Sprintf("item-%d", i), ContentType: "text/plain", Body: []byte(req.RunID + fmt.Sprint(i))}); err != nil {
						return err
					}
				}
				if err := em.Checkpoint(ctx, req.RunID); err != nil {
					return err
				}
				if c.Sleep > 0 {
					t := time.NewTimer(c.Sleep.D())
					defer t.Stop()
					select {
					case <-t.C:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				return nil
			}), nil
		},
	})
}

func openApp(t *testing.T, collectorsYAML string) *app.App {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
agent:
  id: daemon-test
  data_dir: %s
store:
  type: filesystem
  path: %s
runner:
  retries: 0
collectors:
%s`, filepath.Join(dir, "data"), filepath.Join(dir, "store"), collectorsYAML)))
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(context.Background(), cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func runs(t *testing.T, a *app.App, collector string) []*ledger.Run {
	t.Helper()
	var out []*ledger.Run
	if err := a.Ledger.Runs(collector, time.Time{}, time.Time{}, func(r *ledger.Run) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// startDaemon runs the daemon until the returned stop is called; stop
// returns Run's error and how long shutdown took.
func startDaemon(t *testing.T, o Options) (stop func() (error, time.Duration)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, o) }()
	return func() (error, time.Duration) {
		t0 := time.Now()
		cancel()
		select {
		case err := <-errc:
			return err, time.Since(t0)
		case <-time.After(30 * time.Second):
			t.Fatal("daemon did not stop within 30s")
			return nil, 0
		}
	}
}

func verifyLedger(t *testing.T, a *app.App) *verify.Report {
	t.Helper()
	rep, err := verify.Ledger(context.Background(), a.Ledger, verify.Options{Bucket: a.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("ledger does not verify: %v", rep.Problems)
	}
	return rep
}

// Two collectors on "@every 2s" run about five times each in ten seconds,
// each run is committed, signed and pushed, and the ledger verifies.
func TestTwoCollectorsEveryTwoSeconds(t *testing.T) {
	t.Parallel()
	a := openApp(t, `
  - name: every2-a
    type: daemontest
    schedule: "@every 2s"
    daemontest: {items: 2}
  - name: every2-b
    type: daemontest
    schedule: "@every 2s"
    daemontest: {items: 1}
`)
	m := metrics.New(metrics.Options{Ledger: a.Ledger})
	ccs, _ := a.Select(nil)
	stop := startDaemon(t, Options{App: a, Collectors: ccs, Metrics: m, Grace: 5 * time.Second})
	time.Sleep(10*time.Second + 500*time.Millisecond)
	if err, _ := stop(); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, name := range []string{"every2-a", "every2-b"} {
		rs := runs(t, a, name)
		if len(rs) < 4 || len(rs) > 6 {
			t.Errorf("%s ran %d times in 10s on @every 2s, want about 5", name, len(rs))
		}
		for _, r := range rs {
			if r.Outcome != ledger.OutcomeSuccess {
				t.Errorf("%s run %s: %s %s", name, r.RunID, r.Outcome, r.Error)
			}
		}
		total += len(rs)
	}
	want := int64(2*len(runs(t, a, "every2-a")) + len(runs(t, a, "every2-b")))
	if a.Ledger.Size() != want {
		t.Errorf("ledger holds %d records, want %d", a.Ledger.Size(), want)
	}
	rep := verifyLedger(t, a)
	if rep.StoreCheckpoints < 2 {
		t.Errorf("%d checkpoints in the store, want one per push", rep.StoreCheckpoints)
	}
	if n, _ := a.Ledger.OutboxLen(); n != 0 {
		t.Errorf("outbox holds %d bodies after shutdown, want 0 (pushed)", n)
	}
	body := scrape(m)
	if !strings.Contains(body, fmt.Sprintf(`tickmark_collector_runs_total{collector="every2-a",outcome="success",type="daemontest"} %d`, len(runs(t, a, "every2-a")))) {
		t.Errorf("metrics do not count every2-a's runs:\n%s", body)
	}
}

// A collector slower than its interval is never run twice at once: the
// overlapping starts are skipped and counted.
func TestSlowCollectorNeverOverlaps(t *testing.T) {
	t.Parallel()
	resetTrackers("slow")
	a := openApp(t, `
  - name: slow
    type: daemontest
    schedule: "@every 1s"
    daemontest: {sleep: 2500ms, items: 1}
`)
	m := metrics.New(metrics.Options{})
	ccs, _ := a.Select(nil)
	stop := startDaemon(t, Options{App: a, Collectors: ccs, Metrics: m, Grace: 5 * time.Second})
	time.Sleep(7 * time.Second)
	if err, _ := stop(); err != nil {
		t.Fatal(err)
	}
	tr := track("slow")
	if got := tr.maxRunning.Load(); got != 1 {
		t.Errorf("slow collector ran %d at once, want 1", got)
	}
	rs := runs(t, a, "slow")
	if len(rs) < 2 || len(rs) > 3 {
		t.Errorf("slow collector (2.5s on @every 1s) ran %d times in 7s, want 2 or 3", len(rs))
	}
	for i := 1; i < len(rs); i++ {
		if rs[i].Started.Before(rs[i-1].Finished) {
			t.Errorf("run %d started at %s before run %d finished at %s", i, rs[i].Started, i-1, rs[i-1].Finished)
		}
	}
	body := scrape(m)
	if strings.Contains(body, `tickmark_collector_runs_skipped_total{collector="slow"} 0`) || !strings.Contains(body, `tickmark_collector_runs_skipped_total{collector="slow"}`) {
		t.Errorf("skips not counted:\n%s", grep(body, "skipped"))
	}
}

// Shutdown during a run that outlasts the grace period cancels it: the run
// is recorded as failed, what it checkpointed is committed, a final
// checkpoint covers it, and the ledger verifies.
func TestShutdownCancelsAfterGrace(t *testing.T) {
	t.Parallel()
	resetTrackers("stuck")
	a := openApp(t, `
  - name: stuck
    type: daemontest
    schedule: "@every 1s"
    daemontest: {sleep: 1h, items: 3}
`)
	ccs, _ := a.Select(nil)
	stop := startDaemon(t, Options{App: a, Collectors: ccs, Grace: time.Second})
	select {
	case <-track("stuck").firstStart:
	case <-time.After(5 * time.Second):
		t.Fatal("collector never started")
	}
	err, took := stop()
	if err != nil {
		t.Fatal(err)
	}
	if took < time.Second || took > 4*time.Second {
		t.Errorf("shutdown took %s with a 1s grace period, want just over 1s", took)
	}
	rs := runs(t, a, "stuck")
	if len(rs) != 1 || rs[0].Outcome != ledger.OutcomePartial || !strings.Contains(rs[0].Error, "context canceled") {
		t.Fatalf("runs = %+v, want one partial run cancelled", rs)
	}
	if a.Ledger.Size() != 3 {
		t.Errorf("ledger holds %d records, want the 3 checkpointed before cancellation", a.Ledger.Size())
	}
	size, _, ok, err := a.Ledger.LastCheckpoint()
	if err != nil || !ok || size != 3 {
		t.Errorf("last checkpoint size %d (ok %v, err %v), want 3", size, ok, err)
	}
	verifyLedger(t, a)
}

// A run that ends within the grace period completes normally.
func TestShutdownLetsRunFinishWithinGrace(t *testing.T) {
	t.Parallel()
	resetTrackers("brief")
	a := openApp(t, `
  - name: brief
    type: daemontest
    schedule: "@every 1s"
    daemontest: {sleep: 1500ms, items: 2}
`)
	ccs, _ := a.Select(nil)
	stop := startDaemon(t, Options{App: a, Collectors: ccs, Grace: 10 * time.Second})
	select {
	case <-track("brief").firstStart:
	case <-time.After(5 * time.Second):
		t.Fatal("collector never started")
	}
	err, took := stop()
	if err != nil {
		t.Fatal(err)
	}
	if took > 5*time.Second {
		t.Errorf("shutdown took %s, want about the rest of the 1.5s run", took)
	}
	rs := runs(t, a, "brief")
	if len(rs) != 1 || rs[0].Outcome != ledger.OutcomeSuccess {
		t.Fatalf("runs = %+v, want one successful run", rs)
	}
	verifyLedger(t, a)
	if n, _ := a.Ledger.OutboxLen(); n != 0 {
		t.Errorf("outbox holds %d after shutdown, want 0: the final push sends it", n)
	}
}

// A panic in a scheduled job is recovered, logged and counted; the
// collector keeps being scheduled.
func TestPanicRecovered(t *testing.T) {
	t.Parallel()
	a := openApp(t, `
  - name: panicky
    type: daemontest
    schedule: "@every 1s"
`)
	m := metrics.New(metrics.Options{})
	ccs, _ := a.Select(nil)
	var calls atomic.Int32
	stop := startDaemon(t, Options{App: a, Collectors: ccs, Metrics: m, Grace: 5 * time.Second, Observe: func(runner.Result) {
		if calls.Add(1) == 1 {
			panic("observer exploded")
		}
	}})
	time.Sleep(3500 * time.Millisecond)
	if err, _ := stop(); err != nil {
		t.Fatal(err)
	}
	if n := len(runs(t, a, "panicky")); n < 2 {
		t.Errorf("collector ran %d times, want it scheduled again after the panic", n)
	}
	if body := scrape(m); !strings.Contains(body, `tickmark_scheduler_panics_total{collector="panicky"} 1`) {
		t.Errorf("panic not counted:\n%s", grep(body, "panic"))
	}
}

// /readyz turns ready once the collectors are scheduled and unready when
// shutdown begins; /metrics and /healthz are served.
func TestEndpoints(t *testing.T) {
	t.Parallel()
	resetTrackers("endpoint")
	a := openApp(t, `
  - name: endpoint
    type: daemontest
    schedule: "@every 1s"
    daemontest: {sleep: 2s, items: 1}
`)
	m := metrics.New(metrics.Options{Ledger: a.Ledger, Runtime: true})
	h := metrics.NewHealth("starting")
	ccs, _ := a.Select(nil)
	addr := make(chan net.Addr, 1)
	stop := startDaemon(t, Options{App: a, Collectors: ccs, Metrics: m, Health: h, Listen: "127.0.0.1:0", OnListen: func(ad net.Addr) { addr <- ad }, Grace: 5 * time.Second})
	base := "http://" + (<-addr).String()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _ := get(t, base+"/readyz")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never 200 (last %d)", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	<-track("endpoint").firstStart
	code, body := get(t, base+"/metrics")
	if code != 200 || !strings.Contains(body, "tickmark_ledger_records") || !strings.Contains(body, "tickmark_collector_next_run_timestamp_seconds{collector=\"endpoint\"}") {
		t.Errorf("/metrics = %d:\n%s", code, body)
	}
	// During shutdown (the run takes 2s) /readyz says so.
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	deadline = time.Now().Add(2 * time.Second)
	for {
		code, body := get(t, base+"/readyz")
		if code == 503 && strings.Contains(body, "shutting down") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d %q during shutdown, want 503 shutting down", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	<-done
}

// Listening without a Health of one's own still turns /readyz ready.
func TestReadyWithoutOwnHealth(t *testing.T) {
	t.Parallel()
	a := openApp(t, `
  - name: readiness
    type: daemontest
    schedule: "@every 1h"
`)
	ccs, _ := a.Select(nil)
	addr := make(chan net.Addr, 1)
	stop := startDaemon(t, Options{App: a, Collectors: ccs, Listen: "127.0.0.1:0", OnListen: func(ad net.Addr) { addr <- ad }})
	defer stop()
	base := "http://" + (<-addr).String()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if code, _ := get(t, base+"/readyz"); code == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz never turned ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRefusesNothingToSchedule(t *testing.T) {
	a := openApp(t, "  []\n")
	if err := Run(context.Background(), Options{App: a}); err == nil || !strings.Contains(err.Error(), "no enabled collector") {
		t.Fatalf("err = %v", err)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func scrape(m *metrics.Metrics) string {
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// At start, collectors already due given their last run in the ledger run
// at once; the others wait for their schedule. A restart never postpones a
// collection by a whole interval, nor repeats one that just ran.
func TestDueCollectorsRunAtStart(t *testing.T) {
	t.Parallel()
	resetTrackers("start-never-ran", "start-ran-long-ago", "start-ran-recently")
	a := openApp(t, `
  - name: start-never-ran
    type: daemontest
    schedule: "@every 1h"
    daemontest: {items: 1}
  - name: start-ran-long-ago
    type: daemontest
    schedule: "@every 1h"
    daemontest: {items: 1}
  - name: start-ran-recently
    type: daemontest
    schedule: "@every 1h"
    daemontest: {items: 1}
`)
	now := time.Now().UTC()
	for name, ago := range map[string]time.Duration{"start-ran-long-ago": 3 * time.Hour, "start-ran-recently": 10 * time.Minute} {
		if err := a.Ledger.RecordRun(&ledger.Run{Collector: name, Started: now.Add(-ago), Finished: now.Add(-ago + time.Minute), Outcome: ledger.OutcomeSuccess}); err != nil {
			t.Fatal(err)
		}
	}
	ccs, _ := a.Select(nil)
	stop := startDaemon(t, Options{App: a, Collectors: ccs, Grace: 5 * time.Second})
	for _, n := range []string{"start-never-ran", "start-ran-long-ago"} {
		select {
		case <-track(n).firstStart:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s did not run at start", n)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if err, _ := stop(); err != nil {
		t.Fatal(err)
	}
	// Recorded runs plus the ones this daemon started.
	for name, want := range map[string]int{"start-never-ran": 1, "start-ran-long-ago": 2, "start-ran-recently": 1} {
		if got := len(runs(t, a, name)); got != want {
			t.Errorf("%s: %d runs in the ledger, want %d", name, got, want)
		}
	}
	if track("start-ran-recently").started.Load() != 0 {
		t.Error("start-ran-recently ran although its last run was 10 minutes ago on @every 1h")
	}
}
