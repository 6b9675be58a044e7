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
	s.SetIdentity(Identity{
		RootMFA:        true,
		PasswordPolicy: &PasswordPolicy{MinimumPasswordLength: 8, RequireNumbers: true, AllowUsersToChangePassword: true},
		Groups: []IAMGroup{
			{Name: "admins", Policies: []string{"arn:aws:iam::aws:policy/AdministratorAccess"}},
			{Name: "developers", Policies: []string{"arn:aws:iam::aws:policy/PowerUserAccess"}},
		},
		Roles: []IAMRole{
			{Name: "tickmark-read", TrustPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + SampleAccount + `:root"},"Action":"sts:AssumeRole"}]}`,
				Policies: []string{"arn:aws:iam::" + SampleAccount + ":policy/tickmark-read"}},
			{Name: "deploy", TrustPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"codebuild.amazonaws.com"},"Action":"sts:AssumeRole"}]}`,
				Policies: []string{"arn:aws:iam::aws:policy/AdministratorAccess"}},
		},
		UserGroups:   map[string][]string{"alice": {"admins"}, "bob": {"developers"}, "dana": {"developers"}},
		UserPolicies: map[string][]string{"ci-deploy": {"arn:aws:iam::aws:policy/AmazonS3FullAccess"}},
		Policies:     map[string]string{"tickmark-read": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["cloudtrail:LookupEvents"],"Resource":"*"}]}`},
	})
	s.SetIdentityCenter(&IdentityCenter{
		InstanceARN: "arn:aws:sso:::instance/ssoins-7223a1b2c3d4e5f6", IdentityStoreID: "d-9067a1b2c3", Name: "acme",
		Users: []ICUser{
			{ID: "906700aa-1111-4a4a-8b8b-000000000001", UserName: "alice@example.com", DisplayName: "Alice", Email: "alice@example.com"},
			{ID: "906700aa-1111-4a4a-8b8b-000000000002", UserName: "erin@example.com", DisplayName: "Erin", Email: "erin@example.com"},
			{ID: "906700aa-1111-4a4a-8b8b-000000000003", UserName: "frank@example.com", DisplayName: "Frank", Email: "frank@example.com"},
		},
		Groups: []ICGroup{
			{ID: "906700aa-2222-4a4a-8b8b-000000000001", DisplayName: "platform-admins", Members: []string{"906700aa-1111-4a4a-8b8b-000000000001"}},
			{ID: "906700aa-2222-4a4a-8b8b-000000000002", DisplayName: "engineers", Members: []string{"906700aa-1111-4a4a-8b8b-000000000002", "906700aa-1111-4a4a-8b8b-000000000003"}},
		},
		PermissionSets: []ICPermissionSet{
			{Name: "AdministratorAccess", SessionDuration: "PT1H", ManagedPolicies: []string{"arn:aws:iam::aws:policy/AdministratorAccess"}},
			{Name: "ReadOnly", SessionDuration: "PT8H", ManagedPolicies: []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"},
				InlinePolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::payroll/*"}]}`},
		},
		Assignments: []ICAssignment{
			{AccountID: SampleAccount, PermissionSet: "AdministratorAccess", PrincipalType: "GROUP", PrincipalID: "906700aa-2222-4a4a-8b8b-000000000001"},
			{AccountID: SampleAccount, PermissionSet: "ReadOnly", PrincipalType: "GROUP", PrincipalID: "906700aa-2222-4a4a-8b8b-000000000002"},
			{AccountID: "444455556666", PermissionSet: "ReadOnly", PrincipalType: "USER", PrincipalID: "906700aa-1111-4a4a-8b8b-000000000003"},
		},
	})
	return s
}
