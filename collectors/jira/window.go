package jira

import "time"

// JQL dates are wall-clock minutes in the account's time zone. Around a
// daylight-saving change a wall time can name two instants (the repeated
// hour) and Jira picks one of them, so a window written naively can start
// an hour late or end an hour early. The bounds below are written so that
// every reading Jira may make of them covers the window, and the effective
// end is the earliest reading (the cursor resumes from there); the tickets
// read twice because of this are dropped by the overlap de-duplication.

const jqlLayout = "2006-01-02 15:04"

// wallInstants returns every instant whose wall clock in loc is w (given
// with UTC fields): one normally, two in a repeated hour, none in a gap.
func wallInstants(w time.Time, loc *time.Location) []time.Time {
	var out []time.Time
	seen := map[int]bool{}
	for _, probe := range []time.Duration{-36 * time.Hour, 0, 36 * time.Hour} {
		_, off := w.Add(probe).In(loc).Zone()
		if seen[off] {
			continue
		}
		seen[off] = true
		t := w.Add(-time.Duration(off) * time.Second)
		if t.In(loc).Format(jqlLayout) == w.Format(jqlLayout) {
			out = append(out, t.UTC())
		}
	}
	return out
}

// wall returns t's wall clock in loc as a time with UTC fields.
func wall(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), 0, 0, time.UTC)
}

// lowerBound is the JQL text of `updated >= from` such that every reading
// of it is at or before from.
func lowerBound(from time.Time, loc *time.Location) string {
	for c := from; c.After(from.Add(-3 * time.Hour)); c = c.Add(-15 * time.Minute) {
		w := wall(c, loc)
		ok := true
		for _, t := range wallInstants(w, loc) {
			if t.After(from) {
				ok = false
			}
		}
		if ok {
			return w.Format(jqlLayout)
		}
	}
	return wall(from.Add(-3*time.Hour), loc).Format(jqlLayout)
}

// upperBound is the JQL text of `updated < upper` and the earliest instant
// Jira may read it as: the window is complete only up to there.
func upperBound(upper time.Time, loc *time.Location) (string, time.Time) {
	w := wall(upper, loc)
	eff := upper
	for _, t := range wallInstants(w, loc) {
		if t.Before(eff) {
			eff = t
		}
	}
	return w.Format(jqlLayout), eff
}
