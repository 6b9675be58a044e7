// Package schedule decides whether a collector is due: a pure function of
// its cron spec, the start of its last run and the current time, in UTC.
// `tickmark run --once --due` uses it so that one Kubernetes CronJob firing
// every few minutes serves collectors with different schedules.
package schedule

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/ledger"
)

// Decision says whether a collector is due and why.
type Decision struct {
	// Due is true when the collector should run now.
	Due bool `json:"due"`
	// Next is the first activation after the last run (zero when the
	// collector never ran). When Due, it is at or before now.
	Next time.Time `json:"next,omitzero"`
	// Reason is a short human explanation.
	Reason string `json:"reason"`
}

// Due reports whether a collector with schedule s, whose last run started
// at last (zero: never ran), is due at now. All times are taken in UTC.
//
//   - A collector that never ran is due.
//   - A last run recorded after now (the clock moved back) makes it due, so a
//     clock step never silences a collector.
//   - Otherwise it is due when the schedule's first activation strictly
//     after the last start is at or before now.
func Due(s cron.Schedule, last, now time.Time) Decision {
	now = now.UTC()
	if last.IsZero() {
		return Decision{Due: true, Reason: "never ran"}
	}
	last = last.UTC()
	if last.After(now) {
		return Decision{Due: true, Reason: fmt.Sprintf("last run at %s is after now (clock moved back)", last.Format(time.RFC3339))}
	}
	next := s.Next(last).UTC()
	if next.IsZero() {
		return Decision{Reason: "schedule has no further activation"}
	}
	if !next.After(now) {
		return Decision{Due: true, Next: next, Reason: fmt.Sprintf("due since %s (last run %s)", next.Format(time.RFC3339), last.Format(time.RFC3339))}
	}
	return Decision{Next: next, Reason: fmt.Sprintf("next at %s (last run %s)", next.Format(time.RFC3339), last.Format(time.RFC3339))}
}

// DueSpec is Due for a spec in the configuration's syntax (5 fields or a
// descriptor such as "@every 6h"; see config.CronParser).
func DueSpec(spec string, last, now time.Time) (Decision, error) {
	s, err := Parse(spec)
	if err != nil {
		return Decision{}, err
	}
	return Due(s, last, now), nil
}

// Parse parses a spec with config.CronParser; the schedule is evaluated in
// UTC whatever the machine's time zone.
func Parse(spec string) (cron.Schedule, error) {
	s, err := config.CronParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("invalid cron spec %q: %w", spec, err)
	}
	if ss, ok := s.(*cron.SpecSchedule); ok && ss.Location == time.Local {
		ss.Location = time.UTC
	}
	return s, nil
}

// LastRunner gives the start of a collector's last run (any outcome); the
// ledger implements it through LastRun.
type LastRunner interface {
	LastStart(collector string) (time.Time, error)
}

// Item is one collector's decision.
type Item struct {
	Collector *config.CollectorConfig
	LastRun   time.Time
	Decision
}

// Plan decides each collector at now: which are due and which are not.
func Plan(ccs []*config.CollectorConfig, lr LastRunner, now time.Time) (due, notDue []Item, err error) {
	for _, cc := range ccs {
		s, err := Parse(cc.Schedule)
		if err != nil {
			return nil, nil, fmt.Errorf("collector %s: %w", cc.Name, err)
		}
		last, err := lr.LastStart(cc.Name)
		if err != nil {
			return nil, nil, fmt.Errorf("collector %s: reading its last run: %w", cc.Name, err)
		}
		it := Item{Collector: cc, LastRun: last, Decision: Due(s, last, now)}
		if it.Due {
			due = append(due, it)
		} else {
			notDue = append(notDue, it)
		}
	}
	return due, notDue, nil
}

// LedgerRuns reads last runs from a ledger.
type LedgerRuns struct {
	Ledger interface {
		LastRun(collector string) (last, lastSuccess *ledger.Run, err error)
	}
}

// LastStart returns the start of the collector's latest recorded run.
func (r LedgerRuns) LastStart(collector string) (time.Time, error) {
	last, _, err := r.Ledger.LastRun(collector)
	if err != nil || last == nil {
		return time.Time{}, err
	}
	return last.Started, nil
}
