package faults_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/cmd/tickmark/cli"
	_ "github.com/tickmark-dev/tickmark/collectors/all"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/internal/ledger"
)

// TestDemoLeaksNoSecret runs `tickmark demo` (every sample source, each
// with the fake credentials its vendor fake checks) at debug level and
// looks for those credentials — raw, URL-escaped, hex or base64, e.g.
// inside a Basic authorization header — in every log line, in the run
// summary, and in every byte of the workspace: configuration, ledger
// (bbolt file included), spool, signing key and store. The credentials are
// the variables the sample sources set for the demo's `env:` references,
// so a new sample source is covered without touching this test.
func TestDemoLeaksNoSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ws")
	before := environ()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a safety net, not a speed test: the demo builds 90 days of history
	defer cancel()
	code := cli.MainContext(ctx, []string{"demo", "--dir", dir, "--log-level", "debug", "--log-format", "json", "--json"}, &stdout, &stderr)
	secrets := map[string]string{}
	for k, v := range environ() {
		if before[k] != v {
			secrets[k] = v
		}
	}
	t.Cleanup(func() {
		for k := range secrets {
			if old, ok := before[k]; ok {
				os.Setenv(k, old)
			} else {
				os.Unsetenv(k)
			}
		}
	})
	if code != 0 {
		t.Fatalf("tickmark demo: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}

	// The credentials are the ones the configuration references, and the
	// collectors that use them did collect (they really authenticated).
	cfg, err := os.ReadFile(filepath.Join(dir, "tickmark.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`env:([A-Z0-9_]+)`).FindAllStringSubmatch(string(cfg), -1)
	if len(refs) < 2 {
		t.Fatalf("the demo configuration references %d credentials; want the sample sources' (github, jira, ...)", len(refs))
	}
	for _, m := range refs {
		if secrets[m[1]] == "" {
			t.Fatalf("the demo configuration references %s, which the demo did not set", m[1])
		}
	}
	var out struct {
		Summary struct {
			Collectors []struct {
				Name      string `json:"name"`
				Outcome   string `json:"outcome"`
				Artifacts int    `json:"artifacts"`
			} `json:"collectors"`
		} `json:"summary"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("demo --json: %v\n%s", err, stdout.String())
	}
	for _, c := range out.Summary.Collectors {
		if c.Outcome != "success" || c.Artifacts == 0 {
			t.Fatalf("demo collector %s: %s with %d artifacts", c.Name, c.Outcome, c.Artifacts)
		}
	}
	t.Logf("scanning for %d credentials (%s) across %d log lines", len(secrets), strings.Join(keys(secrets), ", "), strings.Count(stderr.String(), "\n"))

	scan := func(what string, data []byte) {
		t.Helper()
		for name, v := range secrets {
			if f, ok := collectortest.FindSecret(data, v); ok {
				t.Errorf("%s holds the credential %s (%s)", what, name, f.Name)
			}
		}
	}
	for i, line := range strings.Split(stderr.String(), "\n") {
		scan(fmt.Sprintf("log line %d", i+1), []byte(line))
	}
	scan("the run summary", stdout.Bytes())
	files := 0
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		scan(p, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", ledger.DBFile)); err != nil || files < 10 {
		t.Fatalf("scanned %d files; want the ledger and the store's objects (%v)", files, err)
	}
	// The scan itself finds a planted credential (so a pass means something).
	for name, v := range secrets {
		if _, ok := collectortest.FindSecret([]byte("Authorization: Basic "+b64("user:"+v)), v); !ok {
			t.Fatalf("the scanner misses %s in a Basic authorization header", name)
		}
	}
	checkModes(t, filepath.Join(dir, "data"))
	checkModes(t, filepath.Join(dir, "store"))
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func environ() map[string]string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// checkModes fails the test unless every file under root is 0600 and every
// folder 0700 (root included).
func checkModes(t *testing.T, root string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s has mode %04o, want %04o", p, info.Mode().Perm(), want)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 3 {
		t.Fatalf("%s holds %d entries; nothing to check", root, n)
	}
}

// TestFileModesUnderPermissiveUmask: after a real run under umask 000 the
// data dir (ledger, spool, key) and the filesystem store hold only 0600
// files and 0700 folders.
func TestFileModesUnderPermissiveUmask(t *testing.T) {
	t.Parallel()
	a := newAgent(t, tickmarkBin(t), items("one", 30, 10))
	// Nested, not yet existing folders: every level is created by tickmark.
	a.data = filepath.Join(a.dir, "var", "lib", "tickmark")
	a.store = filepath.Join(a.dir, "srv", "evidence")
	a.writeConfig(items("one", 30, 10))
	cmd := exec.Command("sh", "-c", `umask 000; exec "$@"`, "sh", a.bin, "run", "--once", "--config", a.config())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("run --once under umask 000: %v\n%s", err, out)
	}
	checkModes(t, filepath.Join(a.dir, "var"))
	checkModes(t, filepath.Join(a.dir, "srv"))
}

// TestRefusesReadableSigningKey: a signing key readable by group or others
// stops `run` before any collector runs: exit 1, a message naming the file,
// its mode and the fix, and nothing committed. With the mode fixed the
// agent runs again.
func TestRefusesReadableSigningKey(t *testing.T) {
	t.Parallel()
	a := newAgent(t, tickmarkBin(t), items("one", 10, 10))
	if _, r := a.runOnce(); r.code != 0 {
		t.Fatalf("first run: %s", r)
	}
	key := filepath.Join(a.data, ledger.KeyFile)
	a.writeConfig(items("one", 20, 10)) // there would be work to do
	before := a.snapshot()
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
		if err := os.Chmod(key, mode); err != nil {
			t.Fatal(err)
		}
		r := a.run("run", "--once")
		if r.code != 1 {
			t.Fatalf("key mode %04o: want exit 1\n%s", mode, r)
		}
		wantErr(t, "stderr", r.stderr, fmt.Sprintf("tickmark: error: signing key %s is readable by other users (mode %04o); run `chmod 600 %s`", key, mode, key))
		if after := a.snapshot(); len(after.hashes) != len(before.hashes) {
			t.Fatalf("key mode %04o: %d records committed; the agent must not run", mode, len(after.hashes)-len(before.hashes))
		}
	}
	if err := os.Chmod(key, 0o600); err != nil {
		t.Fatal(err)
	}
	if sum, r := a.runOnce(); r.code != 0 || collectorOf(t, sum, "one").Artifacts != 10 {
		t.Fatalf("with the key at 0600 again: %s", r)
	}
}
