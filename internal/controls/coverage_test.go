package controls_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/controls"
	"github.com/tickmark-dev/tickmark/internal/controls/controlstest"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
)

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func within(day time.Time, from, to string) bool {
	return !day.Before(date(from)) && day.Before(date(to))
}

// History is the scenario of the acceptance test: June to August 2026,
// okta-prod stopped from 6 to 19 July (two ISO weeks, Monday to Sunday)
// and failing with expired credentials from 10 to 12 August; github-org
// and a weekly exec script never miss.
func History() controlstest.Plan {
	return controlstest.Plan{
		Agent: "prod-1",
		From:  date("2026-06-01"), To: date("2026-09-15"),
		Collectors: []controlstest.Collector{
			{
				Name: "okta-prod", Type: "okta", Hour: 6,
				Controls: map[string][]string{"okta.users": {"CC6.1", "CC6.2"}},
				Emit: func(day time.Time) []collectors.Artifact {
					return []collectors.Artifact{{Type: "okta.users", Subject: "example.okta.com", ContentType: "application/json",
						Body: controlstest.JSON(`[{"id":"u1","profile":{"login":"alice@example.com"}},{"id":"u%d","profile":{"login":"user%d@example.com"}}]`, day.YearDay(), day.YearDay())}}
				},
				Skip: func(day time.Time) bool { return within(day, "2026-07-06", "2026-07-20") },
				Fail: func(day time.Time) error {
					if within(day, "2026-08-10", "2026-08-13") {
						return collectors.Permanent(errors.New("okta: GET /api/v1/users: 401 Unauthorized: the API token has expired (okta.users.read)"))
					}
					return nil
				},
			},
			{
				Name: "github-org", Type: "github", Hour: 7,
				Controls: map[string][]string{"github.pull_requests": {"CC8.1"}},
				Emit: func(day time.Time) []collectors.Artifact {
					return []collectors.Artifact{{Type: "github.pull_requests", Subject: "example/api", ContentType: "application/json",
						Body: controlstest.JSON(`{"pull_requests":[{"number":%d,"title":"change %d"}]}`, day.YearDay(), day.YearDay())}}
				},
			},
			{
				Name: "access-review", Type: "exec", Hour: 8,
				Controls: map[string][]string{"custom.access_review": {"CC6.2", "CC6.3"}},
				Emit: func(day time.Time) []collectors.Artifact {
					if day.Weekday() != time.Wednesday {
						return nil
					}
					return []collectors.Artifact{{Type: "custom.access_review", Subject: "production-db", ContentType: "text/csv",
						Body: []byte("user,decision\nalice@example.com,keep\n")}}
				},
			},
		},
	}
}

const testSet = `version: 1
controls:
  - {id: D-1, title: users daily, owner: IT, criteria: [CC6.1], frequency: daily, evidence: [okta.users]}
  - {id: W-1, title: users weekly, owner: IT, criteria: [CC6.2], frequency: weekly, evidence: [okta.users]}
  - {id: M-1, title: users monthly, owner: IT, criteria: [CC6.2], frequency: monthly, evidence: [okta.users]}
  - {id: C-1, title: changes, owner: Eng, criteria: [CC8.1], frequency: continuous, evidence: [github.pull_requests]}
  - {id: R-1, title: reviews, owner: Sec, criteria: [CC6.3], frequency: weekly, evidence: [custom.access_review]}
  - {id: B-1, title: backups, owner: Ops, criteria: [A1.2], frequency: quarterly, evidence: [custom.backup_jobs]}
`

func loadTestSet(t *testing.T) *controls.Set {
	t.Helper()
	cat, err := controls.DefaultCatalog()
	if err != nil {
		t.Fatal(err)
	}
	s, err := controls.ParseSet([]byte(testSet), "test.yaml", cat)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCoverageFindsExactlyTheHoles(t *testing.T) {
	p := History()
	p.Dir = t.TempDir()
	b, err := controlstest.Build(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	set := loadTestSet(t)
	src := &readmodel.Ledger{L: b.Ledger}
	rep, err := controls.Coverage(src, set, controls.Options{From: date("2026-06-01"), To: date("2026-09-01"), Now: date("2026-09-15")})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]controls.ControlCoverage{}
	for _, c := range rep.Controls {
		byID[c.Control.ID] = c
	}
	gaps := func(id string) map[string]controls.PeriodStatus {
		out := map[string]controls.PeriodStatus{}
		for _, p := range byID[id].Periods {
			if p.Status != controls.Covered {
				out[p.Label] = p
			}
		}
		return out
	}
	// Daily: 14 days with no run, 3 days failed, nothing else.
	d := gaps("D-1")
	var noRun, failed []string
	for l, p := range d {
		switch p.Status {
		case controls.GapNoRun:
			noRun = append(noRun, l)
		case controls.GapFailure:
			failed = append(failed, l)
			if !strings.Contains(p.Detail, "token has expired") || !strings.Contains(p.Detail, "okta-prod failed 1 time") {
				t.Errorf("%s: failure detail %q does not name the collector and its error", l, p.Detail)
			}
		default:
			t.Errorf("D-1 %s: unexpected status %s", l, p.Status)
		}
	}
	if len(noRun) != 14 || len(failed) != 3 {
		t.Fatalf("D-1: %d no-run days %v, %d failed days %v; want 14 and 3", len(noRun), noRun, len(failed), failed)
	}
	for day := date("2026-07-06"); day.Before(date("2026-07-20")); day = day.AddDate(0, 0, 1) {
		if d[day.Format(time.DateOnly)].Status != controls.GapNoRun {
			t.Errorf("D-1 %s: want gap_no_run, got %q", day.Format(time.DateOnly), d[day.Format(time.DateOnly)].Status)
		}
	}
	for _, l := range []string{"2026-08-10", "2026-08-11", "2026-08-12"} {
		if d[l].Status != controls.GapFailure {
			t.Errorf("D-1 %s: want gap_failure, got %q", l, d[l].Status)
		}
	}
	if n := byID["D-1"].Counts[controls.Covered]; n != 92-17 {
		t.Errorf("D-1 covered days = %d, want %d", n, 92-17)
	}
	// Weekly: exactly the two stopped ISO weeks; the failing days fall in
	// a week that has evidence on its other days.
	w := gaps("W-1")
	if len(w) != 2 || w["2026-W28"].Status != controls.GapNoRun || w["2026-W29"].Status != controls.GapNoRun {
		t.Errorf("W-1 gaps = %v, want 2026-W28 and 2026-W29 with no run", labels(w))
	}
	if g := gaps("M-1"); len(g) != 0 {
		t.Errorf("M-1 gaps = %v, want none", labels(g))
	}
	if g := gaps("C-1"); len(g) != 0 {
		t.Errorf("C-1 gaps = %v, want none", labels(g))
	}
	if g := gaps("R-1"); len(g) != 0 {
		t.Errorf("R-1 gaps = %v, want none", labels(g))
	}
	// Nothing ever produced backups: Q2 2026 is a gap with no run, naming
	// the missing type; Q3 is still open on 15 September.
	q := gaps("B-1")
	if len(q) != 2 || q["2026-Q2"].Status != controls.GapNoRun || q["2026-Q3"].Status != controls.NotYetDue ||
		!strings.Contains(q["2026-Q2"].Detail, "no collector has ever produced custom.backup_jobs") {
		t.Errorf("B-1 = %v", labels(q))
	}
	if rep.OK || rep.Gaps != 14+3+2+1 {
		t.Errorf("report OK=%v gaps=%d, want not OK with %d gaps", rep.OK, rep.Gaps, 14+3+2+1)
	}
	// The latest evidence of a covered day is that day's record.
	for _, p := range byID["D-1"].Periods {
		if p.Label == "2026-08-13" {
			if p.Latest == nil || p.Latest.Type != "okta.users" || p.Latest.CollectedAt.Format(time.DateOnly) != "2026-08-13" {
				t.Errorf("latest evidence of 2026-08-13 = %+v", p.Latest)
			}
		}
	}
}

func TestCoverageNotYetDue(t *testing.T) {
	p := History()
	p.Dir = t.TempDir()
	p.To = date("2026-06-10")
	b, err := controlstest.Build(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rep, err := controls.Coverage(&readmodel.Ledger{L: b.Ledger}, loadTestSet(t), controls.Options{
		From: date("2026-06-01"), To: date("2026-07-01"), Now: date("2026-06-10").Add(3 * time.Hour), Controls: []string{"D-1", "M-1"}})
	if err != nil {
		t.Fatal(err)
	}
	d := rep.Controls[0]
	if d.Counts[controls.Covered] != 9 || d.Counts[controls.NotYetDue] != 21 || d.Counts[controls.GapNoRun] != 0 {
		t.Errorf("D-1 counts = %v, want 9 covered and 21 not yet due", d.Counts)
	}
	// The open month already has evidence: covered.
	if m := rep.Controls[1]; m.Periods[0].Status != controls.Covered {
		t.Errorf("M-1 June = %s, want covered", m.Periods[0].Status)
	}
	if !rep.OK {
		t.Errorf("no gap expected before periods close")
	}
}

func labels(m map[string]controls.PeriodStatus) []string {
	var out []string
	for l, p := range m {
		out = append(out, fmt.Sprintf("%s:%s", l, p.Status))
	}
	return out
}

// A day whose only run was partial (one repository not collected) stays
// covered, and says so: the period, its count and the day.
func TestCoveragePartialRunsStayCoveredAndSaySo(t *testing.T) {
	p := History()
	p.Dir = t.TempDir()
	p.To = date("2026-06-20")
	p.Collectors[1].Fail = func(day time.Time) error {
		if within(day, "2026-06-10", "2026-06-12") {
			return collectors.Partial(errors.New("github: 1 not collected (recorded as findings in github.repositories): example/secret"))
		}
		return nil
	}
	b, err := controlstest.Build(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rep, err := controls.Coverage(&readmodel.Ledger{L: b.Ledger}, loadTestSet(t), controls.Options{
		From: date("2026-06-01"), To: date("2026-06-20"), Now: date("2026-06-20"), Controls: []string{"C-1"}})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Controls[0]
	if c.PartialPeriods != 2 || c.Counts[controls.Covered] != 19 || c.Counts[controls.GapFailure] != 0 {
		t.Fatalf("C-1: %d partial periods, counts %v; want 2 partial, 19 covered", c.PartialPeriods, c.Counts)
	}
	partial := map[string]controls.PeriodStatus{}
	for _, ps := range c.Periods {
		if ps.PartialRuns > 0 {
			partial[ps.Label] = ps
		}
	}
	for _, l := range []string{"2026-06-10", "2026-06-11"} {
		ps := partial[l]
		if ps.Status != controls.Covered || ps.PartialRuns != 1 || len(ps.Partial) != 1 || ps.Partial[0].Collector != "github-org" ||
			!strings.Contains(ps.Detail, "partial runs only (1 run)") || !strings.Contains(ps.Detail, "example/secret") {
			t.Errorf("%s: %+v", l, ps)
		}
	}
	for _, d := range c.Days {
		if want := d.Date == "2026-06-10" || d.Date == "2026-06-11"; d.Partial != want {
			t.Errorf("day %s partial=%v, want %v", d.Date, d.Partial, want)
		}
	}
	if !rep.OK {
		t.Errorf("a partial run is not a gap")
	}
}
