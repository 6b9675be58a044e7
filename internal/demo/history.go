package demo

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tickmark-dev/tickmark/internal/app"
	"github.com/tickmark-dev/tickmark/internal/config"
)

// HistoryDays is how much sample history the demo builds before today, so
// that coverage, populations, samples and exports show what a real
// observation window looks like.
const HistoryDays = 90

// The planted imperfections of the sample history, in days before today.
var (
	// outageDays: the agent did not run at all (a cluster upgrade, say):
	// every daily control has a gap_no_run there.
	outageDays = map[int]bool{52: true, 51: true, 50: true}
	// backupFailDays: the sample backup API rejected its token, so the
	// sample-backup-api collector failed (gap_failure for its daily control).
	backupFailDays = map[int]bool{23: true, 22: true}
)

// backupAPIOutage names the fault of the sample backup API.
const backupAPIOutage = "backup-api-token-rejected"

var ()

// History says what the sample history holds.
type History struct {
	From, To   time.Time // first and last day with sample runs (UTC dates)
	Runs       int       // collection runs (one a day, all collectors)
	Artifacts  int
	Outage     []time.Time // days without any run
	FailedRuns []string    // "2026-11-13 sample-backups", ...
}

// runHistory runs every collector (and the checks) once a day at 06:00 UTC
// for HistoryDays days before today, with the engine's clock set to that day
// (the sample sources serve the same SAMPLE DATA whatever the day), and signs
// a checkpoint a week. Publishing is left to today's run.
func runHistory(ctx context.Context, a *app.App, ccs []*config.CollectorConfig, now time.Time, clock *time.Time, faults map[string]func()) (*History, error) {
	today := now.Truncate(24 * time.Hour)
	h := &History{From: today.AddDate(0, 0, -HistoryDays), To: today.AddDate(0, 0, -1)}
	// The history's own logs (87 runs, two planted failures) would bury
	// today's: its outcome is summarised in History instead.
	logger := a.Logger
	a.Logger = slog.New(slog.DiscardHandler)
	defer func() { a.Logger = logger }()
	for ago := HistoryDays; ago >= 1; ago-- {
		day := today.AddDate(0, 0, -ago)
		if outageDays[ago] {
			h.Outage = append(h.Outage, day)
			continue
		}
		if inject := faults[backupAPIOutage]; backupFailDays[ago] && inject != nil {
			inject()
		}
		*clock = day.Add(6 * time.Hour)
		sum := a.Engine(nil).Collect(ctx, ccs)
		if ctx.Err() != nil {
			return h, ctx.Err()
		}
		// A checkpoint a week, as a weekly CronJob would sign; today's run
		// signs the rest and publishes the whole log.
		if ago%7 == 0 {
			if _, err := a.Ledger.Sign(a.Key); err != nil {
				return h, fmt.Errorf("sample history, %s: %w", day.Format(time.DateOnly), err)
			}
		}
		h.Runs++
		for _, c := range sum.Collectors {
			h.Artifacts += c.Artifacts
			if c.Error != "" {
				h.FailedRuns = append(h.FailedRuns, day.Format(time.DateOnly)+" "+c.Name)
			}
		}
	}
	return h, nil
}
