package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/tickmark-dev/tickmark/internal/app"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/storeview"
)

// newLedgerCmd builds `tickmark ledger` (listed in root.go).
func newLedgerCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "ledger", Short: "Manage the local ledger"}
	var asJSON bool
	restore := &cobra.Command{
		Use:   "restore",
		Short: "Rebuild a lost local ledger from the store",
		Long: `Rebuild this agent's local ledger (agent.data_dir) from its log in the store:
the records from the entry bundles (Merkle hashes recomputed), every signed
checkpoint, timestamp tokens and public keys, and, from the newest state object
the log covers (log/<agent>/state/), each collector's cursor and last runs.
The log is verified first (signatures, tiles, and every checkpoint against the
latest); the rebuilt tree must match the latest checkpoint's root. The next
run then continues the same Merkle log: its checkpoint extends the old one.

Collectors resume from the restored cursors. Bodies are not copied back:
they are in the store already. If the signing key was on the lost disk too,
the next run generates a new key and announces it next to the old ones (keep
the key in a Kubernetes Secret to avoid that). Refuses a data dir that
already holds a ledger.`,
		Example: `  tickmark ledger restore --config /etc/tickmark/config.yaml
  tickmark run --once --config /etc/tickmark/config.yaml   # continues the log`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.loadConfigForReading()
			if err != nil {
				return err
			}
			dbPath := filepath.Join(cfg.Agent.DataDir, ledger.DBFile)
			if _, err := os.Stat(dbPath); err == nil {
				return usageErr(fmt.Errorf("%s already holds a ledger; restore only rebuilds a lost one", dbPath),
					"run `tickmark verify` on it, or move it away first if you mean to replace it")
			} else if !errors.Is(err, fs.ErrNotExist) {
				return failErr(err, "")
			}
			v, done, err := e.openView()
			if err != nil {
				return err
			}
			defer done()
			l, err := ledger.Open(cfg.Agent.DataDir, cfg.Agent.ID, ledger.Options{})
			if err != nil {
				return failErr(err, "")
			}
			rep, err := v.Restore(e.ctx, l)
			cerr := l.Close()
			if err == nil {
				err = cerr
			}
			if err != nil {
				// Leave no half-restored ledger behind: the next attempt starts clean.
				_ = os.Remove(dbPath)
				var re *storeview.RestoreError
				if errors.As(err, &re) {
					return failErr(err, "run `tickmark verify --from-store --agent "+cfg.Agent.ID+"` for the full list")
				}
				return failErr(fmt.Errorf("restore failed: %w", err), "")
			}
			_, keyErr := os.Stat(app.KeyPath(cfg))
			if asJSON {
				return printJSON(e.stdout, rep)
			}
			w := e.stdout
			fmt.Fprintf(w, "restored agent %s from %s\n", rep.Agent, v.Bucket.Describe())
			fmt.Fprintf(w, "  %d records, tree size %d, root %s (matches the latest signed checkpoint)\n", rep.Records, rep.TreeSize, rep.Root)
			fmt.Fprintf(w, "  %d checkpoints, %d public keys\n", rep.Checkpoints, rep.Keys)
			if rep.State != "" {
				fmt.Fprintf(w, "  %d cursors and %d runs from %s\n", rep.Cursors, rep.Runs, rep.State)
			} else {
				fmt.Fprintf(w, "  no state object: collectors start again from their backfill window (duplicates possible, no gap)\n")
			}
			if errors.Is(keyErr, fs.ErrNotExist) {
				fmt.Fprintf(w, "  no signing key in %s: the next run generates one and announces it beside the old keys\n", cfg.Agent.DataDir)
			}
			return nil
		},
	}
	restore.Flags().BoolVar(&asJSON, "json", false, "print what was restored as JSON")
	c.AddCommand(restore)
	return c
}
