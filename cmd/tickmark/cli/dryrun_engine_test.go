package cli_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tickmark-dev/tickmark/collectors"
)

func init() {
	collectors.Register(collectors.Definition{
		Type:          "panicky",
		Summary:       "test collector that emits one artifact, then panics",
		EvidenceTypes: []collectors.EvidenceType{{Name: "panicky.item", Controls: []string{"CC7.2"}}},
		New: func(any) (collectors.Collector, error) {
			return collectors.CollectorFunc(func(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
				if err := emit.Emit(ctx, collectors.Artifact{Type: "panicky.item", Subject: "before", Body: []byte("{}")}); err != nil {
					return err
				}
				panic("boom")
			}), nil
		},
	})
}

// The dry run runs a collector the way the engine does: a panic is the
// run's permanent failure (exit 1), not a crash; `run --once` the same.
func TestDryRunRecoversAPanicLikeTheEngine(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tickmark.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("agent:\n  id: p\n  data_dir: %s/data\nstore:\n  type: filesystem\n  path: %s/store\nrunner:\n  retries: 0\ncollectors:\n  - name: p\n    type: panicky\n", dir, dir)), 0o600)
	for _, args := range [][]string{{"collectors", "test", "p"}, {"run", "--once"}} {
		r := tickmark(t, append(args, "--config", cfg)...)
		if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "collector panicked: boom") {
			t.Errorf("%v: exit %d, want 1 naming the panic\n%s%s", args, r.code, r.stdout, r.stderr)
		}
	}
}
