package controls

import (
	"fmt"
	"html/template"
	"io"
	"time"
)

// WriteHTML writes the report as one self-contained HTML page (inline CSS,
// no script, no network): a summary table and a calendar heatmap per
// control, each period linking to its latest artifact.
func (r *Report) WriteHTML(w io.Writer) error { return reportTmpl.Execute(w, r) }

type weekCol struct{ Days []*Day }

// Weeks lays a control's days out in ISO-week columns (Monday on top).
func (c *ControlCoverage) Weeks() []weekCol {
	var out []weekCol
	var cur *weekCol
	for i := range c.Days {
		d := &c.Days[i]
		t, _ := time.Parse(time.DateOnly, d.Date)
		wd := (int(t.Weekday()) + 6) % 7
		if cur == nil || wd == 0 {
			out = append(out, weekCol{Days: make([]*Day, 7)})
			cur = &out[len(out)-1]
		}
		cur.Days[wd] = d
	}
	return out
}

// Gaps returns the control's gap periods.
func (c *ControlCoverage) Gaps() []PeriodStatus {
	var out []PeriodStatus
	for _, p := range c.Periods {
		if p.Status.IsGap() {
			out = append(out, p)
		}
	}
	return out
}

// GapRun is a run of consecutive gap periods with the same status and
// cause, reported as one line.
type GapRun struct {
	First, Last PeriodStatus
	Periods     int
}

// Label is "2026-10-15" or "2026-10-15..2026-10-17 (3)".
func (g GapRun) Label() string {
	if g.Periods == 1 {
		return g.First.Label
	}
	return fmt.Sprintf("%s..%s (%d)", g.First.Label, g.Last.Label, g.Periods)
}

// GapRuns returns the control's gaps, consecutive periods with the same
// status and cause collapsed into one run.
func (c *ControlCoverage) GapRuns() []GapRun {
	gaps := c.Gaps()
	var out []GapRun
	for i := 0; i < len(gaps); {
		j := i + 1
		for j < len(gaps) && gaps[j].Status == gaps[i].Status && gaps[j].Detail == gaps[i].Detail && gaps[j].Start.Equal(gaps[j-1].End) {
			j++
		}
		out = append(out, GapRun{First: gaps[i], Last: gaps[j-1], Periods: j - i})
		i = j
	}
	return out
}

// Plain says what a status means, for people.
func (s Status) Plain() string {
	switch s {
	case Covered:
		return "covered"
	case CoveredWithExceptions:
		return "covered, with exceptions"
	case GapFailure:
		return "gap: the collector failed"
	case GapNoRun:
		return "gap: no evidence collected"
	case NotYetDue:
		return "not yet due"
	}
	return string(s)
}

type monthLabel struct {
	Name string
	Span int // weeks
	key  string
}

// Months labels the calendar's week columns with their months: a label
// spans the weeks whose Monday (or first day shown) falls in that month.
func (c *ControlCoverage) Months() []monthLabel {
	var out []monthLabel
	for _, w := range c.Weeks() {
		var first *Day
		for _, d := range w.Days {
			if d != nil {
				first = d
				break
			}
		}
		name, key := "", ""
		if first != nil {
			t, _ := time.Parse(time.DateOnly, first.Date)
			name, key = t.Format("Jan"), t.Format("2006-01")
			if len(out) == 0 || t.Month() == time.January {
				name = t.Format("Jan 2006")
			}
		}
		if n := len(out); n > 0 && out[n-1].key == key {
			out[n-1].Span++
			continue
		}
		out = append(out, monthLabel{Name: name, Span: 1, key: key})
	}
	return out
}

// Excepted returns the control's covered_with_exceptions periods.
func (c *ControlCoverage) Excepted() []PeriodStatus {
	var out []PeriodStatus
	for _, p := range c.Periods {
		if p.Status == CoveredWithExceptions {
			out = append(out, p)
		}
	}
	return out
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"date": func(t time.Time) string { return t.UTC().Format(time.DateOnly) },
	// the report's To is exclusive: people read the last day included
	"lastday": func(t time.Time) string { return t.UTC().AddDate(0, 0, -1).Format(time.DateOnly) },
	"mul":     func(a, b int) int { return a * b },
	// links are built by tickmark (file:// paths into the store), not taken from evidence
	"url":   func(s string) template.URL { return template.URL(s) },
	"count": func(m map[Status]int, s string) int { return m[Status(s)] },
	"last":  func(d []Day) int { return len(d) - 1 },
	"ts":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"shade": func(d *Day) string {
		switch {
		case d == nil:
			return "none"
		case d.Status == Covered && d.Records > 0:
			return "c"
		case d.Status == Covered:
			return "cp"
		case d.Status == CoveredWithExceptions && d.Records > 0:
			return "x"
		case d.Status == CoveredWithExceptions:
			return "xp"
		case d.Status == GapFailure && d.Failed:
			return "f"
		case d.Status == GapFailure:
			return "fp"
		case d.Status == GapNoRun:
			return "n"
		}
		return "d"
	},
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tickmark coverage {{date .From}} to {{lastday .To}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em;color:#1b1f24}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #d0d7de;padding:.25em .5em;font-size:.9em;text-align:left;vertical-align:top}
th{background:#f6f8fa}.ok{color:#1a7f37}.bad{color:#cf222e;font-weight:600}
.cal{display:flex;gap:2px;margin:.5em 0}.wk{display:flex;flex-direction:column;gap:2px}
.cal span{display:block;width:11px;height:11px;border-radius:2px}
.c{background:#2da44e}.cp{background:#aceebb}.x{background:#9a6700}.xp{background:#eac54f}.warn{color:#9a6700;font-weight:600}.f{background:#cf222e}.fp{background:#ff8182}.n{background:#fb8f44}.d{background:#d0d7de}.none{background:transparent}
.cap{color:#57606a;font-size:.85em;margin:.2em 0}
.legend span{display:inline-block;width:11px;height:11px;border-radius:2px;margin:0 .3em 0 1em;vertical-align:middle}
.calwrap{display:grid;grid-template-columns:auto 1fr;column-gap:4px;font-size:.7em;color:#57606a}
.months{display:flex;gap:2px;grid-column:2;height:1.3em}.months span{overflow:hidden;white-space:nowrap;flex:none}
.wdays{display:flex;flex-direction:column;gap:2px}.wdays span{height:11px;line-height:11px}
.calwrap .cal{margin:0}
@media print{body{margin:1cm;font-size:10pt}*{-webkit-print-color-adjust:exact;print-color-adjust:exact}section{break-inside:avoid-page}details{display:none}a{color:inherit;text-decoration:none}h2{break-after:avoid}}
</style></head><body>
<h1>Evidence coverage, {{date .From}} to {{lastday .To}} (inclusive)</h1>
<p>Control set: {{.Source}}. Computed at {{ts .Now}}. {{if .OK}}<span class="ok">No gaps.</span>{{else}}<span class="bad">{{.Gaps}} gap period(s).</span>{{end}}</p>
<p class="legend"><span class="c"></span>evidence that day<span class="cp"></span>period covered<span class="x"></span>evidence, checks failed<span class="xp"></span>period covered with exceptions<span class="f"></span>a collector failed that day<span class="fp"></span>gap: the collector failed<span class="n"></span>gap: no evidence collected<span class="d"></span>not yet due</p>
<table><thead><tr><th>control</th><th>title</th><th>owner</th><th>criteria</th><th>frequency</th><th>covered</th><th>covered with exceptions</th><th>gap: failed</th><th>gap: no run</th><th>not yet due</th><th>latest evidence</th></tr></thead><tbody>
{{range .Controls}}<tr><td><a href="#{{.Control.ID}}">{{.Control.ID}}</a></td><td>{{.Control.Title}}</td><td>{{.Control.Owner}}</td><td>{{range $i, $c := .Control.Criteria}}{{if $i}}, {{end}}{{$c}}{{end}}</td><td>{{.Control.Frequency}}</td>
<td class="ok">{{count .Counts "covered"}}</td><td{{if count .Counts "covered_with_exceptions"}} class="warn"{{end}}>{{count .Counts "covered_with_exceptions"}}</td><td{{if count .Counts "gap_failure"}} class="bad"{{end}}>{{count .Counts "gap_failure"}}</td><td{{if count .Counts "gap_no_run"}} class="bad"{{end}}>{{count .Counts "gap_no_run"}}</td><td>{{count .Counts "not_yet_due"}}</td>
<td>{{with .Latest}}{{if .Link}}<a href="{{url .Link}}">{{ts .CollectedAt}}</a>{{else}}{{ts .CollectedAt}}{{end}} ({{.Type}}){{else}}none{{end}}</td></tr>
{{end}}</tbody></table>
{{range .Controls}}<section id="{{.Control.ID}}"><h2>{{.Control.ID}}: {{.Control.Title}}</h2>
<p>{{.Control.Frequency}}; owner {{.Control.Owner}}; evidence: {{range $i, $t := .Control.Evidence}}{{if $i}}, {{end}}<code>{{$t}}</code>{{end}}; collectors: {{if .Sources}}{{range $i, $s := .Sources}}{{if $i}}, {{end}}{{$s}}{{end}}{{else}}<span class="bad">none produces these types</span>{{end}}</p>
{{with .Days}}<p class="cap">{{(index . 0).Date}} to {{(index . (last .)).Date}}: one column per ISO week, Monday at the top; hover a day for its records.</p>{{end}}
<div class="calwrap"><div class="months">{{range .Months}}<span style="width:{{mul .Span 13}}px">{{.Name}}</span>{{end}}</div>
<div class="wdays"><span>Mon</span><span></span><span>Wed</span><span></span><span>Fri</span><span></span><span>Sun</span></div>
<div class="cal">{{range .Weeks}}<div class="wk">{{range .Days}}<span class="{{shade .}}"{{with .}} title="{{.Date}}: {{.Records}} record(s){{if .Failed}}, a collector failed{{end}}{{if .Partial}}, from partial runs only{{end}} — {{.Status.Plain}}"{{end}}></span>{{end}}</div>{{end}}</div></div>
{{with .GapRuns}}<table><thead><tr><th>periods</th><th>status</th><th>why</th></tr></thead><tbody>
{{range .}}<tr><td>{{.Label}}</td><td class="bad">{{.First.Status.Plain}}</td><td>{{.First.Detail}}</td></tr>
{{end}}</tbody></table>{{end}}
{{with .Excepted}}<table class="exceptions"><thead><tr><th>period</th><th>status</th><th>exceptions</th><th>failing checks</th></tr></thead><tbody>
{{range .}}<tr><td>{{.Label}}</td><td class="warn">{{.Status.Plain}}</td><td>{{.Exceptions}}</td><td>{{range $i, $c := .Checks}}{{if $i}}, {{end}}{{if .Link}}<a href="{{url .Link}}">{{.Check}}</a>{{else}}{{.Check}}{{end}} ({{.Exceptions}}){{end}}</td></tr>
{{end}}</tbody></table>{{end}}
<details><summary>every period</summary><table><thead><tr><th>period</th><th>status</th><th>records</th><th>latest artifact</th></tr></thead><tbody>
{{range .Periods}}<tr><td>{{.Label}}</td><td>{{.Status.Plain}}</td><td>{{.Records}}</td><td>{{with .Latest}}{{if .Link}}<a href="{{url .Link}}">{{.Type}} #{{.Seq}}</a>{{else}}{{.Type}} #{{.Seq}}{{end}} <code>{{short .SHA256}}</code>{{end}}</td></tr>
{{end}}</tbody></table></details></section>
{{end}}</body></html>
`))
