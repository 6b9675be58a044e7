package verify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sync"

	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/store"
)

// Evidence is the one evidence check of `verify` (store and spool) and
// `verify --from-store`: it re-reads every body a record files in the
// bucket concurrently, checks each one's SHA-256 and size against its
// record, then reports the objects no record names.
type Evidence struct {
	b       *store.Bucket // nil: no bucket (spool bodies only)
	noun    string        // "body", "evidence object": how problems name what was read
	missing string        // what an error opening an object means
	named   *Named
	add     func(Problem)
	jobs    chan rehashJob
	wg      sync.WaitGroup
	mu      sync.Mutex
	checked int
	spooled int
}

type rehashJob struct {
	seq     uint64
	rec     *evidence.Record
	key     string // the object key ("" for the spool)
	missing string // what an open error means
	open    func() (io.ReadCloser, error)
}

// NewEvidence starts conc readers of bodies in b reporting to add; noun
// and missing say how problems name a body and a missing one.
func NewEvidence(b *store.Bucket, conc int, noun, missing string, add func(Problem)) *Evidence {
	e := &Evidence{b: b, noun: noun, missing: missing, named: NewNamed(), add: add, jobs: make(chan rehashJob, 256)}
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

// Check queues the body of record seq: open reads it; key names it in
// problems ("" for a body still in the local spool); missing says what an
// error opening it means. It returns ctx's error if ctx ends first.
func (e *Evidence) Check(ctx context.Context, seq uint64, rec *evidence.Record, key, missing string, open func() (io.ReadCloser, error)) error {
	select {
	case e.jobs <- rehashJob{seq, rec, key, missing, open}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Finish waits for every queued body and counts them in rep; then, after a
// complete walk (walkErr nil, complete), reports agent's objects below size
// that no record names. It returns walkErr.
func (e *Evidence) Finish(ctx context.Context, rep *Report, agent string, size int64, complete bool, walkErr error) error {
	close(e.jobs)
	e.wg.Wait()
	rep.BodiesChecked, rep.BodiesInSpool = e.checked, e.spooled
	if walkErr == nil && complete && e.b != nil {
		StrayObjects(ctx, e.b, agent, size, e.named, e.add)
	}
	return walkErr
}

func (e *Evidence) check(j rehashJob) {
	p := Problem{Kind: "body", Seq: &j.seq, Type: j.rec.Type, Key: j.key}
	rc, err := j.open()
	if err != nil {
		p.Message = j.missing + ": " + err.Error()
		e.add(p)
		return
	}
	defer rc.Close()
	hash := sha256.New()
	n, err := io.Copy(hash, rc)
	e.mu.Lock()
	e.checked++
	if j.key == "" {
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
	if got := hex.EncodeToString(hash.Sum(nil)); got != j.rec.SHA256 || n != j.rec.Size {
		p.Message = fmt.Sprintf("%s altered: sha256 %s (%d bytes), record says %s (%d bytes)", e.noun, got, n, j.rec.SHA256, j.rec.Size)
		e.add(p)
	}
}
