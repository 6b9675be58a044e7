package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/publog"
)

// TestBucketFilesEvidenceAndLogs: a body put for a record lands under each
// of its controls at the documented key, opens again, is located as a
// file:// URL, and its agent (whose log is written through PutLog) is
// listed; a stray key under controls/ parses as no evidence name.
func TestBucketFilesEvidenceAndLogs(t *testing.T) {
	ctx := context.Background()
	st, err := OpenFilesystem(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := NewBucket(st, "/soc2/")
	body := []byte(`{"users":[]}`)
	sum := sha256.Sum256(body)
	r := &evidence.Record{Agent: "prod-1", Seq: 7, Type: "okta.users", Controls: []string{"CC6.1", "CC6.2"},
		CollectedAt: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC), ContentType: "application/json", Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}
	for _, c := range r.Controls {
		if err := b.PutEvidence(ctx, c, r, strings.NewReader(string(body))); err != nil {
			t.Fatal(err)
		}
	}
	want := "soc2/controls/CC6.2/2026/03/04/okta.users/prod-1-000000000007-" + r.SHA256[:8] + ".json"
	if got := b.EvidenceObject("CC6.2", r); got != want {
		t.Errorf("EvidenceObject = %q, want %q", got, want)
	}
	rc, err := b.OpenEvidence(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != string(body) {
		t.Errorf("OpenEvidence = %q", got)
	}
	if loc, want := b.Location(r), "file://"+filepath.ToSlash(filepath.Join(st.Root(), "soc2/controls/CC6.1/2026/03/04/okta.users/prod-1-000000000007-"+r.SHA256[:8]+".json")); loc != want {
		t.Errorf("Location = %q, want %q", loc, want)
	}
	if err := b.PutLog(ctx, "prod-1", publog.CheckpointPath(1), []byte("note\n")); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "soc2/controls/CC6.1/planted.txt", strings.NewReader("x"), 1, sha256.Sum256([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	if agents, err := b.Agents(ctx); err != nil || len(agents) != 1 || agents[0] != "prod-1" {
		t.Errorf("Agents = %v, %v", agents, err)
	}
	if data, err := b.Log("prod-1").Read(ctx, publog.CheckpointPath(1)); err != nil || string(data) != "note\n" {
		t.Errorf("Log.Read = %q, %v", data, err)
	}
	var names []string
	err = b.ListEvidence(ctx, func(key string, n EvidenceName, ok bool) error {
		if ok {
			names = append(names, n.Control+" "+n.Agent+" "+n.Type)
		} else {
			names = append(names, "stray "+key)
		}
		return nil
	})
	if got := strings.Join(names, "|"); err != nil || got != "CC6.1 prod-1 okta.users|stray soc2/controls/CC6.1/planted.txt|CC6.2 prod-1 okta.users" {
		t.Errorf("ListEvidence = %s, %v", got, err)
	}
	missing := *r
	missing.Seq = 8
	if _, err := b.OpenEvidence(ctx, &missing); err == nil || !strings.Contains(err.Error(), "body of record 8 (okta.users) not in filesystem store") {
		t.Errorf("OpenEvidence of a missing body: %v", err)
	}
}
