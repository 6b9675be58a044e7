// Package github is tickmark's GitHub collector: organisation access and
// 2FA, branch protection and rulesets, the population of merged pull
// requests with their reviews and checks, and Dependabot alerts.
package github

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
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
)

//go:embed sample.yaml
var sampleConfig string

var evidenceTypes = []collectors.EvidenceType{
	{Name: EvOrgMembers, Controls: []string{"CC6.1", "CC6.2", "CC6.3"},
		Description: "organisation settings (2FA requirement, default repository permission), members with role, members with 2FA disabled, outside collaborators"},
	{Name: EvBranchProtection, Controls: []string{"CC8.1"},
		Description: "classic protection and applicable rulesets (with bypass actors) of each repository's default branch; unprotected branches included"},
	{Name: EvPullRequests, Controls: []string{"CC8.1"},
		Description: "pull requests merged into the default branch in the window, with reviews, independent approval, checks at merge and issue keys"},
	{Name: EvDependabotAlerts, Controls: []string{"CC7.1"},
		Description: "open, fixed and dismissed Dependabot alerts with severity and age; repositories with alerts disabled are recorded as such"},
}

// short evidence names used in configuration
var evidenceNames = map[string]string{
	"org_members": EvOrgMembers, "branch_protection": EvBranchProtection,
	"pull_requests": EvPullRequests, "dependabot_alerts": EvDependabotAlerts,
}

func init() {
	collectors.Register(collectors.Definition{
		Type:          "github",
		Summary:       "GitHub organisation access and 2FA, branch protection and rulesets, merged pull requests with reviews, Dependabot alerts",
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

// Config is the `github:` section of a collectors[] entry.
type Config struct {
	// BaseURL is the API root: https://api.github.com/ or, for GitHub
	// Enterprise Server, https://ghe.example.com/api/v3/.
	BaseURL string `yaml:"base_url"`
	// Org is the organisation login.
	Org string `yaml:"org"`
	// Token is a fine-grained or classic personal access token.
	Token collectors.Secret `yaml:"token"`
	// AppID, InstallationID and PrivateKey authenticate as a GitHub App.
	AppID          int64             `yaml:"app_id"`
	InstallationID int64             `yaml:"installation_id"`
	PrivateKey     collectors.Secret `yaml:"private_key"`
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
	if strings.TrimSpace(c.Org) == "" {
		bad("org", "missing organisation", "set org: to the organisation login, e.g. acme")
	}
	app := c.AppID != 0 || c.InstallationID != 0 || c.PrivateKey.IsSet()
	switch {
	case c.Token.IsSet() && app:
		bad("token", "both a token and GitHub App credentials are configured", "use either token: or app_id/installation_id/private_key")
	case !c.Token.IsSet() && !app:
		bad("token", "no credentials", "set token: env:GITHUB_TOKEN, or app_id, installation_id and private_key: file:/path/to/key.pem")
	case app:
		if c.AppID <= 0 {
			bad("app_id", "missing or invalid GitHub App ID", "the App ID is on the App's settings page")
		}
		if c.InstallationID <= 0 {
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
			bad("evidence", fmt.Sprintf("unknown evidence type %q", e), "known: org_members, branch_protection, pull_requests, dependabot_alerts")
		}
	}
	for _, r := range c.Repos {
		if r == "" || strings.Contains(r, "/") {
			bad("repos", fmt.Sprintf("invalid repository name %q", r), "give names without the org, e.g. api-server")
		}
	}
	if c.Concurrency == 0 {
		c.Concurrency = 8
	}
	if c.Concurrency < 1 || c.Concurrency > 32 {
		bad("concurrency", fmt.Sprintf("concurrency %d out of range", c.Concurrency), "use 1 to 32; GitHub's secondary rate limit punishes many concurrent requests")
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

// Collect runs one collection.
func (c *collector) Collect(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
	st, err := decodeCursor(req.Cursor)
	if err != nil {
		return collectors.Permanent(fmt.Errorf("github: %w", err))
	}
	client, err := c.client(req)
	if err != nil {
		return collectors.Permanent(fmt.Errorf("github: %w", err))
	}
	r := &run{cfg: c.cfg, gh: client, req: req, log: req.Logger, org: c.cfg.Org, state: st, keyRE: c.keyRE,
		orgRulesets: map[int64]*rulesetFuture{}}
	repos, err := r.listRepos(ctx)
	if err != nil {
		return err
	}
	every := min(20, max(1, len(repos)/10))
	em := &unitEmitter{emit: emit, run: r, every: every}
	if c.cfg.wants(EvOrgMembers) {
		a, err := r.orgMembers(ctx)
		if err != nil {
			return err
		}
		if err := em.unit(ctx, []collectors.Artifact{a}, nil, true); err != nil {
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.Concurrency)
	for _, repo := range repos {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return r.repoUnit(gctx, repo, em) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if ht, ok := req.HTTPClient.Transport.(*httpx.Transport); ok {
		st := ht.Stats()
		r.log.Info("github collection finished", "repositories", len(repos), "requests", st.Requests,
			"not_modified", st.NotModified, "retries", st.Retries, "throttled", st.Throttled)
	}
	em.mu.Lock()
	defer em.mu.Unlock()
	r.mu.Lock()
	r.state.prune(repos)
	cur, err := r.state.encode()
	r.mu.Unlock()
	if err != nil {
		return collectors.Permanent(fmt.Errorf("github: encoding cursor: %w", err))
	}
	return emit.Checkpoint(ctx, cur)
}

// repoUnit collects one repository's evidence and emits it as one unit.
func (r *run) repoUnit(ctx context.Context, repo repoInfo, em *unitEmitter) error {
	var arts []collectors.Artifact
	fail := func(err error) error {
		closeArtifacts(arts)
		return err
	}
	var required []string
	requiredKnown := false
	if r.cfg.wants(EvBranchProtection) {
		a, req, err := r.branchProtection(ctx, repo)
		if err != nil {
			return fail(err)
		}
		arts = append(arts, a)
		required, requiredKnown = req, true
	}
	if r.cfg.wants(EvDependabotAlerts) {
		a, err := r.dependabotAlerts(ctx, repo)
		if err != nil {
			return fail(err)
		}
		arts = append(arts, a)
	}
	var commit func()
	if r.cfg.wants(EvPullRequests) {
		a, next, err := r.pullRequests(ctx, repo, required, requiredKnown)
		if err != nil {
			return fail(err)
		}
		if a != nil {
			arts = append(arts, *a)
		}
		commit = func() { r.state.Pulls[repo.Name] = next }
	}
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

// listRepos returns the repositories to collect, sorted by name.
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
		for _, name := range r.cfg.Repos {
			ri, _, err := getPage(ctx, r, "repos/"+pathEsc(r.org)+"/"+pathEsc(name), true, shape)
			if err != nil {
				return nil, err
			}
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
				if !ri.Archived {
					out = append(out, ri)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	out = slices.CompactFunc(out, func(a, b repoInfo) bool { return a.Name == b.Name })
	for _, ri := range out {
		if ri.DefaultBranch == "" {
			return nil, collectors.Permanent(fmt.Errorf("github: repository %s/%s has no default branch (empty repository?)", r.org, ri.Name))
		}
	}
	return out, nil
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
