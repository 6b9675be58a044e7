package readmodel_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/controls/controlstest"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
	"github.com/tickmark-dev/tickmark/internal/store"
	"github.com/tickmark-dev/tickmark/internal/storeview"
)

// build makes a ledger with 40 days of two collectors, pushed (bodies and
// published log) to a filesystem store.
func build(t *testing.T) *controlstest.Built {
	t.Helper()
	day0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	b, err := controlstest.Build(context.Background(), controlstest.Plan{
		Dir: t.TempDir(), Agent: "rm", From: day0, To: day0.AddDate(0, 0, 40), Push: true,
		Collectors: []controlstest.Collector{
			{Name: "idp", Type: "okta", Hour: 2, Controls: map[string][]string{"idp.users": {"CC6.1", "CC6.2"}},
				Emit: func(day time.Time) []collectors.Artifact {
					var out []collectors.Artifact
					for i := range 4 {
						out = append(out, collectors.Artifact{Type: "idp.users", Subject: fmt.Sprintf("u%d", i), ContentType: "application/json",
							Body: controlstest.JSON(`{"day":%q,"i":%d}`, day.Format(time.DateOnly), i)})
					}
					return out
				}},
			{Name: "scm", Type: "github", Hour: 5, Controls: map[string][]string{"scm.prs": {"CC8.1"}},
				Emit: func(day time.Time) []collectors.Artifact {
					return []collectors.Artifact{{Type: "scm.prs", Subject: "repo", ContentType: "application/json", Body: controlstest.JSON(`{"day":%q}`, day)}}
				},
				Skip: func(day time.Time) bool { return day.Day()%3 == 0 }},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// TestLedgerAndBucketAgree holds both implementations to the contract: over
// one ledger and the bucket it published to, every query answers the same
// records with the same bytes and bodies; only run visibility differs.
func TestLedgerAndBucketAgree(t *testing.T) {
	b := build(t)
	ctx := context.Background()
	led := &readmodel.Ledger{L: b.Ledger, Bucket: b.Bucket}
	bkt, err := readmodel.OpenBucket(ctx, &storeview.View{Bucket: b.Bucket}, "rm")
	if err != nil {
		t.Fatal(err)
	}
	if !led.RunsVisible() || bkt.RunsVisible() {
		t.Fatalf("RunsVisible: ledger %v, bucket %v; want true, false", led.RunsVisible(), bkt.RunsVisible())
	}
	nruns := 0
	if err := led.Runs(time.Time{}, time.Time{}, func(*readmodel.Run) error { nruns++; return nil }); err != nil || nruns == 0 {
		t.Fatalf("ledger runs: %d, %v", nruns, err)
	}
	if err := bkt.Runs(time.Time{}, time.Time{}, func(*readmodel.Run) error { t.Fatal("the bucket reported a run"); return nil }); err != nil {
		t.Fatal(err)
	}
	from, to := time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC), time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	queries := []readmodel.Query{
		{}, {Type: "idp.users", From: from, To: to}, {Control: "CC8.1"}, {Control: "CC6.2", From: from},
		{Collector: "scm", To: to}, {Type: "idp.users", Limit: 7}, {Type: "nope"},
	}
	for _, q := range queries {
		dump := func(src readmodel.Source) string {
			var sb strings.Builder
			err := src.Find(q, func(r *evidence.Record, data []byte) error {
				rc, err := src.Body(ctx, r)
				if err != nil {
					return err
				}
				body, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					return err
				}
				if h := sha256.Sum256(body); hex.EncodeToString(h[:]) != r.SHA256 {
					return fmt.Errorf("record %d: body does not hash to its sha256", r.Seq)
				}
				again, err := src.Record(r.Seq)
				if err != nil || again.SHA256 != r.SHA256 {
					return fmt.Errorf("Record(%d) = %v, %v", r.Seq, again, err)
				}
				if loc := src.Location(r); !strings.HasPrefix(loc, "file:///") || !strings.HasSuffix(loc, r.SHA256[:8]+".json") {
					return fmt.Errorf("record %d: location %q, want a file:// URL of its evidence object", r.Seq, loc)
				}
				fmt.Fprintf(&sb, "%d %s %x %s\n", r.Seq, r.CollectedAt.Format(time.RFC3339Nano), sha256.Sum256(data), src.Location(r))
				return nil
			})
			if err != nil {
				t.Fatalf("%+v: %v", q, err)
			}
			return sb.String()
		}
		l, s := dump(led), dump(bkt)
		if l != s {
			t.Errorf("query %+v: ledger and bucket differ:\nledger:\n%s\nbucket:\n%s", q, l, s)
		}
		if q.Type == "idp.users" && q.Limit == 0 && strings.Count(l, "\n") != 4*21 {
			t.Errorf("query %+v: %d records, want 84", q, strings.Count(l, "\n"))
		}
		if q.Control == "CC8.1" && !strings.Contains(l, "file://"+filepath.ToSlash(b.Bucket.Store().(*store.Filesystem).Root())+"/controls/CC8.1/2026/06/02/scm.prs/rm-") {
			t.Errorf("locations are not file URLs under the store:\n%s", l)
		}
	}
	scan := func(src readmodel.Source) (out []uint64) {
		if err := src.ScanType("scm.prs", from, to, func(_ int64, seq uint64) error { out = append(out, seq); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if l, s := scan(led), scan(bkt); fmt.Sprint(l) != fmt.Sprint(s) || len(l) != 14 {
		t.Errorf("ScanType: ledger %v, bucket %v (want 14 each)", l, s)
	}
	lc, _ := led.Checkpoints()
	bc, _ := bkt.Checkpoints()
	last := lc[len(lc)-1]
	if bc[len(bc)-1].Size != last.Size || bc[len(bc)-1].Root != last.Root {
		t.Errorf("latest checkpoint: bucket %d, ledger %d", bc[len(bc)-1].Size, last.Size)
	}
	lp, err1 := led.Prove(17, last.Size)
	bp, err2 := bkt.Prove(17, last.Size)
	if err1 != nil || err2 != nil || fmt.Sprint(lp) != fmt.Sprint(bp) {
		t.Errorf("inclusion proofs differ: %v %v", err1, err2)
	}
	if _, err := bkt.Prove(17, lc[0].Size); err == nil {
		t.Error("the bucket proved against an earlier checkpoint; it serves only its latest")
	}
}
