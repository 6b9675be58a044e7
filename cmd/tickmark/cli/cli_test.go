package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tickmark-dev/tickmark/cmd/tickmark/cli"
	_ "github.com/tickmark-dev/tickmark/collectors/all"
)

// repoRoot finds the module root (for testdata scripts).
func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

type result struct {
	stdout, stderr string
	code           int
}

func tickmark(t testing.TB, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.MainContext(context.Background(), args, &out, &errb)
	return result{out.String(), errb.String(), code}
}

// workspace writes a config with one exec collector running generate.sh.
func workspace(t testing.TB, extra string) (dir, cfg string) {
	t.Helper()
	dir = t.TempDir()
	cfg = filepath.Join(dir, "tickmark.yaml")
	gen := filepath.Join(repoRoot(t), "testdata", "exec", "generate.sh")
	text := fmt.Sprintf(`agent:
  id: test-agent
  data_dir: %s/data
store:
  type: filesystem
  path: %s/store
runner:
  retries: 0
collectors:
  - name: gen
    type: exec
    schedule: "@every 1h"
    controls:
      test.item: [CC7.2, A1.2]
    exec:
      command: ["/bin/sh", %q]
      env: [N, SIZE, EVERY, FAIL_AT, MALFORMED_AT]
      timeout: 2m
%s`, dir, dir, gen, extra)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, cfg
}

type listed struct {
	Seq      uint64   `json:"seq"`
	Type     string   `json:"type"`
	Subject  string   `json:"subject"`
	Controls []string `json:"controls"`
	SHA256   string   `json:"sha256"`
	Objects  []string `json:"objects"`
}

func listRecords(t testing.TB, cfg string, args ...string) []listed {
	t.Helper()
	r := tickmark(t, append([]string{"evidence", "list", "--json", "--config", cfg}, args...)...)
	if r.code != 0 {
		t.Fatalf("evidence list: %d %s", r.code, r.stderr)
	}
	var out []listed
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l listed
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("bad line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

func TestRunOnceFilesEveryArtifactUnderEachControl(t *testing.T) {
	dir, cfg := workspace(t, "")
	t.Setenv("N", "250")
	t.Setenv("EVERY", "100")
	r := tickmark(t, "run", "--once", "--config", cfg)
	if r.code != 0 {
		t.Fatalf("run --once exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "gen") || !strings.Contains(r.stdout, "A1.2:250") || !strings.Contains(r.stdout, "CC7.2:250") {
		t.Fatalf("summary does not report artifacts per control:\n%s", r.stdout)
	}
	recs := listRecords(t, cfg)
	if len(recs) != 250 {
		t.Fatalf("ledger has %d records, want 250", len(recs))
	}
	seen := map[string]bool{}
	for _, rec := range recs {
		if seen[rec.Subject] {
			t.Fatalf("duplicate %s", rec.Subject)
		}
		seen[rec.Subject] = true
		if len(rec.Objects) != 2 {
			t.Fatalf("record %d filed under %v", rec.Seq, rec.Objects)
		}
		for _, key := range rec.Objects {
			if !strings.HasPrefix(key, "controls/CC7.2/") && !strings.HasPrefix(key, "controls/A1.2/") {
				t.Fatalf("object key %s not under controls/<id>/", key)
			}
			b, err := os.ReadFile(filepath.Join(dir, "store", key))
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%x", sha256.Sum256(b)); got != rec.SHA256 {
				t.Fatalf("%s: sha256 %s, record says %s", key, got, rec.SHA256)
			}
		}
	}
	if v := tickmark(t, "verify", "--config", cfg); v.code != 0 {
		t.Fatalf("verify exit %d:\n%s%s", v.code, v.stdout, v.stderr)
	}
	// Filters read through the indexes.
	if got := listRecords(t, cfg, "--control", "A1.2", "--limit", "7"); len(got) != 7 {
		t.Fatalf("--control --limit: %d records", len(got))
	}
	if got := listRecords(t, cfg, "--type", "test.item", "--limit", "3"); len(got) != 3 {
		t.Fatalf("--type filter returned %d", len(got))
	}
	// A type nothing declares or emitted is an error, not an empty list.
	if r := tickmark(t, "evidence", "list", "--config", cfg, "--type", "no.such_type"); r.code != 2 || !strings.Contains(r.stderr, `unknown evidence type "no.such_type"`) {
		t.Fatalf("--type no.such_type: exit %d, want 2\n%s", r.code, r.stderr)
	}
}

func TestCollectorFailureCommitsUpToLastCursorAndResumes(t *testing.T) {
	_, cfg := workspace(t, "")
	t.Setenv("N", "3000")
	t.Setenv("EVERY", "1000")
	t.Setenv("FAIL_AT", "2500")
	r := tickmark(t, "run", "--once", "--config", cfg)
	if r.code != 1 {
		t.Fatalf("failing collector: exit %d, want 1\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "gen failed") || !strings.Contains(r.stdout, "exit status 3") {
		t.Fatalf("summary does not explain the failure:\n%s", r.stdout)
	}
	if n := len(listRecords(t, cfg)); n != 2000 {
		t.Fatalf("after failure at 2500 with cursors every 1000: %d records, want 2000", n)
	}
	t.Setenv("FAIL_AT", "")
	if r := tickmark(t, "run", "--once", "--config", cfg); r.code != 0 {
		t.Fatalf("second run exit %d: %s", r.code, r.stderr)
	}
	recs := listRecords(t, cfg)
	if len(recs) != 3000 {
		t.Fatalf("after resume: %d records, want 3000", len(recs))
	}
	seen := map[string]bool{}
	for _, rec := range recs {
		if seen[rec.Subject] {
			t.Fatalf("resume duplicated %s", rec.Subject)
		}
		seen[rec.Subject] = true
	}
	if v := tickmark(t, "verify", "--config", cfg); v.code != 0 {
		t.Fatalf("verify: %s", v.stdout)
	}
}

func TestMalformedLineNamesLine(t *testing.T) {
	_, cfg := workspace(t, "")
	t.Setenv("N", "50")
	t.Setenv("EVERY", "10")
	t.Setenv("MALFORMED_AT", "25")
	r := tickmark(t, "run", "--once", "--config", cfg)
	if r.code != 1 {
		t.Fatalf("exit %d", r.code)
	}
	// 25 artifacts + 2 cursor lines precede the malformed one: line 28.
	if !strings.Contains(r.stdout, "output line 28") {
		t.Fatalf("error does not name the line:\n%s", r.stdout)
	}
	if n := len(listRecords(t, cfg)); n != 20 {
		t.Fatalf("%d records committed, want 20 (up to the last cursor)", n)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	setup := func(t *testing.T) (string, string) {
		dir, cfg := workspace(t, "")
		t.Setenv("N", "40")
		t.Setenv("EVERY", "10")
		if r := tickmark(t, "run", "--once", "--config", cfg); r.code != 0 {
			t.Fatalf("run: %s", r.stderr)
		}
		if r := tickmark(t, "verify", "--config", cfg); r.code != 0 {
			t.Fatalf("verify before tampering: %s", r.stdout)
		}
		return dir, cfg
	}
	editDB := func(t *testing.T, dir string, fn func(tx *bolt.Tx) error) {
		db, err := bolt.Open(filepath.Join(dir, "data", "ledger.db"), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(fn); err != nil {
			t.Fatal(err)
		}
	}
	u64 := func(v uint64) []byte {
		b := make([]byte, 8)
		for i := 7; i >= 0; i-- {
			b[i] = byte(v)
			v >>= 8
		}
		return b
	}

	t.Run("stored body byte flipped", func(t *testing.T) {
		dir, cfg := setup(t)
		recs := listRecords(t, cfg)
		key := recs[17].Objects[1]
		p := filepath.Join(dir, "store", key)
		b, _ := os.ReadFile(p)
		b[5] ^= 1
		os.Chmod(p, 0o600)
		os.WriteFile(p, b, 0o600)
		r := tickmark(t, "verify", "--config", cfg)
		if r.code != 1 || !strings.Contains(r.stdout, "record 17 (test.item)") || !strings.Contains(r.stdout, key) || !strings.Contains(r.stdout, "body altered") {
			t.Fatalf("exit %d, output:\n%s", r.code, r.stdout)
		}
	})
	t.Run("record altered in the ledger", func(t *testing.T) {
		dir, cfg := setup(t)
		editDB(t, dir, func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("records"))
			v := bytes.Replace(b.Get(u64(9)), []byte("item-9"), []byte("item-X"), 1)
			return b.Put(u64(9), v)
		})
		r := tickmark(t, "verify", "--config", cfg)
		if r.code != 1 || !strings.Contains(r.stdout, "record 9 (test.item): altered") {
			t.Fatalf("exit %d, output:\n%s", r.code, r.stdout)
		}
	})
	t.Run("record removed from the ledger", func(t *testing.T) {
		dir, cfg := setup(t)
		editDB(t, dir, func(tx *bolt.Tx) error { return tx.Bucket([]byte("records")).Delete(u64(12)) })
		r := tickmark(t, "verify", "--config", cfg)
		if r.code != 1 || !strings.Contains(r.stdout, "record 12: missing from the ledger") {
			t.Fatalf("exit %d, output:\n%s", r.code, r.stdout)
		}
	})
	t.Run("last record removed from the ledger", func(t *testing.T) {
		dir, cfg := setup(t)
		editDB(t, dir, func(tx *bolt.Tx) error { return tx.Bucket([]byte("records")).Delete(u64(39)) })
		r := tickmark(t, "verify", "--config", cfg)
		if r.code != 1 || !strings.Contains(r.stdout, "checkpoint 40") || !strings.Contains(r.stdout, "records were removed") {
			t.Fatalf("exit %d, output:\n%s", r.code, r.stdout)
		}
	})
	t.Run("checkpoint signature altered", func(t *testing.T) {
		dir, cfg := setup(t)
		editDB(t, dir, func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("checkpoints"))
			v := bytes.Clone(b.Get(u64(40)))
			i := bytes.LastIndexByte(v, ' ')
			v[i+5] ^= 0x01
			return b.Put(u64(40), v)
		})
		r := tickmark(t, "verify", "--config", cfg)
		if r.code != 1 || !strings.Contains(r.stdout, "checkpoint 40: ledger copy") {
			t.Fatalf("exit %d, output:\n%s", r.code, r.stdout)
		}
	})
	t.Run("published checkpoint replaced", func(t *testing.T) {
		dir, cfg := setup(t)
		p := filepath.Join(dir, "store", "log", "test-agent", "checkpoints", "40.note")
		b, _ := os.ReadFile(p)
		lines := strings.SplitN(string(b), "\n", 4)
		lines[2] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
		os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o600)
		r := tickmark(t, "verify", "--config", cfg)
		if r.code != 1 || !strings.Contains(r.stdout, "checkpoint 40: store copy") {
			t.Fatalf("exit %d, output:\n%s", r.code, r.stdout)
		}
	})
}

func TestInvalidConfigExits2NamingKeyAndLineAndWritesNothing(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "agent:\n  id: a\n  data_dir: DIR/data\n  colour: blue\n", []string{"line 4", "agent.colour", "unknown key"}},
		{"unknown collector key", "agent:\n  id: a\n  data_dir: DIR/data\ncollectors:\n  - name: x\n    type: exec\n    exec:\n      command: [/bin/true]\n      comand: [x]\n", []string{"line 9", "collectors[0].exec.comand", "unknown key"}},
		{"bad cron spec", "agent:\n  id: a\n  data_dir: DIR/data\ncollectors:\n  - name: x\n    type: exec\n    schedule: \"every six hours\"\n    exec: {command: [/bin/true]}\n", []string{"line 7", "collectors[0].schedule", "invalid cron spec"}},
		{"literal secret", "agent:\n  id: a\n  data_dir: DIR/data\nstore:\n  type: s3\n  bucket: b\n  access_key_id: AKIAIOSFODNN7EXAMPLE\n", []string{"line 7", "store.access_key_id", "literal", "hint: write env:NAME"}},
		{"missing env variable", "agent:\n  id: a\n  data_dir: DIR/data\nstore:\n  type: s3\n  bucket: b\n  secret_access_key: env:TICKMARK_TEST_UNSET_VAR\n", []string{"line 7", "store.secret_access_key", "TICKMARK_TEST_UNSET_VAR is not set"}},
		{"wrong type", "agent:\n  id: a\n  data_dir: DIR/data\nrunner:\n  concurrency: lots\n", []string{"line 5", "runner", "lots"}},
		{"unknown collector type", "agent:\n  id: a\n  data_dir: DIR/data\ncollectors:\n  - name: x\n    type: nosuch\n", []string{"line 6", "collectors[0].type", "unknown collector type"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "c.yaml")
			os.WriteFile(cfg, []byte(strings.ReplaceAll(tc.yaml, "DIR", dir)), 0o600)
			for _, args := range [][]string{{"config", "validate", cfg}, {"run", "--once", "--config", cfg}} {
				r := tickmark(t, args...)
				if r.code != 2 {
					t.Fatalf("%v: exit %d, want 2\n%s", args, r.code, r.stderr)
				}
				for _, w := range tc.want {
					if !strings.Contains(r.stderr, w) {
						t.Errorf("%v: message lacks %q:\n%s", args, w, r.stderr)
					}
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
				t.Fatalf("invalid configuration created the data dir")
			}
		})
	}
}

func TestConfigValidateListsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte("agent:\n  id: a\n  data_dir: /tmp/x\n  bogus: 1\ncollectors:\n  - name: x\n    type: exec\n    schedule: nope\n    exec: {command: [/bin/true]}\n  - name: x\n    type: exec\n    exec: {command: [/bin/true]}\n"), 0o600)
	r := tickmark(t, "config", "validate", "--json", cfg)
	if r.code != 2 {
		t.Fatalf("exit %d", r.code)
	}
	var out struct {
		Valid    bool
		Problems []struct {
			Line         int
			Key, Message string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	// One pass: a top-level unknown key does not hide the collectors' problems.
	if out.Valid || len(out.Problems) != 3 || out.Problems[0].Key != "agent.bogus" || out.Problems[1].Key != "collectors[0].schedule" || out.Problems[2].Key != "collectors[1].name" {
		t.Fatalf("want agent.bogus, collectors[0].schedule and collectors[1].name, got %+v", out.Problems)
	}
	os.WriteFile(cfg, []byte("agent:\n  id: a\n  data_dir: /tmp/x\ncollectors:\n  - name: x\n    type: exec\n    schedule: nope\n    exec: {command: [/bin/true]}\n  - name: x\n    type: exec\n    exec: {command: []}\n"), 0o600)
	r = tickmark(t, "config", "validate", "--json", cfg)
	json.Unmarshal([]byte(r.stdout), &out)
	if len(out.Problems) != 3 {
		t.Fatalf("want 3 problems (cron, duplicate name, empty command), got %+v", out.Problems)
	}
}

// TestConfigValidateChecksWhereTheAgentRuns: a data dir the agent cannot
// write, and a YAML error at the line where it is.
func TestConfigValidateChecksWhereTheAgentRuns(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, nil, 0o600)
	os.WriteFile(cfg, []byte("agent:\n  id: a\n  data_dir: "+notDir+"/data\ncollectors:\n  - name: x\n    type: exec\n    exec: {command: [/no/such/program]}\n"), 0o600)
	r := tickmark(t, "config", "validate", cfg)
	for _, want := range []string{"line 3: agent.data_dir: " + notDir + "/data: not a directory", "line 7: collectors[0].exec.command: program /no/such/program"} {
		if r.code != 2 || !strings.Contains(r.stderr, want) {
			t.Errorf("exit %d, want 2 with %q:\n%s", r.code, want, r.stderr)
		}
	}
	// The same file is fine for reading: no data dir is written.
	if r := tickmark(t, "controls", "list", "--config", cfg); r.code != 0 {
		t.Errorf("controls list with an unwritable data dir: exit %d\n%s", r.code, r.stderr)
	}
	// An unclosed flow sequence opened on line 4 is reported on line 4.
	os.WriteFile(cfg, []byte("agent:\n  id: a\nstore:\n  type: [filesystem\n"), 0o600)
	if r := tickmark(t, "config", "validate", cfg); r.code != 2 || !strings.Contains(r.stderr, "line 4: invalid YAML") {
		t.Errorf("unclosed sequence: exit %d\n%s", r.code, r.stderr)
	}
}

func TestSecondProcessFailsFastOnLockedLedger(t *testing.T) {
	_, cfg := workspace(t, "")
	t.Setenv("N", "5")
	if r := tickmark(t, "run", "--once", "--config", cfg); r.code != 0 {
		t.Fatal(r.stderr)
	}
	// Hold the lock the way a running agent does.
	dir := filepath.Dir(cfg)
	db, err := bolt.Open(filepath.Join(dir, "data", "ledger.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := tickmark(t, "run", "--once", "--config", cfg)
	if r.code != 1 || !strings.Contains(r.stderr, "ledger is locked by another process") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}

// TestDemoNextCommandsNeedNoSecrets runs every "next:" command the demo
// prints as a newcomer would, in a fresh shell: none of the collectors'
// env: secrets is set, and read commands must not need them.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	r := tickmark(t, "demo", "--dir", dir, "--log-level", "error")
	if r.code != 0 {
		t.Fatalf("demo exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	today := time.Now().UTC()
	day := func(ago int) string { return today.AddDate(0, 0, -ago).Format(time.DateOnly) }
	for _, want := range []string{"SAMPLE DATA", "verification: OK", "evidence by control", "A1.2",
		"sample history: 90 days (" + day(90) + " to " + day(1) + ")", "87 daily runs",
		"the agent did not run on 3 days (" + day(52) + " to " + day(50) + ")",
		"failed run: " + day(23) + " sample-backup-api", "failed run: " + day(22) + " sample-backup-api"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
	testDemoNextCommands(t, dir, r)
	testREADMEAfterTheDemo(t, dir)
	// The window's coverage shows the planted gaps for what they are.
	_, gaps, _ := strings.Cut(r.stdout, "with its gaps (exit 1, as on any gap):\n")
	args := strings.Fields(strings.TrimSpace(gaps))
	if len(args) < 2 || args[0] != "tickmark" || args[1] != "coverage" {
		t.Fatalf("the demo prints no coverage command for the window:\n%s", r.stdout)
	}
	cov := tickmark(t, append(args[1:], "--json")...)
	if cov.code != 1 {
		t.Fatalf("coverage of the demo window: exit %d, want 1 (it has gaps)\n%s", cov.code, cov.stderr)
	}
	var rep struct {
		Controls []struct {
			Control struct {
				ID string `json:"id"`
			} `json:"control"`
			Days []struct {
				Date   string `json:"date"`
				Status string `json:"status"`
			} `json:"days"`
		} `json:"controls"`
	}
	if err := json.Unmarshal([]byte(cov.stdout), &rep); err != nil {
		t.Fatalf("coverage --json: %v\n%s", err, cov.stdout)
	}
	status := map[string]string{} // control/day -> status
	for _, c := range rep.Controls {
		for _, d := range c.Days {
			status[c.Control.ID+"/"+d.Date] = d.Status
		}
	}
	for key, want := range map[string]string{
		"AC-04/" + day(51): "gap_no_run", // the outage
		// evidence, but the demo's users include some without MFA: the
		// okta.active_users_mfa check run after each collection fails
		"AC-04/" + day(49): "covered_with_exceptions",
		"BC-02/" + day(23): "gap_failure", // the backup API rejected its token
		"BC-02/" + day(22): "gap_failure",
		"BC-02/" + day(21): "covered",
	} {
		// covered or covered_with_exceptions (the checks' verdict on the
		// sample data) both say the evidence is there
		if got := status[key]; got != want && !(want == "covered" && strings.HasPrefix(got, "covered")) {
			t.Errorf("coverage %s = %q, want %q", key, got, want)
		}
	}
}

// testREADMEAfterTheDemo runs the README's "After the demo" block as
// written, with its relative dates computed as GNU date would.
func testREADMEAfterTheDemo(t *testing.T, dir string) {
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "## After the demo")
	if ok {
		_, block, ok = strings.Cut(block, "```sh\n")
	}
	if ok {
		block, _, ok = strings.Cut(block, "```")
	}
	if !ok {
		t.Fatal(`README.md has no "After the demo" sh block`)
	}
	today := time.Now().UTC()
	dates := regexp.MustCompile(`\$\(date -u (?:-d '-(\d+) days' )?\+%F\)`)
	n := 0
	for _, line := range strings.Split(block, "\n") {
		line, _, _ = strings.Cut(line, "#")
		line = dates.ReplaceAllStringFunc(line, func(m string) string {
			days := 0
			if sm := dates.FindStringSubmatch(m); sm[1] != "" {
				days, _ = strconv.Atoi(sm[1])
			}
			return today.AddDate(0, 0, -days).Format(time.DateOnly)
		})
		args := strings.Fields(strings.ReplaceAll(line, "./demo", dir))
		switch {
		case len(args) == 0 || args[0] == "export":
			if len(args) > 1 {
				t.Setenv("TICKMARK_CONFIG", strings.TrimPrefix(args[1], "TICKMARK_CONFIG="))
			}
			continue
		case args[0] != "tickmark":
			t.Fatalf("README line is not a tickmark command: %q", line)
		case args[1] == "demo":
			continue // already run
		}
		n++
		want := 0
		if args[1] == "coverage" {
			want = 1 // the sample history has gaps, as the README says
		}
		if res := tickmark(t, args[1:]...); res.code != want {
			t.Errorf("README: %s: exit %d, want %d\n%s%s", line, res.code, want, res.stdout, res.stderr)
		}
	}
	if n < 7 {
		t.Fatalf("ran %d README commands, want at least 7", n)
	}
}

func testDemoNextCommands(t *testing.T, dir string, r result) {
	// Unset every secret the configuration references (the demo sets them in
	// its own process only).
	cfgText, err := os.ReadFile(filepath.Join(dir, "tickmark.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`env:([A-Z0-9_]+)`).FindAllStringSubmatch(string(cfgText), -1) {
		name := m[1]
		if old, ok := os.LookupEnv(name); ok {
			os.Unsetenv(name)
			t.Cleanup(func() { os.Setenv(name, old) })
		}
	}
	_, next, ok := strings.Cut(r.stdout, "\nnext:\n")
	if !ok {
		t.Fatalf("demo printed no next: commands:\n%s", r.stdout)
	}
	next, _, _ = strings.Cut(next, "\n\n") // the next: section only
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(next), "\n") {
		args := strings.Fields(line)
		if len(args) < 2 || args[0] != "tickmark" {
			continue
		}
		n++
		res := tickmark(t, append(args[1:], "--log-level", "error")...)
		if res.code != 0 {
			t.Errorf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", line, res.code, res.stdout, res.stderr)
		}
	}
	if n < 6 {
		t.Fatalf("expected at least 6 next: commands, found %d:\n%s", n, next)
	}
	// A command that runs collectors still needs their secrets, and says which.
	res := tickmark(t, "config", "validate", filepath.Join(dir, "tickmark.yaml"))
	if res.code != 2 || !strings.Contains(res.stderr+res.stdout, "TICKMARK_DEMO_GITHUB_TOKEN is not set") {
		t.Errorf("config validate without secrets: exit %d, want 2 naming the missing variable\n%s%s", res.code, res.stdout, res.stderr)
	}
}

// TestMistypedSubcommandExits2WithSuggestion: a typo in a command group is a
// usage error naming the nearest command, never help with exit 0.
func TestMistypedSubcommandExits2WithSuggestion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"config", "valdate"}, `did you mean validate?`},
		{[]string{"evidence", "lst"}, `did you mean list?`},
		{[]string{"ledger", "restor"}, `did you mean restore?`},
		{[]string{"evidnce", "list"}, `unknown command "evidnce"`},
	} {
		r := tickmark(t, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("tickmark %s: exit %d, want 2 with %q\nstderr: %s", strings.Join(tc.args, " "), r.code, tc.want, r.stderr)
		}
	}
	if r := tickmark(t, "config"); r.code != 0 || !strings.Contains(r.stdout, "validate") {
		t.Errorf("tickmark config alone: exit %d, want its help with exit 0\n%s%s", r.code, r.stdout, r.stderr)
	}
}
