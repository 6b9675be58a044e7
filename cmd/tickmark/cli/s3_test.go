package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tickmark-dev/tickmark/cmd/tickmark/cli"
	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/s3test"
	"github.com/tickmark-dev/tickmark/internal/tsa/tsatest"
)

// counter is a test collector: each run emits `count` items after the
// cursor (the last item number), filed under CC6.1 and CC7.2, and
// checkpoints the cursor after each one. afterEmit, if set, runs after
// each item (the outage test stops the S3 server from it).
type counterConfig struct {
	Count int `yaml:"count"`
}

var (
	hookMu    sync.Mutex
	afterEmit func(i int)
)

func setAfterEmit(t *testing.T, f func(int)) {
	hookMu.Lock()
	afterEmit = f
	hookMu.Unlock()
	t.Cleanup(func() { hookMu.Lock(); afterEmit = nil; hookMu.Unlock() })
}

func init() {
	collectors.Register(collectors.Definition{
		Type:          "counter",
		Summary:       "test collector",
		EvidenceTypes: []collectors.EvidenceType{{Name: "counter.item", Controls: []string{"CC6.1", "CC7.2"}}},
		NewConfig:     func() any { return &counterConfig{} },
		New: func(cfg any) (collectors.Collector, error) {
			n := cfg.(*counterConfig).Count
			return collectors.CollectorFunc(func(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
				last := 0
				if req.Cursor != "" {
					last, _ = strconv.Atoi(req.Cursor)
				}
				for i := last + 1; i <= last+n; i++ {
					body := fmt.Sprintf(`{"item":%d,"instance":%q}`, i, req.Instance)
					if err := emit.Emit(ctx, collectors.Artifact{Type: "counter.item", Subject: fmt.Sprintf("item-%d", i), ContentType: "application/json",
						Body: []byte(body), Source: collectors.Source{System: "counter", Endpoint: "/items"}}); err != nil {
						return err
					}
					if err := emit.Checkpoint(ctx, strconv.Itoa(i)); err != nil {
						return err
					}
					hookMu.Lock()
					f := afterEmit
					hookMu.Unlock()
					if f != nil {
						f(i)
					}
				}
				return nil
			}), nil
		},
	})
}

type fleet struct {
	t   *testing.T
	srv *s3test.Server
	dir string
}

func newFleet(t *testing.T) *fleet {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "evidence", true)
	t.Setenv("TEST_S3_ACCESS", srv.AccessKey)
	t.Setenv("TEST_S3_SECRET", srv.SecretKey)
	return &fleet{t: t, srv: srv, dir: t.TempDir()}
}

// config writes an agent configuration and returns its path.
func (f *fleet) config(name, agent string, count int) string {
	f.t.Helper()
	dataDir := filepath.Join(f.dir, name+"-data")
	y := fmt.Sprintf(`agent:
  id: %s
  data_dir: %s
  log_format: json
store:
  type: s3
  bucket: evidence
  prefix: soc2/
  region: us-east-1
  endpoint: %s
  path_style: true
  access_key_id: env:TEST_S3_ACCESS
  secret_access_key: env:TEST_S3_SECRET
  object_lock: {mode: COMPLIANCE, retain_days: 400}
collectors:
  - name: items
    type: counter
    counter: {count: %d}
`, agent, dataDir, f.srv.Endpoint, count)
	p := filepath.Join(f.dir, name+".yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fleet) dataDir(name string) string { return filepath.Join(f.dir, name+"-data") }

func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := tickmark(t, args...)
	if r.code != 0 {
		t.Fatalf("tickmark %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

type s3listed struct {
	Seq      uint64   `json:"seq"`
	Agent    string   `json:"agent"`
	Subject  string   `json:"subject"`
	SHA256   string   `json:"sha256"`
	Controls []string `json:"controls"`
	Objects  []string `json:"objects"`
}

func parseList(t *testing.T, out string) []s3listed {
	t.Helper()
	var recs []s3listed
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r s3listed
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("evidence list line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

func versionsOf(t *testing.T, c *s3.Client, key string) int {
	t.Helper()
	out, err := c.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String("evidence"), Prefix: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range out.Versions {
		if aws.ToString(v.Key) == key {
			n++
		}
	}
	return n
}

func TestS3RunOnceFilesLockedEvidenceAndVerifiesFromTheBucketAlone(t *testing.T) {
	f := newFleet(t)
	cfg := f.config("a", "prod-1", 4)
	r := mustRun(t, "run", "--once", "--config", cfg)
	if !strings.Contains(r.stdout, "pushed to s3 store bucket evidence") || !strings.Contains(r.stdout, "4 artifacts (8 objects)") {
		t.Errorf("run summary does not report the push:\n%s", r.stdout)
	}
	recs := parseList(t, mustRun(t, "evidence", "list", "--json", "--config", cfg).stdout)
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4", len(recs))
	}
	c := f.srv.Client()
	ctx := context.Background()
	for _, rec := range recs {
		if len(rec.Objects) != 2 || !strings.Contains(rec.Objects[0], "/controls/CC6.1/") || !strings.Contains(rec.Objects[1], "/controls/CC7.2/") {
			t.Fatalf("record %d objects = %v, want one under each of CC6.1 and CC7.2", rec.Seq, rec.Objects)
		}
		sum, _ := hex.DecodeString(rec.SHA256)
		for _, key := range rec.Objects {
			h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("evidence"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if got := aws.ToString(h.ChecksumSHA256); got != base64.StdEncoding.EncodeToString(sum) {
				t.Errorf("%s: server checksum %q, want the record's sha256 %s", key, got, rec.SHA256)
			}
			if h.ObjectLockMode != types.ObjectLockModeCompliance || h.ObjectLockRetainUntilDate == nil {
				t.Errorf("%s: lock %q until %v, want COMPLIANCE with a date", key, h.ObjectLockMode, h.ObjectLockRetainUntilDate)
			}
			vs, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("evidence"), Prefix: aws.String(key)})
			if err != nil || len(vs.Versions) != 1 {
				t.Fatalf("%s: versions %v, %v; want exactly one", key, vs, err)
			}
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("evidence"), Key: aws.String(key), VersionId: vs.Versions[0].VersionId}); err == nil {
				t.Errorf("%s: deleting the locked version succeeded", key)
			}
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("evidence"), Key: aws.String(key), Body: strings.NewReader("forged"), IfNoneMatch: aws.String("*")}); err == nil {
				t.Errorf("%s: overwriting succeeded", key)
			}
		}
	}

	// An auditor: the same bucket, no agent disk (its data dir does not exist).
	aud := f.config("auditor", "auditor", 0)
	if err := os.RemoveAll(f.dataDir("a")); err != nil {
		t.Fatal(err)
	}
	v := mustRun(t, "verify", "--from-store", "--config", aud)
	if !strings.Contains(v.stdout, "agent prod-1: 4 records, tree size 4") || !strings.Contains(v.stdout, "evidence objects re-hashed: 8") || !strings.Contains(v.stdout, "OK") {
		t.Errorf("verify --from-store output:\n%s", v.stdout)
	}
	if _, err := os.Stat(f.dataDir("auditor")); !os.IsNotExist(err) {
		t.Errorf("verify --from-store created a data dir (%v)", err)
	}
	fromStore := parseList(t, mustRun(t, "evidence", "list", "--from-store", "--control", "CC7.2", "--json", "--config", aud).stdout)
	if len(fromStore) != 4 || fromStore[0].Agent != "prod-1" || fromStore[3].Subject != "item-4" {
		t.Errorf("evidence list --from-store = %+v", fromStore)
	}
	// A known criterion without records is an empty list; an unknown one an error.
	if n := len(parseList(t, mustRun(t, "evidence", "list", "--from-store", "--control", "CC9.1", "--json", "--config", aud).stdout)); n != 0 {
		t.Errorf("--control CC9.1 listed %d records", n)
	}
	if r := tickmark(t, "evidence", "list", "--from-store", "--control", "CC9.9", "--config", aud); r.code != 2 || !strings.Contains(r.stderr, `unknown control or criterion "CC9.9"`) {
		t.Errorf("--from-store --control CC9.9: exit %d, want 2\n%s", r.code, r.stderr)
	}

	// Tamper with nothing we can: but a forged object under a new version
	// would show. Altering the latest body version of one object is what
	// a bucket without Object Lock allows; verify names it.
	key := recs[1].Objects[0]
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("evidence"), Key: aws.String(key), Body: strings.NewReader("forged")}); err == nil {
		bad := tickmark(t, "verify", "--from-store", "--config", aud)
		if bad.code != 1 || !strings.Contains(bad.stdout, "record 1 (counter.item): evidence object altered") || !strings.Contains(bad.stdout, key) {
			t.Errorf("verify after a new version replaced %s: exit %d\n%s%s", key, bad.code, bad.stdout, bad.stderr)
		}
	}
}

func TestS3OutageLeavesArtifactsQueuedAndTheNextRunPushesEachOnce(t *testing.T) {
	f := newFleet(t)
	cfg := f.config("a", "prod-1", 3)
	mustRun(t, "run", "--once", "--config", cfg)

	// The server goes away in the middle of the next run's collection.
	setAfterEmit(t, func(i int) {
		if i == 5 {
			f.srv.Stop(t)
		}
	})
	r := tickmark(t, "run", "--once", "--config", cfg)
	if r.code != 1 {
		t.Fatalf("run with the store down: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "tickmark: error: pushing to s3 store bucket evidence") || !strings.Contains(r.stderr, "committed locally and queued") {
		t.Errorf("stderr does not explain the failure:\n%s", r.stderr)
	}
	setAfterEmit(t, nil)
	var st cli.Status
	if err := json.Unmarshal([]byte(mustRun(t, "status", "--json", "--config", cfg).stdout), &st); err != nil {
		t.Fatal(err)
	}
	if st.Records != 6 || st.Backlog != 3 {
		t.Fatalf("status after the outage: %d records, backlog %d; want 6 and 3", st.Records, st.Backlog)
	}
	if len(st.Collectors) != 1 || st.Collectors[0].LastSuccess == nil || st.Checkpoint == nil || st.Checkpoint.Size != 6 || st.Checkpoint.SignedAt == nil {
		t.Errorf("status = %+v", st)
	}
	txt := mustRun(t, "status", "--config", cfg).stdout
	if !strings.Contains(txt, "outbox backlog: 3 artifacts waiting for the store") || !strings.Contains(txt, "last checkpoint: tree size 6") {
		t.Errorf("status text:\n%s", txt)
	}

	f.srv.Restart(t)
	r = mustRun(t, "run", "--once", "--config", cfg)
	if !strings.Contains(r.stdout, "6 artifacts (12 objects)") || !strings.Contains(r.stdout, "0 queued") {
		t.Errorf("the run after the outage did not push the 3 queued and 3 new artifacts:\n%s", r.stdout)
	}
	recs := parseList(t, mustRun(t, "evidence", "list", "--json", "--config", cfg).stdout)
	if len(recs) != 9 {
		t.Fatalf("%d records, want 9", len(recs))
	}
	for _, rec := range recs {
		for _, key := range rec.Objects {
			if n := versionsOf(t, f.srv.Client(), key); n != 1 {
				t.Errorf("record %d: %s has %d versions, want exactly 1", rec.Seq, key, n)
			}
		}
	}
	if err := json.Unmarshal([]byte(mustRun(t, "status", "--json", "--config", cfg).stdout), &st); err != nil || st.Backlog != 0 {
		t.Errorf("backlog after the recovery run = %d (%v), want 0", st.Backlog, err)
	}
	mustRun(t, "verify", "--from-store", "--config", cfg)
}

// checkpointFromStore reads and verifies an agent's latest checkpoint in the bucket.
func latestCheckpoint(t *testing.T, f *fleet, agent string) *ledger.Checkpoint {
	t.Helper()
	c := f.srv.Client()
	ctx := context.Background()
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("evidence"), Prefix: aws.String("soc2/log/" + agent + "/")})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	var best *ledger.Checkpoint
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	var vkeys []string
	for _, k := range keys {
		if strings.Contains(k, "/keys/") {
			vkeys = append(vkeys, string(get(t, c, k)))
		}
	}
	vs, err := ledger.Verifiers(vkeys...)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.HasSuffix(k, ".note") {
			cp, err := ledger.OpenCheckpoint(get(t, c, k), ledger.Origin(agent), vs)
			if err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			if best == nil || cp.Size > best.Size {
				best = cp
			}
		}
	}
	if best == nil {
		t.Fatalf("no checkpoint for %s in the bucket", agent)
	}
	return best
}

func get(t *testing.T, c *s3.Client, key string) []byte {
	t.Helper()
	o, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("evidence"), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(o.Body)
	return b.Bytes()
}

func TestLedgerRestoreRebuildsTheLedgerAndTheNextRunExtendsTheLog(t *testing.T) {
	f := newFleet(t)
	cfg := f.config("a", "prod-1", 3)
	mustRun(t, "run", "--once", "--config", cfg)
	mustRun(t, "run", "--once", "--config", cfg)
	old := latestCheckpoint(t, f, "prod-1")
	if old.Size != 6 {
		t.Fatalf("checkpoint size %d, want 6", old.Size)
	}

	// The volume is lost.
	if err := os.RemoveAll(f.dataDir("a")); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, "ledger", "restore", "--config", cfg)
	for _, want := range []string{"restored agent prod-1", "6 records, tree size 6, root " + old.Root.String(), "1 cursors and 1 runs from soc2/log/prod-1/state/", "no signing key"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("restore output lacks %q:\n%s", want, r.stdout)
		}
	}
	if again := tickmark(t, "ledger", "restore", "--config", cfg); again.code != 2 || !strings.Contains(again.stderr, "already holds a ledger") {
		t.Errorf("a second restore: exit %d %s", again.code, again.stderr)
	}
	v := mustRun(t, "verify", "--config", cfg)
	if !strings.Contains(v.stdout, "OK") {
		t.Errorf("verify of the restored ledger:\n%s", v.stdout)
	}
	var st cli.Status
	if err := json.Unmarshal([]byte(mustRun(t, "status", "--json", "--config", cfg).stdout), &st); err != nil {
		t.Fatal(err)
	}
	if st.Records != 6 || st.Backlog != 0 || len(st.Collectors) != 1 || st.Collectors[0].LastSuccess == nil {
		t.Errorf("status after restore = %+v", st)
	}

	// The next run resumes from the restored cursor and extends the log.
	mustRun(t, "run", "--once", "--config", cfg)
	recs := parseList(t, mustRun(t, "evidence", "list", "--json", "--config", cfg).stdout)
	if len(recs) != 9 {
		t.Fatalf("%d records after the next run, want 9", len(recs))
	}
	for i, rec := range recs {
		if want := fmt.Sprintf("item-%d", i+1); rec.Subject != want || rec.Seq != uint64(i) {
			t.Errorf("record %d is %s (seq %d), want %s: a gap or a duplicate", i, rec.Subject, rec.Seq, want)
		}
	}
	next := latestCheckpoint(t, f, "prod-1")
	if next.Size != 9 {
		t.Fatalf("next checkpoint size %d, want 9", next.Size)
	}
	l, err := ledger.Open(f.dataDir("a"), "prod-1", ledger.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = l.View(func(v *ledger.Viewer) error {
		proof, err := tlog.ProveTree(next.Size, old.Size, v.Hashes)
		if err != nil {
			return err
		}
		return tlog.CheckTree(proof, next.Size, next.Root, old.Size, old.Root)
	})
	if err != nil {
		t.Fatalf("the checkpoint after the restore does not extend the old one: %v", err)
	}
	// From the bucket alone too: the new key is announced, the log is one.
	vs := mustRun(t, "verify", "--from-store", "--config", cfg)
	if !strings.Contains(vs.stdout, "agent prod-1: 9 records") {
		t.Errorf("verify --from-store:\n%s", vs.stdout)
	}
}

func TestASecondAgentWithTheSameIDIsRefused(t *testing.T) {
	f := newFleet(t)
	a := f.config("a", "prod-1", 3)
	b := f.config("b", "prod-1", 5) // another disk, another key, same ID
	mustRun(t, "run", "--once", "--config", a)
	rb := tickmark(t, "run", "--once", "--config", b)
	if rb.code != 1 || !strings.Contains(rb.stderr, `the log of agent "prod-1" in the store`) || !strings.Contains(rb.stderr, "checkpoint(s) 3 this ledger never signed") || !strings.Contains(rb.stderr, "tickmark ledger restore") {
		t.Fatalf("agent b publishing as prod-1: exit %d, want 1 with a clear message\n%s", rb.code, rb.stderr)
	}
	// Nothing of b's reached the bucket: a's log still verifies.
	r := mustRun(t, "verify", "--from-store", "--config", a)
	if !strings.Contains(r.stdout, "agent prod-1: 3 records") {
		t.Errorf("verify --from-store:\n%s", r.stdout)
	}
	var st cli.Status
	if err := json.Unmarshal([]byte(mustRun(t, "status", "--json", "--config", b).stdout), &st); err != nil || st.Backlog != 5 {
		t.Errorf("agent b's backlog = %d (%v), want its 5 artifacts kept queued", st.Backlog, err)
	}
}

func TestObjectLockConfiguredOnABucketWithoutItIsAConfigurationError(t *testing.T) {
	f := newFleet(t)
	f.srv.CreateBucket(t, "plain", false)
	cfg := f.config("a", "prod-1", 1)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, bytes.Replace(b, []byte("bucket: evidence"), []byte("bucket: plain"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	r := tickmark(t, "run", "--once", "--config", cfg)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"tickmark: error: invalid configuration: store.object_lock is configured but bucket plain does not have Object Lock enabled",
		"hint: create the bucket with Object Lock enabled",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

func TestVerifyFromStoreChecksTimestampTokens(t *testing.T) {
	f := newFleet(t)
	ts := tsatest.Start(t, time.Time{}, time.Time{})
	cfg := f.config("a", "prod-1", 2)
	b, _ := os.ReadFile(cfg)
	tsaCfg := "timestamp_authority:\n  url: " + ts.URL + "\n  ca_bundle: file:" + ts.CAFile + "\n"
	if err := os.WriteFile(cfg, append(b, tsaCfg...), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "run", "--once", "--config", cfg)
	ts.SetDown(true)
	mustRun(t, "run", "--once", "--config", cfg)
	r := mustRun(t, "verify", "--from-store", "--config", cfg)
	if !strings.Contains(r.stdout, "RFC 3161 timestamps verified: 1 (1 checkpoints without one)") {
		t.Errorf("verify --from-store:\n%s", r.stdout)
	}
	// A token published beside another checkpoint does not cover its bytes.
	c := f.srv.Client()
	tok := get(t, c, "soc2/log/prod-1/checkpoints/2.tsr")
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("evidence"), Key: aws.String("soc2/log/prod-1/checkpoints/4.tsr"), Body: bytes.NewReader(tok)}); err != nil {
		t.Fatal(err)
	}
	bad := tickmark(t, "verify", "--from-store", "--skip-bodies", "--config", cfg)
	if bad.code != 1 || !strings.Contains(bad.stdout, "checkpoint 4: timestamp token:") {
		t.Errorf("a moved token: exit %d\n%s", bad.code, bad.stdout)
	}
}
