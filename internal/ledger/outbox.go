package ledger

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/publog"
)

// The storage-free primitives the engine publishes with: outbox entries
// and their bodies, the published log's objects, and the marks of what has
// been published. The ledger knows no storage; internal/engine pushes.

// OutboxItem is a record whose body waits in the spool to be pushed.
type OutboxItem struct {
	Seq    uint64
	Loc    SpoolLoc
	Record *evidence.Record
}

// Outbox returns up to max outbox entries in sequence order, starting
// after the entry after (nil: from the first), and stops early once the
// records read take maxBytes (0: no bound), so that a batch of large
// records holds bounded memory.
func (l *Ledger) Outbox(after *uint64, max int, maxBytes int64) ([]OutboxItem, error) {
	var items []OutboxItem
	var size int64
	err := l.db.View(func(tx *bolt.Tx) error {
		recs := tx.Bucket(bucketRecords)
		c := tx.Bucket(bucketOutbox).Cursor()
		k, v := c.First()
		if after != nil {
			if k, v = c.Seek(u64(*after + 1)); k == nil {
				return nil
			}
		}
		for ; k != nil && len(items) < max && (maxBytes <= 0 || size < maxBytes); k, v = c.Next() {
			loc, err := decodeLoc(v)
			if err != nil {
				return fmt.Errorf("outbox entry %d: %w", getU64(k), err)
			}
			raw := recs.Get(k)
			size += 2 * int64(len(raw)) // the decoded record holds about as much again
			r, err := evidence.Decode(raw)
			if err != nil {
				return fmt.Errorf("outbox record %d: %w", getU64(k), err)
			}
			items = append(items, OutboxItem{Seq: getU64(k), Loc: loc, Record: r})
		}
		return nil
	})
	return items, err
}

// OpenBodies returns a reader of spooled bodies for the length of a push.
func (l *Ledger) OpenBodies() *Bodies { return &Bodies{sp: l.spool, m: map[string]*os.File{}} }

// MarkPushed clears the outbox entries of items whose bodies the store
// now holds (all but those in keep, which stay queued) and indexes their
// body hashes.
func (l *Ledger) MarkPushed(items []OutboxItem, keep map[uint64]string) error {
	return l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		idx := tx.Bucket(bucketIdxSHA)
		for _, it := range items {
			if _, ok := keep[it.Seq]; ok {
				continue
			}
			if err := b.Delete(u64(it.Seq)); err != nil {
				return err
			}
			sum, err := hexSum(it.Record.SHA256)
			if err != nil {
				return err
			}
			if err := idx.Put(append(sum, u64(it.Seq)...), nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// CleanSpool removes spool segments no outbox entry refers to.
func (l *Ledger) CleanSpool() error {
	ref := map[string]bool{}
	err := l.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOutbox).ForEach(func(_, v []byte) error {
			if loc, err := decodeLoc(v); err == nil {
				ref[loc.Segment] = true
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	_, err = l.spool.clean(ref)
	return err
}

// PublishedMarks returns the tree size up to which tiles are published and
// the size of the last checkpoint published (lowered to republish one
// that got a timestamp token since).
func (l *Ledger) PublishedMarks() (tiles, checkpoint int64, err error) {
	err = l.db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		tiles = int64(getU64(m.Get(metaPublishedTiles)))
		checkpoint = int64(getU64(m.Get(metaPublishedCheckpoint)))
		return nil
	})
	return tiles, checkpoint, err
}

// MarkPublished records that the log up to size (tiles, bundles and
// checkpoints) is in the store.
func (l *Ledger) MarkPublished(size int64) error {
	return l.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if err := m.Put(metaPublishedTiles, u64(uint64(size))); err != nil {
			return err
		}
		return m.Put(metaPublishedCheckpoint, u64(uint64(size)))
	})
}

// LogObject is one object of the published log: a name (publog) and its bytes.
type LogObject struct {
	Name string
	Data []byte
}

// LogTiles returns the hash tiles and entry bundles that extend a log
// published up to size from to size to, read in one snapshot.
func (l *Ledger) LogTiles(from, to int64) ([]LogObject, error) {
	var objs []LogObject
	err := l.View(func(v *Viewer) error {
		for _, t := range tlog.NewTiles(publog.TileHeight, from, to) {
			data, err := tlog.ReadTileData(t, v.Hashes)
			if err != nil {
				return fmt.Errorf("reading tile %s: %w", t.Path(), err)
			}
			objs = append(objs, LogObject{publog.TilePath(t), data})
			if t.L != 0 {
				continue
			}
			start := uint64(t.N) << publog.TileHeight
			entries := make([][]byte, 0, t.W)
			for i := 0; i < t.W; i++ {
				r := v.tx.Bucket(bucketRecords).Get(u64(start + uint64(i)))
				if r == nil {
					return fmt.Errorf("record %d missing while publishing tiles", start+uint64(i))
				}
				entries = append(entries, r)
			}
			bundle, err := publog.EncodeBundle(entries)
			if err != nil {
				return err
			}
			t.L = -1
			objs = append(objs, LogObject{publog.TilePath(t), bundle})
		}
		return nil
	})
	return objs, err
}

// Tokens returns stored RFC 3161 tokens by checkpoint size.
func (l *Ledger) Tokens() (map[int64][]byte, error) {
	out := map[int64][]byte{}
	err := l.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
			out[int64(getU64(k))] = bytes.Clone(v)
			return nil
		})
	})
	return out, err
}

// PutToken stores a timestamp token for the checkpoint at size and marks
// the checkpoint for republication.
func (l *Ledger) PutToken(size int64, token []byte) error {
	return l.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketTokens).Put(u64(uint64(size)), token); err != nil {
			return err
		}
		m := tx.Bucket(bucketMeta)
		if int64(getU64(m.Get(metaPublishedCheckpoint))) >= size && size > 0 {
			return m.Put(metaPublishedCheckpoint, u64(uint64(size-1)))
		}
		return nil
	})
}

// Bodies keeps spool segments open for the length of a push, so each
// body is one positioned read rather than an open and a close. Safe for
// concurrent use; Close it when done.
type Bodies struct {
	sp *spool
	mu sync.Mutex
	m  map[string]*os.File
}

// Reader reads the body at loc.
func (s *Bodies) Reader(loc SpoolLoc) (io.Reader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.m[loc.Segment]
	if !ok {
		rc, err := s.sp.Open(SpoolLoc{Segment: loc.Segment})
		if err != nil {
			return nil, err
		}
		f = rc.(*sectionCloser).f
		s.m[loc.Segment] = f
	}
	return io.NewSectionReader(f, loc.Offset, loc.Size), nil
}

// Close closes the open segments.
func (s *Bodies) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.m {
		f.Close()
	}
}
