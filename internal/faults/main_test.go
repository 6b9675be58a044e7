package faults_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/internal/app"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/store"
)

// binDir holds the binaries built for this test run.
var binDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "tickmark-faults-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

var builds sync.Map // package -> *buildOnce

type buildOnce struct {
	once sync.Once
	path string
	err  error
}

// binary builds a main package of this module once per test run.
func binary(t *testing.T, pkg string) string {
	t.Helper()
	v, _ := builds.LoadOrStore(pkg, &buildOnce{})
	b := v.(*buildOnce)
	b.once.Do(func() {
		b.path = filepath.Join(binDir, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-o", b.path, pkg)
		cmd.Dir = moduleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// tickmarkBin is the real binary; faultBin is the same CLI with the
// faultapi test collector (testdata/faultbin).
func tickmarkBin(t *testing.T) string { return binary(t, "./cmd/tickmark") }
func faultBin(t *testing.T) string    { return binary(t, "./internal/faults/testdata/faultbin") }

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func generateScript() string { return filepath.Join(moduleRoot(), "testdata", "exec", "generate.sh") }

const agentID = "fx"

// agent is one tickmark installation under test: a config, a data dir and
// a filesystem store, run as a separate process (inside a mount namespace
// when ns is set).
type agent struct {
	t     *testing.T
	bin   string
	dir   string // workspace on the host
	data  string // data dir, as the process sees it
	store string // store folder, as the process sees it
	ns    *mountNS
	env   []string
}

func newAgent(t *testing.T, bin, collectorsYAML string) *agent {
	t.Helper()
	dir := t.TempDir()
	a := &agent{t: t, bin: bin, dir: dir, data: filepath.Join(dir, "data"), store: filepath.Join(dir, "store")}
	a.writeConfig(collectorsYAML)
	return a
}

func (a *agent) config() string { return filepath.Join(a.dir, "tickmark.yaml") }

func (a *agent) writeConfig(collectorsYAML string) {
	a.t.Helper()
	cfg := fmt.Sprintf("agent: {id: %s, data_dir: %s}\nstore: {type: filesystem, path: %s}\nrunner: {retries: 0, concurrency: 2}\ncollectors:\n%s",
		agentID, a.data, a.store, collectorsYAML)
	if err := os.WriteFile(a.config(), []byte(cfg), 0o600); err != nil {
		a.t.Fatal(err)
	}
}

// host returns the host path of a path the process sees.
func (a *agent) host(p string) string {
	if a.ns != nil {
		return a.ns.path(p)
	}
	return p
}

// result is one finished process.
type result struct {
	code           int
	stdout, stderr string
	elapsed        time.Duration
	maxRSS         int64 // bytes
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %s\nstdout:\n%s\nstderr:\n%s", r.code, r.elapsed.Round(time.Millisecond), r.stdout, r.stderr)
}

// run runs the binary with args and the agent's config.
func (a *agent) run(args ...string) result {
	a.t.Helper()
	args = append(args, "--config", a.config())
	var cmd *exec.Cmd
	if a.ns != nil {
		cmd = a.ns.command(a.bin, args...)
	} else {
		cmd = exec.Command(a.bin, args...)
	}
	cmd.Env = append(os.Environ(), a.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Start()
	var hwm chan int64
	if err == nil && a.ns == nil {
		hwm = watchHWM(cmd.Process.Pid)
	}
	if err == nil {
		err = cmd.Wait()
	}
	r := result{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	if hwm != nil {
		r.maxRSS = <-hwm
	} else if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru != nil {
			r.maxRSS = ru.Maxrss << 10
		}
	}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			a.t.Fatalf("running %s: %v", a.bin, err)
		}
		r.code = ee.ExitCode()
	}
	return r
}

// watchHWM samples the process's own resident high-water mark (VmHWM of
// /proc/PID/status) every 2 ms until it exits, and sends the last value read.
// The rusage ru_maxrss of a child is not the agent's: Go starts children
// with vfork, and execve folds the parent's high-water mark into the
// child's, so a test binary that has grown (other tests in parallel, 100 MiB
// fake responses) would be measured instead of the agent.
func watchHWM(pid int) chan int64 {
	out := make(chan int64, 1)
	go func() {
		var last int64
		path := fmt.Sprintf("/proc/%d/status", pid)
		for {
			b, err := os.ReadFile(path)
			if err != nil {
				break
			}
			v, ok := statusKB(b, "VmHWM:")
			if !ok {
				break // exited: no memory map any more (a zombie's status has no VmHWM)
			}
			last = v << 10
			time.Sleep(2 * time.Millisecond)
		}
		out <- last
	}()
	return out
}

func statusKB(status []byte, key string) (int64, bool) {
	for _, l := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(l, key); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil {
				return kb, true
			}
		}
	}
	return 0, false
}

// runOnce runs `run --once --json` and decodes the summary.
func (a *agent) runOnce() (*app.Summary, result) {
	a.t.Helper()
	r := a.run("run", "--once", "--json", "--log-format", "json", "--log-level", "debug")
	a.t.Logf("run --once: exit %d after %s", r.code, r.elapsed.Round(time.Millisecond))
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(l, "tickmark: error:") || strings.HasPrefix(l, "hint:") {
			a.t.Log("  " + l)
		}
	}
	var s app.Summary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		a.t.Fatalf("run --once printed no JSON summary: %v\n%s", err, r)
	}
	return &s, r
}

// verify runs `tickmark verify` and fails the test unless it passes.
func (a *agent) verify() {
	a.t.Helper()
	r := a.run("verify")
	a.t.Logf("verify: exit %d after %s", r.code, r.elapsed.Round(time.Millisecond))
	if r.code != 0 || !strings.Contains(r.stdout, "OK: every record") {
		a.t.Fatalf("tickmark verify failed:\n%s", r)
	}
}

// collector returns the named collector's part of a summary.
func collectorOf(t *testing.T, s *app.Summary, name string) app.CollectorSummary {
	t.Helper()
	for _, c := range s.Collectors {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no collector %q in the summary", name)
	return app.CollectorSummary{}
}

// ledgerState is what the ledger committed: each record's hash by
// sequence number, and the records by subject.
type ledgerState struct {
	hashes   map[uint64][32]byte
	subjects map[string]int // collector/subject/source query -> count
	records  []*evidence.Record
	outbox   int
	cursors  map[string]string
}

// snapshot reads the committed ledger (read-only, from outside the process).
func (a *agent) snapshot() ledgerState {
	a.t.Helper()
	l, err := ledger.Open(a.host(a.data), agentID, ledger.Options{ReadOnly: true})
	if err != nil {
		a.t.Fatalf("opening the ledger: %v", err)
	}
	defer l.Close()
	st := ledgerState{hashes: map[uint64][32]byte{}, subjects: map[string]int{}, cursors: map[string]string{}}
	err = l.View(func(v *ledger.Viewer) error {
		return v.Records(0, func(seq uint64, data []byte) error {
			st.hashes[seq] = sha256.Sum256(data)
			r, err := evidence.Decode(data)
			if err != nil {
				return fmt.Errorf("record %d: %w", seq, err)
			}
			st.records = append(st.records, r)
			st.subjects[r.Collector+"/"+r.Subject+"/"+r.Source.Query]++
			return nil
		})
	})
	if err != nil {
		a.t.Fatal(err)
	}
	if st.outbox, err = l.OutboxLen(); err != nil {
		a.t.Fatal(err)
	}
	return st
}

// cursor reads a collector's committed cursor.
func (a *agent) cursor(name string) string {
	a.t.Helper()
	l, err := ledger.Open(a.host(a.data), agentID, ledger.Options{ReadOnly: true})
	if err != nil {
		a.t.Fatal(err)
	}
	defer l.Close()
	c, err := l.Cursor(name)
	if err != nil {
		a.t.Fatal(err)
	}
	return c
}

// keepsAll fails the test unless every record of before is in after, unchanged.
func keepsAll(t *testing.T, before, after ledgerState, when string) {
	t.Helper()
	for seq, h := range before.hashes {
		if after.hashes[seq] != h {
			t.Fatalf("%s: record %d committed earlier is gone or changed", when, seq)
		}
	}
}

// noDuplicates fails the test if a collector committed one subject twice.
func noDuplicates(t *testing.T, st ledgerState) {
	t.Helper()
	for s, n := range st.subjects {
		if n != 1 {
			t.Fatalf("%s committed %d times, want exactly once", s, n)
		}
	}
}

// storeState checks the store against the ledger: every record's body is
// in the store under each of its controls, with the record's SHA-256; the
// store holds no other evidence object (nothing pushed twice under another
// name) and no temporary file. It returns the number of evidence objects.
func (a *agent) storeState(st ledgerState) int {
	a.t.Helper()
	root := a.host(a.store)
	layout := store.NewBucket(nil, "") // keys only
	want := map[string]string{}
	for _, r := range st.records {
		for _, c := range r.Controls {
			want[layout.EvidenceObject(c, r)] = r.SHA256
		}
	}
	objects := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			return fmt.Errorf("temporary file left in the store: %s", p)
		}
		rel, _ := filepath.Rel(root, p)
		key := filepath.ToSlash(rel)
		if d.IsDir() || !strings.HasPrefix(key, "controls/") {
			return nil
		}
		objects++
		sum, ok := want[key]
		if !ok {
			return fmt.Errorf("evidence object %s belongs to no record", key)
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
		if hex.EncodeToString(h.Sum(nil)) != sum {
			return fmt.Errorf("evidence object %s does not match its record", key)
		}
		return nil
	})
	if err != nil {
		a.t.Fatal(err)
	}
	if objects != len(want) {
		a.t.Fatalf("store holds %d evidence objects, want %d (one per record and control)", objects, len(want))
	}
	return objects
}

// deadline is a context for helper servers.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
