package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"
	"golang.org/x/sync/errgroup"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/publog"
	"github.com/tickmark-dev/tickmark/internal/store"
)

// PushResult reports what a push wrote.
type PushResult struct {
	Bodies      int   // records whose bodies reached the store
	Objects     int   // evidence objects written (one per control)
	Tiles       int   // tiles and entry bundles written
	Checkpoints int   // checkpoints written
	Backlog     int   // records still waiting in the outbox
	LogSize     int64 // tree size published
	// Unpushable lists outbox entries the store cannot hold (an object key
	// it refuses: a record written before names were checked). They stay
	// in the outbox, are reported on every push, and block nothing.
	Unpushable []Unpushable
}

// Unpushable is an outbox entry that cannot be pushed, and why.
type Unpushable struct {
	Seq    uint64
	Reason string
}

// PushOptions tune a push.
type PushOptions struct {
	Concurrency int // parallel Puts (default 8)
	Batch       int // outbox entries per durable batch (default 2048)
	Logger      *slog.Logger
}

// Push drains the outbox into the store (each body once per control), then
// publishes the log: entry bundles and hash tiles (C2SP tlog-tiles) up to
// the latest checkpoint, the checkpoints and the public keys. An outbox
// entry is cleared only after the store has synced its objects; a failed
// push leaves the rest queued for the next run.
func (l *Ledger) Push(ctx context.Context, st store.Store, layout store.Layout, o PushOptions) (PushResult, error) {
	var res PushResult
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Batch <= 0 {
		o.Batch = 16384
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var after *uint64 // outbox entries are read from after the last one seen
	for {
		b, err := l.pushBatch(ctx, st, layout, o, after)
		res.Bodies += b.pushed
		res.Objects += b.objects
		res.Unpushable = append(res.Unpushable, b.unpushable...)
		if err != nil {
			res.Backlog, _ = l.OutboxLen()
			return res, err
		}
		if b.read < o.Batch {
			break
		}
		last := b.last
		after = &last
	}
	for _, u := range res.Unpushable {
		o.Logger.Error("outbox entry cannot be pushed; it stays queued and the entries behind it are pushed", "seq", u.Seq, "err", u.Reason)
	}
	if err := l.cleanSpool(); err != nil {
		o.Logger.Warn("cleaning spool", "err", err)
	}
	if err := l.publishLog(ctx, st, layout, &res, o.Concurrency); err != nil {
		res.Backlog, _ = l.OutboxLen()
		return res, err
	}
	res.Backlog, _ = l.OutboxLen()
	return res, nil
}

type outItem struct {
	seq uint64
	loc SpoolLoc
	rec *evidence.Record
}

// batchResult is what one outbox batch did.
type batchResult struct {
	read, pushed, objects int
	last                  uint64 // the last outbox entry read
	unpushable            []Unpushable
}

func (l *Ledger) pushBatch(ctx context.Context, st store.Store, layout store.Layout, o PushOptions, after *uint64) (batchResult, error) {
	var br batchResult
	var items []outItem
	err := l.db.View(func(tx *bolt.Tx) error {
		recs := tx.Bucket(bucketRecords)
		c := tx.Bucket(bucketOutbox).Cursor()
		k, v := c.First()
		if after != nil {
			if k, v = c.Seek(u64(*after + 1)); k == nil {
				return nil
			}
		}
		for ; k != nil && len(items) < o.Batch; k, v = c.Next() {
			loc, err := decodeLoc(v)
			if err != nil {
				return fmt.Errorf("outbox entry %d: %w", getU64(k), err)
			}
			r, err := evidence.Decode(recs.Get(k))
			if err != nil {
				return fmt.Errorf("outbox record %d: %w", getU64(k), err)
			}
			items = append(items, outItem{seq: getU64(k), loc: loc, rec: r})
		}
		return nil
	})
	if err != nil || len(items) == 0 {
		return br, err
	}
	br.read, br.last = len(items), items[len(items)-1].seq
	segs := &segFiles{sp: l.spool, m: map[string]*os.File{}}
	defer segs.close()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Concurrency)
	var (
		mu    sync.Mutex
		stuck = map[uint64]string{}
	)
	refuse := func(seq uint64, reason string) {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := stuck[seq]; !dup {
			stuck[seq] = reason
		}
	}
	for _, it := range items {
		sum, err := hexSum(it.rec.SHA256)
		if err != nil {
			return br, err
		}
		if err := pushable(it.rec); err != nil {
			refuse(it.seq, err.Error())
			continue
		}
		var s32 [32]byte
		copy(s32[:], sum)
		for _, ctl := range it.rec.Controls {
			key := layout.Evidence(ctl, it.rec)
			br.objects++
			g.Go(func() error {
				body, err := segs.reader(it.loc)
				if err != nil {
					return fmt.Errorf("record %d (%s): body missing from spool: %w", it.seq, it.rec.Type, err)
				}
				if err := st.Put(gctx, key, body, it.rec.Size, s32); err != nil {
					if errors.Is(err, store.ErrInvalidKey) {
						refuse(it.seq, err.Error())
						return nil
					}
					return fmt.Errorf("pushing record %d (%s): %w", it.seq, it.rec.Type, err) // the caller names the store
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return br, err
	}
	if err := st.Sync(ctx); err != nil {
		return br, err
	}
	for _, it := range items {
		if reason, ok := stuck[it.seq]; ok {
			br.unpushable = append(br.unpushable, Unpushable{Seq: it.seq, Reason: reason})
		}
	}
	err = l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		idx := tx.Bucket(bucketIdxSHA)
		for _, it := range items {
			if _, ok := stuck[it.seq]; ok {
				continue // stays queued, reported on every push
			}
			if err := b.Delete(u64(it.seq)); err != nil {
				return err
			}
			sum, err := hexSum(it.rec.SHA256)
			if err != nil {
				return err
			}
			if err := idx.Put(append(sum, u64(it.seq)...), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return br, err
	}
	br.pushed = len(items) - len(stuck)
	return br, nil
}

// pushable checks a record's names with the rule records are committed
// under (collectors.ValidControlID, ValidEvidenceType): a record committed
// before that rule, or by another tool, may name an object key no store
// can hold.
func pushable(r *evidence.Record) error {
	if err := collectors.ValidEvidenceType(r.Type); err != nil {
		return fmt.Errorf("record %d: %w", r.Seq, err)
	}
	for _, c := range r.Controls {
		if err := collectors.ValidControlID(c); err != nil {
			return fmt.Errorf("record %d: %w", r.Seq, err)
		}
	}
	return nil
}

func (l *Ledger) cleanSpool() error {
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

func putBytes(ctx context.Context, st store.Store, key string, data []byte) error {
	return st.Put(ctx, key, bytes.NewReader(data), int64(len(data)), sha256.Sum256(data))
}

func (l *Ledger) publishLog(ctx context.Context, st store.Store, layout store.Layout, res *PushResult, conc int) error {
	cps, err := l.Checkpoints()
	if err != nil || len(cps) == 0 {
		return err
	}
	var pubTiles, pubCP int64
	_ = l.db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		pubTiles = int64(getU64(m.Get(metaPublishedTiles)))
		pubCP = int64(getU64(m.Get(metaPublishedCheckpoint)))
		return nil
	})
	latest := cps[len(cps)-1].Size
	agent := l.agent
	// Public keys first: everything after is checked against them.
	keys, err := l.Keys()
	if err != nil {
		return err
	}
	for id, vkey := range keys {
		if err := putBytes(ctx, st, layout.Key(agent, id), []byte(vkey+"\n")); err != nil {
			return err
		}
	}
	if latest > pubTiles {
		tiles := tlog.NewTiles(publog.TileHeight, pubTiles, latest)
		// Tiles and bundles are read in one snapshot and uploaded in
		// parallel (one object each; a full tile is 8 KiB).
		type object struct {
			key  string
			data []byte
		}
		var objs []object
		err := l.View(func(v *Viewer) error {
			for _, t := range tiles {
				data, err := tlog.ReadTileData(t, v.Hashes)
				if err != nil {
					return fmt.Errorf("reading tile %s: %w", t.Path(), err)
				}
				objs = append(objs, object{layout.Tile(agent, t), data})
				if t.L == 0 {
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
					et := t
					et.L = -1
					objs = append(objs, object{layout.Tile(agent, et), bundle})
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(conc)
		for _, o := range objs {
			g.Go(func() error { return putBytes(gctx, st, o.key, o.data) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
		res.Tiles += len(objs)
	}
	anns, err := l.Announcements()
	if err != nil {
		return err
	}
	for id, msg := range anns {
		if err := putBytes(ctx, st, layout.KeyAnnouncement(agent, id), msg); err != nil {
			return err
		}
	}
	tokens, err := l.Tokens()
	if err != nil {
		return err
	}
	for _, cp := range cps {
		if cp.Size < pubCP || (cp.Size == pubCP && pubCP != 0) {
			continue
		}
		if err := putBytes(ctx, st, layout.Checkpoint(agent, cp.Size), cp.Note); err != nil {
			return err
		}
		if tok, ok := tokens[cp.Size]; ok {
			if err := putBytes(ctx, st, layout.CheckpointToken(agent, cp.Size), tok); err != nil {
				return err
			}
		}
		res.Checkpoints++
	}
	if err := st.Sync(ctx); err != nil {
		return err
	}
	res.LogSize = latest
	return l.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if err := m.Put(metaPublishedTiles, u64(uint64(latest))); err != nil {
			return err
		}
		return m.Put(metaPublishedCheckpoint, u64(uint64(latest)))
	})
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

// segFiles keeps spool segments open for the length of a push, so each
// body is one positioned read rather than an open and a close.
type segFiles struct {
	sp *spool
	mu sync.Mutex
	m  map[string]*os.File
}

func (s *segFiles) reader(loc SpoolLoc) (io.Reader, error) {
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

func (s *segFiles) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.m {
		f.Close()
	}
}
