package engine

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/publog"
	"github.com/tickmark-dev/tickmark/internal/store"
)

// ErrForeignLog is returned by CheckOwner (and the run) when the log the
// store holds under this agent's ID is not this ledger's: checkpoints it
// never signed (or signed with other bytes), or keys and key announcements
// it never held.
type ErrForeignLog struct {
	Agent string
	Where string   // the log's folder in the bucket
	Sizes []int64  // published checkpoints this ledger never signed
	Keys  []string // published keys or announcements this ledger never held
}

func (e *ErrForeignLog) Error() string {
	var what []string
	if len(e.Sizes) > 0 {
		s := make([]string, len(e.Sizes))
		for i, n := range e.Sizes {
			s[i] = fmt.Sprint(n)
		}
		what = append(what, "checkpoint(s) "+strings.Join(s, ", ")+" this ledger never signed")
	}
	if len(e.Keys) > 0 {
		what = append(what, "key(s) "+strings.Join(e.Keys, ", ")+" this ledger never held")
	}
	return fmt.Sprintf("the log of agent %q in the store (%s) is not this ledger's: it holds %s; nothing was written to the store",
		e.Agent, e.Where, strings.Join(what, " and "))
}

// Hint names the cause and the fix.
func (e *ErrForeignLog) Hint() string {
	return fmt.Sprintf("this data dir did not publish log/%s/: if it replaced the agent's lost data dir, move it aside and run `tickmark ledger restore` to rebuild the ledger from the store (then run again); if this is another agent, give it its own agent.id. The evidence committed here stays queued locally", e.Agent)
}

// CheckOwner refuses to publish into a log l does not own. The store's log
// must be a prefix of l's: every published checkpoint a tree size l signed,
// the latest one byte for byte (so a fresh ledger that happens to reach the
// same size is told apart), and every published key and key announcement
// one l holds (a restored ledger holds every published one). It reads the
// listing of checkpoints and keys and a handful of objects, on every run.
func CheckOwner(ctx context.Context, l *ledger.Ledger, b *store.Bucket) error {
	cps, err := l.Checkpoints()
	if err != nil {
		return err
	}
	local := make(map[int64][]byte, len(cps))
	for _, c := range cps {
		local[c.Size] = c.Note
	}
	keys, err := l.Keys()
	if err != nil {
		return err
	}
	anns, err := l.Announcements()
	if err != nil {
		return err
	}
	agent := l.Agent()
	log := b.Log(agent)
	fe := &ErrForeignLog{Agent: agent, Where: log.Where()}
	latest := int64(-1)
	err = log.List(ctx, publog.CheckpointsDir, func(name string) error {
		if n := publog.Parse(name); n.Kind == publog.Checkpoint {
			if _, mine := local[n.Size]; !mine {
				fe.Sizes = append(fe.Sizes, n.Size)
			}
			latest = max(latest, n.Size)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("listing %s: %w", log.Locate(publog.CheckpointsDir), err)
	}
	if mine, ok := local[latest]; ok {
		b, err := log.Read(ctx, publog.CheckpointPath(latest))
		if err != nil {
			return fmt.Errorf("reading %s: %w", log.Locate(publog.CheckpointPath(latest)), err)
		}
		if !bytes.Equal(b, mine) {
			fe.Sizes = append(fe.Sizes, latest)
		}
	}
	err = log.List(ctx, publog.KeysDir, func(name string) error {
		n := publog.Parse(name)
		var want []byte
		switch n.Kind {
		case publog.PublicKey:
			if v, ok := keys[n.KeyID]; ok {
				want = []byte(v + "\n")
			}
		case publog.Announcement:
			want = anns[n.KeyID]
		default:
			return nil
		}
		if want != nil {
			b, err := log.Read(ctx, name)
			if err != nil {
				return fmt.Errorf("reading %s: %w", log.Locate(name), err)
			}
			if bytes.Equal(b, want) {
				return nil
			}
		}
		fe.Keys = append(fe.Keys, n.KeyID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("listing %s: %w", log.Locate(publog.KeysDir), err)
	}
	if len(fe.Sizes) == 0 && len(fe.Keys) == 0 {
		return nil
	}
	sort.Slice(fe.Sizes, func(i, j int) bool { return fe.Sizes[i] < fe.Sizes[j] })
	if len(fe.Sizes) > 10 {
		fe.Sizes = fe.Sizes[:10]
	}
	sort.Strings(fe.Keys)
	if len(fe.Keys) > 10 {
		fe.Keys = fe.Keys[:10]
	}
	return fe
}
