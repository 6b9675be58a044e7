package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tickmark-dev/tickmark/internal/app"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/verify"
)

// Options tune a demo run.
type Options struct {
	// NoHistory skips the sample history: one run, today.
	NoHistory bool
}

// Result is what a demo run produced.
type Result struct {
	// History is the sample history run before today's run.
	History   *History
	Dir       string
	Config    string
	Summary   *app.Summary
	Verify    *verify.Report
	Sources   []Source
	StorePath string
}

// Run builds a workspace in dir, starts every sample source, runs the real
// engine once against them, and verifies the result.
func Run(ctx context.Context, dir string, logger *slog.Logger, o Options) (*Result, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	res := &Result{Dir: dir, StorePath: filepath.Join(dir, "store")}
	faults := map[string]func(){} // the sources' fault injectors, by name
	env := Env{Dir: dir, Setenv: func(k, v string) { os.Setenv(k, v) },
		Fault: func(name string, inject func()) { faults[name] = inject }}
	var entries []string
	for _, s := range Sources() {
		y, stop, err := s.Start(ctx, env)
		if err != nil {
			return nil, fmt.Errorf("starting sample source %s: %w", s.Name, err)
		}
		defer stop()
		entries = append(entries, indent(y, "  "))
		res.Sources = append(res.Sources, s)
	}
	cfgText := fmt.Sprintf(`# tickmark demo configuration: every source below serves SAMPLE DATA.
agent:
  id: demo
  data_dir: %s
store:
  type: filesystem
  path: %s
collectors:
%s`, filepath.Join(dir, "data"), res.StorePath, strings.Join(entries, ""))
	res.Config = filepath.Join(dir, "tickmark.yaml")
	if err := os.WriteFile(res.Config, []byte(cfgText), 0o600); err != nil {
		return nil, err
	}
	cfg, err := config.Load(res.Config)
	if err != nil {
		return nil, fmt.Errorf("demo configuration: %w", err)
	}
	// The engine's clock walks through the sample history, then stops at
	// the real time for today's run.
	now := time.Now().UTC()
	clock := now
	a, err := app.Open(ctx, cfg, app.Options{Logger: logger, Now: func() time.Time { return clock }})
	if err != nil {
		return nil, err
	}
	defer a.Close()
	ccs, _ := a.Select(nil)
	if !o.NoHistory {
		h, err := runHistory(ctx, a, ccs, now, &clock, faults)
		res.History = h
		if err != nil {
			return res, err
		}
	}
	clock = now
	sum, err := a.Engine(nil).Run(ctx, ccs)
	res.Summary = sum
	if err != nil {
		return res, err
	}
	rep, err := verify.Ledger(ctx, a.Ledger, verify.Options{Bucket: a.Bucket})
	res.Verify = rep
	return res, err
}

func indent(s, pre string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if strings.TrimSpace(l) != "" {
			b.WriteString(pre)
		}
		b.WriteString(l)
	}
	return b.String()
}

// Print writes the human summary of a demo run.
func (r *Result) Print(w io.Writer) {
	fmt.Fprintf(w, "tickmark demo — every source is SAMPLE DATA served on this machine:\n")
	for _, s := range r.Sources {
		fmt.Fprintf(w, "  %-8s %s\n", s.Name, s.Label)
	}
	if h := r.History; h != nil {
		fmt.Fprintf(w, "\nsample history: %d days (%s to %s), %d daily runs, %d artifacts, planted:\n", HistoryDays, h.From.Format(time.DateOnly), h.To.Format(time.DateOnly), h.Runs, h.Artifacts)
		if n := len(h.Outage); n > 0 {
			fmt.Fprintf(w, "  the agent did not run on %d days (%s to %s)\n", n, h.Outage[0].Format(time.DateOnly), h.Outage[n-1].Format(time.DateOnly))
		}
		for _, f := range h.FailedRuns {
			fmt.Fprintf(w, "  failed run: %s\n", f)
		}
		fmt.Fprintf(w, "\ntoday's run:")
	}
	if r.Summary != nil {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "COLLECTOR\tOUTCOME\tARTIFACTS")
		byControl := map[string]int{}
		for _, c := range r.Summary.Collectors {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", c.Name, c.Outcome, c.Artifacts)
			for k, v := range c.ByControl {
				byControl[k] += v
			}
		}
		tw.Flush()
		for _, c := range r.Summary.Collectors {
			if c.Error != "" {
				fmt.Fprintf(w, "  %s failed: %s\n", c.Name, c.Error)
			}
		}
		fmt.Fprintf(w, "\nevidence by control:\n")
		for _, k := range app.SortedKeys(byControl) {
			noun := "artifacts"
			if byControl[k] == 1 {
				noun = "artifact "
			}
			fmt.Fprintf(w, "  %-8s %3d %s  %s\n", k, byControl[k], noun, filepath.Join(r.StorePath, "controls", k))
		}
		if cp := r.Summary.Checkpoint; cp != nil {
			fmt.Fprintf(w, "\nsigned checkpoint: tree size %d, root %s\n", cp.Size, cp.Root)
		}
	}
	if r.Verify != nil {
		if r.Verify.OK {
			fmt.Fprintf(w, "verification: OK (%d records, %d bodies re-hashed, %d checkpoints in the store)\n", r.Verify.Records, r.Verify.BodiesChecked, r.Verify.StoreCheckpoints)
		} else {
			fmt.Fprintf(w, "verification: FAILED\n")
			for _, p := range r.Verify.Problems {
				fmt.Fprintf(w, "  %s\n", p)
			}
		}
	}
	fmt.Fprintf(w, "\nworkspace: %s\n", r.Dir)
	fmt.Fprintf(w, "  configuration  %s\n  ledger         %s\n  store          %s\n", r.Config, filepath.Join(r.Dir, "data"), r.StorePath)
	today := time.Now().UTC()
	day := func(ago int) string { return today.AddDate(0, 0, -ago).Format(time.DateOnly) }
	first := day(0)
	if h := r.History; h != nil {
		first = h.From.Format(time.DateOnly)
	}
	c := r.Config
	fmt.Fprintf(w, "\nnext:\n")
	fmt.Fprintf(w, "  tickmark evidence list --config %s --control AC-02 --from %s --to %s\n", c, day(6), day(0))
	fmt.Fprintf(w, "  tickmark verify --config %s\n", c)
	fmt.Fprintf(w, "  tickmark population --config %s --type okta.users --from %s --to %s\n", c, first, day(0))
	fmt.Fprintf(w, "  tickmark sample --config %s --type okta.users --from %s --to %s --n 5 --seed auditor-chosen-seed\n", c, first, day(0))
	pkg := filepath.Join(r.Dir, "auditor-package.zip")
	fmt.Fprintf(w, "  tickmark export --config %s --from %s --to %s --control AC-02 --out %s\n", c, first, day(0), pkg)
	fmt.Fprintf(w, "  tickmark verify-package %s\n", pkg)
	if h := r.History; h != nil {
		fmt.Fprintf(w, "\nthe observation window, with its gaps (exit 1, as on any gap):\n")
		fmt.Fprintf(w, "  tickmark coverage --config %s --from %s --to %s --html %s\n", c, first, day(0), filepath.Join(r.Dir, "coverage.html"))
	}
}
