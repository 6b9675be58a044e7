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
	// synced is the length made durable by the last successful Sync.
	synced int64
	// err is the first write or sync error (a full disk, an I/O error):
	// the segment then takes no more bodies and is cut back to synced.
	err error
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

// fail records the segment's first write or sync error and gives the disk
// space of everything after the last sync back: those bytes belong only to
// artifacts that can no longer be committed (a commit syncs the segment
// first, and every later Sync fails with this error). On a full disk this
// keeps one collector's failed bodies from failing every other collector.
// The caller holds g.mu.
func (g *Segment) fail(err error) error {
	if g.err == nil {
		g.err = err
		_ = g.f.Truncate(g.synced)
	}
	return err
}

// broken is the error of a segment that failed earlier.
func (g *Segment) broken() error {
	return fmt.Errorf("spool: segment %s failed earlier: %w", g.name, g.err)
}

// writeErr remembers an error of the writer side of an io.Copy (the disk),
// as opposed to the reader side (the collector's body stream).
type writeErr struct {
	w   io.Writer
	err error
}

func (e *writeErr) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

// Write streams a body into the segment, returning its location and SHA-256.
func (g *Segment) Write(r io.Reader) (SpoolLoc, [32]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var sum [32]byte
	if g.err != nil {
		return SpoolLoc{}, sum, g.broken()
	}
	g.h.Reset()
	start := g.off
	w := &writeErr{w: g.w}
	n, err := io.Copy(io.MultiWriter(w, g.h), r)
	g.off += n
	if w.err != nil {
		return SpoolLoc{}, sum, g.fail(fmt.Errorf("spool: writing body: %w", w.err))
	}
	if err != nil {
		// The body stream failed; the bytes written stay unreferenced.
		return SpoolLoc{}, sum, fmt.Errorf("spool: writing body: %w", err)
	}
	copy(sum[:], g.h.Sum(nil))
	return SpoolLoc{Segment: g.name, Offset: start, Size: n}, sum, nil
}

// WriteBytes is Write for an in-memory body (no copy through io.Copy).
func (g *Segment) WriteBytes(b []byte) (SpoolLoc, [32]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return SpoolLoc{}, [32]byte{}, g.broken()
	}
	start := g.off
	if _, err := g.w.Write(b); err != nil {
		return SpoolLoc{}, [32]byte{}, g.fail(fmt.Errorf("spool: writing body: %w", err))
	}
	g.off += int64(len(b))
	return SpoolLoc{Segment: g.name, Offset: start, Size: int64(len(b))}, sha256.Sum256(b), nil
}

// Sync flushes and fsyncs the segment.
func (g *Segment) Sync() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return g.broken()
	}
	if err := g.w.Flush(); err != nil {
		return g.fail(fmt.Errorf("spool: writing bodies to disk: %w", err))
	}
	if err := g.f.Sync(); err != nil {
		return g.fail(fmt.Errorf("spool: fsync: %w", err))
	}
	g.synced = g.off
	return nil
}

// Close closes the segment (it stays on disk until pushed bodies are cleaned).
func (g *Segment) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var err error
	if g.err == nil {
		err = g.w.Flush()
	}
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
