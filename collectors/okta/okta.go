// Package okta collects SOC 2 access-control evidence from an Okta org:
// users with their MFA factors classified, deprovisioned users with who did
// it, groups with members, who is assigned to which app, every admin (users,
// groups, service apps, API tokens) with role targets, every policy with its
// rules, the org's authenticators, and the security-relevant System Log,
// incrementally.
//
// It sends plain requests over the engine's rate-limit-aware transport
// (collectors/httpx, one budget per Okta endpoint family), authenticated
// with an SSWS API token or as an OAuth 2.0 service app: private_key_jwt
// client authentication and DPoP-bound access tokens (RFC 9449), signed
// with go-jose. (okta-sdk-golang v2 cannot send DPoP proofs, which Okta
// requires by default of new service apps.) Pagination follows Okta's Link
// headers as given; the System Log is read as Okta's polling API, its next
// link kept in a cursor bound to the filter and page size; departures are
// re-read over an overlap window and de-duplicated, so data Okta makes
// visible late still lands in a later artifact.
package okta

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
)

//go:embed sample.yaml
var sampleConfig string

// Evidence types.
const (
	TypeUsers          = "okta.users"
	TypeDeprovisioned  = "okta.deprovisioned_users"
	TypeGroups         = "okta.groups"
	TypeAdmins         = "okta.admins"
	TypePolicies       = "okta.policies"
	TypeSystemLog      = "okta.system_log"
	TypeAuthenticators = "okta.authenticators"
	TypeAppAssignments = "okta.app_assignments"
)

// Version is recorded in every artifact's Source.
const Version = "okta/2"

// evidenceNames maps the config's short names to evidence types, in the
// order a run collects them.
var evidenceNames = []struct{ short, typ string }{
	{"users", TypeUsers},
	{"groups", TypeGroups},
	{"app_assignments", TypeAppAssignments},
	{"admins", TypeAdmins},
	{"policies", TypePolicies},
	{"authenticators", TypeAuthenticators},
	{"deprovisioned_users", TypeDeprovisioned},
	{"system_log", TypeSystemLog},
}

// DefaultSystemLogFilter selects the security-relevant events: user
// lifecycle, account lock/unlock and privilege grants, sessions and
// authentication (Okta support impersonation included), MFA factor changes,
// group and app membership, group and app lifecycle, OAuth 2.0 grants and
// consents, API token lifecycle, policy changes, admin role grants and
// security events.
const DefaultSystemLogFilter = `eventType sw "user.lifecycle." or eventType sw "user.account." or eventType sw "user.mfa." or ` +
	`eventType sw "user.session." or eventType sw "user.authentication." or ` +
	`eventType sw "group.user_membership." or eventType sw "application.user_membership." or ` +
	`eventType sw "group.lifecycle." or eventType sw "application.lifecycle." or eventType sw "app.oauth2." or ` +
	`eventType sw "system.api_token." or eventType sw "policy." or eventType sw "group.privilege." or eventType sw "iam." or ` +
	`eventType sw "security."`

// Defaults for the late-data handling (see Config).
const (
	DefaultConsistencyLag  = 5 * time.Minute
	DefaultLateDataOverlap = 2 * time.Hour
)

// Config is the `okta:` section of a collector instance.
type Config struct {
	// OrgURL is the org's base URL, e.g. https://acme.okta.com.
	OrgURL string `yaml:"org_url"`
	// Token is an SSWS API token reference (env:NAME or file:/path).
	Token collectors.Secret `yaml:"token"`
	// ClientID, PrivateKey and PrivateKeyID configure an OAuth 2.0 service
	// app instead of a token.
	ClientID     string            `yaml:"client_id"`
	PrivateKey   collectors.Secret `yaml:"private_key"`
	PrivateKeyID string            `yaml:"private_key_id"`
	// Scopes requested by the service app (default: the read scopes the
	// enabled evidence needs).
	Scopes []string `yaml:"scopes"`
	// DPoP binds the service app's access tokens to a proof-of-possession
	// key (default true; Okta requires it of new API Services apps).
	DPoP *bool `yaml:"dpop"`
	// ConsistencyLag is how far behind the run's clock departure windows
	// and System Log completeness end (default 5m): Okta's user search and
	// bounded System Log queries are eventually consistent.
	ConsistencyLag collectors.Duration `yaml:"consistency_lag"`
	// LateDataOverlap is how much of the previous departure window every
	// run reads again (default 2h), so a departure Okta makes visible late
	// lands in a later artifact; already reported ones are de-duplicated.
	LateDataOverlap collectors.Duration `yaml:"late_data_overlap"`
	// Evidence lists what to collect (default: all).
	Evidence []string `yaml:"evidence"`
	// PageSize is the number of users per request and per okta.users
	// artifact (1-200, default 200).
	PageSize int `yaml:"page_size"`
	// FactorConcurrency bounds concurrent per-user factor requests (1-16,
	// default 4).
	FactorConcurrency int `yaml:"factor_concurrency"`
	// SystemLogFilter replaces DefaultSystemLogFilter.
	SystemLogFilter string `yaml:"system_log_filter"`
	// SystemLogPageSize is the number of events per request and per
	// okta.system_log artifact (1-1000, default 1000).
	SystemLogPageSize int `yaml:"system_log_page_size"`
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	u, err := url.Parse(c.OrgURL)
	switch {
	case c.OrgURL == "":
		return errors.New("org_url is required, e.g. https://acme.okta.com")
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return fmt.Errorf("org_url %q is not an http(s) URL", c.OrgURL)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return fmt.Errorf("org_url %q must use https (plain http is accepted only for a local fake on 127.0.0.1)", c.OrgURL)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("org_url %q must not have a query or fragment", c.OrgURL)
	}
	oauth := c.ClientID != "" || c.PrivateKey.IsSet()
	switch {
	case c.Token.IsSet() && oauth:
		return errors.New("set either token or client_id + private_key, not both")
	case !c.Token.IsSet() && !oauth:
		return errors.New("token is required (env:NAME or file:/path), or client_id + private_key for an OAuth 2.0 service app")
	case oauth && (c.ClientID == "" || !c.PrivateKey.IsSet()):
		return errors.New("an OAuth 2.0 service app needs both client_id and private_key")
	}
	for _, e := range c.Evidence {
		if evidenceType(e) == "" {
			var names []string
			for _, n := range evidenceNames {
				names = append(names, n.short)
			}
			return fmt.Errorf("unknown evidence %q; choose from %s", e, strings.Join(names, ", "))
		}
	}
	if c.PageSize < 0 || c.PageSize > 200 {
		return fmt.Errorf("page_size %d is out of range 1-200", c.PageSize)
	}
	if c.SystemLogPageSize < 0 || c.SystemLogPageSize > 1000 {
		return fmt.Errorf("system_log_page_size %d is out of range 1-1000", c.SystemLogPageSize)
	}
	if c.Token.IsSet() && c.DPoP != nil {
		return errors.New("dpop applies to an OAuth 2.0 service app (client_id + private_key), not to an API token")
	}
	if c.ConsistencyLag.D() > 24*time.Hour {
		return fmt.Errorf("consistency_lag %s is out of range 0-24h", c.ConsistencyLag)
	}
	if c.LateDataOverlap.D() > 30*24*time.Hour {
		return fmt.Errorf("late_data_overlap %s is out of range 0-30d", c.LateDataOverlap)
	}
	if c.FactorConcurrency < 0 || c.FactorConcurrency > 16 {
		return fmt.Errorf("factor_concurrency %d is out of range 1-16", c.FactorConcurrency)
	}
	return nil
}

func isLoopback(host string) bool {
	return host == "127.0.0.1" || host == "localhost" || host == "::1"
}

func evidenceType(short string) string {
	for _, n := range evidenceNames {
		if n.short == short || n.typ == short {
			return n.typ
		}
	}
	return ""
}

func init() {
	collectors.Register(collectors.Definition{
		Type:    "okta",
		Summary: "Okta users and MFA, deprovisioning, groups, app assignments, admins, policies, authenticators and the System Log",
		EvidenceTypes: []collectors.EvidenceType{
			{Name: TypeUsers, Controls: []string{"CC6.1", "CC6.2", "CC6.3"}, Description: "every user with status, lifecycle dates and enrolled MFA factors"},
			{Name: TypeDeprovisioned, Controls: []string{"CC6.2", "CC6.3"}, Description: "users deprovisioned or suspended in the window, with the time and the actor from the System Log"},
			{Name: TypeGroups, Controls: []string{"CC6.3"}, Description: "groups with their members and application assignments"},
			{Name: TypeAppAssignments, Controls: []string{"CC6.2", "CC6.3"}, Description: "for each active application, every user assigned and how (directly or through a group), for access reviews"},
			{Name: TypeAdmins, Controls: []string{"CC6.3"}, Description: "users and groups holding admin roles"},
			{Name: TypePolicies, Controls: []string{"CC6.1"}, Description: "every policy type the org supports (others recorded as not applicable) with all rules"},
			{Name: TypeAuthenticators, Controls: []string{"CC6.1"}, Description: "the org's authenticators, classified knowledge/possession/inherence and phishing-resistant"},
			{Name: TypeSystemLog, Controls: []string{"CC6.1", "CC6.2", "CC6.3", "CC7.2"}, Description: "security-relevant System Log events, raw, one artifact per page, incremental"},
		},
		SampleConfig: sampleConfig,
		NewConfig:    func() any { return &Config{} },
		New: func(cfg any) (collectors.Collector, error) {
			c := cfg.(*Config)
			if c.PageSize == 0 {
				c.PageSize = 200
			}
			if c.FactorConcurrency == 0 {
				c.FactorConcurrency = 4
			}
			if c.SystemLogPageSize == 0 {
				c.SystemLogPageSize = 1000
			}
			if c.SystemLogFilter == "" {
				c.SystemLogFilter = DefaultSystemLogFilter
			}
			if c.ConsistencyLag == 0 {
				c.ConsistencyLag = collectors.Duration(DefaultConsistencyLag)
			}
			if c.LateDataOverlap == 0 {
				c.LateDataOverlap = collectors.Duration(DefaultLateDataOverlap)
			}
			return &collector{cfg: c}, nil
		},
	})
}

type collector struct{ cfg *Config }

func (c *collector) enabled(typ string) bool {
	if len(c.cfg.Evidence) == 0 {
		return true
	}
	return slices.ContainsFunc(c.cfg.Evidence, func(e string) bool { return evidenceType(e) == typ })
}

// client builds the API client over the engine's HTTP client.
func (c *collector) client(req collectors.Request) (*api, error) {
	hc := req.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	org := strings.TrimRight(c.cfg.OrgURL, "/")
	a := &api{hc: hc, org: org, tokenRef: c.cfg.Token.Ref(), agent: "tickmark/" + Version}
	if c.cfg.Token.IsSet() {
		a.ssws = c.cfg.Token.Value()
		return a, nil
	}
	scopes := c.cfg.Scopes
	if len(scopes) == 0 {
		scopes = c.scopes()
	}
	o, err := newOAuthClient(hc, org, c.cfg.ClientID, c.cfg.PrivateKeyID, []byte(c.cfg.PrivateKey.Value()), scopes, c.cfg.DPoP == nil || *c.cfg.DPoP)
	if err != nil {
		// the parser's messages never quote the key
		return nil, collectors.Permanent(fmt.Errorf("okta: org %s: client_id %s: %s (%s)", org, c.cfg.ClientID, redact(err.Error(), c.cfg.PrivateKey.Value()), c.cfg.PrivateKey.Ref()))
	}
	a.oauth = o
	return a, nil
}

func redact(s string, secrets ...string) string {
	for _, x := range secrets {
		if x != "" {
			s = strings.ReplaceAll(s, x, "[redacted]")
		}
	}
	return s
}

// scopes are the OAuth 2.0 scopes the enabled evidence needs.
func (c *collector) scopes() []string {
	set := map[string]bool{}
	add := func(typ string, s ...string) {
		if c.enabled(typ) {
			for _, x := range s {
				set[x] = true
			}
		}
	}
	add(TypeUsers, "okta.users.read")
	add(TypeDeprovisioned, "okta.users.read", "okta.logs.read")
	add(TypeGroups, "okta.groups.read", "okta.apps.read")
	add(TypeAppAssignments, "okta.apps.read")
	add(TypeAdmins, "okta.roles.read", "okta.users.read", "okta.groups.read", "okta.apps.read", "okta.apiTokens.read")
	add(TypePolicies, "okta.policies.read")
	add(TypeAuthenticators, "okta.authenticators.read")
	add(TypeSystemLog, "okta.logs.read")
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Collect takes the snapshots (users, groups, admins, policies), then the
// deprovisioning window and the System Log since the cursor. Nothing is
// checkpointed before the snapshots are complete; after that, each System
// Log page is checkpointed with the next link that follows it.
func (c *collector) Collect(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
	a, err := c.client(req)
	if err != nil {
		return err
	}
	cur := readCursor(req, a.org)
	r := &run{api: a, cfg: c.cfg, req: req, emit: emit, cur: cur, emitted: map[string]int{}}
	steps := []struct {
		typ string
		fn  func(context.Context) error
	}{
		{TypeUsers, r.users},
		{TypeGroups, r.groups},
		{TypeAppAssignments, r.appAssignments},
		{TypeAdmins, r.admins},
		{TypePolicies, r.policies},
		{TypeAuthenticators, r.authenticators},
		{TypeDeprovisioned, r.deprovisioned},
		{TypeSystemLog, r.systemLog},
	}
	for _, s := range steps {
		if !c.enabled(s.typ) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.fn(ctx); err != nil {
			return err
		}
		req.Logger.Info("collected", "evidence_type", s.typ, "artifacts", r.emitted[s.typ])
	}
	return emit.Checkpoint(ctx, r.cur.String())
}
