package ledger

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tickmark-dev/tickmark/internal/evidence"
)

func openTest(t testing.TB) (*Ledger, string) {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(dir, "agent-1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, dir
}

// appendN commits n records with bodies, batch at a time, and returns their bodies.
func appendN(t testing.TB, l *Ledger, n, batch int, cursor func(i int) *string) [][]byte {
	t.Helper()
	seg, err := l.NewSegment()
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	var bodies [][]byte
	var pend []Pending
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		body := []byte(fmt.Sprintf(`{"i":%d}`, i))
		loc, sum, err := seg.WriteBytes(body)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, body)
		pend = append(pend, Pending{Loc: loc, Record: evidence.Record{
			V: evidence.Version, Agent: "agent-1", Collector: "c1", CollectorType: "exec", RunID: "r1",
			Type: "test.item", Subject: fmt.Sprintf("item-%d", i), Controls: []string{"CC7.2"},
			CollectedAt: base.Add(time.Duration(i) * time.Hour), ContentType: "application/json",
			Size: int64(len(body)), SHA256: fmt.Sprintf("%x", sum),
		}})
		if len(pend) == batch || i == n-1 {
			var cur *string
			if cursor != nil {
				cur = cursor(i)
			}
			if _, err := l.Commit(context.Background(), &Commit{Records: pend, Segment: seg, Collector: "c1", Cursor: cur}); err != nil {
				t.Fatal(err)
			}
			pend = nil
		}
	}
	return bodies
}

func TestMerkleTreeMatchesTlogAndProves(t *testing.T) {
	l, _ := openTest(t)
	appendN(t, l, 1000, 97, nil)
	if l.Size() != 1000 {
		t.Fatalf("size %d, want 1000", l.Size())
	}
	key, err := GenerateKey(filepath.Join(t.TempDir(), "k"), l.OriginLine())
	if err != nil {
		t.Fatal(err)
	}
	cp, err := l.Sign(key)
	if err != nil {
		t.Fatal(err)
	}
	// Recompute the root from the records alone, as an outsider would.
	var leaves []tlog.Hash
	err = l.View(func(v *Viewer) error {
		return v.Records(0, func(seq uint64, data []byte) error {
			leaves = append(leaves, tlog.RecordHash(data))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := rfc6962Root(leaves); got != cp.Root {
		t.Fatalf("checkpoint root %s, recomputed %s", cp.Root, got)
	}
	// Inclusion proofs for a few records and a consistency proof.
	err = l.View(func(v *Viewer) error {
		for _, i := range []int64{0, 1, 255, 256, 511, 999} {
			p, err := tlog.ProveRecord(1000, i, v.Hashes)
			if err != nil {
				return err
			}
			if err := tlog.CheckRecord(p, 1000, cp.Root, i, leaves[i]); err != nil {
				return fmt.Errorf("record %d: %v", i, err)
			}
		}
		old := rfc6962Root(leaves[:300])
		p, err := tlog.ProveTree(1000, 300, v.Hashes)
		if err != nil {
			return err
		}
		return tlog.CheckTree(p, 1000, cp.Root, 300, old)
	})
	if err != nil {
		t.Fatal(err)
	}
	// The signed note opens with the published key and has the C2SP text.
	vs, _ := Verifiers(key.Verifier)
	n, err := note.Open(cp.Note, vs)
	if err != nil {
		t.Fatal(err)
	}
	if want := "tickmark/agent-1\n1000\n" + cp.Root.String() + "\n"; n.Text != want {
		t.Fatalf("checkpoint text %q, want %q", n.Text, want)
	}
}

// rfc6962Root is the RFC 6962 Merkle Tree Hash, written from the RFC.
func rfc6962Root(l []tlog.Hash) tlog.Hash {
	switch len(l) {
	case 0:
		return tlog.Hash{}
	case 1:
		return l[0]
	}
	k := 1
	for k*2 < len(l) {
		k *= 2
	}
	return tlog.NodeHash(rfc6962Root(l[:k]), rfc6962Root(l[k:]))
}

func TestCursorCommittedWithRecords(t *testing.T) {
	l, dir := openTest(t)
	appendN(t, l, 10, 5, func(i int) *string { s := fmt.Sprint(i + 1); return &s })
	if c, _ := l.Cursor("c1"); c != "10" {
		t.Fatalf("cursor %q, want 10", c)
	}
	// A commit that fails (a record too large to encode) writes neither
	// records nor cursor.
	seg, _ := l.NewSegment()
	defer seg.Close()
	loc, sum, _ := seg.WriteBytes([]byte("x"))
	cur := "should-not-land"
	bad := Pending{Loc: loc, Record: evidence.Record{V: 1, Agent: "agent-1", Type: "test.item", Subject: strings.Repeat("s", 70000), Controls: []string{"CC7.2"}, SHA256: fmt.Sprintf("%x", sum)}}
	good := bad
	good.Record.Subject = "ok"
	if _, err := l.Commit(context.Background(), &Commit{Records: []Pending{good, bad}, Segment: seg, Collector: "c1", Cursor: &cur}); err == nil {
		t.Fatal("commit of an oversized record succeeded")
	}
	if l.Size() != 10 {
		t.Fatalf("size %d after failed commit, want 10", l.Size())
	}
	if c, _ := l.Cursor("c1"); c != "10" {
		t.Fatalf("cursor %q after failed commit, want 10", c)
	}
	l.Close()
	l2, err := Open(dir, "agent-1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if l2.Size() != 10 {
		t.Fatalf("reopened size %d", l2.Size())
	}
}

func TestSecondOpenFailsWithLockedError(t *testing.T) {
	l, dir := openTest(t)
	_ = l
	start := time.Now()
	_, err := Open(dir, "agent-1", Options{LockTimeout: time.Second})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "ledger is locked by another process") {
		t.Fatalf("second open: %v", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("second open took %s", el)
	}
}

func TestWrongAgentRefused(t *testing.T) {
	l, dir := openTest(t)
	l.Close()
	_, err := Open(dir, "agent-2", Options{})
	if err == nil || !strings.Contains(err.Error(), `belongs to agent "agent-1"`) {
		t.Fatalf("got %v", err)
	}
}

func TestFilesArePrivate(t *testing.T) {
	l, dir := openTest(t)
	appendN(t, l, 3, 3, nil)
	if _, err := GenerateKey(filepath.Join(dir, KeyFile), l.OriginLine()); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, _ := d.Info()
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s has mode %04o, want %04o", p, st.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestWorldReadableKeyRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k")
	if _, err := GenerateKey(p, "tickmark/a"); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, 0o644)
	if _, err := LoadKey(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key accepted: %v", err)
	}
}

func TestKeyRoundTripsWhateverItsBase64(t *testing.T) {
	// Base64 key material often contains '+', the note format's separator.
	for i := 0; i < 50; i++ {
		p := filepath.Join(t.TempDir(), "k")
		k, err := GenerateKey(p, "tickmark/agent-1")
		if err != nil {
			t.Fatal(err)
		}
		l, err := LoadKey(p)
		if err != nil {
			t.Fatalf("loading a generated key: %v", err)
		}
		if l.Verifier != k.Verifier || l.ID != k.ID {
			t.Fatalf("loaded key differs: %s vs %s", l.Verifier, k.Verifier)
		}
	}
}
