package cli

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tickmark-dev/tickmark/internal/app"
)

func init() {
	register(func(e *env) *cobra.Command {
		var (
			once   bool
			names  []string
			asJSON bool
		)
		c := &cobra.Command{
			Use:   "run",
			Short: "Run collectors: once (--once, for a CronJob) or on their schedules (daemon)",
			Long: `Run collectors, commit their artifacts to the ledger, sign a checkpoint and
push evidence, log tiles and checkpoints to the store.

With --once every configured collector (or each --collector) runs once;
collectors fail independently. Exit 0 when all succeeded and the push
completed, 1 when any collector or the push failed (what was committed stays
committed, and unpushed artifacts stay queued for the next run), 2 on bad
usage or configuration.`,
			Example: `  tickmark run --once --config /etc/tickmark/config.yaml
  tickmark run --once --collector okta-prod --json`,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if !once {
					return usageErr(errors.New("run needs --once (the scheduling daemon is `tickmark run` once it is built in)"), "use `tickmark run --once` from a Kubernetes CronJob")
				}
				return e.runOnce(names, asJSON)
			},
		}
		c.Flags().BoolVar(&once, "once", false, "run the collectors once and exit")
		c.Flags().StringArrayVar(&names, "collector", nil, "run only this collector instance (repeatable)")
		c.Flags().BoolVar(&asJSON, "json", false, "print the run summary as JSON on stdout")
		return c
	})
}

func (e *env) runOnce(names []string, asJSON bool) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	log := e.logger(cfg)
	a, err := app.Open(e.ctx, cfg, app.Options{Logger: log})
	if err != nil {
		return failErr(err, "")
	}
	defer a.Close()
	ccs, err := a.Select(names)
	if err != nil {
		return usageErr(err, "run `tickmark collectors list` to see the configured instances")
	}
	sum, runErr := a.RunOnce(e.ctx, ccs, nil)
	if asJSON {
		if err := printJSON(e.stdout, sum); err != nil {
			return err
		}
	} else {
		printSummary(e.stdout, sum)
	}
	if runErr != nil {
		return failErr(runErr, "check the store's reachability and credentials; run `tickmark run --once` again to push the queue")
	}
	if f := sum.Failed(); len(f) > 0 {
		names := make([]string, len(f))
		for i, c := range f {
			names[i] = c.Name
		}
		return failErr(fmt.Errorf("%d of %d collectors failed: %s", len(f), len(sum.Collectors), strings.Join(names, ", ")), "each failure is listed above; the other collectors' evidence is committed and pushed")
	}
	return nil
}

func printSummary(w io.Writer, s *app.Summary) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COLLECTOR\tTYPE\tOUTCOME\tARTIFACTS\tBYTES\tCONTROLS")
	for _, c := range s.Collectors {
		ctls := make([]string, 0, len(c.ByControl))
		for _, k := range app.SortedKeys(c.ByControl) {
			ctls = append(ctls, fmt.Sprintf("%s:%d", k, c.ByControl[k]))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", c.Name, c.Type, c.Outcome, c.Artifacts, c.Bytes, strings.Join(ctls, " "))
	}
	tw.Flush()
	for _, c := range s.Collectors {
		if c.Error != "" {
			kind := "permanent"
			if c.Retryable {
				kind = "retryable"
			}
			fmt.Fprintf(w, "\n%s failed (%s): %s\n", c.Name, kind, c.Error)
		}
	}
	byControl := map[string]int{}
	for _, c := range s.Collectors {
		for k, v := range c.ByControl {
			byControl[k] += v
		}
	}
	if len(byControl) > 0 {
		keys := app.SortedKeys(byControl)
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s %d", k, byControl[k])
		}
		fmt.Fprintf(w, "\nartifacts by control: %s\n", strings.Join(parts, ", "))
	}
	if s.Checkpoint != nil {
		fmt.Fprintf(w, "checkpoint: tree size %d, root %s, key %s\n", s.Checkpoint.Size, s.Checkpoint.Root, s.Checkpoint.Key)
	}
	if p := s.Push; p != nil {
		fmt.Fprintf(w, "pushed to %s: %d artifacts (%d objects), %d tiles; %d queued\n", p.Store, p.Bodies, p.Objects, p.Tiles, p.Backlog)
		if p.Error != "" {
			fmt.Fprintf(w, "push failed: %s\n", p.Error)
		}
	}
}
