package verify_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/internal/engine"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/store"
	"github.com/tickmark-dev/tickmark/internal/verify"
)

// buildLedger commits n records of 1 KiB bodies and signs a checkpoint.
func buildLedger(tb testing.TB, dir string, n int) *ledger.Ledger {
	tb.Helper()
	l, err := ledger.Open(dir, "bench", ledger.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	seg, err := l.NewSegment()
	if err != nil {
		tb.Fatal(err)
	}
	defer seg.Close()
	body := make([]byte, 1024)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var pend []ledger.Pending
	for i := 0; i < n; i++ {
		copy(body, fmt.Sprintf("artifact %d", i))
		loc, sum, err := seg.WriteBytes(body)
		if err != nil {
			tb.Fatal(err)
		}
		pend = append(pend, ledger.Pending{Loc: loc, Record: evidence.Record{V: 1, Agent: "bench", Collector: "gen", CollectorType: "exec", RunID: "r",
			Type: "test.item", Subject: fmt.Sprintf("item-%d", i), Controls: []string{"CC7.2"}, CollectedAt: base.Add(time.Duration(i) * 30 * time.Second),
			ContentType: "application/json", Size: int64(len(body)), SHA256: fmt.Sprintf("%x", sum)}})
		if len(pend) == 5000 || i == n-1 {
			if _, err := l.Commit(context.Background(), &ledger.Commit{Records: pend, Segment: seg}); err != nil {
				tb.Fatal(err)
			}
			pend = nil
		}
	}
	k, err := ledger.GenerateKey(filepath.Join(dir, "key"), l.OriginLine())
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := l.Sign(k); err != nil {
		tb.Fatal(err)
	}
	return l
}

// BenchmarkVerifyLedger measures structural verification (canonical
// records, leaf hashes, roots at checkpoints, signatures); bodies skipped.
func BenchmarkVerifyLedger(b *testing.B) {
	const n = 100_000
	l := buildLedger(b, b.TempDir(), n)
	defer l.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rep, err := verify.Ledger(context.Background(), l, verify.Options{SkipBodies: true})
		if err != nil || !rep.OK {
			b.Fatalf("%v %+v", err, rep.Problems)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkVerifyWithBodies also re-hashes every body in a filesystem store.
func BenchmarkVerifyWithBodies(b *testing.B) {
	const n = 20_000
	dir := b.TempDir()
	l := buildLedger(b, dir, n)
	defer l.Close()
	st, err := store.OpenFilesystem(filepath.Join(dir, "store"))
	if err != nil {
		b.Fatal(err)
	}
	lay := store.NewBucket(st, "")
	if _, err := engine.Push(context.Background(), l, lay, engine.PushOptions{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rep, err := verify.Ledger(context.Background(), l, verify.Options{Bucket: lay})
		if err != nil || !rep.OK || rep.BodiesChecked != n {
			b.Fatalf("%v %+v", err, rep)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}

func TestMain(m *testing.M) { os.Exit(m.Run()) }
