package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tickmark-dev/tickmark/internal/checks"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/controls"
	"github.com/tickmark-dev/tickmark/internal/evidence"
)

// newCoverageCmd builds `tickmark coverage` (listed in root.go).
func newCoverageCmd(e *env) *cobra.Command {
	var sf storeFlags
	var (
		from, to, htmlOut, now string
		ids                    []string
		asJSON                 bool
	)
	c := &cobra.Command{
		Use:   "coverage",
		Short: "Show, for each control, which periods of a window have evidence and where the gaps are",
		Long: `For each organisation control (the shipped set, or controls.file) and each
period its frequency requires in [--from, --to] — days, ISO weeks, calendar
months, quarters or years, UTC; continuous controls are checked per day —
say whether evidence of a satisfying type was collected:

  covered       a record of a satisfying evidence type was collected
  covered_with_exceptions
                evidence was collected, but the latest result in the period
                of a check testing the control failed (tickmark checks)
  gap_failure   nothing collected, and a collector producing the type ran and
                failed (an API error, expired credentials...)
  gap_no_run    nothing collected and nothing failed: no collector ran (or what
                ran produced no satisfying evidence)
  not_yet_due   the period has not ended yet (and has no evidence so far)

Periods overlapping the window are judged whole. Only the ledger's indexes
and run history are read (check results by their record subjects). Exit 1
when any period is a gap (for alerting), 0 otherwise: covered_with_exceptions
is not a gap.`,
		Example: `  tickmark coverage --from 2026-01-01 --to 2026-06-30
  tickmark coverage --from 2026-01-01 --to 2026-06-30 --control AC-02 --json
  tickmark coverage --from 2026-01-01 --to 2026-12-31 --html coverage.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, t, err := window(from, to)
			if err != nil {
				return err
			}
			clock := time.Now().UTC()
			if now != "" {
				if clock, err = parseDate(now, false); err != nil {
					return usageErr(fmt.Errorf("--now: %w", err), "")
				}
			}
			v, err := e.openEvidence(sf)
			if err != nil {
				return err
			}
			defer v.Close()
			ids, err = expandControls(newVocab(v.set, v.cfg, v.src), ids)
			if err != nil {
				return err
			}
			rep, err := controls.Coverage(v.src, v.set, controls.Options{From: f, To: t, Now: clock, Controls: ids, Producers: producers(v.cfg), Link: v.src.Location, NoRunHistory: !v.src.RunsVisible(),
				Checks: checksByControl(v.cfg), CheckOutcome: checkOutcome})
			if err != nil {
				return failErr(err, "")
			}
			if htmlOut != "" {
				if err := writeFileAtomic(htmlOut, rep.WriteHTML); err != nil {
					return failErr(err, "")
				}
				fmt.Fprintf(e.stderr, "wrote %s\n", htmlOut)
			}
			if asJSON {
				if err := printJSON(e.stdout, rep); err != nil {
					return err
				}
			} else {
				printCoverage(e, rep)
			}
			if !rep.OK {
				if asJSON {
					return silentFailure
				}
				return failErr(fmt.Errorf("%d gap period%s in %s to %s", rep.Gaps, plural(rep.Gaps), f.Format(time.DateOnly), t.AddDate(0, 0, -1).Format(time.DateOnly)),
					"fix failing collectors (`tickmark run --once` shows the errors) or add the missing evidence while the window is still open")
			}
			return nil
		},
	}
	c.Flags().StringVar(&from, "from", "", "first day of the window (YYYY-MM-DD, UTC)")
	c.Flags().StringVar(&to, "to", "", "last day of the window, inclusive (YYYY-MM-DD, UTC)")
	c.Flags().StringArrayVar(&ids, "control", nil, "only this control ID (repeatable)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	c.Flags().StringVar(&htmlOut, "html", "", "also write a self-contained HTML report to this file")
	c.Flags().StringVar(&now, "now", "", "judge due-ness as of this time instead of the clock (YYYY-MM-DD or RFC 3339)")
	_ = c.Flags().MarkHidden("now")
	sf.add(c)
	return c
}

func printCoverage(e *env, rep *controls.Report) {
	w := e.stdout
	fmt.Fprintf(w, "coverage %s to %s (control set: %s)\n\n", rep.From.Format(time.DateOnly), rep.To.AddDate(0, 0, -1).Format(time.DateOnly), rep.Source)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTROL\tFREQUENCY\tCOVERED\tGAP:FAILED\tGAP:NO RUN\tNOT DUE\tWITH EXCEPTIONS\tLATEST EVIDENCE")
	for _, c := range rep.Controls {
		latest := "none"
		if c.Latest != nil {
			latest = c.Latest.CollectedAt.UTC().Format("2006-01-02 15:04") + " " + c.Latest.Type
		}
		covered := fmt.Sprintf("%d/%d", c.Counts[controls.Covered]+c.Counts[controls.CoveredWithExceptions], len(c.Periods))
		if c.PartialPeriods > 0 {
			covered += fmt.Sprintf(" (%d partial)", c.PartialPeriods)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", c.Control.ID, c.Control.Frequency, covered,
			c.Counts[controls.GapFailure], c.Counts[controls.GapNoRun], c.Counts[controls.NotYetDue], c.Counts[controls.CoveredWithExceptions], latest)
	}
	tw.Flush()
	printExcepted(w, rep)
	printPartial(w, rep)
	if rep.OK {
		fmt.Fprintf(w, "\nno gaps\n")
		return
	}
	fmt.Fprintf(w, "\ngaps:\n")
	for _, c := range rep.Controls {
		// consecutive gap periods with the same cause are one line
		for _, g := range c.GapRuns() {
			fmt.Fprintf(w, "  %-8s %-30s %-12s %s\n", c.Control.ID, g.Label(), g.First.Status, g.First.Detail)
		}
	}
}

// writeFileAtomic writes a file through a temporary file and a rename.
func writeFileAtomic(path string, write func(w io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tickmark-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// printExcepted lists the periods covered with exceptions, apart from gaps.
// printPartial lists the covered periods whose evidence is from partial
// runs only (some repository, account or region was not collected).
func printPartial(w io.Writer, rep *controls.Report) {
	first := true
	for _, c := range rep.Controls {
		for _, p := range c.Periods {
			if p.PartialRuns == 0 {
				continue
			}
			if first {
				fmt.Fprintf(w, "\ncovered by partial runs only (the runs' findings name what was not collected):\n")
				first = false
			}
			last := p.Partial[len(p.Partial)-1]
			fmt.Fprintf(w, "  %-8s %-30s covered (partial: %d run%s): %s: %s\n", c.Control.ID, p.Label, p.PartialRuns, plural(p.PartialRuns), last.Collector, last.Error)
		}
	}
}

func printExcepted(w io.Writer, rep *controls.Report) {
	first := true
	for _, c := range rep.Controls {
		for _, p := range c.Excepted() {
			if first {
				fmt.Fprintf(w, "\ncovered with exceptions (evidence collected, checks failed):\n")
				first = false
			}
			var names []string
			for _, ch := range p.Checks {
				names = append(names, fmt.Sprintf("%s (%d)", ch.Check, ch.Exceptions))
			}
			fmt.Fprintf(w, "  %-8s %-30s %d exception%s: %s\n", c.Control.ID, p.Label, p.Exceptions, plural(p.Exceptions), strings.Join(names, ", "))
		}
	}
	if !first {
		fmt.Fprintf(w, "  (tickmark checks show CHECK --from ... --to ... lists them)\n")
	}
}

// checksByControl maps each organisation control to its checks' result types.
func checksByControl(cfg *config.Config) map[string][]string {
	set, err := cfg.CheckSet()
	if err != nil {
		return nil
	}
	out := map[string][]string{}
	for _, c := range set.Checks {
		for _, id := range c.Controls {
			out[id] = append(out[id], c.Type())
		}
	}
	return out
}

func checkOutcome(r *evidence.Record) (string, string, int, bool) {
	if !strings.HasPrefix(r.Type, checks.TypePrefix) {
		return "", "", 0, false
	}
	return checks.ParseSubject(r.Subject)
}
