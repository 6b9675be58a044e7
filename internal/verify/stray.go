package verify

import (
	"fmt"
	"hash/maphash"

	"github.com/tickmark-dev/tickmark/internal/store"
)

// strays lists every object under controls/ and reports those that are
// the agent's by their name but that no record of it names (planted, or
// left by a rewritten log), and those that are no evidence name at all.
// Other agents' objects are theirs to check, and so are the agent's with a
// sequence number at or beyond size (bodies pushed before the checkpoint
// that covers them). A listing error is a problem. The records' names are
// kept as 64-bit hashes (8 bytes an object, not the key).
func (e *Evidence) strays(size int64) {
	err := e.b.ListEvidence(e.ctx, func(key string, ek store.EvidenceName, ok bool) error {
		_, named := e.named[maphash.String(e.seed, key)]
		switch {
		case !ok:
			e.add(Problem{Kind: "object", Key: key, Message: "not an evidence object name: no record names it"})
		case ek.Agent == e.agent && ek.Seq < uint64(size) && !named:
			e.add(Problem{Kind: "object", Key: key, Message: fmt.Sprintf("evidence object of agent %s that no record names (record %d does not file this body under %s)", e.agent, ek.Seq, ek.Control)})
		}
		return nil
	})
	if err != nil && e.ctx.Err() == nil {
		e.add(Problem{Kind: "object", Key: e.b.EvidenceDir(), Message: "cannot list the evidence objects: " + err.Error()})
	}
}
