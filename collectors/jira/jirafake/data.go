package jirafake

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// User is a Jira user (Cloud: accountId; Data Center: name).
type User struct {
	AccountID   string
	Name        string
	DisplayName string
	Email       string
}

// Item is one changed field in a history.
type Item struct {
	Field, FieldID, FieldType string
	From, FromString          string
	To, ToString              string
}

// History is one changelog entry.
type History struct {
	ID      string
	Author  User
	Created time.Time
	Items   []Item
}

// Link is an issue link to another issue.
type Link struct {
	ID        string
	Type      string // e.g. "Blocks"
	Inward    string // e.g. "is blocked by"
	Outward   string // e.g. "blocks"
	Direction string // "outward" or "inward"
	Key       string
}

// RemoteLink is a remote issue link (a pull request, a document...).
type RemoteLink struct {
	ID           int
	GlobalID     string
	AppType      string // e.g. "com.github.integration"
	AppName      string // e.g. "GitHub"
	Relationship string
	URL, Title   string
	Summary      string
	Resolved     bool
}

// Issue is a ticket in the fake.
type Issue struct {
	ID, Key          string
	Project, Type    string
	Summary          string
	Status, Priority string
	Created, Updated time.Time
	Resolved         *time.Time
	Reporter         *User
	Assignee         *User
	Approvers        []User
	Labels           []string
	Links            []Link
	RemoteLinks      []RemoteLink
	Histories        []History
	// ProjectType is the project's projectTypeKey ("software" when empty;
	// "service_desk" for Jira Service Management projects).
	ProjectType string
	// Implementer is the value of the implementer field.
	Implementer *User
	// Fields are extra custom field values by field ID, rendered as given.
	Fields map[string]any
	// Comments, oldest first.
	Comments []Comment
	// Approvals are the JSM approvals of a service-project request.
	Approvals []Approval
}

// Comment is an issue comment.
type Comment struct {
	ID      string
	Author  User
	Created time.Time
	Body    string
}

// Approval is a Jira Service Management approval.
type Approval struct {
	ID            string
	Name          string
	FinalDecision string // approved | declined | pending
	Approvers     []Approver
	Created       time.Time
	Completed     *time.Time
}

// Approver is one approver of an approval and their decision.
type Approver struct {
	User     User
	Decision string // approved | declined | pending
}

// Add stores issues (replacing ones with the same key). An empty ID is
// assigned.
func (f *Fake) Add(issues ...Issue) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, is := range issues {
		is := is
		if is.ID == "" {
			is.ID = f.newID()
		}
		f.projects[is.Project] = true
		f.types[is.Type] = true
		f.issues[is.Key] = &is
		f.byID[is.ID] = is.Key
	}
	f.byUpdated = nil
}

// Issue returns a copy of an issue.
func (f *Fake) Issue(key string) (Issue, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	is, ok := f.issues[key]
	if !ok {
		return Issue{}, false
	}
	return *is, true
}

// Transition moves an issue to a new status at time at, recording the
// change in its changelog and bumping its updated time.
func (f *Fake) Transition(key, to string, by User, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	is, ok := f.issues[key]
	if !ok {
		return fmt.Errorf("jirafake: no issue %s", key)
	}
	transitionLocked(is, to, by, at, f.newID())
	f.byUpdated = nil
	return nil
}

// newID returns the next numeric ID (issues and histories share the sequence).
func (f *Fake) newID() string {
	f.nextID++
	return strconv.Itoa(f.nextID)
}

func transitionLocked(is *Issue, to string, by User, at time.Time, id string) {
	is.Histories = append(is.Histories, History{ID: id, Author: by, Created: at, Items: []Item{{
		Field: "status", FieldID: "status", FieldType: "jira",
		From: statusID(is.Status), FromString: is.Status, To: statusID(to), ToString: to,
	}}})
	is.Status = to
	is.Updated = at
	if statusCategory(to) == "done" && is.Resolved == nil {
		t := at
		is.Resolved = &t
	}
}

func statusID(s string) string { return strconv.Itoa(1 + len(s)) }

// ---- sample data ----

// Kind describes one kind of ticket the generator makes.
type Kind struct {
	Project, Type string
	Workflow      []string // statuses in order; the first is the initial one
	Labels        []string
	PullRequests  bool // attach GitHub pull requests as remote links
}

// Kinds are the sample ticket kinds: changes, incidents, access requests,
// offboarding and vulnerabilities.
var Kinds = []Kind{
	{Project: "CHG", Type: "Change", Workflow: []string{"Open", "Awaiting Approval", "Approved", "In Progress", "Done"}, Labels: []string{"production"}, PullRequests: true},
	{Project: "SEC", Type: "Incident", Workflow: []string{"Open", "Investigating", "Mitigated", "Resolved"}, Labels: []string{"sev2"}},
	{Project: "ACC", Type: "Access Request", Workflow: []string{"Open", "Awaiting Approval", "Approved", "Done"}, Labels: []string{"access"}},
	{Project: "ACC", Type: "Offboarding", Workflow: []string{"Open", "In Progress", "Done"}, Labels: []string{"offboarding"}},
	{Project: "VULN", Type: "Vulnerability", Workflow: []string{"Open", "Triaged", "In Progress", "Resolved"}, Labels: []string{"cve"}},
}

// People are the sample users.
var People = []User{
	{AccountID: "5b10a2844c20165700ede21g", Name: "mia", DisplayName: "Mia Krystof", Email: "mia@example.com"},
	{AccountID: "5b10a2844c20165700ede22h", Name: "ravi", DisplayName: "Ravi Patel", Email: "ravi@example.com"},
	{AccountID: "5b10a2844c20165700ede23i", Name: "ana", DisplayName: "Ana Souza", Email: "ana@example.com"},
	{AccountID: "5b10a2844c20165700ede24j", Name: "li", DisplayName: "Li Wei", Email: "li@example.com"},
	{AccountID: "5b10a2844c20165700ede25k", Name: "sam", DisplayName: "Sam Okafor", Email: "sam@example.com"},
}

// GenOptions tune Generate.
type GenOptions struct {
	// N tickets in total, spread over Kinds.
	N int
	// Start and End bound the tickets' created and updated times.
	Start, End time.Time
	// Seed makes the data deterministic.
	Seed uint64
	// LongHistoryEvery gives every n-th ticket 50+ transitions (0: none).
	LongHistoryEvery int
	// LongHistoryLen is the least number of transitions of a long history
	// (default 50; up to 14 more are added).
	LongHistoryLen int
	// ServiceDesk makes the change project (CHG) a Jira Service Management
	// project: each change approved in its workflow gets a JSM approval
	// with two approvers, and an implementer.
	ServiceDesk bool
	// Comments gives tickets 0-3 comments (long histories 30).
	Comments bool
	// Kinds overrides the kinds of tickets made (default Kinds, in turn).
	Kinds []Kind
}

// Generate adds deterministic sample tickets and returns their keys.
func (f *Fake) Generate(o GenOptions) []string {
	r := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	span := o.End.Sub(o.Start)
	counters := map[string]int{}
	var keys []string
	var batch []Issue
	kinds := o.Kinds
	if len(kinds) == 0 {
		kinds = Kinds
	}
	for i := 0; i < o.N; i++ {
		k := kinds[i%len(kinds)]
		counters[k.Project]++
		key := fmt.Sprintf("%s-%d", k.Project, counters[k.Project])
		// created somewhere in the first half of the span, then transitions
		created := o.Start.Add(time.Duration(r.Int64N(int64(span / 2)))).Truncate(time.Millisecond)
		rep := People[r.IntN(len(People))]
		asg := People[r.IntN(len(People))]
		is := Issue{
			Key: key, Project: k.Project, Type: k.Type,
			Summary:  fmt.Sprintf("%s %d: %s", k.Type, counters[k.Project], sampleSummary(k.Type, r)),
			Status:   k.Workflow[0],
			Priority: []string{"Highest", "High", "Medium", "Low"}[r.IntN(4)],
			Created:  created, Updated: created,
			Reporter: &rep, Assignee: &asg,
			Labels: append([]string(nil), k.Labels...),
		}
		steps := 1 + r.IntN(len(k.Workflow)-1)
		long := o.LongHistoryEvery > 0 && i%o.LongHistoryEvery == o.LongHistoryEvery-1
		if long {
			steps = max(o.LongHistoryLen, 50) + r.IntN(15)
		}
		sd := o.ServiceDesk && k.Project == "CHG"
		if sd {
			is.ProjectType = "service_desk"
			impl := People[r.IntN(len(People))]
			is.Implementer = &impl
		}
		remaining := o.End.Sub(created)
		step := remaining / time.Duration(steps+2)
		at := created
		for s := 1; s <= steps; s++ {
			at = at.Add(time.Duration(1 + r.Int64N(int64(step)))).Truncate(time.Millisecond)
			var to string
			if long {
				// bounce between the middle states, end on the last one
				to = k.Workflow[1+s%(len(k.Workflow)-1)]
				if s == steps {
					to = k.Workflow[len(k.Workflow)-1]
				}
			} else {
				to = k.Workflow[s]
			}
			by := People[r.IntN(len(People))]
			transitionLocked(&is, to, by, at, f.newID())
			if to == "Approved" {
				// the approver is recorded in the approver field, in the
				// same changelog entry as the transition
				h := &is.Histories[len(is.Histories)-1]
				h.Items = append(h.Items, approverItem(f.opts.ApproverField, is.Approvers, by, f.cloud()))
				is.Approvers = append(is.Approvers, by)
				if sd && len(is.Approvals) == 0 {
					second := People[r.IntN(len(People))]
					done := at
					is.Approvals = append(is.Approvals, Approval{ID: strconv.Itoa(40000 + i), Name: "Change advisory board",
						FinalDecision: "approved", Created: at.Add(-time.Hour), Completed: &done,
						Approvers: []Approver{{User: by, Decision: "approved"}, {User: second, Decision: []string{"approved", "pending"}[r.IntN(2)]}}})
				}
			}
		}
		if o.Comments {
			n := r.IntN(4)
			if long {
				n = 30
			}
			at := created
			for c := 0; c < n; c++ {
				at = at.Add(time.Duration(1 + r.Int64N(int64(step)))).Truncate(time.Millisecond)
				is.Comments = append(is.Comments, Comment{ID: strconv.Itoa(50000 + i*40 + c), Author: People[r.IntN(len(People))], Created: at, Body: "comment"})
			}
			if n > 0 && at.After(is.Updated) {
				is.Updated = at
			}
		}
		if r.IntN(3) == 0 && i > 0 {
			is.Links = append(is.Links, Link{ID: strconv.Itoa(20000 + i), Type: "Relates", Inward: "relates to", Outward: "relates to", Direction: "outward", Key: keys[r.IntN(len(keys))]})
		}
		if k.PullRequests {
			n := 1 + r.IntN(2)
			for p := 0; p < n; p++ {
				pr := 100 + i*3 + p
				is.RemoteLinks = append(is.RemoteLinks, RemoteLink{
					ID: 30000 + i*3 + p, GlobalID: fmt.Sprintf("github=acme/app/pull/%d", pr),
					AppType: "com.github.integration", AppName: "GitHub", Relationship: "mentioned in",
					URL: fmt.Sprintf("https://github.com/acme/app/pull/%d", pr), Title: fmt.Sprintf("acme/app#%d", pr),
					Summary: "Pull request", Resolved: r.IntN(4) != 0,
				})
			}
		}
		keys = append(keys, key)
		batch = append(batch, is)
	}
	f.Add(batch...)
	return keys
}

func sampleSummary(typ string, r *rand.Rand) string {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	switch strings.ToLower(typ) {
	case "change":
		return pick("deploy payments v2", "rotate TLS certificates", "upgrade Postgres to 16", "enable WAF rule set")
	case "incident":
		return pick("elevated 5xx on checkout", "suspicious login burst", "queue backlog in billing")
	case "access request":
		return pick("production read access", "admin role on CI", "AWS billing console")
	case "offboarding":
		return pick("leaver: revoke all access", "contractor end date reached")
	default:
		return pick("CVE-2026-1234 in openssl", "outdated base image", "dependency with known RCE")
	}
}

// approverItem is the changelog item of adding by to a multi-user picker.
func approverItem(field string, before []User, by User, cloud bool) Item {
	id := func(u User) string {
		if cloud {
			return u.AccountID
		}
		return u.Name
	}
	var fromIDs, fromNames []string
	for _, u := range before {
		fromIDs = append(fromIDs, id(u))
		fromNames = append(fromNames, u.DisplayName)
	}
	toIDs := append(append([]string(nil), fromIDs...), id(by))
	toNames := append(append([]string(nil), fromNames...), by.DisplayName)
	it := Item{Field: ApproverFieldName, FieldType: "custom",
		From: strings.Join(fromIDs, ","), FromString: strings.Join(fromNames, ", "),
		To: strings.Join(toIDs, ","), ToString: strings.Join(toNames, ", ")}
	if cloud {
		it.FieldID = field
	}
	return it
}

// ApproverFieldName is the display name of the fake's approver field.
const ApproverFieldName = "Approvers"

// ImplementerFieldName is the display name of the fake's implementer field.
const ImplementerFieldName = "Implementer"
