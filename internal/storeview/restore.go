package storeview

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/publog"
	"github.com/tickmark-dev/tickmark/internal/verify"
)

// errStop ends a listing early.
var errStop = errors.New("stop")

// RestoreReport says what `ledger restore` recovered.
type RestoreReport struct {
	Agent       string `json:"agent"`
	Records     int64  `json:"records"`
	TreeSize    int64  `json:"tree_size"`
	Root        string `json:"root"`
	Checkpoints int    `json:"checkpoints"`
	Keys        int    `json:"keys"`
	State       string `json:"state,omitempty"` // the state object used
	Cursors     int    `json:"cursors"`
	Runs        int    `json:"runs"`
}

// RestoreError is a restore refused because the published log does not verify.
type RestoreError struct{ Problems []verify.Problem }

func (e *RestoreError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the published log does not verify (%d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	b.WriteString("); not restoring from it")
	for i, p := range e.Problems {
		if i == 5 {
			b.WriteString("; …")
			break
		}
		b.WriteString("; " + p.String())
	}
	return b.String()
}

// Restore rebuilds the (empty) ledger l from its agent's published log,
// after verifying the log against every checkpoint, and restores cursors
// and runs from the newest state object that the log covers.
func (v *View) Restore(ctx context.Context, l *ledger.Ledger) (*RestoreReport, error) {
	agent := l.Agent()
	var found bool
	if err := v.Bucket.Log(agent).List(ctx, publog.CheckpointsDir, func(string) error { found = true; return errStop }); err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("agent %s has no checkpoint in %s: nothing to restore (check agent.id and store.prefix)", agent, v.Bucket.Describe())
	}
	rep, err := v.VerifyAgent(ctx, agent, verify.Options{SkipBodies: true})
	if err != nil {
		return nil, err
	}
	if !rep.OK {
		return nil, &RestoreError{Problems: rep.Problems}
	}
	lg, err := v.OpenLog(ctx, agent)
	if err != nil {
		return nil, err
	}
	if lg.Latest == nil {
		return nil, fmt.Errorf("agent %s has no checkpoint in %s: nothing to restore", agent, v.Bucket.Describe())
	}
	st, stKey, err := v.latestState(ctx, agent, lg.Latest.Size)
	if err != nil {
		return nil, err
	}
	src := ledger.RestoreSource{
		Entries: func(fn func([]byte) error) error {
			return lg.Entries(ctx, func(e verify.Entry) error { return fn(e.Data) }, nil)
		},
		Checkpoints: lg.Checkpoints, Tokens: lg.Tokens, Keys: lg.Keys, Announcements: lg.Announcements, State: st,
	}
	if err := l.Restore(ctx, src); err != nil {
		return nil, err
	}
	out := &RestoreReport{Agent: agent, Records: l.Size(), TreeSize: lg.Latest.Size, Root: lg.Latest.Root.String(),
		Checkpoints: len(lg.Checkpoints), Keys: len(lg.Keys), State: stKey}
	if st != nil {
		out.Cursors, out.Runs = len(st.Cursors), len(st.Runs)
	}
	return out, nil
}

// latestState returns the newest state object of agent whose tree size is
// at most size (a state never claims cursors past the restored log).
func (v *View) latestState(ctx context.Context, agent string, size int64) (*ledger.State, string, error) {
	var keys []string
	lg := v.Bucket.Log(agent)
	if err := lg.List(ctx, publog.StateDir, func(k string) error {
		if strings.HasSuffix(k, ".json") {
			keys = append(keys, k)
		}
		return nil
	}); err != nil {
		return nil, "", err
	}
	for i := len(keys) - 1; i >= 0; i-- {
		b, err := lg.Read(ctx, keys[i])
		if err != nil {
			return nil, "", err
		}
		var st ledger.State
		if err := json.Unmarshal(b, &st); err != nil || st.Agent != agent || st.TreeSize > size {
			continue
		}
		return &st, lg.Locate(keys[i]), nil
	}
	return nil, "", nil
}
