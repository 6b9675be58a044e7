package ledger

import (
	"context"
	"fmt"
	"testing"

	"github.com/tickmark-dev/tickmark/internal/store"
)

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
		res, err := l.Push(context.Background(), st, store.NewLayout(""), PushOptions{Concurrency: conc})
		if err != nil || res.Bodies != n {
			b.Fatal(err, res)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "artifacts/s")
}
