package cli

import (
	"errors"
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tickmark-dev/tickmark/internal/app"
	"github.com/tickmark-dev/tickmark/internal/ledger"
)

// Status is what `tickmark status --json` prints.
type Status struct {
	Agent      string            `json:"agent"`
	DataDir    string            `json:"data_dir"`
	Store      string            `json:"store"`
	Records    int64             `json:"records"`
	Backlog    int               `json:"outbox_backlog"`
	Checkpoint *StatusCheckpoint `json:"last_checkpoint,omitempty"`
	Collectors []StatusCollector `json:"collectors"`
}

// StatusCheckpoint is the latest signed checkpoint.
type StatusCheckpoint struct {
	Size       int64      `json:"size"`
	SignedAt   *time.Time `json:"signed_at,omitempty"`
	AgeSeconds *float64   `json:"age_seconds,omitempty"`
}

// StatusCollector is one collector's last run and last success.
type StatusCollector struct {
	Name        string      `json:"name"`
	Configured  bool        `json:"configured"`
	LastRun     *ledger.Run `json:"last_run,omitempty"`
	LastSuccess *ledger.Run `json:"last_success,omitempty"`
}

// newStatusCmd builds `tickmark status` (listed in root.go).
func newStatusCmd(e *env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the outbox backlog, the last checkpoint and each collector's last run",
		Long: `Show what is waiting to be pushed to the store (the outbox backlog), the
last signed checkpoint (tree size and age), and each collector's last run and
last successful run, from the local ledger. It does not contact the store.`,
		Example: `  tickmark status --config /etc/tickmark/config.yaml
  tickmark status --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.loadConfigForReading()
			if err != nil {
				return err
			}
			a, err := app.Open(e.ctx, cfg, app.Options{Logger: e.logger(cfg), ReadOnly: true, NoStore: true})
			if errors.Is(err, ledger.ErrLocked) {
				return failErr(err, "a `tickmark run --once` holds the ledger (a running daemon leaves a snapshot for read commands; a one-off run does not): try again when it ends")
			}
			if err != nil {
				return failErr(err, "has this agent run yet? `tickmark run --once` creates the ledger; `tickmark ledger restore` rebuilds a lost one")
			}
			defer a.Close()
			st := Status{Agent: cfg.Agent.ID, DataDir: cfg.Agent.DataDir, Store: cfg.Store.Type, Records: a.Ledger.Size(), Collectors: []StatusCollector{}}
			if st.Backlog, err = a.Ledger.OutboxLen(); err != nil {
				return failErr(err, "")
			}
			cps, err := a.Ledger.Checkpoints()
			if err != nil {
				return failErr(err, "")
			}
			if n := len(cps); n > 0 {
				sc := &StatusCheckpoint{Size: cps[n-1].Size}
				if t, ok := a.Ledger.CheckpointTime(sc.Size); ok {
					age := time.Since(t).Seconds()
					sc.SignedAt, sc.AgeSeconds = &t, &age
				}
				st.Checkpoint = sc
			}
			names := map[string]bool{}
			for _, cc := range cfg.Collectors {
				names[cc.Name] = true
			}
			// Collectors that ran but are no longer configured are shown too.
			seen := map[string]bool{}
			_ = a.Ledger.Runs("", time.Time{}, time.Time{}, func(r *ledger.Run) error { seen[r.Collector] = true; return nil })
			all := map[string]bool{}
			for n := range names {
				all[n] = true
			}
			for n := range seen {
				all[n] = true
			}
			list := make([]string, 0, len(all))
			for n := range all {
				list = append(list, n)
			}
			sort.Strings(list)
			for _, n := range list {
				last, ok, err := a.Ledger.LastRun(n)
				if err != nil {
					return failErr(err, "")
				}
				st.Collectors = append(st.Collectors, StatusCollector{Name: n, Configured: names[n], LastRun: last, LastSuccess: ok})
			}
			if asJSON {
				return printJSON(e.stdout, st)
			}
			printStatus(e, &st)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return c
}

func printStatus(e *env, s *Status) {
	w := e.stdout
	fmt.Fprintf(w, "agent %s (data dir %s, store %s)\n", s.Agent, s.DataDir, s.Store)
	fmt.Fprintf(w, "records: %d\n", s.Records)
	fmt.Fprintf(w, "outbox backlog: %d artifact%s waiting for the store\n", s.Backlog, plural(s.Backlog))
	switch {
	case s.Checkpoint == nil:
		fmt.Fprintf(w, "last checkpoint: none yet\n")
	case s.Checkpoint.SignedAt != nil:
		fmt.Fprintf(w, "last checkpoint: tree size %d, signed %s (%s ago)\n", s.Checkpoint.Size, s.Checkpoint.SignedAt.Format(time.RFC3339), time.Duration(*s.Checkpoint.AgeSeconds*float64(time.Second)).Round(time.Second))
	default:
		fmt.Fprintf(w, "last checkpoint: tree size %d (signing time not recorded)\n", s.Checkpoint.Size)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nCOLLECTOR\tLAST RUN\tOUTCOME\tLAST SUCCESS")
	for _, c := range s.Collectors {
		lastRun, outcome, lastOK := "never", "-", "never"
		if c.LastRun != nil {
			lastRun, outcome = c.LastRun.Started.UTC().Format(time.RFC3339), c.LastRun.Outcome
		}
		if c.LastSuccess != nil {
			lastOK = c.LastSuccess.Started.UTC().Format(time.RFC3339)
		}
		name := c.Name
		if !c.Configured {
			name += " (not configured)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, lastRun, outcome, lastOK)
	}
	tw.Flush()
	for _, c := range s.Collectors {
		if c.LastRun != nil && c.LastRun.Error != "" {
			fmt.Fprintf(w, "\n%s last failed: %s\n", c.Name, c.LastRun.Error)
		}
	}
}
