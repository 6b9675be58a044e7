package okta

import (
	"context"
	"encoding/json"
	"net/url"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
)

type assignees struct {
	Value []struct {
		ID string `json:"id"`
	} `json:"value"`
	Links struct {
		Next struct {
			Href string `json:"href"`
		} `json:"next"`
	} `json:"_links"`
}

// roleRecord is one role assignment with what it reaches: its targets
// (groups and apps; both null when the role type takes none, empty lists
// mean the whole org) and, for a custom role, its permissions and the
// resources of its resource set.
type roleRecord struct {
	Assignment  json.RawMessage   `json:"assignment"`
	Type        string            `json:"type"`
	Scope       string            `json:"scope"` // org-wide, targeted, resource-set or not-applicable
	TargetGroup []json.RawMessage `json:"target_groups"`
	TargetApps  []json.RawMessage `json:"target_apps"`
	Permissions []json.RawMessage `json:"permissions,omitempty"`
	Resources   []json.RawMessage `json:"resources,omitempty"`
}

type adminUser struct {
	ID     string       `json:"id"`
	Login  string       `json:"login"`
	Status string       `json:"status"`
	Roles  []roleRecord `json:"roles"`
}

type adminGroup struct {
	ID      string         `json:"id"`
	Name    string         `json:"name"`
	Roles   []roleRecord   `json:"roles"`
	Members []memberRecord `json:"members"`
}

type adminClient struct {
	ClientID string       `json:"client_id"`
	Label    string       `json:"label"`
	Status   string       `json:"status"`
	Roles    []roleRecord `json:"roles"`
}

type apiTokenRecord struct {
	Token      json.RawMessage `json:"token"`
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	OwnerID    string          `json:"owner_id"`
	OwnerLogin string          `json:"owner_login"`
	OwnerRoles []string        `json:"owner_role_types"`
	Network    json.RawMessage `json:"network"`
	// Okta's token metadata has no last-use time: a token's expiresAt
	// moves to (last use + tokenWindow) on every use, so last use is derived.
	LastUsed        *time.Time `json:"last_used"`
	LastUsedVisible bool       `json:"last_used_visible"`
	LastUsedHow     string     `json:"last_used_how"`
}

// targetTypes are the standard role types that take targets: groups for
// the user and group administrators, apps for the app administrator.
var targetTypes = map[string][2]bool{"USER_ADMIN": {true, false}, "HELP_DESK_ADMIN": {true, false}, "GROUP_MEMBERSHIP_ADMIN": {true, false}, "APP_ADMIN": {false, true}}

// roles reads the role assignments at base (".../roles") with their
// targets and custom-role definitions.
func (r *run) roles(ctx context.Context, endpoint, base string, custom map[string][2][]json.RawMessage) ([]roleRecord, error) {
	var raws []json.RawMessage
	if _, err := r.get(ctx, endpoint, base, &raws); err != nil {
		return nil, err
	}
	out := []roleRecord{}
	for _, raw := range raws {
		var ra struct {
			ID          string `json:"id"`
			Type        string `json:"type"`
			Role        string `json:"role"`
			ResourceSet string `json:"resource-set"`
		}
		if err := json.Unmarshal(raw, &ra); err != nil {
			return nil, malformed(r.org, endpoint, err)
		}
		rec := roleRecord{Assignment: raw, Type: ra.Type, Scope: "not-applicable"}
		if tt, ok := targetTypes[ra.Type]; ok {
			rec.Scope = "org-wide"
			for k, kind := range []struct {
				path string
				into *[]json.RawMessage
			}{{"groups", &rec.TargetGroup}, {"catalog/apps", &rec.TargetApps}} {
				if !tt[k] {
					continue
				}
				*kind.into = []json.RawMessage{}
				err := pages(ctx, r.api, endpoint+"/{id}/targets/"+kind.path, base+"/"+url.PathEscape(ra.ID)+"/targets/"+kind.path, func(ts []json.RawMessage, _ string, _ bool) error {
					*kind.into = append(*kind.into, ts...)
					return nil
				})
				if err != nil {
					return nil, err
				}
			}
			if len(rec.TargetGroup)+len(rec.TargetApps) > 0 {
				rec.Scope = "targeted"
			}
		}
		if ra.Type == "CUSTOM" {
			rec.Scope = "resource-set"
			key := ra.Role + "|" + ra.ResourceSet
			def, ok := custom[key]
			if !ok {
				var perms struct {
					Permissions []json.RawMessage `json:"permissions"`
				}
				if _, err := r.get(ctx, "GET /api/v1/iam/roles/{id}/permissions", "/api/v1/iam/roles/"+url.PathEscape(ra.Role)+"/permissions", &perms); err != nil {
					return nil, err
				}
				res := []json.RawMessage{}
				ep := "GET /api/v1/iam/resource-sets/{id}/resources"
				for pq := "/api/v1/iam/resource-sets/" + url.PathEscape(ra.ResourceSet) + "/resources"; pq != ""; {
					var page struct {
						Resources []json.RawMessage `json:"resources"`
						Links     struct {
							Next struct {
								Href string `json:"href"`
							} `json:"next"`
						} `json:"_links"`
					}
					if _, err := r.get(ctx, ep, pq, &page); err != nil {
						return nil, err
					}
					res = append(res, page.Resources...)
					pq = ""
					if h := page.Links.Next.Href; h != "" && len(page.Resources) > 0 {
						rel, err := r.relative(ep, h)
						if err != nil {
							return nil, err
						}
						pq = rel
					}
				}
				def = [2][]json.RawMessage{perms.Permissions, res}
				custom[key] = def
			}
			rec.Permissions, rec.Resources = def[0], def[1]
		}
		out = append(out, rec)
	}
	return out, nil
}

// admins emits one artifact: every user with a role assignment, every
// group holding a role (with its members), every OAuth 2.0 service app
// holding a role, each role with its targets and custom-role permissions,
// and the org's API tokens with owner, network restriction and last use.
// Admin populations are small, so it is built in memory.
func (r *run) admins(ctx context.Context) error {
	custom := map[string][2][]json.RawMessage{}
	users := []adminUser{}
	ep := "GET /api/v1/iam/assignees/users"
	for pq := "/api/v1/iam/assignees/users?limit=100"; pq != ""; {
		var page assignees
		if _, err := r.get(ctx, ep, pq, &page); err != nil {
			return err
		}
		for _, v := range page.Value {
			var u oktaUser
			if _, err := r.get(ctx, "GET /api/v1/users/{id}", "/api/v1/users/"+url.PathEscape(v.ID), &u); err != nil {
				return err
			}
			roles, err := r.roles(ctx, "GET /api/v1/users/{id}/roles", "/api/v1/users/"+url.PathEscape(v.ID)+"/roles", custom)
			if err != nil {
				return err
			}
			users = append(users, adminUser{ID: u.ID, Login: u.Profile.Login, Status: u.Status, Roles: roles})
		}
		pq = ""
		if h := page.Links.Next.Href; h != "" && len(page.Value) > 0 {
			rel, err := r.relative(ep, h)
			if err != nil {
				return err
			}
			pq = rel
		}
	}
	groups := []adminGroup{}
	err := r.eachGroup(ctx, func(_ json.RawMessage, g groupHead) error {
		roles, err := r.roles(ctx, "GET /api/v1/groups/{id}/roles", "/api/v1/groups/"+url.PathEscape(g.ID)+"/roles", custom)
		if err != nil || len(roles) == 0 {
			return err
		}
		ag := adminGroup{ID: g.ID, Name: g.Profile.Name, Roles: roles, Members: []memberRecord{}}
		err = pages(ctx, r.api, "GET /api/v1/groups/{id}/users", "/api/v1/groups/"+url.PathEscape(g.ID)+"/users?limit=1000", func(us []oktaUser, _ string, _ bool) error {
			for i := range us {
				ag.Members = append(ag.Members, memberRecord{ID: us[i].ID, Login: us[i].Profile.Login, Status: us[i].Status})
			}
			return nil
		})
		if err != nil {
			return err
		}
		groups = append(groups, ag)
		return nil
	})
	if err != nil {
		return err
	}
	clients := []adminClient{}
	serviceQ := url.Values{"filter": {`name eq "oidc_client"`}, "limit": {"200"}}
	err = pages(ctx, r.api, "GET /api/v1/apps", "/api/v1/apps?"+serviceQ.Encode(), func(apps []struct {
		ID     string `json:"id"`
		Label  string `json:"label"`
		Status string `json:"status"`
		Creds  struct {
			OAuth struct {
				ClientID string `json:"client_id"`
			} `json:"oauthClient"`
		} `json:"credentials"`
	}, _ string, _ bool) error {
		for _, a := range apps {
			id := a.Creds.OAuth.ClientID
			if id == "" {
				id = a.ID
			}
			roles, err := r.roles(ctx, "GET /oauth2/v1/clients/{id}/roles", "/oauth2/v1/clients/"+url.PathEscape(id)+"/roles", custom)
			if err != nil {
				return err
			}
			if len(roles) > 0 {
				clients = append(clients, adminClient{ClientID: id, Label: a.Label, Status: a.Status, Roles: roles})
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	body := map[string]any{"org": r.org, "as_of": r.req.Now,
		"endpoints": []string{ep, "GET /api/v1/users/{id}/roles", "GET /api/v1/groups", "GET /api/v1/groups/{id}/roles", "GET /api/v1/groups/{id}/users",
			`GET /api/v1/apps?filter=name eq "oidc_client"`, "GET /oauth2/v1/clients/{id}/roles", ".../roles/{id}/targets/groups", ".../roles/{id}/targets/catalog/apps",
			"GET /api/v1/iam/roles/{id}/permissions", "GET /api/v1/iam/resource-sets/{id}/resources", "GET /api/v1/api-tokens"},
		"user_count": len(users), "group_count": len(groups), "service_app_count": len(clients),
		"users": users, "groups": groups, "service_apps": clients}
	if err := r.apiTokens(ctx, body, users); err != nil {
		return err
	}
	return r.emitJSON(ctx, collectors.Artifact{Type: TypeAdmins, Subject: hostOf(r.org) + " admin role holders", ObservedAt: r.req.Now,
		Source: r.source(ep, "", len(users)+len(groups)+len(clients), 0, true)}, body)
}

// apiTokens adds the org's API tokens to body. Listing them needs
// okta.apiTokens.read (and, for an API token, a Super Administrator): when
// refused, the tokens are recorded as not visible, never as none.
func (r *run) apiTokens(ctx context.Context, body map[string]any, admins []adminUser) error {
	ep := "GET /api/v1/api-tokens"
	var raws []json.RawMessage
	_, err := r.get(ctx, ep, "/api/v1/api-tokens", &raws)
	if err != nil {
		if !isForbidden(err) {
			return err
		}
		body["api_tokens"], body["api_tokens_visible"], body["api_tokens_note"] = nil, false, "not visible to these credentials: "+err.Error()
		return nil
	}
	roles := map[string][]string{}
	logins := map[string]string{}
	for _, u := range admins {
		logins[u.ID] = u.Login
		for _, rl := range u.Roles {
			roles[u.ID] = append(roles[u.ID], rl.Type)
		}
	}
	out := []apiTokenRecord{}
	for _, raw := range raws {
		var t struct {
			ID, Name, UserID, TokenWindow string
			ExpiresAt                     *time.Time
			Network                       json.RawMessage
		}
		if err := json.Unmarshal(raw, &t); err != nil {
			return malformed(r.org, ep, err)
		}
		rec := apiTokenRecord{Token: raw, ID: t.ID, Name: t.Name, OwnerID: t.UserID, OwnerLogin: logins[t.UserID], OwnerRoles: roles[t.UserID], Network: t.Network,
			LastUsedHow: "not reported by Okta's API token metadata"}
		if rec.OwnerRoles == nil {
			rec.OwnerRoles = []string{}
		}
		if rec.OwnerLogin == "" && t.UserID != "" {
			var u oktaUser
			if _, err := r.get(ctx, "GET /api/v1/users/{id}", "/api/v1/users/"+url.PathEscape(t.UserID), &u); err != nil {
				return err
			}
			rec.OwnerLogin = u.Profile.Login
		}
		if w, ok := isoDays(t.TokenWindow); ok && t.ExpiresAt != nil {
			lu := t.ExpiresAt.Add(-w).UTC()
			rec.LastUsed, rec.LastUsedVisible = &lu, true
			rec.LastUsedHow = "expiresAt − tokenWindow: Okta extends a token's expiry to last use + tokenWindow on every use"
		}
		out = append(out, rec)
	}
	body["api_tokens"], body["api_tokens_visible"], body["api_token_count"] = out, true, len(out)
	return nil
}

// isoDays reads an ISO 8601 duration of whole days or hours (P30D, PT12H).
func isoDays(s string) (time.Duration, bool) {
	var n int
	var unit byte
	switch {
	case len(s) > 2 && s[:2] == "PT":
		unit = 'H'
		s = s[2:]
	case len(s) > 1 && s[0] == 'P':
		unit = 'D'
		s = s[1:]
	default:
		return 0, false
	}
	if len(s) < 2 || s[len(s)-1] != unit {
		return 0, false
	}
	for _, c := range s[:len(s)-1] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if unit == 'H' {
		return time.Duration(n) * time.Hour, true
	}
	return time.Duration(n) * 24 * time.Hour, true
}
