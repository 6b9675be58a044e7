package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tickmark-dev/tickmark/internal/tsa/tsatest"
)

func TestCheckpointTimestamps(t *testing.T) {
	srv := tsatest.Start(t, time.Time{}, time.Time{})
	dir, cfg := workspace(t, "")
	tsaCfg := "timestamp_authority:\n  url: " + srv.URL + "\n  ca_bundle: file:" + srv.CAFile + "\n"
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(b, tsaCfg...), 0o600)
	t.Setenv("N", "5")

	if r := tickmark(t, "run", "--once", "--config", cfg); r.code != 0 {
		t.Fatalf("run: %s", r.stderr)
	}
	r := tickmark(t, "verify", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "timestamps: 1 checkpoint carry a verified RFC 3161 token") {
		t.Fatalf("verify: %d\n%s", r.code, r.stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, "store", "log", "test-agent", "checkpoints", "5.tsr")); err != nil {
		t.Fatalf("token not published beside the checkpoint: %v", err)
	}

	// TSA outage: collection goes on, verify reports the unstamped checkpoint.
	srv.SetDown(true)
	t.Setenv("N", "9")
	if r := tickmark(t, "run", "--once", "--config", cfg); r.code != 0 {
		t.Fatalf("a TSA outage must not fail the run: %d %s", r.code, r.stderr)
	}
	r = tickmark(t, "verify", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "not yet stamped (TSA unreachable at the time): [9]") {
		t.Fatalf("verify during outage: %d\n%s", r.code, r.stdout)
	}
	// Back up: the next run stamps the missed checkpoint too.
	srv.SetDown(false)
	t.Setenv("N", "12")
	if r := tickmark(t, "run", "--once", "--config", cfg); r.code != 0 {
		t.Fatalf("run: %s", r.stderr)
	}
	r = tickmark(t, "verify", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "timestamps: 3 checkpoints") || strings.Contains(r.stdout, "not yet stamped") {
		t.Fatalf("verify after recovery: %d\n%s", r.code, r.stdout)
	}

	// A token moved to another checkpoint covers other bytes.
	db, err := bolt.Open(filepath.Join(dir, "data", "ledger.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte("timestamps"))
		k5, k9 := []byte{0, 0, 0, 0, 0, 0, 0, 5}, []byte{0, 0, 0, 0, 0, 0, 0, 9}
		return bk.Put(k9, append([]byte(nil), bk.Get(k5)...))
	})
	db.Close()
	r = tickmark(t, "verify", "--config", cfg)
	if r.code != 1 || !strings.Contains(r.stdout, "checkpoint 9: timestamp token: timestamp token covers other bytes than this checkpoint") {
		t.Fatalf("moved token: %d\n%s", r.code, r.stdout)
	}

	// Trusting another TSA: every token is untrusted.
	other := tsatest.Start(t, time.Time{}, time.Time{})
	b, _ = os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), srv.CAFile, other.CAFile, 1)), 0o600)
	r = tickmark(t, "verify", "--config", cfg)
	if r.code != 1 || !strings.Contains(r.stdout, "checkpoint 5: timestamp token: timestamp token from an untrusted TSA") {
		t.Fatalf("untrusted TSA: %d\n%s", r.code, r.stdout)
	}
}

func TestKeyRotationKeepsOldCheckpointsVerifiable(t *testing.T) {
	dir, cfg := workspace(t, "")
	t.Setenv("N", "5")
	if r := tickmark(t, "run", "--once", "--config", cfg); r.code != 0 {
		t.Fatal(r.stderr)
	}
	r := tickmark(t, "keygen", "--rotate", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "rotated signing key") {
		t.Fatalf("rotate: %d %s %s", r.code, r.stdout, r.stderr)
	}
	t.Setenv("N", "8")
	if r := tickmark(t, "run", "--once", "--config", cfg); r.code != 0 {
		t.Fatal(r.stderr)
	}
	r = tickmark(t, "verify", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "checkpoints: 2 in the ledger, 2 in the store") {
		t.Fatalf("verify after rotation: %d\n%s", r.code, r.stdout)
	}
	keys, _ := filepath.Glob(filepath.Join(dir, "store", "log", "test-agent", "keys", "*"))
	if len(keys) != 3 { // two .pub and one .announce
		t.Fatalf("published keys: %v", keys)
	}
	n5, _ := os.ReadFile(filepath.Join(dir, "store", "log", "test-agent", "checkpoints", "5.note"))
	n8, _ := os.ReadFile(filepath.Join(dir, "store", "log", "test-agent", "checkpoints", "8.note"))
	sig := func(b []byte) string { i := strings.LastIndex(string(b), " "); return string(b[i+1 : i+5]) }
	if sig(n5) == sig(n8) {
		t.Fatal("checkpoints before and after rotation carry the same key hash")
	}
	// A forged announcement (signature altered) fails verification.
	var ann string
	for _, k := range keys {
		if strings.HasSuffix(k, ".announce") {
			ann = k
		}
	}
	db, err := bolt.Open(filepath.Join(dir, "data", "ledger.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("key_announcements"))
		return b.ForEach(func(k, v []byte) error {
			v = append([]byte(nil), v...)
			v[len(v)-6] ^= 1
			return b.Put(k, v)
		})
	})
	db.Close()
	r = tickmark(t, "verify", "--config", cfg)
	if r.code != 1 || !strings.Contains(r.stdout, "announcement of key") {
		t.Fatalf("forged announcement (%s): %d\n%s", filepath.Base(ann), r.code, r.stdout)
	}
}

// A second agent with the same ID (its own data dir and key, the same
// store) is refused before it writes anything: the first agent's log
// stays its own and verifies.
func TestForeignKeyUnderSameAgentIDIsRefused(t *testing.T) {
	dir, cfg := workspace(t, "")
	t.Setenv("N", "3")
	if r := tickmark(t, "run", "--once", "--config", cfg); r.code != 0 {
		t.Fatal(r.stderr)
	}
	b, _ := os.ReadFile(cfg)
	cfg2 := filepath.Join(dir, "other.yaml")
	os.WriteFile(cfg2, []byte(strings.Replace(string(b), dir+"/data", dir+"/data2", 1)), 0o600)
	r2 := tickmark(t, "run", "--once", "--config", cfg2)
	if r2.code != 1 || !strings.Contains(r2.stderr, "key(s)") || !strings.Contains(r2.stderr, "this ledger never held") {
		t.Fatalf("second agent with the same ID must be refused naming the foreign key: %d\n%s", r2.code, r2.stderr)
	}
	if r := tickmark(t, "verify", "--config", cfg); r.code != 0 {
		t.Fatalf("verify: %d\n%s", r.code, r.stdout)
	}
}

func TestPackageWithTimestampsVerifiesOffline(t *testing.T) {
	srv := tsatest.Start(t, time.Time{}, time.Time{})
	dir, cfg := workspace(t, "")
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(b, []byte("timestamp_authority:\n  url: "+srv.URL+"\n  ca_bundle: file:"+srv.CAFile+"\n")...), 0o600)
	t.Setenv("N", "6")
	if r := tickmark(t, "run", "--once", "--config", cfg); r.code != 0 {
		t.Fatal(r.stderr)
	}
	zip := filepath.Join(dir, "pkg.zip")
	today := time.Now().UTC().Format("2006-01-02")
	if r := tickmark(t, "export", "--config", cfg, "--from", today, "--to", today, "--out", zip); r.code != 0 {
		t.Fatalf("export: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r := tickmark(t, "verify-package", zip)
	if r.code != 0 || !strings.Contains(r.stdout, "RFC 3161 timestamps: 1 (signature and checkpoint bytes checked") {
		t.Fatalf("verify-package: %d\n%s", r.code, r.stdout)
	}
	r = tickmark(t, "verify-package", "--tsa-ca", srv.CAFile, zip)
	if r.code != 0 || !strings.Contains(r.stdout, "TSA certificate chain checked") {
		t.Fatalf("verify-package --tsa-ca: %d\n%s", r.code, r.stdout)
	}
	other := tsatest.Start(t, time.Time{}, time.Time{})
	r = tickmark(t, "verify-package", "--tsa-ca", other.CAFile, zip)
	if r.code != 1 || !strings.Contains(r.stdout, "6.tsr: timestamp token from an untrusted TSA") {
		t.Fatalf("untrusted TSA: %d\n%s", r.code, r.stdout)
	}
}
