package app_test

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"testing/cryptotest"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/app"
	"github.com/tickmark-dev/tickmark/internal/config"
)

var update = flag.Bool("update", false, "rewrite testdata/golden-run.txt")

func init() {
	collectors.Register(collectors.Definition{
		Type:          "goldenfix",
		Summary:       "deterministic artifacts for the byte-identical run test",
		EvidenceTypes: []collectors.EvidenceType{{Name: "golden.items", Controls: []string{"CC6.1", "CC7.2"}}, {Name: "golden.events", Controls: []string{"CC8.1"}}},
		New: func(any) (collectors.Collector, error) {
			return collectors.CollectorFunc(func(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
				start := 0
				if req.Cursor != "" {
					fmt.Sscan(req.Cursor, &start)
				}
				for i := start; i < start+170; i++ {
					a := collectors.Artifact{Type: "golden.items", Subject: fmt.Sprintf("%s-item-%04d", req.Instance, i), ContentType: "application/json",
						Body: fmt.Appendf(nil, `{"instance":%q,"i":%d}`, req.Instance, i), ObservedAt: req.Now.Add(-time.Duration(i) * time.Minute),
						Source: collectors.Source{System: "golden", Endpoint: "/items", Account: "acme", Items: 1, Complete: true}}
					if i%7 == 0 {
						a.Type, a.Controls = "golden.events", []string{"CC8.1", "A1.2"}
						a.WindowStart, a.WindowEnd = req.Now.Add(-time.Hour), req.Now
					}
					if err := emit.Emit(ctx, a); err != nil {
						return err
					}
					if i%50 == 49 {
						if err := emit.Checkpoint(ctx, fmt.Sprint(i+1)); err != nil {
							return err
						}
					}
				}
				return emit.Checkpoint(ctx, fmt.Sprint(start+170))
			}), nil
		},
	})
}

// TestGoldenRun runs the engine three times (two collectors, 510 records:
// full and partial entry bundles and hash tiles, three checkpoints and state
// files, a cursor resumed) on a fixed clock with a deterministic key and run IDs, and
// compares every object in the store and every ledger bucket with
// testdata/golden-run.txt, generated before the core refactor (issue 14):
// the published formats, the bucket layout and the ledger are byte-identical.
func TestGoldenRun(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 14)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tickmark.yaml")
	text := fmt.Sprintf(`agent:
  id: golden
  data_dir: %s/data
store:
  type: filesystem
  path: %s/store
  prefix: evidence
runner:
  concurrency: 1
  retries: 0
collectors:
  - name: alpha
    type: goldenfix
    schedule: "@every 1h"
  - name: beta
    type: goldenfix
    schedule: "@every 1h"
    controls:
      golden.items: [CC6.2]
`, dir, dir)
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.UTC)
	clock := func() time.Time { return now }
	// One collector per run: the runner starts collectors concurrently, so
	// two in one run would interleave their sequence numbers.
	for run, name := range []string{"alpha", "beta", "alpha"} {
		a, err := app.Open(context.Background(), cfg, app.Options{Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		ccs, err := a.Select([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := a.RunOnce(context.Background(), ccs, nil)
		if err != nil || !sum.OK {
			t.Fatalf("run %d: %v %+v", run, err, sum)
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		now = now.Add(26*time.Hour + 17*time.Second)
	}
	got := goldenManifest(t, dir)
	golden := filepath.Join("testdata", "golden-run.txt")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		wantSet := map[string]bool{}
		for _, l := range strings.Split(string(want), "\n") {
			wantSet[l] = true
		}
		n := 0
		for _, l := range strings.Split(got, "\n") {
			if !wantSet[l] {
				if n++; n <= 10 {
					t.Errorf("not in %s: %s", golden, l)
				}
			}
			delete(wantSet, l)
		}
		for l := range wantSet {
			if n++; n <= 20 {
				t.Errorf("missing (in %s): %s", golden, l)
			}
		}
		t.Fatalf("the store or the ledger differs from %s (%d lines)", golden, n)
	}
}

// goldenManifest lists every store object (path, size, SHA-256) and every
// ledger bucket (key count, SHA-256 over its keys and values in order).
func goldenManifest(t *testing.T, dir string) string {
	var lines []string
	root := filepath.Join(dir, "store")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		lines = append(lines, fmt.Sprintf("store %s %d %x", filepath.ToSlash(rel), len(b), sha256.Sum256(b)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, "data", "ledger.db"), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			h, n := sha256.New(), 0
			err := b.ForEach(func(k, v []byte) error {
				fmt.Fprintf(h, "%d:%x=%d:%x;", len(k), k, len(v), v)
				n++
				return nil
			})
			lines = append(lines, fmt.Sprintf("ledger %s %d %x", name, n, h.Sum(nil)))
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}
