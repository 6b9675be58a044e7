package awsfake

import (
	"fmt"
	"time"
)

// SampleAccount is the account of the sample data.
const SampleAccount = "111122223333"

// NewSample returns a fake holding sample data around now (UTC):
//   - trails: "main" (us-east-1, multi-region, validation on, KMS, CloudWatch
//     Logs), "org-trail" (us-east-1, organization trail), "eu-audit"
//     (eu-west-1, single-region, validation off, logging stopped) and
//     "ap-trail" (home ap-southeast-2, multi-region: a shadow trail in every
//     other region);
//   - events in us-east-1: 60 ConsoleLogin (two pages; several share one
//     second across the page boundary), 2 StopLogging, 3 CreateUser, one
//     ConsoleLogin 100 days old (past the 90-day history) and one 5 minutes
//     old; in eu-west-1: 5 ConsoleLogin and 2 AuthorizeSecurityGroupIngress;
//   - IAM users for the credential report: with and without MFA, an old
//     access key, a password never used.
func NewSample(now time.Time) *Server {
	now = now.UTC()
	s := New(SampleAccount, func() time.Time { return now })
	day := 24 * time.Hour
	s.AddTrail(Trail{
		Name: "main", S3BucketName: "trail-bucket", HomeRegion: "us-east-1", IsMultiRegionTrail: true,
		IncludeGlobalServiceEvents: true, LogFileValidationEnabled: true,
		KmsKeyId:                  "arn:aws:kms:us-east-1:" + SampleAccount + ":key/1234abcd-12ab-34cd-56ef-1234567890ab",
		CloudWatchLogsLogGroupArn: "arn:aws:logs:us-east-1:" + SampleAccount + ":log-group:CloudTrail/main:*",
		CloudWatchLogsRoleArn:     "arn:aws:iam::" + SampleAccount + ":role/CloudTrail_CloudWatchLogs_Role",
	}, TrailStatus{IsLogging: true, StartLoggingTime: now.Add(-400 * day), LatestDeliveryTime: now.Add(-4 * time.Minute), LatestDigestDeliveryTime: now.Add(-31 * time.Minute)}, nil)
	s.AddTrail(Trail{
		Name: "org-trail", S3BucketName: "org-trail-bucket", S3KeyPrefix: "org", HomeRegion: "us-east-1",
		IsMultiRegionTrail: true, IsOrganizationTrail: true, IncludeGlobalServiceEvents: true, LogFileValidationEnabled: true,
	}, TrailStatus{IsLogging: true, StartLoggingTime: now.Add(-200 * day), LatestDeliveryTime: now.Add(-6 * time.Minute)}, nil)
	s.AddTrail(Trail{
		Name: "eu-audit", S3BucketName: "eu-audit-bucket", HomeRegion: "eu-west-1", HasCustomEventSelectors: true,
	}, TrailStatus{IsLogging: false, StartLoggingTime: now.Add(-90 * day), StopLoggingTime: now.Add(-3 * day),
		LatestDeliveryTime: now.Add(-3 * day), LatestDeliveryError: "AccessDenied"},
		[]EventSelector{{ReadWriteType: "WriteOnly", IncludeManagementEvents: false, DataResources: []DataResource{{Type: "AWS::S3::Object", Values: []string{"arn:aws:s3:::eu-data/"}}}, ExcludeManagementEventSources: []string{}}})
	s.AddTrail(Trail{
		Name: "ap-trail", S3BucketName: "ap-bucket", HomeRegion: "ap-southeast-2", IsMultiRegionTrail: true, IncludeGlobalServiceEvents: false,
	}, TrailStatus{IsLogging: true, StartLoggingTime: now.Add(-30 * day), LatestDeliveryTime: now.Add(-8 * time.Minute)}, nil)

	base := now.Add(-36 * time.Hour).Truncate(time.Second)
	var us []Event
	for i := 0; i < 60; i++ {
		t := base.Add(time.Duration(i) * 7 * time.Minute)
		if i >= 8 && i <= 12 { // five logins in one second straddle the first page's end
			t = base.Add(8 * 7 * time.Minute)
		}
		user := fmt.Sprintf("user%02d", i%7)
		if i%3 == 0 {
			user += "-mfa"
		}
		us = append(us, Event{EventName: "ConsoleLogin", EventSource: "signin.amazonaws.com", Username: user, Time: t})
	}
	us = append(us,
		Event{EventName: "StopLogging", EventSource: "cloudtrail.amazonaws.com", Username: "mallory", Time: now.Add(-3 * day),
			Resources: []Resource{{ResourceType: "AWS::CloudTrail::Trail", ResourceName: "eu-audit"}}},
		Event{EventName: "StopLogging", EventSource: "cloudtrail.amazonaws.com", Username: "ops", Time: now.Add(-10 * day)},
		Event{EventName: "CreateUser", EventSource: "iam.amazonaws.com", Username: "admin", Time: now.Add(-2 * day), Resources: []Resource{{ResourceType: "AWS::IAM::User", ResourceName: "carol"}}},
		Event{EventName: "CreateUser", EventSource: "iam.amazonaws.com", Username: "admin", Time: now.Add(-20 * day)},
		Event{EventName: "CreateUser", EventSource: "iam.amazonaws.com", Username: "admin", Time: now.Add(-80 * day)},
		Event{EventName: "ConsoleLogin", EventSource: "signin.amazonaws.com", Username: "ancient", Time: now.Add(-100 * day)},
		Event{EventName: "ConsoleLogin", EventSource: "signin.amazonaws.com", Username: "late", Time: now.Add(-5 * time.Minute)},
	)
	s.AddEvents("us-east-1", us...)
	var eu []Event
	for i := 0; i < 5; i++ {
		eu = append(eu, Event{EventName: "ConsoleLogin", EventSource: "signin.amazonaws.com", Username: fmt.Sprintf("eu%d", i), Time: now.Add(-time.Duration(i+1) * 5 * time.Hour)})
	}
	eu = append(eu,
		Event{EventName: "AuthorizeSecurityGroupIngress", EventSource: "ec2.amazonaws.com", Username: "dev", Time: now.Add(-7 * time.Hour), Resources: []Resource{{ResourceType: "AWS::EC2::SecurityGroup", ResourceName: "sg-0123456789abcdef0"}}},
		Event{EventName: "AuthorizeSecurityGroupIngress", EventSource: "ec2.amazonaws.com", Username: "dev", Time: now.Add(-9 * time.Hour)},
	)
	s.AddEvents("eu-west-1", eu...)

	s.SetUsers(
		User{Name: "alice", Created: now.Add(-500 * day), PasswordEnabled: true, PasswordLastUsed: now.Add(-1 * day), PasswordLastChanged: now.Add(-30 * day), MFAActive: true,
			AccessKey1Active: true, AccessKey1Rotated: now.Add(-20 * day), AccessKey1LastUsed: now.Add(-1 * day)},
		User{Name: "bob", Created: now.Add(-300 * day), PasswordEnabled: true, PasswordLastUsed: now.Add(-120 * day), PasswordLastChanged: now.Add(-200 * day), MFAActive: false},
		User{Name: "ci-deploy", Created: now.Add(-700 * day), AccessKey1Active: true, AccessKey1Rotated: now.Add(-400 * day), AccessKey1LastUsed: now.Add(-2 * time.Hour),
			AccessKey2Active: true, AccessKey2Rotated: now.Add(-10 * day)},
		User{Name: "dana", Created: now.Add(-5 * day), PasswordEnabled: true, PasswordLastChanged: now.Add(-5 * day), MFAActive: false},
	)
	return s
}
