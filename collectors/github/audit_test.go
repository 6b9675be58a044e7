package github

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/github/ghfake"
)

type protectionBody struct {
	Rulesets []struct {
		ID                   int64          `json:"id"`
		SourceType           string         `json:"source_type"`
		BypassActors         *[]bypassActor `json:"bypass_actors"`
		BypassActorsVisible  bool           `json:"bypass_actors_visible"`
		CurrentUserCanBypass *string        `json:"current_user_can_bypass"`
	} `json:"rulesets"`
	Effective struct {
		RulesetBypassActors        *[]bypassActor `json:"ruleset_bypass_actors"`
		RulesetBypassActorsVisible bool           `json:"ruleset_bypass_actors_visible"`
	} `json:"effective"`
}

// GitHub returns a ruleset's bypass_actors only to a caller with write
// access to it: a read-only token must record them as unknown (null,
// visible false), never as an empty list ("nobody can bypass").
func TestBypassActorsUnknownWhenHidden(t *testing.T) {
	srv, org := newFake(t, ghfake.Options{Repos: 5, MergedPerRepo: 1})
	_ = org
	for _, tc := range []struct {
		name, env string
		visible   bool
	}{{"read-only token", "GH_TEST_TOKEN", false}, {"organisation owner", "GH_OWNER_TOKEN", true}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := strings.Replace(cfgFor(srv, "evidence: [branch_protection]\n"), "GH_TEST_TOKEN", tc.env, 1)
			res := runAll(t, cfg, "")
			bp := byType(res.Committed, EvBranchProtection)
			if len(bp) != 5 {
				t.Fatalf("%d branch_protection artifacts, want 5", len(bp))
			}
			sawRepoRuleset := false
			for _, a := range bp {
				var b protectionBody
				if err := json.Unmarshal(a.Body, &b); err != nil {
					t.Fatal(err)
				}
				if len(b.Rulesets) == 0 {
					t.Fatalf("%s: no rulesets (the fake's org ruleset applies to every default branch)", a.Subject)
				}
				for _, rs := range b.Rulesets {
					if rs.BypassActorsVisible != tc.visible {
						t.Errorf("%s ruleset %d: bypass_actors_visible=%v, want %v", a.Subject, rs.ID, rs.BypassActorsVisible, tc.visible)
					}
					switch {
					case !tc.visible && rs.BypassActors != nil:
						t.Errorf("%s ruleset %d: hidden bypass_actors recorded as %v, want null", a.Subject, rs.ID, *rs.BypassActors)
					case tc.visible && (rs.BypassActors == nil || len(*rs.BypassActors) == 0):
						t.Errorf("%s ruleset %d: bypass actors missing for an owner", a.Subject, rs.ID)
					}
					if rs.SourceType == "Repository" {
						sawRepoRuleset = true
						if rs.CurrentUserCanBypass == nil {
							t.Errorf("%s ruleset %d: current_user_can_bypass missing from a repository-level ruleset", a.Subject, rs.ID)
						}
					}
				}
				e := b.Effective
				if e.RulesetBypassActorsVisible != tc.visible || (!tc.visible && e.RulesetBypassActors != nil) {
					t.Errorf("%s: effective ruleset_bypass_actors=%v visible=%v, want null/false for hidden", a.Subject, e.RulesetBypassActors, e.RulesetBypassActorsVisible)
				}
				if !tc.visible && strings.Contains(string(a.Body), `"ruleset_bypass_actors":[]`) {
					t.Errorf("%s: an empty bypass list claims nobody can bypass", a.Subject)
				}
			}
			if !sawRepoRuleset {
				t.Fatalf("no repository ruleset in the sample")
			}
		})
	}
}

type membersBody struct {
	Settings struct {
		TwoFactorRequirementEnabled *bool `json:"two_factor_requirement_enabled"`
		TotalPrivateRepos           *int  `json:"total_private_repos"`
		OwnerFieldsVisible          bool  `json:"owner_fields_visible"`
	} `json:"settings"`
	Members []struct {
		Login             string `json:"login"`
		TwoFactorDisabled *bool  `json:"two_factor_disabled"`
	} `json:"members"`
	Summary      map[string]*int `json:"summary"`
	TwoFAVisible bool            `json:"two_factor_visible"`
	No2FA        []string        `json:"members_with_2fa_disabled"`
	Hidden       []string        `json:"not_visible_to_credentials"`
}

// 2FA status is for organisation owners only: anyone else records it as
// unknown (and says so) instead of failing or claiming "enabled".
func TestTwoFactorUnknownForNonOwner(t *testing.T) {
	srv, org := newFake(t, ghfake.Options{Repos: 2, MergedPerRepo: 1})
	for _, tc := range []struct {
		name, env string
		owner     bool
	}{{"member token", "GH_TEST_TOKEN", false}, {"owner token", "GH_OWNER_TOKEN", true}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := strings.Replace(cfgFor(srv, "evidence: [org_members]\n"), "GH_TEST_TOKEN", tc.env, 1)
			res := runAll(t, cfg, "")
			om := byType(res.Committed, EvOrgMembers)
			if len(om) != 1 {
				t.Fatalf("%d org_members artifacts", len(om))
			}
			var b membersBody
			if err := json.Unmarshal(om[0].Body, &b); err != nil {
				t.Fatal(err)
			}
			if len(b.Members) != len(org.Members) {
				t.Fatalf("%d members, want %d", len(b.Members), len(org.Members))
			}
			if b.TwoFAVisible != tc.owner || b.Settings.OwnerFieldsVisible != tc.owner {
				t.Errorf("two_factor_visible=%v owner_fields_visible=%v, want %v", b.TwoFAVisible, b.Settings.OwnerFieldsVisible, tc.owner)
			}
			want2fa := map[string]bool{}
			for _, u := range org.Members {
				want2fa[u.Login] = !u.TwoFactor
			}
			for _, m := range b.Members {
				switch {
				case !tc.owner && m.TwoFactorDisabled != nil:
					t.Errorf("%s: two_factor_disabled=%v for a non-owner, want null", m.Login, *m.TwoFactorDisabled)
				case tc.owner && (m.TwoFactorDisabled == nil || *m.TwoFactorDisabled != want2fa[m.Login]):
					t.Errorf("%s: two_factor_disabled=%v, want %v", m.Login, m.TwoFactorDisabled, want2fa[m.Login])
				}
			}
			if !tc.owner {
				if b.Summary["members_2fa_disabled"] != nil || b.No2FA != nil || b.Settings.TwoFactorRequirementEnabled != nil || len(b.Hidden) == 0 {
					t.Errorf("non-owner: 2FA counts %v, list %v, requirement %v, hidden %v: want unknown and said so",
						b.Summary["members_2fa_disabled"], b.No2FA, b.Settings.TwoFactorRequirementEnabled, b.Hidden)
				}
				if !strings.Contains(res.Logs, "2FA status") {
					t.Errorf("no warning that 2FA status was withheld")
				}
			} else if b.Summary["members_2fa_disabled"] == nil || *b.Summary["members_2fa_disabled"] == 0 || b.Settings.TotalPrivateRepos == nil {
				t.Errorf("owner: 2FA count %v, private total %v", b.Summary["members_2fa_disabled"], b.Settings.TotalPrivateRepos)
			}
		})
	}
}

type reposBody struct {
	OrgTotal     *int     `json:"org_total_repos"`
	Visible      int      `json:"visible_to_credentials"`
	Selected     int      `json:"selected"`
	ReposFilter  []string `json:"repos_filter"`
	Note         string   `json:"note"`
	Outcome      string   `json:"outcome"`
	Complete     bool     `json:"complete"`
	Failed       int      `json:"failed"`
	Repositories []struct {
		Name     string    `json:"name"`
		Status   string    `json:"status"`
		Findings []finding `json:"findings"`
	} `json:"repositories"`
}

func population(t *testing.T, res collectortest.Result) reposBody {
	t.Helper()
	as := byType(res.Committed, EvRepositories)
	if len(as) != 1 {
		t.Fatalf("%d github.repositories artifacts, want 1", len(as))
	}
	var b reposBody
	if err := json.Unmarshal(as[0].Body, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// A repository GitHub refuses (blocked, not found, empty, forbidden) is a
// finding in its own evidence and in the run's population; every other
// repository is collected and the run succeeds, partial.
func TestRepositoryFailuresStayLocal(t *testing.T) {
	srv, org := newFake(t, ghfake.Options{Repos: 8, MergedPerRepo: 2, AlertsDisabledEvery: -1})
	srv.Update(func(o *ghfake.Org) {
		o.MakeEmpty("service-002")
		o.Repos[2].Blocked = 451 // service-003: "Repository access blocked"
		o.Repos[3].Blocked = 404 // service-004: listed, but the App cannot see it
	})
	remove := srv.Inject(ghfake.Fault{Path: "/repos/acme/service-005/dependabot/", Status: 403,
		Body:   `{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com/rest","status":"403"}`,
		Header: map[string]string{"X-Accepted-GitHub-Permissions": "vulnerability_alerts=read"}})
	defer remove()
	// The run's outcome is partial, naming the repositories not collected
	// (the empty one is not a failure).
	res := runPartial(t, cfgFor(srv, ""), "", "3 not collected", "service-003", "service-004", "service-005")
	if strings.Contains(res.Err.Error(), "service-002") {
		t.Errorf("the empty repository is named as a failure: %v", res.Err)
	}
	pop := population(t, res)
	status := map[string]string{}
	for _, r := range pop.Repositories {
		status[r.Name] = r.Status
		if r.Status == "failed" && len(r.Findings) == 0 {
			t.Errorf("%s failed without a finding", r.Name)
		}
	}
	want := map[string]string{"service-001": "collected", "service-002": "empty", "service-003": "failed", "service-004": "failed",
		"service-005": "failed", "service-006": "collected", "service-007": "collected", "service-008": "collected"}
	for k, v := range want {
		if status[k] != v {
			t.Errorf("%s: status %q, want %q", k, status[k], v)
		}
	}
	if pop.Outcome != "partial" || pop.Complete || pop.Failed != 3 {
		t.Errorf("outcome %q complete %v failed %d, want partial/false/3", pop.Outcome, pop.Complete, pop.Failed)
	}
	// The blocked repository's evidence says why, per evidence type.
	for _, typ := range []string{EvBranchProtection, EvDependabotAlerts, EvPullRequests} {
		found := false
		for _, a := range byType(res.Committed, typ) {
			if strings.HasPrefix(a.Subject, "acme/service-003") {
				found = true
				if !strings.Contains(string(a.Body), `"collected":false`) || !strings.Contains(string(a.Body), `"http_status":451`) || a.Source.Complete {
					t.Errorf("%s %s: %s", typ, a.Subject, a.Body)
				}
			}
		}
		if !found {
			t.Errorf("no %s finding artifact for the blocked repository", typ)
		}
	}
	// The forbidden Dependabot endpoint is a finding naming the permission.
	for _, a := range byType(res.Committed, EvDependabotAlerts) {
		if a.Subject == "acme/service-005" && !strings.Contains(string(a.Body), "Dependabot alerts: read") {
			t.Errorf("dependabot finding does not name the permission: %s", a.Body)
		}
	}
	// The others are all there.
	n := 0
	for _, a := range byType(res.Committed, EvPullRequests) {
		n += len(prItems(a))
	}
	wantPRs := 0
	for _, rp := range org.Repos {
		if rp.Blocked == 0 {
			for _, p := range rp.Pulls {
				if !p.MergedAt.IsZero() && p.BaseRef == rp.DefaultBranch && p.MergedAt.After(now.Add(-90*24*time.Hour)) {
					wantPRs++
				}
			}
		}
	}
	if n != wantPRs || n == 0 {
		t.Errorf("%d merged pull requests collected, want %d", n, wantPRs)
	}
	if c := strings.Count(res.Logs, "recorded as a finding"); c < 4 || !strings.Contains(res.Logs, "partial collection") {
		t.Errorf("%d finding warnings; logs lack the partial-collection warning", c)
	}
	// A configured repository that does not exist is a finding, not a failed run.
	res = runPartial(t, cfgFor(srv, "repos: [service-001, no-such-repo]\n"), "", "no-such-repo")
	pop = population(t, res)
	if pop.Outcome != "partial" || len(pop.Repositories) != 2 || strings.Join(pop.ReposFilter, ",") != "service-001,no-such-repo" {
		t.Errorf("repos filter: %+v", pop)
	}
	// Bad credentials still fail the whole collection.
	bad := collectortest.Run(t, collectortest.Build(t, "github", strings.Replace(cfgFor(srv, ""), "GH_TEST_TOKEN", "GH_BAD_TOKEN", 1)), collectortest.Options{Now: now})
	if bad.Err == nil || collectors.IsRetryable(bad.Err) {
		t.Errorf("bad credentials: %v", bad.Err)
	}
}

// The population states what the credentials could see against what the
// organisation reports.
func TestPopulationStated(t *testing.T) {
	srv, org := newFake(t, ghfake.Options{Repos: 6, MergedPerRepo: 1})
	srv.AddToken("ghp_selected_0123456789abcdefghijk", ghfake.Token{Scopes: []string{"repo", "read:org"}, Owner: true, Repos: []string{"service-001", "service-004"}})
	t.Setenv("GH_SELECTED", "ghp_selected_0123456789abcdefghijk")
	res := runAll(t, strings.Replace(cfgFor(srv, "evidence: [branch_protection]\n"), "GH_TEST_TOKEN", "GH_SELECTED", 1), "")
	pop := population(t, res)
	if pop.OrgTotal == nil || *pop.OrgTotal != len(org.Repos) || pop.Visible != 2 || pop.Selected != 2 {
		t.Fatalf("org total %v visible %d selected %d, want %d/2/2", pop.OrgTotal, pop.Visible, pop.Selected, len(org.Repos))
	}
	if !strings.Contains(pop.Note, fmt.Sprintf("see 2 of the organisation's %d", len(org.Repos))) {
		t.Errorf("note %q does not state the shrunken population", pop.Note)
	}
	// A GitHub App installed on selected repositories says so.
	key, pemPath := appKey(t, t.TempDir())
	srv.SetApp(ghfake.App{ID: 4242, InstallationID: 777, PublicKey: &key.PublicKey, Repos: []string{"service-002", "service-003", "service-005"}})
	res = runAll(t, fmt.Sprintf("base_url: %s/\norg: acme\napp_id: 4242\ninstallation_id: 777\nprivate_key: file:%s\nevidence: [branch_protection]\n", srv.URL, pemPath), "")
	var inst struct {
		Selection *string `json:"installation_repository_selection"`
		Total     *int    `json:"installation_total_repos"`
		Note      string  `json:"note"`
	}
	if err := json.Unmarshal(byType(res.Committed, EvRepositories)[0].Body, &inst); err != nil {
		t.Fatal(err)
	}
	if inst.Selection == nil || *inst.Selection != "selected" || inst.Total == nil || *inst.Total != 3 || !strings.Contains(inst.Note, "selected repositories only") {
		t.Errorf("App on selected repositories: selection %v total %v note %q", inst.Selection, inst.Total, inst.Note)
	}
	if !strings.Contains(res.Logs, "installed on selected repositories only") {
		t.Errorf("no warning for an App on selected repositories")
	}
	// A non-owner cannot see the totals: unknown, and said so.
	pop = population(t, runAll(t, cfgFor(srv, "evidence: [branch_protection]\n"), ""))
	if pop.OrgTotal != nil || !strings.Contains(pop.Note, "unknown") {
		t.Errorf("non-owner: org total %v note %q", pop.OrgTotal, pop.Note)
	}
}
