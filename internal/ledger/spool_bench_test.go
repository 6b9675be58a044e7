package ledger

import (
	"bytes"
	"testing"
)

// BenchmarkSpoolStream is the streamed-body path (Artifact.BodyReader):
// 1 MiB bodies copied from a reader into one segment and hashed, with a
// sync (flush + fsync) every 64 MiB, as a collector checkpointing every
// 64 bodies does. It guards the per-body cost of the full-disk handling
// (the writer-side error check and the truncate-on-failure bookkeeping).
func BenchmarkSpoolStream(b *testing.B) {
	l, _ := openTest(b)
	seg, err := l.NewSegment()
	if err != nil {
		b.Fatal(err)
	}
	defer seg.Close()
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := seg.Write(bytes.NewReader(body)); err != nil {
			b.Fatal(err)
		}
		if (i+1)%64 == 0 {
			if err := seg.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := seg.Sync(); err != nil {
		b.Fatal(err)
	}
}
