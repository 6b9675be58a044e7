package controls

import "time"

// Period is one interval a control's frequency requires evidence for.
type Period struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"` // exclusive
}

// Label names the period the way people say it: 2026-11-30, 2026-W48,
// 2026-11, 2026-Q4, 2026.
func (p Period) Label(f Frequency) string {
	s := p.Start
	switch f {
	case Weekly:
		y, w := s.ISOWeek()
		return isoWeekLabel(y, w)
	case Monthly:
		return s.Format("2006-01")
	case Quarterly:
		return s.Format("2006") + "-Q" + string(rune('1'+(int(s.Month())-1)/3))
	case Annual:
		return s.Format("2006")
	}
	return s.Format("2006-01-02")
}

func isoWeekLabel(y, w int) string {
	b := []byte(time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).Format("2006"))
	b = append(b, '-', 'W', byte('0'+w/10), byte('0'+w%10))
	return string(b)
}

// periodStart returns the start of the period of frequency f containing t (UTC).
func periodStart(f Frequency, t time.Time) time.Time {
	t = t.UTC()
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch f {
	case Weekly:
		wd := (int(d.Weekday()) + 6) % 7 // Monday = 0
		return d.AddDate(0, 0, -wd)
	case Monthly:
		return time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
	case Quarterly:
		m := (int(d.Month())-1)/3*3 + 1
		return time.Date(d.Year(), time.Month(m), 1, 0, 0, 0, 0, time.UTC)
	case Annual:
		return time.Date(d.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return d
}

func nextPeriod(f Frequency, start time.Time) time.Time {
	switch f {
	case Weekly:
		return start.AddDate(0, 0, 7)
	case Monthly:
		return start.AddDate(0, 1, 0)
	case Quarterly:
		return start.AddDate(0, 3, 0)
	case Annual:
		return start.AddDate(1, 0, 0)
	}
	return start.AddDate(0, 0, 1)
}

// Periods returns the periods of frequency f that overlap [from, to),
// whole (a period that starts before from or ends after to is kept whole,
// so a monthly control is judged on the whole month). Continuous controls
// are checked per day.
func Periods(f Frequency, from, to time.Time) []Period {
	var out []Period
	for s := periodStart(f, from); s.Before(to); s = nextPeriod(f, s) {
		out = append(out, Period{Start: s, End: nextPeriod(f, s)})
	}
	return out
}

func dayFloor(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}
