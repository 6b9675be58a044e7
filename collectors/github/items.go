package github

import "github.com/tickmark-dev/tickmark/collectors"

// Where the population items of each evidence type are (see
// collectors.ItemLayout): `tickmark population` and the checks read them.
func init() {
	collectors.RegisterItems("github.org_members", collectors.ItemLayout{
		Path: "members", Key: []string{"login", "id"}, Snapshot: true,
		Fields: []string{"login", "role", "two_factor_disabled"},
		Known:  []string{"login", "id", "role", "two_factor_disabled"},
	})
	collectors.RegisterItems("github.branch_protection", collectors.ItemLayout{
		PerArtifact: true, Key: []string{"repository", "branch"}, Snapshot: true,
		Fields: []string{"classic_protection_status", "effective.pull_request_required", "effective.required_approvals", "effective.force_push_blocked"},
		Known:  []string{"repository", "branch", "visibility", "as_of", "classic_protection_status", "classic_protection", "rulesets", "effective", "error", "http_status", "message"},
	})
	collectors.RegisterItems("github.pull_requests", collectors.ItemLayout{
		Path: "pull_requests", Key: []string{"number"}, WithSubject: true,
		Fields: []string{"title", "author", "merged_at", "merged_by", "approved_by", "independent_approval"},
		Known: []string{"number", "title", "html_url", "author", "head_branch", "base_branch", "created_at", "merged_at", "merged_by",
			"merge_commit_sha", "head_sha", "commits", "committers", "committers_complete", "landed_commits", "reviews", "approved_by", "independent_approval",
			"independent_approvers", "independent_approval_reasons", "stale_review_dismissal", "merged_by_author", "checks_at_merge", "issue_keys"},
		Time: []string{"merged_at"},
	})
	collectors.RegisterItems("github.dependabot_alerts", collectors.ItemLayout{
		Path: "alerts", Key: []string{"number"}, WithSubject: true, Snapshot: true,
		Fields: []string{"state", "severity", "package", "ghsa_id", "created_at", "fixed_at", "dismissed_at"},
		Known: []string{"number", "state", "severity", "package", "ecosystem", "manifest_path", "ghsa_id", "cve_id", "summary", "html_url",
			"created_at", "fixed_at", "dismissed_at", "auto_dismissed_at", "dismissed_by", "dismissed_reason", "age_days"},
	})
	collectors.RegisterItems("github.audit_log", collectors.ItemLayout{
		Path: "events", Key: []string{"_document_id"},
		Fields: []string{"created_at", "action", "actor", "user", "team", "repo"},
		Known:  []string{"_document_id", "created_at", "@timestamp", "action", "actor", "user", "team", "repo", "late", "details"},
		Time:   []string{"created_at"},
	})
}
