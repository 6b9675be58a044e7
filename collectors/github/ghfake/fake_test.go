package ghfake

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func get(t *testing.T, url, token, etag string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func body(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// The fake's wire behaviour, as GitHub documents it.
func TestWireBehaviour(t *testing.T) {
	s := New(Generate(Options{Repos: 120, MergedPerRepo: 2}), map[string]Token{"tok": {Scopes: []string{"repo", "read:org"}}})
	defer s.Close()

	// Link pagination, per_page capped at 100, rate-limit headers.
	r := get(t, s.URL+"/orgs/acme/repos?per_page=500", "tok", "")
	link := r.Header.Get("Link")
	if r.StatusCode != 200 || !strings.Contains(link, `page=2`) || !strings.Contains(link, `rel="next"`) || !strings.Contains(link, `rel="last"`) {
		t.Fatalf("status %d, Link %q", r.StatusCode, link)
	}
	if n := strings.Count(body(r), `"full_name"`); n != 100 {
		t.Fatalf("%d repositories on a page, want 100", n)
	}
	for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-RateLimit-Used", "X-RateLimit-Resource"} {
		if r.Header.Get(h) == "" {
			t.Errorf("missing %s", h)
		}
	}
	remaining := r.Header.Get("X-RateLimit-Remaining")

	// A 304 does not count against the rate limit.
	r2 := get(t, s.URL+"/orgs/acme/repos?per_page=500", "tok", r.Header.Get("ETag"))
	if r2.StatusCode != http.StatusNotModified || r2.Header.Get("X-RateLimit-Remaining") != remaining {
		t.Fatalf("conditional request: status %d, remaining %s (was %s)", r2.StatusCode, r2.Header.Get("X-RateLimit-Remaining"), remaining)
	}

	// Error bodies.
	if r := get(t, s.URL+"/orgs/acme", "wrong", ""); r.StatusCode != 401 || !strings.Contains(body(r), `"Bad credentials"`) {
		t.Errorf("bad token: %d", r.StatusCode)
	}
	r = get(t, s.URL+"/repos/acme/service-010/branches/main/protection", "tok", "")
	if r.StatusCode != 404 || !strings.Contains(body(r), `"Branch not protected"`) {
		t.Errorf("unprotected branch: %d", r.StatusCode)
	}
	r = get(t, s.URL+"/repos/acme/service-005/dependabot/alerts", "tok", "")
	if r.StatusCode != 403 || !strings.Contains(body(r), "Dependabot alerts are disabled") {
		t.Errorf("disabled alerts: %d", r.StatusCode)
	}
	r = get(t, s.URL+"/repos/acme/service-003/dependabot/alerts?page=2", "tok", "")
	if r.StatusCode != 400 {
		t.Errorf("dependabot alerts with page=: %d, want 400 (cursor pagination only)", r.StatusCode)
	}
	s2 := New(Generate(Options{Repos: 2}), map[string]Token{"narrow": {Scopes: []string{"repo"}}})
	defer s2.Close()
	r = get(t, s2.URL+"/orgs/acme/members", "narrow", "")
	if r.StatusCode != 403 || r.Header.Get("X-Accepted-OAuth-Scopes") == "" || r.Header.Get("X-OAuth-Scopes") != "repo" {
		t.Errorf("missing scope: %d %v", r.StatusCode, r.Header)
	}
}
