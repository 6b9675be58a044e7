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
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	awscol "github.com/tickmark-dev/tickmark/collectors/aws"
	"github.com/tickmark-dev/tickmark/collectors/aws/awsfake"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/internal/s3test"
)

var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

type env struct {
	fake *awsfake.Server
	url  string
	s3   *s3test.Server
	// digest chains uploaded per region for trail "main"
	chains map[string][]awsfake.DigestFile
	keys   map[string]*awsfake.Key
}

// credentialEnv points the SDK's default chain at static test keys and
// nothing else (no profile files, no instance metadata).
func credentialEnv(t testing.TB, akid, secret string) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": akid, "AWS_SECRET_ACCESS_KEY": secret,
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": "", "AWS_SESSION_TOKEN": "", "AWS_ROLE_ARN": "",
		"AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_ENDPOINT_URL": "",
	} {
		t.Setenv(k, v)
		if v == "" {
			os.Unsetenv(k)
		}
	}
}

// newEnv starts the fake with sample data; withS3 also starts the real S3
// server behind it and stores signed digest chains of trail "main".
func newEnv(t *testing.T, withS3 bool) *env {
	t.Helper()
	e := &env{fake: awsfake.NewSample(now), chains: map[string][]awsfake.DigestFile{}, keys: map[string]*awsfake.Key{}}
	// The collector sends LookupEvents 600ms apart; on a loaded 2-core test
	// machine the fake may stamp arrivals up to a few hundred ms late. A
	// collector sending faster than 2 calls/s is still throttled.
	e.fake.LookupJitter = 200 * time.Millisecond
	akid, secret := "AKIDEXAMPLETEST", "fake-secret-key-for-tests"
	if withS3 {
		e.s3 = s3test.Start(t)
		u, _ := url.Parse(e.s3.Endpoint)
		e.fake.S3Backend = u
		akid, secret = e.s3.AccessKey, e.s3.SecretKey
		e.s3.CreateBucket(t, "trail-bucket", false)
	}
	e.url = e.fake.Start()
	t.Cleanup(e.fake.Close)
	credentialEnv(t, akid, secret)
	if withS3 {
		main := mainTrail()
		for _, region := range []string{"eu-west-1", "us-east-1"} {
			e.keys[region] = e.fake.AddKey(region, now.Add(-60*24*time.Hour), now.Add(30*24*time.Hour))
			// 30 hourly digests ending at now-1h: two UTC days
			e.chains[region] = e.fake.DigestChain(main, region, e.keys[region], now.Add(-31*time.Hour), 30, nil)
			e.upload(t, e.chains[region])
		}
	}
	return e
}

func mainTrail() awsfake.Trail {
	return awsfake.Trail{Name: "main", S3BucketName: "trail-bucket", HomeRegion: "us-east-1"}
}

func (e *env) upload(t *testing.T, files []awsfake.DigestFile) {
	t.Helper()
	if err := awsfake.Upload(context.Background(), e.s3.Client(), files); err != nil {
		t.Fatal(err)
	}
}

func (e *env) config(extra string) string {
	return fmt.Sprintf("regions: [us-east-1, eu-west-1]\nendpoint: %s\n%s", e.url, extra)
}

// items identifies the events and digests of windowed artifacts.
func items(a collectortest.Artifact) []string {
	var body struct {
		Region  string `json:"region"`
		Events  []struct{ EventId string }
		Digests []struct {
			Key string `json:"s3_key"`
		} `json:"digests"`
	}
	if err := json.Unmarshal(a.Body, &body); err != nil {
		return []string{"unparseable:" + a.SHA256}
	}
	var out []string
	for _, e := range body.Events {
		out = append(out, body.Region+"/"+e.EventId)
	}
	for _, d := range body.Digests {
		out = append(out, body.Region+"/"+d.Key)
	}
	return out
}

func TestConformance(t *testing.T) {
	e := newEnv(t, true)
	cfg := e.config("event_names: [ConsoleLogin]\n")
	collectortest.Suite{
		Type:    "aws",
		Config:  cfg,
		Secrets: []string{e.s3.SecretKey},
		Items:   items,
		Now:     now,
		Grow: func() {
			e.fake.AddEvents("us-east-1", awsfake.Event{EventName: "ConsoleLogin", EventSource: "signin.amazonaws.com", Username: "newcomer", Time: now.Add(10 * time.Minute)})
			e.fake.AddEvents("eu-west-1", awsfake.Event{EventName: "ConsoleLogin", EventSource: "signin.amazonaws.com", Username: "newcomer-eu", Time: now.Add(20 * time.Minute)})
			for _, region := range []string{"eu-west-1", "us-east-1"} {
				last := e.chains[region][len(e.chains[region])-1]
				next := e.fake.DigestChain(mainTrail(), region, e.keys[region], last.End, 1, &last)
				e.upload(t, next)
			}
		},
		Failures: []collectortest.Failure{
			{
				Name: "MissingCredentials",
				Setup: func() func() {
					a, s := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
					os.Unsetenv("AWS_ACCESS_KEY_ID")
					os.Unsetenv("AWS_SECRET_ACCESS_KEY")
					return func() { os.Setenv("AWS_ACCESS_KEY_ID", a); os.Setenv("AWS_SECRET_ACCESS_KEY", s) }
				},
				Retryable:       false,
				MessageContains: []string{"aws: sts:GetCallerIdentity", "no AWS credentials found", "hint"},
			},
			{
				Name:            "AccessDeniedLookupEvents",
				Setup:           func() func() { return e.fake.SetFault("cloudtrail:LookupEvents", awsfake.FaultAccessDenied) },
				MessageContains: []string{"aws: cloudtrail:LookupEvents", "access denied", "the IAM permission cloudtrail:LookupEvents"},
			},
			{
				Name:            "AccessDeniedCredentialReport",
				Setup:           func() func() { return e.fake.SetFault("iam:GenerateCredentialReport", awsfake.FaultAccessDenied) },
				MessageContains: []string{"aws: iam:GenerateCredentialReport", "access denied", "AccessDenied"},
			},
			{
				Name:            "AccessDeniedDigestRead",
				Setup:           func() func() { return e.fake.SetFault("s3:GetObject", awsfake.FaultAccessDenied) },
				MessageContains: []string{"aws: s3:GetObject (s3://trail-bucket/AWSLogs/111122223333/CloudTrail-Digest/", "the IAM permission s3:GetObject"},
			},
			{
				Name:            "ThrottlingStorm",
				Setup:           func() func() { return e.fake.SetFault("cloudtrail:LookupEvents", awsfake.FaultThrottle) },
				Retryable:       true,
				MessageContains: []string{"aws: cloudtrail:LookupEvents", "throttled", "ThrottlingException"},
			},
			{
				Name:            "MalformedDescribeTrails",
				Setup:           func() func() { return e.fake.SetFault("cloudtrail:DescribeTrails", awsfake.FaultMalformed) },
				MessageContains: []string{"aws: cloudtrail:DescribeTrails (us-east-1)", "malformed response"},
			},
			{
				Name:            "MalformedCredentialReport",
				Setup:           func() func() { return e.fake.SetFault("iam:GenerateCredentialReport", awsfake.FaultMalformed) },
				MessageContains: []string{"aws: iam:GenerateCredentialReport", "malformed response"},
			},
			{
				Name:            "ServerError",
				Setup:           func() func() { return e.fake.SetFault("cloudtrail:GetTrailStatus", awsfake.FaultInternal) },
				Retryable:       true,
				MessageContains: []string{"aws: cloudtrail:GetTrailStatus", "server error"},
			},
		},
	}.Run(t)
	if v := e.fake.RateViolations(); v != 0 {
		t.Errorf("LookupEvents exceeded 2 calls per second per region %d times during the conformance suite", v)
	}
}

func run(t *testing.T, cfg string, o collectortest.Options) collectortest.Result {
	t.Helper()
	if o.Now.IsZero() {
		o.Now = now
	}
	res := collectortest.Run(t, collectortest.Build(t, "aws", cfg), o)
	return res
}

func byType(res collectortest.Result, typ string) []collectortest.Artifact {
	var out []collectortest.Artifact
	for _, a := range res.Committed {
		if a.Type == typ {
			out = append(out, a)
		}
	}
	return out
}

func TestTrailsReportedOnceFromHomeRegion(t *testing.T) {
	e := newEnv(t, false)
	res := run(t, e.config("evidence: [cloudtrail_trails]\n"), collectortest.Options{})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	type trail struct {
		Name       string   `json:"name"`
		ARN        string   `json:"trail_arn"`
		Validation bool     `json:"log_file_validation_enabled"`
		KMS        string   `json:"kms_key_id"`
		CWLogs     string   `json:"cloudwatch_logs_log_group_arn"`
		Findings   []string `json:"findings"`
		Status     struct {
			IsLogging bool   `json:"is_logging"`
			Stopped   string `json:"stop_logging_time"`
			Digest    string `json:"latest_digest_delivery_time"`
		} `json:"status"`
		Selectors []struct {
			IncludeManagementEvents bool
		} `json:"event_selectors"`
	}
	var body struct {
		Region   string   `json:"region"`
		Trails   []trail  `json:"trails"`
		Shadow   []string `json:"shadow_trails_from_elsewhere"`
		Findings []string `json:"findings"`
	}
	seen := map[string]string{}
	byName := map[string]trail{}
	shadows := map[string][]string{}
	regionFindings := map[string][]string{}
	arts := byType(res, awscol.TypeTrails)
	for _, a := range arts {
		if err := json.Unmarshal(a.Body, &body); err != nil {
			t.Fatal(err)
		}
		if a.Subject != awsfake.SampleAccount+"/"+body.Region {
			t.Errorf("subject %q for region %s", a.Subject, body.Region)
		}
		for _, tr := range body.Trails {
			if prev, dup := seen[tr.ARN]; dup {
				t.Errorf("trail %s reported from %s and %s", tr.ARN, prev, body.Region)
			}
			seen[tr.ARN] = body.Region
			byName[tr.Name] = tr
		}
		shadows[body.Region] = body.Shadow
		regionFindings[body.Region] = body.Findings
	}
	want := map[string]string{"main": "us-east-1", "org-trail": "us-east-1", "eu-audit": "eu-west-1", "ap-trail": "ap-southeast-2"}
	if len(seen) != len(want) || len(arts) != 3 {
		t.Fatalf("got trails %v in %d artifacts, want %v in 3 (us-east-1, eu-west-1 and ap-southeast-2, the shadow trail's home)", seen, len(arts), want)
	}
	for name, region := range want {
		if got := seen[byName[name].ARN]; got != region {
			t.Errorf("trail %s reported from %q, want its home region %s", name, got, region)
		}
	}
	eu := byName["eu-audit"]
	if eu.Status.IsLogging || eu.Validation || eu.Status.Stopped != ts(now.Add(-72*time.Hour)) {
		t.Errorf("eu-audit status: %+v", eu)
	}
	for _, f := range []string{"logging is stopped (since " + ts(now.Add(-72*time.Hour)) + ")", "log file validation is disabled", "latest delivery error: AccessDenied", "management events are not logged (event selectors)"} {
		if !contains(eu.Findings, f) {
			t.Errorf("eu-audit findings %q lack %q", eu.Findings, f)
		}
	}
	m := byName["main"]
	if !m.Status.IsLogging || !m.Validation || len(m.Findings) != 0 || m.KMS == "" || m.CWLogs == "" || m.Status.Digest == "" || len(m.Selectors) != 1 || !m.Selectors[0].IncludeManagementEvents {
		t.Errorf("main trail: %+v", m)
	}
	if got := shadows["eu-west-1"]; len(got) != 3 {
		t.Errorf("eu-west-1 should list main, org-trail and ap-trail as shadow trails, got %v", got)
	}
	if len(regionFindings["eu-west-1"]) != 0 {
		t.Errorf("eu-west-1 is recorded by multi-region trails; findings %v", regionFindings["eu-west-1"])
	}
	// every trail's status is read once, from its home region, by ARN (4
	// trails; reading shadow copies too would make at least 7; a transport
	// retry may add one)
	if n := e.fake.Calls("cloudtrail:GetTrailStatus", ""); n < 4 || n >= 7 {
		t.Errorf("GetTrailStatus called %d times, want once per trail (4)", n)
	}
	if n := e.fake.Calls("cloudtrail:GetTrailStatus", "ap-southeast-2"); n != 1 {
		t.Errorf("ap-trail's status was not read from its home region ap-southeast-2")
	}
}

func TestRegionWithoutLoggingTrailIsAFinding(t *testing.T) {
	e := newEnv(t, false)
	e.fake.SetTrailStatus("main", awsfake.TrailStatus{IsLogging: false})
	e.fake.SetTrailStatus("org-trail", awsfake.TrailStatus{IsLogging: false})
	e.fake.SetTrailStatus("ap-trail", awsfake.TrailStatus{IsLogging: false})
	res := run(t, e.config("evidence: [cloudtrail_trails]\n"), collectortest.Options{})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	for _, a := range byType(res, awscol.TypeTrails) {
		if a.Subject == awsfake.SampleAccount+"/ap-southeast-2" {
			continue
		}
		if !strings.Contains(string(a.Body), "no logging trail records this region") {
			t.Errorf("%s: with every trail stopped the region must carry the finding", a.Subject)
		}
	}
}

type eventsBody struct {
	Region    string `json:"region"`
	EventName string `json:"event_name"`
	Events    []struct {
		EventId, EventName, EventTime, Username, CloudTrailEvent string
	}
}

func collectIDs(t testing.TB, res collectortest.Result, into map[string]int) {
	t.Helper()
	for _, a := range byType(res, awscol.TypeEvents) {
		var b eventsBody
		if err := json.Unmarshal(a.Body, &b); err != nil {
			t.Fatal(err)
		}
		for _, ev := range b.Events {
			into[b.Region+"/"+ev.EventId]++
			var rec struct {
				EventID   string `json:"eventID"`
				EventName string `json:"eventName"`
				AWSRegion string `json:"awsRegion"`
			}
			if err := json.Unmarshal([]byte(ev.CloudTrailEvent), &rec); err != nil || rec.EventID != ev.EventId || rec.AWSRegion != b.Region || rec.EventName != b.EventName {
				t.Errorf("raw CloudTrailEvent not kept for %s: %q (%v)", ev.EventId, ev.CloudTrailEvent, err)
			}
		}
		if a.WindowStart.IsZero() || a.WindowEnd.Before(a.WindowStart) {
			t.Errorf("events artifact %s has no window: %v..%v", a.Subject, a.WindowStart, a.WindowEnd)
		}
	}
}

func TestEventsExactlyOncePerRegionAcrossRuns(t *testing.T) {
	e := newEnv(t, false)
	cfg := e.config("evidence: [cloudtrail_events]\nevent_names: [ConsoleLogin, StopLogging, AuthorizeSecurityGroupIngress]\n")
	got := map[string]int{}
	first := run(t, cfg, collectortest.Options{})
	if first.Err != nil {
		t.Fatal(first.Err)
	}
	collectIDs(t, first, got)
	// 60+2 in us-east-1 (the 100-day-old login is past the history; the
	// 5-minute-old one is inside the 15m delay), 5+2 in eu-west-1
	if len(got) != 69 {
		t.Fatalf("first run collected %d events, want 69", len(got))
	}
	var cur struct {
		Events map[string]struct {
			Done string `json:"done"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(first.Cursor), &cur); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"us-east-1", "eu-west-1"} {
		if cur.Events[awsfake.SampleAccount+"/"+r].Done != ts(now.Add(-15*time.Minute)) {
			t.Errorf("cursor of %s = %q, want done up to %s", r, cur.Events[awsfake.SampleAccount+"/"+r].Done, ts(now.Add(-15*time.Minute)))
		}
	}
	// new events arrive in one region only; the late one from before is now in range
	e.fake.AddEvents("eu-west-1", awsfake.Event{EventName: "StopLogging", EventSource: "cloudtrail.amazonaws.com", Username: "x", Time: now.Add(30 * time.Minute)})
	second := run(t, cfg, collectortest.Options{Now: now.Add(2 * time.Hour), Cursor: first.Cursor})
	if second.Err != nil {
		t.Fatal(second.Err)
	}
	collectIDs(t, second, got)
	third := run(t, cfg, collectortest.Options{Now: now.Add(2 * time.Hour), Cursor: second.Cursor})
	if third.Err != nil {
		t.Fatal(third.Err)
	}
	collectIDs(t, third, got)
	if len(got) != 71 {
		t.Errorf("after three runs %d distinct events, want 71", len(got))
	}
	assertOnce(t, got)
	if n := len(byType(third, awscol.TypeEvents)); n != 0 {
		t.Errorf("a run with nothing new emitted %d events artifacts", n)
	}
	if v := e.fake.RateViolations(); v != 0 {
		t.Errorf("LookupEvents exceeded 2/s per region %d times", v)
	}
}

func TestEventsResumeMidQueryAtSharedSecond(t *testing.T) {
	e := newEnv(t, false)
	cfg := "regions: [us-east-1]\nendpoint: " + e.url + "\nevidence: [cloudtrail_events]\nevent_names: [ConsoleLogin]\n"
	// stop right after the first page (50 events; it ends inside a group of
	// five events sharing one second)
	part := run(t, cfg, collectortest.Options{CancelAfterCheckpoints: 1})
	got := map[string]int{}
	collectIDs(t, part, got)
	if len(got) != 50 {
		t.Fatalf("first page committed %d events, want 50", len(got))
	}
	resumeExactlyOnce(t, cfg, part.Cursor, got, 60)
}

// resumeExactlyOnce runs from cursor and checks that, with the events
// already in got, every one of want events was collected exactly once.
func resumeExactlyOnce(t *testing.T, cfg, cursor string, got map[string]int, want int) {
	t.Helper()
	rest := run(t, cfg, collectortest.Options{Cursor: cursor})
	if rest.Err != nil {
		t.Fatal(rest.Err)
	}
	collectIDs(t, rest, got)
	if len(got) != want {
		t.Errorf("after resuming, %d distinct events, want %d", len(got), want)
	}
	assertOnce(t, got)
}

func assertOnce(t testing.TB, got map[string]int) {
	t.Helper()
	for id, n := range got {
		if n != 1 {
			t.Errorf("event %s collected %d times", id, n)
		}
	}
}

func TestLookupEventsPacedAcrossInstances(t *testing.T) {
	e := newEnv(t, false)
	names := "event_names: [ConsoleLogin, StopLogging, CreateUser, AuthorizeSecurityGroupIngress]\n"
	cfg := "regions: [us-east-1]\nendpoint: " + e.url + "\nevidence: [cloudtrail_events]\n" + names
	start := time.Now()
	done := make(chan collectortest.Result, 2)
	for i := 0; i < 2; i++ { // two instances against one account and region
		go func() {
			done <- collectortest.Run(t, collectortest.Build(t, "aws", cfg), collectortest.Options{Now: now})
		}()
	}
	var logs string
	for i := 0; i < 2; i++ {
		r := <-done
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		logs += r.Logs
	}
	// (ConsoleLogin 2 pages + 3 names) x 2 instances; the SDK may retry a
	// call whose connection broke on a loaded machine
	calls := e.fake.Calls("cloudtrail:LookupEvents", "us-east-1")
	if calls < 10 || calls > 12 {
		t.Fatalf("LookupEvents calls = %d, want 10 (rate violations: %d); logs:\n%s", calls, e.fake.RateViolations(), logs)
	}
	if v := e.fake.RateViolations(); v != 0 {
		t.Errorf("%d LookupEvents calls exceeded 2 per second in us-east-1", v)
	}
	if el := time.Since(start); el < time.Duration(calls-2)*500*time.Millisecond {
		t.Errorf("%d calls took %s: faster than 2 per second", calls, el)
	}
}

func TestNextTokenOnlyWithIdenticalParameters(t *testing.T) {
	e := newEnv(t, false)
	ct := fakeCloudTrail(t, e.url, "us-east-1")
	end := now.Add(-time.Minute)
	in := lookupInput("ConsoleLogin", now.Add(-80*24*time.Hour), end)
	first, err := ct.LookupEvents(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if first.NextToken == nil || len(first.Events) != 50 {
		t.Fatalf("first page: %d events, token %v", len(first.Events), first.NextToken)
	}
	time.Sleep(600 * time.Millisecond)
	changed := lookupInput("ConsoleLogin", now.Add(-80*24*time.Hour), end.Add(-time.Second))
	changed.NextToken = first.NextToken
	if _, err := ct.LookupEvents(context.Background(), changed); err == nil || !strings.Contains(err.Error(), "InvalidNextTokenException") {
		t.Errorf("NextToken with different parameters: got %v, want InvalidNextTokenException", err)
	}
	time.Sleep(600 * time.Millisecond)
	in.NextToken = first.NextToken
	second, err := ct.LookupEvents(context.Background(), in)
	if err != nil || len(second.Events) != 11 || second.NextToken != nil { // 10 older logins and the 5-minute-old one
		t.Errorf("second page with identical parameters: %v, %d events", err, len(second.Events))
	}
}

func TestCredentialReport(t *testing.T) {
	e := newEnv(t, false)
	e.fake.ReportPolls = 3
	res := run(t, e.config("evidence: [iam_credential_report]\n"), collectortest.Options{})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	arts := byType(res, awscol.TypeCredentialReport)
	if len(arts) != 2 {
		t.Fatalf("want the CSV and its summary, got %d artifacts", len(arts))
	}
	sort.Slice(arts, func(i, j int) bool { return arts[i].ContentType > arts[j].ContentType })
	csv, sum := arts[0], arts[1]
	if csv.ContentType != "text/csv" || !strings.HasPrefix(string(csv.Body), "user,arn,user_creation_time,password_enabled") || strings.Count(string(csv.Body), "\n") != 6 {
		t.Errorf("CSV not kept as generated: %s %q", csv.ContentType, csv.Body)
	}
	if n := e.fake.Calls("iam:GenerateCredentialReport", ""); n < 4 {
		t.Errorf("GenerateCredentialReport called %d times; want STARTED then polled until COMPLETE (4)", n)
	}
	var s map[string]any
	if err := json.Unmarshal(sum.Body, &s); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"users":                                          4.0,
		"root_mfa_active":                                true,
		"console_users_without_mfa":                      []any{"bob", "dana"},
		"passwords_never_used":                           []any{"dana"},
		"passwords_unused_over_stale_days":               []any{"bob"},
		"passwords_not_changed_over_stale_days":          []any{"bob"},
		"active_access_keys_not_rotated_over_stale_days": []any{"ci-deploy/access_key_1"},
		"active_access_keys_never_used":                  []any{"ci-deploy/access_key_2"},
	}
	for k, v := range want {
		if fmt.Sprint(s[k]) != fmt.Sprint(v) {
			t.Errorf("summary %s = %v, want %v", k, s[k], v)
		}
	}
}

func TestAssumeRoleWithExternalID(t *testing.T) {
	e := newEnv(t, false)
	role := "arn:aws:iam::111122223333:role/tickmark-read"
	res := run(t, e.config("assume_role_arn: "+role+"\nexternal_id: ext-123\nevidence: [cloudtrail_trails]\n"), collectortest.Options{})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	assumes := e.fake.Calls("sts:AssumeRole", "")
	if assumes < 1 {
		t.Fatalf("AssumeRole not called")
	}
	if n := e.fake.RequestsSignedBy("AKIDEXAMPLETEST"); n != assumes {
		t.Errorf("%d requests signed with the base credentials, %d AssumeRole calls; only AssumeRole may use them", n, assumes)
	}
	if !strings.Contains(res.Logs, "111122223333") || len(byType(res, awscol.TypeTrails)) != 3 {
		t.Errorf("collection with the assumed role failed: %d artifacts", len(res.Committed))
	}
}

func TestDigestsValidated(t *testing.T) {
	e := newEnv(t, true)
	cfg := e.config("evidence: [cloudtrail_digests]\n")
	res := run(t, cfg, collectortest.Options{})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	arts := byType(res, awscol.TypeDigests)
	if len(arts) != 4 { // 2 regions x 2 days
		t.Fatalf("want 4 digest artifacts (2 regions x 2 days), got %d", len(arts))
	}
	total := 0
	for _, a := range arts {
		b := digestBody(t, a)
		total += len(b.Digests)
		if !b.AllValid || !b.ChainIntact || len(b.PublicKeys) != 1 {
			t.Errorf("%s: clean chain reported invalid: %s", a.Subject, a.Body)
		}
	}
	if total != 60 {
		t.Errorf("read %d digests, want 60", total)
	}
	if n := e.fake.Calls("cloudtrail:GetTrailStatus", ""); n != 0 {
		t.Errorf("digests alone called GetTrailStatus %d times; they need DescribeTrails only", n)
	}
	// The next hour: the chain continues from the cursor.
	for _, region := range []string{"eu-west-1", "us-east-1"} {
		last := e.chains[region][len(e.chains[region])-1]
		e.upload(t, e.fake.DigestChain(mainTrail(), region, e.keys[region], last.End, 1, &last))
	}
	next := run(t, cfg, collectortest.Options{Now: now.Add(time.Hour), Cursor: res.Cursor})
	if next.Err != nil {
		t.Fatal(next.Err)
	}
	for _, a := range byType(next, awscol.TypeDigests) {
		b := digestBody(t, a)
		if len(b.Digests) != 1 || b.Digests[0].Chain != "linked" || !b.Digests[0].Valid {
			t.Errorf("%s: next run's digest not linked to the previous run's: %+v", a.Subject, b.Digests)
		}
	}
}

func TestDigestTamperedAndBrokenChainAreFindings(t *testing.T) {
	e := newEnv(t, true)
	us := e.chains["us-east-1"]
	// tamper: rewrite the content of digest 10, keep its signature
	tampered := us[10]
	tampered.JSON = []byte(strings.Replace(string(tampered.JSON), `"SHA256withRSA"`, `"SHA256withRSA" `, 1))
	tampered.Body = awsfake.Gzip(tampered.JSON)
	e.upload(t, []awsfake.DigestFile{tampered})
	// break the chain in eu-west-1: delete digest 20
	eu := e.chains["eu-west-1"]
	if _, err := e.s3.Client().DeleteObject(context.Background(), deleteInput(eu[20].Bucket, eu[20].Key)); err != nil {
		t.Fatal(err)
	}
	res := run(t, e.config("evidence: [cloudtrail_digests]\n"), collectortest.Options{})
	if res.Err != nil {
		t.Fatalf("validation failures must be evidence, not errors: %v", res.Err)
	}
	var failures []string
	for _, a := range byType(res, awscol.TypeDigests) {
		b := digestBody(t, a)
		for _, d := range b.Digests {
			for _, f := range d.Failures {
				failures = append(failures, d.Key+": "+f)
			}
			if d.Key == us[10].Key && (d.Valid || d.SignatureValid) {
				t.Errorf("tampered digest reported valid")
			}
			if d.Key == us[11].Key && (!d.SignatureValid || d.Chain != "broken") {
				t.Errorf("the digest after the tampered one has a valid signature but records a different hash for it: %+v", d)
			}
			if d.Key == eu[21].Key && d.Chain != "broken" {
				t.Errorf("digest after a deleted one: chain %q, want broken", d.Chain)
			}
		}
		if strings.Contains(a.Subject, "us-east-1") && strings.Contains(string(a.Body), us[10].Key) && b.AllValid {
			t.Errorf("artifact holding the tampered digest says all_valid")
		}
		if strings.Contains(a.Subject, "eu-west-1") && strings.Contains(string(a.Body), eu[21].Key) && b.ChainIntact {
			t.Errorf("artifact holding the broken chain says chain_intact")
		}
	}
	want := []string{
		us[10].Key + ": signature does not verify (SHA256withRSA over the documented string to sign)",
		us[11].Key + ": chain broken: previousDigestHashValue does not match the content of " + us[10].Key,
		eu[21].Key + ": chain broken: previous digest is " + eu[20].Key + ", but the last one read was " + eu[19].Key,
	}
	sort.Strings(want)
	sort.Strings(failures)
	if strings.Join(failures, "\n") != strings.Join(want, "\n") {
		t.Errorf("failures:\n%s\nwant:\n%s", strings.Join(failures, "\n"), strings.Join(want, "\n"))
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{"endpoint: http://x\n", "at least one region is required"},
		{"regions: [us-east-1]\nevidence: [cloudtrail_logs]\n", `unknown evidence "cloudtrail_logs"`},
		{"regions: [us-east-1]\nexternal_id: abc\n", "external_id needs assume_role_arn"},
		{"regions: [us-east-1]\nassume_role_arn: tickmark-read\n", "not an ARN"},
		{"regions: [us-east-1, us-east-1]\n", "repeated region"},
	} {
		_, err := collectortest.BuildErr("aws", tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %q: got %v, want %q", tc.cfg, err, tc.want)
		}
		if _, ok := collectors.AsConfigErrors(err); !ok {
			t.Errorf("config %q: not a ConfigError: %v", tc.cfg, err)
		}
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func TestThrottlingStormMidQueryCommitsOnlyWholePages(t *testing.T) {
	e := newEnv(t, false)
	cfg := "regions: [us-east-1]\nendpoint: " + e.url + "\nevidence: [cloudtrail_events]\nevent_names: [ConsoleLogin]\n"
	restore := e.fake.SetFaultAfter("cloudtrail:LookupEvents", awsfake.FaultThrottle, 1)
	failed := run(t, cfg, collectortest.Options{})
	restore()
	if failed.Err == nil || !collectors.IsRetryable(failed.Err) || !strings.Contains(failed.Err.Error(), "ThrottlingException") {
		t.Fatalf("a throttling storm must fail the run as retryable, got %v", failed.Err)
	}
	if n := e.fake.Calls("cloudtrail:LookupEvents", "us-east-1"); n < 5 {
		t.Errorf("LookupEvents calls = %d, want 1 page + 4 attempts at the next; logs:\n%s", n, failed.Logs)
	}
	got := map[string]int{}
	collectIDs(t, failed, got)
	// Normally the first page is committed. If its response was lost on a
	// loaded machine, the storm hit that page instead and nothing is; never
	// part of a page.
	if len(got) != 50*len(failed.Committed) || len(failed.Committed) > 1 || len(failed.Emitted) != len(failed.Committed) {
		t.Fatalf("committed %d events in %d artifacts (%d emitted) before the storm, want whole pages only", len(got), len(failed.Committed), len(failed.Emitted))
	}
	resumeExactlyOnce(t, cfg, failed.Cursor, got, 60)
}

func TestEventDelayZero(t *testing.T) {
	e := newEnv(t, false)
	res := run(t, "regions: [us-east-1]\nendpoint: "+e.url+"\nevidence: [cloudtrail_events]\nevent_names: [ConsoleLogin]\nevent_delay: 0s\n", collectortest.Options{})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	got := map[string]int{}
	collectIDs(t, res, got)
	if len(got) != 61 { // the 5-minute-old login is in range without a delay
		t.Errorf("event_delay 0s: %d events, want 61", len(got))
	}
}

func TestStaticKeysFromSecretReferences(t *testing.T) {
	e := newEnv(t, false)
	t.Setenv("TEST_AWS_KEY_ID", "AKIDSTATICREF")
	t.Setenv("TEST_AWS_SECRET", "static-secret-from-ref")
	res := run(t, e.config("access_key_id: env:TEST_AWS_KEY_ID\nsecret_access_key: env:TEST_AWS_SECRET\nevidence: [cloudtrail_trails]\n"), collectortest.Options{})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if e.fake.RequestsSignedBy("AKIDSTATICREF") == 0 || e.fake.RequestsSignedBy("AKIDEXAMPLETEST") != 0 {
		t.Errorf("configured keys not used instead of the default chain")
	}
	if strings.Contains(res.Logs, "static-secret-from-ref") {
		t.Errorf("secret in logs")
	}
	if _, err := collectortest.BuildErr("aws", "regions: [us-east-1]\naccess_key_id: env:TEST_AWS_KEY_ID\n"); err == nil || !strings.Contains(err.Error(), "go together") {
		t.Errorf("access_key_id without secret_access_key: %v", err)
	}
	if _, err := collectortest.BuildErr("aws", "regions: [us-east-1]\naccess_key_id: AKIDLITERAL\nsecret_access_key: env:TEST_AWS_SECRET\n"); err == nil || !strings.Contains(err.Error(), "literal") {
		t.Errorf("literal key accepted: %v", err)
	}
}

// Regions are judged after every trail's status is known: eu-west-1 sorts
// before us-east-1, the home of the only logging trail (multi-region "main"),
// and must not be reported as unrecorded.
func TestRegionCoveredByTrailHomedInLaterRegion(t *testing.T) {
	e := newEnv(t, false)
	e.fake.SetTrailStatus("org-trail", awsfake.TrailStatus{IsLogging: false})
	e.fake.SetTrailStatus("ap-trail", awsfake.TrailStatus{IsLogging: false})
	res := run(t, e.config("evidence: [cloudtrail_trails]\n"), collectortest.Options{})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	var judged int
	for _, a := range byType(res, awscol.TypeTrails) {
		var body struct {
			Region   string   `json:"region"`
			Findings []string `json:"findings"`
		}
		if err := json.Unmarshal(a.Body, &body); err != nil {
			t.Fatal(err)
		}
		if body.Region == "eu-west-1" || body.Region == "us-east-1" {
			judged++
			if len(body.Findings) != 0 {
				t.Errorf("%s is recorded by the logging multi-region trail main, findings %q", body.Region, body.Findings)
			}
		}
	}
	if judged != 2 {
		t.Fatalf("judged %d of the 2 configured regions", judged)
	}
}

// An event CloudTrail delivers after its window was collected is caught by
// the next run's overlap, exactly once, and nothing else is repeated.
func TestLateEventCaughtByOverlap(t *testing.T) {
	e := newEnv(t, false)
	cfg := "regions: [us-east-1]\nendpoint: " + e.url + "\nevidence: [cloudtrail_events]\nevent_names: [ConsoleLogin, StopLogging]\n"
	got := map[string]int{}
	first := run(t, cfg, collectortest.Options{})
	if first.Err != nil {
		t.Fatal(first.Err)
	}
	collectIDs(t, first, got)
	before := len(got)
	// delivered late: its event time is 40 minutes before the first run's
	// window end, inside what the first run already reported complete
	e.fake.AddEvents("us-east-1", awsfake.Event{EventID: "late-stoplogging", EventName: "StopLogging", EventSource: "cloudtrail.amazonaws.com", Username: "mallory", Time: now.Add(-55 * time.Minute)})
	second := run(t, cfg, collectortest.Options{Now: now.Add(30 * time.Minute), Cursor: first.Cursor})
	if second.Err != nil {
		t.Fatal(second.Err)
	}
	collectIDs(t, second, got)
	if got["us-east-1/late-stoplogging"] != 1 {
		t.Fatalf("the late event was not collected by the next run")
	}
	// the 5-minute-old login, inside the first run's delay, is new too
	if len(got) != before+2 {
		t.Errorf("second run added %d events, want the late one and the one past the first delay", len(got)-before)
	}
	assertOnce(t, got)
	var win struct {
		Start   string `json:"window_start"`
		Overlap struct {
			From, To string
		} `json:"reread_overlap"`
	}
	for _, a := range byType(second, awscol.TypeEvents) {
		if a.Subject == awsfake.SampleAccount+"/us-east-1" {
			if err := json.Unmarshal(a.Body, &win); err != nil {
				t.Fatal(err)
			}
		}
	}
	firstEnd := now.Add(-15 * time.Minute)
	if win.Start != ts(firstEnd.Add(time.Second-time.Hour)) || win.Overlap.To != ts(firstEnd) {
		t.Errorf("second window starts %s with overlap to %s; want the hour before %s re-read", win.Start, win.Overlap.To, ts(firstEnd))
	}
	third := run(t, cfg, collectortest.Options{Now: now.Add(30 * time.Minute), Cursor: second.Cursor})
	collectIDs(t, third, got)
	assertOnce(t, got)
}

// Families are selected by EventSource as well as by name: a source
// lookup keeps write events, skips read-only ones, and does not repeat an
// event its name lookup collected.
func TestEventsSelectedBySource(t *testing.T) {
	e := newEnv(t, false)
	at := now.Add(-3 * time.Hour)
	e.fake.AddEvents("us-east-1",
		awsfake.Event{EventID: "sso-write", EventName: "CreatePermissionSet", EventSource: "sso.amazonaws.com", Username: "admin", Time: at},
		awsfake.Event{EventID: "sso-assign", EventName: "CreateAccountAssignment", EventSource: "sso.amazonaws.com", Username: "admin", Time: at.Add(time.Minute)},
		awsfake.Event{EventID: "sso-read", EventName: "ListPermissionSets", EventSource: "sso.amazonaws.com", Username: "auditor", Time: at, ReadOnly: true},
		awsfake.Event{EventID: "iam-saml", EventName: "CreateSAMLProvider", EventSource: "iam.amazonaws.com", Username: "admin", Time: at},
		awsfake.Event{EventID: "iam-pwpolicy", EventName: "UpdateAccountPasswordPolicy", EventSource: "iam.amazonaws.com", Username: "admin", Time: at},
		awsfake.Event{EventID: "iam-read", EventName: "ListUsers", EventSource: "iam.amazonaws.com", Username: "scanner", Time: at, ReadOnly: true},
	)
	cfg := "regions: [us-east-1]\nendpoint: " + e.url + "\nevidence: [cloudtrail_events]\nevent_names: [CreateUser]\nevent_sources: [sso.amazonaws.com, iam.amazonaws.com]\n"
	res := run(t, cfg, collectortest.Options{})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	got := map[string]int{}
	for _, a := range byType(res, awscol.TypeEvents) {
		var b struct {
			Source string `json:"event_source"`
			Events []struct{ EventId, EventName string }
		}
		if err := json.Unmarshal(a.Body, &b); err != nil {
			t.Fatal(err)
		}
		for _, ev := range b.Events {
			got[ev.EventName]++
			if b.Source != "" && !strings.HasSuffix(a.Subject, "/source:"+b.Source) {
				t.Errorf("source artifact subject %q", a.Subject)
			}
		}
	}
	want := map[string]int{"CreatePermissionSet": 1, "CreateAccountAssignment": 1, "CreateSAMLProvider": 1, "UpdateAccountPasswordPolicy": 1, "CreateUser": 3}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("collected %v, want %v (read-only events of a source skipped, CreateUser once)", got, want)
	}
}

// The log files a digest lists are checked against it: a deleted one is
// missing, a changed one altered, one no digest lists extra; with a
// sample, the sample is recorded and presence is still checked for all.
func TestLogFilesCheckedAgainstDigests(t *testing.T) {
	e := newEnv(t, true)
	us := e.chains["us-east-1"]
	del, alt := us[3].LogFiles[0], us[4].LogFiles[1]
	if _, err := e.s3.Client().DeleteObject(context.Background(), deleteInput(del.Bucket, del.Key)); err != nil {
		t.Fatal(err)
	}
	changed := alt
	changed.JSON = []byte(strings.Replace(string(alt.JSON), `"ListUsers"`, `"DeleteTrail"`, 1))
	changed.Body = awsfake.Gzip(changed.JSON)
	extra := awsfake.LogFile{Bucket: "trail-bucket", Key: awsfake.LogFileKey("", "", awsfake.SampleAccount, "us-east-1", us[5].Start.Add(20*time.Minute), "EXTRAEXTRA000001")}
	extra.JSON = []byte(`{"Records":[]}`)
	extra.Body = awsfake.Gzip(extra.JSON)
	e.upload(t, []awsfake.DigestFile{{LogFiles: []awsfake.LogFile{changed, extra}}})

	type logs struct {
		Listed, Present, Checked int
		Missing, Altered, Extra  []string
		Sample                   []string
		Rule                     string `json:"sample_rule"`
		Intact                   bool
	}
	collect := func(cfg string) (all logs, findings []string, samples int) {
		res := run(t, e.config("evidence: [cloudtrail_digests]\n"+cfg), collectortest.Options{})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		for _, a := range byType(res, awscol.TypeDigests) {
			var b struct {
				Logs     logs     `json:"log_files"`
				Findings []string `json:"findings"`
			}
			if err := json.Unmarshal(a.Body, &b); err != nil {
				t.Fatal(err)
			}
			all.Listed += b.Logs.Listed
			all.Present += b.Logs.Present
			all.Checked += b.Logs.Checked
			all.Missing = append(all.Missing, b.Logs.Missing...)
			all.Altered = append(all.Altered, b.Logs.Altered...)
			all.Extra = append(all.Extra, b.Logs.Extra...)
			findings = append(findings, b.Findings...)
			if len(b.Logs.Sample) > 0 {
				samples++
				if len(b.Logs.Sample) != 1 || !strings.Contains(b.Logs.Rule, "1 of") {
					t.Errorf("sample %v, rule %q", b.Logs.Sample, b.Logs.Rule)
				}
			}
		}
		return
	}
	all, findings, _ := collect("")
	// 30 digests in each of 2 regions, 20 of them list 2 files
	if all.Listed != 80 || all.Present != 79 || all.Checked != 79 {
		t.Errorf("listed %d, present %d, checked %d; want 80, 79, 79", all.Listed, all.Present, all.Checked)
	}
	if strings.Join(all.Missing, ",") != del.Key || strings.Join(all.Altered, ",") != alt.Key || strings.Join(all.Extra, ",") != extra.Key {
		t.Errorf("missing %v altered %v extra %v", all.Missing, all.Altered, all.Extra)
	}
	want := []string{"log file missing: " + del.Key, "log file altered (SHA-256 differs from the digest): " + alt.Key, "log file listed by no digest: " + extra.Key}
	sort.Strings(want)
	sort.Strings(findings)
	if strings.Join(findings, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(findings, "\n"), strings.Join(want, "\n"))
	}
	sampled, _, samples := collect("log_files: 1\n")
	if samples == 0 || sampled.Checked != samples {
		t.Errorf("log_files: 1: %d files read in %d sampled artifacts", sampled.Checked, samples)
	}
	if strings.Join(sampled.Missing, ",") != del.Key || strings.Join(sampled.Extra, ",") != extra.Key {
		t.Errorf("a sample still checks presence of every file: missing %v extra %v", sampled.Missing, sampled.Extra)
	}
	none, _, _ := collect("log_files: none\n")
	if none.Checked != 0 || strings.Join(none.Missing, ",") != del.Key {
		t.Errorf("log_files: none read %d files, missing %v", none.Checked, none.Missing)
	}
}

// One denied evidence type or region is an error the run reports; the
// others are still collected.
func TestOneDeniedPartCollectsTheRest(t *testing.T) {
	e := newEnv(t, false)
	defer e.fake.SetFault("iam:GenerateCredentialReport", awsfake.FaultAccessDenied)()
	res := run(t, e.config("evidence: [iam_credential_report, cloudtrail_trails, cloudtrail_events]\nevent_names: [ConsoleLogin]\n"), collectortest.Options{})
	if res.Err == nil || !strings.Contains(res.Err.Error(), "iam:GenerateCredentialReport") || collectors.IsRetryable(res.Err) {
		t.Fatalf("want the denial reported as a permanent error, got %v", res.Err)
	}
	if len(byType(res, awscol.TypeTrails)) != 3 {
		t.Errorf("trails not collected")
	}
	got := map[string]int{}
	collectIDs(t, res, got)
	if len(got) != 65 { // 60 in us-east-1, 5 in eu-west-1
		t.Errorf("events of both regions not collected after the denial: %d", len(got))
	}
}
