package jira

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	gojira "github.com/andygrunwald/go-jira"
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
	upper := floorMinute(req.Now)
	if !from.Before(upper) {
		return nil
	}
	page, collected := 0, 0
	for {
		jql := fmt.Sprintf(`(%s) AND updated >= "%s" AND updated < "%s" ORDER BY updated ASC`, q.JQL,
			from.In(a.loc).Format("2006-01-02 15:04"), upper.In(a.loc).Format("2006-01-02 15:04"))
		pos := ""
		restart := false
		for !restart {
			if err := ctx.Err(); err != nil {
				return err
			}
			p, err := a.search(ctx, c.cfg, jql, pos)
			if err != nil {
				return err
			}
			page++
			issues := make([]*rawIssue, 0, len(p.Issues))
			for _, raw := range p.Issues {
				is, err := decodeIssue(raw, c.cfg.ApproverField)
				if err != nil {
					return collectors.Permanent(fmt.Errorf("jira: POST %s: malformed issue: %v", a.endpoint(a.searchEndpoint()), err))
				}
				issues = append(issues, is)
			}
			// Skip versions already collected (the overlap, the restart
			// minute) and stale index entries older than what was collected.
			var fresh []*rawIssue
			for _, is := range issues {
				if prev, ok := st.Seen[is.Key]; !ok || prev < fmtTime(is.updated) {
					fresh = append(fresh, is)
				}
			}
			tickets, err := c.enrich(ctx, a, fresh)
			if err != nil {
				return err
			}
			if len(tickets) > 0 {
				if err := c.emitPage(ctx, emit, a, q, jql, from, upper, page, tickets, fresh); err != nil {
					return err
				}
			}
			for _, is := range fresh {
				st.Seen[is.Key] = fmtTime(is.updated)
			}
			next, last := a.next(p)
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
			st.prune(st.From.Add(-overlap))
			collected += len(tickets)
			if req.Logger != nil {
				req.Logger.Debug("jira page", "query", q.Name, "evidence_type", q.EvidenceType, "page", page, "tickets", len(issues), "new", len(tickets))
			}
			if err := emit.Checkpoint(ctx, cur.String()); err != nil {
				return err
			}
			if last {
				if req.Logger != nil {
					req.Logger.Info("jira query done", "query", q.Name, "evidence_type", q.EvidenceType, "pages", page, "tickets", collected)
				}
				return nil
			}
		}
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

// enrich completes each ticket's changelog and reads its remote links,
// with bounded concurrency, keeping the page order.
func (c *collector) enrich(ctx context.Context, a *api, issues []*rawIssue) ([]Ticket, error) {
	out := make([]Ticket, len(issues))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.Concurrency)
	for i, is := range issues {
		g.Go(func() error {
			var hs []rawHistory
			var pages []json.RawMessage
			if is.Changelog != nil {
				hs = is.Changelog.Histories
			}
			if is.Changelog == nil || is.Changelog.Total > len(hs) {
				var err error
				hs, pages, err = a.changelog(gctx, is.Key)
				if err != nil {
					return err
				}
			}
			var links []gojira.RemoteLink
			var rawLinks json.RawMessage
			if *c.cfg.RemoteLinks {
				var err error
				links, rawLinks, err = a.remoteLinks(gctx, is.Key)
				if err != nil {
					return err
				}
			}
			out[i] = ticket(is, c.cfg, a.approverName, hs, pages, links, rawLinks)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return out, nil
}

func (c *collector) emitPage(ctx context.Context, emit collectors.Emitter, a *api, q Query, jql string, from, upper time.Time, page int, tickets []Ticket, issues []*rawIssue) error {
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
	pages := 1
	for i, is := range issues {
		if is.updated.After(latest) {
			latest = is.updated
		}
		pages += len(tickets[i].Raw.ChangelogPages)
	}
	base := a.c.GetBaseURL()
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
			Pages:            pages,
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
