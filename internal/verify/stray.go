package verify

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"

	"github.com/tickmark-dev/tickmark/internal/store"
)

// Named is the set of evidence object keys an agent's records name, kept
// as 64-bit hashes (8 bytes an object, not the key). Safe for concurrent use.
type Named struct {
	mu   sync.Mutex
	seed maphash.Seed
	m    map[uint64]struct{}
}

// NewNamed returns an empty set.
func NewNamed() *Named { return &Named{seed: maphash.MakeSeed(), m: map[uint64]struct{}{}} }

// Add records that a record names key.
func (n *Named) Add(key string) {
	h := maphash.String(n.seed, key)
	n.mu.Lock()
	n.m[h] = struct{}{}
	n.mu.Unlock()
}

func (n *Named) has(key string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.m[maphash.String(n.seed, key)]
	return ok
}

// StrayObjects lists every object under controls/ and reports those that
// are agent's by their name but that no record of it names (planted, or
// left by a rewritten log), and those that are no evidence name at all.
// Other agents' objects are theirs to check, and so are the agent's with a
// sequence number at or beyond size (bodies pushed before the checkpoint
// that covers them). A listing error is a problem.
func StrayObjects(ctx context.Context, b *store.Bucket, agent string, size int64, named *Named, add func(Problem)) {
	err := b.ListEvidence(ctx, func(key string, ek store.EvidenceName, ok bool) error {
		switch {
		case !ok:
			add(Problem{Kind: "object", Key: key, Message: "not an evidence object name: no record names it"})
		case ek.Agent == agent && ek.Seq < uint64(size) && !named.has(key):
			add(Problem{Kind: "object", Key: key, Message: fmt.Sprintf("evidence object of agent %s that no record names (record %d does not file this body under %s)", agent, ek.Seq, ek.Control)})
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		add(Problem{Kind: "object", Key: b.EvidenceDir(), Message: "cannot list the evidence objects: " + err.Error()})
	}
}
