package checks

import (
	"context"
	"fmt"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
)

// RunOptions configure Run.
type RunOptions struct {
	// Window is how far back inputs are read (to = now).
	Window time.Duration
	// From, if set, overrides now-Window.
	From time.Time
	// Criteria gives the SOC 2 criteria of an organisation control: a
	// result is filed under the check's controls and their criteria.
	Criteria func(control string) []string
}

// Run resolves the inputs of the checks in the window ending at now and
// evaluates them.
func Run(ctx context.Context, set *Set, cs []*Check, src Source, now time.Time, o RunOptions) ([]*Result, error) {
	from := o.From
	if from.IsZero() {
		from = now.Add(-o.Window)
	}
	inputs, err := Resolve(ctx, src, Types(cs), from, now)
	if err != nil {
		return nil, err
	}
	return Evaluate(ctx, cs, set.Identities, Plan{Now: now, From: from, To: now, Inputs: inputs}, src.Body)
}

// Artifact is the evidence of one result, filed under the check's
// controls and their criteria.
func Artifact(c *Check, r *Result, criteria func(string) []string) collectors.Artifact {
	var ctl []string
	seen := map[string]bool{}
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			ctl = append(ctl, id)
		}
	}
	for _, id := range c.Controls {
		add(id)
		if criteria != nil {
			for _, cr := range criteria(id) {
				add(cr)
			}
		}
	}
	return collectors.Artifact{
		Type: c.Type(), Subject: r.Subject(), Controls: ctl, ContentType: "application/json", Body: r.Encode(),
		ObservedAt: r.EvaluatedAt, WindowStart: r.Window.From, WindowEnd: r.Window.To,
		Source: collectors.Source{System: "tickmark", Endpoint: "checks", Query: c.ID, CollectorVersion: Engine,
			Items: r.Population, Complete: r.Status == StatusPass || r.Status == StatusFail},
	}
}

// Collector evaluates the checks over src at the run's time and emits one
// result artifact per check: the engine records them like any evidence.
// onResult, if set, sees each result after it is emitted.
func Collector(set *Set, cs []*Check, src Source, o RunOptions, onResult func(*Check, *Result)) collectors.Collector {
	return collectors.CollectorFunc(func(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
		res, err := Run(ctx, set, cs, src, req.Now.UTC(), o)
		if err != nil {
			return collectors.Permanent(fmt.Errorf("checks: %w", err))
		}
		for i, r := range res {
			if err := emit.Emit(ctx, Artifact(cs[i], r, o.Criteria)); err != nil {
				return err
			}
			if onResult != nil {
				onResult(cs[i], r)
			}
			req.Logger.Info("check evaluated", "check", cs[i].ID, "status", r.Status, "population", r.Population, "exceptions", r.ExceptionCount)
		}
		return nil
	})
}
