package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	oktasdk "github.com/okta/okta-sdk-golang/v2/okta"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/httpx"
)

// api is the thin layer between the evidence functions and the Okta SDK:
// authenticated requests through the SDK's RequestExecutor, Link-header
// pagination followed verbatim, and errors classified and explained.
type api struct {
	cl       *oktasdk.Client
	org      string // org URL without a trailing slash
	tokenRef string // the configured reference (env:NAME), never the value
	oauth    bool
	clientID string
	scopes   []string // requested by the service app
}

// scoped puts each request into the rate-limit budget of its Okta endpoint
// family, so the shared httpx transport keeps one budget per family as
// Okta does.
type scoped struct{ base http.RoundTripper }

func (s scoped) RoundTrip(r *http.Request) (*http.Response, error) {
	return s.base.RoundTrip(r.WithContext(httpx.WithScope(r.Context(), "okta "+family(r.URL.Path))))
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
	case (name == "users" || name == "groups") && sub != "":
		return name + "/{id}"
	case name == "users", name == "groups", name == "logs", name == "policies", name == "iam", name == "apps":
		return name
	}
	return "other"
}

// get fetches one resource (path with query, relative to the org) into v.
// endpoint names the operation in errors ("GET /api/v1/users/{id}/factors").
func (a *api) get(ctx context.Context, endpoint, pathQuery string, v any) (*oktasdk.Response, error) {
	re := a.cl.CloneRequestExecutor()
	req, err := re.WithAccept("application/json").NewRequest(http.MethodGet, pathQuery, nil)
	if err != nil {
		return nil, a.fail(ctx, endpoint, nil, err)
	}
	resp, err := re.Do(ctx, req, v)
	if err != nil {
		return resp, a.fail(ctx, endpoint, resp, err)
	}
	return resp, nil
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
	u = u[strings.Index(u, "//")+2:]
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
		resp, err := a.get(ctx, endpoint, pq, &page)
		if err != nil {
			return err
		}
		nxt, err := a.next(endpoint, resp.Header)
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

// permission says what an endpoint needs: the admin role for an API token
// and the OAuth 2.0 scope for a service app.
func permission(endpoint string) string {
	scope := "okta.users.read"
	switch {
	case strings.Contains(endpoint, "/logs"):
		scope = "okta.logs.read"
	case strings.Contains(endpoint, "/roles"), strings.Contains(endpoint, "/iam/"):
		scope = "okta.roles.read"
	case strings.Contains(endpoint, "/apps"):
		scope = "okta.apps.read"
	case strings.Contains(endpoint, "/groups"):
		scope = "okta.groups.read"
	case strings.Contains(endpoint, "/policies"):
		scope = "okta.policies.read"
	}
	return "the Read-Only Administrator role (API token) or the OAuth 2.0 scope " + scope
}

// fail turns an SDK or transport error into a classified error naming the
// org, the endpoint and, for 401/403, what is missing. No body, header or
// secret goes into the message.
func (a *api) fail(ctx context.Context, endpoint string, resp *oktasdk.Response, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var oe *oktasdk.Error
	status := 0
	if resp != nil && resp.Response != nil {
		status = resp.StatusCode
	}
	method, path, _ := strings.Cut(endpoint, " ")
	se := &httpx.StatusError{Method: method, URL: a.org + path, Status: status}
	switch {
	case errors.As(err, &oe) && status == 0 && a.oauth:
		// Before any API response, only the service app's token request
		// answers with an Okta error.
		msg := fmt.Errorf("okta: org %s: POST %s/oauth2/v1/token (client_id %s, needed for %s): %s: %s (hint: grant the service app the scopes %s under Okta API Scopes and the Read-Only Administrator role, or narrow `evidence`/`scopes`; check client_id and that private_key matches the app's public key)",
			a.org, a.org, a.clientID, endpoint, oe.ErrorMessage, oe.ErrorDescription, strings.Join(a.scopes, " "))
		if oe.ErrorMessage == "" {
			return collectors.Retryable(msg)
		}
		return collectors.Permanent(msg)
	case errors.As(err, &oe) && status != 0:
		se.Code, se.Message = oe.ErrorCode, oe.ErrorSummary
		switch status {
		case http.StatusUnauthorized:
			if a.oauth {
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
	case err.Error() == "too many requests":
		// The SDK's own 429 handling (retries disabled) reports this after
		// the shared transport has already waited and retried.
		se.Status, se.Code = http.StatusTooManyRequests, "E0000047"
		se.Hint = "the rate limit was still exhausted after waiting for its reset; another integration may share this org's budget"
		return fmt.Errorf("okta: org %s: %w", a.org, httpx.Classify(se))
	case isDecodeError(err):
		return collectors.Permanent(fmt.Errorf("okta: org %s: %s: malformed JSON in the response: %v", a.org, endpoint, err))
	case collectors.IsClassified(err):
		return fmt.Errorf("okta: org %s: %s: %w", a.org, endpoint, err)
	case collectors.IsRetryable(err):
		return collectors.Retryable(fmt.Errorf("okta: org %s: %s: %w", a.org, endpoint, err))
	}
	return collectors.Permanent(fmt.Errorf("okta: org %s: %s: %w", a.org, endpoint, err))
}

func isDecodeError(err error) bool {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	return errors.As(err, &se) || errors.As(err, &te) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.HasPrefix(err.Error(), "could not build a response for type")
}
