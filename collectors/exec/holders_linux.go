package exec

import (
	"os"
	"strconv"
	"syscall"
)

// killPipeHolders sends SIGKILL to every process (other than this one)
// with a descriptor on one of the pipes. A grandchild that left the
// command's process group (setsid) is not reached by killing the group;
// if it holds the command's output it is found here, by the pipe's inode
// in /proc/<pid>/fd. Processes of other users are not visible and are not
// touched.
func killPipeHolders(fs ...*os.File) {
	targets := map[string]bool{}
	for _, f := range fs {
		fi, err := f.Stat()
		if err != nil {
			continue
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		targets["pipe:["+strconv.FormatUint(st.Ino, 10)+"]"] = true
	}
	if len(targets) == 0 {
		return
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	self := os.Getpid()
	for _, d := range procs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == self {
			continue
		}
		dir := "/proc/" + d.Name() + "/fd/"
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if l, err := os.Readlink(dir + fd.Name()); err == nil && targets[l] {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				break
			}
		}
	}
}
