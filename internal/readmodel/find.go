package readmodel

import (
	"context"
	"errors"
	"fmt"

	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/storeview"
	"github.com/tickmark-dev/tickmark/internal/verify"
)

var errStop = errors.New("stop")

// FindInBucket calls fn for each authenticated record that matches q, for one
// agent or ("" ) every agent: agents in name order, each agent's records in
// sequence order. The bucket has no index, so every entry bundle is read.
func FindInBucket(ctx context.Context, v *storeview.View, agent string, q ledger.Query, fn func(*evidence.Record) error) error {
	agents := []string{agent}
	if agent == "" {
		var err error
		if agents, err = v.Agents(ctx); err != nil {
			return err
		}
	}
	n := 0
	for _, a := range agents {
		lg, err := v.OpenLog(ctx, a)
		if err != nil {
			return err
		}
		if lg.Latest == nil {
			continue // nothing published yet (or nothing verifiable: `verify --from-store` says which)
		}
		err = lg.Entries(ctx, func(e verify.Entry) error {
			if !Match(q, e.Record) {
				return nil
			}
			if err := fn(e.Record); err != nil {
				return err
			}
			n++
			if q.Limit > 0 && n >= q.Limit {
				return errStop
			}
			return nil
		}, nil)
		if errors.Is(err, errStop) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("agent %s: %w", a, err)
		}
	}
	return nil
}

// Match reports whether a record matches a query's filters.
func Match(q ledger.Query, r *evidence.Record) bool {
	if q.Type != "" && r.Type != q.Type || q.Collector != "" && r.Collector != q.Collector {
		return false
	}
	if !q.From.IsZero() && r.CollectedAt.Before(q.From) || !q.To.IsZero() && !r.CollectedAt.Before(q.To) {
		return false
	}
	if q.Control == "" {
		return true
	}
	for _, c := range r.Controls {
		if c == q.Control {
			return true
		}
	}
	return false
}
