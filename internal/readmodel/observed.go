package readmodel

import (
	"fmt"
	"time"

	"github.com/tickmark-dev/tickmark/internal/evidence"
)

// By says which time a window selects records by.
type By string

const (
	// ByCollected selects records collected in the window (the default).
	ByCollected By = "collected"
	// ByObserved selects records that observed something in the window:
	// an event stream whose window overlaps it, a record whose observed_at
	// is in it, and otherwise (a snapshot) one collected in it.
	ByObserved By = "observed"
)

// ParseBy parses --by.
func ParseBy(s string) (By, error) {
	switch By(s) {
	case "", ByCollected:
		return ByCollected, nil
	case ByObserved:
		return ByObserved, nil
	}
	return "", fmt.Errorf("--by %q: use collected or observed", s)
}

// Observed returns the span of time a record observed: its event window,
// else the instant of observed_at, else the instant it was collected.
func Observed(r *evidence.Record) (start, end time.Time) {
	switch {
	case r.WindowStart != nil && r.WindowEnd != nil:
		return *r.WindowStart, *r.WindowEnd
	case r.ObservedAt != nil:
		return *r.ObservedAt, *r.ObservedAt
	}
	return r.CollectedAt, r.CollectedAt
}

// ObservedIn reports whether a record observed anything in [from, to)
// (zero bounds are open).
func ObservedIn(r *evidence.Record, from, to time.Time) bool {
	s, e := Observed(r)
	if !to.IsZero() && !s.Before(to) {
		return false
	}
	if from.IsZero() {
		return true
	}
	if s.Equal(e) {
		return !s.Before(from)
	}
	return e.After(from)
}

// FindBy is src.Find with the window applied by collection or observation
// time. Evidence is collected when or after it is observed, so an observed
// window reads the records collected from its start on and keeps those
// that observed something in it.
func FindBy(src Source, q Query, by By, fn func(r *evidence.Record, data []byte) error) error {
	if by != ByObserved {
		return src.Find(q, fn)
	}
	from, to, limit := q.From, q.To, q.Limit
	q.To, q.Limit = time.Time{}, 0
	n := 0
	err := src.Find(q, func(r *evidence.Record, data []byte) error {
		if !ObservedIn(r, from, to) {
			return nil
		}
		if limit > 0 && n >= limit {
			return errLimit
		}
		n++
		return fn(r, data)
	})
	if err == errLimit {
		return nil
	}
	return err
}

var errLimit = fmt.Errorf("limit reached")
