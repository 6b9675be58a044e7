package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/tickmark-dev/tickmark/internal/csvsafe"
)

// newSampleCmd builds `tickmark sample` (listed in root.go).
func newSampleCmd(e *env) *cobra.Command {
	var sf storeFlags
	var (
		by                  string
		typ, from, to, seed string
		n                   int
		asJSON              bool
	)
	c := &cobra.Command{
		Use:   "sample",
		Short: "Draw a reproducible random sample from a population (the auditor supplies the seed)",
		Long: `Build the population of --type in [--from, --to] exactly as ` + "`tickmark population`" + `
does, sort it by key and draw --n items without replacement with a PCG
generator seeded from SHA-256(--seed). The same ledger, window, type and seed
always give the same sample. Prints CSV: the draw order, then the
population columns; the population's size and SHA-256 go to stderr.`,
		Example: `  tickmark sample --type jira.change_tickets --from 2026-01-01 --to 2026-06-30 --n 25 --seed "auditor-2026-07-02"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if typ == "" || seed == "" {
				return usageErr(fmt.Errorf("--type and --seed are required"), "the auditor chooses the seed, so the sample cannot be picked in advance")
			}
			if n <= 0 {
				return usageErr(fmt.Errorf("--n must be positive"), "")
			}
			var f, t time.Time
			if from != "" || to != "" {
				var err error
				if f, t, err = window(from, to); err != nil {
					return err
				}
			}
			pop, err := e.population(sf, typ, f, t, by)
			if err != nil {
				return err
			}
			rows, err := pop.Sample(n, seed)
			if err != nil {
				return usageErr(err, "")
			}
			if n > len(pop.Rows) {
				fmt.Fprintf(e.stderr, "warning: --n %d is larger than the population (%d item%s): the sample is the whole population\n", n, len(pop.Rows), plural(len(pop.Rows)))
			}
			header := append([]string{"draw"}, pop.Header()...)
			if asJSON {
				enc := jsonLineEncoder(e.stdout)
				for i, r := range rows {
					rec := append([]string{strconv.Itoa(i + 1)}, pop.Record(r)...)
					m := make(map[string]string, len(header))
					for j := range header {
						m[header[j]] = rec[j]
					}
					if err := enc.Encode(m); err != nil {
						return err
					}
				}
			} else {
				w := csvsafe.NewWriter(e.stdout)
				_ = w.Write(header)
				for i, r := range rows {
					_ = w.Write(append([]string{strconv.Itoa(i + 1)}, pop.Record(r)...))
				}
				w.Flush()
				if err := w.Error(); err != nil {
					return err
				}
			}
			span := "all time"
			if !f.IsZero() {
				span = f.Format(time.DateOnly) + " to " + t.AddDate(0, 0, -1).Format(time.DateOnly)
			}
			fmt.Fprintf(e.stderr, "sample of %d from a population of %d %s item%s (%s, sha256 %s), seed %q\n",
				len(rows), len(pop.Rows), typ, plural(len(pop.Rows)), span, pop.Digest(), seed)
			return nil
		},
	}
	c.Flags().StringVar(&typ, "type", "", "evidence type, e.g. jira.change_tickets")
	c.Flags().StringVar(&from, "from", "", "first day (YYYY-MM-DD, UTC; default: all time)")
	c.Flags().StringVar(&to, "to", "", "last day, inclusive (YYYY-MM-DD, UTC)")
	c.Flags().StringVar(&by, "by", "collected", "apply the window to when items were collected, or to when they happened (merged_at, published, ...; see docs/cli.md)")
	c.Flags().IntVar(&n, "n", 25, "sample size")
	c.Flags().StringVar(&seed, "seed", "", "seed supplied by the auditor")
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per drawn row instead of CSV")
	sf.add(c)
	return c
}
