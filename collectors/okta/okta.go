// Package okta collects SOC 2 access-control evidence from an Okta org:
// users with their MFA factors, deprovisioned users with who did it,
// groups with members and app assignments, admin role holders, policies,
// and the security-relevant System Log, incrementally.
//
// It builds on github.com/okta/okta-sdk-golang/v2 for authentication (SSWS
// API token or an OAuth 2.0 service app), requests and typed users and
// factors. The SDK's cache and its own 429 retries are off: the engine's
// rate-limit-aware transport (collectors/httpx) does the waiting, with one
// budget per Okta endpoint family. Pagination follows Okta's Link headers
// as given; the System Log is read as Okta's polling API, with its next
// link kept as the cursor.
package okta

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	oktasdk "github.com/okta/okta-sdk-golang/v2/okta"

	"github.com/tickmark-dev/tickmark/collectors"
)

//go:embed sample.yaml
var sampleConfig string

// Evidence types.
const (
	TypeUsers         = "okta.users"
	TypeDeprovisioned = "okta.deprovisioned_users"
	TypeGroups        = "okta.groups"
	TypeAdmins        = "okta.admins"
	TypePolicies      = "okta.policies"
	TypeSystemLog     = "okta.system_log"
)

// Version is recorded in every artifact's Source.
const Version = "okta/1"

// evidenceNames maps the config's short names to evidence types, in the
// order a run collects them.
var evidenceNames = []struct{ short, typ string }{
	{"users", TypeUsers},
	{"groups", TypeGroups},
	{"admins", TypeAdmins},
	{"policies", TypePolicies},
	{"deprovisioned_users", TypeDeprovisioned},
	{"system_log", TypeSystemLog},
}

// DefaultSystemLogFilter selects the security-relevant events: user
// lifecycle, account lock/unlock and privilege grants, MFA factor changes,
// group and app membership, policy changes and admin role grants to groups.
const DefaultSystemLogFilter = `eventType sw "user.lifecycle." or eventType sw "user.account." or eventType sw "user.mfa." or ` +
	`eventType sw "group.user_membership." or eventType sw "application.user_membership." or eventType sw "policy." or ` +
	`eventType sw "group.privilege." or eventType sw "iam."`

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
		Summary: "Okta users and MFA, deprovisioning, groups, admins, policies and the System Log",
		EvidenceTypes: []collectors.EvidenceType{
			{Name: TypeUsers, Controls: []string{"CC6.1", "CC6.2", "CC6.3"}, Description: "every user with status, lifecycle dates and enrolled MFA factors"},
			{Name: TypeDeprovisioned, Controls: []string{"CC6.2", "CC6.3"}, Description: "users deprovisioned or suspended in the window, with the time and the actor from the System Log"},
			{Name: TypeGroups, Controls: []string{"CC6.3"}, Description: "groups with their members and application assignments"},
			{Name: TypeAdmins, Controls: []string{"CC6.3"}, Description: "users and groups holding admin roles"},
			{Name: TypePolicies, Controls: []string{"CC6.1"}, Description: "password, MFA enrollment, sign-on and authentication policies with their rules"},
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

// cursor is what a run checkpoints: where the System Log poll stands and
// where the last deprovisioning window ended.
type cursor struct {
	V            int    `json:"v"`
	Org          string `json:"org"`
	LogNext      string `json:"log_next,omitempty"`     // the System Log next link, relative to the org
	DeprovsUntil string `json:"deprov_until,omitempty"` // RFC 3339
}

func (c cursor) String() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// client builds the SDK client over the engine's HTTP client.
func (c *collector) client(ctx context.Context, req collectors.Request) (*api, error) {
	base := req.HTTPClient
	if base == nil {
		base = http.DefaultClient
	}
	tr := base.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	hc := &http.Client{Transport: scoped{base: tr}, Timeout: base.Timeout, Jar: base.Jar, CheckRedirect: base.CheckRedirect}
	org := strings.TrimRight(c.cfg.OrgURL, "/")
	u, _ := url.Parse(org)
	opts := []oktasdk.ConfigSetter{
		oktasdk.WithOrgUrl(org),
		oktasdk.WithHttpClientPtr(hc),
		oktasdk.WithCache(false),           // evidence must be read fresh
		oktasdk.WithRateLimitMaxRetries(0), // httpx waits and retries
		oktasdk.WithRequestTimeout(0),
		oktasdk.WithTestingDisableHttpsCheck(u.Scheme == "http" && isLoopback(u.Hostname())),
		oktasdk.WithUserAgentExtra("tickmark/" + Version),
	}
	a := &api{org: org, tokenRef: c.cfg.Token.Ref()}
	if c.cfg.Token.IsSet() {
		opts = append(opts, oktasdk.WithAuthorizationMode("SSWS"), oktasdk.WithToken(c.cfg.Token.Value()))
	} else {
		a.oauth = true
		scopes := c.cfg.Scopes
		if len(scopes) == 0 {
			scopes = c.scopes()
		}
		a.clientID, a.scopes = c.cfg.ClientID, scopes
		opts = append(opts, oktasdk.WithAuthorizationMode("PrivateKey"), oktasdk.WithClientId(c.cfg.ClientID),
			oktasdk.WithPrivateKey(c.cfg.PrivateKey.Value()), oktasdk.WithPrivateKeyId(c.cfg.PrivateKeyID), oktasdk.WithScopes(scopes))
	}
	_, cl, err := oktasdk.NewClient(ctx, opts...)
	if err != nil {
		// The SDK's validation messages can quote the org URL but never the token.
		return nil, collectors.Permanent(fmt.Errorf("okta: org %s: configuring the Okta client: %s", org, redact(err.Error(), c.cfg.Token.Value(), c.cfg.PrivateKey.Value())))
	}
	a.cl = cl
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
	add(TypeAdmins, "okta.roles.read", "okta.users.read", "okta.groups.read")
	add(TypePolicies, "okta.policies.read")
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
	a, err := c.client(ctx, req)
	if err != nil {
		return err
	}
	cur := cursor{V: 1, Org: a.org}
	if req.Cursor != "" {
		var old cursor
		switch err := json.Unmarshal([]byte(req.Cursor), &old); {
		case err != nil || old.V != 1:
			req.Logger.Warn("ignoring an unreadable cursor; collecting from the backfill start", "since", req.Since)
		case old.Org != a.org:
			req.Logger.Warn("the cursor belongs to another org; collecting from the backfill start", "since", req.Since)
		default:
			cur = old
		}
	}
	r := &run{api: a, cfg: c.cfg, req: req, emit: emit, cur: cur, emitted: map[string]int{}}
	steps := []struct {
		typ string
		fn  func(context.Context) error
	}{
		{TypeUsers, r.users},
		{TypeGroups, r.groups},
		{TypeAdmins, r.admins},
		{TypePolicies, r.policies},
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
