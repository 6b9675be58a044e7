// Package backupcollector_test follows docs/writing-a-collector.md as a new
// user would: in a fresh folder, it writes every file the page shows, as a
// module of its own (example.com/acme-tickmark, with this checkout in place
// of the published tickmark), and runs every command the page says to run,
// in order: go test, go build, and the custom binary's collectors test, run,
// evidence list and verify. The files the page shows must also be the files
// in this folder, so CI builds and tests the same code.
package backupcollector_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const (
	docPath    = "../../writing-a-collector.md"
	userModule = "example.com/acme-tickmark"
	repoModule = "github.com/tickmark-dev/tickmark/docs/examples/backup-collector"
)

// step is one marked code block of the page, in order.
type step struct {
	kind string // file, append, run
	path string
	body string
}

var markerRE = regexp.MustCompile(`^<!-- (file|append): (\S+) -->$|^<!-- (run) -->$`)

func readSteps(t *testing.T) []step {
	t.Helper()
	f, err := os.Open(docPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var steps []step
	var cur *step
	inBlock := false
	var body strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case inBlock && line == "```":
			inBlock = false
			if cur != nil {
				cur.body = body.String()
				steps = append(steps, *cur)
				cur = nil
			}
		case inBlock:
			body.WriteString(line + "\n")
		case strings.HasPrefix(line, "```"):
			inBlock = true
			body.Reset()
		default:
			if m := markerRE.FindStringSubmatch(line); m != nil {
				if m[3] == "run" {
					cur = &step{kind: "run"}
				} else {
					cur = &step{kind: m[1], path: m[2]}
				}
			} else if strings.TrimSpace(line) != "" && cur != nil {
				t.Fatalf("marker for %s %s is not followed by a code block", cur.kind, cur.path)
			}
		}
	}
	if len(steps) == 0 {
		t.Fatal("the page has no marked steps")
	}
	return steps
}

// repoFile is where a file the page shows lives in this folder.
func repoFile(path string) string {
	if path == "restore-tests.jsonl" {
		return "testdata/restore-tests.jsonl"
	}
	return path
}

func TestPageShowsTheFilesInThisFolder(t *testing.T) {
	shown := map[string]bool{}
	for _, s := range readSteps(t) {
		if s.kind != "file" || s.path == "tickmark.yaml" {
			continue
		}
		shown[s.path] = true
		b, err := os.ReadFile(repoFile(s.path))
		if err != nil {
			t.Errorf("the page shows %s, which is not in docs/examples/backup-collector: %v", s.path, err)
			continue
		}
		want := strings.ReplaceAll(string(b), repoModule, userModule)
		if s.body != want {
			t.Errorf("the page's %s differs from %s; paste the file into the page again", s.path, repoFile(s.path))
		}
	}
	for _, p := range []string{"backupdb/backupdb.go", "backupdb/conformance_test.go", "backupdb/script_test.go", "cmd/tickmark-acme/main.go", "scripts/restore-tests.sh", "restore-tests.jsonl"} {
		if !shown[p] {
			t.Errorf("the page no longer shows %s", p)
		}
	}
}

func TestMainIsTenLines(t *testing.T) {
	b, err := os.ReadFile("cmd/tickmark-acme/main.go")
	if err != nil {
		t.Fatal(err)
	}
	code := 0
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "//") {
			code++
		}
	}
	if code > 10 {
		t.Errorf("main.go has %d lines of code; the page promises ten", code)
	}
}

func TestFollowThePage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module and a binary; run without -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is not on PATH: %v", err)
	}
	repo, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	// Step 1 of the page (mkdir, go mod init, go get) with this checkout in
	// place of the published module: the page's code is compiled as the
	// user's module, from the page's own code blocks.
	ws := t.TempDir()
	repoMod, err := os.ReadFile(filepath.Join(repo, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go \S+$`).Find(repoMod) // the same Go version as tickmark
	gomod := "module " + userModule + "\n\n" + string(goLine) + "\n\nrequire github.com/tickmark-dev/tickmark v0.0.0-00010101000000-000000000000\n\nreplace github.com/tickmark-dev/tickmark => " + repo + "\n"
	if err := os.WriteFile(filepath.Join(ws, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(),
		"PATH="+filepath.Dir(goBin)+":/usr/local/bin:/usr/bin:/bin",
		"GOFLAGS=-mod=mod", "GOPROXY=off", "GOSUMDB=off", "GOWORK=off", "GOTOOLCHAIN=local", "TICKMARK_CONFIG=")
	ran := map[string]bool{}
	runs := 0
	for _, s := range readSteps(t) {
		switch s.kind {
		case "file", "append":
			p := filepath.Join(ws, s.path)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			flag := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
			if s.kind == "append" {
				flag = os.O_APPEND | os.O_WRONLY
			}
			f, err := os.OpenFile(p, flag, 0o755)
			if err != nil {
				t.Fatalf("%s %s: %v", s.kind, s.path, err)
			}
			f.WriteString(s.body)
			f.Close()
		case "run":
			for _, line := range strings.Split(strings.TrimSpace(s.body), "\n") {
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				cmd := exec.Command("/bin/sh", "-c", line)
				cmd.Dir = ws
				cmd.Env = env
				var stderr strings.Builder
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("$ %s\n%s\n%s\nfailed: %v", line, out, stderr.String(), err)
				}
				ran[line] = true
				check(t, ws, line, string(out), &runs)
			}
		}
	}
	for _, c := range []string{"go test ./...", "go build -o tickmark-acme", "collectors test restore-tests ", "run --once", "verify", "collectors test restore-tests-script", "evidence list --collector restore-tests-script"} {
		found := false
		for line := range ran {
			found = found || strings.Contains(line, c)
		}
		if !found {
			t.Errorf("the page no longer runs a command with %q", c)
		}
	}
}

// check asserts what the page says each command shows.
// runs counts `run --once` commands, to tell the Go and exec steps apart.
func check(t *testing.T, ws, line, out string, runs *int) {
	t.Helper()
	squash := func(s string) string { return strings.Join(strings.Fields(s), " ") } // column widths vary
	has := func(subs ...string) {
		t.Helper()
		for _, s := range subs {
			if !strings.Contains(squash(out), squash(s)) {
				t.Errorf("$ %s\noutput lacks %q:\n%s", line, s, out)
			}
		}
	}
	rows := func() int {
		n := 0
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if strings.Contains(l, "backupdb.restore_tests") {
				n++
			}
		}
		return n
	}
	switch {
	case line == "go test ./...":
		has("ok  \t" + userModule + "/backupdb")
	case strings.Contains(line, "collectors list"):
		has("backupdb  backupdb.restore_tests  A1.2,A1.3,CC7.5", "exec ", "http ")
	case strings.Contains(line, "config validate"):
		has("valid")
	case strings.Contains(line, "collectors test restore-tests "):
		has("controls: A1.2, A1.3, CC7.5", `checkpoint: cursor "1005" (not saved)`, "3 artifacts, 2275 bytes, 3 checkpoints", "nothing was committed")
		if _, err := os.Stat(filepath.Join(ws, "data")); !os.IsNotExist(err) {
			t.Errorf("the dry run created the data dir")
		}
	case strings.Contains(line, "collectors test restore-tests-script"):
		has("#2 backupdb.restore_tests", "(stopped at --limit 2)")
	case strings.Contains(line, "run --once"):
		*runs++
		if *runs == 1 {
			has("restore-tests  backupdb  success  3          2275   A1.2:3 A1.3:3 CC7.5:3")
		} else {
			has("restore-tests-script  exec      success  12", "A1.2:12 A1.3:12 CC7.5:12")
		}
	case strings.Contains(line, "evidence list --control A1.3"):
		if n := rows(); n != 3 {
			t.Errorf("$ %s\n%d records, want 3:\n%s", line, n, out)
		}
	case strings.Contains(line, "evidence list --collector restore-tests-script"):
		if n := rows(); n != 12 {
			t.Errorf("$ %s\n%d records, want 12:\n%s", line, n, out)
		}
	case strings.Contains(line, "verify"):
		has("OK: every record, checkpoint signature, published tile and body verified")
	case strings.HasPrefix(line, "find ") && strings.Contains(line, "*.json"):
		if strings.TrimSpace(out) != "12" {
			t.Errorf("$ %s\n%s, want 12 (the script's artifacts under A1.3)", line, out)
		}
	case strings.HasPrefix(line, "find "):
		log, _ := os.ReadFile(filepath.Join(ws, "restore-tests.jsonl"))
		files := strings.Fields(out)
		if len(files) != 3 {
			t.Errorf("$ %s\n%d files, want 3:\n%s", line, len(files), out)
		}
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(ws, f))
			if err != nil || len(b) == 0 || !strings.Contains(string(log), string(b)) {
				t.Errorf("%s is not a piece of the backup system's log (err %v)", f, err)
			}
		}
	}
}
