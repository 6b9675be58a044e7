package ledger

import (
	"bytes"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Outcomes of a collector run.
const (
	OutcomeSuccess = "success"
	OutcomeFailed  = "failed"
	OutcomePartial = "partial" // failed after committing some artifacts
)

// Run is the recorded outcome of one collector run: what `coverage` and
// `run --once --due` read.
type Run struct {
	Collector     string    `json:"collector"`
	CollectorType string    `json:"collector_type"`
	RunID         string    `json:"run_id"`
	Started       time.Time `json:"started"`
	Finished      time.Time `json:"finished"`
	Outcome       string    `json:"outcome"`
	Error         string    `json:"error,omitempty"`
	Retryable     bool      `json:"retryable,omitempty"`
	Artifacts     int       `json:"artifacts"`
	Bytes         int64     `json:"bytes"`
	EvidenceTypes []string  `json:"evidence_types,omitempty"`
}

func runKey(collector string, started time.Time) []byte {
	return idxKey(collector, started.UnixNano(), 0)[:len(collector)+1+8]
}

func putRun(b *bolt.Bucket, r *Run) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put(runKey(r.Collector, r.Started), data)
}

// RecordRun stores a run outcome on its own (for runs that committed nothing).
func (l *Ledger) RecordRun(r *Run) error {
	return l.db.Update(func(tx *bolt.Tx) error { return putRun(tx.Bucket(bucketRuns), r) })
}

// Runs calls fn for each run of collector ("" for every collector) that
// started in [from, to), oldest first.
func (l *Ledger) Runs(collector string, from, to time.Time, fn func(*Run) error) error {
	return l.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRuns).Cursor()
		var prefix []byte
		if collector != "" {
			prefix = append([]byte(collector), 0)
		}
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var r Run
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if (!from.IsZero() && r.Started.Before(from)) || (!to.IsZero() && !r.Started.Before(to)) {
				continue
			}
			if err := fn(&r); err != nil {
				return err
			}
		}
		return nil
	})
}

// LastRun returns the latest run of a collector, and of those the latest
// successful one.
func (l *Ledger) LastRun(collector string) (last, lastSuccess *Run, err error) {
	err = l.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRuns).Cursor()
		prefix := append([]byte(collector), 0)
		// seek past the prefix, then step back
		end := append([]byte(collector), 1)
		k, v := c.Seek(end)
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			var r Run
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if last == nil {
				rr := r
				last = &rr
			}
			if r.Outcome == OutcomeSuccess {
				lastSuccess = &r
				return nil
			}
		}
		return nil
	})
	return last, lastSuccess, err
}
