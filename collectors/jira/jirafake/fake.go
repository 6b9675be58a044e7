// Package jirafake is an in-process fake of the Jira REST API (Cloud and
// Data Center) for tests, benchmarks and `tickmark demo`.
//
// It follows Atlassian's documented wire behaviour:
//
//   - Cloud: /rest/api/2/search and /rest/api/3/search answer 410 Gone (removed
//     in 2025); search goes through /rest/api/3/search/jql (GET and POST) with
//     nextPageToken/isLast pagination, refuses unbounded JQL, and returns only
//     issue ids unless fields are asked for explicitly. expand=changelog embeds
//     at most 20 histories (the most recent first); the rest is paged through
//     /rest/api/3/issue/{key}/changelog (startAt/maxResults/total/isLast).
//     Authentication is HTTP Basic with an account email and API token.
//   - Data Center: /rest/api/2/search with startAt/maxResults/total and a full
//     embedded changelog; authentication is a personal access token (Bearer).
//   - Both: /rest/api/2/serverInfo (anonymous) with deploymentType,
//     /rest/api/2/myself with the user's time zone (JQL dates are read in it),
//     /rest/api/2/issue/{key}/remotelink, JQL errors as 400 with errorMessages,
//     401 for bad credentials, 429 with Retry-After when throttling.
//
// The fake understands a small JQL subset (see jql.go) and refuses the rest
// the way Jira refuses a query it cannot parse.
package jirafake

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Deployment types.
const (
	Cloud      = "cloud"
	DataCenter = "datacenter"
)

// Options configure a fake.
type Options struct {
	// Deployment is Cloud (default) or DataCenter.
	Deployment string
	// Email and Token are the credentials the fake accepts (Cloud: Basic
	// email:token; Data Center: Bearer token).
	Email, Token string
	// TimeZone is the API user's time zone (default "UTC"); JQL dates are
	// interpreted in it and timestamps rendered in it, as Jira does.
	TimeZone string
	// ApproverField is the custom field holding approvers (default customfield_10050).
	ApproverField string
	// EmbeddedChangelog bounds the histories embedded in a Cloud search
	// result (default 20).
	EmbeddedChangelog int
	// MaxResults caps a search page (default 100).
	MaxResults int
	// ImplementerField is the custom user field naming who implemented a
	// change (default customfield_10060).
	ImplementerField string
	// EmbeddedComments bounds the comments embedded in a search result's
	// comment field (default 20); the rest is read through
	// /rest/api/3/issue/{key}/comment.
	EmbeddedComments int

	// CloudID is the site's cloud ID, served at /_edge/tenant_info and
	// expected in gateway paths /ex/jira/{cloudId}/... (Cloud only).
	CloudID string
	// ScopedToken is a scoped API token (Basic email:ScopedToken). Like
	// Atlassian's, it works only through the gateway; the site answers 401.
	ScopedToken string
	// ClientID and ClientSecret are a service account's OAuth 2.0
	// credentials: POST /oauth/token (client_credentials) issues a bearer
	// token accepted through the gateway.
	ClientID, ClientSecret string
	// Scopes are granted to the scoped token and the OAuth client (default
	// read:jira-work, read:jira-user, read:servicedesk-request). The gateway
	// answers 401 "scope does not match" to a request outside them.
	Scopes []string
	// Username and Password enable Data Center basic authentication.
	Username, Password string
	// AuditLog lets the account read /rest/api/3/auditing/record
	// (Administer Jira); otherwise the endpoint answers 403.
	AuditLog bool
	// RateLimit, when set, applies a burst limit to every authenticated request.
	RateLimit *RateLimit
	// NoBulkChangelog answers POST /rest/api/3/changelog/bulkfetch with
	// 404, as a site without the endpoint would.
	NoBulkChangelog bool
}

// Failure modes a test can switch on.
type Failure int

const (
	// None serves normally.
	None Failure = iota
	// RateLimitStorm answers every search with 429 and Retry-After: 1.
	RateLimitStorm
	// MalformedJSON answers searches with a truncated JSON body.
	MalformedJSON
)

// Fake is a running fake Jira.
type Fake struct {
	URL string

	srv  *httptest.Server
	opts Options
	loc  *time.Location

	mu        sync.Mutex
	issues    map[string]*Issue
	projects  map[string]bool
	types     map[string]bool
	fail      Failure
	throttle  int // the next n searches answer 429
	counts    map[string]int
	fetched   map[string]int // issue key -> times returned with fields by search
	nextID    int
	hidden    map[string]bool   // issues the search index has not caught up with
	byUpdated []*Issue          // issues in the default search order; nil after any change
	byID      map[string]string // issue ID -> key
	audit     []auditRecord
	tokens    map[string]bool // OAuth access tokens issued
	limiter   *limiter

	// AfterSearch, when set, is called after each search page is served
	// (outside the fake's lock) with the 1-based count of search requests.
	// Tests use it to change tickets while a run is paging.
	AfterSearch func(n int)
}

// New starts a fake on 127.0.0.1. Close it when done.
func New(o Options) *Fake {
	if o.Deployment == "" {
		o.Deployment = Cloud
	}
	if o.TimeZone == "" {
		o.TimeZone = "UTC"
	}
	if o.ApproverField == "" {
		o.ApproverField = "customfield_10050"
	}
	if o.EmbeddedChangelog == 0 {
		o.EmbeddedChangelog = 20
	}
	if o.MaxResults == 0 {
		o.MaxResults = 100
	}
	if o.ImplementerField == "" {
		o.ImplementerField = "customfield_10060"
	}
	if o.EmbeddedComments == 0 {
		o.EmbeddedComments = 20
	}
	if o.CloudID == "" {
		o.CloudID = "35273b54-3f06-40d2-880f-dd28cf8daafa"
	}
	if o.Scopes == nil {
		o.Scopes = []string{"read:jira-work", "read:jira-user", "read:servicedesk-request"}
	}
	loc, err := time.LoadLocation(o.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	f := &Fake{opts: o, loc: loc, issues: map[string]*Issue{}, projects: map[string]bool{}, types: map[string]bool{},
		counts: map[string]int{}, fetched: map[string]int{}, nextID: 10000, hidden: map[string]bool{}, tokens: map[string]bool{}, byID: map[string]string{}}
	if o.RateLimit != nil {
		f.limiter = newLimiter(*o.RateLimit)
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	return f
}

// Close stops the server.
func (f *Fake) Close() { f.srv.Close() }

// SetFailure switches a failure mode on (None switches it off).
func (f *Fake) SetFailure(m Failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = m
}

// Throttle makes the next n search requests answer 429 with Retry-After: 1.
func (f *Fake) Throttle(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttle = n
}

// Count returns how many requests of a kind were served: "search",
// "changelog", "remotelink", "myself", "serverInfo", "removed".
func (f *Fake) Count(kind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[kind]
}

// Fetched returns how many times search returned the issue with its fields.
func (f *Fake) Fetched(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fetched[key]
}

// ResetCounts zeroes the request counters.
func (f *Fake) ResetCounts() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts = map[string]int{}
	f.fetched = map[string]int{}
}

// Len returns the number of issues.
func (f *Fake) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.issues)
}

func (f *Fake) hasProject(p string) bool {
	for k := range f.projects {
		if strings.EqualFold(k, p) {
			return true
		}
	}
	return false
}

func (f *Fake) hasType(t string) bool {
	for k := range f.types {
		if strings.EqualFold(k, t) {
			return true
		}
	}
	return false
}

func (f *Fake) cloud() bool { return f.opts.Deployment != DataCenter }

// ---- HTTP ----

type errorCollection struct {
	ErrorMessages []string          `json:"errorMessages"`
	Errors        map[string]string `json:"errors"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msgs ...string) {
	writeJSON(w, status, errorCollection{ErrorMessages: msgs, Errors: map[string]string{}})
}

// authorized checks the request's credentials. On the gateway it returns
// the scopes granted; nil means the classic site credentials (all scopes).
func (f *Fake) authorized(r *http.Request, gateway bool) (bool, []string) {
	if gateway {
		if u, p, ok := r.BasicAuth(); ok && f.opts.ScopedToken != "" && u == f.opts.Email && p == f.opts.ScopedToken {
			return true, f.opts.Scopes
		}
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			f.mu.Lock()
			issued := f.tokens[tok]
			f.mu.Unlock()
			if issued {
				return true, f.opts.Scopes
			}
		}
		return false, nil
	}
	if f.cloud() {
		u, p, ok := r.BasicAuth()
		return ok && u == f.opts.Email && p == f.opts.Token, nil
	}
	if u, p, ok := r.BasicAuth(); ok && f.opts.Username != "" {
		return u == f.opts.Username && p == f.opts.Password, nil
	}
	return r.Header.Get("Authorization") == "Bearer "+f.opts.Token, nil
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	w.Header().Set("X-Arequestid", "fake-"+strconv.Itoa(len(p)))
	gateway := false
	if f.cloud() {
		switch {
		case p == "/_edge/tenant_info":
			f.count("tenant_info")
			writeJSON(w, http.StatusOK, map[string]string{"cloudId": f.opts.CloudID})
			return
		case p == "/oauth/token":
			f.oauthToken(w, r)
			return
		case strings.HasPrefix(p, "/ex/jira/"):
			id, rest, _ := strings.Cut(strings.TrimPrefix(p, "/ex/jira/"), "/")
			if id != f.opts.CloudID {
				writeJSON(w, http.StatusNotFound, map[string]any{"code": 404, "message": "Not Found"})
				return
			}
			gateway = true
			p = "/" + rest
		}
	}
	// serverInfo may be read anonymously.
	if p == "/rest/api/2/serverInfo" || (f.cloud() && p == "/rest/api/3/serverInfo") {
		f.count("serverInfo")
		f.serverInfo(w)
		return
	}
	jsm := strings.HasPrefix(p, "/rest/servicedeskapi/")
	if !strings.HasPrefix(p, "/rest/api/") && !jsm {
		writeError(w, http.StatusNotFound, "Not found")
		return
	}
	ok, scopes := f.authorized(r, gateway)
	if !ok {
		if gateway {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 401, "message": "Unauthorized"})
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="protected-area"`)
		writeError(w, http.StatusUnauthorized, "Client must be authenticated to access this resource.")
		return
	}
	if f.limiter != nil && !f.limiter.allow(w, f) {
		return
	}
	f.count("authenticated")
	if jsm {
		if !scopeOK(w, scopes, "read:servicedesk-request") {
			return
		}
		f.serviceDesk(w, r, strings.TrimPrefix(p, "/rest/servicedeskapi/"))
		return
	}
	version, rest, _ := strings.Cut(strings.TrimPrefix(p, "/rest/api/"), "/")
	if version != "2" && !(version == "3" && f.cloud()) && version != "latest" {
		writeError(w, http.StatusNotFound, "null for uri: "+p)
		return
	}
	if !scopeOK(w, scopes, requiredScope(rest)) {
		return
	}
	switch {
	case rest == "search/approximate-count" && version == "3" && r.Method == http.MethodPost:
		f.count("approximate-count")
		f.approximateCount(w, r)
	case rest == "changelog/bulkfetch" && version == "3" && r.Method == http.MethodPost && !f.opts.NoBulkChangelog:
		f.count("bulkfetch")
		f.bulkChangelog(w, r)
	case rest == "auditing/record" && r.Method == http.MethodGet:
		f.count("audit")
		f.auditRecords(w, r)
	case rest == "myself" && r.Method == http.MethodGet:
		f.count("myself")
		writeJSON(w, http.StatusOK, f.userJSON(User{AccountID: "5b10ac8d82e05b22cc7d4ef5", Name: "compliance-bot", DisplayName: "Compliance Bot", Email: f.opts.Email}, true))
	case rest == "field" && r.Method == http.MethodGet:
		f.count("field")
		writeJSON(w, http.StatusOK, f.fields())
	case rest == "search" && f.cloud():
		f.count("removed")
		writeError(w, http.StatusGone, "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046")
	case rest == "search" && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		f.search(w, r, false)
	case rest == "search/jql" && version == "3" && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		f.search(w, r, true)
	case strings.HasPrefix(rest, "issue/") && r.Method == http.MethodGet:
		parts := strings.Split(strings.TrimPrefix(rest, "issue/"), "/")
		switch {
		case len(parts) == 2 && parts[1] == "changelog" && f.cloud():
			f.count("changelog")
			f.changelog(w, r, parts[0])
		case len(parts) == 2 && parts[1] == "remotelink":
			f.count("remotelink")
			f.remoteLinks(w, parts[0])
		case len(parts) == 2 && parts[1] == "comment":
			f.count("comment")
			f.comments(w, r, parts[0])
		default:
			writeError(w, http.StatusNotFound, "null for uri: "+p)
		}
	default:
		writeError(w, http.StatusNotFound, "null for uri: "+p)
	}
}

func (f *Fake) count(kind string) {
	f.mu.Lock()
	f.counts[kind]++
	f.mu.Unlock()
}

func (f *Fake) serverInfo(w http.ResponseWriter) {
	info := map[string]any{
		"baseUrl":        f.URL,
		"buildNumber":    100280,
		"serverTitle":    "Jira (fake, sample data)",
		"serverTimeZone": f.opts.TimeZone,
		"serverTime":     jiraTime(time.Now(), f.loc),
	}
	if f.cloud() {
		info["deploymentType"] = "Cloud"
		info["version"] = "1001.0.0-SNAPSHOT"
		info["versionNumbers"] = []int{1001, 0, 0}
	} else {
		info["deploymentType"] = "Server"
		info["version"] = "9.12.4"
		info["versionNumbers"] = []int{9, 12, 4}
	}
	writeJSON(w, http.StatusOK, info)
}

// searchParams are the search parameters from a GET query or a POST body.
type searchParams struct {
	JQL           string   `json:"jql"`
	NextPageToken string   `json:"nextPageToken"`
	StartAt       int      `json:"startAt"`
	MaxResults    *int     `json:"maxResults"`
	Fields        []string `json:"fields"`
	Expand        any      `json:"expand"` // string (Cloud search/jql) or []string (DC)
}

func (sp *searchParams) expands(what string) bool {
	var list []string
	switch e := sp.Expand.(type) {
	case string:
		list = strings.Split(e, ",")
	case []any:
		for _, x := range e {
			if s, ok := x.(string); ok {
				list = append(list, s)
			}
		}
	}
	for _, x := range list {
		if strings.TrimSpace(x) == what {
			return true
		}
	}
	return false
}

func parseSearchParams(r *http.Request) (*searchParams, error) {
	sp := &searchParams{}
	if r.Method == http.MethodPost {
		dec := json.NewDecoder(r.Body)
		if err := dec.Decode(sp); err != nil {
			return nil, fmt.Errorf("Invalid request payload. Refer to the REST API documentation and try again.")
		}
		return sp, nil
	}
	q := r.URL.Query()
	sp.JQL = q.Get("jql")
	sp.NextPageToken = q.Get("nextPageToken")
	if v := q.Get("startAt"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("The value '%s' is invalid for startAt.", v)
		}
		sp.StartAt = n
	}
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("The value '%s' is invalid for maxResults.", v)
		}
		sp.MaxResults = &n
	}
	for _, fs := range q["fields"] {
		for _, x := range strings.Split(fs, ",") {
			if x = strings.TrimSpace(x); x != "" {
				sp.Fields = append(sp.Fields, x)
			}
		}
	}
	if e := q.Get("expand"); e != "" {
		sp.Expand = e
	}
	return sp, nil
}

func pageToken(jql string, offset int) string {
	h := sha256.Sum256([]byte(jql))
	return base64.RawURLEncoding.EncodeToString([]byte(hex.EncodeToString(h[:6]) + ":" + strconv.Itoa(offset)))
}

func readToken(jql, tok string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	h := sha256.Sum256([]byte(jql))
	prefix, off, ok := strings.Cut(string(b), ":")
	if !ok || prefix != hex.EncodeToString(h[:6]) {
		return 0, false
	}
	n, err := strconv.Atoi(off)
	return n, err == nil && n >= 0
}

func (f *Fake) search(w http.ResponseWriter, r *http.Request, jqlAPI bool) {
	f.mu.Lock()
	f.counts["search"]++
	n := f.counts["search"]
	fail := f.fail
	throttled := f.throttle > 0
	if throttled {
		f.throttle--
	}
	f.mu.Unlock()
	if fail == RateLimitStorm || throttled {
		w.Header().Set("Retry-After", "1")
		w.Header().Set("X-RateLimit-Limit", "100")
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", time.Now().Add(time.Second).UTC().Format("2006-01-02T15:04Z"))
		w.Header().Set("RateLimit-Reason", "jira-burst-based")
		writeError(w, http.StatusTooManyRequests, "Rate limit exceeded.")
		return
	}
	sp, err := parseSearchParams(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	f.mu.Lock()
	body, status := f.searchLocked(sp, jqlAPI)
	f.mu.Unlock()
	if fail == MalformedJSON && status == http.StatusOK {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		b, _ := json.Marshal(body)
		_, _ = w.Write(b[:len(b)/2])
	} else {
		writeJSON(w, status, body)
	}
	if f.AfterSearch != nil {
		f.AfterSearch(n)
	}
}

func (f *Fake) searchLocked(sp *searchParams, jqlAPI bool) (any, int) {
	q, err := f.parseJQL(sp.JQL)
	if err != nil {
		return errorCollection{ErrorMessages: []string{err.Error()}, Errors: map[string]string{}}, http.StatusBadRequest
	}
	if jqlAPI && q.where == nil {
		return errorCollection{ErrorMessages: []string{"Unbounded JQL queries are not allowed here. Please add a search restriction to your query."}, Errors: map[string]string{}}, http.StatusBadRequest
	}
	max := 50
	if sp.MaxResults != nil {
		max = *sp.MaxResults
	}
	if max <= 0 || max > f.opts.MaxResults {
		max = f.opts.MaxResults
	}
	offset := sp.StartAt
	if jqlAPI {
		offset = 0
		if sp.NextPageToken != "" {
			o, ok := readToken(sp.JQL, sp.NextPageToken)
			if !ok {
				return errorCollection{ErrorMessages: []string{"The provided next page token is invalid or expired."}, Errors: map[string]string{}}, http.StatusBadRequest
			}
			offset = o
		}
	}
	// Jira's search has no total (search/jql): the hits past the page
	// and one more need not be found when they come in index order.
	ordered := (q.orderBy == "" || q.orderBy == "updated") && !q.desc
	var hits []*Issue
	all := f.issues
	if ordered {
		all = nil
	}
	inOrder := f.sorted(ordered)
	if floor, ok := updatedFloor(q.where); ok && ordered {
		// the issues updated before the window's start cannot match
		inOrder = inOrder[sort.Search(len(inOrder), func(i int) bool { return !inOrder[i].Updated.Before(floor) }):]
	}
	for _, is := range inOrder {
		if len(f.hidden) > 0 && f.hidden[is.Key] {
			continue // not in the search index yet
		}
		if q.where == nil || q.where.match(is) {
			hits = append(hits, is)
			if jqlAPI && len(hits) > offset+max {
				break
			}
		}
	}
	for _, is := range all {
		if len(f.hidden) > 0 && f.hidden[is.Key] {
			continue
		}
		if q.where == nil || q.where.match(is) {
			hits = append(hits, is)
		}
	}
	if !ordered {
		sortIssues(hits, q.orderBy, q.desc)
	}
	total := len(hits)
	if offset > total {
		offset = total
	}
	end := min(offset+max, total)
	fields := sp.Fields
	if len(fields) == 0 {
		if jqlAPI {
			fields = []string{"id"}
		} else {
			fields = []string{"*navigable"}
		}
	}
	issues := make([]any, 0, end-offset)
	for _, is := range hits[offset:end] {
		issues = append(issues, f.issueJSON(is, fields, sp.expands("changelog")))
		if !(len(fields) == 1 && fields[0] == "id") {
			f.fetched[is.Key]++
		}
	}
	if jqlAPI {
		out := map[string]any{"issues": issues, "isLast": end >= total}
		if end < total {
			out["nextPageToken"] = pageToken(sp.JQL, end)
		}
		return out, http.StatusOK
	}
	return map[string]any{"expand": "schema,names", "startAt": offset, "maxResults": max, "total": total, "issues": issues}, http.StatusOK
}

// sorted returns the issues in the default search order (updated, then
// key), computed once after each change; nil when want is false.
func (f *Fake) sorted(want bool) []*Issue {
	if !want {
		return nil
	}
	if f.byUpdated == nil {
		f.byUpdated = make([]*Issue, 0, len(f.issues))
		for _, is := range f.issues {
			f.byUpdated = append(f.byUpdated, is)
		}
		sortIssues(f.byUpdated, "updated", false)
	}
	return f.byUpdated
}

func sortIssues(hits []*Issue, by string, desc bool) {
	less := func(a, b *Issue) int {
		var c int
		switch by {
		case "created":
			c = a.Created.Compare(b.Created)
		case "key":
			c = 0
		default: // updated, and the fake's default order
			c = a.Updated.Compare(b.Updated)
		}
		if c == 0 {
			c = compareKeys(a.Key, b.Key)
		}
		if desc {
			c = -c
		}
		return c
	}
	slices.SortFunc(hits, less)
}

// compareKeys orders issue keys as Jira does: project, then number.
func compareKeys(a, b string) int {
	pa, na, _ := strings.Cut(a, "-")
	pb, nb, _ := strings.Cut(b, "-")
	if c := strings.Compare(pa, pb); c != 0 {
		return c
	}
	ia, _ := strconv.Atoi(na)
	ib, _ := strconv.Atoi(nb)
	return ia - ib
}

func (f *Fake) changelog(w http.ResponseWriter, r *http.Request, key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	is := f.lookup(w, key)
	if is == nil {
		return
	}
	start, max := pageOf(r.URL.Query(), "startAt", "maxResults", 100, 100)
	total := len(is.Histories)
	start = min(start, total)
	end := min(start+max, total)
	vals := make([]any, 0, end-start)
	for _, h := range is.Histories[start:end] {
		vals = append(vals, f.historyJSON(h))
	}
	self := fmt.Sprintf("%s/rest/api/3/issue/%s/changelog?startAt=%d&maxResults=%d", f.URL, is.Key, start, max)
	out := map[string]any{"self": self, "startAt": start, "maxResults": max, "total": total, "isLast": end >= total, "values": vals}
	if end < total {
		out["nextPage"] = fmt.Sprintf("%s/rest/api/3/issue/%s/changelog?&startAt=%d&maxResults=%d", f.URL, is.Key, end, max)
	}
	writeJSON(w, http.StatusOK, out)
}

func (f *Fake) remoteLinks(w http.ResponseWriter, key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	is := f.lookup(w, key)
	if is == nil {
		return
	}
	out := make([]any, 0, len(is.RemoteLinks))
	for _, rl := range is.RemoteLinks {
		out = append(out, map[string]any{
			"id":           rl.ID,
			"self":         fmt.Sprintf("%s/rest/api/2/issue/%s/remotelink/%d", f.URL, is.Key, rl.ID),
			"globalId":     rl.GlobalID,
			"application":  map[string]any{"type": rl.AppType, "name": rl.AppName},
			"relationship": rl.Relationship,
			"object": map[string]any{
				"url": rl.URL, "title": rl.Title, "summary": rl.Summary,
				"icon":   map[string]any{"url16x16": "https://github.com/favicon.ico", "title": rl.AppName},
				"status": map[string]any{"resolved": rl.Resolved},
			},
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// lookup finds an issue by key or ID, or answers 404 as Jira does.
func (f *Fake) lookup(w http.ResponseWriter, key string) *Issue {
	if is := f.find(key); is != nil {
		return is
	}
	writeError(w, http.StatusNotFound, "Issue does not exist or you do not have permission to see it.")
	return nil
}

// fields lists the site's fields: a few system fields and the approver field.
func (f *Fake) fields() []any {
	sys := func(id, name string) map[string]any {
		return map[string]any{"id": id, "key": id, "name": name, "custom": false, "navigable": true, "searchable": true, "clauseNames": []string{id}}
	}
	return []any{
		sys("summary", "Summary"), sys("status", "Status"), sys("resolution", "Resolution"),
		sys("assignee", "Assignee"), sys("reporter", "Reporter"), sys("updated", "Updated"),
		map[string]any{"id": f.opts.ImplementerField, "key": f.opts.ImplementerField, "name": ImplementerFieldName, "custom": true,
			"navigable": true, "searchable": true, "clauseNames": []string{ImplementerFieldName},
			"schema": map[string]any{"type": "user", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:userpicker"}},
		map[string]any{"id": f.opts.ApproverField, "key": f.opts.ApproverField, "name": ApproverFieldName, "custom": true,
			"navigable": true, "searchable": true, "clauseNames": []string{"cf[" + strings.TrimPrefix(f.opts.ApproverField, "customfield_") + "]", ApproverFieldName},
			"schema": map[string]any{"type": "array", "items": "user", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:multiuserpicker"}},
	}
}

// ---- JSON rendering ----

// jiraTime renders a timestamp as Jira does: 2026-11-30T10:05:33.123+0100.
func jiraTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02T15:04:05.000-0700")
}

// userOut is a user as Jira renders one (Cloud: accountId; Data Center:
// name and key).
type userOut struct {
	Self         string         `json:"self"`
	AccountID    string         `json:"accountId,omitempty"`
	AccountType  string         `json:"accountType,omitempty"`
	Name         string         `json:"name,omitempty"`
	Key          string         `json:"key,omitempty"`
	EmailAddress string         `json:"emailAddress,omitempty"`
	DisplayName  string         `json:"displayName"`
	Active       bool           `json:"active"`
	TimeZone     string         `json:"timeZone,omitempty"`
	Links        map[string]any `json:"_links,omitempty"` // JSM
}

func (f *Fake) userJSON(u User, withTZ bool) *userOut {
	m := &userOut{DisplayName: u.DisplayName, Active: true, EmailAddress: u.Email}
	if f.cloud() {
		m.AccountID, m.AccountType = u.AccountID, "atlassian"
		m.Self = f.URL + "/rest/api/3/user?accountId=" + u.AccountID
	} else {
		m.Name, m.Key = u.Name, u.Name
		m.Self = f.URL + "/rest/api/2/user?username=" + u.Name
	}
	if withTZ {
		m.TimeZone = f.opts.TimeZone
	}
	return m
}

// historyOut and itemOut are a changelog entry as Jira renders one.
type historyOut struct {
	ID      string    `json:"id"`
	Author  *userOut  `json:"author"`
	Created string    `json:"created"`
	Items   []itemOut `json:"items"`
}

type itemOut struct {
	Field      string  `json:"field"`
	FieldType  string  `json:"fieldtype"`
	FieldID    string  `json:"fieldId,omitempty"`
	From       *string `json:"from"`
	FromString *string `json:"fromString"`
	To         *string `json:"to"`
	ToString   *string `json:"toString"`
}

func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (f *Fake) historyJSON(h History) historyOut {
	items := make([]itemOut, 0, len(h.Items))
	for _, it := range h.Items {
		o := itemOut{Field: it.Field, FieldType: it.FieldType, From: strOrNil(it.From), FromString: strOrNil(it.FromString), To: strOrNil(it.To), ToString: strOrNil(it.ToString)}
		if f.cloud() {
			o.FieldID = it.FieldID
		}
		items = append(items, o)
	}
	return historyOut{ID: h.ID, Author: f.userJSON(h.Author, false), Created: jiraTime(h.Created, f.loc), Items: items}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func wants(fields []string, name string) bool {
	for _, x := range fields {
		if x == "*all" || x == "*navigable" || x == name {
			return true
		}
	}
	return false
}

func (f *Fake) issueJSON(is *Issue, fields []string, changelog bool) map[string]any {
	apiV := "2"
	if f.cloud() {
		apiV = "3"
	}
	out := map[string]any{"id": is.ID, "key": is.Key, "self": f.URL + "/rest/api/" + apiV + "/issue/" + is.ID,
		"expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields"}
	if len(fields) == 1 && fields[0] == "id" {
		return map[string]any{"id": is.ID}
	}
	fm := map[string]any{}
	set := func(name string, v any) {
		if wants(fields, name) {
			fm[name] = v
		}
	}
	set("summary", is.Summary)
	set("issuetype", map[string]any{"id": strconv.Itoa(10000 + len(is.Type)), "name": is.Type, "subtask": false})
	ptype := is.ProjectType
	if ptype == "" {
		ptype = "software"
	}
	set("project", map[string]any{"id": strconv.Itoa(10000 + len(is.Project)), "key": is.Project, "name": is.Project, "projectTypeKey": ptype})
	set("status", map[string]any{"name": is.Status, "id": strconv.Itoa(1 + len(is.Status)),
		"statusCategory": map[string]any{"key": statusCategory(is.Status), "name": statusCategory(is.Status)}})
	if is.Priority != "" {
		set("priority", map[string]any{"name": is.Priority, "id": strconv.Itoa(len(is.Priority))})
	} else {
		set("priority", nil)
	}
	set("created", jiraTime(is.Created, f.loc))
	set("updated", jiraTime(is.Updated, f.loc))
	if is.Resolved != nil {
		set("resolutiondate", jiraTime(*is.Resolved, f.loc))
		set("resolution", map[string]any{"name": "Done"})
	} else {
		set("resolutiondate", nil)
		set("resolution", nil)
	}
	userOrNil := func(u *User) any {
		if u == nil {
			return nil
		}
		return f.userJSON(*u, false)
	}
	set("reporter", userOrNil(is.Reporter))
	set("assignee", userOrNil(is.Assignee))
	labels := is.Labels
	if labels == nil {
		labels = []string{}
	}
	set("labels", labels)
	links := make([]any, 0, len(is.Links))
	for _, l := range is.Links {
		m := map[string]any{"id": l.ID, "type": map[string]any{"name": l.Type, "inward": l.Inward, "outward": l.Outward}}
		other := map[string]any{"key": l.Key, "self": f.URL + "/rest/api/" + apiV + "/issue/" + l.Key}
		if l.Direction == "inward" {
			m["inwardIssue"] = other
		} else {
			m["outwardIssue"] = other
		}
		links = append(links, m)
	}
	set("issuelinks", links)
	if wants(fields, f.opts.ApproverField) {
		if len(is.Approvers) == 0 {
			fm[f.opts.ApproverField] = nil
		} else {
			us := make([]any, 0, len(is.Approvers))
			for _, u := range is.Approvers {
				us = append(us, f.userJSON(u, false))
			}
			fm[f.opts.ApproverField] = us
		}
	}
	if wants(fields, f.opts.ImplementerField) {
		fm[f.opts.ImplementerField] = userOrNil(is.Implementer)
	}
	for id, v := range is.Fields {
		if wants(fields, id) {
			fm[id] = v
		}
	}
	if wants(fields, "comment") {
		n := min(len(is.Comments), f.opts.EmbeddedComments)
		cs := make([]any, 0, n)
		for _, c := range is.Comments[:n] {
			cs = append(cs, f.commentJSON(is, c))
		}
		// total is the number of comments on this page (PageOfComments).
		fm["comment"] = map[string]any{"comments": cs, "maxResults": f.opts.EmbeddedComments, "total": n, "startAt": 0}
	}
	out["fields"] = fm
	if changelog {
		hs := is.Histories
		total := len(hs)
		if f.cloud() {
			// Cloud embeds one page of histories, most recent first; its
			// total is the number of histories on that page
			// (PageOfChangelogs), not the ticket's.
			n := min(total, f.opts.EmbeddedChangelog)
			vals := make([]any, 0, n)
			for i := total - 1; i >= total-n; i-- {
				vals = append(vals, f.historyJSON(hs[i]))
			}
			out["changelog"] = map[string]any{"startAt": 0, "maxResults": n, "total": n, "histories": vals}
		} else {
			vals := make([]any, 0, total)
			for _, h := range hs {
				vals = append(vals, f.historyJSON(h))
			}
			out["changelog"] = map[string]any{"startAt": 0, "maxResults": total, "total": total, "histories": vals}
		}
	}
	return out
}

func statusCategory(s string) string {
	switch strings.ToLower(s) {
	case "done", "resolved", "closed", "rejected":
		return "done"
	case "open", "to do", "new":
		return "new"
	}
	return "indeterminate"
}
