package aws_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	awscol "github.com/tickmark-dev/tickmark/collectors/aws"
	"github.com/tickmark-dev/tickmark/collectors/aws/awsfake"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/internal/s3test"
)

const (
	orgID      = "o-a1b2c3d4e5"
	mgmt       = "100000000000"
	logArchive = "100000000001"
	memberRole = "tickmark-read"
	memberExt  = "tickmark-ext-7"
	archRole   = "tickmark-log-archive-read"
	orgBucket  = "org-cloudtrail-archive"
)

// orgEnv is a fake organisation: the management account, the log-archive
// account and members, each with regions, a trail and events.
type orgEnv struct {
	org     *awsfake.Org
	url     string
	s3      *s3test.Server
	members []string                        // every account, management first
	regions []string                        // the regions enabled in every account
	chains  map[string][]awsfake.DigestFile // "<account>/<region>" -> organisation-trail digests
}

func memberID(i int) string { return fmt.Sprintf("2000000%05d", i) }

// newOrgEnv builds an organisation of n accounts (management and log
// archive included) whose accounts have regions enabled (opt-in regions
// included) and one more region disabled.
func newOrgEnv(t testing.TB, n int, regions []string, withS3 bool) *orgEnv {
	t.Helper()
	return newOrgEnvIn(t, "aws", n, regions, withS3)
}

// newOrgEnvIn is newOrgEnv in an ARN partition (aws, aws-us-gov, aws-cn).
func newOrgEnvIn(t testing.TB, partition string, n int, regions []string, withS3 bool) *orgEnv {
	t.Helper()
	clock := func() time.Time { return now }
	e := &orgEnv{org: awsfake.NewOrg(orgID, mgmt, clock), regions: regions}
	e.org.Partition = partition
	e.org.AddAccount(awsfake.OrgAccount{ID: logArchive, Name: "log-archive"}, clock)
	e.members = []string{mgmt, logArchive}
	for i := 0; len(e.members) < n; i++ {
		id := memberID(i)
		e.org.AddAccount(awsfake.OrgAccount{ID: id, Name: fmt.Sprintf("workload-%d", i)}, clock)
		e.members = append(e.members, id)
	}
	akid, secret := "AKIDORGMGMT", "org-mgmt-secret"
	if withS3 {
		e.s3 = s3test.Start(t)
		e.s3.CreateBucket(t, orgBucket, false)
		u, _ := url.Parse(e.s3.Endpoint)
		arch := e.org.Account(logArchive)
		arch.S3Backend = u
		arch.S3Signer = &awsfake.BackendSigner{AccessKey: e.s3.AccessKey, SecretKey: e.s3.SecretKey, Region: e.s3.Region}
		e.org.SetLogArchive(logArchive)
		e.org.AddRole(logArchive, archRole, "")
	}
	for _, id := range e.members {
		if id != mgmt {
			e.org.AddRole(id, memberRole, memberExt)
		}
		s := e.org.Account(id)
		s.LookupJitter = 200 * time.Millisecond
		var rs []awsfake.RegionStatus
		for _, r := range regions {
			st := "ENABLED_BY_DEFAULT"
			if r == "af-south-1" || r == "ap-east-1" {
				st = "ENABLED" // opted in
			}
			rs = append(rs, awsfake.RegionStatus{RegionName: r, RegionOptStatus: st})
		}
		rs = append(rs, awsfake.RegionStatus{RegionName: "me-south-1", RegionOptStatus: "DISABLED"})
		e.org.SetRegions(id, rs...)
		// the organisation trail, seen from every account (home: the
		// management account's us-east-1)
		s.AddTrail(orgTrail(), awsfake.TrailStatus{IsLogging: true, StartLoggingTime: now.Add(-200 * 24 * time.Hour)}, nil)
		for i, r := range regions {
			s.AddEvents(r, awsfake.Event{EventID: fmt.Sprintf("%s-%s-login", id, r), EventName: "ConsoleLogin", EventSource: "signin.amazonaws.com",
				Username: "u" + id, Time: now.Add(-time.Duration(2+i) * time.Hour)})
		}
		s.AddEvents("me-south-1", awsfake.Event{EventID: id + "-disabled-region", EventName: "ConsoleLogin", EventSource: "signin.amazonaws.com", Time: now.Add(-3 * time.Hour)})
	}
	if withS3 {
		e.chains = map[string][]awsfake.DigestFile{}
		mg := e.org.Account(mgmt)
		var files []awsfake.DigestFile
		for _, r := range regions {
			key := mg.AddKey(r, now.Add(-60*24*time.Hour), now.Add(30*24*time.Hour))
			for _, id := range e.members {
				// three hourly digests ending an hour ago, the first a chain start
				c := awsfake.OrgDigestChain(orgID, id, orgTrail(), r, key, now.Add(-4*time.Hour), 3, nil)
				e.chains[id+"/"+r] = c
				files = append(files, c...)
			}
		}
		if err := awsfake.Upload(context.Background(), e.s3.Client(), files); err != nil {
			t.Fatal(err)
		}
	}
	e.url = e.org.Start()
	t.Cleanup(e.org.Close)
	credentialEnv(t, akid, secret)
	return e
}

func orgTrail() awsfake.Trail {
	return awsfake.Trail{
		Name: "org-trail", S3BucketName: orgBucket, HomeRegion: "us-east-1", IsMultiRegionTrail: true, IsOrganizationTrail: true,
		IncludeGlobalServiceEvents: true, LogFileValidationEnabled: true,
		TrailARN: "arn:aws:cloudtrail:us-east-1:" + mgmt + ":trail/org-trail",
	}
}

func (e *orgEnv) config(extra string) string {
	return fmt.Sprintf("accounts: organization\nmember_role_name: %s\nmember_external_id: %s\nregions: discover\nregion: us-east-1\nendpoint: %s\n%s", memberRole, memberExt, e.url, extra)
}

type statusBody struct {
	Account  string   `json:"account"`
	Outcome  string   `json:"outcome"`
	Error    string   `json:"error"`
	Regions  []string `json:"regions"`
	Findings []string `json:"findings"`
}

func statuses(t testing.TB, res collectortest.Result) map[string]statusBody {
	t.Helper()
	out := map[string]statusBody{}
	for _, a := range res.Committed {
		if a.Type != awscol.TypeAccountStatus {
			continue
		}
		var b statusBody
		if err := json.Unmarshal(a.Body, &b); err != nil {
			t.Fatal(err)
		}
		if a.Subject != b.Account {
			t.Errorf("status artifact subject %q for account %s", a.Subject, b.Account)
		}
		out[b.Account] = b
	}
	return out
}

// assertNamesAccount checks that every artifact names the account it is
// about in its source, and its subject starts with it (or the organisation).
func assertNamesAccount(t testing.TB, res collectortest.Result) {
	t.Helper()
	for _, a := range res.Committed {
		acct, _, _ := strings.Cut(a.Source.Account, "/")
		if len(acct) != 12 {
			t.Errorf("%s %s: source account %q", a.Type, a.Subject, a.Source.Account)
			continue
		}
		if !strings.HasPrefix(a.Subject, acct) && !strings.HasPrefix(a.Subject, orgID) {
			t.Errorf("%s: subject %q does not name account %s", a.Type, a.Subject, acct)
		}
		var body struct {
			Account *string `json:"account"`
		}
		if json.Unmarshal(a.Body, &body) == nil && body.Account != nil && *body.Account != acct {
			t.Errorf("%s %s: body account %s, source account %s", a.Type, a.Subject, *body.Account, acct)
		}
	}
}

func TestOrganizationFanOutOneAccountDenied(t *testing.T) {
	e := newOrgEnv(t, 6, []string{"eu-west-1", "us-east-1", "af-south-1"}, false)
	denied := memberID(1)
	e.org.DenyAssumeRole(denied)
	res := run(t, e.config("evidence: [cloudtrail_trails, cloudtrail_events]\nevent_names: [ConsoleLogin]\n"), collectortest.Options{})
	if !collectors.IsPartial(res.Err) || !strings.Contains(res.Err.Error(), denied) || !strings.Contains(res.Err.Error(), "1 of 6 accounts") {
		t.Fatalf("run error %v; want a partial outcome naming %s", res.Err, denied)
	}
	st := statuses(t, res)
	if len(st) != 6 {
		t.Fatalf("status artifacts for %d accounts, want 6", len(st))
	}
	for _, id := range e.members {
		s := st[id]
		if id == denied {
			if s.Outcome != "failed" || len(s.Findings) != 1 || !strings.Contains(s.Error, "sts:AssumeRole") || !strings.Contains(s.Error, "access denied") || !strings.Contains(s.Error, "arn:aws:iam::"+denied+":role/"+memberRole) {
				t.Errorf("denied account status: %+v", s)
			}
			continue
		}
		if s.Outcome != "complete" || len(s.Findings) != 0 {
			t.Errorf("account %s: %+v", id, s)
		}
		if strings.Join(s.Regions, ",") != "af-south-1,eu-west-1,us-east-1" {
			t.Errorf("account %s collected regions %v; want the enabled ones (opted-in af-south-1 included, disabled me-south-1 not)", id, s.Regions)
		}
	}
	// every other account's events, in every enabled region, exactly once
	got := map[string]int{}
	collectIDs(t, res, got)
	for _, id := range e.members {
		for _, r := range e.regions {
			n := got[r+"/"+id+"-"+r+"-login"]
			if id == denied && n != 0 || id != denied && n != 1 {
				t.Errorf("event of %s in %s collected %d times", id, r, n)
			}
		}
	}
	for k := range got {
		if strings.Contains(k, "disabled-region") {
			t.Errorf("an event of a disabled region was collected: %s", k)
		}
	}
	// the population says how it was built
	var pop struct {
		OrgID     string `json:"organization_id"`
		BuiltFrom string `json:"built_from"`
		Accounts  []struct {
			ID, Status string
		} `json:"accounts"`
	}
	pops := byType(res, awscol.TypeAccounts)
	if len(pops) != 1 {
		t.Fatalf("%d population artifacts", len(pops))
	}
	if err := json.Unmarshal(pops[0].Body, &pop); err != nil {
		t.Fatal(err)
	}
	if pop.OrgID != orgID || pop.BuiltFrom != "organizations:ListAccounts" || len(pop.Accounts) != 6 {
		t.Errorf("population: %+v", pop)
	}
	// regions recorded with their opt-in status, per account
	for _, a := range byType(res, awscol.TypeRegions) {
		if !strings.Contains(string(a.Body), `"opt_status": "DISABLED"`) || !strings.Contains(string(a.Body), `"opt_status": "ENABLED"`) {
			t.Errorf("%s: regions without their opt-in status: %s", a.Subject, a.Body)
		}
	}
	if n := len(byType(res, awscol.TypeRegions)); n != 5 {
		t.Errorf("regions recorded for %d accounts, want the 5 collected", n)
	}
	// members were read through the member role with the external ID
	if n := e.org.Calls("sts:AssumeRole"); n < 5 {
		t.Errorf("AssumeRole called %d times, want once per member account (5)", n)
	}
	assertNamesAccount(t, res)
	for _, id := range e.members {
		if v := e.org.Account(id).RateViolations(); v != 0 {
			t.Errorf("account %s: %d LookupEvents calls over 2/s", id, v)
		}
	}
}

func TestAccountsConfigValidation(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{"regions: [us-east-1]\naccounts: organization\n", "accounts needs member_role_name"},
		{"regions: [us-east-1]\naccounts: [\"12345\"]\nmember_role_name: r\n", "not a 12-digit account ID"},
		{"regions: [us-east-1]\naccounts: everyone\nmember_role_name: r\n", `neither a list of account IDs nor "organization"`},
		{"regions: everywhere\n", `neither a list of regions nor "discover"`},
		{"regions: [us-east-1]\nmember_role_name: r\n", "need accounts"},
		{"regions: [us-east-1]\naccounts: organization\nmember_role_name: arn:aws:iam::1:role/x\n", "a role name, not an ARN"},
		{"regions: [us-east-1]\nlog_files: some\n", "log_files"},
		{"regions: [us-east-1]\naccounts: organization\nmember_role_name: r\nlog_archive: {bucket: b}\n", "log_archive.role_arn"},
	} {
		_, err := collectortest.BuildErr("aws", tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %q: got %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := collectortest.BuildErr("aws", "regions: discover\naccounts: [012345678901, \"111122223333\"]\nmember_role_name: tickmark-read\n"); err != nil {
		t.Errorf("valid organisation config refused: %v", err)
	}
}

func sortedStrings(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (e *orgEnv) archiveConfig() string {
	return fmt.Sprintf("log_archive:\n  role_arn: arn:aws:iam::%s:role/%s\n", logArchive, archRole)
}

// digestArtifacts maps "<account>/<region>" to the organisation-trail
// digest artifacts' bodies.
type orgDigestBody struct {
	digestsBody
	Account  string   `json:"account"`
	Region   string   `json:"region"`
	OrgID    string   `json:"organization_id"`
	Findings []string `json:"findings"`
	LogFiles struct {
		Listed, Present, Checked int
		Missing, Altered, Extra  []string
		Sample                   []string
		Intact                   bool
	} `json:"log_files"`
}

func orgDigests(t testing.TB, res collectortest.Result) map[string][]orgDigestBody {
	t.Helper()
	out := map[string][]orgDigestBody{}
	for _, a := range byType(res, awscol.TypeDigests) {
		var b orgDigestBody
		if err := json.Unmarshal(a.Body, &b); err != nil {
			t.Fatal(err)
		}
		if b.OrgID != orgID {
			continue
		}
		out[b.Account+"/"+b.Region] = append(out[b.Account+"/"+b.Region], b)
	}
	return out
}

// orgScale runs the whole organisation: every account collected but the
// denied one, every account's organisation-trail digests verified, a
// deleted and an altered log file found, LookupEvents within 2/s per
// account and region.
func orgScale(t testing.TB, accounts int, regions []string) collectortest.Result {
	t.Helper()
	e := newOrgEnv(t, accounts, regions, true)
	// LookupEvents is paced on a virtual clock per account and region,
	// shared by the collector's limiter and the fake's rate check: the
	// 2/s limit is checked exactly and nobody sleeps
	vc := &virtualClocks{t: map[string]time.Time{}}
	t.Cleanup(awscol.SetLookupClocks(func(acct, region string) (func() time.Time, func(time.Duration)) {
		k := acct + "|" + region
		return func() time.Time { return vc.now(k) }, func(d time.Duration) { vc.sleep(k, d) }
	}))
	for _, id := range e.members {
		s := e.org.Account(id)
		s.LookupJitter = 0
		s.ArrivalClock = func(region string) time.Time { return vc.now(id + "|" + region) }
	}
	denied := e.members[len(e.members)-1]
	e.org.DenyAssumeRole(denied)
	// tamper with the log archive: delete one log file, alter another
	victim := e.members[2]
	del := e.chains[victim+"/"+regions[0]][0].LogFiles[0]
	alt := e.chains[mgmt+"/"+regions[len(regions)-1]][1].LogFiles[1]
	c := e.s3.Client()
	if _, err := c.DeleteObject(context.Background(), deleteInput(del.Bucket, del.Key)); err != nil {
		t.Fatal(err)
	}
	altered := alt
	altered.JSON = []byte(strings.Replace(string(alt.JSON), `"ListUsers"`, `"ListRoles"`, 1))
	altered.Body = awsfake.Gzip(altered.JSON)
	if err := awsfake.Upload(context.Background(), c, []awsfake.DigestFile{{LogFiles: []awsfake.LogFile{altered}}}); err != nil {
		t.Fatal(err)
	}
	cfg := e.config("event_names: [ConsoleLogin, StopLogging]\n" + e.archiveConfig())
	res := collectortest.Run(t, collectortest.Build(t, "aws", cfg), collectortest.Options{Now: now, Since: now.Add(-6 * time.Hour), Timeout: 10 * time.Minute})
	if !collectors.IsPartial(res.Err) || !strings.Contains(res.Err.Error(), fmt.Sprintf("1 of %d accounts", accounts)) || !strings.Contains(res.Err.Error(), denied) {
		t.Fatalf("want a partial outcome naming the denied account %s, got %v", denied, res.Err)
	}
	st := statuses(t, res)
	for _, id := range e.members {
		want := "complete"
		if id == denied {
			want = "failed"
		}
		if st[id].Outcome != want {
			t.Errorf("account %s: outcome %q, want %s (%s)", id, st[id].Outcome, want, st[id].Error)
		}
	}
	if len(st) != accounts {
		t.Errorf("%d status artifacts, want %d", len(st), accounts)
	}
	got := map[string]int{}
	collectIDs(t, res, got)
	for _, id := range e.members {
		for _, r := range regions {
			if n := got[r+"/"+id+"-"+r+"-login"]; (id == denied) != (n == 0) || n > 1 {
				t.Errorf("event of %s in %s collected %d times", id, r, n)
			}
		}
	}
	// digests: every account (the denied one too: the log archive holds
	// its trail), every region, chain verified
	dg := orgDigests(t, res)
	var missing, changed []string
	for _, id := range e.members {
		for _, r := range regions {
			arts := dg[id+"/"+r]
			n := 0
			for _, b := range arts {
				n += len(b.Digests)
				if !b.AllValid || !b.ChainIntact {
					t.Errorf("%s/%s: digests not all valid: %+v", id, r, b.Digests)
				}
				missing = append(missing, b.LogFiles.Missing...)
				changed = append(changed, b.LogFiles.Altered...)
				if len(b.LogFiles.Extra) != 0 {
					t.Errorf("%s/%s: extra log files %v", id, r, b.LogFiles.Extra)
				}
				if !b.LogFiles.Intact && len(b.Findings) == 0 {
					t.Errorf("%s/%s: log files not intact without a finding", id, r)
				}
			}
			if n != 3 {
				t.Errorf("%s/%s: %d organisation-trail digests verified, want 3", id, r, n)
			}
		}
	}
	if strings.Join(missing, ",") != del.Key || strings.Join(changed, ",") != alt.Key {
		t.Errorf("missing %v (want %s), altered %v (want %s)", missing, del.Key, changed, alt.Key)
	}
	assertNamesAccount(t, res)
	for _, id := range e.members {
		if v := e.org.Account(id).RateViolations(); v != 0 {
			t.Errorf("account %s: %d LookupEvents calls over 2/s in a region", id, v)
		}
		for _, r := range regions {
			calls := e.org.Account(id).Calls("cloudtrail:LookupEvents", r)
			if id == denied {
				continue
			}
			// two event names: two calls, the second paced 600ms after the first
			if calls < 2 || vc.now(id+"|"+r).Sub(vcBase) < time.Duration(calls-1)*600*time.Millisecond {
				t.Errorf("%s/%s: %d LookupEvents calls over %s of the pacing clock", id, r, calls, vc.now(id+"|"+r).Sub(vcBase))
			}
		}
	}
	return res
}

var vcBase = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// virtualClocks are clocks per key that move only when slept on.
type virtualClocks struct {
	mu sync.Mutex
	t  map[string]time.Time
}

func (v *virtualClocks) now(k string) time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	if t, ok := v.t[k]; ok {
		return t
	}
	return vcBase
}

func (v *virtualClocks) sleep(k string, d time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t, ok := v.t[k]
	if !ok {
		t = vcBase
	}
	v.t[k] = t.Add(d)
}

func TestOrganizationTrailDigestsVerifiedPerAccount(t *testing.T) {
	orgScale(t, 5, []string{"us-east-1", "eu-west-1"})
}

// The acceptance scale: 50 accounts x 4 regions.
func TestOrganization50Accounts4Regions(t *testing.T) {
	orgScale(t, 50, []string{"us-east-1", "eu-west-1", "ap-southeast-2", "af-south-1"})
}

// The agent on Kubernetes has no keys: IRSA gives it a web identity token
// that the SDK exchanges for its role (sts:AssumeRoleWithWebIdentity),
// from which it lists the organisation and assumes the member roles.
func TestAgentWithWebIdentity(t *testing.T) {
	e := newOrgEnv(t, 3, []string{"us-east-1"}, false)
	role := e.org.AddWebIdentityRole(mgmt, "tickmark-agent")
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6dGlja21hcms6dGlja21hcmsifQ.c2ln"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	os.Unsetenv("AWS_ACCESS_KEY_ID")
	os.Unsetenv("AWS_SECRET_ACCESS_KEY")
	t.Setenv("AWS_ROLE_ARN", role)
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tok)
	res := run(t, e.config("evidence: [cloudtrail_trails]\n"), collectortest.Options{})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	st := statuses(t, res)
	for _, id := range e.members {
		if st[id].Outcome != "complete" {
			t.Errorf("account %s: %+v", id, st[id])
		}
	}
	if n := e.org.Calls("sts:AssumeRoleWithWebIdentity"); n < 1 {
		t.Errorf("the web identity token was not exchanged")
	}
	if n := e.org.Account(mgmt).RequestsSignedBy("AKIDORGMGMT"); n != 0 {
		t.Errorf("%d requests signed with static keys", n)
	}
}

// The shared conformance suite over an organisation: deterministic output
// despite accounts running concurrently, cancellation, resume without gap
// or duplicate across accounts, and a denied member role classified.
func TestOrganizationConformance(t *testing.T) {
	e := newOrgEnv(t, 4, []string{"us-east-1", "eu-west-1"}, true)
	cfg := e.config("event_names: [ConsoleLogin]\n" + e.archiveConfig())
	collectortest.Suite{
		Type:   "aws",
		Config: cfg,
		Items: func(a collectortest.Artifact) []string {
			acct, _, _ := strings.Cut(a.Source.Account, "/")
			var out []string
			for _, it := range items(a) {
				out = append(out, acct+"/"+it)
			}
			return out
		},
		Now: now,
		Grow: func() {
			for _, id := range e.members {
				e.org.Account(id).AddEvents("eu-west-1", awsfake.Event{EventID: id + "-new", EventName: "ConsoleLogin", EventSource: "signin.amazonaws.com", Time: now.Add(20 * time.Minute)})
			}
		},
		Failures: []collectortest.Failure{{
			Name:            "MemberRoleDenied",
			Setup:           func() func() { return e.org.DenyAssumeRole(e.members[2]) },
			MessageContains: []string{"1 of 4 accounts", e.members[2], "sts:AssumeRole", "access denied", "trust policy"},
		}},
	}.Run(t)
}

// In GovCloud the partition comes from the agent's ARN: member role ARNs
// are built in it (the fake refuses arn:aws: ones there) and the global
// service region is us-gov-west-1.
func TestOrganizationInGovCloud(t *testing.T) {
	e := newOrgEnvIn(t, "aws-us-gov", 3, []string{"us-gov-east-1", "us-gov-west-1"}, false)
	cfg := fmt.Sprintf("accounts: organization\nmember_role_name: %s\nmember_external_id: %s\nregions: discover\nregion: us-gov-west-1\nendpoint: %s\nevidence: [cloudtrail_trails]\n", memberRole, memberExt, e.url)
	res := run(t, cfg, collectortest.Options{})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	st := statuses(t, res)
	for _, id := range e.members {
		if st[id].Outcome != "complete" || strings.Join(st[id].Regions, ",") != "us-gov-east-1,us-gov-west-1" {
			t.Errorf("account %s: %+v", id, st[id])
		}
		if id != mgmt && !strings.Contains(string(mustStatus(t, res, id)), "arn:aws-us-gov:iam::"+id+":role/"+memberRole) {
			t.Errorf("account %s not read through its GovCloud role ARN", id)
		}
	}
	for _, a := range byType(res, awscol.TypeRegions) {
		if !strings.Contains(string(a.Body), `"global_service_region": "us-gov-west-1"`) || !strings.Contains(string(a.Body), `"partition": "aws-us-gov"`) {
			t.Errorf("%s: %s", a.Subject, a.Body)
		}
	}
}

func mustStatus(t *testing.T, res collectortest.Result, acct string) []byte {
	t.Helper()
	for _, a := range byType(res, awscol.TypeAccountStatus) {
		if a.Subject == acct {
			return a.Body
		}
	}
	t.Fatalf("no status for %s", acct)
	return nil
}

// When no account could be collected the run failed: it is not partial.
func TestEveryAccountDeniedIsNotPartial(t *testing.T) {
	e := newOrgEnv(t, 3, []string{"us-east-1"}, false)
	denied := memberID(0)
	e.org.DenyAssumeRole(denied)
	cfg := strings.Replace(e.config("evidence: [cloudtrail_trails]\n"), "accounts: organization", "accounts: ["+denied+"]", 1)
	res := run(t, cfg, collectortest.Options{})
	if res.Err == nil || collectors.IsPartial(res.Err) || !strings.Contains(res.Err.Error(), "1 of 1 accounts") || !strings.Contains(res.Err.Error(), denied) {
		t.Fatalf("run error %v; want a failure (not partial) naming %s", res.Err, denied)
	}
}
