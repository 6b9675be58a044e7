package readmodel

import (
	"context"
	"io"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
)

// Query selects records (type, control, collector instance, window, limit).
type Query = ledger.Query

// Run is one collector run.
type Run = ledger.Run

// Checkpoint is a signed tree head.
type Checkpoint = ledger.Checkpoint

// Source is one agent's evidence, read from its ledger or its published
// log (see the package documentation for the contract).
type Source interface {
	// Agent is the agent whose evidence this is.
	Agent() string
	// ScanType calls fn for every record of an evidence type collected in
	// [from, to), in time order, with its collection time and sequence.
	ScanType(typ string, from, to time.Time, fn func(ns int64, seq uint64) error) error
	// Find calls fn for the records matching q, in collection-time order.
	Find(q Query, fn func(r *evidence.Record, data []byte) error) error
	// Record returns one decoded record.
	Record(seq uint64) (*evidence.Record, error)
	// Body opens a record's evidence body.
	Body(ctx context.Context, r *evidence.Record) (io.ReadCloser, error)
	// Location is where a person finds the record's body ("" if nowhere).
	Location(r *evidence.Record) string

	// RunsVisible reports whether Runs can see collector runs at all.
	RunsVisible() bool
	// Runs calls fn for every collector run started in [from, to) (zero: unbounded).
	Runs(from, to time.Time, fn func(*Run) error) error

	// Checkpoints returns the signed checkpoints, oldest first.
	Checkpoints() ([]*Checkpoint, error)
	// Keys returns the agent's public keys by key ID.
	Keys() (map[string]string, error)
	// Tokens returns RFC 3161 tokens by checkpoint size.
	Tokens() (map[int64][]byte, error)
	// Prove returns the inclusion proof of record seq in the tree of size treeSize.
	Prove(seq uint64, treeSize int64) (tlog.RecordProof, error)
	// ProveTree returns a consistency proof that the tree of size n is a
	// prefix of the tree of size treeSize.
	ProveTree(treeSize, n int64) (tlog.TreeProof, error)
}
