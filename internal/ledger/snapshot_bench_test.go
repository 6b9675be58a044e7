package ledger

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkSnapshotMillion writes the read commands' snapshot of a ledger
// of 1,000,000 records, as the daemon does after every run.
func BenchmarkSnapshotMillion(b *testing.B) {
	l := millionLedger(b)
	defer l.Close()
	defer os.Remove(filepath.Join(l.dir, SnapshotFile))
	b.ResetTimer()
	for range b.N {
		if err := l.WriteSnapshot(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if fi, err := os.Stat(filepath.Join(l.dir, SnapshotFile)); err == nil {
		b.ReportMetric(float64(fi.Size())/(1<<20), "MiB")
	}
}
