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

// Result is what a demo run produced.
type Result struct {
	Dir       string
	Config    string
	Summary   *app.Summary
	Verify    *verify.Report
	Sources   []Source
	StorePath string
}

// Run builds a workspace in dir, starts every sample source, runs the real
// engine once against them, and verifies the result.
func Run(ctx context.Context, dir string, logger *slog.Logger) (*Result, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	res := &Result{Dir: dir, StorePath: filepath.Join(dir, "store")}
	env := Env{Dir: dir, Setenv: func(k, v string) { os.Setenv(k, v) }}
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
	a, err := app.Open(ctx, cfg, app.Options{Logger: logger})
	if err != nil {
		return nil, err
	}
	defer a.Close()
	ccs, _ := a.Select(nil)
	sum, err := a.RunOnce(ctx, ccs, nil)
	res.Summary = sum
	if err != nil {
		return res, err
	}
	rep, err := verify.Ledger(ctx, a.Ledger, verify.Options{Store: a.Store, Layout: a.Layout})
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
	fmt.Fprintf(w, "\nnext:\n  tickmark evidence list --config %s\n  tickmark verify --config %s\n  tickmark coverage --config %s --from %s --to %s\n",
		r.Config, r.Config, r.Config, time.Now().UTC().Format("2006-01-02"), time.Now().UTC().Format("2006-01-02"))
}
