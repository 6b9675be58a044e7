package ledger

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The spool holds artifact bodies on local disk until the store has them.
// Each emitter appends to its own segment file; a body is durable once its
// segment is synced, which the writer does once per commit batch, before
// the bbolt transaction that references it.

// SpoolLoc locates a body in the spool.
type SpoolLoc struct {
	Segment string
	Offset  int64
	Size    int64
}

func (l SpoolLoc) encode() []byte {
	b := make([]byte, 0, 2+len(l.Segment)+16)
	b = binary.BigEndian.AppendUint16(b, uint16(len(l.Segment)))
	b = append(b, l.Segment...)
	b = binary.BigEndian.AppendUint64(b, uint64(l.Offset))
	b = binary.BigEndian.AppendUint64(b, uint64(l.Size))
	return b
}

func decodeLoc(b []byte) (SpoolLoc, error) {
	if len(b) < 2 {
		return SpoolLoc{}, errors.New("bad spool location")
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) != 2+n+16 {
		return SpoolLoc{}, errors.New("bad spool location")
	}
	return SpoolLoc{
		Segment: string(b[2 : 2+n]),
		Offset:  int64(binary.BigEndian.Uint64(b[2+n:])),
		Size:    int64(binary.BigEndian.Uint64(b[2+n+8:])),
	}, nil
}

// Segment is one append-only spool file, written by one emitter.
type Segment struct {
	name string
	f    *os.File
	w    *bufio.Writer
	off  int64
	h    hash.Hash
	mu   sync.Mutex
	s    *spool
}

type spool struct {
	dir  string
	mu   sync.Mutex
	open map[string]bool // segments being written by this process
}

func newSpool(dir string) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	return &spool{dir: dir, open: map[string]bool{}}, nil
}

// NewSegment creates a segment file.
func (s *spool) newSegment() (*Segment, error) {
	var r [6]byte
	_, _ = rand.Read(r[:])
	name := fmt.Sprintf("%016x-%s", time.Now().UnixNano(), hex.EncodeToString(r[:]))
	f, err := os.OpenFile(filepath.Join(s.dir, name+segmentExt), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s.mu.Lock()
	s.open[name] = true
	s.mu.Unlock()
	return &Segment{name: name, f: f, w: bufio.NewWriterSize(f, 1<<20), h: sha256.New(), s: s}, nil
}

// Write streams a body into the segment, returning its location and SHA-256.
func (g *Segment) Write(r io.Reader) (SpoolLoc, [32]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.h.Reset()
	start := g.off
	n, err := io.Copy(io.MultiWriter(g.w, g.h), r)
	g.off += n
	var sum [32]byte
	if err != nil {
		return SpoolLoc{}, sum, fmt.Errorf("spool: writing body: %w", err)
	}
	copy(sum[:], g.h.Sum(nil))
	return SpoolLoc{Segment: g.name, Offset: start, Size: n}, sum, nil
}

// WriteBytes is Write for an in-memory body (no copy through io.Copy).
func (g *Segment) WriteBytes(b []byte) (SpoolLoc, [32]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	start := g.off
	if _, err := g.w.Write(b); err != nil {
		return SpoolLoc{}, [32]byte{}, fmt.Errorf("spool: writing body: %w", err)
	}
	g.off += int64(len(b))
	return SpoolLoc{Segment: g.name, Offset: start, Size: int64(len(b))}, sha256.Sum256(b), nil
}

// Sync flushes and fsyncs the segment.
func (g *Segment) Sync() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.w.Flush(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := g.f.Sync(); err != nil {
		return fmt.Errorf("spool: fsync: %w", err)
	}
	return nil
}

// Close closes the segment (it stays on disk until pushed bodies are cleaned).
func (g *Segment) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	err := g.w.Flush()
	if cerr := g.f.Close(); err == nil {
		err = cerr
	}
	g.s.mu.Lock()
	delete(g.s.open, g.name)
	g.s.mu.Unlock()
	return err
}

// Open returns a reader over a spooled body.
func (s *spool) Open(loc SpoolLoc) (io.ReadCloser, error) {
	if strings.ContainsAny(loc.Segment, "/\\") || loc.Segment == "" {
		return nil, fmt.Errorf("spool: bad segment name %q", loc.Segment)
	}
	f, err := os.Open(filepath.Join(s.dir, loc.Segment+segmentExt))
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return &sectionCloser{SectionReader: io.NewSectionReader(f, loc.Offset, loc.Size), f: f}, nil
}

type sectionCloser struct {
	*io.SectionReader
	f *os.File
}

func (s *sectionCloser) Close() error { return s.f.Close() }

// clean removes segments that no outbox entry references and no emitter is writing.
func (s *spool) clean(referenced map[string]bool) (int, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segmentExt)
		if !ok || referenced[name] || s.open[name] {
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, e.Name())); err == nil {
			n++
		}
	}
	return n, nil
}
