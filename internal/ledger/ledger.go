// Package ledger is tickmark's local evidence ledger: a bbolt database
// holding one canonical record per artifact as a leaf of an RFC 6962 Merkle
// log (golang.org/x/mod/sumdb/tlog), indexes by time, control, type and body
// hash, collector cursors (committed in the same transaction as the records
// they cover), run outcomes, signed checkpoints, and the outbox of bodies not
// yet in the store. Bodies themselves live in the spool, never in bbolt.
package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tickmark-dev/tickmark/internal/evidence"
)

// ErrLocked means another process holds the ledger.
var ErrLocked = errors.New("ledger is locked by another process")

// Options for Open.
type Options struct {
	// LockTimeout bounds the wait for another process's lock (default 3s).
	LockTimeout time.Duration
	// ReadOnly opens without write access (shared lock).
	ReadOnly bool
	// NoSync disables fsync (benchmarks of the non-durable path only).
	NoSync bool
	// Now is the clock for bookkeeping times such as when a checkpoint was
	// signed (default time.Now).
	Now func() time.Time
}

// Ledger is an open ledger.
type Ledger struct {
	// snapshotAt is when the snapshot this read-only ledger reads was
	// written (zero: it reads the ledger itself).
	snapshotAt time.Time
	db         *bolt.DB
	dir        string
	agent      string
	origin     string
	spool      *spool

	reqs      chan *commitReq
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	mu        sync.Mutex // guards size
	size      int64
	readOnly  bool
	now       func() time.Time
}

var agentRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// ValidAgentID reports whether id can name an agent (it appears in object keys and the origin line).
func ValidAgentID(id string) bool { return agentRE.MatchString(id) }

// Origin is the checkpoint origin line for an agent.
func Origin(agent string) string { return "tickmark/" + agent }

// Open opens (creating) the ledger in dataDir for agent.
func Open(dataDir, agent string, o Options) (*Ledger, error) {
	if !ValidAgentID(agent) {
		return nil, fmt.Errorf("invalid agent id %q: use letters, digits, '.', '_' and '-'", agent)
	}
	if o.LockTimeout == 0 {
		o.LockTimeout = 3 * time.Second
	}
	if !o.ReadOnly {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("creating data dir: %w", err)
		}
		if err := os.Chmod(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
	}
	path := filepath.Join(dataDir, DBFile)
	if o.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("no ledger in %s: %w", dataDir, err)
		}
	}
	timeout := o.LockTimeout
	snap := filepath.Join(dataDir, SnapshotFile)
	var snapAt time.Time
	if fi, err := os.Stat(snap); o.ReadOnly && err == nil {
		// A running daemon holds the lock for its whole life and writes a
		// snapshot after every run: wait briefly, then read that.
		timeout, snapAt = min(timeout, snapshotWait), fi.ModTime()
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, ReadOnly: o.ReadOnly, NoSync: o.NoSync, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, bolt.ErrTimeout) && !snapAt.IsZero() {
		db, err = bolt.Open(snap, 0o600, &bolt.Options{Timeout: o.LockTimeout, ReadOnly: true, FreelistType: bolt.FreelistMapType})
		if err != nil {
			return nil, fmt.Errorf("%w (%s), and its snapshot %s cannot be read: %v", ErrLocked, path, snap, err)
		}
	} else {
		snapAt = time.Time{}
	}
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%w (%s); wait for the other run to finish, or check for a stuck process", ErrLocked, path)
	}
	if err != nil {
		return nil, fmt.Errorf("opening ledger %s: %w", path, err)
	}
	l := &Ledger{db: db, dir: dataDir, agent: agent, origin: Origin(agent), readOnly: o.ReadOnly, now: o.Now, snapshotAt: snapAt}
	if l.now == nil {
		l.now = time.Now
	}
	if !o.ReadOnly {
		if err := db.Update(func(tx *bolt.Tx) error { return l.init(tx) }); err != nil {
			db.Close()
			return nil, err
		}
	} else if err := db.View(func(tx *bolt.Tx) error { return l.check(tx) }); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketRecords).Cursor().Last(); k != nil {
			l.size = int64(getU64(k)) + 1
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, err
	}
	if l.spool, err = newSpool(filepath.Join(dataDir, SpoolDir)); err != nil && !o.ReadOnly {
		db.Close()
		return nil, err
	}
	if !o.ReadOnly {
		l.reqs = make(chan *commitReq, 64)
		l.stop = make(chan struct{})
		l.wg.Add(1)
		go l.writer()
	}
	return l, nil
}

func (l *Ledger) init(tx *bolt.Tx) error {
	for _, b := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	m := tx.Bucket(bucketMeta)
	if v := m.Get(metaSchema); v == nil {
		if err := m.Put(metaSchema, u64(SchemaVersion)); err != nil {
			return err
		}
		if err := m.Put(metaAgent, []byte(l.agent)); err != nil {
			return err
		}
		return m.Put(metaOrigin, []byte(l.origin))
	}
	return l.check(tx)
}

func (l *Ledger) check(tx *bolt.Tx) error {
	m := tx.Bucket(bucketMeta)
	if m == nil {
		return errors.New("ledger has no meta bucket: not a tickmark ledger")
	}
	if v := getU64(m.Get(metaSchema)); v > SchemaVersion {
		return fmt.Errorf("ledger schema version %d is newer than this tickmark understands (%d); upgrade tickmark", v, SchemaVersion)
	}
	if a := string(m.Get(metaAgent)); a != l.agent {
		return fmt.Errorf("ledger belongs to agent %q, configuration says %q; each agent needs its own data dir", a, l.agent)
	}
	return nil
}

// Agent returns the agent ID.
func (l *Ledger) Agent() string { return l.agent }

// OriginLine returns the checkpoint origin.
func (l *Ledger) OriginLine() string { return l.origin }

// Dir returns the data dir.
func (l *Ledger) Dir() string { return l.dir }

// DB exposes the database for packages that keep their own buckets
// (declared in their own schema file). Use with care.
func (l *Ledger) DB() *bolt.DB { return l.db }

// Size returns the number of records.
func (l *Ledger) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size
}

// Close stops the writer and closes the database.
func (l *Ledger) Close() error {
	var err error
	l.closeOnce.Do(func() {
		if l.stop != nil {
			close(l.stop)
			l.wg.Wait()
		}
		err = l.db.Close()
	})
	return err
}

// NewSegment opens a spool segment for one emitter.
func (l *Ledger) NewSegment() (*Segment, error) { return l.spool.newSegment() }

// OpenSpool opens a spooled body.
func (l *Ledger) OpenSpool(loc SpoolLoc) (interface {
	Read([]byte) (int, error)
	Close() error
}, error) {
	return l.spool.Open(loc)
}

// Pending is a record waiting for its commit: sequence number unassigned.
type Pending struct {
	Record evidence.Record
	Loc    SpoolLoc
	// Encoded, if set, is Record.EncodeSplit() done by the caller: the
	// writer then only splices in the sequence number.
	Encoded *evidence.Split
}

// Commit is one unit of work for the writer.
type Commit struct {
	Records []Pending
	// Segment (if any) holding the records' bodies; synced before commit.
	Segment *Segment
	// Collector, if set, names the instance whose Cursor is written.
	Collector string
	Cursor    *string
	// Run, if set, is stored with the records.
	Run *Run
	// Restored marks records rebuilt from the store (ledger restore): their
	// bodies are already there, so they get no outbox entry.
	Restored bool
}

type commitReq struct {
	c    *Commit
	done chan commitRes
}

type commitRes struct {
	first uint64
	err   error
}

// Commit writes records, cursor and run in one transaction and returns the
// sequence number of the first record. Commits from concurrent callers are
// grouped into one transaction (one fsync per group).
func (l *Ledger) Commit(ctx context.Context, c *Commit) (uint64, error) {
	if l.readOnly {
		return 0, errors.New("ledger opened read-only")
	}
	req := &commitReq{c: c, done: make(chan commitRes, 1)}
	select {
	case l.reqs <- req:
	case <-l.stop:
		return 0, errors.New("ledger closed")
	}
	// Once queued the commit completes even if ctx is cancelled: the
	// caller learns its outcome so nothing is acknowledged twice or lost.
	res := <-req.done
	return res.first, res.err
}

func (l *Ledger) writer() {
	defer l.wg.Done()
	for {
		var batch []*commitReq
		select {
		case r := <-l.reqs:
			batch = append(batch, r)
		case <-l.stop:
			// drain anything queued before stop
			for {
				select {
				case r := <-l.reqs:
					l.apply([]*commitReq{r})
				default:
					return
				}
			}
		}
	more:
		for len(batch) < 256 {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		l.apply(batch)
	}
}

func (l *Ledger) apply(batch []*commitReq) {
	// Bodies first: every segment referenced is synced before the records
	// commit. The fsyncs run while this goroutine builds the transaction;
	// the commit waits for them.
	syncs := startSyncs(batch)
	if l.applyFast(batch, syncs) {
		return
	}
	// Slow path (a segment failed to sync, or the transaction failed): a
	// segment that cannot be synced (a full disk) fails only the commits
	// that reference it, not the other collectors' commits in the batch.
	syncErr := syncs()
	ready := batch[:0:0]
	for _, r := range batch {
		if s := r.c.Segment; s != nil {
			if err := syncErr[s]; err != nil {
				r.done <- commitRes{err: err}
				continue
			}
		}
		ready = append(ready, r)
	}
	if len(ready) == 0 {
		return
	}
	if err := l.applyTx(ready); err != nil && len(ready) > 1 {
		// One transaction for the group failed: commit each alone, so a
		// commit that cannot be written fails only its own collector.
		for _, r := range ready {
			if err := l.applyTx([]*commitReq{r}); err != nil {
				r.done <- commitRes{err: err}
			}
		}
		return
	} else if err != nil {
		ready[0].done <- commitRes{err: err}
	}
}

// startSyncs fsyncs the batch's segments in the background; the returned
// function waits for (and remembers) each segment's outcome.
func startSyncs(batch []*commitReq) func() map[*Segment]error {
	var segs []*Segment
	seen := map[*Segment]bool{}
	for _, r := range batch {
		if s := r.c.Segment; s != nil && !seen[s] {
			seen[s] = true
			segs = append(segs, s)
		}
	}
	done := make(chan map[*Segment]error, 1)
	go func() {
		m := make(map[*Segment]error, len(segs))
		for _, s := range segs {
			m[s] = s.Sync()
		}
		done <- m
	}()
	var once sync.Once
	var res map[*Segment]error
	return func() map[*Segment]error {
		once.Do(func() { res = <-done })
		return res
	}
}

// applyFast builds one transaction for the whole batch while the spool
// syncs, and commits it once every segment is durable. It reports false,
// having written nothing, if anything failed.
func (l *Ledger) applyFast(batch []*commitReq, syncs func() map[*Segment]error) bool {
	tx, err := l.db.Begin(true)
	if err != nil {
		return false
	}
	w := newTxWriter(tx, l.Size())
	firsts := make([]uint64, len(batch))
	for i, r := range batch {
		first, err := w.commit(r.c)
		if err != nil {
			tx.Rollback()
			return false
		}
		firsts[i] = first
	}
	for _, err := range syncs() {
		if err != nil {
			tx.Rollback()
			return false
		}
	}
	if err := tx.Commit(); err != nil {
		return false // the slow path retries, and reports
	}
	l.mu.Lock()
	l.size = w.size
	l.mu.Unlock()
	for i, r := range batch {
		r.done <- commitRes{first: firsts[i]}
	}
	return true
}

// applyTx commits the batch in one transaction. On success it answers every
// request; on failure it answers none and returns the error.
func (l *Ledger) applyTx(batch []*commitReq) error {
	firsts := make([]uint64, len(batch))
	err := l.db.Update(func(tx *bolt.Tx) error {
		w := newTxWriter(tx, l.Size())
		for i, r := range batch {
			first, err := w.commit(r.c)
			if err != nil {
				return err
			}
			firsts[i] = first
		}
		l.mu.Lock()
		l.size = w.size
		l.mu.Unlock()
		return nil
	})
	if err != nil {
		// The transaction rolled back: restore the size from disk.
		_ = l.db.View(func(tx *bolt.Tx) error {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.size = 0
			if k, _ := tx.Bucket(bucketRecords).Cursor().Last(); k != nil {
				l.size = int64(getU64(k)) + 1
			}
			return nil
		})
		return err
	}
	for i, r := range batch {
		r.done <- commitRes{first: firsts[i]}
	}
	return nil
}

// txWriter appends records within one transaction.
type txWriter struct {
	tx      *bolt.Tx
	size    int64
	overlay map[int64]tlog.Hash
	b       struct{ rec, hashes, t, ctl, typ, sha, out, cur, runs *bolt.Bucket }
}

func newTxWriter(tx *bolt.Tx, size int64) *txWriter {
	w := &txWriter{tx: tx, size: size, overlay: map[int64]tlog.Hash{}}
	w.b.rec = tx.Bucket(bucketRecords)
	w.b.hashes = tx.Bucket(bucketHashes)
	w.b.t = tx.Bucket(bucketIdxTime)
	w.b.ctl = tx.Bucket(bucketIdxControl)
	w.b.typ = tx.Bucket(bucketIdxType)
	w.b.sha = tx.Bucket(bucketIdxSHA)
	w.b.out = tx.Bucket(bucketOutbox)
	w.b.cur = tx.Bucket(bucketCursors)
	w.b.runs = tx.Bucket(bucketRuns)
	w.b.rec.FillPercent = 1.0
	w.b.hashes.FillPercent = 1.0
	w.b.t.FillPercent = 0.9
	w.b.ctl.FillPercent = 0.9 // keys grow within each control's range
	w.b.typ.FillPercent = 0.9
	w.b.out.FillPercent = 1.0
	return w
}

func (w *txWriter) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, ix := range indexes {
		if h, ok := w.overlay[ix]; ok {
			out[i] = h
			continue
		}
		v := w.b.hashes.Get(u64(uint64(ix)))
		if len(v) != tlog.HashSize {
			return nil, fmt.Errorf("ledger: stored hash %d missing", ix)
		}
		copy(out[i][:], v)
	}
	return out, nil
}

func (w *txWriter) commit(c *Commit) (uint64, error) {
	first := uint64(w.size)
	for i := range c.Records {
		p := &c.Records[i]
		rec := p.Record
		rec.Seq = uint64(w.size)
		var data []byte
		var err error
		if p.Encoded != nil {
			data = p.Encoded.Join(rec.V, rec.Seq)
		} else {
			data, err = rec.Encode()
		}
		if err != nil {
			return 0, err
		}
		seq := u64(rec.Seq)
		if err := w.b.rec.Put(seq, data); err != nil {
			return 0, err
		}
		hashes, err := tlog.StoredHashes(w.size, data, w)
		if err != nil {
			return 0, err
		}
		base := tlog.StoredHashIndex(0, w.size)
		for j, h := range hashes {
			ix := base + int64(j)
			w.overlay[ix] = h
			if err := w.b.hashes.Put(u64(uint64(ix)), h[:]); err != nil {
				return 0, err
			}
		}
		ns := rec.CollectedAt.UnixNano()
		if err := w.b.t.Put(append(timeKey(ns), seq...), nil); err != nil {
			return 0, err
		}
		for _, ctl := range rec.Controls {
			if err := w.b.ctl.Put(idxKey(ctl, ns, rec.Seq), nil); err != nil {
				return 0, err
			}
		}
		if err := w.b.typ.Put(idxKey(rec.Type, ns, rec.Seq), nil); err != nil {
			return 0, err
		}
		// The body-hash index is written when the body leaves the outbox
		// (see Push): random keys are expensive on the ingest path, and
		// FindBySHA256 also scans the outbox.
		if _, err := hexSum(rec.SHA256); err != nil {
			return 0, err
		}
		if !c.Restored {
			if err := w.b.out.Put(seq, p.Loc.encode()); err != nil {
				return 0, err
			}
		}
		w.size++
	}
	// Trim the overlay: only recent right-edge hashes are read again.
	if len(w.overlay) > 1<<16 {
		w.overlay = map[int64]tlog.Hash{}
	}
	if c.Cursor != nil {
		if c.Collector == "" {
			return 0, errors.New("ledger: cursor without a collector name")
		}
		if err := w.b.cur.Put([]byte(c.Collector), []byte(*c.Cursor)); err != nil {
			return 0, err
		}
	}
	if c.Run != nil {
		if err := putRun(w.b.runs, c.Run); err != nil {
			return 0, err
		}
	}
	return first, nil
}

// HashReader reads stored hashes in a read transaction.
type HashReader struct{ b *bolt.Bucket }

// ReadHashes implements tlog.HashReader.
func (h HashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, ix := range indexes {
		v := h.b.Get(u64(uint64(ix)))
		if len(v) != tlog.HashSize {
			return nil, fmt.Errorf("ledger: stored hash %d missing", ix)
		}
		copy(out[i][:], v)
	}
	return out, nil
}

// View runs fn with a hash reader and a record getter in one read transaction.
func (l *Ledger) View(fn func(v *Viewer) error) error {
	return l.db.View(func(tx *bolt.Tx) error {
		return fn(&Viewer{tx: tx, Hashes: HashReader{b: tx.Bucket(bucketHashes)}})
	})
}

// Viewer reads a consistent snapshot of the ledger.
type Viewer struct {
	tx     *bolt.Tx
	Hashes HashReader
}

// Size is the record count in this snapshot.
func (v *Viewer) Size() int64 {
	if k, _ := v.tx.Bucket(bucketRecords).Cursor().Last(); k != nil {
		return int64(getU64(k)) + 1
	}
	return 0
}

// Record returns a copy of record seq's canonical bytes, or nil.
func (v *Viewer) Record(seq uint64) []byte {
	return bytes.Clone(v.tx.Bucket(bucketRecords).Get(u64(seq)))
}

// Records iterates records from seq `from` in order. The byte slices are only
// valid during fn.
func (v *Viewer) Records(from uint64, fn func(seq uint64, data []byte) error) error {
	c := v.tx.Bucket(bucketRecords).Cursor()
	for k, d := c.Seek(u64(from)); k != nil; k, d = c.Next() {
		if err := fn(getU64(k), d); err != nil {
			return err
		}
	}
	return nil
}

// StoredHash returns the stored hash at a tlog index, if present.
func (v *Viewer) StoredHash(ix int64) (tlog.Hash, bool) {
	var h tlog.Hash
	d := v.tx.Bucket(bucketHashes).Get(u64(uint64(ix)))
	if len(d) != tlog.HashSize {
		return h, false
	}
	copy(h[:], d)
	return h, true
}

// Outbox returns the spool location of seq if its body is not yet pushed.
func (v *Viewer) Outbox(seq uint64) (SpoolLoc, bool) {
	d := v.tx.Bucket(bucketOutbox).Get(u64(seq))
	if d == nil {
		return SpoolLoc{}, false
	}
	loc, err := decodeLoc(d)
	return loc, err == nil
}

// Cursor returns a collector instance's cursor ("" if none).
func (l *Ledger) Cursor(instance string) (string, error) {
	var cur string
	err := l.db.View(func(tx *bolt.Tx) error {
		cur = string(tx.Bucket(bucketCursors).Get([]byte(instance)))
		return nil
	})
	return cur, err
}

// OutboxLen counts bodies waiting for the store.
func (l *Ledger) OutboxLen() (int, error) {
	n := 0
	err := l.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketOutbox).Stats().KeyN
		return nil
	})
	return n, err
}

func hexSum(s string) ([]byte, error) {
	if len(s) != 64 {
		return nil, fmt.Errorf("ledger: bad sha256 %q", s)
	}
	b := make([]byte, 32)
	for i := 0; i < 32; i++ {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("ledger: bad sha256 %q", s)
		}
		b[i] = hi<<4 | lo
	}
	return b, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// LeafHashes returns a reader of the stored leaf hashes for increasing
// sequence numbers; it walks the hash bucket with one cursor instead of a
// lookup per record.
func (v *Viewer) LeafHashes() func(seq uint64) (tlog.Hash, bool) {
	c := v.tx.Bucket(bucketHashes).Cursor()
	var k, val []byte
	started := false
	return func(seq uint64) (tlog.Hash, bool) {
		var h tlog.Hash
		want := u64(uint64(tlog.StoredHashIndex(0, int64(seq))))
		if !started || k == nil || bytes.Compare(k, want) > 0 {
			k, val = c.Seek(want)
			started = true
		}
		for k != nil && bytes.Compare(k, want) < 0 {
			k, val = c.Next()
		}
		if k == nil || !bytes.Equal(k, want) || len(val) != tlog.HashSize {
			return h, false
		}
		copy(h[:], val)
		return h, true
	}
}
