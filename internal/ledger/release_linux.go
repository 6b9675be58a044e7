package ledger

import (
	"os"
	"path/filepath"
	"syscall"
)

// ReleaseMemory drops the pages of a read-only ledger's memory map from
// the process's resident set (madvise MADV_DONTNEED; the kernel keeps them
// in the page cache and faults them back in on the next read). Long
// scans — an export of millions of records — call it now and then so that
// their RSS stays bounded by what they hold, not by the size of the ledger
// they read. A ledger opened for writing is left alone: the writer may
// remap the file at any time.
func (l *Ledger) ReleaseMemory() {
	if !l.readOnly {
		return
	}
	st, err := os.Stat(filepath.Join(l.dir, DBFile))
	if err != nil {
		return
	}
	info := l.db.Info()
	size := st.Size() &^ int64(os.Getpagesize()-1)
	if info == nil || info.Data == 0 || size <= 0 {
		return
	}
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, info.Data, uintptr(size), syscall.MADV_DONTNEED)
}
