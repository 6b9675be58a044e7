package engine_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/tickmark-dev/tickmark/internal/engine"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/publog"
	"github.com/tickmark-dev/tickmark/internal/store"
)

func openTest(t testing.TB) (*ledger.Ledger, string) {
	t.Helper()
	dir := t.TempDir()
	l, err := ledger.Open(dir, "agent-1", ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, dir
}

// appendN commits n records with bodies, batch at a time, and returns their bodies.
func appendN(t testing.TB, l *ledger.Ledger, n, batch int, cursor func(i int) *string) [][]byte {
	t.Helper()
	seg, err := l.NewSegment()
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	var bodies [][]byte
	var pend []ledger.Pending
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		body := []byte(fmt.Sprintf(`{"i":%d}`, i))
		loc, sum, err := seg.WriteBytes(body)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, body)
		pend = append(pend, ledger.Pending{Loc: loc, Record: evidence.Record{
			V: evidence.Version, Agent: "agent-1", Collector: "c1", CollectorType: "exec", RunID: "r1",
			Type: "test.item", Subject: fmt.Sprintf("item-%d", i), Controls: []string{"CC7.2"},
			CollectedAt: base.Add(time.Duration(i) * time.Hour), ContentType: "application/json",
			Size: int64(len(body)), SHA256: fmt.Sprintf("%x", sum),
		}})
		if len(pend) == batch || i == n-1 {
			var cur *string
			if cursor != nil {
				cur = cursor(i)
			}
			if _, err := l.Commit(context.Background(), &ledger.Commit{Records: pend, Segment: seg, Collector: "c1", Cursor: cur}); err != nil {
				t.Fatal(err)
			}
			pend = nil
		}
	}
	return bodies
}

// commitControls commits one record per entry of controls (a record
// committed by an older agent, before names were checked, may name a
// control such as "A..B" that no store accepts as a key segment).
func commitControls(t *testing.T, l *ledger.Ledger, controls ...string) {
	t.Helper()
	seg, err := l.NewSegment()
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	var pend []ledger.Pending
	for i, c := range controls {
		body := []byte(fmt.Sprintf(`{"control":%q}`, c))
		loc, sum, err := seg.WriteBytes(body)
		if err != nil {
			t.Fatal(err)
		}
		pend = append(pend, ledger.Pending{Loc: loc, Record: evidence.Record{
			V: evidence.Version, Agent: "agent-1", Collector: "c1", CollectorType: "exec", RunID: "r1",
			Type: "test.item", Subject: fmt.Sprintf("item-%d", i), Controls: []string{c},
			CollectedAt: time.Date(2026, 11, 1, i, 0, 0, 0, time.UTC), ContentType: "application/json",
			Size: int64(len(body)), SHA256: fmt.Sprintf("%x", sum),
		}})
	}
	if _, err := l.Commit(context.Background(), &ledger.Commit{Records: pend, Segment: seg, Collector: "c1"}); err != nil {
		t.Fatal(err)
	}
}

func TestUnpushableOutboxEntryBlocksNothingBehindIt(t *testing.T) {
	l, _ := openTest(t)
	commitControls(t, l, "CC7.2", "A..B", "CC8.1", "CC6.1")
	st, err := store.OpenFilesystem(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	lay := store.NewBucket(st, "")
	// Batches of one: the stuck entry is at the head of every later batch.
	res, err := engine.Push(context.Background(), l, lay, engine.PushOptions{Batch: 1})
	if err != nil {
		t.Fatalf("push failed for everyone because of one entry: %v", err)
	}
	if res.Bodies != 3 || res.Backlog != 1 || len(res.Unpushable) != 1 || res.Unpushable[0].Seq != 1 ||
		!strings.Contains(res.Unpushable[0].Reason, `invalid control ID "A..B"`) {
		t.Fatalf("push result %+v", res)
	}
	err = l.Find(ledger.Query{}, func(r *evidence.Record, _ []byte) error {
		_, err := store.ReadAll(context.Background(), st, lay.EvidenceObject(r.Controls[0], r))
		if r.Seq == 1 && err == nil {
			t.Errorf("the A..B record reached the store")
		} else if r.Seq != 1 && err != nil {
			t.Errorf("record %d behind the stuck entry was not pushed: %v", r.Seq, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Later entries keep going out; the stuck one is reported every time.
	commitControls(t, l, "CC9.9")
	res, err = engine.Push(context.Background(), l, lay, engine.PushOptions{})
	if err != nil || res.Bodies != 1 || res.Backlog != 1 || len(res.Unpushable) != 1 {
		t.Fatalf("second push: %+v, %v", res, err)
	}
	// The store's own refusal counts the same way (a key no rule predicted).
	commitControls(t, l, "CC1.1")
	res, err = engine.Push(context.Background(), l, store.NewBucket(refusingStore{Store: st, bad: "CC1.1"}, ""), engine.PushOptions{})
	if err != nil || res.Backlog != 2 || len(res.Unpushable) != 2 || !strings.Contains(res.Unpushable[1].Reason, "invalid object key") {
		t.Fatalf("push to a store refusing a key: %+v, %v", res, err)
	}
}

// refusingStore refuses keys under one control as the store would refuse
// a key it cannot hold.
type refusingStore struct {
	store.Store
	bad string
}

func (s refusingStore) Put(ctx context.Context, key string, body io.Reader, size int64, sum [32]byte) error {
	if strings.Contains(key, "/"+s.bad+"/") {
		return fmt.Errorf("%w %q", store.ErrInvalidKey, key)
	}
	return s.Store.Put(ctx, key, body, size, sum)
}

func TestPushPublishesTilesAndDrainsOutbox(t *testing.T) {
	l, _ := openTest(t)
	bodies := appendN(t, l, 300, 100, nil)
	key, _ := ledger.GenerateKey(filepath.Join(t.TempDir(), "k"), l.OriginLine())
	cp, err := l.Sign(key)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenFilesystem(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	lay := store.NewBucket(st, "soc2/")
	res, err := engine.Push(context.Background(), l, lay, engine.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Bodies != 300 || res.Backlog != 0 {
		t.Fatalf("push result %+v", res)
	}
	// Every body under its control, byte for byte.
	err = l.Find(ledger.Query{}, func(r *evidence.Record, _ []byte) error {
		b, err := store.ReadAll(context.Background(), st, lay.EvidenceObject("CC7.2", r))
		if err != nil {
			return err
		}
		if !bytes.Equal(b, bodies[r.Seq]) || fmt.Sprintf("%x", sha256.Sum256(b)) != r.SHA256 {
			return fmt.Errorf("record %d body differs", r.Seq)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Tiles: one full level-0 tile and bundle, one partial of width 44.
	for _, k := range []string{
		"soc2/log/agent-1/tile/0/000", "soc2/log/agent-1/tile/entries/000",
		"soc2/log/agent-1/tile/0/001.p/44", "soc2/log/agent-1/tile/entries/001.p/44",
		"soc2/log/agent-1/tile/1/000.p/1", "soc2/log/agent-1/checkpoints/300.note",
		"soc2/log/agent-1/keys/" + key.ID + ".pub",
	} {
		if _, err := store.ReadAll(context.Background(), st, k); err != nil {
			t.Errorf("missing %s: %v", k, err)
		}
	}
	// The published tiles reproduce the checkpoint root for an outside reader.
	tr := tlog.TileHashReader(tlog.Tree{N: 300, Hash: cp.Root}, tileReader{log: lay.Log("agent-1")})
	if _, err := tlog.TreeHash(300, tr); err != nil {
		t.Fatalf("published tiles do not prove the checkpoint: %v", err)
	}
	// Entry bundle 0 holds records 0..255 exactly.
	b, _ := store.ReadAll(context.Background(), st, "soc2/log/agent-1/tile/entries/000")
	entries, err := publog.ParseBundle(b)
	if err != nil || len(entries) != 256 {
		t.Fatalf("bundle: %d entries, %v", len(entries), err)
	}
	r, err := evidence.DecodeCanonical(entries[255])
	if err != nil || r.Seq != 255 {
		t.Fatalf("bundle entry 255: %+v %v", r, err)
	}
	// A second push writes nothing new and succeeds (write-once, idempotent).
	res, err = engine.Push(context.Background(), l, lay, engine.PushOptions{})
	if err != nil || res.Bodies != 0 {
		t.Fatalf("second push: %+v %v", res, err)
	}
}

type tileReader struct {
	log publog.Reader
}

func (r tileReader) Height() int { return publog.TileHeight }
func (r tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := r.log.Read(context.Background(), publog.TilePath(t))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}
func (r tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// BenchmarkPushFilesystem pushes 1 KiB artifacts from the outbox into a
// filesystem store (one object per artifact, one syncfs per batch).
func BenchmarkPushFilesystem(b *testing.B) {
	for _, c := range []int{1, 2, 8} {
		b.Run(fmt.Sprintf("concurrency=%d", c), func(b *testing.B) { benchPush(b, c) })
	}
}

func benchPush(b *testing.B, conc int) {
	const n = 20000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		l, _ := openTest(b)
		appendN(b, l, n, 5000, nil)
		st, err := store.OpenFilesystem(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := engine.Push(context.Background(), l, store.NewBucket(st, ""), engine.PushOptions{Concurrency: conc})
		if err != nil || res.Bodies != n {
			b.Fatal(err, res)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "artifacts/s")
}
