package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/httpx"
)

// api is the thin layer between the evidence functions and Okta: plain
// requests over the engine's HTTP client (collectors/httpx waits out rate
// limits per Okta endpoint family), authenticated with an SSWS API token or
// an OAuth 2.0 access token bound to a DPoP key, Link-header pagination
// followed verbatim, and errors classified and explained.
type api struct {
	hc       *http.Client
	org      string // org URL without a trailing slash
	ssws     string // the API token value (SSWS mode)
	tokenRef string // the configured reference (env:NAME), never the value
	oauth    *oauthClient
	agent    string
}

// family maps a path to Okta's org-wide rate-limit bucket: collection and
// single-object endpoints of users and groups are separate buckets.
func family(path string) string {
	rest, ok := strings.CutPrefix(path, "/api/v1/")
	if !ok {
		return "other"
	}
	name, sub, _ := strings.Cut(rest, "/")
	switch {
	case (name == "users" || name == "groups" || name == "apps") && sub != "":
		return name + "/{id}"
	case name == "users", name == "groups", name == "logs", name == "policies", name == "iam", name == "apps", name == "authenticators", name == "api-tokens":
		return name
	}
	return "other"
}

// scoped puts a request into the rate-limit budget of its endpoint family.
func scoped(ctx context.Context, path string) context.Context {
	p, _, _ := strings.Cut(path, "?")
	return httpx.WithScope(ctx, "okta "+family(p))
}

// get fetches one resource (path with query, relative to the org) into v
// and returns the response headers. endpoint names the operation in errors
// ("GET /api/v1/users/{id}/factors").
func (a *api) get(ctx context.Context, endpoint, pathQuery string, v any) (http.Header, error) {
	for attempt := 0; ; attempt++ {
		h, retry, err := a.try(ctx, endpoint, pathQuery, v)
		if !retry || attempt >= 2 {
			return h, err
		}
	}
}

// try sends one request; retry says the OAuth client has a new nonce or
// token and the request should be sent again.
func (a *api) try(ctx context.Context, endpoint, pathQuery string, v any) (http.Header, bool, error) {
	u := a.org + pathQuery
	ctx = scoped(ctx, pathQuery)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, false, collectors.Permanent(fmt.Errorf("okta: org %s: %s: %v", a.org, endpoint, err))
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", a.agent)
	if a.oauth != nil {
		tok, err := a.oauth.token(ctx, endpoint)
		if err != nil {
			return nil, false, err
		}
		if err := a.oauth.authorize(req, tok); err != nil {
			return nil, false, err
		}
		req = req.WithContext(httpx.WithRetryHook(ctx, func(r *http.Request) error { return a.oauth.authorize(r, tok) }))
	} else {
		req.Header.Set("Authorization", "SSWS "+a.ssws)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		if collectors.IsClassified(err) {
			return nil, false, fmt.Errorf("okta: org %s: %s: %w", a.org, endpoint, err)
		}
		return nil, false, collectors.Retryable(fmt.Errorf("okta: org %s: %s: %v", a.org, endpoint, redactQuery(err.Error())))
	}
	defer resp.Body.Close()
	if a.oauth != nil {
		a.oauth.observe(resp)
	}
	if resp.StatusCode/100 == 2 {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			if ctx.Err() != nil {
				return nil, false, ctx.Err()
			}
			return nil, false, collectors.Permanent(fmt.Errorf("okta: org %s: %s: malformed JSON in the response: %v", a.org, endpoint, err))
		}
		return resp.Header, false, nil
	}
	if a.oauth != nil && a.oauth.retryable(resp) {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, true, nil
	}
	return nil, false, a.fail(endpoint, pathQuery, resp)
}

// redactQuery drops query strings from a transport error's quoted URL.
func redactQuery(s string) string {
	if i := strings.Index(s, "?"); i >= 0 {
		if j := strings.IndexAny(s[i:], "\": "); j >= 0 {
			return s[:i] + s[i+j:]
		}
		return s[:i]
	}
	return s
}

// next returns the rel="next" link of resp relative to the org, or "".
// The link is followed as Okta gives it, never rebuilt; a link to another
// host is refused so the token is never sent elsewhere.
func (a *api) next(endpoint string, h http.Header) (string, error) {
	for _, v := range h.Values("Link") {
		for _, part := range strings.Split(v, ",") {
			u, params, ok := strings.Cut(strings.TrimSpace(part), ";")
			if !ok || !strings.Contains(params, `rel="next"`) {
				continue
			}
			u = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(u), "<"), ">")
			return a.relative(endpoint, u)
		}
	}
	return "", nil
}

func (a *api) relative(endpoint, link string) (string, error) {
	rel, ok := strings.CutPrefix(link, a.org)
	if !ok || !strings.HasPrefix(rel, "/") {
		return "", collectors.Permanent(fmt.Errorf("okta: org %s: %s: the next-page link points outside the org (%s); check org_url", a.org, endpoint, hostOf(link)))
	}
	return rel, nil
}

func hostOf(u string) string {
	if i := strings.Index(u, "//"); i >= 0 {
		u = u[i+2:]
	}
	if i := strings.IndexAny(u, "/?"); i >= 0 {
		u = u[:i]
	}
	return u
}

// pages calls fn with each page of a Link-paginated list, decoded into a
// fresh []T, until the last page.
func pages[T any](ctx context.Context, a *api, endpoint, first string, fn func(page []T, pathQuery string, last bool) error) error {
	pq := first
	for pq != "" {
		if err := ctx.Err(); err != nil {
			return err
		}
		var page []T
		h, err := a.get(ctx, endpoint, pq, &page)
		if err != nil {
			return err
		}
		nxt, err := a.next(endpoint, h)
		if err != nil {
			return err
		}
		if err := fn(page, pq, nxt == "" || len(page) == 0); err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		pq = nxt
	}
	return nil
}

// scopeFor is the OAuth 2.0 scope an endpoint needs.
func scopeFor(endpoint string) string {
	switch {
	case strings.Contains(endpoint, "/logs"):
		return "okta.logs.read"
	case strings.Contains(endpoint, "/api-tokens"):
		return "okta.apiTokens.read"
	case strings.Contains(endpoint, "/authenticators"):
		return "okta.authenticators.read"
	case strings.Contains(endpoint, "/roles"), strings.Contains(endpoint, "/iam/"), strings.Contains(endpoint, "/oauth2/v1/clients"):
		return "okta.roles.read"
	case strings.Contains(endpoint, "/apps"):
		return "okta.apps.read"
	case strings.Contains(endpoint, "/groups"):
		return "okta.groups.read"
	case strings.Contains(endpoint, "/policies"):
		return "okta.policies.read"
	}
	return "okta.users.read"
}

// permission says what an endpoint needs: the admin role for an API token
// and the OAuth 2.0 scope for a service app.
func permission(endpoint string) string {
	return "the Read-Only Administrator role (API token) or the OAuth 2.0 scope " + scopeFor(endpoint)
}

// oktaError is Okta's error body.
type oktaError struct {
	ErrorCode    string `json:"errorCode"`
	ErrorSummary string `json:"errorSummary"`
	// OAuth 2.0 errors (token endpoint, DPoP)
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// fail turns a non-success response into a classified error naming the
// org, the endpoint and, for 401/403, what is missing. Only Okta's error
// code and summary are kept from the body; no header value or secret.
func (a *api) fail(endpoint, pathQuery string, resp *http.Response) error {
	var oe oktaError
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&oe)
	method, _, _ := strings.Cut(endpoint, " ")
	path, _, _ := strings.Cut(pathQuery, "?")
	se := &httpx.StatusError{Method: method, URL: a.org + path, Status: resp.StatusCode, Code: oe.ErrorCode, Message: oe.ErrorSummary}
	if se.Code == "" && oe.Error != "" {
		se.Code, se.Message = oe.Error, oe.ErrorDescription
	}
	if desc := authParam(resp.Header.Get("WWW-Authenticate"), "error_description"); desc != "" {
		se.Message = strings.TrimSpace(se.Message + " " + desc)
	}
	status := resp.StatusCode
	switch status {
	case http.StatusUnauthorized:
		if a.oauth != nil {
			se.Hint = "the service app's access token was refused; check client_id, private_key and that the app is granted " + permission(endpoint)
		} else {
			se.Hint = "the API token in " + a.tokenRef + " is invalid, revoked or expired (unused tokens expire after 30 days); create one as an admin with " + permission(endpoint)
		}
	case http.StatusForbidden:
		se.Hint = "the credentials lack the permission for this endpoint; it needs " + permission(endpoint)
	case http.StatusTooManyRequests:
		se.Hint = "the rate limit was still exhausted after waiting for its reset; another integration may share this org's budget"
	default:
		if status >= 500 {
			se.Hint = "Okta kept failing after retries; the next run tries again"
		}
	}
	return fmt.Errorf("okta: org %s: %w", a.org, httpx.Classify(se))
}

// authParam reads one parameter of a WWW-Authenticate challenge.
func authParam(h, name string) string {
	i := strings.Index(h, name+`="`)
	if i < 0 {
		return ""
	}
	v := h[i+len(name)+2:]
	if j := strings.IndexByte(v, '"'); j >= 0 {
		return v[:j]
	}
	return ""
}

// isNotSupported reports whether err is Okta's answer to a feature the org
// does not have (a policy type of the other engine, a missing product).
func isNotSupported(err error) bool {
	var se *httpx.StatusError
	if !errors.As(err, &se) {
		return false
	}
	// 400 E0000001 invalid type, 404 E0000007, 401 E0000015 feature not enabled, 403 E0000038 not available
	return (se.Status == http.StatusBadRequest && se.Code == "E0000001") || se.Status == http.StatusNotFound ||
		se.Code == "E0000015" || se.Code == "E0000038"
}

// isForbidden reports whether err is a 403: the credentials may not read it.
func isForbidden(err error) bool {
	var se *httpx.StatusError
	return errors.As(err, &se) && se.Status == http.StatusForbidden
}
