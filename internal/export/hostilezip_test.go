package export_test

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"github.com/tickmark-dev/tickmark/internal/export"
)

// craft copies pkg, replacing the file whose name ends with suffix by the
// stream r (or adding it, when no file has that name), deflated as any zip
// tool would. The content is streamed, never held.
func craft(tb testing.TB, pkg []byte, suffix string, r io.Reader) []byte {
	tb.Helper()
	zr, err := zip.NewReader(bytes.NewReader(pkg), int64(len(pkg)))
	if err != nil {
		tb.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	root, _, _ := strings.Cut(zr.File[0].Name, "/")
	replaced := false
	for _, f := range zr.File {
		w, err := zw.Create(f.Name)
		if err != nil {
			tb.Fatal(err)
		}
		if strings.HasSuffix(f.Name, "/"+suffix) {
			replaced = true
			if _, err := io.Copy(w, r); err != nil {
				tb.Fatal(err)
			}
			continue
		}
		rc, _ := f.Open()
		_, err = io.Copy(w, rc)
		rc.Close()
		if err != nil {
			tb.Fatal(err)
		}
	}
	if !replaced {
		w, _ := zw.Create(root + "/" + suffix)
		if _, err := io.Copy(w, r); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

// zeros is n zero bytes: the most compressible stream.
func zeros(n int64) io.Reader { return io.LimitReader(zeroReader{}, n) }

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// sumLines is n lines shaped like SHA256SUMS, random (incompressible).
func sumLines(n int) io.Reader {
	var b bytes.Buffer
	sum := make([]byte, 32)
	for i := 0; i < n; i++ {
		rand.Read(sum)
		b.WriteString(hex.EncodeToString(sum) + "  evidence/CC7.2/2026-03-01/x/" + hex.EncodeToString(sum[:8]) + ".json\n")
	}
	return &b
}

func problemsMention(rep *export.Report, item, text string) bool {
	for _, p := range rep.Problems {
		if strings.HasSuffix(p.Item, item) && strings.Contains(p.Message, text) {
			return true
		}
	}
	return false
}

func TestCraftedPackagesAreRefusedUnread(t *testing.T) {
	_, src := build(t, "a")
	pkg := exportZip(t, src, export.Options{})
	for _, tc := range []struct {
		name, file string
		content    func() io.Reader
		want       string
	}{
		{"SHA256SUMS inflating 64 MiB of zeros", "SHA256SUMS", func() io.Reader { return zeros(64 << 20) }, "zip bomb"},
		{"index.csv inflating 64 MiB of zeros", "index.csv", func() io.Reader { return zeros(64 << 20) }, "zip bomb"},
		{"an evidence file inflating 64 MiB of zeros", "evidence/CC8.1/extra.json", func() io.Reader { return zeros(64 << 20) }, "zip bomb"},
		{"an oversized, incompressible SHA256SUMS", "SHA256SUMS", func() io.Reader { return sumLines(40_000) }, "refused unread"},
		{"an oversized, incompressible index.csv", "index.csv", func() io.Reader { return sumLines(40_000) }, "refused unread"},
		{"index.csv with one endless line", "index.csv", func() io.Reader {
			return io.MultiReader(strings.NewReader("control,type,subject\n\""), strings.NewReader(strings.Repeat("=A1", 30_000)))
		}, "a line longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := craft(t, pkg, tc.file, tc.content())
			rep := verify(t, bad)
			if rep.OK {
				t.Fatal("a crafted package verified")
			}
			if !problemsMention(rep, tc.file, tc.want) {
				t.Errorf("no problem on %s mentioning %q: %v", tc.file, tc.want, rep.Problems)
			}
		})
	}
	// Control: the genuine package, copied the same way with an index put
	// back unchanged, verifies; the refusals above are the content's.
	var index []byte
	zr, _ := zip.NewReader(bytes.NewReader(pkg), int64(len(pkg)))
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/index.csv") {
			rc, _ := f.Open()
			index, _ = io.ReadAll(rc)
			rc.Close()
		}
	}
	if rep := verify(t, craft(t, pkg, "index.csv", bytes.NewReader(index))); !rep.OK {
		t.Errorf("the genuine package, copied, does not verify: %v", rep.Problems)
	}
}
