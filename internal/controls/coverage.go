package controls

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
)

// Status of one period of one control.
type Status string

// Statuses.
const (
	// Covered: a record of a satisfying evidence type was collected in the period.
	Covered Status = "covered"
	// GapFailure: no evidence, and a collector that produces a satisfying
	// type ran in the period and failed (an API error, expired credentials...).
	GapFailure Status = "gap_failure"
	// GapNoRun: no evidence and no failed run: nothing ran (or what ran
	// succeeded without producing a satisfying type).
	GapNoRun Status = "gap_no_run"
	// NotYetDue: the period has not closed yet (the current one, or later).
	NotYetDue Status = "not_yet_due"
	// CoveredWithExceptions: evidence was collected in the period, but the
	// latest result in the period of a check testing the control failed:
	// the control has evidence, and the evidence shows it did not operate
	// for some items. Not a gap.
	CoveredWithExceptions Status = "covered_with_exceptions"
)

// IsGap reports whether s is a gap.
func (s Status) IsGap() bool { return s == GapFailure || s == GapNoRun }

// Options for Coverage.
type Options struct {
	From, To time.Time // the window; From is rounded down and To up to whole UTC days
	Now      time.Time // periods ending after Now are not yet due
	Controls []string  // only these control IDs (default: all)
	// Producers maps collector instance names to the evidence types they
	// produce (from the configuration), so that a failed run that
	// committed nothing is still attributed. Run history and the registry
	// add to it.
	Producers map[string][]string
	// Link, if set, gives a link to a record's artifact (HTML report).
	Link func(r *evidence.Record) string
	// NoRunHistory says the source has no run history (the bucket alone):
	// gaps cannot be attributed to failed runs, and their detail says so.
	NoRunHistory bool
	// Checks maps a control ID to the result types (check.<id>) of the
	// checks that test it; CheckOutcome reads a result record's check ID,
	// status and exception count (from its subject). With both, a covered
	// period whose latest result of such a check failed is
	// covered_with_exceptions.
	Checks       map[string][]string
	CheckOutcome func(r *evidence.Record) (id, status string, exceptions int, ok bool)
}

// Evidence names one record in a report.
type Evidence struct {
	Seq         uint64    `json:"seq"`
	Type        string    `json:"type"`
	Subject     string    `json:"subject,omitempty"`
	Collector   string    `json:"collector"`
	CollectedAt time.Time `json:"collected_at"`
	SHA256      string    `json:"sha256"`
	Link        string    `json:"link,omitempty"`
}

// PeriodStatus is one period's verdict.
type PeriodStatus struct {
	Period
	Label   string    `json:"label"`
	Status  Status    `json:"status"`
	Records int       `json:"records"`
	Latest  *Evidence `json:"latest,omitempty"`
	// Failures: the failed runs in the period (gap_failure), first few.
	Failures []RunFailure `json:"failures,omitempty"`
	Detail   string       `json:"detail,omitempty"`
	// Exceptions: the exceptions of the failing checks' latest results in
	// the period (covered_with_exceptions), and those results.
	Exceptions int            `json:"exceptions,omitempty"`
	Checks     []CheckOutcome `json:"failing_checks,omitempty"`
	// PartialRuns: the period is covered, but only by partial runs (no
	// run of its sources succeeded in it): some repository, account or
	// region was not collected; Partial lists them, first few.
	PartialRuns int          `json:"partial_runs,omitempty"`
	Partial     []RunFailure `json:"partial,omitempty"`
}

// CheckOutcome is a failing check's latest result in a period.
type CheckOutcome struct {
	Check      string `json:"check"`
	Exceptions int    `json:"exceptions"`
	Seq        uint64 `json:"seq"`
	Link       string `json:"link,omitempty"`
}

// RunFailure is a failed collector run.
type RunFailure struct {
	Collector string    `json:"collector"`
	Started   time.Time `json:"started"`
	Error     string    `json:"error"`
}

// Day is one UTC day of a control, for the calendar heatmap.
type Day struct {
	Date    string `json:"date"`
	Records int    `json:"records"`
	Failed  bool   `json:"failed,omitempty"`
	Ran     bool   `json:"ran,omitempty"`
	Partial bool   `json:"partial,omitempty"` // its period's evidence is from partial runs only
	Status  Status `json:"status"`            // the status of the period the day is in
}

// ControlCoverage is one control's coverage.
type ControlCoverage struct {
	Control Control        `json:"control"`
	Periods []PeriodStatus `json:"periods"`
	Counts  map[Status]int `json:"counts"`
	// PartialPeriods: covered periods whose evidence is from partial runs only.
	PartialPeriods int       `json:"partial_periods,omitempty"`
	Days           []Day     `json:"days"`
	Latest         *Evidence `json:"latest,omitempty"`
	Sources        []string  `json:"collectors"` // instances that produce its types
}

// Report is the coverage of every selected control over a window.
type Report struct {
	From     time.Time         `json:"from"`
	To       time.Time         `json:"to"`
	Now      time.Time         `json:"now"`
	Source   string            `json:"control_set"`
	Controls []ControlCoverage `json:"controls"`
	Gaps     int               `json:"gaps"`
	OK       bool              `json:"ok"`
}

type dayStats struct {
	count   []int32
	lastNs  []int64
	lastSeq []uint64
}

type runDays struct {
	failed  map[int][]RunFailure // day -> failures
	partial map[int][]RunFailure // day -> partial runs (also in failed)
	ran     map[int][]string     // day -> successful collector instances
}

// Coverage computes coverage of the set's controls over a window. It
// reads each evidence type's index once (no record is decoded, except the
// latest of each period) and the run history once.
func Coverage(src readmodel.Source, set *Set, o Options) (*Report, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	o.Now = o.Now.UTC()
	from, to := dayFloor(o.From), dayFloor(o.To)
	if !o.To.UTC().Equal(to) {
		to = to.AddDate(0, 0, 1)
	}
	if !from.Before(to) {
		return nil, fmt.Errorf("empty window: --from %s is not before --to %s", from.Format(time.DateOnly), to.Format(time.DateOnly))
	}
	var sel []*Control
	if len(o.Controls) == 0 {
		for i := range set.Controls {
			sel = append(sel, &set.Controls[i])
		}
	} else {
		for _, id := range o.Controls {
			c, ok := set.Control(id)
			if !ok {
				return nil, fmt.Errorf("no control %q in %s", id, set.Source)
			}
			sel = append(sel, c)
		}
	}
	// The scan range: whole periods overlapping the window.
	lo, hi := from, to
	periods := make([][]Period, len(sel))
	for i, c := range sel {
		periods[i] = Periods(c.Frequency, from, to)
		if p := periods[i]; len(p) > 0 {
			if p[0].Start.Before(lo) {
				lo = p[0].Start
			}
			if p[len(p)-1].End.After(hi) {
				hi = p[len(p)-1].End
			}
		}
	}
	ndays := int(hi.Sub(lo).Hours()/24 + 0.5)
	dayOf := func(ns int64) int { return int((ns - lo.UnixNano()) / int64(24*time.Hour)) }

	// Evidence per type per day.
	types := map[string]*dayStats{}
	for _, c := range sel {
		for _, t := range c.Evidence {
			if types[t] != nil {
				continue
			}
			ds := &dayStats{count: make([]int32, ndays), lastNs: make([]int64, ndays), lastSeq: make([]uint64, ndays)}
			types[t] = ds
			err := src.ScanType(t, lo, hi, func(ns int64, seq uint64) error {
				d := dayOf(ns)
				if d < 0 || d >= ndays {
					return nil
				}
				ds.count[d]++
				if ns >= ds.lastNs[d] {
					ds.lastNs[d], ds.lastSeq[d] = ns, seq
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("reading evidence of %s: %w", t, err)
			}
		}
	}

	// Runs: which instances produce which types (configuration, registry,
	// history), then failures and successes per type per day.
	producers := map[string]map[string]bool{}
	addProd := func(inst string, ts ...string) {
		if producers[inst] == nil {
			producers[inst] = map[string]bool{}
		}
		for _, t := range ts {
			producers[inst][t] = true
		}
	}
	for inst, ts := range o.Producers {
		addProd(inst, ts...)
	}
	var inWindow []*ledger.Run
	err := src.Runs(time.Time{}, time.Time{}, func(r *ledger.Run) error {
		addProd(r.Collector, r.EvidenceTypes...)
		if _, ok := o.Producers[r.Collector]; !ok {
			if def, ok := collectors.Lookup(r.CollectorType); ok {
				for _, et := range def.EvidenceTypes {
					addProd(r.Collector, et.Name)
				}
			}
		}
		if !r.Started.Before(lo) && r.Started.Before(hi) {
			rr := *r
			inWindow = append(inWindow, &rr)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading run history: %w", err)
	}
	runsByType := map[string]*runDays{}
	for t := range types {
		runsByType[t] = &runDays{failed: map[int][]RunFailure{}, partial: map[int][]RunFailure{}, ran: map[int][]string{}}
	}
	for _, r := range inWindow {
		d := dayOf(r.Started.UnixNano())
		for t := range producers[r.Collector] {
			rd := runsByType[t]
			if rd == nil {
				continue
			}
			if r.Outcome == ledger.OutcomeSuccess {
				rd.ran[d] = append(rd.ran[d], r.Collector)
			} else {
				f := RunFailure{Collector: r.Collector, Started: r.Started, Error: r.Error}
				rd.failed[d] = append(rd.failed[d], f)
				if r.Outcome == ledger.OutcomePartial {
					rd.partial[d] = append(rd.partial[d], f)
				}
			}
		}
	}

	rep := &Report{From: from, To: to, Now: o.Now, Source: set.Source, OK: true}
	latestCache := map[uint64]*Evidence{}
	evidenceOf := func(seq uint64) (*Evidence, error) {
		if e, ok := latestCache[seq]; ok {
			return e, nil
		}
		r, err := src.Record(seq)
		if err != nil {
			return nil, err
		}
		e := &Evidence{Seq: r.Seq, Type: r.Type, Subject: r.Subject, Collector: r.Collector, CollectedAt: r.CollectedAt, SHA256: r.SHA256}
		if o.Link != nil {
			e.Link = o.Link(r)
		}
		latestCache[seq] = e
		return e, nil
	}
	for i, c := range sel {
		cc := ControlCoverage{Control: *c, Counts: map[Status]int{}}
		for inst, ts := range producers {
			for _, t := range c.Evidence {
				if ts[t] {
					cc.Sources = append(cc.Sources, inst)
					break
				}
			}
		}
		sort.Strings(cc.Sources)
		for _, p := range periods[i] {
			ps := PeriodStatus{Period: p, Label: p.Label(c.Frequency)}
			d0, d1 := dayOf(p.Start.UnixNano()), dayOf(p.End.UnixNano())
			var bestNs int64 = -1
			var bestSeq uint64
			var failures, partials []RunFailure
			var ranBy []string
			for _, t := range c.Evidence {
				ds, rd := types[t], runsByType[t]
				for d := d0; d < d1; d++ {
					if n := ds.count[d]; n > 0 {
						ps.Records += int(n)
						if ds.lastNs[d] > bestNs {
							bestNs, bestSeq = ds.lastNs[d], ds.lastSeq[d]
						}
					}
					failures = append(failures, rd.failed[d]...)
					partials = append(partials, rd.partial[d]...)
					ranBy = append(ranBy, rd.ran[d]...)
				}
			}
			switch {
			case ps.Records > 0:
				ps.Status = Covered
				e, err := evidenceOf(bestSeq)
				if err != nil {
					return nil, err
				}
				ps.Latest = e
				if cc.Latest == nil || e.CollectedAt.After(cc.Latest.CollectedAt) {
					cc.Latest = e
				}
				if err := checkPeriod(src, o, c.ID, p, &ps); err != nil {
					return nil, err
				}
				if len(ranBy) == 0 && len(partials) > 0 {
					partialPeriod(&ps, partials)
					cc.PartialPeriods++
				}
			case p.End.After(o.Now):
				ps.Status = NotYetDue
				if p.Start.After(o.Now) {
					ps.Detail = "period has not started"
				} else {
					ps.Detail = "period still open"
				}
			case len(failures) > 0:
				ps.Status = GapFailure
				sort.Slice(failures, func(a, b int) bool { return failures[a].Started.Before(failures[b].Started) })
				ps.Detail = failureDetail(failures, c.Evidence)
				if len(failures) > 5 {
					failures = failures[:5]
				}
				ps.Failures = failures
			default:
				ps.Status = GapNoRun
				ps.Detail = noRunDetail(ranBy, c.Evidence, cc.Sources)
				if o.NoRunHistory {
					ps.Detail = fmt.Sprintf("no %s (read from the bucket, which holds no run history: a failed collection cannot be told from none)", strings.Join(c.Evidence, " or "))
				}
			}
			cc.Counts[ps.Status]++
			if ps.Status.IsGap() {
				rep.Gaps++
				rep.OK = false
			}
			cc.Periods = append(cc.Periods, ps)
			for d := d0; d < d1; d++ {
				day := lo.AddDate(0, 0, d)
				if day.Before(from) || !day.Before(to) {
					continue
				}
				dc := Day{Date: day.Format(time.DateOnly), Status: ps.Status, Partial: ps.PartialRuns > 0}
				for _, t := range c.Evidence {
					dc.Records += int(types[t].count[d])
					dc.Failed = dc.Failed || len(runsByType[t].failed[d]) > 0
					dc.Ran = dc.Ran || len(runsByType[t].ran[d]) > 0
				}
				cc.Days = append(cc.Days, dc)
			}
		}
		rep.Controls = append(rep.Controls, cc)
	}
	return rep, nil
}

// partialPeriod notes that a covered period's evidence is from partial
// runs only: it stays covered, and says what was not collected.
func partialPeriod(ps *PeriodStatus, fs []RunFailure) {
	sort.Slice(fs, func(a, b int) bool { return fs[a].Started.Before(fs[b].Started) })
	ps.PartialRuns = len(fs)
	last := fs[len(fs)-1]
	note := fmt.Sprintf("evidence from partial runs only (%d run%s); latest: %s: %s", len(fs), plural(len(fs)), last.Collector, last.Error)
	if ps.Detail == "" {
		ps.Detail = note
	} else {
		ps.Detail += "; " + note
	}
	if len(fs) > 5 {
		fs = fs[len(fs)-5:]
	}
	ps.Partial = fs
}

// checkPeriod marks a covered period covered_with_exceptions when the
// latest result in it of a check testing the control failed.
func checkPeriod(src readmodel.Source, o Options, control string, p Period, ps *PeriodStatus) error {
	if o.CheckOutcome == nil {
		return nil
	}
	var names []string
	for _, t := range o.Checks[control] {
		var last uint64
		found := false
		err := src.ScanType(t, p.Start, p.End, func(_ int64, seq uint64) error {
			last, found = seq, true
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading results of %s: %w", t, err)
		}
		if !found {
			continue
		}
		r, err := src.Record(last)
		if err != nil {
			return err
		}
		id, status, n, ok := o.CheckOutcome(r)
		if !ok || status != "fail" {
			continue
		}
		co := CheckOutcome{Check: id, Exceptions: n, Seq: r.Seq}
		if o.Link != nil {
			co.Link = o.Link(r) // the result, which lists every exception
		}
		ps.Checks = append(ps.Checks, co)
		ps.Exceptions += n
		names = append(names, fmt.Sprintf("%s (%d exception%s)", id, n, plural(n)))
	}
	if len(ps.Checks) > 0 {
		ps.Status = CoveredWithExceptions
		ps.Detail = "evidence collected, but checks failed: " + strings.Join(names, ", ") +
			fmt.Sprintf("; list them with `tickmark checks show %s --from %s --to %s`", ps.Checks[0].Check, p.Start.Format(time.DateOnly), p.End.AddDate(0, 0, -1).Format(time.DateOnly))
	}
	return nil
}

func failureDetail(fs []RunFailure, types []string) string {
	byColl := map[string]int{}
	var order []string
	for _, f := range fs {
		if byColl[f.Collector] == 0 {
			order = append(order, f.Collector)
		}
		byColl[f.Collector]++
	}
	parts := make([]string, len(order))
	for i, c := range order {
		parts[i] = fmt.Sprintf("%s failed %d time%s", c, byColl[c], plural(byColl[c]))
	}
	last := fs[len(fs)-1]
	return fmt.Sprintf("no %s: %s; last error (%s): %s", strings.Join(types, " or "), strings.Join(parts, ", "), last.Started.Format(time.RFC3339), last.Error)
}

func noRunDetail(ranBy, types, sources []string) string {
	if len(sources) == 0 {
		return fmt.Sprintf("no collector has ever produced %s; configure one (or map a custom type with collectors[].controls)", strings.Join(types, " or "))
	}
	if len(ranBy) > 0 {
		return fmt.Sprintf("%s ran successfully but produced no %s", strings.Join(dedupe(ranBy), ", "), strings.Join(types, " or "))
	}
	return fmt.Sprintf("no run of %s in the period", strings.Join(sources, ", "))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
