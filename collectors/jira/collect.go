package jira

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/httpx"
)

// cursor is the collector's checkpoint: one position per query.
type cursor struct {
	V       int                    `json:"v"`
	Queries map[string]*queryState `json:"queries"`
}

// queryState is where a query resumes: the minute its next search starts
// from (before the overlap) and the tickets already collected at or after
// From minus the overlap, by key, with the updated time collected.
type queryState struct {
	JQLHash string            `json:"jql"`
	From    time.Time         `json:"from"`
	Seen    map[string]string `json:"seen,omitempty"`
}

func jqlHash(jql string) string {
	h := sha256.Sum256([]byte(jql))
	return hex.EncodeToString(h[:8])
}

func parseCursor(s string) (*cursor, error) {
	c := &cursor{V: 1, Queries: map[string]*queryState{}}
	if s == "" {
		return c, nil
	}
	if err := json.Unmarshal([]byte(s), c); err != nil || c.V != 1 {
		return nil, collectors.Permanent(fmt.Errorf("jira: unreadable cursor (%v); reset the collector's cursor to backfill", err))
	}
	if c.Queries == nil {
		c.Queries = map[string]*queryState{}
	}
	return c, nil
}

func (c *cursor) String() string {
	b, _ := json.Marshal(c) // map keys are sorted: deterministic
	return string(b)
}

// Collect runs every configured query.
func (c *collector) Collect(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
	cur, err := parseCursor(req.Cursor)
	if err != nil {
		return err
	}
	a, err := newAPI(ctx, c.cfg, req.HTTPClient)
	if err != nil {
		return err
	}
	log := req.Logger
	if log != nil {
		log.Info("jira connected", "deployment", a.deployment, "time_zone", a.loc.String())
	}
	var failed []error
	for i := range c.cfg.Queries {
		q := c.cfg.Queries[i]
		if err := c.runQuery(ctx, a, req, emit, cur, q); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			err = fmt.Errorf("query %q: %w", q.Name, err)
			if !queryError(err) {
				return err
			}
			// A query Jira refuses (bad JQL, unknown project) fails alone:
			// the other queries still collect and commit their evidence.
			if req.Logger != nil {
				req.Logger.Warn("jira query refused", "query", q.Name, "err", err)
			}
			failed = append(failed, err)
		}
	}
	if log != nil && a.pacer.carefulRequests() > 0 {
		log.Info("jira rate limit: requests sent one at a time while the budget was low", "requests", a.pacer.carefulRequests())
	}
	switch len(failed) {
	case 0:
		return nil
	case 1:
		return failed[0]
	}
	return collectors.Permanent(fmt.Errorf("%d of %d queries failed: %w", len(failed), len(c.cfg.Queries), errors.Join(failed...)))
}

// queryError reports whether err is Jira refusing one query (HTTP 400).
func queryError(err error) bool {
	var se *httpx.StatusError
	return errors.As(err, &se) && se.Status == http.StatusBadRequest
}

// floorMinute truncates to the minute: JQL dates have minute precision.
func floorMinute(t time.Time) time.Time { return t.Truncate(time.Minute) }

// dstGuard is how far a JQL lower bound may be moved back around a
// daylight-saving change; the tickets seen that long before the cursor are
// remembered so that re-reading them adds no duplicate.
const dstGuard = time.Hour

// queryRun is what one query's run has read, for its population artifact.
type queryRun struct {
	keys     map[uint64]struct{} // distinct tickets returned by the searches
	projects map[string]bool
	emitted  int
	reqs     requestStats
}

// requestStats counts the requests a query's run made, by kind, and the
// most a single ticket cost (its own requests plus its share of the bulk
// changelog requests of its page).
type requestStats struct {
	Total        int     `json:"total"`
	Search       int     `json:"search"`
	Changelog    int     `json:"changelog"`
	RemoteLinks  int     `json:"remote_links"`
	Approvals    int     `json:"jsm_approvals"`
	Comments     int     `json:"comments"`
	Population   int     `json:"population"`
	PerTicketMax float64 `json:"per_ticket_max"`
	PerTicketAvg float64 `json:"per_ticket_avg"`
	tickets      int
}

func (r *requestStats) sum() {
	r.Total = r.Search + r.Changelog + r.RemoteLinks + r.Approvals + r.Comments + r.Population
}

func keyHash(k string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(k))
	return h.Sum64()
}

// runQuery pages one query in keyset fashion: every search asks for
// `updated >= from` in ascending updated order, and after each page `from`
// moves to the minute of the page's last ticket, so a ticket updated while
// the run pages (which moves to the end of the order) can never shift an
// unread ticket past a page boundary. Tickets seen again (same minute, the
// overlap) are skipped by key and updated time.
func (c *collector) runQuery(ctx context.Context, a *api, req collectors.Request, emit collectors.Emitter, cur *cursor, q Query) error {
	overlap := c.cfg.Overlap.D()
	hash := jqlHash(q.JQL)
	st := cur.Queries[q.Name]
	var from time.Time
	if st != nil && st.JQLHash == hash {
		from = floorMinute(st.From.Add(-overlap))
	} else {
		if st != nil && req.Logger != nil {
			req.Logger.Info("jira query changed; collecting it again from the backfill start", "query", q.Name)
		}
		st = &queryState{JQLHash: hash}
		from = floorMinute(req.Since)
		cur.Queries[q.Name] = st
	}
	if st.Seen == nil {
		st.Seen = map[string]string{}
	}
	upperText, upper := upperBound(floorMinute(req.Now), a.loc)
	if !from.Before(upper) {
		return nil
	}
	from0, from0Text := from, lowerBound(from, a.loc)
	run := &queryRun{keys: map[uint64]struct{}{}, projects: map[string]bool{}}
	page := 0
	windowJQL := func(from time.Time) string {
		return fmt.Sprintf(`(%s) AND updated >= "%s" AND updated < "%s" ORDER BY updated ASC`, q.JQL, lowerBound(from, a.loc), upperText)
	}
	// The next search is sent while the current page's tickets are
	// enriched and emitted; it is used only if it is the search the page
	// leads to.
	var ahead *prefetch
	defer func() { ahead.stop() }()
	for {
		jql := windowJQL(from)
		pos := ""
		restart := false
		for !restart {
			if err := ctx.Err(); err != nil {
				return err
			}
			var p *searchPage
			var issues []*rawIssue
			var err error
			if ahead != nil && ahead.jql == jql && ahead.pos == pos {
				p, issues, err = ahead.wait()
			} else {
				ahead.stop()
				p, issues, err = searchIssues(ctx, a, c.cfg, &q, jql, pos)
			}
			ahead = nil
			if err != nil {
				return err
			}
			page++
			run.reqs.Search++
			for _, is := range issues {
				run.keys[keyHash(is.Key)] = struct{}{}
				if is.Fields.Project != nil {
					run.projects[is.Fields.Project.Key] = true
				}
			}
			next, last := a.next(p)
			if !last {
				nj, np := jql, next
				if len(issues) > 0 && floorMinute(issues[len(issues)-1].updated).After(from) {
					nj, np = windowJQL(floorMinute(issues[len(issues)-1].updated)), ""
				}
				ahead = startSearch(ctx, a, c.cfg, &q, nj, np)
			}
			// Skip versions already collected (the overlap, the restart
			// minute) and stale index entries older than what was collected.
			var fresh []*rawIssue
			for _, is := range issues {
				if prev, ok := st.Seen[is.Key]; !ok || prev < fmtTime(is.updated) {
					fresh = append(fresh, is)
				}
			}
			before := run.reqs.Changelog + run.reqs.RemoteLinks + run.reqs.Approvals + run.reqs.Comments
			tickets, err := c.enrich(ctx, a, &q, fresh, &run.reqs)
			if err != nil {
				return err
			}
			// the responses this page's evidence was built from
			responses := 1 + run.reqs.Changelog + run.reqs.RemoteLinks + run.reqs.Approvals + run.reqs.Comments - before
			if len(tickets) > 0 {
				if err := c.emitPage(ctx, emit, a, q, jql, from, upper, page, responses, tickets, fresh); err != nil {
					return err
				}
			}
			for _, is := range fresh {
				st.Seen[is.Key] = fmtTime(is.updated)
			}
			switch {
			case last:
				// Done up to upper; the next run starts at upper minus the overlap.
				st.From = upper
				restart = true
			case len(issues) > 0 && floorMinute(issues[len(issues)-1].updated).After(from):
				from = floorMinute(issues[len(issues)-1].updated)
				st.From = from
				restart = true
			default:
				// a page entirely within one minute: continue the same search
				st.From = from
				pos = next
			}
			st.prune(st.From.Add(-overlap - dstGuard))
			run.emitted += len(tickets)
			if req.Logger != nil {
				req.Logger.Debug("jira page", "query", q.Name, "evidence_type", q.EvidenceType, "page", page, "tickets", len(issues), "new", len(tickets), "requests", responses)
			}
			if err := emit.Checkpoint(ctx, cur.String()); err != nil {
				return err
			}
			if last {
				if *c.cfg.Reconcile {
					base := fmt.Sprintf(`(%s) AND updated >= "%s" AND updated < "%s"`, q.JQL, from0Text, upperText)
					if err := c.reconcile(ctx, a, req, emit, q, base, from0, upper, upperText, run); err != nil {
						return err
					}
					if err := emit.Checkpoint(ctx, cur.String()); err != nil {
						return err
					}
				}
				run.reqs.sum()
				if req.Logger != nil {
					req.Logger.Info("jira query done", "query", q.Name, "evidence_type", q.EvidenceType, "pages", page,
						"tickets", run.emitted, "requests", run.reqs.Total, "requests_per_ticket_max", run.reqs.PerTicketMax,
						"requests_per_ticket_avg", run.reqs.PerTicketAvg)
				}
				return nil
			}
		}
	}
}

// searchIssues fetches one search page and decodes its issues.
func searchIssues(ctx context.Context, a *api, cfg *Config, q *Query, jql, pos string) (*searchPage, []*rawIssue, error) {
	p, err := a.search(ctx, cfg, q, jql, pos)
	if err != nil {
		return nil, nil, err
	}
	issues := make([]*rawIssue, 0, len(p.Issues))
	for _, raw := range p.Issues {
		is, err := decodeIssue(raw, true)
		if err != nil {
			return nil, nil, collectors.Permanent(fmt.Errorf("jira: POST %s: malformed issue: %v", a.endpoint(a.searchEndpoint()), err))
		}
		issues = append(issues, is)
	}
	return p, issues, nil
}

// prefetch is a search sent (and decoded) ahead of its turn.
type prefetch struct {
	jql, pos string
	done     chan struct{}
	cancel   context.CancelFunc
	p        *searchPage
	issues   []*rawIssue
	err      error
}

func startSearch(ctx context.Context, a *api, cfg *Config, q *Query, jql, pos string) *prefetch {
	pctx, cancel := context.WithCancel(ctx)
	f := &prefetch{jql: jql, pos: pos, done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(f.done)
		f.p, f.issues, f.err = searchIssues(pctx, a, cfg, q, jql, pos)
	}()
	return f
}

// wait returns the search's result.
func (f *prefetch) wait() (*searchPage, []*rawIssue, error) {
	<-f.done
	f.cancel()
	return f.p, f.issues, f.err
}

// stop abandons the search and waits for it to end (nil: nothing to do).
func (f *prefetch) stop() {
	if f != nil {
		f.cancel()
		<-f.done
	}
}

// prune forgets tickets updated before t: the next search starts at or
// after t, so they cannot come back unchanged.
func (s *queryState) prune(t time.Time) {
	for k, v := range s.Seen {
		if u, err := time.Parse("2006-01-02T15:04:05.000Z", v); err == nil && u.Before(t) {
			delete(s.Seen, k)
		}
	}
}

// enrich reads each ticket's complete changelog (one bulk request per
// page, Cloud), its JSM approvals (service projects), comments (when the
// embedded page is full) and remote links, with bounded concurrency,
// keeping the page order.
func (c *collector) enrich(ctx context.Context, a *api, q *Query, issues []*rawIssue, rs *requestStats) ([]Ticket, error) {
	if len(issues) == 0 {
		return nil, nil
	}
	out := make([]Ticket, len(issues))
	cost := make([]int, len(issues))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.Concurrency)
	// Cloud: the page's whole changelogs in bulk, read while the first
	// tickets' other requests are under way; each ticket waits for it
	// before its histories are taken.
	var bulk map[string][]rawHistory
	var bulkDone chan struct{}
	bulkReqs := 0
	if a.deployment == deployCloud && !a.noBulk.Load() {
		bulkDone = make(chan struct{})
		ids := make([]string, len(issues))
		for i, is := range issues {
			ids[i] = is.ID
		}
		g.Go(func() error {
			defer close(bulkDone)
			var err error
			bulk, bulkReqs, err = a.bulkChangelog(gctx, ids)
			var se *httpx.StatusError
			switch {
			case err == nil:
			case errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusMethodNotAllowed):
				// no bulk endpoint on this site: page each changelog instead
				a.noBulk.Store(true)
				bulk = nil
			default:
				bulk = nil
				return err
			}
			return nil
		})
	}
	var mu sync.Mutex
	for i, is := range issues {
		g.Go(func() error {
			x := extras{}
			var links, appr, comm int
			var clog int
			// histories reads the ticket's changelog: from the bulk read,
			// by paging it (Cloud without bulkfetch), or as embedded (Data
			// Center).
			histories := func() error {
				switch {
				case a.deployment == deployCloud && bulk != nil:
					x.histories, x.source, x.complete = bulk[is.ID], "bulkfetch", true
				case a.deployment == deployCloud:
					var err error
					x.histories, clog, err = a.changelog(gctx, is.Key)
					if gone(err) {
						x.gone = true
					} else if err != nil {
						return err
					}
					x.source, x.complete = "issue_changelog", true
				default:
					if is.Changelog != nil {
						x.histories = is.Changelog.Histories
					}
					// Data Center embeds the whole changelog; its total is the ticket's.
					if is.Changelog == nil || is.Changelog.Total > len(x.histories) {
						return collectors.Permanent(fmt.Errorf("jira: %s: the embedded changelog holds %d of %d histories and Data Center has no changelog endpoint", is.Key, len(x.histories), changelogTotal(is)))
					}
					x.source, x.complete = "embedded", true
				}
				return nil
			}
			if bulkDone == nil {
				if err := histories(); err != nil {
					return err
				}
			}
			// A ticket deleted after the search answers 404 to the requests
			// about it: it is kept as seen in the search, marked gone.
			read := func() error {
				if *c.cfg.JSMApprovals && is.Fields.Project != nil && is.Fields.Project.ProjectTypeKey == "service_desk" {
					var err error
					var n int
					x.approvals, n, err = a.approvals(gctx, is.Key)
					appr += n
					if err != nil {
						var se *httpx.StatusError
						if !errors.As(err, &se) || (se.Status != http.StatusForbidden && se.Status != http.StatusNotFound && se.Status != http.StatusUnauthorized) {
							return err
						}
						x.approvals = nil
						x.apprNote = fmt.Sprintf("not readable (HTTP %d): the account needs access to the service project's requests", se.Status)
					}
				} else if *c.cfg.JSMApprovals {
					x.apprNote = "not a service project"
				} else {
					x.apprNote = "not read (jsm_approvals: false)"
				}
				if *c.cfg.Comments {
					if cf, ok := embeddedComments(is.Fields.Comment); ok {
						x.comments = cf
					} else {
						var err error
						var n int
						x.comments, n, err = a.comments(gctx, is.Key)
						comm += n
						if err != nil {
							return err
						}
					}
				}
				if *c.cfg.RemoteLinks {
					var err error
					x.links, x.rawLinks, err = a.remoteLinks(gctx, is.Key)
					links++
					if err != nil {
						return err
					}
				}
				return nil
			}
			if !x.gone {
				if err := read(); gone(err) {
					x.gone = true
				} else if err != nil {
					return err
				}
			}
			if bulkDone != nil {
				<-bulkDone
				if gctx.Err() != nil {
					return gctx.Err() // the bulk read failed (its error is the group's)
				}
				if err := histories(); err != nil {
					return err
				}
			}
			out[i] = ticket(is, c.cfg, q, a.approverName, x)
			cost[i] = links + appr + comm + clog
			mu.Lock()
			rs.Changelog += clog
			rs.RemoteLinks += links
			rs.Approvals += appr
			rs.Comments += comm
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	rs.Changelog += bulkReqs
	share := float64(bulkReqs) / float64(len(issues))
	total := 0.0
	for _, n := range cost {
		v := float64(n) + share
		total += v
		rs.PerTicketMax = max(rs.PerTicketMax, v)
	}
	// running average over the query's tickets so far
	prev := rs.PerTicketAvg * float64(rs.tickets)
	rs.tickets += len(issues)
	rs.PerTicketAvg = (prev + total) / float64(rs.tickets)
	return out, nil
}

// gone reports a 404: the ticket was deleted (or hidden) after the search.
func gone(err error) bool {
	var se *httpx.StatusError
	return errors.As(err, &se) && se.Status == http.StatusNotFound
}

func changelogTotal(is *rawIssue) int {
	if is.Changelog == nil {
		return 0
	}
	return is.Changelog.Total
}

func (c *collector) emitPage(ctx context.Context, emit collectors.Emitter, a *api, q Query, jql string, from, upper time.Time, page, responses int, tickets []Ticket, issues []*rawIssue) error {
	body := PageBody{
		Collector:  "jira",
		Query:      QueryRef{Name: q.Name, JQL: q.JQL, Executed: jql, EvidenceType: q.EvidenceType},
		Deployment: a.deployment,
		Endpoint:   "/" + a.searchEndpoint(),
		Window:     Window{UpdatedFrom: fmtTime(from), UpdatedTo: fmtTime(upper), TimeZone: a.loc.String()},
		Page:       page,
		Tickets:    tickets,
	}
	// JQL is full of < and >: keep them readable (no HTML escaping).
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		return collectors.Permanent(fmt.Errorf("jira: encoding page: %w", err))
	}
	b := buf.Bytes()
	var latest time.Time
	for _, is := range issues {
		if is.updated.After(latest) {
			latest = is.updated
		}
	}
	base := a.site
	account := (&url.URL{Scheme: base.Scheme, Host: base.Host}).String()
	art := collectors.Artifact{
		Type:        q.EvidenceType,
		Subject:     q.Name,
		Controls:    q.Controls,
		ContentType: "application/json",
		Body:        b,
		ObservedAt:  latest,
		WindowStart: from,
		WindowEnd:   upper,
		Source: collectors.Source{
			System:           "jira",
			Endpoint:         "POST /" + a.searchEndpoint(),
			Query:            jql,
			Account:          account,
			CollectorVersion: Version,
			Pages:            responses,
			Complete:         true,
			Items:            len(tickets),
		},
	}
	if err := emit.Emit(ctx, art); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}
