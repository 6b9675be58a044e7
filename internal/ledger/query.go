package ledger

import (
	"bytes"
	"encoding/hex"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tickmark-dev/tickmark/internal/evidence"
)

// Query selects records through the indexes.
type Query struct {
	Control   string
	Type      string
	Collector string
	From, To  time.Time // collected_at in [From, To); zero means unbounded
	Limit     int
}

// Find calls fn for each matching record in collected_at order. It reads
// only the index range of the window.
func (l *Ledger) Find(q Query, fn func(r *evidence.Record, data []byte) error) error {
	return l.db.View(func(tx *bolt.Tx) error {
		var b *bolt.Bucket
		var prefix []byte
		switch {
		case q.Control != "":
			b, prefix = tx.Bucket(bucketIdxControl), append([]byte(q.Control), 0)
		case q.Type != "":
			b, prefix = tx.Bucket(bucketIdxType), append([]byte(q.Type), 0)
		default:
			b = tx.Bucket(bucketIdxTime)
		}
		recs := tx.Bucket(bucketRecords)
		start := append(bytes.Clone(prefix), timeKey(q.From.UnixNano())...)
		if q.From.IsZero() {
			start = bytes.Clone(prefix)
		}
		var end []byte
		if !q.To.IsZero() {
			end = append(bytes.Clone(prefix), timeKey(q.To.UnixNano())...)
		}
		n := 0
		c := b.Cursor()
		for k, _ := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if end != nil && bytes.Compare(k, end) >= 0 {
				break
			}
			seq := k[len(k)-8:]
			data := recs.Get(seq)
			if data == nil {
				continue // reported by verify
			}
			r, err := evidence.Decode(data)
			if err != nil {
				return err
			}
			if q.Type != "" && r.Type != q.Type || q.Collector != "" && r.Collector != q.Collector {
				continue
			}
			if err := fn(r, data); err != nil {
				return err
			}
			n++
			if q.Limit > 0 && n >= q.Limit {
				break
			}
		}
		return nil
	})
}

// FindBySHA256 returns the sequence numbers of records whose body has sum:
// from the body-hash index (bodies already pushed) and the outbox (not yet).
func (l *Ledger) FindBySHA256(sum []byte) ([]uint64, error) {
	var out []uint64
	want := []byte(`"sha256":"` + hex.EncodeToString(sum) + `"`)
	err := l.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketIdxSHA).Cursor()
		for k, _ := c.Seek(sum); k != nil && bytes.HasPrefix(k, sum); k, _ = c.Next() {
			out = append(out, getU64(k[len(k)-8:]))
		}
		recs := tx.Bucket(bucketRecords)
		return tx.Bucket(bucketOutbox).ForEach(func(k, _ []byte) error {
			if bytes.Contains(recs.Get(k), want) {
				out = append(out, getU64(k))
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, err
}
