package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/tickmark-dev/tickmark/internal/app"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/export"
	"github.com/tickmark-dev/tickmark/internal/oscal"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
)

// newExportCmd builds `tickmark export` (listed in root.go).
func newExportCmd(e *env) *cobra.Command {
	var sf storeFlags
	var (
		from, to, out, oscalOut string
		by                      string
		ids                     []string
		asJSON                  bool
	)
	c := &cobra.Command{
		Use:   "export",
		Short: "Write an auditor package: the window's evidence by control and date, with proofs, offline-verifiable",
		Long: `Write one ZIP with the evidence collected in [--from, --to], filed as
evidence/<control>/<date>/<type>/..., every record, an inclusion proof of
every record (c2sp.org/tlog-proof) against the latest signed checkpoint, the
checkpoints, the public keys, index.html (browsable offline), index.csv,
manifest.json, SHA256SUMS and VERIFY.md. See docs/auditor-package.md.

--control takes an organisation control ID (its evidence types are
exported under it) or a criterion such as CC6.1 (the records filed under
it); repeat it for several. Without --control every control found on the
window's records is exported.

The same ledger, window and controls give a byte-identical file. Bodies are
streamed from the store (or the local spool) into the ZIP, so memory stays
bounded whatever the package's size. Records committed after the latest
checkpoint are left out (run ` + "`tickmark run --once`" + ` to sign them).`,
		Example: `  tickmark export --from 2026-01-01 --to 2026-06-30 --out soc2-h1.zip
  tickmark export --from 2026-01-01 --to 2026-06-30 --control AC-02 --control CC8.1 --out access.zip`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, t, err := window(from, to)
			if err != nil {
				return err
			}
			if out == "" {
				return usageErr(fmt.Errorf("--out is required"), "e.g. --out evidence.zip")
			}
			v, err := e.openEvidence(sf)
			if err != nil {
				return err
			}
			defer v.Close()
			var sel []export.Selection
			voc := newVocab(v.set, v.cfg, v.src)
			for _, id := range ids {
				m, err := voc.control(id)
				if err != nil {
					return err
				}
				if m.Criterion == "" {
					c := m.Controls[0]
					sel = append(sel, export.Selection{ID: c.ID, Types: append(append([]string(nil), c.Evidence...), checkTypes(v.cfg, c.ID)...), Title: c.Title})
				} else if cr, ok := v.set.Catalog.Criterion(id); ok {
					sel = append(sel, export.Selection{ID: cr.ID, Title: cr.Title})
				} else {
					sel = append(sel, export.Selection{ID: id})
				}
			}
			if os.Getenv("GOMEMLIMIT") == "" {
				debug.SetMemoryLimit(export.MemoryLimit)
			}
			dir := filepath.Dir(out)
			tmp, err := os.CreateTemp(dir, ".tickmark-export-*")
			if err != nil {
				return failErr(err, "")
			}
			defer os.Remove(tmp.Name())
			b, err := readmodel.ParseBy(by)
			if err != nil {
				return usageErr(err, "")
			}
			res, err := export.Write(e.ctx, tmp, v.src, export.Options{From: f, To: t, By: b, Controls: sel, TempDir: dir,
				OSCAL: oscalOut != "", Tool: "tickmark " + app.Version, Now: nowOf(e.now)})
			if err == nil {
				err = tmp.Sync()
			}
			if cerr := tmp.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.Chmod(tmp.Name(), 0o644)
			}
			if err == nil {
				err = os.Rename(tmp.Name(), out)
			}
			if err != nil {
				return failErr(fmt.Errorf("export: %w", err), "")
			}
			if oscalOut != "" {
				if err := writeFileAtomic(oscalOut, func(w io.Writer) error { _, err := w.Write(append(res.OSCAL, '\n')); return err }); err != nil {
					return failErr(fmt.Errorf("writing %s: %w", oscalOut, err), "")
				}
				fmt.Fprintf(e.stderr, "wrote %s (OSCAL %s assessment results; also %s in the package)\n", oscalOut, oscal.Version, export.OSCALFile)
			}
			m := res.Manifest
			if asJSON {
				if err := printJSON(e.stdout, map[string]any{"file": out, "root": res.Root, "files": res.Files, "manifest": m}); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(e.stdout, "wrote %s: %d records, %d evidence files, %d controls, proofs against checkpoint %d (%s to %s)\n",
					out, m.Records, m.Bodies, len(m.Controls), m.Checkpoint.Size, f.Format(time.DateOnly), t.AddDate(0, 0, -1).Format(time.DateOnly))
			}
			if m.Unsigned > 0 {
				fmt.Fprintf(e.stderr, "warning: %d record%s collected in the window after the latest checkpoint %s left out; run `tickmark run --once` to sign them, then export again\n", m.Unsigned, plural(m.Unsigned), plural2(m.Unsigned))
			}
			if !asJSON {
				fmt.Fprintf(e.stdout, "check it with: tickmark verify-package %s   (or, with coreutils: unzip it, cd %s, sha256sum -c SHA256SUMS)\n", out, res.Root)
			}
			return nil
		},
	}
	c.Flags().StringVar(&from, "from", "", "first day of the window (YYYY-MM-DD, UTC)")
	c.Flags().StringVar(&to, "to", "", "last day of the window, inclusive (YYYY-MM-DD, UTC)")
	c.Flags().StringVar(&by, "by", "collected", "apply the window to when evidence was collected, or to what it observed (stated in manifest.json; verify-package selects the same way)")
	c.Flags().StringArrayVar(&ids, "control", nil, "export only this control or criterion (repeatable)")
	c.Flags().StringVar(&out, "out", "", "the ZIP file to write")
	c.Flags().BoolVar(&asJSON, "json", false, "print the package's manifest as JSON")
	c.Flags().StringVar(&oscalOut, "oscal", "", "also write OSCAL 1.1.3 assessment results (observations for the evidence, findings for the check results) to this file, and into the package")
	sf.add(c)
	return c
}

func plural2(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}

// checkTypes are the result types of the checks that test control id: an
// organisation control's export includes its check results (and, through
// them, their inputs).
func checkTypes(cfg *config.Config, id string) []string {
	set, err := cfg.CheckSet()
	if err != nil {
		return nil
	}
	var out []string
	for _, c := range set.Checks {
		if slices.Contains(c.Controls, id) {
			out = append(out, c.Type())
		}
	}
	return out
}

// nowOf reads an optional clock.
func nowOf(now func() time.Time) time.Time {
	if now == nil {
		return time.Now()
	}
	return now()
}
