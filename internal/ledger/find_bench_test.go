package ledger

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/internal/evidence"
)

var (
	millionOnce sync.Once
	millionDir  string
)

// millionLedger builds (once per process) a ledger of 1,000,000 records, one
// every 30 seconds from 2026-01-01 (about 11.5 months).
func millionLedger(b *testing.B) *Ledger {
	millionOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tickmark-million-")
		if err != nil {
			b.Fatal(err)
		}
		l, err := Open(dir, "bench", Options{})
		if err != nil {
			b.Fatal(err)
		}
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		seg, _ := l.NewSegment()
		var pend []Pending
		for i := 0; i < 1_000_000; i++ {
			pend = append(pend, Pending{Record: evidence.Record{V: 1, Agent: "bench", Collector: "gen", CollectorType: "exec", RunID: "r",
				Type: "test.item", Subject: "item", Controls: []string{"CC7.2"}, CollectedAt: base.Add(time.Duration(i) * 30 * time.Second),
				ContentType: "application/json", Size: 1024, SHA256: "00000000000000000000000000000000000000000000000000000000000000ff"}})
			if len(pend) == 20000 {
				if _, err := l.Commit(context.Background(), &Commit{Records: pend, Segment: seg}); err != nil {
					b.Fatal(err)
				}
				pend = nil
			}
		}
		seg.Close()
		l.Close()
		millionDir = dir
	})
	l, err := Open(millionDir, "bench", Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// BenchmarkFindOneMonthOfMillion lists one month (86,400 records) out
// of 1,000,000 through the time index, as `evidence list --from --to` does.
func BenchmarkFindOneMonthOfMillion(b *testing.B) {
	l := millionLedger(b)
	defer l.Close()
	from := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 1, 0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		err := l.Find(Query{From: from, To: to}, func(*evidence.Record, []byte) error { n++; return nil })
		if err != nil || n != 86400 {
			b.Fatalf("%v: %d records", err, n)
		}
	}
}

// BenchmarkFindOneMonthByControl is the same through the control index.
func BenchmarkFindOneMonthByControl(b *testing.B) {
	l := millionLedger(b)
	defer l.Close()
	from := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 1, 0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		if err := l.Find(Query{Control: "CC7.2", From: from, To: to}, func(*evidence.Record, []byte) error { n++; return nil }); err != nil || n != 86400 {
			b.Fatalf("%v: %d", err, n)
		}
	}
}
