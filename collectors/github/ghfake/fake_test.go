package ghfake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
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

// GET /orgs/{org}/audit-log as GitHub documents it: Enterprise Cloud and
// owners only, 30 events of the past three months newest first by default,
// after/before cursors in the Link header, Git events only on request.
func TestAuditLogWire(t *testing.T) {
	org := Generate(Options{Repos: 3, MergedPerRepo: 1, AuditEvents: 80})
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	org.AddAuditEvent(AuditEvent{DocumentID: "git-1", At: now.Add(-time.Hour), Action: "git.push", Actor: "dev001", Repo: "acme/service-001", Git: true})
	s := New(org, map[string]Token{"owner": {Scopes: []string{"read:audit_log"}, Owner: true}, "member": {Scopes: []string{"read:audit_log"}},
		"noscope": {Scopes: []string{"read:org"}, Owner: true}})
	defer s.Close()
	s.Now = func() time.Time { return now }
	type ev struct {
		TS  int64  `json:"@timestamp"`
		ID  string `json:"_document_id"`
		Act string `json:"action"`
	}
	list := func(r *http.Response) []ev {
		var out []ev
		if err := json.NewDecoder(r.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	r := get(t, s.URL+"/orgs/acme/audit-log", "owner", "")
	page := list(r)
	if r.StatusCode != 200 || len(page) != 30 || page[0].TS < page[29].TS {
		t.Fatalf("default page: status %d, %d events, want 30 newest first", r.StatusCode, len(page))
	}
	for _, e := range page {
		if e.TS < now.AddDate(0, -3, 0).UnixMilli() || e.Act == "git.push" {
			t.Errorf("default page holds %s at %d (older than three months, or a Git event)", e.ID, e.TS)
		}
	}
	next := r.Header.Get("Link")
	if !strings.Contains(next, "/organizations/1000/audit-log?") || !strings.Contains(next, "after=") || !strings.Contains(next, `rel="next"`) {
		t.Fatalf("Link %q", next)
	}
	u := strings.Trim(strings.Split(next, ";")[0], "<>")
	r2 := get(t, u, "owner", "")
	page2 := list(r2)
	if len(page2) != 30 || page2[0].TS > page[29].TS || page2[0].ID == page[29].ID {
		t.Fatalf("second page does not continue after the first")
	}
	if !strings.Contains(r2.Header.Get("Link"), `rel="prev"`) {
		t.Errorf("second page has no prev link: %q", r2.Header.Get("Link"))
	}
	// created: and action: qualifiers, include=git, ascending order.
	q := url.Values{"phrase": {"action:org created:>=2026-11-01"}, "order": {"asc"}, "per_page": {"100"}}
	for _, e := range list(get(t, s.URL+"/orgs/acme/audit-log?"+q.Encode(), "owner", "")) {
		if !strings.HasPrefix(e.Act, "org.") || e.TS < time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixMilli() {
			t.Errorf("phrase %q matched %s %s", q.Get("phrase"), e.ID, e.Act)
		}
	}
	if g := list(get(t, s.URL+"/orgs/acme/audit-log?include=git", "owner", "")); len(g) != 1 || g[0].ID != "git-1" {
		t.Errorf("include=git: %v", g)
	}
	// Refusals: not an owner, no audit scope, not Enterprise Cloud.
	if r := get(t, s.URL+"/orgs/acme/audit-log", "member", ""); r.StatusCode != 403 {
		t.Errorf("member: %d, want 403", r.StatusCode)
	}
	if r := get(t, s.URL+"/orgs/acme/audit-log", "noscope", ""); r.StatusCode != 403 || !strings.Contains(r.Header.Get("X-Accepted-OAuth-Scopes"), "read:audit_log") {
		t.Errorf("token without read:audit_log: %d %q", r.StatusCode, r.Header.Get("X-Accepted-OAuth-Scopes"))
	}
	s.Update(func(o *Org) { o.EnterpriseCloud = false })
	if r := get(t, s.URL+"/orgs/acme/audit-log", "owner", ""); r.StatusCode != 404 {
		t.Errorf("not on Enterprise Cloud: %d, want 404", r.StatusCode)
	}
}
