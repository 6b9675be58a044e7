package console

import (
	"context"
	"fmt"

	"github.com/tickmark-dev/tickmark/internal/app"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
	"github.com/tickmark-dev/tickmark/internal/storeview"
)

// BucketOpener reads every agent's published log in the bucket (or only
// agent only). An agent whose log does not open or verify is reported on
// the dashboard; the others are shown.
func BucketOpener(v *storeview.View, only string) func(ctx context.Context) (*Fleet, error) {
	return func(ctx context.Context) (*Fleet, error) {
		agents, err := v.Agents(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing agents in %s: %w", v.Bucket.Describe(), err)
		}
		fl := &Fleet{Where: v.Bucket.Describe(), Agents: map[string]AgentSource{}, Problems: map[string]string{}, ObjectKey: v.Bucket.EvidenceObject}
		if rr, ok := v.Bucket.Store().(RetentionReader); ok {
			fl.Retention = rr
		}
		for _, a := range agents {
			if only != "" && a != only {
				continue
			}
			src, err := readmodel.OpenBucket(ctx, v, a)
			if err != nil {
				fl.Problems[a] = err.Error()
				continue
			}
			fl.Agents[a] = src
		}
		if only != "" && fl.Agents[only] == nil && fl.Problems[only] == "" {
			return nil, fmt.Errorf("agent %s has published no log in %s", only, v.Bucket.Describe())
		}
		return fl, nil
	}
}

// LedgerOpener reads the local ledger (opened read-only by open, with its
// store for bodies).
func LedgerOpener(open func(ctx context.Context) (*app.App, error)) func(ctx context.Context) (*Fleet, error) {
	return func(ctx context.Context) (*Fleet, error) {
		a, err := open(ctx)
		if err != nil {
			return nil, err
		}
		id := a.Ledger.Agent()
		src := &readmodel.Ledger{L: a.Ledger, Bucket: a.Bucket}
		fl := &Fleet{Where: "ledger " + a.Cfg.Agent.DataDir + " (agent " + id + ")", Agents: map[string]AgentSource{id: src},
			Close: func() { a.Close() }}
		if a.Bucket != nil {
			fl.ObjectKey = a.Bucket.EvidenceObject
			if rr, ok := a.Bucket.Store().(RetentionReader); ok {
				fl.Retention = rr
			}
		}
		return fl, nil
	}
}
