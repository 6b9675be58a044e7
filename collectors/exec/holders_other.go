//go:build !linux

package exec

import "os"

// killPipeHolders needs /proc; elsewhere a process that left the group
// keeps running, but the reads are still cut, so the run ends on time.
func killPipeHolders(...*os.File) {}
