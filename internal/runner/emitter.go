package runner

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
)

// emitter is the engine side of collectors.Emitter for one run attempt: it
// streams bodies to a spool segment, builds records, and commits them with
// the cursor on Checkpoint. Artifacts after the last checkpoint are
// committed only if the run succeeds.
type emitter struct {
	l       *ledger.Ledger
	seg     *ledger.Segment
	cc      *config.CollectorConfig
	agent   string
	runID   string
	version string
	now     func() time.Time

	limits Limits

	mu          sync.Mutex
	pending     []ledger.Pending
	pendingSize int64 // bytes of bodies
	pendingMem  int64 // memory the pending records hold (pendingCost)
	stats       *Stats
	// accepted counts this run's artifacts and body bytes that are
	// committed, being committed or pending (for the run quotas); base is
	// what earlier attempts of the run committed.
	accepted, baseArtifacts  int
	acceptedBytes, baseBytes int64

	// cmu serialises checkpoints. inflight, when set, delivers the outcome
	// of the commit started by the last Checkpoint: commits are pipelined
	// one deep, so a collector fetches its next page while the previous one
	// is being made durable (two cores do two things). Order is kept: a
	// commit starts only after the previous one finished.
	cmu      sync.Mutex
	inflight chan error
}

// Stats counts what a run committed.
type Stats struct {
	Artifacts  int
	Bytes      int64
	ByType     map[string]int
	ByControl  map[string]int
	BytesType  map[string]int64
	Discarded  int // emitted after the last checkpoint of a failed attempt
	Checkpoint int
}

func newStats() *Stats {
	return &Stats{ByType: map[string]int{}, ByControl: map[string]int{}, BytesType: map[string]int64{}}
}

// Types returns the evidence types committed, sorted.
func (s *Stats) Types() []string {
	out := make([]string, 0, len(s.ByType))
	for t := range s.ByType {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

func (e *emitter) Emit(ctx context.Context, a collectors.Artifact) error {
	if err := ctx.Err(); err != nil {
		closeBody(a)
		return err
	}
	controls, err := e.controlsFor(a)
	if err != nil {
		closeBody(a)
		return err
	}
	lim := e.limits.withDefaults()
	if len(controls) > lim.MaxControls {
		closeBody(a)
		return errControls(a.Type, len(controls), lim.MaxControls)
	}
	if err := e.checkRunQuota(int64(len(a.Body))); err != nil {
		closeBody(a)
		return err
	}
	ct := a.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	var (
		loc ledger.SpoolLoc
		sum [32]byte
	)
	if a.Body != nil || a.BodyReader == nil {
		loc, sum, err = e.seg.WriteBytes(a.Body)
	} else {
		loc, sum, err = e.seg.Write(&ctxReader{ctx: ctx, r: &quotaReader{r: a.BodyReader, left: e.bytesLeft()}})
		closeBody(a)
		if errors.Is(err, errBodyQuota) {
			return errRunBytes(lim.MaxBytes)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return collectors.Retryable(err)
	}
	src := a.Source
	if src.CollectorVersion == "" {
		src.CollectorVersion = e.version
	}
	rec := evidence.Record{
		V:             evidence.Version,
		Agent:         e.agent,
		Collector:     e.cc.Name,
		CollectorType: e.cc.Type,
		RunID:         e.runID,
		Type:          a.Type,
		Subject:       a.Subject,
		Controls:      controls,
		CollectedAt:   e.now().UTC(),
		ObservedAt:    timePtr(a.ObservedAt),
		WindowStart:   timePtr(a.WindowStart),
		WindowEnd:     timePtr(a.WindowEnd),
		Source:        src,
		ContentType:   ct,
		Size:          loc.Size,
		SHA256:        hex.EncodeToString(sum[:]),
	}
	if n := len(rec.Subject) + len(src.Endpoint) + len(src.Query) + len(src.Account) + len(src.System) + len(src.CollectorVersion); n > 32<<10 {
		return collectors.Permanent(fmt.Errorf("artifact %s: subject and source take %d bytes; keep them under 32 KiB (put long queries in the body)", a.Type, n))
	}
	// Encode now, on the collector's goroutine: the ledger's single
	// writer then only splices in the sequence number.
	enc, err := rec.EncodeSplit()
	if err != nil {
		return collectors.Permanent(err)
	}
	p := ledger.Pending{Record: rec, Loc: loc, Encoded: &enc}
	cost := pendingCost(&p)
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.pending) >= lim.MaxPending || e.pendingMem+cost > lim.MaxPendingBytes {
		return errPending(len(e.pending)+1, e.pendingMem+cost, lim)
	}
	if err := e.checkRunQuotaLocked(loc.Size); err != nil {
		return err
	}
	e.pending = append(e.pending, p)
	e.pendingSize += loc.Size
	e.pendingMem += cost
	e.accepted++
	e.acceptedBytes += loc.Size
	return nil
}

// checkRunQuota fails once the run (committed and pending) would go past
// its artifact or byte quota with one more artifact of size bytes.
func (e *emitter) checkRunQuota(size int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.checkRunQuotaLocked(size)
}

func (e *emitter) checkRunQuotaLocked(size int64) error {
	lim := e.limits.withDefaults()
	if e.baseArtifacts+e.accepted+1 > lim.MaxArtifacts {
		return errRunArtifacts(lim.MaxArtifacts)
	}
	if e.baseBytes+e.acceptedBytes+size > lim.MaxBytes {
		return errRunBytes(lim.MaxBytes)
	}
	return nil
}

// bytesLeft is what the run may still write to the spool.
func (e *emitter) bytesLeft() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.limits.withDefaults().MaxBytes - e.baseBytes - e.acceptedBytes
}

// Checkpoint starts the commit of everything emitted so far with cursor and
// returns; the commit is durable before the next Checkpoint returns and
// before the run ends, and its failure is returned by that call.
func (e *emitter) Checkpoint(ctx context.Context, cursor string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.cmu.Lock()
	defer e.cmu.Unlock()
	if err := e.waitLocked(); err != nil {
		return err
	}
	recs, size := e.take()
	done := make(chan error, 1)
	e.inflight = done
	go func() { done <- e.commitBatch(ctx, recs, size, &cursor, nil) }()
	return nil
}

// commit waits for an in-flight commit, then writes what is pending (and
// the cursor and run, if given) synchronously.
func (e *emitter) commit(ctx context.Context, cursor *string, run *ledger.Run) error {
	e.cmu.Lock()
	defer e.cmu.Unlock()
	if err := e.waitLocked(); err != nil {
		return err
	}
	recs, size := e.take()
	return e.commitBatch(ctx, recs, size, cursor, run)
}

// waitLocked waits for the in-flight commit (cmu held).
func (e *emitter) waitLocked() error {
	if e.inflight == nil {
		return nil
	}
	err := <-e.inflight
	e.inflight = nil
	return err
}

func (e *emitter) take() ([]ledger.Pending, int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	recs, size := e.pending, e.pendingSize
	e.pending, e.pendingSize, e.pendingMem = nil, 0, 0
	return recs, size
}

// commitBatch writes recs (and the cursor and run, if given) in one ledger
// transaction and keeps the run's counts.
func (e *emitter) commitBatch(ctx context.Context, recs []ledger.Pending, size int64, cursor *string, run *ledger.Run) error {
	if len(recs) > 0 || run != nil {
		for _, p := range recs {
			e.stats.ByType[p.Record.Type]++
			e.stats.BytesType[p.Record.Type] += p.Record.Size
			for _, c := range p.Record.Controls {
				e.stats.ByControl[c]++
			}
		}
		e.stats.Artifacts += len(recs)
		e.stats.Bytes += size
		if run != nil {
			run.Artifacts = e.stats.Artifacts
			run.Bytes = e.stats.Bytes
			run.EvidenceTypes = e.stats.Types()
		}
	}
	if len(recs) == 0 && cursor == nil && run == nil {
		return nil
	}
	_, err := e.l.Commit(ctx, &ledger.Commit{Records: recs, Segment: e.seg, Collector: e.cc.Name, Cursor: cursor, Run: run})
	if err != nil {
		// roll back the counts: nothing of this batch is committed
		for _, p := range recs {
			e.stats.ByType[p.Record.Type]--
			e.stats.BytesType[p.Record.Type] -= p.Record.Size
			for _, c := range p.Record.Controls {
				e.stats.ByControl[c]--
			}
		}
		e.stats.Artifacts -= len(recs)
		e.stats.Bytes -= size
		e.stats.Discarded += len(recs) // emitted, never committed
		e.mu.Lock()
		e.accepted -= len(recs)
		e.acceptedBytes -= size
		e.mu.Unlock()
		return fmt.Errorf("committing to the ledger: %w", err)
	}
	if cursor != nil {
		e.stats.Checkpoint++
	}
	return nil
}

// discard drops artifacts emitted after the last checkpoint (after the
// in-flight commit, if any, has finished one way or the other).
func (e *emitter) discard() int {
	e.cmu.Lock()
	_ = e.waitLocked() // a failed commit has counted its own discards
	e.cmu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	n := len(e.pending)
	e.accepted -= n
	e.acceptedBytes -= e.pendingSize
	e.pending, e.pendingSize, e.pendingMem = nil, 0, 0
	e.stats.Discarded += n
	return n
}

// controlsFor resolves an artifact's controls (artifact, type defaults,
// instance configuration) and holds it to the emit contract.
func (e *emitter) controlsFor(a collectors.Artifact) ([]string, error) {
	controls := e.cc.ControlsFor(a.Type, a.Controls)
	if controls == nil {
		controls = []string{}
	}
	if err := collectors.CheckArtifact(a, controls); err != nil {
		return nil, err
	}
	return dedupe(controls), nil
}

func closeBody(a collectors.Artifact) {
	if c, ok := a.BodyReader.(io.Closer); ok {
		c.Close()
	}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func dedupe(ids []string) []string {
	seen := map[string]bool{}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// ctxReader stops a body stream when the run is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

var errNoCollector = errors.New("collector not built")
