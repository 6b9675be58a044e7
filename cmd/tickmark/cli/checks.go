package cli

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tickmark-dev/tickmark/internal/app"
	"github.com/tickmark-dev/tickmark/internal/checks"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
)

// newChecksCmd builds `tickmark checks` (listed in root.go).
func newChecksCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "checks",
		Short: "Control tests over the evidence: list, run, show exceptions",
		Long: `Checks are control tests written in CEL over the population items of the
evidence (every active user has MFA, every merged change was approved by
someone else...). Each evaluation is recorded as evidence of type check.<id>:
the status, the population size, every exception by item key, and every
input artifact by record and SHA-256, so that verify-package re-runs it.

Checks run after each collection run (checks.after_run) and on demand with
` + "`tickmark checks run`" + `. The shipped checks are config/checks.yaml; the
checks: section of the configuration changes parameters, disables checks,
maps identities across systems and sets the alert webhook (docs/checks.md).`,
		Example: `  tickmark checks list
  tickmark checks run
  tickmark checks run github.prs_independently_approved --json
  tickmark checks show cross.leavers_github --from 2026-01-01 --to 2026-06-30 --csv`,
		Args: cobra.NoArgs,
	}
	c.AddCommand(checksList(e), checksRun(e), checksShow(e))
	return c
}

func checksList(e *env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:     "list",
		Short:   "List the configured checks",
		Example: "  tickmark checks list --json",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cfg, err := e.loadConfig()
			if err != nil {
				return err
			}
			set, err := cfg.CheckSet()
			if err != nil {
				return usageErr(err, "")
			}
			if asJSON {
				defs := make([]checks.Def, len(set.Checks))
				for i, c := range set.Checks {
					defs[i] = c.Def
				}
				return printJSON(e.stdout, defs)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCONTROLS\tINPUT\tTITLE")
			for _, c := range set.Checks {
				in := strings.Join(c.InputTypes(), "+")
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.ID, strings.Join(c.Controls, ","), in, c.Title)
			}
			tw.Flush()
			fmt.Fprintf(e.stderr, "%d check%s from %s\n", len(set.Checks), plural(len(set.Checks)), set.Source)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the check definitions as JSON")
	return c
}

func checksRun(e *env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "run [ID...]",
		Short: "Evaluate checks over the latest evidence (no collection) and record the results",
		Long: `Evaluate the given checks (default: all) over the evidence in the ledger —
events collected in the last checks.window (default 30d), and the latest run
of snapshot evidence such as users and settings — then record one check.<id>
artifact per check, sign a checkpoint and push, like a collection run.

Exit 0 when every check passed (or had no evidence to test), 1 when any
failed or could not be evaluated, 2 on bad usage.`,
		Example: `  tickmark checks run
  tickmark checks run okta.active_users_mfa cross.leavers_github --json`,
		RunE: func(_ *cobra.Command, ids []string) error {
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
			cs, err := a.ChecksFor(ids, nil)
			if err != nil {
				return usageErr(err, "")
			}
			cr, err := a.RunChecks(e.ctx, cs, nil, nil)
			if err != nil {
				return failErr(err, "")
			}
			sum := &app.Summary{Agent: cfg.Agent.ID}
			finErr := a.Finish(e.ctx, sum)
			if asJSON {
				if err := printJSON(e.stdout, cr.Results); err != nil {
					return err
				}
			} else {
				printResults(e.stdout, cr.Results, cr.Run.Stats.Artifacts)
			}
			if finErr != nil {
				return failErr(finErr, "the results are committed locally; the next run pushes them")
			}
			var bad []string
			for _, r := range cr.Results {
				if r.Status == checks.StatusFail || r.Status == checks.StatusError {
					bad = append(bad, r.Check.ID)
				}
			}
			if len(bad) > 0 {
				return failErr(fmt.Errorf("%d check%s failed: %s", len(bad), plural(len(bad)), strings.Join(bad, ", ")),
					"`tickmark checks show ID --from ... --to ...` lists the exceptions")
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON")
	return c
}

func printResults(w io.Writer, rs []*checks.Result, recorded int) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tEXCEPTIONS\tPOPULATION\tINPUTS")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", r.Check.ID, r.Status, r.ExceptionCount, r.Population, len(r.Inputs))
	}
	tw.Flush()
	for _, r := range rs {
		if r.Note != "" {
			fmt.Fprintf(w, "%s: %s\n", r.Check.ID, r.Note)
		}
	}
	fmt.Fprintf(w, "%d result%s recorded as evidence\n", recorded, plural(recorded))
}

// shownException is one item's exceptions over a window.
type shownException struct {
	Key       string    `json:"key"`
	Message   string    `json:"message"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Results   int       `json:"results"`
	Open      bool      `json:"open"` // an exception in the latest result
	Seq       uint64    `json:"seq"`
	SHA256    string    `json:"sha256"`
}

type shownResult struct {
	Seq         uint64    `json:"seq"`
	EvaluatedAt time.Time `json:"evaluated_at"`
	Status      string    `json:"status"`
	Population  int       `json:"population"`
	Exceptions  int       `json:"exceptions"`
	SHA256      string    `json:"sha256"`
}

func checksShow(e *env) *cobra.Command {
	var sf storeFlags
	var from, to string
	var asJSON, asCSV bool
	c := &cobra.Command{
		Use:   "show ID",
		Short: "Show a check's results and exceptions over a window",
		Long: `Read the check.<ID> results recorded in [--from, --to] and list every item
that was an exception in any of them: when it was first and last seen, in
how many results, whether it is still open in the latest result, and the
artifact holding its latest version.`,
		Example: `  tickmark checks show github.prs_independently_approved --from 2026-01-01 --to 2026-06-30
  tickmark checks show cross.leavers_github --from 2026-01-01 --to 2026-06-30 --csv > leavers.csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			id := args[0]
			f, t, err := window(from, to)
			if err != nil {
				return err
			}
			v, err := e.openEvidence(sf)
			if err != nil {
				return err
			}
			defer v.Close()
			var results []shownResult
			exc := map[string]*shownException{}
			var recs []*evidence.Record
			err = v.src.Find(ledger.Query{Type: checks.TypePrefix + id, From: f, To: t}, func(r *evidence.Record, _ []byte) error {
				recs = append(recs, r)
				return nil
			})
			if err != nil {
				return failErr(err, "")
			}
			var latest *checks.Result
			for _, r := range recs {
				body, err := v.src.Body(e.ctx, r)
				if err != nil {
					return failErr(fmt.Errorf("result record %d: %w", r.Seq, err), "")
				}
				b, err := io.ReadAll(body)
				body.Close()
				if err != nil {
					return failErr(err, "")
				}
				res, err := checks.DecodeResult(b)
				if err != nil {
					return failErr(fmt.Errorf("result record %d: %w", r.Seq, err), "")
				}
				results = append(results, shownResult{Seq: r.Seq, EvaluatedAt: res.EvaluatedAt, Status: res.Status, Population: res.Population, Exceptions: res.ExceptionCount, SHA256: r.SHA256})
				for _, x := range res.Exceptions {
					s := exc[x.Key]
					if s == nil {
						s = &shownException{Key: x.Key, FirstSeen: res.EvaluatedAt}
						exc[x.Key] = s
					}
					s.LastSeen, s.Message, s.Seq, s.SHA256 = res.EvaluatedAt, x.Message, x.Seq, x.SHA256
					s.Results++
				}
				latest = res
			}
			if len(results) == 0 {
				set, err := v.cfg.CheckSet()
				if err == nil {
					if _, ok := set.Find(id); !ok {
						return usageErr(fmt.Errorf("no check %q (run `tickmark checks list`)", id), "")
					}
				}
				return failErr(errors.New("no result of check "+id+" in the window"), "run `tickmark checks run "+id+"` or widen --from/--to")
			}
			if latest != nil {
				for _, x := range latest.Exceptions {
					exc[x.Key].Open = true
				}
			}
			list := make([]*shownException, 0, len(exc))
			for _, s := range exc {
				list = append(list, s)
			}
			sort.Slice(list, func(i, j int) bool { return list[i].Key < list[j].Key })
			switch {
			case asJSON:
				return printJSON(e.stdout, map[string]any{"check": id, "from": f, "to": t, "results": results, "exceptions": list})
			case asCSV:
				w := csv.NewWriter(e.stdout)
				_ = w.Write([]string{"key", "message", "first_seen", "last_seen", "results", "open", "seq", "sha256"})
				for _, s := range list {
					_ = w.Write([]string{s.Key, s.Message, s.FirstSeen.Format(time.RFC3339), s.LastSeen.Format(time.RFC3339), fmt.Sprint(s.Results), fmt.Sprint(s.Open), fmt.Sprint(s.Seq), s.SHA256})
				}
				w.Flush()
				return w.Error()
			}
			last := results[len(results)-1]
			fmt.Fprintf(e.stdout, "%s: %d result%s from %s to %s; latest %s (%s): %d exception%s in %d item%s\n\n", id, len(results), plural(len(results)),
				f.Format(time.DateOnly), t.AddDate(0, 0, -1).Format(time.DateOnly), last.EvaluatedAt.Format(time.RFC3339), last.Status, last.Exceptions, plural(last.Exceptions), last.Population, plural(last.Population))
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tOPEN\tFIRST SEEN\tLAST SEEN\tRESULTS\tMESSAGE")
			for _, s := range list {
				fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%d\t%s\n", s.Key, s.Open, s.FirstSeen.Format(time.RFC3339), s.LastSeen.Format(time.RFC3339), s.Results, s.Message)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&from, "from", "", "first day (YYYY-MM-DD, UTC)")
	c.Flags().StringVar(&to, "to", "", "last day, inclusive (YYYY-MM-DD, UTC)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&asCSV, "csv", false, "print the exceptions as CSV")
	sf.add(c)
	return c
}
