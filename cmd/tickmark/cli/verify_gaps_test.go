package cli_test

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// verifiedWorkspace runs the engine once (40 records under two controls,
// published to a filesystem store) and checks that both verifiers pass.
func verifiedWorkspace(t *testing.T) (dir, cfg, logDir string) {
	t.Helper()
	dir, cfg = workspace(t, "")
	t.Setenv("N", "40")
	t.Setenv("EVERY", "10")
	if r := tickmark(t, "run", "--once", "--config", cfg); r.code != 0 {
		t.Fatalf("run: %s", r.stderr)
	}
	for _, args := range [][]string{{"verify"}, {"verify", "--from-store"}} {
		if r := tickmark(t, append(args, "--config", cfg)...); r.code != 0 {
			t.Fatalf("%v before tampering: %s", args, r.stdout)
		}
	}
	return dir, cfg, filepath.Join(dir, "store", "log", "test-agent")
}

// expectFailure runs tickmark and wants exit 1 with every string in the output.
func expectFailure(t *testing.T, args []string, want ...string) {
	t.Helper()
	r := tickmark(t, args...)
	if r.code != 1 {
		t.Errorf("%v: exit %d, want 1\n%s%s", args, r.code, r.stdout, r.stderr)
		return
	}
	for _, w := range want {
		if !strings.Contains(r.stdout+r.stderr, w) {
			t.Errorf("%v: output does not say %q:\n%s%s", args, w, r.stdout, r.stderr)
		}
	}
}

// replaceWithFile makes a folder of the store unlistable: a file where the
// folder was.
func replaceWithFile(t *testing.T, dir string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a folder"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyGaps(t *testing.T) {
	t.Run("unlistable checkpoints", func(t *testing.T) {
		_, cfg, logDir := verifiedWorkspace(t)
		replaceWithFile(t, filepath.Join(logDir, "checkpoints"))
		expectFailure(t, []string{"verify", "--config", cfg}, "cannot list the published checkpoints", "log/test-agent/checkpoints/", "rolled back or deleted")
		expectFailure(t, []string{"verify", "--from-store", "--config", cfg}, "cannot list the published checkpoints")
	})
	t.Run("unlistable keys", func(t *testing.T) {
		_, cfg, logDir := verifiedWorkspace(t)
		replaceWithFile(t, filepath.Join(logDir, "keys"))
		expectFailure(t, []string{"verify", "--config", cfg}, "cannot list the published keys", "log/test-agent/keys/")
		expectFailure(t, []string{"verify", "--from-store", "--config", cfg}, "cannot list the published keys")
	})
	t.Run("log deleted", func(t *testing.T) {
		dir, cfg, _ := verifiedWorkspace(t)
		if err := os.RemoveAll(filepath.Join(dir, "store", "log")); err != nil {
			t.Fatal(err)
		}
		expectFailure(t, []string{"verify", "--config", cfg}, "checkpoint 40: this ledger published checkpoint 40 but the store's latest valid checkpoint is none: the published log was rolled back or deleted")
		expectFailure(t, []string{"verify", "--from-store", "--config", cfg}, "no agent has published a log")
	})
	t.Run("rolled back to an earlier checkpoint", func(t *testing.T) {
		dir, cfg, logDir := verifiedWorkspace(t)
		saved := filepath.Join(dir, "log-at-40")
		if err := os.CopyFS(saved, os.DirFS(logDir)); err != nil {
			t.Fatal(err)
		}
		t.Setenv("N", "80")
		if r := tickmark(t, "run", "--once", "--config", cfg); r.code != 0 {
			t.Fatalf("second run: %s", r.stderr)
		}
		if err := os.RemoveAll(logDir); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(saved, logDir); err != nil {
			t.Fatal(err)
		}
		expectFailure(t, []string{"verify", "--config", cfg}, "checkpoint 80: this ledger published checkpoint 80 but the store's latest valid checkpoint is 40")
	})
	t.Run("truncated tile", func(t *testing.T) {
		_, cfg, logDir := verifiedWorkspace(t)
		p := filepath.Join(logDir, "tile", "0", "000.p", "40")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b[:len(b)-32], 0o600); err != nil {
			t.Fatal(err)
		}
		expectFailure(t, []string{"verify", "--config", cfg}, "store copy: hash tile", "log/test-agent/tile/0/000.p/40: 1248 bytes, want 1280 (truncated")
		expectFailure(t, []string{"verify", "--from-store", "--config", cfg}, "log/test-agent/tile/0/000.p/40: 1248 bytes, want 1280")
	})
	t.Run("interior stored hash flipped", func(t *testing.T) {
		dir, cfg, _ := verifiedWorkspace(t)
		db, err := bolt.Open(filepath.Join(dir, "data", "ledger.db"), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("hashes"))
			k := binary.BigEndian.AppendUint64(nil, uint64(tlog.StoredHashIndex(2, 3)))
			v := bytes.Clone(b.Get(k))
			if len(v) != 32 {
				return fmt.Errorf("no stored hash at %x", k)
			}
			v[7] ^= 0x20
			return b.Put(k, v)
		})
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		expectFailure(t, []string{"verify", "--config", cfg}, "stored Merkle hash at level 2, index 3 is missing or altered")
	})
	t.Run("stray objects under controls", func(t *testing.T) {
		dir, cfg, _ := verifiedWorkspace(t)
		recs := listRecords(t, cfg)
		// A copy of a real body under a name no record has, and a file
		// that is no evidence name at all.
		src := filepath.Join(dir, "store", recs[3].Objects[0])
		planted := strings.Replace(recs[3].Objects[0], fmt.Sprintf("-%012d-", 3), fmt.Sprintf("-%012d-", 5), 1)
		b, _ := os.ReadFile(src)
		if err := os.WriteFile(filepath.Join(dir, "store", planted), b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "store", "controls", "CC7.2", "notes.txt"), []byte("hi"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"verify"}, {"verify", "--from-store"}} {
			expectFailure(t, append(args, "--config", cfg), planted+"]", "that no record names", "controls/CC7.2/notes.txt", "not an evidence object name")
		}
	})
	t.Run("log re-signed under another key", func(t *testing.T) {
		dir, cfg, logDir := verifiedWorkspace(t)
		keys, _ := filepath.Glob(filepath.Join(logDir, "keys", "*.pub"))
		if len(keys) != 1 {
			t.Fatalf("keys: %v", keys)
		}
		oldID := strings.TrimSuffix(filepath.Base(keys[0]), ".pub")
		resign(t, logDir)
		// Without a pinned key the bucket alone cannot tell: a new key,
		// a consistent log.
		if r := tickmark(t, "verify", "--from-store", "--config", cfg); r.code != 0 {
			t.Fatalf("unpinned: exit %d\n%s", r.code, r.stdout)
		}
		want := "not signed by the expected key " + oldID + " or a key it announced: the log was signed under another key"
		expectFailure(t, []string{"verify", "--from-store", "--config", cfg, "--key-id", oldID}, "the expected key "+oldID+" is not published", want)
		old, _ := os.ReadFile(filepath.Join(dir, "data", "old.pub"))
		expectFailure(t, []string{"verify", "--from-store", "--config", cfg, "--key", string(bytes.TrimSpace(old))}, want)
		// The configuration pins it too, for every read of the bucket.
		text, _ := os.ReadFile(cfg)
		os.WriteFile(cfg, append(text, fmt.Sprintf("verify:\n  key_id: %q\n", oldID)...), 0o600)
		expectFailure(t, []string{"verify", "--from-store", "--config", cfg}, want)
		// The agent's own ledger never held the new key.
		expectFailure(t, []string{"verify", "--config", cfg}, "this agent never held it")
		// A bad pin is a usage error.
		if r := tickmark(t, "verify", "--from-store", "--config", cfg, "--key-id", "xyz"); r.code != 2 {
			t.Errorf("--key-id xyz: exit %d, want 2", r.code)
		}
	})
	t.Run("package pinned to a key", func(t *testing.T) {
		dir, cfg, logDir := verifiedWorkspace(t)
		day := time.Now().UTC().Format(time.DateOnly)
		zip := filepath.Join(dir, "pkg.zip")
		if r := tickmark(t, "export", "--config", cfg, "--from", day, "--to", day, "--out", zip); r.code != 0 {
			t.Fatalf("export: %s", r.stderr)
		}
		keys, _ := filepath.Glob(filepath.Join(logDir, "keys", "*.pub"))
		id := strings.TrimSuffix(filepath.Base(keys[0]), ".pub")
		if r := tickmark(t, "verify-package", zip, "--key", keys[0]); r.code != 0 {
			t.Fatalf("verify-package --key (its own): exit %d\n%s", r.code, r.stdout)
		}
		expectFailure(t, []string{"verify-package", zip, "--key-id", "0badf00d"}, "the expected key 0badf00d is not published", "not signed by the expected key 0badf00d")
		if r := tickmark(t, "verify-package", zip, "--key-id", id); r.code != 0 {
			t.Fatalf("verify-package --key-id %s: exit %d\n%s", id, r.code, r.stdout)
		}
	})
}

// resign replaces the published log's key with a new one of the same
// origin and re-signs every checkpoint with it: what someone holding the
// bucket but not the agent's key can do. The old public key is saved to
// data/old.pub.
func resign(t *testing.T, logDir string) {
	t.Helper()
	keys, _ := filepath.Glob(filepath.Join(logDir, "keys", "*.pub"))
	old, _ := os.ReadFile(keys[0])
	os.WriteFile(filepath.Join(logDir, "..", "..", "..", "data", "old.pub"), old, 0o600)
	origin, _, _ := strings.Cut(string(old), "+")
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	os.Remove(keys[0])
	os.WriteFile(filepath.Join(logDir, "keys", fmt.Sprintf("%08x.pub", verifier.KeyHash())), []byte(vkey+"\n"), 0o600)
	cps, _ := filepath.Glob(filepath.Join(logDir, "checkpoints", "*.note"))
	for _, p := range cps {
		b, _ := os.ReadFile(p)
		text, _, _ := strings.Cut(string(b), "\n\n")
		msg, err := note.Sign(&note.Note{Text: text + "\n"}, signer)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(p, msg, 0o600)
	}
}
