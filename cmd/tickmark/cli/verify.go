package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tickmark-dev/tickmark/internal/app"
	"github.com/tickmark-dev/tickmark/internal/verify"
)

// newVerifyCmd builds `tickmark verify` (listed in root.go).
func newVerifyCmd(e *env) *cobra.Command {
	var (
		asJSON     bool
		skipBodies bool
		fromStore  bool
		agent      string
		pf         pinFlags
	)
	c := &cobra.Command{
		Use:   "verify",
		Short: "Verify the ledger, its checkpoints and every stored body",
		Long: `Recompute the Merkle root at every checkpoint and check each signature (the
ledger's copy and the one published in the store), compare every record with
the published entry bundles and hash tiles, and re-hash every body in the
store (or in the local spool if not yet pushed). The store must hold every
checkpoint the ledger published (a rolled-back or deleted log fails), every
stored Merkle hash is recomputed, and objects under controls/ that no record
names are reported. With --key or --key-id (or verify.key in the
configuration) the log must be signed by that key or one it announced. Each
problem names the record's sequence number, its evidence type and the object
key. Exit 1 on any problem.`,
		Example: `  tickmark verify --config tickmark.yaml
  tickmark verify --json --skip-bodies
  tickmark verify --from-store --config auditor.yaml   # every agent, from the bucket alone
  tickmark verify --from-store --agent prod-1 --key-id 5a3c01f2   # and signed by this key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if fromStore {
				return e.verifyFromStore(agent, asJSON, skipBodies, &pf)
			}
			cfg, err := e.loadConfigForReading()
			if err != nil {
				return err
			}
			pin, err := pf.pin(cfg)
			if err != nil {
				return err
			}
			a, err := app.Open(e.ctx, cfg, app.Options{Logger: e.logger(cfg), ReadOnly: true})
			if err != nil {
				return failErr(err, "")
			}
			defer a.Close()
			opts := verify.Options{Bucket: a.Bucket, SkipBodies: skipBodies, Pin: pin}
			if t := cfg.TimestampAuthority; t != nil {
				if opts.TSARoots, err = t.Roots(); err != nil {
					return usageErr(err, "")
				}
			}
			rep, err := verify.Ledger(e.ctx, a.Ledger, opts)
			if err != nil {
				return failErr(err, "")
			}
			if asJSON {
				if err := printJSON(e.stdout, rep); err != nil {
					return err
				}
			} else {
				printVerify(e, rep)
			}
			if !rep.OK {
				if asJSON {
					return silentFailure
				}
				return failErr(fmt.Errorf("verification failed: %d problem%s", len(rep.Problems), plural(len(rep.Problems))), "restore altered objects from a backup or the bucket's versions; a problem in the ledger itself means the local file was changed")
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	c.Flags().BoolVar(&skipBodies, "skip-bodies", false, "check structure and signatures only, not the bodies")
	c.Flags().BoolVar(&fromStore, "from-store", false, fromStoreHelp)
	c.Flags().StringVar(&agent, "agent", "", "with --from-store: only this agent")
	pf.add(c)
	return c
}

func printVerify(e *env, r *verify.Report) {
	w := e.stdout
	fmt.Fprintf(w, "agent %s: %d records, tree size %d\n", r.Agent, r.Records, r.TreeSize)
	fmt.Fprintf(w, "checkpoints: %d in the ledger, %d in the store\n", r.Checkpoints, r.StoreCheckpoints)
	fmt.Fprintf(w, "bodies re-hashed: %d (%d from the local spool)\n", r.BodiesChecked, r.BodiesInSpool)
	if r.Timestamped > 0 || len(r.Unstamped) > 0 {
		fmt.Fprintf(w, "timestamps: %d checkpoint%s carry a verified RFC 3161 token", r.Timestamped, plural(r.Timestamped))
		if len(r.Unstamped) > 0 {
			fmt.Fprintf(w, "; not yet stamped (TSA unreachable at the time): %v", r.Unstamped)
		}
		fmt.Fprintln(w)
	}
	if r.OK {
		fmt.Fprintf(w, "OK: every record, checkpoint signature, published tile and body verified\n")
		return
	}
	fmt.Fprintf(w, "FAILED:\n")
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  %s\n", p)
	}
}
