package jira_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/jira"
	"github.com/tickmark-dev/tickmark/collectors/jira/jirafake"
)

const (
	testEmail = "compliance-bot@acme.test"
	testToken = "jira-test-token-7f3a9c"
)

var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func newFake(t testing.TB, o jirafake.Options) *jirafake.Fake {
	t.Helper()
	if o.Email == "" {
		o.Email = testEmail
	}
	if o.Token == "" {
		o.Token = testToken
	}
	f := jirafake.New(o)
	t.Cleanup(f.Close)
	return f
}

// allQueries are the five example queries over the sample data.
const allQueries = `
queries:
  - name: changes
    jql: project = CHG AND issuetype = Change
    evidence_type: jira.change_tickets
    controls: [CC8.1]
  - name: incidents
    jql: project = SEC AND issuetype = Incident
    evidence_type: jira.incidents
  - name: access
    jql: project = ACC AND (issuetype = "Access Request")
    evidence_type: jira.access_requests
  - name: offboarding
    jql: (project = ACC) AND issuetype = Offboarding
    evidence_type: jira.offboarding
  - name: vulns
    jql: project = VULN AND issuetype = Vulnerability
    evidence_type: jira.vulnerabilities
`

func config(url, deployment, extra string) string {
	return fmt.Sprintf("base_url: %s\ndeployment: %s\nemail: %s\ntoken: env:JIRA_TEST_TOKEN\napprover_field: customfield_10050\n%s",
		url, deployment, testEmail, extra)
}

// pageArtifacts drops the jira.population artifacts.
func pageArtifacts(as []collectortest.Artifact) []collectortest.Artifact {
	var out []collectortest.Artifact
	for _, a := range as {
		if a.Type != "jira.population" {
			out = append(out, a)
		}
	}
	return out
}

// populations returns the jira.population bodies.
func populations(t testing.TB, as []collectortest.Artifact) []jira.PopulationBody {
	t.Helper()
	var out []jira.PopulationBody
	for _, a := range as {
		if a.Type != "jira.population" {
			continue
		}
		var p jira.PopulationBody
		if err := json.Unmarshal(a.Body, &p); err != nil {
			t.Fatalf("population body is not JSON: %v", err)
		}
		out = append(out, p)
	}
	return out
}

func pages(t testing.TB, as []collectortest.Artifact) []jira.PageBody {
	t.Helper()
	out := make([]jira.PageBody, 0, len(as))
	for _, a := range pageArtifacts(as) {
		var p jira.PageBody
		if err := json.Unmarshal(a.Body, &p); err != nil {
			t.Fatalf("artifact %s body is not JSON: %v", a.Type, err)
		}
		out = append(out, p)
	}
	return out
}

func tickets(t testing.TB, as []collectortest.Artifact) []jira.Ticket {
	var out []jira.Ticket
	for _, p := range pages(t, as) {
		out = append(out, p.Tickets...)
	}
	return out
}

// versions returns key@updated for every ticket collected.
func versions(t testing.TB, as []collectortest.Artifact) []string {
	var out []string
	for _, tk := range tickets(t, as) {
		out = append(out, tk.Key+"@"+tk.Updated)
	}
	return out
}

func itemsOf(a collectortest.Artifact) []string {
	var p jira.PageBody
	if err := json.Unmarshal(a.Body, &p); err != nil {
		return []string{"unparseable:" + a.SHA256}
	}
	var out []string
	for _, tk := range p.Tickets {
		out = append(out, tk.Key+"@"+tk.Updated)
	}
	return out
}

// wantChanges flattens an issue's changelog into the transitions the
// collector must report: every item (the fake records status and approver
// changes only), oldest first, the approver field named by its ID.
func wantChanges(is jirafake.Issue) []jira.Change {
	var out []jira.Change
	for _, h := range is.Histories {
		for _, it := range h.Items {
			field := it.FieldID
			if it.Field == jirafake.ApproverFieldName {
				field = "customfield_10050"
			}
			out = append(out, jira.Change{Field: field, From: it.FromString, To: it.ToString,
				Author: &jira.Person{AccountID: h.Author.AccountID}, At: h.Created.UTC().Format("2006-01-02T15:04:05.000Z"), HistoryID: h.ID})
		}
	}
	return out
}

func sampleData(f *jirafake.Fake, n int) []string {
	return f.Generate(jirafake.GenOptions{N: n, Start: now.Add(-60 * 24 * time.Hour), End: now.Add(-2 * time.Hour), Seed: 7, LongHistoryEvery: 10})
}

func TestConformance(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	t.Setenv("JIRA_WRONG_TOKEN", "not-the-token")
	// A zone west of UTC: a collector writing JQL dates in UTC would read
	// them hours late and miss the tickets of the Grow step.
	f := newFake(t, jirafake.Options{TimeZone: "America/Los_Angeles"})
	sampleData(f, 60)
	cfg := config(f.URL, "auto", "page_size: 5\n"+allQueries)
	grown := 0
	collectortest.Suite{
		Type:    "jira",
		Config:  cfg,
		Secrets: []string{testToken},
		Items:   itemsOf,
		Grow: func() {
			grown++
			f.Add(jirafake.Issue{Key: fmt.Sprintf("CHG-%d", 900+grown), Project: "CHG", Type: "Change", Summary: "new change",
				Status: "Open", Created: now.Add(20 * time.Minute), Updated: now.Add(20 * time.Minute)})
			if err := f.Transition("SEC-1", "Resolved", jirafake.People[0], now.Add(30*time.Minute)); err != nil {
				t.Fatal(err)
			}
		},
		Failures: []collectortest.Failure{
			{
				Name:            "BadCredentials",
				Config:          strings.Replace(cfg, "env:JIRA_TEST_TOKEN", "env:JIRA_WRONG_TOKEN", 1),
				MessageContains: []string{"jira", "/rest/api/2/myself", "HTTP 401", "API token"},
			},
			{
				Name:   "JQLSyntaxError",
				Config: config(f.URL, "cloud", "queries:\n  - name: broken\n    jql: project = CHG AND issuetype Change\n"),
				MessageContains: []string{`query "broken"`, "/rest/api/3/search/jql", "HTTP 400",
					"Error in the JQL Query: Expecting operator but got 'Change'"},
			},
			{
				Name:            "UnknownProject",
				Config:          config(f.URL, "cloud", "queries:\n  - name: nope\n    jql: project = NOPE\n"),
				MessageContains: []string{"The value 'NOPE' does not exist for the field 'project'."},
			},
			{
				Name:            "RateLimitStorm",
				Setup:           func() func() { f.SetFailure(jirafake.RateLimitStorm); return func() { f.SetFailure(jirafake.None) } },
				Retryable:       true,
				MessageContains: []string{"jira", "/rest/api/3/search/jql", "HTTP 429"},
			},
			{
				Name:            "MalformedJSON",
				Setup:           func() func() { f.SetFailure(jirafake.MalformedJSON); return func() { f.SetFailure(jirafake.None) } },
				MessageContains: []string{"jira", "/rest/api/3/search/jql", "malformed JSON"},
			},
		},
		Now: now,
	}.Run(t)
}

func TestThousandsOfTickets(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{})
	keys := sampleData(f, 2000)
	c := collectortest.Build(t, "jira", config(f.URL, "cloud", allQueries))
	res := collectortest.Run(t, c, collectortest.Options{Now: now})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	got := map[string]int{}
	for _, tk := range tickets(t, res.Committed) {
		got[tk.Key]++
		want, _ := f.Issue(tk.Key)
		if tk.Status != want.Status || tk.Summary != want.Summary || tk.Type != want.Type {
			t.Fatalf("%s: got status %q type %q, want %q %q", tk.Key, tk.Status, tk.Type, want.Status, want.Type)
		}
		if len(tk.Transitions) != len(wantChanges(want)) {
			t.Fatalf("%s: %d transitions, want %d", tk.Key, len(tk.Transitions), len(wantChanges(want)))
		}
		if len(tk.Approvers) != len(want.Approvers) {
			t.Fatalf("%s: %d approvers, want %d", tk.Key, len(tk.Approvers), len(want.Approvers))
		}
		if len(tk.RemoteLinks) != len(want.RemoteLinks) {
			t.Fatalf("%s: %d remote links, want %d", tk.Key, len(tk.RemoteLinks), len(want.RemoteLinks))
		}
		for i, rl := range want.RemoteLinks {
			if got := tk.RemoteLinks[i]; got.URL != rl.URL || !got.PullRequest {
				t.Fatalf("%s: remote link %+v, want pull request %s", tk.Key, got, rl.URL)
			}
		}
		if len(tk.Links) != len(want.Links) {
			t.Fatalf("%s: %d issue links, want %d", tk.Key, len(tk.Links), len(want.Links))
		}
		for i, l := range want.Links {
			if got := tk.Links[i]; got.Key != l.Key || got.Direction != l.Direction || got.Relation != l.Outward {
				t.Fatalf("%s: link %+v, want %+v", tk.Key, got, l)
			}
		}
		if tk.Reporter == nil || tk.Reporter.AccountID != want.Reporter.AccountID || tk.Created != want.Created.UTC().Format("2006-01-02T15:04:05.000Z") {
			t.Fatalf("%s: reporter %+v created %s", tk.Key, tk.Reporter, tk.Created)
		}
		for i, ap := range want.Approvers {
			if tk.Approvers[i].AccountID != ap.AccountID {
				t.Fatalf("%s: approver %d = %+v, want %s", tk.Key, i, tk.Approvers[i], ap.AccountID)
			}
		}
		if len(tk.Raw.Issue) == 0 {
			t.Fatalf("%s: raw issue JSON missing", tk.Key)
		}
	}
	for _, k := range keys {
		if got[k] != 1 {
			t.Fatalf("%s collected %d times, want exactly once", k, got[k])
		}
	}
	if len(got) != len(keys) {
		t.Fatalf("collected %d tickets, want %d", len(got), len(keys))
	}
	// one artifact per page, each typed and controlled by its query
	for _, a := range pageArtifacts(res.Committed) {
		if a.Source.Items == 0 || a.Source.Items > 100 || !a.Source.Complete || a.Source.System != "jira" {
			t.Fatalf("artifact source %+v", a.Source)
		}
		if a.Type == "jira.change_tickets" && strings.Join(a.Controls, ",") != "CC8.1" {
			t.Fatalf("change artifact controls %v", a.Controls)
		}
	}
	if n := f.Count("removed"); n != 0 {
		t.Fatalf("collector called the removed search endpoints %d times", n)
	}
}

func TestLongHistoriesAreComplete(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{})
	keys := f.Generate(jirafake.GenOptions{N: 12, Start: now.Add(-30 * 24 * time.Hour), End: now.Add(-time.Hour), Seed: 3, LongHistoryEvery: 2})
	c := collectortest.Build(t, "jira", config(f.URL, "cloud", allQueries))
	res := collectortest.Run(t, c, collectortest.Options{Now: now})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	long := 0
	for _, tk := range tickets(t, res.Committed) {
		want, _ := f.Issue(tk.Key)
		if len(want.Histories) < 50 {
			continue
		}
		long++
		changes := wantChanges(want)
		if len(tk.Transitions) != len(changes) || tk.ChangelogEntries != len(want.Histories) {
			t.Fatalf("%s: %d transitions (%d entries), want all %d (%d entries)", tk.Key, len(tk.Transitions), tk.ChangelogEntries, len(changes), len(want.Histories))
		}
		for i, w := range changes {
			tr := tk.Transitions[i]
			if tr.Field != w.Field || tr.To != w.To || tr.From != w.From || tr.Author == nil || tr.Author.AccountID != w.Author.AccountID || tr.At != w.At {
				t.Fatalf("%s transition %d = %+v, want %+v", tk.Key, i, tr, w)
			}
		}
		if len(tk.History) != len(want.Histories) || tk.ChangelogSource != "bulkfetch" || !tk.ChangelogComplete {
			t.Fatalf("%s: %d history entries from %s (complete %v), want %d", tk.Key, len(tk.History), tk.ChangelogSource, tk.ChangelogComplete, len(want.Histories))
		}
	}
	if long != len(keys)/2 {
		t.Fatalf("checked %d long tickets, want %d", long, len(keys)/2)
	}
	if f.Count("bulkfetch") == 0 {
		t.Fatalf("the bulk changelog endpoint was never called")
	}
}

func TestTicketsUpdatedDuringRun(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{})
	keys := f.Generate(jirafake.GenOptions{N: 100, Start: now.Add(-30 * 24 * time.Hour), End: now.Add(-2 * time.Hour), Seed: 11})
	// Tickets of the first page move to the end while the run pages: an
	// offset-paged search would then skip tickets at later page boundaries.
	var moved []string
	f.AfterSearch = func(n int) {
		if n >= 2 && n <= 4 {
			k := fmt.Sprintf("CHG-%d", n) // early CHG tickets
			if err := f.Transition(k, "Done", jirafake.People[1], now.Add(-time.Hour+time.Duration(n)*time.Minute)); err == nil {
				moved = append(moved, k)
			}
		}
	}
	c := collectortest.Build(t, "jira", config(f.URL, "cloud", "page_size: 5\nqueries:\n  - name: changes\n    jql: project = CHG\n    evidence_type: jira.change_tickets\n"))
	res := collectortest.Run(t, c, collectortest.Options{Now: now})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	seen := map[string][]jira.Ticket{}
	for _, tk := range tickets(t, res.Committed) {
		seen[tk.Key] = append(seen[tk.Key], tk)
	}
	for _, k := range keys {
		if strings.HasPrefix(k, "CHG-") && len(seen[k]) == 0 {
			t.Errorf("%s was never collected", k)
		}
	}
	if len(moved) != 3 {
		t.Fatalf("moved %v", moved)
	}
	for _, k := range moved {
		vs := seen[k]
		last := vs[len(vs)-1]
		want, _ := f.Issue(k)
		if last.Status != "Done" || len(last.Transitions) != len(wantChanges(want)) {
			t.Errorf("%s: last collected version has status %q and %d transitions, want Done and %d", k, last.Status, len(last.Transitions), len(wantChanges(want)))
		}
	}
	// every version at most once
	for k, vs := range seen {
		u := map[string]bool{}
		for _, v := range vs {
			if u[v.Updated] {
				t.Errorf("%s@%s collected twice", k, v.Updated)
			}
			u[v.Updated] = true
		}
	}
}

func TestIncrementalExactlyOnce(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{TimeZone: "Asia/Kolkata"})
	keys := sampleData(f, 300)
	cfg := config(f.URL, "cloud", allQueries)
	first := collectortest.Run(t, collectortest.Build(t, "jira", cfg), collectortest.Options{Now: now})
	if first.Err != nil {
		t.Fatal(first.Err)
	}
	if n := len(tickets(t, first.Committed)); n != len(keys) {
		t.Fatalf("first run collected %d tickets, want %d", n, len(keys))
	}
	// Between runs: three tickets move on, one is created, and one was
	// updated just before the first run's end but indexed late (it
	// appears only now, inside the overlap).
	changed := []string{"CHG-3", "SEC-7", "VULN-2"}
	for i, k := range changed {
		if err := f.Transition(k, "Resolved", jirafake.People[2], now.Add(time.Duration(10+i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	f.Add(jirafake.Issue{Key: "ACC-999", Project: "ACC", Type: "Offboarding", Summary: "leaver", Status: "Open",
		Created: now.Add(15 * time.Minute), Updated: now.Add(15 * time.Minute)})
	f.Add(jirafake.Issue{Key: "CHG-998", Project: "CHG", Type: "Change", Summary: "late index", Status: "Open",
		Created: now.Add(-3 * time.Minute), Updated: now.Add(-3 * time.Minute)})
	f.ResetCounts()
	second := collectortest.Run(t, collectortest.Build(t, "jira", cfg), collectortest.Options{Now: now.Add(time.Hour), Cursor: first.Cursor})
	if second.Err != nil {
		t.Fatal(second.Err)
	}
	got := []string{}
	for _, tk := range tickets(t, second.Committed) {
		got = append(got, tk.Key)
	}
	sort.Strings(got)
	want := []string{"ACC-999", "CHG-3", "CHG-998", "SEC-7", "VULN-2"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("second run collected %v, want only the changed tickets %v", got, want)
	}
	if n := f.Count("remotelink"); n != len(want) {
		t.Fatalf("second run read remote links of %d tickets, want %d (only changed tickets)", n, len(want))
	}
	// The incremental window's population (overlap included) reconciles too.
	for _, p := range populations(t, second.Committed) {
		if p.JiraCount == nil || *p.JiraCount != p.Collected || p.Reconciled == nil || !*p.Reconciled || p.Emitted > p.Collected {
			t.Fatalf("second run %s: collected %d (emitted %d), Jira %v: %s", p.Query.Name, p.Collected, p.Emitted, p.JiraCount, p.Finding)
		}
	}
	// no overlap duplicates across the two runs
	all := append(versions(t, first.Committed), versions(t, second.Committed)...)
	dup := map[string]bool{}
	for _, v := range all {
		if dup[v] {
			t.Fatalf("%s collected in both runs", v)
		}
		dup[v] = true
	}
	third := collectortest.Run(t, collectortest.Build(t, "jira", cfg), collectortest.Options{Now: now.Add(2 * time.Hour), Cursor: second.Cursor})
	if third.Err != nil || len(pageArtifacts(third.Committed)) != 0 {
		t.Fatalf("third run with no changes: err %v, %d artifacts", third.Err, len(third.Committed))
	}
	// The JQL dates are written in the account's time zone (IST, +05:30).
	p := pages(t, second.Committed)[0]
	if !strings.Contains(p.Query.Executed, `updated < "2026-11-30 18:30"`) || p.Window.TimeZone != "Asia/Kolkata" {
		t.Fatalf("executed JQL %q (zone %s) is not in the account's time zone", p.Query.Executed, p.Window.TimeZone)
	}
}

func TestDataCenter(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{Deployment: jirafake.DataCenter})
	keys := sampleData(f, 150)
	// deployment auto with an email (a config shared with a Cloud site):
	// Data Center still gets the token as a personal access token.
	cfg := fmt.Sprintf("base_url: %s\ndeployment: auto\nemail: %s\ntoken: env:JIRA_TEST_TOKEN\napprover_field: customfield_10050\npage_size: 20\n%s", f.URL, testEmail, allQueries)
	res := collectortest.Run(t, collectortest.Build(t, "jira", cfg), collectortest.Options{Now: now})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	ts := tickets(t, res.Committed)
	if len(ts) != len(keys) {
		t.Fatalf("collected %d tickets, want %d", len(ts), len(keys))
	}
	for _, tk := range ts {
		want, _ := f.Issue(tk.Key)
		changes := wantChanges(want)
		if len(tk.Transitions) != len(changes) {
			t.Fatalf("%s: %d transitions, want %d", tk.Key, len(tk.Transitions), len(changes))
		}
		for i, w := range changes {
			// Data Center names the approver field only by its display name.
			if tk.Transitions[i].Field != w.Field || tk.Transitions[i].To != w.To {
				t.Fatalf("%s transition %d = %+v, want %s -> %s", tk.Key, i, tk.Transitions[i], w.Field, w.To)
			}
		}
		if len(tk.Approvers) != len(want.Approvers) {
			t.Fatalf("%s: %d approvers, want %d", tk.Key, len(tk.Approvers), len(want.Approvers))
		}
		if tk.Reporter == nil || tk.Reporter.Name == "" || tk.Reporter.AccountID != "" {
			t.Fatalf("%s: Data Center users are named, got %+v", tk.Key, tk.Reporter)
		}
	}
	for _, p := range pages(t, res.Committed) {
		if p.Deployment != "datacenter" || p.Endpoint != "/rest/api/2/search" {
			t.Fatalf("page from %s %s", p.Deployment, p.Endpoint)
		}
	}
	if f.Count("changelog") != 0 {
		t.Fatalf("Data Center embeds the whole changelog; the collector paged it anyway")
	}
	// Data Center's count is the search total.
	for _, p := range populations(t, res.Committed) {
		if p.JiraCount == nil || *p.JiraCount != p.Collected || p.Reconciled == nil || !*p.Reconciled || p.JiraCountEndpoint != "POST /rest/api/2/search" {
			t.Fatalf("%s: collected %d, Jira %v via %s", p.Query.Name, p.Collected, p.JiraCount, p.JiraCountEndpoint)
		}
	}
	// A second run fetches nothing new.
	again := collectortest.Run(t, collectortest.Build(t, "jira", cfg), collectortest.Options{Now: now.Add(time.Hour), Cursor: res.Cursor})
	if again.Err != nil || len(pageArtifacts(again.Committed)) != 0 {
		t.Fatalf("second run: err %v, %d artifacts", again.Err, len(again.Committed))
	}
}

func TestCloudTokenOnDataCenterAuthFails(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{})
	sampleData(f, 10)
	// Forcing datacenter on a Cloud site sends a bearer token, which Cloud refuses.
	res := collectortest.Run(t, collectortest.Build(t, "jira", config(f.URL, "datacenter", allQueries)), collectortest.Options{Now: now})
	if res.Err == nil || !strings.Contains(res.Err.Error(), "HTTP 401") || collectors.IsRetryable(res.Err) {
		t.Fatalf("want a permanent 401, got %v", res.Err)
	}
}

func TestRateLimitMidRunCommitsOnlyWholePages(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{})
	keys := sampleData(f, 40)
	f.AfterSearch = func(n int) {
		if n == 3 {
			f.SetFailure(jirafake.RateLimitStorm)
		}
	}
	cfg := config(f.URL, "cloud", "page_size: 5\n"+allQueries)
	res := collectortest.Run(t, collectortest.Build(t, "jira", cfg), collectortest.Options{Now: now})
	if res.Err == nil || !collectors.IsRetryable(res.Err) {
		t.Fatalf("want a retryable error, got %v", res.Err)
	}
	if len(res.Committed) == 0 || len(res.Committed) != len(res.Emitted) {
		t.Fatalf("committed %d of %d emitted artifacts; every emitted page should have been checkpointed", len(res.Committed), len(res.Emitted))
	}
	f.AfterSearch = nil
	f.SetFailure(jirafake.None)
	rest := collectortest.Run(t, collectortest.Build(t, "jira", cfg), collectortest.Options{Now: now, Cursor: res.Cursor})
	if rest.Err != nil {
		t.Fatal(rest.Err)
	}
	all := append(versions(t, res.Committed), versions(t, rest.Committed)...)
	if len(all) != len(keys) {
		t.Fatalf("interrupted + resumed runs collected %d ticket versions, want %d", len(all), len(keys))
	}
}

func TestThrottledOnceThenSucceeds(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{})
	sampleData(f, 10)
	f.Throttle(1)
	res := collectortest.Run(t, collectortest.Build(t, "jira", config(f.URL, "cloud", allQueries)), collectortest.Options{Now: now})
	if res.Err != nil {
		t.Fatalf("one 429 with Retry-After should be waited out: %v", res.Err)
	}
	if len(tickets(t, res.Committed)) != 10 {
		t.Fatalf("collected %d tickets", len(tickets(t, res.Committed)))
	}
}

func TestConfigValidation(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	for _, tc := range []struct{ name, cfg, want string }{
		{"no base_url", "token: env:JIRA_TEST_TOKEN\nqueries: [{name: a, jql: project = A}]\n", "base_url: required"},
		{"cloud without email", "base_url: https://x.atlassian.net\ndeployment: cloud\ntoken: env:JIRA_TEST_TOKEN\nqueries: [{name: a, jql: project = A}]\n", "email: required on Jira Cloud"},
		{"order by", "base_url: https://x.atlassian.net\nemail: a@b.c\ntoken: env:JIRA_TEST_TOKEN\nqueries: [{name: a, jql: project = A ORDER BY created}]\n", "must not contain ORDER BY"},
		{"literal token", "base_url: https://x.atlassian.net\nemail: a@b.c\ntoken: abc123\nqueries: [{name: a, jql: project = A}]\n", "literal"},
		{"bad evidence type", "base_url: https://x.atlassian.net\nemail: a@b.c\ntoken: env:JIRA_TEST_TOKEN\nqueries: [{name: a, jql: project = A, evidence_type: okta.users}]\n", "not a jira evidence type"},
		{"duplicate names", "base_url: https://x.atlassian.net\nemail: a@b.c\ntoken: env:JIRA_TEST_TOKEN\nqueries: [{name: a, jql: project = A}, {name: a, jql: project = B}]\n", "duplicate query name"},
		{"bad deployment", "base_url: https://x.atlassian.net\ndeployment: server\nemail: a@b.c\ntoken: env:JIRA_TEST_TOKEN\nqueries: [{name: a, jql: project = A}]\n", "unknown deployment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := collectortest.BuildErr("jira", tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSampleConfigIsValid(t *testing.T) {
	t.Setenv("JIRA_API_TOKEN", "x")
	d, ok := collectors.Lookup("jira")
	if !ok {
		t.Fatal("jira not registered")
	}
	i := strings.Index(d.SampleConfig, "  jira:\n")
	if i < 0 {
		t.Fatal("sample has no jira section")
	}
	var b strings.Builder
	for _, line := range strings.Split(d.SampleConfig[i+len("  jira:\n"):], "\n") {
		b.WriteString(strings.TrimPrefix(line, "    ") + "\n")
	}
	if _, err := collectortest.BuildErr("jira", b.String()); err != nil {
		t.Fatalf("sample config does not build: %v", err)
	}
}

func TestBulkEditInOneMinute(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{})
	// A bulk edit: 250 tickets updated within the same minute, more than
	// two pages; keyset paging cannot move past the minute and must page
	// through it with nextPageToken.
	at := now.Add(-3 * time.Hour)
	var batch []jirafake.Issue
	for i := 1; i <= 250; i++ {
		u := at.Add(time.Duration(i) * 100 * time.Millisecond)
		batch = append(batch, jirafake.Issue{Key: fmt.Sprintf("CHG-%d", i), Project: "CHG", Type: "Change", Summary: "bulk", Status: "Open", Created: u, Updated: u})
	}
	f.Add(batch...)
	c := collectortest.Build(t, "jira", config(f.URL, "cloud", "queries:\n  - name: changes\n    jql: project = CHG\n"))
	res := collectortest.Run(t, c, collectortest.Options{Now: now})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	vs := versions(t, res.Committed)
	u := map[string]bool{}
	for _, v := range vs {
		u[v] = true
	}
	if len(vs) != 250 || len(u) != 250 {
		t.Fatalf("collected %d ticket versions (%d distinct), want 250 exactly once", len(vs), len(u))
	}
	if n := len(pageArtifacts(res.Committed)); n != 3 {
		t.Fatalf("%d artifacts, want one per page (3)", n)
	}
}

func TestExampleQueriesAreValid(t *testing.T) {
	t.Setenv("JIRA_API_TOKEN", "x")
	b, err := os.ReadFile("../../config/jira-queries.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var entries []struct {
		Type string    `yaml:"type"`
		Jira yaml.Node `yaml:"jira"`
	}
	if err := yaml.Unmarshal(b, &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Type != "jira" {
		t.Fatalf("want one jira entry, got %+v", entries)
	}
	c, err := collectors.Build("jira", &entries[0].Jira, "collectors[0]")
	if err != nil || c == nil {
		t.Fatalf("example does not build: %v", err)
	}
	for _, et := range []string{"jira.change_tickets", "jira.incidents", "jira.access_requests", "jira.offboarding", "jira.vulnerabilities"} {
		if !strings.Contains(string(b), "evidence_type: "+et) {
			t.Errorf("example has no %s query", et)
		}
	}
}

func TestBadQueryDoesNotBlockOthers(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{})
	sampleData(f, 20)
	cfg := config(f.URL, "cloud", `queries:
  - name: broken
    jql: project = CHG AND (issuetype = Change
  - name: incidents
    jql: project = SEC
    evidence_type: jira.incidents
`)
	res := collectortest.Run(t, collectortest.Build(t, "jira", cfg), collectortest.Options{Now: now})
	if res.Err == nil || collectors.IsRetryable(res.Err) {
		t.Fatalf("want a permanent error for the broken query, got %v", res.Err)
	}
	for _, want := range []string{`query "broken"`, "HTTP 400", "Error in the JQL Query: Expecting ')'"} {
		if !strings.Contains(res.Err.Error(), want) {
			t.Errorf("error %q does not mention %q", res.Err, want)
		}
	}
	if n := len(tickets(t, res.Committed)); n != 4 {
		t.Fatalf("the valid query committed %d tickets, want the 4 incidents", n)
	}
	for _, a := range res.Committed {
		if a.Type != "jira.incidents" && a.Type != "jira.population" {
			t.Fatalf("unexpected artifact %s", a.Type)
		}
	}
}

var update = flag.Bool("update", false, "rewrite golden files")

// TestGoldenPage pins the artifact body (normalised fields and raw JSON) for
// a small, fixed source. Regenerate with: go test ./collectors/jira -run Golden -update
func TestGoldenPage(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{TimeZone: "Europe/Berlin"})
	f.Generate(jirafake.GenOptions{N: 10, Start: now.Add(-20 * 24 * time.Hour), End: now.Add(-time.Hour), Seed: 42, LongHistoryEvery: 0})
	c := collectortest.Build(t, "jira", config(f.URL, "cloud", "queries:\n  - name: changes\n    jql: project = CHG\n    evidence_type: jira.change_tickets\n"))
	res := collectortest.Run(t, c, collectortest.Options{Now: now})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if len(pageArtifacts(res.Committed)) != 1 {
		t.Fatalf("%d artifacts, want 1", len(pageArtifacts(res.Committed)))
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, pageArtifacts(res.Committed)[0].Body, "", "  "); err != nil {
		t.Fatal(err)
	}
	got := strings.ReplaceAll(pretty.String(), f.URL, "https://jira.fake.invalid") + "\n"
	path := filepath.Join("testdata", "changes-page.golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("artifact body differs from %s (run with -update if the change is intended):\n%s", path, firstLineDiff(got, string(want)))
	}
}

func firstLineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("lengths differ: %d vs %d lines", len(al), len(bl))
}

func TestUnknownApproverField(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{})
	sampleData(f, 5)
	cfg := strings.Replace(config(f.URL, "cloud", allQueries), "customfield_10050", "customfield_99999", 1)
	res := collectortest.Run(t, collectortest.Build(t, "jira", cfg), collectortest.Options{Now: now})
	if res.Err == nil || collectors.IsRetryable(res.Err) || !strings.Contains(res.Err.Error(), "approver_field customfield_99999 does not exist") {
		t.Fatalf("want a permanent error naming the missing field, got %v", res.Err)
	}
	if len(res.Emitted) != 0 {
		t.Fatalf("emitted %d artifacts before failing", len(res.Emitted))
	}
}

func TestUnreachableSiteIsRetryable(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{})
	cfg := config(f.URL, "cloud", allQueries)
	f.Close()
	res := collectortest.Run(t, collectortest.Build(t, "jira", cfg), collectortest.Options{Now: now})
	if res.Err == nil || !collectors.IsRetryable(res.Err) || !strings.Contains(res.Err.Error(), "/rest/api/2/myself") {
		t.Fatalf("want a retryable error naming the endpoint, got %v", res.Err)
	}
}
