package app

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/checks"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/controls"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
	"github.com/tickmark-dev/tickmark/internal/runner"
)

// checksMu serialises check runs (the daemon's jobs end concurrently).
var checksMu sync.Mutex

// ChecksRun is the outcome of one evaluation of checks.
type ChecksRun struct {
	Run     runner.Result
	Results []*checks.Result
	Alerts  []checks.Alert
}

// ChecksFor returns the configured checks that read any of the evidence
// types (all of them when types is nil).
func (a *App) ChecksFor(ids []string, types []string) ([]*checks.Check, error) {
	set, err := a.Cfg.CheckSet()
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		var out []*checks.Check
		for _, id := range ids {
			c, ok := set.Find(id)
			if !ok {
				return nil, fmt.Errorf("no check %q in %s (run `tickmark checks list`)", id, set.Source)
			}
			out = append(out, c)
		}
		return out, nil
	}
	if types == nil {
		return set.Checks, nil
	}
	var out []*checks.Check
	for _, c := range set.Checks {
		for _, t := range c.InputTypes() {
			if containsString(types, t) {
				out = append(out, c)
				break
			}
		}
	}
	return out, nil
}

// RunChecks evaluates checks over the ledger's evidence (collected in the
// configured window up to now) and commits one check.<id> artifact per
// check through the runner, as the reserved collector instance "checks".
// A check that went from passing to failing is alerted: a log line, the
// tickmark_check_failures metric (observe) and the configured webhook,
// once per transition.
func (a *App) RunChecks(ctx context.Context, cs []*checks.Check, observe func(runner.Result), m CheckMetrics) (*ChecksRun, error) {
	checksMu.Lock()
	defer checksMu.Unlock()
	set, err := a.Cfg.CheckSet()
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return &ChecksRun{}, nil
	}
	cset, err := controls.Load(a.Cfg.Controls.File)
	if err != nil {
		return nil, err
	}
	src := &readmodel.Ledger{L: a.Ledger, Bucket: a.Bucket}
	prev := map[string]string{}
	for _, c := range cs {
		if st, ok := a.lastCheckStatus(c); ok {
			prev[c.ID] = st
		}
	}
	var results []*checks.Result
	byID := map[string]*checks.Check{}
	for _, c := range cs {
		byID[c.ID] = c
	}
	criteria := func(id string) []string {
		if ctl, ok := cset.Control(id); ok {
			return ctl.Criteria
		}
		return nil
	}
	cc := &config.CollectorConfig{
		Name: config.ChecksInstance, Type: "checks", Timeout: collectors.Duration(time.Hour),
		Definition: collectors.Definition{Type: "checks"},
		Collector: checks.Collector(set, cs, src, checks.RunOptions{Window: time.Duration(a.Cfg.Checks.WindowOrDefault()), Criteria: criteria},
			func(_ *checks.Check, r *checks.Result) { results = append(results, r) }),
	}
	r := a.Runner(observe)
	r.Retries = 0
	res := r.RunOne(ctx, cc)
	out := &ChecksRun{Run: res}
	if res.Err != nil {
		return out, res.Err
	}
	out.Results = results
	for _, r := range results {
		if m != nil {
			m.CheckResult(r.Check.ID, r.Status, r.ExceptionCount)
		}
	}
	out.Alerts = checks.Transitions(prev, results)
	if len(out.Alerts) > 0 {
		al := &checks.Alerter{Logger: a.Logger, Client: &http.Client{Timeout: 30 * time.Second}}
		if w := a.Cfg.Checks.Webhook; w != nil {
			al.URL, al.Format = w.URL.Value(), w.Format
		}
		al.Send(ctx, out.Alerts)
	}
	return out, nil
}

// CheckMetrics receives each result (metrics.Metrics implements it).
type CheckMetrics interface {
	CheckResult(check, status string, exceptions int)
}

// lastCheckStatus is the status of a check's latest result in the ledger.
func (a *App) lastCheckStatus(c *checks.Check) (string, bool) {
	var last uint64
	found := false
	err := a.Ledger.ScanType(c.Type(), time.Time{}, a.Now().Add(time.Hour), func(_ int64, seq uint64) error {
		last, found = seq, true
		return nil
	})
	if err != nil || !found {
		return "", false
	}
	var data []byte
	if err := a.Ledger.View(func(v *ledger.Viewer) error { data = v.Record(last); return nil }); err != nil || data == nil {
		return "", false
	}
	rec, err := evidence.Decode(data)
	if err != nil {
		return "", false
	}
	_, st, _, ok := checks.ParseSubject(rec.Subject)
	return st, ok
}

func containsString(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// checksAfter evaluates, after a collection run, the checks that read
// what the run's collectors produce (checks.after_run, default on). Its
// result joins the run's: a checks run that could not evaluate fails the
// run like a collector; failing checks do not (they are evidence).
func (a *App) checksAfter(ctx context.Context, ccs []*config.CollectorConfig, observe func(runner.Result)) *runner.Result {
	if !a.Cfg.Checks.RunAfterCollection() || ctx.Err() != nil || len(ccs) == 0 {
		return nil
	}
	var types []string
	for _, cc := range ccs {
		for _, et := range cc.Definition.EvidenceTypes {
			types = append(types, et.Name)
		}
		for t := range cc.Controls {
			types = append(types, t)
		}
	}
	if len(types) == 0 {
		// The collectors that ran declare no evidence type: no check
		// reads what they produced (a nil list would select every check).
		return nil
	}
	cs, err := a.ChecksFor(nil, types)
	if err != nil || len(cs) == 0 {
		if err != nil {
			a.Logger.Error("checks not run", "err", err)
		}
		return nil
	}
	cr, err := a.RunChecks(ctx, cs, observe, a.CheckMetrics)
	if cr == nil {
		a.Logger.Error("checks not run", "err", err)
		return nil
	}
	return &cr.Run
}

// RunChecksAfter is checksAfter for the daemon: the checks reading what
// collector cc produces, after its scheduled run.
func (a *App) RunChecksAfter(ctx context.Context, cc *config.CollectorConfig, observe func(runner.Result)) {
	a.checksAfter(ctx, []*config.CollectorConfig{cc}, observe)
}
