package console_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/tickmark-dev/tickmark/collectors/all"
	"github.com/tickmark-dev/tickmark/internal/app"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/console"
	"github.com/tickmark-dev/tickmark/internal/controls"
	"github.com/tickmark-dev/tickmark/internal/demo"
	"github.com/tickmark-dev/tickmark/internal/s3test"
	"github.com/tickmark-dev/tickmark/internal/store"
	"github.com/tickmark-dev/tickmark/internal/storeview"
	"github.com/tickmark-dev/tickmark/internal/tsa/tsatest"
)

// bucket is a test S3 server (versitygw) holding the published logs of
// several agents, filled by real runs of the engine against the sample
// sources that `tickmark demo` uses (local fakes of Okta, GitHub, Jira and
// AWS, the exec and http collectors), every checkpoint timestamped by a
// test RFC 3161 authority and every object under Object Lock.
type bucket struct {
	srv    *s3test.Server
	tsa    *tsatest.Server
	dir    string
	agents []string
	store  store.Config
	// storeYAML is the store section every agent's configuration has.
	storeYAML string
}

var agentSources = map[string][]string{
	"identity":   {"okta", "github"},
	"cloud":      {"aws", "jira"},
	"operations": {"exec", "http"},
}

func fillBucket(t *testing.T) *bucket {
	t.Helper()
	ctx := context.Background()
	b := &bucket{srv: s3test.Start(t), tsa: tsatest.Start(t, time.Time{}, time.Time{}), dir: t.TempDir()}
	b.srv.CreateBucket(t, "evidence", true)
	t.Setenv("TEST_S3_ACCESS", b.srv.AccessKey)
	t.Setenv("TEST_S3_SECRET", b.srv.SecretKey)
	entries := map[string]string{}
	env := demo.Env{Dir: b.dir, Setenv: func(k, v string) { t.Setenv(k, v) }}
	for _, s := range demo.Sources() {
		y, stop, err := s.Start(ctx, env)
		if err != nil {
			t.Fatalf("starting sample source %s: %v", s.Name, err)
		}
		t.Cleanup(stop)
		entries[s.Name] = y
	}
	storeYAML := fmt.Sprintf(`store:
  type: s3
  bucket: evidence
  prefix: soc2/
  region: us-east-1
  endpoint: %s
  path_style: true
  access_key_id: env:TEST_S3_ACCESS
  secret_access_key: env:TEST_S3_SECRET
  object_lock: {mode: COMPLIANCE, retain_days: 30}
`, b.srv.Endpoint)
	b.storeYAML = storeYAML
	for _, agent := range []string{"identity", "cloud", "operations"} {
		var cs []string
		for _, s := range agentSources[agent] {
			if entries[s] == "" {
				t.Fatalf("no sample source %q", s)
			}
			cs = append(cs, indent(entries[s]))
		}
		y := fmt.Sprintf("agent:\n  id: %s\n  data_dir: %s\n%stimestamp_authority:\n  url: %s\n  ca_bundle: file:%s\ncollectors:\n%s",
			agent, filepath.Join(b.dir, agent+"-data"), storeYAML, b.tsa.URL, b.tsa.CAFile, strings.Join(cs, ""))
		p := filepath.Join(b.dir, agent+".yaml")
		if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(p)
		if err != nil {
			t.Fatalf("%s: %v", agent, err)
		}
		for run := 0; run < 2; run++ {
			a, err := app.Open(ctx, cfg, app.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ccs, _ := a.Select(nil)
			sum, err := a.RunOnce(ctx, ccs, nil)
			a.Close()
			if err != nil {
				t.Fatalf("agent %s run %d: %v", agent, run, err)
			}
			for _, c := range sum.Collectors {
				if c.Error != "" {
					t.Fatalf("agent %s: collector %s failed: %s", agent, c.Name, c.Error)
				}
			}
		}
		b.agents = append(b.agents, agent)
		if b.store.Type == "" {
			b.store = cfg.Store
		}
	}
	return b
}

func indent(s string) string {
	var out strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out.WriteString("  ")
		}
		out.WriteString(l)
	}
	return out.String()
}

// consoleLedger is the console's own ledger (agent "console"), publishing
// to the same bucket, where it records accesses as evidence.
func (b *bucket) consoleLedger(t *testing.T) *console.AccessLedger {
	p := filepath.Join(b.dir, "console.yaml")
	y := fmt.Sprintf("agent:\n  id: console\n  data_dir: %s\n%stimestamp_authority:\n  url: %s\n  ca_bundle: file:%s\ncollectors: []\n",
		filepath.Join(b.dir, "console-data"), b.storeYAML, b.tsa.URL, b.tsa.CAFile)
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := console.NewAccessLedger(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rec.Close() })
	return rec
}

// checksByControl maps each control to the result types of the control
// tests the agents ran (the default check set), as `tickmark serve` does.
func (b *bucket) checksByControl(t *testing.T) map[string][]string {
	cfg, err := config.Load(filepath.Join(b.dir, "identity.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := cfg.CheckSet()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, c := range set.Checks {
		for _, id := range c.Controls {
			out[id] = append(out[id], c.Type())
		}
	}
	return out
}

// opener reads the bucket as `tickmark serve --from-store` does.
func (b *bucket) opener(t *testing.T) func(ctx context.Context) (*console.Fleet, error) {
	st, err := store.Open(context.Background(), b.store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return console.BucketOpener(&storeview.View{Bucket: store.NewBucket(st, b.store.Prefix)}, "")
}

func defaultControls(t testing.TB) *controls.Set {
	set, err := controls.Load("")
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func jsonLogger(w *syncBuffer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }
