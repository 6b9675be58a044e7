package aws

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/tickmark-dev/tickmark/collectors/aws/awsfake"
)

var benchNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// BenchmarkVerifyDigest: gunzip, SHA-256, RSA-2048 signature and chain
// checks of one digest file.
func BenchmarkVerifyDigest(b *testing.B) {
	f := awsfake.New("111122223333", func() time.Time { return benchNow })
	key := f.AddKey("us-east-1", benchNow.Add(-time.Hour*48), benchNow)
	trail := awsfake.Trail{Name: "main", S3BucketName: "bkt", HomeRegion: "us-east-1"}
	chain := f.DigestChain(trail, "us-east-1", key, benchNow.Add(-3*time.Hour), 2, nil)
	keys := []*publicKeyDoc{{Fingerprint: key.Fingerprint, key: &key.Private.PublicKey}}
	prev := &digestCursor{Key: chain[0].Key, Sig: chain[0].Signature, SHA: sha256hex(chain[0].JSON)}
	d := chain[1]
	b.ReportAllocs()
	b.SetBytes(int64(len(d.Body)))
	for b.Loop() {
		res := verifyDigest("bkt", listedDigest{key: d.Key, end: d.End}, d.Body, d.Signature, "SHA256withRSA", keys, prev)
		if !res.Valid {
			b.Fatal(res.Failures)
		}
	}
}

// BenchmarkCredentialReportSummary10k parses a 10,000-user credential report.
func BenchmarkCredentialReportSummary10k(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&sb, "user%05d,arn:aws:iam::111122223333:user/user%05d,2024-01-01T00:00:00+00:00,%t,2026-%02d-01T00:00:00+00:00,2025-06-01T00:00:00+00:00,N/A,%t,true,2025-%02d-01T00:00:00+00:00,2026-11-01T00:00:00+00:00,us-east-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n",
			i, i, i%2 == 0, i%11+1, i%3 == 0, i%12+1)
	}
	csv := []byte(sb.String())
	b.ReportAllocs()
	b.SetBytes(int64(len(csv)))
	for b.Loop() {
		s, err := summarizeCredentialReport(csv, benchNow)
		if err != nil || s.Users != 10000 {
			b.Fatal(err)
		}
	}
}

// BenchmarkEventsPageArtifact shapes one full LookupEvents page (50 events
// with their raw records) into an artifact.
func BenchmarkEventsPageArtifact(b *testing.B) {
	rec := `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDACKCEVSQ6C2EXAMPLE","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"},"eventTime":"2026-11-29T10:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.10","userAgent":"Mozilla/5.0","requestParameters":null,"responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home","MobileVersion":"No","MFAUsed":"Yes"},"eventID":"0ebbaee4-6e67-431d-8225-ba0d81df5972","eventType":"AwsConsoleSignIn","recipientAccountId":"111122223333"}`
	evs := make([]cttypes.Event, 50)
	for i := range evs {
		evs[i] = cttypes.Event{EventId: aws.String(fmt.Sprintf("id-%d", i)), EventName: aws.String("ConsoleLogin"), EventSource: aws.String("signin.amazonaws.com"),
			EventTime: aws.Time(benchNow.Add(-time.Duration(i) * time.Minute)), Username: aws.String("alice"), ReadOnly: aws.String("false"), CloudTrailEvent: aws.String(rec)}
	}
	r := &run{cfg: &Config{}, account: "111122223333"}
	in := &cloudtrail.LookupEventsInput{StartTime: aws.Time(benchNow.Add(-24 * time.Hour)), EndTime: aws.Time(benchNow)}
	b.ReportAllocs()
	for b.Loop() {
		a := r.eventsArtifact("us-east-1", "ConsoleLogin", in, 1, evs, true, ts(benchNow.Add(-24*time.Hour)), 0, 0)
		if len(a.Body) == 0 {
			b.Fatal("empty")
		}
	}
}
