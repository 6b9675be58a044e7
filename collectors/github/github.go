// Package github is tickmark's GitHub collector: organisation access and
// 2FA, branch protection and rulesets, the population of merged pull
// requests with their reviews and checks, and Dependabot alerts.
package github

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v60/github"
	"golang.org/x/sync/errgroup"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/httpx"
)

// Version is recorded in every artifact's source.
const Version = "github/1"

// Evidence type names.
const (
	EvOrgMembers       = "github.org_members"
	EvBranchProtection = "github.branch_protection"
	EvPullRequests     = "github.pull_requests"
	EvDependabotAlerts = "github.dependabot_alerts"
	EvRepositories     = "github.repositories"
	EvRepositoryAccess = "github.repository_access"
	EvInvitations      = "github.invitations"
	EvCodeScanning     = "github.code_scanning_alerts"
	EvSecretScanning   = "github.secret_scanning_alerts"
	EvAuditLog         = "github.audit_log"
)

//go:embed sample.yaml
var sampleConfig string

var evidenceTypes = []collectors.EvidenceType{
	{Name: EvOrgMembers, Controls: []string{"CC6.1", "CC6.2", "CC6.3"},
		Description: "organisation settings (2FA requirement, default repository permission), members with role, members with 2FA disabled, outside collaborators"},
	{Name: EvBranchProtection, Controls: []string{"CC8.1"},
		Description: "classic protection and applicable rulesets (with bypass actors) of each repository's default branch; unprotected branches included"},
	{Name: EvPullRequests, Controls: []string{"CC8.1"},
		Description: "every commit that landed on the selected branches in the window, attributed to the merged pull request that brought it (with reviews, committers, strict independent approval and the reason when not, checks at merge, issue keys) or recorded as a direct push (with the rule-suite evaluation where visible)"},
	{Name: EvDependabotAlerts, Controls: []string{"CC7.1"},
		Description: "open, fixed and dismissed Dependabot alerts with severity and age; repositories with alerts disabled are recorded as such"},
	{Name: EvRepositoryAccess, Controls: []string{"CC6.2", "CC6.3"},
		Description: "per repository: the teams with their permission and the direct collaborators with their role, outside collaborators marked (null when the credentials may not list them)"},
	{Name: EvInvitations, Controls: []string{"CC6.2"},
		Description: "pending organisation invitations with role, inviter and age (organisation owners only; null otherwise)"},
	{Name: EvCodeScanning, Controls: []string{"CC7.1"},
		Description: "code-scanning alerts of every state with rule, severity, tool and age; repositories without code scanning recorded as such"},
	{Name: EvSecretScanning, Controls: []string{"CC7.1"},
		Description: "secret-scanning alerts of every state with secret type, resolution and age (the secret itself is never requested); repositories without secret scanning recorded as such"},
	{Name: EvAuditLog, Controls: []string{"CC6.2", "CC6.3"},
		Description: "organisation audit log events for membership and permission changes (GitHub Enterprise Cloud, organisation owners), incremental with an overlap re-read and de-duplication; audit_log_visible false with the reason when GitHub withholds it"},
	{Name: EvRepositories, Controls: []string{"CC6.1", "CC8.1"},
		Description: "the run's population: repositories the credentials can see against the organisation's own totals, the filters applied, and each repository's outcome (collected, empty, or failed with its finding); complete or partial"},
}

// short evidence names used in configuration
var evidenceNames = map[string]string{
	"org_members": EvOrgMembers, "branch_protection": EvBranchProtection,
	"pull_requests": EvPullRequests, "dependabot_alerts": EvDependabotAlerts,
	"repository_access": EvRepositoryAccess, "invitations": EvInvitations,
	"code_scanning_alerts": EvCodeScanning, "secret_scanning_alerts": EvSecretScanning,
	"audit_log": EvAuditLog,
}

func init() {
	collectors.Register(collectors.Definition{
		Type:          "github",
		Summary:       "GitHub organisation access and 2FA, branch protection and rulesets, merged pull requests with reviews, Dependabot alerts, the organisation audit log",
		EvidenceTypes: evidenceTypes,
		SampleConfig:  sampleConfig,
		NewConfig:     func() any { return &Config{} },
		New:           func(cfg any) (collectors.Collector, error) { return New(cfg.(*Config)) },
	})
}

// DefaultBaseURL is github.com's API.
const DefaultBaseURL = "https://api.github.com/"

// DefaultIssueKeyPattern finds Jira-style keys such as CHG-123.
const DefaultIssueKeyPattern = `\b[A-Z][A-Z0-9]{1,9}-[1-9][0-9]{0,6}\b`

// auditActionRE is an audit log action (org.add_member) or category (team).
var auditActionRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$`)

// Config is the `github:` section of a collectors[] entry.
type Config struct {
	// BaseURL is the API root: https://api.github.com/ or, for GitHub
	// Enterprise Server, https://ghe.example.com/api/v3/.
	BaseURL string `yaml:"base_url"`
	// Org is the organisation login.
	Org string `yaml:"org"`
	// Orgs collects several organisations with one token instead (repos:
	// then names repositories of any of them).
	Orgs []string `yaml:"orgs"`
	// Token is a fine-grained or classic personal access token.
	Token collectors.Secret `yaml:"token"`
	// AppID, InstallationID and PrivateKey authenticate as a GitHub App.
	AppID          int64 `yaml:"app_id"`
	InstallationID int64 `yaml:"installation_id"`
	// InstallationIDs maps each organisation to the App's installation on
	// it, for an App collecting several organisations (orgs:).
	InstallationIDs map[string]int64  `yaml:"installation_ids"`
	PrivateKey      collectors.Secret `yaml:"private_key"`
	// Repos limits collection to these repositories (names without the
	// org); empty means every non-archived repository of the org.
	Repos []string `yaml:"repos"`
	// Evidence selects evidence types (default: all four).
	Evidence []string `yaml:"evidence"`
	// Concurrency bounds requests in flight (default 8, at most 32).
	Concurrency int `yaml:"concurrency"`
	// IssueKeyPattern is the regular expression for issue keys in pull
	// request titles, branches and bodies (default: Jira-style CHG-123).
	IssueKeyPattern string `yaml:"issue_key_pattern"`
	// Branches selects the branches whose changes are collected: names or
	// patterns ("release/*", path.Match syntax) and ~DEFAULT_BRANCH
	// (default: [~DEFAULT_BRANCH]).
	Branches []string `yaml:"branches"`
	// Overlap is re-read at the start of each window so that changes
	// GitHub shows late are still collected (deduplicated; default 1h).
	Overlap *collectors.Duration `yaml:"overlap"`
	// AuditLogActions are the audit log actions collected (exact names, or
	// a category without a dot; default DefaultAuditLogActions).
	AuditLogActions []string `yaml:"audit_log_actions"`
	// AuditLogOverlap is how much before each audit log window is read
	// again for events GitHub shows late (default 1h).
	AuditLogOverlap *collectors.Duration `yaml:"audit_log_overlap"`
	// AuditLogLag keeps each audit log window this far behind the run's
	// clock (default 5m): the audit log is eventually consistent.
	AuditLogLag *collectors.Duration `yaml:"audit_log_lag"`
}

// Validate checks the configuration and fills defaults.
func (c *Config) Validate() error {
	var errs collectors.ConfigErrors
	bad := func(key, msg, hint string) {
		errs = append(errs, &collectors.ConfigError{Key: key, Msg: msg, Hint: hint})
	}
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("base_url", fmt.Sprintf("invalid URL %q", c.BaseURL), "use https://api.github.com/ or https://HOST/api/v3/ for GitHub Enterprise Server")
	}
	switch {
	case strings.TrimSpace(c.Org) == "" && len(c.Orgs) == 0:
		bad("org", "missing organisation", "set org: to the organisation login, e.g. acme (or orgs: [acme, acme-labs])")
	case c.Org != "" && len(c.Orgs) > 0:
		bad("orgs", "both org and orgs are set", "use org: for one organisation or orgs: for several")
	}
	seenOrg := map[string]bool{}
	for _, o := range c.Orgs {
		if strings.TrimSpace(o) == "" || strings.Contains(o, "/") || seenOrg[strings.ToLower(o)] {
			bad("orgs", fmt.Sprintf("invalid or repeated organisation %q", o), "list each organisation login once")
		}
		seenOrg[strings.ToLower(o)] = true
	}
	app := c.AppID != 0 || c.InstallationID != 0 || c.PrivateKey.IsSet() || len(c.InstallationIDs) > 0
	switch {
	case c.Token.IsSet() && app:
		bad("token", "both a token and GitHub App credentials are configured", "use either token: or app_id/installation_id/private_key")
	case !c.Token.IsSet() && !app:
		bad("token", "no credentials", "set token: env:GITHUB_TOKEN, or app_id, installation_id and private_key: file:/path/to/key.pem")
	case app:
		if c.AppID <= 0 {
			bad("app_id", "missing or invalid GitHub App ID", "the App ID is on the App's settings page")
		}
		switch {
		case len(c.Orgs) > 1 || len(c.InstallationIDs) > 0:
			// an installation belongs to one organisation: one per org
			if c.InstallationID != 0 {
				bad("installation_id", "installation_id and installation_ids are both set", "with several organisations, give installation_ids: {org: id, …}")
			}
			for _, o := range c.orgs() {
				if c.InstallationIDs[o] <= 0 {
					bad("installation_ids", fmt.Sprintf("no installation ID for organisation %q", o), "each organisation has its own installation of the App: installation_ids: {"+o+": 1234567}")
				}
			}
			for o := range c.InstallationIDs {
				if !slices.Contains(c.orgs(), o) {
					bad("installation_ids", fmt.Sprintf("organisation %q is not collected", o), "list it in orgs: or remove it")
				}
			}
		case c.InstallationID <= 0:
			bad("installation_id", "missing or invalid installation ID", "the installation ID is in the URL of the App's installation settings in the org")
		}
		if !c.PrivateKey.IsSet() {
			bad("private_key", "missing GitHub App private key", "private_key: file:/path/to/app.private-key.pem")
		} else if _, err := parsePrivateKey(c.PrivateKey.Value()); err != nil {
			bad("private_key", err.Error(), "use the PEM file GitHub generated for the App")
		}
	}
	if len(c.Evidence) == 0 {
		c.Evidence = []string{"org_members", "branch_protection", "pull_requests", "dependabot_alerts"}
	}
	for _, e := range c.Evidence {
		if _, ok := evidenceNames[strings.TrimPrefix(e, "github.")]; !ok {
			bad("evidence", fmt.Sprintf("unknown evidence type %q", e), "known: org_members, branch_protection, pull_requests, dependabot_alerts, repository_access, invitations, code_scanning_alerts, secret_scanning_alerts, audit_log")
		}
	}
	for _, r := range c.Repos {
		org, name, qualified := strings.Cut(r, "/")
		switch {
		case len(c.Orgs) > 0 && (!qualified || !seenOrg[strings.ToLower(org)] || name == "" || strings.Contains(name, "/")):
			bad("repos", fmt.Sprintf("invalid repository %q", r), "with orgs:, name repositories as org/name of a listed organisation, e.g. acme/api-server")
		case len(c.Orgs) == 0 && (r == "" || qualified):
			bad("repos", fmt.Sprintf("invalid repository name %q", r), "give names without the org, e.g. api-server")
		}
	}
	if c.Concurrency == 0 {
		c.Concurrency = 8
	}
	if c.Concurrency < 1 || c.Concurrency > 32 {
		bad("concurrency", fmt.Sprintf("concurrency %d out of range", c.Concurrency), "use 1 to 32; GitHub's secondary rate limit punishes many concurrent requests")
	}
	if len(c.Branches) == 0 {
		c.Branches = []string{defaultBranchToken}
	}
	for _, b := range c.Branches {
		if _, err := path.Match(b, ""); err != nil || b == "" {
			bad("branches", fmt.Sprintf("invalid branch pattern %q", b), `use a name, a pattern such as "release/*", or ~DEFAULT_BRANCH`)
		}
	}
	if c.Overlap == nil {
		d := collectors.Duration(time.Hour)
		c.Overlap = &d
	}
	if c.Overlap.D() < 0 || c.Overlap.D() > 7*24*time.Hour {
		bad("overlap", fmt.Sprintf("overlap %s out of range", c.Overlap.D()), "use 0 to 7d; 1h re-reads the last hour of each window")
	}
	if len(c.AuditLogActions) == 0 {
		c.AuditLogActions = append([]string{}, DefaultAuditLogActions...)
	}
	for _, a := range c.AuditLogActions {
		if !auditActionRE.MatchString(a) {
			bad("audit_log_actions", fmt.Sprintf("invalid audit log action %q", a), "use GitHub's action names, e.g. org.add_member, or a category such as team")
		}
	}
	for _, d := range []struct {
		key  string
		v    **collectors.Duration
		def  time.Duration
		max  time.Duration
		hint string
	}{
		{"audit_log_overlap", &c.AuditLogOverlap, time.Hour, 7 * 24 * time.Hour, "use 0 to 7d; 1h re-reads the hour before each window"},
		{"audit_log_lag", &c.AuditLogLag, 5 * time.Minute, 24 * time.Hour, "use 0 to 24h; GitHub's audit log can take minutes to show an event"},
	} {
		if *d.v == nil {
			v := collectors.Duration(d.def)
			*d.v = &v
		}
		if (*d.v).D() < 0 || (*d.v).D() > d.max {
			bad(d.key, fmt.Sprintf("%s %s out of range", d.key, (*d.v).D()), d.hint)
		}
	}
	if c.IssueKeyPattern == "" {
		c.IssueKeyPattern = DefaultIssueKeyPattern
	}
	if _, err := regexp.Compile(c.IssueKeyPattern); err != nil {
		bad("issue_key_pattern", "invalid regular expression: "+err.Error(), "")
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func (c *Config) wants(evType string) bool {
	for _, e := range c.Evidence {
		if evidenceNames[strings.TrimPrefix(e, "github.")] == evType {
			return true
		}
	}
	return false
}

type collector struct {
	cfg    *Config
	keyRE  *regexp.Regexp
	tokens *appTokens // nil for token auth; kept across runs
	// byOrg holds one installation's tokens per organisation (an App
	// collecting several organisations); nil otherwise.
	byOrg map[string]*appTokens
	// now and sleep are the gate's clock (nil: the wall clock); tests
	// inject them so that waits of minutes take no time.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

// New builds a collector from a validated configuration.
func New(cfg *Config) (collectors.Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &collector{cfg: cfg, keyRE: regexp.MustCompile(cfg.IssueKeyPattern)}
	if !cfg.Token.IsSet() {
		key, err := parsePrivateKey(cfg.PrivateKey.Value())
		if err != nil {
			return nil, err
		}
		c.tokens = &appTokens{appID: cfg.AppID, installationID: cfg.InstallationID, key: key}
		if len(cfg.InstallationIDs) > 0 {
			c.byOrg = map[string]*appTokens{}
			for _, org := range cfg.orgs() {
				c.byOrg[org] = &appTokens{appID: cfg.AppID, installationID: cfg.InstallationIDs[org], key: key}
			}
			c.tokens = c.byOrg[cfg.orgs()[0]]
		}
	}
	return c, nil
}

// repoInfo is what the collector needs of a repository.
type repoInfo struct {
	Name          string `json:"name"`
	DefaultBranch string `json:"default_branch"`
	Visibility    string `json:"visibility,omitempty"`
	Archived      bool   `json:"archived,omitempty"`
}

// Collect runs one collection over every configured organisation, one
// after the other, sharing the cursor, the client and its rate-limit gate.
func (c *collector) Collect(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
	st, err := decodeCursor(req.Cursor)
	if err != nil {
		return collectors.Permanent(fmt.Errorf("github: %w", err))
	}
	client, err := c.client(req)
	if err != nil {
		return collectors.Permanent(fmt.Errorf("github: %w", err))
	}
	orgs := c.cfg.orgs()
	keep := map[string]bool{}
	failed := 0
	var missed []string // organisations and repositories not collected
	for _, org := range orgs {
		octx := context.WithValue(ctx, orgKey{}, org) // selects the org's App installation
		r := &run{cfg: c.cfg, gh: client, req: req, log: req.Logger.With("org", org), org: org, state: st, keyRE: c.keyRE,
			status: map[string]*repoOutcome{}, multiOrg: len(orgs) > 1, app: c.tokens != nil}
		repos, err := r.collectOrg(octx, emit)
		if err != nil {
			f, local := asFinding(EvRepositories, err)
			if failed++; !local || failed == len(orgs) || ctx.Err() != nil {
				return err
			}
			// With several organisations, one the credentials cannot read
			// is a finding; the others are collected.
			r.log.Warn("organisation not collected; recorded as a finding", "status", f.Status, "err", err)
			missed = append(missed, "organisation "+org)
			if err := emit.Emit(ctx, r.orgFinding(f)); err != nil {
				return err
			}
			for k := range st.Pulls {
				if strings.HasPrefix(k, org+"/") {
					keep[k] = true // keep its windows for when it is readable again
				}
			}
			continue
		}
		for _, repo := range repos {
			keep[r.pullKey(repo)] = true
		}
		for _, o := range r.status {
			if o.Status == "failed" {
				missed = append(missed, r.pullKey(repoInfo{Name: o.Name}))
			}
		}
	}
	st.prune(keep)
	for org := range st.Audit {
		if !slices.Contains(orgs, org) {
			delete(st.Audit, org)
		}
	}
	cur, err := st.encode()
	if err != nil {
		return collectors.Permanent(fmt.Errorf("github: encoding cursor: %w", err))
	}
	if err := emit.Checkpoint(ctx, cur); err != nil {
		return err
	}
	if len(missed) > 0 {
		sort.Strings(missed)
		return collectors.Partial(fmt.Errorf("github: %d not collected (recorded as findings in %s): %s", len(missed), EvRepositories, strings.Join(missed, ", ")))
	}
	return nil
}

// orgKey carries the organisation a request is for (it picks the App
// installation whose token is sent).
type orgKey struct{}

// orgs returns the configured organisations.
func (c *Config) orgs() []string {
	if len(c.Orgs) > 0 {
		return c.Orgs
	}
	return []string{c.Org}
}

// reposOf returns the configured repository names of one organisation.
func (c *Config) reposOf(org string) []string {
	if len(c.Orgs) == 0 {
		return c.Repos
	}
	var out []string
	for _, r := range c.Repos {
		if o, name, _ := strings.Cut(r, "/"); strings.EqualFold(o, org) {
			out = append(out, name)
		}
	}
	return out
}

// pullKey is the cursor key of a repository's change window.
func (r *run) pullKey(repo repoInfo) string {
	if r.multiOrg {
		return r.org + "/" + repo.Name
	}
	return repo.Name
}

// collectOrg collects one organisation and returns the repositories it
// collected. An error concerns the whole organisation.
func (r *run) collectOrg(ctx context.Context, emit collectors.Emitter) ([]repoInfo, error) {
	var err error
	// The organisation itself: an unknown org or refused credentials fail
	// the organisation.
	r.orgInfo, _, err = getPage(ctx, r, "orgs/"+pathEsc(r.org), true, shapeOrg)
	if err != nil {
		return nil, err
	}
	repos, err := r.listRepos(ctx)
	if err != nil {
		return nil, err
	}
	every := min(20, max(1, len(repos)/10))
	em := &unitEmitter{emit: emit, run: r, every: every}
	for _, org := range []struct {
		ev  string
		get func(context.Context) (collectors.Artifact, error)
	}{{EvOrgMembers, r.orgMembers}, {EvInvitations, r.invitations}} {
		if !r.cfg.wants(org.ev) {
			continue
		}
		a, err := org.get(ctx)
		if err != nil {
			return nil, err
		}
		if err := em.unit(ctx, []collectors.Artifact{a}, nil, false); err != nil {
			return nil, err
		}
	}
	if r.cfg.wants(EvAuditLog) {
		arts, commit, err := r.auditLog(ctx)
		if err != nil {
			return nil, err
		}
		if len(arts) > 0 {
			if err := em.unit(ctx, arts, commit, true); err != nil {
				return nil, err
			}
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.cfg.Concurrency)
	for _, repo := range repos {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return r.repoUnit(gctx, repo, em) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if ht, ok := r.req.HTTPClient.Transport.(*httpx.Transport); ok {
		st := ht.Stats()
		r.log.Info("github collection finished", "repositories", len(repos), "requests", st.Requests,
			"not_modified", st.NotModified, "retries", st.Retries, "throttled", st.Throttled)
	}
	if r.app {
		// What the App installation reaches: "all" or "selected" repositories.
		type instWire struct {
			TotalCount          int    `json:"total_count"`
			RepositorySelection string `json:"repository_selection"`
		}
		inst, _, err := getPage(ctx, r, "installation/repositories?per_page=1", true, func(g instWire) instWire { return g })
		if err != nil {
			return nil, err
		}
		r.instSelection, r.instTotal = &inst.RepositorySelection, &inst.TotalCount
		if inst.RepositorySelection == "selected" {
			r.log.Warn("the GitHub App is installed on selected repositories only: the population is limited to them", "repositories", inst.TotalCount)
		}
	}
	pop, failed, err := r.population(repos)
	if err != nil {
		return nil, err
	}
	if failed > 0 {
		r.log.Warn("partial collection: some repositories are findings, the rest was collected",
			"failed_repositories", failed, "repositories", len(r.status))
	}
	em.mu.Lock()
	defer em.mu.Unlock()
	return repos, emit.Emit(ctx, pop)
}

// orgFinding is github.repositories for an organisation that could not be
// read at all (several organisations configured).
func (r *run) orgFinding(f finding) collectors.Artifact {
	b, _ := json.Marshal(struct {
		Organization string    `json:"organization"`
		AsOf         string    `json:"as_of"`
		Outcome      string    `json:"outcome"`
		Complete     bool      `json:"complete"`
		Findings     []finding `json:"findings"`
	}{r.org, ts(r.req.Now), "failed", false, []finding{f}})
	src := r.source(f.Endpoint, "", 0, 0)
	src.Complete = false
	return collectors.Artifact{Type: EvRepositories, Subject: r.org, ContentType: "application/json", Body: b, Source: src}
}

// finding is a per-repository failure recorded as evidence.
type finding struct {
	EvidenceType string `json:"evidence_type"`
	Endpoint     string `json:"endpoint"`
	Status       int    `json:"http_status"`
	Message      string `json:"message"`
	Hint         string `json:"hint,omitempty"`
}

// repoOutcome is one repository's line in github.repositories.
type repoOutcome struct {
	Name          string    `json:"name"`
	Visibility    string    `json:"visibility,omitempty"`
	DefaultBranch string    `json:"default_branch,omitempty"`
	Status        string    `json:"status"` // collected, empty, failed
	Findings      []finding `json:"findings"`
}

// asFinding reports whether err concerns only this repository (GitHub
// refused or does not have it: 403, 404, 409, 410, 422, 451) and shapes it
// as a finding. Rate limits, 5xx and 401 are not findings: they say
// nothing about the repository and fail (or resume) the run.
func asFinding(ev string, err error) (finding, bool) {
	var se *httpx.StatusError
	if !errors.As(err, &se) || collectors.IsRetryable(err) {
		return finding{}, false
	}
	switch se.Status {
	case http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusGone, http.StatusUnprocessableEntity, http.StatusUnavailableForLegalReasons:
		return finding{EvidenceType: ev, Endpoint: se.Method + " " + se.URL, Status: se.Status, Message: se.Message, Hint: se.Hint}, true
	}
	return finding{}, false
}

func (r *run) findingArtifact(repo repoInfo, f finding) collectors.Artifact {
	subject := r.org + "/" + repo.Name
	if f.EvidenceType == EvBranchProtection {
		subject += "@" + repo.DefaultBranch
	}
	b, _ := json.Marshal(struct {
		Repository string  `json:"repository"`
		AsOf       string  `json:"as_of"`
		Collected  bool    `json:"collected"`
		Finding    finding `json:"finding"`
	}{r.org + "/" + repo.Name, ts(r.req.Now), false, f})
	src := r.source(f.Endpoint, "", 0, 0)
	src.Complete = false
	return collectors.Artifact{Type: f.EvidenceType, Subject: subject, ContentType: "application/json", Body: b, Source: src}
}

// repoUnit collects one repository's evidence and emits it as one unit. A
// failure that concerns only this repository becomes a finding in its
// evidence; the other repositories are collected.
func (r *run) repoUnit(ctx context.Context, repo repoInfo, em *unitEmitter) error {
	var arts []collectors.Artifact
	out := &repoOutcome{Name: repo.Name, Visibility: repo.Visibility, DefaultBranch: repo.DefaultBranch, Status: "collected", Findings: []finding{}}
	fail := func(err error) error {
		closeArtifacts(arts)
		return err
	}
	local := func(ev string, err error) bool {
		f, ok := asFinding(ev, err)
		if !ok {
			return false
		}
		out.Findings = append(out.Findings, f)
		out.Status = "failed"
		arts = append(arts, r.findingArtifact(repo, f))
		r.log.Warn("repository evidence not collected; recorded as a finding", "repository", r.org+"/"+repo.Name,
			"evidence_type", ev, "status", f.Status, "err", err)
		return true
	}
	var eff *effectiveProtection
	if r.cfg.wants(EvBranchProtection) {
		a, e, err := r.branchProtection(ctx, repo)
		switch {
		case err == nil:
			arts = append(arts, a)
			eff = &e
		case !local(EvBranchProtection, err):
			return fail(err)
		}
	}
	if r.cfg.wants(EvDependabotAlerts) {
		a, err := r.dependabotAlerts(ctx, repo)
		switch {
		case err == nil:
			arts = append(arts, a)
		case !local(EvDependabotAlerts, err):
			return fail(err)
		}
	}
	for _, k := range []struct {
		ev  string
		get func() (collectors.Artifact, error)
	}{
		{EvRepositoryAccess, func() (collectors.Artifact, error) { return r.repositoryAccess(ctx, repo) }},
		{EvCodeScanning, func() (collectors.Artifact, error) { return r.scanAlerts(ctx, repo, codeScanning) }},
		{EvSecretScanning, func() (collectors.Artifact, error) { return r.scanAlerts(ctx, repo, secretScanning) }},
	} {
		if !r.cfg.wants(k.ev) {
			continue
		}
		a, err := k.get()
		switch {
		case err == nil:
			arts = append(arts, a)
		case !local(k.ev, err):
			return fail(err)
		}
	}
	var commit func()
	if r.cfg.wants(EvPullRequests) {
		a, next, empty, err := r.changes(ctx, repo, eff)
		switch {
		case err == nil:
			if a != nil {
				arts = append(arts, *a)
			}
			commit = func() { r.state.Pulls[r.pullKey(repo)] = next }
			if empty && out.Status == "collected" {
				out.Status = "empty"
			}
		case !local(EvPullRequests, err):
			return fail(err)
		}
	}
	r.mu.Lock()
	r.status[repo.Name] = out
	r.mu.Unlock()
	return em.unit(ctx, arts, commit, false)
}

// unitEmitter emits a repository's artifacts together and checkpoints
// after every `every` units, so that a checkpoint never commits half of a
// repository's pull requests and the cursor always matches what was
// committed.
type unitEmitter struct {
	emit  collectors.Emitter
	run   *run
	every int

	mu      sync.Mutex
	pending int
}

func (u *unitEmitter) unit(ctx context.Context, arts []collectors.Artifact, commit func(), checkpoint bool) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i, a := range arts {
		if err := u.emit.Emit(ctx, a); err != nil {
			closeArtifacts(arts[i+1:])
			return err
		}
	}
	u.run.mu.Lock()
	if commit != nil {
		commit()
	}
	u.run.mu.Unlock()
	u.pending++
	if !checkpoint && u.pending < u.every {
		return nil
	}
	u.run.mu.Lock()
	cur, err := u.run.state.encode()
	u.run.mu.Unlock()
	if err != nil {
		return collectors.Permanent(fmt.Errorf("github: encoding cursor: %w", err))
	}
	u.pending = 0
	return u.emit.Checkpoint(ctx, cur)
}

func closeArtifacts(arts []collectors.Artifact) {
	for _, a := range arts {
		if c, ok := a.BodyReader.(interface{ Close() error }); ok {
			_ = c.Close()
		}
	}
}

// listRepos returns the repositories to collect, sorted by name, and
// records the listing (visible, archived, not found) for github.repositories.
func (r *run) listRepos(ctx context.Context) ([]repoInfo, error) {
	shape := func(g *gh.Repository) repoInfo {
		vis := g.GetVisibility()
		if vis == "" {
			vis = map[bool]string{true: "private", false: "public"}[g.GetPrivate()]
		}
		return repoInfo{Name: g.GetName(), DefaultBranch: g.GetDefaultBranch(), Visibility: vis, Archived: g.GetArchived()}
	}
	var out []repoInfo
	if len(r.cfg.Repos) > 0 {
		for _, name := range r.cfg.reposOf(r.org) {
			ri, _, err := getPage(ctx, r, "repos/"+pathEsc(r.org)+"/"+pathEsc(name), true, shape)
			if err != nil {
				f, ok := asFinding(EvRepositories, err)
				if !ok {
					return nil, err
				}
				r.log.Warn("configured repository not visible to the credentials; recorded as a finding", "repository", r.org+"/"+name, "status", f.Status)
				r.status[name] = &repoOutcome{Name: name, Status: "failed", Findings: []finding{f}}
				continue
			}
			r.visible++
			out = append(out, ri)
		}
	} else {
		u := "orgs/" + pathEsc(r.org) + "/repos?per_page=100&type=all"
		_, err := eachPage(ctx, r, u, true, func(g []*gh.Repository) []repoInfo {
			rows := make([]repoInfo, 0, len(g))
			for _, x := range g {
				rows = append(rows, shape(x))
			}
			return rows
		}, func(rows []repoInfo) error {
			for _, ri := range rows {
				r.visible++
				if ri.Archived {
					r.archived++
					continue
				}
				out = append(out, ri)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	out = slices.CompactFunc(out, func(a, b repoInfo) bool { return a.Name == b.Name })
	return out, nil
}

// population builds github.repositories: what the credentials could see
// against what the organisation reports, the filters, and each
// repository's outcome.
func (r *run) population(repos []repoInfo) (collectors.Artifact, int, error) {
	rows := make([]*repoOutcome, 0, len(r.status))
	failed := 0
	for _, o := range r.status {
		rows = append(rows, o)
		if o.Status == "failed" {
			failed++
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	var orgTotal *int
	if r.orgInfo.PublicRepos != nil && r.orgInfo.TotalPrivateRepos != nil {
		orgTotal = intp(*r.orgInfo.PublicRepos + *r.orgInfo.TotalPrivateRepos)
	}
	filter := "every repository the credentials can list (GET /orgs/" + r.org + "/repos?type=all), archived ones excluded"
	if len(r.cfg.Repos) > 0 {
		filter = "only the repositories named in the configuration (repos:)"
	}
	outcome := "complete"
	if failed > 0 {
		outcome = "partial"
	}
	var note string
	switch {
	case r.instSelection != nil && *r.instSelection == "selected":
		note = fmt.Sprintf("the GitHub App is installed on %d selected repositories only: repositories it is not installed on are not in the population", *r.instTotal)
	case orgTotal == nil:
		note = "the organisation's repository totals are shown to organisation owners only: whether the credentials see every repository is unknown"
	case len(r.cfg.Repos) == 0 && r.visible < *orgTotal:
		note = fmt.Sprintf("the credentials see %d of the organisation's %d repositories (a token or App limited to selected repositories?)", r.visible, *orgTotal)
	}
	body := struct {
		Organization    string         `json:"organization"`
		AsOf            string         `json:"as_of"`
		Filter          string         `json:"filter"`
		ReposFilter     []string       `json:"repos_filter"`
		Branches        []string       `json:"branches"`
		Evidence        []string       `json:"evidence"`
		OrgPublicRepos  *int           `json:"org_public_repos"`
		OrgPrivateRepos *int           `json:"org_total_private_repos"`
		OrgTotal        *int           `json:"org_total_repos"`
		Visible         int            `json:"visible_to_credentials"`
		InstSelection   *string        `json:"installation_repository_selection,omitempty"`
		InstTotal       *int           `json:"installation_total_repos,omitempty"`
		ArchivedSkipped int            `json:"archived_skipped"`
		Selected        int            `json:"selected"`
		Note            string         `json:"note,omitempty"`
		Outcome         string         `json:"outcome"`
		Complete        bool           `json:"complete"`
		Failed          int            `json:"failed"`
		Repositories    []*repoOutcome `json:"repositories"`
	}{r.org, ts(r.req.Now), filter, append([]string{}, r.cfg.Repos...), r.cfg.Branches, r.cfg.Evidence,
		r.orgInfo.PublicRepos, r.orgInfo.TotalPrivateRepos, orgTotal, r.visible, r.instSelection, r.instTotal, r.archived, len(repos), note, outcome, failed == 0, failed, rows}
	b, err := json.Marshal(body)
	if err != nil {
		return collectors.Artifact{}, 0, collectors.Permanent(err)
	}
	src := r.source("GET /orgs/"+r.org+"/repos", filter, 0, len(rows))
	src.Complete = failed == 0
	return collectors.Artifact{Type: EvRepositories, Subject: r.org, ContentType: "application/json", Body: b, Source: src}, failed, nil
}

func pathEsc(s string) string { return url.PathEscape(s) }

var errNotModified = errors.New("not modified")

// ts formats a time for evidence bodies (UTC, second precision).
func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
