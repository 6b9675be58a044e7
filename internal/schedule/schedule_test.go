package schedule

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/ledger"
)

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestDue(t *testing.T) {
	cases := []struct {
		spec, last, now string
		due             bool
		next            string
	}{
		{"@every 6h", "", "2026-11-30T10:00:00Z", true, ""},
		{"@every 6h", "2026-11-30T00:00:00Z", "2026-11-30T05:59:59Z", false, "2026-11-30T06:00:00Z"},
		{"@every 6h", "2026-11-30T00:00:00Z", "2026-11-30T06:00:00Z", true, "2026-11-30T06:00:00Z"},
		{"0 */6 * * *", "2026-11-30T00:00:05Z", "2026-11-30T05:59:59Z", false, "2026-11-30T06:00:00Z"},
		{"0 */6 * * *", "2026-11-30T00:00:05Z", "2026-11-30T06:00:01Z", true, "2026-11-30T06:00:00Z"},
		{"@daily", "2026-11-29T00:00:03Z", "2026-11-30T00:00:02Z", true, "2026-11-30T00:00:00Z"},
		{"@daily", "2026-11-30T00:00:03Z", "2026-11-30T23:59:59Z", false, "2026-12-01T00:00:00Z"},
		// A run that missed a slot by days runs once, not once per missed slot.
		{"@hourly", "2026-11-20T00:00:00Z", "2026-11-30T10:17:00Z", true, "2026-11-20T01:00:00Z"},
		// @every counts from the last start: a job that started 5s late and a
		// tick 3s late mean this slot is missed; five-field specs do not drift.
		{"@every 1h", "2026-11-30T00:00:05Z", "2026-11-30T01:00:03Z", false, "2026-11-30T01:00:05Z"},
		{"@every 1h", "2026-11-30T00:00:05Z", "2026-11-30T01:15:03Z", true, "2026-11-30T01:00:05Z"},
		{"0 * * * *", "2026-11-30T00:00:05Z", "2026-11-30T01:00:03Z", true, "2026-11-30T01:00:00Z"},
		// The clock moved back: run rather than stay silent until it catches up.
		{"@hourly", "2026-11-30T12:00:00Z", "2026-11-30T10:00:00Z", true, ""},
	}
	for _, c := range cases {
		t.Run(c.spec+"/"+c.last+"/"+c.now, func(t *testing.T) {
			var last time.Time
			if c.last != "" {
				last = ts(c.last)
			}
			d, err := DueSpec(c.spec, last, ts(c.now))
			if err != nil {
				t.Fatal(err)
			}
			if d.Due != c.due {
				t.Fatalf("Due = %v (%s), want %v", d.Due, d.Reason, c.due)
			}
			var next time.Time
			if c.next != "" {
				next = ts(c.next)
			}
			if !d.Next.Equal(next) {
				t.Fatalf("Next = %s, want %s", d.Next, next)
			}
			if d.Reason == "" {
				t.Fatal("no reason given")
			}
		})
	}
}

// Schedules are evaluated in UTC whatever the process's time zone and
// whatever zone the times come in.
func TestDueIsUTC(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	last := ts("2026-11-30T00:30:00Z").In(tokyo)
	d, err := DueSpec("0 1 * * *", last, ts("2026-11-30T00:59:00Z").In(tokyo))
	if err != nil {
		t.Fatal(err)
	}
	if d.Due || !d.Next.Equal(ts("2026-11-30T01:00:00Z")) || d.Next.Location() != time.UTC {
		t.Fatalf("got %+v, want not due, next 01:00 UTC", d)
	}
}

func TestDueSpecInvalid(t *testing.T) {
	if _, err := DueSpec("every tuesday", time.Time{}, time.Now()); err == nil || !strings.Contains(err.Error(), `"every tuesday"`) {
		t.Fatalf("err = %v, want an error naming the spec", err)
	}
}

// fakeRuns is a ledger of last starts.
type fakeRuns map[string]time.Time

func (f fakeRuns) LastStart(c string) (time.Time, error) { return f[c], nil }

// A CronJob fires every 15 minutes for a day with `run --once --due`; each
// job starts a few seconds late (the kubelet) and its collectors record
// their start. Each collector must run exactly at the slots its schedule
// names: never twice in a slot, never skipping one.
func TestSimulatedDay(t *testing.T) {
	specs := map[string]string{
		"six-hourly-cron":  "0 */6 * * *",
		"every-6h":         "@every 6h",
		"hourly":           "@hourly",
		"daily":            "@daily",
		"half-hourly":      "*/30 * * * *",
		"business-morning": "0 9 * * 1-5",
		"every-15m":        "*/15 * * * *",
	}
	var ccs []*config.CollectorConfig
	for _, n := range []string{"six-hourly-cron", "every-6h", "hourly", "daily", "half-hourly", "business-morning", "every-15m"} {
		ccs = append(ccs, &config.CollectorConfig{Name: n, Schedule: specs[n]})
	}
	runs := fakeRuns{}
	ran := map[string][]string{}
	start := ts("2026-11-30T00:00:00Z") // a Monday
	for tick := start; tick.Before(start.Add(24 * time.Hour)); tick = tick.Add(15 * time.Minute) {
		now := tick.Add(3 * time.Second) // the fake clock: the job starts 3s after its slot
		due, notDue, err := Plan(ccs, runs, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(due)+len(notDue) != len(ccs) {
			t.Fatalf("%s: %d due + %d not due, want %d", now, len(due), len(notDue), len(ccs))
		}
		for _, it := range due {
			runs[it.Collector.Name] = now
			ran[it.Collector.Name] = append(ran[it.Collector.Name], now.Format("15:04"))
		}
	}
	hours := func(step int) []string {
		var out []string
		for h := 0; h < 24; h += step {
			out = append(out, fmt.Sprintf("%02d:00", h))
		}
		return out
	}
	var every15, every30 []string
	for m := 0; m < 24*60; m += 15 {
		s := fmt.Sprintf("%02d:%02d", m/60, m%60)
		every15 = append(every15, s)
		if m%30 == 0 {
			every30 = append(every30, s)
		}
	}
	want := map[string][]string{
		"six-hourly-cron":  hours(6),
		"every-6h":         hours(6),
		"hourly":           hours(1),
		"daily":            {"00:00"},
		"half-hourly":      every30,
		"business-morning": {"00:00", "09:00"}, // first run (never ran), then Monday 09:00
		"every-15m":        every15,
	}
	for name, w := range want {
		if got := strings.Join(ran[name], " "); got != strings.Join(w, " ") {
			t.Errorf("%s (%s) ran at\n  %s\nwant\n  %s", name, specs[name], got, strings.Join(w, " "))
		}
	}
}

// Plan reads last runs from the ledger, whatever their outcome.
func TestPlanFromLedger(t *testing.T) {
	l, err := ledger.Open(t.TempDir(), "sched-test", ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	now := ts("2026-11-30T12:00:00Z")
	for _, r := range []ledger.Run{
		{Collector: "ran-recently", Started: now.Add(-time.Hour), Finished: now.Add(-time.Hour + time.Minute), Outcome: ledger.OutcomeSuccess},
		{Collector: "ran-long-ago", Started: now.Add(-7 * time.Hour), Finished: now.Add(-7 * time.Hour), Outcome: ledger.OutcomeSuccess},
		{Collector: "failed-recently", Started: now.Add(-8 * time.Hour), Outcome: ledger.OutcomeSuccess},
		{Collector: "failed-recently", Started: now.Add(-30 * time.Minute), Outcome: ledger.OutcomeFailed},
	} {
		if err := l.RecordRun(&r); err != nil {
			t.Fatal(err)
		}
	}
	var ccs []*config.CollectorConfig
	for _, n := range []string{"ran-recently", "ran-long-ago", "failed-recently", "never-ran"} {
		ccs = append(ccs, &config.CollectorConfig{Name: n, Schedule: "@every 6h"})
	}
	due, notDue, err := Plan(ccs, LedgerRuns{l}, now)
	if err != nil {
		t.Fatal(err)
	}
	names := func(its []Item) string {
		var s []string
		for _, it := range its {
			s = append(s, it.Collector.Name)
		}
		return strings.Join(s, ",")
	}
	if got := names(due); got != "ran-long-ago,never-ran" {
		t.Errorf("due = %s, want ran-long-ago,never-ran", got)
	}
	if got := names(notDue); got != "ran-recently,failed-recently" {
		t.Errorf("not due = %s, want ran-recently,failed-recently", got)
	}
	if !notDue[0].Next.Equal(now.Add(5 * time.Hour)) {
		t.Errorf("ran-recently next = %s, want %s", notDue[0].Next, now.Add(5*time.Hour))
	}
}
