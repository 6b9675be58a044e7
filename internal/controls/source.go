package controls

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

// LedgerSource reads evidence from the local ledger, and bodies from the
// store (or the local spool, for bodies not yet pushed). It implements
// Source and export.Source.
type LedgerSource struct {
	L      *ledger.Ledger
	Store  store.Store // may be nil: bodies then come from the spool only
	Layout store.Layout
}

// ScanType reads the ledger's type index.
func (s *LedgerSource) ScanType(typ string, from, to time.Time, fn func(ns int64, seq uint64) error) error {
	return s.L.ScanType(typ, from, to, fn)
}

// Runs reads the run history.
func (s *LedgerSource) Runs(from, to time.Time, fn func(*ledger.Run) error) error {
	return s.L.Runs("", from, to, fn)
}

// Record returns one decoded record.
func (s *LedgerSource) Record(seq uint64) (*evidence.Record, error) {
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
func (s *LedgerSource) Find(q ledger.Query, fn func(r *evidence.Record, data []byte) error) error {
	return s.L.Find(q, fn)
}

// Agent is the ledger's agent ID.
func (s *LedgerSource) Agent() string { return s.L.Agent() }

// Body opens a record's body: from the spool while it waits in the
// outbox, else from the store under the record's first control.
func (s *LedgerSource) Body(ctx context.Context, r *evidence.Record) (io.ReadCloser, error) {
	var loc ledger.SpoolLoc
	var queued bool
	if err := s.L.View(func(v *ledger.Viewer) error { loc, queued = v.Outbox(r.Seq); return nil }); err != nil {
		return nil, err
	}
	if queued {
		return s.L.OpenSpool(loc)
	}
	if s.Store == nil {
		return nil, errors.New("body already pushed and no store is open")
	}
	var lastErr error
	for _, c := range r.Controls {
		rc, err := s.Store.Get(ctx, s.Layout.Evidence(c, r))
		if err == nil {
			return rc, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("body of record %d (%s) not in %s: %w", r.Seq, r.Type, s.Store.Describe(), lastErr)
}

// Checkpoints returns the ledger's signed checkpoints, oldest first.
func (s *LedgerSource) Checkpoints() ([]*ledger.Checkpoint, error) { return s.L.Checkpoints() }

// Keys returns the ledger's public keys by key ID.
func (s *LedgerSource) Keys() (map[string]string, error) { return s.L.Keys() }

// Tokens returns RFC 3161 tokens by checkpoint size.
func (s *LedgerSource) Tokens() (map[int64][]byte, error) { return s.L.Tokens() }

// Prove returns an inclusion proof of record seq in the tree of size treeSize.
func (s *LedgerSource) Prove(seq uint64, treeSize int64) (tlog.RecordProof, error) {
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
func (s *LedgerSource) ReleaseMemory() { s.L.ReleaseMemory() }

// ProveTree returns a consistency proof from the tree of size n to treeSize.
func (s *LedgerSource) ProveTree(treeSize, n int64) (tlog.TreeProof, error) {
	var p tlog.TreeProof
	err := s.L.View(func(v *ledger.Viewer) error {
		var err error
		p, err = tlog.ProveTree(treeSize, n, v.Hashes)
		return err
	})
	return p, err
}
