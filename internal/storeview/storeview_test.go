package storeview_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/engine"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/publog"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
	"github.com/tickmark-dev/tickmark/internal/s3test"
	"github.com/tickmark-dev/tickmark/internal/store"
	"github.com/tickmark-dev/tickmark/internal/storeview"
	"github.com/tickmark-dev/tickmark/internal/verify"
)

var t0 = time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)

// agent is a ledger with a signing key, as an agent's data dir holds.
type agent struct {
	dir      string
	l        *ledger.Ledger
	key      *ledger.Key
	n        int
	controls []string
}

func newAgent(t testing.TB, id string) *agent {
	t.Helper()
	dir := t.TempDir()
	l, err := ledger.Open(dir, id, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	k, err := ledger.GenerateKey(filepath.Join(dir, ledger.KeyFile), ledger.Origin(id))
	if err != nil {
		t.Fatal(err)
	}
	return &agent{dir: dir, l: l, key: k, controls: []string{"CC6.1", "CC7.2"}}
}

// commit adds n records (bodies of size bytes) and signs a checkpoint.
func (a *agent) commit(t testing.TB, n, size int) {
	t.Helper()
	seg, err := a.l.NewSegment()
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	var ps []ledger.Pending
	for i := 0; i < n; i++ {
		a.n++
		body := []byte(fmt.Sprintf(`{"item":%d,"pad":%q}`, a.n, strings.Repeat("x", max(0, size-20))))
		loc, sum, err := seg.WriteBytes(body)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, ledger.Pending{Loc: loc, Record: evidence.Record{V: evidence.Version, Agent: a.l.Agent(), Collector: "items", CollectorType: "counter",
			RunID: "run-1", Type: "counter.item", Subject: fmt.Sprintf("item-%d", a.n), Controls: a.controls,
			CollectedAt: t0.Add(time.Duration(a.n) * time.Minute), Source: collectors.Source{System: "counter"}, ContentType: "application/json",
			Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}})
	}
	if _, err := a.l.Commit(context.Background(), &ledger.Commit{Records: ps, Segment: seg}); err != nil {
		t.Fatal(err)
	}
	if err := a.l.AddKey(a.key.ID, a.key.Verifier); err != nil {
		t.Fatal(err)
	}
	if _, err := a.l.Sign(a.key); err != nil {
		t.Fatal(err)
	}
}

func (a *agent) push(t *testing.T, st store.Store) {
	t.Helper()
	if _, err := engine.Push(context.Background(), a.l, store.NewBucket(st, "soc2/"), engine.PushOptions{}); err != nil {
		t.Fatalf("push: %v", err)
	}
}

func fsView(t *testing.T) *storeview.View {
	st, err := store.OpenFilesystem(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &storeview.View{Bucket: store.NewBucket(st, "soc2/")}
}

func problems(r *verify.Report) string {
	var b strings.Builder
	for _, p := range r.Problems {
		b.WriteString(p.String() + "\n")
	}
	return b.String()
}

func TestVerifyAcrossAgentsAndFind(t *testing.T) {
	v := fsView(t)
	a, b := newAgent(t, "prod-1"), newAgent(t, "prod-2")
	a.commit(t, 300, 50) // more than one tile
	a.push(t, v.Bucket.Store())
	// A key rotation between pushes: the new key is announced by the old.
	if _, nk, err := a.l.Rotate(filepath.Join(a.dir, ledger.KeyFile)); err != nil {
		t.Fatal(err)
	} else {
		a.key = nk
	}
	a.commit(t, 10, 50)
	a.push(t, v.Bucket.Store())
	b.commit(t, 4, 50)
	b.push(t, v.Bucket.Store())
	ctx := context.Background()
	fr, err := v.Verify(ctx, "", verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !fr.OK || len(fr.Agents) != 2 {
		t.Fatalf("Verify: ok=%v agents=%d\n%s%s", fr.OK, len(fr.Agents), problems(fr.Agents[0]), problems(fr.Agents[1]))
	}
	if r := fr.Agents[0]; r.Agent != "prod-1" || r.Records != 310 || r.TreeSize != 310 || r.StoreCheckpoints != 2 || r.BodiesChecked != 620 {
		t.Errorf("prod-1 report = %+v", r)
	}
	var got []string
	q := ledger.Query{Control: "CC7.2", From: t0.Add(305 * time.Minute)}
	if err := readmodel.FindInBucket(ctx, v, "", q, func(r *evidence.Record) error { got = append(got, r.Agent+"/"+r.Subject); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := "[prod-1/item-305 prod-1/item-306 prod-1/item-307 prod-1/item-308 prod-1/item-309 prod-1/item-310]"; fmt.Sprint(got) != want {
		t.Errorf("Find = %v, want %s", got, want)
	}
	got = nil
	if err := readmodel.FindInBucket(ctx, v, "prod-2", ledger.Query{Limit: 2}, func(r *evidence.Record) error { got = append(got, r.Subject); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[item-1 item-2]" {
		t.Errorf("Find prod-2 limit 2 = %v", got)
	}
}

func rewrite(t *testing.T, v *storeview.View, key string, f func([]byte) []byte) {
	t.Helper()
	p := filepath.Join(v.Bucket.Store().(*store.Filesystem).Root(), filepath.FromSlash(key))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, f(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRestoreFromAFilesystemStoreKeepsKeysAndAnnouncements(t *testing.T) {
	v := fsView(t)
	a := newAgent(t, "prod-1")
	a.commit(t, 20, 40)
	a.push(t, v.Bucket.Store())
	if _, nk, err := a.l.Rotate(filepath.Join(a.dir, ledger.KeyFile)); err != nil {
		t.Fatal(err)
	} else {
		a.key = nk
	}
	a.commit(t, 5, 40)
	a.push(t, v.Bucket.Store())
	if err := engine.PublishState(context.Background(), a.l, v.Bucket, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(t.TempDir(), "prod-1", ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rep, err := v.Restore(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 25 || rep.Checkpoints != 2 || rep.Keys != 2 || rep.State == "" {
		t.Errorf("restore = %+v", rep)
	}
	anns, _ := l.Announcements()
	keys, _ := l.Keys()
	if len(anns) != 1 || len(keys) != 2 {
		t.Errorf("restored %d announcements and %d keys, want 1 and 2", len(anns), len(keys))
	}
	vr, err := verify.Ledger(context.Background(), l, verify.Options{Bucket: v.Bucket})
	if err != nil || !vr.OK {
		t.Fatalf("verify of the restored ledger: %v\n%s", err, problems(vr))
	}
	// An agent with nothing published: a clear error.
	other, err := ledger.Open(t.TempDir(), "prod-9", ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := v.Restore(context.Background(), other); err == nil || !strings.Contains(err.Error(), "agent prod-9 has no checkpoint in filesystem store") {
		t.Errorf("restore of an unknown agent = %v", err)
	}
	// A second restore into a ledger that holds records is refused.
	if _, err := v.Restore(context.Background(), l); err == nil || !strings.Contains(err.Error(), "restore only into an empty data dir") {
		t.Errorf("restore into a full ledger = %v", err)
	}
}

func TestVerifyNamesTamperedObjects(t *testing.T) {
	v := fsView(t)
	a := newAgent(t, "prod-1")
	a.commit(t, 5, 40)
	a.push(t, v.Bucket.Store())
	// An altered record in the entry bundle, an altered evidence body.
	bundle := v.Bucket.Log("prod-1").Locate(publog.TilePath(tlog.Tile{H: 8, L: -1, N: 0, W: 5}))
	rewrite(t, v, bundle, func(b []byte) []byte { return bytes.Replace(b, []byte("item-3"), []byte("item-9"), 1) })
	var rec3 *evidence.Record
	_ = a.l.Find(ledger.Query{}, func(r *evidence.Record, _ []byte) error {
		if r.Seq == 1 {
			rec3 = r
		}
		return nil
	})
	body := v.Bucket.EvidenceObject("CC7.2", rec3)
	rewrite(t, v, body, func(b []byte) []byte { return append(b, ' ') })
	r, err := v.VerifyAgent(context.Background(), "prod-1", verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := problems(r)
	for _, want := range []string{
		"record 2: entry bundle record does not match the signed log (altered) [" + bundle + "]",
		"record 1 (counter.item): evidence object altered",
		body,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("problems lack %q:\n%s", want, out)
		}
	}
	if r.OK {
		t.Error("report OK with tampered objects")
	}
}

func TestVerifyDetectsTwoAgentsWritingOneID(t *testing.T) {
	v := fsView(t)
	a, b := newAgent(t, "prod-1"), newAgent(t, "prod-1")
	a.commit(t, 3, 30)
	a.push(t, v.Bucket.Store())
	// b writes past the app's ownership check (a race, or an old binary):
	// its log has other records at other sizes.
	b.commit(t, 5, 31)
	b.push(t, v.Bucket.Store())
	r, err := v.VerifyAgent(context.Background(), "prod-1", verify.Options{SkipBodies: true})
	if err != nil {
		t.Fatal(err)
	}
	if out := problems(r); !strings.Contains(out, `identity: not consistent with checkpoint 5: the log forked (two agents writing as "prod-1"`) {
		t.Errorf("fork not reported:\n%s", out)
	}

	// A checkpoint signed by a key the agent never announced.
	skey, _, err := note.GenerateKey(rand.Reader, ledger.Origin("prod-1"))
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	msg, err := note.Sign(&note.Note{Text: ledger.FormatCheckpoint(ledger.Origin("prod-1"), 7, tlog.Hash{1})}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Bucket.PutLog(context.Background(), "prod-1", publog.CheckpointPath(7), msg); err != nil {
		t.Fatal(err)
	}
	r, err = v.VerifyAgent(context.Background(), "prod-1", verify.Options{SkipBodies: true})
	if err != nil {
		t.Fatal(err)
	}
	if out := problems(r); !strings.Contains(out, "signed by a key agent prod-1 never announced under soc2/log/prod-1/keys/ (tickmark/prod-1+") {
		t.Errorf("unannounced key not reported:\n%s", out)
	}
}

// stopAfter stops the S3 server once n objects were written.
type stopAfter struct {
	store.Store
	n    int64
	puts atomic.Int64
	stop func()
}

func (s *stopAfter) Put(ctx context.Context, key string, body io.Reader, size int64, sum [32]byte) error {
	err := s.Store.Put(ctx, key, body, size, sum)
	if err == nil && s.puts.Add(1) == s.n {
		s.stop()
	}
	return err
}

func TestS3OutageMidPushThenEachObjectOnce(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "evidence", true)
	t.Setenv("K", srv.AccessKey)
	t.Setenv("S", srv.SecretKey)
	id, _ := collectors.NewSecret("env:K")
	sec, _ := collectors.NewSecret("env:S")
	cfg := store.Config{Type: "s3", Bucket: "evidence", Prefix: "soc2/", Region: srv.Region, Endpoint: srv.Endpoint, PathStyle: true,
		AccessKeyID: &id, SecretAccessKey: &sec, ObjectLock: &store.ObjectLock{Mode: "COMPLIANCE", RetainDays: 1}}
	st, err := store.OpenS3(context.Background(), cfg, store.S3Options{MaxBackoff: 50 * time.Millisecond, MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	a := newAgent(t, "prod-1")
	a.commit(t, 40, 100)
	lay := store.NewBucket(st, "soc2/")
	_, err = engine.Push(context.Background(), a.l, store.NewBucket(&stopAfter{Store: st, n: 25, stop: func() { srv.Stop(t) }}, "soc2/"), engine.PushOptions{Concurrency: 4})
	if err == nil {
		t.Fatal("push with the server stopped after 25 objects succeeded")
	}
	if n, _ := a.l.OutboxLen(); n != 40 {
		t.Fatalf("outbox holds %d after the failed push, want all 40 (a batch is cleared only when complete)", n)
	}
	srv.Restart(t)
	res, err := engine.Push(context.Background(), a.l, lay, engine.PushOptions{Concurrency: 4})
	if err != nil {
		t.Fatalf("push after the restart: %v", err)
	}
	if res.Bodies != 40 || res.Backlog != 0 {
		t.Errorf("push after restart = %+v", res)
	}
	c := srv.Client()
	out, err := c.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String("evidence"), Prefix: aws.String("soc2/controls/")})
	if err != nil {
		t.Fatal(err)
	}
	perKey := map[string]int{}
	for _, v := range out.Versions {
		perKey[aws.ToString(v.Key)]++
	}
	if len(perKey) != 80 {
		t.Errorf("%d evidence objects, want 80 (40 records x 2 controls)", len(perKey))
	}
	for k, n := range perKey {
		if n != 1 {
			t.Errorf("%s written %d times", k, n)
		}
	}
	v := &storeview.View{Bucket: lay}
	r, err := v.VerifyAgent(context.Background(), "prod-1", verify.Options{})
	if err != nil || !r.OK || r.BodiesChecked != 80 {
		t.Fatalf("verify from the bucket: %v %+v\n%s", err, r, problems(r))
	}
}
