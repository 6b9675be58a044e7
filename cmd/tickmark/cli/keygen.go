package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/tickmark-dev/tickmark/internal/app"
	"github.com/tickmark-dev/tickmark/internal/ledger"
)

func init() {
	register(func(e *env) *cobra.Command {
		c := &cobra.Command{
			Use:   "keygen",
			Short: "Create the agent's Ed25519 signing key (otherwise made on first run)",
			Long: `Create the agent's checkpoint signing key in its data dir (mode 0600) and
print the public key, which is also published in the store under
log/<agent>/keys/. Refuses to replace an existing key.`,
			Example: "  tickmark keygen --config tickmark.yaml",
			Args:    cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				cfg, err := e.loadConfig()
				if err != nil {
					return err
				}
				if err := os.MkdirAll(cfg.Agent.DataDir, 0o700); err != nil {
					return failErr(err, "")
				}
				path := app.KeyPath(cfg)
				if _, err := os.Stat(path); err == nil {
					k, err := ledger.LoadKey(path)
					if err != nil {
						return failErr(err, "")
					}
					return failErr(fmt.Errorf("a signing key already exists at %s (key %s)", path, k.ID), "keep it: old checkpoints are verified with it")
				} else if !errors.Is(err, fs.ErrNotExist) {
					return failErr(err, "")
				}
				k, err := ledger.GenerateKey(path, ledger.Origin(cfg.Agent.ID))
				if err != nil {
					return failErr(err, "")
				}
				fmt.Fprintf(e.stdout, "created signing key %s\npublic key: %s\n", path, k.Verifier)
				return nil
			},
		}
		return c
	})
}
