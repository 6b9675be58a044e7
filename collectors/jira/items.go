package jira

import "github.com/tickmark-dev/tickmark/collectors"

// Where the population items of each evidence type are (see
// collectors.ItemLayout): `tickmark population` and the checks read them.
// Every query's pages hold tickets; a ticket updated again reappears in a
// later page and its latest version counts.
func init() {
	for _, et := range evidenceTypes {
		collectors.RegisterItems(et.Name, collectors.ItemLayout{
			Path: "tickets", Key: []string{"key"},
			Fields: []string{"summary", "type", "status", "created", "resolved"},
			Known: []string{"key", "id", "project", "summary", "type", "status", "status_category", "priority", "resolution", "created", "updated",
				"resolved", "reporter", "assignee", "implementer", "approvers", "jsm_approvals", "jsm_approvals_note", "segregation", "labels", "links",
				"remote_links", "transitions", "history", "changelog_entries", "changelog_complete", "changelog_source", "comment_count", "last_comment_at", "raw"},
		})
	}
}
