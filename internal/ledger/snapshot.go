package ledger

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SnapshotFile is the consistent copy of the ledger a long-running agent
// (the daemon) writes after every run, next to DBFile. The daemon holds
// the ledger's lock for its whole life; read commands that find the lock
// taken read the snapshot instead (Open with ReadOnly), so they work while
// it runs. Between runs the snapshot is the ledger as it is; during a run,
// as it was when the last run ended.
const SnapshotFile = "ledger.snapshot.db"

// snapshotWait is how long a read-only Open waits for the lock before it
// reads the snapshot.
const snapshotWait = 500 * time.Millisecond

// WriteSnapshot writes SnapshotFile: one read transaction copied whole (a
// consistent state, whatever commits go on meanwhile), written to a
// temporary file, synced and renamed over the previous snapshot, so a
// reader opens either the old or the new one, never half of one.
func (l *Ledger) WriteSnapshot() error {
	tmp, err := os.CreateTemp(l.dir, SnapshotFile+".*.tmp")
	if err != nil {
		return fmt.Errorf("ledger snapshot: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := l.db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(tmp)
		return err
	}); err != nil {
		tmp.Close()
		return fmt.Errorf("ledger snapshot: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("ledger snapshot: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("ledger snapshot: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(l.dir, SnapshotFile)); err != nil {
		return fmt.Errorf("ledger snapshot: %w", err)
	}
	return nil
}

// SnapshotAt reports whether this (read-only) ledger reads the snapshot a
// running agent wrote instead of the locked ledger, and when that was
// written.
func (l *Ledger) SnapshotAt() (time.Time, bool) { return l.snapshotAt, !l.snapshotAt.IsZero() }
