package console

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Window is an observation window: whole UTC days, To exclusive.
type Window struct {
	From, To time.Time
}

// ParseWindow parses "YYYY-MM-DD" days, to inclusive.
func ParseWindow(from, to string) (Window, error) {
	f, err := time.Parse(time.DateOnly, from)
	if err != nil {
		return Window{}, fmt.Errorf("from: %q is not a date (YYYY-MM-DD)", from)
	}
	t, err := time.Parse(time.DateOnly, to)
	if err != nil {
		return Window{}, fmt.Errorf("to: %q is not a date (YYYY-MM-DD)", to)
	}
	w := Window{From: f.UTC(), To: t.UTC().AddDate(0, 0, 1)}
	if !w.From.Before(w.To) {
		return Window{}, errors.New("from is after to")
	}
	if w.To.Sub(w.From) > 3*366*24*time.Hour {
		return Window{}, errors.New("the window is longer than three years")
	}
	return w, nil
}

// ParseWindowSpec parses "FROM..TO" (inclusive days), as --auditor-window takes it.
func ParseWindowSpec(s string) (Window, error) {
	f, t, ok := strings.Cut(s, "..")
	if !ok {
		return Window{}, fmt.Errorf("window %q: want FROM..TO, e.g. 2026-01-01..2026-06-30", s)
	}
	w, err := ParseWindow(strings.TrimSpace(f), strings.TrimSpace(t))
	if err != nil {
		return Window{}, fmt.Errorf("window %q: %w", s, err)
	}
	return w, nil
}

// FromDay and ToDay are the window's first and last day.
func (w Window) FromDay() string { return w.From.Format(time.DateOnly) }

// ToDay is the window's last day (inclusive).
func (w Window) ToDay() string { return w.To.AddDate(0, 0, -1).Format(time.DateOnly) }

// String is "FROM..TO".
func (w Window) String() string { return w.FromDay() + ".." + w.ToDay() }

// Query is the window as URL parameters.
func (w Window) Query() string {
	return url.Values{"from": {w.FromDay()}, "to": {w.ToDay()}}.Encode()
}

// Within reports whether w lies inside o.
func (w Window) Within(o Window) bool { return !w.From.Before(o.From) && !w.To.After(o.To) }

// Contains reports whether t is in the window.
func (w Window) Contains(t time.Time) bool { return !t.Before(w.From) && t.Before(w.To) }

func today(now time.Time) time.Time {
	n := now.UTC()
	return time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, time.UTC)
}

// defaultWindow: an auditor's first window; otherwise the last 90 days.
func (s *Server) defaultWindow(u *User) Window {
	if u != nil && u.Role == Auditor && len(s.cfg.AuditorWindows) > 0 {
		return s.cfg.AuditorWindows[0]
	}
	t := today(s.now()).AddDate(0, 0, 1)
	return Window{From: t.AddDate(0, 0, -90), To: t}
}

// errOutsideWindow: an auditor asked for evidence outside their windows.
var errOutsideWindow = errors.New("outside the observation windows open to auditors")

// allowWindow checks the user may see window w.
func (s *Server) allowWindow(u *User, w Window) error {
	if u.Role == Compliance {
		return nil
	}
	for _, o := range s.cfg.AuditorWindows {
		if w.Within(o) {
			return nil
		}
	}
	return errOutsideWindow
}

// allowTime checks the user may see evidence collected at t.
func (s *Server) allowTime(u *User, t time.Time) error {
	if u.Role == Compliance {
		return nil
	}
	for _, o := range s.cfg.AuditorWindows {
		if o.Contains(t) {
			return nil
		}
	}
	return errOutsideWindow
}
