package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkFilesystemPut1KiB: one write-once Put of a 1 KiB object (temp
// file, hash check, renameat2 NOREPLACE), against BenchmarkWriteFile1KiB,
// a plain os.WriteFile of the same bytes (no atomicity, no check).
func BenchmarkFilesystemPut1KiB(b *testing.B) {
	st, err := OpenFilesystem(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 1024)
	sum := sha256.Sum256(body)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := st.Put(ctx, fmt.Sprintf("controls/CC7.2/2026/11/30/test.item/bench-%012d.json", i), bytes.NewReader(body), 1024, sum); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteFile1KiB(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "controls/CC7.2/2026/11/30/test.item")
	os.MkdirAll(dir, 0o700)
	body := make([]byte, 1024)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("bench-%012d.json", i)), body, 0o600); err != nil {
			b.Fatal(err)
		}
	}
}
