package runner

import (
	"errors"
	"fmt"
	"io"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/ledger"
)

// Limits bound what one collector run may hold and write. A collector that
// goes past one fails its run with a permanent error naming the limit (what
// it checkpointed before is kept): a careless or hostile collector cannot
// take the agent's memory or disk. Zero fields take the defaults.
type Limits struct {
	// MaxArtifacts per run (runner.max_artifacts_per_run).
	MaxArtifacts int
	// MaxBytes of bodies per run (runner.max_bytes_per_run).
	MaxBytes int64
	// MaxControls one artifact may be filed under; each is a copy in the
	// store (runner.max_controls_per_artifact).
	MaxControls int
	// MaxPendingBytes bounds the memory held by records emitted since the
	// last checkpoint (runner.max_pending_bytes).
	MaxPendingBytes int64
	// MaxPending bounds their number.
	MaxPending int
}

// Defaults of Limits.
const (
	DefaultMaxArtifacts    = 1_000_000
	DefaultMaxBytes        = 50 << 30
	DefaultMaxControls     = collectors.DefaultMaxControlsPerArtifact
	DefaultMaxPendingBytes = 64 << 20
	DefaultMaxPending      = 1_000_000
)

func (l Limits) withDefaults() Limits {
	if l.MaxArtifacts <= 0 {
		l.MaxArtifacts = DefaultMaxArtifacts
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxControls <= 0 {
		l.MaxControls = DefaultMaxControls
	}
	if l.MaxPendingBytes <= 0 {
		l.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if l.MaxPending <= 0 {
		l.MaxPending = DefaultMaxPending
	}
	return l
}

// pendingCost is the memory a pending record holds: its encoding, the
// record's own strings, and the fixed part of both.
func pendingCost(p *ledger.Pending) int64 {
	r := &p.Record
	n := int64(512 + len(r.Subject) + len(r.Type) + len(r.Collector) + len(r.CollectorType) + len(r.RunID) + len(r.Agent) + len(r.ContentType) + len(r.SHA256))
	n += int64(len(r.Source.System) + len(r.Source.Endpoint) + len(r.Source.Query) + len(r.Source.Account) + len(r.Source.CollectorVersion))
	for _, c := range r.Controls {
		n += int64(16 + len(c))
	}
	if p.Encoded != nil {
		n += int64(len(p.Encoded.Tail))
	}
	return n
}

func errControls(typ string, n, max int) error {
	return collectors.Permanent(fmt.Errorf("artifact %s is filed under %d controls, more than %d (runner.max_controls_per_artifact): each is a copy in the store", typ, n, max))
}

func errRunArtifacts(max int) error {
	return collectors.Permanent(fmt.Errorf("the run emitted more than %d artifacts (runner.max_artifacts_per_run); what was checkpointed before is kept", max))
}

func errRunBytes(max int64) error {
	return collectors.Permanent(fmt.Errorf("the run emitted more than %d bytes of bodies (runner.max_bytes_per_run); what was checkpointed before is kept", max))
}

func errPending(n int, bytes int64, l Limits) error {
	return collectors.Permanent(fmt.Errorf("%d artifacts (%d bytes of records) emitted without a checkpoint, over runner.max_pending_bytes (%d) or %d artifacts: call Checkpoint after each page (exec: print a {\"cursor\": ...} line)", n, bytes, l.MaxPendingBytes, l.MaxPending))
}

// errBodyQuota is returned by quotaReader past the run's byte quota.
var errBodyQuota = errors.New("body over the run's byte quota")

// quotaReader fails once more than left bytes are read: a streamed body
// cannot fill the spool past the run's quota before it is counted.
type quotaReader struct {
	r    io.Reader
	left int64
}

func (q *quotaReader) Read(p []byte) (int, error) {
	if q.left < 0 {
		return 0, errBodyQuota
	}
	if int64(len(p)) > q.left+1 {
		p = p[:q.left+1]
	}
	n, err := q.r.Read(p)
	q.left -= int64(n)
	if q.left < 0 {
		return n, errBodyQuota
	}
	return n, err
}
