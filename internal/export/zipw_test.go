package export

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// More than 65535 entries needs the ZIP64 end records; Go's reader and
// Info-ZIP's unzip must both read the archive.
func TestZipWriterZip64Entries(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "many.zip")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	z, err := newZipWriter(f, dir)
	if err != nil {
		t.Fatal(err)
	}
	const n = 70000
	for i := range n {
		if _, _, err := z.entry(fmt.Sprintf("pkg/f/%06d.txt", i), func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "file %d\n", i)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := z.close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != n {
		t.Fatalf("%d entries read back, want %d", len(zr.File), n)
	}
	for _, i := range []int{0, 65535, n - 1} {
		rc, err := zr.File[i].Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(b, fmt.Appendf(nil, "file %d\n", i)) || zr.File[i].Name != fmt.Sprintf("pkg/f/%06d.txt", i) {
			t.Errorf("entry %d: %q %q %v", i, zr.File[i].Name, b, err)
		}
	}
	if out, err := exec.Command("unzip", "-tqq", path).CombinedOutput(); err != nil {
		t.Errorf("unzip -t: %v\n%s", err, out)
	}
}
