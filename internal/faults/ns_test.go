package faults_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// mountNS is a private mount namespace holding size-limited tmpfs mounts,
// so that a process run inside it meets a real ENOSPC (or a real read-only
// file system) while the rest of the machine is untouched. A holder
// process keeps the namespace (and the mounts' contents) alive between
// runs; the test reaches the files through /proc/<holder>/root.
type mountNS struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	pid    int
	userns bool // entered as an unprivileged user (unshare -r)
}

// tmpfs is one mount: a folder and its size.
type tmpfs struct {
	dir  string
	size string // e.g. "16m"
}

// newMountNS starts the holder with the mounts in order (a later mount may
// sit inside an earlier one). As root it uses `unshare -m`; otherwise an
// unprivileged user namespace (`unshare -r -m`). Where neither works the
// test cannot produce a real ENOSPC: it is skipped, except in CI (CI set),
// where that is a failure.
func newMountNS(t *testing.T, mounts ...tmpfs) *mountNS {
	t.Helper()
	var script strings.Builder
	script.WriteString("set -e\n")
	for _, m := range mounts {
		fmt.Fprintf(&script, "mkdir -p '%s'\nmount -t tmpfs -o size=%s,mode=0700 tmpfs '%s'\n", m.dir, m.size, m.dir)
	}
	script.WriteString("echo ready\nread _\n")
	ns := &mountNS{t: t, userns: os.Geteuid() != 0}
	args := []string{"-m", "--propagation", "private"}
	if ns.userns {
		args = append([]string{"-r"}, args...)
	}
	ns.cmd = exec.Command("unshare", append(args, "sh", "-c", script.String())...)
	var stderr strings.Builder
	ns.cmd.Stderr = &stderr
	out, err := ns.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if ns.stdin, err = ns.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := ns.cmd.Start(); err != nil {
		unavailable(t, err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		ns.cmd.Wait()
		unavailable(t, fmt.Errorf("%v: %s", err, stderr.String()))
	}
	ns.pid = ns.cmd.Process.Pid
	t.Cleanup(ns.close)
	return ns
}

func unavailable(t *testing.T, err error) {
	t.Helper()
	msg := fmt.Sprintf("a private mount namespace with tmpfs mounts is needed for a real ENOSPC (unshare -m as root, or unshare -r -m with user namespaces): %v", err)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// close ends the holder; the mounts and their contents go with it.
func (ns *mountNS) close() {
	ns.stdin.Close()
	ns.cmd.Wait()
}

// command runs name inside the namespace.
func (ns *mountNS) command(name string, args ...string) *exec.Cmd {
	pre := []string{"-t", fmt.Sprint(ns.pid), "-m"}
	if ns.userns {
		pre = []string{"-t", fmt.Sprint(ns.pid), "-U", "-m", "--preserve-credentials"}
	}
	return exec.Command("nsenter", append(append(pre, "--", name), args...)...)
}

// sh runs a shell command inside the namespace (mount -o remount, ...).
func (ns *mountNS) sh(script string) {
	ns.t.Helper()
	if out, err := ns.command("sh", "-c", script).CombinedOutput(); err != nil {
		ns.t.Fatalf("in the mount namespace: %s: %v\n%s", script, err, out)
	}
}

// path is where the test reaches a path of the namespace.
func (ns *mountNS) path(p string) string {
	return filepath.Join(fmt.Sprintf("/proc/%d/root", ns.pid), p)
}

// free returns the bytes available on the file system holding dir.
func (ns *mountNS) free(dir string) int64 {
	ns.t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(ns.path(dir), &st); err != nil {
		ns.t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// fill writes a filler file in dir so that about leave bytes stay free.
func (ns *mountNS) fill(dir string, leave int64) {
	ns.t.Helper()
	n := ns.free(dir) - leave
	if n <= 0 {
		return
	}
	f, err := os.OpenFile(filepath.Join(ns.path(dir), "filler"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		ns.t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = 0xa5
	}
	for n > 0 {
		w := int64(len(buf))
		if n < w {
			w = n
		}
		if _, err := f.Write(buf[:w]); err != nil {
			ns.t.Fatalf("filling %s: %v", dir, err)
		}
		n -= w
	}
}

// unfill removes the filler: the disk is no longer full.
func (ns *mountNS) unfill(dir string) {
	ns.t.Helper()
	if err := os.Remove(filepath.Join(ns.path(dir), "filler")); err != nil {
		ns.t.Fatal(err)
	}
}
