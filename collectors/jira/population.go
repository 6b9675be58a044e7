package jira

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/httpx"
)

// PopulationBody is the body of a jira.population artifact: how one
// query's population of one run was built and whether it reconciles with
// Jira's own count.
type PopulationBody struct {
	Collector  string   `json:"collector"`
	Query      QueryRef `json:"query"`
	Deployment string   `json:"deployment"`
	Window     Window   `json:"window"`
	// Collected is the number of distinct tickets the searches returned
	// in the window (including versions collected by an earlier run and
	// skipped now); Emitted the ticket versions this run added.
	Collected int `json:"collected"`
	Emitted   int `json:"emitted"`
	// JiraCount is Jira's count of the same JQL (Cloud: the approximate
	// count; Data Center: the search total); null when it could not be read.
	JiraCount         *int   `json:"jira_count"`
	JiraCountEndpoint string `json:"jira_count_endpoint"`
	JiraCountJQL      string `json:"jira_count_jql"`
	// ChangedAfterWindow counts the tickets of the query updated at or
	// after the window's end: a ticket read in the window and updated
	// while the run went on has left Jira's count of the window.
	ChangedAfterWindow *int `json:"changed_after_window"`
	// Reconciled is true when the counts agree, or differ by no more than
	// ChangedAfterWindow plus the tickets deleted meanwhile; null when
	// Jira's counts could not be read.
	Reconciled *bool  `json:"reconciled"`
	Finding    string `json:"finding,omitempty"`
	// Deleted are the tickets of the query's projects deleted since the
	// window's start (to the time of reading, so deletions during the run
	// are included), from the audit log; null when the account may not
	// read it.
	Deleted        []DeletedTicket `json:"deleted"`
	DeletedVisible bool            `json:"deleted_visible"`
	DeletedNote    string          `json:"deleted_note,omitempty"`
	Projects       []string        `json:"projects"`
	// Requests are the API requests this query's run made.
	Requests requestStats `json:"requests"`
}

// reconcile emits the jira.population artifact of one query's run.
func (c *collector) reconcile(ctx context.Context, a *api, req collectors.Request, emit collectors.Emitter, q Query, jql string, from, upper time.Time, upperText string, run *queryRun) error {
	body := PopulationBody{
		Collector: "jira", Deployment: a.deployment,
		Query:     QueryRef{Name: q.Name, JQL: q.JQL, Executed: jql, EvidenceType: q.EvidenceType},
		Window:    Window{UpdatedFrom: fmtTime(from), UpdatedTo: fmtTime(upper), TimeZone: a.loc.String()},
		Collected: len(run.keys), Emitted: run.emitted, JiraCountJQL: jql, Projects: []string{},
	}
	for p := range run.projects {
		body.Projects = append(body.Projects, p)
	}
	sort.Strings(body.Projects)
	var notes []string
	soft := func(err error) bool { // an error that fails the count, not the run
		var se *httpx.StatusError
		return errors.As(err, &se) && (se.Status == http.StatusForbidden || se.Status == http.StatusNotFound || se.Status == http.StatusBadRequest || se.Status == http.StatusUnauthorized)
	}
	n, path, err := a.count(ctx, jql)
	run.reqs.Population++
	body.JiraCountEndpoint = "POST /" + path
	switch {
	case err == nil:
		body.JiraCount = &n
	case soft(err):
		notes = append(notes, "Jira's count could not be read: "+err.Error())
	default:
		return err
	}
	changedJQL := fmt.Sprintf(`(%s) AND updated >= "%s"`, q.JQL, upperText)
	m, _, err := a.count(ctx, changedJQL)
	run.reqs.Population++
	switch {
	case err == nil:
		body.ChangedAfterWindow = &m
	case soft(err):
		notes = append(notes, "tickets changed after the window could not be counted: "+err.Error())
	default:
		return err
	}
	deletedSince := 0
	if *c.cfg.DeletedTickets {
		ds, reqs, err := a.deleted(ctx, from)
		run.reqs.Population += reqs
		switch {
		case err == nil:
			body.DeletedVisible = true
			body.Deleted = []DeletedTicket{}
			for _, d := range ds {
				if slices.Contains(body.Projects, d.Project) {
					body.Deleted = append(body.Deleted, d)
					if t, err := parseJiraTime(d.DeletedAt); err == nil && !t.Before(upper) {
						deletedSince++
					}
				}
			}
			body.DeletedNote = "deletions of tickets in the projects the query's tickets belong to (" + strings.Join(body.Projects, ", ") + "); a deleted ticket's fields are gone, so the query's JQL cannot be applied to it"
		case soft(err):
			body.DeletedNote = "the audit log is not readable with these credentials (Administer Jira / manage:jira-configuration): deletions unknown; " + err.Error()
		default:
			return err
		}
	} else {
		body.DeletedNote = "not read (deleted_tickets: false)"
	}
	if body.JiraCount != nil && body.ChangedAfterWindow != nil {
		diff := body.Collected - *body.JiraCount
		ok := diff == 0 || (diff > 0 && diff <= *body.ChangedAfterWindow+deletedSince)
		body.Reconciled = &ok
		if !ok {
			body.Finding = fmt.Sprintf("collected %d tickets, Jira counts %d for the same JQL; %d tickets changed after the window and %d were deleted since, which does not explain the difference",
				body.Collected, *body.JiraCount, *body.ChangedAfterWindow, deletedSince)
			if diff < 0 {
				body.Finding += " (Jira counts tickets the search did not return: search index lag, or tickets hidden from the search)"
			}
		}
	}
	if len(notes) > 0 {
		body.Finding = strings.TrimSpace(body.Finding + " " + strings.Join(notes, "; "))
	}
	run.reqs.sum()
	body.Requests = run.reqs
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		return collectors.Permanent(fmt.Errorf("jira: encoding population: %w", err))
	}
	if body.Finding != "" && req.Logger != nil {
		req.Logger.Warn("jira population does not reconcile", "query", q.Name, "evidence_type", "jira.population", "finding", body.Finding)
	}
	controls := q.Controls
	if len(controls) == 0 {
		for _, et := range evidenceTypes {
			if et.Name == q.EvidenceType {
				controls = et.Controls
			}
		}
	}
	base := a.site
	art := collectors.Artifact{
		Type: "jira.population", Subject: q.Name, Controls: controls, ContentType: "application/json",
		Body: buf.Bytes(), ObservedAt: upper, WindowStart: from, WindowEnd: upper,
		Source: collectors.Source{
			System: "jira", Endpoint: body.JiraCountEndpoint, Query: jql,
			Account:          (&url.URL{Scheme: base.Scheme, Host: base.Host}).String(),
			CollectorVersion: Version, Pages: 1, Complete: body.Reconciled != nil && *body.Reconciled, Items: body.Collected,
		},
	}
	if err := emit.Emit(ctx, art); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}
