package metrics

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/app"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/runner"
)

var update = flag.Bool("update", false, "rewrite golden files")

type testConfig struct {
	Items int  `yaml:"items"`
	Fail  bool `yaml:"fail"`
}

func init() {
	collectors.Register(collectors.Definition{
		Type:          "metricstest",
		Summary:       "test collector for the metrics package",
		EvidenceTypes: []collectors.EvidenceType{{Name: "test.users", Controls: []string{"CC6.1"}}, {Name: "test.settings", Controls: []string{"CC6.2"}}},
		NewConfig:     func() any { return &testConfig{} },
		New: func(cfg any) (collectors.Collector, error) {
			c := *cfg.(*testConfig)
			return collectors.CollectorFunc(func(ctx context.Context, req collectors.Request, em collectors.Emitter) error {
				if c.Fail {
					return collectors.Permanent(errors.New("metricstest: GET /api/v1/users: 403 Forbidden (needs okta.users.read)"))
				}
				for i := 0; i < c.Items; i++ {
					if err := em.Emit(ctx, collectors.Artifact{Type: "test.users", Subject: fmt.Sprintf("user-%d", i), ContentType: "application/json", Body: []byte(fmt.Sprintf(`{"id":%d}`, i))}); err != nil {
						return err
					}
				}
				return em.Emit(ctx, collectors.Artifact{Type: "test.settings", Subject: "org", ContentType: "application/json", Body: []byte(`{"mfa":"required"}`)})
			}), nil
		},
	})
}

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func openApp(t *testing.T, clk *clock) *app.App {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
agent:
  id: metrics-test
  data_dir: %s
store:
  type: filesystem
  path: %s
collectors:
  - name: users
    type: metricstest
    metricstest:
      items: 3
  - name: broken
    type: metricstest
    metricstest:
      fail: true
  - name: idle
    type: metricstest
`, filepath.Join(dir, "data"), filepath.Join(dir, "store"))))
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(context.Background(), cfg, app.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// The scrape after two runs (the first pushed, the second kept local) is
// the golden file: run counts by outcome, artifacts and bytes by evidence
// type, last success, outbox backlog, ledger size and checkpoint age.
func TestScrapeGolden(t *testing.T) {
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clk := &clock{t: start}
	a := openApp(t, clk)
	m := New(Options{Ledger: a.Ledger, Now: clk.Now, Version: "v1.2.3"})
	for _, cc := range a.Cfg.Collectors {
		m.Init(cc.Name, cc.Type, time.Time{}, time.Time{})
	}
	users, _ := a.Cfg.Find("users")
	broken, _ := a.Cfg.Find("broken")

	sum, err := a.RunOnce(context.Background(), []*config.CollectorConfig{users, broken}, m.Observe)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Failed()) != 1 {
		t.Fatalf("want the broken collector to fail, got %+v", sum.Collectors)
	}
	// Second run an hour later with the store gone: the artifacts stay in
	// the outbox and the checkpoint is signed locally.
	clk.Set(start.Add(time.Hour))
	a.Bucket.Close()
	a.Bucket = nil
	if _, err := a.RunOnce(context.Background(), []*config.CollectorConfig{users}, m.Observe); err != nil {
		t.Fatal(err)
	}
	clk.Set(start.Add(time.Hour + 90*time.Second))

	got := scrape(t, m.Handler())
	// The database file's size depends on bbolt's page allocation.
	dbBytes := regexp.MustCompile(`(?m)^tickmark_ledger_db_bytes (\d+)$`)
	if mm := dbBytes.FindStringSubmatch(got); mm == nil || mm[1] == "0" {
		t.Fatalf("no positive tickmark_ledger_db_bytes in\n%s", got)
	}
	got = dbBytes.ReplaceAllString(got, "tickmark_ledger_db_bytes <size>")

	golden := filepath.Join("testdata", "scrape.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("scrape differs from %s (go test -update rewrites it):\n%s", golden, diff(string(want), got))
	}
	// The values that matter, independently of the golden file.
	for _, c := range []struct {
		series string
		want   float64
	}{
		{`tickmark_collector_runs_total{collector="users",outcome="success",type="metricstest"}`, 2},
		{`tickmark_collector_runs_total{collector="broken",outcome="failed",type="metricstest"}`, 1},
		{`tickmark_artifacts_total{collector="users",evidence_type="test.users"}`, 6},
		{`tickmark_artifacts_total{collector="users",evidence_type="test.settings"}`, 2},
		{`tickmark_ledger_records`, 8},
		{`tickmark_outbox_backlog`, 4},
		{`tickmark_checkpoint_tree_size`, 8},
		{`tickmark_checkpoint_age_seconds`, 90},
		{`tickmark_collector_last_success_timestamp_seconds{collector="users"}`, float64(start.Add(time.Hour).Unix())},
		{`tickmark_collector_last_success_timestamp_seconds{collector="broken"}`, 0},
	} {
		if !strings.Contains(got, fmt.Sprintf("%s %g\n", c.series, c.want)) {
			t.Errorf("scrape lacks %s %g", c.series, c.want)
		}
	}
}

func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, wl, gl)
		}
	}
	return b.String()
}

func TestObserveDurationAndBytes(t *testing.T) {
	m := New(Options{})
	t0 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	st := &runner.Stats{ByType: map[string]int{"okta.users": 2}, BytesType: map[string]int64{"okta.users": 1500}}
	m.Observe(runner.Result{Collector: "okta", Type: "okta", Outcome: ledger.OutcomeSuccess, Started: t0, Finished: t0.Add(2500 * time.Millisecond), Stats: st})
	m.Observe(runner.Result{Collector: "okta", Type: "okta", Outcome: ledger.OutcomePartial, Started: t0, Finished: t0.Add(45 * time.Second), Stats: st})
	want := `
# HELP tickmark_collector_run_duration_seconds Duration of collector runs, retries included.
# TYPE tickmark_collector_run_duration_seconds histogram
tickmark_collector_run_duration_seconds_bucket{collector="okta",le="0.5"} 0
tickmark_collector_run_duration_seconds_bucket{collector="okta",le="1"} 0
tickmark_collector_run_duration_seconds_bucket{collector="okta",le="5"} 1
tickmark_collector_run_duration_seconds_bucket{collector="okta",le="15"} 1
tickmark_collector_run_duration_seconds_bucket{collector="okta",le="30"} 1
tickmark_collector_run_duration_seconds_bucket{collector="okta",le="60"} 2
tickmark_collector_run_duration_seconds_bucket{collector="okta",le="120"} 2
tickmark_collector_run_duration_seconds_bucket{collector="okta",le="300"} 2
tickmark_collector_run_duration_seconds_bucket{collector="okta",le="600"} 2
tickmark_collector_run_duration_seconds_bucket{collector="okta",le="1200"} 2
tickmark_collector_run_duration_seconds_bucket{collector="okta",le="1800"} 2
tickmark_collector_run_duration_seconds_bucket{collector="okta",le="3600"} 2
tickmark_collector_run_duration_seconds_bucket{collector="okta",le="+Inf"} 2
tickmark_collector_run_duration_seconds_sum{collector="okta"} 47.5
tickmark_collector_run_duration_seconds_count{collector="okta"} 2
# HELP tickmark_artifact_bytes_total Bytes of artifact bodies committed by collector instance and evidence type.
# TYPE tickmark_artifact_bytes_total counter
tickmark_artifact_bytes_total{collector="okta",evidence_type="okta.users"} 3000
# HELP tickmark_collector_last_success_timestamp_seconds When the collector's latest successful run finished (Unix time; 0 if it never succeeded).
# TYPE tickmark_collector_last_success_timestamp_seconds gauge
tickmark_collector_last_success_timestamp_seconds{collector="okta"} ` + fmt.Sprintf("%g", float64(t0.Unix())+2.5) + "\n"
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "tickmark_collector_run_duration_seconds", "tickmark_artifact_bytes_total", "tickmark_collector_last_success_timestamp_seconds"); err != nil {
		t.Fatal(err)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	m := New(Options{Runtime: true})
	h := NewHealth("ledger not opened")
	srv := httptest.NewServer(m.Mux(h))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d, want 200", code)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "ledger not opened") {
		t.Errorf("/readyz before ready = %d %q, want 503 with the reason", code, body)
	}
	h.SetReady()
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz when ready = %d, want 200", code)
	}
	h.SetNotReady("shutting down")
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "shutting down") {
		t.Errorf("/readyz while stopping = %d %q", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") || !strings.Contains(body, `tickmark_build_info{version="dev"} 1`) {
		t.Errorf("/metrics = %d, want runtime and build info metrics:\n%s", code, body)
	}
}

// The Pushgateway receives the registry under job="tickmark", agent=<id>.
func TestPush(t *testing.T) {
	var got struct {
		method, path, body string
	}
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.method, got.path, got.body = r.Method, r.URL.Path, string(b)
		w.WriteHeader(http.StatusOK)
	}))
	defer gw.Close()
	m := New(Options{})
	m.Observe(runner.Result{Collector: "okta", Type: "okta", Outcome: ledger.OutcomeSuccess, Stats: &runner.Stats{}})
	if err := m.Push(context.Background(), gw.URL, "prod-1"); err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodPut || got.path != "/metrics/job/tickmark/agent/prod-1" {
		t.Errorf("push = %s %s, want PUT /metrics/job/tickmark/agent/prod-1", got.method, got.path)
	}
	if !bytes.Contains([]byte(got.body), []byte("tickmark_collector_runs_total")) {
		t.Errorf("pushed body lacks the run counter")
	}
	// A failing gateway: the error names it, without credentials.
	gw.Close()
	u := strings.Replace(gw.URL, "http://", "http://user:s3cret@", 1)
	err := m.Push(context.Background(), u, "prod-1")
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "Pushgateway") {
		t.Fatalf("err = %v, want a Pushgateway error without the password", err)
	}
}

// tickmark_check_failures and tickmark_check_failing follow each check's
// latest result; a result that tested nothing removes them.
func TestCheckResultMetrics(t *testing.T) {
	m := New(Options{})
	m.CheckResult("okta.active_users_mfa", "fail", 3)
	m.CheckResult("github.members_2fa", "pass", 0)
	m.CheckResult("aws.digest_chain_intact", "fail", 1)
	m.CheckResult("aws.digest_chain_intact", "no_data", 0)
	got := scrape(t, m.Handler())
	for _, want := range []string{
		`tickmark_check_failures{check="okta.active_users_mfa"} 3`,
		`tickmark_check_failing{check="okta.active_users_mfa"} 1`,
		`tickmark_check_failures{check="github.members_2fa"} 0`,
		`tickmark_check_failing{check="github.members_2fa"} 0`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if strings.Contains(got, "aws.digest_chain_intact") {
		t.Errorf("a check with no data still has metrics:\n%s", got)
	}
}
