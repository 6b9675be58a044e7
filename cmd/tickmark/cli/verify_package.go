package cli

import (
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tickmark-dev/tickmark/internal/export"
)

// newVerifyPackageCmd builds `tickmark verify-package` (listed in root.go).
func newVerifyPackageCmd(e *env) *cobra.Command {
	var (
		asJSON bool
		tsaCA  string
		pf     pinFlags
	)
	c := &cobra.Command{
		Use:   "verify-package FILE.zip",
		Short: "Verify an auditor package offline, with nothing but the package",
		Long: `Check an auditor package made by ` + "`tickmark export`" + `: every file against
SHA256SUMS (and no file unlisted), every checkpoint's signature with the
package's public keys, every record's inclusion proof against a signed
checkpoint, every evidence file against its record's SHA-256 and size, and
index.csv against the files. Needs no configuration, ledger or network.
Names the first failing item; exit 1 on any problem.

The signatures prove the package comes from the holder of the agent's key:
compare the key IDs printed here with the organisation's published ones.`,
		Example: "  tickmark verify-package soc2-h1.zip\n  tickmark verify-package soc2-h1.zip --json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return usageErr(err, "")
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return failErr(err, "")
			}
			var opts export.VerifyOptions
			if opts.Pin, err = pf.pin(nil); err != nil {
				return err
			}
			if tsaCA != "" {
				pemBytes, err := os.ReadFile(tsaCA)
				if err != nil {
					return usageErr(fmt.Errorf("--tsa-ca: %w", err), "")
				}
				opts.TSARoots = x509.NewCertPool()
				if !opts.TSARoots.AppendCertsFromPEM(pemBytes) {
					return usageErr(fmt.Errorf("--tsa-ca %s holds no PEM certificate", tsaCA), "")
				}
			}
			rep, err := export.VerifyPackageWith(f, st.Size(), opts)
			if err != nil {
				return failErr(fmt.Errorf("%s: %w", args[0], err), "")
			}
			if asJSON {
				if err := printJSON(e.stdout, rep); err != nil {
					return err
				}
				if !rep.OK {
					return silentFailure
				}
				return nil
			}
			w := e.stdout
			fmt.Fprintf(w, "package %s (agent %s): %d files, %d records, %d evidence files, %d checkpoints, keys %v\n",
				rep.Root, rep.Agent, rep.Files, rep.Records, rep.Bodies, rep.Checkpoints, rep.Keys)
			if rep.Timestamps > 0 {
				how := "signature and checkpoint bytes checked; pass --tsa-ca to check the TSA's certificate chain"
				if rep.TimestampChains {
					how = "signature, checkpoint bytes and TSA certificate chain checked"
				}
				fmt.Fprintf(w, "RFC 3161 timestamps: %d (%s): %v\n", rep.Timestamps, how, rep.TimestampTimes)
			}
			if rep.Checks > 0 {
				fmt.Fprintf(w, "check results: %d, %d reproduced by re-evaluating their rules over the package's own evidence\n", rep.Checks, rep.ChecksReproduced)
			}
			if rep.OK {
				fmt.Fprintf(w, "OK: every file hash, checkpoint signature, checkpoint consistency (%d), inclusion proof (tree size %d) and body verified\n", rep.Consistent, rep.TreeSize)
				fmt.Fprintf(w, "complete: the package holds every record of checkpoint %d collected from %s to %s (end exclusive) under %s, proven from the log's entry bundles; index.csv, index.html and manifest.json match them\n",
					rep.TreeSize, rep.From.Format(time.RFC3339), rep.To.Format(time.RFC3339), strings.Join(rep.Controls, ", "))
				return nil
			}
			first, _ := rep.First()
			fmt.Fprintf(w, "FAILED: %d problem%s:\n", len(rep.Problems), plural(len(rep.Problems)))
			for _, p := range rep.Problems {
				fmt.Fprintf(w, "  %s\n", p)
			}
			return failErr(fmt.Errorf("package does not verify: first failing item %s", first.Item), "the package was altered after export, or is incomplete; ask for a fresh export")
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	pf.add(c)
	c.Flags().StringVar(&tsaCA, "tsa-ca", "", "PEM file of the timestamp authority's CA: check each token's certificate chain too")
	return c
}
