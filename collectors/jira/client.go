package jira

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	gojira "github.com/andygrunwald/go-jira"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/httpx"
)

// maxBody bounds one response body read into memory (a page of 100
// tickets with 20 embedded histories each is a few MB).
const maxBody = 64 << 20

// api is the Jira client of one run.
type api struct {
	c     *gojira.Client
	site  *url.URL // the site (base_url): the account evidence names
	pacer *pacer
	// noBulk is set when the site has no bulk changelog endpoint: each
	// changelog is then paged through /rest/api/3/issue/{key}/changelog.
	noBulk     atomic.Bool
	deployment string // cloud | datacenter
	loc        *time.Location
	// approverName is the approver field's display name.
	approverName string
}

// authTransport wraps base (the engine's rate-limit-aware transport) with
// the authentication of cfg.Auth.
func authTransport(ctx context.Context, cfg *Config, auth string, hc *http.Client) http.RoundTripper {
	base := hc.Transport
	switch auth {
	case authAPIToken, authScoped:
		return &gojira.BasicAuthTransport{Username: cfg.Email, Password: cfg.Token.Value(), Transport: base}
	case authBasic:
		return &gojira.BasicAuthTransport{Username: cfg.Username, Password: cfg.Password.Value(), Transport: base}
	case authOAuth:
		// Atlassian's OAuth 2.0 client credentials for service accounts: the
		// token comes from the token endpoint through the same transport.
		cc := clientcredentials.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret.Value(), TokenURL: cfg.TokenURL, AuthStyle: oauth2.AuthStyleInParams}
		tctx := context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, &http.Client{Transport: base, Timeout: hc.Timeout})
		return &oauth2.Transport{Source: cc.TokenSource(tctx), Base: base}
	}
	return &gojira.PATAuthTransport{Token: cfg.Token.Value(), Transport: base}
}

// cloudID reads the site's cloud ID from /_edge/tenant_info (anonymous).
func cloudID(ctx context.Context, cfg *Config, hc *http.Client) (string, error) {
	if cfg.CloudID != "" {
		return cfg.CloudID, nil
	}
	anon, err := gojira.NewClient(hc, cfg.BaseURL)
	if err != nil {
		return "", collectors.Permanent(fmt.Errorf("jira: base_url: %w", err))
	}
	var info struct {
		CloudID string `json:"cloudId"`
	}
	if err := (&api{c: anon}).getJSON(ctx, "_edge/tenant_info", nil, &info, nil); err != nil {
		return "", fmt.Errorf("discovering the cloud ID for the gateway (set `cloud_id` to skip this): %w", err)
	}
	if info.CloudID == "" {
		return "", collectors.Permanent(fmt.Errorf("jira: %s/_edge/tenant_info has no cloudId; set `cloud_id`", strings.TrimSuffix(cfg.BaseURL, "/")))
	}
	return info.CloudID, nil
}

func newAPI(ctx context.Context, cfg *Config, hc *http.Client) (*api, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	deployment := cfg.Deployment
	if deployment == deployAuto {
		anon, err := gojira.NewClient(hc, cfg.BaseURL)
		if err != nil {
			return nil, collectors.Permanent(fmt.Errorf("jira: base_url: %w", err))
		}
		var info struct {
			DeploymentType string `json:"deploymentType"`
		}
		if err := (&api{c: anon}).getJSON(ctx, "rest/api/2/serverInfo", nil, &info, nil); err != nil {
			return nil, fmt.Errorf("detecting the deployment (set `deployment: cloud` or `datacenter` to skip this): %w", err)
		}
		deployment = deployDataCenter
		if strings.EqualFold(info.DeploymentType, "Cloud") {
			deployment = deployCloud
		}
		if deployment == deployCloud && cfg.Auth == authPAT && !cfg.autoAuth || deployment == deployCloud && cfg.autoAuth && cfg.Email == "" {
			return nil, collectors.Permanent(errors.New("jira: the site is Jira Cloud, which needs `email` with the API token (Basic authentication)"))
		}
	}
	site, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, collectors.Permanent(fmt.Errorf("jira: base_url: %w", err))
	}
	apiBase := cfg.BaseURL
	if cfg.gateway() {
		id, err := cloudID(ctx, cfg, hc)
		if err != nil {
			return nil, err
		}
		apiBase = strings.TrimSuffix(cfg.GatewayURL, "/") + "/ex/jira/" + url.PathEscape(id)
	}
	pc := newPacer(hc.Transport)
	auth := cfg.Auth
	if cfg.autoAuth {
		auth = authPAT // Data Center: the token is a personal access token
		if deployment == deployCloud {
			auth = authAPIToken
		}
	}
	authed := &http.Client{Transport: authTransport(ctx, cfg, auth, &http.Client{Transport: pc, Timeout: hc.Timeout}), Timeout: hc.Timeout}
	c, err := gojira.NewClient(authed, apiBase)
	if err != nil {
		return nil, collectors.Permanent(fmt.Errorf("jira: base_url: %w", err))
	}
	a := &api{c: c, site: site, deployment: deployment, loc: time.UTC, pacer: pc}
	// The account's time zone: JQL dates are read in it.
	var me struct {
		TimeZone string `json:"timeZone"`
	}
	if err := a.getJSON(ctx, "rest/api/2/myself", nil, &me, nil); err != nil {
		return nil, err
	}
	if me.TimeZone != "" {
		if loc, err := time.LoadLocation(me.TimeZone); err == nil {
			a.loc = loc
		}
	}
	if cfg.ApproverField != "" {
		// Data Center changelogs name custom fields by display name only.
		var fields []gojira.Field
		if err := a.getJSON(ctx, "rest/api/2/field", nil, &fields, nil); err != nil {
			return nil, err
		}
		for _, f := range fields {
			if f.ID == cfg.ApproverField {
				a.approverName = f.Name
			}
		}
		if a.approverName == "" {
			return nil, collectors.Permanent(fmt.Errorf("jira: approver_field %s does not exist on %s (or the account cannot see it); find the ID under Settings > Issues > Custom fields", cfg.ApproverField, a.endpoint("")))
		}
	}
	return a, nil
}

// do sends a request through go-jira's client and returns the body of a 2xx
// response; any other status becomes a classified error naming the endpoint.
func (a *api) do(ctx context.Context, method, path string, q url.Values, body any) ([]byte, error) {
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	req, err := a.c.NewRequestWithContext(ctx, method, path, body)
	if err != nil {
		return nil, collectors.Permanent(fmt.Errorf("jira: building %s %s: %w", method, path, err))
	}
	req.Header.Set("Accept", "application/json")
	resp, err := a.c.Do(req, nil)
	if resp == nil || resp.Response == nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var re *oauth2.RetrieveError
		if errors.As(err, &re) { // the token endpoint refused the client credentials
			return nil, collectors.Permanent(fmt.Errorf("jira: OAuth 2.0 token for client_id: HTTP %d %s (hint: check client_id/client_secret of the service account's OAuth 2.0 credential)", re.Response.StatusCode, re.ErrorCode))
		}
		err = fmt.Errorf("jira: %s %s: %w", method, redact(req.URL), err)
		if collectors.IsClassified(err) { // httpx gave up waiting on a rate limit
			return nil, err
		}
		return nil, collectors.Retryable(err)
	}
	defer resp.Body.Close()
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil { // non-2xx (go-jira's CheckResponse)
		return nil, statusError(resp.Response, b)
	}
	if rerr != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, collectors.Retryable(fmt.Errorf("jira: %s %s: reading response: %w", method, redact(req.URL), rerr))
	}
	if len(b) > maxBody {
		return nil, collectors.Permanent(fmt.Errorf("jira: %s %s: response larger than %d MB; lower page_size", method, redact(req.URL), maxBody>>20))
	}
	return b, nil
}

// getJSON GETs path and decodes the JSON body into v; raw, when not nil,
// receives the body as it came.
func (a *api) getJSON(ctx context.Context, path string, q url.Values, v any, raw *json.RawMessage) error {
	b, err := a.do(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return err
	}
	return a.decode(b, http.MethodGet, path, v, raw)
}

func (a *api) decode(b []byte, method, path string, v any, raw *json.RawMessage) error {
	if err := json.Unmarshal(b, v); err != nil {
		return collectors.Permanent(fmt.Errorf("jira: %s %s: malformed JSON response: %v", method, a.endpoint(path), err))
	}
	if raw != nil {
		*raw = json.RawMessage(b)
	}
	return nil
}

func (a *api) endpoint(path string) string {
	u := a.c.GetBaseURL()
	p, _, _ := strings.Cut(path, "?")
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + strings.TrimPrefix(p, "/")
	u.RawQuery = ""
	return u.String()
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	return c.String()
}

// statusError turns a non-2xx response into a classified error carrying
// Jira's own errorMessages (never the body otherwise).
func statusError(resp *http.Response, body []byte) error {
	se := httpx.NewStatusError(resp)
	var ec struct {
		ErrorMessages []string          `json:"errorMessages"`
		Errors        map[string]string `json:"errors"`
		Message       string            `json:"message"`      // the api.atlassian.com gateway
		ErrorMessage  string            `json:"errorMessage"` // Jira Service Management
	}
	if json.Unmarshal(body, &ec) == nil {
		msgs := append([]string(nil), ec.ErrorMessages...)
		for _, m := range []string{ec.Message, ec.ErrorMessage} {
			if m != "" {
				msgs = append(msgs, m)
			}
		}
		for _, k := range sortedKeys(ec.Errors) {
			msgs = append(msgs, k+": "+ec.Errors[k])
		}
		se.Message = strings.Join(msgs, "; ")
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		se.Hint = "check the credentials: Cloud uses `email` + an API token (id.atlassian.com > Security > API tokens), Data Center a personal access token"
		if strings.Contains(se.Message, "scope") || strings.Contains(resp.Request.URL.Path, "/ex/jira/") {
			se.Hint = "the scoped token or OAuth credential lacks a scope this call needs, or has expired: see the scopes table in the jira collector's README"
		}
	case http.StatusForbidden:
		se.Hint = "the account needs the Browse projects permission on the queried projects"
	case http.StatusNotFound:
		se.Hint = "the ticket is gone or the account lacks the Browse projects permission on its project"
	case http.StatusGone:
		se.Hint = "Jira Cloud removed this search endpoint in 2025; set `deployment: cloud` (or auto) so the collector uses /rest/api/3/search/jql"
	case http.StatusTooManyRequests:
		se.Hint = "Jira kept throttling after retries; the next run resumes from the last checkpoint"
	case http.StatusBadRequest:
		se.Hint = "fix the query's jql (try it in Jira's issue search first)"
	}
	return fmt.Errorf("jira: %w", httpx.Classify(se))
}

// ---- search ----

// searchFields are the fields asked for explicitly (Cloud returns only ids otherwise).
func (a *api) searchFields(cfg *Config, q *Query) []string {
	f := []string{"summary", "issuetype", "project", "status", "priority", "created", "updated",
		"resolutiondate", "resolution", "reporter", "assignee", "labels", "issuelinks"}
	if *cfg.Comments {
		f = append(f, "comment")
	}
	for _, x := range append([]string{cfg.ApproverField, cfg.ImplementerField}, q.Fields...) {
		if x != "" && !slices.Contains(f, x) {
			f = append(f, x)
		}
	}
	return f
}

// searchPage is one page of search results.
type searchPage struct {
	Issues        []json.RawMessage `json:"issues"`
	NextPageToken string            `json:"nextPageToken"` // Cloud
	IsLast        *bool             `json:"isLast"`        // Cloud
	StartAt       int               `json:"startAt"`       // Data Center
	MaxResults    int               `json:"maxResults"`    // Data Center
	Total         int               `json:"total"`         // Data Center
}

// searchEndpoint is the search endpoint of the deployment.
func (a *api) searchEndpoint() string {
	if a.deployment == deployCloud {
		return "rest/api/3/search/jql"
	}
	return "rest/api/2/search"
}

// search fetches one page. pos is the Cloud nextPageToken or the Data
// Center startAt (as a decimal string); "" is the first page.
func (a *api) search(ctx context.Context, cfg *Config, q *Query, jql, pos string) (*searchPage, error) {
	var body any
	if a.deployment == deployCloud {
		// No expand=changelog: Cloud embeds one page of it whose total
		// counts only that page; the whole changelog comes from bulkfetch.
		body = struct {
			JQL           string   `json:"jql"`
			Fields        []string `json:"fields"`
			MaxResults    int      `json:"maxResults"`
			NextPageToken string   `json:"nextPageToken,omitempty"`
		}{jql, a.searchFields(cfg, q), cfg.PageSize, pos}
	} else {
		start := 0
		if pos != "" {
			start, _ = strconv.Atoi(pos)
		}
		body = struct {
			JQL        string   `json:"jql"`
			StartAt    int      `json:"startAt"`
			MaxResults int      `json:"maxResults"`
			Fields     []string `json:"fields"`
			Expand     []string `json:"expand"`
		}{jql, start, cfg.PageSize, a.searchFields(cfg, q), []string{"changelog"}}
	}
	path := a.searchEndpoint()
	b, err := a.do(ctx, http.MethodPost, path, nil, body)
	if err != nil {
		return nil, err
	}
	var p searchPage
	if err := a.decode(b, http.MethodPost, path, &p, nil); err != nil {
		return nil, err
	}
	if a.deployment == deployCloud && p.IsLast == nil && p.NextPageToken == "" && len(p.Issues) > 0 {
		// neither isLast nor a token: not a search/jql answer
		return nil, collectors.Permanent(fmt.Errorf("jira: POST %s: response has neither isLast nor nextPageToken", a.endpoint(path)))
	}
	return &p, nil
}

// next returns the position of the page after p and whether p was the last.
func (a *api) next(p *searchPage) (string, bool) {
	if a.deployment == deployCloud {
		if p.NextPageToken == "" || (p.IsLast != nil && *p.IsLast) {
			return "", true
		}
		return p.NextPageToken, false
	}
	n := p.StartAt + len(p.Issues)
	if len(p.Issues) == 0 || n >= p.Total {
		return "", true
	}
	return strconv.Itoa(n), false
}

// bulkChangelog reads the whole changelog of each issue (by ID) through
// POST /rest/api/3/changelog/bulkfetch, following nextPageToken to the end.
// It returns the histories by issue ID and the number of requests made.
func (a *api) bulkChangelog(ctx context.Context, ids []string) (map[string][]rawHistory, int, error) {
	out := make(map[string][]rawHistory, len(ids))
	reqs := 0
	const path = "rest/api/3/changelog/bulkfetch"
	for start := 0; start < len(ids); start += 1000 {
		batch := ids[start:min(start+1000, len(ids))]
		tok := ""
		for {
			body := struct {
				IssueIDsOrKeys []string `json:"issueIdsOrKeys"`
				MaxResults     int      `json:"maxResults"`
				NextPageToken  string   `json:"nextPageToken,omitempty"`
			}{batch, 1000, tok}
			b, err := a.do(ctx, http.MethodPost, path, nil, body)
			if err != nil {
				return nil, reqs, err
			}
			reqs++
			var p struct {
				IssueChangeLogs []struct {
					IssueID         string       `json:"issueId"`
					ChangeHistories []rawHistory `json:"changeHistories"`
				} `json:"issueChangeLogs"`
				NextPageToken *string `json:"nextPageToken"`
			}
			if err := a.decode(b, http.MethodPost, path, &p, nil); err != nil {
				return nil, reqs, err
			}
			for _, l := range p.IssueChangeLogs {
				out[l.IssueID] = append(out[l.IssueID], l.ChangeHistories...)
			}
			if p.NextPageToken == nil || *p.NextPageToken == "" {
				break
			}
			if *p.NextPageToken == tok || reqs > 100000 {
				return nil, reqs, collectors.Permanent(fmt.Errorf("jira: POST %s: changelog pages do not end", a.endpoint(path)))
			}
			tok = *p.NextPageToken
		}
	}
	return out, reqs, nil
}

// changelog pages one issue's whole changelog through
// /rest/api/3/issue/{key}/changelog (a PageBean: its total is the issue's).
func (a *api) changelog(ctx context.Context, key string) ([]rawHistory, int, error) {
	var all []rawHistory
	path := "rest/api/3/issue/" + url.PathEscape(key) + "/changelog"
	reqs := 0
	for start := 0; ; {
		var p struct {
			Total  int          `json:"total"`
			IsLast *bool        `json:"isLast"`
			Values []rawHistory `json:"values"`
		}
		q := url.Values{"startAt": {strconv.Itoa(start)}, "maxResults": {"100"}}
		if err := a.getJSON(ctx, path, q, &p, nil); err != nil {
			return nil, reqs, err
		}
		reqs++
		all = append(all, p.Values...)
		start += len(p.Values)
		if (p.IsLast != nil && *p.IsLast) || len(p.Values) == 0 || (p.IsLast == nil && start >= p.Total) {
			return all, reqs, nil
		}
		if reqs > 10000 {
			return nil, reqs, collectors.Permanent(fmt.Errorf("jira: GET %s: changelog does not end", a.endpoint(path)))
		}
	}
}

// approvals reads the JSM approvals of a request (paged by start/limit).
func (a *api) approvals(ctx context.Context, key string) ([]JSMApproval, int, error) {
	path := "rest/servicedeskapi/request/" + url.PathEscape(key) + "/approval"
	out := []JSMApproval{}
	reqs := 0
	for start := 0; ; {
		var p struct {
			IsLastPage bool `json:"isLastPage"`
			Values     []struct {
				ID            string   `json:"id"`
				Name          string   `json:"name"`
				FinalDecision string   `json:"finalDecision"`
				CreatedDate   *jsmDate `json:"createdDate"`
				CompletedDate *jsmDate `json:"completedDate"`
				Approvers     []struct {
					Approver         rawUser `json:"approver"`
					ApproverDecision string  `json:"approverDecision"`
				} `json:"approvers"`
			} `json:"values"`
		}
		q := url.Values{"start": {strconv.Itoa(start)}, "limit": {"50"}}
		if err := a.getJSON(ctx, path, q, &p, nil); err != nil {
			return nil, reqs, err
		}
		reqs++
		for _, v := range p.Values {
			ap := JSMApproval{ID: v.ID, Name: v.Name, FinalDecision: v.FinalDecision, Created: v.CreatedDate.String(), Approvers: []JSMApprover{}}
			if v.CompletedDate != nil {
				c := v.CompletedDate.String()
				ap.Completed = &c
			}
			for _, x := range v.Approvers {
				j := JSMApprover{Person: *x.Approver.person(), Decision: x.ApproverDecision}
				if len(v.Approvers) == 1 && ap.Completed != nil && x.ApproverDecision == v.FinalDecision {
					j.DecidedAt = ap.Completed
				}
				ap.Approvers = append(ap.Approvers, j)
			}
			out = append(out, ap)
		}
		start += len(p.Values)
		if p.IsLastPage || len(p.Values) == 0 {
			return out, reqs, nil
		}
	}
}

// jsmDate is the JSM date object; epochMillis is exact.
type jsmDate struct {
	ISO8601     string `json:"iso8601"`
	EpochMillis *int64 `json:"epochMillis"`
}

func (d *jsmDate) String() string {
	if d == nil {
		return ""
	}
	if d.EpochMillis != nil {
		return fmtTime(time.UnixMilli(*d.EpochMillis))
	}
	return normTime(d.ISO8601)
}

// comments reads the comment count and the last comment's time when the
// embedded page may be partial: pages of /issue/{key}/comment until a page
// comes back short (PageOfComments' total counts only the page).
func (a *api) comments(ctx context.Context, key string) (*commentFacts, int, error) {
	path := "rest/api/" + a.v() + "/issue/" + url.PathEscape(key) + "/comment"
	cf := &commentFacts{}
	var last time.Time
	reqs := 0
	const max = 5000
	for start := 0; ; {
		var p rawComments
		q := url.Values{"startAt": {strconv.Itoa(start)}, "maxResults": {strconv.Itoa(max)}}
		if err := a.getJSON(ctx, path, q, &p, nil); err != nil {
			return nil, reqs, err
		}
		reqs++
		for _, c := range p.Comments {
			if t, err := parseJiraTime(c.Created); err == nil && t.After(last) {
				last = t
			}
		}
		cf.count += len(p.Comments)
		start += len(p.Comments)
		if len(p.Comments) == 0 || len(p.Comments) < min(p.MaxResults, max) || p.MaxResults == 0 {
			break
		}
	}
	if !last.IsZero() {
		cf.last = fmtTime(last)
	}
	return cf, reqs, nil
}

// embeddedComments reads the comment facts from the search entry when its
// page is not full, i.e. holds every comment.
func embeddedComments(c *rawComments) (*commentFacts, bool) {
	if c == nil || c.MaxResults == 0 || len(c.Comments) >= c.MaxResults {
		return nil, false
	}
	cf := &commentFacts{count: len(c.Comments)}
	var last time.Time
	for _, x := range c.Comments {
		if t, err := parseJiraTime(x.Created); err == nil && t.After(last) {
			last = t
		}
	}
	if !last.IsZero() {
		cf.last = fmtTime(last)
	}
	return cf, true
}

// count returns Jira's count of the issues matching jql: Cloud's
// approximate count, or the Data Center search total.
func (a *api) count(ctx context.Context, jql string) (int, string, error) {
	if a.deployment == deployCloud {
		const path = "rest/api/3/search/approximate-count"
		b, err := a.do(ctx, http.MethodPost, path, nil, map[string]string{"jql": jql})
		if err != nil {
			return 0, path, err
		}
		var c struct {
			Count *int `json:"count"`
		}
		if err := a.decode(b, http.MethodPost, path, &c, nil); err != nil {
			return 0, path, err
		}
		if c.Count == nil {
			return 0, path, collectors.Permanent(fmt.Errorf("jira: POST %s: no count in the response", a.endpoint(path)))
		}
		return *c.Count, path, nil
	}
	const path = "rest/api/2/search"
	b, err := a.do(ctx, http.MethodPost, path, nil, map[string]any{"jql": jql, "maxResults": 0, "fields": []string{"id"}})
	if err != nil {
		return 0, path, err
	}
	var p searchPage
	if err := a.decode(b, http.MethodPost, path, &p, nil); err != nil {
		return 0, path, err
	}
	return p.Total, path, nil
}

// DeletedTicket is a ticket deletion read from the audit log.
type DeletedTicket struct {
	Key       string `json:"key"`
	ID        string `json:"id,omitempty"`
	Project   string `json:"project,omitempty"`
	DeletedAt string `json:"deleted_at"`
	By        string `json:"by_account_id,omitempty"`
	RecordID  int64  `json:"audit_record_id"`
}

// deleted reads the issue deletions recorded in the audit log since from
// (to the present: a ticket deleted while the run reads is included).
func (a *api) deleted(ctx context.Context, from time.Time) ([]DeletedTicket, int, error) {
	path := "rest/api/" + a.v() + "/auditing/record"
	out := []DeletedTicket{}
	reqs := 0
	for offset := 0; ; {
		var p struct {
			Total   int `json:"total"`
			Records []struct {
				ID              int64  `json:"id"`
				Summary         string `json:"summary"`
				Created         string `json:"created"`
				AuthorAccountID string `json:"authorAccountId"`
				ObjectItem      *struct {
					ID         string `json:"id"`
					Name       string `json:"name"`
					TypeName   string `json:"typeName"`
					ParentName string `json:"parentName"`
				} `json:"objectItem"`
			} `json:"records"`
		}
		q := url.Values{"offset": {strconv.Itoa(offset)}, "limit": {"1000"}, "filter": {"deleted"}, "from": {fmtTime(from)}}
		if err := a.getJSON(ctx, path, q, &p, nil); err != nil {
			return nil, reqs, err
		}
		reqs++
		for _, r := range p.Records {
			if r.ObjectItem == nil || !strings.EqualFold(r.ObjectItem.TypeName, "ISSUE") || !strings.Contains(strings.ToLower(r.Summary), "deleted") {
				continue
			}
			proj, _, _ := strings.Cut(r.ObjectItem.Name, "-")
			out = append(out, DeletedTicket{Key: r.ObjectItem.Name, ID: r.ObjectItem.ID, Project: proj,
				DeletedAt: normTime(r.Created), By: r.AuthorAccountID, RecordID: r.ID})
		}
		offset += len(p.Records)
		if len(p.Records) == 0 || offset >= p.Total {
			return out, reqs, nil
		}
	}
}

func (a *api) v() string {
	if a.deployment == deployCloud {
		return "3"
	}
	return "2"
}

// remoteLinks returns an issue's remote links (pull requests and such),
// decoded with go-jira's type, and the raw body.
func (a *api) remoteLinks(ctx context.Context, key string) ([]gojira.RemoteLink, json.RawMessage, error) {
	v := "2"
	if a.deployment == deployCloud {
		v = "3"
	}
	var links []gojira.RemoteLink
	var raw json.RawMessage
	if err := a.getJSON(ctx, "rest/api/"+v+"/issue/"+url.PathEscape(key)+"/remotelink", nil, &links, &raw); err != nil {
		return nil, nil, err
	}
	return links, raw, nil
}
