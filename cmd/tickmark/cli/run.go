package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tickmark-dev/tickmark/internal/app"
	"github.com/tickmark-dev/tickmark/internal/daemon"
	"github.com/tickmark-dev/tickmark/internal/metrics"
	"github.com/tickmark-dev/tickmark/internal/runner"
)

// newRunCmd builds `tickmark run` (listed in root.go).
func newRunCmd(e *env) *cobra.Command {
	var (
		once   bool
		names  []string
		asJSON bool
		opts   runOptions
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
usage or configuration. With --once --due only the collectors whose schedule
is due since their last run (recorded in the ledger) run, so one Kubernetes
CronJob every 15 minutes serves collectors on different schedules;
--pushgateway then pushes the run's metrics.

Without --once tickmark is a daemon: each collector runs on its schedule (UTC),
never twice at once, with /healthz, /readyz and /metrics on --listen
(agent.listen, default :9090). SIGTERM or SIGINT stops scheduling, lets
running collectors finish for --grace (agent.shutdown_grace, default 30s),
cancels the rest (they keep what they checkpointed), signs a final
checkpoint, pushes and exits 0.`,
		Example: `  tickmark run --once --config /etc/tickmark/config.yaml
  tickmark run --once --collector okta-prod --json
  tickmark run --once --due --json --pushgateway http://pushgateway:9091
  tickmark run --listen :9090 --grace 1m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !once {
				for _, f := range []string{"due", "pushgateway", "json"} {
					if cmd.Flags().Changed(f) {
						return usageErr(fmt.Errorf("--%s needs --once", f), "the daemon (`tickmark run` without --once) serves its metrics on --listen and logs each run")
					}
				}
				return e.runDaemon(names, opts, cmd.Flags().Changed("grace"))
			}
			for _, f := range []string{"listen", "grace"} {
				if cmd.Flags().Changed(f) {
					return usageErr(fmt.Errorf("--%s is for the daemon, not --once", f), "drop --once to run as a daemon, or drop the flag")
				}
			}
			return e.runOnceOpts(names, asJSON, opts)
		},
	}
	c.Flags().BoolVar(&once, "once", false, "run the collectors once and exit")
	c.Flags().StringArrayVar(&names, "collector", nil, "run only this collector instance (repeatable)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the run summary as JSON on stdout")
	c.Flags().BoolVar(&opts.due, "due", false, "with --once: run only the collectors whose schedule is due since their last run")
	c.Flags().StringVar(&opts.pushgateway, "pushgateway", "", "with --once: push the run's metrics to this Prometheus Pushgateway URL")
	c.Flags().StringVar(&opts.listen, "listen", "", "daemon: address of /healthz, /readyz and /metrics (default agent.listen, else :9090)")
	c.Flags().DurationVar(&opts.grace, "grace", daemon.DefaultGrace, "daemon: how long running collectors may finish after SIGTERM before they are cancelled (agent.shutdown_grace when not given)")
	return c
}

func (e *env) runOnce(names []string, asJSON bool) error {
	return e.runOnceOpts(names, asJSON, runOptions{})
}

func (e *env) runOnceOpts(names []string, asJSON bool, o runOptions) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	log := e.logger(cfg)
	a, err := app.Open(e.ctx, cfg, app.Options{Logger: log, Now: e.now, DeferStoreError: true})
	if err != nil {
		return failErr(err, "")
	}
	defer a.Close()
	ccs, err := a.Select(names)
	if err != nil {
		return usageErr(err, "run `tickmark collectors list` to see the configured instances")
	}
	var notDue []notDueCollector
	if o.due {
		if ccs, notDue, err = dueOnly(a, ccs); err != nil {
			return failErr(err, "")
		}
	}
	var m *metrics.Metrics
	var observe func(runner.Result)
	if o.pushgateway != "" {
		if m, err = onceMetrics(a, ccs); err != nil {
			return failErr(err, "")
		}
		observe = m.Observe
		a.CheckMetrics = m
	}
	sum, runErr := a.Engine(observe).Run(e.ctx, ccs)
	if m != nil {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), time.Minute)
		if err := m.Push(pctx, o.pushgateway, cfg.Agent.ID); err != nil {
			// Monitoring must not fail the evidence run (nor make the
			// CronJob retry it): log it and let alerts on staleness fire.
			log.Error("metrics push failed", "err", err)
		}
		cancel()
	}
	if asJSON {
		if err := printJSON(e.stdout, dueSummary{Summary: sum, NotDue: notDue}); err != nil {
			return err
		}
	} else {
		printSummary(e.stdout, sum)
		printNotDue(e.stdout, notDue)
	}
	if runErr != nil {
		hint := "check the store's reachability and credentials; run `tickmark run --once` again to push the queue"
		var foreign *app.ErrForeignLog
		switch {
		case errors.As(runErr, &foreign):
			hint = foreign.Hint()
		case sum.Push == nil || sum.Push.Error == "":
			// The checkpoint could not be signed: the data dir is the problem.
			hint = "the data dir (agent.data_dir) could not be written: check its free space and permissions; committed evidence is kept and the next run continues"
		}
		return failErr(runErr, hint)
	}
	if f := sum.Failed(); len(f) > 0 {
		names := make([]string, len(f))
		for i, c := range f {
			names[i] = c.Name
		}
		hint := "each failure is listed above; the other collectors' evidence is committed and pushed"
		if len(f) == len(sum.Collectors) {
			hint = "every collector failed; each failure is listed above (what a collector checkpointed before failing is committed)"
		}
		return failErr(fmt.Errorf("%d of %d collectors failed: %s", len(f), len(sum.Collectors), strings.Join(names, ", ")), hint)
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
			if c.Partial {
				fmt.Fprintf(w, "\n%s partial (the rest is collected; recorded as findings): %s\n", c.Name, c.Error)
				continue
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
		for _, u := range p.Unpushable {
			fmt.Fprintf(w, "cannot be pushed (stays queued, blocks nothing): %s\n", u)
		}
	}
}
