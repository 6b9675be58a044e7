package exec_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/exec"
)

const testToken = "exec-test-token-77"

// restoreLog is the fake backup tool's state: the log file the test script reads.
type restoreLog struct {
	path string
	next int
}

func newRestoreLog(t *testing.T, n int) *restoreLog {
	l := &restoreLog{path: filepath.Join(t.TempDir(), "restore-tests.log"), next: 1}
	if err := os.WriteFile(l.path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	l.add(t, n)
	return l
}

func (l *restoreLog) add(t testing.TB, n int) {
	f, err := os.OpenFile(l.path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dbs := []string{"orders-db", "billing-db", "users-db"}
	for i := 0; i < n; i++ {
		at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(l.next) * time.Hour)
		fmt.Fprintf(f, "%d %s %s %t\n", l.next, at.Format(time.RFC3339), dbs[l.next%3], l.next%5 != 0)
		l.next++
	}
}

func script(t *testing.T) string {
	p, err := filepath.Abs("testdata/restore-tests.sh")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConformance(t *testing.T) {
	t.Setenv("EXEC_TEST_TOKEN", testToken)
	log := newRestoreLog(t, 7)
	cfg := fmt.Sprintf("command: [/bin/sh, %q, %q]\nenv: [EXEC_TEST_TOKEN]\ntimeout: 30s\n", script(t), log.path)
	collectortest.Suite{
		Type:    "exec",
		Config:  cfg,
		Secrets: []string{testToken},
		Items: func(a collectortest.Artifact) []string {
			var b struct {
				Tests []struct{ ID int } `json:"tests"`
			}
			if err := json.Unmarshal(a.Body, &b); err != nil {
				t.Errorf("artifact body: %v", err)
			}
			var ids []string
			for _, x := range b.Tests {
				ids = append(ids, fmt.Sprint(x.ID))
			}
			return ids
		},
		Grow: func() { log.add(t, 3) },
		Failures: []collectortest.Failure{
			{
				Name: "backup API down",
				Setup: func() func() {
					if err := os.WriteFile(log.path+".down", nil, 0o600); err != nil {
						t.Fatal(err)
					}
					return func() { os.Remove(log.path + ".down") }
				},
				MessageContains: []string{"exec:", "restore-tests.sh failed: exit status 4", "stderr: backup API unavailable: 503"},
			},
			{
				Name:            "token not passed through",
				Config:          fmt.Sprintf("command: [/bin/sh, %q, %q]\n", script(t), log.path),
				MessageContains: []string{"exit status 3", "refused the token"},
			},
		},
	}.Run(t)
}

// run builds an exec collector running the shell script src and runs it once.
func run(t *testing.T, src string, extra string, o collectortest.Options) collectortest.Result {
	t.Helper()
	cfg := fmt.Sprintf("command: [/bin/sh, -c, %q]\n%s", src, extra)
	return collectortest.Run(t, collectortest.Build(t, "exec", cfg), o)
}

func TestMalformedLineNamesItsLineAndCommitsNothingAfterTheLastCursor(t *testing.T) {
	res := run(t, `
echo '{"type":"t.a","body":{"n":1}}'
echo '{"cursor":"c1"}'
echo
echo '{"type":"t.a","body":{"n":2}}'
echo '{"type":"t.a","body":{"n":3},"bogus":true}'
echo '{"type":"t.a","body":{"n":4}}'
echo '{"cursor":"c2"}'
`, "", collectortest.Options{})
	if res.Err == nil {
		t.Fatal("a malformed line was accepted")
	}
	for _, want := range []string{"exec: output line 5:", `unknown field "bogus"`} {
		if !strings.Contains(res.Err.Error(), want) {
			t.Errorf("error %q does not mention %q", res.Err, want)
		}
	}
	if collectors.IsRetryable(res.Err) {
		t.Errorf("a protocol error must be permanent: %v", res.Err)
	}
	if res.Cursor != "c1" {
		t.Errorf("cursor = %q, want c1 (the last one before the bad line)", res.Cursor)
	}
	if len(res.Committed) != 1 || string(res.Committed[0].Body) != `{"n":1}` {
		t.Errorf("committed %d artifacts, want only the one before cursor c1: %+v", len(res.Committed), res.Committed)
	}
	if len(res.Emitted) != 2 {
		t.Errorf("emitted %d artifacts, want 2 (line 4 emitted, then discarded; nothing after the bad line)", len(res.Emitted))
	}
}

func TestProtocolErrors(t *testing.T) {
	for _, tc := range []struct {
		name, line, want string
	}{
		{"not JSON", `hello`, "output line 1: not a JSON object of the exec protocol"},
		{"two values", `{"cursor":"a"} {"cursor":"b"}`, "output line 1: more than one JSON value on the line"},
		{"no type", `{"body":{}}`, `output line 1: missing "type" (or "cursor")`},
		{"no body", `{"type":"t.a"}`, `output line 1: missing "body" or "body_base64"`},
		{"both bodies", `{"type":"t.a","body":{},"body_base64":"AA=="}`, `give "body" or "body_base64", not both`},
		{"bad base64", `{"type":"t.a","body_base64":"%%%"}`, "body_base64: illegal base64"},
		{"bad time", `{"type":"t.a","body":1,"observed_at":"yesterday"}`, `observed_at: "yesterday" is not an RFC 3339 time`},
		{"window reversed", `{"type":"t.a","body":1,"window_start":"2026-11-02T00:00:00Z","window_end":"2026-11-01T00:00:00Z"}`, "window_end is before window_start"},
		{"cursor with body", `{"cursor":"x","body":{}}`, `a cursor line carries only "cursor"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, "printf '%s\\n' '"+tc.line+"'", "", collectortest.Options{})
			if res.Err == nil || !strings.Contains(res.Err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", res.Err, tc.want)
			}
			if len(res.Committed) != 0 {
				t.Errorf("committed %d artifacts", len(res.Committed))
			}
		})
	}
}

func TestNonZeroExitFailsWithStderrAndDiscardsUncommitted(t *testing.T) {
	res := run(t, `
echo '{"type":"t.a","body":1}'
echo '{"cursor":"7"}'
echo '{"type":"t.a","body":2}'
echo 'login to the backup API failed: 401' >&2
exit 3
`, "", collectortest.Options{})
	if res.Err == nil {
		t.Fatal("a failing command succeeded")
	}
	msg := res.Err.Error()
	for _, want := range []string{"exec: /bin/sh failed: exit status 3", "stderr: login to the backup API failed: 401"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if collectors.IsRetryable(res.Err) {
		t.Errorf("a non-zero exit is permanent: %v", res.Err)
	}
	if res.Cursor != "7" || len(res.Committed) != 1 {
		t.Errorf("cursor %q with %d committed, want 7 with 1", res.Cursor, len(res.Committed))
	}
}

func TestTimeoutKillsTheCommandAndIsRetryable(t *testing.T) {
	start := time.Now()
	res := run(t, `
echo '{"type":"t.a","body":1}'
sleep 30 &
wait
`, "timeout: 300ms\n", collectortest.Options{})
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("timed-out command took %s to stop; the process group must be killed", el)
	}
	if res.Err == nil || !strings.Contains(res.Err.Error(), "did not finish within 300ms (exec.timeout)") {
		t.Fatalf("error = %v, want a timeout naming exec.timeout", res.Err)
	}
	if !collectors.IsRetryable(res.Err) {
		t.Errorf("a timeout is retryable: %v", res.Err)
	}
	if len(res.Committed) != 0 {
		t.Errorf("committed %d artifacts of a timed-out run without a checkpoint", len(res.Committed))
	}
}

func TestBodyAndBodyBase64(t *testing.T) {
	res := run(t, `
echo '{"type":"t.json","subject":"s1","body":{ "b": [1, 2],  "a": "x" }}'
echo '{"type":"t.bin","body_base64":"aGVsbG8sIHdvcmxkCg=="}'
echo '{"type":"t.csv","content_type":"text/csv","body_base64":"YSxiCjEsMgo="}'
echo '{"type":"t.str","body":"plain text"}'
`, "", collectortest.Options{})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	want := []struct{ typ, ct, body string }{
		{"t.json", "application/json", `{"b":[1,2],"a":"x"}`},
		{"t.bin", "application/octet-stream", "hello, world\n"},
		{"t.csv", "text/csv", "a,b\n1,2\n"},
		{"t.str", "application/json", `"plain text"`},
	}
	if len(res.Committed) != len(want) {
		t.Fatalf("got %d artifacts, want %d", len(res.Committed), len(want))
	}
	for i, w := range want {
		a := res.Committed[i]
		if a.Type != w.typ || a.ContentType != w.ct || string(a.Body) != w.body {
			t.Errorf("artifact %d = %s %s %q, want %s %s %q", i, a.Type, a.ContentType, a.Body, w.typ, w.ct, w.body)
		}
		if a.Source.System != "exec" || a.Source.CollectorVersion != exec.Version || !strings.HasPrefix(a.Source.Endpoint, "/bin/sh -c") {
			t.Errorf("artifact %d source defaults = %+v", i, a.Source)
		}
	}
}

func envScript() string {
	return `printf '{"type":"t.env","body":{"listed":"%s","unlisted":"%s","path":"%s","cursor":"%s","now":"%s","since":"%s","instance":"%s"}}\n' "${EXEC_LISTED:-}" "${EXEC_UNLISTED:-}" "$PATH" "$TICKMARK_CURSOR" "$TICKMARK_NOW" "$TICKMARK_SINCE" "$TICKMARK_INSTANCE"`
}

type envBody struct {
	Listed, Unlisted, Path, Cursor, Now, Since, Instance string
}

func runEnv(t *testing.T, extra string) envBody {
	t.Helper()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	res := run(t, envScript(), extra, collectortest.Options{Cursor: "c-41", Now: now, Since: now.AddDate(0, 0, -90)})
	if res.Err != nil || len(res.Committed) != 1 {
		t.Fatalf("err %v, %d artifacts", res.Err, len(res.Committed))
	}
	var b envBody
	if err := json.Unmarshal(res.Committed[0].Body, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEnvironmentPassesOnlyListedVariables(t *testing.T) {
	t.Setenv("EXEC_LISTED", "listed-value")
	t.Setenv("EXEC_UNLISTED", "must-not-pass")
	t.Setenv("PATH", "/opt/agent/bin:/usr/bin:/bin")
	b := runEnv(t, "env: [EXEC_LISTED, EXEC_NOT_SET]\n")
	if b.Listed != "listed-value" || b.Unlisted != "" {
		t.Errorf("listed=%q unlisted=%q: only listed variables may reach the command", b.Listed, b.Unlisted)
	}
	if b.Path != "/usr/local/bin:/usr/bin:/bin" {
		t.Errorf("PATH = %q, want the default /usr/local/bin:/usr/bin:/bin when PATH is not listed", b.Path)
	}
	want := envBody{Listed: b.Listed, Path: b.Path, Cursor: "c-41", Now: "2026-11-30T12:00:00Z", Since: "2026-09-01T12:00:00Z", Instance: "test"}
	if b != want {
		t.Errorf("TICKMARK_* variables = %+v, want %+v", b, want)
	}
	// Listing PATH passes the agent's own.
	if b := runEnv(t, "env: [PATH]\n"); b.Path != "/opt/agent/bin:/usr/bin:/bin" {
		t.Errorf("with PATH listed, PATH = %q, want the agent's", b.Path)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{"timeout: 1m\n", "command: is required"},
		{"command: [x]\nenv: [\"A=b\"]\n", `"A=b" is not a variable name`},
		{"command: [x]\nmax_line_bytes: -1\n", "max_line_bytes: must be positive"},
		{"command: [x]\nshell: true\n", "line 2: collectors[0].exec.shell: unknown key"},
	} {
		_, err := collectortest.BuildErr("exec", tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %q: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestLongLineIsRefused(t *testing.T) {
	res := run(t, `head -c 200000 /dev/zero | tr '\0' 'a'; echo`, "max_line_bytes: 100000\n", collectortest.Options{})
	if res.Err == nil || !strings.Contains(res.Err.Error(), "output line 1 is longer than 100000 bytes (exec.max_line_bytes)") {
		t.Fatalf("error = %v", res.Err)
	}
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		`{"type":"custom.backup_test","subject":"db","body":{"ok":true}}`,
		`{"cursor":"42"}`,
		`{"cursor":{"page":3,"after":"x"}}`,
		`{"type":"t.a","body_base64":"aGk="}`,
		`{"type":"t.a","body":1,"window_start":"2026-11-01T00:00:00Z","window_end":"2026-11-02T00:00:00Z"}`,
		`{"type":"t.a","body":[],"source":{"system":"s","items":3,"complete":true}}`,
		`not json`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := exec.ParseLine(b)
		if err != nil {
			if l.Artifact != nil || l.Cursor != nil {
				t.Fatalf("error %v with a result", err)
			}
			return
		}
		if (l.Artifact == nil) == (l.Cursor == nil) {
			t.Fatalf("want exactly one of artifact and cursor: %+v", l)
		}
		if a := l.Artifact; a != nil {
			if a.Type == "" || a.Body == nil || a.ContentType == "" {
				t.Fatalf("incomplete artifact from %q: %+v", b, a)
			}
			if !a.WindowStart.IsZero() && !a.WindowEnd.IsZero() && a.WindowEnd.Before(a.WindowStart) {
				t.Fatalf("reversed window accepted from %q", b)
			}
			if a.ContentType == "application/json" && !json.Valid(a.Body) {
				t.Fatalf("JSON body is not valid JSON: %q", a.Body)
			}
		}
	})
}

func TestSampleConfigIsValid(t *testing.T) {
	section, err := collectortest.SampleSection("exec")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(section, "command:") {
		t.Fatalf("section:\n%s", section)
	}
	// The sample names the program where an agent would have it; validation
	// checks that it exists there.
	_, err = collectortest.BuildErr("exec", section)
	if err == nil || !strings.Contains(err.Error(), "exec.command: program /usr/local/bin/backup-evidence: no such file") {
		t.Fatalf("sample configuration on a machine without its program: %v", err)
	}
	// With a program that exists, the sample is valid as it is.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	section = strings.Replace(section, "/usr/local/bin/backup-evidence", self, 1)
	if _, err := collectortest.BuildErr("exec", section); err != nil {
		t.Fatalf("sample configuration:\n%s\n%v", section, err)
	}
}

// An exec command that cannot run is a configuration error naming the key:
// missing, not executable, a directory, not in PATH.
func TestValidateFindsTheProgram(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "collect.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ command, want string }{
		{`["/no/such/program"]`, "program /no/such/program: no such file or directory"},
		{fmt.Sprintf("[%q]", script), "is not executable"},
		{fmt.Sprintf("[%q]", dir), "is a directory"},
		{`["no-such-program-in-path"]`, `program "no-such-program-in-path" is not in PATH`},
	} {
		_, err := collectortest.BuildErr("exec", "command: "+tc.command+"\n")
		if err == nil || !strings.Contains(err.Error(), "exec.command") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("command %s: err = %v, want exec.command: …%s", tc.command, err, tc.want)
		}
	}
	if err := os.Chmod(script, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := collectortest.BuildErr("exec", fmt.Sprintf("command: [%q]\n", script)); err != nil {
		t.Errorf("an executable script: %v", err)
	}
}
