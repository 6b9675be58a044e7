package export

import (
	"archive/zip"
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
)

// A package is untrusted input: verify-package reads it with bounded memory
// whatever it holds. Indexes (SHA256SUMS, index.csv) are streamed, line by
// line and row by row, and may be no larger than the files they list need;
// an entry that inflates far beyond its compressed size (a zip bomb) is
// refused before it is read.
const (
	// maxRatio is the compression ratio past which an entry of more than
	// ratioFloor bytes is refused. Deflate cannot exceed about 1032:1;
	// evidence (JSON, CSV, logs) stays far below 250:1.
	maxRatio   = 250
	ratioFloor = 1 << 20
	// indexBytesPerFile bounds SHA256SUMS and index.csv: a line or row per
	// file, each well under 4 KiB (subjects are at most 1 KiB).
	indexBytesPerFile = 4 << 10
	// maxIndexLine bounds one line of SHA256SUMS or one row of index.csv.
	maxIndexLine = 64 << 10
)

// checkEntry refuses an entry that inflates more than maxRatio times.
func checkEntry(f *zip.File) error {
	u, c := f.UncompressedSize64, f.CompressedSize64
	if u > ratioFloor && (c == 0 || u/c > maxRatio) {
		return fmt.Errorf("inflates from %d to %d bytes (more than %d:1): refused unread as a zip bomb", c, u, maxRatio)
	}
	return nil
}

// indexLimit is the largest SHA256SUMS or index.csv a package of n files
// can need.
func indexLimit(n int) int64 { return int64(n+1) * indexBytesPerFile }

// open opens a package file for streaming, refusing it unread if its
// declared size is over limit (archive/zip holds an entry to its declared
// size).
func (v *verifier) open(name string, limit int64) (io.ReadCloser, error) {
	fi, ok := v.files[name]
	if !ok {
		return nil, fmt.Errorf("missing from the package")
	}
	if fi.f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("%d bytes, larger than %d: refused unread", fi.f.UncompressedSize64, limit)
	}
	return fi.f.Open()
}

// lineLimiter fails a stream with a line longer than max bytes, so that a
// CSV reader (which has no limit of its own) never holds more.
type lineLimiter struct {
	r   io.Reader
	max int
	run int
}

func (l *lineLimiter) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for _, c := range p[:n] {
		if c == '\n' {
			l.run = 0
		} else if l.run++; l.run > l.max {
			return 0, fmt.Errorf("a line longer than %d bytes", l.max)
		}
	}
	return n, err
}

// scanLines calls fn for each line of name (at most maxIndexLine bytes).
func (v *verifier) scanLines(name string, limit int64, fn func(ln int, line string)) error {
	rc, err := v.open(name, limit)
	if err != nil {
		return err
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), maxIndexLine)
	for ln := 1; sc.Scan(); ln++ {
		fn(ln, sc.Text())
	}
	return sc.Err()
}

// scanCSV calls fn for each row of name; a row is at most maxIndexLine
// bytes on one line (tickmark writes no line breaks in index cells).
func (v *verifier) scanCSV(name string, limit int64, fn func(row int, rec []string)) error {
	rc, err := v.open(name, limit)
	if err != nil {
		return err
	}
	defer rc.Close()
	cr := csv.NewReader(&lineLimiter{r: rc, max: maxIndexLine})
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	for row := 1; ; row++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		fn(row, rec)
	}
}
