package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// scriptWorkspace writes script (a shell script) and a configuration with
// one exec collector, name, running it; test.item maps to CC7.2; the
// variables in env are passed through.
func scriptWorkspace(t *testing.T, name, script string, env ...string) (dir, cfg string) {
	t.Helper()
	dir = t.TempDir()
	path := filepath.Join(dir, name+".sh")
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(dir, "tickmark.yaml")
	text := fmt.Sprintf(`agent:
  id: %s-test
  data_dir: %s/data
store:
  type: filesystem
  path: %s/store
runner:
  retries: 0
collectors:
  - name: %s
    type: exec
    schedule: "@every 1h"
    controls:
      test.item: [CC7.2]
    exec:
      command: ["/bin/sh", %q]
      env: [%s]
`, name, dir, dir, name, path, strings.Join(env, ", "))
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, cfg
}
