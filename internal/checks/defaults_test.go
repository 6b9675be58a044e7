package checks_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/tickmark-dev/tickmark/internal/checks"
)

func ghGolden(t testing.TB, name string) []byte {
	return golden(t, "github/testdata/golden/"+name)
}

// Every default check over a population that passes and one that fails,
// in the shapes the collectors emit (their golden outputs against the
// vendor fakes where those hold the case, else built the same way).
func TestDefaultChecks(t *testing.T) {
	ids, err := checks.NewIdentities([]checks.Identity{{Email: "ann@example.com", GitHub: []string{"ann"}}})
	if err != nil {
		t.Fatal(err)
	}
	set := defaults(t, checks.Options{Identities: ids})
	branch := func(n string) []byte {
		return ghGolden(t, "github.branch_protection__acme_service-00"+n+"_main.json")
	}
	branches := func(change func(m obj)) []art {
		var out []art
		for _, n := range []string{"1", "2", "3", "4", "5"} {
			b := branch(n)
			if n == "2" && change != nil {
				b = mutate(t, b, func(m obj) { change(m["effective"].(obj)) })
			}
			out = append(out, art{typ: "github.branch_protection", subject: "acme/service-00" + n + "@main", body: b})
		}
		return out
	}
	var goldenPRs []art
	for _, n := range []string{"1", "2", "3", "4", "5"} {
		goldenPRs = append(goldenPRs, art{typ: "github.pull_requests", subject: "acme/service-00" + n, body: ghGolden(t, "github.pull_requests__acme_service-00"+n+".json")})
	}
	goodPR := pr("acme/api", 7, "dev1", "dev1", "2026-11-20T10:00:00Z", []string{"dev2"}, "CHG-1")
	jiraChanges := art{typ: "jira.change_tickets", subject: "changes page 1", body: golden(t, "jira/testdata/changes-page.golden.json")}
	approvedLate := ticket("CHG-9", "Change", "In Progress", "2026-11-10T10:00:00Z", "",
		transition("Open", "In Progress", "li", "2026-11-11T10:00:00Z"), transition("In Progress", "Approved", "sam", "2026-11-12T10:00:00Z"))
	approvedLate["approvers"] = []any{person("sam")}
	selfApproved := ticket("CHG-8", "Change", "In Progress", "2026-11-10T10:00:00Z", "",
		transition("Open", "Approved", "li", "2026-11-11T10:00:00Z"), transition("Approved", "In Progress", "li", "2026-11-12T10:00:00Z"))
	selfApproved["approvers"] = []any{person("li")}
	access := func(key string, approvers ...string) obj {
		tk := ticket(key, "Access", "Done", "2026-11-01T10:00:00Z", "2026-11-02T10:00:00Z")
		var as []any
		for _, a := range approvers {
			as = append(as, person(a))
		}
		if as == nil {
			as = []any{}
		}
		tk["approvers"] = as
		return tk
	}
	incident := func(key, priority, created, resolved string, labels ...string) obj {
		tk := ticket(key, "Incident", "Done", created, resolved)
		tk["priority"] = priority
		ls := []any{}
		for _, l := range labels {
			ls = append(ls, l)
		}
		tk["labels"] = ls
		return tk
	}
	offboarding := func(key, who, created string) obj {
		tk := ticket(key, "Offboarding", "Done", created, "")
		tk["summary"] = "Offboard " + who
		return tk
	}
	alerts := func(repo string, as ...obj) art {
		return art{typ: "github.dependabot_alerts", subject: repo, body: js(obj{"repository": repo, "as_of": now, "alerts_enabled": true, "alerts": as})}
	}
	alert := func(n int, sev, state, created, fixed string) obj {
		a := obj{"number": n, "state": state, "severity": sev, "package": "lodash", "ecosystem": "npm", "manifest_path": "package.json",
			"ghsa_id": "GHSA-xxxx", "summary": "x", "html_url": "u", "created_at": created}
		if fixed != "" {
			a["fixed_at"] = fixed
		}
		return a
	}
	admins := func(users ...obj) art {
		return art{typ: "okta.admins", subject: "acme.okta.com admin role holders", body: js(obj{"users": users, "groups": []any{}, "org": "https://acme.okta.com"})}
	}
	admin := func(id, login string) obj {
		return obj{"id": id, "login": login, "status": "ACTIVE", "roles": []any{obj{"type": "SUPER_ADMIN"}}}
	}
	users := oktaUsers(oktaUser("00u1", "ann@example.com", "ACTIVE", "push"), oktaUser("00u2", "bob@example.com", "DEPROVISIONED"))

	cases := []struct {
		id         string
		pass, fail []art
		want       []string // exception keys of the failing population
	}{
		{id: "okta.active_users_mfa", pass: []art{users},
			fail: []art{oktaUsers(oktaUser("00u1", "ann@example.com", "ACTIVE", "push"), oktaUser("00u3", "cid@example.com", "ACTIVE"))}, want: []string{"00u3"}},
		{id: "okta.admins_mfa",
			pass: []art{users, admins(admin("00u1", "ann@example.com"))},
			fail: []art{oktaUsers(oktaUser("00u1", "ann@example.com", "ACTIVE", "push"), oktaUser("00u3", "cid@example.com", "ACTIVE")),
				admins(admin("00u1", "ann@example.com"), admin("00u3", "cid@example.com"), admin("00u9", "ghost@example.com"))},
			want: []string{"00u3", "00u9"}},
		{id: "okta.offboarding_within_sla",
			pass: []art{jiraPage("jira.offboarding", offboarding("OFF-1", "cid@example.com", "2026-11-20T09:00:00Z")),
				oktaDepartures(departure("00u3", "cid@example.com", "2026-11-20T15:00:00Z"))},
			fail: []art{jiraPage("jira.offboarding", offboarding("OFF-1", "cid@example.com", "2026-11-20T09:00:00Z"), offboarding("OFF-2", "dee@example.com", "2026-11-21T09:00:00Z"),
				offboarding("OFF-3", "eve@example.com", "2026-11-30T20:00:00Z")), // OFF-3: not yet due
				oktaDepartures(departure("00u3", "cid@example.com", "2026-11-23T15:00:00Z"))},
			want: []string{"OFF-1", "OFF-2"}},
		{id: "github.members_2fa", pass: []art{members2FA(t, "")}, fail: []art{members2FA(t, "dev007")}, want: []string{"dev007"}},
		{id: "github.branch_review_required", pass: branches(nil),
			fail: branches(func(e obj) { e["required_approvals"] = 0 }), want: []string{"acme/service-002@main"}},
		{id: "github.branch_stale_reviews_dismissed", pass: branches(nil),
			fail: branches(func(e obj) { e["dismiss_stale_reviews"] = false }), want: []string{"acme/service-002@main"}},
		{id: "github.branch_no_force_push", pass: branches(nil),
			fail: branches(func(e obj) { e["force_push_blocked"] = false }), want: []string{"acme/service-002@main"}},
		{id: "github.branch_status_checks", pass: branches(nil),
			fail: branches(func(e obj) { e["required_status_checks"] = []any{} }), want: []string{"acme/service-002@main"}},
		{id: "github.prs_independently_approved", pass: []art{ghPRs("acme/api", goodPR)}, fail: goldenPRs, want: notIndependent(t, goldenPRs)},
		{id: "github.prs_checks_passed", pass: []art{ghPRs("acme/api", goodPR)}, fail: goldenPRs, want: []string{"acme/service-005#2"}},
		{id: "github.prs_linked_to_ticket", pass: goldenPRs,
			fail: []art{ghPRs("acme/api", goodPR, pr("acme/api", 8, "dev1", "dev2", "2026-11-21T10:00:00Z", []string{"dev2"}))}, want: []string{"acme/api#8"}},
		{id: "github.dependabot_enabled",
			pass: []art{{typ: "github.dependabot_alerts", subject: "acme/service-002", body: ghGolden(t, "github.dependabot_alerts__acme_service-002.json")}},
			fail: []art{{typ: "github.dependabot_alerts", subject: "acme/service-001", body: ghGolden(t, "github.dependabot_alerts__acme_service-001.json")},
				{typ: "github.dependabot_alerts", subject: "acme/service-002", body: ghGolden(t, "github.dependabot_alerts__acme_service-002.json")}},
			want: []string{"acme/service-001"}},
		{id: "github.dependabot_fixed_within_sla",
			pass: []art{{typ: "github.dependabot_alerts", subject: "acme/service-003", body: ghGolden(t, "github.dependabot_alerts__acme_service-003.json")},
				alerts("acme/web", alert(6, "high", "fixed", "2026-09-01T00:00:00Z", "2026-09-15T00:00:00Z"), alert(7, "critical", "open", "2026-11-28T00:00:00Z", ""))},
			fail: []art{alerts("acme/web", alert(5, "critical", "open", "2026-11-01T00:00:00Z", ""), alert(6, "high", "fixed", "2026-09-01T00:00:00Z", "2026-10-15T00:00:00Z"),
				alert(7, "high", "open", "2026-11-20T00:00:00Z", ""), alert(8, "low", "open", "2025-01-01T00:00:00Z", ""))},
			want: []string{"acme/web#5", "acme/web#6"}},
		{id: "jira.changes_approved_before_work", pass: []art{jiraChanges},
			fail: []art{jiraChanges, jiraPage("jira.change_tickets", approvedLate)}, want: []string{"CHG-9"}},
		{id: "jira.change_approver_not_implementer", pass: []art{jiraPage("jira.change_tickets", goldenTicket(t, "CHG-2"))},
			fail: []art{jiraChanges, jiraPage("jira.change_tickets", selfApproved)}, want: []string{"CHG-1", "CHG-8"}},
		{id: "jira.access_requests_approved", pass: []art{jiraPage("jira.access_requests", access("ACC-1", "ravi"))},
			fail: []art{jiraPage("jira.access_requests", access("ACC-1", "ravi"), access("ACC-2"), access("ACC-3", "sam"))}, want: []string{"ACC-2", "ACC-3"}},
		{id: "jira.incidents_resolved_within_sla",
			pass: []art{jiraPage("jira.incidents", incident("INC-1", "High", "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"))},
			fail: []art{jiraPage("jira.incidents", incident("INC-1", "High", "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"),
				incident("INC-2", "High", "2026-11-01T00:00:00Z", "2026-11-10T00:00:00Z"), incident("INC-3", "Highest", "2026-11-20T00:00:00Z", ""))},
			want: []string{"INC-2", "INC-3"}},
		{id: "jira.incidents_post_incident_review",
			pass: []art{jiraPage("jira.incidents", incident("INC-1", "High", "2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z", "postmortem"))},
			fail: []art{jiraPage("jira.incidents", incident("INC-1", "High", "2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z", "postmortem"),
				incident("INC-2", "High", "2026-10-01T00:00:00Z", "2026-10-03T00:00:00Z"), incident("INC-3", "High", "2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z"))},
			want: []string{"INC-2"}},
		{id: "jira.vulnerabilities_fixed_within_sla",
			pass: []art{jiraPage("jira.vulnerabilities", incident("VUL-1", "Highest", "2026-11-01T00:00:00Z", "2026-11-05T00:00:00Z"))},
			fail: []art{jiraPage("jira.vulnerabilities", incident("VUL-1", "Highest", "2026-11-01T00:00:00Z", "2026-11-05T00:00:00Z"),
				incident("VUL-2", "High", "2026-09-01T00:00:00Z", ""))},
			want: []string{"VUL-2"}},
		{id: "aws.regions_logged", pass: []art{trailsArt("us-east-1", nil, trail("main", true, true)), trailsArt("eu-west-1", nil)},
			fail: []art{trailsArt("us-east-1", nil, trail("main", true, true)), trailsArt("eu-west-1", []string{"no logging trail records this region"})},
			want: []string{"123456789012/eu-west-1"}},
		{id: "aws.trails_log_file_validation", pass: []art{trailsArt("us-east-1", nil, trail("main", true, true))},
			fail: []art{trailsArt("us-east-1", nil, trail("main", true, true), trail("old", true, false), trail("stopped", false, true))},
			want: []string{"arn:aws:cloudtrail:us-east-1:123456789012:trail/old", "arn:aws:cloudtrail:us-east-1:123456789012:trail/stopped"}},
		{id: "aws.digest_chain_intact", pass: []art{digestsArt(digest("d/1", "start", true), digest("d/2", "linked", true))},
			fail: []art{digestsArt(digest("d/1", "start", true), digest("d/2", "broken", true), digest("d/3", "linked", false, "signature does not verify"))},
			want: []string{"d/2", "d/3"}},
		{id: "aws.no_root_access_keys", pass: credReport(rootRow("true", "false")), fail: credReport(rootRow("true", "true")),
			want: []string{"arn:aws:iam::123456789012:root"}},
		{id: "aws.root_mfa", pass: credReport(rootRow("true", "false")), fail: credReport(rootRow("false", "false")),
			want: []string{"arn:aws:iam::123456789012:root"}},
		{id: "aws.console_users_mfa",
			pass: credReport(rootRow("true", "false"), iamRow("alice", "true", "2026-11-30T00:00:00+00:00", "true", "false", "N/A", "N/A"), iamRow("svc", "false", "N/A", "false", "true", "2026-11-01T00:00:00+00:00", "2026-11-30T00:00:00+00:00")),
			fail: credReport(rootRow("true", "false"), iamRow("alice", "true", "2026-11-30T00:00:00+00:00", "false", "false", "N/A", "N/A")),
			want: []string{"arn:aws:iam::123456789012:user/alice"}},
		{id: "aws.access_keys_rotated",
			pass: credReport(rootRow("true", "false"), iamRow("svc", "false", "N/A", "false", "true", "2026-11-01T00:00:00+00:00", "2026-11-30T00:00:00+00:00")),
			fail: credReport(rootRow("true", "false"), iamRow("svc", "false", "N/A", "false", "true", "2026-01-01T00:00:00+00:00", "2026-11-30T00:00:00+00:00")),
			want: []string{"arn:aws:iam::123456789012:user/svc"}},
		{id: "aws.unused_users_disabled",
			pass: credReport(rootRow("true", "false"), iamRow("alice", "true", "2026-11-30T00:00:00+00:00", "true", "false", "N/A", "N/A")),
			fail: credReport(rootRow("true", "false"), iamRow("alice", "true", "2026-05-01T00:00:00+00:00", "true", "false", "N/A", "N/A"),
				iamRow("svc", "false", "N/A", "false", "true", "2025-06-01T00:00:00+00:00", "N/A")),
			want: []string{"arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:user/svc"}},
		{id: "cross.leavers_github",
			pass: []art{oktaDepartures(departure("00u3", "cid@example.com", "2026-11-20T15:00:00Z")), ghMembers(ghMember("ann", 1, false))},
			fail: []art{oktaDepartures(departure("00u3", "ann@example.com", "2026-11-20T15:00:00Z")), ghMembers(ghMember("ann", 1, false))},
			want: []string{"00u3"}},
		{id: "cross.leavers_aws",
			pass: append([]art{oktaDepartures(departure("00u3", "cid@example.com", "2026-11-20T15:00:00Z"))},
				credReport(rootRow("true", "false"), iamRow("cid@example.com", "false", "N/A", "false", "false", "N/A", "N/A"))...),
			fail: append([]art{oktaDepartures(departure("00u3", "cid@example.com", "2026-11-20T15:00:00Z"))},
				credReport(rootRow("true", "false"), iamRow("cid@example.com", "true", "2026-11-25T00:00:00+00:00", "true", "false", "N/A", "N/A"))...),
			want: []string{"00u3"}},
		{id: "cross.leavers_jira",
			pass: []art{oktaDepartures(departure("00u3", "li@example.com", "2026-11-25T15:00:00Z")), jiraChanges},
			fail: []art{oktaDepartures(departure("00u3", "li@example.com", "2026-11-17T15:00:00Z")), jiraChanges},
			want: []string{"00u3"}},
		{id: "cross.change_chain",
			pass: []art{ghPRs("acme/api", goodPR), jiraChanges},
			fail: []art{ghPRs("acme/api", goodPR, pr("acme/api", 8, "dev1", "dev2", "2026-11-21T10:00:00Z", []string{"dev2"}),
				pr("acme/api", 9, "dev1", "dev2", "2026-11-16T10:00:00Z", []string{"dev2"}, "CHG-1")), jiraChanges},
			want: []string{"acme/api#8", "acme/api#9"}},
	}
	tested := map[string]bool{}
	for _, tc := range cases {
		tested[tc.id] = true
		t.Run(tc.id, func(t *testing.T) {
			p := evalOne(t, set, tc.id, tc.pass...)
			if p.Status != checks.StatusPass || p.Population == 0 || p.ExceptionCount != 0 {
				t.Errorf("passing population: status %s, population %d, exceptions %+v (note %q)", p.Status, p.Population, p.Exceptions, p.Note)
			}
			f := evalOne(t, set, tc.id, tc.fail...)
			if f.Status != checks.StatusFail || !reflect.DeepEqual(exceptionKeys(f), tc.want) {
				t.Errorf("failing population: status %s, exceptions %v, want %v (note %q)", f.Status, exceptionKeys(f), tc.want, f.Note)
			}
			for _, e := range f.Exceptions {
				if e.EvalError || e.Message == "" || e.SHA256 == "" {
					t.Errorf("exception %+v: want a message, no evaluation error, and the artifact's hash", e)
				}
				t.Logf("%s: %s", e.Key, e.Message)
			}
		})
	}
	for _, c := range set.Checks {
		if !tested[c.ID] {
			t.Errorf("default check %s has no test", c.ID)
		}
	}
	if !slices.Contains(exceptionKeys(evalOne(t, set, "github.prs_independently_approved", goldenPRs...)), "acme/service-001#1") {
		t.Error("golden PR merged with no approval not an exception")
	}
	// The collector could not see 2FA (not an owner): every member is an
	// exception saying so; unknown is never a pass.
	r := evalOne(t, set, "github.members_2fa", art{typ: "github.org_members", subject: "acme", body: ghGolden(t, "github.org_members__acme.json")})
	if r.Status != checks.StatusFail || r.ExceptionCount != r.Population || r.Population == 0 ||
		r.Exceptions[0].Message != "dev001: 2FA status not visible to the credentials (it needs an organisation owner)" {
		t.Errorf("2FA not visible: %s, %d of %d, %+v", r.Status, r.ExceptionCount, r.Population, r.Exceptions)
	}
}

// members2FA is the golden org members as an owner's token sees them: 2FA
// enabled for everyone but disabled (if given).
func members2FA(t *testing.T, disabled string) art {
	return art{typ: "github.org_members", subject: "acme", body: mutate(t, ghGolden(t, "github.org_members__acme.json"), func(m obj) {
		for _, x := range list(m, "members") {
			x.(obj)["two_factor_disabled"] = x.(obj)["login"] == disabled
		}
	})}
}

// notIndependent lists the merged pull requests of the golden bodies the
// collector found without an independent approval.
func notIndependent(t *testing.T, arts []art) []string {
	var out []string
	for _, a := range arts {
		var body struct {
			Repository   string `json:"repository"`
			PullRequests []struct {
				Number      int    `json:"number"`
				MergedAt    string `json:"merged_at"`
				Independent bool   `json:"independent_approval"`
			} `json:"pull_requests"`
		}
		if err := json.Unmarshal(a.body, &body); err != nil {
			t.Fatal(err)
		}
		for _, p := range body.PullRequests {
			if p.MergedAt != "" && !p.Independent {
				out = append(out, fmt.Sprintf("%s#%d", body.Repository, p.Number))
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("the golden pull requests have no exception to find")
	}
	sort.Strings(out)
	return out
}

// goldenTicket is one ticket of the Jira collector's golden page.
func goldenTicket(t *testing.T, key string) obj {
	var page struct {
		Tickets []obj `json:"tickets"`
	}
	if err := json.Unmarshal(golden(t, "jira/testdata/changes-page.golden.json"), &page); err != nil {
		t.Fatal(err)
	}
	for _, tk := range page.Tickets {
		if tk["key"] == key {
			return tk
		}
	}
	t.Fatalf("no golden ticket %s", key)
	return nil
}
