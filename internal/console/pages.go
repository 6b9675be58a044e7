package console

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tickmark-dev/tickmark/internal/checks"
	"github.com/tickmark-dev/tickmark/internal/controls"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/export"
	"github.com/tickmark-dev/tickmark/internal/ledger"
)

// pageData is what every template receives; each page fills its part.
type pageData struct {
	Title   string
	Nav     string
	User    *User
	Signed  bool // sign-in configured (show sign-out)
	Error   string
	SignIn  bool
	Where   string
	Opened  time.Time
	Window  Window
	Windows []Window // auditors' windows, offered in the picker
	Fleet   *Fleet

	// dashboard
	Report   *controls.Report
	Totals   map[controls.Status]int
	Stale    []ActivityView
	Activity []ActivityView
	Problems []string
	Checks   []CheckView

	// control, period
	Control  *controls.ControlCoverage
	Criteria []CriterionView
	Period   *controls.PeriodStatus
	Records  []*evidence.Record
	More     bool
	MoreURL  string

	// artifact list
	Filter  Filter
	Types   []string
	Agents  []string
	NextURL string

	// artifact, proof
	Agent        string
	Record       *evidence.Record
	Preview      *Preview
	Verification *Verification

	// populations
	Population *export.Population
	PopRows    []export.Row
	PopDigest  string
	PopType    string
}

// ActivityView is an Activity with whether it stopped reporting.
type ActivityView struct {
	Activity
	Stale bool
	Since string
}

// CheckView is a control test's latest result in the window (its record:
// the subject states status, exceptions and population).
type CheckView struct {
	ID, Status string
	Record     *evidence.Record
}

// checkResults finds the latest result of every control test (evidence
// types check.<id>) each agent recorded in the window.
func checkResults(f *Fleet, w Window) ([]CheckView, error) {
	var out []CheckView
	for _, a := range f.activity {
		for _, t := range a.Types {
			if !strings.HasPrefix(t, checks.TypePrefix) {
				continue
			}
			var last *evidence.Record
			err := f.Agents[a.Agent].Find(ledger.Query{Type: t, Collector: a.Collector, From: w.From, To: w.To}, func(r *evidence.Record, _ []byte) error {
				last = r
				return nil
			})
			if err != nil {
				return nil, err
			}
			if last == nil {
				continue
			}
			v := CheckView{ID: strings.TrimPrefix(t, checks.TypePrefix), Status: "unknown", Record: last}
			if _, st, _, ok := checkOutcome(last); ok {
				v.Status = st
			}
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// CriterionView is a criterion with its crosswalks.
type CriterionView struct {
	ID, Title string
	ISO, CSF  []string
}

// Filter is the artifact list's filter.
type Filter struct {
	Type, Control, Collector, Agent string
}

var funcs = template.FuncMap{
	"filterFields": func(f Filter) map[string]string {
		m := map[string]string{}
		for k, v := range map[string]string{"type": f.Type, "control": f.Control, "collector": f.Collector, "agent": f.Agent} {
			if v != "" {
				m[k] = v
			}
		}
		return m
	},
	"day":      func(t time.Time) string { return t.UTC().Format(time.DateOnly) },
	"datetime": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	},
	"artifact": func(r *evidence.Record) string { return artifactPath(r.Agent, r.Seq) },
	"control":  func(id string, w Window) string { return "/controls/" + url.PathEscape(id) + "?" + w.Query() },
	"period": func(id string, p controls.Period, w Window) string {
		return "/controls/" + url.PathEscape(id) + "/periods/" + p.Start.Format(time.DateOnly) + "?" + w.Query()
	},
	"statusText": statusText,
	"join":       strings.Join,
	"count": func(m map[controls.Status]int, s string) int {
		return m[controls.Status(s)]
	},
	"pct": func(n, total int) int {
		if total == 0 {
			return 0
		}
		return n * 100 / total
	},
	"periods": func(cc *controls.ControlCoverage) int { return len(cc.Periods) },
	"exceptional": func(st controls.Status) bool {
		return st.IsGap() || st == controls.CoveredWithExceptions
	},
	"gaps": func(cc *controls.ControlCoverage) int {
		return cc.Counts[controls.GapFailure] + cc.Counts[controls.GapNoRun]
	},
	"wq": func(w Window) template.URL { return template.URL(w.Query()) },
	"query": func(w Window, kv ...string) template.URL {
		v, _ := url.ParseQuery(w.Query())
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] != "" {
				v.Set(kv[i], kv[i+1])
			}
		}
		return template.URL(v.Encode())
	},
	"bytes": func(n int64) string {
		switch {
		case n >= 1<<20:
			return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
		case n >= 1<<10:
			return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
		}
		return fmt.Sprintf("%d B", n)
	},
	"timeptr": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
}

func statusText(s controls.Status) string { return s.Plain() }

func artifactPath(agent string, seq uint64) string {
	return "/artifacts/" + url.PathEscape(agent) + "/" + strconv.FormatUint(seq, 10)
}

func (s *Server) parseTemplates() error {
	base, err := template.New("base").Funcs(funcs).ParseFS(templateFS, "templates/base.html")
	if err != nil {
		return err
	}
	s.tmpl = map[string]*template.Template{}
	for _, name := range []string{"dashboard", "control", "period", "artifacts", "artifact", "proof", "populations", "package", "error", "signedout"} {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("template %s: %w", name, err)
		}
		s.tmpl[name] = t
	}
	return nil
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, d *pageData) {
	d.User = userOf(r)
	d.Signed = s.cfg.OIDC != nil
	if d.Fleet == nil {
		d.Fleet = fleetOf(r)
	}
	if f := d.Fleet; f != nil {
		d.Where, d.Opened = f.Where, f.Opened
	}
	if d.User != nil && d.User.Role == Auditor {
		d.Windows = s.cfg.AuditorWindows
	}
	var buf bytes.Buffer
	if err := s.tmpl[name].ExecuteTemplate(&buf, "base", d); err != nil {
		s.log.Error("console: rendering a page failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	s.render(w, r, code, "error", &pageData{Title: http.StatusText(code), Error: msg})
}

// window reads the page's window (from, to) and checks the user may see it.
func (s *Server) window(w http.ResponseWriter, r *http.Request) (Window, bool) {
	u := userOf(r)
	q := r.URL.Query()
	win := s.defaultWindow(u)
	if q.Get("from") != "" || q.Get("to") != "" {
		var err error
		if win, err = ParseWindow(q.Get("from"), q.Get("to")); err != nil {
			s.fail(w, r, http.StatusBadRequest, "Invalid window: "+err.Error())
			return win, false
		}
	}
	if err := s.allowWindow(u, win); err != nil {
		s.access(r, u, "refused_window", &accessTarget{window: &win})
		s.fail(w, r, http.StatusForbidden, fmt.Sprintf("The window %s is %s. Choose one of yours.", win, err))
		return win, false
	}
	return win, true
}

func (s *Server) coverage(f *Fleet, w Window, ids ...string) (*controls.Report, error) {
	return f.Coverage(s.cfg.Controls, controls.Options{From: w.From, To: w.To, Now: s.now(), Controls: ids, Producers: s.cfg.Producers,
		Checks: s.cfg.Checks, CheckOutcome: checkOutcome})
}

// checkOutcome reads a control test result's check, status and exception
// count from its record (the subject states them).
func checkOutcome(r *evidence.Record) (string, string, int, bool) {
	if !strings.HasPrefix(r.Type, checks.TypePrefix) {
		return "", "", 0, false
	}
	return checks.ParseSubject(r.Subject)
}

// StaleAfter: a collector whose last evidence is older than this has
// stopped reporting.
const StaleAfter = 48 * time.Hour

func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request) {
	win, ok := s.window(w, r)
	if !ok {
		return
	}
	f := fleetOf(r)
	rep, err := s.coverage(f, win)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "Coverage: "+err.Error())
		return
	}
	d := &pageData{Title: "Dashboard", Nav: "dashboard", Window: win, Fleet: f, Report: rep, Totals: map[controls.Status]int{}}
	for _, cc := range rep.Controls {
		for st, n := range cc.Counts {
			d.Totals[st] += n
		}
	}
	now := s.now()
	for _, a := range f.activity {
		v := ActivityView{Activity: a, Since: since(now, a.Last)}
		if now.Sub(a.Last) > StaleAfter {
			v.Stale = true
			d.Stale = append(d.Stale, v)
		}
		d.Activity = append(d.Activity, v)
	}
	if d.Checks, err = checkResults(f, win); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "Control tests: "+err.Error())
		return
	}
	for agent, p := range f.Problems {
		d.Problems = append(d.Problems, agent+": "+p)
	}
	sort.Strings(d.Problems)
	s.render(w, r, http.StatusOK, "dashboard", d)
}

func since(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

func (s *Server) controlCoverage(w http.ResponseWriter, r *http.Request, win Window) (*controls.ControlCoverage, bool) {
	id := r.PathValue("id")
	if _, ok := s.cfg.Controls.Control(id); !ok {
		s.fail(w, r, http.StatusNotFound, fmt.Sprintf("No control %q in %s.", id, s.cfg.Controls.Source))
		return nil, false
	}
	rep, err := s.coverage(fleetOf(r), win, id)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "Coverage: "+err.Error())
		return nil, false
	}
	return &rep.Controls[0], true
}

func (s *Server) criteria(c *controls.Control) []CriterionView {
	var out []CriterionView
	for _, id := range c.Criteria {
		v := CriterionView{ID: id}
		if cat := s.cfg.Controls.Catalog; cat != nil {
			if cr, ok := cat.Criterion(id); ok {
				v.Title = cr.Title
			}
		}
		if x := s.cfg.Controls.Crosswalk; x != nil {
			if m, ok := x.For(id); ok {
				v.ISO, v.CSF = m.ISO27001, m.CSF
			}
		}
		out = append(out, v)
	}
	return out
}

func (s *Server) handleControl(w http.ResponseWriter, r *http.Request) {
	win, ok := s.window(w, r)
	if !ok {
		return
	}
	cc, ok := s.controlCoverage(w, r, win)
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "control", &pageData{Title: cc.Control.ID + " " + cc.Control.Title, Nav: "dashboard", Window: win, Control: cc, Criteria: s.criteria(&cc.Control)})
}

const periodRecords = 100

func (s *Server) handlePeriod(w http.ResponseWriter, r *http.Request) {
	win, ok := s.window(w, r)
	if !ok {
		return
	}
	cc, ok := s.controlCoverage(w, r, win)
	if !ok {
		return
	}
	var p *controls.PeriodStatus
	for i := range cc.Periods {
		if cc.Periods[i].Start.Format(time.DateOnly) == r.PathValue("start") {
			p = &cc.Periods[i]
		}
	}
	if p == nil {
		s.fail(w, r, http.StatusNotFound, fmt.Sprintf("%s has no period starting %s in the window %s.", cc.Control.ID, r.PathValue("start"), win))
		return
	}
	u := userOf(r)
	// Records of the control's evidence types in the period (and in the
	// window an auditor may see).
	from, to := p.Start, p.End
	if u.Role == Auditor {
		from, to = maxTime(from, win.From), minTime(to, win.To)
	}
	f := fleetOf(r)
	var recs []*evidence.Record
	more := false
	for _, t := range cc.Control.Evidence {
		got, m, err := f.List(r.Context(), ListQuery{Query: ledger.Query{Type: t, From: from, To: to}}, periodRecords)
		if err != nil {
			s.fail(w, r, http.StatusInternalServerError, err.Error())
			return
		}
		recs = append(recs, got...)
		more = more || m
	}
	sort.Slice(recs, func(i, j int) bool { return cursorOf(recs[i]).less(cursorOf(recs[j])) })
	if len(recs) > periodRecords {
		recs, more = recs[:periodRecords], true
	}
	d := &pageData{Title: cc.Control.ID + " " + p.Label, Nav: "dashboard", Window: win, Control: cc, Period: p, Records: recs, More: more}
	if more {
		pw := Window{From: from, To: to}
		d.MoreURL = "/artifacts?" + pw.Query()
		if len(cc.Control.Evidence) == 1 {
			d.MoreURL += "&type=" + url.QueryEscape(cc.Control.Evidence[0])
		}
	}
	s.render(w, r, http.StatusOK, "period", d)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

const pageSize = 50

func (s *Server) handleArtifacts(w http.ResponseWriter, r *http.Request) {
	win, ok := s.window(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	flt := Filter{Type: q.Get("type"), Control: q.Get("control"), Collector: q.Get("collector"), Agent: q.Get("agent")}
	f := fleetOf(r)
	lq := ListQuery{Query: ledger.Query{Type: flt.Type, Control: flt.Control, Collector: flt.Collector, From: win.From, To: win.To}, Agent: flt.Agent}
	if a := q.Get("after"); a != "" {
		c, err := parseCursor(a)
		if err != nil {
			s.fail(w, r, http.StatusBadRequest, "Invalid page cursor.")
			return
		}
		lq.After = &c
	}
	recs, more, err := f.List(r.Context(), lq, pageSize)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	d := &pageData{Title: "Artifacts", Nav: "artifacts", Window: win, Filter: flt, Records: recs, Agents: f.Names()}
	types := map[string]bool{}
	for _, t := range s.cfg.Controls.Types() {
		types[t] = true
	}
	for _, a := range f.activity {
		for _, t := range a.Types {
			types[t] = true
		}
	}
	for t := range types {
		d.Types = append(d.Types, t)
	}
	sort.Strings(d.Types)
	if more && len(recs) > 0 {
		v := r.URL.Query()
		v.Set("after", formatCursor(cursorOf(recs[len(recs)-1])))
		d.NextURL = "/artifacts?" + v.Encode()
	}
	s.render(w, r, http.StatusOK, "artifacts", d)
}

func formatCursor(c Cursor) string {
	return strconv.FormatInt(c.NS, 10) + "." + strconv.FormatUint(c.Seq, 10) + "." + c.Agent
}

func parseCursor(s string) (Cursor, error) {
	parts := strings.SplitN(s, ".", 3)
	if len(parts) != 3 {
		return Cursor{}, errors.New("bad cursor")
	}
	ns, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return Cursor{}, err
	}
	seq, err := strconv.ParseUint(parts[1], 10, 64)
	if err != nil {
		return Cursor{}, err
	}
	return Cursor{NS: ns, Seq: seq, Agent: parts[2]}, nil
}

// artifact finds the record named by the path and checks the user may see it.
func (s *Server) artifact(w http.ResponseWriter, r *http.Request) (*Fleet, AgentSource, *evidence.Record, bool) {
	f := fleetOf(r)
	agent := r.PathValue("agent")
	src, ok := f.Agents[agent]
	if !ok {
		s.fail(w, r, http.StatusNotFound, fmt.Sprintf("No agent %q in %s.", agent, f.Where))
		return nil, nil, nil, false
	}
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil {
		s.fail(w, r, http.StatusNotFound, "No such artifact.")
		return nil, nil, nil, false
	}
	rec, err := src.Record(seq)
	if err != nil {
		s.fail(w, r, http.StatusNotFound, fmt.Sprintf("Agent %s has no record %d: %v", agent, seq, err))
		return nil, nil, nil, false
	}
	u := userOf(r)
	if err := s.allowTime(u, rec.CollectedAt); err != nil {
		s.access(r, u, "refused_artifact", &accessTarget{agent: agent, record: rec})
		s.fail(w, r, http.StatusForbidden, fmt.Sprintf("This artifact was collected on %s, %s.", rec.CollectedAt.UTC().Format(time.DateOnly), err))
		return nil, nil, nil, false
	}
	return f, src, rec, true
}

func (s *Server) handleArtifact(w http.ResponseWriter, r *http.Request) {
	f, src, rec, ok := s.artifact(w, r)
	if !ok {
		return
	}
	var pv *Preview
	if body, err := src.Body(r.Context(), rec); err != nil {
		pv = &Preview{Kind: "none", Note: "The evidence object could not be read: " + err.Error()}
	} else {
		pv = makePreview(rec.ContentType, rec.Size, body)
		body.Close()
	}
	s.access(r, userOf(r), "view_artifact", &accessTarget{agent: rec.Agent, record: rec})
	win := s.defaultWindow(userOf(r))
	s.render(w, r, http.StatusOK, "artifact", &pageData{Title: rec.Type + " " + rec.Subject, Nav: "artifacts", Window: win, Fleet: f, Agent: rec.Agent, Record: rec, Preview: pv})
}

func bodyName(r *evidence.Record) string {
	return fmt.Sprintf("%s-%d-%s.%s", r.Agent, r.Seq, r.SHA256[:8], evidence.Ext(r.ContentType))
}

func attachment(w http.ResponseWriter, name, contentType string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
}

func (s *Server) handleBody(w http.ResponseWriter, r *http.Request) {
	_, src, rec, ok := s.artifact(w, r)
	if !ok {
		return
	}
	body, err := src.Body(r.Context(), rec)
	if err != nil {
		s.fail(w, r, http.StatusBadGateway, "The evidence object could not be read: "+err.Error())
		return
	}
	defer body.Close()
	s.access(r, userOf(r), "download_body", &accessTarget{agent: rec.Agent, record: rec})
	attachment(w, bodyName(rec), "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(rec.Size, 10))
	w.Header().Set("X-Evidence-SHA256", rec.SHA256)
	if _, err := io.Copy(w, body); err != nil {
		s.log.Warn("console: streaming a body failed", "agent", rec.Agent, "seq", rec.Seq, "err", err)
	}
}

func (s *Server) handleProof(w http.ResponseWriter, r *http.Request) {
	f, src, rec, ok := s.artifact(w, r)
	if !ok {
		return
	}
	v := verifyArtifact(r.Context(), f, src, rec, s.cfg.TSARoots)
	s.access(r, userOf(r), "view_proof", &accessTarget{agent: rec.Agent, record: rec})
	s.render(w, r, http.StatusOK, "proof", &pageData{Title: "Proof of " + rec.Type + " " + strconv.FormatUint(rec.Seq, 10), Nav: "artifacts",
		Window: s.defaultWindow(userOf(r)), Fleet: f, Agent: rec.Agent, Record: rec, Verification: v})
}

func (s *Server) handleProofFile(w http.ResponseWriter, r *http.Request) {
	f, src, rec, ok := s.artifact(w, r)
	if !ok {
		return
	}
	v := verifyArtifact(r.Context(), f, src, rec, s.cfg.TSARoots)
	if v.Proof == nil {
		s.fail(w, r, http.StatusConflict, "No inclusion proof: see the proof page for why.")
		return
	}
	s.access(r, userOf(r), "download_proof", &accessTarget{agent: rec.Agent, record: rec})
	attachment(w, fmt.Sprintf("%s-%012d.tlog-proof", rec.Agent, rec.Seq), "text/plain; charset=utf-8")
	_, _ = w.Write(v.Proof)
}

// agentFor picks the page's agent: the one asked for, or the only one.
func (s *Server) agentFor(w http.ResponseWriter, r *http.Request, f *Fleet, required bool) (string, bool) {
	a := r.URL.Query().Get("agent")
	if a == "" && len(f.Names()) == 1 {
		a = f.Names()[0]
	}
	if a == "" {
		if required {
			s.fail(w, r, http.StatusBadRequest, "Choose an agent.")
		}
		return "", false
	}
	if _, ok := f.Agents[a]; !ok {
		s.fail(w, r, http.StatusNotFound, fmt.Sprintf("No agent %q in %s.", a, f.Where))
		return "", false
	}
	return a, true
}

func (s *Server) handlePopulation(w http.ResponseWriter, r *http.Request) {
	win, ok := s.window(w, r)
	if !ok {
		return
	}
	f := fleetOf(r)
	q := r.URL.Query()
	typ := q.Get("type")
	d := &pageData{Title: "Populations", Nav: "populations", Window: win, Agents: f.Names(), PopType: typ, Filter: Filter{Type: typ, Agent: q.Get("agent")}}
	seen := map[string]bool{}
	for _, a := range f.activity {
		for _, t := range a.Types {
			if !seen[t] {
				seen[t] = true
				d.Types = append(d.Types, t)
			}
		}
	}
	sort.Strings(d.Types)
	if typ == "" {
		s.render(w, r, http.StatusOK, "populations", d)
		return
	}
	agent, ok := s.agentFor(w, r, f, false)
	if !ok {
		if q.Get("agent") != "" {
			return
		}
		for _, a := range f.activity { // the first agent that produced the type
			for _, t := range a.Types {
				if t == typ && agent == "" {
					agent = a.Agent
				}
			}
		}
		if agent == "" {
			d.Error = "No agent has produced " + typ + "."
			s.render(w, r, http.StatusOK, "populations", d)
			return
		}
	}
	d.Filter.Agent = agent
	pop, err := export.BuildPopulation(r.Context(), f.Agents[agent], typ, win.From, win.To)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "Population: "+err.Error())
		return
	}
	u := userOf(r)
	tgt := &accessTarget{agent: agent, typ: typ, window: &win}
	switch q.Get("format") {
	case "csv":
		s.access(r, u, "download_population", tgt)
		attachment(w, fmt.Sprintf("population-%s-%s-%s.csv", agent, typ, strings.ReplaceAll(win.String(), "..", "-to-")), "text/csv; charset=utf-8")
		_ = pop.WriteCSV(w)
		return
	case "sample":
		n, _ := strconv.Atoi(q.Get("n"))
		rows, err := pop.Sample(n, q.Get("seed"))
		if err != nil {
			d.Error = "Sample: " + err.Error()
			break
		}
		s.access(r, u, "download_sample", tgt)
		attachment(w, fmt.Sprintf("sample-%s-%s-n%d.csv", agent, typ, n), "text/csv; charset=utf-8")
		cw := csv.NewWriter(w)
		_ = cw.Write(pop.Header())
		for _, row := range rows {
			_ = cw.Write(pop.Record(row))
		}
		cw.Flush()
		return
	}
	s.access(r, u, "view_population", tgt)
	d.Population = pop
	d.PopDigest = pop.Digest()
	d.PopRows = pop.Rows
	if len(d.PopRows) > previewRows {
		d.PopRows = d.PopRows[:previewRows]
	}
	s.render(w, r, http.StatusOK, "populations", d)
}

func (s *Server) handlePackagePage(w http.ResponseWriter, r *http.Request) {
	win, ok := s.window(w, r)
	if !ok {
		return
	}
	f := fleetOf(r)
	s.render(w, r, http.StatusOK, "package", &pageData{Title: "Auditor package", Nav: "package", Window: win, Agents: f.Names()})
}

// handlePackage streams the auditor package of one agent for the window:
// export.Write, so the bytes are those `tickmark export` writes for the
// same ledger, window and controls.
func (s *Server) handlePackage(w http.ResponseWriter, r *http.Request) {
	win, ok := s.window(w, r)
	if !ok {
		return
	}
	f := fleetOf(r)
	agent, ok := s.agentFor(w, r, f, true)
	if !ok {
		return
	}
	select {
	case s.packages <- struct{}{}:
		defer func() { <-s.packages }()
	default:
		s.fail(w, r, http.StatusTooManyRequests, "Other packages are being built; try again in a minute.")
		return
	}
	s.access(r, userOf(r), "download_package", &accessTarget{agent: agent, window: &win})
	attachment(w, export.RootName(agent, win.From, win.To)+".zip", "application/zip")
	res, err := export.Write(r.Context(), w, f.Agents[agent], export.Options{From: win.From, To: win.To, TempDir: s.cfg.TempDir})
	if err != nil {
		// the response has started: the client sees a truncated ZIP, which verify-package rejects
		s.log.Error("console: building a package failed", "agent", agent, "window", win.String(), "err", err)
		return
	}
	s.log.Info("console: package sent", "agent", agent, "window", win.String(), "records", res.Manifest.Records, "files", res.Files)
}
