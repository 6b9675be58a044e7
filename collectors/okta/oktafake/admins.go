package oktafake

import (
	"net/http"
	"net/url"
	"strings"
)

// roleTargets are the resources a role assignment is scoped to (none: the
// whole org), and for a custom role its role and resource set.
type roleTargets struct {
	Groups      []string // group IDs
	Apps        []app
	CustomRole  string
	ResourceSet string
}

// targets of the fake's role assignments, by assignment ID.
var targets = map[string]roleTargets{
	"ra1usr00000000appadm": {Apps: []app{appSlack}},
	"irb0000000000custom5": {CustomRole: "cr0000000000reviewer", ResourceSet: "iam00000000000access"},
}

func helpDeskTargets(id string) (roleTargets, bool) {
	if strings.HasPrefix(id, "ra1hd") {
		return roleTargets{Groups: []string{"00g00000contractors"}}, true
	}
	t, ok := targets[id]
	return t, ok
}

// serviceApp is an OAuth 2.0 service app (API Services integration).
type serviceApp struct {
	app
	Roles []role
}

var serviceApps = []serviceApp{
	{app{"0oaserviceterraform1", "oidc_client", "Terraform"}, []role{{"ra1cli00000terraform", "ORG_ADMIN", "Organization Administrator"}}},
	{app{"0oaservicescanner001", "oidc_client", "Posture scanner"}, []role{{"ra1cli000000scanner1", "READ_ONLY_ADMIN", "Read-only Administrator"}}},
	{app{"0oaservicenoroles001", "oidc_client", "Reporting"}, nil},
}

func roleWithTargets(rl role, assignment string) map[string]any {
	m := roleJSON(rl, assignment)
	if t, ok := helpDeskTargets(rl.ID); ok && t.CustomRole != "" {
		m["role"], m["resource-set"] = t.CustomRole, t.ResourceSet
	}
	return m
}

// adminRoute answers role targets, client roles, custom-role permissions,
// resource sets and API tokens; false when the path is not one of them.
func (s *Server) adminRoute(w http.ResponseWriter, r *http.Request, q url.Values) bool {
	p := r.URL.Path
	seg := strings.Split(strings.Trim(p, "/"), "/")
	switch {
	case strings.HasPrefix(p, "/oauth2/v1/clients/") && len(seg) == 5 && seg[4] == "roles":
		for _, sa := range serviceApps {
			if sa.ID == seg[3] {
				out := []map[string]any{}
				for _, rl := range sa.Roles {
					out = append(out, roleJSON(rl, "CLIENT"))
				}
				writeJSON(w, out)
				return true
			}
		}
		writeError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+seg[3]+" (Client)")
	case len(seg) >= 7 && (seg[2] == "users" || seg[2] == "groups" || seg[1] == "v1" && seg[2] == "clients") && seg[4] == "roles" && seg[6] == "targets":
		t, _ := helpDeskTargets(seg[5])
		kind := strings.Join(seg[7:], "/")
		out := []map[string]any{}
		switch kind {
		case "groups":
			for _, g := range s.groupList() {
				for _, id := range t.Groups {
					if g.ID == id {
						out = append(out, groupJSON(r.Host, g))
					}
				}
			}
		case "catalog/apps":
			for _, a := range t.Apps {
				out = append(out, map[string]any{"name": a.Name, "displayName": a.Label, "status": "ACTIVE",
					"_links": map[string]any{"self": map[string]string{"href": "http://" + r.Host + "/api/v1/catalog/apps/" + a.Name}}})
			}
		default:
			writeError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+p+" (Path)")
			return true
		}
		link(w, r, nil)
		writeJSON(w, out)
	case p == "/api/v1/iam/roles/cr0000000000reviewer/permissions":
		perms := []map[string]any{}
		for _, pm := range []string{"okta.users.read", "okta.groups.read", "okta.apps.read", "okta.users.lifecycle.deactivate"} {
			perms = append(perms, map[string]any{"label": pm, "created": "2025-02-01T00:00:00.000Z", "lastUpdated": "2025-02-01T00:00:00.000Z"})
		}
		writeJSON(w, map[string]any{"permissions": perms, "_links": map[string]any{}})
	case p == "/api/v1/iam/resource-sets/iam00000000000access/resources":
		writeJSON(w, map[string]any{"resources": []map[string]any{
			{"id": "ire0000000000group1", "orn": "orn:okta:directory:00ofake:groups:00g00000000everyone"},
			{"id": "ire00000000000slack", "orn": "orn:okta:idp:00ofake:apps:slack:0oa00000000000slack"},
		}, "_links": map[string]any{}})
	case p == "/api/v1/api-tokens":
		writeJSON(w, []map[string]any{
			{"id": "00Tfaketerraform0001", "name": "terraform", "userId": UserID(0), "clientName": "Okta API", "tokenWindow": "P30D",
				"created": "2025-05-01T00:00:00.000Z", "lastUpdated": ts(s.opts.Base.Add(-48 * 3600e9)), "expiresAt": ts(s.opts.Base.Add(28 * 24 * 3600e9)),
				"network": map[string]any{"connection": "ANYWHERE", "include": nil, "exclude": nil}},
			{"id": "00Tfakescimbridge002", "name": "scim bridge", "userId": UserID(1), "clientName": "Okta API", "tokenWindow": "P30D",
				"created": "2025-07-01T00:00:00.000Z", "lastUpdated": "2025-07-01T00:00:00.000Z", "expiresAt": ts(s.opts.Base.Add(3 * 24 * 3600e9)),
				"network": map[string]any{"connection": "ZONE", "include": []string{"nzo0000000corpnet1"}, "exclude": []string{}}},
		})
	default:
		return false
	}
	return true
}
