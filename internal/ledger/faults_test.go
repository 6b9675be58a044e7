package ledger

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/internal/evidence"
)

// enospcWriter writes n bytes to w, then fails like a full disk.
type enospcWriter struct {
	f *os.File
	n int
}

func (e *enospcWriter) Write(p []byte) (int, error) {
	m := min(len(p), e.n)
	if m > 0 {
		if _, err := e.f.Write(p[:m]); err != nil {
			return 0, err
		}
		e.n -= m
	}
	if m < len(p) {
		return m, &os.PathError{Op: "write", Path: e.f.Name(), Err: syscall.ENOSPC}
	}
	return m, nil
}

func pendingFor(t *testing.T, seg *Segment, subject string, body []byte) Pending {
	t.Helper()
	loc, sum, err := seg.WriteBytes(body)
	if err != nil {
		t.Fatal(err)
	}
	return Pending{Loc: loc, Record: evidence.Record{
		V: evidence.Version, Agent: "agent-1", Collector: "c1", CollectorType: "exec", RunID: "r1",
		Type: "test.item", Subject: subject, Controls: []string{"CC7.2"},
		CollectedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), ContentType: "application/json",
		Size: int64(len(body)), SHA256: fmt.Sprintf("%x", sum),
	}}
}

// A write that meets a full disk cuts the segment back to what was synced
// (the space goes back to the other collectors) and fails every later
// write and sync of that segment.
func TestFullDiskCutsSegmentBackToSynced(t *testing.T) {
	l, dir := openTest(t)
	seg, err := l.NewSegment()
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	first := []byte(`{"committed":true}`)
	if _, _, err := seg.WriteBytes(first); err != nil {
		t.Fatal(err)
	}
	if err := seg.Sync(); err != nil {
		t.Fatal(err)
	}
	seg.w = bufio.NewWriterSize(&enospcWriter{f: seg.f, n: 100}, 16)
	_, _, err = seg.WriteBytes([]byte(strings.Repeat("x", 4096)))
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "spool: writing body") {
		t.Fatalf("write on a full disk: %v", err)
	}
	st, err := os.Stat(filepath.Join(dir, SpoolDir, seg.name+segmentExt))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != int64(len(first)) {
		t.Fatalf("segment is %d bytes after the failed write, want the %d synced", st.Size(), len(first))
	}
	if _, _, err := seg.WriteBytes([]byte("small")); err == nil || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a later write: %v, want the earlier ENOSPC", err)
	}
	if err := seg.Sync(); err == nil {
		t.Fatal("Sync of a failed segment succeeded")
	}
}

// A segment that cannot be synced fails only the commits that use it; the
// other commits of the same group are written.
func TestFailedSegmentFailsOnlyItsCommits(t *testing.T) {
	l, _ := openTest(t)
	bad, err := l.NewSegment()
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	good, err := l.NewSegment()
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	pb := pendingFor(t, bad, "bad", []byte(`{"b":1}`))
	// The body waits in the buffer; flushing it at the commit meets a full disk.
	bad.w = bufio.NewWriterSize(&enospcWriter{f: bad.f}, 16)
	bad.w.Write([]byte(`{"b":1}`))
	pg := pendingFor(t, good, "good", []byte(`{"g":1}`))
	cur := "c"
	ra := &commitReq{c: &Commit{Records: []Pending{pb}, Segment: bad, Collector: "bad", Cursor: &cur}, done: make(chan commitRes, 1)}
	rb := &commitReq{c: &Commit{Records: []Pending{pg}, Segment: good, Collector: "good", Cursor: &cur}, done: make(chan commitRes, 1)}
	l.apply([]*commitReq{ra, rb})
	if res := <-ra.done; !errors.Is(res.err, syscall.ENOSPC) {
		t.Fatalf("commit on the failed segment: %v, want ENOSPC", res.err)
	}
	if res := <-rb.done; res.err != nil {
		t.Fatalf("commit on the healthy segment failed with its neighbour: %v", res.err)
	}
	if l.Size() != 1 {
		t.Fatalf("ledger holds %d records, want 1", l.Size())
	}
	if c, _ := l.Cursor("good"); c != "c" {
		t.Fatalf("good's cursor %q", c)
	}
	if c, _ := l.Cursor("bad"); c != "" {
		t.Fatalf("bad's cursor %q was committed", c)
	}
}

// A group transaction that fails is retried commit by commit: only the
// commit that cannot be written fails.
func TestFailedGroupRetriedCommitByCommit(t *testing.T) {
	l, _ := openTest(t)
	seg, err := l.NewSegment()
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	cur := "c"
	// A cursor without a collector name cannot be written.
	bad := &commitReq{c: &Commit{Records: []Pending{pendingFor(t, seg, "bad", []byte(`{"b":1}`))}, Segment: seg, Cursor: &cur}, done: make(chan commitRes, 1)}
	ok := &commitReq{c: &Commit{Records: []Pending{pendingFor(t, seg, "ok", []byte(`{"o":1}`))}, Segment: seg, Collector: "ok", Cursor: &cur}, done: make(chan commitRes, 1)}
	l.apply([]*commitReq{bad, ok})
	if res := <-bad.done; res.err == nil || !strings.Contains(res.err.Error(), "cursor without a collector name") {
		t.Fatalf("bad commit: %v", res.err)
	}
	res := <-ok.done
	if res.err != nil || res.first != 0 {
		t.Fatalf("good commit: first %d, %v; want 0, nil", res.first, res.err)
	}
	if l.Size() != 1 {
		t.Fatalf("ledger holds %d records, want 1", l.Size())
	}
	var subject string
	l.View(func(v *Viewer) error {
		r, err := evidence.Decode(v.Record(0))
		if err == nil {
			subject = r.Subject
		}
		return err
	})
	if subject != "ok" {
		t.Fatalf("record 0 is %q, want the good commit's", subject)
	}
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errors.New("connection reset by peer")
	}
	m := min(len(p), r.n)
	for i := range p[:m] {
		p[i] = 'x'
	}
	r.n -= m
	return m, nil
}

// A streamed body that meets a full disk breaks the segment like a small
// one; a body stream that fails on its own side (the vendor's connection)
// does not: the segment takes the next body.
func TestStreamedBodyFailures(t *testing.T) {
	l, _ := openTest(t)
	seg, err := l.NewSegment()
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	if _, _, err := seg.Write(&failingReader{n: 5000}); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("failing body stream: %v", err)
	}
	loc, sum, err := seg.Write(strings.NewReader(`{"next":true}`))
	if err != nil {
		t.Fatalf("the segment refused a body after the collector's stream failed: %v", err)
	}
	if err := seg.Sync(); err != nil {
		t.Fatal(err)
	}
	rc, err := l.OpenSpool(loc)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, loc.Size)
	if _, err := rc.Read(got); err != nil || string(got) != `{"next":true}` || fmt.Sprintf("%x", sum) == "" {
		t.Fatalf("body after a failed stream reads back %q, %v", got, err)
	}
	rc.Close()

	seg.w = bufio.NewWriterSize(&enospcWriter{f: seg.f, n: 10}, 16)
	if _, _, err := seg.Write(strings.NewReader(strings.Repeat("y", 1000))); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("streamed body on a full disk: %v", err)
	}
	if _, _, err := seg.Write(strings.NewReader("z")); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a later body: %v, want the earlier ENOSPC", err)
	}
}
