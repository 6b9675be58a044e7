package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tickmark-dev/tickmark/collectors"
)

// newCollectorsCmd builds `tickmark collectors` (listed in root.go).
func newCollectorsCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "collectors", Short: "Collector types and configured instances"}
	var asJSON, sample bool
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the collector types in this binary, their evidence types and default controls",
		Example: "  tickmark collectors list\n  tickmark collectors list --sample   # with each type's sample configuration",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			defs := collectors.Registered()
			if asJSON {
				type et struct {
					Name        string   `json:"name"`
					Controls    []string `json:"controls"`
					Description string   `json:"description,omitempty"`
				}
				type row struct {
					Type          string `json:"type"`
					Summary       string `json:"summary"`
					EvidenceTypes []et   `json:"evidence_types"`
					SampleConfig  string `json:"sample_config,omitempty"`
				}
				var out []row
				for _, d := range defs {
					r := row{Type: d.Type, Summary: d.Summary, EvidenceTypes: []et{}, SampleConfig: d.SampleConfig}
					for _, t := range d.EvidenceTypes {
						r.EvidenceTypes = append(r.EvidenceTypes, et{t.Name, t.Controls, t.Description})
					}
					out = append(out, r)
				}
				return printJSON(e.stdout, out)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TYPE\tEVIDENCE TYPE\tDEFAULT CONTROLS\tSUMMARY")
			for _, d := range defs {
				if len(d.EvidenceTypes) == 0 {
					fmt.Fprintf(tw, "%s\t(any, from the source)\t(from config)\t%s\n", d.Type, d.Summary)
				}
				for i, t := range d.EvidenceTypes {
					summary := ""
					if i == 0 {
						summary = d.Summary
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Type, t.Name, strings.Join(t.Controls, ","), summary)
				}
			}
			tw.Flush()
			if sample {
				for _, d := range defs {
					fmt.Fprintf(e.stdout, "\n# %s — %s\n%s", d.Type, d.Summary, d.SampleConfig)
				}
			}
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	list.Flags().BoolVar(&sample, "sample", false, "print each type's sample configuration")
	c.AddCommand(list)
	c.AddCommand(newCollectorsTestCmd(e)) // collectorstest.go
	return c
}
