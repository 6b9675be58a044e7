package cli

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	"github.com/tickmark-dev/tickmark/internal/app"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/controls"
	"github.com/tickmark-dev/tickmark/internal/evidence"
)

// evidenceView is what coverage, export, population and sample read: the
// control set and the evidence source. Today the source is the local
// ledger (read-only) with its store; a bucket-only view (--from-store) is a
// second implementation of the same interfaces (controls.Source,
// export.Source).
type evidenceView struct {
	cfg *config.Config
	app *app.App
	set *controls.Set
	src *controls.LedgerSource
}

func (e *env) openEvidence() (*evidenceView, error) {
	cfg, err := e.loadConfig()
	if err != nil {
		return nil, err
	}
	set, err := controls.Load(cfg.Controls.File)
	if err != nil {
		return nil, usageErr(err, "check controls.file in "+cfg.Path)
	}
	a, err := app.Open(e.ctx, cfg, app.Options{Logger: e.logger(cfg), ReadOnly: true})
	if err != nil {
		return nil, failErr(err, "")
	}
	return &evidenceView{cfg: cfg, app: a, set: set, src: &controls.LedgerSource{L: a.Ledger, Store: a.Store, Layout: a.Layout}}, nil
}

func (v *evidenceView) Close() { v.app.Close() }

// producers maps each configured collector instance to the evidence types
// it can produce: its type's declared types and its controls mapping.
func producers(cfg *config.Config) map[string][]string {
	out := map[string][]string{}
	for _, cc := range cfg.Collectors {
		var ts []string
		for _, et := range cc.Definition.EvidenceTypes {
			ts = append(ts, et.Name)
		}
		for t := range cc.Controls {
			ts = append(ts, t)
		}
		out[cc.Name] = ts
	}
	return out
}

// link is where a record's artifact is: a file:// URL into a filesystem
// store, an s3:// URL otherwise.
func (v *evidenceView) link(r *evidence.Record) string {
	if len(r.Controls) == 0 {
		return ""
	}
	key := v.app.Layout.Evidence(r.Controls[0], r)
	switch v.cfg.Store.Type {
	case "filesystem":
		p, err := filepath.Abs(filepath.Join(v.cfg.Store.Path, filepath.FromSlash(key)))
		if err != nil {
			return ""
		}
		return (&url.URL{Scheme: "file", Path: filepath.ToSlash(p)}).String()
	case "s3":
		return "s3://" + v.cfg.Store.Bucket + "/" + key
	}
	return ""
}

// window parses --from and --to (both required; --to inclusive of its day).
func window(from, to string) (time.Time, time.Time, error) {
	if from == "" || to == "" {
		return time.Time{}, time.Time{}, usageErr(errors.New("--from and --to are required"), "dates are YYYY-MM-DD (UTC), --to inclusive")
	}
	f, err := parseDate(from, false)
	if err != nil {
		return f, f, usageErr(fmt.Errorf("--from: %w", err), "")
	}
	t, err := parseDate(to, true)
	if err != nil {
		return f, t, usageErr(fmt.Errorf("--to: %w", err), "")
	}
	if !f.Before(t) {
		return f, t, usageErr(fmt.Errorf("--from %s is not before --to %s", from, to), "")
	}
	return f, t, nil
}
