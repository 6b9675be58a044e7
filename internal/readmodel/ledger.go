package readmodel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/store"
)

// Ledger reads evidence from the local ledger, and bodies from the store
// (or the local spool, for bodies not yet pushed).
type Ledger struct {
	L      *ledger.Ledger
	Bucket *store.Bucket // may be nil: bodies then come from the spool only
}

var _ Source = (*Ledger)(nil)

// ScanType reads the ledger's type index.
func (s *Ledger) ScanType(typ string, from, to time.Time, fn func(ns int64, seq uint64) error) error {
	return s.L.ScanType(typ, from, to, fn)
}

// RunsVisible is true: the ledger keeps every run.
func (s *Ledger) RunsVisible() bool { return true }

// Location is where a person finds the record's body in the store.
func (s *Ledger) Location(r *evidence.Record) string {
	if s.Bucket == nil {
		return ""
	}
	return s.Bucket.Location(r)
}

// Runs reads the run history.
func (s *Ledger) Runs(from, to time.Time, fn func(*ledger.Run) error) error {
	return s.L.Runs("", from, to, fn)
}

// Record returns one decoded record.
func (s *Ledger) Record(seq uint64) (*evidence.Record, error) {
	var data []byte
	if err := s.L.View(func(v *ledger.Viewer) error { data = v.Record(seq); return nil }); err != nil {
		return nil, err
	}
	if data == nil {
		return nil, fmt.Errorf("record %d not in the ledger", seq)
	}
	return evidence.Decode(data)
}

// Find calls fn for the records matching q (see ledger.Query).
func (s *Ledger) Find(q ledger.Query, fn func(r *evidence.Record, data []byte) error) error {
	return s.L.Find(q, fn)
}

// Agent is the ledger's agent ID.
func (s *Ledger) Agent() string { return s.L.Agent() }

// Body opens a record's body: from the spool while it waits in the
// outbox, else from the store under the record's first control.
func (s *Ledger) Body(ctx context.Context, r *evidence.Record) (io.ReadCloser, error) {
	var loc ledger.SpoolLoc
	var queued bool
	if err := s.L.View(func(v *ledger.Viewer) error { loc, queued = v.Outbox(r.Seq); return nil }); err != nil {
		return nil, err
	}
	if queued {
		return s.L.OpenSpool(loc)
	}
	if s.Bucket == nil {
		return nil, errors.New("body already pushed and no store is open")
	}
	return s.Bucket.OpenEvidence(ctx, r)
}

// Checkpoints returns the ledger's signed checkpoints, oldest first.
func (s *Ledger) Checkpoints() ([]*ledger.Checkpoint, error) { return s.L.Checkpoints() }

// Keys returns the ledger's public keys by key ID.
func (s *Ledger) Keys() (map[string]string, error) { return s.L.Keys() }

// Tokens returns RFC 3161 tokens by checkpoint size.
func (s *Ledger) Tokens() (map[int64][]byte, error) { return s.L.Tokens() }

// Prove returns an inclusion proof of record seq in the tree of size treeSize.
func (s *Ledger) Prove(seq uint64, treeSize int64) (tlog.RecordProof, error) {
	var p tlog.RecordProof
	err := s.L.View(func(v *ledger.Viewer) error {
		var err error
		p, err = tlog.ProveRecord(treeSize, int64(seq), v.Hashes)
		return err
	})
	return p, err
}

// ReleaseMemory drops the read-only ledger's mapped pages from the
// resident set (see ledger.ReleaseMemory).
func (s *Ledger) ReleaseMemory() { s.L.ReleaseMemory() }

// ProveTree returns a consistency proof from the tree of size n to treeSize.
func (s *Ledger) ProveTree(treeSize, n int64) (tlog.TreeProof, error) {
	var p tlog.TreeProof
	err := s.L.View(func(v *ledger.Viewer) error {
		var err error
		p, err = tlog.ProveTree(treeSize, n, v.Hashes)
		return err
	})
	return p, err
}
