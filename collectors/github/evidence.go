package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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

// orgSettings is the part of GET /orgs/{org} the evidence uses. GitHub
// returns several of these fields to organisation owners only: a field it
// did not return is null, never false or zero.
type orgSettings struct {
	Login                       string  `json:"login"`
	TwoFactorRequirementEnabled *bool   `json:"two_factor_requirement_enabled"`
	DefaultRepositoryPermission *string `json:"default_repository_permission"`
	MembersCanCreateRepos       *bool   `json:"members_can_create_repositories"`
	MembersCanCreatePublicRepos *bool   `json:"members_can_create_public_repositories"`
	WebCommitSignoffRequired    *bool   `json:"web_commit_signoff_required"`
	PublicRepos                 *int    `json:"public_repos"`
	TotalPrivateRepos           *int    `json:"total_private_repos"`
	// OwnerFieldsVisible is false when GitHub withheld the owner-only
	// fields (two_factor_requirement_enabled and the private totals).
	OwnerFieldsVisible bool `json:"owner_fields_visible"`
}

func shapeOrg(g orgSettings) orgSettings {
	g.OwnerFieldsVisible = g.TwoFactorRequirementEnabled != nil
	return g
}

type memberRow struct {
	Login string `json:"login"`
	ID    int64  `json:"id"`
	Role  string `json:"role"`
	// TwoFactorDisabled is null when the credentials may not use the
	// 2fa_disabled filter (organisation owners only).
	TwoFactorDisabled *bool `json:"two_factor_disabled"`
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

// ownerOnly reports whether err is GitHub refusing a filter or field to a
// caller who is not an organisation owner (422, or 403 without a rate limit).
func ownerOnly(err error) bool {
	var se *httpx.StatusError
	return errors.As(err, &se) && (se.Status == http.StatusUnprocessableEntity || se.Status == http.StatusForbidden) && !collectors.IsRetryable(err)
}

func boolp(b bool) *bool { return &b }

func (r *run) orgMembers(ctx context.Context) (collectors.Artifact, error) {
	o := pathEsc(r.org)
	settings := r.orgInfo
	pages := 1
	admins, _, p, err := r.collectLogins(ctx, "orgs/"+o+"/members?per_page=100&role=admin")
	if err != nil {
		return collectors.Artifact{}, err
	}
	pages += p
	outsideSet, outside, p, err := r.collectLogins(ctx, "orgs/"+o+"/outside_collaborators?per_page=100")
	if err != nil {
		return collectors.Artifact{}, err
	}
	_ = outsideSet
	pages += p
	// The 2FA filter is for organisation owners only: anyone else gets 422,
	// and 2FA status is then recorded as unknown.
	twoFAVisible := true
	var hidden []string
	no2fa, _, p, err := r.collectLogins(ctx, "orgs/"+o+"/members?filter=2fa_disabled&per_page=100")
	pages += p
	if err != nil {
		if !ownerOnly(err) {
			return collectors.Artifact{}, err
		}
		twoFAVisible, no2fa = false, nil
		hidden = append(hidden, "members 2FA status: "+err.Error())
	}
	var outNo2fa map[string]bool
	if twoFAVisible {
		outNo2fa, _, p, err = r.collectLogins(ctx, "orgs/"+o+"/outside_collaborators?filter=2fa_disabled&per_page=100")
		pages += p
		if err != nil {
			if !ownerOnly(err) {
				return collectors.Artifact{}, err
			}
			twoFAVisible, no2fa, outNo2fa = false, nil, nil
			hidden = append(hidden, "outside collaborators 2FA status: "+err.Error())
		}
	}
	if !twoFAVisible {
		r.log.Warn("GitHub withheld members' 2FA status (organisation owners only); recorded as unknown", "org", r.org)
	}
	if !settings.OwnerFieldsVisible {
		hidden = append(hidden, "organisation settings two_factor_requirement_enabled, default_repository_permission, total_private_repos: returned to organisation owners only")
	}
	flag := func(set map[string]bool, login string) *bool {
		if !twoFAVisible {
			return nil
		}
		return boolp(set[login])
	}
	var sp spool
	var nAdmins, nMembers int
	p, err = eachPage(ctx, r, "orgs/"+o+"/members?per_page=100&role=all", true, logins, func(rows []userRow) error {
		for _, x := range rows {
			role := "member"
			if admins[x.Login] {
				role = "admin"
				nAdmins++
			}
			nMembers++
			if err := sp.add(memberRow{Login: x.Login, ID: x.ID, Role: role, TwoFactorDisabled: flag(no2fa, x.Login)}); err != nil {
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
		TwoFactorDisabled *bool  `json:"two_factor_disabled"`
	}
	outRows := make([]outsideRow, 0, len(outside))
	for _, x := range outside {
		outRows = append(outRows, outsideRow{x.Login, x.ID, flag(outNo2fa, x.Login)})
	}
	head := struct {
		Organization string      `json:"organization"`
		AsOf         string      `json:"as_of"`
		Settings     orgSettings `json:"settings"`
	}{r.org, ts(r.req.Now), settings}
	count := func(m map[string]bool) *int {
		if !twoFAVisible {
			return nil
		}
		n := len(m)
		return &n
	}
	var no2faList []string
	if twoFAVisible {
		no2faList = sortedKeys(no2fa)
	}
	tail := struct {
		Summary      map[string]*int `json:"summary"`
		TwoFAVisible bool            `json:"two_factor_visible"`
		No2FA        []string        `json:"members_with_2fa_disabled"`
		Outside      []outsideRow    `json:"outside_collaborators"`
		Hidden       []string        `json:"not_visible_to_credentials"`
	}{Summary: map[string]*int{"members": &nMembers, "admins": &nAdmins, "members_2fa_disabled": count(no2fa),
		"outside_collaborators": intp(len(outRows)), "outside_collaborators_2fa_disabled": count(outNo2fa)},
		TwoFAVisible: twoFAVisible, No2FA: no2faList, Outside: outRows, Hidden: append([]string{}, hidden...)}
	body, err := sp.body(jsonHead(head, "members"), jsonTail(tail))
	if err != nil {
		return collectors.Artifact{}, err
	}
	src := r.source("GET /orgs/"+r.org+"/members", "role=all, role=admin, filter=2fa_disabled; GET /orgs/"+r.org+"/outside_collaborators; GET /orgs/"+r.org, pages, nMembers)
	return collectors.Artifact{Type: EvOrgMembers, Subject: r.org, ContentType: "application/json", BodyReader: body, Source: src}, nil
}

func intp(n int) *int { return &n }

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
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	SourceType  string `json:"source_type"`
	Source      string `json:"source"`
	Enforcement string `json:"enforcement"`
	// BypassActors is null when GitHub did not return the field: it shows
	// bypass_actors only to a caller with write access to the ruleset.
	BypassActors        []bypassActor `json:"bypass_actors"`
	BypassActorsVisible bool          `json:"bypass_actors_visible"`
	// CurrentUserCanBypass is GitHub's answer for the collector's own
	// credentials (repository-level endpoint only; null otherwise).
	CurrentUserCanBypass *string   `json:"current_user_can_bypass"`
	Rules                []ruleRow `json:"rules,omitempty"` // the rules that apply to this branch
}

// rulesetWire is the part of GitHub's repository-ruleset the evidence
// uses; pointers tell a missing field from an empty one.
type rulesetWire struct {
	ID                   int64          `json:"id"`
	Name                 string         `json:"name"`
	SourceType           string         `json:"source_type"`
	Source               string         `json:"source"`
	Enforcement          string         `json:"enforcement"`
	BypassActors         *[]bypassActor `json:"bypass_actors"`
	CurrentUserCanBypass *string        `json:"current_user_can_bypass"`
}

type ruleRow struct {
	Type       string          `json:"type"`
	Parameters json.RawMessage `json:"parameters,omitempty"`
}

func shapeRuleset(g rulesetWire) rulesetInfo {
	ri := rulesetInfo{ID: g.ID, Name: g.Name, SourceType: g.SourceType, Source: g.Source, Enforcement: g.Enforcement,
		CurrentUserCanBypass: g.CurrentUserCanBypass}
	if g.BypassActors != nil {
		ri.BypassActors, ri.BypassActorsVisible = append([]bypassActor{}, *g.BypassActors...), true
	}
	return ri
}

// futures computes a value once per key and run, for concurrent callers;
// a failure is not kept, so a later caller tries again.
type futures[V any] struct {
	mu sync.Mutex
	m  map[string]*future[V]
}

type future[V any] struct {
	once sync.Once
	v    V
	err  error
}

func (fs *futures[V]) get(key string, fill func() (V, error)) (V, error) {
	fs.mu.Lock()
	if fs.m == nil {
		fs.m = map[string]*future[V]{}
	}
	f, ok := fs.m[key]
	if !ok {
		f = &future[V]{}
		fs.m[key] = f
	}
	fs.mu.Unlock()
	f.once.Do(func() { f.v, f.err = fill() })
	if f.err != nil {
		fs.mu.Lock()
		if fs.m[key] == f {
			delete(fs.m, key)
		}
		fs.mu.Unlock()
	}
	return f.v, f.err
}

// ruleset fetches a ruleset's details (for its bypass actors); organization
// rulesets are fetched once per run.
func (r *run) ruleset(ctx context.Context, repo repoInfo, sourceType, source string, id int64) (rulesetInfo, error) {
	if sourceType == "Organization" {
		return r.orgRulesets.get(fmt.Sprintf("%s/%d", source, id), func() (rulesetInfo, error) {
			v, _, err := getPage(ctx, r, fmt.Sprintf("orgs/%s/rulesets/%d", pathEsc(source), id), true, shapeRuleset)
			return v, err
		})
	}
	v, _, err := getPage(ctx, r, fmt.Sprintf("repos/%s/%s/rulesets/%d", pathEsc(r.org), pathEsc(repo.Name), id), true, shapeRuleset)
	return v, err
}

type effectiveProtection struct {
	PullRequestRequired  bool     `json:"pull_request_required"`
	RequiredApprovals    int      `json:"required_approvals"`
	DismissStaleReviews  bool     `json:"dismiss_stale_reviews"`
	CodeOwnerReviews     bool     `json:"code_owner_reviews"`
	RequiredStatusChecks []string `json:"required_status_checks"`
	ForcePushBlocked     bool     `json:"force_push_blocked"`
	DeletionBlocked      bool     `json:"deletion_blocked"`
	AdminsExempt         bool     `json:"admins_exempt_from_classic_protection"`
	// RulesetBypassActors is null (and visible false) when any active
	// ruleset's bypass actors were hidden from the credentials.
	RulesetBypassActors        []bypassActor `json:"ruleset_bypass_actors"`
	RulesetBypassActorsVisible bool          `json:"ruleset_bypass_actors_visible"`
	ProtectedByAnyMechanism    bool          `json:"protected"`
}

// branchProtection returns the artifact and the effective protection.
func (r *run) branchProtection(ctx context.Context, repo repoInfo) (collectors.Artifact, effectiveProtection, error) {
	var none effectiveProtection
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
	case errors.As(err, &se) && se.Status == http.StatusNotFound && se.Message == "Branch not found":
		status = "branch not found (an empty repository has no branch)"
	default:
		return collectors.Artifact{}, none, err
	}
	var rules []branchRule
	p, err := eachPage(ctx, r, base+"/rules/branches/"+br+"?per_page=100", true, func(g []branchRule) []branchRule { return g },
		func(rs []branchRule) error { rules = append(rules, rs...); return nil })
	if err != nil {
		return collectors.Artifact{}, none, err
	}
	pages += p
	byID := map[int64]*rulesetInfo{}
	var order []int64
	for _, rule := range rules {
		rs, ok := byID[rule.RulesetID]
		if !ok {
			info, err := r.ruleset(ctx, repo, rule.RulesetSourceType, rule.RulesetSource, rule.RulesetID)
			if err != nil {
				return collectors.Artifact{}, none, err
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
		return collectors.Artifact{}, none, collectors.Permanent(err)
	}
	ep := "GET /" + base + "/branches/" + repo.DefaultBranch + "/protection"
	return collectors.Artifact{Type: EvBranchProtection, Subject: r.org + "/" + repo.Name + "@" + repo.DefaultBranch,
		ContentType: "application/json", Body: b,
		Source: r.source(ep, "GET /"+base+"/rules/branches/"+repo.DefaultBranch+" and the rulesets it names", pages, 1+len(rulesets))}, eff, nil
}

func effective(c *classicProtection, rulesets []rulesetInfo) (e effectiveProtection) {
	e = effectiveProtection{RequiredStatusChecks: []string{}, RulesetBypassActors: []bypassActor{}, RulesetBypassActorsVisible: true}
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
	defer func() {
		if !e.RulesetBypassActorsVisible {
			e.RulesetBypassActors = nil
		}
	}()
	for _, rs := range rulesets {
		if rs.Enforcement != "active" {
			continue
		}
		e.ProtectedByAnyMechanism = true
		if !rs.BypassActorsVisible {
			e.RulesetBypassActorsVisible = false
		}
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
