package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/httpx"
)

// ---- github.repository_access ----

type teamAccess struct {
	Slug       string `json:"slug"`
	Name       string `json:"name"`
	Permission string `json:"permission"`
}

type collaboratorAccess struct {
	Login   string `json:"login"`
	Role    string `json:"role_name"`
	Outside bool   `json:"outside_collaborator"`
}

// hidden reports whether err is GitHub withholding something from these
// credentials (403/404 that is not a rate limit); the field is then unknown.
func hidden(err error) (*httpx.StatusError, bool) {
	var se *httpx.StatusError
	if errors.As(err, &se) && (se.Status == http.StatusForbidden || se.Status == http.StatusNotFound) && !collectors.IsRetryable(err) {
		return se, true
	}
	return nil, false
}

// repositoryAccess records who can reach a repository: its teams with
// their permission and its direct collaborators with their role, outside
// collaborators marked. GitHub lists collaborators only to callers with
// push access: without it they are null, never an empty list.
func (r *run) repositoryAccess(ctx context.Context, repo repoInfo) (collectors.Artifact, error) {
	base := fmt.Sprintf("repos/%s/%s", pathEsc(r.org), pathEsc(repo.Name))
	pages := 0
	var notVisible []string
	teams := []teamAccess{}
	p, err := eachPage(ctx, r, base+"/teams?per_page=100", true, func(g []teamAccess) []teamAccess { return g },
		func(ts []teamAccess) error { teams = append(teams, ts...); return nil })
	pages += p
	teamsVisible := true
	if se, ok := hidden(err); ok {
		teams, teamsVisible = nil, false
		notVisible = append(notVisible, "teams: "+se.Error())
	} else if err != nil {
		return collectors.Artifact{}, err
	}
	type collabWire struct {
		Login    string `json:"login"`
		RoleName string `json:"role_name"`
	}
	collabs := []collaboratorAccess{}
	outside := map[string]bool{}
	collabsVisible := true
	p, err = eachPage(ctx, r, base+"/collaborators?affiliation=outside&per_page=100", true, func(g []collabWire) []collabWire { return g },
		func(cs []collabWire) error {
			for _, c := range cs {
				outside[c.Login] = true
			}
			return nil
		})
	pages += p
	if err == nil {
		p, err = eachPage(ctx, r, base+"/collaborators?affiliation=direct&per_page=100", true, func(g []collabWire) []collabWire { return g },
			func(cs []collabWire) error {
				for _, c := range cs {
					collabs = append(collabs, collaboratorAccess{Login: c.Login, Role: c.RoleName, Outside: outside[c.Login]})
				}
				return nil
			})
		pages += p
	}
	if se, ok := hidden(err); ok {
		collabs, collabsVisible = nil, false
		notVisible = append(notVisible, "collaborators: "+se.Error())
	} else if err != nil {
		return collectors.Artifact{}, err
	}
	var nOutside *int
	if collabsVisible {
		n := 0
		for _, c := range collabs {
			if c.Outside {
				n++
			}
		}
		nOutside = &n
	}
	b, err := json.Marshal(struct {
		Repository            string               `json:"repository"`
		Visibility            string               `json:"visibility,omitempty"`
		AsOf                  string               `json:"as_of"`
		Teams                 []teamAccess         `json:"teams"`
		TeamsVisible          bool                 `json:"teams_visible"`
		Collaborators         []collaboratorAccess `json:"direct_collaborators"`
		CollaboratorsVisible  bool                 `json:"collaborators_visible"`
		OutsideCollaborators  *int                 `json:"outside_collaborators"`
		NotVisible            []string             `json:"not_visible_to_credentials"`
		OrgDefaultPermission  *string              `json:"org_default_repository_permission"`
		OrgDefaultPermVisible bool                 `json:"org_default_repository_permission_visible"`
	}{r.org + "/" + repo.Name, repo.Visibility, ts(r.req.Now), teams, teamsVisible, collabs, collabsVisible, nOutside,
		append([]string{}, notVisible...), r.orgInfo.DefaultRepositoryPermission, r.orgInfo.DefaultRepositoryPermission != nil})
	if err != nil {
		return collectors.Artifact{}, collectors.Permanent(err)
	}
	src := r.source("GET /"+base+"/teams", "GET /"+base+"/collaborators?affiliation=direct and affiliation=outside", pages, len(teams)+len(collabs))
	src.Complete = teamsVisible && collabsVisible
	return collectors.Artifact{Type: EvRepositoryAccess, Subject: r.org + "/" + repo.Name, ContentType: "application/json", Body: b, Source: src}, nil
}

// ---- github.invitations ----

func (r *run) invitations(ctx context.Context) (collectors.Artifact, error) {
	type invWire struct {
		ID        int64      `json:"id"`
		Login     *string    `json:"login"`
		Email     *string    `json:"email"`
		Role      string     `json:"role"`
		CreatedAt *time.Time `json:"created_at"`
		Inviter   *userWire  `json:"inviter"`
	}
	type invRow struct {
		ID        int64   `json:"id"`
		Login     *string `json:"login"`
		Email     *string `json:"email"`
		Role      string  `json:"role"`
		Inviter   string  `json:"inviter"`
		CreatedAt string  `json:"created_at"`
		AgeDays   *int    `json:"age_days"`
	}
	u := "orgs/" + pathEsc(r.org) + "/invitations?per_page=100"
	rows := []invRow{}
	pages, err := eachPage(ctx, r, u, true, func(g []invWire) []invWire { return g }, func(is []invWire) error {
		for _, in := range is {
			row := invRow{ID: in.ID, Login: in.Login, Email: in.Email, Role: in.Role, Inviter: login(in.Inviter)}
			if in.CreatedAt != nil {
				row.CreatedAt = ts(*in.CreatedAt)
				row.AgeDays = days(row.CreatedAt, "", r.req.Now)
			}
			rows = append(rows, row)
		}
		return nil
	})
	visible, reason := true, ""
	if se, ok := hidden(err); ok {
		rows, visible, reason = nil, false, "pending invitations are shown to organisation owners only: "+se.Error()
		r.log.Warn("GitHub withheld pending invitations (organisation owners only); recorded as unknown", "org", r.org)
	} else if err != nil {
		return collectors.Artifact{}, err
	}
	b, err := json.Marshal(struct {
		Organization string   `json:"organization"`
		AsOf         string   `json:"as_of"`
		Invitations  []invRow `json:"invitations"`
		Visible      bool     `json:"invitations_visible"`
		NotVisible   string   `json:"not_visible_reason,omitempty"`
	}{r.org, ts(r.req.Now), rows, visible, reason})
	if err != nil {
		return collectors.Artifact{}, collectors.Permanent(err)
	}
	src := r.source("GET /orgs/"+r.org+"/invitations", "per_page=100", pages, len(rows))
	src.Complete = visible
	return collectors.Artifact{Type: EvInvitations, Subject: r.org, ContentType: "application/json", Body: b, Source: src}, nil
}

// ---- github.code_scanning_alerts and github.secret_scanning_alerts ----

// scanRow is one code-scanning or secret-scanning alert. The secret itself
// is never requested (hide_secret=true) nor recorded.
type scanRow struct {
	Number       int    `json:"number"`
	State        string `json:"state"`
	Rule         string `json:"rule,omitempty"`
	Severity     string `json:"severity,omitempty"`
	Tool         string `json:"tool,omitempty"`
	SecretType   string `json:"secret_type,omitempty"`
	Validity     string `json:"validity,omitempty"`
	PushBypassed *bool  `json:"push_protection_bypassed,omitempty"`
	URL          string `json:"html_url"`
	CreatedAt    string `json:"created_at"`
	ClosedAt     string `json:"closed_at,omitempty"`
	ClosedBy     string `json:"closed_by,omitempty"`
	Reason       string `json:"closed_reason,omitempty"`
	AgeDays      *int   `json:"age_days"` // open: days since created; closed: days it stayed open
}

type codeAlertWire struct {
	Number          int        `json:"number"`
	State           string     `json:"state"`
	HTMLURL         string     `json:"html_url"`
	CreatedAt       *time.Time `json:"created_at"`
	FixedAt         *time.Time `json:"fixed_at"`
	DismissedAt     *time.Time `json:"dismissed_at"`
	DismissedBy     *userWire  `json:"dismissed_by"`
	DismissedReason *string    `json:"dismissed_reason"`
	Rule            struct {
		ID                    string `json:"id"`
		Severity              string `json:"severity"`
		SecuritySeverityLevel string `json:"security_severity_level"`
	} `json:"rule"`
	Tool struct {
		Name string `json:"name"`
	} `json:"tool"`
}

type secretAlertWire struct {
	Number       int        `json:"number"`
	State        string     `json:"state"`
	HTMLURL      string     `json:"html_url"`
	CreatedAt    *time.Time `json:"created_at"`
	ResolvedAt   *time.Time `json:"resolved_at"`
	ResolvedBy   *userWire  `json:"resolved_by"`
	Resolution   *string    `json:"resolution"`
	SecretType   string     `json:"secret_type"`
	Validity     string     `json:"validity"`
	PushBypassed *bool      `json:"push_protection_bypassed"`
}

func tsOf(t *time.Time) string {
	if t == nil {
		return ""
	}
	return ts(*t)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func shapeCodeAlerts(g []codeAlertWire) []scanRow {
	out := make([]scanRow, 0, len(g))
	for _, a := range g {
		sev := a.Rule.SecuritySeverityLevel
		if sev == "" {
			sev = a.Rule.Severity
		}
		row := scanRow{Number: a.Number, State: a.State, Rule: a.Rule.ID, Severity: sev, Tool: a.Tool.Name, URL: a.HTMLURL,
			CreatedAt: tsOf(a.CreatedAt), ClosedAt: tsOf(a.FixedAt), ClosedBy: login(a.DismissedBy), Reason: deref(a.DismissedReason)}
		if row.ClosedAt == "" {
			row.ClosedAt = tsOf(a.DismissedAt)
		}
		out = append(out, row)
	}
	return out
}

func shapeSecretAlerts(g []secretAlertWire) []scanRow {
	out := make([]scanRow, 0, len(g))
	for _, a := range g {
		out = append(out, scanRow{Number: a.Number, State: a.State, SecretType: a.SecretType, Validity: a.Validity, PushBypassed: a.PushBypassed,
			URL: a.HTMLURL, CreatedAt: tsOf(a.CreatedAt), ClosedAt: tsOf(a.ResolvedAt), ClosedBy: login(a.ResolvedBy), Reason: deref(a.Resolution)})
	}
	return out
}

// scanKind is one of the two scanning alert types.
type scanKind struct {
	evType, path, query string
	// disabled recognises GitHub's answer for a repository without the
	// feature (evidence, not a failure).
	disabled func(se *httpx.StatusError) bool
	page     func(ctx context.Context, r *run, u string, fn func([]scanRow) error) (int, error)
}

var codeScanning = scanKind{evType: EvCodeScanning, path: "code-scanning/alerts", query: "per_page=100",
	disabled: func(se *httpx.StatusError) bool {
		m := strings.ToLower(se.Message)
		return (se.Status == http.StatusForbidden && (strings.Contains(m, "advanced security must be enabled") || strings.Contains(m, "code scanning is not enabled"))) ||
			(se.Status == http.StatusNotFound && strings.Contains(m, "no analysis found"))
	},
	page: func(ctx context.Context, r *run, u string, fn func([]scanRow) error) (int, error) {
		return eachPage(ctx, r, u, true, shapeCodeAlerts, fn)
	}}

var secretScanning = scanKind{evType: EvSecretScanning, path: "secret-scanning/alerts", query: "per_page=100&hide_secret=true",
	disabled: func(se *httpx.StatusError) bool {
		return se.Status == http.StatusNotFound && strings.Contains(strings.ToLower(se.Message), "secret scanning is disabled")
	},
	page: func(ctx context.Context, r *run, u string, fn func([]scanRow) error) (int, error) {
		return eachPage(ctx, r, u, true, shapeSecretAlerts, fn)
	}}

func (r *run) scanAlerts(ctx context.Context, repo repoInfo, k scanKind) (collectors.Artifact, error) {
	full := r.org + "/" + repo.Name
	u := fmt.Sprintf("repos/%s/%s/%s?%s", pathEsc(r.org), pathEsc(repo.Name), k.path, k.query)
	art := collectors.Artifact{Type: k.evType, Subject: full, ContentType: "application/json"}
	counts := map[string]int{}
	rows := []scanRow{}
	pages, err := k.page(ctx, r, u, func(rs []scanRow) error {
		for _, a := range rs {
			a.AgeDays = days(a.CreatedAt, a.ClosedAt, r.req.Now)
			counts[a.State]++
			rows = append(rows, a)
		}
		return nil
	})
	var se *httpx.StatusError
	if err != nil && errors.As(err, &se) && !collectors.IsRetryable(err) && k.disabled(se) {
		r.log.Warn("scanning is not enabled for a repository; recorded as evidence", "repository", full, "evidence_type", k.evType, "status", se.Status)
		b, _ := json.Marshal(struct {
			Repository string `json:"repository"`
			AsOf       string `json:"as_of"`
			Enabled    bool   `json:"enabled"`
			Status     int    `json:"http_status"`
			Message    string `json:"message"`
		}{full, ts(r.req.Now), false, se.Status, se.Message})
		art.Body = b
		art.Source = r.source("GET "+endpoint(u), k.query, 0, 0)
		return art, nil
	}
	if err != nil {
		return art, err
	}
	b, err := json.Marshal(struct {
		Repository string         `json:"repository"`
		AsOf       string         `json:"as_of"`
		Enabled    bool           `json:"enabled"`
		Alerts     []scanRow      `json:"alerts"`
		Counts     map[string]int `json:"counts"`
	}{full, ts(r.req.Now), true, rows, counts})
	if err != nil {
		return art, collectors.Permanent(err)
	}
	art.Body = b
	art.Source = r.source("GET "+endpoint(u), k.query+" (all states)", pages, len(rows))
	return art, nil
}
