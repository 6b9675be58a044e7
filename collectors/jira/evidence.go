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
	RemoteLinks    []RemoteLink `json:"remote_links"` // null when remote_links: false
	// Transitions is the complete history of status, resolution and
	// approver changes from the changelog, oldest first.
	Transitions []Change `json:"transitions"`
	// History is every changelog entry read, oldest first, with every
	// changed item (user-valued items keep the account IDs in from/to).
	History []HistoryEntry `json:"history"`
	// ChangelogEntries is the number of changelog entries read (all of
	// them: ChangelogComplete says whether the source said so).
	ChangelogEntries  int    `json:"changelog_entries"`
	ChangelogSource   string `json:"changelog_source"` // bulkfetch | embedded
	ChangelogComplete bool   `json:"changelog_complete"`
	// JSMApprovals are the Jira Service Management approvals of a request
	// in a service project; null when not read (see JSMApprovalsNote).
	JSMApprovals     []JSMApproval `json:"jsm_approvals"`
	JSMApprovalsNote string        `json:"jsm_approvals_note,omitempty"`
	// Implementer is the value of `implementer_field` (null when not configured).
	Implementer *Person `json:"implementer"`
	// Segregation compares approvers with the people who raised, owned
	// and implemented the change (queries with segregation on).
	Segregation *Segregation `json:"segregation,omitempty"`
	// CommentCount and LastCommentAt; null when comments were not read.
	CommentCount  *int    `json:"comment_count"`
	LastCommentAt *string `json:"last_comment_at"`
	// GoneDuringRun: the ticket was returned by the search and then
	// answered 404 (deleted, or hidden by a permission change) before its
	// details were read; what could not be read is null or incomplete.
	GoneDuringRun bool `json:"gone_during_run,omitempty"`
	// Fields are the query's extra fields as Jira returned them;
	// FieldsMissing the ones Jira did not return at all (no such field,
	// or not visible to the account), as opposed to an empty value (null).
	Fields        map[string]json.RawMessage `json:"fields,omitempty"`
	FieldsMissing []string                   `json:"fields_missing,omitempty"`
	Raw           Raw                        `json:"raw"`
}

// HistoryEntry is one changelog entry.
type HistoryEntry struct {
	ID      string        `json:"id"`
	Author  *Person       `json:"author"`
	Created string        `json:"created"`
	Items   []HistoryItem `json:"items"`
}

// HistoryItem is one changed field of a changelog entry, as Jira gave it:
// from/to are IDs (account IDs for user fields), the strings are display values.
type HistoryItem struct {
	Field      string  `json:"field"`
	FieldID    string  `json:"field_id,omitempty"`
	FieldType  string  `json:"field_type,omitempty"`
	From       *string `json:"from"`
	FromString *string `json:"from_string"`
	To         *string `json:"to"`
	ToString   *string `json:"to_string"`
}

// JSMApproval is one Jira Service Management approval.
type JSMApproval struct {
	ID            string        `json:"id"`
	Name          string        `json:"name"`
	FinalDecision string        `json:"final_decision"` // approved | declined | pending
	Created       string        `json:"created"`
	Completed     *string       `json:"completed"`
	Approvers     []JSMApprover `json:"approvers"`
}

// JSMApprover is one approver's decision. The API gives no time per
// decision: DecidedAt is the approval's completion when this approver's
// decision is the one that completed it alone (a single approver), else null.
type JSMApprover struct {
	Person    Person  `json:"person"`
	Decision  string  `json:"decision"`
	DecidedAt *string `json:"decided_at"`
}

// Segregation is the segregation-of-duties check of one ticket.
type Segregation struct {
	// Approvers are the people recorded as approving: JSM approvers who
	// decided "approved" and every account added to the approver field.
	Approvers        []Person `json:"approvers"`
	Reporter         *Person  `json:"reporter"`
	Assignee         *Person  `json:"assignee"`
	Implementer      *Person  `json:"implementer"`
	ImplementerField string   `json:"implementer_field,omitempty"`
	// IndependentApproval is true when at least one approval is recorded
	// and no approver is the reporter, assignee or implementer; false with
	// Reasons otherwise; null when no approval source is configured.
	IndependentApproval *bool    `json:"independent_approval"`
	Reasons             []string `json:"reasons,omitempty"`
	// ApprovedAt is the earliest recorded approval; DoneAt the first
	// transition into one of DoneStatuses.
	ApprovedAt   *string  `json:"approved_at"`
	DoneAt       *string  `json:"done_at"`
	DoneStatuses []string `json:"done_statuses"`
	// ApprovedBeforeDone is null until the ticket reached a done status.
	ApprovedBeforeDone *bool `json:"approved_before_done"`
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
	FromID    string  `json:"from_id,omitempty"` // IDs (account IDs for user fields)
	ToID      string  `json:"to_id,omitempty"`
	Author    *Person `json:"author,omitempty"`
	At        string  `json:"at"`
	HistoryID string  `json:"history_id"`
}

// Raw is the API JSON as Jira returned it.
type Raw struct {
	// Issue is the search result entry (its embedded changelog may be truncated).
	Issue json.RawMessage `json:"issue"`
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
	ID      string    `json:"id"`
	Author  *rawUser  `json:"author"`
	Created jiraStamp `json:"created"`
	Items   []struct {
		Field      string  `json:"field"`
		FieldID    string  `json:"fieldId"`
		FieldType  string  `json:"fieldtype"`
		From       *string `json:"from"`
		FromString *string `json:"fromString"`
		To         *string `json:"to"`
		ToString   *string `json:"toString"`
	} `json:"items"`
}

// jiraStamp is a changelog time: a Jira timestamp string, or epoch
// milliseconds as the bulk changelog endpoint's example shows.
type jiraStamp string

func (s *jiraStamp) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = jiraStamp(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("changelog created: %s is neither a timestamp nor a number", b)
	}
	if n < 100_000_000_000 { // seconds
		n *= 1000
	}
	*s = jiraStamp(fmtTime(time.UnixMilli(n)))
	return nil
}

// rawComments is a page of comments (PageOfComments: its total counts
// only the page; maxResults is what the page could hold).
type rawComments struct {
	Comments []struct {
		Created string `json:"created"`
	} `json:"comments"`
	MaxResults int `json:"maxResults"`
}

type rawIssue struct {
	ID     string `json:"id"`
	Key    string `json:"key"`
	Fields struct {
		Summary   string `json:"summary"`
		IssueType *named `json:"issuetype"`
		Project   *struct {
			Key            string `json:"key"`
			ProjectTypeKey string `json:"projectTypeKey"`
		} `json:"project"`
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
		Comment *rawComments `json:"comment"`
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

// decodeIssue reads one search result entry; custom names the fields kept
// as raw values (approver, implementer, the query's extra fields).
func decodeIssue(raw json.RawMessage, custom bool) (*rawIssue, error) {
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
	if custom {
		var f struct {
			Fields map[string]json.RawMessage `json:"fields"`
		}
		if err := json.Unmarshal(raw, &f); err == nil {
			is.custom = f.Fields
		}
	}
	return &is, nil
}

// users reads a user-picker field (single or multi).
func users(v json.RawMessage) []Person {
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

// extras are what a ticket carries beyond its search entry.
type extras struct {
	histories []rawHistory
	source    string // bulkfetch | embedded
	complete  bool
	links     []gojira.RemoteLink
	rawLinks  json.RawMessage
	approvals []JSMApproval
	apprNote  string
	comments  *commentFacts
	gone      bool // 404 to a request about the ticket after the search
}

type commentFacts struct {
	count int
	last  string
}

// ticket builds the normalised ticket from the issue and what was read
// beside it.
func ticket(is *rawIssue, cfg *Config, q *Query, approverName string, x extras) Ticket {
	f := is.Fields
	t := Ticket{
		Key: is.Key, ID: is.ID, Summary: f.Summary,
		Type: nameOf(f.IssueType), Status: nameOf(f.Status), Priority: nameOf(f.Priority), Resolution: nameOf(f.Resolution),
		Created: normTime(f.Created), Updated: fmtTime(is.updated),
		Reporter: f.Reporter.person(), Assignee: f.Assignee.person(),
		Approvers: []Person{}, Labels: append([]string{}, f.Labels...), Links: []IssueLink{}, RemoteLinks: []RemoteLink{},
		Transitions: []Change{}, ChangelogEntries: len(x.histories), ChangelogSource: x.source, ChangelogComplete: x.complete,
		JSMApprovals: x.approvals, JSMApprovalsNote: x.apprNote,
		Raw: Raw{Issue: is.raw, RemoteLinks: x.rawLinks},
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
		t.Approvers = users(is.custom[cfg.ApproverField])
	}
	if cfg.ImplementerField != "" {
		if us := users(is.custom[cfg.ImplementerField]); len(us) > 0 {
			t.Implementer = &us[0]
		}
	}
	if len(q.Fields) > 0 {
		t.Fields = make(map[string]json.RawMessage, len(q.Fields))
		for _, id := range q.Fields {
			if v, ok := is.custom[id]; ok {
				t.Fields[id] = v
			} else {
				t.FieldsMissing = append(t.FieldsMissing, id)
			}
		}
	}
	if x.comments != nil {
		n := x.comments.count
		t.CommentCount = &n
		if x.comments.last != "" {
			l := x.comments.last
			t.LastCommentAt = &l
		}
	}
	for _, l := range f.IssueLinks {
		switch {
		case l.OutwardIssue != nil:
			t.Links = append(t.Links, IssueLink{Type: l.Type.Name, Direction: "outward", Relation: l.Type.Outward, Key: l.OutwardIssue.Key})
		case l.InwardIssue != nil:
			t.Links = append(t.Links, IssueLink{Type: l.Type.Name, Direction: "inward", Relation: l.Type.Inward, Key: l.InwardIssue.Key})
		}
	}
	for _, l := range x.links {
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
	if !*cfg.RemoteLinks {
		t.RemoteLinks = nil // not read: unknown, not none
	}
	if x.gone {
		t.GoneDuringRun = true
		t.ChangelogComplete = false
		if x.links == nil {
			t.RemoteLinks = nil
		}
		if x.approvals == nil && x.apprNote == "" {
			t.JSMApprovalsNote = "not read: the ticket was gone"
		}
	}
	hs := sortHistories(x.histories)
	t.History = history(hs)
	t.Transitions = transitions(hs, cfg.ApproverField, approverName)
	if q.segregation() {
		t.Segregation = segregation(&t, cfg, hs, approverName)
	}
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

// sortHistories orders histories oldest first (ties by numeric ID).
func sortHistories(hs []rawHistory) []rawHistory {
	type dated struct {
		at time.Time
		h  rawHistory
	}
	ds := make([]dated, len(hs))
	for i, h := range hs {
		at, _ := parseJiraTime(string(h.Created))
		ds[i] = dated{at, h}
	}
	sort.SliceStable(ds, func(i, j int) bool {
		if !ds[i].at.Equal(ds[j].at) {
			return ds[i].at.Before(ds[j].at)
		}
		return historyLess(ds[i].h.ID, ds[j].h.ID)
	})
	out := make([]rawHistory, len(ds))
	for i, d := range ds {
		out[i] = d.h
	}
	return out
}

func history(hs []rawHistory) []HistoryEntry {
	out := make([]HistoryEntry, len(hs))
	for i, h := range hs {
		e := HistoryEntry{ID: h.ID, Author: h.Author.person(), Created: normTime(string(h.Created)), Items: make([]HistoryItem, len(h.Items))}
		for j, it := range h.Items {
			e.Items[j] = HistoryItem{Field: it.Field, FieldID: it.FieldID, FieldType: it.FieldType, From: it.From, FromString: it.FromString, To: it.To, ToString: it.ToString}
		}
		out[i] = e
	}
	return out
}

// fieldOf names a changelog item by field ID; Data Center names custom
// fields only by display name.
func fieldOf(field, fieldID, approverField, approverName string) string {
	if fieldID != "" {
		return fieldID
	}
	if approverField != "" && field == approverName {
		return approverField
	}
	return strings.ToLower(field)
}

// transitions extracts status, resolution and approver changes from
// histories sorted oldest first.
func transitions(hs []rawHistory, approverField, approverName string) []Change {
	out := []Change{}
	for _, h := range hs {
		for _, it := range h.Items {
			field := fieldOf(it.Field, it.FieldID, approverField, approverName)
			if field != "status" && field != "resolution" && (approverField == "" || field != approverField) {
				continue
			}
			c := Change{Field: field, Author: h.Author.person(), At: normTime(string(h.Created)), HistoryID: h.ID}
			if it.FromString != nil {
				c.From = *it.FromString
			}
			if it.ToString != nil {
				c.To = *it.ToString
			}
			if it.From != nil {
				c.FromID = *it.From
			}
			if it.To != nil {
				c.ToID = *it.To
			}
			out = append(out, c)
		}
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
