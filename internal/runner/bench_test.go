package runner

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/ledger"
)

const benchBatch = 1000

// BenchmarkLedgerAppend1KiB is the engine's append path for 1 KiB
// artifacts, durable: bodies to the spool, records, Merkle hashes, indexes,
// outbox and cursor, one fsync of the spool and one bbolt commit per batch
// of 1,000 (a collector checkpointing once per page of 1,000).
func BenchmarkLedgerAppend1KiB(b *testing.B) {
	l, err := ledger.Open(b.TempDir(), "bench", ledger.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	seg, err := l.NewSegment()
	if err != nil {
		b.Fatal(err)
	}
	defer seg.Close()
	cc := &config.CollectorConfig{Name: "gen", Type: "exec", Controls: map[string][]string{"test.item": {"CC7.2"}}}
	em := &emitter{l: l, seg: seg, cc: cc, agent: "bench", runID: "r", now: func() time.Time { return time.Now().UTC() }, stats: newStats()}
	body := make([]byte, 1024)
	ctx := context.Background()
	b.SetBytes(1024)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		binary.BigEndian.PutUint64(body, uint64(i))
		if err := em.Emit(ctx, collectors.Artifact{Type: "test.item", Subject: "item", ContentType: "application/json", Body: body}); err != nil {
			b.Fatal(err)
		}
		if (i+1)%benchBatch == 0 {
			if err := em.Checkpoint(ctx, fmt.Sprint(i)); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := em.commit(ctx, nil, nil); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "artifacts/s")
}

// BenchmarkBoltBatchedPut1KiB is the baseline: raw bbolt puts of the same
// bytes (1 KiB values under sequential keys), 1,000 per transaction, fsync
// on commit.
func BenchmarkBoltBatchedPut1KiB(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	body := make([]byte, 1024)
	b.SetBytes(1024)
	b.ResetTimer()
	for i := 0; i < b.N; i += benchBatch {
		err := db.Update(func(tx *bolt.Tx) error {
			bk := tx.Bucket([]byte("b"))
			for j := i; j < i+benchBatch && j < b.N; j++ {
				var k [8]byte
				binary.BigEndian.PutUint64(k[:], uint64(j))
				binary.BigEndian.PutUint64(body, uint64(j))
				if err := bk.Put(k[:], body); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "artifacts/s")
}
