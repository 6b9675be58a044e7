package jirafake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, f *Fake, path string, auth func(*http.Request)) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.URL+path, nil)
	if auth != nil {
		auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m, resp.Header
}

func TestCloudWire(t *testing.T) {
	f := New(Options{Email: "a@b.c", Token: "tok"})
	defer f.Close()
	f.Generate(GenOptions{N: 30, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), Seed: 1, LongHistoryEvery: 10})
	basic := func(r *http.Request) { r.SetBasicAuth("a@b.c", "tok") }

	if code, m, _ := get(t, f, "/rest/api/2/serverInfo", nil); code != 200 || m["deploymentType"] != "Cloud" {
		t.Fatalf("serverInfo: %d %v", code, m)
	}
	if code, m, _ := get(t, f, "/rest/api/2/myself", func(r *http.Request) { r.SetBasicAuth("a@b.c", "wrong") }); code != 401 || m["errorMessages"] == nil {
		t.Fatalf("bad credentials: %d %v", code, m)
	}
	for _, p := range []string{"/rest/api/2/search?jql=project%3DCHG", "/rest/api/3/search?jql=project%3DCHG"} {
		if code, m, _ := get(t, f, p, basic); code != http.StatusGone || !strings.Contains(m["errorMessages"].([]any)[0].(string), "/rest/api/3/search/jql") {
			t.Fatalf("%s: %d %v", p, code, m)
		}
	}
	if code, m, _ := get(t, f, "/rest/api/3/search/jql?jql="+url.QueryEscape("order by updated"), basic); code != 400 || !strings.Contains(m["errorMessages"].([]any)[0].(string), "Unbounded JQL") {
		t.Fatalf("unbounded: %d %v", code, m)
	}
	// Without fields only ids come back; pages chain by nextPageToken.
	code, m, _ := get(t, f, "/rest/api/3/search/jql?maxResults=4&jql="+url.QueryEscape("project = CHG"), basic)
	if code != 200 || m["isLast"] != false || m["nextPageToken"] == nil {
		t.Fatalf("first page: %d %v", code, m)
	}
	first := m["issues"].([]any)[0].(map[string]any)
	if len(first) != 1 || first["id"] == nil {
		t.Fatalf("issue without fields: %v", first)
	}
	n := len(m["issues"].([]any))
	for tok := m["nextPageToken"]; tok != nil; {
		_, m, _ = get(t, f, "/rest/api/3/search/jql?maxResults=4&fields=summary&jql="+url.QueryEscape("project = CHG")+"&nextPageToken="+url.QueryEscape(tok.(string)), basic)
		n += len(m["issues"].([]any))
		tok = m["nextPageToken"]
		if tok == nil && m["isLast"] != true {
			t.Fatalf("last page without isLast: %v", m)
		}
	}
	if n != 6 {
		t.Fatalf("paged %d CHG issues, want 6", n)
	}
	// Embedded changelogs are one page of 20 whose total counts only the
	// page (PageOfChangelogs); the changelog endpoint has them all.
	_, m, _ = get(t, f, "/rest/api/3/search/jql?expand=changelog&fields=updated&jql="+url.QueryEscape("key = VULN-2"), basic)
	cl := m["issues"].([]any)[0].(map[string]any)["changelog"].(map[string]any)
	if int(cl["total"].(float64)) != 20 || len(cl["histories"].([]any)) != 20 {
		t.Fatalf("embedded changelog: total %v, %d histories", cl["total"], len(cl["histories"].([]any)))
	}
	is, _ := f.Issue("VULN-2")
	total := len(is.Histories)
	_, m, _ = get(t, f, "/rest/api/3/issue/VULN-2/changelog?startAt=40&maxResults=100", basic)
	if total < 50 || int(m["total"].(float64)) != total || len(m["values"].([]any)) != total-40 || m["isLast"] != true {
		t.Fatalf("changelog page: %v", m)
	}
	// JQL errors in Jira's words.
	for jql, want := range map[string]string{
		"project = CHG AND issuetype Change": "Expecting operator but got 'Change'",
		"project = NOPE":                     "The value 'NOPE' does not exist for the field 'project'.",
		"foo = bar":                          "Field 'foo' does not exist",
		`updated >= "30/11/2026"`:            "Date value '30/11/2026' for field 'updated' is invalid",
	} {
		code, m, _ := get(t, f, "/rest/api/3/search/jql?jql="+url.QueryEscape(jql), basic)
		if code != 400 || !strings.Contains(m["errorMessages"].([]any)[0].(string), want) {
			t.Errorf("%q: %d %v, want %q", jql, code, m, want)
		}
	}
	f.Throttle(1)
	if code, _, h := get(t, f, "/rest/api/3/search/jql?jql="+url.QueryEscape("project = CHG"), basic); code != 429 || h.Get("Retry-After") == "" {
		t.Fatalf("throttle: %d %v", code, h)
	}
}

func TestDataCenterWire(t *testing.T) {
	f := New(Options{Deployment: DataCenter, Token: "pat"})
	defer f.Close()
	f.Generate(GenOptions{N: 10, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), Seed: 1, LongHistoryEvery: 5})
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer pat") }
	if _, m, _ := get(t, f, "/rest/api/2/serverInfo", nil); m["deploymentType"] == "Cloud" {
		t.Fatalf("serverInfo: %v", m)
	}
	code, m, _ := get(t, f, "/rest/api/2/search?startAt=1&maxResults=1&expand=changelog&jql="+url.QueryEscape("project = CHG"), bearer)
	if code != 200 || m["total"].(float64) != 2 || m["startAt"].(float64) != 1 {
		t.Fatalf("DC search: %d %v", code, m)
	}
	cl := m["issues"].([]any)[0].(map[string]any)["changelog"].(map[string]any)
	if int(cl["total"].(float64)) != len(cl["histories"].([]any)) {
		t.Fatalf("DC embeds the full changelog: %v of %v", len(cl["histories"].([]any)), cl["total"])
	}
	if code, _, _ := get(t, f, "/rest/api/3/search/jql?jql=project%3DCHG", bearer); code != 404 {
		t.Fatalf("DC has no search/jql: %d", code)
	}
}

func post(t *testing.T, f *Fake, path, body string, auth func(*http.Request)) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth != nil {
		auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m, resp.Header
}

func TestCloudWireAdditions(t *testing.T) {
	f := New(Options{Email: "a@b.c", Token: "tok", ScopedToken: "scoped", Scopes: []string{"read:jira-work"}, RateLimit: &RateLimit{PerSecond: 1, Burst: 40}})
	defer f.Close()
	f.Generate(GenOptions{N: 10, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), Seed: 1, LongHistoryEvery: 5, ServiceDesk: true})
	basic := func(r *http.Request) { r.SetBasicAuth("a@b.c", "tok") }
	scoped := func(r *http.Request) { r.SetBasicAuth("a@b.c", "scoped") }
	is, _ := f.Issue("VULN-1")
	other, _ := f.Issue("CHG-1")
	// bulkfetch pages all histories of the issues, oldest first
	n, tok := 0, ""
	for i := 0; ; i++ {
		body := fmt.Sprintf(`{"issueIdsOrKeys":[%q,%q],"maxResults":7,"nextPageToken":%q}`, is.ID, other.ID, tok)
		code, m, _ := post(t, f, "/rest/api/3/changelog/bulkfetch", body, basic)
		if code != 200 {
			t.Fatalf("bulkfetch: %d %v", code, m)
		}
		for _, l := range m["issueChangeLogs"].([]any) {
			n += len(l.(map[string]any)["changeHistories"].([]any))
		}
		next, ok := m["nextPageToken"].(string)
		if !ok {
			break
		}
		tok = next
	}
	if n != len(is.Histories)+len(other.Histories) {
		t.Fatalf("bulkfetch returned %d histories, want %d", n, len(is.Histories)+len(other.Histories))
	}
	if code, m, _ := post(t, f, "/rest/api/3/search/approximate-count", `{"jql":"project = CHG"}`, basic); code != 200 || m["count"] != float64(2) {
		t.Fatalf("count: %d %v", code, m)
	}
	if code, _, _ := post(t, f, "/rest/api/3/search/approximate-count", `{"jql":"order by key"}`, basic); code != 400 {
		t.Fatalf("unbounded count: %d", code)
	}
	if code, _, _ := get(t, f, "/rest/api/3/auditing/record", basic); code != 403 {
		t.Fatalf("audit without Administer Jira: %d", code)
	}
	if code, m, _ := get(t, f, "/rest/servicedeskapi/request/CHG-1/approval", basic); code != 200 || len(m["values"].([]any)) != len(other.Approvals) {
		t.Fatalf("approvals: %d %v", code, m)
	}
	if code, _, _ := get(t, f, "/rest/servicedeskapi/request/VULN-1/approval", basic); code != 404 {
		t.Fatalf("approvals of a software project: %d", code)
	}
	// the gateway: tenant_info, scoped tokens only there, scopes enforced
	_, m, _ := get(t, f, "/_edge/tenant_info", nil)
	gw := "/ex/jira/" + m["cloudId"].(string)
	if code, _, _ := get(t, f, "/rest/api/3/myself", scoped); code != 401 {
		t.Fatalf("scoped token at the site: %d", code)
	}
	if code, _, _ := get(t, f, gw+"/rest/api/3/field", scoped); code != 200 {
		t.Fatalf("scoped token at the gateway: %d", code)
	}
	if code, m, _ := get(t, f, gw+"/rest/api/3/myself", scoped); code != 401 || !strings.Contains(m["message"].(string), "scope does not match") {
		t.Fatalf("missing scope: %d %v", code, m)
	}
	// burst limit: refused with Retry-After, and refused again during it
	for i := 0; i < 60; i++ {
		get(t, f, "/rest/api/3/field", basic)
	}
	code, _, h := get(t, f, "/rest/api/3/field", basic)
	if code != 429 || h.Get("Retry-After") == "" || h.Get("RateLimit-Reason") != "jira-burst-based" || f.Count("during_retry_after") == 0 {
		t.Fatalf("burst: %d %v (%d during Retry-After)", code, h, f.Count("during_retry_after"))
	}
}
