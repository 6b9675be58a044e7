package oktafake

import (
	"fmt"
	"net/http"
	"net/url"
)

// appInfo is an application instance with its assignments.
type appInfo struct {
	app
	Status string
	// direct reports whether user i is assigned to the app directly
	direct func(i int) bool
}

// directEvery spreads synthetic apps' direct assignments: each user is
// assigned to one in directEvery of them, so 300 apps and 20,000 users give
// 200,000 assignments.
const directEvery = 30

// appList is the org's applications: the three that groups grant, one
// inactive app, and Options.Apps synthetic apps with direct assignments.
func (s *Server) appList() []appInfo {
	out := []appInfo{
		{app: appSlack, Status: "ACTIVE", direct: func(i int) bool { return i%25 == 4 }},
		{app: appGitHub, Status: "ACTIVE", direct: func(int) bool { return false }},
		{app: appAWS, Status: "ACTIVE", direct: func(i int) bool { return i == 1 }},
		{app: app{"0oa00000000legacyapp", "legacy_intranet", "Legacy Intranet"}, Status: "INACTIVE", direct: func(i int) bool { return i%2 == 0 }},
	}
	for _, sa := range serviceApps {
		out = append(out, appInfo{app: sa.app, Status: "ACTIVE", direct: func(int) bool { return false }})
	}
	for k := 0; k < s.opts.Apps; k++ {
		out = append(out, appInfo{app: app{fmt.Sprintf("0oasyn%014d", k), fmt.Sprintf("app_%d", k), fmt.Sprintf("Internal App %d", k)}, Status: "ACTIVE",
			direct: func(i int) bool { return (i+k)%directEvery == 0 }})
	}
	return out
}

func (s *Server) findApp(w http.ResponseWriter, id string) (appInfo, bool) {
	for _, a := range s.appList() {
		if a.ID == id {
			return a, true
		}
	}
	writeError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+id+" (AppInstance)")
	return appInfo{}, false
}

func appJSON(host string, a appInfo) map[string]any {
	mode := "SAML_2_0"
	if a.Name == "oidc_client" {
		mode = "OPENID_CONNECT"
	}
	return map[string]any{"id": a.ID, "name": a.Name, "label": a.Label, "status": a.Status, "signOnMode": mode,
		"credentials": map[string]any{"oauthClient": map[string]any{"client_id": a.ID, "token_endpoint_auth_method": "private_key_jwt"}},
		"created":     "2024-03-01T00:00:00.000Z", "lastUpdated": "2026-10-01T00:00:00.000Z",
		"_links": map[string]any{"users": map[string]string{"href": "http://" + host + "/api/v1/apps/" + a.ID + "/users"},
			"groups": map[string]string{"href": "http://" + host + "/api/v1/apps/" + a.ID + "/groups"}}}
}

// listApps answers GET /api/v1/apps: limit up to 200, filter on status
// (status eq "ACTIVE"/"INACTIVE"), Link pagination.
func (s *Server) listApps(w http.ResponseWriter, r *http.Request, q url.Values) {
	var ex expr
	if f := q.Get("filter"); f != "" {
		e, err := parseFilter(f, map[string]bool{"status": true, "name": true, "id": true})
		if err != nil {
			writeError(w, http.StatusBadRequest, "E0000031", "Invalid search criteria. "+err.Error())
			return
		}
		ex = e
	}
	limit := limitParam(q, 200, 200)
	apps := s.appList()
	start := 0
	if a := q.Get("after"); a != "" {
		for k, x := range apps {
			if x.ID == a {
				start = k + 1
			}
		}
	}
	out := []map[string]any{}
	last := -1
	for k := start; k < len(apps) && len(out) < limit; k++ {
		a := apps[k]
		get := func(attr string) (string, bool) {
			switch attr {
			case "status":
				return a.Status, true
			case "name":
				return a.Name, true
			case "id":
				return a.ID, true
			}
			return "", false
		}
		if ex == nil || ex.eval(get) {
			out = append(out, appJSON(r.Host, a))
			last = k
		}
	}
	var next url.Values
	if len(out) == limit && last < len(apps)-1 {
		next = cloneValues(q)
		next.Set("after", apps[last].ID)
	}
	link(w, r, next)
	writeJSON(w, out)
}

// appGroups are the groups assigned to the app, in priority order.
func (s *Server) appGroups(a appInfo) []group {
	var gs []group
	for _, g := range s.groupList() {
		for _, ga := range g.Apps {
			if ga.ID == a.ID {
				gs = append(gs, g)
			}
		}
	}
	return gs
}

// appSub answers /api/v1/apps/{id}/users (AppUser objects: scope USER for a
// direct assignment, GROUP with a group link when only a group grants it;
// limit 50 by default, up to 500) and /api/v1/apps/{id}/groups.
func (s *Server) appSub(w http.ResponseWriter, r *http.Request, q url.Values, id, sub string) {
	a, ok := s.findApp(w, id)
	if !ok {
		return
	}
	gs := s.appGroups(a)
	switch sub {
	case "groups":
		out := []map[string]any{}
		for k, g := range gs {
			out = append(out, map[string]any{"id": g.ID, "priority": k, "lastUpdated": "2025-06-01T00:00:00.000Z", "profile": map[string]any{},
				"_links": map[string]any{"group": map[string]string{"href": "http://" + r.Host + "/api/v1/groups/" + g.ID}}})
		}
		link(w, r, nil)
		writeJSON(w, out)
	case "users":
		s.pageByUser(w, r, q, 50, 500, func(i int) (map[string]any, bool) {
			scope, via := "", ""
			if a.direct(i) {
				scope = "USER"
			} else {
				for _, g := range gs {
					if g.Member(i) {
						scope, via = "GROUP", g.ID
						break
					}
				}
			}
			if scope == "" {
				return nil, false
			}
			u := s.user(i)
			links := map[string]any{"user": map[string]string{"href": "http://" + r.Host + "/api/v1/users/" + u.ID},
				"app": map[string]string{"href": "http://" + r.Host + "/api/v1/apps/" + a.ID}}
			if via != "" {
				links["group"] = map[string]string{"href": "http://" + r.Host + "/api/v1/groups/" + via}
			}
			status := "PROVISIONED"
			if u.Status == "DEPROVISIONED" {
				status = "INACTIVE"
			}
			return map[string]any{"id": u.ID, "externalId": nil, "scope": scope, "status": status, "syncState": "DISABLED",
				"created": ts(u.Created), "lastUpdated": ts(u.LastUpdated), "statusChanged": ts(u.StatusChanged),
				"credentials": map[string]any{"userName": u.Login}, "profile": map[string]any{}, "_links": links}, true
		})
	default:
		writeError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+r.URL.Path+" (Path)")
	}
}
