package awsfake_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/account"
	accttypes "github.com/aws/aws-sdk-go-v2/service/account/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/tickmark-dev/tickmark/collectors/aws/awsfake"
)

// The organisation fake checked with the real SDK clients.
func TestOrgListAccountsRolesAndRegions(t *testing.T) {
	clock := func() time.Time { return now }
	o := awsfake.NewOrg("o-a1b2c3d4e5", "100000000000", clock)
	for i := 0; i < 24; i++ {
		o.AddAccount(awsfake.OrgAccount{ID: fmt.Sprintf("2000000000%02d", i), Name: fmt.Sprint("w", i)}, clock)
	}
	o.AddRole("200000000003", "tickmark-read", "ext")
	o.SetRegions("200000000003", awsfake.StandardRegions("af-south-1")...)
	u := o.Start()
	t.Cleanup(o.Close)
	ctx := context.Background()
	base := credentials.NewStaticCredentialsProvider("AKIDMGMT", "secret", "")
	orgs := organizations.New(organizations.Options{Region: "us-east-1", BaseEndpoint: aws.String(u), Credentials: base, RetryMaxAttempts: 1})
	n, pages := 0, 0
	p := organizations.NewListAccountsPaginator(orgs, &organizations.ListAccountsInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n, pages = n+len(out.Accounts), pages+1
	}
	if n != 25 || pages != 2 {
		t.Errorf("ListAccounts: %d accounts in %d pages, want 25 in 2 (at most 20 a page)", n, pages)
	}
	// the member role: refused without the external ID, granted with it
	stsc := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(u), Credentials: base, RetryMaxAttempts: 1})
	role := "arn:aws:iam::200000000003:role/tickmark-read"
	if _, err := stsc.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("t")}); apiCode(err) != "AccessDenied" {
		t.Errorf("AssumeRole without the external ID: %v", err)
	}
	out, err := stsc.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("t"), ExternalId: aws.String("ext")})
	if err != nil {
		t.Fatal(err)
	}
	member := credentials.NewStaticCredentialsProvider(*out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken)
	id, err := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(u), Credentials: member}).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Account) != "200000000003" || aws.ToString(id.Arn) != "arn:aws:sts::200000000003:assumed-role/tickmark-read/tickmark" {
		t.Errorf("identity with the member role: %v %v", id, err)
	}
	// a member account may not list the organisation
	memberOrgs := organizations.New(organizations.Options{Region: "us-east-1", BaseEndpoint: aws.String(u), Credentials: member, RetryMaxAttempts: 1})
	if _, err := memberOrgs.ListAccounts(ctx, &organizations.ListAccountsInput{}); apiCode(err) != "AccessDeniedException" {
		t.Errorf("ListAccounts from a member: %v", err)
	}
	// its enabled regions, opt-in status filtered, paged
	acc := account.New(account.Options{Region: "us-east-1", BaseEndpoint: aws.String(u), Credentials: member, RetryMaxAttempts: 1})
	var enabled []string
	rp := account.NewListRegionsPaginator(acc, &account.ListRegionsInput{RegionOptStatusContains: []accttypes.RegionOptStatus{accttypes.RegionOptStatusEnabled, accttypes.RegionOptStatusEnabledByDefault}})
	for rp.HasMorePages() {
		out, err := rp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Regions {
			enabled = append(enabled, aws.ToString(r.RegionName))
		}
	}
	if len(enabled) != 18 || enabled[0] != "af-south-1" {
		t.Errorf("enabled regions %v: want the 17 enabled by default and opted-in af-south-1", enabled)
	}
}
