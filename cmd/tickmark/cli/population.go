package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tickmark-dev/tickmark/internal/csvsafe"
	"github.com/tickmark-dev/tickmark/internal/export"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
)

// newPopulationCmd builds `tickmark population` (listed in root.go).
func newPopulationCmd(e *env) *cobra.Command {
	var sf storeFlags
	var (
		by            string
		typ, from, to string
		asCSV, asJSON bool
	)
	c := &cobra.Command{
		Use:   "population",
		Short: "List every item of an evidence type in a window (one row per change, user or ticket), deduplicated",
		Long: `Read every artifact of --type collected in [--from, --to] and list its items:
one row per item across all artifacts, deduplicated by the item's key and
showing its latest version, when it was first and last collected and in how
many artifacts. How items are found per evidence type is documented in
docs/controls-and-coverage.md; a type whose bodies are not lists (custom exec
evidence, say) gives one row per artifact. The population's SHA-256 is
printed on stderr so a sample can be tied to it.`,
		Example: `  tickmark population --type github.pull_requests --from 2026-01-01 --to 2026-06-30 --csv > changes.csv
  tickmark population --type okta.deprovisioned_users --from 2026-01-01 --to 2026-06-30`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if typ == "" {
				return usageErr(fmt.Errorf("--type is required"), "e.g. --type jira.change_tickets")
			}
			f, t, err := window(from, to)
			if err != nil {
				return err
			}
			pop, err := e.population(sf, typ, f, t, by)
			if err != nil {
				return err
			}
			switch {
			case asJSON:
				enc := jsonLineEncoder(e.stdout)
				h := pop.Header()
				for _, r := range pop.Rows {
					rec := pop.Record(r)
					m := make(map[string]string, len(h))
					for i := range h {
						m[h[i]] = rec[i]
					}
					if err := enc.Encode(m); err != nil {
						return err
					}
				}
			case asCSV:
				if err := pop.WriteCSV(e.stdout); err != nil {
					return err
				}
			default:
				printPopulationTable(e, pop)
			}
			fmt.Fprintf(e.stderr, "%d %s item%s from %d artifact%s (%s to %s); population sha256 %s\n", len(pop.Rows), typ, plural(len(pop.Rows)),
				pop.Artifacts, plural(pop.Artifacts), f.Format(time.DateOnly), t.AddDate(0, 0, -1).Format(time.DateOnly), pop.Digest())
			if pop.Skipped > 0 {
				fmt.Fprintf(e.stderr, "%d artifact%s of another content type (summaries) not counted as items\n", pop.Skipped, plural(pop.Skipped))
			}
			return nil
		},
	}
	c.Flags().StringVar(&typ, "type", "", "evidence type, e.g. github.pull_requests")
	c.Flags().StringVar(&from, "from", "", "first day (YYYY-MM-DD, UTC)")
	c.Flags().StringVar(&to, "to", "", "last day, inclusive (YYYY-MM-DD, UTC)")
	c.Flags().StringVar(&by, "by", "collected", "apply the window to when items were collected, or to when they happened (merged_at, published, ...; see docs/cli.md)")
	c.Flags().BoolVar(&asCSV, "csv", false, "print CSV")
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per row")
	sf.add(c)
	return c
}

func printPopulationTable(e *env, pop *export.Population) {
	w := csvsafe.NewWriter(e.stdout)
	w.Comma = '\t'
	_ = w.Write(pop.Header())
	for _, r := range pop.Rows {
		_ = w.Write(pop.Record(r))
	}
	w.Flush()
}

// population builds the population of typ in [f, t) (by collection or
// observation time) for population and sample: the type must be known.
func (e *env) population(sf storeFlags, typ string, f, t time.Time, by string) (*export.Population, error) {
	b, err := readmodel.ParseBy(by)
	if err != nil {
		return nil, usageErr(err, "")
	}
	v, err := e.openEvidence(sf)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	if err := newVocab(v.set, v.cfg, v.src).evidenceType(typ); err != nil {
		return nil, err
	}
	pop, err := export.BuildPopulationBy(e.ctx, v.src, typ, f, t, b)
	if err != nil {
		return nil, failErr(err, "")
	}
	return pop, nil
}
