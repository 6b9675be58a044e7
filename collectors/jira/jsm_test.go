package jira_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/jira/jirafake"
)

func TestJSMApprovals(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{})
	f.Generate(jirafake.GenOptions{N: 100, Start: now.Add(-60 * 24 * time.Hour), End: now.Add(-2 * time.Hour), Seed: 5, ServiceDesk: true})
	res := collectortest.Run(t, collectortest.Build(t, "jira", config(f.URL, "cloud", "implementer_field: customfield_10060\n"+allQueries)), collectortest.Options{Now: now})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	approvals, checked := 0, 0
	for _, tk := range tickets(t, res.Committed) {
		want, _ := f.Issue(tk.Key)
		if want.ProjectType != "service_desk" {
			if tk.JSMApprovals != nil || tk.JSMApprovalsNote != "not a service project" {
				t.Fatalf("%s: approvals %v note %q for a software project", tk.Key, tk.JSMApprovals, tk.JSMApprovalsNote)
			}
			continue
		}
		checked++
		if tk.JSMApprovals == nil || len(tk.JSMApprovals) != len(want.Approvals) {
			t.Fatalf("%s: %d approvals, want %d", tk.Key, len(tk.JSMApprovals), len(want.Approvals))
		}
		for i, w := range want.Approvals {
			g := tk.JSMApprovals[i]
			approvals++
			if g.ID != w.ID || g.FinalDecision != w.FinalDecision || g.Completed == nil || *g.Completed != ts(*w.Completed) || g.Created != ts(w.Created) || len(g.Approvers) != len(w.Approvers) {
				t.Fatalf("%s approval %d = %+v, want %+v", tk.Key, i, g, w)
			}
			for j, ap := range w.Approvers {
				if g.Approvers[j].Person.AccountID != ap.User.AccountID || g.Approvers[j].Decision != ap.Decision {
					t.Fatalf("%s approver %d = %+v, want %s %s", tk.Key, j, g.Approvers[j], ap.User.AccountID, ap.Decision)
				}
			}
		}
		// the JSM approvers who approved count as approvers in the SoD check
		s := tk.Segregation
		if s == nil || s.IndependentApproval == nil {
			t.Fatalf("%s: segregation %+v", tk.Key, s)
		}
		expect := map[string]bool{}
		for _, u := range want.Approvers { // the approver field
			expect[u.AccountID] = true
		}
		for _, w := range want.Approvals {
			for _, ap := range w.Approvers {
				expect[ap.User.AccountID] = expect[ap.User.AccountID] || ap.Decision == "approved"
			}
		}
		listed := map[string]bool{}
		for _, p := range s.Approvers {
			listed[p.AccountID] = true
		}
		for id, want := range expect {
			if listed[id] != want {
				t.Fatalf("%s: approver %s listed %v, want %v", tk.Key, id, listed[id], want)
			}
		}
		if tk.Implementer == nil || tk.Implementer.AccountID != want.Implementer.AccountID {
			t.Fatalf("%s: implementer %+v", tk.Key, tk.Implementer)
		}
	}
	if checked != 20 || approvals == 0 {
		t.Fatalf("checked %d service-project tickets with %d approvals", checked, approvals)
	}
}

func TestCommentsAndExtraFields(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{})
	base := now.Add(-24 * time.Hour)
	var many []jirafake.Comment
	for i := 0; i < 30; i++ {
		many = append(many, jirafake.Comment{ID: "c" + string(rune('a'+i%26)), Author: jirafake.People[i%5], Created: base.Add(time.Duration(i) * time.Minute), Body: "x"})
	}
	f.Add(
		jirafake.Issue{Key: "CHG-1", Project: "CHG", Type: "Change", Summary: "busy", Status: "Open", Created: base, Updated: base.Add(time.Hour), Comments: many,
			Fields: map[string]any{"customfield_10070": map[string]any{"value": "High", "id": "10301"}, "customfield_10071": "2026-12-01T22:00:00.000+0000"}},
		jirafake.Issue{Key: "CHG-2", Project: "CHG", Type: "Change", Summary: "quiet", Status: "Open", Created: base, Updated: base.Add(2 * time.Hour), Comments: many[:2]},
		jirafake.Issue{Key: "CHG-3", Project: "CHG", Type: "Change", Summary: "none", Status: "Open", Created: base, Updated: base.Add(3 * time.Hour)},
	)
	cfg := config(f.URL, "cloud", "queries:\n  - name: changes\n    jql: project = CHG\n    evidence_type: jira.change_tickets\n    fields: [customfield_10070, customfield_10071, duedate]\n")
	res := collectortest.Run(t, collectortest.Build(t, "jira", cfg), collectortest.Options{Now: now})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	tk := tickets(t, res.Committed)
	if len(tk) != 3 {
		t.Fatalf("%d tickets", len(tk))
	}
	wantCount := map[string]int{"CHG-1": 30, "CHG-2": 2, "CHG-3": 0}
	wantLast := map[string]string{"CHG-1": ts(base.Add(29 * time.Minute)), "CHG-2": ts(base.Add(time.Minute))}
	for _, x := range tk {
		if x.CommentCount == nil || *x.CommentCount != wantCount[x.Key] {
			t.Errorf("%s: comment count %v, want %d", x.Key, x.CommentCount, wantCount[x.Key])
		}
		last := ""
		if x.LastCommentAt != nil {
			last = *x.LastCommentAt
		}
		if last != wantLast[x.Key] {
			t.Errorf("%s: last comment %q, want %q", x.Key, last, wantLast[x.Key])
		}
	}
	// only the ticket whose embedded comment page was full cost a request
	if n := f.Count("comment"); n != 1 {
		t.Errorf("%d comment requests, want 1", n)
	}
	var risk struct{ Value string }
	if err := json.Unmarshal(tk[0].Fields["customfield_10070"], &risk); err != nil || risk.Value != "High" {
		t.Errorf("risk field %s", tk[0].Fields["customfield_10070"])
	}
	// duedate is not a field of the fake's site: missing, not empty
	if string(tk[0].Fields["customfield_10071"]) != `"2026-12-01T22:00:00.000+0000"` || len(tk[0].FieldsMissing) != 1 || tk[0].FieldsMissing[0] != "duedate" {
		t.Errorf("extra fields %v, missing %v", tk[0].Fields, tk[0].FieldsMissing)
	}
	if tk[0].RemoteLinks == nil {
		t.Errorf("remote links read but null")
	}
}

// Remote links not read are unknown (null), not an empty list.
func TestRemoteLinksNotReadAreNull(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{})
	sampleData(f, 10)
	res := collectortest.Run(t, collectortest.Build(t, "jira", config(f.URL, "cloud", "remote_links: false\n"+changesQuery)), collectortest.Options{Now: now})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	for _, a := range pageArtifacts(res.Committed) {
		if !bytes.Contains(a.Body, []byte(`"remote_links":null`)) || bytes.Contains(a.Body, []byte(`"remote_links":[]`)) {
			t.Fatalf("remote links not read must be null: %.300s", a.Body)
		}
	}
	if f.Count("remotelink") != 0 {
		t.Fatalf("%d remote-link requests with remote_links: false", f.Count("remotelink"))
	}
}
