package jira

import (
	"reflect"
	"strings"

	"github.com/tickmark-dev/tickmark/collectors"
)

// jsonFields lists the top-level JSON names of a struct type's fields.
func jsonFields(v any) []string {
	t := reflect.TypeOf(v)
	var out []string
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// Item layouts: every ticket evidence type holds its tickets under
// "tickets", keyed by the issue key; a jira.population body is one item,
// keyed by query and window end.
func init() {
	tickets := collectors.ItemLayout{
		Path: "tickets", Key: []string{"key"},
		Fields: []string{"status", "type", "updated", "reporter.account_id", "assignee.account_id",
			"segregation.independent_approval", "segregation.approved_before_done", "changelog_entries"},
		Known: jsonFields(Ticket{}),
		// A ticket is observed when it was resolved (done), else created.
		Time: []string{"resolved", "created"},
	}
	for _, et := range evidenceTypes {
		if et.Name != "jira.population" {
			collectors.RegisterItems(et.Name, tickets)
		}
	}
	collectors.RegisterItems("jira.population", collectors.ItemLayout{
		PerArtifact: true, Key: []string{"query.name", "window.updated_before"},
		Fields: []string{"collected", "jira_count", "reconciled", "finding", "deleted_visible"},
		Known:  jsonFields(PopulationBody{}),
	})
}
