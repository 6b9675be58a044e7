package jira_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/jira"
	"github.com/tickmark-dev/tickmark/collectors/jira/jirafake"
)

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// approvedChange builds a change whose first history entry is its approval
// (status to Approved and the approver added in the same entry), followed
// by n-1 other entries, and a transition to Done at done (zero: none).
func approvedChange(key string, n int, approver jirafake.User, created time.Time, done time.Time) jirafake.Issue {
	rep, asg := jirafake.People[0], jirafake.People[1]
	is := jirafake.Issue{Key: key, Project: "CHG", Type: "Change", Summary: "long-lived change", Status: "Approved",
		Created: created, Reporter: &rep, Assignee: &asg, Approvers: []jirafake.User{approver}}
	at := created.Add(time.Minute)
	is.Histories = append(is.Histories, jirafake.History{ID: fmt.Sprintf("%s-h1", key), Author: approver, Created: at, Items: []jirafake.Item{
		{Field: "status", FieldID: "status", FieldType: "jira", From: "1", FromString: "Awaiting Approval", To: "2", ToString: "Approved"},
		{Field: jirafake.ApproverFieldName, FieldID: "customfield_10050", FieldType: "custom", To: approver.AccountID, ToString: approver.DisplayName},
	}})
	for i := 2; i <= n; i++ {
		at = at.Add(time.Minute)
		is.Histories = append(is.Histories, jirafake.History{ID: fmt.Sprintf("%s-h%d", key, i), Author: asg, Created: at, Items: []jirafake.Item{
			{Field: "assignee", FieldID: "assignee", FieldType: "jira", From: rep.AccountID, FromString: rep.DisplayName, To: asg.AccountID, ToString: asg.DisplayName},
		}})
	}
	if !done.IsZero() {
		is.Histories = append(is.Histories, jirafake.History{ID: key + "-done", Author: asg, Created: done, Items: []jirafake.Item{
			{Field: "status", FieldID: "status", FieldType: "jira", From: "2", FromString: "Approved", To: "3", ToString: "Done"}}})
		is.Status = "Done"
		at = done
	}
	is.Updated = at
	return is
}

// The approval is the 1st of 150 history entries: Cloud embeds only the
// latest page (whose total counts the page), so it is found only by paging
// the whole changelog.
func TestApprovalIsFirstOf150Histories(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{})
	approver := jirafake.People[3]
	f.Add(approvedChange("CHG-1", 150, approver, now.Add(-10*24*time.Hour), time.Time{}))
	res := collectortest.Run(t, collectortest.Build(t, "jira", config(f.URL, "cloud", "queries:\n  - name: changes\n    jql: project = CHG\n    evidence_type: jira.change_tickets\n")), collectortest.Options{Now: now})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	tk := tickets(t, res.Committed)
	if len(tk) != 1 {
		t.Fatalf("%d tickets", len(tk))
	}
	got := tk[0]
	if len(got.History) != 150 || got.ChangelogEntries != 150 || !got.ChangelogComplete {
		t.Fatalf("%d history entries (changelog_entries %d, complete %v), want all 150", len(got.History), got.ChangelogEntries, got.ChangelogComplete)
	}
	first := got.History[0]
	if first.ID != "CHG-1-h1" || first.Author == nil || first.Author.AccountID != approver.AccountID || len(first.Items) != 2 ||
		first.Items[1].To == nil || *first.Items[1].To != approver.AccountID {
		t.Fatalf("first entry %+v is not the approval by %s with its account ID", first, approver.AccountID)
	}
	// every author and every user-valued change keeps its account ID
	for _, h := range got.History[1:] {
		if h.Author == nil || h.Author.AccountID == "" || h.Items[0].From == nil || *h.Items[0].From != jirafake.People[0].AccountID || *h.Items[0].To != jirafake.People[1].AccountID {
			t.Fatalf("entry %s lost an account ID: %+v", h.ID, h)
		}
	}
	if got.Segregation == nil || got.Segregation.ApprovedAt == nil || *got.Segregation.ApprovedAt != first.Created {
		t.Fatalf("approval time %+v, want the first entry's %s", got.Segregation, first.Created)
	}
}

func TestSegregationOfDuties(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{})
	base := now.Add(-5 * 24 * time.Hour)
	rep, asg, impl, other := jirafake.People[0], jirafake.People[1], jirafake.People[2], jirafake.People[3]
	withImpl := func(is jirafake.Issue, u jirafake.User) jirafake.Issue { is.Implementer = &u; return is }
	f.Add(
		withImpl(approvedChange("CHG-1", 3, other, base, base.Add(time.Hour)), impl),  // independent, approved before done
		withImpl(approvedChange("CHG-2", 3, rep, base, base.Add(time.Hour)), impl),    // approver is the reporter
		withImpl(approvedChange("CHG-3", 3, impl, base, base.Add(time.Hour)), impl),   // approver is the implementer
		withImpl(approvedChange("CHG-4", 3, other, base, base.Add(-time.Hour)), impl), // done before approval
		withImpl(jirafake.Issue{Key: "CHG-5", Project: "CHG", Type: "Change", Summary: "unapproved", Status: "Open", // no approval at all
			Created: base, Updated: base, Reporter: &rep, Assignee: &asg}, impl),
	)
	// CHG-4's Done entry is older than its approval: move it first in time.
	cfg := config(f.URL, "cloud", "implementer_field: customfield_10060\ndone_statuses: [Done]\nqueries:\n  - name: changes\n    jql: project = CHG\n    evidence_type: jira.change_tickets\n")
	res := collectortest.Run(t, collectortest.Build(t, "jira", cfg), collectortest.Options{Now: now})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	by := map[string]jira.Ticket{}
	for _, tk := range tickets(t, res.Committed) {
		by[tk.Key] = tk
	}
	check := func(key string, independent, beforeDone *bool, reason string) {
		t.Helper()
		s := by[key].Segregation
		if s == nil {
			t.Fatalf("%s: no segregation block", key)
		}
		eq := func(a, b *bool) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
		if !eq(s.IndependentApproval, independent) || !eq(s.ApprovedBeforeDone, beforeDone) {
			t.Errorf("%s: independent %v before-done %v, want %v %v (reasons %q)", key, deref(s.IndependentApproval), deref(s.ApprovedBeforeDone), deref(independent), deref(beforeDone), s.Reasons)
		}
		if reason != "" && !slices.ContainsFunc(s.Reasons, func(r string) bool { return strings.Contains(r, reason) }) {
			t.Errorf("%s: reasons %q, want one containing %q", key, s.Reasons, reason)
		}
		if reason == "" && len(s.Reasons) != 0 {
			t.Errorf("%s: unexpected reasons %q", key, s.Reasons)
		}
		if s.Implementer == nil || s.Implementer.AccountID != impl.AccountID {
			t.Errorf("%s: implementer %+v", key, s.Implementer)
		}
	}
	yes, no := ptr(true), ptr(false)
	check("CHG-1", yes, yes, "")
	check("CHG-2", no, yes, "approver Mia Krystof (5b10a2844c20165700ede21g) is the reporter")
	check("CHG-3", no, yes, "is the implementer")
	check("CHG-4", yes, no, "after the transition to a done status")
	check("CHG-5", no, nil, "no approval recorded")
}

func ptr(b bool) *bool { return &b }

func deref(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

func TestPopulationReconciles(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{AuditLog: true})
	sampleData(f, 100)
	if err := f.Delete("CHG-4", jirafake.People[2], now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	cfg := config(f.URL, "cloud", allQueries)
	res := collectortest.Run(t, collectortest.Build(t, "jira", cfg), collectortest.Options{Now: now})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	ps := populations(t, res.Committed)
	if len(ps) != 5 {
		t.Fatalf("%d population artifacts, want one per query (5)", len(ps))
	}
	total := 0
	for _, p := range ps {
		if p.JiraCount == nil || *p.JiraCount != p.Collected || p.Reconciled == nil || !*p.Reconciled || p.Finding != "" {
			t.Errorf("%s: collected %d, Jira %v, reconciled %v, finding %q", p.Query.Name, p.Collected, p.JiraCount, deref(p.Reconciled), p.Finding)
		}
		if p.Requests.Total == 0 || p.Requests.Search == 0 {
			t.Errorf("%s: requests %+v", p.Query.Name, p.Requests)
		}
		total += p.Collected
		if p.Query.Name == "changes" {
			if !p.DeletedVisible || len(p.Deleted) != 1 || p.Deleted[0].Key != "CHG-4" || p.Deleted[0].By != jirafake.People[2].AccountID {
				t.Errorf("changes: deleted %+v (visible %v), want CHG-4", p.Deleted, p.DeletedVisible)
			}
		} else if len(p.Deleted) != 0 {
			t.Errorf("%s: deleted %+v, want none in its projects", p.Query.Name, p.Deleted)
		}
	}
	if total != len(tickets(t, res.Committed)) || total != 99 {
		t.Fatalf("populations count %d tickets, %d collected, want 99", total, len(tickets(t, res.Committed)))
	}

	// A ticket Jira counts but its search does not return is a finding;
	// without audit-log access the deletions are unknown, not empty.
	g := newFake(t, jirafake.Options{})
	sampleData(g, 20)
	g.HideFromSearch("SEC-2")
	res = collectortest.Run(t, collectortest.Build(t, "jira", config(g.URL, "cloud", allQueries)), collectortest.Options{Now: now})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	for _, p := range populations(t, res.Committed) {
		if p.DeletedVisible || p.Deleted != nil || !strings.Contains(p.DeletedNote, "not readable") {
			t.Errorf("%s: deleted %v visible %v note %q, want unknown", p.Query.Name, p.Deleted, p.DeletedVisible, p.DeletedNote)
		}
		if p.Query.Name == "incidents" {
			if p.Reconciled == nil || *p.Reconciled || *p.JiraCount != p.Collected+1 || !strings.Contains(p.Finding, "Jira counts 4") {
				t.Errorf("incidents: reconciled %v, Jira %v, collected %d, finding %q", deref(p.Reconciled), p.JiraCount, p.Collected, p.Finding)
			}
		} else if p.Reconciled == nil || !*p.Reconciled {
			t.Errorf("%s: not reconciled: %s", p.Query.Name, p.Finding)
		}
	}
}

// Around the end of daylight-saving time the wall clock repeats an hour;
// Jira reads a repeated wall time as its earlier instant, so a window
// ending in the repeated hour ends an hour early and the next run (starting
// just before the repeated hour) would never read the tickets between.
func TestWindowsAcrossDaylightSavingLoseNoHour(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{TimeZone: "America/New_York"})
	// 2026-11-01 06:00Z is 01:00 EST, the second 01:00 in New York.
	start := time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC)
	var keys []string
	for i := 0; i < 60; i++ {
		u := start.Add(time.Duration(i) * 5 * time.Minute)
		k := fmt.Sprintf("CHG-%d", i+1)
		keys = append(keys, k)
		f.Add(jirafake.Issue{Key: k, Project: "CHG", Type: "Change", Summary: "dst", Status: "Open", Created: u, Updated: u})
	}
	cfg := config(f.URL, "cloud", "queries:\n  - name: changes\n    jql: project = CHG\n")
	first := collectortest.Run(t, collectortest.Build(t, "jira", cfg), collectortest.Options{Now: time.Date(2026, 11, 1, 6, 5, 0, 0, time.UTC), Since: start.Add(-time.Hour)})
	if first.Err != nil {
		t.Fatal(first.Err)
	}
	second := collectortest.Run(t, collectortest.Build(t, "jira", cfg), collectortest.Options{Now: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC), Cursor: first.Cursor})
	if second.Err != nil {
		t.Fatal(second.Err)
	}
	seen := map[string]int{}
	for _, v := range append(versions(t, first.Committed), versions(t, second.Committed)...) {
		seen[v]++
	}
	for _, k := range keys {
		is, _ := f.Issue(k)
		v := k + "@" + ts(is.Updated)
		if seen[v] != 1 {
			t.Errorf("%s (updated %s) collected %d times, want once", k, is.Updated.In(nyc(t)).Format("15:04 MST"), seen[v])
		}
	}
}

func nyc(t *testing.T) *time.Location {
	l, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// A site without the bulk changelog endpoint: each changelog is paged
// through /rest/api/3/issue/{key}/changelog, still to the end.
func TestChangelogWithoutBulkEndpoint(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{NoBulkChangelog: true})
	approver := jirafake.People[3]
	f.Add(approvedChange("CHG-1", 150, approver, now.Add(-10*24*time.Hour), time.Time{}),
		approvedChange("CHG-2", 3, approver, now.Add(-9*24*time.Hour), time.Time{}))
	res := collectortest.Run(t, collectortest.Build(t, "jira", config(f.URL, "cloud", changesQuery)), collectortest.Options{Now: now})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	want := map[string]int{"CHG-1": 150, "CHG-2": 3}
	for _, tk := range tickets(t, res.Committed) {
		if len(tk.History) != want[tk.Key] || tk.ChangelogSource != "issue_changelog" || !tk.ChangelogComplete || tk.History[0].ID != tk.Key+"-h1" {
			t.Errorf("%s: %d entries from %s, want %d from issue_changelog", tk.Key, len(tk.History), tk.ChangelogSource, want[tk.Key])
		}
	}
	if n := f.Count("changelog"); n != 3 { // 2 pages for CHG-1, 1 for CHG-2
		t.Errorf("%d changelog requests, want 3", n)
	}
}

// `tickmark population` and checks read tickets through the declared item
// layout: one item per ticket, keyed by its key; one per population body.
func TestItemLayouts(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{})
	sampleData(f, 20)
	res := collectortest.Run(t, collectortest.Build(t, "jira", config(f.URL, "cloud", allQueries)), collectortest.Options{Now: now})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	keys := map[string]int{}
	for _, a := range res.Committed {
		l, ok := collectors.Items(a.Type)
		if !ok {
			t.Fatalf("%s has no item layout", a.Type)
		}
		_, err := collectors.ReadItems(bytes.NewReader(a.Body), "application/json", a.Subject, l, func(it collectors.Item) error {
			keys[a.Type+" "+it.Key]++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if keys["jira.change_tickets CHG-1"] != 1 || keys["jira.incidents SEC-2"] != 1 || keys["jira.population changes@2026-11-30T12:00:00.000Z"] != 1 {
		t.Fatalf("items: %v", keys)
	}
	if len(keys) != 20+5 {
		t.Fatalf("%d items, want 20 tickets and 5 populations", len(keys))
	}
	l, _ := collectors.Items("jira.change_tickets")
	for _, k := range []string{"segregation", "history", "jsm_approvals", "comment_count", "fields"} {
		if !slices.Contains(l.Known, k) {
			t.Errorf("known fields %v lack %s", l.Known, k)
		}
	}
}

// A ticket deleted between the search and the requests about it is kept as
// the search returned it, marked gone, with what could not be read unknown;
// the rest of the run is collected.
func TestTicketDeletedDuringRun(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{AuditLog: true})
	sampleData(f, 50)
	f.AfterSearch = func(n int) {
		if n == 1 {
			_ = f.Delete("CHG-3", jirafake.People[0], now.Add(30*time.Minute))
		}
	}
	res := collectortest.Run(t, collectortest.Build(t, "jira", config(f.URL, "cloud", changesQuery)), collectortest.Options{Now: now})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	ts := tickets(t, res.Committed)
	if len(ts) != 10 {
		t.Fatalf("%d tickets, want all 10 changes", len(ts))
	}
	for _, tk := range ts {
		if (tk.Key == "CHG-3") != tk.GoneDuringRun {
			t.Fatalf("%s: gone_during_run %v", tk.Key, tk.GoneDuringRun)
		}
		// (its comments came embedded in the search entry: those are known)
		if tk.Key == "CHG-3" && (tk.ChangelogComplete || tk.RemoteLinks != nil) {
			t.Fatalf("CHG-3: claims what it could not read: changelog complete %v, remote links %#v", tk.ChangelogComplete, tk.RemoteLinks)
		}
	}
	p := populations(t, res.Committed)[0]
	if len(p.Deleted) != 1 || p.Deleted[0].Key != "CHG-3" || p.Reconciled == nil || !*p.Reconciled {
		t.Fatalf("population: deleted %+v, reconciled %v (%s)", p.Deleted, deref(p.Reconciled), p.Finding)
	}
}
