package jira

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	gojira "github.com/andygrunwald/go-jira"
)

// PageBody is the JSON body of one artifact: one search page of one query.
type PageBody struct {
	Collector  string   `json:"collector"`
	Query      QueryRef `json:"query"`
	Deployment string   `json:"deployment"`
	Endpoint   string   `json:"endpoint"`
	Window     Window   `json:"window"`
	Page       int      `json:"page"`
	Tickets    []Ticket `json:"tickets"`
}

// QueryRef is the query that produced a page, as sent (auditors can re-run it).
type QueryRef struct {
	Name         string `json:"name"`
	JQL          string `json:"jql"`      // the configured JQL
	Executed     string `json:"executed"` // the JQL sent, with the window
	EvidenceType string `json:"evidence_type"`
}

// Window bounds the tickets' updated times the page's search covered.
type Window struct {
	UpdatedFrom string `json:"updated_from"`
	UpdatedTo   string `json:"updated_before"`
	TimeZone    string `json:"time_zone"` // the zone Jira read the JQL dates in
}

// Ticket is one ticket: normalised fields, then the raw API JSON.
type Ticket struct {
	Key            string       `json:"key"`
	ID             string       `json:"id"`
	Project        string       `json:"project,omitempty"`
	Summary        string       `json:"summary"`
	Type           string       `json:"type"`
	Status         string       `json:"status"`
	StatusCategory string       `json:"status_category,omitempty"`
	Priority       string       `json:"priority,omitempty"`
	Resolution     string       `json:"resolution,omitempty"`
	Created        string       `json:"created"`
	Updated        string       `json:"updated"`
	Resolved       string       `json:"resolved,omitempty"`
	Reporter       *Person      `json:"reporter,omitempty"`
	Assignee       *Person      `json:"assignee,omitempty"`
	Approvers      []Person     `json:"approvers"`
	Labels         []string     `json:"labels"`
	Links          []IssueLink  `json:"links"`
	RemoteLinks    []RemoteLink `json:"remote_links"`
	// Transitions is the complete history of status, resolution and
	// approver changes from the changelog, oldest first.
	Transitions []Change `json:"transitions"`
	// ChangelogEntries is the changelog's total number of histories; all
	// of them were read.
	ChangelogEntries int `json:"changelog_entries"`
	Raw              Raw `json:"raw"`
}

// Person is a Jira user as the API identifies them.
type Person struct {
	AccountID   string `json:"account_id,omitempty"` // Cloud
	Name        string `json:"name,omitempty"`       // Data Center
	DisplayName string `json:"display_name,omitempty"`
	Email       string `json:"email,omitempty"`
}

// IssueLink is a link to another issue.
type IssueLink struct {
	Type      string `json:"type"`
	Direction string `json:"direction"` // outward | inward
	Relation  string `json:"relation"`  // e.g. "blocks", "is blocked by"
	Key       string `json:"key"`
}

// RemoteLink is a link to something outside Jira (a pull request...).
type RemoteLink struct {
	Title        string `json:"title"`
	URL          string `json:"url"`
	Application  string `json:"application,omitempty"`
	Relationship string `json:"relationship,omitempty"`
	PullRequest  bool   `json:"pull_request"`
	Resolved     bool   `json:"resolved"`
}

// Change is one field change from the changelog.
type Change struct {
	Field     string  `json:"field"`
	From      string  `json:"from"`
	To        string  `json:"to"`
	Author    *Person `json:"author,omitempty"`
	At        string  `json:"at"`
	HistoryID string  `json:"history_id"`
}

// Raw is the API JSON as Jira returned it.
type Raw struct {
	// Issue is the search result entry (its embedded changelog may be truncated).
	Issue json.RawMessage `json:"issue"`
	// ChangelogPages are the /issue/{key}/changelog pages read when the
	// embedded changelog was truncated.
	ChangelogPages []json.RawMessage `json:"changelog_pages,omitempty"`
	// RemoteLinks is the /issue/{key}/remotelink response.
	RemoteLinks json.RawMessage `json:"remote_links,omitempty"`
}

// ---- decoding ----

type rawUser struct {
	AccountID    string `json:"accountId"`
	Name         string `json:"name"`
	DisplayName  string `json:"displayName"`
	EmailAddress string `json:"emailAddress"`
}

func (u *rawUser) person() *Person {
	if u == nil {
		return nil
	}
	return &Person{AccountID: u.AccountID, Name: u.Name, DisplayName: u.DisplayName, Email: u.EmailAddress}
}

type named struct {
	Name           string `json:"name"`
	Key            string `json:"key"`
	StatusCategory *struct {
		Key string `json:"key"`
	} `json:"statusCategory"`
}

type rawHistory struct {
	ID      string   `json:"id"`
	Author  *rawUser `json:"author"`
	Created string   `json:"created"`
	Items   []struct {
		Field      string  `json:"field"`
		FieldID    string  `json:"fieldId"`
		FromString *string `json:"fromString"`
		ToString   *string `json:"toString"`
	} `json:"items"`
}

type rawIssue struct {
	ID     string `json:"id"`
	Key    string `json:"key"`
	Fields struct {
		Summary        string   `json:"summary"`
		IssueType      *named   `json:"issuetype"`
		Project        *named   `json:"project"`
		Status         *named   `json:"status"`
		Priority       *named   `json:"priority"`
		Resolution     *named   `json:"resolution"`
		Created        string   `json:"created"`
		Updated        string   `json:"updated"`
		ResolutionDate *string  `json:"resolutiondate"`
		Reporter       *rawUser `json:"reporter"`
		Assignee       *rawUser `json:"assignee"`
		Labels         []string `json:"labels"`
		IssueLinks     []struct {
			Type struct {
				Name    string `json:"name"`
				Inward  string `json:"inward"`
				Outward string `json:"outward"`
			} `json:"type"`
			InwardIssue  *struct{ Key string } `json:"inwardIssue"`
			OutwardIssue *struct{ Key string } `json:"outwardIssue"`
		} `json:"issuelinks"`
	} `json:"fields"`
	Changelog *struct {
		Total     int          `json:"total"`
		Histories []rawHistory `json:"histories"`
	} `json:"changelog"`
	updated time.Time
	raw     json.RawMessage
	custom  map[string]json.RawMessage
}

// jiraTimeLayouts are the timestamp formats Jira answers with.
var jiraTimeLayouts = []string{"2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05-0700", time.RFC3339Nano}

func parseJiraTime(s string) (time.Time, error) {
	for _, l := range jiraTimeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unreadable timestamp %q", s)
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// normTime renders a Jira timestamp in UTC, or keeps it as it came.
func normTime(s string) string {
	if t, err := parseJiraTime(s); err == nil {
		return fmtTime(t)
	}
	return s
}

// decodeIssue reads one search result entry.
func decodeIssue(raw json.RawMessage, approverField string) (*rawIssue, error) {
	var is rawIssue
	if err := json.Unmarshal(raw, &is); err != nil {
		return nil, err
	}
	if is.Key == "" {
		return nil, fmt.Errorf("an issue without a key (were fields requested?)")
	}
	t, err := parseJiraTime(is.Fields.Updated)
	if err != nil {
		return nil, fmt.Errorf("%s: updated: %w", is.Key, err)
	}
	is.updated = t
	is.raw = raw
	if approverField != "" {
		var f struct {
			Fields map[string]json.RawMessage `json:"fields"`
		}
		if err := json.Unmarshal(raw, &f); err == nil {
			is.custom = f.Fields
		}
	}
	return &is, nil
}

// approvers reads a user-picker custom field (single or multi).
func approvers(v json.RawMessage) []Person {
	out := []Person{}
	if len(v) == 0 || string(v) == "null" {
		return out
	}
	var many []rawUser
	if json.Unmarshal(v, &many) == nil {
		for i := range many {
			out = append(out, *many[i].person())
		}
		return out
	}
	var one rawUser
	if json.Unmarshal(v, &one) == nil && (one.AccountID != "" || one.Name != "") {
		out = append(out, *one.person())
	}
	return out
}

func nameOf(n *named) string {
	if n == nil {
		return ""
	}
	return n.Name
}

// ticket builds the normalised ticket from the issue, its full history
// and its remote links.
func ticket(is *rawIssue, cfg *Config, approverName string, histories []rawHistory, changelogPages []json.RawMessage, links []gojira.RemoteLink, rawLinks json.RawMessage) Ticket {
	f := is.Fields
	t := Ticket{
		Key: is.Key, ID: is.ID, Summary: f.Summary,
		Type: nameOf(f.IssueType), Status: nameOf(f.Status), Priority: nameOf(f.Priority), Resolution: nameOf(f.Resolution),
		Created: normTime(f.Created), Updated: fmtTime(is.updated),
		Reporter: f.Reporter.person(), Assignee: f.Assignee.person(),
		Approvers: []Person{}, Labels: append([]string{}, f.Labels...), Links: []IssueLink{}, RemoteLinks: []RemoteLink{},
		Transitions: []Change{}, ChangelogEntries: len(histories),
		Raw: Raw{Issue: is.raw, ChangelogPages: changelogPages, RemoteLinks: rawLinks},
	}
	if f.Project != nil {
		t.Project = f.Project.Key
	}
	if f.Status != nil && f.Status.StatusCategory != nil {
		t.StatusCategory = f.Status.StatusCategory.Key
	}
	if f.ResolutionDate != nil {
		t.Resolved = normTime(*f.ResolutionDate)
	}
	if cfg.ApproverField != "" {
		t.Approvers = approvers(is.custom[cfg.ApproverField])
	}
	for _, l := range f.IssueLinks {
		switch {
		case l.OutwardIssue != nil:
			t.Links = append(t.Links, IssueLink{Type: l.Type.Name, Direction: "outward", Relation: l.Type.Outward, Key: l.OutwardIssue.Key})
		case l.InwardIssue != nil:
			t.Links = append(t.Links, IssueLink{Type: l.Type.Name, Direction: "inward", Relation: l.Type.Inward, Key: l.InwardIssue.Key})
		}
	}
	for _, l := range links {
		rl := RemoteLink{Relationship: l.Relationship}
		if l.Object != nil {
			rl.Title, rl.URL = l.Object.Title, l.Object.URL
			if l.Object.Status != nil {
				rl.Resolved = l.Object.Status.Resolved
			}
		}
		if l.Application != nil {
			rl.Application = l.Application.Name
		}
		rl.PullRequest = isPullRequest(rl.URL, l.GlobalID)
		t.RemoteLinks = append(t.RemoteLinks, rl)
	}
	t.Transitions = transitions(histories, cfg.ApproverField, approverName)
	return t
}

func isPullRequest(u, globalID string) bool {
	for _, s := range []string{u, globalID} {
		if strings.Contains(s, "/pull/") || strings.Contains(s, "/pull-requests/") || strings.Contains(s, "/merge_requests/") {
			return true
		}
	}
	return false
}

// transitions extracts status, resolution and approver changes, oldest
// first. Cloud names the approver field by ID (fieldId), Data Center only
// by its display name.
func transitions(hs []rawHistory, approverField, approverName string) []Change {
	type dated struct {
		at time.Time
		c  Change
	}
	var ds []dated
	for _, h := range hs {
		at, _ := parseJiraTime(h.Created)
		for _, it := range h.Items {
			field := it.FieldID
			if field == "" {
				field = strings.ToLower(it.Field)
				if approverField != "" && it.Field == approverName {
					field = approverField
				}
			}
			if field != "status" && field != "resolution" && (approverField == "" || field != approverField) {
				continue
			}
			c := Change{Field: field, Author: h.Author.person(), At: fmtTime(at), HistoryID: h.ID}
			if it.FromString != nil {
				c.From = *it.FromString
			}
			if it.ToString != nil {
				c.To = *it.ToString
			}
			ds = append(ds, dated{at, c})
		}
	}
	sort.SliceStable(ds, func(i, j int) bool {
		if !ds[i].at.Equal(ds[j].at) {
			return ds[i].at.Before(ds[j].at)
		}
		return historyLess(ds[i].c.HistoryID, ds[j].c.HistoryID)
	})
	out := make([]Change, len(ds))
	for i, d := range ds {
		out[i] = d.c
	}
	return out
}

// historyLess orders numeric history IDs numerically.
func historyLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
