package readmodel

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/publog"
	"github.com/tickmark-dev/tickmark/internal/storeview"
	"github.com/tickmark-dev/tickmark/internal/verify"
)

// Bucket reads one agent's evidence from the bucket alone
// (--from-store): its signed checkpoints and keys, the records of its
// published log (entry bundles, every one authenticated against the latest
// signed checkpoint when the source is opened), inclusion proofs from its
// hash tiles, and bodies from the evidence objects. The bucket has no
// index, so opening reads every entry bundle once and keeps a compact
// index (time, sequence, type, controls: about 40 bytes a record) in
// memory. The bucket holds no run history: Runs reports none, so coverage
// cannot tell a failed collection from no collection (every gap shows as
// gap_no_run).
type Bucket struct {
	view  *storeview.View
	log   *verify.Log
	hr    tlog.HashReader
	agent string

	idx      []indexEntry // sorted by (ns, seq)
	types    []string
	controls []string
	ctlFlat  []uint32

	bundleN    int64
	bundle     [][]byte
	bundleSize int64
}

type indexEntry struct {
	ns       int64
	seq      uint64
	typ      uint32
	ctlStart uint32
	ctlLen   uint32
}

var _ Source = (*Bucket)(nil)

// OpenBucket reads agent's published log from the bucket.
func OpenBucket(ctx context.Context, v *storeview.View, agent string) (*Bucket, error) {
	lg, err := v.OpenLog(ctx, agent)
	if err != nil {
		return nil, err
	}
	if len(lg.Problems) > 0 {
		return nil, fmt.Errorf("agent %s's published log does not verify: %s (and %d more)", agent, lg.Problems[0], len(lg.Problems)-1)
	}
	if lg.Latest == nil {
		return nil, fmt.Errorf("agent %s has no signed checkpoint in %s", agent, v.Bucket.Describe())
	}
	hr, err := lg.Hashes(ctx)
	if err != nil {
		return nil, err
	}
	s := &Bucket{view: v, log: lg, hr: hr, agent: agent, bundleN: -1}
	typeIDs, ctlIDs := map[string]uint32{}, map[string]uint32{}
	intern := func(m map[string]uint32, names *[]string, x string) uint32 {
		id, ok := m[x]
		if !ok {
			id = uint32(len(*names))
			m[x] = id
			*names = append(*names, x)
		}
		return id
	}
	err = lg.Entries(ctx, func(e verify.Entry) error {
		ie := indexEntry{ns: e.Record.CollectedAt.UnixNano(), seq: e.Seq, typ: intern(typeIDs, &s.types, e.Record.Type), ctlStart: uint32(len(s.ctlFlat)), ctlLen: uint32(len(e.Record.Controls))}
		for _, c := range e.Record.Controls {
			s.ctlFlat = append(s.ctlFlat, intern(ctlIDs, &s.controls, c))
		}
		s.idx = append(s.idx, ie)
		return nil
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("reading agent %s's log from %s: %w", agent, v.Bucket.Describe(), err)
	}
	sort.Slice(s.idx, func(i, j int) bool {
		a, b := s.idx[i], s.idx[j]
		return a.ns < b.ns || a.ns == b.ns && a.seq < b.seq
	})
	return s, nil
}

// Agent is the agent whose log this is.
func (s *Bucket) Agent() string { return s.agent }

// window returns the index entries collected in [from, to).
func (s *Bucket) window(from, to time.Time) []indexEntry {
	lo, hi := 0, len(s.idx)
	if !from.IsZero() {
		f := from.UnixNano()
		lo = sort.Search(len(s.idx), func(i int) bool { return s.idx[i].ns >= f })
	}
	if !to.IsZero() {
		t := to.UnixNano()
		hi = sort.Search(len(s.idx), func(i int) bool { return s.idx[i].ns >= t })
	}
	if lo > hi {
		return nil
	}
	return s.idx[lo:hi]
}

func (s *Bucket) typeID(typ string) (uint32, bool) {
	for i, t := range s.types {
		if t == typ {
			return uint32(i), true
		}
	}
	return 0, false
}

func (s *Bucket) hasControl(e indexEntry, control string) bool {
	for _, c := range s.ctlFlat[e.ctlStart : e.ctlStart+e.ctlLen] {
		if s.controls[c] == control {
			return true
		}
	}
	return false
}

// ScanType scans the in-memory index.
func (s *Bucket) ScanType(typ string, from, to time.Time, fn func(ns int64, seq uint64) error) error {
	id, ok := s.typeID(typ)
	if !ok {
		return nil
	}
	for _, e := range s.window(from, to) {
		if e.typ == id {
			if err := fn(e.ns, e.seq); err != nil {
				return err
			}
		}
	}
	return nil
}

// RunsVisible is false: run outcomes are not published to the bucket.
func (s *Bucket) RunsVisible() bool { return false }

// Location is where a person finds the record's body in the bucket.
func (s *Bucket) Location(r *evidence.Record) string { return s.view.Bucket.Location(r) }

// Runs reports nothing: run outcomes are not published to the bucket.
func (s *Bucket) Runs(from, to time.Time, fn func(*ledger.Run) error) error { return nil }

// RecordData returns a record's canonical bytes from its entry bundle.
func (s *Bucket) RecordData(seq uint64) ([]byte, error) {
	size := s.log.Latest.Size
	if int64(seq) >= size {
		return nil, fmt.Errorf("record %d is beyond the latest checkpoint (%d)", seq, size)
	}
	n := int64(seq) >> publog.TileHeight
	if n != s.bundleN || s.bundleSize != size {
		entries, err := s.log.Bundle(context.Background(), n)
		if err != nil {
			return nil, err
		}
		s.bundleN, s.bundle, s.bundleSize = n, entries, size
	}
	return s.bundle[int64(seq)-s.bundleN<<publog.TileHeight], nil
}

// Record returns one record, its leaf hash checked against the signed log.
func (s *Bucket) Record(seq uint64) (*evidence.Record, error) {
	data, err := s.RecordData(seq)
	if err != nil {
		return nil, err
	}
	leaf, err := s.hr.ReadHashes([]int64{tlog.StoredHashIndex(0, int64(seq))})
	if err != nil {
		return nil, err
	}
	if tlog.RecordHash(data) != leaf[0] {
		return nil, fmt.Errorf("record %d in the bucket does not match the signed log", seq)
	}
	return evidence.DecodeCanonical(data)
}

// Find calls fn for the records matching q, in collection-time order.
func (s *Bucket) Find(q ledger.Query, fn func(r *evidence.Record, data []byte) error) error {
	tid, typed := uint32(0), q.Type != ""
	if typed {
		var ok bool
		if tid, ok = s.typeID(q.Type); !ok {
			return nil
		}
	}
	n := 0
	for _, e := range s.window(q.From, q.To) {
		if typed && e.typ != tid || q.Control != "" && !s.hasControl(e, q.Control) {
			continue
		}
		data, err := s.RecordData(e.seq)
		if err != nil {
			return err
		}
		r, err := evidence.DecodeCanonical(data)
		if err != nil {
			return fmt.Errorf("record %d: %w", e.seq, err)
		}
		if q.Collector != "" && r.Collector != q.Collector {
			continue
		}
		if err := fn(r, data); err != nil {
			return err
		}
		if n++; q.Limit > 0 && n >= q.Limit {
			break
		}
	}
	return nil
}

// Body opens the record's evidence object (under its first control that has one).
func (s *Bucket) Body(ctx context.Context, r *evidence.Record) (io.ReadCloser, error) {
	return s.view.Bucket.OpenEvidence(ctx, r)
}

// Checkpoints returns the verified checkpoints, oldest first.
func (s *Bucket) Checkpoints() ([]*ledger.Checkpoint, error) { return s.log.Checkpoints, nil }

// Keys returns the agent's published keys.
func (s *Bucket) Keys() (map[string]string, error) { return s.log.Keys, nil }

// Tokens returns published RFC 3161 tokens.
func (s *Bucket) Tokens() (map[int64][]byte, error) { return s.log.Tokens, nil }

// Prove returns an inclusion proof from the published hash tiles
// (authenticated against the latest checkpoint, the only size it serves).
func (s *Bucket) Prove(seq uint64, treeSize int64) (tlog.RecordProof, error) {
	if treeSize != s.log.Latest.Size {
		return nil, fmt.Errorf("the bucket view proves against its latest checkpoint (%d), not %d", s.log.Latest.Size, treeSize)
	}
	return tlog.ProveRecord(treeSize, int64(seq), s.hr)
}

// ProveTree returns a consistency proof from the published hash tiles.
func (s *Bucket) ProveTree(treeSize, n int64) (tlog.TreeProof, error) {
	if treeSize != s.log.Latest.Size {
		return nil, fmt.Errorf("the bucket view proves against its latest checkpoint (%d), not %d", s.log.Latest.Size, treeSize)
	}
	return tlog.ProveTree(treeSize, n, s.hr)
}
