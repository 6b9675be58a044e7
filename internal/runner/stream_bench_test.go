package runner

import (
	"context"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/engine"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/store"
)

// pattern is an endless, cheap, non-constant byte stream.
type pattern struct{ n, limit int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.n >= p.limit {
		return 0, io.EOF
	}
	if int64(len(b)) > p.limit-p.n {
		b = b[:p.limit-p.n]
	}
	for i := range b {
		b[i] = byte((p.n + int64(i)) * 2654435761 >> 13)
	}
	p.n += int64(len(b))
	return len(b), nil
}

func maxRSSMiB() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024 // kilobytes on Linux
}

// BenchmarkStream1GiB streams one 1 GiB artifact through the engine: emit
// (spool + hash), commit, push to a filesystem store. Run it alone
// (-bench Stream1GiB) so peak-RSS-MiB is this path's: the body must never be
// held in memory.
func BenchmarkStream1GiB(b *testing.B) {
	const size = 1 << 30
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		l, err := ledger.Open(dir, "bench", ledger.Options{})
		if err != nil {
			b.Fatal(err)
		}
		seg, _ := l.NewSegment()
		cc := &config.CollectorConfig{Name: "big", Type: "exec", Controls: map[string][]string{"test.big": {"A1.2"}}}
		em := &emitter{l: l, seg: seg, cc: cc, agent: "bench", runID: "r", now: func() time.Time { return time.Now().UTC() }, stats: newStats()}
		ctx := context.Background()
		if err := em.Emit(ctx, collectors.Artifact{Type: "test.big", ContentType: "application/octet-stream", BodyReader: &pattern{limit: size}}); err != nil {
			b.Fatal(err)
		}
		if err := em.commit(ctx, nil, nil); err != nil {
			b.Fatal(err)
		}
		seg.Close()
		st, err := store.OpenFilesystem(dir + "/store")
		if err != nil {
			b.Fatal(err)
		}
		res, err := engine.Push(ctx, l, store.NewBucket(st, ""), engine.PushOptions{})
		if err != nil || res.Bodies != 1 {
			b.Fatal(err, res)
		}
		l.Close()
	}
	b.SetBytes(size)
	b.ReportMetric(maxRSSMiB(), "peak-RSS-MiB")
}
