package cli_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// storeFiles lists every object of a filesystem store with its bytes.
func storeFiles(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// An agent whose data dir was replaced (a fresh key and ledger, same
// agent.id) refuses to write a single object on every run, says why and
// how to fix it, and the original agent's log stays verifiable. The
// replacement collects exactly as many records as the original, so its
// checkpoints have the same tree sizes: only their bytes differ.
func TestReplacedDataDirWritesNothingOnEveryRun(t *testing.T) {
	dir, cfg := workspace(t, "")
	t.Setenv("N", "5")
	if r := tickmark(t, "run", "--once", "--config", cfg); r.code != 0 {
		t.Fatalf("first run: %d %s", r.code, r.stderr)
	}
	data := filepath.Join(dir, "data")
	if err := os.Rename(data, data+".orig"); err != nil {
		t.Fatal(err)
	}
	before := storeFiles(t, filepath.Join(dir, "store"))
	for run := 1; run <= 2; run++ {
		r := tickmark(t, "run", "--once", "--config", cfg)
		if r.code != 1 {
			t.Fatalf("run %d of the replaced agent: exit %d, want 1\n%s%s", run, r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{"ledger restore", "agent.id"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("run %d: the refusal does not name %q:\n%s", run, want, r.stderr)
			}
		}
		if strings.Contains(r.stderr, "reachability") {
			t.Errorf("run %d: the hint blames the store's reachability:\n%s", run, r.stderr)
		}
		after := storeFiles(t, filepath.Join(dir, "store"))
		for k, v := range after {
			if old, ok := before[k]; !ok {
				t.Errorf("run %d wrote %s", run, k)
			} else if old != v {
				t.Errorf("run %d changed %s", run, k)
			}
		}
		if len(after) != len(before) {
			t.Errorf("run %d: %d objects, before %d", run, len(after), len(before))
		}
	}
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(data+".orig", data); err != nil {
		t.Fatal(err)
	}
	if r := tickmark(t, "verify", "--config", cfg); r.code != 0 {
		t.Errorf("the original agent's verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := tickmark(t, "verify", "--from-store", "--config", cfg); r.code != 0 {
		t.Errorf("verify --from-store: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// What an agent that did not check its log used to leave behind under
// another agent's prefix, a second key nobody announced and a partial tile
// no checkpoint covers, is reported by `verify --from-store`, each by name.
func TestVerifyFromStoreReportsForeignKeyAndStrayTile(t *testing.T) {
	dir, cfg := workspace(t, "")
	t.Setenv("N", "5")
	if r := tickmark(t, "run", "--once", "--config", cfg); r.code != 0 {
		t.Fatalf("first run: %d %s", r.code, r.stderr)
	}
	// A second agent with the same ID, its own key, run against its own store.
	other := filepath.Join(dir, "other")
	ocfg := filepath.Join(other, "tickmark.yaml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(other, 0o700); err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), dir+"/", other+"/")
	if err := os.WriteFile(ocfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("N", "3")
	if r := tickmark(t, "run", "--once", "--config", ocfg); r.code != 0 {
		t.Fatalf("other agent: %d %s", r.code, r.stderr)
	}
	theirs := filepath.Join(other, "store", "log", "test-agent")
	mine := filepath.Join(dir, "store", "log", "test-agent")
	keys, _ := filepath.Glob(filepath.Join(theirs, "keys", "*.pub"))
	if len(keys) != 1 {
		t.Fatalf("other agent's keys: %v", keys)
	}
	for _, rel := range []string{filepath.Join("keys", filepath.Base(keys[0])), filepath.Join("tile", "entries", "000.p", "3")} {
		data, err := os.ReadFile(filepath.Join(theirs, rel))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(mine, rel)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mine, rel), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := tickmark(t, "verify", "--from-store", "--config", cfg)
	if r.code != 1 {
		t.Fatalf("verify --from-store: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"log/test-agent/keys/" + filepath.Base(keys[0]), "without a valid announcement",
		"log/test-agent/tile/entries/000.p/3", "belongs to no checkpoint",
	} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("verify --from-store does not report %q:\n%s%s", want, r.stdout, r.stderr)
		}
	}
}
