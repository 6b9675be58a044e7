// Package controlstest builds ledgers with a history of collector runs
// through the real runner on a fake clock: evidence over months, with the
// holes a test asks for (a collector stopped, a collector failing).
package controlstest

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/engine"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/runner"
	"github.com/tickmark-dev/tickmark/internal/store"
)

// Collector is one simulated collector instance.
type Collector struct {
	Name string
	Type string // collector type recorded in runs ("okta", "exec", ...)
	// Hour (UTC) of the daily run.
	Hour int
	// Controls maps evidence types to control IDs (collectors[].controls).
	Controls map[string][]string
	// Emit returns the artifacts of the run on day.
	Emit func(day time.Time) []collectors.Artifact
	// Skip reports that the collector did not run at all on day.
	Skip func(day time.Time) bool
	// Fail, if it returns an error, makes the run on day fail with it
	// (after emitting nothing; a collectors.Partial error after emitting
	// the day's artifacts).
	Fail func(day time.Time) error
}

// Plan is a history to build.
type Plan struct {
	Dir        string // data dir (the ledger, its key and a filesystem store under Dir/store)
	Agent      string
	From, To   time.Time // days [From, To)
	Collectors []Collector
	// Push pushes bodies to the filesystem store after every day (else
	// they stay in the spool).
	Push bool
}

// Built is the result of Build.
type Built struct {
	Ledger *ledger.Ledger
	Bucket *store.Bucket // nil unless the plan pushes
	Key    *ledger.Key
}

// Close closes the ledger and the store.
func (b *Built) Close() {
	b.Ledger.Close()
	if b.Bucket != nil {
		b.Bucket.Close()
	}
}

// Configs returns the collector configurations of a plan (for producers maps).
func (p Plan) Configs() []*config.CollectorConfig {
	var out []*config.CollectorConfig
	for _, c := range p.Collectors {
		c := c
		cc := &config.CollectorConfig{Name: c.Name, Type: c.Type, Controls: c.Controls, Timeout: collectors.Duration(time.Minute)}
		cc.Collector = collectors.CollectorFunc(func(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
			day := req.Now.Truncate(24 * time.Hour)
			var partial error
			if c.Fail != nil {
				if err := c.Fail(day); collectors.IsPartial(err) {
					partial = err
				} else if err != nil {
					return err
				}
			}
			if c.Emit != nil {
				for _, a := range c.Emit(day) {
					if err := emit.Emit(ctx, a); err != nil {
						return err
					}
				}
			}
			return partial
		})
		out = append(out, cc)
	}
	return out
}

// Build runs every collector once a day at its hour from From to To on a
// fake clock, signing a checkpoint at the end of each day, and returns the
// open ledger.
func Build(ctx context.Context, p Plan) (*Built, error) {
	if p.Agent == "" {
		p.Agent = "test"
	}
	l, err := ledger.Open(p.Dir, p.Agent, ledger.Options{NoSync: true})
	if err != nil {
		return nil, err
	}
	key, _, err := ledger.LoadOrCreateKey(filepath.Join(p.Dir, ledger.KeyFile), ledger.Origin(p.Agent))
	if err != nil {
		l.Close()
		return nil, err
	}
	b := &Built{Ledger: l, Key: key}
	if err := l.AddKey(key.ID, key.Verifier); err != nil {
		b.Close()
		return nil, err
	}
	if p.Push {
		st, err := store.Open(ctx, store.Config{Type: "filesystem", Path: filepath.Join(p.Dir, "store")})
		if err != nil {
			b.Close()
			return nil, err
		}
		b.Bucket = store.NewBucket(st, "")
	}
	ccs := p.Configs()
	var now time.Time
	r := &runner.Runner{Ledger: l, Agent: p.Agent, Now: func() time.Time { return now }, Retries: 0}
	for day := p.From.UTC(); day.Before(p.To); day = day.AddDate(0, 0, 1) {
		for i, c := range p.Collectors {
			if c.Skip != nil && c.Skip(day) {
				continue
			}
			now = day.Add(time.Duration(c.Hour)*time.Hour + time.Duration(i)*time.Minute)
			res := r.RunOne(ctx, ccs[i])
			if res.Err != nil && (c.Fail == nil || c.Fail(day) == nil) {
				b.Close()
				return nil, fmt.Errorf("%s on %s: %w", c.Name, day.Format(time.DateOnly), res.Err)
			}
		}
		if _, err := l.Sign(key); err != nil {
			b.Close()
			return nil, err
		}
		if p.Push {
			if _, err := engine.Push(ctx, l, b.Bucket, engine.PushOptions{}); err != nil {
				b.Close()
				return nil, err
			}
		}
	}
	return b, nil
}

// JSON is a helper for artifact bodies.
func JSON(format string, args ...any) []byte { return []byte(fmt.Sprintf(format, args...)) }
