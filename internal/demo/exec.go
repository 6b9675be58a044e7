package demo

import (
	"context"
	"embed"
	"fmt"
	"os"
	"path/filepath"
)

//go:embed samples/*.sh
var samples embed.FS

func init() {
	Register(Source{
		Name:  "exec",
		Label: "sample shell scripts speaking the exec protocol (sample data)",
		Start: func(_ context.Context, env Env) (string, func(), error) {
			dir := filepath.Join(env.Dir, "samples")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return "", nil, err
			}
			ents, err := samples.ReadDir("samples")
			if err != nil {
				return "", nil, err
			}
			for _, e := range ents {
				b, err := samples.ReadFile("samples/" + e.Name())
				if err != nil {
					return "", nil, err
				}
				if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o700); err != nil {
					return "", nil, err
				}
			}
			yaml := fmt.Sprintf(`- name: sample-backups
  type: exec
  schedule: "@every 6h"
  controls:
    custom.backup_restore_test: [A1.2, A1.3, CC7.5]
  exec:
    command: ["/bin/sh", %q]
    timeout: 1m
- name: sample-access-review
  type: exec
  schedule: "@every 24h"
  exec:
    command: ["/bin/sh", %q]
    timeout: 1m
`, filepath.Join(dir, "backup-restore-test.sh"), filepath.Join(dir, "access-review.sh"))
			return yaml, func() {}, nil
		},
	})
}
