package ghfake

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// GET /orgs/{org}/audit-log, as GitHub documents it ("Get the audit log for
// an organization", GitHub Enterprise Cloud only):
//   - organisations not on GitHub Enterprise Cloud answer 404;
//   - organisation owners only, with a classic token's admin:org or
//     read:audit_log scope, or an App with organization_administration
//     read; anyone else gets 403;
//   - phrase holds search qualifiers (action:, -action:, actor:, user:,
//     repo:, created: with >, >=, <, <= or a..b ranges, ISO 8601 dates with
//     optional time); without a created qualifier only the past three
//     months are searched;
//   - include is web (default), git or all; Git events are kept 7 days,
//     web events 180 days;
//   - order is desc (default) or asc by @timestamp; per_page defaults to 30,
//     at most 100; pages are linked by after/before cursors in the Link
//     header, whose targets are /organizations/{id}/audit-log;
//   - events are eventually consistent: one is listed only once the
//     server's clock reaches its VisibleAt.

func (s *Server) auditOrg(r *http.Request) *Org {
	if id := r.PathValue("id"); id != "" {
		for _, o := range append([]*Org{s.primary}, s.others...) {
			if strconv.FormatInt(o.ID, 10) == id {
				return o
			}
		}
		return nil
	}
	if r.PathValue("org") == s.org.Login {
		return s.org
	}
	return nil
}

func (s *Server) getAuditLog(r *http.Request) (int, any) {
	org := s.auditOrg(r)
	if org == nil || !org.EnterpriseCloud {
		return errBody(http.StatusNotFound, "Not Found", "/orgs/orgs#get-the-audit-log-for-an-organization")
	}
	if !isOwner(r) {
		return errBody(http.StatusForbidden, "Must be an organization owner to access the audit log.", "/orgs/orgs#get-the-audit-log-for-an-organization")
	}
	q := r.URL.Query()
	now := s.now()
	f, err := parsePhrase(q.Get("phrase"))
	if err != nil {
		return errBody(http.StatusUnprocessableEntity, "Validation Failed: "+err.Error(), "/orgs/orgs#get-the-audit-log-for-an-organization")
	}
	include := q.Get("include")
	if include == "" {
		include = "web"
	}
	if include != "web" && include != "git" && include != "all" {
		return errBody(http.StatusUnprocessableEntity, "Validation Failed: include must be web, git or all", "")
	}
	order := q.Get("order")
	if order == "" {
		order = "desc"
	}
	var list []*AuditEvent
	for _, e := range org.AuditLog {
		switch {
		case !e.VisibleAt.IsZero() && now.Before(e.VisibleAt):
			continue // not yet visible
		case e.Git && (include == "web" || e.At.Before(now.Add(-7*24*time.Hour))):
			continue
		case !e.Git && (include == "git" || e.At.Before(now.Add(-180*24*time.Hour))):
			continue
		case !f.hasCreated && e.At.Before(now.AddDate(0, -3, 0)):
			continue
		case !f.match(e):
			continue
		}
		list = append(list, e)
	}
	less := func(a, b *AuditEvent) bool {
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		return a.DocumentID < b.DocumentID
	}
	sort.Slice(list, func(i, j int) bool {
		if order == "asc" {
			return less(list[i], list[j])
		}
		return less(list[j], list[i])
	})
	pos := func(cur string) (int, bool) {
		b, err := base64.RawURLEncoding.DecodeString(cur)
		if err != nil {
			return 0, false
		}
		ms, id, ok := strings.Cut(string(b), ":")
		n, err := strconv.ParseInt(ms, 10, 64)
		if !ok || err != nil {
			return 0, false
		}
		at := time.UnixMilli(n).UTC()
		k := &AuditEvent{At: at, DocumentID: id}
		// the first index strictly after the cursor in list order
		return sort.Search(len(list), func(i int) bool {
			if order == "asc" {
				return less(k, list[i])
			}
			return less(list[i], k)
		}), true
	}
	start, end := 0, len(list)
	pp := perPage(r)
	switch {
	case q.Get("after") != "":
		p, ok := pos(q.Get("after"))
		if !ok {
			return errBody(http.StatusBadRequest, "Invalid cursor", "")
		}
		start = p
		end = min(start+pp, len(list))
	case q.Get("before") != "":
		p, ok := pos(q.Get("before"))
		if !ok {
			return errBody(http.StatusBadRequest, "Invalid cursor", "")
		}
		end = p - 1 // events before the cursor's own
		if end < 0 {
			end = 0
		}
		start = max(0, end-pp)
	default:
		end = min(pp, len(list))
	}
	pageItems := list[start:end]
	cursor := func(e *AuditEvent) string {
		return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%d:%s", e.At.UnixMilli(), e.DocumentID)))
	}
	link := func(key, val string) string {
		qq := r.URL.Query()
		qq.Del("after")
		qq.Del("before")
		qq.Set(key, val)
		other := map[string]string{"after": "before", "before": "after"}[key]
		return fmt.Sprintf("<%s/organizations/%d/audit-log?%s&%s=>", baseURL(r), org.ID, qq.Encode(), other)
	}
	var links []string
	if end < len(list) && len(pageItems) > 0 {
		links = append(links, link("after", cursor(pageItems[len(pageItems)-1]))+`; rel="next"`)
	}
	if start > 0 && len(pageItems) > 0 {
		links = append(links, link("before", cursor(pageItems[0]))+`; rel="prev"`)
	}
	if len(links) > 0 {
		w(r).Header().Set("Link", strings.Join(links, ", "))
	}
	out := make([]map[string]any, 0, len(pageItems))
	for _, e := range pageItems {
		m := map[string]any{"@timestamp": e.At.UnixMilli(), "created_at": e.At.UnixMilli(), "_document_id": e.DocumentID,
			"action": e.Action, "actor": e.Actor, "actor_id": 5001, "org": org.Login, "org_id": org.ID,
			"actor_location": map[string]any{"country_code": "DE"}, "operation_type": operationType(e.Action),
			"business": org.Login + "-enterprise"}
		if e.User != "" {
			m["user"] = e.User
		}
		if e.Team != "" {
			m["team"] = e.Team
		}
		if e.Repo != "" {
			m["repo"] = e.Repo
		}
		if e.Permission != "" {
			m["permission"] = e.Permission
		}
		if e.OldPerm != "" {
			m["old_permission"] = e.OldPerm
		}
		if e.Git {
			m["transport_protocol_name"] = "http"
		}
		out = append(out, m)
	}
	return http.StatusOK, out
}

func operationType(action string) string {
	_, op, _ := strings.Cut(action, ".")
	switch {
	case strings.HasPrefix(op, "add") || strings.HasPrefix(op, "create") || strings.HasPrefix(op, "invite"):
		return "create"
	case strings.HasPrefix(op, "remove") || strings.HasPrefix(op, "destroy"):
		return "remove"
	}
	return "modify"
}

// auditFilter is a parsed phrase.
type auditFilter struct {
	actions, notActions []string
	actors, users       []string
	repos               []string
	from, to            time.Time // inclusive; zero: open
	hasCreated          bool
}

func (f auditFilter) match(e *AuditEvent) bool {
	matches := func(pats []string, action string) bool {
		for _, p := range pats {
			// a qualifier without an operation selects the whole category
			if p == action || (!strings.Contains(p, ".") && strings.HasPrefix(action, p+".")) {
				return true
			}
		}
		return false
	}
	if len(f.actions) > 0 && !matches(f.actions, e.Action) {
		return false
	}
	if matches(f.notActions, e.Action) {
		return false
	}
	if len(f.actors) > 0 && !contains(f.actors, e.Actor) {
		return false
	}
	if len(f.users) > 0 && !contains(f.users, e.User) {
		return false
	}
	if len(f.repos) > 0 && !contains(f.repos, e.Repo) {
		return false
	}
	if !f.from.IsZero() && e.At.Before(f.from) {
		return false
	}
	if !f.to.IsZero() && e.At.After(f.to) {
		return false
	}
	return true
}

// parsePhrase reads the qualifiers of a search phrase; repeated
// qualifiers of one kind are alternatives (OR).
func parsePhrase(phrase string) (auditFilter, error) {
	var f auditFilter
	for _, tok := range strings.Fields(phrase) {
		key, val, ok := strings.Cut(tok, ":")
		if !ok || val == "" {
			return f, fmt.Errorf("unsupported search term %q", tok)
		}
		switch key {
		case "action":
			f.actions = append(f.actions, val)
		case "-action":
			f.notActions = append(f.notActions, val)
		case "actor":
			f.actors = append(f.actors, val)
		case "user":
			f.users = append(f.users, val)
		case "repo":
			f.repos = append(f.repos, val)
		case "created":
			f.hasCreated = true
			if err := f.created(val); err != nil {
				return f, err
			}
		default:
			return f, fmt.Errorf("unsupported qualifier %q", key)
		}
	}
	return f, nil
}

// created applies one created: value. A date without a time covers the
// whole day; a time covers its whole second.
func (f *auditFilter) created(val string) error {
	lo := func(s string) (time.Time, error) { t, _, err := parseSearchDate(s); return t, err }
	hi := func(s string) (time.Time, error) {
		t, day, err := parseSearchDate(s)
		if day {
			return t.Add(24*time.Hour - time.Millisecond), err
		}
		return t.Add(time.Second - time.Millisecond), err
	}
	var err error
	switch {
	case strings.Contains(val, ".."):
		a, b, _ := strings.Cut(val, "..")
		if a != "*" {
			if f.from, err = lo(a); err != nil {
				return err
			}
		}
		if b != "*" {
			f.to, err = hi(b)
		}
	case strings.HasPrefix(val, ">="):
		f.from, err = lo(val[2:])
	case strings.HasPrefix(val, ">"):
		f.from, err = hi(val[1:])
		f.from = f.from.Add(time.Millisecond)
	case strings.HasPrefix(val, "<="):
		f.to, err = hi(val[2:])
	case strings.HasPrefix(val, "<"):
		f.to, err = lo(val[1:])
		f.to = f.to.Add(-time.Millisecond)
	default:
		if f.from, err = lo(val); err == nil {
			f.to, err = hi(val)
		}
	}
	return err
}

// parseSearchDate reads YYYY-MM-DD with an optional THH:MM:SS and UTC
// offset (GitHub's search date syntax); day reports a date alone.
func parseSearchDate(s string) (t time.Time, day bool, err error) {
	if t, err = time.Parse("2006-01-02", s); err == nil {
		return t, true, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04:05-0700"} {
		if t, err = time.Parse(layout, s); err == nil {
			return t.UTC(), false, nil
		}
	}
	return time.Time{}, false, fmt.Errorf("invalid date %q in created qualifier", s)
}
