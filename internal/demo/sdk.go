package demo

import (
	"context"
	"fmt"

	"github.com/tickmark-dev/tickmark/collectors/http/httpfake"
)

// The http collector against a sample backup-system API (httpfake) on
// 127.0.0.1: one request per pagination style and authentication scheme.
func init() {
	Register(Source{
		Name:  "http",
		Label: "sample backup-system JSON API on 127.0.0.1 for the http collector (sample data)",
		Start: func(_ context.Context, env Env) (string, func(), error) {
			creds := httpfake.Credentials{Token: "demo-backup-token", Username: "auditor", Password: "demo-backup-password", APIKey: "demo-backup-key"}
			srv := httpfake.New(creds, 10)
			env.Setenv("DEMO_BACKUP_TOKEN", creds.Token)
			env.Setenv("DEMO_BACKUP_PASSWORD", creds.Password)
			env.Setenv("DEMO_BACKUP_KEY", creds.APIKey)
			if env.Fault != nil {
				// The backup API rejects the token (it expired; it is
				// rotated the next day): the run fails, nothing is retried.
				env.Fault(backupAPIOutage, func() { srv.Fail("/api/v1/jobs", 401, "", 1) })
			}
			yaml := fmt.Sprintf(`- name: sample-backup-api
  type: http
  schedule: "@daily"
  controls:
    custom.backup_jobs: [A1.2, CC7.5]
    custom.restore_tests: [A1.2, A1.3, CC7.5]
    custom.failed_backup_jobs: [A1.2, CC7.4]
  http:
    requests:
      - evidence_type: custom.backup_jobs
        url: %[1]s/api/v1/jobs?per_page=5
        auth: {bearer: env:DEMO_BACKUP_TOKEN}
        pagination: {style: link}
        select: data
      - evidence_type: custom.restore_tests
        url: %[1]s/api/v1/restore-tests?limit=5
        auth: {basic: {username: auditor, password: env:DEMO_BACKUP_PASSWORD}}
        pagination: {style: cursor, cursor_field: meta.next_cursor, cursor_param: cursor}
        select: items
      - evidence_type: custom.failed_backup_jobs
        url: %[1]s/api/v1/reports/search
        method: POST
        body: '{"status": "failed"}'
        auth: {header: {name: X-API-Key, value: env:DEMO_BACKUP_KEY}}
        pagination: {style: page, page_param: page}
        select: results
`, srv.URL)
			return yaml, srv.Close, nil
		},
	})
}
