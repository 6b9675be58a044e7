package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/tickmark-dev/tickmark/internal/app"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/ledger"
)

// newKeygenCmd builds `tickmark keygen` (listed in root.go).
func newKeygenCmd(e *env) *cobra.Command {
	var rotate bool
	c := &cobra.Command{
		Use:   "keygen",
		Short: "Create the agent's Ed25519 signing key (otherwise made on first run), or rotate it",
		Long: `Create the agent's checkpoint signing key in its data dir (mode 0600) and
print the public key, which is also published in the store under
log/<agent>/keys/. Refuses to replace an existing key.

With --rotate, make a new key and hand the log over to it: an announcement
signed by the old and the new key is recorded in the ledger and published as
log/<agent>/keys/<new-id>.announce; the old public key stays in the key
history so every earlier checkpoint stays verifiable; the old private key
file is kept as retired-<id>.key (mode 0600) — delete it once you are sure.`,
		Example: "  tickmark keygen --config tickmark.yaml\n  tickmark keygen --rotate --config tickmark.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.loadConfigForReading()
			if err != nil {
				return err
			}
			if rotate {
				return e.rotateKey(cfg)
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
	c.Flags().BoolVar(&rotate, "rotate", false, "replace the signing key, announced by the old one")
	return c
}

func (e *env) rotateKey(cfg *config.Config) error {
	l, err := ledger.Open(cfg.Agent.DataDir, cfg.Agent.ID, ledger.Options{})
	if err != nil {
		return failErr(err, "")
	}
	defer l.Close()
	old, nk, err := l.Rotate(app.KeyPath(cfg))
	if err != nil {
		return failErr(err, "")
	}
	fmt.Fprintf(e.stdout, "rotated signing key %s -> %s at tree size %d\nnew public key: %s\nthe announcement and the new key are published with the next run\n", old.ID, nk.ID, l.Size(), nk.Verifier)
	return nil
}
