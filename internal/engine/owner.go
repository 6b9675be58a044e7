package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/publog"
	"github.com/tickmark-dev/tickmark/internal/store"
)

// ErrForeignLog is returned by CheckOwner (and the run) when the store holds checkpoints
// under this agent's ID that this ledger never signed.
type ErrForeignLog struct {
	Agent string
	Sizes []int64
}

func (e *ErrForeignLog) Error() string {
	s := make([]string, len(e.Sizes))
	for i, n := range e.Sizes {
		s[i] = fmt.Sprint(n)
	}
	return fmt.Sprintf("the store holds checkpoint(s) %s of agent %q that this ledger never signed: another agent publishes with the same agent.id, or this data dir was replaced without `tickmark ledger restore`; nothing was pushed",
		strings.Join(s, ", "), e.Agent)
}

// CheckOwner refuses to publish into a log l does not own: every
// checkpoint the store holds for its agent must be one l signed (a
// restored ledger holds every published one).
func CheckOwner(ctx context.Context, l *ledger.Ledger, b *store.Bucket) error {
	cps, err := l.Checkpoints()
	if err != nil {
		return err
	}
	local := make(map[int64]string, len(cps))
	for _, c := range cps {
		local[c.Size] = string(c.Note)
	}
	agent := l.Agent()
	var foreign []int64
	log := b.Log(agent)
	err = log.List(ctx, publog.CheckpointsDir, func(name string) error {
		if n := publog.Parse(name); n.Kind == publog.Checkpoint {
			if _, mine := local[n.Size]; !mine {
				foreign = append(foreign, n.Size)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("listing %s: %w", log.Locate(publog.CheckpointsDir), err)
	}
	if len(foreign) > 0 {
		sort.Slice(foreign, func(i, j int) bool { return foreign[i] < foreign[j] })
		if len(foreign) > 10 {
			foreign = foreign[:10]
		}
		return &ErrForeignLog{Agent: agent, Sizes: foreign}
	}
	return nil
}
