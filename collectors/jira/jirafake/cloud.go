package jirafake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ---- authentication: the gateway, scoped tokens, OAuth 2.0 ----

// oauthToken is Atlassian's token endpoint for a service account's OAuth 2.0
// credentials (grant_type=client_credentials, as a form or a JSON body).
func (f *Fake) oauthToken(w http.ResponseWriter, r *http.Request) {
	f.count("oauth_token")
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request"})
		return
	}
	var grant, id, secret string
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var b struct {
			GrantType    string `json:"grant_type"`
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		_ = json.NewDecoder(r.Body).Decode(&b)
		grant, id, secret = b.GrantType, b.ClientID, b.ClientSecret
	} else {
		_ = r.ParseForm()
		grant, id, secret = r.PostForm.Get("grant_type"), r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		if u, p, ok := r.BasicAuth(); ok {
			id, secret = u, p
		}
	}
	if grant != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	if f.opts.ClientID == "" || id != f.opts.ClientID || secret != f.opts.ClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "access_denied", "error_description": "Unauthorized"})
		return
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	f.mu.Lock()
	f.tokens[tok] = true
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600, "scope": strings.Join(f.opts.Scopes, " ")})
}

// requiredScope is the classic OAuth 2.0 scope of a /rest/api/{v}/ path
// (x-atlassian-oauth2-scopes in the v3 specification).
func requiredScope(rest string) string {
	switch {
	case rest == "myself":
		return "read:jira-user"
	case rest == "auditing/record":
		return "manage:jira-configuration"
	}
	return "read:jira-work"
}

// scopeOK answers the gateway's 401 when a scoped credential lacks scope.
// scopes == nil means classic site credentials, which carry every scope.
func scopeOK(w http.ResponseWriter, scopes []string, scope string) bool {
	if scopes == nil || scope == "" || slices.Contains(scopes, scope) {
		return true
	}
	writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 401, "message": "Unauthorized; scope does not match"})
	return false
}

// ---- rate limits ----

// RateLimit is a burst limit: a token bucket of Burst requests refilled at
// PerSecond, answering 429 with Retry-After when empty; every request sent
// while a Retry-After runs is refused again and counted
// ("during_retry_after").
type RateLimit struct {
	PerSecond float64
	Burst     int
	// RetryAfter is the Retry-After given (whole seconds; default 1s).
	RetryAfter time.Duration
}

type limiter struct {
	RateLimit
	tokens  float64
	last    time.Time
	blocked time.Time
}

func newLimiter(rl RateLimit) *limiter {
	if rl.RetryAfter < time.Second {
		rl.RetryAfter = time.Second
	}
	return &limiter{RateLimit: rl, tokens: float64(rl.Burst), last: time.Now()}
}

// allow takes a token or answers 429 the way Jira Cloud does.
func (l *limiter) allow(w http.ResponseWriter, f *Fake) bool {
	f.mu.Lock()
	now := time.Now()
	l.tokens = math.Min(float64(l.Burst), l.tokens+now.Sub(l.last).Seconds()*l.PerSecond)
	l.last = now
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(l.Burst))
	refuse := func(wait time.Duration) bool {
		f.mu.Unlock()
		secs := int(math.Ceil(wait.Seconds()))
		h.Set("Retry-After", strconv.Itoa(secs))
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Reset", now.Add(wait).UTC().Format("2006-01-02T15:04Z"))
		h.Set("RateLimit-Reason", "jira-burst-based")
		writeError(w, http.StatusTooManyRequests, "Rate limit exceeded.")
		return false
	}
	if now.Before(l.blocked) {
		f.counts["during_retry_after"]++
		f.counts["throttled"]++
		return refuse(l.blocked.Sub(now))
	}
	if l.tokens < 1 {
		l.blocked = now.Add(l.RetryAfter)
		f.counts["throttled"]++
		return refuse(l.RetryAfter)
	}
	l.tokens--
	rem := int(l.tokens)
	f.mu.Unlock()
	h.Set("X-RateLimit-Remaining", strconv.Itoa(rem))
	if float64(rem) < 0.2*float64(l.Burst) {
		h.Set("X-RateLimit-NearLimit", "true")
	}
	return true
}

// ---- population: approximate count, audit records ----

func (f *Fake) approximateCount(w http.ResponseWriter, r *http.Request) {
	var b struct {
		JQL string `json:"jql"`
	}
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		writeError(w, http.StatusBadRequest, "Invalid request payload. Refer to the REST API documentation and try again.")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	q, err := f.parseJQL(b.JQL)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if q.where == nil {
		writeError(w, http.StatusBadRequest, "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.")
		return
	}
	n := 0
	for _, is := range f.issues {
		// The count includes issues the search index has not caught up with.
		if q.where.match(is) {
			n++
		}
	}
	writeJSON(w, http.StatusOK, map[string]int{"count": n})
}

// HideFromSearch keeps issues out of search results (an index lagging
// behind) while approximate-count still counts them.
func (f *Fake) HideFromSearch(keys ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range keys {
		f.hidden[k] = true
	}
}

type auditRecord struct {
	ID      int
	Summary string
	At      time.Time
	By      User
	Key     string
	IssueID string
	Project string
}

// Delete removes an issue and writes the audit record Jira writes.
func (f *Fake) Delete(key string, by User, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	is, ok := f.issues[key]
	if !ok {
		return fmt.Errorf("jirafake: no issue %s", key)
	}
	delete(f.issues, key)
	f.byUpdated = nil
	delete(f.byID, is.ID)
	f.audit = append(f.audit, auditRecord{ID: 1000 + len(f.audit), Summary: "Issue deleted", At: at, By: by, Key: key, IssueID: is.ID, Project: is.Project})
	return nil
}

func (f *Fake) auditRecords(w http.ResponseWriter, r *http.Request) {
	if !f.opts.AuditLog {
		writeError(w, http.StatusForbidden, "You do not have permission to view the audit log.")
		return
	}
	q := r.URL.Query()
	offset, _ := strconv.Atoi(q.Get("offset"))
	limit := 1000
	if v := q.Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	parse := func(s string) (time.Time, bool) {
		for _, l := range []string{"2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05.000Z", time.RFC3339Nano} {
			if t, err := time.Parse(l, s); err == nil {
				return t, true
			}
		}
		return time.Time{}, false
	}
	from, hasFrom := parse(q.Get("from"))
	to, hasTo := parse(q.Get("to"))
	filter := strings.Fields(strings.ToLower(q.Get("filter")))
	f.mu.Lock()
	var match []auditRecord
	for i := len(f.audit) - 1; i >= 0; i-- { // newest first
		a := f.audit[i]
		if (hasFrom && a.At.Before(from)) || (hasTo && a.At.After(to)) {
			continue
		}
		ok := len(filter) == 0
		for _, w := range filter {
			if strings.Contains(strings.ToLower(a.Summary+" issue management "+a.Key), w) {
				ok = true
			}
		}
		if ok {
			match = append(match, a)
		}
	}
	f.mu.Unlock()
	offset = min(max(offset, 0), len(match))
	end := min(offset+max(limit, 0), len(match))
	recs := make([]any, 0, end-offset)
	for _, a := range match[offset:end] {
		recs = append(recs, map[string]any{
			"id": a.ID, "summary": a.Summary, "category": "issue management", "eventSource": "",
			"authorAccountId": a.By.AccountID, "created": jiraTime(a.At, time.UTC), "remoteAddress": "192.0.2.10",
			"objectItem":    map[string]any{"id": a.IssueID, "name": a.Key, "typeName": "ISSUE", "parentId": strconv.Itoa(10000 + len(a.Project)), "parentName": a.Project},
			"changedValues": []any{}, "associatedItems": []any{},
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"offset": offset, "limit": limit, "total": len(match), "records": recs})
}

// ---- changelogs in bulk ----

func (f *Fake) bulkChangelog(w http.ResponseWriter, r *http.Request) {
	var b struct {
		IssueIDsOrKeys []string `json:"issueIdsOrKeys"`
		FieldIDs       []string `json:"fieldIds"`
		MaxResults     *int     `json:"maxResults"`
		NextPageToken  string   `json:"nextPageToken"`
	}
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		writeError(w, http.StatusBadRequest, "Invalid request payload. Refer to the REST API documentation and try again.")
		return
	}
	if len(b.IssueIDsOrKeys) == 0 || len(b.IssueIDsOrKeys) > 1000 {
		writeError(w, http.StatusBadRequest, "issueIdsOrKeys must contain between 1 and 1000 issues.")
		return
	}
	if len(b.FieldIDs) > 10 {
		writeError(w, http.StatusBadRequest, "fieldIds must contain at most 10 fields.")
		return
	}
	max := 1000
	if b.MaxResults != nil {
		max = *b.MaxResults
	}
	if max < 1 || max > 10000 {
		writeError(w, http.StatusBadRequest, "maxResults must be between 1 and 10000.")
		return
	}
	sig := strings.Join(b.IssueIDsOrKeys, ",") + "|" + strings.Join(b.FieldIDs, ",")
	offset := 0
	if b.NextPageToken != "" {
		o, ok := readToken(sig, b.NextPageToken)
		if !ok {
			writeError(w, http.StatusBadRequest, "The provided next page token is invalid or expired.")
			return
		}
		offset = o
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	type entry struct {
		is *Issue
		h  *History
	}
	var all []entry
	seen := map[string]bool{}
	for _, k := range b.IssueIDsOrKeys {
		is := f.find(k)
		if is == nil || seen[is.Key] {
			continue // issues the caller cannot see are left out
		}
		seen[is.Key] = true
		for i := range is.Histories {
			h := &is.Histories[i]
			if len(b.FieldIDs) > 0 && !slices.ContainsFunc(h.Items, func(it Item) bool { return slices.Contains(b.FieldIDs, it.FieldID) }) {
				continue
			}
			all = append(all, entry{is, h})
		}
	}
	// oldest changelog first, then the smallest issue ID
	slices.SortStableFunc(all, func(a, b entry) int {
		if c := a.h.Created.Compare(b.h.Created); c != 0 {
			return c
		}
		ia, _ := strconv.Atoi(a.is.ID)
		ib, _ := strconv.Atoi(b.is.ID)
		return ia - ib
	})
	offset = min(offset, len(all))
	end := min(offset+max, len(all))
	type group struct {
		IssueID         string       `json:"issueId"`
		ChangeHistories []historyOut `json:"changeHistories"`
	}
	groups := []*group{}
	for _, e := range all[offset:end] {
		if len(groups) == 0 || groups[len(groups)-1].IssueID != e.is.ID {
			groups = append(groups, &group{IssueID: e.is.ID})
		}
		g := groups[len(groups)-1]
		g.ChangeHistories = append(g.ChangeHistories, f.historyJSON(*e.h))
	}
	out := map[string]any{"issueChangeLogs": groups}
	if end < len(all) {
		out["nextPageToken"] = pageToken(sig, end)
	}
	writeJSON(w, http.StatusOK, out)
}

// find returns an issue by key or ID (caller holds the lock).
func (f *Fake) find(k string) *Issue {
	if is, ok := f.issues[strings.ToUpper(k)]; ok {
		return is
	}
	return f.issues[f.byID[k]]
}

// ---- comments ----

func (f *Fake) commentJSON(is *Issue, c Comment) map[string]any {
	return map[string]any{
		"id": c.ID, "self": f.URL + "/rest/api/3/issue/" + is.ID + "/comment/" + c.ID,
		"author": f.userJSON(c.Author, false), "created": jiraTime(c.Created, f.loc), "updated": jiraTime(c.Created, f.loc),
		"body": map[string]any{"type": "doc", "version": 1, "content": []any{map[string]any{"type": "paragraph", "content": []any{map[string]any{"type": "text", "text": c.Body}}}}},
	}
}

// comments is GET /rest/api/{2,3}/issue/{key}/comment (startAt, maxResults
// up to 5000, orderBy created or -created).
func (f *Fake) comments(w http.ResponseWriter, r *http.Request, key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	is := f.lookup(w, key)
	if is == nil {
		return
	}
	q := r.URL.Query()
	start, max := pageOf(q, "startAt", "maxResults", 5000, 5000)
	cs := append([]Comment(nil), is.Comments...)
	if q.Get("orderBy") == "-created" {
		slices.Reverse(cs)
	}
	start = min(start, len(cs))
	end := min(start+max, len(cs))
	vals := make([]any, 0, end-start)
	for _, c := range cs[start:end] {
		vals = append(vals, f.commentJSON(is, c))
	}
	// total is the number of comments on this page (PageOfComments).
	writeJSON(w, http.StatusOK, map[string]any{"startAt": start, "maxResults": max, "total": len(vals), "comments": vals})
}

// pageOf reads a paged request's offset and page size (named as the
// endpoint names them): a negative offset is 0; a missing, invalid or
// too large size is def, or at most limit.
func pageOf(q url.Values, offsetName, sizeName string, def, limit int) (start, size int) {
	start, _ = strconv.Atoi(q.Get(offsetName))
	size = def
	if v := q.Get(sizeName); v != "" {
		size, _ = strconv.Atoi(v)
	}
	if size <= 0 || size > limit {
		size = def
	}
	return max(start, 0), size
}

// ---- Jira Service Management ----

func jsmError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"errorMessage": msg, "i18nErrorMessage": map[string]any{"i18nKey": "sd.request.error.not.found", "parameters": []string{}}})
}

func (f *Fake) jsmDate(t time.Time) map[string]any {
	return map[string]any{
		"iso8601": t.In(f.loc).Format("2006-01-02T15:04:05-0700"), "jira": jiraTime(t, f.loc),
		"friendly": t.In(f.loc).Format("02/Jan/06 3:04 PM"), "epochMillis": t.UnixMilli(),
	}
}

// serviceDesk serves GET request/{issueIdOrKey}/approval (start, limit,
// isLastPage), the approvals of a service-project request.
func (f *Fake) serviceDesk(w http.ResponseWriter, r *http.Request, rest string) {
	parts := strings.Split(rest, "/")
	if r.Method != http.MethodGet || len(parts) != 3 || parts[0] != "request" || parts[2] != "approval" {
		jsmError(w, http.StatusNotFound, "null for uri: "+r.URL.Path)
		return
	}
	f.count("approval")
	f.mu.Lock()
	defer f.mu.Unlock()
	is := f.find(parts[1])
	if is == nil || is.ProjectType != "service_desk" {
		jsmError(w, http.StatusNotFound, "The request could not be found. It may have been deleted or you may not have permission to view it.")
		return
	}
	start, limit := pageOf(r.URL.Query(), "start", "limit", 50, 100)
	start = min(start, len(is.Approvals))
	end := min(start+limit, len(is.Approvals))
	vals := make([]any, 0, end-start)
	for _, a := range is.Approvals[start:end] {
		aps := make([]any, 0, len(a.Approvers))
		for _, ap := range a.Approvers {
			u := f.userJSON(ap.User, false)
			u.Links = map[string]any{"self": u.Self}
			aps = append(aps, map[string]any{"approver": u, "approverDecision": ap.Decision})
		}
		m := map[string]any{"id": a.ID, "name": a.Name, "finalDecision": a.FinalDecision, "canAnswerApproval": false,
			"approvers": aps, "createdDate": f.jsmDate(a.Created),
			"_links": map[string]any{"self": fmt.Sprintf("%s/rest/servicedeskapi/request/%s/approval/%s", f.URL, is.ID, a.ID)}}
		if a.Completed != nil {
			m["completedDate"] = f.jsmDate(*a.Completed)
		}
		vals = append(vals, m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"_expands": []any{}, "size": len(vals), "start": start, "limit": limit,
		"isLastPage": end >= len(is.Approvals), "values": vals,
		"_links": map[string]any{"base": f.URL, "context": "", "self": f.URL + r.URL.Path}})
}
