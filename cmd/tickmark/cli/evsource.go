package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tickmark-dev/tickmark/internal/app"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/controls"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
)

// evidenceView is what coverage, export, population and sample read: the
// control set and the evidence read model — the local ledger (read-only)
// with its store, or (--from-store) one agent's published log in the
// bucket alone.
type evidenceView struct {
	cfg   *config.Config
	set   *controls.Set
	src   readmodel.Source
	close func()
}

// storeFlags are --from-store and --agent.
type storeFlags struct {
	fromStore bool
	agent     string
}

func (f *storeFlags) add(c *cobra.Command) {
	c.Flags().BoolVar(&f.fromStore, "from-store", false, "read the bucket alone (one agent's published log; no local ledger, read-only credentials are enough)")
	c.Flags().StringVar(&f.agent, "agent", "", "with --from-store: the agent (needed when the bucket holds several)")
}

func (e *env) openEvidence(sf storeFlags) (*evidenceView, error) {
	cfg, err := e.loadConfigForReading()
	if err != nil {
		return nil, err
	}
	set, err := controls.Load(cfg.Controls.File)
	if err != nil {
		return nil, usageErr(err, "check controls.file in "+cfg.Path)
	}
	if sf.fromStore {
		v, done, err := e.openView()
		if err != nil {
			return nil, err
		}
		agent := sf.agent
		if agent == "" {
			agents, err := v.Agents(e.ctx)
			if err != nil {
				done()
				return nil, failErr(err, "")
			}
			if len(agents) != 1 {
				done()
				return nil, usageErr(fmt.Errorf("the bucket holds %d agents (%s): choose one with --agent", len(agents), strings.Join(agents, ", ")), "")
			}
			agent = agents[0]
		}
		src, err := readmodel.OpenBucket(e.ctx, v, agent)
		if err != nil {
			done()
			return nil, failErr(err, "run `tickmark verify --from-store --agent "+agent+"` for details")
		}
		return &evidenceView{cfg: cfg, set: set, src: src, close: done}, nil
	}
	if sf.agent != "" {
		return nil, usageErr(errors.New("--agent needs --from-store"), "")
	}
	a, err := app.Open(e.ctx, cfg, app.Options{Logger: e.logger(cfg), ReadOnly: true})
	if err != nil {
		return nil, failErr(err, "")
	}
	src := &readmodel.Ledger{L: a.Ledger, Bucket: a.Bucket}
	return &evidenceView{cfg: cfg, set: set, src: src, close: func() { a.Close() }}, nil
}

func (v *evidenceView) Close() { v.close() }

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

// locator turns object keys into file:// or s3:// URLs for the configured store.
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
