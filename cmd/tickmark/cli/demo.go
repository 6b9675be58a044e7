package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tickmark-dev/tickmark/internal/demo"
)

// newDemoCmd builds `tickmark demo` (listed in root.go).
func newDemoCmd(e *env) *cobra.Command {
	var (
		dir       string
		asJSON    bool
		noHistory bool
	)
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run the real engine against sample sources (no credentials, no network)",
		Long: `Create a workspace (a new temporary folder, or --dir), start the sample
sources that ship with tickmark (sample scripts and local fakes of the vendor
APIs, all serving SAMPLE DATA on 127.0.0.1), build 90 days of sample history
(every collector once a day with the engine's clock set to that day, with a
three-day agent outage and two days on which the backup API rejected its
token planted, so coverage shows real gaps), run every collector once more
today into a filesystem store, verify the ledger and the store, and print
what was collected per control and where to look. Exit 0 when today's run
succeeded and everything verified.`,
		Example: "  tickmark demo\n  tickmark demo --dir ./demo-workspace",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				d, err := os.MkdirTemp("", "tickmark-demo-")
				if err != nil {
					return failErr(err, "")
				}
				dir = d
			}
			log := e.logger(nil)
			res, err := demo.Run(e.ctx, dir, log, demo.Options{NoHistory: noHistory})
			if asJSON && res != nil {
				_ = printJSON(e.stdout, map[string]any{"dir": res.Dir, "config": res.Config, "history": res.History, "summary": res.Summary, "verify": res.Verify})
			} else if res != nil {
				res.Print(e.stdout)
			}
			if err != nil {
				return failErr(err, "")
			}
			if res.Verify == nil || !res.Verify.OK {
				return failErr(fmt.Errorf("demo verification failed"), "")
			}
			if f := res.Summary.Failed(); len(f) > 0 {
				return failErr(fmt.Errorf("%d demo collector(s) failed", len(f)), "")
			}
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "workspace folder (default: a new temporary folder)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the run summary and verification as JSON")
	c.Flags().BoolVar(&noHistory, "no-history", false, "skip the 90 days of sample history: one run, today")
	return c
}
