package okta

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/tickmark-dev/tickmark/collectors"
)

// appUser is what okta.app_assignments keeps of an AppUser: who, how
// (scope USER: assigned directly; GROUP: through the linked group), and the
// assignment's state.
type appUser struct {
	ID            string          `json:"id"`
	Scope         string          `json:"scope"`
	Status        string          `json:"status"`
	SyncState     string          `json:"syncState,omitempty"`
	Created       json.RawMessage `json:"created,omitempty"`
	StatusChanged json.RawMessage `json:"statusChanged,omitempty"`
	Credentials   *struct {
		UserName string `json:"userName"`
	} `json:"credentials,omitempty"`
	Links struct {
		Group *struct {
			Href string `json:"href"`
		} `json:"group,omitempty"`
	} `json:"_links"`
}

type assignmentRecord struct {
	UserID   string          `json:"user_id"`
	UserName string          `json:"user_name"`
	Source   string          `json:"source"` // direct or group
	GroupID  *string         `json:"group_id"`
	Status   string          `json:"status"`
	Created  json.RawMessage `json:"created,omitempty"`
}

// appAssignments emits one artifact per active application: the app as
// Okta returns it, the groups assigned to it, and every user assigned with
// the source of the assignment, streamed page by page (an app assigned to
// 100,000 users never sits in memory).
func (r *run) appAssignments(ctx context.Context) error {
	appsQ := url.Values{"filter": {`status eq "ACTIVE"`}, "limit": {"200"}}
	return pages(ctx, r.api, "GET /api/v1/apps", "/api/v1/apps?"+appsQ.Encode(), func(apps []json.RawMessage, _ string, _ bool) error {
		for _, raw := range apps {
			var a struct {
				ID     string `json:"id"`
				Label  string `json:"label"`
				Status string `json:"status"`
			}
			if err := json.Unmarshal(raw, &a); err != nil {
				return malformed(r.org, "GET /api/v1/apps", err)
			}
			if err := r.appArtifact(ctx, raw, a.ID, a.Label); err != nil {
				return err
			}
		}
		return nil
	})
}

func (r *run) appArtifact(ctx context.Context, raw json.RawMessage, id, label string) error {
	groupsEP, usersEP := "GET /api/v1/apps/{id}/groups", "GET /api/v1/apps/{id}/users"
	groups := []json.RawMessage{}
	err := pages(ctx, r.api, groupsEP, "/api/v1/apps/"+url.PathEscape(id)+"/groups?limit=200", func(gs []json.RawMessage, _ string, _ bool) error {
		groups = append(groups, gs...)
		return nil
	})
	if err != nil {
		return err
	}
	a := collectors.Artifact{Type: TypeAppAssignments, Subject: fmt.Sprintf("%s app %s (%s) assignments", hostOf(r.org), label, id), ObservedAt: r.req.Now,
		Source: r.source(usersEP, "app="+id, 0, 0, true)}
	return r.emitStream(ctx, a, func(w io.Writer) error {
		head := map[string]any{"org": r.org, "as_of": r.req.Now,
			"endpoints":  []string{"GET /api/v1/apps?filter=status eq \"ACTIVE\"", groupsEP, usersEP},
			"population": "every user assigned to this active application, directly (source direct) or through a group (source group, with group_id), as Okta lists them",
			"app":        raw, "group_count": len(groups), "groups": groups}
		direct := 0
		return streamObject(w, head, "assignments", func(add func(any) error) error {
			return pages(ctx, r.api, usersEP, "/api/v1/apps/"+url.PathEscape(id)+"/users?limit=500", func(us []appUser, _ string, _ bool) error {
				for _, u := range us {
					rec := assignmentRecord{UserID: u.ID, Source: "direct", Status: u.Status, Created: u.Created}
					if u.Credentials != nil {
						rec.UserName = u.Credentials.UserName
					}
					if u.Scope == "GROUP" {
						rec.Source = "group"
						if u.Links.Group != nil {
							g := u.Links.Group.Href[strings.LastIndex(u.Links.Group.Href, "/")+1:]
							rec.GroupID = &g
						}
					} else {
						direct++
					}
					if err := add(rec); err != nil {
						return err
					}
				}
				return nil
			})
		}, func(n int) string {
			return fmt.Sprintf(`"assignment_count":%d,"direct_count":%d,"via_group_count":%d,"complete":true`, n, direct, n-direct)
		})
	})
}
