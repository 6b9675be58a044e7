package cli

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tickmark-dev/tickmark/internal/app"
	"github.com/tickmark-dev/tickmark/internal/controls"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
)

// newEvidenceCmd builds `tickmark evidence` (listed in root.go).
func newEvidenceCmd(e *env) *cobra.Command {
	ev := &cobra.Command{Use: "evidence", Short: "List and inspect evidence records"}
	var (
		q         ledger.Query
		from, to  string
		by        string
		asJSON    bool
		fromStore bool
		agent     string
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "List evidence records in a window, by control, type or collector",
		Long: `List the records whose collection time falls in [--from, --to], read through
the ledger's indexes (only the window is read). Dates are YYYY-MM-DD (UTC;
--to includes the whole day) or RFC 3339 times. With --by observed the window
applies to what a record observed instead: its event window (an event stream),
its observed_at, or else its collection time (a snapshot).`,
		Example: `  tickmark evidence list --control CC6.1 --from 2026-09-01 --to 2026-11-30
  tickmark evidence list --type okta.system_log --from 2026-12-01 --to 2026-12-06 --by observed
  tickmark evidence list --type okta.users --json
  tickmark evidence list --from-store --control CC6.1   # every agent, from the bucket alone`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if q.From, err = parseDate(from, false); err != nil {
				return usageErr(fmt.Errorf("--from: %w", err), "")
			}
			if q.To, err = parseDate(to, true); err != nil {
				return usageErr(fmt.Errorf("--to: %w", err), "")
			}
			if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
				return usageErr(fmt.Errorf("--from %s is not before --to %s", from, to), "dates are YYYY-MM-DD (UTC), --to inclusive")
			}
			if fromStore {
				return e.listFromStore(agent, q, by, asJSON)
			}
			cfg, err := e.loadConfigForReading()
			if err != nil {
				return err
			}
			a, err := app.Open(e.ctx, cfg, app.Options{Logger: e.logger(cfg), ReadOnly: true})
			if err != nil {
				return failErr(err, "")
			}
			defer a.Close()
			set, err := controls.Load(cfg.Controls.File)
			if err != nil {
				return usageErr(err, "check controls.file in "+cfg.Path)
			}
			voc := &vocab{set: set, cfg: cfg, any: func(q ledger.Query) (bool, error) {
				q.Limit = 1
				found := false
				err := a.Ledger.Find(q, func(*evidence.Record, []byte) error { found = true; return nil })
				return found, err
			}}
			keep, err := voc.query(&q)
			if err != nil {
				return err
			}
			if keep, err = byWindow(by, &q, keep); err != nil {
				return err
			}
			return listEvidence(e, a, q, keep, asJSON)
		},
	}
	list.Flags().StringVar(&q.Control, "control", "", "control ID, e.g. CC6.1")
	list.Flags().StringVar(&q.Type, "type", "", "evidence type, e.g. okta.users")
	list.Flags().StringVar(&q.Collector, "collector", "", "collector instance name")
	list.Flags().StringVar(&from, "from", "", "start date (YYYY-MM-DD or RFC 3339)")
	list.Flags().StringVar(&to, "to", "", "end date, inclusive (YYYY-MM-DD or RFC 3339)")
	list.Flags().StringVar(&by, "by", "collected", "apply --from/--to to when evidence was collected, or to what it observed (observed_at, an event stream's window)")
	list.Flags().IntVar(&q.Limit, "limit", 0, "at most this many records")
	list.Flags().BoolVar(&asJSON, "json", false, "print one JSON record per line")
	list.Flags().BoolVar(&fromStore, "from-store", false, fromStoreHelp)
	list.Flags().StringVar(&agent, "agent", "", "with --from-store: only this agent")
	ev.AddCommand(list)
	return ev
}

type listedRecord struct {
	*evidence.Record
	Objects []string `json:"objects"`
}

func listEvidence(e *env, a *app.App, q ledger.Query, keep func(*evidence.Record) bool, asJSON bool) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	if !asJSON {
		fmt.Fprintln(tw, "SEQ\tCOLLECTED\tTYPE\tSUBJECT\tCONTROLS\tSIZE\tSHA256")
	}
	n, limit := 0, q.Limit
	q.Limit = 0 // counted here, after the control filter
	err := a.Ledger.Find(q, func(r *evidence.Record, _ []byte) error {
		if !keep(r) {
			return nil
		}
		if limit > 0 && n >= limit {
			return errStop
		}
		n++
		if asJSON {
			lr := listedRecord{Record: r}
			for _, c := range r.Controls {
				lr.Objects = append(lr.Objects, a.Bucket.EvidenceObject(c, r))
			}
			return printJSONLine(e, lr)
		}
		_, err := fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Seq, r.CollectedAt.Format(time.RFC3339), r.Type, r.Subject, strings.Join(r.Controls, ","), r.Size, r.SHA256[:12])
		return err
	})
	if err != nil && !errors.Is(err, errStop) {
		return failErr(err, "")
	}
	if !asJSON {
		tw.Flush()
		fmt.Fprintf(e.stderr, "%d record%s\n", n, plural(n))
	}
	return nil
}

func printJSONLine(e *env, v any) error {
	enc := jsonLineEncoder(e.stdout)
	return enc.Encode(v)
}

// parseDate parses YYYY-MM-DD (UTC; end=true means the end of that day) or RFC 3339.
func parseDate(s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not YYYY-MM-DD or an RFC 3339 time", s)
	}
	return t.UTC(), nil
}
