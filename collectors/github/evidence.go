package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/httpx"
)

func (r *run) source(endpoint, query string, pages, items int) collectors.Source {
	return collectors.Source{System: "github", Endpoint: endpoint, Query: query, Account: r.org,
		CollectorVersion: Version, Pages: pages, Complete: true, Items: items}
}

func logins(us []*gh.User) []userRow {
	out := make([]userRow, 0, len(us))
	for _, u := range us {
		out = append(out, userRow{Login: u.GetLogin(), ID: u.GetID()})
	}
	return out
}

type userRow struct {
	Login string `json:"login"`
	ID    int64  `json:"id"`
}

// ---- github.org_members ----

type orgSettings struct {
	Login                       string `json:"login"`
	TwoFactorRequirementEnabled *bool  `json:"two_factor_requirement_enabled"`
	DefaultRepositoryPermission string `json:"default_repository_permission,omitempty"`
	MembersCanCreateRepos       *bool  `json:"members_can_create_repositories,omitempty"`
	MembersCanCreatePublicRepos *bool  `json:"members_can_create_public_repositories,omitempty"`
	WebCommitSignoffRequired    *bool  `json:"web_commit_signoff_required,omitempty"`
}

type memberRow struct {
	Login             string `json:"login"`
	ID                int64  `json:"id"`
	Role              string `json:"role"`
	TwoFactorDisabled bool   `json:"two_factor_disabled"`
}

// collectLogins walks a user list into a set.
func (r *run) collectLogins(ctx context.Context, u string) (map[string]bool, []userRow, int, error) {
	set := map[string]bool{}
	var rows []userRow
	pages, err := eachPage(ctx, r, u, true, logins, func(p []userRow) error {
		for _, x := range p {
			set[x.Login] = true
			rows = append(rows, x)
		}
		return nil
	})
	return set, rows, pages, err
}

func (r *run) orgMembers(ctx context.Context) (collectors.Artifact, error) {
	o := pathEsc(r.org)
	settings, _, err := getPage(ctx, r, "orgs/"+o, true, func(g *gh.Organization) orgSettings {
		return orgSettings{Login: g.GetLogin(), TwoFactorRequirementEnabled: g.TwoFactorRequirementEnabled,
			DefaultRepositoryPermission: g.GetDefaultRepoPermission(), MembersCanCreateRepos: g.MembersCanCreateRepos,
			MembersCanCreatePublicRepos: g.MembersCanCreatePublicRepos, WebCommitSignoffRequired: g.WebCommitSignoffRequired}
	})
	if err != nil {
		return collectors.Artifact{}, err
	}
	pages := 1
	// admins, members without 2FA, outside collaborators without 2FA, all outside collaborators
	lists := []string{"members?per_page=100&role=admin", "members?filter=2fa_disabled&per_page=100",
		"outside_collaborators?filter=2fa_disabled&per_page=100", "outside_collaborators?per_page=100"}
	sets := make([]map[string]bool, len(lists))
	var outside []userRow
	for i, l := range lists {
		set, rows, p, err := r.collectLogins(ctx, "orgs/"+o+"/"+l)
		if err != nil {
			return collectors.Artifact{}, err
		}
		sets[i], outside, pages = set, rows, pages+p
	}
	admins, no2fa, outNo2fa := sets[0], sets[1], sets[2]
	var sp spool
	var nAdmins, nMembers int
	p, err := eachPage(ctx, r, "orgs/"+o+"/members?per_page=100&role=all", true, logins, func(rows []userRow) error {
		for _, x := range rows {
			role := "member"
			if admins[x.Login] {
				role = "admin"
				nAdmins++
			}
			nMembers++
			if err := sp.add(memberRow{Login: x.Login, ID: x.ID, Role: role, TwoFactorDisabled: no2fa[x.Login]}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		sp.discard()
		return collectors.Artifact{}, err
	}
	pages += p
	type outsideRow struct {
		Login             string `json:"login"`
		ID                int64  `json:"id"`
		TwoFactorDisabled bool   `json:"two_factor_disabled"`
	}
	outRows := make([]outsideRow, 0, len(outside))
	for _, x := range outside {
		outRows = append(outRows, outsideRow{x.Login, x.ID, outNo2fa[x.Login]})
	}
	head := struct {
		Organization string      `json:"organization"`
		AsOf         string      `json:"as_of"`
		Settings     orgSettings `json:"settings"`
	}{r.org, ts(r.req.Now), settings}
	tail := struct {
		Summary map[string]int `json:"summary"`
		No2FA   []string       `json:"members_with_2fa_disabled"`
		Outside []outsideRow   `json:"outside_collaborators"`
	}{Summary: map[string]int{"members": nMembers, "admins": nAdmins, "members_2fa_disabled": len(no2fa),
		"outside_collaborators": len(outRows), "outside_collaborators_2fa_disabled": len(outNo2fa)},
		No2FA: sortedKeys(no2fa), Outside: outRows}
	body, err := sp.body(jsonHead(head, "members"), jsonTail(tail))
	if err != nil {
		return collectors.Artifact{}, err
	}
	return collectors.Artifact{Type: EvOrgMembers, Subject: r.org, ContentType: "application/json", BodyReader: body,
		Source: r.source("GET /orgs/"+r.org+"/members", "role=all, role=admin, filter=2fa_disabled; GET /orgs/"+r.org+"/outside_collaborators; GET /orgs/"+r.org, pages, nMembers)}, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ---- github.branch_protection ----

type classicProtection struct {
	RequiredPullRequestReviews *reviewRule `json:"required_pull_request_reviews"`
	RequiredStatusChecks       *checksRule `json:"required_status_checks"`
	EnforceAdmins              bool        `json:"enforce_admins"`
	AllowForcePushes           bool        `json:"allow_force_pushes"`
	AllowDeletions             bool        `json:"allow_deletions"`
	RequiredLinearHistory      bool        `json:"required_linear_history"`
	RequiredConversationRes    bool        `json:"required_conversation_resolution"`
	RequiredSignatures         bool        `json:"required_signatures"`
	PushRestrictions           bool        `json:"push_restrictions"`
}

type reviewRule struct {
	RequiredApprovingReviewCount int  `json:"required_approving_review_count"`
	DismissStaleReviews          bool `json:"dismiss_stale_reviews"`
	RequireCodeOwnerReviews      bool `json:"require_code_owner_reviews"`
	RequireLastPushApproval      bool `json:"require_last_push_approval"`
}

type checksRule struct {
	Strict   bool     `json:"strict"`
	Contexts []string `json:"contexts"`
}

func shapeProtection(p *gh.Protection) classicProtection {
	c := classicProtection{
		EnforceAdmins:           p.EnforceAdmins != nil && p.EnforceAdmins.Enabled,
		AllowForcePushes:        p.AllowForcePushes != nil && p.AllowForcePushes.Enabled,
		AllowDeletions:          p.AllowDeletions != nil && p.AllowDeletions.Enabled,
		RequiredLinearHistory:   p.RequireLinearHistory != nil && p.RequireLinearHistory.Enabled,
		RequiredConversationRes: p.RequiredConversationResolution != nil && p.RequiredConversationResolution.Enabled,
		RequiredSignatures:      p.RequiredSignatures != nil && p.RequiredSignatures.GetEnabled(),
		PushRestrictions:        p.Restrictions != nil,
	}
	if rv := p.RequiredPullRequestReviews; rv != nil {
		c.RequiredPullRequestReviews = &reviewRule{rv.RequiredApprovingReviewCount, rv.DismissStaleReviews, rv.RequireCodeOwnerReviews, rv.RequireLastPushApproval}
	}
	if sc := p.RequiredStatusChecks; sc != nil {
		cr := &checksRule{Strict: sc.Strict, Contexts: []string{}}
		if sc.Contexts != nil {
			cr.Contexts = append(cr.Contexts, *sc.Contexts...)
		}
		if sc.Checks != nil {
			for _, ch := range *sc.Checks {
				if !slices.Contains(cr.Contexts, ch.Context) {
					cr.Contexts = append(cr.Contexts, ch.Context)
				}
			}
		}
		c.RequiredStatusChecks = cr
	}
	return c
}

// branchRule is one entry of GET /repos/{o}/{r}/rules/branches/{branch}.
type branchRule struct {
	Type              string          `json:"type"`
	Parameters        json.RawMessage `json:"parameters,omitempty"`
	RulesetSourceType string          `json:"ruleset_source_type"`
	RulesetSource     string          `json:"ruleset_source"`
	RulesetID         int64           `json:"ruleset_id"`
}

type bypassActor struct {
	ActorID    int64  `json:"actor_id,omitempty"`
	ActorType  string `json:"actor_type"`
	BypassMode string `json:"bypass_mode,omitempty"`
}

type rulesetInfo struct {
	ID           int64         `json:"id"`
	Name         string        `json:"name"`
	SourceType   string        `json:"source_type"`
	Source       string        `json:"source"`
	Enforcement  string        `json:"enforcement"`
	BypassActors []bypassActor `json:"bypass_actors"`
	Rules        []ruleRow     `json:"rules,omitempty"` // the rules that apply to this branch
}

type ruleRow struct {
	Type       string          `json:"type"`
	Parameters json.RawMessage `json:"parameters,omitempty"`
}

func shapeRuleset(g *gh.Ruleset) rulesetInfo {
	ri := rulesetInfo{ID: g.GetID(), Name: g.Name, SourceType: derefStr(g.SourceType), Source: g.Source, Enforcement: g.Enforcement, BypassActors: []bypassActor{}}
	for _, a := range g.BypassActors {
		ri.BypassActors = append(ri.BypassActors, bypassActor{ActorID: derefInt(a.ActorID), ActorType: derefStr(a.ActorType), BypassMode: derefStr(a.BypassMode)})
	}
	return ri
}

func derefStr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func derefInt(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

type rulesetFuture struct {
	once sync.Once
	v    rulesetInfo
	err  error
}

// ruleset fetches a ruleset's details (for its bypass actors); organization
// rulesets are fetched once per run.
func (r *run) ruleset(ctx context.Context, repo repoInfo, sourceType, source string, id int64) (rulesetInfo, error) {
	if sourceType == "Organization" {
		r.rsMu.Lock()
		f, ok := r.orgRulesets[id]
		if !ok {
			f = &rulesetFuture{}
			r.orgRulesets[id] = f
		}
		r.rsMu.Unlock()
		f.once.Do(func() {
			f.v, _, f.err = getPage(ctx, r, fmt.Sprintf("orgs/%s/rulesets/%d", pathEsc(source), id), true, shapeRuleset)
		})
		return f.v, f.err
	}
	v, _, err := getPage(ctx, r, fmt.Sprintf("repos/%s/%s/rulesets/%d", pathEsc(r.org), pathEsc(repo.Name), id), true, shapeRuleset)
	return v, err
}

type effectiveProtection struct {
	PullRequestRequired     bool          `json:"pull_request_required"`
	RequiredApprovals       int           `json:"required_approvals"`
	DismissStaleReviews     bool          `json:"dismiss_stale_reviews"`
	CodeOwnerReviews        bool          `json:"code_owner_reviews"`
	RequiredStatusChecks    []string      `json:"required_status_checks"`
	ForcePushBlocked        bool          `json:"force_push_blocked"`
	DeletionBlocked         bool          `json:"deletion_blocked"`
	AdminsExempt            bool          `json:"admins_exempt_from_classic_protection"`
	RulesetBypassActors     []bypassActor `json:"ruleset_bypass_actors"`
	ProtectedByAnyMechanism bool          `json:"protected"`
}

// branchProtection returns the artifact and the required status checks.
func (r *run) branchProtection(ctx context.Context, repo repoInfo) (collectors.Artifact, []string, error) {
	base := fmt.Sprintf("repos/%s/%s", pathEsc(r.org), pathEsc(repo.Name))
	br := pathEsc(repo.DefaultBranch)
	pages := 1
	var classic *classicProtection
	status := "protected"
	cp, _, err := getPage(ctx, r, base+"/branches/"+br+"/protection", true, shapeProtection)
	var se *httpx.StatusError
	switch {
	case err == nil:
		classic = &cp
	case errors.As(err, &se) && se.Status == http.StatusNotFound && se.Message == "Branch not protected":
		status = "not protected"
	case errors.As(err, &se) && se.Status == http.StatusForbidden && strings.Contains(se.Message, "Upgrade to GitHub Pro"):
		status = "unavailable on this plan: " + se.Message
	default:
		return collectors.Artifact{}, nil, err
	}
	var rules []branchRule
	p, err := eachPage(ctx, r, base+"/rules/branches/"+br+"?per_page=100", true, func(g []branchRule) []branchRule { return g },
		func(rs []branchRule) error { rules = append(rules, rs...); return nil })
	if err != nil {
		return collectors.Artifact{}, nil, err
	}
	pages += p
	byID := map[int64]*rulesetInfo{}
	var order []int64
	for _, rule := range rules {
		rs, ok := byID[rule.RulesetID]
		if !ok {
			info, err := r.ruleset(ctx, repo, rule.RulesetSourceType, rule.RulesetSource, rule.RulesetID)
			if err != nil {
				return collectors.Artifact{}, nil, err
			}
			pages++
			info.Rules = nil
			rs = &info
			byID[rule.RulesetID] = rs
			order = append(order, rule.RulesetID)
		}
		rs.Rules = append(rs.Rules, ruleRow{Type: rule.Type, Parameters: rule.Parameters})
	}
	rulesets := make([]rulesetInfo, 0, len(order))
	for _, id := range order {
		rulesets = append(rulesets, *byID[id])
	}
	eff := effective(classic, rulesets)
	body := struct {
		Repository    string              `json:"repository"`
		Branch        string              `json:"branch"`
		Visibility    string              `json:"visibility,omitempty"`
		AsOf          string              `json:"as_of"`
		ClassicStatus string              `json:"classic_protection_status"`
		Classic       *classicProtection  `json:"classic_protection"`
		Rulesets      []rulesetInfo       `json:"rulesets"`
		Effective     effectiveProtection `json:"effective"`
	}{r.org + "/" + repo.Name, repo.DefaultBranch, repo.Visibility, ts(r.req.Now), status, classic, rulesets, eff}
	b, err := json.Marshal(body)
	if err != nil {
		return collectors.Artifact{}, nil, collectors.Permanent(err)
	}
	ep := "GET /" + base + "/branches/" + repo.DefaultBranch + "/protection"
	return collectors.Artifact{Type: EvBranchProtection, Subject: r.org + "/" + repo.Name + "@" + repo.DefaultBranch,
		ContentType: "application/json", Body: b,
		Source: r.source(ep, "GET /"+base+"/rules/branches/"+repo.DefaultBranch+" and the rulesets it names", pages, 1+len(rulesets))}, eff.RequiredStatusChecks, nil
}

func effective(c *classicProtection, rulesets []rulesetInfo) effectiveProtection {
	e := effectiveProtection{RequiredStatusChecks: []string{}, RulesetBypassActors: []bypassActor{}}
	if c != nil {
		e.ProtectedByAnyMechanism = true
		if rv := c.RequiredPullRequestReviews; rv != nil {
			e.PullRequestRequired = true
			e.RequiredApprovals = rv.RequiredApprovingReviewCount
			e.DismissStaleReviews = rv.DismissStaleReviews
			e.CodeOwnerReviews = rv.RequireCodeOwnerReviews
		}
		if c.RequiredStatusChecks != nil {
			e.RequiredStatusChecks = append(e.RequiredStatusChecks, c.RequiredStatusChecks.Contexts...)
		}
		e.ForcePushBlocked = !c.AllowForcePushes
		e.DeletionBlocked = !c.AllowDeletions
		e.AdminsExempt = !c.EnforceAdmins
	}
	for _, rs := range rulesets {
		if rs.Enforcement != "active" {
			continue
		}
		e.ProtectedByAnyMechanism = true
		e.RulesetBypassActors = append(e.RulesetBypassActors, rs.BypassActors...)
		for _, rule := range rs.Rules {
			switch rule.Type {
			case "non_fast_forward":
				e.ForcePushBlocked = true
			case "deletion":
				e.DeletionBlocked = true
			case "pull_request":
				e.PullRequestRequired = true
				var p struct {
					Count     int  `json:"required_approving_review_count"`
					Stale     bool `json:"dismiss_stale_reviews_on_push"`
					CodeOwner bool `json:"require_code_owner_review"`
				}
				_ = json.Unmarshal(rule.Parameters, &p)
				e.RequiredApprovals = max(e.RequiredApprovals, p.Count)
				e.DismissStaleReviews = e.DismissStaleReviews || p.Stale
				e.CodeOwnerReviews = e.CodeOwnerReviews || p.CodeOwner
			case "required_status_checks":
				var p struct {
					Checks []struct {
						Context string `json:"context"`
					} `json:"required_status_checks"`
				}
				_ = json.Unmarshal(rule.Parameters, &p)
				for _, ch := range p.Checks {
					if !slices.Contains(e.RequiredStatusChecks, ch.Context) {
						e.RequiredStatusChecks = append(e.RequiredStatusChecks, ch.Context)
					}
				}
			}
		}
	}
	return e
}

// ---- github.dependabot_alerts ----

type alertRow struct {
	Number          int    `json:"number"`
	State           string `json:"state"`
	Severity        string `json:"severity"`
	Package         string `json:"package"`
	Ecosystem       string `json:"ecosystem"`
	Manifest        string `json:"manifest_path"`
	GHSA            string `json:"ghsa_id"`
	CVE             string `json:"cve_id,omitempty"`
	Summary         string `json:"summary"`
	URL             string `json:"html_url"`
	CreatedAt       string `json:"created_at"`
	FixedAt         string `json:"fixed_at,omitempty"`
	DismissedAt     string `json:"dismissed_at,omitempty"`
	AutoDismissedAt string `json:"auto_dismissed_at,omitempty"`
	DismissedBy     string `json:"dismissed_by,omitempty"`
	DismissedReason string `json:"dismissed_reason,omitempty"`
	AgeDays         *int   `json:"age_days,omitempty"` // open: days since created; closed: days it stayed open
}

func tsp(t *gh.Timestamp) string {
	if t == nil {
		return ""
	}
	return ts(t.Time)
}

func shapeAlerts(g []*gh.DependabotAlert) []alertRow {
	out := make([]alertRow, 0, len(g))
	for _, a := range g {
		row := alertRow{Number: a.GetNumber(), State: a.GetState(), URL: a.GetHTMLURL(), CreatedAt: tsp(a.CreatedAt),
			FixedAt: tsp(a.FixedAt), DismissedAt: tsp(a.DismissedAt), AutoDismissedAt: tsp(a.AutoDismissedAt),
			DismissedReason: a.GetDismissedReason()}
		if a.DismissedBy != nil {
			row.DismissedBy = a.DismissedBy.GetLogin()
		}
		if sa := a.SecurityAdvisory; sa != nil {
			row.Severity, row.GHSA, row.CVE, row.Summary = sa.GetSeverity(), sa.GetGHSAID(), sa.GetCVEID(), sa.GetSummary()
		}
		if d := a.Dependency; d != nil {
			row.Manifest = d.GetManifestPath()
			if d.Package != nil {
				row.Package, row.Ecosystem = d.Package.GetName(), d.Package.GetEcosystem()
			}
		}
		out = append(out, row)
	}
	return out
}

func days(from, to string, now time.Time) *int {
	f, err := time.Parse(time.RFC3339, from)
	if err != nil {
		return nil
	}
	t := now
	if to != "" {
		if tt, err := time.Parse(time.RFC3339, to); err == nil {
			t = tt
		}
	}
	d := int(t.Sub(f).Hours() / 24)
	return &d
}

func (r *run) dependabotAlerts(ctx context.Context, repo repoInfo) (collectors.Artifact, error) {
	full := r.org + "/" + repo.Name
	u := fmt.Sprintf("repos/%s/%s/dependabot/alerts?per_page=100", pathEsc(r.org), pathEsc(repo.Name))
	art := collectors.Artifact{Type: EvDependabotAlerts, Subject: full, ContentType: "application/json"}
	var sp spool
	counts := map[string]int{"open": 0, "fixed": 0, "dismissed": 0, "auto_dismissed": 0}
	pages, err := eachPage(ctx, r, u, true, shapeAlerts, func(rows []alertRow) error {
		for _, a := range rows {
			if a.State != "open" && a.State != "fixed" && a.State != "dismissed" && a.State != "auto_dismissed" {
				continue
			}
			counts[a.State]++
			closed := a.FixedAt
			if closed == "" {
				closed = a.DismissedAt
			}
			if closed == "" {
				closed = a.AutoDismissedAt
			}
			a.AgeDays = days(a.CreatedAt, closed, r.req.Now)
			if err := sp.add(a); err != nil {
				return err
			}
		}
		return nil
	})
	var se *httpx.StatusError
	if err != nil && errors.As(err, &se) && (se.Status == http.StatusForbidden || se.Status == http.StatusNotFound) &&
		strings.Contains(strings.ToLower(se.Message), "disabled") {
		sp.discard()
		r.log.Warn("Dependabot alerts are disabled for a repository; recorded as evidence", "repository", full, "status", se.Status)
		b, _ := json.Marshal(struct {
			Repository    string `json:"repository"`
			AsOf          string `json:"as_of"`
			AlertsEnabled bool   `json:"alerts_enabled"`
			Status        int    `json:"http_status"`
			Message       string `json:"message"`
		}{full, ts(r.req.Now), false, se.Status, se.Message})
		art.Body = b
		art.Source = r.source("GET /"+endpoint(u)[1:], "per_page=100", 0, 0)
		return art, nil
	}
	if err != nil {
		sp.discard()
		return art, err
	}
	head := struct {
		Repository    string `json:"repository"`
		AsOf          string `json:"as_of"`
		AlertsEnabled bool   `json:"alerts_enabled"`
	}{full, ts(r.req.Now), true}
	body, err := sp.body(jsonHead(head, "alerts"), jsonTail(struct {
		Counts map[string]int `json:"counts"`
	}{counts}))
	if err != nil {
		return art, err
	}
	art.BodyReader = body
	art.Source = r.source("GET "+endpoint(u), "per_page=100 (all states)", pages, sp.n)
	return art, nil
}

// ---- github.pull_requests ----

type prRecord struct {
	Number              int         `json:"number"`
	Title               string      `json:"title"`
	URL                 string      `json:"html_url"`
	Author              string      `json:"author"`
	HeadBranch          string      `json:"head_branch"`
	BaseBranch          string      `json:"base_branch"`
	CreatedAt           string      `json:"created_at"`
	MergedAt            string      `json:"merged_at"`
	MergedBy            string      `json:"merged_by"`
	MergeCommitSHA      string      `json:"merge_commit_sha"`
	HeadSHA             string      `json:"head_sha"`
	Reviews             []reviewRec `json:"reviews"`
	ApprovedBy          []string    `json:"approved_by"`
	IndependentApproval bool        `json:"independent_approval"`
	MergedByAuthor      bool        `json:"merged_by_author"`
	Checks              checksRec   `json:"checks_at_merge"`
	IssueKeys           []string    `json:"issue_keys"`
}

type reviewRec struct {
	Reviewer    string `json:"reviewer"`
	State       string `json:"state"`
	SubmittedAt string `json:"submitted_at"`
	CommitID    string `json:"commit_id"`
}

type checkRec struct {
	Name       string `json:"name"`
	Kind       string `json:"kind"` // check_run or status
	Status     string `json:"status"`
	Conclusion string `json:"conclusion"`
	At         string `json:"completed_at,omitempty"`
	App        string `json:"app,omitempty"`
}

type checksRec struct {
	Commit          string     `json:"commit"`
	State           string     `json:"state"` // success, failure, pending, none
	Required        []string   `json:"required"`
	RequiredKnown   bool       `json:"required_known"`
	RequiredPassed  *bool      `json:"required_passed"`
	RequiredMissing []string   `json:"required_missing"`
	RequiredFailed  []string   `json:"required_failed"`
	Results         []checkRec `json:"results"`
}

func (r *run) pullRequests(ctx context.Context, repo repoInfo, required []string, requiredKnown bool) (*collectors.Artifact, pullState, error) {
	r.mu.Lock()
	prev := r.state.Pulls[repo.Name]
	r.mu.Unlock()
	from := r.req.Since
	if !prev.Until.IsZero() {
		from = prev.Until
	}
	to := r.req.Now
	if !from.Before(to) {
		return nil, prev, nil
	}
	base := fmt.Sprintf("repos/%s/%s", pathEsc(r.org), pathEsc(repo.Name))
	q := url.Values{"state": {"closed"}, "base": {repo.DefaultBranch}, "sort": {"updated"}, "direction": {"desc"}, "per_page": {"100"}}
	first := base + "/pulls?" + q.Encode()
	var sp spool
	pages, firstETag, beyond := 0, "", false
	for u := first; u != ""; {
		etag := ""
		if u == first {
			etag = prev.ETag
		}
		resp, err := r.do(ctx, u, etag)
		if errors.Is(err, errNotModified) {
			// Nothing was updated since the previous run read this list
			// (and that run saw no merge beyond its window): no new merge.
			resp.Body.Close()
			return nil, pullState{Until: to, ETag: prev.ETag}, nil
		}
		if err != nil {
			sp.discard()
			return nil, prev, err
		}
		var list []*gh.PullRequest
		if err := decodeBody(resp, u, &list); err != nil {
			sp.discard()
			return nil, prev, err
		}
		if u == first {
			firstETag = resp.Header.Get("ETag")
		}
		pages++
		next := r.nextLink(resp.Header)
		for _, pr := range list {
			if pr.UpdatedAt != nil && !pr.UpdatedAt.After(from) {
				next = "" // sorted by updated desc: everything further was last updated before the window
				break
			}
			if pr.MergedAt == nil {
				continue
			}
			m := pr.MergedAt.Time
			if m.After(to) {
				beyond = true
				continue
			}
			if !m.After(from) {
				continue
			}
			rec, err := r.pullRecord(ctx, base, pr, required, requiredKnown)
			if err != nil {
				sp.discard()
				return nil, prev, err
			}
			if err := sp.add(rec); err != nil {
				sp.discard()
				return nil, prev, err
			}
		}
		u = next
	}
	nextState := pullState{Until: to}
	if !beyond {
		nextState.ETag = firstETag
	}
	if sp.n == 0 {
		sp.discard()
		return nil, nextState, nil
	}
	head := struct {
		Repository   string `json:"repository"`
		BaseBranch   string `json:"base_branch"`
		WindowStart  string `json:"merged_after"`
		WindowEnd    string `json:"merged_at_or_before"`
		Completeness string `json:"completeness"`
	}{r.org + "/" + repo.Name, repo.DefaultBranch, ts(from), ts(to),
		"every closed pull request into the base branch updated after merged_after was read (merging updates a pull request, so none merged in the window is missed)"}
	body, err := sp.body(jsonHead(head, "pull_requests"), jsonTail(struct {
		Count int `json:"count"`
	}{sp.n}))
	if err != nil {
		return nil, prev, err
	}
	a := &collectors.Artifact{Type: EvPullRequests, Subject: r.org + "/" + repo.Name, ContentType: "application/json",
		BodyReader: body, WindowStart: from, WindowEnd: to,
		Source: r.source("GET /"+base+"/pulls", q.Encode()+"; per merged pull request: GET pulls/{n}, pulls/{n}/reviews, commits/{head}/check-runs, commits/{head}/status", pages, sp.n)}
	return a, nextState, nil
}

func (r *run) pullRecord(ctx context.Context, base string, listed *gh.PullRequest, required []string, requiredKnown bool) (prRecord, error) {
	n := listed.GetNumber()
	pr, _, err := getPage(ctx, r, fmt.Sprintf("%s/pulls/%d", base, n), false, func(g *gh.PullRequest) *gh.PullRequest { return g })
	if err != nil {
		return prRecord{}, err
	}
	rec := prRecord{Number: n, Title: pr.GetTitle(), URL: pr.GetHTMLURL(), Author: pr.GetUser().GetLogin(),
		HeadBranch: pr.GetHead().GetRef(), BaseBranch: pr.GetBase().GetRef(), CreatedAt: tsp(pr.CreatedAt), MergedAt: tsp(pr.MergedAt),
		MergedBy: pr.GetMergedBy().GetLogin(), MergeCommitSHA: pr.GetMergeCommitSHA(), HeadSHA: pr.GetHead().GetSHA(),
		Reviews: []reviewRec{}, ApprovedBy: []string{}}
	rec.MergedByAuthor = rec.MergedBy != "" && rec.MergedBy == rec.Author
	_, err = eachPage(ctx, r, fmt.Sprintf("%s/pulls/%d/reviews?per_page=100", base, n), false,
		func(g []*gh.PullRequestReview) []reviewRec {
			out := make([]reviewRec, 0, len(g))
			for _, rv := range g {
				out = append(out, reviewRec{Reviewer: rv.GetUser().GetLogin(), State: rv.GetState(), SubmittedAt: tsp(rv.SubmittedAt), CommitID: rv.GetCommitID()})
			}
			return out
		}, func(rs []reviewRec) error { rec.Reviews = append(rec.Reviews, rs...); return nil })
	if err != nil {
		return prRecord{}, err
	}
	// A reviewer's latest approving/blocking review counts, as on GitHub;
	// comments do not change it and a dismissed approval no longer counts.
	latest := map[string]string{}
	for _, rv := range rec.Reviews {
		if rv.State == "COMMENTED" || rv.State == "PENDING" {
			continue
		}
		latest[rv.Reviewer] = rv.State
	}
	for who, st := range latest {
		if st == "APPROVED" {
			rec.ApprovedBy = append(rec.ApprovedBy, who)
			if who != rec.Author {
				rec.IndependentApproval = true
			}
		}
	}
	sort.Strings(rec.ApprovedBy)
	rec.Checks, err = r.checksAt(ctx, base, rec.HeadSHA, required, requiredKnown)
	if err != nil {
		return prRecord{}, err
	}
	rec.IssueKeys = r.issueKeys(rec.Title, rec.HeadBranch, pr.GetBody())
	return rec, nil
}

func (r *run) issueKeys(title, branch, body string) []string {
	set := map[string]bool{}
	for _, s := range []string{title, strings.ToUpper(branch), body} {
		for _, k := range r.keyRE.FindAllString(s, -1) {
			set[k] = true
		}
	}
	return sortedKeys(set)
}

// checksAt reports the check runs and commit statuses of the merged head
// commit, and whether the required checks passed.
func (r *run) checksAt(ctx context.Context, base, sha string, required []string, requiredKnown bool) (checksRec, error) {
	c := checksRec{Commit: sha, Results: []checkRec{}, Required: []string{}, RequiredMissing: []string{}, RequiredFailed: []string{}, RequiredKnown: requiredKnown}
	if sha == "" {
		c.State = "none"
		return c, nil
	}
	_, err := eachPage(ctx, r, fmt.Sprintf("%s/commits/%s/check-runs?per_page=100", base, pathEsc(sha)), false,
		func(g *gh.ListCheckRunsResults) []checkRec {
			out := make([]checkRec, 0, len(g.CheckRuns))
			for _, cr := range g.CheckRuns {
				out = append(out, checkRec{Name: cr.GetName(), Kind: "check_run", Status: cr.GetStatus(), Conclusion: cr.GetConclusion(),
					At: tsp(cr.CompletedAt), App: cr.GetApp().GetSlug()})
			}
			return out
		}, func(rs []checkRec) error { c.Results = append(c.Results, rs...); return nil })
	if err != nil {
		return c, err
	}
	_, err = eachPage(ctx, r, fmt.Sprintf("%s/commits/%s/status?per_page=100", base, pathEsc(sha)), false,
		func(g *gh.CombinedStatus) []checkRec {
			out := make([]checkRec, 0, len(g.Statuses))
			for _, st := range g.Statuses {
				out = append(out, checkRec{Name: st.GetContext(), Kind: "status", Status: "completed", Conclusion: st.GetState(), At: tsp(st.UpdatedAt)})
				if st.GetState() == "pending" {
					out[len(out)-1].Status = "pending"
				}
			}
			return out
		}, func(rs []checkRec) error { c.Results = append(c.Results, rs...); return nil })
	if err != nil {
		return c, err
	}
	ok := func(x checkRec) bool {
		return x.Status == "completed" && (x.Conclusion == "success" || x.Conclusion == "neutral" || x.Conclusion == "skipped")
	}
	c.State = "none"
	if len(c.Results) > 0 {
		c.State = "success"
	}
	for _, x := range c.Results {
		switch {
		case ok(x):
		case x.Status != "completed":
			if c.State == "success" {
				c.State = "pending"
			}
		default:
			c.State = "failure"
		}
	}
	if requiredKnown {
		c.Required = append(c.Required, required...)
		passed := true
		for _, name := range required {
			found, good := false, false
			for _, x := range c.Results {
				if x.Name == name {
					found = true
					good = good || ok(x)
				}
			}
			switch {
			case !found:
				c.RequiredMissing = append(c.RequiredMissing, name)
				passed = false
			case !good:
				c.RequiredFailed = append(c.RequiredFailed, name)
				passed = false
			}
		}
		c.RequiredPassed = &passed
	}
	return c, nil
}
