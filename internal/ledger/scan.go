package ledger

import (
	"bytes"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ScanType calls fn with the collection time (ns since the epoch) and the
// sequence number of every record of evidence type typ collected in
// [from, to) (zero times: unbounded), in collection-time order. It reads
// only the type index: no record is loaded or decoded, so it is the fast
// path for coverage over millions of records.
func (l *Ledger) ScanType(typ string, from, to time.Time, fn func(ns int64, seq uint64) error) error {
	return l.db.View(func(tx *bolt.Tx) error {
		prefix := append([]byte(typ), 0)
		start := bytes.Clone(prefix)
		if !from.IsZero() {
			start = append(start, timeKey(from.UnixNano())...)
		}
		var end []byte
		if !to.IsZero() {
			end = append(bytes.Clone(prefix), timeKey(to.UnixNano())...)
		}
		c := tx.Bucket(bucketIdxType).Cursor()
		for k, _ := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if end != nil && bytes.Compare(k, end) >= 0 {
				break
			}
			if len(k) != len(prefix)+16 {
				continue
			}
			ns := int64(binary.BigEndian.Uint64(k[len(prefix):]))
			if err := fn(ns, binary.BigEndian.Uint64(k[len(prefix)+8:])); err != nil {
				return err
			}
		}
		return nil
	})
}
