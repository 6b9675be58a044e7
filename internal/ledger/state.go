package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tickmark-dev/tickmark/internal/evidence"
)

// State is what an agent needs beyond its log to resume after losing its
// disk: each collector's cursor and its last run and last success. It is
// published after every push as log/<agent>/state/<time>-<size>.json
// (write-once, newest last), taken in one read transaction with the tree
// size it goes with, so a cursor never covers records the log lacks.
type State struct {
	Agent    string            `json:"agent"`
	TreeSize int64             `json:"tree_size"`
	Written  time.Time         `json:"written"`
	Cursors  map[string]string `json:"cursors"`
	// Runs holds each collector's last run and, if different, its last success.
	Runs []Run `json:"runs"`
}

// Snapshot reads the current state.
func (l *Ledger) Snapshot(now time.Time) (*State, error) {
	st := &State{Agent: l.agent, Written: now.UTC(), Cursors: map[string]string{}}
	err := l.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketRecords).Cursor().Last(); k != nil {
			st.TreeSize = int64(getU64(k)) + 1
		}
		if err := tx.Bucket(bucketCursors).ForEach(func(k, v []byte) error {
			st.Cursors[string(k)] = string(v)
			return nil
		}); err != nil {
			return err
		}
		last := map[string]Run{}
		success := map[string]Run{}
		if err := tx.Bucket(bucketRuns).ForEach(func(_, v []byte) error {
			var r Run
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			last[r.Collector] = r // keys sort by start time
			if r.Outcome == OutcomeSuccess {
				success[r.Collector] = r
			}
			return nil
		}); err != nil {
			return err
		}
		names := make([]string, 0, len(last))
		for n := range last {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			st.Runs = append(st.Runs, last[n])
			if s, ok := success[n]; ok && !s.Started.Equal(last[n].Started) {
				st.Runs = append(st.Runs, s)
			}
		}
		return nil
	})
	return st, err
}

// PublicRuns strips the free text from runs about to be published: an
// object in the bucket may be under Object Lock and can never be deleted,
// so it carries each run's outcome and class (retryable or not), never text
// a collector or its script produced. The error text stays in the agent's
// ledger and log, scrubbed of secrets.
func PublicRuns(runs []Run) {
	for i := range runs {
		if runs[i].Error != "" {
			class := "permanent"
			if runs[i].Retryable {
				class = "retryable"
			}
			runs[i].Error = class + " failure (the message is in the agent's log and ledger)"
		}
	}
}

// NoteCheckpointTime records when the checkpoint at size was signed (the
// first time only); `tickmark status` shows its age.
func (l *Ledger) NoteCheckpointTime(size int64, t time.Time) error {
	return l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCheckpointTimes)
		if b.Get(u64(uint64(size))) != nil {
			return nil
		}
		return b.Put(u64(uint64(size)), u64(uint64(t.UnixNano())))
	})
}

// CheckpointTime returns when the checkpoint at size was signed, if known.
func (l *Ledger) CheckpointTime(size int64) (time.Time, bool) {
	var t time.Time
	ok := false
	_ = l.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCheckpointTimes)
		if b == nil {
			return nil
		}
		if v := b.Get(u64(uint64(size))); len(v) == 8 {
			t, ok = time.Unix(0, int64(getU64(v))).UTC(), true
		}
		return nil
	})
	return t, ok
}

// RestoreSource is a published log to rebuild a ledger from.
type RestoreSource struct {
	// Entries calls fn with each record's canonical bytes in sequence
	// order from 0, up to the latest checkpoint.
	Entries     func(fn func(data []byte) error) error
	Checkpoints []*Checkpoint // verified, oldest first
	Tokens      map[int64][]byte
	Keys        map[string]string // key ID -> verifier text
	// Announcements are key rotation notes by new key ID.
	Announcements map[string][]byte
	State         *State // may be nil (cursors and runs then start empty)
}

// Restore rebuilds an empty ledger from its published copy: records (their
// Merkle hashes recomputed and the root checked against the latest
// checkpoint), checkpoints, timestamp tokens, keys, and the cursors and
// runs of the state. Nothing is queued: the bodies are in the store.
func (l *Ledger) Restore(ctx context.Context, src RestoreSource) error {
	if len(src.Checkpoints) == 0 {
		return errors.New("restore: no checkpoint to restore to")
	}
	if l.Size() != 0 {
		return fmt.Errorf("restore: the ledger in %s already holds %d records; restore only into an empty data dir", l.dir, l.Size())
	}
	latest := src.Checkpoints[len(src.Checkpoints)-1]
	const batch = 1024
	var pend []Pending
	flush := func() error {
		if len(pend) == 0 {
			return nil
		}
		_, err := l.Commit(ctx, &Commit{Records: pend, Restored: true})
		pend = pend[:0]
		return err
	}
	var n int64
	err := src.Entries(func(data []byte) error {
		r, err := evidence.DecodeCanonical(data)
		if err != nil {
			return fmt.Errorf("restore: record %d: %w", n, err)
		}
		if int64(r.Seq) != n {
			return fmt.Errorf("restore: record %d says seq %d", n, r.Seq)
		}
		pend = append(pend, Pending{Record: *r})
		n++
		if len(pend) == batch {
			return flush()
		}
		return ctx.Err()
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	if n != latest.Size {
		return fmt.Errorf("restore: read %d records, the latest checkpoint covers %d", n, latest.Size)
	}
	return l.db.Update(func(tx *bolt.Tx) error {
		root, err := tlog.TreeHash(latest.Size, HashReader{b: tx.Bucket(bucketHashes)})
		if err != nil {
			return err
		}
		if root != latest.Root {
			return fmt.Errorf("restore: rebuilt tree root %s does not match checkpoint %d (%s)", root, latest.Size, latest.Root)
		}
		cps := tx.Bucket(bucketCheckpoints)
		for _, c := range src.Checkpoints {
			if err := cps.Put(u64(uint64(c.Size)), bytes.Clone(c.Note)); err != nil {
				return err
			}
		}
		for size, tok := range src.Tokens {
			if err := tx.Bucket(bucketTokens).Put(u64(uint64(size)), bytes.Clone(tok)); err != nil {
				return err
			}
		}
		for id, k := range src.Keys {
			if err := tx.Bucket(bucketKeys).Put([]byte(id), []byte(k)); err != nil {
				return err
			}
		}
		for id, a := range src.Announcements {
			if err := tx.Bucket(bucketAnnouncements).Put([]byte(id), bytes.Clone(a)); err != nil {
				return err
			}
		}
		m := tx.Bucket(bucketMeta)
		if err := m.Put(metaPublishedTiles, u64(uint64(latest.Size))); err != nil {
			return err
		}
		if err := m.Put(metaPublishedCheckpoint, u64(uint64(latest.Size))); err != nil {
			return err
		}
		if s := src.State; s != nil {
			for name, cur := range s.Cursors {
				if err := tx.Bucket(bucketCursors).Put([]byte(name), []byte(cur)); err != nil {
					return err
				}
			}
			for i := range s.Runs {
				if err := putRun(tx.Bucket(bucketRuns), &s.Runs[i]); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
