package verify

import (
	"context"
	"fmt"
	"hash/maphash"
	"io"
	"sort"
	"sync"

	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/store"
)

// Evidence is the one evidence check of `verify` and `verify --from-store`:
// it re-hashes every body a record files in the bucket (concurrently), then
// reports the objects no record names and sorts the problems by record.
type Evidence struct {
	*Rehasher
	b       *store.Bucket // nil: no bucket (spool bodies only)
	missing string        // what an error opening an object means
	named   *Named
}

// NewEvidence starts conc readers of bodies in b reporting to add; noun
// and missing say how problems name a body and a missing one.
func NewEvidence(b *store.Bucket, conc int, noun, missing string, add func(Problem)) *Evidence {
	return &Evidence{NewRehasher(conc, noun, add), b, missing, NewNamed()}
}

// Record names the objects rec files under its controls and, with read,
// queues their bodies. It returns ctx's error if ctx ends first.
func (e *Evidence) Record(ctx context.Context, seq uint64, rec *evidence.Record, read bool) error {
	for _, c := range rec.Controls {
		if e.b == nil {
			break
		}
		key := e.b.EvidenceObject(c, rec)
		e.named.Add(key)
		if read && e.Check(ctx, seq, rec, key, e.missing, func() (io.ReadCloser, error) { return e.b.Store().Get(ctx, key) }) != nil {
			return ctx.Err()
		}
	}
	return nil
}

// Finish waits for every queued body and counts them in rep; then, after a
// complete walk (walkErr nil, complete), reports agent's objects below size
// that no record names. It returns walkErr.
func (e *Evidence) Finish(ctx context.Context, rep *Report, agent string, size int64, complete bool, walkErr error) error {
	rep.BodiesChecked, rep.BodiesInSpool = e.Wait()
	if walkErr == nil && complete && e.b != nil {
		StrayObjects(ctx, e.b, agent, size, e.named, e.add)
	}
	return walkErr
}

// SortProblems orders problems by record, those of no record at seqless.
func SortProblems(ps []Problem, seqless uint64) {
	at := func(p Problem) uint64 {
		if p.Seq != nil {
			return *p.Seq
		}
		return seqless
	}
	sort.SliceStable(ps, func(i, j int) bool { return at(ps[i]) < at(ps[j]) })
}

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
