package aws_test

import (
	"encoding/json"
	"strings"
	"testing"

	awscol "github.com/tickmark-dev/tickmark/collectors/aws"
	"github.com/tickmark-dev/tickmark/collectors/aws/awsfake"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
)

func TestIAMIdentityInFull(t *testing.T) {
	e := newEnv(t, false)
	res := run(t, e.config("evidence: [iam_identity]\n"), collectortest.Options{})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	var users, groups, roles, policies int
	var alice []string
	lastPage := false
	for _, a := range byType(res, awscol.TypeIAMAuthorization) {
		var b struct {
			Users []struct {
				UserName  string
				GroupList []string
			} `json:"users"`
			Groups, Roles, Policies []json.RawMessage
			Last                    bool `json:"last_page"`
		}
		if err := json.Unmarshal(a.Body, &b); err != nil {
			t.Fatal(err)
		}
		users, groups, roles, policies = users+len(b.Users), groups+len(b.Groups), roles+len(b.Roles), policies+len(b.Policies)
		for _, u := range b.Users {
			if u.UserName == "alice" {
				alice = u.GroupList
			}
		}
		lastPage = lastPage || (b.Last && a.Source.Complete)
	}
	if users != 4 || groups != 2 || roles != 2 || policies != 1 || !lastPage {
		t.Errorf("authorization details: %d users, %d groups, %d roles, %d policies, last page %v; want 4, 2, 2, 1, true", users, groups, roles, policies, lastPage)
	}
	if strings.Join(alice, ",") != "admins" {
		t.Errorf("alice's groups %v, want [admins]", alice)
	}
	acct := iamAccount(t, res)
	if acct.Set != true || acct.Policy == nil || acct.Policy.MinimumPasswordLength != 8 || acct.RootMFA == nil || !*acct.RootMFA || acct.RootKeys == nil || *acct.RootKeys || len(acct.Findings) != 0 {
		t.Errorf("iam account: %+v", acct)
	}

	// no password policy, root keys, root without MFA: findings
	e.fake.SetIdentity(awsfake.Identity{RootAccessKeys: true})
	res = run(t, e.config("evidence: [iam_identity]\n"), collectortest.Options{})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	acct = iamAccount(t, res)
	want := []string{"no account password policy: IAM's default applies to console passwords", "the root user has no MFA device", "the root user has access keys"}
	if acct.Set != false || acct.Policy != nil || strings.Join(acct.Findings, "|") != strings.Join(want, "|") {
		t.Errorf("iam account without a policy: %+v", acct)
	}
}

type iamAccountBody struct {
	Set    bool `json:"password_policy_set"`
	Policy *struct {
		MinimumPasswordLength int
	} `json:"password_policy"`
	RootMFA  *bool    `json:"root_mfa_enabled"`
	RootKeys *bool    `json:"root_access_keys_present"`
	Findings []string `json:"findings"`
}

func iamAccount(t *testing.T, res collectortest.Result) iamAccountBody {
	t.Helper()
	arts := byType(res, awscol.TypeIAMAccount)
	if len(arts) != 1 {
		t.Fatalf("%d %s artifacts", len(arts), awscol.TypeIAMAccount)
	}
	var b iamAccountBody
	if err := json.Unmarshal(arts[0].Body, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIdentityCenterInFull(t *testing.T) {
	e := newEnv(t, false)
	res := run(t, e.config("evidence: [identity_center]\n"), collectortest.Options{})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	bodies := map[string]map[string]json.RawMessage{}
	for _, a := range byType(res, awscol.TypeIdentityCenter) {
		var b map[string]json.RawMessage
		if err := json.Unmarshal(a.Body, &b); err != nil {
			t.Fatal(err)
		}
		bodies[strings.TrimPrefix(a.Subject, awsfake.SampleAccount+"/identity-center/")] = b
	}
	var users []struct{ UserName string }
	var groups []struct {
		Name    string   `json:"display_name"`
		Members []string `json:"member_user_ids"`
	}
	var sets []struct {
		Name     string   `json:"name"`
		Managed  []string `json:"managed_policies"`
		Inline   *string  `json:"inline_policy"`
		Accounts []string `json:"provisioned_to_accounts"`
	}
	var assignments []struct {
		Account string `json:"account_id"`
		Set     string `json:"permission_set_name"`
		Type    string `json:"principal_type"`
	}
	store := "d-9067a1b2c3/"
	for k, v := range map[string]any{"users": &users, "groups": &groups, "permission-sets": &sets, "account-assignments": &assignments} {
		b, ok := bodies[store+k]
		if !ok {
			t.Fatalf("no %s artifact; got %v", k, keys(bodies))
		}
		field := map[string]string{"users": "users", "groups": "groups", "permission-sets": "permission_sets", "account-assignments": "account_assignments"}[k]
		if err := json.Unmarshal(b[field], v); err != nil {
			t.Fatal(err)
		}
	}
	if len(users) != 3 {
		t.Errorf("%d users, want 3 (two pages)", len(users))
	}
	if len(groups) != 2 || len(groups[1].Members) != 2 {
		t.Errorf("groups: %+v", groups)
	}
	if len(sets) != 2 || sets[1].Name != "ReadOnly" || sets[1].Inline == nil || len(sets[1].Managed) != 1 || strings.Join(sets[1].Accounts, ",") != "111122223333,444455556666" || sets[0].Inline != nil {
		t.Errorf("permission sets: %+v", sets)
	}
	if len(assignments) != 3 {
		t.Errorf("assignments: %+v", assignments)
	}
	if _, ok := bodies["instances"]; !ok {
		t.Errorf("no instances artifact")
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
