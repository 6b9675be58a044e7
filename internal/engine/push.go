// Package engine publishes what the ledger has sealed: it drains the
// outbox into the bucket (each body once per control), then publishes the
// log (entry bundles and hash tiles, keys, key announcements, checkpoints
// and their timestamp tokens) and the agent's state. The ledger itself
// knows no storage: it hands over outbox entries, bodies and log objects,
// and keeps the marks of what is published.
package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
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
	Batch       int // outbox entries per durable batch (default 16384)
	// BatchBytes bounds the records one batch holds in memory (default
	// 32 MiB): a batch of large records is cut short.
	BatchBytes int64
	Logger     *slog.Logger
}

// Push drains l's outbox into the store (each body once per control), then
// publishes the log: entry bundles and hash tiles (C2SP tlog-tiles) up to
// the latest checkpoint, the checkpoints and the public keys. An outbox
// entry is cleared only after the store has synced its objects; a failed
// push leaves the rest queued for the next run.
func Push(ctx context.Context, l *ledger.Ledger, b *store.Bucket, o PushOptions) (PushResult, error) {
	var res PushResult
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Batch <= 0 {
		o.Batch = 16384
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 32 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var after *uint64 // outbox entries are read from after the last one seen
	for {
		b, err := pushBatch(ctx, l, b, o, after)
		res.Bodies += b.pushed
		res.Objects += b.objects
		res.Unpushable = append(res.Unpushable, b.unpushable...)
		if err != nil {
			res.Backlog, _ = l.OutboxLen()
			return res, err
		}
		if b.read == 0 {
			break
		}
		last := b.last
		after = &last
	}
	for _, u := range res.Unpushable {
		o.Logger.Error("outbox entry cannot be pushed; it stays queued and the entries behind it are pushed", "seq", u.Seq, "err", u.Reason)
	}
	if err := l.CleanSpool(); err != nil {
		o.Logger.Warn("cleaning spool", "err", err)
	}
	if err := publishLog(ctx, l, b, &res, o.Concurrency); err != nil {
		res.Backlog, _ = l.OutboxLen()
		return res, err
	}
	res.Backlog, _ = l.OutboxLen()
	return res, nil
}

// batchResult is what one outbox batch did.
type batchResult struct {
	read, pushed, objects int
	last                  uint64 // the last outbox entry read
	unpushable            []Unpushable
}

func pushBatch(ctx context.Context, l *ledger.Ledger, b *store.Bucket, o PushOptions, after *uint64) (batchResult, error) {
	var br batchResult
	items, err := l.Outbox(after, o.Batch, o.BatchBytes)
	if err != nil || len(items) == 0 {
		return br, err
	}
	br.read, br.last = len(items), items[len(items)-1].Seq
	bodies := l.OpenBodies()
	defer bodies.Close()
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
		if h, err := hex.DecodeString(it.Record.SHA256); err != nil || len(h) != sha256.Size {
			return br, fmt.Errorf("record %d: bad sha256 %q", it.Seq, it.Record.SHA256)
		}
		if err := pushable(it.Record); err != nil {
			refuse(it.Seq, err.Error())
			continue
		}
		for _, ctl := range it.Record.Controls {
			br.objects++
			g.Go(func() error {
				body, err := bodies.Reader(it.Loc)
				if err != nil {
					return fmt.Errorf("record %d (%s): body missing from spool: %w", it.Seq, it.Record.Type, err)
				}
				if err := b.PutEvidence(gctx, ctl, it.Record, body); err != nil {
					if errors.Is(err, store.ErrInvalidKey) {
						refuse(it.Seq, err.Error())
						return nil
					}
					return fmt.Errorf("pushing record %d (%s): %w", it.Seq, it.Record.Type, err) // the caller names the store
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return br, err
	}
	if err := b.Sync(ctx); err != nil {
		return br, err
	}
	for _, it := range items {
		if reason, ok := stuck[it.Seq]; ok {
			br.unpushable = append(br.unpushable, Unpushable{Seq: it.Seq, Reason: reason})
		}
	}
	if err := l.MarkPushed(items, stuck); err != nil {
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

// publishLog writes the public keys first (everything after is checked
// against them), the tiles and bundles the log grew by (uploaded in
// parallel, one object each), key announcements, then the checkpoints not
// yet published with their tokens, and marks the log published.
func publishLog(ctx context.Context, l *ledger.Ledger, b *store.Bucket, res *PushResult, conc int) error {
	cps, err := l.Checkpoints()
	if err != nil || len(cps) == 0 {
		return err
	}
	pubTiles, pubCP, err := l.PublishedMarks()
	if err != nil {
		return err
	}
	latest := cps[len(cps)-1].Size
	agent := l.Agent()
	keys, err := l.Keys()
	if err != nil {
		return err
	}
	for id, vkey := range keys {
		if err := b.PutLog(ctx, agent, publog.KeyPath(id), []byte(vkey+"\n")); err != nil {
			return err
		}
	}
	if latest > pubTiles {
		objs, err := l.LogTiles(pubTiles, latest)
		if err != nil {
			return err
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(conc)
		for _, o := range objs {
			g.Go(func() error { return b.PutLog(gctx, agent, o.Name, o.Data) })
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
		if err := b.PutLog(ctx, agent, publog.AnnouncementPath(id), msg); err != nil {
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
		if err := b.PutLog(ctx, agent, publog.CheckpointPath(cp.Size), cp.Note); err != nil {
			return err
		}
		if tok, ok := tokens[cp.Size]; ok {
			if err := b.PutLog(ctx, agent, publog.TokenPath(cp.Size), tok); err != nil {
				return err
			}
		}
		res.Checkpoints++
	}
	if err := b.Sync(ctx); err != nil {
		return err
	}
	res.LogSize = latest
	return l.MarkPublished(latest)
}
