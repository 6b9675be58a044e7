package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/tickmark-dev/tickmark/internal/app"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/daemon"
	"github.com/tickmark-dev/tickmark/internal/metrics"
	"github.com/tickmark-dev/tickmark/internal/schedule"
)

// runOptions are the scheduling flags of `run`.
type runOptions struct {
	due         bool          // --once --due
	pushgateway string        // --once --pushgateway
	listen      string        // daemon --listen
	grace       time.Duration // daemon --grace
}

// notDueCollector is a collector `run --once --due` left for later.
type notDueCollector struct {
	Name    string    `json:"name"`
	LastRun time.Time `json:"last_run"`
	Next    time.Time `json:"next"`
}

// dueSummary is the --json output of `run --once`: the run summary, plus
// the collectors that were not due.
type dueSummary struct {
	*app.Summary
	NotDue []notDueCollector `json:"not_due,omitempty"`
}

// dueOnly keeps the collectors whose schedule is due at the app's clock.
func dueOnly(a *app.App, ccs []*config.CollectorConfig) ([]*config.CollectorConfig, []notDueCollector, error) {
	due, later, err := schedule.Plan(ccs, schedule.LedgerRuns{Ledger: a.Ledger}, a.Now())
	if err != nil {
		return nil, nil, err
	}
	out := make([]*config.CollectorConfig, 0, len(due))
	for _, it := range due {
		a.Logger.Info("collector is due", "collector", it.Collector.Name, "schedule", it.Collector.Schedule, "reason", it.Reason)
		out = append(out, it.Collector)
	}
	var nd []notDueCollector
	for _, it := range later {
		a.Logger.Info("collector is not due", "collector", it.Collector.Name, "schedule", it.Collector.Schedule, "next", it.Next.Format(time.RFC3339))
		nd = append(nd, notDueCollector{Name: it.Collector.Name, LastRun: it.LastRun.UTC(), Next: it.Next})
	}
	return out, nd, nil
}

func printNotDue(w io.Writer, nd []notDueCollector) {
	for _, c := range nd {
		fmt.Fprintf(w, "not due: %s (last run %s, next %s)\n", c.Name, c.LastRun.Format(time.RFC3339), c.Next.Format(time.RFC3339))
	}
}

// onceMetrics builds the metrics a CronJob run pushes: the collectors it
// runs, with their last success from the ledger.
func onceMetrics(a *app.App, ccs []*config.CollectorConfig) (*metrics.Metrics, error) {
	m := metrics.New(metrics.Options{Ledger: a.Ledger, Version: app.Version, Now: a.Now})
	for _, cc := range ccs {
		last, ok, err := a.Ledger.LastRun(cc.Name)
		if err != nil {
			return nil, err
		}
		var lastT, okT time.Time
		if last != nil {
			lastT = last.Finished
		}
		if ok != nil {
			okT = ok.Finished
		}
		m.Init(cc.Name, cc.Type, okT, lastT)
	}
	return m, nil
}

// runDaemon is `tickmark run` without --once.
func (e *env) runDaemon(names []string, o runOptions, graceSet bool) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	log := e.logger(cfg)
	listen := o.listen
	if listen == "" {
		listen = cfg.Agent.Listen
	}
	if listen == "" {
		listen = daemon.DefaultListen
	}
	grace := o.grace
	if !graceSet && cfg.Agent.ShutdownGrace > 0 {
		grace = cfg.Agent.ShutdownGrace.D()
	}
	a, err := app.Open(e.ctx, cfg, app.Options{Logger: log, Now: e.now})
	if err != nil {
		return failErr(err, "")
	}
	defer a.Close()
	ccs, err := a.Select(names)
	if err != nil {
		return usageErr(err, "run `tickmark collectors list` to see the configured instances")
	}
	if len(ccs) == 0 {
		return usageErr(fmt.Errorf("no enabled collector in %s to schedule", cfg.Path), "add a collectors[] entry, or remove `disabled: true`")
	}
	m := metrics.New(metrics.Options{Ledger: a.Ledger, Version: app.Version, Runtime: true})
	err = daemon.Run(e.ctx, daemon.Options{
		App: a, Collectors: ccs, Metrics: m, Health: metrics.NewHealth("starting"),
		Listen: listen, Grace: grace, Logger: log,
	})
	if err != nil {
		return failErr(err, "")
	}
	return nil
}
