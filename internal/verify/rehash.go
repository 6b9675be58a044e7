package verify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"io"
	"sync"

	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/store"
)

// Evidence is the one evidence check of `verify` (store and spool) and
// `verify --from-store`: concurrent readers decode each record if need
// be, re-read every body it files in the bucket (or, not yet pushed, in
// the local spool) and check each one's SHA-256 and size against it; then
// the objects no record names are reported.
type Evidence struct {
	ctx     context.Context
	b       *store.Bucket // nil: no bucket (spool bodies only)
	agent   string
	noun    string // "body", "evidence object": how problems name what was read
	missing string // what an error opening an object means
	seed    maphash.Seed
	named   map[uint64]struct{} // hashes of the object keys records name (under mu)
	add     func(Problem)
	jobs    chan rehashJob
	wg      sync.WaitGroup
	mu      sync.Mutex
	checked int
	spooled int
}

type rehashJob struct {
	seq   uint64
	rec   *evidence.Record // nil: decode data
	data  []byte
	spool func() (io.ReadCloser, error) // the body in the local spool, not yet pushed
	read  bool
}

// NewEvidence starts conc readers of agent's bodies in b reporting to add;
// noun and missing say how problems name a body and a missing one.
func NewEvidence(ctx context.Context, b *store.Bucket, agent string, conc int, noun, missing string, add func(Problem)) *Evidence {
	e := &Evidence{ctx: ctx, b: b, agent: agent, noun: noun, missing: missing, seed: maphash.MakeSeed(), named: map[uint64]struct{}{}, add: add, jobs: make(chan rehashJob, 256)}
	for range conc {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			for j := range e.jobs {
				e.check(j)
			}
		}()
	}
	return e
}

// Record queues record seq (rec, or if nil the record data holds, whose
// header the caller checked: checkHeader): the
// objects it files under its controls are named and, with read, their
// bodies re-hashed; spool, if not nil, opens its body in the local spool
// instead. It returns ctx's error if ctx ends first.
func (e *Evidence) Record(seq uint64, rec *evidence.Record, data []byte, spool func() (io.ReadCloser, error), read bool) error {
	select {
	case e.jobs <- rehashJob{seq, rec, data, spool, read}:
		return nil
	case <-e.ctx.Done():
		return e.ctx.Err()
	}
}

// Finish waits for every queued record and counts the bodies read in rep;
// then, after a complete walk (walkErr nil, complete), reports the agent's
// objects below size that no record names. It returns walkErr.
func (e *Evidence) Finish(rep *Report, size int64, complete bool, walkErr error) error {
	close(e.jobs)
	e.wg.Wait()
	rep.BodiesChecked, rep.BodiesInSpool = e.checked, e.spooled
	if walkErr == nil && complete && e.b != nil {
		e.strays(size)
	}
	return walkErr
}

func (e *Evidence) check(j rehashJob) {
	rec, err := j.rec, error(nil)
	if rec == nil {
		if rec, err = evidence.Decode(j.data); err != nil {
			e.add(Problem{Kind: "record", Seq: &j.seq, Message: "not a valid record: " + err.Error()})
			return
		}
	}
	if j.spool != nil {
		e.hash(j.seq, rec, "", "body not yet pushed and missing from the spool", j.spool)
	}
	for _, c := range rec.Controls {
		if e.b == nil {
			break
		}
		key := e.b.EvidenceObject(c, rec)
		e.mu.Lock()
		e.named[maphash.String(e.seed, key)] = struct{}{}
		e.mu.Unlock()
		if j.read && j.spool == nil {
			e.hash(j.seq, rec, key, e.missing, func() (io.ReadCloser, error) { return e.b.Store().Get(e.ctx, key) })
		}
	}
}

// hash reads one body (key names it in problems, "" for the spool; missing
// says what an error opening it means) and checks it against rec.
func (e *Evidence) hash(seq uint64, rec *evidence.Record, key, missing string, open func() (io.ReadCloser, error)) {
	p := Problem{Kind: "body", Seq: &seq, Type: rec.Type, Key: key}
	rc, err := open()
	if err != nil {
		p.Message = missing + ": " + err.Error()
		e.add(p)
		return
	}
	defer rc.Close()
	hash := sha256.New()
	n, err := io.Copy(hash, rc)
	e.mu.Lock()
	e.checked++
	if key == "" {
		e.spooled++
	}
	e.mu.Unlock()
	if p.Key == "" {
		p.Key = "spool"
	}
	if err != nil {
		p.Message = fmt.Sprintf("reading %s: %v", e.noun, err)
		e.add(p)
		return
	}
	if got := hex.EncodeToString(hash.Sum(nil)); got != rec.SHA256 || n != rec.Size {
		p.Message = fmt.Sprintf("%s altered: sha256 %s (%d bytes), record says %s (%d bytes)", e.noun, got, n, rec.SHA256, rec.Size)
		e.add(p)
	}
}
