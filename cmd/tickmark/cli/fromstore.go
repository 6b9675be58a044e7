package cli

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/controls"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
	"github.com/tickmark-dev/tickmark/internal/store"
	"github.com/tickmark-dev/tickmark/internal/storeview"
	"github.com/tickmark-dev/tickmark/internal/verify"
)

// --from-store: `verify` and `evidence list` from the bucket alone, across
// every agent (or --agent), with read-only credentials and no agent disk.
// Only the configuration's store: section is used; the ledger is not opened.

const fromStoreHelp = "read the bucket alone, every agent's log (no local ledger; read-only credentials are enough)"

func (e *env) openView() (*storeview.View, func(), error) {
	v, _, done, err := e.openViewConfig()
	return v, done, err
}

func (e *env) openViewConfig() (*storeview.View, *config.Config, func(), error) {
	cfg, err := e.loadConfigForReading()
	if err != nil {
		return nil, nil, nil, err
	}
	scfg := cfg.Store
	scfg.Logger = e.logger(cfg)
	st, err := store.Open(e.ctx, scfg)
	if err != nil {
		return nil, nil, nil, failErr(fmt.Errorf("opening %s store: %w", cfg.Store.Type, err), "check the store section and the credentials")
	}
	// Every read of the bucket holds the logs to the configured key.
	pin := verify.Pin{Key: cfg.Verify.Key, KeyID: cfg.Verify.KeyID}
	return &storeview.View{Bucket: store.NewBucket(st, cfg.Store.Prefix), Pin: pin}, cfg, func() { st.Close() }, nil
}

func (e *env) verifyFromStore(agent string, asJSON, skipBodies bool, pf *pinFlags) error {
	v, cfg, done, err := e.openViewConfig()
	if err != nil {
		return err
	}
	defer done()
	if v.Pin, err = pf.pin(cfg); err != nil {
		return err
	}
	opts := verify.Options{SkipBodies: skipBodies}
	if t := cfg.TimestampAuthority; t != nil {
		if opts.TSARoots, err = t.Roots(); err != nil {
			return usageErr(err, "")
		}
	}
	fr, err := v.Verify(e.ctx, agent, opts)
	if err != nil {
		return failErr(err, "")
	}
	if asJSON {
		if err := printJSON(e.stdout, fr); err != nil {
			return err
		}
	} else {
		if len(fr.Agents) == 0 {
			fmt.Fprintf(e.stdout, "no agent has published a log in %s\n", v.Bucket.Describe())
		}
		for _, r := range fr.Agents {
			printStoreVerify(e, r)
		}
	}
	if fr.OK {
		return nil
	}
	if asJSON {
		return silentFailure
	}
	n := 0
	for _, r := range fr.Agents {
		n += len(r.Problems)
	}
	if len(fr.Agents) == 0 {
		return failErr(fmt.Errorf("nothing to verify in %s", v.Bucket.Describe()), "check store.bucket and store.prefix")
	}
	return failErr(fmt.Errorf("verification failed: %d problem%s", n, plural(n)),
		"an identity problem means two agents share an agent ID: give each its own agent.id; other problems name the altered object")
}

func printStoreVerify(e *env, r *verify.Report) {
	w := e.stdout
	fmt.Fprintf(w, "agent %s: %d records, tree size %d, %d checkpoints in the store\n", r.Agent, r.Records, r.TreeSize, r.StoreCheckpoints)
	fmt.Fprintf(w, "  evidence objects re-hashed: %d\n", r.BodiesChecked)
	if r.Timestamped > 0 || len(r.Unstamped) > 0 {
		fmt.Fprintf(w, "  RFC 3161 timestamps verified: %d (%d checkpoints without one)\n", r.Timestamped, len(r.Unstamped))
	}
	if r.OK {
		fmt.Fprintf(w, "  OK: every checkpoint signature, hash tile, entry bundle and evidence object verified\n")
		return
	}
	fmt.Fprintf(w, "  FAILED:\n")
	for _, p := range r.Problems {
		fmt.Fprintf(w, "    %s\n", p)
	}
}

type storeRecord struct {
	*evidence.Record
	Objects []string `json:"objects"`
}

func (e *env) listFromStore(agent string, q ledger.Query, by string, asJSON bool) error {
	v, cfg, done, err := e.openViewConfig()
	if err != nil {
		return err
	}
	defer done()
	set, err := controls.Load(cfg.Controls.File)
	if err != nil {
		return usageErr(err, "check controls.file in "+cfg.Path)
	}
	voc := &vocab{set: set, cfg: cfg, any: func(q ledger.Query) (bool, error) {
		q.Limit = 1
		found := false
		err := readmodel.FindInBucket(e.ctx, v, agent, q, func(*evidence.Record) error { found = true; return nil })
		return found, err
	}}
	keep, err := voc.query(&q)
	if err != nil {
		return err
	}
	if keep, err = byWindow(by, &q, keep); err != nil {
		return err
	}
	limit := q.Limit
	q.Limit = 0 // counted here, after the control filter
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	if !asJSON {
		fmt.Fprintln(tw, "AGENT\tSEQ\tCOLLECTED\tTYPE\tSUBJECT\tCONTROLS\tSIZE\tSHA256")
	}
	n := 0
	err = readmodel.FindInBucket(e.ctx, v, agent, q, func(r *evidence.Record) error {
		if !keep(r) {
			return nil
		}
		if limit > 0 && n >= limit {
			return errStop
		}
		n++
		if asJSON {
			sr := storeRecord{Record: r}
			for _, c := range r.Controls {
				sr.Objects = append(sr.Objects, v.Bucket.EvidenceObject(c, r))
			}
			return printJSONLine(e, sr)
		}
		_, err := fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Agent, r.Seq, r.CollectedAt.Format(time.RFC3339), r.Type, r.Subject, strings.Join(r.Controls, ","), r.Size, r.SHA256[:12])
		return err
	})
	if err != nil && !errors.Is(err, errStop) {
		return failErr(err, "run `tickmark verify --from-store` to see what does not verify")
	}
	if !asJSON {
		tw.Flush()
		fmt.Fprintf(e.stderr, "%d record%s\n", n, plural(n))
	}
	return nil
}
