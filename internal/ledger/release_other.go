//go:build !linux

package ledger

// ReleaseMemory is a no-op outside Linux.
func (l *Ledger) ReleaseMemory() {}
