package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/controls"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
)

// newControlsCmd builds `tickmark controls` (listed in root.go).
func newControlsCmd(e *env) *cobra.Command {
	root := &cobra.Command{Use: "controls", Short: "List and show the organisation's controls and the SOC 2 criteria"}
	var (
		asJSON   bool
		criteria bool
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "List the organisation's controls (or, with --criteria, the SOC 2 catalog)",
		Long: `List the control set in use: controls.file from the configuration, or the
set shipped with tickmark (config/controls.yaml) when there is no
configuration or no controls.file. With --criteria, list the SOC 2 Trust
Services Criteria and their ISO/IEC 27001:2022 and NIST CSF 2.0 crosswalks.`,
		Example: "  tickmark controls list\n  tickmark controls list --criteria --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			set, _, err := e.controlSet()
			if err != nil {
				return err
			}
			if criteria {
				return printCriteria(e, set, asJSON)
			}
			if asJSON {
				return printJSON(e.stdout, set)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tFREQUENCY\tOWNER\tCRITERIA\tEVIDENCE\tTITLE")
			for _, c := range set.Controls {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Frequency, c.Owner, strings.Join(c.Criteria, ","), strings.Join(c.Evidence, ","), c.Title)
			}
			tw.Flush()
			fmt.Fprintf(e.stderr, "%d controls (%s)\n", len(set.Controls), set.Source)
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	list.Flags().BoolVar(&criteria, "criteria", false, "list the SOC 2 criteria with their crosswalks instead")
	var showJSON bool
	show := &cobra.Command{
		Use:     "show ID",
		Short:   "Show a control (or a criterion): its evidence types, the collectors producing them, and the latest evidence",
		Example: "  tickmark controls show AC-02\n  tickmark controls show CC6.1 --json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set, cfg, err := e.controlSet()
			if err != nil {
				return err
			}
			d, err := describe(e, set, cfg, args[0])
			if err != nil {
				return err
			}
			if showJSON {
				return printJSON(e.stdout, d)
			}
			printDescription(e.stdout, d)
			return nil
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")
	root.AddCommand(list, show)
	return root
}

// controlSet loads the configured control set, or the shipped one when
// there is no configuration.
func (e *env) controlSet() (*controls.Set, *config.Config, error) {
	var cfg *config.Config
	if p, err := config.Resolve(e.configPath); err == nil {
		if cfg, err = config.LoadForReading(p); err != nil {
			if _, ok := collectors.AsConfigErrors(err); ok {
				return nil, nil, fmt.Errorf("%s: %w", p, err)
			}
			return nil, nil, usageErr(err, "")
		}
	}
	file := ""
	if cfg != nil {
		file = cfg.Controls.File
	}
	set, err := controls.Load(file)
	if err != nil {
		return nil, nil, usageErr(err, "")
	}
	return set, cfg, nil
}

type criterionView struct {
	controls.Criterion
	ISO27001 []string          `json:"iso27001_2022,omitempty"`
	CSF      []string          `json:"nist_csf_2_0,omitempty"`
	Sources  map[string]string `json:"mapping_sources,omitempty"`
}

type typeView struct {
	Type       string     `json:"type"`
	Collectors []string   `json:"collectors"`
	Latest     *latestRef `json:"latest,omitempty"`
}

type latestRef struct {
	Seq         uint64    `json:"seq"`
	CollectedAt time.Time `json:"collected_at"`
	Collector   string    `json:"collector"`
	Subject     string    `json:"subject,omitempty"`
	SHA256      string    `json:"sha256"`
}

type description struct {
	Kind      string             `json:"kind"` // control | criterion
	Control   *controls.Control  `json:"control,omitempty"`
	Criteria  []criterionView    `json:"criteria"`
	Controls  []controls.Control `json:"controls,omitempty"` // for a criterion: the controls supporting it
	Evidence  []typeView         `json:"evidence"`
	LedgerMsg string             `json:"ledger,omitempty"`
}

func criterionOf(set *controls.Set, id string) (criterionView, bool) {
	c, ok := set.Catalog.Criterion(id)
	if !ok {
		return criterionView{}, false
	}
	v := criterionView{Criterion: *c}
	if m, ok := set.Crosswalk.For(id); ok {
		v.ISO27001, v.CSF, v.Sources = m.ISO27001, m.CSF, m.Source
	}
	return v, true
}

func describe(e *env, set *controls.Set, cfg *config.Config, id string) (*description, error) {
	d := &description{}
	var types []string
	if c, ok := set.Control(id); ok {
		d.Kind, d.Control = "control", c
		for _, cr := range c.Criteria {
			if v, ok := criterionOf(set, cr); ok {
				d.Criteria = append(d.Criteria, v)
			}
		}
		types = c.Evidence
	} else if v, ok := criterionOf(set, id); ok {
		d.Kind = "criterion"
		d.Criteria = []criterionView{v}
		seen := map[string]bool{}
		for _, c := range set.Controls {
			for _, cr := range c.Criteria {
				if cr == id {
					d.Controls = append(d.Controls, c)
					for _, t := range c.Evidence {
						if !seen[t] {
							seen[t] = true
							types = append(types, t)
						}
					}
				}
			}
		}
	} else {
		return nil, usageErr(fmt.Errorf("%q is neither a control in %s nor a SOC 2 criterion", id, set.Source), "run `tickmark controls list` or `tickmark controls list --criteria`")
	}
	prods := map[string][]string{}
	var led *ledger.Ledger
	if cfg != nil {
		for inst, ts := range producers(cfg) {
			for _, t := range ts {
				prods[t] = append(prods[t], inst)
			}
		}
		l, err := ledger.Open(cfg.Agent.DataDir, cfg.Agent.ID, ledger.Options{ReadOnly: true})
		if err != nil {
			d.LedgerMsg = "latest evidence unavailable: " + err.Error()
		} else {
			led = l
			defer l.Close()
		}
	} else {
		d.LedgerMsg = "no configuration: collectors and latest evidence unknown"
	}
	for _, t := range types {
		tv := typeView{Type: t, Collectors: prods[t]}
		sort.Strings(tv.Collectors)
		if led != nil {
			var last uint64
			found := false
			_ = led.ScanType(t, time.Time{}, time.Time{}, func(_ int64, seq uint64) error { last, found = seq, true; return nil })
			if found {
				src := &readmodel.Ledger{L: led}
				if r, err := src.Record(last); err == nil {
					tv.Latest = &latestRef{Seq: r.Seq, CollectedAt: r.CollectedAt, Collector: r.Collector, Subject: r.Subject, SHA256: r.SHA256}
					if !contains(tv.Collectors, r.Collector) {
						tv.Collectors = append(tv.Collectors, r.Collector)
					}
				}
			}
		}
		d.Evidence = append(d.Evidence, tv)
	}
	return d, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func printDescription(w io.Writer, d *description) {
	if c := d.Control; c != nil {
		fmt.Fprintf(w, "%s  %s\n  owner: %s\n  frequency: %s\n", c.ID, c.Title, c.Owner, c.Frequency)
	}
	fmt.Fprintf(w, "criteria:\n")
	for _, cr := range d.Criteria {
		fmt.Fprintf(w, "  %-6s %s\n", cr.ID, cr.Title)
		if len(cr.ISO27001) > 0 {
			fmt.Fprintf(w, "         ISO/IEC 27001:2022 Annex A %s (source: %s)\n", strings.Join(cr.ISO27001, ", "), cr.Sources["iso27001-2022"])
		}
		if len(cr.CSF) > 0 {
			fmt.Fprintf(w, "         NIST CSF 2.0 %s (source: %s)\n", strings.Join(cr.CSF, ", "), cr.Sources["nist-csf-2.0"])
		}
	}
	if d.Kind == "criterion" {
		fmt.Fprintf(w, "controls supporting it:\n")
		if len(d.Controls) == 0 {
			fmt.Fprintf(w, "  none in the control set\n")
		}
		for _, c := range d.Controls {
			fmt.Fprintf(w, "  %-6s %s (%s)\n", c.ID, c.Title, c.Frequency)
		}
	}
	fmt.Fprintf(w, "evidence:\n")
	for _, t := range d.Evidence {
		coll := "no configured collector"
		if len(t.Collectors) > 0 {
			coll = "collectors: " + strings.Join(t.Collectors, ", ")
		}
		latest := "no evidence yet"
		if l := t.Latest; l != nil {
			latest = fmt.Sprintf("latest %s by %s (record %d, sha256 %s)", l.CollectedAt.UTC().Format(time.RFC3339), l.Collector, l.Seq, l.SHA256[:12])
		}
		fmt.Fprintf(w, "  %-28s %s; %s\n", t.Type, coll, latest)
	}
	if d.LedgerMsg != "" {
		fmt.Fprintf(w, "(%s)\n", d.LedgerMsg)
	}
}

func printCriteria(e *env, set *controls.Set, asJSON bool) error {
	var out []criterionView
	for _, c := range set.Catalog.Criteria {
		v, _ := criterionOf(set, c.ID)
		out = append(out, v)
	}
	if asJSON {
		return printJSON(e.stdout, out)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCATEGORY\tISO 27001:2022\tNIST CSF 2.0\tTITLE")
	for _, v := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.ID, v.Category, strings.Join(v.ISO27001, ","), strings.Join(v.CSF, ","), v.Title)
	}
	tw.Flush()
	fmt.Fprintf(e.stderr, "%s; crosswalk sources in config/crosswalks.yaml\n", set.Catalog.Name)
	return nil
}
