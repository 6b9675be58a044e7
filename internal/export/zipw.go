package export

import (
	"bufio"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"strings"
)

// zipWriter writes a ZIP archive (APPNOTE 6.3, with ZIP64 when needed)
// deterministically and in constant memory: every entry has the same fixed
// timestamp and permissions, entries are deflated with one reused
// compressor, and the central directory is spooled to a temporary file
// instead of being held in memory (archive/zip keeps a header per entry,
// which for millions of entries is hundreds of MiB).
type zipWriter struct {
	out     *countWriter
	cd      *os.File
	cdw     *countWriter
	entries uint64
	fw      *flate.Writer
	crc     hash.Hash32
	sha     hash.Hash
}

const (
	sigLocal      = 0x04034b50
	sigCentral    = 0x02014b50
	sigDescriptor = 0x08074b50
	sigEnd        = 0x06054b50
	sigEnd64      = 0x06064b50
	sigLocator64  = 0x07064b50
	u32max        = 0xffffffff
	u16max        = 0xffff

	flagDescriptor = 0x0008
	flagUTF8       = 0x0800
	methodDeflate  = 8
	methodStore    = 0
	versionZip64   = 45
	versionDefault = 20
	creatorUnix    = 3 << 8
	// 1980-01-01 00:00:00, the DOS epoch: a fixed time makes archives
	// byte-identical for the same content.
	dosTime = 0
	dosDate = 1<<5 | 1
	// regular file, mode 0644
	externalAttrs = (0o100000 | 0o644) << 16
)

type countWriter struct {
	w *bufio.Writer
	n uint64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += uint64(n)
	return n, err
}

func newZipWriter(w io.Writer, tmpDir string) (*zipWriter, error) {
	cd, err := os.CreateTemp(tmpDir, "tickmark-zipdir-*")
	if err != nil {
		return nil, err
	}
	_ = os.Remove(cd.Name()) // unlinked: gone when closed, whatever happens
	fw, _ := flate.NewWriter(io.Discard, flate.BestSpeed)
	return &zipWriter{
		out: &countWriter{w: bufio.NewWriterSize(w, 1<<20)},
		cd:  cd, cdw: &countWriter{w: bufio.NewWriterSize(cd, 1<<20)},
		fw: fw, crc: crc32.NewIEEE(), sha: sha256.New(),
	}, nil
}

// entry writes one file. write streams its content; the content's SHA-256
// and size are returned.
func (z *zipWriter) entry(name string, write func(w io.Writer) error) ([32]byte, uint64, error) {
	var sum [32]byte
	if err := checkName(name); err != nil {
		return sum, 0, err
	}
	offset := z.out.n
	var h [30]byte
	binary.LittleEndian.PutUint32(h[0:], sigLocal)
	binary.LittleEndian.PutUint16(h[4:], versionZip64)
	binary.LittleEndian.PutUint16(h[6:], flagDescriptor|flagUTF8)
	binary.LittleEndian.PutUint16(h[8:], methodDeflate)
	binary.LittleEndian.PutUint16(h[10:], dosTime)
	binary.LittleEndian.PutUint16(h[12:], dosDate)
	// crc and sizes (14..26) are zero: they follow in the data descriptor
	binary.LittleEndian.PutUint16(h[26:], uint16(len(name)))
	if _, err := z.out.Write(h[:]); err != nil {
		return sum, 0, err
	}
	if _, err := io.WriteString(z.out, name); err != nil {
		return sum, 0, err
	}
	start := z.out.n
	z.crc.Reset()
	z.sha.Reset()
	z.fw.Reset(z.out)
	cnt := &countWriter{w: nil}
	body := io.MultiWriter(z.fw, z.crc, z.sha, countOnly{cnt})
	if err := write(body); err != nil {
		return sum, 0, err
	}
	if err := z.fw.Close(); err != nil {
		return sum, 0, err
	}
	csize, usize, crc := z.out.n-start, cnt.n, z.crc.Sum32()
	copy(sum[:], z.sha.Sum(nil))
	zip64 := csize >= u32max || usize >= u32max
	// data descriptor
	d := binary.LittleEndian.AppendUint32(nil, sigDescriptor)
	d = binary.LittleEndian.AppendUint32(d, crc)
	if zip64 {
		d = binary.LittleEndian.AppendUint64(d, csize)
		d = binary.LittleEndian.AppendUint64(d, usize)
	} else {
		d = binary.LittleEndian.AppendUint32(d, uint32(csize))
		d = binary.LittleEndian.AppendUint32(d, uint32(usize))
	}
	if _, err := z.out.Write(d); err != nil {
		return sum, 0, err
	}
	if err := z.central(name, flagDescriptor|flagUTF8, methodDeflate, crc, csize, usize, offset); err != nil {
		return sum, 0, err
	}
	z.entries++
	return sum, usize, nil
}

type countOnly struct{ c *countWriter }

func (w countOnly) Write(p []byte) (int, error) { w.c.n += uint64(len(p)); return len(p), nil }

// close appends the central directory and the end records, and flushes.
func (z *zipWriter) close() error {
	defer z.cd.Close()
	if err := z.cdw.w.Flush(); err != nil {
		return err
	}
	cdOffset, cdSize := z.out.n, z.cdw.n
	if _, err := z.cd.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if n, err := io.Copy(z.out, z.cd); err != nil {
		return err
	} else if uint64(n) != cdSize {
		return errors.New("zip: central directory truncated")
	}
	records, size, offset := z.entries, cdSize, cdOffset
	if records >= u16max || size >= u32max || offset >= u32max {
		end64 := z.out.n
		b := binary.LittleEndian.AppendUint32(nil, sigEnd64)
		b = binary.LittleEndian.AppendUint64(b, 44)
		b = binary.LittleEndian.AppendUint16(b, creatorUnix|versionZip64)
		b = binary.LittleEndian.AppendUint16(b, versionZip64)
		b = binary.LittleEndian.AppendUint32(b, 0)
		b = binary.LittleEndian.AppendUint32(b, 0)
		b = binary.LittleEndian.AppendUint64(b, records)
		b = binary.LittleEndian.AppendUint64(b, records)
		b = binary.LittleEndian.AppendUint64(b, size)
		b = binary.LittleEndian.AppendUint64(b, offset)
		b = binary.LittleEndian.AppendUint32(b, sigLocator64)
		b = binary.LittleEndian.AppendUint32(b, 0)
		b = binary.LittleEndian.AppendUint64(b, end64)
		b = binary.LittleEndian.AppendUint32(b, 1)
		if _, err := z.out.Write(b); err != nil {
			return err
		}
		records = min(records, u16max)
		size = min(size, u32max)
		offset = min(offset, u32max)
	}
	b := binary.LittleEndian.AppendUint32(nil, sigEnd)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(records))
	b = binary.LittleEndian.AppendUint16(b, uint16(records))
	b = binary.LittleEndian.AppendUint32(b, uint32(size))
	b = binary.LittleEndian.AppendUint32(b, uint32(offset))
	b = binary.LittleEndian.AppendUint16(b, 0)
	if _, err := z.out.Write(b); err != nil {
		return err
	}
	return z.out.w.Flush()
}

// central spools one central directory header.
func (z *zipWriter) central(name string, flags, method uint16, crc uint32, csize, usize, offset uint64) error {
	var extra []byte
	c32, u32, o32 := uint32(csize), uint32(usize), uint32(offset)
	if csize >= u32max || usize >= u32max || offset >= u32max {
		extra = binary.LittleEndian.AppendUint16(extra, 0x0001)
		extra = binary.LittleEndian.AppendUint16(extra, 24)
		extra = binary.LittleEndian.AppendUint64(extra, usize)
		extra = binary.LittleEndian.AppendUint64(extra, csize)
		extra = binary.LittleEndian.AppendUint64(extra, offset)
		c32, u32, o32 = u32max, u32max, u32max
	}
	c := binary.LittleEndian.AppendUint32(nil, sigCentral)
	c = binary.LittleEndian.AppendUint16(c, creatorUnix|versionZip64)
	c = binary.LittleEndian.AppendUint16(c, versionZip64)
	c = binary.LittleEndian.AppendUint16(c, flags)
	c = binary.LittleEndian.AppendUint16(c, method)
	c = binary.LittleEndian.AppendUint16(c, dosTime)
	c = binary.LittleEndian.AppendUint16(c, dosDate)
	c = binary.LittleEndian.AppendUint32(c, crc)
	c = binary.LittleEndian.AppendUint32(c, c32)
	c = binary.LittleEndian.AppendUint32(c, u32)
	c = binary.LittleEndian.AppendUint16(c, uint16(len(name)))
	c = binary.LittleEndian.AppendUint16(c, uint16(len(extra)))
	c = binary.LittleEndian.AppendUint16(c, 0) // comment
	c = binary.LittleEndian.AppendUint16(c, 0) // disk number
	c = binary.LittleEndian.AppendUint16(c, 0) // internal attributes
	c = binary.LittleEndian.AppendUint32(c, externalAttrs)
	c = binary.LittleEndian.AppendUint32(c, o32)
	c = append(c, name...)
	c = append(c, extra...)
	if _, err := z.cdw.Write(c); err != nil {
		return err
	}
	return nil
}

// entryBytes writes a small in-memory file stored (not compressed), with
// its CRC and sizes in the local header: compressing a few hundred bytes
// gains little and costs a compressor reset per entry.
func (z *zipWriter) entryBytes(name string, data []byte) ([32]byte, error) {
	sum := sha256.Sum256(data)
	if err := checkName(name); err != nil {
		return sum, err
	}
	if uint64(len(data)) >= u32max {
		_, _, err := z.entry(name, func(w io.Writer) error { _, err := w.Write(data); return err })
		return sum, err
	}
	offset := z.out.n
	crc := crc32.ChecksumIEEE(data)
	var h [30]byte
	binary.LittleEndian.PutUint32(h[0:], sigLocal)
	binary.LittleEndian.PutUint16(h[4:], versionDefault)
	binary.LittleEndian.PutUint16(h[6:], flagUTF8)
	binary.LittleEndian.PutUint16(h[8:], methodStore)
	binary.LittleEndian.PutUint16(h[10:], dosTime)
	binary.LittleEndian.PutUint16(h[12:], dosDate)
	binary.LittleEndian.PutUint32(h[14:], crc)
	binary.LittleEndian.PutUint32(h[18:], uint32(len(data)))
	binary.LittleEndian.PutUint32(h[22:], uint32(len(data)))
	binary.LittleEndian.PutUint16(h[26:], uint16(len(name)))
	if _, err := z.out.Write(h[:]); err != nil {
		return sum, err
	}
	if _, err := io.WriteString(z.out, name); err != nil {
		return sum, err
	}
	if _, err := z.out.Write(data); err != nil {
		return sum, err
	}
	if err := z.central(name, flagUTF8, methodStore, crc, uint64(len(data)), uint64(len(data)), offset); err != nil {
		return sum, err
	}
	z.entries++
	return sum, nil
}

func checkName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || strings.Contains("/"+name+"/", "/../") || len(name) > u16max {
		return fmt.Errorf("zip: bad entry name %q", name)
	}
	return nil
}
