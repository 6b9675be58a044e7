// Package jira collects change, incident, access and vulnerability tickets
// from Jira Cloud or Jira Data Center, each with its complete status and
// approval history taken from the changelog.
//
// It uses github.com/andygrunwald/go-jira for the HTTP client and
// authentication (Basic email + API token on Cloud, a personal access token
// on Data Center) and issues its own requests through that client where the
// library lags behind the API (Cloud's /rest/api/3/search/jql, the paged
// changelog).
package jira

import (
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
)

// Version is recorded in every artifact's source.
const Version = "jira/1"

//go:embed sample.yaml
var sampleConfig string

// Evidence types. A query may name any jira.* type; these have default controls.
var evidenceTypes = []collectors.EvidenceType{
	{Name: "jira.change_tickets", Controls: []string{"CC8.1"}, Description: "change requests with their approvals and status transitions"},
	{Name: "jira.incidents", Controls: []string{"CC7.3", "CC7.4", "CC7.5"}, Description: "incident tickets with their timelines"},
	{Name: "jira.access_requests", Controls: []string{"CC6.2", "CC6.3"}, Description: "access requests with their approvals"},
	{Name: "jira.offboarding", Controls: []string{"CC6.2", "CC6.3"}, Description: "offboarding tickets and when access removal was completed"},
	{Name: "jira.vulnerabilities", Controls: []string{"CC7.1"}, Description: "vulnerability remediation tickets"},
	{Name: "jira.tickets", Controls: nil, Description: "tickets of any other query (set controls on the query)"},
	{Name: "jira.population", Controls: nil, Description: "each query's population per run: collected count beside Jira's count, deleted tickets (filed under the query's controls)"},
}

func init() {
	collectors.Register(collectors.Definition{
		Type:          "jira",
		Summary:       "Jira Cloud / Data Center tickets (changes, incidents, access, vulnerabilities) with their full transition and approval history",
		EvidenceTypes: evidenceTypes,
		SampleConfig:  sampleConfig,
		NewConfig:     func() any { return &Config{} },
		New:           func(cfg any) (collectors.Collector, error) { return newCollector(cfg.(*Config)) },
	})
}

// Deployment types.
const (
	deployAuto       = "auto"
	deployCloud      = "cloud"
	deployDataCenter = "datacenter"
)

// Authentication modes.
const (
	authAPIToken = "api_token"
	authScoped   = "scoped_token"
	authOAuth    = "oauth"
	authPAT      = "pat"
	authBasic    = "basic"
)

// gateway reports whether requests go through api.atlassian.com/ex/jira/{cloudId}.
func (c *Config) gateway() bool { return c.Auth == authScoped || c.Auth == authOAuth }

// Config is the `jira:` section of a collectors[] entry.
type Config struct {
	// BaseURL of the site, e.g. https://acme.atlassian.net.
	BaseURL string `yaml:"base_url"`
	// Deployment: cloud, datacenter or auto (read from /rest/api/2/serverInfo).
	Deployment string `yaml:"deployment"`
	// Auth is how the collector authenticates: api_token (Cloud: email +
	// API token at the site), scoped_token (Cloud: email + scoped API token,
	// user or service account, through the api.atlassian.com gateway),
	// oauth (Cloud service account: OAuth 2.0 client credentials, through
	// the gateway), pat (Data Center personal access token) or basic (Data
	// Center user name + password). Default: api_token with email, pat
	// without.
	Auth string `yaml:"auth"`
	// Email of the account (api_token, scoped_token).
	Email string `yaml:"email"`
	// Token is the API token, the scoped API token or the personal access token.
	Token collectors.Secret `yaml:"token"`
	// Username and Password are Data Center basic authentication.
	Username string            `yaml:"username"`
	Password collectors.Secret `yaml:"password"`
	// ClientID and ClientSecret are a service account's OAuth 2.0 credentials.
	ClientID     string            `yaml:"client_id"`
	ClientSecret collectors.Secret `yaml:"client_secret"`
	// CloudID of the site for the gateway; read from the site's
	// /_edge/tenant_info when empty.
	CloudID string `yaml:"cloud_id"`
	// GatewayURL is Atlassian's API gateway (default https://api.atlassian.com).
	GatewayURL string `yaml:"gateway_url"`
	// TokenURL is Atlassian's OAuth 2.0 token endpoint (default
	// https://auth.atlassian.com/oauth/token).
	TokenURL string `yaml:"token_url"`

	autoAuth bool // auth not set with deployment auto
	// ApproverField is the custom field holding approvers (optional).
	ApproverField string `yaml:"approver_field"`
	// Queries to run; each has its own cursor.
	Queries []Query `yaml:"queries"`
	// PageSize is the search page size (default 100, at most 100).
	PageSize int `yaml:"page_size"`
	// Overlap re-reads this much before the cursor on each run, because
	// Jira's search index is eventually consistent (default 10m).
	Overlap collectors.Duration `yaml:"overlap"`
	// RemoteLinks fetches each ticket's remote links (pull requests);
	// default true. One request per new or updated ticket.
	RemoteLinks *bool `yaml:"remote_links"`
	// Concurrency bounds per-ticket requests (changelog pages, remote
	// links) in flight (default 4).
	Concurrency int `yaml:"concurrency"`
	// ImplementerField is the user field naming who implemented a change
	// (segregation of duties; optional).
	ImplementerField string `yaml:"implementer_field"`
	// DoneStatuses are the statuses meaning "implemented" (default [Done]).
	DoneStatuses []string `yaml:"done_statuses"`
	// JSMApprovals reads Jira Service Management approvals of tickets in
	// service projects (default true; one request per such ticket).
	JSMApprovals *bool `yaml:"jsm_approvals"`
	// Comments reads each ticket's comment count and last comment time
	// (default true; a request only when the embedded page is full).
	Comments *bool `yaml:"comments"`
	// Reconcile compares each query's collected count with Jira's count
	// (default true; two requests per query and run).
	Reconcile *bool `yaml:"reconcile"`
	// DeletedTickets reads deleted tickets from the audit log (default
	// true; needs Administer Jira, recorded as not visible otherwise).
	DeletedTickets *bool `yaml:"deleted_tickets"`
}

// Query is one JQL query and where its tickets are filed.
type Query struct {
	Name         string   `yaml:"name"`
	JQL          string   `yaml:"jql"`
	EvidenceType string   `yaml:"evidence_type"`
	Controls     []string `yaml:"controls"`
	// Fields are extra fields to keep as Jira returns them (risk, change
	// type, implementation window, linked PRs...), by field ID.
	Fields []string `yaml:"fields"`
	// Segregation adds the segregation-of-duties check to each ticket
	// (default: on for jira.change_tickets and jira.access_requests).
	Segregation *bool `yaml:"segregation"`
}

func (q *Query) segregation() bool {
	if q.Segregation != nil {
		return *q.Segregation
	}
	return q.EvidenceType == "jira.change_tickets" || q.EvidenceType == "jira.access_requests"
}

var (
	queryNameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	evidenceTypeRE = regexp.MustCompile(`^jira\.[a-z][a-z0-9_]*$`)
	fieldRE        = regexp.MustCompile(`^customfield_[0-9]+$`)
	anyFieldRE     = regexp.MustCompile(`^(customfield_[0-9]+|[a-z][A-Za-z0-9_]*)$`)
	orderByRE      = regexp.MustCompile(`(?i)\border\s+by\b`)
)

// Validate checks the configuration and fills defaults.
func (c *Config) Validate() error {
	var errs collectors.ConfigErrors
	add := func(key, msg, hint string) {
		errs = append(errs, &collectors.ConfigError{Key: key, Msg: msg, Hint: hint})
	}
	u, err := url.Parse(c.BaseURL)
	switch {
	case c.BaseURL == "":
		add("base_url", "required", "the site address, e.g. https://acme.atlassian.net")
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		add("base_url", fmt.Sprintf("%q is not an http(s) URL", c.BaseURL), "e.g. https://acme.atlassian.net")
	case u.RawQuery != "" || u.User != nil:
		add("base_url", "must not carry a query string or credentials", "put the token in `token: env:NAME`")
	}
	if c.Deployment == "" {
		c.Deployment = deployAuto
	}
	switch c.Deployment {
	case deployAuto, deployCloud, deployDataCenter:
	default:
		add("deployment", fmt.Sprintf("unknown deployment %q", c.Deployment), "use cloud, datacenter or auto")
	}
	if c.Auth == "" {
		switch {
		case c.ClientID != "":
			c.Auth = authOAuth
		case c.Username != "":
			c.Auth = authBasic
		case c.Deployment == deployDataCenter:
			c.Auth = authPAT
		case c.Deployment == deployCloud:
			c.Auth = authAPIToken
		default:
			// deployment auto: api_token on Cloud, pat on Data Center,
			// decided once the deployment is known
			c.autoAuth = true
			c.Auth = authPAT
			if c.Email != "" {
				c.Auth = authAPIToken
			}
		}
	}
	switch c.Auth {
	case authAPIToken, authScoped:
		if !c.Token.IsSet() {
			add("token", "required", "the API token, as env:NAME or file:/path")
		}
		if c.Email == "" {
			add("email", "required on Jira Cloud (Basic authentication is email + API token)", "the email of the account (or service account) that owns the API token")
		}
	case authOAuth:
		if c.ClientID == "" {
			add("client_id", "required with auth: oauth", "the service account's OAuth 2.0 client ID (Atlassian Administration > Directory > Service accounts)")
		}
		if !c.ClientSecret.IsSet() {
			add("client_secret", "required with auth: oauth", "as env:NAME or file:/path")
		}
	case authPAT:
		if !c.Token.IsSet() {
			add("token", "required", "Cloud: an API token (with email); Data Center: a personal access token; as env:NAME or file:/path")
		}
	case authBasic:
		if c.Username == "" || !c.Password.IsSet() {
			add("password", "username and password are required with auth: basic", "Data Center basic authentication; the password as env:NAME or file:/path")
		}
	default:
		add("auth", fmt.Sprintf("unknown auth %q", c.Auth), "use api_token, scoped_token, oauth, pat or basic")
	}
	if c.gateway() {
		if c.Deployment == deployDataCenter {
			add("auth", c.Auth+" works only on Jira Cloud (through the api.atlassian.com gateway)", "use pat or basic on Data Center")
		}
		c.Deployment = deployCloud
	}
	if (c.Auth == authPAT || c.Auth == authBasic) && c.Deployment == deployCloud {
		if c.Auth == authBasic {
			add("auth", "basic (user name + password) is Data Center only", "on Cloud use api_token, scoped_token or oauth")
		}
	}
	if c.GatewayURL == "" {
		c.GatewayURL = "https://api.atlassian.com"
	}
	if c.TokenURL == "" {
		c.TokenURL = "https://auth.atlassian.com/oauth/token"
	}
	if c.ApproverField != "" && !fieldRE.MatchString(c.ApproverField) {
		add("approver_field", fmt.Sprintf("%q is not a custom field ID", c.ApproverField), "e.g. customfield_10050 (see Jira settings > Issues > Custom fields)")
	}
	if len(c.Queries) == 0 {
		add("queries", "at least one query is required", "see config/jira-queries.example.yaml")
	}
	names := map[string]bool{}
	for i := range c.Queries {
		q := &c.Queries[i]
		key := fmt.Sprintf("queries[%d]", i)
		if !queryNameRE.MatchString(q.Name) {
			add(key+".name", fmt.Sprintf("%q: a query needs a name of lowercase letters, digits, - and _", q.Name), "the name keys the query's cursor; keep it stable")
		} else if names[q.Name] {
			add(key+".name", fmt.Sprintf("duplicate query name %q", q.Name), "")
		}
		names[q.Name] = true
		if strings.TrimSpace(q.JQL) == "" {
			add(key+".jql", "required", "e.g. project = CHG AND issuetype = Change")
		} else if orderByRE.MatchString(q.JQL) {
			add(key+".jql", "must not contain ORDER BY", "the collector orders by updated itself to page incrementally")
		}
		if q.EvidenceType == "" {
			q.EvidenceType = "jira.tickets"
		}
		if !evidenceTypeRE.MatchString(q.EvidenceType) {
			add(key+".evidence_type", fmt.Sprintf("%q is not a jira evidence type", q.EvidenceType), "e.g. jira.change_tickets, jira.incidents, jira.access_requests")
		}
		for j, f := range q.Fields {
			if !anyFieldRE.MatchString(f) {
				add(fmt.Sprintf("%s.fields[%d]", key, j), fmt.Sprintf("%q is not a field ID", f), "e.g. customfield_10070 or duedate (see Settings > Issues > Custom fields)")
			}
		}
	}
	if c.ImplementerField != "" && !fieldRE.MatchString(c.ImplementerField) && c.ImplementerField != "assignee" {
		add("implementer_field", fmt.Sprintf("%q is not a custom field ID", c.ImplementerField), "e.g. customfield_10060")
	}
	if len(c.DoneStatuses) == 0 {
		c.DoneStatuses = []string{"Done"}
	}
	for _, p := range []**bool{&c.JSMApprovals, &c.Comments, &c.Reconcile, &c.DeletedTickets} {
		if *p == nil {
			t := true
			*p = &t
		}
	}
	if c.PageSize == 0 {
		c.PageSize = 100
	}
	if c.PageSize < 1 || c.PageSize > 100 {
		add("page_size", "must be between 1 and 100", "")
	}
	if c.Overlap == 0 {
		c.Overlap = collectors.Duration(10 * time.Minute)
	}
	if c.Concurrency == 0 {
		c.Concurrency = 4
	}
	if c.Concurrency < 1 || c.Concurrency > 16 {
		add("concurrency", "must be between 1 and 16", "")
	}
	if c.RemoteLinks == nil {
		t := true
		c.RemoteLinks = &t
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

type collector struct {
	cfg *Config
}

func newCollector(cfg *Config) (collectors.Collector, error) {
	if cfg == nil {
		return nil, errors.New("jira: missing configuration")
	}
	return &collector{cfg: cfg}, nil
}
