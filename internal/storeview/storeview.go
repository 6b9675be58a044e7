// Package storeview reads the bucket alone, across every agent of a fleet:
// no agent disk, read-only credentials. Each agent's log is checked by
// verify.Published (keys, checkpoints, tiles, every record, the evidence
// objects filed under each control); `ledger restore` rebuilds a ledger
// from a log that verifies.
package storeview

import (
	"context"

	"github.com/tickmark-dev/tickmark/internal/store"
	"github.com/tickmark-dev/tickmark/internal/verify"
)

// View reads a bucket.
type View struct {
	Bucket *store.Bucket
	// Concurrency of body reads (default 8).
	Concurrency int
	// Pin is the key the agents' logs must be signed with (default: the
	// keys they publish).
	Pin verify.Pin
}

// Agents lists the agents that published anything under log/.
func (v *View) Agents(ctx context.Context) ([]string, error) { return v.Bucket.Agents(ctx) }

// OpenLog reads an agent's keys and checkpoints and checks each
// checkpoint's signature against the keys the agent announced (or, with a
// pin, the keys trusted from the pinned one).
func (v *View) OpenLog(ctx context.Context, agent string) (*verify.Log, error) {
	return verify.OpenLog(ctx, v.Bucket.Log(agent), agent, v.Pin)
}

// FleetReport is Verify's result: one report per agent.
type FleetReport struct {
	Agents []*verify.Report `json:"agents"`
	OK     bool             `json:"ok"`
}

// Verify checks every agent's log in the bucket (or, agent not "", one
// agent's) with o's SkipBodies, MaxProblems (per agent) and TSARoots.
func (v *View) Verify(ctx context.Context, agent string, o verify.Options) (*FleetReport, error) {
	agents := []string{agent}
	if agent == "" {
		var err error
		if agents, err = v.Agents(ctx); err != nil {
			return nil, err
		}
	}
	fr := &FleetReport{OK: len(agents) > 0}
	for _, a := range agents {
		rep, err := v.VerifyAgent(ctx, a, o)
		if err != nil {
			return nil, err
		}
		fr.Agents = append(fr.Agents, rep)
		fr.OK = fr.OK && rep.OK
	}
	return fr, nil
}

// VerifyAgent checks one agent's published log and evidence (see
// verify.Published).
func (v *View) VerifyAgent(ctx context.Context, agent string, o verify.Options) (*verify.Report, error) {
	rep := &verify.Report{Agent: agent}
	rp := verify.NewReporter(rep, o.MaxProblems)
	o.Bucket, o.Concurrency, o.Pin = v.Bucket, v.Concurrency, v.Pin
	lg, err := verify.Published(ctx, agent, o, rep, rp.Add)
	if err != nil {
		return nil, err
	}
	if lg.Latest == nil {
		rp.Add(verify.Problem{Kind: "checkpoint", Message: "no verifiable checkpoint published in " + v.Bucket.Log(agent).Where()})
	}
	return rp.Done(0), nil
}
