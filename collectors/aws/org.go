package aws

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/account"
	accttypes "github.com/aws/aws-sdk-go-v2/service/account/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"go.yaml.in/yaml/v3"
	"golang.org/x/sync/errgroup"

	"github.com/tickmark-dev/tickmark/collectors"
)

// RegionList is `regions:`, a list of regions or the word "discover".
type RegionList struct {
	Discover bool
	List     []string
}

// UnmarshalYAML accepts a sequence of region names or "discover".
func (l *RegionList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if n.Value != "discover" {
			return fmt.Errorf("regions: %q is neither a list of regions nor \"discover\"", n.Value)
		}
		l.Discover = true
		return nil
	}
	return n.Decode(&l.List)
}

// MarshalYAML writes the list back.
func (l RegionList) MarshalYAML() (any, error) {
	if l.Discover {
		return "discover", nil
	}
	return l.List, nil
}

// AccountList is `accounts:`, a list of account IDs or "organization".
type AccountList struct {
	Organization bool
	List         []string
}

// Set reports whether accounts were configured.
func (l AccountList) Set() bool { return l.Organization || len(l.List) > 0 }

// UnmarshalYAML accepts a sequence of account IDs or "organization".
func (l *AccountList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if n.Value != "organization" {
			return fmt.Errorf("accounts: %q is neither a list of account IDs nor \"organization\"", n.Value)
		}
		l.Organization = true
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("accounts: a list of account IDs or \"organization\"")
	}
	for _, c := range n.Content {
		// the literal text: an unquoted ID with a leading zero stays as written
		if c.Kind != yaml.ScalarNode {
			return fmt.Errorf("accounts: line %d: not an account ID", c.Line)
		}
		l.List = append(l.List, c.Value)
	}
	return nil
}

// MarshalYAML writes the list back.
func (l AccountList) MarshalYAML() (any, error) {
	if l.Organization {
		return "organization", nil
	}
	return l.List, nil
}

// LogArchive is where organisation trails deliver: the log-archive
// account's bucket, read through a role in that account.
type LogArchive struct {
	// RoleARN is assumed (from the agent's credentials) to read the bucket.
	RoleARN string `yaml:"role_arn"`
	// ExternalID is passed when assuming it.
	ExternalID string `yaml:"external_id"`
	// Bucket overrides the organisation trail's S3BucketName.
	Bucket string `yaml:"bucket"`
	// BucketRegion is the bucket's region (default the trail's home region).
	BucketRegion string `yaml:"bucket_region"`
	// OrganizationID overrides organizations:DescribeOrganization.
	OrganizationID string `yaml:"organization_id"`
}

var (
	accountIDRE = regexp.MustCompile(`^\d{12}$`)
	roleNameRE  = regexp.MustCompile(`^[\w+=,.@/-]{1,64}$`)
	orgIDRE     = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
)

func (c *Config) validateOrg() collectors.ConfigErrors {
	var errs collectors.ConfigErrors
	for _, id := range c.Accounts.List {
		if !accountIDRE.MatchString(id) {
			errs = append(errs, &collectors.ConfigError{Key: "accounts", Msg: fmt.Sprintf("%q is not a 12-digit account ID", id), Hint: "quote IDs with leading zeros: [\"012345678901\"]"})
		}
	}
	if c.Accounts.Set() && c.MemberRoleName == "" {
		errs = append(errs, &collectors.ConfigError{Key: "member_role_name", Msg: "accounts needs member_role_name, the role assumed in each account", Hint: "deploy deploy/iam/tickmark-member-role.json as e.g. tickmark-read in every account"})
	}
	if c.MemberRoleName != "" && !roleNameRE.MatchString(c.MemberRoleName) {
		errs = append(errs, &collectors.ConfigError{Key: "member_role_name", Msg: "a role name, not an ARN", Hint: "e.g. tickmark-read"})
	}
	if (c.MemberRoleName != "" || c.MemberExternalID != "") && !c.Accounts.Set() {
		errs = append(errs, &collectors.ConfigError{Key: "member_role_name", Msg: "member_role_name and member_external_id need accounts"})
	}
	if c.AccountConcurrency < 0 || c.AccountConcurrency > 32 {
		errs = append(errs, &collectors.ConfigError{Key: "account_concurrency", Msg: "between 1 and 32"})
	}
	if la := c.LogArchive; la != nil {
		if !strings.HasPrefix(la.RoleARN, "arn:") {
			errs = append(errs, &collectors.ConfigError{Key: "log_archive.role_arn", Msg: "the role in the log-archive account that reads the organisation trail's bucket is required", Hint: "arn:aws:iam::444455556666:role/tickmark-log-archive-read"})
		}
		if la.OrganizationID != "" && !orgIDRE.MatchString(la.OrganizationID) {
			errs = append(errs, &collectors.ConfigError{Key: "log_archive.organization_id", Msg: "not an organization ID", Hint: "o-exampleorgid"})
		}
	}
	if _, err := c.logFileSample(); err != nil {
		errs = append(errs, &collectors.ConfigError{Key: "log_files", Msg: err.Error(), Hint: "all, none, or a sample size such as 20"})
	}
	if c.Region != "" && strings.ContainsAny(c.Region, " /") {
		errs = append(errs, &collectors.ConfigError{Key: "region", Msg: fmt.Sprintf("invalid region %q", c.Region)})
	}
	return errs
}

// logFileSample returns -1 for none, 0 for all, n for a sample of n.
func (c *Config) logFileSample() (int, error) {
	switch c.LogFiles {
	case "", "all":
		return 0, nil
	case "none":
		return -1, nil
	}
	n, err := strconv.Atoi(c.LogFiles)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("log_files %q is not all, none or a positive sample size", c.LogFiles)
	}
	return n, nil
}

func (c *Config) apiRegion() string {
	switch {
	case c.Region != "":
		return c.Region
	case len(c.Regions.List) > 0:
		return c.Regions.List[0]
	}
	return "us-east-1"
}

// partitionOf returns the partition of an ARN ("aws", "aws-us-gov", "aws-cn").
func partitionOf(arn string) string {
	if p := strings.Split(arn, ":"); len(p) > 2 && p[1] != "" {
		return p[1]
	}
	return "aws"
}

// globalRegion is where CloudTrail records the events of global services
// (IAM, STS global endpoint, Organizations) in a partition.
func globalRegion(partition string) string {
	switch partition {
	case "aws-us-gov":
		return "us-gov-west-1"
	case "aws-cn":
		return "cn-north-1"
	}
	return "us-east-1"
}

// orgRun is one Collect call over one or many accounts.
type orgRun struct {
	cfg       *Config
	req       collectors.Request
	emit      collectors.Emitter
	base      aws.Config
	cur       *cursor
	mu        *sync.Mutex
	self      string // the credentials' account
	partition string
	orgID     string
	collected sync.Map // account -> *run, for organisation-trail digests
}

func (o *orgRun) newRun(acct string, cfg aws.Config, multi bool) *run {
	return &run{cfg: o.cfg, req: o.req, emit: o.emit, awsCfg: cfg, account: acct, partition: o.partition, multi: multi,
		mu: o.mu, cur: o.cur, ct: map[string]*cloudtrail.Client{}}
}

// orgAccount is an account to collect, as listed.
type orgAccount struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	Email  string `json:"email,omitempty"`
	Status string `json:"status"`
	Joined string `json:"joined,omitempty"`
	Method string `json:"joined_method,omitempty"`
}

const defaultAccountConcurrency = 4

// collectAccounts lists the accounts, collects each with bounded
// concurrency and records every account's outcome. One account failing is
// a finding in its own status artifact; the others are collected, and the
// run ends with an error naming the failed accounts (a partial outcome).
func (o *orgRun) collectAccounts(ctx context.Context) error {
	accts, err := o.listAccounts(ctx)
	if err != nil {
		return err
	}
	limit := o.cfg.AccountConcurrency
	if limit == 0 {
		limit = defaultAccountConcurrency
	}
	var (
		fmu    sync.Mutex
		failed []string
		errs   []error
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for _, a := range accts {
		if a.Status != "ACTIVE" {
			continue // listed in the population with its status
		}
		g.Go(func() error {
			r, err := o.collectAccount(gctx, a)
			if gctx.Err() != nil {
				return gctx.Err()
			}
			if err != nil {
				fmu.Lock()
				failed = append(failed, a.ID)
				errs = append(errs, err)
				fmu.Unlock()
				o.req.Logger.Warn("aws account not collected", "account", a.ID, "err", err)
			}
			return o.recordAccount(gctx, a, r, err)
		})
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	acctFailures := len(failed)
	if o.cfg.LogArchive != nil && o.cfg.wants(EvDigests) {
		if err := o.collectOrgDigests(ctx, accts); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, err)
			failed = append(failed, "log archive")
		}
	}
	if len(errs) == 0 {
		return nil
	}
	sort.Strings(failed)
	msg := fmt.Sprintf("aws: %d of %d accounts not (fully) collected (%s); the others are complete", len(failed), len(accts), strings.Join(failed, ", "))
	joined := fmt.Errorf("%s: %w", msg, errors.Join(errs...))
	var out error = collectors.Retryable(joined)
	for _, e := range errs {
		if !collectors.IsRetryable(e) {
			out = collectors.Permanent(joined)
			break
		}
	}
	if len(errs) > 0 && acctFailures < activeAccounts(accts) {
		// Some accounts were collected and every failure is recorded in
		// its account's status artifact: the run is partial, not failed.
		return collectors.Partial(out)
	}
	return out
}

// activeAccounts counts the accounts the run collects.
func activeAccounts(accts []orgAccount) int {
	n := 0
	for _, a := range accts {
		if a.Status == "ACTIVE" {
			n++
		}
	}
	return n
}

// listAccounts builds the population of accounts and records it.
func (o *orgRun) listAccounts(ctx context.Context) ([]orgAccount, error) {
	var out []orgAccount
	source := "configured list (accounts:)"
	query := ""
	if o.cfg.Accounts.Organization {
		source, query = "organizations:ListAccounts", "all pages"
		c := organizations.NewFromConfig(o.base)
		p := organizations.NewListAccountsPaginator(c, &organizations.ListAccountsInput{})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, classify("organizations:ListAccounts", "", err)
			}
			for _, a := range page.Accounts {
				out = append(out, orgAccount{ID: aws.ToString(a.Id), Name: aws.ToString(a.Name), Email: aws.ToString(a.Email),
					Status: string(a.Status), Joined: tsp(a.JoinedTimestamp), Method: string(a.JoinedMethod)})
			}
		}
	} else {
		for _, id := range o.cfg.Accounts.List {
			out = append(out, orgAccount{ID: id, Status: "ACTIVE"})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if o.cfg.Accounts.Organization || o.cfg.LogArchive != nil {
		if err := o.resolveOrgID(ctx); err != nil {
			return nil, err
		}
	}
	var skipped []map[string]string
	for _, a := range out {
		if a.Status != "ACTIVE" {
			skipped = append(skipped, map[string]string{"id": a.ID, "reason": "status " + a.Status + ": not collected"})
		}
	}
	if skipped == nil {
		skipped = []map[string]string{}
	}
	body := map[string]any{
		"caller_account": o.self, "partition": o.partition, "organization_id": nullable(o.orgID),
		"built_from": source, "complete": true, "accounts": out, "not_collected": skipped,
		"member_role_name": o.cfg.MemberRoleName,
		"note":             "every ACTIVE account is collected with the member role (the caller's own account with the agent's credentials); each has an aws.account.status artifact per run saying whether it was collected",
	}
	src := collectors.Source{System: "aws", Endpoint: source, Query: query, Account: o.self, CollectorVersion: Version, Items: len(out), Complete: true, Pages: 1}
	subject := o.self
	if o.orgID != "" {
		subject = o.orgID
	}
	art := collectors.Artifact{Type: TypeAccounts, Subject: subject, ContentType: "application/json", Body: mustJSON(body), Source: src}
	return out, o.newRun(o.self, o.base, true).emitAndCheckpoint(ctx, []collectors.Artifact{art}, nil)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (o *orgRun) resolveOrgID(ctx context.Context) error {
	if o.cfg.LogArchive != nil && o.cfg.LogArchive.OrganizationID != "" {
		o.orgID = o.cfg.LogArchive.OrganizationID
		return nil
	}
	out, err := organizations.NewFromConfig(o.base).DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return classify("organizations:DescribeOrganization", "", err)
	}
	if out.Organization != nil {
		o.orgID = aws.ToString(out.Organization.Id)
	}
	return nil
}

// assume returns a configuration whose credentials are role's, checked by
// assuming it once now (so a denial is reported as such).
func (o *orgRun) assume(ctx context.Context, role, externalID string) (aws.Config, error) {
	cfg := o.base.Copy()
	session := "tickmark"
	if o.req.Instance != "" {
		session = sanitizeSession("tickmark-" + o.req.Instance)
	}
	prov := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(o.base), role, func(ao *stscreds.AssumeRoleOptions) {
		ao.RoleSessionName = session
		if externalID != "" {
			ao.ExternalID = aws.String(externalID)
		}
	})
	cache := aws.NewCredentialsCache(prov)
	if _, err := cache.Retrieve(ctx); err != nil {
		if ctx.Err() != nil {
			return cfg, ctx.Err()
		}
		return cfg, classify("sts:AssumeRole", role, unwrapAPI(err))
	}
	cfg.Credentials = cache
	return cfg, nil
}

// unwrapAPI digs the API error out of a credential provider's wrapping, so
// a denied AssumeRole is classified as a denial, not missing credentials.
func unwrapAPI(err error) error {
	var ae interface {
		error
		ErrorCode() string
	}
	if errors.As(err, &ae) {
		return ae
	}
	return err
}

func (o *orgRun) memberRole(acct string) string {
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", o.partition, acct, o.cfg.MemberRoleName)
}

// collectAccount collects one account: the caller's own with the agent's
// credentials, any other through the member role.
func (o *orgRun) collectAccount(ctx context.Context, a orgAccount) (*run, error) {
	cfg := o.base
	if a.ID != o.self {
		var err error
		if cfg, err = o.assume(ctx, o.memberRole(a.ID), o.cfg.MemberExternalID); err != nil {
			return nil, err
		}
	}
	r := o.newRun(a.ID, cfg, true)
	err := r.collect(ctx)
	o.collected.Store(a.ID, r)
	return r, err
}

// recordAccount emits the account's status artifact for this run.
func (o *orgRun) recordAccount(ctx context.Context, a orgAccount, r *run, err error) error {
	body := map[string]any{
		"account": a.ID, "name": a.Name, "run_at": ts(o.req.Now),
		"credentials": "agent credentials (own account)",
	}
	if a.ID != o.self {
		body["credentials"] = "assumed role " + o.memberRole(a.ID)
	}
	findings := []string{}
	if err != nil {
		body["outcome"] = "failed"
		body["error"] = err.Error()
		body["retryable"] = collectors.IsRetryable(err)
		findings = append(findings, "the account was not (fully) collected in this run: "+err.Error())
	} else {
		body["outcome"] = "complete"
	}
	if r != nil && r.regions != nil {
		body["regions"] = r.regions
	} else {
		body["regions"] = nil
	}
	body["findings"] = findings
	src := collectors.Source{System: "aws", Endpoint: "tickmark aws collector", Account: a.ID, CollectorVersion: Version, Complete: err == nil}
	art := collectors.Artifact{Type: TypeAccountStatus, Subject: a.ID, ContentType: "application/json", Body: mustJSON(body), ObservedAt: o.req.Now, Source: src}
	return o.newRun(a.ID, o.base, true).emitAndCheckpoint(ctx, []collectors.Artifact{art}, nil)
}

// resolveRegions sets the regions of the run: as configured, or the
// account's enabled regions from account:ListRegions (recorded with every
// region's opt-in status).
func (r *run) resolveRegions(ctx context.Context) error {
	if !r.cfg.Regions.Discover {
		r.regions = r.cfg.Regions.List
		return nil
	}
	c := account.NewFromConfig(r.awsCfg, func(o *account.Options) { o.Region = r.cfg.apiRegion() })
	var all []map[string]string
	var enabled []string
	p := account.NewListRegionsPaginator(c, &account.ListRegionsInput{MaxResults: aws.Int32(50)})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return r.fail(ctx, "account:ListRegions", "", err)
		}
		pages++
		for _, rg := range page.Regions {
			st := rg.RegionOptStatus
			all = append(all, map[string]string{"region": aws.ToString(rg.RegionName), "opt_status": string(st)})
			if st == accttypes.RegionOptStatusEnabled || st == accttypes.RegionOptStatusEnabledByDefault {
				enabled = append(enabled, aws.ToString(rg.RegionName))
			}
		}
	}
	sort.Strings(enabled)
	if all == nil {
		all = []map[string]string{}
	}
	r.regions = enabled
	body := map[string]any{
		"account": r.account, "partition": r.partition, "regions": all, "collected": orEmpty(enabled),
		"global_service_region": globalRegion(r.partition),
		"note":                  "regions with opt_status ENABLED or ENABLED_BY_DEFAULT are collected; DISABLED, ENABLING and DISABLING ones are not",
	}
	src := r.source("account:ListRegions", "", "all regions, every opt-in status")
	src.Pages, src.Items, src.Complete = pages, len(all), true
	art := collectors.Artifact{Type: TypeRegions, Subject: r.account, ContentType: "application/json", Body: mustJSON(body), ObservedAt: r.req.Now, Source: src}
	return r.emitAndCheckpoint(ctx, []collectors.Artifact{art}, nil)
}

// migrate moves version-1 events cursors (keyed by region) under the
// caller's account.
func (c *cursor) migrate(self string) {
	for k, v := range c.Events {
		if !strings.Contains(k, "/") {
			c.Events[self+"/"+k] = v
			delete(c.Events, k)
		}
	}
}

var _ = time.Second

// collectOrgDigests verifies the organisation trails' digests for every
// ACTIVE account of the population (those whose role was denied included:
// the log archive holds their trail all the same), in every region
// collected, from the log-archive bucket read through its role.
func (o *orgRun) collectOrgDigests(ctx context.Context, accts []orgAccount) error {
	la := o.cfg.LogArchive
	var trails []trailInfo
	var regions []string
	seenRegion := map[string]bool{}
	var pk *run // lists the public keys (any collected account may)
	for _, a := range accts {
		v, ok := o.collected.Load(a.ID)
		if !ok {
			continue
		}
		r := v.(*run)
		if pk == nil || a.ID == o.self {
			pk = r
		}
		if len(trails) == 0 || a.ID == o.self {
			if ts := r.trails; len(ts) > 0 {
				trails = ts
			}
		}
		for _, rg := range r.regions {
			if !seenRegion[rg] {
				seenRegion[rg] = true
				regions = append(regions, rg)
			}
		}
	}
	sort.Strings(regions)
	if pk == nil {
		return collectors.Permanent(errors.New("aws: organisation-trail digests: no account was collected, so no trail is known"))
	}
	if o.orgID == "" {
		return collectors.Permanent(errors.New("aws: organisation-trail digests: the organization ID is unknown (set log_archive.organization_id)"))
	}
	cfg, err := o.assume(ctx, la.RoleARN, la.ExternalID)
	if err != nil {
		return err
	}
	found := false
	for _, ti := range trails {
		t := ti.Trail
		if !aws.ToBool(t.IsOrganizationTrail) || !aws.ToBool(t.LogFileValidationEnabled) {
			continue
		}
		found = true
		bucket := aws.ToString(t.S3BucketName)
		if la.Bucket != "" {
			bucket = la.Bucket
		}
		region := la.BucketRegion
		if region == "" {
			region = aws.ToString(t.HomeRegion)
		}
		s3c := o.newRun(o.self, cfg, true).s3(region)
		g, gctx := errgroup.WithContext(ctx)
		limit := o.cfg.AccountConcurrency
		if limit == 0 {
			limit = defaultAccountConcurrency
		}
		g.SetLimit(limit)
		var mu sync.Mutex
		var errs []error // one account's chain failing to read is reported, the others verified
		for _, a := range accts {
			if a.Status != "ACTIVE" {
				continue
			}
			g.Go(func() error {
				// digests of account a, public keys listed by pk's credentials
				r := o.newRun(a.ID, pk.awsCfg, true)
				for _, rg := range trailRegions(t, regions) {
					tgt := digestTarget{arn: aws.ToString(t.TrailARN), name: aws.ToString(t.Name), home: aws.ToString(t.HomeRegion), bucket: bucket,
						prefix: aws.ToString(t.S3KeyPrefix), region: rg, orgID: o.orgID, s3c: s3c}
					if err := r.trailDigests(gctx, tgt); err != nil {
						if !collectors.IsClassified(err) || gctx.Err() != nil {
							return err
						}
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		if err := joinClassified(errs); err != nil {
			return err
		}
	}
	if !found {
		o.req.Logger.Warn("log_archive is configured but no organisation trail with log file validation was found", "evidence_type", TypeDigests)
	}
	return nil
}
