package ledger

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/store"
)

// commitControls commits one record per entry of controls (a record
// committed by an older agent, before names were checked, may name a
// control such as "A..B" that no store accepts as a key segment).
func commitControls(t *testing.T, l *Ledger, controls ...string) {
	t.Helper()
	seg, err := l.NewSegment()
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	var pend []Pending
	for i, c := range controls {
		body := []byte(fmt.Sprintf(`{"control":%q}`, c))
		loc, sum, err := seg.WriteBytes(body)
		if err != nil {
			t.Fatal(err)
		}
		pend = append(pend, Pending{Loc: loc, Record: evidence.Record{
			V: evidence.Version, Agent: "agent-1", Collector: "c1", CollectorType: "exec", RunID: "r1",
			Type: "test.item", Subject: fmt.Sprintf("item-%d", i), Controls: []string{c},
			CollectedAt: time.Date(2026, 11, 1, i, 0, 0, 0, time.UTC), ContentType: "application/json",
			Size: int64(len(body)), SHA256: fmt.Sprintf("%x", sum),
		}})
	}
	if _, err := l.Commit(context.Background(), &Commit{Records: pend, Segment: seg, Collector: "c1"}); err != nil {
		t.Fatal(err)
	}
}

func TestUnpushableOutboxEntryBlocksNothingBehindIt(t *testing.T) {
	l, _ := openTest(t)
	commitControls(t, l, "CC7.2", "A..B", "CC8.1", "CC6.1")
	st, err := store.OpenFilesystem(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	lay := store.NewLayout("")
	// Batches of one: the stuck entry is at the head of every later batch.
	res, err := l.Push(context.Background(), st, lay, PushOptions{Batch: 1})
	if err != nil {
		t.Fatalf("push failed for everyone because of one entry: %v", err)
	}
	if res.Bodies != 3 || res.Backlog != 1 || len(res.Unpushable) != 1 || res.Unpushable[0].Seq != 1 ||
		!strings.Contains(res.Unpushable[0].Reason, `invalid control ID "A..B"`) {
		t.Fatalf("push result %+v", res)
	}
	err = l.Find(Query{}, func(r *evidence.Record, _ []byte) error {
		_, err := store.ReadAll(context.Background(), st, lay.Evidence(r.Controls[0], r))
		if r.Seq == 1 && err == nil {
			t.Errorf("the A..B record reached the store")
		} else if r.Seq != 1 && err != nil {
			t.Errorf("record %d behind the stuck entry was not pushed: %v", r.Seq, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Later entries keep going out; the stuck one is reported every time.
	commitControls(t, l, "CC9.9")
	res, err = l.Push(context.Background(), st, lay, PushOptions{})
	if err != nil || res.Bodies != 1 || res.Backlog != 1 || len(res.Unpushable) != 1 {
		t.Fatalf("second push: %+v, %v", res, err)
	}
	// The store's own refusal counts the same way (a key no rule predicted).
	commitControls(t, l, "CC1.1")
	res, err = l.Push(context.Background(), refusingStore{Store: st, bad: "CC1.1"}, lay, PushOptions{})
	if err != nil || res.Backlog != 2 || len(res.Unpushable) != 2 || !strings.Contains(res.Unpushable[1].Reason, "invalid object key") {
		t.Fatalf("push to a store refusing a key: %+v, %v", res, err)
	}
}

// refusingStore refuses keys under one control as the store would refuse
// a key it cannot hold.
type refusingStore struct {
	store.Store
	bad string
}

func (s refusingStore) Put(ctx context.Context, key string, body io.Reader, size int64, sum [32]byte) error {
	if strings.Contains(key, "/"+s.bad+"/") {
		return fmt.Errorf("%w %q", store.ErrInvalidKey, key)
	}
	return s.Store.Put(ctx, key, body, size, sum)
}
