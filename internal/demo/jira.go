package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/tickmark-dev/tickmark/collectors/jira/jirafake"
)

func init() {
	Register(Source{
		Name:  "jira",
		Label: "fake Jira Cloud site on 127.0.0.1 (sample data: changes, incidents, access, offboarding, vulnerabilities)",
		Start: func(_ context.Context, env Env) (string, func(), error) {
			const email, token = "compliance-bot@demo.invalid", "demo-jira-api-token"
			f := jirafake.New(jirafake.Options{Email: email, Token: token, TimeZone: "Europe/Berlin"})
			// Sample data is fixed for the day so repeated demos agree.
			day := time.Now().UTC().Truncate(24 * time.Hour)
			f.Generate(jirafake.GenOptions{N: 60, Start: day.Add(-60 * 24 * time.Hour), End: day.Add(-time.Hour), Seed: 2026, LongHistoryEvery: 15})
			env.Setenv("TICKMARK_DEMO_JIRA_TOKEN", token)
			yaml := fmt.Sprintf(`- name: sample-jira
  type: jira
  schedule: "@every 6h"
  jira:
    base_url: %s
    deployment: auto
    email: %s
    token: env:TICKMARK_DEMO_JIRA_TOKEN
    approver_field: customfield_10050
    queries:
      - name: changes
        jql: project = CHG AND issuetype = Change
        evidence_type: jira.change_tickets
      - name: incidents
        jql: project = SEC AND issuetype = Incident
        evidence_type: jira.incidents
      - name: access-requests
        jql: project = ACC AND issuetype = "Access Request"
        evidence_type: jira.access_requests
      - name: offboarding
        jql: project = ACC AND issuetype = Offboarding
        evidence_type: jira.offboarding
      - name: vulnerabilities
        jql: project = VULN AND issuetype = Vulnerability
        evidence_type: jira.vulnerabilities
`, f.URL, email)
			return yaml, f.Close, nil
		},
	})
}
