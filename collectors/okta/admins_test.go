package okta_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/okta"
	"github.com/tickmark-dev/tickmark/collectors/okta/oktafake"
)

type roleRec struct {
	Type         string            `json:"type"`
	Scope        string            `json:"scope"`
	TargetGroups []json.RawMessage `json:"target_groups"`
	TargetApps   []json.RawMessage `json:"target_apps"`
	Permissions  []struct {
		Label string `json:"label"`
	} `json:"permissions"`
	Resources []struct {
		ORN string `json:"orn"`
	} `json:"resources"`
}

type adminsBody struct {
	Users []struct {
		ID    string    `json:"id"`
		Roles []roleRec `json:"roles"`
	} `json:"users"`
	Groups []struct {
		ID      string    `json:"id"`
		Roles   []roleRec `json:"roles"`
		Members []any     `json:"members"`
	} `json:"groups"`
	ServiceApps []struct {
		ClientID string    `json:"client_id"`
		Label    string    `json:"label"`
		Roles    []roleRec `json:"roles"`
	} `json:"service_apps"`
	APITokens []struct {
		Name            string          `json:"name"`
		OwnerLogin      string          `json:"owner_login"`
		OwnerRoles      []string        `json:"owner_role_types"`
		Network         json.RawMessage `json:"network"`
		LastUsed        *time.Time      `json:"last_used"`
		LastUsedVisible bool            `json:"last_used_visible"`
	} `json:"api_tokens"`
	APITokensVisible bool `json:"api_tokens_visible"`
}

// Every admin: users, groups and service apps holding roles, with role
// targets and custom-role permissions; API tokens with owner, network
// restriction and last use.
func TestEveryAdmin(t *testing.T) {
	f, u := startFake(t, oktafake.Options{Users: 600})
	res := collectortest.Run(t, collectortest.Build(t, "okta", config(u, "evidence: [admins]")), collectortest.Options{Now: testNow})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	arts := ofType(res.Committed, okta.TypeAdmins)
	if len(arts) != 1 {
		t.Fatalf("got %d admins artifacts", len(arts))
	}
	b := decode[adminsBody](t, arts[0])
	users := map[string][]roleRec{}
	for _, x := range b.Users {
		users[x.ID] = x.Roles
	}
	if r := users[oktafake.UserID(500)]; len(r) != 1 || r[0].Type != "HELP_DESK_ADMIN" || r[0].Scope != "targeted" || len(r[0].TargetGroups) != 1 || !strings.Contains(string(r[0].TargetGroups[0]), "00g00000contractors") {
		t.Errorf("help desk admin 500: %+v, want targeted to the Contractors group", r)
	}
	if r := users[oktafake.UserID(4)]; len(r) != 1 || r[0].Scope != "targeted" || len(r[0].TargetApps) != 1 || !strings.Contains(string(r[0].TargetApps[0]), "slack") {
		t.Errorf("app admin 4: %+v, want targeted to Slack", r)
	}
	if r := users[oktafake.UserID(5)]; len(r) != 1 || r[0].Type != "CUSTOM" || len(r[0].Permissions) != 4 || len(r[0].Resources) != 2 {
		t.Errorf("custom role of user 5: %+v, want 4 permissions over 2 resources", r)
	}
	if r := users[oktafake.UserID(0)]; len(r) != 1 || r[0].Scope != "not-applicable" || r[0].TargetGroups != nil {
		t.Errorf("super admin 0: %+v", r)
	}
	if len(b.Groups) != 1 || b.Groups[0].ID != "00g0000000000admins" || len(b.Groups[0].Members) != 2 {
		t.Errorf("admin groups: %+v", b.Groups)
	}
	clients := map[string]string{}
	for _, c := range b.ServiceApps {
		if len(c.Roles) > 0 {
			clients[c.Label] = c.Roles[0].Type
		}
	}
	if clients["Terraform"] != "ORG_ADMIN" || clients["Posture scanner"] != "READ_ONLY_ADMIN" || len(clients) != 2 {
		t.Errorf("service apps holding roles: %v", clients)
	}
	if !b.APITokensVisible || len(b.APITokens) != 2 {
		t.Fatalf("API tokens: visible %v, %d", b.APITokensVisible, len(b.APITokens))
	}
	tf := b.APITokens[0]
	wantLast := f.Base().Add(28*24*time.Hour - 30*24*time.Hour)
	if tf.OwnerLogin != f.User(0).Login || len(tf.OwnerRoles) != 1 || tf.OwnerRoles[0] != "SUPER_ADMIN" || !tf.LastUsedVisible || tf.LastUsed == nil || !tf.LastUsed.Equal(wantLast) {
		t.Errorf("terraform token: %+v, want owner %s (SUPER_ADMIN), last used %s", tf, f.User(0).Login, wantLast)
	}
	if !strings.Contains(string(b.APITokens[1].Network), "nzo0000000corpnet1") {
		t.Errorf("scim token network: %s", b.APITokens[1].Network)
	}
}

// Credentials that may not list API tokens record them as not visible
// (null), and the rest of the admin evidence is collected.
func TestAPITokensNotVisible(t *testing.T) {
	f, u := startFake(t, oktafake.Options{Users: 60})
	defer f.Fail(oktafake.Failure{Status: 403, PathPrefix: "/api/v1/api-tokens"})()
	res := collectortest.Run(t, collectortest.Build(t, "okta", config(u, "evidence: [admins]")), collectortest.Options{Now: testNow})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	body := string(ofType(res.Committed, okta.TypeAdmins)[0].Body)
	if !strings.Contains(body, `"api_tokens": null`) || !strings.Contains(body, `"api_tokens_visible": false`) || !strings.Contains(body, "okta.apiTokens.read") {
		t.Fatalf("API tokens should be recorded as not visible: %s", body[len(body)-600:])
	}
}
