package awsfake_test

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/tickmark-dev/tickmark/collectors/aws/awsfake"
)

var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// The fake is checked with the real SDK clients: what they parse is what
// the collector sees.
func start(t *testing.T) (*awsfake.Server, string) {
	t.Helper()
	f := awsfake.NewSample(now)
	u := f.Start()
	t.Cleanup(f.Close)
	return f, u
}

var creds = credentials.NewStaticCredentialsProvider("AKIDFAKETEST", "secret", "")

func ct(u, region string) *cloudtrail.Client {
	return cloudtrail.New(cloudtrail.Options{Region: region, BaseEndpoint: aws.String(u), Credentials: creds, RetryMaxAttempts: 1})
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestDescribeTrailsShadowTrails(t *testing.T) {
	_, u := start(t)
	ctx := context.Background()
	names := func(in *cloudtrail.DescribeTrailsInput) []string {
		out, err := ct(u, "eu-west-1").DescribeTrails(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, tr := range out.TrailList {
			n = append(n, aws.ToString(tr.Name))
		}
		return n
	}
	if got := names(&cloudtrail.DescribeTrailsInput{}); strings.Join(got, ",") != "main,org-trail,eu-audit,ap-trail" {
		t.Errorf("default (shadow trails included): %v", got)
	}
	if got := names(&cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(false)}); strings.Join(got, ",") != "eu-audit" {
		t.Errorf("includeShadowTrails=false: %v", got)
	}
	// a trail of another region is found by ARN only
	if got := names(&cloudtrail.DescribeTrailsInput{TrailNameList: []string{"main"}}); len(got) != 0 {
		t.Errorf("name of a trail homed elsewhere matched: %v", got)
	}
	if got := names(&cloudtrail.DescribeTrailsInput{TrailNameList: []string{"arn:aws:cloudtrail:us-east-1:111122223333:trail/main"}}); len(got) != 1 {
		t.Errorf("ARN of a trail homed elsewhere: %v", got)
	}
	_, err := ct(u, "eu-west-1").GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String("main")})
	var nf *cttypes.TrailNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("GetTrailStatus by name outside the home region: %v, want TrailNotFoundException", err)
	}
	st, err := ct(u, "eu-west-1").GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String("eu-audit")})
	if err != nil || aws.ToBool(st.IsLogging) || st.StopLoggingTime == nil || aws.ToString(st.LatestDeliveryError) != "AccessDenied" {
		t.Errorf("eu-audit status: %+v %v", st, err)
	}
}

func TestLookupEventsWireRules(t *testing.T) {
	_, u := start(t)
	ctx := context.Background()
	c := ct(u, "us-east-1")
	pace := func() { time.Sleep(550 * time.Millisecond) }
	// more than 50 per page
	_, err := c.LookupEvents(ctx, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(51)})
	var mr *cttypes.InvalidMaxResultsException
	if !errors.As(err, &mr) {
		t.Errorf("MaxResults 51: %v", err)
	}
	pace()
	// two lookup attributes
	_, err = c.LookupEvents(ctx, &cloudtrail.LookupEventsInput{LookupAttributes: []cttypes.LookupAttribute{
		{AttributeKey: cttypes.LookupAttributeKeyEventName, AttributeValue: aws.String("ConsoleLogin")},
		{AttributeKey: cttypes.LookupAttributeKeyUsername, AttributeValue: aws.String("root")},
	}})
	var la *cttypes.InvalidLookupAttributesException
	if !errors.As(err, &la) {
		t.Errorf("two lookup attributes: %v", err)
	}
	pace()
	// start after end
	_, err = c.LookupEvents(ctx, &cloudtrail.LookupEventsInput{StartTime: aws.Time(now), EndTime: aws.Time(now.Add(-time.Hour))})
	var tr *cttypes.InvalidTimeRangeException
	if !errors.As(err, &tr) {
		t.Errorf("start after end: %v", err)
	}
	pace()
	// 90 days of history: the 100-day-old login is gone even when asked for
	out, err := c.LookupEvents(ctx, &cloudtrail.LookupEventsInput{
		StartTime:        aws.Time(now.Add(-120 * 24 * time.Hour)),
		EndTime:          aws.Time(now.Add(-85 * 24 * time.Hour)),
		LookupAttributes: []cttypes.LookupAttribute{{AttributeKey: cttypes.LookupAttributeKeyUsername, AttributeValue: aws.String("ancient")}},
	})
	if err != nil || len(out.Events) != 0 {
		t.Errorf("event older than 90 days returned: %v %d", err, len(out.Events))
	}
	pace()
	// newest first, by resource name
	out, err = c.LookupEvents(ctx, &cloudtrail.LookupEventsInput{
		LookupAttributes: []cttypes.LookupAttribute{{AttributeKey: cttypes.LookupAttributeKeyEventName, AttributeValue: aws.String("CreateUser")}},
	})
	if err != nil || len(out.Events) != 3 || !out.Events[0].EventTime.After(*out.Events[1].EventTime) {
		t.Errorf("CreateUser newest first: %v %d", err, len(out.Events))
	}
	// three calls in under a second: the third is throttled
	var last error
	for i := 0; i < 3; i++ {
		_, last = c.LookupEvents(ctx, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(1)})
	}
	if apiCode(last) != "ThrottlingException" {
		t.Errorf("third call within a second: %v, want ThrottlingException", last)
	}
}

func TestListPublicKeysIsPKCS1(t *testing.T) {
	f, u := start(t)
	k := f.AddKey("us-east-1", now.Add(-24*time.Hour), now.Add(24*time.Hour))
	f.AddKey("us-east-1", now.Add(-90*24*time.Hour), now.Add(-60*24*time.Hour)) // expired long ago
	out, err := ct(u, "us-east-1").ListPublicKeys(context.Background(), &cloudtrail.ListPublicKeysInput{StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now)})
	if err != nil || len(out.PublicKeyList) != 1 {
		t.Fatalf("keys: %v %d", err, len(out.PublicKeyList))
	}
	pk, err := x509.ParsePKCS1PublicKey(out.PublicKeyList[0].Value)
	if err != nil || !pk.Equal(&k.Private.PublicKey) || aws.ToString(out.PublicKeyList[0].Fingerprint) != k.Fingerprint {
		t.Errorf("public key value is not the PKCS#1 DER of the signing key: %v", err)
	}
	if other, _ := ct(u, "eu-west-1").ListPublicKeys(context.Background(), &cloudtrail.ListPublicKeysInput{}); len(other.PublicKeyList) != 0 {
		t.Errorf("keys are per region")
	}
}

func TestCredentialReportStates(t *testing.T) {
	f, u := start(t)
	c := iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(u), Credentials: creds, RetryMaxAttempts: 1})
	ctx := context.Background()
	_, err := c.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	var np *iamtypes.CredentialReportNotPresentException
	if !errors.As(err, &np) {
		t.Fatalf("before generating: %v, want ReportNotPresent", err)
	}
	g, err := c.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
	if err != nil || g.State != iamtypes.ReportStateTypeStarted {
		t.Fatalf("first generate: %v %v", err, g)
	}
	_, err = c.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	var ip *iamtypes.CredentialReportNotReadyException
	if !errors.As(err, &ip) {
		t.Fatalf("while generating: %v, want ReportInProgress", err)
	}
	g, err = c.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
	if err != nil || g.State != iamtypes.ReportStateTypeComplete {
		t.Fatalf("second generate: %v %v", err, g)
	}
	rep, err := c.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	if err != nil || !strings.HasPrefix(string(rep.Content), "user,arn,") || rep.ReportFormat != iamtypes.ReportFormatTypeTextCsv || !rep.GeneratedTime.Equal(now) {
		t.Fatalf("report: %v %+v", err, rep)
	}
	restore := f.SetFault("iam:GetCredentialReport", awsfake.FaultAccessDenied)
	defer restore()
	_, err = c.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	if apiCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "not authorized to perform: iam:GetCredentialReport") {
		t.Errorf("denied: %v", err)
	}
}

func TestSTS(t *testing.T) {
	f, u := start(t)
	c := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(u), Credentials: creds, RetryMaxAttempts: 1})
	ctx := context.Background()
	id, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Account) != awsfake.SampleAccount {
		t.Fatalf("identity: %v %+v", err, id)
	}
	role := "arn:aws:iam::111122223333:role/r"
	out, err := c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("s"), ExternalId: aws.String("x")})
	if err != nil || out.Credentials == nil || f.AssumedRole(aws.ToString(out.Credentials.AccessKeyId)) != role {
		t.Fatalf("assume role: %v %+v", err, out)
	}
	restore := f.SetFault("sts:GetCallerIdentity", awsfake.FaultAccessDenied)
	defer restore()
	if _, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); apiCode(err) != "AccessDenied" {
		t.Errorf("denied: %v", err)
	}
}
