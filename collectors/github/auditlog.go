package github

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
)

// ---- github.audit_log: membership and permission changes ----
//
// GET /orgs/{org}/audit-log exists on GitHub Enterprise Cloud only and is
// readable by organisation owners only. Each run reads the events created
// in [previous window end − overlap, now − lag], oldest first, follows the
// Link header's after cursors, and leaves out the events it already
// emitted (by _document_id): GitHub documents the audit log as eventually
// consistent, so an event can appear minutes after its time, and the
// overlap re-reads the end of the previous window to catch it.

// DefaultAuditLogActions are the membership and permission changes
// collected by default (audit_log_actions). A name without a dot selects a
// whole category, as GitHub's action: qualifier does.
var DefaultAuditLogActions = []string{
	"org.add_member", "org.remove_member", "org.update_member", "org.invite_member", "org.cancel_invitation",
	"org.remove_outside_collaborator", "org.update_default_repository_permission",
	"org.add_billing_manager", "org.remove_billing_manager",
	"team.add_member", "team.remove_member", "team.promote_maintainer", "team.demote_maintainer",
	"team.add_repository", "team.remove_repository", "team.update_repository_permission",
	"repo.add_member", "repo.remove_member", "repo.update_member",
}

// auditRetention is how long GitHub keeps an organisation's web events.
const auditRetention = 180 * 24 * time.Hour

// auditState is the audit log's part of the cursor, per organisation.
type auditState struct {
	// Until is the end of the last window collected (now − lag then).
	Until time.Time `json:"until"`
	// Last is the time of the newest event emitted so far and LastIDs the
	// _document_ids of the events at that time.
	Last    time.Time `json:"last,omitempty"`
	LastIDs []string  `json:"last_ids,omitempty"`
	// Seen are the _document_ids emitted with a time inside the next
	// run's re-read (Until − overlap and later), with their epoch ms.
	Seen map[string]int64 `json:"seen,omitempty"`
	// Actions is the action filter the windows were read with.
	Actions []string `json:"actions,omitempty"`
}

// auditRow is one event in github.audit_log. The fields auditors sort by
// are lifted to the top; Details holds the rest of the event as GitHub
// sent it (e.g. permission, old_permission), without the actor's IP,
// location and user agent.
type auditRow struct {
	DocumentID string `json:"_document_id"`
	// CreatedAt is the event's created_at (else @timestamp), epoch ms on
	// the wire, as RFC 3339 UTC with milliseconds.
	CreatedAt string                     `json:"created_at"`
	Timestamp *int64                     `json:"@timestamp"`
	Action    string                     `json:"action"`
	Actor     *string                    `json:"actor"`
	User      *string                    `json:"user"`
	Team      *string                    `json:"team"`
	Repo      *string                    `json:"repo"`
	Late      bool                       `json:"late"`
	Details   map[string]json.RawMessage `json:"details"`
	at        time.Time
}

var auditLifted = map[string]bool{"_document_id": true, "created_at": true, "@timestamp": true, "action": true,
	"actor": true, "user": true, "team": true, "repo": true,
	// personal data an access review does not need
	"actor_ip": true, "actor_location": true, "user_agent": true, "request_id": true}

func shapeAudit(g []map[string]json.RawMessage) []auditRow {
	out := make([]auditRow, 0, len(g))
	str := func(m map[string]json.RawMessage, k string) *string {
		var s *string
		if raw, ok := m[k]; ok {
			_ = json.Unmarshal(raw, &s)
		}
		return s
	}
	ms := func(m map[string]json.RawMessage, k string) *int64 {
		raw, ok := m[k]
		if !ok {
			return nil
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
		if err != nil {
			return nil
		}
		return &n
	}
	for _, m := range g {
		row := auditRow{Actor: str(m, "actor"), User: str(m, "user"), Team: str(m, "team"), Repo: str(m, "repo"),
			Timestamp: ms(m, "@timestamp"), Details: map[string]json.RawMessage{}}
		row.DocumentID = deref(str(m, "_document_id"))
		row.Action = deref(str(m, "action"))
		t := ms(m, "created_at")
		if t == nil {
			t = row.Timestamp
		}
		if t != nil {
			row.at = time.UnixMilli(*t).UTC()
			row.CreatedAt = row.at.Format("2006-01-02T15:04:05.000Z07:00")
		}
		for k, v := range m {
			if !auditLifted[k] {
				row.Details[k] = v
			}
		}
		out = append(out, row)
	}
	return out
}

// actionSelected reports whether action is one of the configured actions
// (exact, or a category named without a dot).
func actionSelected(actions []string, action string) bool {
	for _, p := range actions {
		if p == action || (!strings.Contains(p, ".") && strings.HasPrefix(action, p+".")) {
			return true
		}
	}
	return false
}

// auditLog collects one window of the organisation's audit log. It returns
// no artifact when there is nothing new to state, and a commit function
// that advances the cursor once the artifact is committed.
func (r *run) auditLog(ctx context.Context) ([]collectors.Artifact, func(), error) {
	r.mu.Lock()
	prev, resumed := r.state.Audit[r.org]
	r.mu.Unlock()
	overlap, lag := r.cfg.AuditLogOverlap.D(), r.cfg.AuditLogLag.D()
	end := r.req.Now.Add(-lag).UTC().Truncate(time.Second)
	start := r.req.Since.UTC()
	reread := start
	if resumed {
		start = prev.Until
		reread = start.Add(-overlap)
	}
	if !reread.Before(end) {
		return nil, nil, nil
	}
	var quals []string
	for _, a := range r.cfg.AuditLogActions {
		quals = append(quals, "action:"+a)
	}
	// GitHub's created: range is inclusive at second precision; the exact
	// bounds are applied to each event's millisecond time below.
	quals = append(quals, "created:"+reread.Format(time.RFC3339)+".."+end.Format(time.RFC3339))
	phrase := strings.Join(quals, " ")
	q := url.Values{"phrase": {phrase}, "include": {"web"}, "order": {"asc"}, "per_page": {"100"}}
	ep := "GET /orgs/" + r.org + "/audit-log"
	art := collectors.Artifact{Type: EvAuditLog, Subject: r.org, ContentType: "application/json"}

	next := auditState{Until: end, Seen: map[string]int64{}, Actions: r.cfg.AuditLogActions, Last: prev.Last, LastIDs: prev.LastIDs}
	cutoff := end.Add(-overlap).UnixMilli()
	for id, t := range prev.Seen {
		if t >= cutoff {
			next.Seen[id] = t
		}
	}
	events := []auditRow{}
	got := map[string]bool{}
	dups, outside, other, late := 0, 0, 0, 0
	pages, err := eachPage(ctx, r, "orgs/"+pathEsc(r.org)+"/audit-log?"+q.Encode(), false, shapeAudit, func(rows []auditRow) error {
		for _, e := range rows {
			switch {
			case !e.at.IsZero() && (e.at.Before(reread) || e.at.After(end)):
				outside++ // beyond the window's exact bounds: another window's
				continue
			case !actionSelected(r.cfg.AuditLogActions, e.Action):
				other++
				continue
			}
			if _, ok := prev.Seen[e.DocumentID]; ok {
				dups++
				continue
			}
			if got[e.DocumentID] {
				dups++ // listed twice in this run
				continue
			}
			got[e.DocumentID] = true
			at := e.at
			if at.IsZero() {
				at = end
			}
			e.Late = resumed && at.Before(start)
			if e.Late {
				late++
			}
			if at.UnixMilli() >= cutoff {
				next.Seen[e.DocumentID] = at.UnixMilli()
			}
			switch {
			case at.After(next.Last):
				next.Last, next.LastIDs = at, []string{e.DocumentID}
			case at.Equal(next.Last):
				next.LastIDs = append(next.LastIDs, e.DocumentID)
			}
			events = append(events, e)
		}
		return nil
	})
	if se, ok := hidden(err); ok {
		// GitHub Enterprise Cloud only (404 elsewhere), organisation owners
		// only (403): what changed is unknown, not "nothing".
		reason := "GitHub answered " + strconv.Itoa(se.Status) + ": "
		if se.Status == http.StatusNotFound {
			reason += "the organisation audit log API exists on GitHub Enterprise Cloud only (or the credentials may not see it)"
		} else {
			reason += "the credentials may not read the audit log (organisation owners only: classic token read:audit_log or admin:org; fine-grained token or App: organization Administration: read)"
		}
		r.log.Warn("GitHub withheld the organisation audit log; recorded as unknown", "status", se.Status)
		b, _ := json.Marshal(struct {
			Organization string     `json:"organization"`
			AsOf         string     `json:"as_of"`
			Visible      bool       `json:"audit_log_visible"`
			Reason       string     `json:"not_visible_reason"`
			Status       int        `json:"http_status"`
			Message      string     `json:"message"`
			Hint         string     `json:"hint,omitempty"`
			Events       []auditRow `json:"events"`
			Count        *int       `json:"count"`
			Complete     bool       `json:"complete"`
		}{r.org, ts(r.req.Now), false, reason, se.Status, se.Message, se.Hint, nil, nil, false})
		art.Body = b
		art.Source = r.source(ep, q.Get("phrase"), pages, 0)
		art.Source.Complete = false
		// the cursor stays where it was: the window is read once visible
		return []collectors.Artifact{art}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if !end.After(start) && len(events) == 0 {
		return nil, nil, nil // no new ground and nothing late
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].at.Before(events[j].at) })
	retention := reread.Before(r.req.Now.Add(-auditRetention))
	var notes []string
	if retention {
		notes = append(notes, "the window starts more than 180 days ago: GitHub keeps an organisation's audit log events 180 days, so older events could not be read")
	}
	if resumed && strings.Join(prev.Actions, ",") != strings.Join(r.cfg.AuditLogActions, ",") {
		notes = append(notes, "audit_log_actions changed since the previous run (was "+strings.Join(prev.Actions, ", ")+"): earlier windows were read with that filter")
	}
	var lastAt *string
	if !next.Last.IsZero() {
		s := next.Last.Format("2006-01-02T15:04:05.000Z07:00")
		lastAt = &s
	}
	body := struct {
		Organization   string     `json:"organization"`
		AsOf           string     `json:"as_of"`
		Visible        bool       `json:"audit_log_visible"`
		WindowStart    string     `json:"window_start"`
		WindowEnd      string     `json:"window_end"`
		RereadFrom     string     `json:"reread_from"`
		Overlap        string     `json:"overlap"`
		Lag            string     `json:"lag"`
		Actions        []string   `json:"actions"`
		Phrase         string     `json:"phrase"`
		Method         string     `json:"population_method"`
		Count          int        `json:"count"`
		Events         []auditRow `json:"events"`
		Late           int        `json:"late"`
		AlreadyEmitted int        `json:"already_collected_in_overlap"`
		OtherActions   int        `json:"other_actions_left_out"`
		Outside        int        `json:"outside_window_left_out"`
		LastEventAt    *string    `json:"last_event_at"`
		Complete       bool       `json:"complete"`
		Completeness   string     `json:"completeness"`
		Notes          []string   `json:"notes"`
	}{r.org, ts(r.req.Now), true, ts(start), ts(end), ts(reread), overlap.String(), lag.String(), r.cfg.AuditLogActions, phrase,
		auditMethod, len(events), events, late, dups, other, outside, lastAt, !retention,
		fmt.Sprintf("every event with a selected action created in [window_start, window_end] that GitHub showed by this run is in this artifact or an earlier one; "+
			"the window ends %s before the run (lag) and each run re-reads the %s before its window (overlap), so an event GitHub makes visible up to %s after its time is still collected (marked late)",
			lag, overlap, lag+overlap), append([]string{}, notes...)}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, nil, collectors.Permanent(err)
	}
	art.Body = b
	art.WindowStart, art.WindowEnd = start, end
	art.Source = r.source(ep, q.Encode(), pages, len(events))
	art.Source.Complete = !retention
	commit := func() { r.state.Audit[r.org] = next }
	return []collectors.Artifact{art}, commit, nil
}

const auditMethod = "GET /orgs/{org}/audit-log?include=web&order=asc&per_page=100 with phrase action:… created:{reread_from}..{window_end}, " +
	"following the Link header's after cursors; events outside the exact window or with other actions are left out, " +
	"and events already emitted by an earlier run (same _document_id) are not repeated"
