package aws

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	idstypes "github.com/aws/aws-sdk-go-v2/service/identitystore/types"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	"github.com/aws/smithy-go"

	"github.com/tickmark-dev/tickmark/collectors"
)

// collectIAMIdentity records the account's IAM identities in full
// (GetAccountAuthorizationDetails, every page, one artifact per page as
// IAM returned it) and the account settings: the password policy and the
// root user's MFA and access keys (GetAccountSummary).
func (r *run) collectIAMIdentity(ctx context.Context) error {
	c := r.iam()
	p := iam.NewGetAccountAuthorizationDetailsPaginator(c, &iam.GetAccountAuthorizationDetailsInput{})
	page := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return r.fail(ctx, "iam:GetAccountAuthorizationDetails", "", err)
		}
		page++
		last := !p.HasMorePages()
		items := len(out.UserDetailList) + len(out.GroupDetailList) + len(out.RoleDetailList) + len(out.Policies)
		body := map[string]any{
			"account": r.account, "page": page, "last_page": last,
			"users": orEmptyAny(out.UserDetailList), "groups": orEmptyAny(out.GroupDetailList),
			"roles": orEmptyAny(out.RoleDetailList), "policies": orEmptyAny(out.Policies),
			"note": "as GetAccountAuthorizationDetails returned it (policy documents URL-encoded, as IAM sends them); the population is every page of subject " + r.account + "/iam-authorization-details/*, complete on the page with last_page true",
		}
		src := r.source("iam:GetAccountAuthorizationDetails", "", "Filter=all")
		src.Pages, src.Items, src.Complete = 1, items, last
		art := collectors.Artifact{Type: TypeIAMAuthorization, Subject: fmt.Sprintf("%s/iam-authorization-details/%04d", r.account, page),
			ContentType: "application/json", Body: mustJSON(body), ObservedAt: r.req.Now, Source: src}
		if err := r.emitAndCheckpoint(ctx, []collectors.Artifact{art}, nil); err != nil {
			return err
		}
	}
	findings := []string{}
	body := map[string]any{"account": r.account}
	pp, err := c.GetAccountPasswordPolicy(ctx, &iam.GetAccountPasswordPolicyInput{})
	var ae smithy.APIError
	switch {
	case err == nil:
		body["password_policy"] = pp.PasswordPolicy
		body["password_policy_set"] = true
	case errors.As(err, &ae) && ae.ErrorCode() == "NoSuchEntity":
		body["password_policy"] = nil
		body["password_policy_set"] = false // observed: IAM says there is none
		findings = append(findings, "no account password policy: IAM's default applies to console passwords")
	default:
		return r.fail(ctx, "iam:GetAccountPasswordPolicy", "", err)
	}
	sum, err := c.GetAccountSummary(ctx, &iam.GetAccountSummaryInput{})
	if err != nil {
		return r.fail(ctx, "iam:GetAccountSummary", "", err)
	}
	mfa, okMFA := sum.SummaryMap["AccountMFAEnabled"]
	keys, okKeys := sum.SummaryMap["AccountAccessKeysPresent"]
	body["summary"] = sum.SummaryMap
	// unknown stays unknown: a summary without the key is null, not false
	body["root_mfa_enabled"], body["root_access_keys_present"] = nil, nil
	if okMFA {
		body["root_mfa_enabled"] = mfa == 1
		if mfa != 1 {
			findings = append(findings, "the root user has no MFA device")
		}
	}
	if okKeys {
		body["root_access_keys_present"] = keys == 1
		if keys == 1 {
			findings = append(findings, "the root user has access keys")
		}
	}
	body["findings"] = findings
	src := r.source("iam:GetAccountPasswordPolicy,GetAccountSummary", "", "")
	src.Pages, src.Items, src.Complete = 1, 1, true
	art := collectors.Artifact{Type: TypeIAMAccount, Subject: r.account + "/iam-account", ContentType: "application/json", Body: mustJSON(body), ObservedAt: r.req.Now, Source: src}
	return r.emitAndCheckpoint(ctx, []collectors.Artifact{art}, nil)
}

func orEmptyAny[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}

// collectIdentityCenter records every IAM Identity Center instance the
// account can see (sso-admin ListInstances in the API region): its users,
// groups with their members, permission sets with their policies and
// provisioned accounts, and every account assignment. An account without
// an instance records that it has none.
func (r *run) collectIdentityCenter(ctx context.Context) error {
	region := r.cfg.apiRegion()
	if r.cfg.IdentityCenterRegion != "" {
		region = r.cfg.IdentityCenterRegion
	}
	sso := ssoadmin.NewFromConfig(r.awsCfg, func(o *ssoadmin.Options) { o.Region = region })
	ids := identitystore.NewFromConfig(r.awsCfg, func(o *identitystore.Options) { o.Region = region })
	var instances []map[string]any
	pi := ssoadmin.NewListInstancesPaginator(sso, &ssoadmin.ListInstancesInput{})
	type inst struct{ arn, store string }
	var found []inst
	for pi.HasMorePages() {
		out, err := pi.NextPage(ctx)
		if err != nil {
			return r.fail(ctx, "sso:ListInstances", region, err)
		}
		for _, i := range out.Instances {
			instances = append(instances, map[string]any{"instance_arn": aws.ToString(i.InstanceArn), "identity_store_id": aws.ToString(i.IdentityStoreId),
				"owner_account_id": aws.ToString(i.OwnerAccountId), "name": aws.ToString(i.Name), "status": string(i.Status)})
			found = append(found, inst{aws.ToString(i.InstanceArn), aws.ToString(i.IdentityStoreId)})
		}
	}
	if instances == nil {
		instances = []map[string]any{}
	}
	src := r.source("sso:ListInstances", region, "")
	src.Pages, src.Items, src.Complete = 1, len(instances), true
	arts := []collectors.Artifact{{Type: TypeIdentityCenter, Subject: r.account + "/identity-center/instances", ContentType: "application/json",
		Body: mustJSON(map[string]any{"account": r.account, "region": region, "instances": instances,
			"note": "the IAM Identity Center instances visible to this account in " + region + "; none means this account administers none there"}),
		ObservedAt: r.req.Now, Source: src}}
	for _, in := range found {
		a, err := r.identityCenterInstance(ctx, sso, ids, region, in.arn, in.store)
		if err != nil {
			return err
		}
		arts = append(arts, a...)
	}
	return r.emitAndCheckpoint(ctx, arts, nil)
}

func (r *run) identityCenterInstance(ctx context.Context, sso *ssoadmin.Client, ids *identitystore.Client, region, instance, store string) ([]collectors.Artifact, error) {
	art := func(what, endpoint string, items int, body map[string]any) collectors.Artifact {
		body["account"], body["instance_arn"], body["identity_store_id"] = r.account, instance, store
		src := r.source(endpoint, region, "InstanceArn="+instance+" IdentityStoreId="+store)
		src.Items, src.Complete = items, true
		return collectors.Artifact{Type: TypeIdentityCenter, Subject: r.account + "/identity-center/" + store + "/" + what,
			ContentType: "application/json", Body: mustJSON(body), ObservedAt: r.req.Now, Source: src}
	}
	// users
	var users []any
	pu := identitystore.NewListUsersPaginator(ids, &identitystore.ListUsersInput{IdentityStoreId: aws.String(store)})
	for pu.HasMorePages() {
		out, err := pu.NextPage(ctx)
		if err != nil {
			return nil, r.fail(ctx, "identitystore:ListUsers", region, err)
		}
		for _, u := range out.Users {
			users = append(users, u)
		}
	}
	// groups and their members
	var groups []map[string]any
	pg := identitystore.NewListGroupsPaginator(ids, &identitystore.ListGroupsInput{IdentityStoreId: aws.String(store)})
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			return nil, r.fail(ctx, "identitystore:ListGroups", region, err)
		}
		for _, g := range out.Groups {
			members := []string{}
			pm := identitystore.NewListGroupMembershipsPaginator(ids, &identitystore.ListGroupMembershipsInput{IdentityStoreId: aws.String(store), GroupId: g.GroupId})
			for pm.HasMorePages() {
				mo, err := pm.NextPage(ctx)
				if err != nil {
					return nil, r.fail(ctx, "identitystore:ListGroupMemberships", region, err)
				}
				for _, m := range mo.GroupMemberships {
					members = append(members, memberUserID(m.MemberId))
				}
			}
			sort.Strings(members)
			groups = append(groups, map[string]any{"group_id": aws.ToString(g.GroupId), "display_name": aws.ToString(g.DisplayName),
				"description": aws.ToString(g.Description), "member_user_ids": members})
		}
	}
	// permission sets, their policies, the accounts they are provisioned
	// to, and the assignments there
	var sets []map[string]any
	var assignments []map[string]any
	pp := ssoadmin.NewListPermissionSetsPaginator(sso, &ssoadmin.ListPermissionSetsInput{InstanceArn: aws.String(instance)})
	for pp.HasMorePages() {
		out, err := pp.NextPage(ctx)
		if err != nil {
			return nil, r.fail(ctx, "sso:ListPermissionSets", region, err)
		}
		for _, ps := range out.PermissionSets {
			d, err := sso.DescribePermissionSet(ctx, &ssoadmin.DescribePermissionSetInput{InstanceArn: aws.String(instance), PermissionSetArn: aws.String(ps)})
			if err != nil {
				return nil, r.fail(ctx, "sso:DescribePermissionSet", region, err)
			}
			var managed []string
			pmp := ssoadmin.NewListManagedPoliciesInPermissionSetPaginator(sso, &ssoadmin.ListManagedPoliciesInPermissionSetInput{InstanceArn: aws.String(instance), PermissionSetArn: aws.String(ps)})
			for pmp.HasMorePages() {
				mo, err := pmp.NextPage(ctx)
				if err != nil {
					return nil, r.fail(ctx, "sso:ListManagedPoliciesInPermissionSet", region, err)
				}
				for _, m := range mo.AttachedManagedPolicies {
					managed = append(managed, aws.ToString(m.Arn))
				}
			}
			inline, err := sso.GetInlinePolicyForPermissionSet(ctx, &ssoadmin.GetInlinePolicyForPermissionSetInput{InstanceArn: aws.String(instance), PermissionSetArn: aws.String(ps)})
			if err != nil {
				return nil, r.fail(ctx, "sso:GetInlinePolicyForPermissionSet", region, err)
			}
			var accounts []string
			pa := ssoadmin.NewListAccountsForProvisionedPermissionSetPaginator(sso, &ssoadmin.ListAccountsForProvisionedPermissionSetInput{InstanceArn: aws.String(instance), PermissionSetArn: aws.String(ps)})
			for pa.HasMorePages() {
				ao, err := pa.NextPage(ctx)
				if err != nil {
					return nil, r.fail(ctx, "sso:ListAccountsForProvisionedPermissionSet", region, err)
				}
				accounts = append(accounts, ao.AccountIds...)
			}
			sort.Strings(accounts)
			for _, acct := range accounts {
				pas := ssoadmin.NewListAccountAssignmentsPaginator(sso, &ssoadmin.ListAccountAssignmentsInput{InstanceArn: aws.String(instance), PermissionSetArn: aws.String(ps), AccountId: aws.String(acct)})
				for pas.HasMorePages() {
					ao, err := pas.NextPage(ctx)
					if err != nil {
						return nil, r.fail(ctx, "sso:ListAccountAssignments", region, err)
					}
					for _, a := range ao.AccountAssignments {
						assignments = append(assignments, map[string]any{"account_id": aws.ToString(a.AccountId), "permission_set_arn": aws.ToString(a.PermissionSetArn),
							"permission_set_name": aws.ToString(d.PermissionSet.Name), "principal_type": string(a.PrincipalType), "principal_id": aws.ToString(a.PrincipalId)})
					}
				}
			}
			var inl any
			if s := aws.ToString(inline.InlinePolicy); s != "" {
				inl = s
			}
			sets = append(sets, map[string]any{"permission_set_arn": ps, "name": aws.ToString(d.PermissionSet.Name), "description": aws.ToString(d.PermissionSet.Description),
				"session_duration": aws.ToString(d.PermissionSet.SessionDuration), "managed_policies": orEmpty(managed), "inline_policy": inl,
				"provisioned_to_accounts": orEmpty(accounts)})
		}
	}
	return []collectors.Artifact{
		art("users", "identitystore:ListUsers", len(users), map[string]any{"users": orEmptyAny(users)}),
		art("groups", "identitystore:ListGroups,ListGroupMemberships", len(groups), map[string]any{"groups": orEmptyAny(groups)}),
		art("permission-sets", "sso:ListPermissionSets,DescribePermissionSet,ListManagedPoliciesInPermissionSet,GetInlinePolicyForPermissionSet,ListAccountsForProvisionedPermissionSet", len(sets), map[string]any{"permission_sets": orEmptyAny(sets)}),
		art("account-assignments", "sso:ListAccountAssignments", len(assignments), map[string]any{"account_assignments": orEmptyAny(assignments),
			"note": "every assignment of every permission set in every account it is provisioned to"}),
	}, nil
}

// memberUserID returns the user ID of a group member (the only member
// kind Identity Store has).
func memberUserID(m idstypes.MemberId) string {
	if u, ok := m.(*idstypes.MemberIdMemberUserId); ok {
		return u.Value
	}
	return fmt.Sprintf("unknown member kind %T", m)
}
