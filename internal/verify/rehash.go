package verify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sync"

	"github.com/tickmark-dev/tickmark/internal/evidence"
)

// Rehasher re-reads evidence bodies concurrently and checks each one's
// SHA-256 and size against its record: the one body check of `verify`
// (store and spool) and `verify --from-store`.
type Rehasher struct {
	noun    string // "body", "evidence object": how problems name what was read
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

// NewRehasher starts conc readers reporting to add.
func NewRehasher(conc int, noun string, add func(Problem)) *Rehasher {
	h := &Rehasher{noun: noun, add: add, jobs: make(chan rehashJob, 256)}
	for range conc {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			for j := range h.jobs {
				h.check(j)
			}
		}()
	}
	return h
}

// Check queues the body of record seq: open reads it; key names it in
// problems ("" for a body still in the local spool); missing says what an
// error opening it means. It returns ctx's error if ctx ends first.
func (h *Rehasher) Check(ctx context.Context, seq uint64, rec *evidence.Record, key, missing string, open func() (io.ReadCloser, error)) error {
	select {
	case h.jobs <- rehashJob{seq, rec, key, missing, open}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Wait waits for every queued body and returns how many were read, and
// how many of those from the spool.
func (h *Rehasher) Wait() (checked, spooled int) {
	close(h.jobs)
	h.wg.Wait()
	return h.checked, h.spooled
}

func (h *Rehasher) check(j rehashJob) {
	p := Problem{Kind: "body", Seq: &j.seq, Type: j.rec.Type, Key: j.key}
	rc, err := j.open()
	if err != nil {
		p.Message = j.missing + ": " + err.Error()
		h.add(p)
		return
	}
	defer rc.Close()
	hash := sha256.New()
	n, err := io.Copy(hash, rc)
	h.mu.Lock()
	h.checked++
	if j.key == "" {
		h.spooled++
	}
	h.mu.Unlock()
	if p.Key == "" {
		p.Key = "spool"
	}
	if err != nil {
		p.Message = fmt.Sprintf("reading %s: %v", h.noun, err)
		h.add(p)
		return
	}
	if got := hex.EncodeToString(hash.Sum(nil)); got != j.rec.SHA256 || n != j.rec.Size {
		p.Message = fmt.Sprintf("%s altered: sha256 %s (%d bytes), record says %s (%d bytes)", h.noun, got, n, j.rec.SHA256, j.rec.Size)
		h.add(p)
	}
}
